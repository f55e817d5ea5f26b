import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { emptyObservedNode, type ObservedDrbdDevice, type ObservedNode } from '../core/observed.js';
import type { Action } from '../core/actions.js';
import type { PlanDisk, PlanInput, PlanInstance, PlanInstanceRuntime, PlanNode } from '../core/plan.js';
import { drbdTags, instanceLvTag, MANAGED_LV_TAG } from './naming.js';
import { DrbdAllocator } from './drbd-alloc.js';
import { describeSync } from './drbd.js';

const node = (name: string, ip: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`, address: ip, secondaryAddress: ip,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const runtime: PlanInstanceRuntime = {
  uuid: 'u', os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0, accel: 'tcg',
  bootOrder: ['disk'], diskBus: 'virtio', vnc: false, vncBindAddress: '127.0.0.1', nics: [],
  migration: { mode: 'live', bandwidthMiBps: 32, downtimeMs: 30 }, restartErrorDown: true, stopTimeoutS: 30,
};
const drbdDisk = (over: Partial<PlanDisk> = {}): PlanDisk => ({
  index: 0, sizeMiB: 1024, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'present',
  drbd: { metaSizeMiB: 128, protocol: 'C', resyncRateKiB: 30720, dynamicResync: false, diskBarriers: 'bf' }, ...over,
});
const db = (name = 'db1', over: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'drbd', primary: 'n1', secondary: 'n2', memoryMiB: 128, vcpus: 1,
  disks: [drbdDisk()], tags: [], runtime, ...over,
});
const input = (instances: PlanInstance[], nodes = ['n1', 'n2']): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [], drbd: { portStart: 11000, portEnd: 11010, minorCount: 4 } },
  networks: [], nodes: nodes.map((n, i) => node(n, `198.18.1.${i + 1}`)), instances,
});

type Dev = Partial<ObservedDrbdDevice> & { minor: number };
const dev = (d: Dev): ObservedDrbdDevice => ({ resource: `resource${d.minor}`, role: 'Secondary', disk: 'UpToDate', peer: { connection: 'Connected', role: 'Secondary', disk: 'UpToDate' }, ...d });
const lvs = (inst: string, minor: number, port: number, sizeMiB = 1024) => ({
  [`vg0/${inst}.disk0`]: { vg: 'vg0', name: `${inst}.disk0`, sizeMiB, tags: [MANAGED_LV_TAG, instanceLvTag(inst), ...drbdTags(minor, port)] },
  [`vg0/${inst}.disk0_meta`]: { vg: 'vg0', name: `${inst}.disk0_meta`, sizeMiB: 128, tags: [MANAGED_LV_TAG, instanceLvTag(inst), ...drbdTags(minor, port)] },
});
const running = (name: string) => ({ name, runState: 'running' as const, guestShutdown: false, meta: { version: 1 as const, instance: name, uuid: 'u', os: 'none', osGeneration: 1, restartGeneration: 0, nics: [], launch: { name, uuid: 'u', memoryMiB: 128, vcpus: 1, accel: 'tcg', bootOrder: ['disk'], disks: [{ path: '/dev/drbd0', format: 'raw', bus: 'virtio' }], nics: [], vnc: false, vncBindAddress: '127.0.0.1' } } });
const obsNode = (name: string, extra: Partial<ObservedNode> = {}): ObservedNode => ({ ...emptyObservedNode(name, '2026-11-28T12:00:00Z'), drbd: { devices: {} }, ...extra });
const cluster = (...ns: ObservedNode[]) => ({ nodes: new Map(ns.map((n) => [n.name, n])) });

/** Both sides up, Connected, UpToDate/UpToDate, n1 Primary with the VM running. */
function converged(extra1: Partial<ObservedNode> = {}, extra2: Partial<ObservedNode> = {}) {
  return cluster(
    obsNode('n1', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, role: 'Primary' }) } }, instances: { db1: running('db1') }, ...extra1 }),
    obsNode('n2', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } }) } }, ...extra2 }),
  );
}
const verbs = (as: readonly Action[]) => as.map((a) => `${a.verb}@${a.node}`);

describe('DRBD in the planner', () => {
  it('given diskParams.drbd.pingTimeoutMs, both drbd.up actions carry it (and without it none does: DRBD\'s default)', () => {
    const withTimeout = db('db1', { disks: [drbdDisk({ drbd: { metaSizeMiB: 128, protocol: 'C', resyncRateKiB: 30720, dynamicResync: false, diskBarriers: 'bf', pingTimeoutMs: 5000 } })] });
    const ups = (i: PlanInstance) => plan(input([i]), cluster(obsNode('n1'), obsNode('n2'))).actions.filter((a) => a.verb === 'drbd.up');
    expect(ups(withTimeout).map((a) => a.verb === 'drbd.up' && `${a.node} ${a.pingTimeoutMs}`)).toEqual(['n1 5000', 'n2 5000']);
    expect(ups(db()).map((a) => a.verb === 'drbd.up' && 'pingTimeoutMs' in a)).toEqual([false, false]);
  });

  it('given a new DRBD instance, it creates data + meta LVs recording minor and port, metadata and bring-up on both nodes, the initial sync on the primary, then install and start', () => {
    const p = plan(input([db()]), cluster(obsNode('n1'), obsNode('n2')));
    expect(verbs(p.actions)).toEqual([
      'lv.create@n1', 'lv.create@n1', 'lv.create@n2', 'lv.create@n2',
      'drbd.create-md@n1', 'drbd.create-md@n2', 'drbd.up@n1', 'drbd.up@n2', 'drbd.initial-sync@n1',
      'instance.install@n1', 'instance.start@n1',
    ]);
    const creates = p.actions.filter((a) => a.verb === 'lv.create');
    expect(creates.map((a) => a.verb === 'lv.create' && [a.name, a.sizeMiB, a.tags])).toEqual([
      ['db1.disk0', 1024, ['gantry', 'gantry-inst=db1', 'gantry-drbd-minor=0', 'gantry-drbd-port=11000']],
      ['db1.disk0_meta', 128, ['gantry', 'gantry-inst=db1', 'gantry-drbd-minor=0', 'gantry-drbd-port=11000']],
      ['db1.disk0', 1024, ['gantry', 'gantry-inst=db1', 'gantry-drbd-minor=0', 'gantry-drbd-port=11000']],
      ['db1.disk0_meta', 128, ['gantry', 'gantry-inst=db1', 'gantry-drbd-minor=0', 'gantry-drbd-port=11000']],
    ]);
    const up = p.actions.find((a) => a.verb === 'drbd.up' && a.node === 'n2');
    expect(up).toMatchObject({
      resource: 'resource0', minor: 0, dataDev: '/dev/vg0/db1.disk0', metaDev: '/dev/vg0/db1.disk0_meta', sizeMiB: 1024,
      local: { host: '198.18.1.2', port: 11000 }, peer: { host: '198.18.1.1', port: 11000 }, protocol: 'C',
      resync: { kind: 'fixed', rateKiB: 30720 }, barriers: { noDiskBarrier: true, noDiskFlushes: true }, usermodeHelper: '/bin/true',
    });
    const sync = p.actions.find((a) => a.verb === 'drbd.initial-sync')!;
    expect(sync.after).toEqual(['drbd.up@n1 Instance/db1', 'drbd.up@n2 Instance/db1']);
    const install = p.actions.find((a) => a.verb === 'instance.install');
    expect(install?.verb === 'instance.install' && install.launch.disks).toEqual([{ path: '/dev/drbd0', format: 'raw', bus: 'virtio' }]);
    // the waves: both nodes' bring-up before the sync, the sync before the install
    const waveOf = (v: string) => p.waves.findIndex((w) => w.some((a) => a.verb === v));
    expect(waveOf('drbd.up')).toBeLessThan(waveOf('drbd.initial-sync'));
    expect(waveOf('drbd.initial-sync')).toBeLessThan(waveOf('instance.install'));
  });

  it('given exclusive storage on both nodes, each data LV takes its spindles of empty PVs keeping room for the metadata LV, which goes beside it (or on a PV of its own in another VG)', () => {
    const excl = (i: PlanInstance) => { const x = input([i]); return { ...x, nodes: x.nodes.map((n) => ({ ...n, exclusiveStorage: true as const })) }; };
    const p = plan(excl(db('db1', { disks: [drbdDisk({ spindles: 2 })] })), cluster(obsNode('n1'), obsNode('n2')));
    const creates = p.actions.filter((a) => a.verb === 'lv.create').map((a) => a.verb === 'lv.create' && [a.node, a.name, a.spindles, a.reserveMiB, a.besideLv]);
    expect(creates).toEqual([
      ['n1', 'db1.disk0', 2, 128, undefined], ['n1', 'db1.disk0_meta', undefined, undefined, 'db1.disk0'],
      ['n2', 'db1.disk0', 2, 128, undefined], ['n2', 'db1.disk0_meta', undefined, undefined, 'db1.disk0'],
    ]);
    const other = plan(excl(db('db1', { disks: [drbdDisk({ spindles: 1, metaVg: 'vgmeta' })] })), cluster(obsNode('n1'), obsNode('n2')));
    expect(other.actions.filter((a) => a.verb === 'lv.create' && a.node === 'n1').map((a) => a.verb === 'lv.create' && [a.vg, a.name, a.spindles, a.reserveMiB, a.besideLv])).toEqual([
      ['vg0', 'db1.disk0', 1, undefined, undefined], ['vgmeta', 'db1.disk0_meta', 1, undefined, undefined],
    ]);
  });

  it('given the pair Connected UpToDate/UpToDate with the VM running on the primary, it plans nothing', () => {
    const p = plan(input([db()]), converged());
    expect(p.actions).toEqual([]);
    expect(p.refused).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')?.status).toBe('in-sync');
  });

  it('given the secondary taken down by hand (drbdsetup down), it shows the drift and plans metadata check and bring-up on the secondary only', () => {
    const p = plan(input([db()]), converged({ drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: { connection: 'WFConnection' } }) } } }, { drbd: { devices: {} } }));
    expect(verbs(p.actions)).toEqual(['drbd.create-md@n2', 'drbd.up@n2']);
    const e = p.entries.find((x) => x.subject === 'Instance/db1')!;
    expect(e.diffs).toContainEqual({ path: 'disks[0].drbd.secondary', desired: 'up', observed: 'down' });
    expect(p.actions[1]!.reason).toMatch(/resource0 is down on n2/);
    expect(e.notes.join('\n')).toMatch(/condition Degraded: .*n1 waits for its peer/);
  });

  it('given a StandAlone secondary and a detached (Diskless) primary, it plans re-connect and re-attach, each with its reason', () => {
    const p = plan(input([db()]), converged(
      { drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', disk: 'Diskless', peer: { connection: 'Connected', role: 'Secondary', disk: 'UpToDate' } }) } } },
      { drbd: { devices: { 0: dev({ minor: 0, peer: { connection: 'StandAlone' } }) } } },
    ));
    expect(verbs(p.actions)).toEqual(['drbd.up@n1', 'drbd.up@n2']);
    expect(p.actions[0]!.reason).toMatch(/Diskless.*re-attach/);
    expect(p.actions[1]!.reason).toMatch(/StandAlone.*re-connect/);
  });

  it('given both sides Primary and not connected (split brain), it refuses with guidance, plans no DRBD action and does not touch the VM', () => {
    const p = plan(input([db()]), converged(
      { drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: { connection: 'StandAlone' } }) } } },
      { drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: { connection: 'StandAlone' } }) } } },
    ));
    expect(p.actions).toEqual([]);
    expect(p.refused).toMatchObject([{ subject: 'Instance/db1', code: 'DRBD_SPLIT_BRAIN' }]);
    expect(p.refused[0]!.message).toMatch(/never chooses whose data to discard.*--discard-my-data/);
  });

  it('given both sides StandAlone and UpToDate, it notes a possible split brain and plans a re-connect (after-sb policies discard no changed data)', () => {
    const p = plan(input([db()]), converged(
      { drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: { connection: 'StandAlone' } }) } } },
      { drbd: { devices: { 0: dev({ minor: 0, peer: { connection: 'StandAlone' } }) } } },
    ));
    expect(verbs(p.actions)).toEqual(['drbd.up@n1', 'drbd.up@n2']);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/split brain DRBD refused to resolve/);
  });

  it('given a grown disk, it extends both data LVs, then resizes the device on the primary after both', () => {
    const big = db('db1', { disks: [drbdDisk({ sizeMiB: 2048 })] });
    const p = plan(input([big]), converged());
    expect(verbs(p.actions)).toEqual(['lv.extend@n1', 'lv.extend@n2', 'drbd.resize@n1']);
    expect(p.actions[2]).toMatchObject({ sizeMiB: 2048, after: ['lv.extend@n1 Instance/db1', 'lv.extend@n2 Instance/db1'] });
  });

  it('given the primary not promoted, it promotes it with a wait for the peer; a Primary secondary is demoted first', () => {
    const p = plan(input([db()]), converged(
      { drbd: { devices: { 0: dev({ minor: 0, role: 'Secondary', peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } }) } }, instances: {} },
      { drbd: { devices: { 0: dev({ minor: 0, role: 'Primary' }) } } },
    ));
    expect(verbs(p.actions).slice(0, 2)).toEqual(['drbd.secondary@n2', 'drbd.primary@n1']);
    expect(p.actions[1]).toMatchObject({ waitS: 120, after: ['drbd.secondary@n2 Instance/db1'] });
  });

  it('given a disk marked absent, it takes both devices down before removing the LVs; with the disk present nothing is ever taken down', () => {
    const gone = db('db1', { disks: [drbdDisk({ state: 'absent' })], runtime: undefined });
    const p = plan(input([gone]), converged());
    expect(verbs(p.actions)).toEqual(['drbd.down@n1', 'drbd.down@n2', 'lv.remove@n1', 'lv.remove@n1', 'lv.remove@n2', 'lv.remove@n2']);
    expect(plan(input([db()]), converged()).actions.filter((a) => a.verb === 'drbd.down')).toEqual([]);
  });

  it('given an absent instance with deleteDisks, it takes down the devices its LVs record before removing them; without deleteDisks it keeps them up', () => {
    const del = plan(input([db('db1', { state: 'absent', deleteDisks: true })]), converged());
    expect(verbs(del.actions)).toEqual(['instance.remove@n1', 'drbd.down@n1', 'drbd.down@n2', 'lv.remove@n1', 'lv.remove@n1', 'lv.remove@n2', 'lv.remove@n2']);
    const keep = plan(input([db('db1', { state: 'absent' })]), converged());
    expect(keep.actions.filter((a) => a.verb.startsWith('drbd.') || a.verb === 'lv.remove')).toEqual([]);
  });

  it('given a resync running, it plans nothing and notes percent, speed and ETA', () => {
    const p = plan(input([db()]), converged(
      { drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: { connection: 'SyncSource', replication: 'SyncSource', role: 'Secondary', disk: 'Inconsistent', sync: { percent: 45.2, speedKiBps: 10240, etaSec: 83 } } }) } } },
      { drbd: { devices: { 0: dev({ minor: 0, disk: 'Inconsistent', peer: { connection: 'SyncTarget', replication: 'SyncTarget', role: 'Primary', disk: 'UpToDate' } }) } } },
    ));
    expect(p.actions).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/resync on n1 \(SyncSource\): 45\.2% done, 10\.0 MiB\/s, ETA 1m23s/);
  });

  it('given a pair of one DRBD 8.4 and one DRBD 9 node, it refuses the disk with DRBD_VERSION_MIXED; given 8.3, DRBD_VERSION_UNSUPPORTED; nothing is planned for the instance either way', () => {
    const v9 = (name: string) => obsNode(name, { drbd: { devices: {}, version: '9.2.8' } });
    const fresh = plan(input([db()]), cluster(obsNode('n1', { drbd: { devices: {}, version: '8.4.11' } }), v9('n2')));
    expect(fresh.refused.map((r) => [r.code, r.message.replace(/^.*?: /, '')])).toEqual([['DRBD_VERSION_MIXED', expect.stringMatching(/^n1 runs DRBD 8\.4\.11 and n2 DRBD 9\.2\.8: a DRBD 8\.4 and a DRBD 9 node cannot replicate one disk/)]]);
    expect(fresh.actions.filter((a) => a.subject === 'Instance/db1')).toEqual([]);
    const c = converged();
    const n2 = c.nodes.get('n2')!;
    const old = plan(input([db()]), cluster(c.nodes.get('n1')!, { ...n2, drbd: { ...n2.drbd!, version: '8.3.16' } }));
    expect(old.refused.map((r) => [r.code, r.message.replace(/^.*?: /, '')])).toEqual([['DRBD_VERSION_UNSUPPORTED', expect.stringMatching(/^n2 runs DRBD 8\.3\.16: Gantry drives DRBD 8\.4 and 9 only/)]]);
    expect(old.actions).toEqual([]);
    expect(plan(input([db()]), converged({ drbd: { ...c.nodes.get('n1')!.drbd!, version: '8.4.11' } })).refused).toEqual([]);
  });

  it('given a connected pair whose sync options differ from diskParams on one side (drbdsetup show), it shows the drift and plans drbd.up there only (its ensure runs disk-options); matching or unread options are no drift', () => {
    const c = converged();
    const withOpts = (n: string, diskOptions: Record<string, string> | undefined) => {
      const o = c.nodes.get(n)!;
      return { ...o, drbd: { devices: { 0: { ...o.drbd!.devices['0']!, ...(diskOptions ? { diskOptions } : {}) } } } };
    };
    const p = plan(input([db()]), cluster(withOpts('n1', { 'resync-rate': '30720k' }), withOpts('n2', { 'resync-rate': '8192k' })));
    expect(verbs(p.actions)).toEqual(['drbd.up@n2']);
    expect(p.actions[0]!.reason).toMatch(/has resync-rate 8192k; diskParams say resync-rate 30720k: set them on the live device \(drbdsetup disk-options; nothing else/);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.diffs).toContainEqual({ path: 'disks[0].drbd.n2.resync-rate', desired: '30720k', observed: '8192k' });
    expect(plan(input([db()]), cluster(withOpts('n1', { 'resync-rate': '30720k' }), withOpts('n2', { 'resync-rate': '30720k' }))).actions).toEqual([]);
    expect(plan(input([db()]), cluster(withOpts('n1', undefined), withOpts('n2', undefined))).actions).toEqual([]);
  });

  it('given diskParams pingTimeoutMs and a live link showing another ping-timeout (or DRBD\'s default), it plans drbd.up there (net-options); without pingTimeoutMs the link\'s value is left alone', () => {
    const c = converged();
    const withNet = (n: string, netOptions: Record<string, string>) => {
      const o = c.nodes.get(n)!;
      return { ...o, drbd: { devices: { 0: { ...o.drbd!.devices['0']!, diskOptions: { 'resync-rate': '30720k' }, netOptions } } } };
    };
    const ping = db('db1', { disks: [drbdDisk({ drbd: { metaSizeMiB: 128, protocol: 'C', resyncRateKiB: 30720, dynamicResync: false, diskBarriers: 'bf', pingTimeoutMs: 5000 } })] });
    const p = plan(input([ping]), cluster(withNet('n1', { 'ping-timeout': '50' }), withNet('n2', {})));
    expect(verbs(p.actions)).toEqual(['drbd.up@n2']);
    expect(p.actions[0]!.reason).toMatch(/has ping-timeout 5; diskParams say ping-timeout 50: .*drbdsetup net-options/);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.diffs).toContainEqual({ path: 'disks[0].drbd.n2.ping-timeout', desired: '50', observed: '5' });
    expect(plan(input([db()]), cluster(withNet('n1', { 'ping-timeout': '50' }), withNet('n2', {}))).actions).toEqual([]);
  });

  it('given DRBD state that could not be read on the secondary, it plans no DRBD action and does not start the VM', () => {
    const p = plan(input([db()]), cluster(obsNode('n1', { lvs: lvs('db1', 0, 11000) }), { ...obsNode('n2', { lvs: lvs('db1', 0, 11000) }), drbd: undefined }));
    expect(p.actions).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/could not be read/);
  });
});

describe('DRBD minors and ports', () => {
  it('given recorded allocations, it keeps them and gives a new disk the lowest free minor per node and port per cluster', () => {
    const obs = cluster(obsNode('n1', { lvs: { ...lvs('a', 0, 11000), ...lvs('b', 2, 11001) } }), obsNode('n2', { lvs: lvs('a', 1, 11000) }), obsNode('n3'));
    const alloc = new DrbdAllocator(obs, { drbd: { portStart: 11000, portEnd: 11010, minorCount: 4 } });
    expect(alloc.allocate('a', 0, ['n1', 'n2'])).toEqual({ minors: new Map([['n1', 0], ['n2', 1]]), port: 11000 });
    expect(alloc.allocate('c', 0, ['n1', 'n2'])).toEqual({ minors: new Map([['n1', 1], ['n2', 0]]), port: 11002 });
    expect(alloc.allocate('d', 0, ['n1', 'n3'])).toEqual({ minors: new Map([['n1', 3], ['n3', 0]]), port: 11003 });
    expect(alloc.allocate('e', 0, ['n1', 'n3'])).toMatchObject({ code: 'DRBD_MINORS_EXHAUSTED' });
  });

  it('given a node that cannot be observed now, its last snapshot keeps its minors and ports reserved', () => {
    const obs = { nodes: new Map([['n1', obsNode('n1')], ['n2', emptyObservedNode('n2', 't', 'ssh: timeout')]]), lastKnown: new Map([['n2', obsNode('n2', { lvs: lvs('old', 0, 11000) })]]) };
    const alloc = new DrbdAllocator(obs, { drbd: { portStart: 11000, portEnd: 11010, minorCount: 4 } });
    expect(alloc.allocate('new', 0, ['n1', 'n2'])).toEqual({ minors: new Map([['n1', 0], ['n2', 1]]), port: 11001 });
  });

  it('given an unobservable node with no known past, it allocates no new port (it may be in use there)', () => {
    const obs = { nodes: new Map([['n1', obsNode('n1')], ['n3', emptyObservedNode('n3', 't', 'ssh: timeout')]]) };
    const alloc = new DrbdAllocator(obs, {}, ['n3']);
    expect(alloc.allocate('new', 0, ['n1', 'n2'])).toMatchObject({ code: 'DRBD_PORTS_UNKNOWN' });
  });

  it('given a minor used by a DRBD device nobody recorded, it is not handed out', () => {
    const obs = cluster(obsNode('n1', { drbd: { devices: { 0: dev({ minor: 0, resource: 'handmade' }) } } }), obsNode('n2'));
    expect(new DrbdAllocator(obs, {}).allocate('x', 0, ['n1', 'n2'])).toEqual({ minors: new Map([['n1', 1], ['n2', 0]]), port: 11000 });
  });

  it('given two disks recording the same port, the plan refuses the second with DRBD_PORT_CONFLICT', () => {
    const obs = cluster(obsNode('n1', { lvs: { ...lvs('a', 0, 11000), ...lvs('b', 1, 11000) } }), obsNode('n2'));
    const p = plan(input([db('a'), db('b')]), obs);
    expect(p.refused).toMatchObject([{ subject: 'Instance/b', code: 'DRBD_PORT_CONFLICT' }]);
  });

  it('given two disks recording the same port or minor, the refusals name both disks as "<instance> disk <index>"', () => {
    const samePort = cluster(obsNode('n1', { lvs: { ...lvs('a', 0, 11000), ...lvs('b', 1, 11000) } }), obsNode('n2'));
    expect(new DrbdAllocator(samePort, {}).allocate('b', 0, ['n1', 'n2'])).toEqual({ code: 'DRBD_PORT_CONFLICT', error: 'DRBD port 11000 recorded for b disk 0 is also recorded for a disk 0: Gantry will not bring up two resources on one port' });
    const sameMinor = cluster(obsNode('n1', { lvs: { ...lvs('a', 0, 11000), ...lvs('b', 0, 11001) } }), obsNode('n2'));
    expect(new DrbdAllocator(sameMinor, {}).allocate('b', 0, ['n1', 'n2'])).toEqual({ code: 'DRBD_MINOR_CONFLICT', error: 'DRBD minor 0 recorded on n1 for b disk 0 is also held by a disk 0' });
  });

  it('given two records of one minor listed out of name order, the LV first in name order holds it, as when they come in order', () => {
    const reversed = cluster(obsNode('n1', { lvs: { ...lvs('b', 0, 11001), ...lvs('a', 0, 11000) } }), obsNode('n2'));
    const alloc = new DrbdAllocator(reversed, {});
    expect(alloc.allocate('b', 0, ['n1', 'n2'])).toEqual({ code: 'DRBD_MINOR_CONFLICT', error: 'DRBD minor 0 recorded on n1 for b disk 0 is also held by a disk 0' });
    expect(alloc.allocate('a', 0, ['n1', 'n2'])).toEqual({ minors: new Map([['n1', 0], ['n2', 0]]), port: 11000 });
  });

  it('formats sync progress like gnt-instance add', () => {
    expect(describeSync({ percent: 3, speedKiBps: 512, etaSec: 5 })).toBe('3.0% done, 0.5 MiB/s, ETA 5s');
  });
});

describe('DRBD and fencing: a management-only partition is not a death', () => {
  const suspectInput = (): PlanInput => {
    const base = input([db()]);
    return { ...base, cluster: { ...base.cluster, failover: true }, nodes: base.nodes.map((n) => ({ ...n, fenceable: true })) };
  };
  const withN1Unreachable = (n2Peer: NonNullable<ObservedDrbdDevice['peer']>) => {
    const c = converged({}, { drbd: { devices: { 0: dev({ minor: 0, peer: n2Peer }) } } });
    const n1 = { ...emptyObservedNode('n1', '2026-11-28T12:00:00Z'), reachable: false };
    return {
      nodes: new Map([['n1', n1], ['n2', c.nodes.get('n2')!]]),
      lastKnown: new Map([['n1', c.nodes.get('n1')!]]),
      liveness: new Map([['n1', { node: 'n1', condition: 'Unreachable' as const, since: '2026-11-28T11:59:00Z', missedProbes: 5, graceOver: true }]]),
    };
  };

  it('given the primary unreachable past its grace while its DRBD peer still reports it Connected, it is not fenced, with the reason', () => {
    const p = plan(suspectInput(), withN1Unreachable({ connection: 'Connected', role: 'Primary', disk: 'UpToDate' }));
    expect(p.fencing).toEqual([{ node: 'n1', fence: false, reason: expect.stringContaining('still seen on the replication network') }]);
    expect(p.fencing![0]!.reason).toContain('n2: resource0 of db1 disk 0');
    expect(verbs(p.actions)).toEqual([]);
  });

  it('given the same but the peer has lost the connection (WFConnection), the node is fenced', () => {
    const p = plan(suspectInput(), withN1Unreachable({ connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' }));
    expect(p.fencing).toEqual([{ node: 'n1', fence: true, reason: expect.stringContaining('unreachable past its grace') }]);
  });

  it('given a resync still running toward the unreachable node, it counts as connected', () => {
    const p = plan(suspectInput(), withN1Unreachable({ connection: 'SyncSource', role: 'Primary', disk: 'UpToDate' }));
    expect(p.fencing?.[0]?.fence).toBe(false);
  });

  // Fault campaign (failover worlds, seed 63 step 86): the state directory was lost (no last snapshot of the suspect) and
  // the instance was placed by the allocator (no pairing in the manifest); its peer still reported Connected.
  it('given a Connected device whose peer no observed node holds, with no snapshot of the suspect and no pairing, it is not fenced', () => {
    const o = withN1Unreachable({ connection: 'Connected', role: 'Primary', disk: 'UpToDate' });
    const base = suspectInput();
    // Pinned to n1 (so it wants n1 confirmed dead), its secondary left to the allocator: no pairing names n2.
    const p = plan({ ...base, instances: base.instances.map((i) => ({ ...i, primary: 'n1', secondary: undefined })) }, { ...o, lastKnown: new Map() });
    expect(p.fencing).toEqual([{ node: 'n1', fence: false, reason: expect.stringContaining('n2: resource0 of db1 disk 0 (its peer is on no observed node)') }]);
  });

  // Fault campaign (failover worlds, seed 40 step 16): a checkout cut short lost the only DRBD instance, so DRBD was not
  // read on the peer, and the suspect was fenced while its peer was still Connected to it. Unknown is not absent.
  it('given the peer\'s DRBD state not read (and no manifest pairing them), the node is not fenced: the peer cannot vouch', () => {
    const o = withN1Unreachable({ connection: 'Connected', role: 'Primary', disk: 'UpToDate' });
    const { drbd: _unread, ...n2 } = o.nodes.get('n2')!;
    const base = suspectInput();
    const p = plan({ ...base, instances: base.instances.map((i) => ({ ...i, primary: undefined, secondary: undefined })) }, { ...o, nodes: new Map([['n1', o.nodes.get('n1')!], ['n2', n2]]) });
    expect(p.fencing).toEqual([{ node: 'n1', fence: false, reason: expect.stringContaining('their DRBD state is unknown (n2: DRBD state not read (resource0 of db1 disk 0))') }]);
  });
});

describe('DRBD automatic failover: the secondary is promoted when the primary is gone', () => {
  const failoverInput = (over: Partial<PlanInstance> = {}, extra: Partial<PlanInput> = {}): PlanInput => {
    const base = input([db('db1', over)]);
    return { ...base, cluster: { ...base.cluster, failover: true }, nodes: base.nodes.map((n) => ({ ...n, fenceable: true })), ...extra };
  };
  const dead = { node: 'n1', condition: 'Dead' as const, since: '2026-11-28T12:00:10Z', missedProbes: 4, detected: '2026-11-28T12:00:00Z', fence: { at: '2026-11-28T12:00:09Z', verbs: ['power-off', 'power-status'], powered: false } };
  /** n1 (the primary, running db1) powered off and confirmed dead; n2's replica as given. */
  const n1Dead = (n2Dev: ObservedDrbdDevice) => {
    const c = converged();
    return {
      nodes: new Map([['n1', { ...emptyObservedNode('n1', '2026-11-28T12:00:10Z'), reachable: false, error: 'ssh: connect timed out' }], ['n2', { ...c.nodes.get('n2')!, drbd: { devices: { 0: n2Dev } } }]]),
      lastKnown: new Map([['n1', c.nodes.get('n1')!]]),
      liveness: new Map([['n1', dead]]),
    };
  };
  const lost = { connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' } as const;

  it('given the primary Dead and the secondary UpToDate, it promotes the secondary without waiting for its peer, then starts the instance there', () => {
    const p = plan(failoverInput(), n1Dead(dev({ minor: 0, peer: lost })));
    expect(verbs(p.actions)).toEqual(['drbd.primary@n2', 'instance.start@n2']);
    const promote = p.actions[0]!;
    expect(promote).toMatchObject({ verb: 'drbd.primary', resource: 'resource0', minor: 0, failover: { from: 'n1', force: false } });
    expect(promote.reason).toContain('promote the UpToDate replica resource0 on n2');
    expect(p.failovers).toEqual([{ instance: 'db1', from: 'n1', to: 'n2', detected: '2026-11-28T12:00:00Z', fenced: '2026-11-28T12:00:09Z' }]);
    const start = p.actions[1]!;
    expect(start.verb === 'instance.start' && start.launch.disks).toEqual([{ path: '/dev/drbd0', format: 'raw', bus: 'virtio' }]);
    expect(p.waves.findIndex((w) => w.includes(promote))).toBeLessThan(p.waves.findIndex((w) => w.includes(start)));
    expect(p.refused).toEqual([]);
  });

  it('given the instance declared stopped, it promotes the secondary and starts nothing', () => {
    const p = plan(failoverInput({ runtime: { ...runtime, powerState: 'stopped' } }), n1Dead(dev({ minor: 0, peer: lost })));
    expect(verbs(p.actions)).toEqual(['drbd.primary@n2']);
    expect(p.failovers?.[0]).toMatchObject({ instance: 'db1', from: 'n1', to: 'n2' });
  });

  it('given the secondary without room for the instance (N+1 at promotion), mode refuse refuses the failover with the numbers and promotes nothing; mode warn fails over with a warning; off says nothing', () => {
    const small = (mode?: 'refuse' | 'warn' | 'off') => {
      const base = failoverInput();
      return { ...base, cluster: { ...base.cluster, ...(mode ? { nPlusOne: mode } : {}) }, nodes: base.nodes.map((n) => (n.name === 'n2' ? { ...n, memoryMiB: 100 } : n)) };
    };
    const refused = plan(small('refuse'), n1Dead(dev({ minor: 0, peer: lost })));
    expect(refused.actions).toEqual([]);
    expect(refused.refused).toEqual([expect.objectContaining({ code: 'N_PLUS_ONE', message: 'failing over to n2 (DRBD promotion) breaks N+1: the instance needs 128 MiB, n2 has 100 MiB free (28 MiB short); Cluster spec.nPlusOne.mode is refuse: db1 is not promoted or started there (free memory on n2, or set the mode to warn)' })]);
    expect(refused.failovers).toEqual([expect.objectContaining({ instance: 'db1', from: 'n1', lost: expect.stringContaining('28 MiB short') })]);
    const warned = plan(small(), n1Dead(dev({ minor: 0, peer: lost })));
    expect(verbs(warned.actions)).toEqual(['drbd.primary@n2', 'instance.start@n2']);
    expect(warned.entries.find((e) => e.subject === 'Instance/db1')?.notes).toContain('warning: failing over to n2 (DRBD promotion) breaks N+1: the instance needs 128 MiB, n2 has 100 MiB free (28 MiB short) (Cluster spec.nPlusOne.mode: warn)');
    const off = plan(small('off'), n1Dead(dev({ minor: 0, peer: lost })));
    expect(off.entries.find((e) => e.subject === 'Instance/db1')?.notes.join('\n')).not.toContain('N+1');
  });

  it('given an Outdated replica on the secondary, it refuses the failover with the reason and promotes nothing', () => {
    const p = plan(failoverInput(), n1Dead(dev({ minor: 0, disk: 'Outdated', peer: lost })));
    expect(verbs(p.actions)).toEqual([]);
    expect(p.refused).toEqual([expect.objectContaining({ subject: 'Instance/db1', code: 'DRBD_FAILOVER_DEGRADED' })]);
    expect(p.refused[0]!.message).toContain('resource0 on n2 is Outdated, not UpToDate');
    expect(p.refused[0]!.message).toContain('allowDegradedFailover');
    expect(p.failovers).toEqual([expect.objectContaining({ instance: 'db1', from: 'n1', lost: expect.stringContaining('Outdated') })]);
    expect(p.failovers![0]!.to).toBeUndefined();
  });

  it('given an Outdated replica and allowDegradedFailover, it force-promotes it, saying the data-loss risk, and starts the instance', () => {
    const p = plan(failoverInput({ allowDegradedFailover: true }), n1Dead(dev({ minor: 0, disk: 'Outdated', peer: lost })));
    expect(verbs(p.actions)).toEqual(['drbd.primary@n2', 'instance.start@n2']);
    expect(p.actions[0]).toMatchObject({ failover: { from: 'n1', force: true } });
    expect(p.actions[0]!.reason).toContain('DATA LOSS');
  });

  it('given a Diskless secondary, even allowDegradedFailover does not promote it (it holds no data)', () => {
    const p = plan(failoverInput({ allowDegradedFailover: true }), n1Dead(dev({ minor: 0, disk: 'Diskless', peer: lost })));
    expect(verbs(p.actions)).toEqual([]);
    expect(p.refused.map((r) => r.code)).toEqual(['DRBD_FAILOVER_DEGRADED']);
    expect(p.refused[0]!.message).toContain('holds no data to promote');
  });

  it('given the primary declared offline while the secondary still sees it Connected, it holds: nothing is promoted or started', () => {
    const base = failoverInput();
    const inp = { ...base, nodes: base.nodes.map((n) => (n.name === 'n1' ? { ...n, role: 'offline' as const } : n)) };
    const obs = n1Dead(dev({ minor: 0, peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } }));
    const p = plan(inp, { ...obs, liveness: new Map([['n1', { node: 'n1', condition: 'Offline' as const, since: '2026-11-28T12:00:00Z', missedProbes: 0 }]]) });
    expect(verbs(p.actions)).toEqual([]);
    expect(p.refused).toEqual([expect.objectContaining({ code: 'DRBD_FAILOVER_HELD', message: expect.stringContaining('still sees its peer Connected') })]);
  });

  it('given the failover wanted by nobody, the gone primary\'s DRBD instance waits for it', () => {
    const base = failoverInput();
    const p = plan({ ...base, cluster: { ...base.cluster, failover: false } }, n1Dead(dev({ minor: 0, peer: lost })));
    expect(verbs(p.actions)).toEqual([]);
    expect(p.failovers).toBeUndefined();
  });

  it('given the secondary (not the primary) Dead, nothing is promoted: the primary keeps running and the instance waits for its replica', () => {
    const c = converged();
    const obs = {
      nodes: new Map([['n1', c.nodes.get('n1')!], ['n2', { ...emptyObservedNode('n2', '2026-11-28T12:00:10Z'), reachable: false }]]),
      lastKnown: new Map([['n2', c.nodes.get('n2')!]]),
      liveness: new Map([['n2', { ...dead, node: 'n2' }]]),
    };
    const p = plan(failoverInput(), obs);
    expect(p.actions.filter((a) => a.verb === 'drbd.primary' || a.verb === 'instance.start' || a.verb === 'instance.stop')).toEqual([]);
    expect(p.failovers).toBeUndefined();
  });

  const record = { instance: 'db1', from: 'n1', to: 'n2', detected: '2026-11-28T12:00:00Z', fenced: '2026-11-28T12:00:09Z', started: '2026-11-28T12:00:20Z' };
  /** After the failover: n2 Primary running db1 (WFConnection); n1 as given. */
  const afterFailover = (n1: ObservedNode) => cluster(
    n1,
    obsNode('n2', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: lost }) } }, instances: { db1: running('db1') } }),
  );

  it('given the old primary back after a failover (rebooted: no DRBD device, no process), it rejoins as secondary: brought up and connected to n2, never promoted, the instance not started there', () => {
    const inp = failoverInput({}, { failovers: new Map([['db1', record]]) });
    const p = plan(inp, afterFailover(obsNode('n1', { lvs: lvs('db1', 0, 11000) })));
    expect(verbs(p.actions)).toEqual(['drbd.create-md@n1', 'drbd.up@n1']);
    expect(p.actions[1]).toMatchObject({ peer: { host: '198.18.1.2', port: 11000 }, peerNode: 'n2' });
    expect(p.refused).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toContain('failed over from n1');
  });

  it('given the old primary back with its stale copy still running and its device Primary but connected, the copy is stopped and the device demoted to Secondary', () => {
    const inp = failoverInput({}, { failovers: new Map([['db1', record]]) });
    const n1 = obsNode('n1', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } }) } }, instances: { db1: running('db1') } });
    const n2 = obsNode('n2', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } }) } }, instances: { db1: running('db1') } });
    const p = plan(inp, cluster(n1, n2));
    const v = verbs(p.actions);
    expect(v).toContain('instance.stop@n1');
    expect(v).toContain('drbd.secondary@n1');
    expect(v).not.toContain('instance.start@n1');
    expect(v).not.toContain('drbd.primary@n1');
    expect(v.indexOf('instance.stop@n1')).toBeLessThan(v.indexOf('drbd.secondary@n1'));
  });
});

describe('DRBD live migration in the planner (manifest swaps primary and secondary of a running instance)', () => {
  // n1 holds minor 0, n2 minor 1 (minors are per node): the VM runs on n1 on /dev/drbd0.
  const swapped = (over: Partial<PlanInstance> = {}) => db('db1', { primary: 'n2', secondary: 'n1', ...over });
  const pair = (d1: Partial<ObservedDrbdDevice> = {}, d2: Partial<ObservedDrbdDevice> = {}, vmOn: 'n1' | 'n2' | 'none' = 'n1') => cluster(
    obsNode('n1', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', ...d1 }) } }, instances: vmOn === 'n1' ? { db1: running('db1') } : {} }),
    obsNode('n2', { lvs: lvs('db1', 1, 11000), drbd: { devices: { 1: dev({ minor: 1, peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' }, ...d2 }) } }, instances: {} }),
  );

  it('given both sides Connected and UpToDate/UpToDate, it plans one instance.migrate through dual-primary, with each disk\'s two sides, the destination launch on the destination minor, and no separate role action', () => {
    const p = plan(input([swapped()]), pair());
    expect(p.refused).toEqual([]);
    expect(verbs(p.actions)).toEqual(['instance.migrate@n1']);
    const m = p.actions[0]!;
    if (m.verb !== 'instance.migrate') throw new Error('not a migration');
    expect(m).toMatchObject({ peer: 'n2', peerAddress: '198.18.1.2' });
    expect(m.drbd).toEqual([{
      index: 0,
      source: { resource: 'resource0', minor: 0, local: { host: '198.18.1.1', port: 11000 }, peer: { host: '198.18.1.2', port: 11000 } },
      target: { resource: 'resource1', minor: 1, local: { host: '198.18.1.2', port: 11000 }, peer: { host: '198.18.1.1', port: 11000 } },
    }]);
    expect(m.launch.disks.map((d) => d.path)).toEqual(['/dev/drbd1']);
    expect(m.record.launch.disks.map((d) => d.path)).toEqual(['/dev/drbd1']);
    // the plan shows every step, and what happens on a failure
    expect(m.reason).toMatch(/allow-two-primaries on n1 and n2, promote resource1 on n2, QEMU migrates .* demote resource0 on n1, clear allow-two-primaries.*failure.*n2 demoted.*stays on n1/);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.diffs).toContainEqual({ path: 'disks[0].drbd.primary', desired: 'n2', observed: 'n1' });
  });

  it('given an interrupted migration (both Primary, still Connected, VM on the source), it plans the migration again: its steps are ensures', () => {
    const p = plan(input([swapped()]), pair({ peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } }, { role: 'Primary' }));
    expect(p.refused).toEqual([]);
    expect(verbs(p.actions)).toEqual(['instance.migrate@n1']);
  });

  it('given a resync running toward the source (the destination is the SyncSource), it refuses the migration naming both sides\' states, switches no role and leaves the VM on the source', () => {
    const p = plan(input([swapped()]), pair(
      { disk: 'Inconsistent', peer: { connection: 'Connected', replication: 'SyncTarget', role: 'Secondary', disk: 'UpToDate' } },
      { peer: { connection: 'Connected', replication: 'SyncSource', role: 'Primary', disk: 'Inconsistent' } },
    ));
    expect(p.refused).toMatchObject([{ subject: 'Instance/db1', code: 'DRBD_MIGRATION_NOT_READY' }]);
    expect(p.refused[0]!.message).toMatch(/live migration n1 -> n2 needs both sides Connected and UpToDate\/UpToDate; this pass sees n1: Primary, Inconsistent, SyncTarget \(peer UpToDate\); n2: Secondary, UpToDate, SyncSource \(peer Inconsistent\)/);
    expect(p.actions).toEqual([]);
  });

  it.each([
    ['Outdated', { disk: 'Outdated', peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } }],
    ['StandAlone', { peer: { connection: 'StandAlone' } }],
    ['down', undefined],
  ] as const)('given the destination %s (never home to the VM: no copy of it there), the move waits for the destination to be healthy: refused DRBD_MIGRATION_NOT_READY, no role switched, the VM stays on n1, and it is not taken for a lost failover (no record)', (_what, d2) => {
    const obs = pair({}, d2 as Partial<ObservedDrbdDevice> | undefined);
    if (d2 === undefined) obs.nodes.set('n2', { ...obs.nodes.get('n2')!, drbd: { devices: {} } });
    const p = plan(input([swapped()]), obs);
    expect(verbs(p.actions).filter((v) => /instance\.|drbd\.(primary|secondary)/.test(v))).toEqual([]);
    expect(p.refused).toMatchObject([{ subject: 'Instance/db1', code: 'DRBD_MIGRATION_NOT_READY' }]);
    expect(p.refused[0]!.message).toMatch(/The VM stays on n1; it migrates once the disk is healthy/);
    expect(p.recoveredFailovers).toBeUndefined();
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).not.toMatch(/kept on n1/);
  });

  it.each([
    ['Outdated', { disk: 'Outdated', peer: { connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' } }],
    ['StandAlone', { peer: { connection: 'StandAlone' } }],
    ['down', undefined],
  ] as const)('given the destination %s and holding the stopped copy a failover leaves (the VM ran there, its node died), it is a failover the state directory lost: kept on n1, the record rebuilt', (_what, d2) => {
    const obs = pair({}, d2 as Partial<ObservedDrbdDevice> | undefined);
    const n2 = obs.nodes.get('n2')!;
    obs.nodes.set('n2', { ...n2, ...(d2 === undefined ? { drbd: { devices: {} } } : {}), instances: { db1: { ...running('db1'), runState: 'stopped' } } });
    const p = plan(input([swapped()]), obs);
    expect(verbs(p.actions).filter((v) => /instance\.(start|migrate)|drbd\.(primary|secondary)/.test(v))).toEqual([]);
    expect(p.recoveredFailovers).toMatchObject([{ instance: 'db1', from: 'n2', to: 'n1' }]);
    expect(p.recoveredFailovers![0]!.recovered).toMatch(/a stopped copy of it left on n2/);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/kept on n1/);
  });

  it('given the instance stopped, it swaps the roles as before: demote n1, then promote n2 (no migration); the stopped VM\'s record stays on n1 until it starts on n2 (removing it would read as never installed)', () => {
    const obs = pair({}, {}, 'none');
    obs.nodes.set('n1', { ...obs.nodes.get('n1')!, instances: { db1: { ...running('db1'), runState: 'stopped', adminStopped: true } } });
    const p = plan(input([swapped({ runtime: { ...runtime, powerState: 'stopped' } })]), obs);
    expect(p.refused).toEqual([]);
    expect(verbs(p.actions)).toEqual(['drbd.secondary@n1', 'drbd.primary@n2']);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')?.notes).toContain('its instance record stays on n1 (stopped) until db1 starts on n2');
  });

  it('given migration mode non-live, it stops the VM on n1, swaps the roles, and starts it on n2 once stopped', () => {
    const p = plan(input([swapped({ runtime: { ...runtime, migration: { ...runtime.migration, mode: 'non-live' } } })]), pair());
    expect(p.refused).toEqual([]);
    expect(verbs(p.actions)).toEqual(['instance.stop@n1', 'drbd.secondary@n1', 'drbd.primary@n2', 'instance.start@n2']);
    const start = p.actions.find((a) => a.verb === 'instance.start')!;
    expect(start.after).toEqual(['instance.stop@n1 Instance/db1', 'drbd.primary@n2 Instance/db1']);
    expect(start.verb === 'instance.start' && start.launch.disks.map((d) => d.path)).toEqual(['/dev/drbd1']);
  });

  // Campaign (failover worlds) seed 9: the destination's replica not connected to the VM's node (both WFConnection), the
  // non-live move stopped the VM and demoted its side every pass, and the promotion failed DRBD_PEER_MISSING.
  const nonLive = () => swapped({ runtime: { ...runtime, migration: { ...runtime.migration, mode: 'non-live' } } });
  it.each([
    ['not connected to n1 (WFConnection, fresh metadata)', { disk: 'Inconsistent', peer: { connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' } }, { peer: { connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' } }],
    ['resyncing from n1', { disk: 'Inconsistent', peer: { connection: 'Connected', replication: 'SyncTarget', role: 'Primary', disk: 'UpToDate' } }, { peer: { connection: 'Connected', replication: 'SyncSource', role: 'Secondary', disk: 'Inconsistent' } }],
    ['down', undefined, { peer: { connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' } }],
  ] as const)('given migration mode non-live and the destination %s, it refuses the move DRBD_MOVE_NOT_READY before anything is stopped: no stop, no role switched, the VM keeps running on n1', (_what, d2, d1) => {
    const obs = pair(d1 as Partial<ObservedDrbdDevice>, d2 as Partial<ObservedDrbdDevice> | undefined);
    if (d2 === undefined) obs.nodes.set('n2', { ...obs.nodes.get('n2')!, drbd: { devices: {} } });
    const p = plan(input([nonLive()]), obs);
    expect(verbs(p.actions).filter((v) => /instance\.|drbd\.(primary|secondary)/.test(v))).toEqual([]);
    expect(p.refused).toMatchObject([{ subject: 'Instance/db1', code: 'DRBD_MOVE_NOT_READY' }]);
    expect(p.refused[0]!.message).toMatch(/the move n1 -> n2 .* needs both sides Connected and UpToDate\/UpToDate.*this pass sees n1: Primary.*Nothing is stopped: db1 keeps running on n1/);
    // a repair of the destination still runs (here: the device brought up again)
    if (d2 === undefined) expect(verbs(p.actions)).toEqual(['drbd.create-md@n2', 'drbd.up@n2']);
  });
  // Issue 10 (hadrbd item 3): what does not depend on the held move goes ahead.
  it('given the move held (non-live, the pair not connected) and the disk grown, the LVs grow on both nodes and the device resize is planned; the VM is neither stopped nor started', () => {
    const w = { connection: 'WFConnection', role: 'Unknown' as const, disk: 'DUnknown' };
    const obs = pair({ peer: w }, { peer: w });
    for (const n of obs.nodes.values()) obs.nodes.set(n.name, { ...n, vgs: { vg0: { name: 'vg0', sizeMiB: 100_000, freeMiB: 50_000, pvs: ['/dev/sdb'] } } });
    const p = plan(input([swapped({ runtime: { ...runtime, migration: { ...runtime.migration, mode: 'non-live' } }, disks: [drbdDisk({ sizeMiB: 2048 })] })]), obs);
    expect(p.refused).toMatchObject([{ code: 'DRBD_MOVE_NOT_READY' }]);
    expect(verbs(p.actions)).toEqual(['lv.extend@n2', 'lv.extend@n1', 'drbd.resize@n2']);
  });
  it('given a stopped instance whose manifest swaps its nodes while the pair is not connected, it refuses the swap DRBD_MOVE_NOT_READY before any step, and the stop the manifest asks for still runs', () => {
    const w = { connection: 'WFConnection', role: 'Unknown' as const, disk: 'DUnknown' };
    const p = plan(input([swapped({ runtime: { ...runtime, powerState: 'stopped' } })]), pair({ peer: w }, { peer: w }));
    expect(verbs(p.actions)).toEqual(['instance.stop@n1']);
    expect(p.refused).toMatchObject([{ subject: 'Instance/db1', code: 'DRBD_MOVE_NOT_READY' }]);
    expect(p.refused[0]!.message).toMatch(/the role swap n1 -> n2 \(demote n1, promote n2\).*Nothing is demoted: n1 stays Primary/);
    // healthy: the swap runs in one pass, the demote after the stop
    expect(verbs(plan(input([swapped({ runtime: { ...runtime, powerState: 'stopped' } })]), pair()).actions)).toEqual(['instance.stop@n1', 'drbd.secondary@n1', 'drbd.primary@n2']);
  });
  it('given an instance to run that runs nowhere, whose manifest swaps its nodes while the pair is not connected, nothing starts on the new primary: the start waits with the swap', () => {
    const w = { connection: 'WFConnection', role: 'Unknown' as const, disk: 'DUnknown' };
    const p = plan(input([swapped()]), pair({ peer: w }, { peer: w }, 'none'));
    expect(verbs(p.actions)).toEqual([]);
    expect(p.refused).toMatchObject([{ code: 'DRBD_MOVE_NOT_READY' }]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/instance\.install, instance\.start on n2 wait for the role swap \(DRBD_MOVE_NOT_READY\)/);
  });
  it('given the manifest moving it to a node outside the pair, it is still refused (its disks are not there)', () => {
    const p = plan(input([db('db1', { primary: 'n3', secondary: 'n1' })], ['n1', 'n2', 'n3']), cluster(...pair().nodes.values(), obsNode('n3')));
    expect(p.actions.filter((a) => a.verb.startsWith('instance.'))).toEqual([]);
    expect(p.refused.length).toBeGreaterThan(0);
    expect(verbs(p.actions).filter((v) => /drbd\.(primary|secondary)/.test(v))).toEqual([]);
  });
});

// Issue 10: each device's link (`drbdsetup show`'s _this_host / _remote_host, 8.4) against the pair's.
describe('a DRBD device linked to another peer than its pair\'s', () => {
  const link = (local: string, remote: string) => ({ local: { host: local, port: 11000 }, remote: { host: remote, port: 11000 } });
  const waiting = { connection: 'WFConnection', role: 'Unknown' as const, disk: 'DUnknown' };
  /** n1 Primary running db1, its link to `remote` (WFConnection); n2 Secondary linked to n1, waiting for it. */
  const world = (remote: string, extra: ObservedNode[] = [], peer1: ObservedDrbdDevice['peer'] = waiting) => cluster(
    obsNode('n1', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, role: 'Primary', peer: peer1, link: link('198.18.1.1', remote) }) } }, instances: { db1: running('db1') } }),
    obsNode('n2', { lvs: lvs('db1', 0, 11000), drbd: { devices: { 0: dev({ minor: 0, peer: waiting, link: link('198.18.1.2', '198.18.1.1') }) } } }),
    ...extra,
  );
  const three = (n3role: PlanNode['role'] = 'regular') => { const i = input([db()], ['n1', 'n2', 'n3']); return { ...i, nodes: i.nodes.map((n) => (n.name === 'n3' ? { ...n, role: n3role } : n)) }; };

  it('given both sides linked to each other (the real show read), or the link not read at all, it plans nothing: unknown is not wrong', () => {
    expect(plan(input([db()]), world('198.18.1.2', [], { connection: 'Connected', role: 'Secondary', disk: 'UpToDate' })).actions.filter((a) => a.verb.startsWith('drbd.'))).toEqual([]);
    const unread = converged();
    expect(plan(input([db()]), unread).actions).toEqual([]);
  });

  it('given the primary waiting for a node that is offline (a replica the state directory lost track of), it shows the link as drift and re-links it: disconnect, then drbd.up to n2; the running VM is not touched', () => {
    const p = plan(three('offline'), world('198.18.1.3'));
    expect(verbs(p.actions)).toEqual(['drbd.disconnect@n1', 'drbd.up@n1']);
    const [disconnect, up] = p.actions;
    expect(disconnect).toMatchObject({ resource: 'resource0', minor: 0, local: { host: '198.18.1.1', port: 11000 }, keep: { host: '198.18.1.2', port: 11000 }, from: ['n3'] });
    expect(disconnect!.reason).toMatch(/linked 198\.18\.1\.1:11000 -> 198\.18\.1\.3:11000 \(n3\) and waits there \(WFConnection; n3 is offline\).*no replication is cut/);
    expect(up).toMatchObject({ peer: { host: '198.18.1.2', port: 11000 }, peerNode: 'n2', after: ['drbd.disconnect@n1 Instance/db1'] });
    const entry = p.entries.find((e) => e.subject === 'Instance/db1')!;
    expect(entry.diffs).toContainEqual({ path: 'disks[0].drbd.n1.link', desired: '198.18.1.1:11000 -> 198.18.1.2:11000 (n2)', observed: '198.18.1.1:11000 -> 198.18.1.3:11000 (n3)' });
    expect(p.refused).toEqual([]);
  });

  it('given the primary waiting for an observed node that holds nothing of the instance, it re-links it too', () => {
    expect(verbs(plan(three(), world('198.18.1.3', [obsNode('n3')])).actions)).toEqual(['drbd.disconnect@n1', 'drbd.up@n1']);
  });

  it('given the primary waiting for a node not observed this pass (unknown), it refuses DRBD_LINKED_ELSEWHERE and keeps the link', () => {
    const p = plan(three(), world('198.18.1.3', [emptyObservedNode('n3', '2026-11-28T12:00:00Z', 'ssh: timeout')]));
    expect(p.actions.filter((a) => a.verb === 'drbd.disconnect' || (a.verb === 'drbd.up' && a.node === 'n1'))).toEqual([]);
    expect(p.refused).toMatchObject([{ subject: 'Instance/db1', code: 'DRBD_LINKED_ELSEWHERE' }]);
    expect(p.refused[0]!.message).toMatch(/n3 is not observed this pass: its replica's state is unknown \(unknown is not absent\)/);
  });

  it('given a link to an address no Node declares, it refuses DRBD_LINKED_ELSEWHERE with the disconnect to run by hand', () => {
    const p = plan(input([db()]), world('198.18.1.9'));
    expect(p.actions.filter((a) => a.verb === 'drbd.disconnect')).toEqual([]);
    expect(p.refused[0]!.message).toMatch(/no Node declares 198\.18\.1\.9.*drbdsetup disconnect 198\.18\.1\.1:11000 198\.18\.1\.9:11000/);
  });

  it('given the primary Connected over a link naming another node, it cuts nothing and says so', () => {
    const p = plan(three('offline'), world('198.18.1.3', [], { connection: 'Connected', role: 'Secondary', disk: 'UpToDate' }));
    expect(p.actions.filter((a) => a.verb === 'drbd.disconnect')).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/Gantry does not cut a live replication link on its own/);
  });

  it('given the primary linked to another observed node that holds the instance\'s LVs, it leaves that to the secondary replacement: one disconnect, the replacement\'s (here named by the manifest\'s secondary n2)', () => {
    const p = plan(three(), world('198.18.1.3', [obsNode('n3', { lvs: lvs('db1', 0, 11000) })]));
    const disconnects = p.actions.filter((a) => a.verb === 'drbd.disconnect');
    expect(disconnects.map((a) => a.reason)).toEqual([expect.stringMatching(/^secondary replacement: disconnect resource0 on n1 from its old secondary n3/)]);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.diffs.map((d) => d.path)).not.toContain('disks[0].drbd.n1.link');
    expect(p.refused).toEqual([]);
  });
});
