import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runKubeDaemon } from '../../src/cli/run-kube.js';
import type { Action } from '../../src/core/actions.js';
import type { ActionResult, NodeOps } from '../../src/core/node-ops.js';
import { kubeApiFrom } from '../../src/kube/client.js';
import { LeaderElector } from '../../src/kube/leader.js';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import { SimCluster } from '../../src/sim/index.js';
import { silentLogger } from '../../src/util/log.js';
import { createCr, loadRepoCrds, startKubeApiDouble, type KubeApiDouble } from '../helpers/kube-api-double.js';

const NS = 'lab';
let api: KubeApiDouble | undefined;
let stop: AbortController | undefined;
let running: Promise<void> | undefined;
let openGate: (() => void) | undefined;
afterEach(async () => {
  openGate?.();
  stop?.abort();
  await running;
  await api?.stop();
  api = undefined;
  running = undefined;
}, 30_000);

const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/gantry`;

/** Sim NodeOps whose first `verb` waits until `open()` is called (an action in flight). */
function gated(sim: SimCluster, verb: Action['verb']) {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  let entered: () => void = () => undefined;
  const inFlight = new Promise<void>((r) => (entered = r));
  const ran: string[] = [];
  const ops = new Map<string, NodeOps>([...sim.nodes].map(([name, o]) => [name, {
    node: name, observe: (req) => o.observe(req), describe: (a) => o.describe(a), close: () => o.close(),
    run: async (a: Action): Promise<ActionResult> => {
      ran.push(a.verb);
      if (a.verb === verb) {
        entered();
        await gate;
      }
      return o.run(a);
    },
  } satisfies NodeOps]));
  return { ops, ran, inFlight, open: () => open() };
}

describe('losing the Lease cancels the pass (API double: no kube-apiserver can run here)', { timeout: 60_000 }, () => {
  it('given a leader whose lease is taken mid-pass, it runs no further action, says "cancelled: lost leadership", and writes no status (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble(await loadRepoCrds());
    await createCr(api, NS, 'Cluster', 'c1', {
      enabledHypervisors: ['kvm'], enabledDiskTemplates: ['plain'], storage: { volumeGroup: 'vg0' },
      nodeProfile: { volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }] },
    });
    await createCr(api, NS, 'Node', 'n1', { address: '198.18.0.1' });
    await createCr(api, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], placement: { primary: 'n1' } });
    const sim = new SimCluster(['n1']);
    const g = gated(sim, 'lv.create');
    openGate = g.open;
    const lines: { msg: string; [k: string]: unknown }[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c))); cb(); } }));
    stop = new AbortController();
    running = runKubeDaemon({
      namespace: NS, kubeConfig: api.kubeConfig(), leaseName: 'gantry', identity: 'me', logger,
      resyncMs: 0, debounceMs: 20, ops: g.ops, signal: stop.signal, retryPeriodMs: 100, renewDeadlineMs: 8_000, leaseDurationMs: 16_000, // a deadline a loaded machine cannot miss: the thief, not the clock, ends the term
    });
    await g.inFlight; // vg.ensure done, lv.create running
    // another replica takes the lease (e.g. after a partition): our next renewal sees it
    const d = api;
    await vi.waitFor(async () => { // the leader renews every 100 ms: retry on 409 like any writer
      const lease = await d.request('GET', leasePath);
      await d.request('PUT', leasePath, { ...lease, spec: { ...lease.spec, holderIdentity: 'thief', renewTime: new Date().toISOString(), leaseDurationSeconds: 60 } });
    }, { timeout: 20_000, interval: 10 });
    await vi.waitFor(() => expect(lines.some((l) => l.msg === 'stopped leading')).toBe(true), { timeout: 20_000, interval: 20 });
    g.open();
    await vi.waitFor(() => expect(lines.find((l) => /lost leadership during the pass/.test(l.msg))).toBeDefined(), { timeout: 20_000, interval: 20 });
    expect(g.ran).toEqual(['vg.ensure', 'lv.create']);
    const cancelled = lines.find((l) => /lost leadership during the pass/.test(l.msg))!;
    expect(cancelled).toMatchObject({ cancelled: 2, reason: 'lost leadership: lease taken by thief' });
    expect(Object.keys(sim.snapshot().n1?.instances ?? {})).toEqual([]);
    const inst = await api.request('GET', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/web1`);
    expect(inst.status?.conditions ?? []).toEqual([]);
  });

  it('given a leader whose renewals fail past the renew deadline, its leadership signal aborts with the reason (API double: no kube-apiserver can run here)', async () => {
    api = await startKubeApiDouble();
    const clock = new FakeClock(1_700_000_000_000);
    const e = new LeaderElector({
      api: kubeApiFrom(api.kubeConfig()), namespace: NS, leaseName: 'gantry', identity: 'a', logger: silentLogger(), clock,
      leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000,
    });
    expect(e.leadership.aborted).toBe(true); // not leading yet
    expect(await e.step()).toBe(true);
    const term = e.leadership;
    expect(term.aborted).toBe(false);
    api.failNext('PUT', /\/leases\/gantry$/, 500, 100);
    for (let t = 0; t < 6; t++) {
      await clock.advance(2_000);
      await e.step();
    }
    expect(term.aborted).toBe(true);
    expect(term.reason).toBe('lost leadership: could not renew the lease within the renew deadline');
  });
});
