import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate, allocateMany, buildCluster, changeGroup, clusterScore, evacuate, scoreComponents, serializeText, parseText } from './index.js';
import { clusterFromShape, clusterShape } from './testdata/arbitrary.js';

describe('placement API', () => {
  it('given random clusters, after allocation the claimed score equals the recomputed score', () => {
    fc.assert(fc.property(clusterShape, fc.constantFrom('drbd', 'plain', 'diskless', 'sharedfile'), fc.constantFrom(512, 1024, 4096), (sh, dt, mem) => {
      const c = clusterFromShape(sh);
      const r = allocate(c, { name: 'new', memoryMiB: mem, vcpus: 1, diskMiB: 2048, diskTemplate: dt as 'drbd', tags: ['svc:1'] });
      if (!r.ok) {
        const total = Object.values(r.reasons).reduce((a, b) => a + b, 0);
        expect(total + (r.message.includes('no online') ? 1 : 0)).toBeGreaterThan(0);
        return;
      }
      expect(Math.abs(clusterScore(r.cluster, r.group) - r.score)).toBeLessThan(1e-6);
      expect(Math.abs(clusterScore(parseText(serializeText(r.cluster)), r.group) - r.score)).toBeLessThan(1e-6);
      const placed = r.cluster.instances.find((i) => i.name === 'new')!;
      expect(placed.pNode).toBe(r.primary);
      if (dt === 'drbd') expect(placed.sNode).toBe(r.secondary);
      const node = r.cluster.nodes.find((n) => n.name === r.primary)!;
      expect(node.offline).toBe(false);
    }), { numRuns: 150 });
  });

  it('given random instances, the free memory and disk of each node equal the per-node sums (one pass over the instances)', () => {
    const inst = fc.record({
      p: fc.integer({ min: 0, max: 3 }), s: fc.integer({ min: 0, max: 3 }), mem: fc.integer({ min: 128, max: 4096 }),
      disk: fc.integer({ min: 1, max: 8192 }), t: fc.constantFrom('drbd', 'plain', 'diskless', 'sharedfile'), running: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(inst, { maxLength: 30 }), (xs) => {
      const names = ['a', 'b', 'c', 'd'];
      const instances = xs.map((x, k) => ({
        name: `i${k}`, memoryMiB: x.mem, vcpus: 1, disksMiB: [x.disk], diskTemplate: x.t as 'drbd', primary: names[x.p]!,
        secondary: x.t === 'drbd' ? names[(x.p + 1 + (x.s % 3)) % 4]! : null, status: x.running ? 'running' as const : 'ADMIN_down' as const,
      }));
      const c = buildCluster({ nodes: names.map((name) => ({ name, memoryMiB: 1 << 20, diskMiB: 1 << 24, cpus: 8 })), instances });
      for (const n of c.nodes) {
        const mem = instances.filter((i) => i.primary === n.name && i.status === 'running').reduce((a, i) => a + i.memoryMiB, 0);
        const dsk = instances.filter((i) => ['plain', 'drbd'].includes(i.diskTemplate) && (i.primary === n.name || i.secondary === n.name))
          .reduce((a, i) => a + i.disksMiB[0]! + (i.diskTemplate === 'drbd' ? 128 : 0), 0);
        expect(n.fMem).toBe((1 << 20) - mem);
        expect(n.fDsk).toBe((1 << 24) - dsk);
      }
    }), { numRuns: 100 });
  });

  it('given an instance bigger than every node, it answers why per reason', () => {
    const c = buildCluster({ nodes: [{ name: 'a', memoryMiB: 4096, diskMiB: 10240, cpus: 2 }, { name: 'b', memoryMiB: 4096, diskMiB: 10240, cpus: 2 }] });
    const r = allocate(c, { name: 'huge', memoryMiB: 8192, vcpus: 1, diskMiB: 1024, diskTemplate: 'plain' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reasons.FailMem).toBe(2);
      expect(r.message).toMatch(/FailMem: 2/);
    }
  });

  it('given an exclusion tag already on every node, it refuses with FailTags', () => {
    const c = buildCluster({
      nodes: [{ name: 'a', memoryMiB: 16384, diskMiB: 102400, cpus: 8 }, { name: 'b', memoryMiB: 16384, diskMiB: 102400, cpus: 8 }],
      instances: [
        { name: 'dns1', memoryMiB: 512, vcpus: 1, disksMiB: [1024], diskTemplate: 'plain', primary: 'a', tags: ['svc:dns'] },
        { name: 'dns2', memoryMiB: 512, vcpus: 1, disksMiB: [1024], diskTemplate: 'plain', primary: 'b', tags: ['svc:dns'] },
      ],
      exclusionTags: ['svc:'],
    });
    const r = allocate(c, { name: 'dns3', memoryMiB: 512, vcpus: 1, diskMiB: 1024, diskTemplate: 'plain', tags: ['svc:dns'] }, { capacityChecks: false });
    expect(r).toMatchObject({ ok: false, reasons: { FailTags: 2 } });
  });

  it('given an instance outside the policy, it reports the policy failure', () => {
    const c = buildCluster({ nodes: [{ name: 'a', memoryMiB: 262144, diskMiB: 1024000, cpus: 64 }] });
    const r = allocate(c, { name: 'wide', memoryMiB: 1024, vcpus: 32, diskMiB: 1024, diskTemplate: 'plain' });
    expect(r).toMatchObject({ ok: false, reasons: { FailCPU: 1 } });
  });

  it('given a group name, it allocates only in that group', () => {
    const c = buildCluster({
      groups: [{ name: 'g1' }, { name: 'g2' }],
      nodes: [
        { name: 'a', group: 'g1', memoryMiB: 16384, diskMiB: 102400, cpus: 8 },
        { name: 'b', group: 'g2', memoryMiB: 65536, diskMiB: 102400, cpus: 8 },
      ],
    });
    const r = allocate(c, { name: 'x', memoryMiB: 1024, vcpus: 1, diskMiB: 1024, diskTemplate: 'plain', group: 'g1' }, { capacityChecks: false });
    expect(r).toMatchObject({ ok: true, primary: 'a', group: 'g1' });
  });

  it('given a cluster, it lists score components whose weighted sum is the score', () => {
    const c = clusterFromShape({ nodes: 3, nodeMem: [8192, 8192, 16384], offline: -1, instances: [{ mem: 1024, disk: 1024, vcpus: 1, drbd: true, p: 0, s: 1, tag: -1, down: false }] });
    const comps = scoreComponents(c, 'default');
    expect(comps.map((x) => x.name)).toContain('reserved_mem_rtotal');
    expect(comps.reduce((a, x) => a + x.weight * x.value, 0)).toBeCloseTo(clusterScore(c), 12);
  });
});

describe('HA helpers', () => {
  const base = () => buildCluster({
    groups: [{ name: 'g1' }, { name: 'g2' }],
    nodes: [
      { name: 'a', group: 'g1', memoryMiB: 16384, diskMiB: 102400, cpus: 8 },
      { name: 'b', group: 'g1', memoryMiB: 16384, diskMiB: 102400, cpus: 8 },
      { name: 'c', group: 'g1', memoryMiB: 16384, diskMiB: 102400, cpus: 8 },
      { name: 'd', group: 'g2', memoryMiB: 16384, diskMiB: 102400, cpus: 8 },
      { name: 'e', group: 'g2', memoryMiB: 16384, diskMiB: 102400, cpus: 8 },
    ],
    instances: [
      { name: 'x', memoryMiB: 1024, vcpus: 1, disksMiB: [1024], diskTemplate: 'drbd', primary: 'a', secondary: 'b' },
      { name: 'y', memoryMiB: 1024, vcpus: 1, disksMiB: [1024], diskTemplate: 'plain', primary: 'a' },
    ],
  });

  it('given primary-only evacuation, it fails the DRBD instance over and reports the plain one', () => {
    const r = evacuate(base(), ['x', 'y'], 'primary-only');
    expect(r.moved).toEqual([['x', 'g1', ['b', 'a']]]);
    expect(r.failed.map((f) => f[0])).toEqual(['y']);
    expect(r.cluster.instances.find((i) => i.name === 'x')).toMatchObject({ pNode: 'b', sNode: 'a' });
  });

  it('given secondary-only evacuation, it picks a new secondary off the old one', () => {
    const r = evacuate(base(), ['x'], 'secondary-only');
    expect(r.moved).toEqual([['x', 'g1', ['a', 'c']]]);
  });

  it('given a change of group, it re-allocates both nodes in the other group', () => {
    const r = changeGroup(base(), ['x'], ['g2']);
    expect(r.moved[0]![1]).toBe('g2');
    expect(new Set(r.moved[0]![2])).toEqual(new Set(['d', 'e']));
  });

  it('given several requests, multi-allocation places each knowing the previous ones', () => {
    const r = allocateMany(base(), [1, 2, 3].map((n) => ({ name: `m${n}`, memoryMiB: 2048, vcpus: 1, diskMiB: 1024, diskTemplate: 'plain' as const })), { capacityChecks: false });
    expect(r.results.every((x) => x.result.ok)).toBe(true);
    expect(r.cluster.instances.filter((i) => i.name.startsWith('m'))).toHaveLength(3);
  });
});
