/**
 * Orphans: objects Gantry made that no manifest declares. Always reported; removed only
 * when the Cluster opts in (spec.orphans.remove) and every guard agrees:
 *   * ownership mark: an LV with both of Gantry's tags (`gantry`, `gantry-inst=X`) and a
 *     name made for X; a file directly in a Gantry storage dir, named for X, whose exact
 *     path X's own instance record (written by Gantry beside the VM) lists among the disks
 *     X was started with. A file that only looks like ours is reported, never removed;
 *   * not in use: X runs on no node Gantry can see, and for a shared image every node
 *     that could run X was observed (unknown is not absent);
 *   * a baseline: the size of the last applied desired state is known (state directory);
 *     the first apply records it, so removal starts on the pass after;
 *   * not truncated: the desired state did not shrink by more than half since then
 *     (MANIFESTS_TRUNCATED); only orphan removal is refused, not `state: absent`
 *     deletions, which a truncated checkout cannot write;
 *   * a grace: the instance has been undeclared in every apply pass for graceMinutes
 *     (default 60; the state directory keeps when each owner was first found orphaned).
 *     A checkout cut short that keeps more than half of the files passes the check above;
 *     completed within the grace, it removes nothing;
 *   * bounded: at most maxPercentPerPass % (default 10, rounded up) of a node's Gantry
 *     objects per pass (the shared dir counts as one more scope); the rest waits, reported.
 * Orphan VMs (instance records without a manifest) are reported, never removed. Pure.
 */
import path from 'node:path';
import type { Action } from '../core/actions.js';
import type { DesiredSummary, ObservedCluster, Orphan, PlanInput, PlanNode, Refusal } from '../core/plan.js';
import { ALIVE } from './instance-runtime.js';
import { lvFacts, type NodeLvFacts } from './locate.js';
import { instanceOfDiskFile, instanceOfDiskLv, MANAGED_LV_TAG } from './naming.js';

/** Used when the plan input does not say (src/desired fills spec.orphans.maxPercentPerPass with the same default). */
export const DEFAULT_ORPHAN_MAX_PERCENT = 10;
/** A desired state with fewer than this percentage of the last apply's instances or nodes looks truncated. */
export const TRUNCATED_BELOW_PERCENT = 50;
/** Used when the plan input does not say (src/desired fills spec.orphans.graceMinutes with the same default). */
export const DEFAULT_ORPHAN_GRACE_MINUTES = 60;

export interface OrphanPlan {
  readonly orphans: Orphan[];
  /** Owner -> since when its marked objects are orphaned (kept from lastApplied, or this pass's time). */
  readonly orphanSince: Record<string, string>;
  readonly actions: Action[];
  readonly refused: Refusal[];
  readonly notes: string[];
}

/** What the state directory keeps of a desired state after an apply. */
export function desiredSummary(input: PlanInput, at: string, orphanSince?: Readonly<Record<string, string>>): DesiredSummary {
  return { instances: input.instances.length, nodes: input.nodes.length, at, ...(orphanSince && Object.keys(orphanSince).length > 0 ? { orphanSince } : {}) };
}

/** Owner -> since when, for each owner of a marked orphan now: the earlier time when one was recorded. */
function orphanTimes(input: PlanInput, candidates: readonly Candidate[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (input.now === undefined) return out;
  const before = input.lastApplied?.orphanSince ?? {};
  for (const c of candidates) if (c.unmarked === undefined) out[c.owner] = before[c.owner] ?? input.now;
  return out;
}

/** Why an owner's orphans are still inside the grace, or undefined once it has passed. */
function withinGrace(input: PlanInput, since: string | undefined): string | undefined {
  const grace = input.cluster.orphanGraceMinutes ?? DEFAULT_ORPHAN_GRACE_MINUTES;
  const left = since === undefined || input.now === undefined ? grace * 60_000 : grace * 60_000 - (Date.parse(input.now) - Date.parse(since));
  if (left <= 0) return undefined;
  const from = since === undefined ? 'first found undeclared in this pass' : `undeclared since ${since}`;
  return `${from}: removed only once no manifest has declared it for ${grace} minutes (spec.orphans.graceMinutes; ${Math.ceil(left / 60_000)} to go)`;
}

/** MANIFESTS_TRUNCATED when the instances or nodes declared now are fewer than half of the last apply's. */
export function truncation(input: PlanInput): Refusal | undefined {
  const last = input.lastApplied;
  if (!last) return undefined;
  const now = desiredSummary(input, last.at);
  const shrank = (n: number, was: number) => was > 0 && n * 100 < was * TRUNCATED_BELOW_PERCENT;
  if (!shrank(now.instances, last.instances) && !shrank(now.nodes, last.nodes)) return undefined;
  return {
    subject: `Cluster/${input.cluster.name}`, code: 'MANIFESTS_TRUNCATED',
    message: `the manifests declare ${now.instances} instances and ${now.nodes} nodes; the last apply (${last.at}) declared ${last.instances} instances and ${last.nodes} nodes. ` +
      `Fewer than ${TRUNCATED_BELOW_PERCENT} % of either looks like a truncated checkout: no orphan is removed. ` +
      'If the shrink is intended, apply once with spec.orphans.remove: false (that records the new size), then turn it back on.',
  };
}

interface Candidate {
  readonly orphan: Omit<Orphan, 'removed' | 'kept'>;
  readonly owner: string;
  /** Node name, or "shared" for the shared file storage dir. */
  readonly scope: string;
  /** Why it is not Gantry's beyond doubt; undefined when it carries the ownership mark. */
  readonly unmarked?: string;
  readonly action: Action;
}

const isShared = (p: string, sharedDir: string) => path.posix.dirname(p) === sharedDir;

/** Instance name -> every disk path its records (on reachable nodes) were started with. */
function recordedPaths(observed: ObservedCluster): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const obs of observed.nodes.values()) {
    if (!obs.reachable) continue;
    for (const vm of Object.values(obs.instances)) {
      const disks = vm.meta?.launch?.disks;
      if (!Array.isArray(disks)) continue;
      const set = out.get(vm.name) ?? new Set<string>();
      for (const d of disks) set.add(String((d as { path?: unknown }).path ?? ''));
      out.set(vm.name, set);
    }
  }
  return out;
}

/** Every orphan disk object, with its scope and ownership mark; and each scope's count of Gantry objects. */
function collect(input: PlanInput, observed: ObservedCluster, declared: ReadonlySet<string>, facts: readonly NodeLvFacts[]) {
  const nodes = new Map<string, PlanNode>(input.nodes.map((n) => [n.name, n]));
  const shared = input.cluster.sharedFileStorageDir;
  const records = recordedPaths(observed);
  const candidates: Candidate[] = [];
  const owned = new Map<string, number>();
  const count = (scope: string) => owned.set(scope, (owned.get(scope) ?? 0) + 1);
  const sharedSeen = new Set<string>();
  const instanceOrphans: Orphan[] = [];
  // The reachable nodes (the facts' snapshots that are not stale), in node-name order.
  for (const { node: nodeName, obs, stale, lvs } of facts) {
    if (stale || !nodes.has(nodeName)) continue;
    let managedLvs = 0;
    for (const { lv, inst: owner, managed } of lvs) {
      if (managed) managedLvs++;
      if (owner === undefined || declared.has(owner)) continue;
      const unmarked = !managed ? `no "${MANAGED_LV_TAG}" tag` : instanceOfDiskLv(lv.name)?.instance !== owner ? `its name is not one Gantry makes for ${owner}` : undefined;
      candidates.push({
        orphan: { node: nodeName, kind: 'lv', id: `${lv.vg}/${lv.name}` }, owner, scope: nodeName, ...(unmarked ? { unmarked } : {}),
        action: { verb: 'lv.remove', node: nodeName, subject: `Instance/${owner}`, vg: lv.vg, name: lv.name, reason: `orphan of undeclared instance ${owner}; cluster orphans.remove is on` },
      });
    }
    if (managedLvs > 0) owned.set(nodeName, (owned.get(nodeName) ?? 0) + managedLvs);
    const localDir = nodes.get(nodeName)!.fileStorageDir;
    for (const f of Object.values(obs.files)) {
      const owner = instanceOfDiskFile(f.path)?.instance;
      const scope = isShared(f.path, shared) ? 'shared' : nodeName;
      if (scope === 'shared') {
        if (sharedSeen.has(f.path)) continue; // seen by every node: one object
        sharedSeen.add(f.path);
      }
      const inStorage = scope === 'shared' || path.posix.dirname(f.path) === localDir;
      if (owner !== undefined && inStorage) count(scope);
      if (owner === undefined || declared.has(owner)) continue;
      const unmarked = !inStorage ? 'not directly in a Gantry storage dir' : !records.get(owner)?.has(f.path) ? `no instance record of ${owner} names this path` : undefined;
      candidates.push({
        orphan: { node: nodeName, kind: 'file', id: f.path }, owner, scope, ...(unmarked ? { unmarked } : {}),
        action: { verb: 'file.remove', node: nodeName, subject: `Instance/${owner}`, path: f.path, reason: `orphan of undeclared instance ${owner}; cluster orphans.remove is on` },
      });
    }
    for (const name of Object.keys(obs.instances)) {
      if (!declared.has(name)) instanceOrphans.push({ node: nodeName, kind: 'instance', id: name, removed: false });
    }
  }
  return { candidates, owned, instanceOrphans };
}

/** Why a marked orphan cannot go in this pass whatever the bound: its VM runs, or a node that may run it is unseen. */
function inUse(c: Candidate, input: PlanInput, observed: ObservedCluster, alive: ReadonlyMap<string, string>): string | undefined {
  const runsOn = alive.get(c.owner);
  if (runsOn !== undefined) return `instance ${c.owner} runs on ${runsOn}`;
  if (c.scope !== 'shared') return undefined;
  const unseen = input.nodes.filter((n) => n.role !== 'offline' && !observed.nodes.get(n.name)?.reachable).map((n) => n.name);
  return unseen.length > 0 ? `node(s) ${unseen.join(', ')} not observed: the shared image may be in use there` : undefined;
}

/** `facts`: the LVs' tags as read once per plan (locate.lvFacts of the same `observed`). */
export function planOrphans(input: PlanInput, observed: ObservedCluster, declared: ReadonlySet<string>, facts: readonly NodeLvFacts[] = lvFacts(observed)): OrphanPlan {
  const { candidates, owned, instanceOrphans } = collect(input, observed, declared, facts);
  const orphanSince = orphanTimes(input, candidates);
  const out: OrphanPlan = { orphans: [], orphanSince, actions: [], refused: [], notes: [] };
  const keep = (c: Candidate, kept?: string) => out.orphans.push({ ...c.orphan, removed: false, ...(kept ? { kept } : {}) });
  if (!input.cluster.removeOrphans) {
    for (const c of candidates) keep(c);
    out.orphans.push(...instanceOrphans);
    return out;
  }
  const truncated = truncation(input);
  if (truncated) out.refused.push(truncated);
  const alive = new Map<string, string>();
  for (const [node, obs] of observed.nodes) for (const vm of obs.reachable ? Object.values(obs.instances) : []) if (ALIVE.has(vm.runState)) alive.set(vm.name, node);
  const pct = input.cluster.orphanMaxPercentPerPass ?? DEFAULT_ORPHAN_MAX_PERCENT;
  const allowance = new Map([...owned].map(([scope, n]) => [scope, Math.ceil((n * pct) / 100)]));
  let waiting = 0;
  for (const c of [...candidates].sort((a, b) => a.scope.localeCompare(b.scope) || a.orphan.id.localeCompare(b.orphan.id))) {
    const left = allowance.get(c.scope) ?? 0;
    const why = c.unmarked !== undefined ? `no ownership mark: ${c.unmarked}`
      : truncated ? 'manifests look truncated (MANIFESTS_TRUNCATED)'
        : !input.lastApplied ? 'no record of the last applied desired state yet: removal starts after one apply records it'
          : withinGrace(input, input.lastApplied.orphanSince?.[c.owner]) ?? inUse(c, input, observed, alive)
            ?? (left <= 0 ? `waits for a later pass: at most ${pct} % of ${c.scope === 'shared' ? 'the shared dir' : c.scope}'s ${owned.get(c.scope) ?? 0} Gantry objects go per pass (spec.orphans.maxPercentPerPass)` : undefined);
    if (why !== undefined) {
      if (why.startsWith('waits')) waiting++;
      keep(c, why);
      continue;
    }
    allowance.set(c.scope, left - 1);
    out.orphans.push({ ...c.orphan, removed: true });
    out.actions.push(c.action);
  }
  out.orphans.push(...instanceOrphans);
  if (out.actions.length > 0 || waiting > 0) out.notes.push(`orphan removal: ${out.actions.length} removed this pass, ${waiting} wait for later passes (at most ${pct} % of each node's Gantry objects per pass)`);
  return out;
}
