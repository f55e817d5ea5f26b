import { describe, expect, it } from 'vitest';
import { describeShortfall, nPlusOneShortfalls, planNPlusOne, type N1Instance, type N1PlanInstance } from './n-plus-one.js';
import { plan } from './plan.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanInstanceRuntime, PlanNode } from '../core/plan.js';

const node = (name: string, memoryMiB = 1024): PlanNode => ({
  name, group: 'g', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`, memoryMiB,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const runtime: PlanInstanceRuntime = {
  uuid: '11111111-2222-3333-4444-555555555555', os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0,
  accel: 'tcg', bootOrder: ['disk'], diskBus: 'virtio', vnc: false, vncBindAddress: '127.0.0.1', nics: [],
  migration: { mode: 'live', bandwidthMiBps: 100, downtimeMs: 300 }, restartErrorDown: true, stopTimeoutS: 30,
};
const inst = (name: string, memoryMiB: number, template: 'sharedfile' | 'drbd' | 'plain', primary?: string, secondary?: string): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: template, memoryMiB, vcpus: 1, tags: [], runtime,
  ...(primary !== undefined ? { primary } : {}), ...(secondary !== undefined ? { secondary } : {}),
  disks: [{ index: 0, sizeMiB: 64, template, vg: 'vg', metaVg: 'vg', state: 'present' }],
});
const input = (nodes: PlanNode[], instances: PlanInstance[], nPlusOne?: 'refuse' | 'warn' | 'off'): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [], ...(nPlusOne ? { nPlusOne } : {}) },
  nodes, networks: [], instances,
});
const observed = (names: string[]): ObservedCluster => ({ nodes: new Map(names.map((n): [string, ObservedNode] => [n, emptyObservedNode(n, 't')])) });
const layout = (nodes: [string, number][], running: N1Instance[]) => ({ nodes: new Map(nodes.map(([n, t]) => [n, { totalMiB: t, usable: true }])), running });

describe('N+1 memory redundancy', () => {
  it('given two node groups, a node\'s sharedfile instances count only on the other usable nodes of its own group (Ganeti checks N+1 per group), and the message names the group', () => {
    const nodes = new Map([['a1', { totalMiB: 2048, usable: true, group: 'A' }], ['a2', { totalMiB: 1024, usable: true, group: 'A' }], ['b1', { totalMiB: 8192, usable: true, group: 'B' }]]);
    const running: N1Instance[] = [
      { instance: 'w1', node: 'a1', memoryMiB: 1000 },
      { instance: 'w2', node: 'a2', memoryMiB: 128 },
    ];
    // Globally b1's 8 GiB would cover a1's 1000 MiB; in group A only a2's 896 MiB free counts.
    const s = nPlusOneShortfalls({ nodes, running });
    expect(s).toEqual([{ failed: 'a1', group: 'A', neededMiB: 1000, freeMiB: 896, instances: ['w1'] }]);
    expect(describeShortfall(s[0]!)).toBe('its running instances need 1000 MiB; the other usable nodes of group A have 896 MiB free (104 MiB short)');
    // The same nodes in one group: no shortfall.
    expect(nPlusOneShortfalls({ nodes: new Map([...nodes].map(([n, v]) => [n, { ...v, group: 'A' }])), running })).toEqual([]);
  });

  it('given DRBD instances, it checks each (primary, secondary) pair against the secondary\'s free memory, like Ganeti', () => {
    const l = layout([['a', 2048], ['b', 1024], ['c', 4096]], [
      { instance: 'x', node: 'a', memoryMiB: 512, failover: { to: 'b' } },
      { instance: 'y', node: 'a', memoryMiB: 512, failover: { to: 'b' } },
      { instance: 'z', node: 'b', memoryMiB: 256, failover: { to: 'c' } },
    ]);
    const s = nPlusOneShortfalls(l);
    // b has 1024 - 256 = 768 free; a's two instances with secondary b need 1024.
    expect(s).toEqual([{ failed: 'a', target: 'b', neededMiB: 1024, freeMiB: 768, instances: ['x', 'y'] }]);
    expect(describeShortfall(s[0]!)).toBe('if a fails, its secondary b must start x, y: they need 1024 MiB, b has 768 MiB free (256 MiB short)');
  });

  it('given plain instances, they count for the memory they use but never fail over', () => {
    const l = layout([['a', 1024], ['b', 1024]], [{ instance: 'p', node: 'a', memoryMiB: 1024, failover: 'none' }, { instance: 'q', node: 'b', memoryMiB: 512, failover: 'anywhere' }]);
    expect(nPlusOneShortfalls(l)).toEqual([{ failed: 'b', neededMiB: 512, freeMiB: 0, instances: ['q'] }]);
  });

  it('given enough free memory in sum but no single node with room for an instance, the global check reports the instance that fits nowhere', () => {
    const l = layout([['a', 2048], ['b', 1024], ['c', 1024]], [{ instance: 'big', node: 'a', memoryMiB: 1024 }, { instance: 'u', node: 'b', memoryMiB: 256 }, { instance: 'v', node: 'c', memoryMiB: 256 }]);
    const s = nPlusOneShortfalls(l);
    expect(s).toEqual([{ failed: 'a', neededMiB: 1024, freeMiB: 1536, instances: ['big'], unplaced: { instance: 'big', memoryMiB: 1024, largestFreeMiB: 768 } }]);
    expect(describeShortfall(s[0]!)).toMatch(/no node has room for big \(1024 MiB; at most 768 MiB free on one node/);
  });

  it('given a manifest move of a DRBD instance onto a node whose secondary cannot then hold its instances, the planner blames that move and not the others', () => {
    const nodes = [node('a', 2048), node('b', 1024), node('c', 4096)];
    const x = inst('x', 512, 'drbd', 'a', 'b');
    const y = inst('y', 512, 'drbd', 'a', 'b');
    const p = inst('p', 256, 'plain', 'b');
    const all: N1PlanInstance[] = [
      { inst: x, running: 'a', placed: { primary: 'a', secondary: 'b' }, manifestMove: false },
      { inst: y, running: 'c', placed: { primary: 'a', secondary: 'b' }, manifestMove: true },
      { inst: p, running: 'b', placed: { primary: 'b' }, manifestMove: false },
    ];
    const found = planNPlusOne(input(nodes, [x, y, p]), observed(['a', 'b', 'c']), all, new Set());
    expect([...found]).toEqual([['y', ['placing y on a breaks N+1 memory redundancy on b: if a fails, its secondary b must start x, y: they need 1024 MiB, b has 768 MiB free (256 MiB short)']]]);
    // The same layout already short before the move is not the move's fault.
    const stayed = all.map((i) => (i.inst.name === 'y' ? { ...i, running: 'a' } : i));
    expect(planNPlusOne(input(nodes, [x, y, p]), observed(['a', 'b', 'c']), stayed, new Set()).size).toBe(0);
    expect(planNPlusOne(input(nodes, [x, y, p], 'off'), observed(['a', 'b', 'c']), all, new Set()).size).toBe(0);
  });

  describe('in the planner (Cluster spec.nPlusOne.mode)', () => {
    // a runs on n1; c is new and pinned to n2: with c there, n1's a has nowhere to go and c none either.
    const nodes = [node('n1'), node('n2')];
    const a = inst('a', 512, 'sharedfile', 'n1');
    const c = inst('c', 768, 'sharedfile', 'n2');
    const obs = (): ObservedCluster => {
      const o = observed(['n1', 'n2']);
      const n1 = o.nodes.get('n1')!;
      (o.nodes as Map<string, ObservedNode>).set('n1', { ...n1, instances: { a: { name: 'a', runState: 'running', guestShutdown: false } } });
      return o;
    };

    it('given mode refuse and a pinned new instance that breaks N+1, it refuses that instance with node, needed and free MiB, and plans none of its actions', () => {
      const p = plan(input(nodes, [a, c], 'refuse'), obs());
      const e = p.entries.find((x) => x.subject === 'Instance/c')!;
      expect(e.status).toBe('refused');
      expect(e.actions).toEqual([]);
      expect(p.actions.filter((x) => 'name' in x && x.name === 'c')).toEqual([]);
      expect(p.refused.filter((r) => r.code === 'N_PLUS_ONE').map((r) => r.message)).toEqual([
        'placing c on n2 breaks N+1 memory redundancy on n1: its running instances need 512 MiB; the other usable nodes of group g have 256 MiB free (256 MiB short); Cluster spec.nPlusOne.mode is refuse: c is not moved or started there (free memory, place it elsewhere, or set the mode to warn)',
        'placing c on n2 breaks N+1 memory redundancy on n2: its running instances need 768 MiB; the other usable nodes of group g have 512 MiB free (256 MiB short); Cluster spec.nPlusOne.mode is refuse: c is not moved or started there (free memory, place it elsewhere, or set the mode to warn)',
      ]);
      expect(p.entries.find((x) => x.subject === 'Instance/a')!.refused).toEqual([]);
    });

    it('given mode warn (the default), it plans the start and notes the shortfall with the numbers; given off, no note', () => {
      for (const mode of ['warn', undefined] as const) {
        const p = plan(input(nodes, [a, c], mode), obs());
        const e = p.entries.find((x) => x.subject === 'Instance/c')!;
        expect(e.actions.map((x) => x.verb)).toContain('instance.start');
        expect(e.notes.filter((n) => n.startsWith('warning: placing c on n2 breaks N+1'))).toHaveLength(2);
        expect(e.notes.join('\n')).toMatch(/need 768 MiB; the other usable nodes of group g have 512 MiB free/);
      }
      const off = plan(input(nodes, [a, c], 'off'), obs());
      expect(off.entries.find((x) => x.subject === 'Instance/c')!.notes.join('\n')).not.toMatch(/N\+1/);
    });

    it('given a pinned new instance that fits, nothing is said', () => {
      const small = inst('c', 256, 'sharedfile', 'n2');
      const p = plan(input(nodes, [a, small], 'refuse'), obs());
      expect(p.refused).toEqual([]);
      expect(p.entries.flatMap((e) => e.notes).join('\n')).not.toMatch(/N\+1/);
    });
  });
});
