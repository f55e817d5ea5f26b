import { describe, expect, it } from 'vitest';
import { plan } from '../plan/plan.js';
import type { PlanInput, PlanNode } from '../core/plan.js';
import { SimCluster } from '../sim/cluster.js';
import { ExecError, TerminalError } from '../util/errors.js';
import { silentLogger } from '../util/log.js';
import type { Reconcile, ReconcileReport } from './controller.js';
import { startDaemon } from './daemon.js';
import { FakeClock } from './fake-clock.js';

/**
 * The runtime driving the real planner against the simulator: level-triggered per-key
 * reconciles, retries with backoff while a parent object is missing, resync repairing
 * hand-made drift, and terminal errors left alone.
 */
const node = (name: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: '/run/gantry', fileStorageDir: '/srv/gantry/file',
  profile: {
    bridges: [{ name: 'br0', vlanFiltering: false, addresses: [], ports: [] }],
    ovsBridges: [], vxlans: [],
    volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }],
    sysctls: { 'net.ipv4.ip_forward': '1' },
  },
});

const input: PlanInput = {
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/gantry/shared', removeOrphans: false, exclusionTags: [] },
  networks: [],
  nodes: [node('n1'), node('n2')],
  instances: ['web1', 'web2'].map((name, i) => ({
    name, state: 'present', deleteDisks: false, diskTemplate: 'plain', primary: `n${i + 1}`, memoryMiB: 512, vcpus: 1, tags: [],
    disks: [{ index: 0, sizeMiB: 1024, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' }],
  })),
};

const req = { sysctls: ['net.ipv4.ip_forward'], fileDirs: [] };

const ORDERING = new Set(['VG_NOT_FOUND', 'OVS_BRIDGE_NOT_FOUND', 'MASTER_NOT_FOUND', 'LV_NOT_FOUND', 'DISK_NOT_FOUND']);

/** Observe, plan, and apply only the actions of `key`'s entry, in plan order. */
function reconcilerFor(sim: SimCluster): Reconcile {
  return async (key) => {
    const p = plan(input, await sim.observe(req));
    const entry = p.entries.find((e) => e.subject === key);
    for (const a of entry?.actions ?? []) {
      const r = await sim.run(a);
      if (r.ok) continue;
      // Keys run in any order here: a missing parent is there once its own key ran (a later pass).
      if (r.error?.retryable || ORDERING.has(r.error?.code ?? '')) throw new ExecError(r.error!.code, r.error!.message);
      throw new TerminalError(r.error?.code ?? 'FAILED', r.error?.message ?? 'failed');
    }
  };
}

function start(sim: SimCluster, clock: FakeClock, signal: AbortSignal, reports: ReconcileReport[]) {
  return startDaemon({
    paths: [], watch: false, resyncMs: 60_000, logger: silentLogger(), clock, signal, workers: 2,
    backoff: { random: () => 0 },
    keysFor: async () => ['Instance/web1', 'Instance/web2', 'Node/n1', 'Node/n2'],
    reconcile: reconcilerFor(sim),
    onReport: (r) => reports.push(r),
  });
}

describe('daemon with the planner on the simulator', () => {
  it('given a retryable failure while creating a disk, it retries the instance after the backoff until everything converges', async () => {
    const sim = new SimCluster(['n1', 'n2']);
    sim.node('n1').failNext('lv.create', { code: 'LVCREATE_FAILED', retryable: true });
    const clock = new FakeClock();
    const ac = new AbortController();
    const reports: ReconcileReport[] = [];
    const d = start(sim, clock, ac.signal, reports);
    await clock.tick();
    expect(reports.find((r) => r.key === 'Instance/web1')).toMatchObject({ result: 'error', retryInMs: 1_000 });
    await clock.advance(999);
    expect(reports.filter((r) => r.key === 'Instance/web1')).toHaveLength(1);
    await clock.advance(1);
    // Depending on order, web2 may also have failed once (its VG not there yet); all end in success.
    const last = new Map(reports.map((r) => [r.key, r.result]));
    expect(Object.fromEntries(last)).toEqual({ 'Instance/web1': 'success', 'Instance/web2': 'success', 'Node/n1': 'success', 'Node/n2': 'success' });
    expect(plan(input, await sim.observe(req)).actions).toEqual([]);
    ac.abort();
    await d.stopped;
  });

  it('given hand-made drift on a node, the next resync repairs it', async () => {
    const sim = new SimCluster(['n1', 'n2']);
    const clock = new FakeClock();
    const ac = new AbortController();
    const reports: ReconcileReport[] = [];
    const d = start(sim, clock, ac.signal, reports);
    await clock.advance(1_000);
    sim.node('n2').tamper((s) => {
      s.sysctls.set('net.ipv4.ip_forward', '0');
      s.lvs.delete('vg0/web2.disk0');
    });
    expect(plan(input, await sim.observe(req)).actions.map((a) => a.verb)).toEqual(['sysctl.set', 'lv.create']);
    await clock.advance(60_000);
    expect(plan(input, await sim.observe(req)).actions).toEqual([]);
    expect(sim.snapshot().n2?.sysctls['net.ipv4.ip_forward']).toBe('1');
    ac.abort();
    await d.stopped;
  });

  it('given a non-retryable failure, it reports it terminal and does not retry until the next resync', async () => {
    const sim = new SimCluster(['n1', 'n2']);
    sim.node('n1').failNext('bridge.ensure', { code: 'HOST_KEY_MISMATCH', retryable: false });
    const clock = new FakeClock();
    const ac = new AbortController();
    const reports: ReconcileReport[] = [];
    const d = start(sim, clock, ac.signal, reports);
    await clock.advance(59_000);
    const n1 = reports.filter((r) => r.key === 'Node/n1');
    expect(n1.map((r) => r.result)).toEqual(['terminal']);
    expect(sim.snapshot().n1?.bridges).toEqual({});
    await clock.advance(1_000); // resync: the fault was one-shot, so this pass succeeds
    expect(reports.filter((r) => r.key === 'Node/n1').map((r) => r.result)).toEqual(['terminal', 'success']);
    ac.abort();
    await d.stopped;
  });
});
