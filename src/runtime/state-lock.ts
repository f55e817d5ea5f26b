/**
 * One writer per cluster (file mode): a lock file in the state directory, held for a
 * whole `gantry apply` and for the whole life of `gantry run` (daemon or --once), so a
 * hand-run apply cannot interleave with the loop's passes. `gantry plan` and
 * `apply --dry-run` change nothing and take no lock. In Kubernetes mode the Lease is
 * the lock (kube/leader.ts).
 *
 * The lock is `<state-dir>/lock`, a JSON record (pid, command, since, host, a random
 * token) created atomically: the record is written to a private file, then link(2)ed to
 * the lock's name, which fails with EEXIST when someone holds it, so a lock file is never
 * seen half-written. A holder whose pid is gone on this host (or whose pid now belongs to
 * a process started later) is stale: its lock is taken over, with a log line, under a
 * short-lived takeover guard so that two waiters cannot both remove it. A holder on
 * another host is never presumed dead.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { StateDirError, StateFileCorruptError, StateLockedError, type LockHolderInfo } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { readStateFile } from '../status/state-dir.js';

export interface LockHolder extends LockHolderInfo {
  readonly token: string;
  /** Start time of the holder process (Linux: /proc/PID/stat field 22), to tell a reused pid. */
  readonly startTicks?: string;
}

export interface StateLockOptions {
  readonly stateDir: string;
  /** What holds it, for the message others see ("apply", "run"). */
  readonly command: string;
  readonly logger: Logger;
  /** Wait this long for a holder to finish; 0 (default) fails at once naming the holder. */
  readonly waitMs?: number;
  readonly pollMs?: number;
  /** Injected for tests. */
  readonly host?: string;
  readonly pid?: number;
}

/** A takeover guard older than this belongs to a process that died mid-takeover. */
const GUARD_STALE_MS = 10_000;

export class StateLock {
  constructor(readonly file: string, readonly holder: LockHolder) {}

  /** Whether the lock file still carries this holder's token. */
  async held(): Promise<boolean> {
    const cur = await readHolder(this.file).catch(() => undefined);
    return cur?.token === this.holder.token;
  }

  /** Remove the lock if it is still ours (never someone else's). */
  async release(): Promise<void> {
    if (await this.held()) await unlink(this.file).catch(() => undefined);
  }
}

export function lockPath(stateDir: string): string {
  return path.join(stateDir, 'lock');
}

export async function acquireStateLock(o: StateLockOptions): Promise<StateLock> {
  const file = lockPath(o.stateDir);
  const pid = o.pid ?? process.pid;
  const startTicks = processStartTicks(pid);
  const me: LockHolder = {
    pid, command: o.command, since: new Date().toISOString(), host: o.host ?? hostname(), token: randomBytes(12).toString('hex'),
    ...(startTicks ? { startTicks } : {}),
  };
  try {
    await mkdir(o.stateDir, { recursive: true });
  } catch (e) {
    throw new StateDirError(o.stateDir, 'create the state directory', e);
  }
  const started = Date.now();
  const waitMs = o.waitMs ?? 0;
  let logged = false;
  for (;;) {
    if (await createExclusive(file, me)) return new StateLock(file, me);
    const holder = await readHolder(file);
    if (holder === undefined) continue; // released between our attempt and the read
    if (isStale(holder, me.host)) {
      await takeOver(file, holder, me, o.logger);
      continue;
    }
    const waited = Date.now() - started;
    if (waited >= waitMs) throw new StateLockedError(file, publicHolder(holder), waited);
    if (!logged) o.logger.warn({ lock: file, holder: publicHolder(holder), waitMs }, 'state directory locked by another gantry; waiting');
    logged = true;
    await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 250, waitMs - waited)));
  }
}

/** Write the record privately, then link it to `file`: false when `file` exists. */
async function createExclusive(file: string, rec: object): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, JSON.stringify(rec) + '\n', { mode: 0o644 });
    await link(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new StateDirError(file, 'create the lock', e);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function holderProblem(doc: unknown): string | undefined {
  const h = doc as Partial<LockHolder> | null;
  if (typeof h !== 'object' || h === null) return 'expected an object';
  if (!Number.isInteger(h.pid) || (h.pid ?? 0) <= 0) return 'pid: expected a positive integer';
  for (const k of ['command', 'since', 'host', 'token'] as const) if (typeof h[k] !== 'string') return `${k}: expected a string`;
  return undefined;
}

/** The current holder; undefined when there is no lock; StateFileCorruptError when unreadable. */
export async function readHolder(file: string): Promise<LockHolder | undefined> {
  return (await readStateFile(file, holderProblem)) as LockHolder | undefined;
}

function publicHolder(h: LockHolder): LockHolderInfo {
  return { pid: h.pid, command: h.command, since: h.since, host: h.host };
}

/** Stale: the holder ran on this host and its process is gone (or its pid was reused). */
export function isStale(h: LockHolder, host: string): boolean {
  if (h.host !== host) return false;
  if (!pidAlive(h.pid)) return true;
  const ticks = processStartTicks(h.pid);
  return h.startTicks !== undefined && ticks !== undefined && ticks !== h.startTicks;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Remove a stale lock, but only the one we judged stale, and only one remover at a time. */
async function takeOver(file: string, stale: LockHolder, me: LockHolder, logger: Logger): Promise<void> {
  const guard = `${file}.takeover`;
  if (!(await createExclusive(guard, me))) {
    await clearStaleGuard(guard, me.host);
    await new Promise((r) => setTimeout(r, 20));
    return;
  }
  try {
    const cur = await readHolder(file).catch((e: unknown) => {
      if (e instanceof StateFileCorruptError) return undefined;
      throw e;
    });
    if (cur?.token !== stale.token) return; // someone else took it over, or it was released
    await unlink(file);
    logger.warn({ lock: file, stale: publicHolder(stale) }, 'state lock: its holder is no longer running on this host; taking it over');
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

async function clearStaleGuard(guard: string, host: string): Promise<void> {
  try {
    const [g, st] = await Promise.all([readHolder(guard), stat(guard)]);
    if ((g && isStale(g, host)) || Date.now() - st.mtimeMs > GUARD_STALE_MS) await unlink(guard);
  } catch {
    // gone already, or half-written by its owner this instant: try again later
  }
}
