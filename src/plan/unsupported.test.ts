import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { emptyObservedNode } from '../core/observed.js';
import type { PlanInput, PlanInstance, PlanInstanceRuntime, PlanNic, PlanNode } from '../core/plan.js';

const node = (name: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const nic = (mode: PlanNic['mode'], index = 0): PlanNic => ({ index, network: mode === 'routed' ? 'dmz' : 'lan', mode, link: mode === 'routed' ? 'dmz' : 'br0', trunks: [], ip: 'none', mac: 'auto', model: 'virtio' });
const runtime = (nics: PlanNic[]): PlanInstanceRuntime => ({
  uuid: 'u', os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0, accel: 'tcg',
  bootOrder: ['disk'], diskBus: 'virtio', vnc: false, vncBindAddress: '127.0.0.1', nics,
  migration: { mode: 'live', bandwidthMiBps: 32, downtimeMs: 30 }, restartErrorDown: true, stopTimeoutS: 30,
});
const inst = (name: string, over: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'file', primary: 'n1', memoryMiB: 128, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 64, template: 'file', vg: 'vg0', metaVg: 'vg0', state: 'present' }], tags: [],
  runtime: runtime([nic('bridged')]), ...over,
});
const input = (instances: PlanInstance[]): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  networks: [], nodes: [node('n1'), node('n2')], instances,
});
const observed = { nodes: new Map([['n1', emptyObservedNode('n1', 't')], ['n2', emptyObservedNode('n2', 't')]]) };

describe('refusals of what this release cannot run', () => {
  it('given a drbd disk marked absent, it does not refuse the instance', () => {
    const i = inst('web1', { disks: [
      { index: 0, sizeMiB: 64, template: 'file', vg: 'vg0', metaVg: 'vg0', state: 'present' },
      { index: 1, sizeMiB: 64, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'absent' },
    ] });
    const p = plan(input([i]), observed);
    expect(p.refused).toEqual([]);
    expect(p.actions.map((a) => a.verb)).toContain('file.create');
  });

  it('given a bridged-only file instance, it plans its disk, install and start', () => {
    const p = plan(input([inst('web1')]), observed);
    expect(p.refused).toEqual([]);
    expect(p.actions.map((a) => a.verb)).toEqual(['file.create', 'instance.install', 'instance.start']);
  });

  it('given a drbd instance marked absent with deleteDisks, it still deletes its LVs (deleting is not refused)', () => {
    const lvs = { 'vg0/db1.disk0': { vg: 'vg0', name: 'db1.disk0', sizeMiB: 64, tags: ['gantry', 'gantry-inst=db1'] } };
    const p = plan(input([inst('db1', { state: 'absent', deleteDisks: true, disks: [{ index: 0, sizeMiB: 64, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'present' }] })]),
      { nodes: new Map([['n1', { ...emptyObservedNode('n1', 't'), lvs }], ['n2', emptyObservedNode('n2', 't')]]) });
    expect(p.refused).toEqual([]);
    expect(p.actions).toMatchObject([{ verb: 'lv.remove', name: 'db1.disk0' }]);
  });
});
