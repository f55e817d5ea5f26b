import { describe, expect, it } from 'vitest';
import { CrBuildCache } from './build-cache.js';
import type { KubeObject } from './client.js';
import { buildFromCrs, RENAMED_TO_ANNOTATION, supersededByRename } from './desired.js';

let rv = 1;
const cr = (kind: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'gantry.dev/v1alpha1', kind, metadata: { name, namespace: 'ns', resourceVersion: String(rv++), generation: 1, ...(annotations ? { annotations } : {}) }, spec,
} as KubeObject);
const vmSpec = { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], powerState: 'stopped', placement: { primary: 'node1' } };
const base = (): KubeObject[] => [
  cr('Cluster', 'c', { enabledHypervisors: ['kvm'], enabledDiskTemplates: ['plain'], storage: { volumeGroup: 'vg0' } }),
  cr('Node', 'node1', { address: '198.18.2.1', memory: '64G', cpus: 16 }),
  cr('Instance', 'other', vmSpec),
];
const old = (annotated: boolean) => cr('Instance', 'web1', vmSpec, annotated ? { [RENAMED_TO_ANNOTATION]: 'web9' } : undefined);
const renamed = cr('Instance', 'web9', { ...vmSpec, renamedFrom: 'web1' });
const instances = (b: ReturnType<typeof buildFromCrs>) => [...(b.state?.instances.keys() ?? [])].sort();

describe('buildFromCrs during a rename in Kubernetes mode (old CR annotated, new CR created, old CR deleted)', () => {
  it('given the old CR annotated and the new CR naming it in renamedFrom, it builds the new instance only (a rename), the old CR superseded', () => {
    const b = buildFromCrs([...base(), old(true), renamed], new CrBuildCache());
    expect(b.invalid.size).toBe(0);
    expect(instances(b)).toEqual(['other', 'web9']);
    expect(b.state!.instances.get('web9')!.renamedFrom).toBe('web1');
    expect([...b.superseded]).toEqual([['web1', 'web9']]);
    expect(b.refs.has('Instance/web1')).toBe(false);
  });

  it('given the same namespace before the create and after the delete, it builds the old instance, then the same state as in between', () => {
    const before = buildFromCrs([...base(), old(true)], new CrBuildCache());
    expect(instances(before)).toEqual(['other', 'web1']);
    expect(before.superseded.size).toBe(0);
    const between = buildFromCrs([...base(), old(true), renamed], new CrBuildCache());
    const after = buildFromCrs([...base(), renamed], new CrBuildCache());
    expect(between.state!.instances).toEqual(after.state!.instances);
  });

  it('given a new CR naming an old one that did not agree (no annotation), it refuses the namespace as before: the old name is still declared', () => {
    const b = buildFromCrs([...base(), old(false), renamed], new CrBuildCache());
    expect(b.state).toBeUndefined();
    expect(b.invalid.get('Instance/web9')?.[0]?.message).toMatch(/web1 is still declared/);
    expect(supersededByRename([...base(), old(false), renamed]).size).toBe(0);
  });

  it('given an annotation naming a CR that does not claim the old name, it supersedes nothing', () => {
    const other = cr('Instance', 'web9', vmSpec);
    expect(supersededByRename([old(true), other]).size).toBe(0);
    expect(instances(buildFromCrs([...base(), old(true), other], new CrBuildCache()))).toEqual(['other', 'web1', 'web9']);
  });
});
