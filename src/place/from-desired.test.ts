import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSet, parseManifestText } from '../desired/load.js';
import { buildDesired } from '../desired/build.js';
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

  // Ganeti's dedicated allocation, driven from the manifests: a group with ndParams.exclusiveStorage,
  // four nodes of two spindles each, one placed DRBD instance using one spindle per disk.
  const excl = (diskSpindles: number, nodeOverride = ''): string => [
    'apiVersion: gantry.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {enabledDiskTemplates: [drbd, plain], storage: {volumeGroup: vg0}}',
    'apiVersion: gantry.dev/v1alpha1\nkind: NodeGroup\nmetadata: {name: g1}\nspec: {ndParams: {exclusiveStorage: true}}',
    ...[1, 2, 3, 4].map((i) => `apiVersion: gantry.dev/v1alpha1\nkind: Node\nmetadata: {name: n${i}}\nspec: {group: g1, address: 192.0.2.${i}, spindles: 2${i === 4 ? nodeOverride : ''}}`),
    'apiVersion: gantry.dev/v1alpha1\nkind: Instance\nmetadata: {name: db1}\nspec: {os: {name: none}, diskTemplate: drbd, disks: [{size: 1G, spindles: 1}], placement: {primary: n1, secondary: n2}}',
    `apiVersion: gantry.dev/v1alpha1\nkind: Instance\nmetadata: {name: db2}\nspec: {os: {name: none}, diskTemplate: drbd, disks: [{size: 1G, spindles: ${diskSpindles}}]}`,
  ].join('\n---\n');
  const stateOf = (text: string) => {
    const parsed = parseManifestText('m.yaml', text);
    const built = buildDesired(parsed.resources, undefined, parsed.failed);
    expect([...parsed.errors, ...built.errors]).toEqual([]);
    return built.state!;
  };
  const facts = Object.fromEntries([1, 2, 3, 4].map((i) => [`n${i}`, { memoryMiB: 16384, diskMiB: 409600, cpus: 8 }]));

  it('given ndParams.exclusiveStorage and spindles, the model counts free spindles and places by lost allocations', () => {
    const state = stateOf(excl(2));
    const { cluster, unplaced } = clusterFromDesired(state, facts);
    expect(unplaced).toEqual(['db2']);
    expect(cluster.nodes.map((n) => [n.name, n.exclStorage, n.tSpindles, n.fSpindles])).toEqual([
      ['n1', true, 2, 1], ['n2', true, 2, 1], ['n3', true, 2, 2], ['n4', true, 2, 2],
    ]);
    // two spindles per side: only the empty pair n3/n4 has them
    const r = allocate(cluster, { name: 'db2', memoryMiB: 128, vcpus: 1, disksMiB: [1024], diskTemplate: 'drbd', spindles: 2 });
    expect(r.ok && [r.primary, r.secondary].sort()).toEqual(['n3', 'n4']);
    if (r.ok) expect(r.cluster.nodes.find((n) => n.name === 'n3')!.fSpindles).toBe(0);
    // three spindles: no node has them
    const no = allocate(cluster, { name: 'db2', memoryMiB: 128, vcpus: 1, disksMiB: [1024], diskTemplate: 'drbd', spindles: 3 });
    expect(no.ok).toBe(false);
    if (!no.ok) expect(no.reasons.FailSpindles).toBe(12);
  });

  it('given a node whose ndParams turn exclusive storage off, spindles no longer limit it and the cluster is not dedicated', () => {
    const state = stateOf(excl(3, ', ndParams: {exclusiveStorage: false}'));
    const { cluster } = clusterFromDesired(state, facts);
    expect(cluster.nodes.filter((n) => n.exclStorage).map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    const req = { name: 'db2', memoryMiB: 128, vcpus: 1, disksMiB: [1024], diskTemplate: 'plain' as const, spindles: 3 };
    const r = allocate(cluster, req, { capacityChecks: false });
    expect(r.ok && r.primary).toBe('n4');
    // hail's global N+1 check applies again (not dedicated): n4 could not be evacuated (3 spindles nowhere else)
    const n1 = allocate(cluster, req);
    expect(!n1.ok && n1.reasons.FailN1).toBe(1);
  });
});
