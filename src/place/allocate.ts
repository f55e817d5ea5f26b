/**
 * The allocator (hail): place a new instance on the best node (plain, file,
 * diskless, shared storage) or node pair (DRBD primary + secondary in the same
 * group). Every candidate is checked against the instance policy and the node
 * arithmetic (memory, disk, vCPU ratio, spindles, exclusion tags, N+1); the
 * successes are ranked by the resulting group score, groups by alloc policy
 * (preferred before last_resort; unallocable never) then score. With capacity
 * checks on (hail's default), a solution must also keep its group globally N+1
 * redundant: every node can be evacuated (DRBD primaries failed over, shared
 * storage instances moved, the rest recreated elsewhere); candidates that break
 * that are counted as FailN1.
 */
import { type ClusterState, type InstS } from './state.js';
import { policyViolation } from './policy.js';
import { type FailCounts, type FailReason, type PlaceInstance, emptyFailCounts } from './types.js';

export interface AllocEngineOptions {
  /** Enforce global N+1 redundancy of the chosen group (hail/hspace default: true). */
  readonly capacity?: boolean;
  /** Only these groups (indices). */
  readonly groups?: readonly number[];
  /** Only these nodes (indices) as candidates. */
  readonly nodes?: readonly number[];
  /** Nodes never used (indices). */
  readonly excludeNodes?: readonly number[];
}

export interface GroupAttempt {
  readonly gdx: number;
  readonly group: string;
  readonly allocPolicy: string;
  readonly fails: FailCounts;
  readonly successes: number;
  readonly solution: { readonly p: number; readonly s: number; readonly score: number } | null;
}

export interface AllocOutcome {
  readonly ok: boolean;
  readonly p: number;
  readonly s: number;
  readonly gdx: number;
  readonly score: number;
  readonly fails: FailCounts;
  readonly attempts: readonly GroupAttempt[];
  readonly messages: readonly string[];
}

const POLICY_RANK: Record<string, number> = { preferred: 0, last_resort: 1, unallocable: 2 };

function hasNetworks(st: ClusterState, gdx: number, inst: PlaceInstance): boolean {
  const nets = st.src.groups[gdx]!.networks;
  return inst.nics.every((n) => n.network === null || nets.includes(n.network));
}

/** Tries every candidate of one group for instance `ii` (not placed) without changing the state. */
export function tryGroup(st: ClusterState, ii: number, gdx: number, opts: AllocEngineOptions): GroupAttempt {
  const inst = st.insts[ii]!;
  const g = st.groups[gdx]!;
  const fails = emptyFailCounts();
  const exclude = new Set(opts.excludeNodes ?? []);
  const only = opts.nodes ? new Set(opts.nodes) : null;
  const nodes = g.nodes.filter((i) => !st.nodes[i]!.offline && !exclude.has(i) && (only === null || only.has(i)));
  const succ: { p: number; s: number; score: number }[] = [];
  const trial = (p: number, s: number): void => {
    const pol = policyViolation(inst.src, st.nodes[p]!.ipolicy, st.excl[p] === 1);
    if (pol) { fails[pol]++; return; }
    st.begin();
    const r = st.placeNew(ii, p, s);
    if (r) { st.rollback(); fails[r]++; return; }
    st.rescoreTouched();
    succ.push({ p, s, score: st.groupScore(gdx) });
    st.rollback();
  };
  if (inst.dt === 'drbd') {
    for (const p of nodes) for (const s of nodes) if (p !== s) trial(p, s);
  } else {
    for (const p of nodes) trial(p, -1);
  }
  succ.sort((a, b) => a.score - b.score);
  let solution: GroupAttempt['solution'] = null;
  let successes = succ.length;
  if (opts.capacity ?? true) {
    for (const c of succ) {
      st.begin();
      st.placeNew(ii, c.p, c.s);
      st.rescoreTouched();
      const ok = groupRedundant(st, gdx);
      st.rollback();
      if (ok) { solution = c; break; }
      fails.FailN1++;
      successes--;
    }
  } else solution = succ[0] ?? null;
  return { gdx, group: g.name, allocPolicy: st.src.groups[gdx]!.allocPolicy, fails, successes, solution };
}

/** Allocates instance `ii` (appended, unplaced) on the best group; commits on success. */
export function allocateInstance(st: ClusterState, ii: number, opts: AllocEngineOptions = {}): AllocOutcome {
  const plan = planAllocation(st, ii, opts);
  if (!plan.ok) return plan;
  st.begin();
  const r = st.placeNew(ii, plan.p, plan.s);
  if (r) { st.rollback(); throw new Error(`internal: chosen allocation failed (${r})`); }
  st.rescoreTouched();
  st.commit();
  st.recomputeGroup(plan.gdx);
  return { ...plan, score: st.groupScore(plan.gdx) };
}

/** Finds where instance `ii` would be allocated, without changing the state. */
export function planAllocation(st: ClusterState, ii: number, opts: AllocEngineOptions = {}): AllocOutcome {
  const inst = st.insts[ii]!;
  const attempts: GroupAttempt[] = [];
  const messages: string[] = [];
  const groups = opts.groups ?? st.groups.map((g) => g.gdx);
  for (const gdx of groups) {
    if (st.src.groups[gdx]!.allocPolicy === 'unallocable') continue;
    if (!hasNetworks(st, gdx, inst.src)) {
      messages.push(`group ${st.groups[gdx]!.name} is not connected to a network required by instance ${inst.name}`);
      continue;
    }
    attempts.push(tryGroup(st, ii, gdx, opts));
  }
  const fails = emptyFailCounts();
  for (const a of attempts) for (const k of Object.keys(fails) as FailReason[]) fails[k] += a.fails[k];
  for (const a of attempts) {
    messages.push(a.solution
      ? `Group ${a.group} (${a.allocPolicy}): score: ${a.solution.score.toFixed(8)}, successes ${a.successes}`
      : `Group ${a.group} (${a.allocPolicy}): No valid allocation solutions, failure reasons: ${describeFails(a.fails)}`);
  }
  const good = attempts.filter((a) => a.solution !== null);
  good.sort((a, b) => (POLICY_RANK[a.allocPolicy]! - POLICY_RANK[b.allocPolicy]!) || a.solution!.score - b.solution!.score);
  const best = good[0];
  if (!best) return { ok: false, p: -1, s: -1, gdx: -1, score: NaN, fails, attempts, messages };
  const sol = best.solution!;
  return { ok: true, p: sol.p, s: sol.s, gdx: best.gdx, score: sol.score, fails, attempts, messages };
}

export function describeFails(f: FailCounts): string {
  const parts = (Object.keys(f) as FailReason[]).filter((k) => f[k] > 0).map((k) => `${k}: ${f[k]}`);
  return parts.length ? parts.join(', ') : 'unknown reasons';
}

/**
 * Ganeti GlobalN1.redundant for one group: every node of the group can be
 * evacuated. Runs inside the caller's transaction and leaves the state as found.
 */
export function groupRedundant(st: ClusterState, gdx: number): boolean {
  const g = st.groups[gdx]!;
  const prim = new Map<number, number[]>();
  for (const inst of st.insts) {
    const p = st.pNode[inst.idx]!;
    if (p < 0 || st.nodes[p]!.gdx !== gdx) continue;
    let l = prim.get(p);
    if (!l) { l = []; prim.set(p, l); }
    l.push(inst.idx);
  }
  for (const n of g.nodes) {
    const list = prim.get(n);
    if (!list || list.length === 0) continue;
    if (!canEvacuateNode(st, gdx, n, list)) return false;
  }
  return true;
}

function canEvacuateNode(st: ClusterState, gdx: number, n: number, prims: readonly number[]): boolean {
  const sp = st.savepoint();
  const prevCheck = st.finalSoftCheck;
  st.finalSoftCheck = false;
  try {
    const escape = st.groups[gdx]!.nodes.filter((x) => x !== n);
    const drbd: number[] = [];
    const shared: number[] = [];
    const other: InstS[] = [];
    for (const ii of prims) {
      const inst = st.insts[ii]!;
      if (inst.dt === 'drbd') drbd.push(ii);
      else if (inst.mirror === 'external') shared.push(ii);
      else other.push(inst);
    }
    for (const ii of drbd) {
      if (st.sNode[ii]! < 0) return false;
      if (st.applyMove(ii, 'failover', -1, true) !== null) return false;
    }
    for (const ii of shared) {
      const t = bestTarget(st, gdx, escape, (t) => st.applyMove(ii, 'failoverToAny', t, true));
      if (t < 0) return false;
      st.applyMove(ii, 'failoverToAny', t, true);
    }
    other.sort((a, b) => b.mem - a.mem);
    for (const inst of other) {
      const t = bestTarget(st, gdx, escape, (t) => {
        const pol = policyViolation(inst.src, st.nodes[t]!.ipolicy, st.excl[t] === 1);
        return pol ?? st.addPri(t, inst, true, 0);
      });
      if (t < 0) return false;
      st.addPri(t, inst, true, 0);
    }
    return true;
  } finally {
    st.rollbackTo(sp);
    st.finalSoftCheck = prevCheck;
  }
}

/** The target with the best group score for which `apply` succeeds; -1 if none. */
function bestTarget(st: ClusterState, gdx: number, targets: readonly number[], apply: (t: number) => FailReason | null): number {
  let best = -1;
  let bestScore = Infinity;
  for (const t of targets) {
    const sp = st.savepoint();
    const r = apply(t);
    if (r === null) {
      st.rescoreTouched();
      const sc = st.groupScore(gdx);
      if (sc < bestScore) { bestScore = sc; best = t; }
    }
    st.rollbackTo(sp);
  }
  return best;
}
