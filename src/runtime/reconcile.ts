/**
 * One reconcile pass: observe every node, plan, and (when asked) execute and re-plan.
 * Level-triggered: it always starts from the manifests and the nodes, never from what a
 * previous pass believed. Used by `gantry plan`, `gantry apply` and the `gantry run` loop.
 */
import type { DesiredState } from '../desired/model.js';
import { observeCluster } from '../observe/observe-cluster.js';
import { plan as makePlan, planIncremental, type PlanCache, type PlanCacheStats, type PlanOptions } from '../plan/plan.js';
import { toPlanInput } from '../plan/from-desired.js';
import { desiredSummary } from '../plan/orphans.js';
import type { ObservedCluster, Plan } from '../core/plan.js';
import { deriveStatus, type ResourceStatus } from '../status/status.js';
import { readBootIds, readDesiredSummary, readFailovers, readLiveness, readObserved, readRepairRecords, readWatcherPause, readWatcherRestarts, writeBootIds, writeFailovers, writeRepairRecords, writeWatcherRestarts, type JobLogRetention } from '../status/state-dir.js';
import { nextRestarts } from './restarts.js';
import { keepFailoverRecords } from '../plan/failover.js';
import { confirmDead, nextLiveness, withMissedProbes, type MissedProbe } from '../observe/liveness.js';
import { fenceError, type Fencer } from '../execute/fence.js';
import type { AutoRepairDecision, FailoverRecord, FenceDecision, RepairRecord, WatcherRestarts, WatcherState } from '../core/plan.js';
import { nextRepairRecords } from '../plan/autorepair.js';
import { actionKey } from '../core/actions.js';
import type { FenceRecord, NodeLiveness } from '../core/liveness.js';

/** One node fenced in a pass: confirmed dead (record), or why not. */
export interface FenceOutcome {
  readonly node: string;
  readonly ok: boolean;
  readonly record?: FenceRecord;
  readonly error?: { readonly code: string; readonly message: string };
}
import type { ObservedNode } from '../core/observed.js';
import { StateDirError } from '../util/errors.js';
import { recordJob, saveState } from './persist.js';
import type { Logger } from '../util/log.js';
import { executePlan, type ExecuteOptions, type ExecuteReport } from '../execute/executor.js';
import type { ActionResult, NodeOps } from '../core/node-ops.js';
import { allocatorFor } from '../execute/allocate.js';

/**
 * The incremental planner's memory across passes (`gantry run` keeps one): each pass plans
 * with plan/plan.ts planIncremental, reusing the parts of the previous pass whose inputs
 * did not change, and leaves the new cache here.
 */
export interface IncrementalPlanner {
  cache?: PlanCache;
  /** How the last plan used the cache. */
  stats?: PlanCacheStats;
  /** Instance parts reused and planned, over every plan made with this memory. */
  totals?: { reused: number; planned: number };
  /** Also make the full plan and compare (the fault campaign, tests): a difference throws IncrementalPlanMismatchError. */
  readonly verify?: boolean;
}

/** The incremental plan differs from the full plan: a bug in what plan/plan-cache tracks (deliberately not a GantryError: nothing a sysadmin did). */
export class IncrementalPlanMismatchError extends Error {
  constructor(readonly where: string) {
    super(`the incremental plan differs from the full plan (${where}): a cluster-wide input is missing from plan/plan-cache's tracking`);
    this.name = 'IncrementalPlanMismatchError';
  }
}

/** The first place two plans' JSON differ, for the error. */
function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at character ${i}: full …${a.slice(Math.max(0, i - 80), i + 80)}… incremental …${b.slice(Math.max(0, i - 80), i + 80)}…`;
}

export interface ReconcileDeps {
  readonly logger: Logger;
  /** Plan incrementally with this memory (the daemon); absent: a full plan every time. */
  readonly incremental?: IncrementalPlanner;
  /** NodeOps for every node to observe (offline nodes may be absent). */
  readonly ops: ReadonlyMap<string, NodeOps>;
  readonly now?: () => Date;
  readonly stateDir?: string;
  /** Read the last observation (the floor) from this state directory without writing it (`gantry plan`); default: stateDir. */
  readonly floorDir?: string;
  /** Default: hail-grade allocation for instances without placement (plan/allocate). */
  readonly planOptions?: PlanOptions;
  /** Job log rotation (default: 500 files, 30 days). */
  readonly jobLog?: JobLogRetention;
  /** Where a job record goes when the state directory cannot take it (default: stderr). */
  readonly stderr?: (line: string) => void;
  /** Powers off and confirms nodes the plan decides to fence (execute/fence); without it nothing is fenced. */
  readonly fencer?: Fencer;
  /**
   * Probes that got no answer since the last call (the daemon's heartbeat), taken at each
   * observation and counted as missed probes before it (observe/liveness withMissedProbes).
   */
  readonly takeMissedProbes?: () => ReadonlyMap<string, readonly MissedProbe[]>;
  /** Retry policy of the executor (the simulator's fault campaign retries without waiting). */
  readonly execute?: Pick<ExecuteOptions, 'retries' | 'retryDelay'>;
}

export interface ReconcileOptions {
  readonly apply: boolean;
  readonly dryRun?: boolean;
  /** Asked before executing a non-empty plan; false aborts without changes. */
  readonly confirm?: (plan: Plan) => Promise<boolean>;
  readonly onResult?: (r: ActionResult, done: number, total: number) => void;
  readonly command?: string;
  /**
   * Called once the job log is written and before status and the observation are: the
   * place to print the summary, so a state directory that cannot be written hides nothing.
   */
  readonly beforeStateWrite?: (res: ReconcileResult) => void | Promise<void>;
  /** Cancels the pass before its next action (Kubernetes mode: the Lease was lost). */
  readonly signal?: AbortSignal;
}

export interface ReconcileResult {
  readonly plan: Plan;
  readonly observed: ObservedCluster;
  readonly report?: ExecuteReport;
  /** The plan recomputed after apply: empty when the nodes converged. */
  readonly after?: Plan;
  readonly statuses: readonly ResourceStatus[];
  readonly aborted: boolean;
  readonly jobFile?: string;
  /** The job log could not be written (it went to stderr as JSON). */
  readonly jobLogError?: StateDirError;
  /** Failovers whose start succeeded in this pass, with their timeline. */
  readonly failovers?: readonly FailoverRecord[];
  /** Nodes fenced in this pass (before its actions), with what their program said. */
  readonly fencing?: readonly FenceOutcome[];
  /** status.json or observed.json could not be written. */
  readonly stateError?: StateDirError;
}

/** The last good snapshot of a node in an earlier observation: as observed then, or its floor then. */
function lastGood(previous: ObservedCluster | undefined, node: string): ObservedNode | undefined {
  const then = previous?.nodes.get(node);
  return then?.reachable ? then : previous?.lastKnown?.get(node);
}

/**
 * Unknown is not absent: `observed` with, for each declared node that cannot be observed
 * now, its last good snapshot from `previous` (the state directory's last observation).
 * Written back as is, so an unreachable node's snapshot and its observedAt are kept.
 */
export function withFloor(observed: ObservedCluster, previous: ObservedCluster | undefined, declared: Iterable<string>): ObservedCluster {
  const lastKnown = new Map<string, ObservedNode>();
  for (const node of [...declared].sort()) {
    if (observed.nodes.get(node)?.reachable) continue;
    // An offline node that answered its probe: what it holds now is its floor.
    const last = observed.offlineAnswers?.get(node) ?? lastGood(previous, node);
    if (last) lastKnown.set(node, last);
  }
  return { nodes: observed.nodes, lastKnown, ...(observed.offlineAnswers ? { offlineAnswers: observed.offlineAnswers } : {}) };
}

/** The state directory's last observation, or undefined (none, or no state directory). */
async function readFloor(deps: ReconcileDeps): Promise<ObservedCluster | undefined> {
  const dir = deps.stateDir ?? deps.floorDir;
  if (!dir) return undefined;
  const snap = await readObserved(dir);
  if (!snap) deps.logger.info({ stateDir: dir }, 'no earlier observation in the state directory: instances not seen on any node are not created while a node cannot be observed');
  return snap?.observed;
}

/** The node conditions the last pass recorded (liveness.json), or undefined. */
async function readPrevLiveness(deps: ReconcileDeps): Promise<ReadonlyMap<string, NodeLiveness> | undefined> {
  const dir = deps.stateDir ?? deps.floorDir;
  return dir ? (await readLiveness(dir))?.nodes : undefined;
}

export async function reconcileOnce(state: DesiredState, deps: ReconcileDeps, opts: ReconcileOptions): Promise<ReconcileResult> {
  const now = deps.now ?? (() => new Date());
  const summaryDir = deps.stateDir ?? deps.floorDir;
  const lastApplied = summaryDir ? await readDesiredSummary(summaryDir) : undefined;
  const base = toPlanInput(state);
  const records = keepFailoverRecords(base, summaryDir ? await readFailovers(summaryDir) : new Map());
  const restarts = summaryDir ? await readWatcherRestarts(summaryDir) : new Map<string, WatcherRestarts>();
  const pause = summaryDir ? await readWatcherPause(summaryDir) : undefined;
  const watcher: WatcherState = { restarts, ...(pause ? { pausedUntil: pause.until } : {}) };
  const repairs = summaryDir ? await readRepairRecords(summaryDir) : new Map<string, RepairRecord>();
  const bootIds = summaryDir ? await readBootIds(summaryDir) : new Map<string, string>();
  const input = { ...base, ...(lastApplied ? { lastApplied } : {}), ...(records.size > 0 ? { failovers: records } : {}), now: now().toISOString(), watcher, ...(repairs.size > 0 ? { repairs } : {}), ...(bootIds.size > 0 ? { bootIds } : {}) };
  const floor = await readFloor(deps);
  // Every probe counts: the re-observation after apply is a probe too.
  let liveness = await readPrevLiveness(deps);
  const observeNow = async (): Promise<ObservedCluster> => {
    const o = withFloor(await observeCluster(state, deps.ops, now), floor, state.nodes.keys());
    // An offline node's own probe counts only for whether it answered while offline (plan/offline-migrate).
    const probes = o.offlineAnswers ? new Map([...o.nodes, ...o.offlineAnswers]) : o.nodes;
    // The heartbeat's misses since the last observation happened before this probe's answer.
    const misses = deps.takeMissedProbes?.();
    if (misses && misses.size > 0) liveness = withMissedProbes(liveness, [...state.nodes.values()], misses, state.cluster.liveness);
    liveness = nextLiveness(liveness, [...state.nodes.values()], probes, now().toISOString(), state.cluster.liveness);
    return { ...o, liveness };
  };
  let observed = await observeNow();
  const planOptions = deps.planOptions ?? { allocator: allocatorFor(state) };
  const inc = deps.incremental;
  const planFor = (o: ObservedCluster): Plan => {
    if (!inc) return makePlan(input, o, planOptions);
    const r = planIncremental(input, o, inc.cache, planOptions);
    inc.cache = r.cache;
    inc.stats = r.stats;
    inc.totals = { reused: (inc.totals?.reused ?? 0) + r.stats.reused, planned: (inc.totals?.planned ?? 0) + r.stats.planned };
    if (inc.verify) {
      const full = JSON.stringify(makePlan(input, o, planOptions));
      const mine = JSON.stringify(r.plan);
      if (full !== mine) throw new IncrementalPlanMismatchError(firstDifference(full, mine));
    }
    deps.logger.debug({ reused: r.stats.reused, planned: r.stats.planned, why: r.stats.why }, 'incremental plan');
    return r.plan;
  };
  let plan = planFor(observed);
  deps.logger.debug({ actions: plan.actions.length, refused: plan.refused.length, unreachable: plan.unreachable }, 'planned');

  let report: ExecuteReport | undefined;
  let after: Plan | undefined;
  let aborted = false;
  let fencing: FenceOutcome[] = [];
  // Fencing first: a node confirmed dead changes what the plan may do with its instances.
  if (opts.apply && !opts.dryRun && deps.fencer && plan.fencing?.some((f) => f.fence)) {
    if (opts.confirm && !(await opts.confirm(plan))) {
      aborted = true;
    } else {
      const f = await fenceNodes(plan.fencing, deps.fencer, liveness!, now, deps.logger);
      fencing = f.outcomes;
      liveness = f.liveness;
      observed = { ...observed, liveness };
      plan = planFor(observed);
    }
  }
  let finalObserved = observed;
  if (opts.apply && !aborted && plan.actions.length > 0) {
    if (opts.confirm && !opts.dryRun && !(await opts.confirm(plan))) {
      aborted = true;
    } else {
      report = await executePlan(plan, deps.ops, {
        logger: deps.logger, now, ...deps.execute, ...(opts.dryRun ? { dryRun: true } : {}), ...(opts.onResult ? { onResult: opts.onResult } : {}), ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (!opts.dryRun) {
        finalObserved = await observeNow();
        after = planFor(finalObserved);
      }
    }
  }
  const at = now().toISOString();
  // Failovers the nodes show and the state directory had lost: kept from now on (a returning node is the stale side).
  for (const r of plan.recoveredFailovers ?? []) {
    if (records.has(r.instance)) continue;
    records.set(r.instance, r);
    deps.logger.warn({ instance: r.instance, from: r.from, to: r.to, observed: r.recovered }, `failover record rebuilt from the nodes: ${r.instance} stays on ${r.to} (${r.from} is the stale side)`);
  }
  const done = completedFailovers(plan, report, at);
  for (const r of done) {
    records.set(r.instance, r);
    deps.logger.warn({ instance: r.instance, from: r.from, to: r.to, detected: r.detected, fenced: r.fenced, started: r.started }, `failover: ${r.instance} runs on ${r.to} (its node ${r.from} is gone)`);
  }
  const repaired = opts.apply && !aborted ? nextRepairRecords(repairs, plan.autoRepair ?? [], (d) => repairOutcome(d, report, done), new Set(state.instances.keys()), at) : repairs;
  const statuses = withAutoRepairFacts(withWatcherFacts(withFailoverFacts(deriveStatus(plan, finalObserved, at, report, after), records), plan, restarts, at), plan, repaired, at);
  let res: ReconcileResult = { plan, observed: finalObserved, ...(report ? { report } : {}), ...(after ? { after } : {}), statuses, aborted, ...(done.length > 0 ? { failovers: done } : {}) };
  const persist = deps.stateDir !== undefined && !opts.dryRun;
  if (fencing.length > 0) res = { ...res, fencing };
  if (persist && (report || fencing.length > 0)) {
    res = { ...res, ...(await jobLogFields(deps, at, { command: opts.command ?? 'apply', dryRun: false, plan, ...(report ? { report } : {}), ...(fencing.length > 0 ? { fencing } : {}), ...(done.length > 0 ? { failovers: done } : {}) })) };
  }
  await opts.beforeStateWrite?.(res);
  if (persist) {
    // The baseline orphan removal compares with; never a size that looked truncated.
    const baseline = opts.apply && !aborted && !plan.refused.some((r) => r.code === 'MANIFESTS_TRUNCATED') ? desiredSummary(input, at, plan.orphanSince) : undefined;
    const counts = opts.apply && !aborted ? nextRestarts(restarts, plan, report, finalObserved, new Set(state.instances.keys()), at, base.cluster.watcher) : restarts;
    const boots = opts.apply && !aborted ? nextBootIds(bootIds, finalObserved, report) : bootIds;
    const stateError = (await saveState(deps.stateDir!, at, finalObserved, statuses, baseline)) ?? (await saveFailovers(deps.stateDir!, records)) ?? (await saveRestarts(deps.stateDir!, at, counts)) ?? (await saveRepairs(deps.stateDir!, at, repaired))
      ?? (await saveBootIds(deps.stateDir!, at, boots));
    if (stateError) res = { ...res, stateError };
  }
  return res;
}

/**
 * The plan's failovers that completed on the new primary: its start succeeded, or (a DRBD
 * instance declared stopped, so nothing starts) every failover promotion of its disks did.
 * `started` is when that action ended (its result's finishedAt), else `at` (the pass's end).
 */
export function completedFailovers(plan: Plan, report: ExecuteReport | undefined, at: string): FailoverRecord[] {
  const key = (a: { subject: string; node: string }) => `${a.subject}@${a.node}`;
  const ok = (report?.results ?? []).filter((r) => r.ok);
  const started = new Map(ok.filter((r) => r.action.verb === 'instance.start').map((r) => [key(r.action), r.finishedAt ?? at]));
  const promoted = new Map(ok.filter((r) => r.action.verb === 'drbd.primary' && r.action.failover).map((r) => [actionKey(r.action), r.finishedAt ?? at]));
  /** When the failover completed, or undefined when it did not. */
  const doneAt = (f: { instance: string; to?: string }): string | undefined => {
    const k = `Instance/${f.instance}@${f.to}`;
    if (plan.actions.some((a) => a.verb === 'instance.start' && key(a) === k)) return started.get(k);
    const promotions = plan.actions.filter((a) => a.verb === 'drbd.primary' && a.failover && key(a) === k);
    const times = promotions.map((a) => promoted.get(actionKey(a)));
    return times.length > 0 && times.every((t) => t !== undefined) ? times.sort().at(-1) : undefined;
  };
  return (plan.failovers ?? []).flatMap((f) => {
    const when = f.to !== undefined ? doneAt(f) : undefined;
    return when === undefined ? [] : [{ instance: f.instance, from: f.from, to: f.to!, ...(f.detected ? { detected: f.detected } : {}), ...(f.fenced ? { fenced: f.fenced } : {}), started: when }];
  });
}

/** Instance status carries its failover: the new primary and the timeline. */
function withFailoverFacts(statuses: ResourceStatus[], records: ReadonlyMap<string, FailoverRecord>): ResourceStatus[] {
  return statuses.map((st) => {
    const r = st.subject.startsWith('Instance/') ? records.get(st.subject.slice(9)) : undefined;
    return r ? { ...st, facts: { ...st.facts, primary: r.to, failover: r } } : st;
  });
}

/** Instance status carries the watcher's count; after its cap, a NeedsHuman condition (no more restarts). */
function withWatcherFacts(statuses: ResourceStatus[], plan: Plan, restarts: ReadonlyMap<string, WatcherRestarts>, at: string): ResourceStatus[] {
  const decisions = new Map((plan.watcher?.decisions ?? []).map((d) => [`Instance/${d.instance}`, d]));
  return statuses.map((st) => {
    if (!st.subject.startsWith('Instance/')) return st;
    const d = decisions.get(st.subject);
    const r = restarts.get(st.subject.slice(9));
    if (!d && !r) return st;
    const facts = { ...st.facts, watcher: { ...(r ? { restarts: r.attempts, lastRestart: r.last } : { restarts: 0 }), ...(d ? { decision: d.decision, ...(d.next ? { next: d.next } : {}) } : {}) } };
    const conditions = d?.decision === 'gave-up' ? [...st.conditions, { type: 'NeedsHuman' as const, status: 'True' as const, reason: 'WatcherGaveUp', message: d.message, lastTransitionTime: at }] : st.conditions;
    return { ...st, facts, conditions };
  });
}

/**
 * A planned repair's outcome in this pass: a failover is a success once it completed
 * (completedFailovers); any failed action of the instance is a failure; otherwise not
 * finished yet (a DRBD promotion refused or waiting: the plan says why), counted neither way.
 */
export function repairOutcome(d: AutoRepairDecision, report: ExecuteReport | undefined, done: readonly FailoverRecord[]): { result: 'success' | 'failure'; message: string; secondary?: RepairRecord['secondary'] } | undefined {
  const failed = (report?.results ?? []).filter((r) => !r.ok && r.action.subject === `Instance/${d.instance}`);
  if (failed.length > 0) return { result: 'failure', message: `${d.needed}: ${failed.map((r) => `${r.action.verb} on ${r.action.node}: ${r.error?.code ?? 'failed'}: ${r.error?.message ?? ''}`).join('; ')}` };
  const f = done.find((r) => r.instance === d.instance);
  if (d.needed === 'failover' && f) return { result: 'success', message: `failover: ${f.from} -> ${f.to}` };
  if (d.needed === 'reinstall' && f) return { result: 'success', message: `reinstall: ${f.from} -> ${f.to} (disks re-created empty, OS installed again)` };
  // migrate (off an offline node that still runs it): done when it moved, live or stopped there and started on its new node.
  if (d.needed === 'migrate') {
    const moved = (report?.results ?? []).find((r) => r.ok && r.action.subject === `Instance/${d.instance}` && (r.action.verb === 'instance.migrate' || r.action.verb === 'instance.start'));
    if (moved?.action.verb === 'instance.migrate') return { result: 'success', message: `migrate: ${moved.action.node} -> ${moved.action.peer} (live)` };
    if (moved) return { result: 'success', message: `migrate: stopped on the offline node, started on ${moved.action.node}` };
  }
  // fix-storage: done when the new secondary's resync completed (drbd.wait-sync succeeded).
  const synced = d.needed === 'fix-storage' ? (report?.results ?? []).find((r) => r.ok && r.action.verb === 'drbd.wait-sync' && r.action.subject === `Instance/${d.instance}`) : undefined;
  if (synced && synced.action.verb === 'drbd.wait-sync' && d.replaces !== undefined) {
    return { result: 'success', message: `fix-storage: secondary ${d.replaces} replaced by ${synced.action.peerNode} (resynced from ${synced.action.node})`, secondary: { from: d.replaces, to: synced.action.peerNode } };
  }
  return undefined;
}

/** Instance status carries its auto-repair: the last try and this plan's decision; after the cap, a NeedsHuman condition. */
function withAutoRepairFacts(statuses: ResourceStatus[], plan: Plan, records: ReadonlyMap<string, RepairRecord>, at: string): ResourceStatus[] {
  const decisions = new Map((plan.autoRepair ?? []).map((d) => [`Instance/${d.instance}`, d]));
  return statuses.map((st) => {
    if (!st.subject.startsWith('Instance/')) return st;
    const d = decisions.get(st.subject);
    const r = records.get(st.subject.slice(9));
    if (!d && !r) return st;
    const facts = { ...st.facts, autoRepair: { ...(d ? { needed: d.needed, decision: d.decision, ...(d.allowed ? { allowed: d.allowed } : {}), ...(d.scope ? { scope: d.scope } : {}), message: d.message } : {}), ...(r ? { last: r } : {}) } };
    const conditions = d?.decision === 'gave-up' ? [...st.conditions, { type: 'NeedsHuman' as const, status: 'True' as const, reason: 'AutoRepairGaveUp', message: d.message, lastTransitionTime: at }] : st.conditions;
    return { ...st, facts, conditions };
  });
}

async function saveRepairs(stateDir: string, at: string, records: ReadonlyMap<string, RepairRecord>): Promise<StateDirError | undefined> {
  try {
    await writeRepairRecords(stateDir, at, records);
    return undefined;
  } catch (e) {
    return new StateDirError(`${stateDir}/autorepair.json`, 'write', e);
  }
}

async function saveRestarts(stateDir: string, at: string, counts: ReadonlyMap<string, WatcherRestarts>): Promise<StateDirError | undefined> {
  try {
    await writeWatcherRestarts(stateDir, at, counts);
    return undefined;
  } catch (e) {
    return new StateDirError(`${stateDir}/watcher.json`, 'write', e);
  }
}

/**
 * The boot IDs to record: each observed node's current one, except on a node where an
 * action of this pass failed or was skipped (its re-activation after a reboot is not done:
 * the next pass still sees the reboot and says so).
 */
export function nextBootIds(prev: ReadonlyMap<string, string>, observed: ObservedCluster, report: ExecuteReport | undefined): Map<string, string> {
  const unfinished = new Set([...(report?.results ?? []).filter((r) => !r.ok).map((r) => r.action.node), ...(report?.skipped ?? []).map((s) => s.action.node)]);
  const out = new Map(prev);
  for (const [node, o] of observed.nodes) {
    const id = o.reachable ? o.facts.bootId : undefined;
    if (id === undefined) continue;
    if (prev.get(node) !== undefined && prev.get(node) !== id && unfinished.has(node)) continue;
    out.set(node, id);
  }
  return out;
}

async function saveBootIds(stateDir: string, at: string, ids: ReadonlyMap<string, string>): Promise<StateDirError | undefined> {
  try {
    await writeBootIds(stateDir, at, ids);
    return undefined;
  } catch (e) {
    return new StateDirError(`${stateDir}/boot-ids.json`, 'write', e);
  }
}

async function saveFailovers(stateDir: string, records: ReadonlyMap<string, FailoverRecord>): Promise<StateDirError | undefined> {
  try {
    await writeFailovers(stateDir, records);
    return undefined;
  } catch (e) {
    return new StateDirError(`${stateDir}/failovers.json`, 'write', e);
  }
}

/** Fence each node the plan decided to, one at a time; a confirmed power off makes it Dead. */
async function fenceNodes(decisions: readonly FenceDecision[], fencer: Fencer, liveness: ReadonlyMap<string, NodeLiveness>, now: () => Date, logger: Logger) {
  const next = new Map(liveness);
  const outcomes: FenceOutcome[] = [];
  for (const d of decisions.filter((x) => x.fence)) {
    try {
      const record = await fencer.fence(d.node, now);
      next.set(d.node, confirmDead(next.get(d.node)!, record));
      outcomes.push({ node: d.node, ok: true, record });
    } catch (e) {
      const error = fenceError(e);
      logger.error({ node: d.node, ...error }, 'fencing failed: the node is not confirmed dead and its instances stay where they were');
      outcomes.push({ node: d.node, ok: false, error });
    }
  }
  return { liveness: next, outcomes };
}

/** Job log first: what ran survives a state directory that refuses status and observed. */
async function jobLogFields(deps: ReconcileDeps, at: string, job: Parameters<typeof recordJob>[2]): Promise<Pick<ReconcileResult, 'jobFile' | 'jobLogError'>> {
  const out = await recordJob(deps.stateDir!, at, job, { logger: deps.logger, ...(deps.jobLog ? { retention: deps.jobLog } : {}), ...(deps.stderr ? { stderr: deps.stderr } : {}) });
  return { ...(out.jobFile ? { jobFile: out.jobFile } : {}), ...(out.error ? { jobLogError: out.error } : {}) };
}
