import { describe, expect, it } from 'vitest';
import { drainDrbdPrimary, drainPlacement, drainWaves, evacuateAll, evacuees } from './drain.js';
import type { DrbdSide } from './failover.js';
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

  it('given a plain instance on a drained node, it stays there and says why', () => {
    expect(drainPlacement(inst('p', 'plain', 'n1'), 'n1', at('n1', 'n1'), nodes, new Map())?.note).toBe('drain: n1 is drained but p stays: its plain disks exist only on n1');
  });

  it('given DRBD instances on a drained primary, they are in the node-evacuate request whether running or stopped (Primary there), not when they already left', () => {
    const located = new Map([['a', at('n1', 'n1', 'n2')], ['b', { ...at(undefined, 'n1', 'n2'), drbdPrimary: 'n1' }], ['c', { ...at(undefined, 'n1', 'n2'), drbdPrimary: 'n2' }], ['d', at('n2', 'n1', 'n2')]]);
    const i = input(['a', 'b', 'c', 'd'].map((n) => ({ ...inst(n, 'drbd', 'n1'), secondary: 'n2' })));
    expect(evacuees(i, located, new Set(['n1']))).toEqual(['a', 'b']);
  });

  it('given an instance known only from a stale snapshot (its drained node or its DRBD pair not observed now), it is not in the node-evacuate request', () => {
    const stale = (running: string | undefined, waits: string[], ...ns: string[]) => ({ ...at(running, ...ns), waitsFor: new Set(waits) } as InstanceLocation);
    const located = new Map([['a', stale('n1', ['n1'], 'n1')], ['b', at('n1', 'n1')], ['c', at('n1', 'n1', 'n2')], ['d', at('n1', 'n1', 'n3')]]);
    const i = input([inst('a', 'sharedfile', 'n1'), inst('b', 'sharedfile', 'n1'), { ...inst('c', 'drbd', 'n1'), secondary: 'n2' }, { ...inst('d', 'drbd', 'n1'), secondary: 'n3' }]);
    expect(evacuees(i, located, new Set(['n1']), (n) => n !== 'n2')).toEqual(['b', 'd']);
    expect(evacuees(i, located, new Set(['n1']))).toEqual(['b', 'c', 'd']);
  });

  describe('waves (Cluster spec.drain.maxParallelMoves)', () => {
    const ready = () => true;

    it('given five movable primaries on the drained node and a cap of two, two are asked now in name order, three wait with the reason, and the node shows its progress', () => {
      const names = ['e', 'd', 'c', 'b', 'a'];
      const i = input([...names.map((n) => inst(n, 'sharedfile', 'n1')), inst('gone', 'sharedfile', 'n1'), inst('p', 'plain', 'n1')]);
      const located = new Map<string, InstanceLocation>([...['a', 'b', 'c', 'd', 'e'].map((n) => [n, at('n1', 'n1')] as const), ['gone', at('n2', 'n2')], ['p', at('n1', 'n1')]]);
      const w = drainWaves(i, located, nodes, ['a', 'b', 'c', 'd', 'e'], [], ready, 2);
      expect(w.primaries).toEqual(['a', 'b']);
      expect([...w.later.keys()]).toEqual(['c', 'd', 'e']);
      expect(w.later.get('c')).toBe('it waits for a later pass (at most 2 instances leave n1 at a time: Cluster spec.drain.maxParallelMoves)');
      expect(w.progress.get('n1')).toBe('drain: 1/6 movable instances moved off n1 (placed on it by the manifests or still there); 2 leave in this pass, 3 wait for later passes (at most 2 at a time: Cluster spec.drain.maxParallelMoves)');
    });

    it('given a DRBD primary refused for its own reason, it takes no slot (it never holds the others back); a secondary replacement still resyncing takes one until it ends', () => {
      const d = (n: string, p: string, sec: string) => ({ ...inst(n, 'drbd', p), secondary: sec });
      const i = input([d('a', 'n1', 'n2'), d('b', 'n1', 'n3'), d('c', 'n1', 'n2'), d('r', 'n2', 'n1'), d('s', 'n3', 'n1')]);
      const located = new Map<string, InstanceLocation>([
        ['a', at('n1', 'n1', 'n2')], ['b', at('n1', 'n1', 'n3')], ['c', at('n1', 'n1', 'n2')],
        ['r', at('n2', 'n1', 'n2', 'n3')], // its new secondary n3 already holds the disks, n1 still does: under way
        ['s', at('n3', 'n1', 'n3')],
      ]);
      const w = drainWaves(i, located, nodes, ['a', 'b', 'c'], ['s'], (x) => x.name !== 'a', 2);
      expect(w.primaries).toEqual(['a', 'b']);
      expect([...w.later.keys()]).toEqual(['c', 's']);
      expect(w.progress.get('n1')).toMatch(/^drain: 0\/5 movable instances moved off n1 .*; 1 leaves in this pass, 1 secondary replacement still resyncing, 2 wait for later passes/);
    });

    it('given no drained node, it asks for nothing and says nothing', () => {
      const all = new Map([node('n1'), node('n2')].map((n) => [n.name, n]));
      expect(drainWaves(input([]), new Map(), all, [], [], ready, 4)).toEqual({ primaries: [], secondaries: [], later: new Map(), progress: new Map() });
    });
  });

  describe('a DRBD primary on a drained node', () => {
    const side = (disk: string, connection: string, peerDisk = 'UpToDate', role = 'Secondary'): DrbdSide[] => [{ disk: 0, port: 11000, dev: { minor: 0, role, disk, peer: { connection, disk: peerDisk } } as DrbdSide['dev'] }];
    const healthy = new Map([['n1', side('UpToDate', 'Connected', 'UpToDate', 'Primary')], ['n2', side('UpToDate', 'Connected')]]);
    const d = { ...inst('d', 'drbd', 'n1'), secondary: 'n2' };
    const go = new Map([['d', { primary: 'n2' }]]);

    it('given the node-evacuate answer names its secondary and both sides are Connected UpToDate/UpToDate, it swaps primary and secondary and says how', () => {
      expect(drainDrbdPrimary(d, 'n1', 'n2', at(undefined, 'n1', 'n2'), nodes, go, healthy)).toMatchObject({ primary: 'n2', secondary: 'n1', swap: true, note: expect.stringMatching(/^drain: n1 is drained; d moves to its DRBD secondary n2 \(node-evacuate; primary swap \(stopped\): n1 demoted, n2 promoted\)/) });
    });

    it('given its pair resyncing or disconnected, it stays, refused with the states seen', () => {
      const r = drainDrbdPrimary(d, 'n1', 'n2', at('n1', 'n1', 'n2'), nodes, go, new Map([['n1', side('UpToDate', 'Connected', 'Inconsistent', 'Primary')], ['n2', side('Inconsistent', 'Connected', 'UpToDate')]]));
      expect(r).toMatchObject({ primary: 'n1', secondary: 'n2', refusal: { code: 'DRAIN_DRBD_NOT_READY' } });
      expect(r?.refusal?.message).toContain('this pass sees n1: disk 0 Primary, UpToDate, Connected (peer Inconsistent); n2: disk 0 Secondary, Inconsistent, Connected (peer UpToDate)');
    });

    it('given no room on its secondary (the answer is an error), it stays, refused with the allocator\'s reason', () => {
      const r = drainDrbdPrimary(d, 'n1', 'n2', at('n1', 'n1', 'n2'), nodes, new Map([['d', { error: 'Failover failed: FailMem' }]]), healthy);
      expect(r?.refusal).toMatchObject({ code: 'DRAIN_NO_ROOM', message: expect.stringContaining('no room on its secondary n2: Failover failed: FailMem') });
    });

    it('given its secondary not observed this pass (its room and DRBD state unknown), it stays, refused as DRAIN_STATE_UNKNOWN naming the node, never DRAIN_NO_ROOM, whatever the answer says', () => {
      const seen = (n: string) => n !== 'n2';
      for (const answer of [go, new Map([['d', { error: 'Failover failed: FailMem' }]])]) {
        const r = drainDrbdPrimary(d, 'n1', 'n2', at('n1', 'n1', 'n2'), nodes, answer, healthy, seen);
        expect(r).toMatchObject({ primary: 'n1', secondary: 'n2', refusal: { code: 'DRAIN_STATE_UNKNOWN' } });
        expect(r?.refusal?.message).toBe('drain of n1: moving d to its DRBD secondary refused: its secondary n2 is not observed this pass: its DRBD state there is unknown (not a lack of room); it moves once n2 is observed again');
        expect(r?.swap).toBeUndefined();
      }
    });

    it('given its secondary drained too, it stays and says no undrained node holds its replica', () => {
      const both = new Map([node('n1', 'drained'), node('n2', 'drained'), node('n3')].map((n) => [n.name, n]));
      expect(drainDrbdPrimary(d, 'n1', 'n2', at('n1', 'n1', 'n2'), both, go, healthy)?.note).toMatch(/its secondary n2 is drained too: no undrained node holds its replica/);
    });

    it('given it already runs (or is Primary) on its secondary, its primary is that node and the drained one its secondary, until replaced', () => {
      expect(drainDrbdPrimary(d, 'n1', 'n2', at('n2', 'n1', 'n2'), nodes, new Map(), healthy)).toMatchObject({ primary: 'n2', secondary: 'n1' });
      expect(drainDrbdPrimary(d, 'n1', 'n2', { ...at(undefined, 'n2', 'n3'), drbdPrimary: 'n2' }, nodes, new Map(), healthy)).toMatchObject({ primary: 'n2', secondary: 'n3' });
    });
  });

  it('given an instance already moved off its drained primary, it stays where it runs; an undrained primary is not its business', () => {
    expect(drainPlacement(inst('a', 'sharedfile', 'n1'), 'n1', at('n2', 'n2'), nodes, new Map())).toMatchObject({ primary: 'n2', note: expect.stringMatching(/stays on n2 where it runs/) });
    expect(drainPlacement(inst('a', 'sharedfile', 'n2'), 'n2', at('n1', 'n1'), nodes, new Map())).toBeUndefined();
  });
});
