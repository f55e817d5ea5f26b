import { describe, expect, it } from 'vitest';
import { drbdSurvivor, writeBackDecisions } from './failover.js';
import type { FailoverRecord, PlanInput, PlanInstance } from '../core/plan.js';

const inst = (name: string, diskTemplate: PlanInstance['diskTemplate'], primary?: string, secondary?: string, state: 'present' | 'absent' = 'present'): PlanInstance => ({
  name, state, deleteDisks: false, diskTemplate, memoryMiB: 128, vcpus: 1, tags: [], disks: [],
  ...(primary !== undefined ? { primary } : {}), ...(secondary !== undefined ? { secondary } : {}),
});
const input = (...instances: PlanInstance[]): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  nodes: [], networks: [], instances,
});
const rec = (instance: string, from: string, to: string): [string, FailoverRecord] => [instance, { instance, from, to, started: '2026-11-28T12:00:00.000Z' }];

describe('failover write-back decisions', () => {
  it('given failed-over instances, it writes the new primary, swaps a DRBD pair, and leaves alone what agrees, what is undeclared, allocator-placed or moved by hand', () => {
    const got = writeBackDecisions(
      input(inst('web1', 'sharedfile', 'n1'), inst('db1', 'drbd', 'n1', 'n2'), inst('ok', 'sharedfile', 'n3'), inst('auto', 'sharedfile'), inst('moved', 'sharedfile', 'n4'), inst('gone', 'sharedfile', 'n1', undefined, 'absent')),
      new Map([rec('web1', 'n1', 'n3'), rec('db1', 'n1', 'n2'), rec('ok', 'n1', 'n3'), rec('auto', 'n1', 'n2'), rec('moved', 'n1', 'n2'), rec('gone', 'n1', 'n2'), rec('nope', 'n1', 'n2')]),
    );
    expect(got.map((d) => [d.instance, d.decision, d.primary, d.secondary])).toEqual([
      ['auto', 'skip', undefined, undefined],
      ['db1', 'edit', 'n2', 'n1'],
      ['gone', 'skip', undefined, undefined],
      ['moved', 'skip', undefined, undefined],
      ['nope', 'skip', undefined, undefined],
      ['ok', 'agrees', undefined, undefined],
      ['web1', 'edit', 'n3', undefined],
    ]);
    expect(got.find((d) => d.instance === 'db1')?.reason).toBe("placement.primary n1 -> n2, placement.secondary n2 -> n1 (the DRBD pair's roles swapped)");
    expect(got.find((d) => d.instance === 'moved')?.reason).toMatch(/names n4, neither n1 nor n2: a human moved it/);
    expect(got.find((d) => d.instance === 'auto')?.reason).toMatch(/names no placement.primary/);
  });
});

describe('the DRBD failover survivor', () => {
  const at = (nodes: string[], running?: string) => ({ nodes: new Set(nodes), waitsFor: new Set<string>(), ...(running !== undefined ? { running } : {}) });
  // Campaign (failover worlds) seed 9 step 22: vm1's manifest named n3 (no secondary); a drain had moved it to n2 and its
  // replica to n1. With n2 offline the failover picked n3, made empty LVs there and refused the promotion every pass.
  it('given a manifest primary that holds none of the instance (it runs on n2, its replica on n1), a failover from n2 promotes n1, the node holding the replica', () => {
    expect(drbdSurvivor(inst('vm1', 'drbd', 'n3'), at(['n1', 'n2'], 'n2'), 'n2', undefined, new Map([['n2', 'offline']]))).toBe('n1');
  });

  it('given the manifest pair holding it, the other node of the pair is promoted; with no other node holding it, none is', () => {
    expect(drbdSurvivor(inst('vm1', 'drbd', 'n1', 'n2'), at(['n1', 'n2'], 'n1'), 'n1', undefined, new Map([['n1', 'dead']]))).toBe('n2');
    expect(drbdSurvivor(inst('vm1', 'drbd', 'n3'), at(['n2'], 'n2'), 'n2', undefined, new Map([['n2', 'offline']]))).toBeUndefined();
    // where it is held is not known: the manifest's word, as before
    expect(drbdSurvivor(inst('vm1', 'drbd', 'n1', 'n2'), undefined, 'n1', undefined, new Map([['n1', 'dead']]))).toBe('n2');
  });
});
