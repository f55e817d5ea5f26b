/**
 * gantry failover write-back [-f PATH] [--dry-run]: after an automatic failover the new
 * primary lives in the state directory (failovers.json) while the manifests still name
 * the old node. This writes it into the manifests (only the placement values change;
 * comments and layout kept), validates the whole set with the edit before writing, commits
 * when the manifests are a git work tree (as the remote API does), and drops the records
 * the manifests now agree with. --dry-run prints the diff and changes nothing.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { formatLoadError, loadDesired } from '../desired/load.js';
import { keepFailoverRecords, writeBackDecisions, type WriteBackDecision } from '../plan/failover.js';
import { toPlanInput } from '../plan/from-desired.js';
import { acquireStateLock } from '../runtime/state-lock.js';
import { DEFAULT_STATE_DIR, readFailovers, writeFailovers } from '../status/state-dir.js';
import { StateLockedError } from '../util/errors.js';
import { gitCommitFiles, isGitWorkTree } from '../util/git.js';
import { createLogger } from '../util/log.js';
import { applyPlacementEdits, unifiedDiff, type PlacementEdit } from './manifest-edits.js';

export interface WriteBackOptions {
  readonly files: readonly string[];
  readonly stateDir: string;
  readonly dryRun: boolean;
  /** Commit to git when the manifests are a work tree (default true). */
  readonly git: boolean;
  readonly out: (s: string) => void;
}

export interface WriteBackResult {
  readonly decisions: readonly WriteBackDecision[];
  /** Files written (not with dryRun). */
  readonly written: readonly string[];
  /** Commits made, one per git work-tree directory. */
  readonly commits: readonly string[];
  /** Failover records dropped from the state directory; undefined when its lock was held (the next pass drops them). */
  readonly cleared?: readonly string[];
}

export class WriteBackError extends Error {}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export async function failoverWriteBack(o: WriteBackOptions): Promise<WriteBackResult> {
  const { state, errors } = await loadDesired([...o.files]);
  if (!state) throw new WriteBackError(`the manifests do not load (${errors.length} error(s)); nothing written:\n${errors.map(formatLoadError).join('\n')}`);
  const records = await readFailovers(o.stateDir);
  const decisions = writeBackDecisions(toPlanInput(state), records);
  const byFile = new Map<string, Map<string, PlacementEdit>>();
  for (const d of decisions) {
    if (d.decision !== 'edit') continue;
    const src = state.sources.get(`Instance/${d.instance}`)!;
    const m = byFile.get(src.file) ?? new Map<string, PlacementEdit>();
    m.set(d.instance, { primary: d.primary!, ...(d.secondary !== undefined ? { secondary: d.secondary } : {}) });
    byFile.set(src.file, m);
  }
  for (const d of decisions) o.out(`${d.instance}: failed over ${d.from} -> ${d.to}: ${d.decision === 'edit' ? d.reason : `${d.decision === 'agrees' ? 'agrees' : 'skipped'}: ${d.reason}`}\n`);
  if (decisions.length === 0) o.out(`no failover records in ${o.stateDir}: nothing to write back\n`);
  const texts = new Map<string, string>();
  for (const [file, m] of [...byFile].sort((a, b) => a[0].localeCompare(b[0]))) {
    const old = await readFile(file, 'utf8');
    const next = applyPlacementEdits(old, m);
    texts.set(file, next);
    if (o.dryRun) o.out(unifiedDiff(file, old, next));
  }
  if (o.dryRun) {
    if (texts.size > 0) o.out('--dry-run: nothing written\n');
    return { decisions, written: [], commits: [] };
  }
  // The whole set must still load with the edits (a placement the schema or references refuse is not written).
  const { state: next, errors: after } = await loadDesired([...o.files], texts);
  if (!next) throw new WriteBackError(`the manifests would not load after the write-back; nothing written:\n${after.map(formatLoadError).join('\n')}`);
  for (const [file, text] of texts) {
    await atomicWrite(file, text);
    o.out(`updated ${file} (${byFile.get(file)!.size} instance(s))\n`);
  }
  const commits: string[] = [];
  const byDir = new Map<string, string[]>();
  for (const file of texts.keys()) byDir.set(path.dirname(file), [...(byDir.get(path.dirname(file)) ?? []), file]);
  for (const [dir, files] of byDir) {
    if (!o.git || !(await isGitWorkTree(dir))) continue;
    const names = decisions.filter((d) => d.decision === 'edit' && files.includes(state.sources.get(`Instance/${d.instance}`)!.file));
    const message = `failover write-back: ${names.map((d) => `${d.instance} ${d.from} -> ${d.to}`).join(', ')} (gantry failover write-back)`;
    await gitCommitFiles(dir, files, message, 'gantry failover write-back');
    commits.push(message);
    o.out(`committed in ${dir}: ${message}\n`);
  }
  const cleared = await clearAgreed(o, toPlanInput(next), records);
  return { decisions, written: [...texts.keys()], commits, ...(cleared ? { cleared } : {}) };
}

/** Drops the records the manifests now agree with, holding the state directory lock; undefined when gantry run or apply holds it (its next pass drops them). */
async function clearAgreed(o: WriteBackOptions, input: ReturnType<typeof toPlanInput>, records: ReadonlyMap<string, unknown>): Promise<string[] | undefined> {
  if (records.size === 0) return [];
  let lock;
  try {
    lock = await acquireStateLock({ stateDir: o.stateDir, command: 'gantry failover write-back', logger: createLogger() });
  } catch (e) {
    if (!(e instanceof StateLockedError)) throw e;
    o.out(`the state directory is locked (${e.message.split(':')[0]}): the next reconcile pass drops the records the manifests now agree with\n`);
    return undefined;
  }
  try {
    const current = await readFailovers(o.stateDir); // read again under the lock
    const kept = keepFailoverRecords(input, current);
    const cleared = [...current.keys()].filter((n) => !kept.has(n)).sort();
    if (cleared.length > 0) {
      await writeFailovers(o.stateDir, kept);
      o.out(`failover records cleared: ${cleared.join(', ')}\n`);
    }
    return cleared;
  } finally {
    await lock.release();
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerFailoverCommands(program: Command): void {
  const f = program.command('failover').description('after automatic failovers: write the new primaries back into the manifests');
  f.command('write-back')
    .description('write each failed-over instance\'s new primary (failovers.json) into its manifest (comments and layout kept), commit when the manifests are a git work tree, and drop the records the manifests now agree with; --dry-run shows the diff')
    .requiredOption('-f, --file <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('--state-dir <dir>', 'the state directory gantry run uses', DEFAULT_STATE_DIR)
    .option('--dry-run', 'print the diff; write nothing')
    .option('--no-git', 'do not commit, even in a git work tree')
    .action(async (opts: { file: string[]; stateDir: string; dryRun?: boolean; git: boolean }) => {
      await failoverWriteBack({ files: opts.file, stateDir: opts.stateDir, dryRun: opts.dryRun ?? false, git: opts.git, out: (s) => process.stdout.write(s) });
    });
}
