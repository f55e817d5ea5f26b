import { describe, expect, it } from 'vitest';
import { genDesired, genObserved } from '../../bench/gen-desired.js';
import { DrbdAllocator } from './drbd-alloc.js';
import { lvFacts } from './locate.js';

// The planner benchmark's generator at a small scale: its DRBD disks' LVs record their minors and ports.
const input = genDesired({ seed: 5, nodes: 6, groups: 1, instances: 60 });
const observed = genObserved(input);
const inst = input.instances.find((i) => i.diskTemplate === 'drbd')!;
const nodes = [inst.primary!, inst.secondary!];
const recorded = new DrbdAllocator(observed, input.cluster).allocate(inst.name, 0, nodes);
if ('code' in recorded) throw new Error(recorded.error);
const minors = nodes.map((n) => [n, recorded.minors.get(n)!] as const);

describe('DrbdAllocator.reclaim (a reused plan part asks again)', () => {
  it('given a disk whose LVs record the numbers asked for, it is true, takes nothing new, and leaves them held as allocate would', () => {
    const a = new DrbdAllocator(observed, input.cluster);
    expect(a.reclaim(inst.name, 0, nodes, recorded.port, minors)).toBe(true);
    expect(a.freshCount).toBe(0);
    expect(a.allocate(inst.name, 0, nodes)).toEqual(recorded);
    expect(a.freshCount).toBe(0);
  });

  it('given another port or minor than the record, it is false', () => {
    const a = new DrbdAllocator(observed, input.cluster);
    expect(a.reclaim(inst.name, 0, nodes, recorded.port + 1, minors)).toBe(false);
    expect(a.reclaim(inst.name, 0, nodes, recorded.port, [[nodes[0]!, minors[0]![1] + 1]])).toBe(false);
    expect(a.reclaim(inst.name, 0, nodes, recorded.port, [['elsewhere', 0]])).toBe(false);
  });

  it('given a disk with no record (or none on one of the nodes), it is false and takes nothing new', () => {
    const a = new DrbdAllocator(observed, input.cluster);
    expect(a.reclaim('no-such-instance', 0, nodes, recorded.port, minors)).toBe(false);
    expect(a.reclaim(inst.name, 0, [...nodes, 'elsewhere'], recorded.port, minors)).toBe(false);
    expect(a.freshCount).toBe(0);
  });
});

describe('DrbdAllocator records kept between passes', () => {
  it('given the records read under the same key, a new allocator starts from them (reading no LV) and answers as one reading every LV', () => {
    const first = new DrbdAllocator(observed, input.cluster, [], lvFacts(observed), { key: 'k', prev: undefined });
    first.allocate('new-instance', 0, nodes); // allocations after reading are not part of the records
    const kept = new DrbdAllocator(observed, input.cluster, [], [], { key: 'k', prev: first.records() });
    const fresh = new DrbdAllocator(observed, input.cluster);
    expect(kept.allocate(inst.name, 0, nodes)).toEqual(recorded);
    expect(kept.allocate('new-instance', 0, nodes)).toEqual(fresh.allocate('new-instance', 0, nodes));
    expect(kept.records()).toBe(first.records());
  });

  it('given another key, it reads the LVs it is given', () => {
    const first = new DrbdAllocator(observed, input.cluster, [], lvFacts(observed), { key: 'k', prev: undefined });
    const other = new DrbdAllocator(observed, input.cluster, [], [], { key: 'changed', prev: first.records() });
    expect(other.isRecorded(inst.name, 0, nodes)).toBe(false);
    expect(other.records()?.key).toBe('changed');
  });
});

describe('DrbdAllocator.sameRecords (a reused part\'s numbers not asked again)', () => {
  it('given an allocator started from the same key as the last one, it is true; another key, no key or no last records, false', () => {
    const first = new DrbdAllocator(observed, input.cluster, [], lvFacts(observed), { key: 'k', prev: undefined });
    expect(new DrbdAllocator(observed, input.cluster, [], [], { key: 'k', prev: first.records() }).sameRecords(first.records())).toBe(true);
    // Read again under the same key (no records kept): the same state, so the same answer.
    expect(new DrbdAllocator(observed, input.cluster, [], lvFacts(observed), { key: 'k', prev: undefined }).sameRecords(first.records())).toBe(true);
    expect(new DrbdAllocator(observed, input.cluster, [], lvFacts(observed), { key: 'other', prev: first.records() }).sameRecords(first.records())).toBe(false);
    expect(new DrbdAllocator(observed, input.cluster).sameRecords(first.records())).toBe(false);
    expect(first.sameRecords(undefined)).toBe(false);
  });

  it('given the same records and fresh allocations made first in any order, a recorded disk still gets its recorded numbers (what skipping its reclaim relies on)', () => {
    const first = new DrbdAllocator(observed, input.cluster, [], lvFacts(observed), { key: 'k', prev: undefined });
    const a = new DrbdAllocator(observed, input.cluster, [], [], { key: 'k', prev: first.records() });
    for (let i = 0; i < 20; i++) expect('code' in a.allocate(`new-${i}`, 0, nodes)).toBe(false);
    expect(a.freshCount).toBeGreaterThan(0);
    const fresh = a.freshCount;
    expect(a.reclaim(inst.name, 0, nodes, recorded.port, minors)).toBe(true);
    expect(a.allocate(inst.name, 0, nodes)).toEqual(recorded);
    expect(a.freshCount).toBe(fresh);
  });
});
