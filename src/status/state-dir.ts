/**
 * The state directory (file mode): status, the last observed snapshot and the job log.
 * Never the manifests. Everything that matters is also on the nodes (LV tags, instance
 * records), so losing this directory loses history, not allocations.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DesiredSummary, ObservedCluster, Plan } from '../core/plan.js';
import { PrereqError } from '../util/errors.js';
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

export async function readObserved(stateDir: string): Promise<{ observedAt: string; observed: ObservedCluster } | undefined> {
  try {
    const j = JSON.parse(await readFile(path.join(stateDir, 'observed.json'), 'utf8')) as { observedAt: string; nodes: Record<string, never>; lastKnown?: Record<string, never> };
    return { observedAt: j.observedAt, observed: { nodes: new Map(Object.entries(j.nodes)), lastKnown: new Map(Object.entries(j.lastKnown ?? {})) } };
  } catch {
    return undefined;
  }
}

/** Append one job record (the plan, what ran, what failed) to jobs/; returns its path. */
export async function writeJob(stateDir: string, at: string, job: { command: string; dryRun: boolean; plan: Plan; report?: ExecuteReport }): Promise<string> {
  const file = path.join(stateDir, 'jobs', `${at.replace(/[:.]/g, '-')}-${process.pid}.json`);
  await atomicWrite(file, JSON.stringify(maskSecrets({ at, ...job }), null, 2) + '\n');
  return file;
}

const SUMMARY_FILE = 'desired-summary.json';

/** Record the size of the desired state just applied (the baseline orphan removal compares against). */
export async function writeDesiredSummary(stateDir: string, summary: DesiredSummary): Promise<void> {
  await atomicWrite(path.join(stateDir, SUMMARY_FILE), JSON.stringify(summary, null, 2) + '\n');
}

/** The last applied desired summary; undefined when none was recorded; a corrupt file is an error naming it. */
export async function readDesiredSummary(stateDir: string): Promise<DesiredSummary | undefined> {
  const file = path.join(stateDir, SUMMARY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PrereqError('STATE_UNREADABLE', `${file}: ${(e as Error).message}`, { file });
  }
  let j: Partial<DesiredSummary>;
  try {
    j = JSON.parse(text) as Partial<DesiredSummary>;
  } catch (e) {
    throw new PrereqError('STATE_CORRUPT', `${file} is corrupt (not JSON: ${(e as Error).message}); remove it and apply again to record a new baseline`, { file });
  }
  const count = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!j || !count(j.instances) || !count(j.nodes) || typeof j.at !== 'string') {
    throw new PrereqError('STATE_CORRUPT', `${file} is corrupt (want {instances, nodes, at}); remove it and apply again to record a new baseline`, { file });
  }
  return { instances: j.instances!, nodes: j.nodes!, at: j.at };
}
