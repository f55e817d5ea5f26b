/**
 * The balancer (hbal): greedy steepest-descent on the cluster score using hbal's
 * move types (failover, replace secondary, replace primary, and their
 * combinations; failover-to-any for externally mirrored disks). A move is only
 * considered if every node operation passes the strict checks (memory, disk,
 * vCPU ratio, spindles, exclusion tags, migration tags, and never turning a node
 * N+1-failing), exactly like hbal.
 *
 * Speed: each candidate is applied to the typed-array state, scored from
 * incrementally maintained sums (O(nodes touched + score components)) and rolled
 * back. Each round evaluates every candidate once, applies the best one (hbal's
 * step) and then, in order of their score, further improving moves on nodes not
 * yet touched in this round, each re-checked against the current state. A round
 * is therefore a wave of moves on disjoint nodes that can run in parallel.
 */
import { ClusterState, type MoveType } from './state.js';
import { FastEval } from './fasteval.js';
import type { PlaceCluster } from './types.js';

export interface BalanceOptions {
  /** Only this group (name or UUID); default: every group. */
  readonly group?: string;
  /** Cap on the number of moves per group (hbal -l); default unlimited. */
  readonly maxMoves?: number;
  /** hbal -g / --min-gain-limit: below `minGainLimit`, stop when a move gains less than `minGain`. */
  readonly minGain?: number;
  readonly minGainLimit?: number;
  /** hbal -e: stop when the score is at or below this. */
  readonly minScore?: number;
  /** hbal --ignore-soft-errors. */
  readonly ignoreSoftErrors?: boolean;
  /**
   * Moves between online nodes never break N+1 or an exclusion tag. Moves off an
   * offline/drained node skip those soft checks like hbal (an evacuation may pass
   * through an N+1 failure that later moves repair); `strictEvacuation` refuses
   * them too, at the price of worse results when evacuating.
   */
  readonly strictEvacuation?: boolean;
  /** hbal -E: only move instances off offline/drained nodes. */
  readonly evacMode?: boolean;
  readonly noDiskMoves?: boolean;
  readonly noInstanceMoves?: boolean;
  readonly restrictedMigration?: boolean;
  /** Apply several moves on disjoint nodes per round (default true); false = strictly hbal's one move per step. */
  readonly parallel?: boolean;
  /** Instances never moved (hbal --exclude-instances). */
  readonly excludeInstances?: readonly string[];
  /** Wall-clock budget in ms, checked between rounds. Needs `now`. */
  readonly timeLimitMs?: number;
  /** Clock used only for `timeLimitMs` (pure callers pass nothing). */
  readonly now?: () => number;
  /** Extra exclusion tag prefixes (hbal --exclusion-tags). */
  readonly exclusionTags?: readonly string[];
  /**
   * 'rounds' (default): every instance evaluated each round, the best moves on disjoint nodes applied;
   * 'steepest': hbal's exact algorithm, one best move per full evaluation;
   * 'lazy': lazy greedy, re-evaluating only the most promising instances (fastest, slightly worse).
   */
  readonly strategy?: 'lazy' | 'rounds' | 'steepest';
  /** Lazy strategy: moves between two full re-evaluations (default: a quarter of the group's nodes). */
  readonly lazyRefresh?: number;
  /** Progress callback after each applied move. */
  readonly onMove?: (move: BalanceMove, count: number) => void;
}

export interface BalanceMove {
  readonly instance: string;
  readonly group: string;
  readonly type: MoveType;
  readonly from: { readonly primary: string; readonly secondary: string | null };
  readonly to: { readonly primary: string; readonly secondary: string | null };
  /** Group score after this move. */
  readonly score: number;
  /** Wave (0-based): moves of one wave touch disjoint nodes and can run in parallel. */
  readonly wave: number;
  /** hbal's short notation: f, r:NODE, f r:NODE f, r:NODE f, f r:NODE, fa:NODE. */
  readonly notation: string;
  /** Ganeti commands that perform the move. */
  readonly commands: readonly string[];
}

export interface GroupBalance {
  readonly group: string;
  readonly initialScore: number;
  readonly finalScore: number;
  readonly moves: readonly BalanceMove[];
  readonly waves: number;
  readonly converged: boolean;
}

export interface BalanceResult {
  readonly cluster: PlaceCluster;
  readonly groups: readonly GroupBalance[];
  readonly moves: readonly BalanceMove[];
}

// below this a "gain" is floating-point noise of the incremental sums (cancellation in sumsq/n - mean^2)
const EPS = 1e-9;

interface Cand {
  ii: number;
  mv: MoveType;
  tdx: number;
  score: number;
}

function movesFor(
  mir: 'none' | 'internal' | 'external', useSec: boolean, instMoves: boolean, diskMoves: boolean,
  restMig: boolean, primaryDrained: boolean,
): MoveType[] {
  if (mir === 'none') return [];
  if (mir === 'external') return instMoves ? ['failoverToAny'] : [];
  if (!diskMoves) return [];
  if (!instMoves) return ['replaceSecondary'];
  if (restMig && !primaryDrained) return ['replaceSecondary'];
  if (useSec && !restMig) return ['replaceSecondary', 'replaceAndFailover', 'replacePrimary', 'failoverAndReplace'];
  if (useSec && restMig && primaryDrained) return ['replaceSecondary', 'replaceAndFailover', 'failoverAndReplace'];
  return ['replaceSecondary', 'replaceAndFailover'];
}

function notationOf(mv: MoveType, p: string, s: string | null, np: string, ns: string | null): string {
  switch (mv) {
    case 'failover': return 'f';
    case 'failoverToAny': return `fa:${np}`;
    case 'replacePrimary': return `f r:${np} f`;
    case 'replaceSecondary': return `r:${ns ?? ''}`;
    case 'replaceAndFailover': return `r:${np} f`;
    case 'failoverAndReplace': return `f r:${ns ?? ''}`;
  }
  void p; void s;
}

function commandsOf(inst: string, notation: string): string[] {
  return notation.split(' ').map((step) => {
    if (step === 'f') return `gnt-instance migrate -f ${inst}`;
    if (step.startsWith('fa:')) return `gnt-instance migrate -f -n ${step.slice(3)} ${inst}`;
    return `gnt-instance replace-disks -n ${step.slice(2)} ${inst}`;
  });
}

/**
 * hbal's splitJobs: walking the moves in order, a move joins the current wave
 * when it touches none of the wave's nodes, else it opens a new wave. Sets
 * `wave` on each move and returns the number of waves.
 */
function splitWaves(moves: BalanceMove[]): number {
  let wave = -1;
  let nodes = new Set<string>();
  for (let i = 0; i < moves.length; i++) {
    const m = moves[i]!;
    const mine = [m.from.primary, m.from.secondary, m.to.primary, m.to.secondary].filter((x): x is string => x !== null);
    if (wave < 0 || mine.some((x) => nodes.has(x))) {
      wave++;
      nodes = new Set();
    }
    for (const x of mine) nodes.add(x);
    moves[i] = { ...m, wave };
  }
  return wave + 1;
}

/** Engine-level balancing of one group of a ClusterState (mutates `st`). */
export function balanceGroup(st: ClusterState, gdx: number, opts: BalanceOptions = {}): GroupBalance {
  const g = st.groups[gdx]!;
  const force = opts.ignoreSoftErrors ?? false;
  const diskMoves = !(opts.noDiskMoves ?? false);
  const instMoves = !(opts.noInstanceMoves ?? false);
  const restMig = opts.restrictedMigration ?? false;
  const maxMoves = opts.maxMoves ?? Infinity;
  const minGain = opts.minGain ?? 0;
  const mgLimit = opts.minGainLimit ?? 0;
  const minScore = opts.minScore ?? 1e-9;
  const parallel = opts.parallel ?? true;
  const excluded = new Set(opts.excludeInstances ?? []);
  const now = opts.now;
  const deadline = opts.timeLimitMs !== undefined && now ? now() + opts.timeLimitMs : Infinity;

  const online = g.nodes.filter((i) => !st.nodes[i]!.offline);
  const onlineSet = new Uint8Array(st.nodes.length);
  for (const i of online) onlineSet[i] = 1;
  const victims: number[] = [];
  for (const inst of st.insts) {
    const p = st.pNode[inst.idx]!;
    if (p < 0 || st.nodes[p]!.gdx !== gdx) continue;
    if (!inst.movable || !inst.autoBalance || excluded.has(inst.name)) continue;
    victims.push(inst.idx);
  }

  const initialScore = st.exactGroupScore(gdx);
  let cur = st.groupScore(gdx);
  const moves: BalanceMove[] = [];
  let converged = false;

  const fe = new FastEval(st);
  const evalMove = (ii: number, mv: MoveType, tdx: number): number => {
    const fast = fe.score(ii, mv, tdx, force);
    if (!Number.isNaN(fast)) return fast;
    st.begin();
    const r = st.applyMove(ii, mv, tdx, force);
    let sc = Infinity;
    if (r === null) {
      st.rescoreTouched();
      sc = st.groupScore(gdx);
    }
    st.rollback();
    return sc;
  };

  const acceptable = (from: number, to: number): boolean =>
    to < from - EPS && (from > mgLimit || from - to >= minGain);

  const bestFor = (ii: number): Cand | null => {
    const inst = st.insts[ii]!;
    const p = st.pNode[ii]!;
    const s = st.sNode[ii]!;
    if (opts.evacMode && !st.nodes[p]!.offline && !(s >= 0 && st.nodes[s]!.offline)) return null;
    const useSec = s >= 0 && onlineSet[s] === 1 && instMoves;
    const types = movesFor(inst.mirror, useSec, instMoves, diskMoves, restMig, st.nodes[p]!.offline);
    if (useSec && inst.mirror === 'internal') {
      const fast = fe.bestMove(ii, types, online, true, force, cur);
      if (fast !== undefined) return fast ? { ii, mv: fast.mv, tdx: fast.tdx, score: fast.score } : null;
    }
    let best: Cand | null = null;
    if (inst.mirror === 'internal' && useSec) {
      const sc = evalMove(ii, 'failover', -1);
      if (sc < cur) best = { ii, mv: 'failover', tdx: -1, score: sc };
    }
    if (types.length === 0) return best;
    for (const t of online) {
      if (t === p || t === s) continue;
      for (const mv of types) {
        const sc = evalMove(ii, mv, t);
        if (sc < (best ? best.score : cur)) best = { ii, mv, tdx: t, score: sc };
      }
    }
    return best;
  };

  /** Applies a candidate if it still passes and improves; records it. */
  const tryApply = (c: Cand): boolean => {
    const p = st.pNode[c.ii]!;
    const s = st.sNode[c.ii]!;
    st.begin();
    const r = st.applyMove(c.ii, c.mv, c.tdx, force);
    if (r !== null) { st.rollback(); return false; }
    st.rescoreTouched();
    const sc = st.groupScore(gdx);
    if (!acceptable(cur, sc)) { st.rollback(); return false; }
    const touched = st.touchedNodes().slice();
    st.commit();
    for (const x of touched) fe.refresh(x);
    const np = st.pNode[c.ii]!;
    const ns = st.sNode[c.ii]!;
    const name = st.insts[c.ii]!.name;
    const from = { primary: st.nodes[p]!.name, secondary: s >= 0 ? st.nodes[s]!.name : null };
    const to = { primary: st.nodes[np]!.name, secondary: ns >= 0 ? st.nodes[ns]!.name : null };
    const notation = notationOf(c.mv, from.primary, from.secondary, to.primary, to.secondary);
    moves.push({
      instance: name, group: g.name, type: c.mv, from, to, score: sc, wave: 0, notation,
      commands: commandsOf(name, notation),
    });
    cur = sc;
    opts.onMove?.(moves[moves.length - 1]!, moves.length);
    return true;
  };

  const fullRound = (): Cand[] => {
    const cands: Cand[] = [];
    for (const ii of victims) {
      const b = bestFor(ii);
      if (b) cands.push(b);
    }
    cands.sort((a, b) => a.score - b.score);
    return cands;
  };

  const strategy = opts.strategy ?? 'rounds';
  if (strategy === 'lazy') {
    // Lazy greedy: candidates ordered by the gain measured when last evaluated; the top one
    // is re-evaluated against the current state and applied only if it still beats the
    // next stale gain. A full re-evaluation runs whenever the queue runs dry; the group has
    // converged when a full evaluation finds no improving move.
    const heap = new GainHeap();
    const refreshEvery = opts.lazyRefresh ?? Math.max(1, Math.floor(online.length / 4));
    let sinceFull = 0;
    while (moves.length < maxMoves && cur > minScore) {
      if (now && now() > deadline) break;
      if (heap.size === 0 || sinceFull >= refreshEvery) {
        heap.clear();
        sinceFull = 0;
        st.recomputeGroup(gdx);
        cur = st.groupScore(gdx);
        const start = cur;
        const cands = fullRound();
        if (cands.length === 0) { converged = true; break; }
        const first = cands[0]!;
        if (!tryApply(first)) { converged = true; break; }
        sinceFull++;
        for (let j = 1; j < cands.length; j++) heap.push(cands[j]!.ii, start - cands[j]!.score);
        heap.push(first.ii, start - first.score);
        continue;
      }
      const ii = heap.pop();
      const fresh = bestFor(ii);
      if (!fresh) continue;
      const gain = cur - fresh.score;
      if (gain <= EPS) continue;
      if (heap.size > 0 && gain < heap.topGain() * 0.999) { heap.push(ii, gain); continue; }
      if (tryApply(fresh)) { heap.push(ii, gain); sinceFull++; }
    }
  } else {
    while (moves.length < maxMoves && cur > minScore) {
      if (now && now() > deadline) break;
      const cands = fullRound();
      if (cands.length === 0) { converged = true; break; }
      const used = new Uint8Array(st.nodes.length);
      let applied = 0;
      for (const c of cands) {
        if (moves.length >= maxMoves) break;
        if (applied > 0 && (strategy === 'steepest' || !parallel)) break;
        const p = st.pNode[c.ii]!;
        const s = st.sNode[c.ii]!;
        if (used[p] === 1 || (s >= 0 && used[s] === 1) || (c.tdx >= 0 && used[c.tdx] === 1)) continue;
        if (!tryApply(c)) { if (applied === 0) break; continue; }
        const np = st.pNode[c.ii]!;
        const ns = st.sNode[c.ii]!;
        for (const x of [p, s, np, ns]) if (x >= 0) used[x] = 1;
        applied++;
      }
      if (applied === 0) { converged = true; break; }
      // refresh the statistics from scratch once per round (no drift from incremental updates)
      st.recomputeGroup(gdx);
      cur = st.groupScore(gdx);
    }
  }
  const waves = splitWaves(moves);
  const finalScore = st.rereadGroupScore(gdx);
  if (moves.length > 0) {
    const last = moves[moves.length - 1]!;
    moves[moves.length - 1] = { ...last, score: finalScore };
  }
  return { group: g.name, initialScore, finalScore, moves, waves, converged };
}

/** Balances every group (or one) of a cluster; returns the new cluster and the moves. */
export function balance(cluster: PlaceCluster, opts: BalanceOptions = {}): BalanceResult {
  const names = cluster.groups
    .filter((g) => opts.group === undefined || opts.group === g.name || opts.group === g.uuid)
    .map((g) => g.name);
  return balanceGroups(cluster, names, opts);
}

/** Balances the named groups, in order (groups are independent: callers may split them across workers). */
export function balanceGroups(cluster: PlaceCluster, groupNames: readonly string[], opts: BalanceOptions = {}): BalanceResult {
  const st = new ClusterState(cluster, { exclusionTags: opts.exclusionTags ?? [] });
  st.finalSoftCheck = opts.strictEvacuation ?? false;
  const want = new Set(groupNames);
  const groups: GroupBalance[] = [];
  for (const g of st.groups) {
    if (!want.has(g.name) || g.nodes.length === 0) continue;
    groups.push(balanceGroup(st, g.gdx, opts));
  }
  return { cluster: st.toCluster(), groups, moves: groups.flatMap((g) => g.moves) };
}

/** Max-heap of instance indices keyed by their last measured gain. */
class GainHeap {
  private ids: number[] = [];
  private gains: number[] = [];
  get size(): number { return this.ids.length; }
  clear(): void { this.ids.length = 0; this.gains.length = 0; }
  topGain(): number { return this.gains[0]!; }
  push(id: number, gain: number): void {
    const ids = this.ids;
    const gs = this.gains;
    let i = ids.length;
    ids.push(id); gs.push(gain);
    while (i > 0) {
      const par = (i - 1) >> 1;
      if (gs[par]! >= gs[i]!) break;
      [ids[par], ids[i]] = [ids[i]!, ids[par]!];
      [gs[par], gs[i]] = [gs[i]!, gs[par]!];
      i = par;
    }
  }
  pop(): number {
    const ids = this.ids;
    const gs = this.gains;
    const top = ids[0]!;
    const lastId = ids.pop()!;
    const lastG = gs.pop()!;
    if (ids.length > 0) {
      ids[0] = lastId; gs[0] = lastG;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < ids.length && gs[l]! > gs[m]!) m = l;
        if (r < ids.length && gs[r]! > gs[m]!) m = r;
        if (m === i) break;
        [ids[m], ids[i]] = [ids[i]!, ids[m]!];
        [gs[m], gs[i]] = [gs[i]!, gs[m]!];
        i = m;
      }
    }
    return top;
  }
}
