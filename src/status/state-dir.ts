/**
 * The state directory (file mode): status, the last observed snapshot and the job log.
 * Never the manifests. Everything that matters is also on the nodes (LV tags, instance
 * records), so losing this directory loses history, not allocations.
 */
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPAIR_TYPES, type DesiredSummary, type FailoverRecord, type ObservedCluster, type Plan, type RepairRecord, type WatcherRestarts } from '../core/plan.js';
import { StateFileCorruptError } from '../util/errors.js';
import { NODE_CONDITIONS, type NodeLiveness } from '../core/liveness.js';
import type { ExecuteReport } from '../execute/executor.js';
import type { ResourceStatus } from './status.js';
import { maskSecrets } from './drift-report.js';

export const DEFAULT_STATE_DIR = '/var/lib/gantry';

async function atomicWrite(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, file);
}

export async function writeStatus(stateDir: string, at: string, statuses: ResourceStatus[]): Promise<void> {
  await atomicWrite(path.join(stateDir, 'status.json'), JSON.stringify({ updatedAt: at, resources: statuses }, null, 2) + '\n');
}

/** `nodes` as observed at `at`; `lastKnown`: the last good snapshot of each node that could not be observed then. */
export async function writeObserved(stateDir: string, at: string, observed: ObservedCluster): Promise<void> {
  const lastKnown = observed.lastKnown && observed.lastKnown.size > 0 ? { lastKnown: Object.fromEntries(observed.lastKnown) } : {};
  await atomicWrite(path.join(stateDir, 'observed.json'), JSON.stringify({ observedAt: at, nodes: Object.fromEntries(observed.nodes), ...lastKnown }, null, 2) + '\n');
}

/** The last observation, or undefined when there is none; a damaged file throws StateFileCorruptError. */
export async function readObserved(stateDir: string): Promise<{ observedAt: string; observed: ObservedCluster } | undefined> {
  const j = await readStateFile(path.join(stateDir, 'observed.json'), observedProblem);
  if (j === undefined) return undefined;
  const doc = j as { observedAt: string; nodes: Record<string, never>; lastKnown?: Record<string, never> };
  return { observedAt: doc.observedAt, observed: { nodes: new Map(Object.entries(doc.nodes)), lastKnown: new Map(Object.entries(doc.lastKnown ?? {})) } };
}

/** The last status written by apply/run, or undefined; a damaged file throws StateFileCorruptError. */
export async function readStatus(stateDir: string): Promise<{ updatedAt: string; resources: ResourceStatus[] } | undefined> {
  return (await readStateFile(path.join(stateDir, 'status.json'), statusProblem)) as { updatedAt: string; resources: ResourceStatus[] } | undefined;
}

/**
 * Read a JSON state file: undefined only when it does not exist. Bad JSON (with its line
 * and column) or a document that `problem` rejects throws StateFileCorruptError; other
 * I/O errors (permissions) are thrown as they are.
 */
export async function readStateFile(file: string, problem: (doc: unknown) => string | undefined): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const at = /at position (\d+)/.exec(msg);
    throw new StateFileCorruptError(file, `not JSON: ${msg}`, at ? lineColumn(text, Number(at[1])) : text.trim() === '' ? undefined : lineColumn(text, text.length));
  }
  const wrong = problem(doc);
  if (wrong !== undefined) throw new StateFileCorruptError(file, wrong);
  return doc;
}

function lineColumn(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, pos).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const NODE_RECORDS = ['vgs', 'lvs', 'bridges', 'vxlans', 'sysctls', 'files', 'instances', 'taps'] as const;

/** What makes a parsed observed.json unusable, or undefined when its shape is right. */
export function observedProblem(doc: unknown): string | undefined {
  if (!isObject(doc)) return 'expected an object with observedAt and nodes';
  if (typeof doc.observedAt !== 'string') return 'observedAt: expected a timestamp';
  if (!isObject(doc.nodes)) return 'nodes: expected an object keyed by node name';
  if (doc.lastKnown !== undefined && !isObject(doc.lastKnown)) return 'lastKnown: expected an object keyed by node name';
  for (const [field, nodes] of [['nodes', doc.nodes], ['lastKnown', doc.lastKnown ?? {}]] as const) {
    for (const [name, n] of Object.entries(nodes as Record<string, unknown>)) {
      const wrong = nodeProblem(name, n);
      if (wrong) return `${field}.${name}${wrong}`;
    }
  }
  return undefined;
}

function nodeProblem(name: string, n: unknown): string | undefined {
  if (!isObject(n)) return ': expected an object';
  if (n.name !== name) return `.name: expected "${name}"`;
  if (typeof n.reachable !== 'boolean') return '.reachable: expected true or false';
  if (typeof n.observedAt !== 'string') return '.observedAt: expected a timestamp';
  const bad = NODE_RECORDS.find((k) => !isObject(n[k]));
  if (bad) return `.${bad}: expected an object`;
  if (!Array.isArray(n.probeErrors)) return '.probeErrors: expected a list';
  return undefined;
}

/** What makes a parsed status.json unusable, or undefined when its shape is right. */
export function statusProblem(doc: unknown): string | undefined {
  if (!isObject(doc)) return 'expected an object with updatedAt and resources';
  if (typeof doc.updatedAt !== 'string') return 'updatedAt: expected a timestamp';
  if (!Array.isArray(doc.resources)) return 'resources: expected a list';
  const i = doc.resources.findIndex((r) => !isObject(r) || typeof r.subject !== 'string' || !Array.isArray(r.conditions));
  return i >= 0 ? `resources[${i}]: expected {subject, conditions, facts}` : undefined;
}

/** Append one job record (the plan, what ran, what failed) to jobs/; returns its path. */
export async function writeJob(stateDir: string, at: string, job: { command: string; dryRun: boolean; plan: Plan; report?: ExecuteReport; fencing?: readonly unknown[] }): Promise<string> {
  const file = path.join(stateDir, 'jobs', `${at.replace(/[:.]/g, '-')}-${process.pid}.json`);
  await atomicWrite(file, JSON.stringify(maskSecrets({ at, ...job }), null, 2) + '\n');
  return file;
}

const SUMMARY_FILE = 'desired-summary.json';

/** Record the size of the desired state just applied (the baseline orphan removal compares against). */
export async function writeDesiredSummary(stateDir: string, summary: DesiredSummary): Promise<void> {
  await atomicWrite(path.join(stateDir, SUMMARY_FILE), JSON.stringify(summary, null, 2) + '\n');
}

/** The last applied desired summary; undefined when none was recorded; a damaged file throws StateFileCorruptError. */
export async function readDesiredSummary(stateDir: string): Promise<DesiredSummary | undefined> {
  return (await readStateFile(path.join(stateDir, SUMMARY_FILE), summaryProblem)) as DesiredSummary | undefined;
}

function summaryProblem(doc: unknown): string | undefined {
  const count = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const isTime = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v));
  if (!isObject(doc) || !count(doc.instances) || !count(doc.nodes) || !isTime(doc.at)) return 'want {instances, nodes, at} (counts and an ISO time)';
  if (doc.orphanSince === undefined) return undefined;
  if (!isObject(doc.orphanSince)) return 'orphanSince is not an object';
  const bad = Object.entries(doc.orphanSince).find(([, v]) => !isTime(v));
  return bad ? `orphanSince.${bad[0]} is not an ISO time` : undefined;
}

export interface JobLogRetention {
  /** Keep at most this many job files (newest first). Default 500. */
  readonly keep: number;
  /** Remove job files older than this. Default 30 days. */
  readonly maxAgeDays: number;
}

export const DEFAULT_JOB_LOG_RETENTION: JobLogRetention = { keep: 500, maxAgeDays: 30 };

const JOB_FILE = /^\d{4}-\d\d-\d\dT[\d-]+Z-\d+\.json$/;

/**
 * Rotate jobs/: remove job files beyond the newest `keep` and those older than
 * `maxAgeDays` (by modification time). Only files named like job records are touched.
 * Returns the paths removed.
 */
export async function rotateJobs(stateDir: string, retention: JobLogRetention, now: Date = new Date()): Promise<string[]> {
  const dir = path.join(stateDir, 'jobs');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => JOB_FILE.test(n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const files = await Promise.all(names.map(async (n) => ({ file: path.join(dir, n), mtimeMs: (await stat(path.join(dir, n))).mtimeMs })));
  files.sort((a, b) => b.mtimeMs - a.mtimeMs || b.file.localeCompare(a.file));
  const oldest = now.getTime() - retention.maxAgeDays * 86_400_000;
  const doomed = files.filter((f, i) => i >= retention.keep || f.mtimeMs < oldest).map((f) => f.file);
  for (const f of doomed) await unlink(f).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
  return doomed;
}

const LIVENESS_FILE = 'liveness.json';

/** Each node's condition after a pass: how many probes it missed, since when, whether it was fenced. */
export async function writeLiveness(stateDir: string, at: string, liveness: ReadonlyMap<string, NodeLiveness>): Promise<void> {
  await atomicWrite(path.join(stateDir, LIVENESS_FILE), JSON.stringify({ updatedAt: at, nodes: Object.fromEntries(liveness) }, null, 2) + '\n');
}

/** The conditions the last pass left; undefined when none were recorded; a damaged file throws StateFileCorruptError. */
export async function readLiveness(stateDir: string): Promise<{ updatedAt: string; nodes: Map<string, NodeLiveness> } | undefined> {
  const doc = (await readStateFile(path.join(stateDir, LIVENESS_FILE), livenessProblem)) as { updatedAt: string; nodes: Record<string, NodeLiveness> } | undefined;
  return doc && { updatedAt: doc.updatedAt, nodes: new Map(Object.entries(doc.nodes)) };
}

export function livenessProblem(doc: unknown): string | undefined {
  if (!isObject(doc) || typeof doc.updatedAt !== 'string' || !isObject(doc.nodes)) return 'want {updatedAt, nodes}';
  for (const [name, n] of Object.entries(doc.nodes)) {
    if (!isObject(n) || n.node !== name) return `nodes.${name}: want an object with node "${name}"`;
    if (!NODE_CONDITIONS.includes(n.condition as never)) return `nodes.${name}.condition: want one of ${NODE_CONDITIONS.join(', ')}`;
    if (typeof n.since !== 'string' || Number.isNaN(Date.parse(n.since))) return `nodes.${name}.since: want an ISO time`;
    if (typeof n.missedProbes !== 'number' || !Number.isInteger(n.missedProbes) || n.missedProbes < 0) return `nodes.${name}.missedProbes: want a count`;
  }
  return undefined;
}

const FAILOVERS_FILE = 'failovers.json';

/** Instances that failed over, with their timeline and new primary (kept while the manifest names the old node). */
export async function writeFailovers(stateDir: string, records: ReadonlyMap<string, FailoverRecord>): Promise<void> {
  await atomicWrite(path.join(stateDir, FAILOVERS_FILE), JSON.stringify({ instances: Object.fromEntries(records) }, null, 2) + '\n');
}

/** The failover records; an empty map when none were written; a damaged file throws StateFileCorruptError. */
export async function readFailovers(stateDir: string): Promise<Map<string, FailoverRecord>> {
  const doc = (await readStateFile(path.join(stateDir, FAILOVERS_FILE), failoversProblem)) as { instances: Record<string, FailoverRecord> } | undefined;
  return new Map(Object.entries(doc?.instances ?? {}));
}

function failoversProblem(doc: unknown): string | undefined {
  if (!isObject(doc) || !isObject(doc.instances)) return 'want {instances: {NAME: {instance, from, to, started}}}';
  for (const [name, r] of Object.entries(doc.instances)) {
    if (!isObject(r) || r.instance !== name || typeof r.from !== 'string' || typeof r.to !== 'string' || typeof r.started !== 'string') return `instances.${name}: want {instance: "${name}", from, to, started}`;
  }
  return undefined;
}

const BOOT_IDS_FILE = 'boot-ids.json';

/** The last boot ID seen per node (a changed one means the node rebooted: its disks are re-activated). */
export async function writeBootIds(stateDir: string, at: string, ids: ReadonlyMap<string, string>): Promise<void> {
  await atomicWrite(path.join(stateDir, BOOT_IDS_FILE), JSON.stringify({ updatedAt: at, nodes: Object.fromEntries([...ids].sort(([a], [b]) => a.localeCompare(b))) }, null, 2) + '\n');
}

/** The recorded boot IDs; empty when none were written; a damaged file throws StateFileCorruptError. */
export async function readBootIds(stateDir: string): Promise<Map<string, string>> {
  const doc = (await readStateFile(path.join(stateDir, BOOT_IDS_FILE), bootIdsProblem)) as { nodes: Record<string, string> } | undefined;
  return new Map(Object.entries(doc?.nodes ?? {}));
}

function bootIdsProblem(doc: unknown): string | undefined {
  if (!isObject(doc) || !isObject(doc.nodes)) return 'want {nodes: {NODE: BOOT_ID}}';
  for (const [name, id] of Object.entries(doc.nodes)) if (typeof id !== 'string') return `nodes.${name}: want a boot ID string`;
  return undefined;
}

const WATCHER_FILE = 'watcher.json';
const WATCHER_PAUSE_FILE = 'watcher-pause.json';

/** The watcher's restart counts (written by apply and run after each pass). */
export async function writeWatcherRestarts(stateDir: string, at: string, restarts: ReadonlyMap<string, WatcherRestarts>): Promise<void> {
  await atomicWrite(path.join(stateDir, WATCHER_FILE), JSON.stringify({ updatedAt: at, instances: Object.fromEntries(restarts) }, null, 2) + '\n');
}

/** The restart counts; empty when none were written; a damaged file throws StateFileCorruptError. */
export async function readWatcherRestarts(stateDir: string): Promise<Map<string, WatcherRestarts>> {
  const doc = (await readStateFile(path.join(stateDir, WATCHER_FILE), watcherProblem)) as { instances: Record<string, WatcherRestarts> } | undefined;
  return new Map(Object.entries(doc?.instances ?? {}));
}

function watcherProblem(doc: unknown): string | undefined {
  if (!isObject(doc) || !isObject(doc.instances)) return 'want {updatedAt, instances: {NAME: {attempts, last}}}';
  for (const [name, r] of Object.entries(doc.instances)) {
    if (!isObject(r) || typeof r.attempts !== 'number' || !Number.isInteger(r.attempts) || r.attempts < 0 || typeof r.last !== 'string' || Number.isNaN(Date.parse(r.last))) return `instances.${name}: want {attempts: a count, last: an ISO time}`;
  }
  return undefined;
}

/** `gantry watcher pause`: until when, since when (its own file: the CLI writes it while the daemon writes the counts). */
export interface WatcherPause {
  readonly until: string;
  readonly since: string;
}

export async function writeWatcherPause(stateDir: string, pause: WatcherPause): Promise<void> {
  await atomicWrite(path.join(stateDir, WATCHER_PAUSE_FILE), JSON.stringify(pause, null, 2) + '\n');
}

/** Resume: the pause file goes; true when there was one. */
export async function clearWatcherPause(stateDir: string): Promise<boolean> {
  try {
    await unlink(path.join(stateDir, WATCHER_PAUSE_FILE));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** The pause as written (maybe expired: callers compare `until` with their clock); undefined when none. */
export async function readWatcherPause(stateDir: string): Promise<WatcherPause | undefined> {
  return (await readStateFile(path.join(stateDir, WATCHER_PAUSE_FILE), (doc) =>
    isObject(doc) && typeof doc.until === 'string' && !Number.isNaN(Date.parse(doc.until)) && typeof doc.since === 'string' ? undefined : 'want {until: an ISO time, since}')) as WatcherPause | undefined;
}

const AUTOREPAIR_FILE = 'autorepair.json';

/** Auto-repair's last try per instance (written by apply and run after each pass). */
export async function writeRepairRecords(stateDir: string, at: string, records: ReadonlyMap<string, RepairRecord>): Promise<void> {
  await atomicWrite(path.join(stateDir, AUTOREPAIR_FILE), JSON.stringify({ updatedAt: at, instances: Object.fromEntries(records) }, null, 2) + '\n');
}

/** The records; empty when none were written; a damaged file throws StateFileCorruptError. */
export async function readRepairRecords(stateDir: string): Promise<Map<string, RepairRecord>> {
  const doc = (await readStateFile(path.join(stateDir, AUTOREPAIR_FILE), repairsProblem)) as { instances: Record<string, RepairRecord> } | undefined;
  return new Map(Object.entries(doc?.instances ?? {}));
}

function repairsProblem(doc: unknown): string | undefined {
  if (!isObject(doc) || !isObject(doc.instances)) return 'want {updatedAt, instances: {NAME: {type, attempts, last, result, message}}}';
  for (const [name, r] of Object.entries(doc.instances)) {
    if (!isObject(r) || !REPAIR_TYPES.includes(r.type as never) || typeof r.attempts !== 'number' || !Number.isInteger(r.attempts) || r.attempts < 0
      || typeof r.last !== 'string' || Number.isNaN(Date.parse(r.last)) || (r.result !== 'success' && r.result !== 'failure') || typeof r.message !== 'string'
      || (r.secondary !== undefined && (!isObject(r.secondary) || typeof r.secondary.from !== 'string' || typeof r.secondary.to !== 'string'))) {
      return `instances.${name}: want {type: one of ${REPAIR_TYPES.join(', ')}, attempts: a count, last: an ISO time, result: success or failure, message, secondary?: {from, to}}`;
    }
  }
  return undefined;
}
