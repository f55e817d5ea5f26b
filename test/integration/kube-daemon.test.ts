import { afterEach, describe, expect, it, vi } from 'vitest';
import { runKubeDaemon } from '../../src/cli/run-kube.js';
import { SimCluster } from '../../src/sim/index.js';
import { silentLogger } from '../../src/util/log.js';
import { createCr, loadRepoCrds, patchCrSpec, startKubeApiDouble, type KubeApiDouble } from '../helpers/kube-api-double.js';

const NS = 'lab';
let api: KubeApiDouble | undefined;
let stop: AbortController | undefined;
let running: Promise<void> | undefined;
afterEach(async () => {
  stop?.abort();
  await running;
  await api?.stop();
  api = undefined;
  running = undefined;
});

const crPath = (plural: string, name: string) => `/apis/gantry.dev/v1alpha1/namespaces/${NS}/${plural}/${name}`;
type Cond = { type: string; status: string; reason: string; message: string };
const condition = (o: { status?: { conditions?: Cond[] } }, type: string) => o.status?.conditions?.find((c) => c.type === type);

async function seed(d: KubeApiDouble): Promise<void> {
  await createCr(d, NS, 'Cluster', 'c1', {
    enabledHypervisors: ['kvm'], enabledDiskTemplates: ['plain'], storage: { volumeGroup: 'vg0' },
    nodeProfile: { volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }] },
  });
  await createCr(d, NS, 'Node', 'n1', { address: '198.18.0.1' });
  await createCr(d, NS, 'Node', 'n2', { address: '198.18.0.2' });
  await createCr(d, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], placement: { primary: 'n1' } });
}

function start(d: KubeApiDouble, sim: SimCluster): void {
  stop = new AbortController();
  running = runKubeDaemon({
    namespace: NS, kubeConfig: d.kubeConfig(), leaseName: 'gantry', identity: 'test', logger: silentLogger(),
    resyncMs: 0, debounceMs: 20, ops: sim.nodes, signal: stop.signal, retryPeriodMs: 100, renewDeadlineMs: 1_000, leaseDurationMs: 2_000,
  });
}

describe('gantry run --kubernetes end to end on the simulator (API double: no kube-apiserver can run here)', () => {
  it('given CRs, it takes the lease, applies them to the simulated nodes, writes Synced=True, and follows a CR edit (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await seed(api);
    const sim = new SimCluster(['n1', 'n2']);
    start(api, sim);
    const d = api;
    await vi.waitFor(async () => {
      const o = await d.request('GET', crPath('instances', 'web1'));
      expect(condition(o, 'Synced')).toMatchObject({ status: 'True' });
      expect(o.status.observedGeneration).toBe(1);
    }, { timeout: 10_000, interval: 50 });
    expect(Object.values(sim.node('n1').snapshot().lvs).map((lv) => lv.sizeMiB)).toEqual([1024]);
    expect((await d.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/gantry`)).spec.holderIdentity).toBe('test');

    // an edit of the CR: the disk grows on the node, and status follows the new generation
    await patchCrSpec(d, NS, 'Instance', 'web1', { disks: [{ size: '2G' }] });
    await vi.waitFor(async () => {
      const o = await d.request('GET', crPath('instances', 'web1'));
      expect(o.status.observedGeneration).toBe(2);
      expect(condition(o, 'Synced')).toMatchObject({ status: 'True' });
    }, { timeout: 10_000, interval: 50 });
    expect(Object.values(sim.node('n1').snapshot().lvs).map((lv) => lv.sizeMiB)).toEqual([2048]);
    const node = await d.request('GET', crPath('nodes', 'n1'));
    expect(condition(node, 'Synced')).toMatchObject({ status: 'True' });
    expect(node.spec).toEqual({ address: '198.18.0.1' });
  });

  it('given an invalid CR, it writes Synced=False/InvalidSpec into that CR and changes nothing on any node (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await seed(api);
    await patchCrSpec(api, NS, 'Instance', 'web1', { placement: { primary: 'ghost' } });
    const sim = new SimCluster(['n1', 'n2']);
    const nodesNow = () => JSON.stringify(sim.snapshot(), (k, v: unknown) => (k === 'observedAt' ? undefined : v));
    const before = nodesNow();
    start(api, sim);
    const d = api;
    await vi.waitFor(async () => {
      const o = await d.request('GET', crPath('instances', 'web1'));
      expect(condition(o, 'Synced')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: expect.stringContaining('ghost') });
      expect(o.status.observedGeneration).toBe(2);
    }, { timeout: 10_000, interval: 50 });
    expect(nodesNow()).toBe(before);
    expect(condition(await d.request('GET', crPath('nodes', 'n1')), 'Synced')).toBeUndefined();
  });
});
