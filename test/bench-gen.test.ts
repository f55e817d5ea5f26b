import { describe, expect, it } from 'vitest';
import { drift, genDesired, genObserved, simDrbdSeed } from '../bench/gen-desired.js';
import { plan } from '../src/plan/plan.js';
import { SimCluster, initFromObserved } from '../src/sim/index.js';

// The planner benchmark's generator (bench/gen-desired.ts) at a small scale: what the
// bench checks at 700 nodes / 40,000 instances, here on every test run.
const spec = { seed: 3, nodes: 30, groups: 2, instances: 600 } as const;

describe('bench generator with DRBD', () => {
  it('given the 6:3:1 mix, it makes exactly 30 % DRBD instances, each with a Connected UpToDate pair recorded in its LV tags', () => {
    const input = genDesired(spec);
    const drbd = input.instances.filter((i) => i.diskTemplate === 'drbd');
    expect(drbd.length).toBe(180);
    expect(input.instances.filter((i) => i.diskTemplate === 'sharedfile').length).toBe(60);
    const obs = genObserved(input);
    const inst = drbd[0]!;
    const p = obs.nodes.get(inst.primary!)!;
    const s = obs.nodes.get(inst.secondary!)!;
    const devs = (o: typeof p) => Object.values(o.drbd!.devices);
    expect(devs(p).some((d) => d.role === 'Primary' && d.disk === 'UpToDate' && d.peer?.connection === 'Connected' && d.peer.disk === 'UpToDate')).toBe(true);
    expect(devs(s).some((d) => d.role === 'Secondary' && d.peer?.role === 'Primary')).toBe(true);
    const total = [...obs.nodes.values()].reduce((n, o) => n + devs(o).length, 0);
    expect(total).toBe(2 * drbd.reduce((n, i) => n + i.disks.length, 0));
  });

  it('given the converged observation, it plans nothing; given DRBD devices down or StandAlone, the plan repairs them on the simulator and the re-plan is empty', async () => {
    const input = genDesired(spec);
    const converged = plan(input, genObserved(input));
    expect(converged.actions).toEqual([]);
    expect(converged.refused).toEqual([]);

    const drifted = drift(genObserved(input), 0.1, 7).observed;
    const p = plan(input, drifted);
    const verbs = new Set(p.actions.map((a) => a.verb));
    expect(verbs.has('drbd.up')).toBe(true);
    expect(p.refused).toEqual([]);

    const seeds = simDrbdSeed(input, drifted);
    const sim = new SimCluster([...drifted.nodes.values()].map((n) => initFromObserved(n, { '/dev/sdb': 8 * 1024 * 1024, '/dev/sdc': 8 * 1024 * 1024 }, seeds.get(n.name))));
    for (const wave of p.waves) {
      const results = await Promise.all(wave.map((a) => sim.run(a)));
      expect(results.filter((r) => !r.ok).map((r) => `${r.action.verb}: ${r.error?.message}`)).toEqual([]);
    }
    const after = await sim.observe({ sysctls: [...new Set(input.nodes.flatMap((n) => Object.keys(n.profile.sysctls)))], fileDirs: [input.cluster.sharedFileStorageDir], drbd: true });
    const again = plan(input, after);
    expect(again.actions.map((a) => `${a.verb} ${a.node}`)).toEqual([]);
    expect(again.refused).toEqual([]);
  });
});
