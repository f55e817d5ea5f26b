import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { balance } from './balance.js';
import { clusterScore } from './index.js';
import { ClusterState } from './state.js';
import { parseText, serializeText } from './text.js';
import { clusterFromShape, clusterShape } from './testdata/arbitrary.js';
import { FIXTURE, HAVE_SAMPLES, SKIP_REASON, readSample, sampleFiles } from './testdata/samples.js';
import type { PlaceCluster } from './types.js';

/** Replays moves on a fresh engine state, checking N+1 and exclusion tags after each. */
function replayChecked(c: PlaceCluster, moves: ReturnType<typeof balance>['moves']): void {
  const st = new ClusterState(c);
  for (const m of moves) {
    const ii = st.insts.findIndex((i) => i.name === m.instance);
    // moves off offline nodes skip the soft checks, as in hbal (documented exception)
    const evacuating = st.nodes[st.pNode[ii]!]!.offline || (st.sNode[ii]! >= 0 && st.nodes[st.sNode[ii]!]!.offline);
    const n1Before = st.nodes.map((n) => st.failsN1(n.idx));
    const conflBefore = st.nodes.map((n) => st.conflicts(n.idx));
    const tdx = m.type === 'failover' ? -1 : st.nodeByName.get(m.type === 'replaceSecondary' || m.type === 'failoverAndReplace' ? m.to.secondary! : m.to.primary)!;
    st.begin();
    expect(st.applyMove(ii, m.type, tdx, false), `${m.instance} ${m.notation}`).toBeNull();
    st.rescoreTouched();
    st.commit();
    for (const n of st.nodes) {
      if (n.offline || evacuating) continue;
      if (!n1Before[n.idx]) expect(st.failsN1(n.idx), `${m.instance}: ${n.name} became N+1-failing`).toBe(false);
      expect(st.conflicts(n.idx), `${m.instance}: tag conflict on ${n.name}`).toBeLessThanOrEqual(conflBefore[n.idx]!);
    }
    expect(st.nodes[st.pNode[ii]!]!.name).toBe(m.to.primary);
  }
}

describe('balancer (hbal)', () => {
  if (!HAVE_SAMPLES) it.skip(`shared htools samples: ${SKIP_REASON}`, () => {});
  it.skipIf(!HAVE_SAMPLES)(`given each sample, it ends no worse than hbal's own final score`, () => {
    let compared = 0;
    for (const f of sampleFiles('.data')) {
      let c: PlaceCluster;
      try { c = parseText(readSample(f)); } catch { continue; }
      for (const strategy of ['rounds', 'steepest', 'lazy'] as const) {
        const r = balance(c, { strategy, minGain: 0.01, minGainLimit: 0.1 });
        for (const g of r.groups) {
          const want = FIXTURE.data[f]?.hbal[g.group]?.final;
          if (want === null || want === undefined) continue;
          expect(g.finalScore, `${f}/${g.group}/${strategy}`).toBeLessThanOrEqual(want + 5e-9);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(30);
  });

  it.skipIf(!HAVE_SAMPLES)('given hbal-migration-1, it finds the same four moves as hbal in steepest mode', () => {
    const r = balance(parseText(readSample('hbal-migration-1.data')), { strategy: 'steepest', minGain: 0.01, minGainLimit: 0.1 });
    expect(r.moves.map((m) => `${m.instance} ${m.notation}`)).toEqual([
      'inst131 f r:node-02', 'inst132 f r:node-04', 'inst121 r:node-03 f', 'inst121 r:node-02',
    ]);
    expect(r.moves.map((m) => m.score.toFixed(8))).toEqual(['7.87130365', '6.07872618', '5.57766466', '4.91278575']);
  });

  it.skipIf(!HAVE_SAMPLES)('given a node with migration tags, it only fails over to nodes that accept them', () => {
    const r = balance(parseText(readSample('hbal-migration-1.data')));
    for (const m of r.moves) {
      if (m.from.primary === 'node-01' && m.to.primary !== 'node-01') expect(m.to.primary).toBe('node-03');
    }
  });

  it('given random clusters, no move between online nodes breaks N+1 or an exclusion tag and the claimed score is the re-read score', () => {
    fc.assert(fc.property(clusterShape, fc.constantFrom('rounds', 'steepest', 'lazy'), (sh, strategy) => {
      const c = clusterFromShape(sh);
      const r = balance(c, { strategy: strategy as 'rounds' });
      replayChecked(c, r.moves);
      const g = r.groups[0]!;
      expect(g.finalScore).toBeLessThanOrEqual(g.initialScore + 1e-12);
      expect(Math.abs(clusterScore(parseText(serializeText(r.cluster))) - g.finalScore)).toBeLessThan(1e-9);
      let prev = g.initialScore;
      for (const m of g.moves) { expect(m.score).toBeLessThan(prev + 1e-9); prev = m.score; }
    }), { numRuns: 150 });
  });

  it('given strict evacuation, even moves off offline nodes never break N+1 or an exclusion tag', () => {
    fc.assert(fc.property(clusterShape, (sh) => {
      const c = clusterFromShape(sh);
      const r = balance(c, { strictEvacuation: true });
      const st = new ClusterState(c);
      st.finalSoftCheck = true;
      for (const m of r.moves) {
        const ii = st.insts.findIndex((i) => i.name === m.instance);
        const n1Before = st.nodes.map((n) => st.failsN1(n.idx));
        const conflBefore = st.nodes.map((n) => st.conflicts(n.idx));
        const tdx = m.type === 'failover' ? -1 : st.nodeByName.get(m.type === 'replaceSecondary' || m.type === 'failoverAndReplace' ? m.to.secondary! : m.to.primary)!;
        st.begin();
        expect(st.applyMove(ii, m.type, tdx, false)).toBeNull();
        st.rescoreTouched();
        st.commit();
        for (const n of st.nodes) {
          if (n.offline) continue;
          if (!n1Before[n.idx]) expect(st.failsN1(n.idx)).toBe(false);
          expect(st.conflicts(n.idx)).toBeLessThanOrEqual(conflBefore[n.idx]!);
        }
      }
    }), { numRuns: 150 });
  });

  it('given moves, it groups them in waves whose moves touch disjoint nodes', () => {
    fc.assert(fc.property(clusterShape, (sh) => {
      const r = balance(clusterFromShape(sh));
      const byWave = new Map<number, Set<string>>();
      for (const m of r.moves) {
        const nodes = [m.from.primary, m.from.secondary, m.to.primary, m.to.secondary].filter((x): x is string => x !== null);
        const used = byWave.get(m.wave) ?? new Set<string>();
        for (const n of new Set(nodes)) { expect(used.has(n), `wave ${m.wave} reuses ${n}`).toBe(false); used.add(n); }
        byWave.set(m.wave, used);
      }
      expect(r.groups[0]!.waves).toBe(byWave.size);
    }), { numRuns: 100 });
  });

  it('given a move cap, it stops after that many moves', () => {
    const c = clusterFromShape({
      nodes: 4, nodeMem: [16384, 16384, 16384, 16384], offline: -1,
      instances: Array.from({ length: 8 }, () => ({ mem: 1024, disk: 1024, vcpus: 1, drbd: true, p: 0, s: 1, tag: -1, down: false })),
    });
    const full = balance(c);
    expect(full.moves.length).toBeGreaterThan(2);
    expect(balance(c, { maxMoves: 2 }).moves).toHaveLength(2);
  });
});
