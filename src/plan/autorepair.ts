/**
 * Auto-repair (Ganeti's harep, man/harep.rst), pure. Opt-in per instance, node group or
 * cluster with Ganeti's tags `ganeti:watcher:autorepair:<type>` (and, on the instance,
 * spec.autoRepair.repair, which counts as one more instance tag); the types are graded,
 * fix-storage < migrate < failover < reinstall, each allowing those before it. As harep:
 * within one object the least invasive tag wins, across objects the nearest one (instance,
 * then its node group, then the cluster); `ganeti:watcher:autorepair:suspend` (or
 * `suspend:UNIXTIME`, until then) at any of those levels suspends repairs from there down.
 *
 * What an instance needs follows harep's detectBroken on Gantry's node conditions (a node
 * is gone when it is Dead, fenced with power off confirmed, or declared offline):
 *   - its primary gone, a node left to run it (DRBD secondary, sharedfile, diskless): failover;
 *   - its DRBD secondary gone, the primary alive: fix-storage (a new secondary);
 *   - its disks gone with their node (plain, file, a DRBD pair with both nodes gone): reinstall.
 * Nothing here asks for migrate (harep's detectBroken never does either); the type is
 * accepted for its place in the order. A failover repair makes the planner fail the
 * instance over (plan/failover); fix-storage and reinstall are reported as unavailable
 * with the reason until the planner can make them. After Cluster spec.autoRepair.maxAttempts
 * failed tries in a row (state directory, autorepair.json) Gantry stops trying.
 */
import { REPAIR_TYPES, type AutoRepairDecision, type PlanInput, type PlanInstance, type RepairRecord, type RepairType } from '../core/plan.js';

export const AUTOREPAIR_TAG = 'ganeti:watcher:autorepair:';
const SUSPEND = `${AUTOREPAIR_TAG}suspend`;

/** The tags that speak to auto-repair (the planner's input carries only these). */
export function autoRepairTags(tags: readonly string[]): string[] {
  return tags.filter((t) => t.startsWith(AUTOREPAIR_TAG));
}

/** One object's say: suspended (until an ISO time, or for good), or the type it allows. */
export type ScopePolicy = { readonly suspended: true; readonly until?: string } | { readonly suspended: false; readonly allowed: RepairType };

/**
 * The policy one object's tags set, or undefined when they say nothing (the next scope up
 * decides). `nowMs` judges suspend timestamps (seconds since the epoch, as Ganeti writes
 * them); a past one is over. Tags naming no known type are ignored, as harep ignores them.
 */
export function scopePolicy(tags: readonly string[], nowMs: number | undefined, extra?: RepairType): ScopePolicy | undefined {
  const until: number[] = [];
  for (const t of tags) {
    if (t === SUSPEND || t === `${SUSPEND}:`) return { suspended: true };
    if (!t.startsWith(`${SUSPEND}:`)) continue;
    const s = Number(t.slice(SUSPEND.length + 1));
    if (Number.isInteger(s) && s > 0 && (nowMs === undefined || s * 1000 > nowMs)) until.push(s * 1000);
  }
  if (until.length > 0) return { suspended: true, until: new Date(Math.max(...until)).toISOString() };
  const types = tags.map((t) => t.slice(AUTOREPAIR_TAG.length)).filter((t): t is RepairType => REPAIR_TYPES.includes(t as RepairType));
  if (extra !== undefined) types.push(extra);
  if (types.length === 0) return undefined;
  return { suspended: false, allowed: REPAIR_TYPES[Math.min(...types.map((t) => REPAIR_TYPES.indexOf(t)))]! };
}

export interface InstancePolicy {
  readonly policy?: ScopePolicy;
  readonly scope?: 'instance' | 'group' | 'cluster';
}

/** The nearest scope that says something: the instance (its tags and spec.autoRepair.repair), the node group of `node` (else placement.group), the cluster. */
export function instancePolicy(input: PlanInput, inst: PlanInstance, node?: string): InstancePolicy {
  const nowMs = input.now !== undefined ? Date.parse(input.now) : undefined;
  const own = scopePolicy(inst.tags, nowMs, inst.repair);
  if (own) return { policy: own, scope: 'instance' };
  const ar = input.cluster.autoRepair;
  if (!ar) return {};
  const group = input.nodes.find((n) => n.name === (node ?? inst.primary))?.group ?? inst.group;
  const g = group !== undefined ? ar.groupTags.get(group) : undefined;
  const gp = g ? scopePolicy(g, nowMs) : undefined;
  if (gp) return { policy: gp, scope: 'group' };
  const cp = scopePolicy(ar.tags, nowMs);
  return cp ? { policy: cp, scope: 'cluster' } : {};
}

export const DEFAULT_REPAIR_ATTEMPTS = 3;

const rank = (t: RepairType) => REPAIR_TYPES.indexOf(t);

/** Whether the instance's auto-repair policy lets Gantry make a repair of `type` now (not suspended, not given up). */
export function repairAllowed(input: PlanInput, inst: PlanInstance, type: RepairType, node?: string): boolean {
  const { policy } = instancePolicy(input, inst, node);
  if (!policy || policy.suspended || rank(policy.allowed) < rank(type)) return false;
  return !gaveUp(input, inst.name, type);
}

function gaveUp(input: PlanInput, instance: string, type: RepairType): boolean {
  const r = input.repairs?.get(instance);
  return r !== undefined && r.type === type && r.result === 'failure' && r.attempts >= (input.cluster.autoRepair?.maxAttempts ?? DEFAULT_REPAIR_ATTEMPTS);
}

/** Why Gantry cannot make a repair of this type (yet), or undefined when it can. */
export type Unavailable = (type: RepairType) => string | undefined;

/**
 * The decision for an instance that needs a repair of type `needed`; undefined when auto-repair
 * is not enabled for it at any scope (nothing to report: the rest of the plan says what happens).
 */
export function repairDecision(input: PlanInput, inst: PlanInstance, needed: RepairType, node: string | undefined, why: string, unavailable: Unavailable): AutoRepairDecision | undefined {
  const { policy, scope } = instancePolicy(input, inst, node);
  if (!policy) return undefined;
  const max = input.cluster.autoRepair?.maxAttempts ?? DEFAULT_REPAIR_ATTEMPTS;
  const rec: RepairRecord | undefined = input.repairs?.get(inst.name);
  const attempts = rec && rec.type === needed && rec.result === 'failure' ? rec.attempts : 0;
  const base = { instance: inst.name, needed, ...(scope ? { scope } : {}), attempts, max, ...(needed === 'reinstall' ? { dataLoss: true as const } : {}) };
  const where = scope === 'instance' ? 'its own tags or spec.autoRepair.repair' : scope === 'group' ? 'its node group\'s tags' : 'the cluster\'s tags';
  if (policy.suspended) {
    return { ...base, decision: 'suspended', ...(policy.until ? { until: policy.until } : {}), message: `${why}: needs ${needed}, but auto-repair is suspended by ${where} (${SUSPEND}${policy.until ? ` until ${policy.until}` : ''})` };
  }
  const allowed = { ...base, allowed: policy.allowed };
  if (rank(policy.allowed) < rank(needed)) {
    return { ...allowed, decision: 'not-allowed', message: `${why}: needs ${needed}; ${where} allow only up to ${policy.allowed} (${AUTOREPAIR_TAG}${needed} or spec.autoRepair.repair: ${needed} allows it)` };
  }
  if (attempts >= max) {
    return { ...allowed, decision: 'gave-up', message: `${why}: ${needed} failed ${attempts} times in a row (Cluster spec.autoRepair.maxAttempts ${max}; last: ${rec!.message}): auto-repair gave up; a human must look at ${inst.name} (the count starts over once it needs no repair)` };
  }
  const no = unavailable(needed);
  if (no !== undefined) return { ...allowed, decision: 'unavailable', message: `${why}: needs ${needed}, allowed, but ${no}` };
  return { ...allowed, decision: 'repair', message: `${why}: ${needed} (allowed up to ${policy.allowed} by ${where}), try ${attempts + 1} of ${max}${needed === 'reinstall' ? ': DATA LOSS, its disks are re-created empty' : ''}` };
}

/** Records after an apply: each planned repair's outcome; an instance that needs no repair any more has its count reset. */
export function nextRepairRecords(prev: ReadonlyMap<string, RepairRecord>, decisions: readonly AutoRepairDecision[], outcome: (d: AutoRepairDecision) => { result: 'success' | 'failure'; message: string; secondary?: RepairRecord['secondary'] } | undefined, declared: ReadonlySet<string>, at: string): Map<string, RepairRecord> {
  const out = new Map<string, RepairRecord>();
  const needing = new Map(decisions.map((d) => [d.instance, d]));
  for (const [name, r] of prev) {
    if (!declared.has(name)) continue;
    out.set(name, needing.has(name) || r.attempts === 0 ? r : { ...r, attempts: 0 });
  }
  for (const d of decisions) {
    if (d.decision !== 'repair') continue;
    const o = outcome(d);
    if (!o) continue; // not finished in this pass (a DRBD promotion waiting, say): neither a success nor a failure yet
    const before = out.get(d.instance);
    const failures = o.result === 'failure' ? (before && before.type === d.needed && before.result === 'failure' ? before.attempts : 0) + 1 : 0;
    out.set(d.instance, { type: d.needed, attempts: failures, last: at, result: o.result, message: o.message, ...(o.secondary ? { secondary: o.secondary } : {}) });
  }
  return out;
}
