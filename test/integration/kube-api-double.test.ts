import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiDouble, createCr, loadRepoCrds, patchCrSpec, startKubeApiDouble } from '../helpers/kube-api-double.js';

const NS = 'gantry';
const CR = `/apis/gantry.dev/v1alpha1/namespaces/${NS}/nodes`;
let api: KubeApiDouble | undefined;
afterEach(async () => { await api?.stop(); api = undefined; });

describe('the Kubernetes API double (API double: no kube-apiserver can run here)', () => {
  it('given the generated CRDs in crds/, it stores all five as structural schemas with a status subresource (API double: no kube-apiserver can run here)', async () => {
    const crds = await loadRepoCrds();
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(['clusters.gantry.dev', 'instances.gantry.dev', 'networks.gantry.dev', 'nodegroups.gantry.dev', 'nodes.gantry.dev']);
    api = await new KubeApiDouble().start();
    for (const crd of crds) await api.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    const n = await createCr(api, NS, 'Node', 'n1', { address: '198.18.0.1' });
    expect(n.metadata).toMatchObject({ generation: 1, namespace: NS });
  });

  it('given a CRD that is not structural, it refuses it with 422 (API double: no kube-apiserver can run here)', async () => {
    const [crd] = await loadRepoCrds();
    crd!.spec.versions[0].schema.openAPIV3Schema.properties.spec = { properties: { x: { type: 'string' } } };
    api = await new KubeApiDouble().start();
    await expect(api.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).rejects.toMatchObject({ status: 422 });
  });

  it('given a CR that violates the CRD schema, it answers 422 Invalid (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await expect(createCr(api, NS, 'Node', 'n1', { address: 42 })).rejects.toMatchObject({ status: 422 });
  });

  it('given spec and status writes, it bumps generation on spec only, keeps status out of main-resource writes and spec out of status writes (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    const created = await createCr(api, NS, 'Node', 'n1', { address: '198.18.0.1' });
    const withStatus = await api.request('PUT', `${CR}/n1/status`, { ...created, spec: { address: '198.18.0.99' }, status: { observedGeneration: 1 } });
    expect(withStatus.spec.address).toBe('198.18.0.1');
    expect(withStatus.metadata.generation).toBe(1);
    expect(Number(withStatus.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    const patched = await patchCrSpec(api, NS, 'Node', 'n1', { address: '198.18.0.2' });
    expect(patched.metadata.generation).toBe(2);
    expect(patched.status).toEqual({ observedGeneration: 1 });
    const put = await api.request('PUT', `${CR}/n1`, { ...patched, status: { observedGeneration: 99 } });
    expect(put.status).toEqual({ observedGeneration: 1 });
    expect(put.metadata.generation).toBe(2);
  });

  it('given a PUT with a stale resourceVersion, it answers 409 Conflict; a missing object is 404 (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    const created = await createCr(api, NS, 'Node', 'n1', { address: '198.18.0.1' });
    await patchCrSpec(api, NS, 'Node', 'n1', { address: '198.18.0.2' });
    await expect(api.request('PUT', `${CR}/n1/status`, { ...created, status: {} })).rejects.toMatchObject({ status: 409 });
    await expect(api.request('GET', `${CR}/nope`)).rejects.toMatchObject({ status: 404 });
    await expect(api.request('PATCH', `${CR}/n1`, { spec: {} }, 'application/json')).rejects.toMatchObject({ status: 415 });
  });

  it('given a watch from a compacted resourceVersion, it streams an ERROR event with code 410 (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await createCr(api, NS, 'Node', 'n1', { address: '198.18.0.1' });
    const fromRv = api.resourceVersion;
    await patchCrSpec(api, NS, 'Node', 'n1', { address: '198.18.0.2' });
    api.compact();
    const res = await fetch(`${api.url}${CR}?watch=true&resourceVersion=${fromRv}`);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: { code: number } });
    expect(lines).toEqual([expect.objectContaining({ type: 'ERROR', object: expect.objectContaining({ code: 410 }) })]);
  });
});
