import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FastEval } from './fasteval.js';
import { ClusterState, type MoveType } from './state.js';
import { clusterFromShape, clusterShape } from './testdata/arbitrary.js';

const TYPES: MoveType[] = ['failover', 'replaceSecondary', 'replacePrimary', 'replaceAndFailover', 'failoverAndReplace'];

function journalScore(st: ClusterState, ii: number, mv: MoveType, t: number, force: boolean): number {
  st.begin();
  const r = st.applyMove(ii, mv, t, force);
  let sc = Infinity;
  if (r === null) { st.rescoreTouched(); sc = st.groupScore(0); }
  st.rollback();
  return sc;
}

describe('fast move evaluation', () => {
  it('given random clusters and moves, it scores exactly like applying the move through the journal', () => {
    fc.assert(fc.property(clusterShape, fc.boolean(), (sh, force) => {
      const st = new ClusterState(clusterFromShape(sh));
      const fe = new FastEval(st);
      for (const inst of st.insts) {
        if (inst.dt !== 'drbd') continue;
        const p = st.pNode[inst.idx]!;
        const s = st.sNode[inst.idx]!;
        for (const mv of TYPES) {
          for (const t of mv === 'failover' ? [-1] : st.nodes.map((n) => n.idx)) {
            if (t === p || t === s) continue;
            const fast = fe.score(inst.idx, mv, t, force);
            if (Number.isNaN(fast)) continue;
            const slow = journalScore(st, inst.idx, mv, t, force);
            if (slow === Infinity) expect(fast, `${inst.name} ${mv} ${t}`).toBe(Infinity);
            else expect(Math.abs(fast - slow), `${inst.name} ${mv} ${t}`).toBeLessThan(1e-6);
          }
        }
      }
    }), { numRuns: 150 });
  });

  it('given random clusters, the batched best move is the best of the single evaluations', () => {
    fc.assert(fc.property(clusterShape, (sh) => {
      const st = new ClusterState(clusterFromShape(sh));
      const fe = new FastEval(st);
      const online = st.nodes.filter((n) => !n.offline).map((n) => n.idx);
      const cur = st.groupScore(0);
      for (const inst of st.insts) {
        if (inst.dt !== 'drbd') continue;
        const types = TYPES.slice(1);
        const best = fe.bestMove(inst.idx, types, online, true, false, cur);
        if (best === undefined) continue;
        let want = cur;
        for (const mv of TYPES) for (const t of mv === 'failover' ? [-1] : online) {
          if (t === st.pNode[inst.idx] || t === st.sNode[inst.idx]) continue;
          const sc = journalScore(st, inst.idx, mv, t, false);
          if (sc < want) want = sc;
        }
        if (best === null) expect(want).toBeGreaterThanOrEqual(cur - 1e-9);
        else expect(Math.abs(best.score - want)).toBeLessThan(1e-6);
      }
    }), { numRuns: 100 });
  });
});
