/**
 * What a pass leaves in the state directory, in the order that keeps the news: the job
 * log first (what ran and what failed), then the caller prints its summary, then status
 * and the last observation. A write that fails never hides what happened: the job goes to
 * stderr as one JSON line, and the error is returned (StateDirError) for the caller to
 * report after its summary, with its own exit status.
 */
import type { DesiredSummary, ObservedCluster, Plan } from '../core/plan.js';
import type { ExecuteReport } from '../execute/executor.js';
import { maskSecrets } from '../status/drift-report.js';
import { DEFAULT_JOB_LOG_RETENTION, rotateJobs, writeDesiredSummary, writeJob, writeLiveness, writeObserved, writeStatus, type JobLogRetention } from '../status/state-dir.js';
import type { ResourceStatus } from '../status/status.js';
import { StateDirError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface JobRecord {
  readonly command: string;
  readonly dryRun: boolean;
  readonly plan: Plan;
  readonly report?: ExecuteReport;
  /** Nodes fenced before the actions ran. */
  readonly fencing?: readonly { readonly node: string; readonly ok: boolean }[];
}

export interface JobLogOutcome {
  readonly jobFile?: string;
  readonly error?: StateDirError;
}

/** Write the job record and rotate jobs/; when it cannot be written, print it to `stderr` as JSON. */
export async function recordJob(stateDir: string, at: string, job: JobRecord, o: { logger: Logger; retention?: JobLogRetention; stderr?: (line: string) => void }): Promise<JobLogOutcome> {
  let jobFile: string;
  try {
    jobFile = await writeJob(stateDir, at, job);
  } catch (e) {
    const error = new StateDirError(`${stateDir}/jobs`, 'write the job log to', e);
    (o.stderr ?? ((l: string) => process.stderr.write(l)))(JSON.stringify({ jobLogNotWritten: error.message, job: maskSecrets({ at, ...job }) }) + '\n');
    return { error };
  }
  try {
    const removed = await rotateJobs(stateDir, o.retention ?? DEFAULT_JOB_LOG_RETENTION, new Date(at));
    if (removed.length > 0) o.logger.info({ removed: removed.length }, 'job log rotated');
  } catch (e) {
    // the job itself is written: a failed rotation is worth a warning, not a failed pass
    o.logger.warn({ err: e }, 'job log rotation failed');
  }
  return { jobFile };
}

/** Write status.json, observed.json and the desired summary (when given); the first failure is returned, not thrown. */
export async function saveState(stateDir: string, at: string, observed: ObservedCluster, statuses: ResourceStatus[], summary?: DesiredSummary): Promise<StateDirError | undefined> {
  try {
    await writeStatus(stateDir, at, statuses);
  } catch (e) {
    return new StateDirError(`${stateDir}/status.json`, 'write', e);
  }
  try {
    await writeObserved(stateDir, at, observed);
  } catch (e) {
    return new StateDirError(`${stateDir}/observed.json`, 'write', e);
  }
  try {
    if (observed.liveness) await writeLiveness(stateDir, at, observed.liveness);
  } catch (e) {
    return new StateDirError(`${stateDir}/liveness.json`, 'write', e);
  }
  try {
    if (summary) await writeDesiredSummary(stateDir, summary);
  } catch (e) {
    return new StateDirError(`${stateDir}/desired-summary.json`, 'write', e);
  }
  return undefined;
}
