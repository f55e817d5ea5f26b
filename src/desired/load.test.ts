import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDesired, loadSet, ParseCache } from './load.js';
import { toPlanInput } from '../plan/from-desired.js';
import { plan } from '../plan/plan.js';
import { allocatorFor } from '../execute/allocate.js';
import { emptyObservedNode } from '../core/observed.js';

const CAMPUS = fileURLToPath(new URL('../../examples/campus', import.meta.url));

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const doc = (kind: string, name: string, spec: string) => `---\napiVersion: gantry.dev/v1alpha1\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const CLUSTER = doc('Cluster', 'c', '{enabledHypervisors: [kvm], enabledDiskTemplates: [plain], storage: {volumeGroup: vg0}}')
  + doc('Node', 'n1', '{address: 198.18.1.1}') + doc('Node', 'n2', '{address: 198.18.1.2}');
const vm = (name: string, mem = '256M', node = 'n1') => doc('Instance', name, `{os: {name: none}, diskTemplate: plain, disks: [{size: 1G}], beParams: {memory: ${mem}}, placement: {primary: ${node}}}`);

async function manifests(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-load-'));
  dirs.push(dir);
  for (const [f, t] of Object.entries(files)) await writeFile(path.join(dir, f), t);
  return dir;
}

function deepFreeze(o: unknown): void {
  if (o === null || typeof o !== 'object' || Object.isFrozen(o)) return;
  Object.freeze(o);
  for (const v of Object.values(o)) deepFreeze(v);
}

describe('ParseCache', () => {
  it('given a set loaded twice with one file changed in between, it parses only that file and builds the same state as a load without a cache', async () => {
    const dir = await manifests({ 'cluster.yaml': CLUSTER, 'a.yaml': vm('a'), 'b.yaml': vm('b') });
    const cache = new ParseCache();
    expect((await loadDesired([dir], undefined, cache)).errors).toEqual([]);
    expect([cache.misses, cache.hits]).toEqual([3, 0]);
    await writeFile(path.join(dir, 'b.yaml'), vm('b', '512M', 'n2'));
    const cached = await loadDesired([dir], undefined, cache);
    expect([cache.misses, cache.hits]).toEqual([4, 2]);
    const fresh = await loadDesired([dir]);
    expect(cached.state!.instances.get('b')!.beParams.memory).toBe(512);
    expect(cached.state!.instances.get('b')!.placement.primary).toBe('n2');
    expect(JSON.stringify(toPlanInput(cached.state!))).toBe(JSON.stringify(toPlanInput(fresh.state!)));
  });

  it('given a file removed from the set, it forgets it, and a new file with a broken document yields its error each load', async () => {
    const dir = await manifests({ 'cluster.yaml': CLUSTER, 'a.yaml': vm('a'), 'b.yaml': vm('b') });
    const cache = new ParseCache();
    await loadDesired([dir], undefined, cache);
    await rm(path.join(dir, 'b.yaml'));
    await writeFile(path.join(dir, 'c.yaml'), vm('c').replace('memory: 256M', 'memory: lots'));
    for (let i = 0; i < 2; i++) {
      const r = await loadDesired([dir], undefined, cache);
      expect(r.state).toBeUndefined();
      expect(r.errors.map((e) => [path.basename(e.file), e.path])).toEqual([['c.yaml', 'spec.beParams.memory']]);
    }
    expect(cache.size).toBe(3);
  });

  it('given the overrides of a remote-API write, it validates them without keeping them: the next load reads the file on disk', async () => {
    const dir = await manifests({ 'cluster.yaml': CLUSTER, 'a.yaml': vm('a') });
    const cache = new ParseCache();
    const file = path.join(dir, 'a.yaml');
    const proposed = await loadSet([dir], new Map([[file, vm('a', '1G')]]), cache);
    expect(proposed.state!.instances.get('a')!.beParams.memory).toBe(1024);
    expect((await loadDesired([dir], undefined, cache)).state!.instances.get('a')!.beParams.memory).toBe(256);
  });

  it('given the cached resources of examples/campus frozen, building its desired state and planning it over empty nodes mutates nothing (they are shared between loads)', async () => {
    const cache = new ParseCache();
    const first = await loadSet([CAMPUS], undefined, cache);
    expect(first.errors).toEqual([]);
    for (const r of first.resources) deepFreeze(r.body);
    const again = await loadDesired([CAMPUS], undefined, cache);
    expect(cache.hits).toBe(cache.misses);
    const state = again.state!;
    const observed = { nodes: new Map([...state.nodes.keys()].map((n) => [n, {
      ...emptyObservedNode(n, '2026-01-01T00:00:00Z'),
      facts: { hostname: n, kernel: '6.1', cpus: 16, memoryTotalMiB: 262144, memoryFreeMiB: 260000 },
      vgs: Object.fromEntries(state.nodes.get(n)!.profile.volumeGroups.map((vg) => [vg.name, { name: vg.name, sizeMiB: 4 << 20, freeMiB: 4 << 20, pvs: vg.pvs }])),
    }])) };
    const p = plan(toPlanInput(state), observed, { allocator: allocatorFor(state) });
    expect(p.refused).toEqual([]);
    expect(new Set(p.actions.map((a) => a.subject)).size).toBeGreaterThan(state.instances.size);
  });
});
