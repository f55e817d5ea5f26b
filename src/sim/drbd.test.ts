import { describe, expect, it } from 'vitest';
import { SimCluster } from './cluster.js';
import { plan } from '../plan/plan.js';
import type { PlanInput, PlanInstance, PlanInstanceRuntime, PlanNode } from '../core/plan.js';
import type { ObservedCluster } from '../core/plan.js';
import { uniqueDrbdResources, truthOf } from './campaign/invariants.js';
import { actionKey } from '../core/actions.js';
import { renderPlan } from '../status/drift-report.js';

const node = (name: string, ip: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`, address: ip, secondaryAddress: ip,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }], sysctls: {} },
});
const db = (name: string, over: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'drbd', primary: 'n1', secondary: 'n2', memoryMiB: 128, vcpus: 1, tags: [],
  disks: [{ index: 0, sizeMiB: 64, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'present' }], ...over,
});
const input = (instances: PlanInstance[]): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  networks: [], nodes: [node('n1', '198.19.0.1'), node('n2', '198.19.0.2'), node('n3', '198.19.0.3')], instances,
});

/** plan -> run every wave on the simulator, `passes` times; returns the last plan's actions. */
async function converge(sim: SimCluster, inp: PlanInput, passes = 3): Promise<{ actions: string[]; failed: string[] }> {
  let actions: string[] = [];
  const failed: string[] = [];
  for (let i = 0; i < passes; i++) {
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const p = plan(inp, obs);
    actions = p.actions.map((a) => `${a.verb}@${a.node}`);
    for (const w of p.waves) for (const a of w) {
      const r = await sim.run(a);
      if (!r.ok) failed.push(`${a.verb}@${a.node} ${r.error?.code}`);
    }
  }
  return { actions, failed };
}

const drbdOf = async (sim: SimCluster, n: string) => (await sim.node(n).observe({ sysctls: [], fileDirs: [], drbd: true })).drbd?.devices['0'];

describe('DRBD on the simulator', () => {
  it('given a new DRBD disk, plan and apply bring it to Connected UpToDate/UpToDate with the primary Primary, and a second plan is empty', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    const r = await converge(sim, input([db('db1')]), 2);
    expect(r.failed).toEqual([]);
    expect(r.actions).toEqual([]);
    expect(await drbdOf(sim, 'n1')).toMatchObject({ role: 'Primary', disk: 'UpToDate', peer: { connection: 'Connected', disk: 'UpToDate', role: 'Secondary' } });
    expect(uniqueDrbdResources(truthOf(sim))).toEqual([]);
  });

  it('given the secondary crashed and came back, the plan brings its device up again and it resyncs; nothing is forced', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 1);
    sim.node('n2').crash();
    sim.node('n2').boot();
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const p = plan(input([db('db1')]), obs);
    expect(p.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['drbd.create-md@n2', 'drbd.up@n2']);
    for (const a of p.actions) expect((await sim.run(a)).ok).toBe(true);
    expect(await drbdOf(sim, 'n2')).toMatchObject({ role: 'Secondary', disk: 'UpToDate', peer: { connection: 'Connected' } });
  });

  it('given both sides promoted while the replication network was cut, reconnecting finds a split brain: StandAlone, and the plan refuses to pick a side', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 1);
    sim.node('n1').setReplicationDown(true);
    await sim.observe({ sysctls: [], fileDirs: [], drbd: true }); // n1 Primary alone: may write
    sim.node('n2').tamper((s) => { s.drbd.get(0)!.role = 'Primary'; }); // an admin promoted the other side by hand
    await sim.observe({ sysctls: [], fileDirs: [], drbd: true });
    sim.node('n1').setReplicationDown(false);
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    expect(obs.nodes.get('n1')!.drbd!.devices['0']).toMatchObject({ role: 'Primary', peer: { connection: 'StandAlone' } });
    const p = plan(input([db('db1')]), obs);
    expect(p.refused.map((x) => x.code)).toEqual(['DRBD_SPLIT_BRAIN']);
    expect(p.actions).toEqual([]);
  });

  it('given the primary wrote alone, then its peer was promoted and wrote too, the reconnect of the demoted side is a split brain: reported with each side\'s data and the manual recovery, and no reconnect is planned again', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 1);
    sim.node('n1').setReplicationDown(true);
    await sim.observe({ sysctls: [], fileDirs: [], drbd: true }); // n1 Primary alone: may write
    sim.node('n1').tamper((s) => { s.drbd.get(0)!.role = 'Secondary'; }); // then demoted (its VM stopped)
    sim.node('n2').tamper((s) => { s.drbd.get(0)!.role = 'Primary'; }); // the other side promoted by hand, writes alone
    await sim.observe({ sysctls: [], fileDirs: [], drbd: true });
    sim.node('n1').setReplicationDown(false);
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    expect(obs.nodes.get('n1')!.drbd!.devices['0']).toMatchObject({ role: 'Secondary', splitBrain: true, peer: { connection: 'StandAlone' } });
    const p = plan(input([db('db1', { primary: 'n2', secondary: 'n1' })]), obs);
    expect(p.refused.map((x) => x.code)).toEqual(['DRBD_SPLIT_BRAIN']);
    expect(p.refused[0]!.message).toMatch(/n2 holds Primary, disk UpToDate, StandAlone.*n1 holds Secondary, disk UpToDate, StandAlone/);
    expect(p.refused[0]!.message).toContain('--discard-my-data');
    expect(p.actions).toEqual([]);
  });

  // Issue 10: a device linked to a third node (the state directory lost track of a replica; a node died before its
  // secondary was replaced) waited for it for good; the link is observed, shown as drift and re-linked.
  it('given the primary\'s device linked to a node that holds nothing of it, the plan shows the link and re-links it to its secondary: Connected again, nothing forced, the next plan empty', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    const before = sim.node('n1').history().length;
    sim.node('n1').tamper((st) => {
      const d = st.drbd.get(0)!;
      d.net = { local: d.net!.local, peer: '198.19.0.3:11000', peerNode: 'n3' };
    });
    expect(await drbdOf(sim, 'n1')).toMatchObject({ role: 'Primary', peer: { connection: 'WFConnection' }, link: { remote: { host: '198.19.0.3', port: 11000 } } });
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const p = plan(input([db('db1')]), obs);
    expect(p.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['drbd.disconnect@n1', 'drbd.up@n1']);
    expect(renderPlan(p, 'table')).toMatch(/disks\[0\]\.drbd\.n1\.link/);
    const r = await converge(sim, input([db('db1')]), 2);
    expect(r.failed).toEqual([]);
    expect(r.actions).toEqual([]);
    expect(await drbdOf(sim, 'n1')).toMatchObject({ role: 'Primary', disk: 'UpToDate', peer: { connection: 'Connected', role: 'Secondary', disk: 'UpToDate' }, link: { remote: { host: '198.19.0.2', port: 11000 } } });
    expect(sim.node('n1').history().slice(before).map((h) => h.action.verb)).toEqual(['drbd.disconnect', 'drbd.up']);
  });

  it('given a manifest that pins the primary and leaves the secondary to the allocator, the secondary is another node', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const p = plan(input([db('db1', { primary: 'n2', secondary: undefined })]), obs, { allocator: () => () => ({ primary: 'n1', secondary: 'n2' }) });
    const up = p.actions.filter((a) => a.verb === 'drbd.up').map((a) => a.node);
    expect(up).toEqual(['n2', 'n1']);
  });

  it('given an LV removal while its DRBD device is up, it fails LV_IN_USE and the LV stays', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 1);
    const r = await sim.run({ verb: 'lv.remove', node: 'n2', subject: 'Instance/db1', reason: 't', vg: 'vg0', name: 'db1.disk0' });
    expect(r.error?.code).toBe('LV_IN_USE');
    expect(sim.node('n2').snapshot().lvs['vg0/db1.disk0']).toBeDefined();
  });

  it('given two disks recording the same port (forged tags), the invariant check names both', () => {
    const sim = new SimCluster([{ name: 'n1', seed: { lvs: [
      { vg: 'vg0', name: 'a.disk0', sizeMiB: 64, tags: ['gantry', 'gantry-inst=a', 'gantry-drbd-minor=0', 'gantry-drbd-port=11000'] },
      { vg: 'vg0', name: 'b.disk0', sizeMiB: 64, tags: ['gantry', 'gantry-inst=b', 'gantry-drbd-minor=0', 'gantry-drbd-port=11000'] },
    ] } }]);
    expect(uniqueDrbdResources(truthOf(sim)).map((f) => f.invariant).sort()).toEqual(['unique-drbd-minor', 'unique-drbd-port']);
  });
});

describe('DRBD live migration on the simulator (dual-primary)', () => {
  const runtime: PlanInstanceRuntime = {
    uuid: 'u1', os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0, accel: 'tcg',
    bootOrder: ['disk'], diskBus: 'virtio', vnc: false, vncBindAddress: '127.0.0.1', nics: [],
    migration: { mode: 'live', bandwidthMiBps: 32, downtimeMs: 30 }, restartErrorDown: true, stopTimeoutS: 30,
  };
  // db0 holds minor 0 on n2, so db1 gets minor 0 on n1 and minor 1 on n2: the destination opens another device.
  const both = (p: string, s: string) => [db('db0', { primary: 'n2', secondary: 'n3', runtime: { ...runtime, uuid: 'u0' } }), db('db1', { primary: p, secondary: s, runtime })];
  const vmOn = (sim: SimCluster, n: string) => sim.node(n).snapshot().instances.db1?.runState;
  const dualOf = (sim: SimCluster, n: string) => sim.node(n).inspect((s) => [...s.drbd.values()].filter((d) => d.resource.startsWith('resource')).map((d) => `${d.minor}:${d.role}${d.allowTwoPrimaries ? ':dual' : ''}`));

  it('given a running DRBD instance whose manifest swaps primary and secondary, apply migrates it live through dual-primary: it runs on n2 on its own minor, n1 Secondary, allow-two-primaries cleared, and the next plan is empty', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    expect((await converge(sim, input(both('n1', 'n2')), 3)).failed).toEqual([]);
    expect(vmOn(sim, 'n1')).toBe('running');
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const p = plan(input(both('n2', 'n1')), obs);
    expect(p.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['instance.migrate@n1']);
    const r = await converge(sim, input(both('n2', 'n1')), 2);
    expect(r.failed).toEqual([]);
    expect(r.actions).toEqual([]);
    expect(vmOn(sim, 'n2')).toBe('running');
    expect(vmOn(sim, 'n1')).toBeUndefined();
    expect(sim.node('n2').snapshot().instances.db1?.meta?.launch?.disks).toEqual([{ path: '/dev/drbd1', format: 'raw', bus: 'virtio' }]);
    expect(dualOf(sim, 'n1')).toEqual(['0:Secondary']);
    expect(dualOf(sim, 'n2')).toEqual(['0:Primary', '1:Primary']);
    expect(await drbdOf(sim, 'n1')).toMatchObject({ role: 'Secondary', disk: 'UpToDate', peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } });
  });

  it('given the QEMU step failing on the destination, the disks are reverted (destination demoted, allow-two-primaries cleared) and the VM stays on the source', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input(both('n1', 'n2')), 3);
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const m = plan(input(both('n2', 'n1')), obs).actions[0]!;
    if (m.verb !== 'instance.migrate') throw new Error('expected a migration');
    // a disk the destination does not have: QEMU cannot open it there (the incoming qemu fails)
    const broken = { ...m, launch: { ...m.launch, disks: [...m.launch.disks, { path: '/dev/vg0/missing', format: 'raw' as const, bus: 'virtio' as const }] } };
    const r = await sim.run(broken);
    expect(r.error?.code).toBe('DISK_NOT_FOUND');
    expect(vmOn(sim, 'n1')).toBe('running');
    expect(vmOn(sim, 'n2')).toBeUndefined();
    expect(dualOf(sim, 'n1')).toEqual(['0:Primary']);
    expect(dualOf(sim, 'n2')).toEqual(['0:Primary', '1:Secondary']);
  });

  it('given the destination not connected when the migration runs (the pass saw it healthy), nothing is switched: refused before dual-primary', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input(both('n1', 'n2')), 3);
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const m = plan(input(both('n2', 'n1')), obs).actions[0]!;
    sim.node('n2').tamper((s) => { delete s.drbd.get(1)!.net; });
    expect((await sim.run(m)).error?.code).toBe('DRBD_MIGRATION_NOT_READY');
    expect(vmOn(sim, 'n1')).toBe('running');
    expect(dualOf(sim, 'n2')).toEqual(['0:Primary', '1:Secondary']);
  });

  it('given the replication network cut as the migration runs, it fails retryably with nothing switched (one running copy); once it is back, the next passes migrate', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input(both('n1', 'n2')), 3);
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const m = plan(input(both('n2', 'n1')), obs).actions[0]!;
    sim.node('n2').setReplicationDown(true);
    expect((await sim.run(m)).error).toMatchObject({ code: 'PEER_UNREACHABLE', retryable: true });
    expect([vmOn(sim, 'n1'), vmOn(sim, 'n2')]).toEqual(['running', undefined]);
    expect(dualOf(sim, 'n2')).toEqual(['0:Primary', '1:Secondary']);
    sim.node('n2').setReplicationDown(false);
    const r = await converge(sim, input(both('n2', 'n1')), 3);
    expect(r.actions).toEqual([]);
    expect([vmOn(sim, 'n1'), vmOn(sim, 'n2')]).toEqual([undefined, 'running']);
  });

  // What a live migration leaves when Gantry stops between setting allow-two-primaries and clearing it (execute/drbd-migration steps 2-6).
  const leaveDual = (sim: SimCluster, n: string, minor: number, role?: 'Primary' | 'Secondary') => sim.node(n).tamper((s) => {
    const d = s.drbd.get(minor)!;
    d.allowTwoPrimaries = true;
    if (role) d.role = role;
  });

  it('given allow-two-primaries left set on both ends by a migration that did not finish, the plan shows it on each node and clears it (drift and action); one net-options clears both ends, and the next plan is empty', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input(both('n1', 'n2')), 3);
    leaveDual(sim, 'n1', 0);
    leaveDual(sim, 'n2', 1);
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    expect(obs.nodes.get('n1')!.drbd!.devices['0']).toMatchObject({ role: 'Primary', allowTwoPrimaries: true });
    const p = plan(input(both('n1', 'n2')), obs);
    const e = p.entries.find((x) => x.subject === 'Instance/db1')!;
    expect(e.status).toBe('drift');
    expect(e.diffs.filter((d) => d.path.endsWith('allowTwoPrimaries'))).toEqual([
      { path: 'disks[0].drbd.n1.allowTwoPrimaries', desired: false, observed: true }, { path: 'disks[0].drbd.n2.allowTwoPrimaries', desired: false, observed: true },
    ]);
    expect(p.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['drbd.single-primary@n1', 'drbd.single-primary@n2']);
    expect(p.actions[0]).toMatchObject({ resource: 'resource0', minor: 0, local: { host: '198.19.0.1' }, remote: { host: '198.19.0.2' } });
    expect(p.actions[0]!.reason).toMatch(/left by a live migration that did not finish/);
    expect(renderPlan(p, 'table')).toMatch(/~ disks\[0\]\.drbd\.n1\.allowTwoPrimaries: true -> false[\s\S]*\+ drbd\.single-primary @n1/);
    const ran = await Promise.all(p.waves.flat().map(async (a) => [`${a.verb}@${a.node}`, (await sim.run(a)).ok] as const));
    expect(ran.every(([, ok]) => ok)).toBe(true);
    expect([...dualOf(sim, 'n1'), ...dualOf(sim, 'n2')]).toEqual(['0:Primary', '0:Primary', '1:Secondary']);
    expect((await converge(sim, input(both('n1', 'n2')), 1)).actions).toEqual([]);
  });

  it('given both ends Primary and allow-two-primaries set after a migration stopped past the QEMU switchover (the VM on the manifest primary), the old source is demoted first and allow-two-primaries cleared after it', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input(both('n1', 'n2')), 3);
    leaveDual(sim, 'n1', 0);
    leaveDual(sim, 'n2', 1, 'Primary');
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    const p = plan(input(both('n1', 'n2')), obs);
    const acts = p.actions.filter((a) => a.subject === 'Instance/db1');
    expect(acts.map((a) => `${a.verb}@${a.node}`)).toEqual(['drbd.secondary@n2', 'drbd.single-primary@n1', 'drbd.single-primary@n2']);
    expect(acts[1]!.after).toEqual([actionKey(acts[0]!)]);
    expect((await converge(sim, input(both('n1', 'n2')), 2)).failed).toEqual([]);
    expect([...dualOf(sim, 'n1'), ...dualOf(sim, 'n2')]).toEqual(['0:Primary', '0:Primary', '1:Secondary']);
    expect(vmOn(sim, 'n1')).toBe('running');
  });

  it('given allow-two-primaries set with both ends Primary, when a live migration is planned its own steps clear it (no separate action), and while a QEMU migration is in flight it is left alone with a note', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input(both('n1', 'n2')), 3);
    leaveDual(sim, 'n1', 0);
    leaveDual(sim, 'n2', 1, 'Primary');
    const obs = (await sim.observe({ sysctls: [], fileDirs: [], drbd: true })) as ObservedCluster;
    // the VM runs on n1 and the manifest names n2: a live migration; it is planned, and its own steps clear the flag
    const m = plan(input(both('n2', 'n1')), obs);
    expect(m.actions.filter((a) => a.subject === 'Instance/db1').map((a) => `${a.verb}@${a.node}`)).toEqual(['instance.migrate@n1']);
    // a QEMU migration in flight (incoming QEMU on n2)
    const n2 = obs.nodes.get('n2')!;
    const incoming = { ...obs.nodes.get('n1')!.instances.db1!, runState: 'inmigrate' as const };
    const inflight: ObservedCluster = { ...obs, nodes: new Map([...obs.nodes, ['n2', { ...n2, instances: { ...n2.instances, db1: incoming } }]]) };
    const q = plan(input(both('n1', 'n2')), inflight);
    expect(q.actions.filter((a) => a.verb === 'drbd.single-primary')).toEqual([]);
    expect(q.entries.find((x) => x.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/QEMU migration of db1 is in flight on n2: left alone/);
  });

  it('given dual-primary not set, promoting the peer of a Primary is still refused', async () => {
    const sim = new SimCluster(['n1', 'n2', 'n3']);
    await converge(sim, input([db('db1')]), 2);
    const r = await sim.run({ verb: 'drbd.primary', node: 'n2', subject: 'Instance/db1', reason: 't', resource: 'resource0', minor: 0, waitS: 0 });
    expect(r.error?.code).toBe('DRBD_PEER_PRIMARY');
  });
});
