import { describe, expect, it } from 'vitest';
import { makeAllocator } from './allocate.js';
import { plan } from './plan.js';
import { emptyObservedNode, type ObservedInstance, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';

const node = (name: string, role: PlanNode['role'] = 'regular'): PlanNode => ({
  name, group: 'default', role, runDir: '/r', fileStorageDir: '/f', profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const observedNode = (name: string, memoryTotalMiB = 8192): ObservedNode => ({
  ...emptyObservedNode(name, 't'),
  facts: { hostname: name, kernel: 'k', cpus: 4, memoryTotalMiB, memoryFreeMiB: memoryTotalMiB },
  vgs: { vg: { name: 'vg', sizeMiB: 100_000, freeMiB: 100_000, pvs: [] } },
});
const inst = (name: string, over: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'plain', memoryMiB: 1024, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg', metaVg: 'vg', state: 'present' }], tags: [], ...over,
});
const input = (instances: PlanInstance[], nodes = [node('n1'), node('n2'), node('n3')]): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/s', removeOrphans: false, exclusionTags: ['service:'] },
  nodes, instances, networks: [],
});
const observed = (names = ['n1', 'n2', 'n3']): ObservedCluster => ({ nodes: new Map(names.map((n) => [n, observedNode(n)])) });
const ctx = { groups: [{ name: 'default', allocPolicy: 'preferred' as const }], volumeGroup: 'vg' };

describe('makeAllocator', () => {
  it('given two instances with the same exclusion tag it puts them on different nodes', () => {
    const i = input([inst('a', { tags: ['service:web'] }), inst('b', { tags: ['service:web'] })]);
    const alloc = makeAllocator(i, observed(), ctx);
    const a = alloc(i.instances[0]!);
    const b = alloc(i.instances[1]!);
    expect('primary' in a && 'primary' in b && a.primary !== b.primary).toBe(true);
  });

  it('given a DRBD instance it returns a primary and a different secondary', () => {
    const d = inst('db', { diskTemplate: 'drbd', disks: [{ index: 0, sizeMiB: 1024, template: 'drbd', vg: 'vg', metaVg: 'vg', state: 'present' }] });
    const r = makeAllocator(input([d]), observed(), ctx)(d);
    expect('primary' in r && r.secondary !== undefined && r.secondary !== r.primary).toBe(true);
  });

  it('given exclusive-storage nodes, it counts spindles: the observed PVs, the Node override, one per disk by default', () => {
    const exclNode = (name: string, spindles?: number): PlanNode => ({ ...node(name), exclusiveStorage: true, ...(spindles ? { spindles } : {}) });
    // n1, n2: one PV each (observed); n3: two (its Node spec says so)
    const obs: ObservedCluster = { nodes: new Map(['n1', 'n2', 'n3'].map((n) => {
      const o = observedNode(n);
      return [n, { ...o, vgs: { vg: { ...o.vgs['vg']!, pvs: ['/dev/sdb'] } } }];
    })) };
    const two = inst('two', { disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg', metaVg: 'vg', state: 'present', spindles: 2 }] });
    const i = input([two, inst('one'), inst('three', { disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg', metaVg: 'vg', state: 'present', spindles: 3 }] })],
      [exclNode('n1'), exclNode('n2'), exclNode('n3', 2)]);
    const alloc = makeAllocator(i, obs, ctx);
    expect(alloc(i.instances[0]!)).toMatchObject({ primary: 'n3' });
    expect(alloc(i.instances[1]!)).toMatchObject({ primary: expect.stringMatching(/^n[12]$/) });
    expect(alloc(i.instances[2]!)).toMatchObject({ error: expect.stringMatching(/FailSpindles: 3/) });
  });

  it('given an instance larger than any node it says why it cannot be placed', () => {
    const big = inst('big', { memoryMiB: 64_000 });
    const r = makeAllocator(input([big]), observed(), ctx)(big);
    expect('error' in r && r.error).toMatch(/no node can take big/);
  });

  it('given drained and unreachable nodes it never places on them', () => {
    const nodes = [node('n1', 'drained'), node('n2'), node('n3')];
    const obs = observed();
    const withDead: ObservedCluster = { nodes: new Map([...obs.nodes, ['n3', emptyObservedNode('n3', 't', 'down')]]) };
    const i = input([inst('a'), inst('b'), inst('c')], nodes);
    const alloc = makeAllocator(i, withDead, ctx);
    for (const x of i.instances) expect(alloc(x)).toMatchObject({ primary: 'n2' });
  });

  it('given the planner with the allocator, unplaced instances get disks on the chosen node', () => {
    const i = input([inst('a')]);
    const p = plan(i, observed(), { allocator: (inp, o) => makeAllocator(inp, o, ctx) });
    expect(p.actions).toHaveLength(1);
    expect(p.actions[0]).toMatchObject({ verb: 'lv.create', name: 'a.disk0' });
    expect(p.entries.find((e) => e.subject === 'Instance/a')?.notes.join()).toMatch(/allocated: primary n\d/);
  });

  it('given instances running on a drained node, node-evacuate moves them off it in one request, spread by free memory', () => {
    const nodes = [node('n1', 'drained'), node('n2'), node('n3')];
    const obs = observed();
    const running = (name: string): ObservedInstance => ({ name, runState: 'running', pid: 1, guestShutdown: false });
    const withVms: ObservedCluster = { nodes: new Map([...obs.nodes].map(([n, o]) => [n, n === 'n1' ? { ...o, instances: { a: running('a'), b: running('b') } } : o])) };
    const shared = (n: string) => inst(n, { diskTemplate: 'sharedfile', primary: 'n1', memoryMiB: 3000, disks: [{ index: 0, sizeMiB: 1024, template: 'sharedfile', vg: 'vg', metaVg: 'vg', state: 'present' }] });
    const alloc = makeAllocator(input([shared('a'), shared('b')], nodes), withVms, ctx);
    const r = alloc.evacuate!(['a', 'b', 'ghost']);
    const a = r.get('a');
    const b = r.get('b');
    expect(a && 'primary' in a && b && 'primary' in b && [a.primary, b.primary].sort()).toEqual(['n2', 'n3']);
    expect(r.get('ghost')).toMatchObject({ error: expect.stringMatching(/not in the placement model/) });
  });
});
