import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSet } from '../desired/load.js';
import { UNKNOWN_DISK_MIB, clusterFromDesired } from './from-desired.js';
import { allocate, balance } from './index.js';

const CAMPUS = fileURLToPath(new URL('../../examples/campus', import.meta.url));

describe('desired state adapter', () => {
  it('given the campus manifests and node facts, it builds the cluster with placed and unplaced instances', async () => {
    const { state, errors } = await loadSet([CAMPUS]);
    expect(errors).toEqual([]);
    const nodes = [...state!.nodes.keys()];
    const facts = Object.fromEntries(nodes.map((n) => [n, { memoryMiB: 65536, diskMiB: 2000000, cpus: 16 }]));
    const r = clusterFromDesired(state!, facts);
    expect(r.cluster.nodes.map((n) => n.name).sort()).toEqual(nodes.sort());
    expect(r.cluster.groups.map((g) => g.name).sort()).toEqual([...state!.groups.keys()].sort());
    const placed = [...state!.instances.values()].filter((i) => i.state === 'present' && i.placement.primary && (!i.needsSecondary || i.placement.secondary));
    expect(r.cluster.instances.map((i) => i.name).sort()).toEqual(placed.map((i) => i.name).sort());
    expect(r.unplaced.length + r.cluster.instances.length).toBe([...state!.instances.values()].filter((i) => i.state === 'present').length);
    // the planner's use: place the unplaced ones one by one
    let c = r.cluster;
    for (const name of r.unplaced) {
      const i = state!.instances.get(name)!;
      const res = allocate(c, {
        name, memoryMiB: i.beParams.memory, vcpus: i.beParams.vcpus, disksMiB: i.disks.map((d) => d.size),
        diskTemplate: i.needsSecondary ? 'drbd' : i.diskTemplate, tags: i.tags, ...(i.placement.group ? { group: i.placement.group } : {}),
      }, { capacityChecks: false });
      expect(res.ok, `${name}: ${res.ok ? '' : res.message}`).toBe(true);
      if (res.ok) c = res.cluster;
    }
    expect(balance(c).groups.length).toBe(r.cluster.groups.length);
  });

  it('given nodes without sizes, it leaves them out and says why; unknown disk never limits', async () => {
    const { state } = await loadSet([CAMPUS]);
    const [first, ...rest] = [...state!.nodes.keys()];
    const r = clusterFromDesired(state!, Object.fromEntries(rest.map((n) => [n, { memoryMiB: 32768, cpus: 8 }])));
    expect(r.skipped).toContainEqual({ kind: 'Node', name: first, reason: expect.stringMatching(/memory size unknown/) });
    expect(r.cluster.nodes.every((n) => n.tDsk === UNKNOWN_DISK_MIB)).toBe(true);
  });
});
