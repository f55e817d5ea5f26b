/**
 * Allocation on dedicated clusters (Ganeti htools `Dedicated.hs`): when every
 * node of the groups an allocation may use has exclusive storage, hail does
 * not rank candidates by the cluster score and does not run the global N+1
 * check. It ranks them by the "lost allocations" metric instead:
 *
 *  * the test instances are the min specs of the node's instance policy (one per
 *    min/max pair, largest disk first), each a running plain instance with no
 *    disks of its own (so no spindles) and the min spec's memory, disk, vCPUs;
 *  * a node's allocation vector counts how many copies of each test instance it
 *    could still take (strict checks, one after the other);
 *  * a candidate's metric is (allocation vector before - after, summed over the
 *    primary and, for DRBD, the secondary; then the free disk left on them);
 *    the smallest metric wins, compared lexicographically; on equal metrics the
 *    candidate tried last wins (as Ganeti's fold keeps the later of two equals).
 *
 * Groups are then ranked by alloc policy and metric. Pure: works inside the
 * caller's ClusterState and leaves it as found unless it commits a placement.
 */
import { describeFails } from './allocate.js';
import { type ClusterState, type InstS } from './state.js';
import { policyViolation } from './policy.js';
import { type FailCounts, type ISpec, type IPolicy, emptyFailCounts } from './types.js';

/** (lost allocations per test instance, free disk left on the chosen node(s)). */
export interface LostAllocMetric {
  readonly lost: readonly number[];
  readonly disk: number;
}

/** Ganeti's `show` of the metric, e.g. `([1],798464)`, as hail prints it. */
export function formatMetric(m: LostAllocMetric): string {
  return `([${m.lost.join(',')}],${m.disk})`;
}

/** Lexicographic order of metrics (lost vector first, then free disk). */
export function compareMetric(a: LostAllocMetric, b: LostAllocMetric): number {
  const n = Math.min(a.lost.length, b.lost.length);
  for (let i = 0; i < n; i++) if (a.lost[i] !== b.lost[i]) return a.lost[i]! - b.lost[i]!;
  if (a.lost.length !== b.lost.length) return a.lost.length - b.lost.length;
  return a.disk - b.disk;
}

/**
 * Whether an allocation is "dedicated" (Dedicated.isDedicated): every node
 * (offline ones included) either has exclusive storage or sits outside the
 * groups considered: the named group, else every group that is not unallocable.
 */
export function isDedicated(st: ClusterState, groupName?: string): boolean {
  const groups = new Set<number>();
  st.groups.forEach((g, gdx) => {
    if (groupName !== undefined ? g.name === groupName : st.src.groups[gdx]!.allocPolicy !== 'unallocable') groups.add(gdx);
  });
  return st.nodes.every((n) => st.excl[n.idx] === 1 || !groups.has(n.gdx));
}

/**
 * Upper bound on the copies of one test instance counted per node. Ganeti
 * counts without a bound (a policy whose min spec is all zeros never ends
 * there); a node holding more than this many minimal instances is not real.
 */
const MAX_FITS = 100_000;

function testInstance(spec: ISpec, k: number): InstS {
  return {
    idx: -1 - k, name: 'minimalspecinstance', mem: spec.memorySize, dsk: spec.diskSize, vcpus: spec.cpuCount,
    status: 'running', usesMem: true, online: true, usesSecMem: false, local: true, dt: 'plain', mirror: 'none',
    exclTags: [], dsrdLoc: new Set(), spindleUse: spec.spindleUse, spindles: 0, movable: false, autoBalance: false,
    src: {
      name: 'minimalspecinstance', mem: spec.memorySize, dsk: spec.diskSize, disks: [], vcpus: spec.cpuCount,
      status: 'running', autoBalance: false, pNode: '', sNode: null, diskTemplate: 'plain', tags: [],
      spindleUse: spec.spindleUse, spindles: 0, nics: [],
    },
  };
}

/** Dedicated.testInstances: the policy's min specs, largest disk first (stable). */
export function testInstances(pol: IPolicy): InstS[] {
  const mins = pol.minMax.map((mm) => mm.min);
  const order = mins.map((s, i) => ({ s, i })).sort((a, b) => (b.s.diskSize - a.s.diskSize) || (a.i - b.i));
  return order.map(({ s }, k) => testInstance(s, k));
}

/** How many copies of each test instance node `n` takes now (state left as found). */
export function allocationVector(st: ClusterState, n: number, tests: readonly InstS[]): number[] {
  return tests.map((t) => {
    const sp = st.savepoint();
    let c = 0;
    while (c < MAX_FITS && st.addPri(n, t, false, 0) === null) c++;
    st.rollbackTo(sp);
    return c;
  });
}

export interface DedicatedGroupAttempt {
  readonly gdx: number;
  readonly group: string;
  readonly allocPolicy: string;
  readonly fails: FailCounts;
  readonly failCount: number;
  readonly successes: number;
  /** Set when the group could not be tried at all (Ganeti: "Group X: error ..."). */
  readonly error: string | null;
  readonly solution: { readonly p: number; readonly s: number; readonly metric: LostAllocMetric } | null;
}

export interface DedicatedOutcome {
  readonly ok: boolean;
  readonly p: number;
  readonly s: number;
  readonly gdx: number;
  readonly metric: LostAllocMetric | null;
  readonly fails: FailCounts;
  readonly attempts: readonly DedicatedGroupAttempt[];
  /** hail's log lines, in its order ("Group default (preferred): score: ([1],798464), ..."). */
  readonly messages: readonly string[];
}

const POLICY_RANK: Record<string, number> = { preferred: 0, last_resort: 1, unallocable: 2 };

export interface DedicatedOptions {
  /** Place on a primary and a secondary (DRBD) instead of one node. */
  readonly pairs: boolean;
  /** Only this group (the request's `group_name`). */
  readonly groupName?: string;
  /** Only these groups (indices), when no group is named. */
  readonly onlyGroups?: readonly number[];
}

/** Dedicated.findAllocation for one group: every candidate, ranked by the lost-allocations metric. */
export function tryGroupDedicated(st: ClusterState, ii: number, gdx: number, pairs: boolean): DedicatedGroupAttempt {
  const inst = st.insts[ii]!;
  const g = st.groups[gdx]!;
  const base = { gdx, group: g.name, allocPolicy: st.src.groups[gdx]!.allocPolicy };
  const fails = emptyFailCounts();
  const nets = st.src.groups[gdx]!.networks;
  if (!inst.src.nics.every((x) => x.network === null || nets.includes(x.network))) {
    return {
      ...base, fails, failCount: 0, successes: 0, solution: null,
      error: `The group ${g.name} is not connected to a network required by instance ${inst.name}`,
    };
  }
  const online = g.nodes.filter((i) => !st.nodes[i]!.offline);
  if (online.length === 0 || (pairs && online.length < 2)) {
    // Cluster.genAllocNodes: no candidate node, or no candidate pair
    return { ...base, fails, failCount: 0, successes: 0, solution: null, error: pairs ? 'Not enough online nodes' : 'No online nodes' };
  }
  let failCount = 0;
  let successes = 0;
  let best: DedicatedGroupAttempt['solution'] = null;
  const consider = (p: number, s: number, metric: LostAllocMetric): void => {
    successes++;
    if (best === null || !(compareMetric(best.metric, metric) < 0)) best = { p, s, metric };
  };
  const outer = st.inTransaction();
  if (!outer) st.begin();
  const sp0 = st.savepoint();
  try {
    const vecBefore = new Map<number, number[]>();
    const before = (n: number, tests: readonly InstS[]): number[] => {
      let v = vecBefore.get(n);
      if (!v) { v = allocationVector(st, n, tests); vecBefore.set(n, v); }
      return v;
    };
    for (const p of online) {
      const pol = st.nodes[p]!.ipolicy;
      const tests = testInstances(pol);
      const bad = policyViolation(inst.src, pol, st.excl[p] === 1);
      const targets = pairs ? online.filter((s) => s !== p) : [-1];
      if (bad) { for (const _ of targets) { fails[bad]++; failCount++; } continue; }
      const bP = before(p, tests);
      const sp = st.savepoint();
      const r = st.addPri(p, inst, false, 0);
      if (r) {
        st.rollbackTo(sp);
        for (const _ of targets) { fails[r]++; failCount++; }
        continue;
      }
      const aP = allocationVector(st, p, tests);
      const dskP = st.freeDisk(p);
      const lostP = bP.map((b, k) => b - aP[k]!);
      if (!pairs) {
        consider(p, -1, { lost: lostP, disk: dskP });
        st.rollbackTo(sp);
        continue;
      }
      for (const s of targets) {
        const bS = before(s, tests);
        const sp2 = st.savepoint();
        const r2 = st.addSec(s, inst, p, false);
        if (r2) { st.rollbackTo(sp2); fails[r2]++; failCount++; continue; }
        const aS = allocationVector(st, s, tests);
        const lost = lostP.map((x, k) => x + bS[k]! - aS[k]!);
        consider(p, s, { lost, disk: dskP + st.freeDisk(s) });
        st.rollbackTo(sp2);
      }
      st.rollbackTo(sp);
    }
  } finally {
    st.rollbackTo(sp0);
    if (!outer) st.rollback();
  }
  return { ...base, fails, failCount, successes, solution: best, error: null };
}

function describe(a: DedicatedGroupAttempt, st: ClusterState): string {
  const head = `Group ${a.group}`;
  if (a.error !== null) return `${head}: error ${a.error}`;
  if (!a.solution) return `${head} (${a.allocPolicy}): No valid allocation solutions, failure reasons: ${describeFails(a.fails)}`;
  const nodes = [a.solution.p, ...(a.solution.s >= 0 ? [a.solution.s] : [])].map((i) => st.nodes[i]!.name).join('/');
  const reasons = (Object.keys(a.fails) as (keyof FailCounts)[]).filter((k) => a.fails[k] > 0).map((k) => `${k}: ${a.fails[k]}`).join(', ');
  return `${head} (${a.allocPolicy}): score: ${formatMetric(a.solution.metric)}, successes ${a.successes}, failures ${a.failCount} (${reasons}) for node(s) ${nodes}`;
}

/**
 * Where instance `ii` (appended, unplaced) goes on a dedicated cluster
 * (Dedicated.findMGAllocation, or findAllocation when `groupName` is given).
 * Does not change the state.
 */
export function planDedicated(st: ClusterState, ii: number, opts: DedicatedOptions): DedicatedOutcome {
  const gdxs = opts.groupName !== undefined
    ? st.groups.filter((g) => g.name === opts.groupName).map((g) => g.gdx)
    : st.groups.filter((g) => g.nodes.length > 0 && (opts.onlyGroups === undefined || opts.onlyGroups.includes(g.gdx))).map((g) => g.gdx);
  const attempts = gdxs.map((gdx) => tryGroupDedicated(st, ii, gdx, opts.pairs));
  const fails = emptyFailCounts();
  for (const a of attempts) for (const k of Object.keys(fails) as (keyof FailCounts)[]) fails[k] += a.fails[k];
  const messages = attempts.map((a) => describe(a, st));
  // Ganeti collects the good groups in reverse order, then sorts stably by (policy, metric)
  const good = attempts
    .filter((a) => a.solution !== null && (opts.groupName !== undefined || a.allocPolicy !== 'unallocable'))
    .reverse();
  good.sort((a, b) => (POLICY_RANK[a.allocPolicy]! - POLICY_RANK[b.allocPolicy]!) || compareMetric(a.solution!.metric, b.solution!.metric));
  const best = good[0];
  if (!best) return { ok: false, p: -1, s: -1, gdx: -1, metric: null, fails, attempts, messages };
  const sol = best.solution!;
  if (opts.groupName === undefined) messages.unshift(`Selected group: ${best.group}`);
  return { ok: true, p: sol.p, s: sol.s, gdx: best.gdx, metric: sol.metric, fails, attempts, messages };
}

/** Plans and commits the placement of instance `ii` on a dedicated cluster. */
export function allocateDedicated(st: ClusterState, ii: number, opts: DedicatedOptions): DedicatedOutcome {
  const plan = planDedicated(st, ii, opts);
  if (!plan.ok) return plan;
  st.begin();
  const r = st.placeNew(ii, plan.p, plan.s);
  if (r) { st.rollback(); throw new Error(`internal: chosen dedicated allocation failed (${r})`); }
  st.rescoreTouched();
  st.commit();
  st.recomputeGroup(plan.gdx);
  return plan;
}
