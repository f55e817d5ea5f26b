import { afterEach, describe, expect, it, vi } from 'vitest';
import { kubeApiFrom } from '../../src/kube/client.js';
import { CrSource } from '../../src/kube/source.js';
import { silentLogger } from '../../src/util/log.js';
import { createCr, loadRepoCrds, patchCrSpec, startKubeApiDouble, type KubeApiDouble } from '../helpers/kube-api-double.js';

const NS = 'lab';
let api: KubeApiDouble | undefined;
let source: CrSource | undefined;
afterEach(async () => { source?.stop(); await api?.stop(); api = undefined; source = undefined; });

async function seed(d: KubeApiDouble): Promise<void> {
  await createCr(d, NS, 'Cluster', 'c1', { enabledHypervisors: ['kvm'], enabledDiskTemplates: ['plain'] });
  await createCr(d, NS, 'Node', 'n1', { address: '198.18.0.1' });
  await createCr(d, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], placement: { primary: 'n1' } });
}

async function started(): Promise<{ src: CrSource; changes: string[] }> {
  api = await startKubeApiDouble(await loadRepoCrds());
  await seed(api);
  const changes: string[] = [];
  source = new CrSource({ api: kubeApiFrom(api.kubeConfig()), namespace: NS, logger: silentLogger(), onChange: (why) => changes.push(why), retryMs: 20, relistMs: 0 });
  await source.start();
  await vi.waitFor(() => expect(api!.openWatches).toBe(5));
  return { src: source, changes };
}

describe('CR source (API double: no kube-apiserver can run here)', () => {
  it('given CRs in a namespace, it builds the desired state with origins naming Kind/namespace/name@resourceVersion (API double: no kube-apiserver can run here)', async () => {
    const { src, changes } = await started();
    const built = src.build();
    expect(built.state?.cluster.name).toBe('c1');
    expect([...built.state!.instances.keys()]).toEqual(['web1']);
    expect(built.refs.get('Node/n1')).toMatchObject({ namespace: NS, name: 'n1', generation: 1 });
    expect(changes).toEqual([]);
  });

  it('given a MODIFIED event with a new generation, it updates the cache and reports a change; a status-only write is not a change (API double: no kube-apiserver can run here)', async () => {
    const { src, changes } = await started();
    await patchCrSpec(api!, NS, 'Instance', 'web1', { beParams: { memory: '512M' } });
    await vi.waitFor(() => expect(changes).toEqual(['Instance/web1 modified']));
    expect(src.build().state?.instances.get('web1')?.beParams).toMatchObject({ memory: 512 });
    const cur = await api!.request('GET', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/web1`);
    await api!.request('PUT', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/web1/status`, { ...cur, status: { observedGeneration: 2 } });
    await createCr(api!, NS, 'Node', 'n2', { address: '198.18.0.2' });
    await vi.waitFor(() => expect(changes).toEqual(['Instance/web1 modified', 'Node/n2 added']));
  });

  it('given a watch that ends and resumes from a compacted resourceVersion (410 Gone), it relists and catches up on the missed change (API double: no kube-apiserver can run here)', async () => {
    const { src, changes } = await started();
    const listsBefore = src.relists;
    // the connection drops, a change happens meanwhile, and history is compacted
    api!.dropWatches();
    await patchCrSpec(api!, NS, 'Node', 'n1', { address: '198.18.0.9' });
    api!.compact();
    await vi.waitFor(() => expect(src.build().state?.nodes.get('n1')?.address).toBe('198.18.0.9'));
    expect(src.relists).toBeGreaterThan(listsBefore);
    expect(changes).toContain('Node relist (watch ended)');
    await vi.waitFor(() => expect(api!.openWatches).toBe(5));
  });

  it('given a resumed watch whose resourceVersion was compacted, it gets 410 and relists (API double: no kube-apiserver can run here)', async () => {
    const { src, changes } = await started();
    // history gone while the watch stays open: the next change arrives normally, then a
    // reconnect from the old resourceVersion must relist
    api!.compact();
    await patchCrSpec(api!, NS, 'Node', 'n1', { address: '198.18.0.7' });
    await vi.waitFor(() => expect(changes).toContain('Node/n1 modified'));
    api!.compact();
    const before = src.relists;
    await patchCrSpec(api!, NS, 'Cluster', 'c1', { enabledDiskTemplates: ['plain', 'file'] });
    api!.compact();
    api!.dropWatches();
    await vi.waitFor(() => expect(src.relists).toBeGreaterThan(before));
    await vi.waitFor(() => expect(src.build().state?.cluster.enabledDiskTemplates).toEqual(['plain', 'file']));
    expect(api!.requests.filter((r) => r.startsWith('GET /apis/gantry.dev/v1alpha1/namespaces/lab/clusters') && !r.endsWith('?watch')).length).toBeGreaterThanOrEqual(2);
  });

  it('given a CR that fails cross-resource checks, it reports the error against that CR and builds no state (API double: no kube-apiserver can run here)', async () => {
    const { src, changes } = await started();
    await patchCrSpec(api!, NS, 'Instance', 'web1', { placement: { primary: 'ghost' } });
    await vi.waitFor(() => expect(changes).toHaveLength(1));
    const built = src.build();
    expect(built.state).toBeUndefined();
    expect([...built.invalid.keys()]).toEqual(['Instance/web1']);
    expect(built.invalid.get('Instance/web1')![0]).toMatchObject({ code: 'unknown-reference', file: expect.stringMatching(/^Instance\/lab\/web1@\d+$/) });
  });
});
