/**
 * Unknown is not absent (issue 8, item 1): the lab scenario where node1's sshd stopped
 * while its file-disk VM web2 kept running, on observed snapshots. Before this, web2 was
 * located from reachable nodes only, so it was re-allocated to node2 with a new empty
 * disk, installed and started there (two copies), and its IP went to a new instance.
 */
import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { blindNodes, locateInstances, lvFacts } from './locate.js';
import { drbdOfLvTags, instanceOfDiskLv, instanceOfLvTags, lvTagFacts, MANAGED_LV_TAG } from './naming.js';
import { emptyObservedNode, type ObservedInstance, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanInstanceRuntime, PlanNode } from '../core/plan.js';

const node = (name: string, role: PlanNode['role'] = 'regular'): PlanNode => ({
  name, group: 'g', role, secondaryAddress: `198.19.0.${name.slice(-1)}`, runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});

const runtime = (): PlanInstanceRuntime => ({
  uuid: '11111111-2222-3333-4444-555555555555', os: { name: 'busybox+default', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0,
  accel: 'tcg', bootOrder: ['disk'], diskBus: 'virtio', vnc: true, vncBindAddress: '127.0.0.1',
  nics: [{ index: 0, network: 'lan', mode: 'bridged', link: 'br0', trunks: [], ip: 'pool', mac: 'auto', model: 'virtio' }],
  migration: { mode: 'live', bandwidthMiBps: 100, downtimeMs: 300 }, restartErrorDown: true, stopTimeoutS: 30,
});

/** An instance the manifests do not place (the allocator chose node1 when it was created). */
const inst = (name: string, over: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'file', memoryMiB: 128, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 64, template: 'file', vg: 'vg', metaVg: 'vg', state: 'present' }], tags: [], runtime: runtime(), ...over,
});

const input = (instances: PlanInstance[], nodes = [node('node1'), node('node2')]): PlanInput => ({
  cluster: { name: 'lab', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  nodes,
  networks: [{ name: 'lan', subnet: '198.18.10.0/24', gateway: '198.18.10.1', reserved: ['198.18.10.2-198.18.10.9'] }],
  instances,
});

const WEB2_IP = '198.18.10.10';
const WEB2_MAC = 'aa:00:00:12:34:56';

/** web2 as node1 last reported it: running, its record holding IP, MAC and VNC display 100. */
function web2Copy(): ObservedInstance {
  return {
    name: 'web2', pid: 4242, runState: 'running', guestShutdown: false, runtime: { specHash: 'x' },
    meta: {
      version: 1, instance: 'web2', uuid: runtime().uuid, os: 'busybox+default', osGeneration: 1, restartGeneration: 0,
      nics: [{ mac: WEB2_MAC, ip: WEB2_IP, network: 'lan' }], launch: { vnc: true, vncDisplay: 100 },
    },
  };
}

function node1Snapshot(): ObservedNode {
  return {
    ...emptyObservedNode('node1', '2026-11-28T03:00:00.000Z'),
    files: { '/srv/node1/web2.disk0.img': { path: '/srv/node1/web2.disk0.img', format: 'raw', virtualSizeMiB: 64 } },
    instances: { web2: web2Copy() },
  };
}

/** node1's sshd is down now; node2 is up and empty. */
function observed(lastKnown?: ObservedNode): ObservedCluster {
  return {
    nodes: new Map([['node1', emptyObservedNode('node1', '2026-11-28T04:00:00.000Z', 'connect ECONNREFUSED')], ['node2', emptyObservedNode('node2', '2026-11-28T04:00:00.000Z')]]),
    ...(lastKnown ? { lastKnown: new Map([['node1', lastKnown]]) } : {}),
  };
}

/** hail's answer for every new instance: node2 (node1 is not usable now). */
const toNode2 = { allocator: () => () => ({ primary: 'node2' }) };

describe('unknown is not absent', () => {
  it('given web2 last seen running on node1, now unreachable, it plans no action for web2 on any node and says it waits for node1', () => {
    const p = plan(input([inst('web2')]), observed(node1Snapshot()), toNode2);
    expect(p.actions.filter((a) => a.subject === 'Instance/web2')).toEqual([]);
    const e = p.entries.find((x) => x.subject === 'Instance/web2')!;
    expect(e.status).toBe('unreachable');
    expect(e.notes.join('\n')).toMatch(/waits for node1: unreachable \(connect ECONNREFUSED\) since 2026-11-28T03:00:00.000Z: last seen running on node1/);
    expect(p.waits).toEqual([{ node: 'node1', why: 'unreachable (connect ECONNREFUSED)', since: '2026-11-28T03:00:00.000Z', subjects: ['Instance/web2'] }]);
  });

  it('given web2 on unreachable node1 and a new instance, the new one takes neither its IP, its MAC nor its VNC display', () => {
    const p = plan(input([inst('api1'), inst('web2')]), observed(node1Snapshot()), toNode2);
    const install = p.actions.find((a) => a.verb === 'instance.install' && a.subject === 'Instance/api1');
    if (install?.verb !== 'instance.install') throw new Error('api1 is not installed');
    expect(install.node).toBe('node2');
    expect(install.nicInfo[0]?.ip).toBeDefined();
    expect(install.nicInfo[0]?.ip).not.toBe(WEB2_IP);
    expect(install.record.nics[0]?.mac).not.toBe(WEB2_MAC);
    expect(install.launch.vncDisplay).toBeDefined();
    expect(install.launch.vncDisplay).not.toBe(100);
  });

  it('given the manifest now places web2 on node2 while node1 is unreachable, it still starts nothing on node2', () => {
    const p = plan(input([inst('web2', { primary: 'node2' })]), observed(node1Snapshot()), toNode2);
    expect(p.actions.filter((a) => a.subject === 'Instance/web2')).toEqual([]);
    expect(p.entries.find((x) => x.subject === 'Instance/web2')?.status).toBe('unreachable');
  });

  it('given node1 offline (declared down) with web2 on it in its last snapshot, web2 is not re-created elsewhere', () => {
    const o: ObservedCluster = { nodes: new Map([['node2', emptyObservedNode('node2', 't')]]), lastKnown: new Map([['node1', node1Snapshot()]]) };
    const p = plan(input([inst('web2')], [node('node1', 'offline'), node('node2')]), o, toNode2);
    expect(p.actions).toEqual([]);
    expect(p.entries.find((x) => x.subject === 'Instance/web2')?.notes.join(' ')).toMatch(/waits for node1: offline/);
  });

  it('given node1 unreachable and no earlier observation of it (state directory lost), it refuses to create web2 or a new instance elsewhere, with a reason', () => {
    const p = plan(input([inst('api1'), inst('web2')]), observed(undefined), toNode2);
    expect(p.actions.filter((a) => a.subject.startsWith('Instance/'))).toEqual([]);
    for (const name of ['api1', 'web2']) {
      const e = p.entries.find((x) => x.subject === `Instance/${name}`)!;
      expect(e.status).toBe('refused');
      expect(e.refused).toMatchObject([{ code: 'NODE_UNKNOWN', message: expect.stringMatching(/node1: unreachable \(connect ECONNREFUSED\), and no earlier observation of it is kept/) }]);
    }
    expect(p.waits?.[0]).toMatchObject({ node: 'node1', subjects: ['Instance/api1', 'Instance/web2'] });
    expect(p.waits?.[0]?.since).toBeUndefined();
  });

  it('given a node with no known past, an instance seen on an observed node whose record has no IP gets none from the pool', () => {
    const web2OnNode2: ObservedCluster = {
      nodes: new Map([
        ['node1', emptyObservedNode('node1', 't', 'connect ECONNREFUSED')],
        ['node2', { ...emptyObservedNode('node2', 't'), instances: { web2: { ...web2Copy(), meta: { ...web2Copy().meta!, nics: [{ mac: WEB2_MAC }] } } } }],
      ]),
    };
    const p = plan(input([inst('web2', { primary: 'node2' })]), web2OnNode2);
    expect(p.refused).toMatchObject([{ subject: 'Instance/web2', code: 'NODE_UNKNOWN', message: expect.stringMatching(/no new address is taken from a pool while node1/) }]);
  });

  it('given an undeclared VM recorded on an observed node, its IP and MAC stay reserved', () => {
    const o: ObservedCluster = { nodes: new Map([['node1', { ...emptyObservedNode('node1', 't'), instances: { old1: { ...web2Copy(), name: 'old1' } } }], ['node2', emptyObservedNode('node2', 't')]]) };
    const p = plan(input([inst('api1')]), o, toNode2);
    const install = p.actions.find((a) => a.verb === 'instance.install');
    expect(install?.verb === 'instance.install' && install.nicInfo[0]?.ip).toBe('198.18.10.11');
    expect(install?.verb === 'instance.install' && install.record.nics[0]?.mac).not.toBe(WEB2_MAC);
  });

  it('given a last snapshot, locateInstances places web2 on node1 and marks it as waiting for node1', () => {
    const loc = locateInstances(observed(node1Snapshot()), new Map([['node1', '/srv/node1'], ['node2', '/srv/node2']])).get('web2');
    expect(loc).toEqual({ nodes: new Set(['node1']), running: 'node1', waitsFor: new Set(['node1']) });
    expect([...blindNodes([node('node1'), node('node2')], observed()).keys()]).toEqual(['node1']);
  });
});

describe('lvFacts: every LV\'s tags read once per plan', () => {
  it('given LVs with and without Gantry\'s tags and DRBD records on a reachable and a last-known node, it reads for each what instanceOfLvTags, drbdOfLvTags and the gantry tag say, nodes in name order, the stale one marked', () => {
    const lv = (name: string, tags: string[]) => ({ vg: 'vg', name, sizeMiB: 64, tags });
    const n2: ObservedNode = { ...emptyObservedNode('node2', 't'), lvs: {
      'vg/web1.disk0': lv('web1.disk0', ['gantry', 'gantry-inst=web1', 'gantry-drbd-minor=3', 'gantry-drbd-port=11003']),
      'vg/web1.disk0_meta': lv('web1.disk0_meta', ['gantry-drbd-port=11003', 'gantry-inst=web1', 'gantry-drbd-minor=x']),
      'vg/root': lv('root', []),
    } };
    const n1: ObservedNode = { ...emptyObservedNode('node1', 't'), lvs: { 'vg/db.disk1': lv('db.disk1', ['gantry', 'gantry-inst=db']) } };
    const facts = lvFacts({ nodes: new Map([['node2', n2], ['node1', { ...emptyObservedNode('node1', 't'), reachable: false }]]), lastKnown: new Map([['node1', n1]]) });
    expect(facts.map((f) => [f.node, f.stale, f.lvs.map((x) => x.lv.name)])).toEqual([['node1', true, ['db.disk1']], ['node2', false, ['web1.disk0', 'web1.disk0_meta', 'root']]]);
    const read = facts[1]!.lvs.map(({ inst, managed, minor, port }) => ({ inst, managed, minor, port }));
    expect(read).toEqual([
      { inst: 'web1', managed: true, minor: 3, port: 11003 },
      { inst: 'web1', managed: false, minor: undefined, port: 11003 },
      { inst: undefined, managed: false, minor: undefined, port: undefined },
    ]);
    for (const f of facts.flatMap((x) => x.lvs)) {
      expect(f.inst).toBe(instanceOfLvTags(f.lv.tags));
      expect([f.minor, f.port]).toEqual([drbdOfLvTags(f.lv.tags).minor, drbdOfLvTags(f.lv.tags).port]);
      expect(f.disk).toEqual(f.minor !== undefined || f.port !== undefined ? instanceOfDiskLv(f.lv.name) : undefined);
    }
  });

  it('given tag lists with repeated, unreadable and look-alike tags in every order, it reads the same owner, mark, minor and port as instanceOfLvTags, the gantry tag and drbdOfLvTags', () => {
    const pool = ['gantry', 'gantryx', 'xgantry', 'gantry-inst=a', 'gantry-inst=b', 'gantry-inst=', 'gantry-drbd-minor=x', 'gantry-drbd-minor=5', 'gantry-drbd-minor=', 'gantry-drbd-port=7', 'gantry-drbd-port=-1', 'other'];
    let checked = 0;
    // Every ordered pick of up to 4 distinct tags from the pool.
    const walk = (tags: string[]): void => {
      const f = lvTagFacts(tags);
      expect(f).toEqual({ inst: instanceOfLvTags(tags), managed: tags.includes(MANAGED_LV_TAG), minor: drbdOfLvTags(tags).minor, port: drbdOfLvTags(tags).port });
      checked++;
      if (tags.length < 4) for (const t of pool) if (!tags.includes(t)) walk([...tags, t]);
    };
    walk([]);
    expect(checked).toBe(1 + 12 + 12 * 11 + 12 * 11 * 10 + 12 * 11 * 10 * 9);
  });
});
