import { describe, expect, it } from 'vitest';
import { CrBuildCache } from './build-cache.js';
import type { KubeObject } from './client.js';
import { buildFromCrs } from './desired.js';

let rv = 1;
const cr = (kind: string, name: string, spec: unknown): KubeObject => ({
  apiVersion: 'gantry.dev/v1alpha1', kind, metadata: { name, namespace: 'ns', resourceVersion: String(rv++), generation: 1 }, spec,
} as KubeObject);
const namespace = (n: number): KubeObject[] => [
  cr('Cluster', 'c', { enabledHypervisors: ['kvm'], enabledDiskTemplates: ['plain'], storage: { volumeGroup: 'vg0' } }),
  cr('Node', 'node1', { address: '198.18.2.1', memory: '64G', cpus: 16 }),
  ...Array.from({ length: n }, (_, i) => cr('Instance', `vm${i}`, { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], placement: { primary: 'node1' } })),
];
/** A new version of one CR: its spec edited, a new resourceVersion (what the API server returns after a patch). */
const edited = (o: KubeObject, spec: Record<string, unknown>): KubeObject => ({ ...o, metadata: { ...o.metadata, resourceVersion: String(rv++) }, spec: { ...(o.spec as object), ...spec } });

describe('CrBuildCache with buildFromCrs', () => {
  it('given the same CRs twice, it validates each once and returns the first build (the same object)', () => {
    const cache = new CrBuildCache();
    const objs = namespace(5);
    const a = buildFromCrs(objs, cache);
    const b = buildFromCrs(objs.map((o) => structuredClone(o)), cache); // equal content, other objects (a second watch cache)
    expect(b).toBe(a);
    expect(cache.stats).toEqual({ validated: 7, validationHits: 0, built: 1, buildHits: 1 });
  });

  it('given one CR edited, it validates only that one again and builds what an empty cache builds', () => {
    const cache = new CrBuildCache();
    const objs = namespace(5);
    buildFromCrs(objs, cache);
    const next = objs.map((o) => (o.metadata.name === 'vm3' ? edited(o, { powerState: 'stopped' }) : o));
    const warm = buildFromCrs(next, cache);
    expect(cache.stats).toMatchObject({ validated: 8, validationHits: 6, built: 2 });
    const cold = buildFromCrs(next, new CrBuildCache());
    expect(warm.state!.instances.get('vm3')!.powerState).toBe('stopped');
    expect(warm.state).toEqual(cold.state);
    expect([...warm.refs]).toEqual([...cold.refs]);
  });

  it('given an invalid CR, it gives the same errors from the cache as fresh, naming the CR version each time', () => {
    const cache = new CrBuildCache();
    const objs = namespace(2);
    const bad = edited(objs[3]!, { disks: [{ size: '10X' }] });
    const broken = [...objs.slice(0, 3), bad];
    const first = buildFromCrs(broken, cache);
    expect(first.state).toBeUndefined();
    expect([...first.invalid.keys()]).toEqual(['Instance/vm1']);
    expect(first.invalid.get('Instance/vm1')![0]).toMatchObject({ path: 'spec.disks[0].size', file: `Instance/ns/vm1@${bad.metadata.resourceVersion}` });
    // the same spec under a new resourceVersion: the schema check is redone (the key is the whole document) and the error names the new version
    const again = edited(bad, {});
    const second = buildFromCrs([...objs.slice(0, 3), again], cache);
    expect(second.invalid.get('Instance/vm1')![0]!.file).toBe(`Instance/ns/vm1@${again.metadata.resourceVersion}`);
    expect(second.invalid).toEqual(buildFromCrs([...objs.slice(0, 3), again], new CrBuildCache()).invalid);
  });

  it('given more distinct namespaces than it keeps, it forgets the least recently used build and bounds validated documents', () => {
    const cache = new CrBuildCache({ maxBuilds: 2, maxDocs: 4 });
    const a = namespace(1);
    const b = [...a.slice(0, 2), edited(a[2]!, { powerState: 'stopped' })];
    const c = [...a.slice(0, 2), edited(a[2]!, { powerState: 'running' })];
    buildFromCrs(a, cache);
    buildFromCrs(b, cache);
    buildFromCrs(a, cache); // a is now the most recent
    buildFromCrs(c, cache); // evicts b
    expect(cache.stats).toMatchObject({ built: 3, buildHits: 1 });
    buildFromCrs(a, cache);
    expect(cache.stats.buildHits).toBe(2);
    buildFromCrs(b, cache);
    expect(cache.stats.built).toBe(4);
    // at most 4 documents kept, the oldest go first: after c's the Cluster and then the Node were
    // forgotten and validated again for b (3 + 1 + 1 + 2); b's own instance was still known
    expect(cache.stats).toMatchObject({ validated: 7, validationHits: 5 });
  });
});
