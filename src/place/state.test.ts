import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClusterState, SCORE_COMPONENTS } from './state.js';
import { parseText } from './text.js';
import { clusterFromShape, clusterShape } from './testdata/arbitrary.js';
import { FIXTURE, HAVE_SAMPLES, SKIP_REASON, readSample, sampleFiles } from './testdata/samples.js';

describe('cluster score (Ganeti 3.0 Metrics)', () => {
  if (!HAVE_SAMPLES) it.skip(`shared htools samples: ${SKIP_REASON}`, () => {});
  it.skipIf(!HAVE_SAMPLES)(`given each sample, it equals the initial score hbal printed for every group`, () => {
    let compared = 0;
    for (const f of sampleFiles('.data')) {
      const fx = FIXTURE.data[f];
      if (!fx) continue;
      let st: ClusterState;
      try { st = new ClusterState(parseText(readSample(f))); } catch { continue; }
      for (const g of st.groups) {
        const want = fx.hbal[g.name]?.initial ?? (st.groups.length === 1 && fx.hspace.HTS_INI_SCORE ? Number(fx.hspace.HTS_INI_SCORE) : null);
        if (want === null || want === undefined) continue;
        expect(Math.abs(st.exactGroupScore(g.gdx) - want), `${f}/${g.name}`).toBeLessThan(5e-9);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(14);
  });

  it('given a group, it lists the 20 weighted components whose weighted sum is the score', () => {
    const st = new ClusterState(clusterFromShape({
      nodes: 3, nodeMem: [8192, 16384, 8192], offline: -1,
      instances: [{ mem: 1024, disk: 1024, vcpus: 1, drbd: true, p: 0, s: 1, tag: 0, down: false }],
    }));
    const comps = st.groupComponents(0);
    expect(comps).toHaveLength(SCORE_COMPONENTS.length);
    const sum = comps.reduce((a, v, k) => a + v * SCORE_COMPONENTS[k]!.weight, 0);
    expect(sum).toBeCloseTo(st.exactGroupScore(0), 12);
    expect(st.exactGroupScore(0)).toBeGreaterThan(0);
  });

  it('given random clusters, it keeps the incremental score equal to the exact two-pass score', () => {
    fc.assert(fc.property(clusterShape, (sh) => {
      const st = new ClusterState(clusterFromShape(sh));
      // Incremental sums of squares lose a few ulps against the two-pass formula: 1e-6 is noise at scores of 1-100.
      expect(Math.abs(st.groupScore(0) - st.exactGroupScore(0))).toBeLessThan(1e-6);
    }), { numRuns: 200 });
  });

  it('given a rolled-back what-if move, it leaves state and score exactly as before', () => {
    fc.assert(fc.property(clusterShape, fc.nat(), fc.nat(), (sh, a, b) => {
      const st = new ClusterState(clusterFromShape(sh));
      const drbd = st.insts.filter((i) => i.dt === 'drbd');
      if (drbd.length === 0) return;
      const ii = drbd[a % drbd.length]!.idx;
      const before = { d: st.d.slice(), p: st.pNode.slice(), s: st.sNode.slice(), score: st.groupScore(0) };
      st.begin();
      const r = st.applyMove(ii, 'replaceSecondary', b % st.nodes.length, false);
      if (r === null) st.rescoreTouched();
      st.rollback();
      expect(st.d).toEqual(before.d);
      expect(st.pNode).toEqual(before.p);
      expect(st.sNode).toEqual(before.s);
      expect(st.groupScore(0)).toBe(before.score);
    }), { numRuns: 200 });
  });
});
