/**
 * The state directory (file mode): status, the last observed snapshot and the job log.
 * Never the manifests. Everything that matters is also on the nodes (LV tags, instance
 * records), so losing this directory loses history, not allocations.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObservedCluster, Plan } from '../core/plan.js';
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

export async function writeObserved(stateDir: string, at: string, observed: ObservedCluster): Promise<void> {
  await atomicWrite(path.join(stateDir, 'observed.json'), JSON.stringify({ observedAt: at, nodes: Object.fromEntries(observed.nodes) }, null, 2) + '\n');
}

export async function readObserved(stateDir: string): Promise<{ observedAt: string; observed: ObservedCluster } | undefined> {
  try {
    const j = JSON.parse(await readFile(path.join(stateDir, 'observed.json'), 'utf8')) as { observedAt: string; nodes: Record<string, never> };
    return { observedAt: j.observedAt, observed: { nodes: new Map(Object.entries(j.nodes)) } };
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
