import { describe, expect, it } from 'vitest';
import { SimCluster } from '../sim/cluster.js';
import { plan } from './plan.js';
import type { ObservedInstance } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import type { Action } from '../core/actions.js';
import { uniqueDrbdResources, truthOf } from '../sim/campaign/invariants.js';

const node = (name: string, ip: string, role: PlanNode['role'] = 'regular'): PlanNode => ({
  name, group: 'default', role, runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`, address: ip, secondaryAddress: ip,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }], sysctls: {} },
});
const db = (name: string, over: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'drbd', primary: 'n1', secondary: 'n2', memoryMiB: 128, vcpus: 1, tags: [],
  disks: [{ index: 0, sizeMiB: 64, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'present' }], ...over,
});
const plainOf = (i: PlanInstance): PlanInstance => {
  const { secondary: _s, ...rest } = i;
  return { ...rest, diskTemplate: 'plain', disks: i.disks.map((d) => ({ ...d, template: 'plain' as const })) };
};
const input = (instances: PlanInstance[], roles: Record<string, PlanNode['role']> = {}): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  networks: [], nodes: [node('n1', '198.19.0.1', roles['n1']), node('n2', '198.19.0.2', roles['n2']), node('n3', '198.19.0.3', roles['n3'])], instances,
});
const observe = async (sim: SimCluster) => (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
const short = (a: Action) => `${a.verb}@${a.node}`;

async function applyPlan(sim: SimCluster, actions: readonly (readonly Action[])[]): Promise<string[]> {
  const failed: string[] = [];
  for (const w of actions) for (const a of w) {
    const r = await sim.run(a);
    if (!r.ok) failed.push(`${short(a)} ${r.error?.code}`);
  }
  return failed;
}

async function converge(sim: SimCluster, inp: PlanInput, passes = 3): Promise<{ actions: string[]; failed: string[] }> {
  let actions: string[] = [];
  const failed: string[] = [];
  for (let i = 0; i < passes; i++) {
    const p = plan(inp, await observe(sim));
    actions = p.actions.map(short);
    failed.push(...(await applyPlan(sim, p.waves)));
  }
  return { actions, failed };
}

const lvsOf = (sim: SimCluster, n: string) => Object.keys(sim.node(n).snapshot().lvs).filter((k) => k.includes('db1')).sort();
const devOf = async (sim: SimCluster, n: string) => (await observe(sim)).nodes.get(n)!.drbd!.devices;

describe('DRBD secondary replacement (replace-disks -n) on the simulator', () => {
  it('given a pair n1/n2 and the manifest naming n3 as secondary, the plan replaces n2 by n3 in Ganeti\'s order, states the redundancy gap, and removes n2\'s LVs only after n3 is UpToDate', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    expect((await converge(sim, input([db('db1')]), 2)).failed).toEqual([]);
    const p = plan(input([db('db1', { secondary: 'n3' })]), await observe(sim));
    expect(p.refused).toEqual([]);
    expect(p.actions.map(short)).toEqual([
      'lv.create@n3', 'lv.create@n3', 'drbd.create-md@n3', 'drbd.disconnect@n1', 'drbd.down@n2', 'drbd.up@n3', 'drbd.up@n1', 'drbd.wait-sync@n1', 'lv.remove@n2', 'lv.remove@n2',
    ]);
    // As Ganeti's replace-disks -n: the old secondary is down before the primary connects to the new one
    // (DRBD 8.4 takes whichever peer connects first, so n2, still linked to n1, could pass the wait in n3's place).
    const waveOf = (s: string) => p.waves.findIndex((w) => w.some((a) => short(a) === s));
    expect(waveOf('drbd.down@n2')).toBeGreaterThan(waveOf('drbd.disconnect@n1'));
    expect(waveOf('drbd.up@n1')).toBeGreaterThan(waveOf('drbd.down@n2'));
    expect(p.actions.find((a) => short(a) === 'drbd.up@n1')!.after).toContain('drbd.down@n2 Instance/db1');
    const entry = p.entries.find((e) => e.subject === 'Instance/db1')!;
    expect(entry.notes.join('\n')).toMatch(/redundancy gap: from the disconnect of n1 from n2 until n3 is UpToDate, disk 0 exists once \(on n1\)/);
    const removal = p.actions.filter((a) => a.verb === 'lv.remove');
    expect(removal.every((a) => a.reason.includes('DESTROYS the old copy') && a.after?.includes('drbd.wait-sync@n1 Instance/db1'))).toBe(true);
    expect(p.actions.some((a) => a.verb === 'drbd.initial-sync' || (a.verb === 'drbd.primary' && a.failover?.force))).toBe(false);
    expect(await applyPlan(sim, p.waves)).toEqual([]);
    expect(lvsOf(sim, 'n2')).toEqual([]);
    expect(lvsOf(sim, 'n3')).toEqual(['vg0/db1.disk0', 'vg0/db1.disk0_meta']);
    expect(Object.values(await devOf(sim, 'n3'))[0]).toMatchObject({ role: 'Secondary', disk: 'UpToDate', peer: { connection: 'Connected', disk: 'UpToDate', role: 'Primary' } });
    expect(await devOf(sim, 'n2')).toEqual({});
    expect(plan(input([db('db1', { secondary: 'n3' })]), await observe(sim)).actions).toEqual([]);
    expect(uniqueDrbdResources(truthOf(sim))).toEqual([]);
  });

  it('given the replacement interrupted after each of its steps, the next passes pick it up from there and end in the same place', async () => {
    const want = input([db('db1', { secondary: 'n3' })]);
    for (let stop = 1; stop <= 9; stop++) {
      const sim = new SimCluster(['n1', 'n2', 'n3']);
      await converge(sim, input([db('db1')]), 2);
      const p = plan(want, await observe(sim));
      for (const a of p.actions.slice(0, stop)) await sim.run(a);
      const r = await converge(sim, want, 3);
      expect({ stop, ...r }).toEqual({ stop, actions: [], failed: [] });
      expect(lvsOf(sim, 'n2')).toEqual([]);
      expect(Object.values(await devOf(sim, 'n1'))[0]).toMatchObject({ role: 'Primary', disk: 'UpToDate', peer: { connection: 'Connected', disk: 'UpToDate' } });
    }
  });

  it('given a secondary chosen by observation (not named) and the disk LVs also on a third node, nothing there is disconnected or removed: never a replacement on a guess', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    sim.node('n3').tamper((s) => {
      for (const name of ['db1.disk0', 'db1.disk0_meta']) s.lvs.set(`vg0/${name}`, { vg: 'vg0', name, sizeMiB: 64, tags: ['gantry', 'gantry-inst=db1', 'gantry-drbd-minor=5', 'gantry-drbd-port=11000'] });
    });
    const p = plan(input([db('db1', { secondary: undefined })]), await observe(sim));
    expect(p.actions).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/also has LVs on n3, which is not its secondary n2 \(chosen by observation\): left alone/);
  });

  it('given the primary is not UpToDate, the replacement is refused with the reason and nothing is created or disconnected', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    sim.node('n1').tamper((s) => { s.drbdMeta.get('vg0/db1.disk0_meta')!.disk = 'Outdated'; });
    sim.node('n2').setReplicationDown(true);
    const p = plan(input([db('db1', { secondary: 'n3' })]), await observe(sim));
    expect(p.refused.map((r) => r.code)).toEqual(['DRBD_REPLACE_DEGRADED']);
    expect(p.refused[0]!.message).toMatch(/primary's data on n1 is Outdated, not UpToDate/);
    expect(p.actions.filter((a) => a.node === 'n3' || a.verb === 'drbd.disconnect')).toEqual([]);
  });

  it('given the new secondary lacks space, the replacement is refused naming the free and needed MiB', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    const obs = await observe(sim);
    const n3 = obs.nodes.get('n3')!;
    const tight: ObservedCluster = { ...obs, nodes: new Map([...obs.nodes, ['n3', { ...n3, vgs: { vg0: { ...n3.vgs['vg0']!, freeMiB: 100 } } }]]) };
    const p = plan(input([db('db1', { secondary: 'n3' })]), tight);
    expect(p.refused.map((r) => r.code)).toEqual(['DRBD_REPLACE_NO_SPACE']);
    expect(p.refused[0]!.message).toMatch(/n3 has 100 MiB free in vg0, the new replica needs 192 MiB there/);
    expect(p.actions).toEqual([]);
  });
});

describe('drain moves DRBD secondaries (change-secondary) on the simulator', () => {
  it('given a drained node holding secondaries, the node-evacuate answer names new secondaries, the plan shows the moves, and the node ends with no primaries and no secondaries', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    const manifests = [db('db1', { primary: 'n1', secondary: 'n2' }), db('db2', { primary: 'n3', secondary: 'n2' })];
    expect((await converge(sim, input(manifests), 2)).failed).toEqual([]);
    const drained = input(manifests, { n2: 'drained' });
    const asked: string[][] = [];
    const allocator = () => Object.assign(() => ({ error: 'no new instances here' }), {
      evacuateSecondaries: (names: readonly string[]) => { asked.push([...names]); return new Map(names.map((n) => [n, { secondary: n === 'db1' ? 'n3' : 'n1' }])); },
    });
    const p = plan(drained, await observe(sim), { allocator });
    expect(asked).toEqual([['db1', 'db2']]);
    const notes = p.entries.filter((e) => e.subject.startsWith('Instance/')).flatMap((e) => e.notes.filter((n) => n.startsWith('drain:')));
    expect(notes).toEqual(['drain: n2 is drained; the secondary of db1 moves to n3 (node-evacuate, change-secondary)', 'drain: n2 is drained; the secondary of db2 moves to n1 (node-evacuate, change-secondary)']);
    expect(p.actions.filter((a) => a.verb === 'lv.remove').map(short)).toEqual(['lv.remove@n2', 'lv.remove@n2', 'lv.remove@n2', 'lv.remove@n2']);
    expect(await applyPlan(sim, p.waves)).toEqual([]);
    const again = await converge(sim, drained, 2);
    expect(again).toEqual({ actions: [], failed: [] });
    expect(Object.keys(sim.node('n2').snapshot().lvs).filter((k) => k.startsWith('vg0/db'))).toEqual([]);
    expect(await devOf(sim, 'n2')).toEqual({});
  });
});

describe('conversion plain <-> drbd on the simulator', () => {
  it('given a stopped plain instance whose manifest now says drbd with a secondary, the plan converts it in place: meta LV, new replica, primary --force on the only data, said so', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([plainOf(db('db1'))]), 2);
    const before = sim.node('n1').snapshot().lvs['vg0/db1.disk0'];
    const p = plan(input([db('db1')]), await observe(sim));
    expect(p.refused).toEqual([]);
    const force = p.actions.find((a) => a.verb === 'drbd.initial-sync')!;
    expect(force.node).toBe('n1');
    expect(force.reason).toMatch(/conversion plain -> drbd .*primary --force on n1, which holds the only data/);
    expect(p.actions.some((a) => a.verb === 'lv.create' && a.node === 'n1' && a.name === 'db1.disk0')).toBe(false);
    expect(await applyPlan(sim, p.waves)).toEqual([]);
    expect(sim.node('n1').snapshot().lvs['vg0/db1.disk0']?.sizeMiB).toBe(before?.sizeMiB);
    expect(Object.values(await devOf(sim, 'n2'))[0]).toMatchObject({ disk: 'UpToDate', peer: { connection: 'Connected', disk: 'UpToDate' } });
    expect((await converge(sim, input([db('db1')]), 1)).actions).toEqual([]);
  });

  it('given a running instance, either conversion is refused with the reason and nothing is planned for its disks', async () => {
    const running = (obs: ObservedCluster): ObservedCluster => {
      const n1 = obs.nodes.get('n1')!;
      return { ...obs, nodes: new Map([...obs.nodes, ['n1', { ...n1, instances: { ...n1.instances, db1: { name: 'db1', runState: 'running' } as ObservedInstance } }]]) };
    };
    const toPlain = new SimCluster(['n1', 'n2', 'n3']);
    await converge(toPlain, input([db('db1')]), 2);
    const p1 = plan(input([plainOf(db('db1'))]), running(await observe(toPlain)));
    expect(p1.refused.map((r) => r.code)).toEqual(['DRBD_CONVERT_RUNNING']);
    expect(p1.refused[0]!.message).toMatch(/converting drbd -> plain needs db1 stopped .* it runs on n1/);
    expect(p1.actions.filter((a) => a.verb.startsWith('lv.') || a.verb.startsWith('drbd.'))).toEqual([]);
    const toDrbd = new SimCluster(['n1', 'n2', 'n3']);
    await converge(toDrbd, input([plainOf(db('db1'))]), 2);
    const p2 = plan(input([db('db1')]), running(await observe(toDrbd)));
    expect(p2.refused.map((r) => r.code)).toEqual(['DRBD_CONVERT_RUNNING']);
    expect(p2.actions.filter((a) => a.verb.startsWith('lv.') || a.verb.startsWith('drbd.'))).toEqual([]);
  });

  it('given a stopped DRBD instance whose manifest now says plain, the plan takes both resources down and removes the secondary\'s LVs and the meta LV, shown as destruction; the data LV stays', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    const p = plan(input([plainOf(db('db1'))]), await observe(sim));
    expect(p.refused).toEqual([]);
    expect(p.actions.map(short)).toEqual(['drbd.down@n1', 'drbd.down@n2', 'lv.remove@n1', 'lv.untag@n1', 'lv.remove@n2', 'lv.remove@n2']);
    expect(p.actions.filter((a) => a.verb === 'lv.remove' && a.node === 'n2').every((a) => a.reason.includes('DESTROYS the replica'))).toBe(true);
    expect(await applyPlan(sim, p.waves)).toEqual([]);
    expect(lvsOf(sim, 'n1')).toEqual(['vg0/db1.disk0']);
    expect(lvsOf(sim, 'n2')).toEqual([]);
    expect((await converge(sim, input([plainOf(db('db1'))]), 1)).actions).toEqual([]);
  });

  it('given a DRBD disk converted to plain, the plain LV keeps no DRBD minor or port record, and converting it back to drbd is planned as a conversion again', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    expect((await converge(sim, input([plainOf(db('db1'))]), 2)).failed).toEqual([]);
    expect(sim.node('n1').snapshot().lvs['vg0/db1.disk0']!.tags.filter((t) => t.startsWith('gantry-drbd-'))).toEqual([]);
    const back = plan(input([db('db1')]), await observe(sim));
    expect(back.refused).toEqual([]);
    expect(back.actions.find((a) => a.verb === 'drbd.initial-sync')?.reason).toMatch(/conversion plain -> drbd/);
    expect((await converge(sim, input([db('db1')]), 3)).failed).toEqual([]);
    expect(Object.values(await devOf(sim, 'n2'))[0]).toMatchObject({ disk: 'UpToDate', peer: { connection: 'Connected', disk: 'UpToDate' } });
  });

  it('given a conversion to plain that stopped before the DRBD record was dropped, the next pass drops it alone; with the node\'s DRBD state unknown it waits', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    const p = plan(input([plainOf(db('db1'))]), await observe(sim));
    expect(await applyPlan(sim, p.waves.map((w) => w.filter((a) => a.verb !== 'lv.untag')))).toEqual([]);
    const obs = await observe(sim);
    const next = plan(input([plainOf(db('db1'))]), obs);
    expect(next.actions.map(short)).toEqual(['lv.untag@n1']);
    expect(next.actions[0]!.reason).toMatch(/stale .*gantry-drbd-minor=0, gantry-drbd-port=11000 dropped from vg0\/db1\.disk0; its data is untouched/);
    const n1 = obs.nodes.get('n1')!;
    const { drbd: _unknown, ...blind } = n1;
    const unknown = plan(input([plainOf(db('db1'))]), { ...obs, nodes: new Map([...obs.nodes, ['n1', blind]]) });
    expect(unknown.actions.filter((a) => a.verb === 'lv.untag')).toEqual([]);
    expect(await applyPlan(sim, next.waves)).toEqual([]);
    expect((await converge(sim, input([plainOf(db('db1'))]), 1)).actions).toEqual([]);
  });
});
