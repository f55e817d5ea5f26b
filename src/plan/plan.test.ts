import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import { instanceLvTag, MANAGED_LV_TAG } from './naming.js';

const node = (name: string, over: Partial<PlanNode> = {}): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: {
    bridges: [{ name: 'br0', vlanFiltering: false, addresses: [], ports: [] }],
    ovsBridges: [{ name: 'ovs0', datapathType: 'netdev', ports: [{ name: 'p10', tag: 10, trunks: [], type: 'internal' }] }],
    vxlans: [],
    volumeGroups: [{ name: 'vg0', pvs: ['/dev/loop0'] }],
    sysctls: { 'net.ipv4.ip_forward': '1' },
  },
  ...over,
});

const inst = (name: string, over: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'plain', primary: 'n1', memoryMiB: 512, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' }], tags: [],
  ...over,
});

const input = (instances: PlanInstance[] = [], removeOrphans = false): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans, exclusionTags: [] },
  networks: [],
  nodes: [node('n1'), node('n2')],
  instances,
});

/** An observed node that already matches node()'s profile. */
function converged(name: string, extra: Partial<ObservedNode> = {}): ObservedNode {
  return {
    ...emptyObservedNode(name, '2026-01-01T00:00:00Z'),
    bridges: { br0: { name: 'br0', up: true, vlanFiltering: false, mtu: 1500, ports: [], addresses: [] } },
    ovs: { bridges: { ovs0: { name: 'ovs0', datapathType: 'netdev', ports: { p10: { name: 'p10', tag: 10, trunks: [], type: 'internal' } } } } },
    vgs: { vg0: { name: 'vg0', sizeMiB: 10240, freeMiB: 10240, pvs: ['/dev/loop0'] } },
    sysctls: { 'net.ipv4.ip_forward': '1' },
    ...extra,
  };
}

const lv = (name: string, sizeMiB: number, owner: string) => ({ vg: 'vg0', name, sizeMiB, tags: [MANAGED_LV_TAG, instanceLvTag(owner)] });

describe('plan', () => {
  it('given empty nodes it plans the whole profile and the disks, in phase order', () => {
    const p = plan(input([inst('web1')]), { nodes: new Map([['n1', emptyObservedNode('n1', 't')], ['n2', emptyObservedNode('n2', 't')]]) });
    const verbs = p.actions.filter((a) => a.node === 'n1').map((a) => a.verb);
    expect(verbs).toEqual(['sysctl.set', 'vg.ensure', 'bridge.ensure', 'ovs.bridge.ensure', 'ovs.port.ensure', 'lv.create']);
    expect(p.entries.find((e) => e.subject === 'Instance/web1')?.status).toBe('drift');
    expect(p.waves.length).toBeGreaterThan(1);
  });

  it('given nodes that match it plans nothing', () => {
    const p = plan(input([inst('web1')]), {
      nodes: new Map([['n1', converged('n1', { lvs: { 'vg0/web1.disk0': lv('web1.disk0', 1024, 'web1') } })], ['n2', converged('n2')]]),
    });
    expect(p.actions).toEqual([]);
    expect(p.entries.every((e) => e.status === 'in-sync')).toBe(true);
  });

  it('given a changed OVS tag and a removed bridge it names both and plans their repair', () => {
    const obs = converged('n1');
    const drifted: ObservedNode = {
      ...obs,
      bridges: {},
      ovs: { bridges: { ovs0: { name: 'ovs0', datapathType: 'netdev', ports: { p10: { name: 'p10', tag: 20, trunks: [], type: 'internal' } } } } },
    };
    const p = plan(input(), { nodes: new Map([['n1', drifted], ['n2', converged('n2')]]) });
    const e = p.entries.find((x) => x.subject === 'Node/n1')!;
    expect(e.diffs.map((d) => d.path)).toEqual(['profile.bridges[br0]', 'profile.ovsBridges[ovs0].ports[p10].tag']);
    expect(e.actions.map((a) => a.verb)).toEqual(['bridge.ensure', 'ovs.port.ensure']);
  });

  it('given a disk larger than the manifest it refuses to shrink and plans no change to it', () => {
    const p = plan(input([inst('web1')]), {
      nodes: new Map([['n1', converged('n1', { lvs: { 'vg0/web1.disk0': lv('web1.disk0', 4096, 'web1') } })], ['n2', converged('n2')]]),
    });
    expect(p.refused.map((r) => r.code)).toEqual(['REFUSED_SHRINK']);
    expect(p.actions).toEqual([]);
  });

  it('given a grown disk it plans lv.extend', () => {
    const p = plan(input([inst('web1', { disks: [{ index: 0, sizeMiB: 2048, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' }] })]), {
      nodes: new Map([['n1', converged('n1', { lvs: { 'vg0/web1.disk0': lv('web1.disk0', 1024, 'web1') } })], ['n2', converged('n2')]]),
    });
    expect(p.actions).toMatchObject([{ verb: 'lv.extend', sizeMiB: 2048 }]);
  });

  it('given an LV of an undeclared instance it reports an orphan and removes it only with opt-in', () => {
    const observed = { nodes: new Map([['n1', converged('n1', { lvs: { 'vg0/old.disk0': lv('old.disk0', 1024, 'old') } })], ['n2', converged('n2')]]) };
    const keep = plan(input(), observed);
    expect(keep.orphans).toEqual([{ node: 'n1', kind: 'lv', id: 'vg0/old.disk0', removed: false }]);
    expect(keep.actions).toEqual([]);
    const now = '2026-11-28T12:00:00.000Z';
    const fresh = plan({ ...input([], true), lastApplied: { instances: 0, nodes: 2, at: 't' }, now }, observed);
    expect(fresh.actions).toEqual([]); // first found orphaned now: the grace (default 60 minutes) starts
    expect(fresh.orphanSince).toEqual({ old: now });
    const rm = plan({ ...input([], true), lastApplied: { instances: 0, nodes: 2, at: 't', orphanSince: { old: '2026-11-28T11:00:00.000Z' } }, now }, observed);
    expect(rm.actions).toMatchObject([{ verb: 'lv.remove', vg: 'vg0', name: 'old.disk0' }]);
  });

  it('given an unreachable node with a last snapshot it reports it and still plans the others', () => {
    const p = plan(input([inst('web2', { primary: 'n2' })]), { nodes: new Map([['n1', emptyObservedNode('n1', 't', 'connect timeout')], ['n2', converged('n2')]]), lastKnown: new Map([['n1', converged('n1')]]) });
    expect(p.unreachable).toEqual(['n1']);
    expect(p.entries.find((e) => e.subject === 'Node/n1')?.status).toBe('unreachable');
    expect(p.actions.every((a) => a.node === 'n2')).toBe(true);
    expect(p.actions.map((a) => a.verb)).toEqual(['lv.create']);
  });

  it('given an instance whose primary is unreachable it is reported unreachable, not in sync', () => {
    const p = plan(input([inst('web1')]), { nodes: new Map([['n1', emptyObservedNode('n1', 't', 'connect timeout')], ['n2', converged('n2')]]), lastKnown: new Map([['n1', converged('n1')]]) });
    expect(p.entries.find((e) => e.subject === 'Instance/web1')?.status).toBe('unreachable');
  });

  it('given an instance without placement whose disks exist it keeps it where it is', () => {
    const p = plan(input([inst('web1', { primary: undefined })]), {
      nodes: new Map([['n1', converged('n1')], ['n2', converged('n2', { lvs: { 'vg0/web1.disk0': lv('web1.disk0', 1024, 'web1') } })]]),
    });
    expect(p.actions).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/web1')?.notes[0]).toMatch(/primary n2/);
  });

  it('given a new instance placed on a drained node, it refuses it and plans nothing for it, while an instance already there stays', () => {
    const drainedInput = { ...input([inst('web1', { primary: 'n2' }), inst('db1', { primary: 'n2' })]), nodes: [node('n1'), node('n2', { role: 'drained' })] };
    const p = plan(drainedInput, {
      nodes: new Map([['n1', converged('n1')], ['n2', converged('n2', { lvs: { 'vg0/db1.disk0': lv('db1.disk0', 1024, 'db1') } })]]),
    });
    const web = p.entries.find((e) => e.subject === 'Instance/web1')!;
    expect(web.status).toBe('refused');
    expect(web.refused[0]).toMatchObject({ code: 'PLACEMENT_DRAINED' });
    expect(web.refused[0]!.message).toMatch(/^node n2 is drained: it takes no new instances/);
    expect(p.actions.filter((a) => a.subject === 'Instance/web1')).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')?.refused).toEqual([]);
  });

  it('given an absent instance without deleteDisks it keeps the disks and says so', () => {
    const observed = { nodes: new Map([['n1', converged('n1', { lvs: { 'vg0/web1.disk0': lv('web1.disk0', 1024, 'web1') } })], ['n2', converged('n2')]]) };
    const keep = plan(input([inst('web1', { state: 'absent' })]), observed);
    expect(keep.actions).toEqual([]);
    expect(keep.entries.find((e) => e.subject === 'Instance/web1')?.notes.join()).toMatch(/deleteDisks/);
    const del = plan(input([inst('web1', { state: 'absent', deleteDisks: true })]), observed);
    expect(del.actions).toMatchObject([{ verb: 'lv.remove', node: 'n1', name: 'web1.disk0' }]);
  });
});

describe('waves of DRBD bring-up', () => {
  it('given two drbd.up actions on one node (their peer is an address, not a node), it puts them in one wave, one after the other on that node', async () => {
    const { buildWaves, nodesOf } = await import('./waves.js');
    const up = (minor: number) => ({
      verb: 'drbd.up', node: 'n1', subject: `Instance/vm${minor}`, resource: `resource${minor}`, minor, dataDev: '/dev/vg0/d', metaDev: '/dev/vg0/m', sizeMiB: 1024,
      local: { address: '198.19.0.1', port: 11000 + minor }, peer: { address: '198.19.0.2', port: 11000 + minor }, peerNode: 'n2',
      protocol: 'C', resync: {}, barriers: {},
    }) as unknown as import('../core/actions.js').Action;
    expect(nodesOf(up(0))).toEqual(['n1']);
    const waves = buildWaves([up(0), up(1)]);
    expect(waves.map((w) => w.map((a) => a.subject))).toEqual([['Instance/vm0', 'Instance/vm1']]);
  });
});
