import { describe, expect, it } from 'vitest';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import { plan } from './plan.js';
import { planRename } from './rename.js';

const AT = '2026-11-29T12:00:00.000Z';
const node = (name: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: '/var/lib/gantry/instances', fileStorageDir: '/srv/gantry/file', address: '198.18.0.1',
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const inst = (over: Partial<PlanInstance> = {}): PlanInstance => ({
  name: 'web2', renamedFrom: 'web1', state: 'present', deleteDisks: false, diskTemplate: 'plain', primary: 'n1', memoryMiB: 128, vcpus: 1, tags: [],
  disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' }], ...over,
});
const input = (i: PlanInstance, removeOrphans = false): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/gantry/shared', removeOrphans, exclusionTags: [] },
  networks: [], nodes: [node('n1'), node('n2')], instances: [i],
});
const lv = (name: string, tags: string[]) => ({ [`vg0/${name}`]: { vg: 'vg0', name, sizeMiB: 1024, tags } });
const obs = (n1: Partial<ObservedNode>, n2: ObservedNode = emptyObservedNode('n2', AT)): ObservedCluster => ({
  nodes: new Map([['n1', { ...emptyObservedNode('n1', AT), vgs: { vg0: { name: 'vg0', sizeMiB: 65536, freeMiB: 60000 } }, ...n1 } as ObservedNode], ['n2', n2]]),
});

describe('planRename', () => {
  it('given the old name\'s LV on n1, the whole plan of the instance is one instance.rename there, shown as a metadata.name diff; no lv.create for the new name', () => {
    const p = plan(input(inst()), obs({ lvs: lv('web1.disk0', ['gantry', 'gantry-inst=web1']) }));
    expect(p.actions).toEqual([expect.objectContaining({ verb: 'instance.rename', node: 'n1', subject: 'Instance/web2', from: 'web1', to: 'web2', lvs: [{ vg: 'vg0', from: 'web1.disk0', to: 'web2.disk0' }], files: [] })]);
    expect(p.entries.find((e) => e.subject === 'Instance/web2')).toMatchObject({ status: 'drift', diffs: [{ path: 'metadata.name', desired: 'web2', observed: 'web1' }] });
  });

  it('given nothing of the old name anywhere and every node observed, it plans the instance as any other (the rename is done)', () => {
    expect(planRename(inst(), obs({ lvs: lv('web2.disk0', ['gantry', 'gantry-inst=web2']) }), new Map([['n1', node('n1')]]), '/srv/gantry/shared', true)).toBeUndefined();
  });

  it('given nothing of the old name on the observed nodes, none of the new, and a node not observed, nothing is created: RENAME_UNOBSERVED', () => {
    const p = plan(input(inst()), obs({}, emptyObservedNode('n2', AT, 'ssh: connect ECONNREFUSED')));
    expect(p.actions.filter((a) => a.subject === 'Instance/web2')).toEqual([]);
    expect(p.refused.map((r) => r.code)).toContain('RENAME_UNOBSERVED');
  });

  it('given a DRBD data LV whose device is attached, the rename detaches that minor first; a Diskless one is not detached again', () => {
    const tags = ['gantry', 'gantry-inst=web1', 'gantry-drbd-minor=4', 'gantry-drbd-port=11004'];
    const lvs = { ...lv('web1.disk0', tags), ...lv('web1.disk0_meta', tags) };
    const attached = obs({ lvs, drbd: { devices: { 4: { minor: 4, resource: 'resource4', role: 'Secondary', disk: 'UpToDate' } } } });
    const nodes = new Map([['n1', node('n1')], ['n2', node('n2')]]);
    expect(planRename(inst({ diskTemplate: 'drbd' }), attached, nodes, '/srv/gantry/shared', false)!.actions[0]).toMatchObject({ drbdDetach: [4], lvs: [{ from: 'web1.disk0' }, { from: 'web1.disk0_meta', to: 'web2.disk0_meta' }] });
    const diskless = obs({ lvs, drbd: { devices: { 4: { minor: 4, resource: 'resource4', role: 'Secondary', disk: 'Diskless' } } } });
    expect(planRename(inst({ diskTemplate: 'drbd' }), diskless, nodes, '/srv/gantry/shared', false)!.actions[0]).not.toHaveProperty('drbdDetach');
  });

  it('given orphan removal on, the old name\'s objects are no orphans while an instance is renamed from it', () => {
    const p = plan({ ...input(inst(), true), now: AT }, obs({ lvs: lv('web1.disk0', ['gantry', 'gantry-inst=web1']) }));
    expect(p.orphans).toEqual([]);
    expect(p.actions.map((a) => a.verb)).toEqual(['instance.rename']);
  });
});
