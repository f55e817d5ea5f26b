/** disks.ts: a missing storage root is refused, never created (issue 8, item 4). */
import { describe, expect, it } from 'vitest';
import { planInstanceDisks } from './disks.js';
import { emptyObservedNode } from '../core/observed.js';
import type { PlanCluster, PlanInstance, PlanNode } from '../core/plan.js';

const cluster: PlanCluster = { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] };
const n1: PlanNode = { name: 'n1', group: 'default', role: 'regular', runDir: '/run/n1', fileStorageDir: '/srv/n1', profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} } };
const web = (template: 'file' | 'sharedfile'): PlanInstance => ({
  name: 'web', state: 'present', deleteDisks: false, diskTemplate: template, memoryMiB: 512, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 1024, template, vg: 'vg0', metaVg: 'vg0', state: 'present' }], tags: [],
});
const observed = (storageDirs?: Record<string, boolean>) => ({ nodes: new Map([['n1', { ...emptyObservedNode('n1', 't'), ...(storageDirs ? { storageDirs } : {}) }]]) });
const planFor = (template: 'file' | 'sharedfile', storageDirs?: Record<string, boolean>) =>
  planInstanceDisks(web(template), 'n1', undefined, new Map([['n1', n1]]), cluster, observed(storageDirs));

describe('planInstanceDisks: storage roots', () => {
  it('given the node storage dir is missing it refuses the file disk, naming the directory, and plans no file.create', () => {
    const p = planFor('file', { '/srv/n1': false });
    expect(p.actions).toEqual([]);
    expect(p.refused).toEqual([{ subject: 'Instance/web', code: 'STORAGE_DIR_MISSING', message: expect.stringContaining('storage directory /srv/n1 does not exist on n1') }]);
  });
  it('given the shared storage dir is missing it refuses the sharedfile disk', () => {
    expect(planFor('sharedfile', { '/srv/shared': false }).refused.map((r) => r.code)).toEqual(['STORAGE_DIR_MISSING']);
  });
  it('given the dir exists, or could not be checked (unknown is not missing), it plans file.create (the driver checks again)', () => {
    expect(planFor('file', { '/srv/n1': true }).actions.map((a) => a.verb)).toEqual(['file.create']);
    expect(planFor('file').actions.map((a) => a.verb)).toEqual(['file.create']);
  });
});
