import { describe, expect, it } from 'vitest';
import { planDeleteInstanceDisks } from './disks.js';
import { plan } from './plan.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanCluster, PlanInstance, PlanNode } from '../core/plan.js';
import { instanceLvTag, MANAGED_LV_TAG } from './naming.js';

const cluster: PlanCluster = { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] };
const node = (name: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const nodes = new Map([['n1', node('n1')]]);
const lv = (name: string, owner: string) => ({ vg: 'vg0', name, sizeMiB: 1024, tags: [MANAGED_LV_TAG, instanceLvTag(owner)] });
const file = (p: string) => ({ path: p, format: 'raw', virtualSizeMiB: 1024 });
const gone = (name: string): PlanInstance => ({
  name, state: 'absent', deleteDisks: true, diskTemplate: 'plain', memoryMiB: 512, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' }], tags: [],
});

/** n1 holds disks of two instances whose names share a prefix: web and web.disk1. */
function twoInstances(): ObservedCluster {
  const n1: ObservedNode = {
    ...emptyObservedNode('n1', 't'),
    lvs: {
      'vg0/web.disk0': lv('web.disk0', 'web'),
      'vg0/web.disk1.disk0': lv('web.disk1.disk0', 'web.disk1'),
      // carries web's tag by mistake (e.g. a hand-made copy) but is not named for web
      'vg0/web.disk1.disk1': lv('web.disk1.disk1', 'web'),
    },
    files: {
      '/srv/n1/web.disk1.img': file('/srv/n1/web.disk1.img'),
      '/srv/n1/web.disk1.disk0.img': file('/srv/n1/web.disk1.disk0.img'),
      '/srv/n1/web.disk2.img.bak': file('/srv/n1/web.disk2.img.bak'),
      '/home/alice/web.disk0.img': file('/home/alice/web.disk0.img'),
    },
  };
  return { nodes: new Map([['n1', n1]]) };
}

describe('planDeleteInstanceDisks', () => {
  it('given instances web and web.disk1, when web is deleted it removes only web\'s LV and file, never web.disk1\'s', () => {
    const d = planDeleteInstanceDisks(gone('web'), nodes, cluster, twoInstances());
    const removed = d.actions.map((a) => (a.verb === 'lv.remove' ? `lv ${a.vg}/${a.name}` : a.verb === 'file.remove' ? `file ${a.path}` : a.verb));
    expect(removed.sort()).toEqual(['file /srv/n1/web.disk1.img', 'lv vg0/web.disk0']);
  });

  it('given instance web.disk1 deleted, it removes its own disks only', () => {
    const d = planDeleteInstanceDisks(gone('web.disk1'), nodes, cluster, twoInstances());
    const removed = d.actions.map((a) => (a.verb === 'lv.remove' ? `lv ${a.vg}/${a.name}` : a.verb === 'file.remove' ? `file ${a.path}` : a.verb));
    expect(removed.sort()).toEqual(['file /srv/n1/web.disk1.disk0.img', 'lv vg0/web.disk1.disk0']);
  });

  it('given an LV named for the instance but without Gantry\'s tags, it is left alone', () => {
    const obs: ObservedCluster = { nodes: new Map([['n1', { ...emptyObservedNode('n1', 't'), lvs: { 'vg0/web.disk0': { vg: 'vg0', name: 'web.disk0', sizeMiB: 1, tags: [] } } }]]) };
    expect(planDeleteInstanceDisks(gone('web'), nodes, cluster, obs).actions).toEqual([]);
  });

  it('given the whole plan with web absent and deleteDisks, it plans no removal of web.disk1\'s data', () => {
    const p = plan({ cluster, nodes: [node('n1')], networks: [], instances: [gone('web'), { ...gone('web.disk1'), state: 'present', deleteDisks: false, primary: 'n1' }] }, twoInstances());
    const removals = p.actions.filter((a) => a.verb === 'lv.remove' || a.verb === 'file.remove');
    expect(removals.every((a) => a.subject === 'Instance/web')).toBe(true);
    expect(removals.map((a) => (a.verb === 'lv.remove' ? a.name : a.verb === 'file.remove' ? a.path : ''))).not.toContain('web.disk1.disk0');
    expect(removals.map((a) => (a.verb === 'file.remove' ? a.path : ''))).not.toContain('/srv/n1/web.disk1.disk0.img');
  });
});

describe('planDiskConversions (through plan)', () => {
  const present = (over: Partial<PlanInstance> = {}): PlanInstance => ({ ...gone('web'), state: 'present', deleteDisks: false, primary: 'n1', ...over });
  const launchOn = (diskPath: string) => ({ name: 'web', uuid: 'u', memoryMiB: 512, vcpus: 1, accel: 'tcg', bootOrder: ['disk'], disks: [{ path: diskPath, format: 'raw', bus: 'virtio' }], nics: [], vnc: false, vncBindAddress: '127.0.0.1' });
  const running = (diskPath: string) => ({ web: { name: 'web', pid: 42, runState: 'running' as const, guestShutdown: false, runtime: {}, meta: { version: 1 as const, instance: 'web', uuid: 'u', os: 'none', osGeneration: 1, restartGeneration: 0, nics: [], launch: launchOn(diskPath) } } });
  const withRuntime = (i: PlanInstance): PlanInstance => ({
    ...i, runtime: {
      uuid: 'u', os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0, accel: 'tcg', bootOrder: ['disk'], diskBus: 'virtio',
      vnc: false, vncBindAddress: '127.0.0.1', nics: [], migration: { mode: 'live', bandwidthMiBps: 32, downtimeMs: 30 }, restartErrorDown: true, stopTimeoutS: 30,
    },
  });
  const obs = (extra: Partial<ObservedNode>): ObservedCluster => ({ nodes: new Map([['n1', { ...emptyObservedNode('n1', 't'), ...extra }]]) });
  const run = (i: PlanInstance, o: ObservedCluster) => plan({ cluster, nodes: [node('n1')], networks: [], instances: [i] }, o);

  it('given a running plain instance whose manifest now says file, it refuses DISK_CONVERSION_NEEDED and plans no new disk and no restart', () => {
    const i = withRuntime(present({ diskTemplate: 'file', disks: [{ index: 0, sizeMiB: 1024, template: 'file', vg: 'vg0', metaVg: 'vg0', state: 'present' }] }));
    const p = run(i, obs({ lvs: { 'vg0/web.disk0': lv('web.disk0', 'web') }, instances: running('/dev/vg0/web.disk0') }));
    expect(p.actions).toEqual([]);
    expect(p.refused).toMatchObject([{ subject: 'Instance/web', code: 'DISK_CONVERSION_NEEDED' }]);
    expect(p.refused[0]!.message).toMatch(/disk 0 exists as LV vg0\/web\.disk0 on n1.*file \/srv\/n1\/web\.disk0\.img on n1.*conversion is an explicit operation/);
  });

  it('given a plain disk whose VG changed, it refuses rather than create an empty LV in the new VG', () => {
    const i = present({ disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg1', metaVg: 'vg1', state: 'present' }] });
    const p = run(i, obs({ lvs: { 'vg0/web.disk0': lv('web.disk0', 'web') } }));
    expect(p.actions).toEqual([]);
    expect(p.refused.map((r) => r.code)).toEqual(['DISK_CONVERSION_NEEDED']);
  });

  it('given a file disk whose storage dir changed (the old dir is no longer observed), the instance record witnesses the old path', () => {
    const i = withRuntime(present({ diskTemplate: 'file', disks: [{ index: 0, sizeMiB: 1024, template: 'file', vg: 'vg0', metaVg: 'vg0', state: 'present' }] }));
    const p = run(i, obs({ instances: running('/srv/old-dir/web.disk0.img') }));
    expect(p.actions).toEqual([]);
    expect(p.refused[0]).toMatchObject({ code: 'DISK_CONVERSION_NEEDED' });
    expect(p.refused[0]!.message).toMatch(/\/srv\/old-dir\/web\.disk0\.img \(the path its instance record was started with\)/);
  });

  it('given the old and the new volume both exist (converted by hand), it refuses nothing', () => {
    const i = present({ disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg1', metaVg: 'vg1', state: 'present' }] });
    const p = run(i, obs({ lvs: { 'vg0/web.disk0': lv('web.disk0', 'web'), 'vg1/web.disk0': { ...lv('web.disk0', 'web'), vg: 'vg1' } } }));
    expect(p.refused).toEqual([]);
  });

  it('given a new disk added to a running instance, it creates it (no conversion)', () => {
    const i = withRuntime(present({ disks: [
      { index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' },
      { index: 1, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' },
    ] }));
    const p = run(i, obs({ lvs: { 'vg0/web.disk0': lv('web.disk0', 'web') }, instances: running('/dev/vg0/web.disk0') }));
    expect(p.refused).toEqual([]);
    expect(p.actions.map((a) => a.verb)).toContain('lv.create');
  });

  it('given a plain disk with stripes, it creates the LV with them, and given an existing LV striped otherwise, it notes it and plans nothing', () => {
    const striped = withRuntime(present({ disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present', stripes: 2 }] }));
    const fresh = run(striped, obs({}));
    expect(fresh.actions.find((a) => a.verb === 'lv.create')).toMatchObject({ name: 'web.disk0', stripes: 2 });
    const have = run(striped, obs({ lvs: { 'vg0/web.disk0': { ...lv('web.disk0', 'web'), stripes: 1 } }, instances: running('/dev/vg0/web.disk0') }));
    expect(have.actions.filter((a) => a.subject === 'Instance/web' && a.verb.startsWith('lv.'))).toEqual([]);
    expect(have.entries.find((e) => e.subject === 'Instance/web')?.notes).toContain('disk 0: vg0/web.disk0 on n1 has 1 stripe(s), diskParams.plain.stripes asks 2; stripes apply when an LV is created and this one is left as it is');
  });

  it('given a node with exclusive storage, a plain disk is created on empty PVs of its own (as many as its spindles, striped) and grown only on them', () => {
    const excl = (i: PlanInstance, o: ObservedCluster) => plan({ cluster, nodes: [{ ...node('n1'), exclusiveStorage: true }], networks: [], instances: [i] }, o);
    const i = withRuntime(present({ disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present', spindles: 2, stripes: 3 }] }));
    const fresh = excl(i, obs({}));
    // Ganeti stripes over every spindle: diskParams.plain.stripes does not apply there.
    expect(fresh.actions.find((a) => a.verb === 'lv.create')).toMatchObject({ name: 'web.disk0', spindles: 2, stripes: 2, reason: 'disk 0 data LV vg0/web.disk0 is missing on n1 (exclusive storage: on 2 empty physical volume(s) of its own)' });
    const grow = excl({ ...i, disks: [{ ...i.disks[0]!, sizeMiB: 2048 }] }, obs({ lvs: { 'vg0/web.disk0': { ...lv('web.disk0', 'web'), stripes: 2 } }, instances: running('/dev/vg0/web.disk0') }));
    expect(grow.actions.find((a) => a.verb === 'lv.extend')).toMatchObject({ name: 'web.disk0', sizeMiB: 2048, ownPvs: true });
    // The same disk on a node without exclusive storage: no spindles, its diskParams stripes.
    expect(run(i, obs({})).actions.find((a) => a.verb === 'lv.create')).not.toHaveProperty('spindles');
  });

  it('given an exclusive-storage LV that shares a PV with another instance\'s LV (or with a foreign LV), it reports it and plans nothing for it', () => {
    const excl = (i: PlanInstance, o: ObservedCluster) => plan({ cluster, nodes: [{ ...node('n1'), exclusiveStorage: true }], networks: [], instances: [i] }, o);
    const i = withRuntime(present({ disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present', spindles: 1 }] }));
    const p = excl(i, obs({
      lvs: {
        'vg0/web.disk0': { ...lv('web.disk0', 'web'), pvs: ['/dev/sdb'] },
        'vg0/db.disk0': { ...lv('db.disk0', 'db'), pvs: ['/dev/sdb', '/dev/sdc'] },
        'vg0/scratch': { vg: 'vg0', name: 'scratch', sizeMiB: 8, tags: [], pvs: ['/dev/sdb'] },
        'vg0/other': { ...lv('other.disk0', 'other'), name: 'other.disk0', pvs: ['/dev/sdd'] },
      },
      instances: running('/dev/vg0/web.disk0'),
    }));
    expect(p.actions.filter((a) => a.subject === 'Instance/web')).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/web')?.notes).toContain(
      'disk 0: vg0/web.disk0 on n1 shares physical volume /dev/sdb with instance db (vg0/db.disk0), vg0/scratch, no instance\'s; exclusive storage gives each instance PVs of its own: move one away (pvmove)');
    // Its own LVs sharing a PV (a DRBD disk's data and metadata) are no drift.
    const own = excl(i, obs({ lvs: { 'vg0/web.disk0': { ...lv('web.disk0', 'web'), pvs: ['/dev/sdb'] }, 'vg0/web.disk0_meta': { ...lv('web.disk0_meta', 'web'), pvs: ['/dev/sdb'] } }, instances: running('/dev/vg0/web.disk0') }));
    expect((own.entries.find((e) => e.subject === 'Instance/web')?.notes ?? []).filter((n) => n.includes('shares physical volume'))).toEqual([]);
  });

  it('given file and sharedfile disks in qcow2, it creates, grows and launches them as qcow2', () => {
    const i = withRuntime(present({ diskTemplate: 'file', disks: [
      { index: 0, sizeMiB: 2048, template: 'file', vg: 'vg0', metaVg: 'vg0', state: 'present', format: 'qcow2' },
      { index: 1, sizeMiB: 1024, template: 'sharedfile', vg: 'vg0', metaVg: 'vg0', state: 'present', format: 'qcow2' },
    ] }));
    const fresh = run(i, obs({}));
    expect(fresh.actions.filter((a) => a.verb === 'file.create').map((a) => a.verb === 'file.create' && [a.path, a.format])).toEqual([['/srv/n1/web.disk0.img', 'qcow2'], ['/srv/shared/web.disk1.img', 'qcow2']]);
    const have = { '/srv/n1/web.disk0.img': { ...file('/srv/n1/web.disk0.img'), format: 'qcow2' }, '/srv/shared/web.disk1.img': { ...file('/srv/shared/web.disk1.img'), format: 'qcow2' } };
    const grown = run(i, obs({ files: have }));
    expect(grown.actions.find((a) => a.verb === 'file.grow')).toMatchObject({ path: '/srv/n1/web.disk0.img', sizeMiB: 2048, format: 'qcow2' });
    const start = fresh.actions.find((a) => a.verb === 'instance.start' || a.verb === 'instance.install');
    expect(start && 'launch' in start && start.launch.disks.map((d) => d.format)).toEqual(['qcow2', 'qcow2']);
  });

  it('given a disk image whose format differs from the manifest, it refuses DISK_FORMAT_MISMATCH and never converts it', () => {
    const i = withRuntime(present({ diskTemplate: 'file', disks: [{ index: 0, sizeMiB: 1024, template: 'file', vg: 'vg0', metaVg: 'vg0', state: 'present', format: 'qcow2' }] }));
    const p = run(i, obs({ files: { '/srv/n1/web.disk0.img': file('/srv/n1/web.disk0.img') }, instances: running('/srv/n1/web.disk0.img') }));
    expect(p.refused.map((r) => r.code)).toContain('DISK_FORMAT_MISMATCH');
    expect(p.actions.filter((a) => a.verb.startsWith('file.'))).toEqual([]);
  });

  it('given qcow2 disks and an OS installed by scripts, it refuses QCOW2_NEEDS_IMAGE_OS before any disk is made', () => {
    const base = withRuntime(present({ diskTemplate: 'file', disks: [{ index: 0, sizeMiB: 1024, template: 'file', vg: 'vg0', metaVg: 'vg0', state: 'present', format: 'qcow2' }] }));
    const scripted = { ...base, runtime: { ...base.runtime!, os: { name: 'debootstrap+default', params: {}, generation: 1 } } };
    const p = run(scripted, obs({}));
    expect(p.refused.map((r) => r.code)).toEqual(['QCOW2_NEEDS_IMAGE_OS']);
    expect(p.actions.filter((a) => a.subject === 'Instance/web')).toEqual([]);
  });

  it('given another instance web.disk1 with an LV, it is no witness for web\'s disk 1', () => {
    const i = present({ disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' }, { index: 1, sizeMiB: 1024, template: 'plain', vg: 'vg1', metaVg: 'vg1', state: 'present' }] });
    const p = run(i, obs({ lvs: { 'vg0/web.disk0': lv('web.disk0', 'web'), 'vg0/web.disk1.disk0': lv('web.disk1.disk0', 'web.disk1') } }));
    expect(p.refused).toEqual([]);
  });
});
