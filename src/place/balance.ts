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

const EPS = 1e-12;

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
  let rounds = 0;
  let converged = false;

  const evalMove = (ii: number, mv: MoveType, tdx: number): number => {
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

  while (moves.length < maxMoves && cur > minScore) {
    if (now && now() > deadline) break;
    const cands: Cand[] = [];
    for (const ii of victims) {
      const inst = st.insts[ii]!;
      const p = st.pNode[ii]!;
      const s = st.sNode[ii]!;
      if (opts.evacMode && !st.nodes[p]!.offline && !(s >= 0 && st.nodes[s]!.offline)) continue;
      const useSec = s >= 0 && onlineSet[s] === 1 && instMoves;
      let best: Cand | null = null;
      if (inst.mirror === 'internal' && useSec) {
        const sc = evalMove(ii, 'failover', -1);
        if (sc < cur) best = { ii, mv: 'failover', tdx: -1, score: sc };
      }
      const types = movesFor(inst.mirror, useSec, instMoves, diskMoves, restMig, st.nodes[p]!.offline);
      if (types.length === 0) { if (best) cands.push(best); continue; }
      for (const t of online) {
        if (t === p || t === s) continue;
        for (const mv of types) {
          const sc = evalMove(ii, mv, t);
          if (sc < (best ? best.score : cur)) best = { ii, mv, tdx: t, score: sc };
        }
      }
      if (best) cands.push(best);
    }
    if (cands.length === 0) { converged = true; break; }
    cands.sort((a, b) => a.score - b.score);
    const roundStart = cur;
    let applied = 0;
    for (const c of cands) {
      if (moves.length >= maxMoves) break;
      if (applied > 0 && !parallel) break;
      const p = st.pNode[c.ii]!;
      const s = st.sNode[c.ii]!;
      if (c.tdx >= 0 && (c.tdx === p || c.tdx === s)) continue;
      st.begin();
      const r = st.applyMove(c.ii, c.mv, c.tdx, force);
      if (r !== null) { st.rollback(); continue; }
      st.rescoreTouched();
      const sc = st.groupScore(gdx);
      // later moves of a round were chosen against the round's starting state: keep them
      // only while they still deliver at least half the gain they promised
      const ok = acceptable(cur, sc) && (applied === 0 || cur - sc >= 0.5 * (roundStart - c.score));
      if (!ok) { st.rollback(); if (applied === 0) break; continue; }
      st.commit();
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
      applied++;
    }
    if (applied === 0) { converged = true; break; }
    // refresh the statistics from scratch once per round (no drift from incremental updates)
    st.recomputeGroup(gdx);
    cur = st.groupScore(gdx);
    rounds++;
  }
  const waves = splitWaves(moves);
  if (moves.length > 0) {
    const exact = st.exactGroupScore(gdx);
    const last = moves[moves.length - 1]!;
    moves[moves.length - 1] = { ...last, score: exact };
  }
  void rounds;
  return { group: g.name, initialScore, finalScore: st.exactGroupScore(gdx), moves, waves, converged };
}

/** Balances every group (or one) of a cluster; returns the new cluster and the moves. */
export function balance(cluster: PlaceCluster, opts: BalanceOptions = {}): BalanceResult {
  const st = new ClusterState(cluster, { exclusionTags: opts.exclusionTags ?? [] });
  const groups: GroupBalance[] = [];
  for (const g of st.groups) {
    if (opts.group !== undefined && opts.group !== g.name && opts.group !== g.uuid) continue;
    if (g.nodes.length === 0) continue;
    groups.push(balanceGroup(st, g.gdx, opts));
  }
  return { cluster: st.toCluster(), groups, moves: groups.flatMap((g) => g.moves) };
}
