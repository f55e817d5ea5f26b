import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, runCampaign, summarize, type CampaignResult } from './index.js';
import type { InvariantName } from './invariants.js';

/**
 * The short fault campaign of `npm test` (the long one is `npm run bench:faults`):
 * 1,500 seeded steps of the real reconcile loop on the simulator under every fault kind
 * (500 of them in failover worlds, where the controller fences and fails over),
 * the invariants checked after every step and every action, convergence after healing.
 *
 * OPEN lists the violations the campaign still finds on main, each a planner or executor
 * bug reported to the lead (issue 8) with a regression test in regressions.test.ts. It is
 * pinned both ways: a new kind of violation fails this test, and so does a listed one that
 * no longer shows up (the fix landed: delete its line).
 */
const OPEN: Partial<Record<InvariantName, string>> = {};

const SEEDS = Array.from({ length: 10 }, (_, i) => i + 1);
const STEPS = 100;

describe('fault campaign on the simulator', () => {
  const results: CampaignResult[] = [];

  // Seeds share nothing, so a batch runs side by side (one seed's state-directory writes overlap another's planning).
  for (let b = 0; b < SEEDS.length; b += 5) {
    const batch = SEEDS.slice(b, b + 5);
    it(`given seeds ${batch.join(', ')} x ${STEPS} steps under faults, it runs every pass and checks every step`, async () => {
      const got = await Promise.all(batch.map((seed) => runCampaign({ seed, steps: STEPS })));
      for (const r of got) expect(r.passes).toBeGreaterThanOrEqual(STEPS);
      results.push(...got);
    }, 120_000); // about 4 s of CPU per batch; the shared machine can stretch that several times
  }

  // Failover worlds: Cluster autoRepair.failover and power control on every node, faults that outlast the liveness
  // grace, so the controller fences and fails over; the fencing invariants are checked at every power-off.
  it('given seeds 11-15 x 100 steps in failover worlds, it fences, fails over and checks every step', async () => {
    const got = await Promise.all([11, 12, 13, 14, 15].map((seed) => runCampaign({ seed, steps: STEPS, shape: { failover: true }, faultSteps: [2, 8] })));
    const s = summarize(got);
    expect(s.failoverWorlds).toBe(5);
    expect(s.fences.asked).toBeGreaterThan(0);
    expect(s.failovers).toBeGreaterThan(0);
    results.push(...got);
  }, 120_000);

  it('given 1,000 steps in all, every fault kind struck, harep\'s fix-storage and migrate ran, and the nodes really changed', () => {
    const s = summarize(results);
    expect(s.steps).toBeGreaterThanOrEqual(1_000);
    expect(s.actions).toBeGreaterThan(500);
    for (const k of FAULT_KINDS) expect(s.faults[k], k).toBeGreaterThan(0);
    // harep under faults: a DRBD secondary lost (secondary-loss) is replaced by fix-storage, an offline node's guests migrated.
    expect(s.repairs['fix-storage'], 'fix-storage').toBeGreaterThan(0);
    expect(s.repairs.migrate, 'migrate').toBeGreaterThan(0);
  });

  it('given 1,000 steps, it finds no violation but the open bugs listed, and each listed one still reproduces', () => {
    const s = summarize(results);
    const unexpected = s.violations.filter((v) => OPEN[v.invariant] === undefined);
    expect(unexpected, 'replay with: npm run bench:faults -- --seed S --steps 100 --trace').toEqual([]);
    const found = new Set(s.violations.map((v) => v.invariant));
    expect(Object.keys(OPEN).filter((k) => !found.has(k as InvariantName)), 'fixed: delete these lines from OPEN').toEqual([]);
  });

  it('given the same seed twice, it replays the same steps, faults and findings', async () => {
    const a = await runCampaign({ seed: 3, steps: 40, trace: true });
    const b = await runCampaign({ seed: 3, steps: 40, trace: true });
    expect(b.trace).toEqual(a.trace);
    expect(b.violations).toEqual(a.violations);
    expect(a.trace.length).toBeGreaterThan(40);
  });
});
