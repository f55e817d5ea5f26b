/** fast-check generators of small random clusters for the placement property tests. */
import fc from 'fast-check';
import { buildCluster, type InstanceInput, type NodeInput, type PlaceCluster } from '../index.js';

export interface RandomClusterShape {
  readonly nodes: number;
  readonly instances: readonly {
    mem: number; disk: number; vcpus: number; drbd: boolean; p: number; s: number; tag: number; down: boolean;
  }[];
  readonly nodeMem: readonly number[];
  readonly offline: number;
}

export const clusterShape: fc.Arbitrary<RandomClusterShape> = fc
  .integer({ min: 3, max: 7 })
  .chain((nodes) => fc.record({
    nodes: fc.constant(nodes),
    nodeMem: fc.array(fc.constantFrom(8192, 16384, 24576), { minLength: nodes, maxLength: nodes }),
    offline: fc.integer({ min: -3, max: nodes - 1 }),
    instances: fc.array(fc.record({
      mem: fc.constantFrom(512, 1024, 2048, 3072),
      disk: fc.constantFrom(1024, 4096, 10240),
      vcpus: fc.integer({ min: 1, max: 4 }),
      drbd: fc.boolean(),
      p: fc.integer({ min: 0, max: nodes - 1 }),
      s: fc.integer({ min: 1, max: nodes - 1 }),
      tag: fc.integer({ min: -2, max: 2 }),
      down: fc.boolean(),
    }), { maxLength: 14 }),
  }));

/** Builds a cluster from a shape, skipping instances that would not fit on their nodes. */
export function clusterFromShape(sh: RandomClusterShape): PlaceCluster {
  const nodes: NodeInput[] = Array.from({ length: sh.nodes }, (_, i) => ({
    name: `n${i}`, memoryMiB: sh.nodeMem[i]!, nodeMemoryMiB: 512, diskMiB: 102400, cpus: 8,
    offline: i === sh.offline,
  }));
  const usedMem = new Array<number>(sh.nodes).fill(512);
  const usedDisk = new Array<number>(sh.nodes).fill(0);
  const instances: InstanceInput[] = [];
  sh.instances.forEach((x, k) => {
    const p = x.p;
    const s = (x.p + x.s) % sh.nodes;
    if (usedMem[p]! + x.mem >= sh.nodeMem[p]! - 256) return;
    const d = x.disk + (x.drbd ? 128 : 0);
    if (usedDisk[p]! + d >= 100000 || (x.drbd && usedDisk[s]! + d >= 100000)) return;
    if (!x.down) usedMem[p]! += x.mem;
    usedDisk[p]! += d;
    if (x.drbd) usedDisk[s]! += d;
    instances.push({
      name: `i${k}`, memoryMiB: x.mem, vcpus: x.vcpus, disksMiB: [x.disk], diskTemplate: x.drbd ? 'drbd' : 'plain',
      primary: `n${p}`, secondary: x.drbd ? `n${s}` : null, status: x.down ? 'ADMIN_down' : 'running',
      tags: x.tag >= 0 ? [`svc:${x.tag}`] : [],
    });
  });
  return buildCluster({ nodes, instances, exclusionTags: ['svc:'] });
}
