/**
 * Committing manifest edits when the manifests are a git work tree (the remote API's
 * writes, `gantry failover write-back`): argv only, the author named by the caller unless
 * the environment sets one.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** True when `dir` is inside a git work tree (false when git is missing or says no). */
export async function isGitWorkTree(dir: string): Promise<boolean> {
  try {
    const { stdout } = await run('git', ['-C', dir, 'rev-parse', '--is-inside-work-tree'], { timeout: 30_000 });
    return stdout.trim() === 'true';
  } catch {
    return false;
  }
}

/** `git add` then `git commit` of these files (all in `dir`), only them; the author is `author` unless GIT_AUTHOR_* / GIT_COMMITTER_* are set. */
export async function gitCommitFiles(dir: string, files: readonly string[], message: string, author: string): Promise<void> {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: process.env.GIT_AUTHOR_NAME ?? author, GIT_AUTHOR_EMAIL: process.env.GIT_AUTHOR_EMAIL ?? 'gantry@localhost',
    GIT_COMMITTER_NAME: process.env.GIT_COMMITTER_NAME ?? author, GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL ?? 'gantry@localhost',
  };
  const rel = files.map((f) => path.relative(dir, f));
  await run('git', ['-C', dir, 'add', '--', ...rel], { env, timeout: 60_000 });
  await run('git', ['-C', dir, 'commit', '-q', '-m', message, '--', ...rel], { env, timeout: 60_000 });
}
