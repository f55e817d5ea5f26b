/**
 * The thin runner for DRBD 8.4 over a Transport: each ensure reads the node first
 * (events2 --now, drbdsetup show, dump-md), decides with plan84.ts, runs only the
 * missing steps in order and returns what it ran. Unknown is not absent: a failed read
 * stops the ensure with an error, it never counts as "nothing configured".
 */
import type { Transport, ExecResult } from '../../transport/transport.js';
import { ExecError, type GantryError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { firstLine } from '../facts/shared.js';
import * as c from './cmd84.js';
import { parseEvents2 } from './parse-events2.js';
import { parseProcDrbd } from './parse-proc.js';
import { parseDrbdShow, type ShowResource } from './parse-show.js';
import { initialSyncDecision, metaState, planUp, type Drbd84Spec, type UpStep } from './plan84.js';
import { withProcProgress, type DrbdSnapshot } from './state.js';

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

async function runAll(t: Transport, commands: readonly string[][], log?: Logger): Promise<string[][]> {
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
  const r = await t.exec(c.events2NowCmd(), { timeoutMs: 30_000 });
  if (r.code !== 0) throw readFailed(r, t.node);
  return parseEvents2(r.stdout);
}

/** The full 8.4 picture for status: events2 --now joined with /proc/drbd's sync progress. */
export async function readState(t: Transport): Promise<DrbdSnapshot> {
  const [ev, proc] = await t.execBatch([c.events2NowCmd(), c.procDrbdCmd()], { timeoutMs: 30_000 });
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
