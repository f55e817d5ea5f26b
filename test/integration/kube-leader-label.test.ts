/**
 * The Lease holder's pod carries gantry.dev/rapi-leader=true, so the chart's remote API
 * Service reaches only the replica that writes (API double: no kube-apiserver can run here).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runKubeDaemon } from '../../src/cli/run-kube.js';
import { kubeApiFrom } from '../../src/kube/client.js';
import { LEADER_LABEL, PodLeaderLabel } from '../../src/kube/leader-label.js';
import { SimCluster } from '../../src/sim/index.js';
import { silentLogger } from '../../src/util/log.js';
import { startKubeApiDouble, type KubeApiDouble } from '../helpers/kube-api-double.js';

const NS = 'lab';
let api: KubeApiDouble | undefined;
const stops: AbortController[] = [];
const runs: Promise<void>[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  await Promise.all(runs.splice(0));
  await api?.stop();
  api = undefined;
}, 30_000);

const podPath = (name: string) => `/api/v1/namespaces/${NS}/pods/${name}`;
const labelOf = async (d: KubeApiDouble, pod: string): Promise<string | undefined> => (await d.request('GET', podPath(pod))).metadata.labels?.[LEADER_LABEL];
const addPod = (d: KubeApiDouble, name: string, labels: Record<string, string> = {}) =>
  d.request('POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'gantry', ...labels } }, spec: {} });

function replica(d: KubeApiDouble, identity: string): AbortController {
  const stop = new AbortController();
  stops.push(stop);
  runs.push(runKubeDaemon({
    namespace: NS, kubeConfig: d.kubeConfig(), leaseName: 'gantry', identity, podName: `gantry-${identity}`, logger: silentLogger(),
    resyncMs: 0, debounceMs: 20, ops: new SimCluster(['n1']).nodes, signal: stop.signal,
    retryPeriodMs: 100, renewDeadlineMs: 1_000, leaseDurationMs: 2_000,
  }));
  return stop;
}

describe('the leader label on the Lease holder\'s pod (API double: no kube-apiserver can run here)', { timeout: 60_000 }, () => {
  it('given two replicas, only the Lease holder\'s pod carries the label (a stale one from a restarted container is removed); when it stops, the other pod gets it and the old one loses it', async () => {
    const d = api = await startKubeApiDouble();
    await addPod(d, 'gantry-a');
    await addPod(d, 'gantry-b', { [LEADER_LABEL]: 'true' }); // left by b's previous container
    const stopA = replica(d, 'a');
    await vi.waitFor(async () => expect(await labelOf(d, 'gantry-a')).toBe('true'), { timeout: 20_000, interval: 50 });
    replica(d, 'b'); // b starts, clears its stale label, campaigns and loses
    await vi.waitFor(async () => expect(await labelOf(d, 'gantry-b')).toBeUndefined(), { timeout: 20_000, interval: 50 });
    await new Promise((r) => setTimeout(r, 500)); // a few more retry periods: nothing changes
    expect([await labelOf(d, 'gantry-a'), await labelOf(d, 'gantry-b')]).toEqual(['true', undefined]);
    expect((await d.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/gantry`)).spec.holderIdentity).toBe('a');
    stopA.abort(); // a releases the Lease and takes its label off on the way out
    await vi.waitFor(async () => expect([await labelOf(d, 'gantry-a'), await labelOf(d, 'gantry-b')]).toEqual([undefined, 'true']), { timeout: 20_000, interval: 50 });
    expect((await d.request('GET', podPath('gantry-b'))).metadata.labels.app).toBe('gantry'); // other labels untouched
  });

  it('given the API refusing the patch twice, the label is retried until it lands, and the last wanted state wins', async () => {
    const d = api = await startKubeApiDouble();
    await addPod(d, 'gantry-a');
    d.failNext('PATCH', /\/pods\/gantry-a$/, 500, 2);
    const label = new PodLeaderLabel({ api: kubeApiFrom(d.kubeConfig()), namespace: NS, pod: 'gantry-a', logger: silentLogger(), retryMs: 20 });
    void label.set(true);
    await label.set(false);
    await label.set(true);
    expect(await labelOf(d, 'gantry-a')).toBe('true');
    expect(label.settled).toBe(true);
    expect(d.requests.filter((r) => r === `PATCH ${podPath('gantry-a')}`).length).toBeGreaterThanOrEqual(3);
  });
});
