import { afterEach, describe, expect, it, vi } from 'vitest';
import { kubeApiFrom, type KubeObject } from '../../src/kube/client.js';
import { LeaderElector } from '../../src/kube/leader.js';
import { StatusQueue, StatusWriter } from '../../src/kube/status-writer.js';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import { silentLogger } from '../../src/util/log.js';
import { createCr, loadRepoCrds, patchCrSpec, startKubeApiDouble, type KubeApiDouble } from '../helpers/kube-api-double.js';

const NS = 'lab';
const INST = `/apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/web1`;
let api: KubeApiDouble | undefined;
afterEach(async () => { await api?.stop(); api = undefined; });

const synced = (status: 'True' | 'False', at: string) => ({ type: 'Synced' as const, status, reason: status === 'True' ? 'InSync' : 'Drift', message: 'm', lastTransitionTime: at });

describe('status writer (API double: no kube-apiserver can run here)', () => {
  it('given a status, it writes observedGeneration, conditions and facts into the status subresource and leaves spec alone (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await createCr(api, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }] });
    const w = new StatusWriter({ api: kubeApiFrom(api.kubeConfig()), namespace: NS, logger: silentLogger() });
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('False', 't1')], facts: { status: 'running' } })).toBe('updated');
    // same status again: the transition time stays, nothing is written
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('False', 't2')], facts: { status: 'running' } })).toBe('unchanged');
    await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('True', 't3')] });
    const o = await api.request('GET', INST);
    expect(o.status).toEqual({ observedGeneration: 1, status: 'running', conditions: [synced('True', 't3')] });
    expect(o.spec.disks).toEqual([{ size: '1G' }]);
    expect(await w.write({ subject: 'Instance/ghost', observedGeneration: 1, conditions: [] })).toBe('missing');
  });

  it('given a concurrent spec edit between read and write (409 Conflict), it re-reads and retries without clobbering the edit (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await createCr(api, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }] });
    const d = api;
    d.beforeNext('PUT', /\/instances\/web1\/status$/, async () => { await patchCrSpec(d, NS, 'Instance', 'web1', { disks: [{ size: '2G' }] }); });
    const w = new StatusWriter({ api: kubeApiFrom(d.kubeConfig()), namespace: NS, logger: silentLogger() });
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('True', 't1')] })).toBe('updated');
    const o = await d.request('GET', INST);
    expect(o.spec.disks).toEqual([{ size: '2G' }]);
    expect(o.metadata.generation).toBe(2);
    expect(o.status).toMatchObject({ observedGeneration: 1, conditions: [synced('True', 't1')] });
    expect(d.requests.filter((r) => r === `PUT ${INST}/status`)).toHaveLength(2);
  });

  it('given the CR from the watch cache, it sends nothing for an unchanged status, writes a changed one without a read, and reads instead of trusting a cache behind its own last write (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await createCr(api, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }] });
    const w = new StatusWriter({ api: kubeApiFrom(api.kubeConfig()), namespace: NS, logger: silentLogger() });
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('False', 't1')] })).toBe('updated');
    // the watch cache, as it stands after that write's event arrived
    let cached = (await api.request('GET', INST)) as KubeObject;
    const cache = (kind: string, name: string): KubeObject | undefined => (name === 'web1' ? { ...cached, kind } : undefined);
    const before = api.requests.length;
    // unchanged against the cache: no request at all
    expect(await w.writeAll([{ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('False', 't2')] }], cache)).toMatchObject({ unchanged: 1 });
    expect(api.requests.length).toBe(before);
    // changed: one PUT conditional on the cached resourceVersion, no GET
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('True', 't3')] }, cache)).toBe('updated');
    expect(api.requests.slice(before)).toEqual([`PUT ${INST}/status`]);
    // the cache has not seen that write yet (still Synced=False): it is not trusted, so going back
    // to False is read and written, not skipped as "unchanged"
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('False', 't4')] }, cache)).toBe('updated');
    expect(api.requests.slice(before + 1)).toEqual([`GET ${INST}`, `PUT ${INST}/status`]);
    expect((await api.request('GET', INST)).status).toEqual({ observedGeneration: 1, conditions: [synced('False', 't4')] });
    // once the cache caught up with the write, it is trusted again
    cached = (await api.request('GET', INST)) as KubeObject;
    const caught = api.requests.length;
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('False', 't5')] }, cache)).toBe('unchanged');
    expect(api.requests.length).toBe(caught);
  });

  it('given updates handed over while a batch is being written, it writes the newest per CR after it, and nothing more once stop says so (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    for (const n of ['web1', 'web2']) await createCr(api, NS, 'Instance', n, { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }] });
    const d = api;
    const inst = (n: string) => `/apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/${n}`;
    const upd = (n: string, status: 'True' | 'False', at: string) => ({ subject: `Instance/${n}`, observedGeneration: 1, conditions: [synced(status, at)] });
    let stopped = false;
    const q = new StatusQueue(new StatusWriter({ api: kubeApiFrom(d.kubeConfig()), namespace: NS, logger: silentLogger() }), { logger: silentLogger(), stop: () => stopped });
    let release: (() => void) | undefined;
    d.beforeNext('PUT', /web1\/status$/, () => new Promise<void>((r) => { release = r; }));
    q.push([upd('web1', 'True', 't1')]);
    await vi.waitFor(() => expect(release).toBeDefined());
    // two passes report web2 while web1's write hangs: only the newest is kept
    q.push([upd('web2', 'True', 't2')]);
    q.push([upd('web2', 'False', 't3')]);
    expect(q.queued).toBe(1);
    release!();
    await q.idle();
    expect((await d.request('GET', inst('web1'))).status.conditions[0]).toMatchObject({ status: 'True' });
    expect((await d.request('GET', inst('web2'))).status.conditions[0]).toMatchObject({ status: 'False', lastTransitionTime: 't3' });
    expect(d.requests.filter((r) => r === `PUT ${inst('web2')}/status`)).toHaveLength(1);
    // this replica stopped leading: what is handed over is dropped
    stopped = true;
    q.push([upd('web1', 'False', 't4')]);
    await q.idle();
    expect((await d.request('GET', inst('web1'))).status.conditions[0]).toMatchObject({ status: 'True' });
  });

  it('given a cache with another writer\'s older resourceVersion, the conditional write gets 409 and it reads and writes again (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await createCr(api, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }] });
    const stale = (await api.request('GET', INST)) as KubeObject;
    await patchCrSpec(api, NS, 'Instance', 'web1', { disks: [{ size: '2G' }] }); // a spec edit this writer never saw
    const w = new StatusWriter({ api: kubeApiFrom(api.kubeConfig()), namespace: NS, logger: silentLogger() });
    const before = api.requests.length;
    expect(await w.write({ subject: 'Instance/web1', observedGeneration: 1, conditions: [synced('True', 't1')] }, (kind) => ({ ...stale, kind }))).toBe('updated');
    expect(api.requests.slice(before)).toEqual([`PUT ${INST}/status`, `GET ${INST}`, `PUT ${INST}/status`]);
    const o = await api.request('GET', INST);
    expect(o.spec.disks).toEqual([{ size: '2G' }]);
    expect(o.status).toMatchObject({ conditions: [synced('True', 't1')] });
  });
});

describe('leader election with a Lease (API double: no kube-apiserver can run here)', () => {
  const electors = (clock: FakeClock, events: string[]) => {
    const mk = (id: string) => new LeaderElector({
      api: kubeApiFrom(api!.kubeConfig()), namespace: NS, leaseName: 'gantry', identity: id, logger: silentLogger(), clock,
      leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000,
      onStartedLeading: () => events.push(`${id} leads`), onStoppedLeading: () => events.push(`${id} stops`),
    });
    return [mk('a'), mk('b')] as const;
  };
  const lease = () => api!.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/gantry`);

  it('given two candidates, one leads; when it stops renewing, the other takes over only after the lease expires (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble();
    const clock = new FakeClock(1_700_000_000_000);
    const events: string[] = [];
    const [a, b] = electors(clock, events);
    expect(await a.step()).toBe(true);
    expect(await b.step()).toBe(false);
    expect((await lease()).spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    // a renews, b keeps waiting
    await clock.advance(2_000);
    expect(await a.step()).toBe(true);
    expect(await b.step()).toBe(false);
    // a goes silent: b must wait a full lease duration from when it last saw a change
    await clock.advance(14_000);
    expect(await b.step()).toBe(false);
    await clock.advance(1_000);
    expect(await b.step()).toBe(true);
    const l = await lease();
    expect(l.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(l.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // a comes back and sees the lease is not its own any more
    expect(await a.step()).toBe(false);
    expect(events).toEqual(['a leads', 'b leads', 'a stops']);
  });

  it('given a leader whose renewals fail, it stops leading once the renew deadline passes (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble();
    const clock = new FakeClock(1_700_000_000_000);
    const events: string[] = [];
    const [a] = electors(clock, events);
    expect(await a.step()).toBe(true);
    api.failNext('PUT', /\/leases\/gantry$/, 500, 100);
    for (let t = 2_000; t < 10_000; t += 2_000) {
      await clock.advance(2_000);
      expect(await a.step()).toBe(true);
    }
    await clock.advance(2_000);
    expect(await a.step()).toBe(false);
    expect(a.isLeader).toBe(false);
    expect(events).toEqual(['a leads', 'a stops']);
  });

  it('given a leader that releases the lease, another candidate acquires it at once (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble();
    const clock = new FakeClock(1_700_000_000_000);
    const events: string[] = [];
    const [a, b] = electors(clock, events);
    await a.step();
    await a.release();
    expect((await lease()).spec.holderIdentity).toBe('');
    expect(await b.step()).toBe(true);
    expect(events).toEqual(['a leads', 'a stops', 'b leads']);
  });
});
