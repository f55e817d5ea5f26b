import { describe, expect, it } from 'vitest';
import { drainPlacement, evacuateAll, evacuees } from './drain.js';
import type { PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import type { InstanceLocation } from './locate.js';
import type { AllocateFn } from './allocate.js';

const node = (name: string, role: PlanNode['role'] = 'regular'): PlanNode => ({
  name, group: 'default', role, runDir: '/r', fileStorageDir: '/f', profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const inst = (name: string, template: PlanInstance['diskTemplate'], primary?: string): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: template, memoryMiB: 512, vcpus: 1, tags: [], ...(primary ? { primary } : {}),
  disks: [{ index: 0, sizeMiB: 1024, template, vg: 'vg', metaVg: 'vg', state: 'present' }],
});
const at = (running: string | undefined, ...nodes: string[]): InstanceLocation => ({ nodes: new Set(nodes), waitsFor: new Set(), ...(running ? { running } : {}) } as InstanceLocation);
const nodes = new Map([node('n1', 'drained'), node('n2'), node('n3')].map((n) => [n.name, n]));
const input = (instances: PlanInstance[]): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/s', removeOrphans: false, exclusionTags: [] }, networks: [], nodes: [...nodes.values()], instances,
});

describe('drain', () => {
  it('given instances on a drained node, it evacuates only the running sharedfile ones not pinned to another node', () => {
    const located = new Map([['a', at('n1', 'n1')], ['b', at('n1', 'n1')], ['c', at(undefined, 'n1')], ['d', at('n1', 'n1')], ['e', at('n2', 'n2')]]);
    const i = input([inst('a', 'sharedfile', 'n1'), inst('b', 'sharedfile', 'n3'), inst('c', 'sharedfile', 'n1'), inst('d', 'plain', 'n1'), inst('e', 'sharedfile')]);
    expect(evacuees(i, located, new Set(['n1']))).toEqual(['a']);
  });

  it('given no evacuating allocator, it answers each instance with an error rather than leaving it unmentioned', () => {
    expect(evacuateAll(['a'], undefined).get('a')).toEqual({ error: 'no allocator configured to evacuate drained nodes' });
    const noEvac = Object.assign(() => ({ error: 'x' }), {}) as AllocateFn;
    expect(evacuateAll(['a'], noEvac).get('a')).toMatchObject({ error: expect.stringMatching(/no allocator/) });
    expect(evacuateAll([], noEvac).size).toBe(0);
  });

  it('given an instance running on its drained primary, it takes the evacuation answer, or stays with the answer\'s reason', () => {
    const moved = drainPlacement(inst('a', 'sharedfile', 'n1'), 'n1', at('n1', 'n1'), nodes, new Map([['a', { primary: 'n3' }]]));
    expect(moved).toEqual({ primary: 'n3', note: 'drain: n1 is drained; a moves to n3 (node-evacuate)' });
    const full = drainPlacement(inst('a', 'sharedfile', 'n1'), 'n1', at('n1', 'n1'), nodes, new Map([['a', { error: 'no room' }]]));
    expect(full).toEqual({ primary: 'n1', note: 'drain: n1 is drained but a stays: no room' });
  });

  it('given a plain or DRBD instance on a drained node, it stays there and says why', () => {
    expect(drainPlacement(inst('p', 'plain', 'n1'), 'n1', at('n1', 'n1'), nodes, new Map())?.note).toBe('drain: n1 is drained but p stays: its plain disks exist only on n1');
    expect(drainPlacement(inst('d', 'drbd', 'n1'), 'n1', at('n1', 'n1', 'n2'), nodes, new Map())?.note).toMatch(/moving a DRBD primary off a drained node .* not done by this release; DRBD secondaries on it are replaced/);
  });

  it('given an instance already moved off its drained primary, it stays where it runs; an undrained primary is not its business', () => {
    expect(drainPlacement(inst('a', 'sharedfile', 'n1'), 'n1', at('n2', 'n2'), nodes, new Map())).toMatchObject({ primary: 'n2', note: expect.stringMatching(/stays on n2 where it runs/) });
    expect(drainPlacement(inst('a', 'sharedfile', 'n2'), 'n2', at('n1', 'n1'), nodes, new Map())).toBeUndefined();
  });
});
