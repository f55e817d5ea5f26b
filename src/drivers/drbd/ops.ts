/**
 * The thin runner for DRBD 8.4 over a Transport: each ensure reads the node first
 * (events2 --now, drbdsetup show, dump-md), decides with plan84.ts, runs only the
 * missing steps in order and returns what it ran. Unknown is not absent: a failed read
 * stops the ensure with an error, it never counts as "nothing configured".
 */
import type { Transport, ExecResult } from '../../transport/transport.js';
import { ExecError, PrereqError, type GantryError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { firstLine } from '../facts/shared.js';
import { checkDevice } from './validate.js';
import * as c from './cmd84.js';
import { parseEvents2 } from './parse-events2.js';
import { parseProcDrbd } from './parse-proc.js';
import { parseDrbdShow, type ShowResource } from './parse-show.js';
import { disconnectDecision, dualPrimaryDecision, dualPrimaryOf, failoverPromoteDecision, initialSyncDecision, metaState, migrationPromoteDecision, migrationReadyProblem, planUp, syncDone, type Drbd84Spec, type UpStep } from './plan84.js';
import type { Endpoint } from './validate.js';
import { isConnected, withProcProgress, type DrbdDevice, type DrbdSnapshot } from './state.js';

export interface EnsureResult<S extends string = string> {
  /** What ran, in order (shared secrets replaced by "[redacted]"). */
  readonly ran: readonly string[][];
  readonly steps: readonly S[];
}

/** The argv as it may be logged or returned. */
export function redact(argv: readonly string[]): string[] {
  return argv.map((a, i) => (argv[i - 1] === '--shared-secret' ? '[redacted]' : a));
}

function readFailed(r: ExecResult, node: string): GantryError {
  return new ExecError('DRBD_READ_FAILED', `${node}: ${redact(r.argv).join(' ')} exited ${r.code}: ${firstLine(r.stderr || r.stdout)}`, { node });
}

/** Run `commands` in order; the first failure stops with DRBD_COMMAND_FAILED and what ran (ops9.ts uses it too). */
export async function runAll(t: Transport, commands: readonly string[][], log?: Logger): Promise<string[][]> {
  const ran: string[][] = [];
  for (const argv of commands) {
    const r = await t.exec(argv);
    ran.push(redact(argv));
    log?.info({ node: t.node, argv: redact(argv), code: r.code, ms: r.durationMs }, 'drbd command');
    if (r.code !== 0) {
      throw new ExecError('DRBD_COMMAND_FAILED', `${t.node}: ${redact(argv).join(' ')} exited ${r.code}: ${firstLine(r.stderr || r.stdout)}`, { node: t.node, ran });
    }
  }
  return ran;
}

/** events2 --now: the resources, minors and states the kernel has right now. */
export async function readEvents(t: Transport): Promise<DrbdSnapshot> {
  const r = await t.exec(c.events2NowCmd()); // the transport's timeout: a loaded TCG node can take tens of seconds
  if (r.code !== 0) throw readFailed(r, t.node);
  return parseEvents2(r.stdout);
}

/** The full 8.4 picture for status: events2 --now joined with /proc/drbd's sync progress. */
export async function readState(t: Transport): Promise<DrbdSnapshot> {
  const [ev, proc] = await t.execBatch([c.events2NowCmd(), c.procDrbdCmd()]);
  if (ev!.code !== 0) throw readFailed(ev!, t.node);
  if (proc!.code !== 0) throw readFailed(proc!, t.node);
  return withProcProgress(parseEvents2(ev!.stdout), parseProcDrbd(proc!.stdout).devices);
}

async function readShow(t: Transport, resource: string): Promise<ShowResource | undefined> {
  const r = await t.exec(c.showResourceCmd(resource));
  if (r.code !== 0) throw readFailed(r, t.node);
  return parseDrbdShow(r.stdout).find((x) => x.name === resource);
}

/** Attach, set sync options and connect whatever is missing; a no-op when all is up. */
export async function ensureUp(t: Transport, spec: Drbd84Spec, log?: Logger): Promise<EnsureResult<UpStep>> {
  const events = await readEvents(t);
  const exists = (events.resources ?? []).includes(spec.resource);
  const cfg = exists ? await readShow(t, spec.resource) : undefined;
  const d = planUp(spec, events, cfg);
  if (d.kind === 'refuse') throw d.error;
  return { ran: await runAll(t, d.commands, log), steps: d.steps };
}

/**
 * New metadata on a meta LV that has none: zero its head, then create-md. Metadata
 * already there (a rerun, or a disk that held data) is left alone; a minor in use is
 * never touched.
 */
export async function ensureMetadata(t: Transport, spec: Pick<Drbd84Spec, 'minor' | 'metaDev'>, log?: Logger): Promise<EnsureResult<'wipe' | 'create-md'>> {
  const events = await readEvents(t);
  if (events.devices.some((d) => d.minor === spec.minor)) return { ran: [], steps: [] };
  const r = await t.exec(c.dumpMdCmd(spec.minor, spec.metaDev));
  const state = metaState(r.code, `${r.stdout}\n${r.stderr}`);
  if (state === 'present') return { ran: [], steps: [] };
  if (state === 'unknown') throw readFailed(r, t.node);
  const ran = await runAll(t, [c.wipeMetaCmd(spec.metaDev), c.createMdCmd(spec.minor, spec.metaDev)], log);
  return { ran, steps: ['wipe', 'create-md'] };
}

/** primary --force, only to start the initial sync of a new pair (see initialSyncDecision). */
export async function startInitialSync(t: Transport, minor: number, log?: Logger): Promise<EnsureResult<'force-primary'>> {
  const events = await readEvents(t);
  const d = initialSyncDecision(minor, events.devices.find((x) => x.minor === minor));
  if (d === 'done') return { ran: [], steps: [] };
  if (d !== 'force') throw d;
  return { ran: await runAll(t, [c.forcePrimaryForInitialSyncCmd(minor)], log), steps: ['force-primary'] };
}

/** drbdsetup down, when the resource exists. */
export async function ensureDown(t: Transport, resource: string, log?: Logger): Promise<EnsureResult<'down'>> {
  const events = await readEvents(t);
  if (!(events.resources ?? []).includes(resource)) return { ran: [], steps: [] };
  return { ran: await runAll(t, [c.downCmd(resource)], log), steps: ['down'] };
}

export interface WaitOptions {
  /** How long to wait for the peer to connect (ms). */
  readonly timeoutMs: number;
  /** Poll interval (ms); default 1000. */
  readonly intervalMs?: number;
  /** Injected so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The device once its peer is connected, or as last seen when `timeoutMs` passed first. */
export async function waitForPeer(t: Transport, minor: number, w: WaitOptions): Promise<DrbdDevice | undefined> {
  const sleep = w.sleep ?? realSleep;
  const step = w.intervalMs ?? 1000;
  let dev: DrbdDevice | undefined;
  for (let waited = 0; ; waited += step) {
    dev = (await readEvents(t)).devices.find((d) => d.minor === minor);
    if (!dev || dev.peers.some(isConnected) || waited >= w.timeoutMs) return dev;
    await sleep(step);
  }
}

/** Like startInitialSync, after waiting for the peer (both sides come up in the same wave). */
export async function startInitialSyncWhenConnected(t: Transport, minor: number, w: WaitOptions, log?: Logger): Promise<EnsureResult<'force-primary'>> {
  await waitForPeer(t, minor, w);
  return startInitialSync(t, minor, log);
}

/**
 * Promote, never on a guess: wait for the peer to connect; promote only while connected
 * (DRBD itself then refuses unless one side is UpToDate). A peer that stays away is a
 * refusal: this side may be the stale one.
 */
export async function ensurePrimary(t: Transport, minor: number, w: WaitOptions, log?: Logger): Promise<EnsureResult<'primary'>> {
  const now = (await readEvents(t)).devices.find((d) => d.minor === minor);
  if (now?.role === 'Primary') return { ran: [], steps: [] };
  const dev = await waitForPeer(t, minor, w);
  if (!dev) throw new ExecError('DRBD_NOT_UP', `${t.node}: minor ${minor} is not configured: nothing to promote`, { node: t.node, minor });
  if (dev.role === 'Primary') return { ran: [], steps: [] };
  if (!dev.peers.some(isConnected)) {
    const seen = dev.peers[0]?.connection ?? 'no peer';
    throw new ExecError('DRBD_PEER_MISSING', `${t.node}: not promoting minor ${minor}: its peer did not connect within ${Math.round(w.timeoutMs / 1000)} s (${seen}, disk ${dev.disk ?? '?'}); this side may hold stale data. Bring the peer back; promoting without it is a failover decision for a person`, { node: t.node, minor });
  }
  return { ran: await runAll(t, [c.primaryCmd(minor)], log), steps: ['primary'] };
}

/** Failover: promote this side without its (dead) peer; see failoverPromoteDecision. */
export async function ensureFailoverPrimary(t: Transport, minor: number, force: boolean, log?: Logger): Promise<EnsureResult<'primary' | 'force-primary'>> {
  const d = failoverPromoteDecision(minor, (await readEvents(t)).devices.find((x) => x.minor === minor), force);
  if (d === 'done') return { ran: [], steps: [] };
  if (!('argv' in d)) throw d;
  return { ran: await runAll(t, [d.argv], log), steps: [d.argv.includes('--force') ? 'force-primary' : 'primary'] };
}

export async function ensureSecondary(t: Transport, minor: number, log?: Logger): Promise<EnsureResult<'secondary'>> {
  const dev = (await readEvents(t)).devices.find((d) => d.minor === minor);
  if (!dev || dev.role !== 'Primary') return { ran: [], steps: [] };
  return { ran: await runAll(t, [c.secondaryCmd(minor)], log), steps: ['secondary'] };
}

/** Grow the device to sizeMiB once both backing LVs grew (DRBD checks the peer's size itself). */
export async function ensureResized(t: Transport, minor: number, sizeMiB: number, log?: Logger): Promise<EnsureResult<'resize'>> {
  const dev = (await readEvents(t)).devices.find((d) => d.minor === minor);
  if (!dev) throw new ExecError('DRBD_NOT_UP', `${t.node}: minor ${minor} is not configured: nothing to resize`, { node: t.node, minor });
  if (dev.sizeKiB !== undefined && dev.sizeKiB >= sizeMiB * 1024) return { ran: [], steps: [] };
  return { ran: await runAll(t, [c.resizeCmd(minor, sizeMiB)], log), steps: ['resize'] };
}

/** Set the module's usermode_helper when it differs (stdin to tee; the value is checked as a path first). */
export async function ensureUsermodeHelper(t: Transport, helper: string, log?: Logger): Promise<EnsureResult<'usermode-helper'>> {
  checkDevice(helper);
  const r = await t.exec(c.usermodeHelperReadCmd());
  if (r.code !== 0) throw readFailed(r, t.node);
  if (r.stdout.trim() === helper) return { ran: [], steps: [] };
  const w = await t.exec(c.usermodeHelperWriteCmd(), { stdin: `${helper}\n` });
  log?.info({ node: t.node, argv: c.usermodeHelperWriteCmd(), code: w.code }, 'drbd command');
  if (w.code !== 0) throw new ExecError('DRBD_COMMAND_FAILED', `${t.node}: tee ${c.USERMODE_HELPER_PATH} exited ${w.code}: ${firstLine(w.stderr)}`, { node: t.node });
  return { ran: [c.usermodeHelperWriteCmd()], steps: ['usermode-helper'] };
}

/**
 * Secondary replacement: drop the resource's link unless it points at `keep` (reads
 * `drbdsetup show` first; a resource that is not up is an error: nothing to replace on).
 */
export async function ensureDisconnectedExcept(t: Transport, resource: string, keep: { host: string; port: number }, log?: Logger, local?: { host: string; port: number }): Promise<EnsureResult<'disconnect'>> {
  const events = await readEvents(t);
  if (!(events.resources ?? []).includes(resource)) throw new ExecError('DRBD_NOT_UP', `${t.node}: DRBD resource ${resource} is not up: nothing to disconnect`, { node: t.node, resource });
  const d = disconnectDecision(await readShow(t, resource), keep, local);
  if (d === 'done') return { ran: [], steps: [] };
  log?.warn({ node: t.node, resource, from: d.from }, 'drbd: disconnecting a link to another peer than the pair\'s (a secondary replacement: redundancy gap until the new one is UpToDate)');
  return { ran: await runAll(t, [d.argv], log), steps: ['disconnect'] };
}

/**
 * Wait until the resync toward the peer is over (both UpToDate, connected); an error
 * with the progress seen when `timeoutMs` passes first (the next pass waits again).
 */
export async function waitForSync(t: Transport, minor: number, w: WaitOptions): Promise<EnsureResult<never>> {
  const sleep = w.sleep ?? realSleep;
  const step = w.intervalMs ?? 2000;
  for (let waited = 0; ; waited += step) {
    const dev = (await readState(t)).devices.find((d) => d.minor === minor);
    if (!dev) throw new ExecError('DRBD_NOT_UP', `${t.node}: minor ${minor} is not configured: no resync to wait for`, { node: t.node, minor });
    if (syncDone(dev)) return { ran: [], steps: [] };
    if (waited >= w.timeoutMs) {
      const p = dev.peers[0];
      const progress = p?.sync ? `, ${p.sync.percent.toFixed(1)}% done` : '';
      throw new ExecError('DRBD_SYNC_PENDING', `${t.node}: minor ${minor} is not in sync after ${Math.round(w.timeoutMs / 1000)} s (disk ${dev.disk ?? '?'}, peer ${p?.replication ?? p?.connection ?? 'none'} ${p?.disk ?? ''}${progress}); the next pass waits again`, { node: t.node, minor });
    }
    await sleep(step);
  }
}

/** One side of a DRBD disk in a live migration: the resource on this node and its link. */
export interface MigrationLink {
  readonly resource: string;
  readonly minor: number;
  readonly local: Endpoint;
  readonly peer: Endpoint;
}

/** Read-only check before a live migration: Connected, UpToDate/UpToDate, no resync (throws DRBD_MIGRATION_NOT_READY). */
export async function checkMigrationReady(t: Transport, minor: number): Promise<void> {
  const problem = migrationReadyProblem((await readEvents(t)).devices.find((d) => d.minor === minor));
  if (problem !== undefined) throw new PrereqError('DRBD_MIGRATION_NOT_READY', `${t.node}: minor ${minor} is not ready for a live migration: it needs Connected and UpToDate/UpToDate (now ${problem})`, { node: t.node, minor });
}

/** Set (live migration) or clear allow-two-primaries on this node's side of the link, when it differs. */
export async function ensureDualPrimary(t: Transport, l: MigrationLink, allow: boolean, log?: Logger): Promise<EnsureResult<'dual-primary'>> {
  const d = dualPrimaryDecision(l.resource, l.local, l.peer, await readShow(t, l.resource), allow);
  if (d === 'done') return { ran: [], steps: [] };
  if (!('argv' in d)) throw d;
  return { ran: await runAll(t, [d.argv], log), steps: ['dual-primary'] };
}

/** Live migration: promote the destination while the source is Primary (see migrationPromoteDecision). */
export async function ensureMigrationPrimary(t: Transport, l: MigrationLink, log?: Logger): Promise<EnsureResult<'primary'>> {
  const dev = (await readEvents(t)).devices.find((x) => x.minor === l.minor);
  const dual = dev?.role === 'Primary' ? true : dualPrimaryOf(await readShow(t, l.resource)) === true;
  const d = migrationPromoteDecision(l.minor, dev, dual);
  if (d === 'done') return { ran: [], steps: [] };
  if (!('argv' in d)) throw d;
  return { ran: await runAll(t, [d.argv], log), steps: ['primary'] };
}
