import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { SimCluster, SimFencer } from '../sim/index.js';
import { readFailovers, readLiveness } from '../status/state-dir.js';
import { silentLogger } from '../util/log.js';
import { completedFailovers, reconcileOnce, type ReconcileResult } from './reconcile.js';
import type { Action } from '../core/actions.js';
import type { Plan } from '../core/plan.js';
import { renderPlan } from '../status/drift-report.js';
import type { MissedProbe } from '../observe/liveness.js';

const SHARED = '/srv/gantry/shared';
const cluster = (failover: boolean) => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [sharedfile, plain]
  hvParams: {kvm: {accel: tcg}}
  beParams: {vcpus: 1, memory: 256M}
  storage: {volumeGroup: vg0, sharedFileStorageDir: ${SHARED}}
  autoRepair: {failover: ${failover}}
  nodeProfile: {volumeGroups: [{name: vg0, pvs: [/dev/sdb]}]}
`;
const node = (name: string, i: number, oob: boolean) => `---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: ${name}}
spec:
  address: 198.18.0.${10 + i}
  secondaryAddress: 198.19.0.${10 + i}
${oob ? '  oob: {program: [/usr/local/sbin/bmc-power], timeoutSeconds: 30}\n' : ''}`;
const instance = (name: string, template: string, primary: string) => `---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: ${name}}
spec: {os: {name: none}, diskTemplate: ${template}, disks: [{size: 1G}], placement: {primary: ${primary}}}
`;

const NODES = ['n1', 'n2', 'n3'];
let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-failover-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

class World {
  clock = Date.parse('2026-11-28T12:00:00.000Z');
  readonly sim = new SimCluster(NODES.map((name) => ({ name, blockDevices: { '/dev/sdb': 65_536 }, ovs: false })), { sharedDirs: [SHARED] });
  readonly fencer = new SimFencer(this.sim);
  readonly stateDir = path.join(dir, 'state');
  constructor(readonly state: DesiredState) {}
  static async make(opts: { failover?: boolean; oob?: boolean } = {}) {
    await mkdir(path.join(dir, 'm'), { recursive: true });
    const text = cluster(opts.failover ?? true) + NODES.map((n, i) => node(n, i, opts.oob ?? true)).join('') + instance('web1', 'sharedfile', 'n1') + instance('db1', 'plain', 'n1');
    await writeFile(path.join(dir, 'm', 'all.yaml'), text);
    const { state, errors } = await loadDesired([path.join(dir, 'm')]);
    expect(errors).toEqual([]);
    return new World(state!);
  }
  pass(stepMs = 5000, misses?: Map<string, MissedProbe[]>): Promise<ReconcileResult> {
    this.clock += stepMs;
    const take = misses ? () => { const m = new Map(misses); misses.clear(); return m; } : undefined;
    return reconcileOnce(this.state, { logger: silentLogger(), ops: this.sim.nodes, stateDir: this.stateDir, now: () => new Date(this.clock), fencer: this.fencer, ...(take ? { takeMissedProbes: take } : {}) }, { apply: true });
  }
  running(inst: string): string[] {
    return Object.entries(this.sim.snapshot()).filter(([, o]) => o.instances[inst]?.runState === 'running').map(([n]) => n);
  }
  async converge() {
    for (let i = 0; i < 5; i++) if ((await this.pass()).plan.actions.length === 0) return;
  }
  /** Converge, cut n1 off, pass through its grace and fence: where web1 runs now. */
  async failedOver(): Promise<string[]> {
    await this.converge();
    this.sim.node('n1').setUnreachable(true);
    for (let i = 0; i < 3; i++) await this.pass();
    return this.running('web1');
  }
}

describe('automatic failover (simulated nodes and power, real state directory)', () => {
  it('given failover on and n1 cut off, nothing happens in the grace; then n1 is fenced, web1 (sharedfile) starts on one other node, db1 (plain) is reported lost, and the timeline is recorded', async () => {
    const w = await World.make();
    await w.converge();
    expect(w.running('web1')).toEqual(['n1']);
    w.sim.node('n1').setUnreachable(true);
    const p1 = await w.pass();
    const p2 = await w.pass();
    expect(w.fencer.calls).toEqual([]);
    expect(p2.plan.actions).toEqual([]);
    expect(w.running('web1')).toEqual(['n1']); // unknown is not absent: still there, nothing elsewhere
    expect(p1.observed.liveness?.get('n1')?.condition).toBe('Unreachable');
    const p3 = await w.pass();
    expect(w.fencer.calls).toEqual(['n1']);
    expect(p3.fencing).toMatchObject([{ node: 'n1', ok: true, record: { powered: false } }]);
    expect(p3.observed.liveness?.get('n1')).toMatchObject({ condition: 'Dead', detected: new Date(w.clock - 10_000).toISOString() });
    const on = w.running('web1');
    expect(on).toHaveLength(1);
    expect(on[0]).not.toBe('n1');
    expect(p3.plan.failovers).toEqual(expect.arrayContaining([expect.objectContaining({ instance: 'db1', from: 'n1', lost: expect.stringMatching(/plain disks exist only on n1: lost until n1 returns/) })]));
    expect(renderPlan(p3.plan, 'table')).toMatch(/> web1: n1 -> n[23]; detected .*, fenced /);
    const rec = (await readFailovers(w.stateDir)).get('web1');
    expect(rec).toMatchObject({ instance: 'web1', from: 'n1', to: on[0], detected: expect.any(String), fenced: expect.any(String), started: expect.any(String) });
    expect(p3.statuses.find((s) => s.subject === 'Instance/web1')?.facts).toMatchObject({ primary: on[0], failover: { from: 'n1' } });
    // Later passes keep it there: the manifest still says n1, the record holds.
    await w.pass();
    expect(w.running('web1')).toEqual(on);
  });

  it('given the heartbeat\'s misses between passes (every 2 s), n1 stays in its grace until 10 s after its first miss even with 7 missed probes, and the first pass after that fences n1 and starts web1 elsewhere in that same pass', async () => {
    const w = await World.make();
    await w.converge();
    w.sim.node('n1').setUnreachable(true);
    const misses = new Map<string, MissedProbe[]>();
    const at = (ms: number) => ({ at: new Date(w.clock + ms).toISOString(), error: 'no TCP answer on its SSH port (heartbeat)' });
    // the heartbeat's first miss starts the outage; the pass it triggers probes n1 too
    misses.set('n1', [at(100)]);
    const p1 = await w.pass(200, misses);
    expect(p1.observed.liveness?.get('n1')).toMatchObject({ condition: 'Unreachable', missedProbes: 2, graceOver: false, since: new Date(w.clock - 100).toISOString() });
    expect(p1.plan.actions).toEqual([]);
    misses.set('n1', [2000, 4000, 6000, 8000].map(at));
    // 9.9 s after the first miss: still in its grace though it has 7 missed probes
    const early = await w.pass(9700, misses);
    expect(early.observed.liveness?.get('n1')).toMatchObject({ condition: 'Unreachable', graceOver: false });
    expect(w.fencer.calls).toEqual([]);
    expect(w.running('web1')).toEqual(['n1']);
    const p2 = await w.pass(200, misses);
    expect(w.fencer.calls).toEqual(['n1']);
    expect(p2.observed.liveness?.get('n1')).toMatchObject({ condition: 'Dead' });
    const on = w.running('web1');
    expect(on).toHaveLength(1);
    expect(on[0]).not.toBe('n1');
    expect((await readFailovers(w.stateDir)).get('web1')).toMatchObject({ from: 'n1', to: on[0] });
  });

  it('given the dead node powered on again, web1 stays on its new node (one copy) and n1\'s stale runtime files go', async () => {
    const w = await World.make();
    const on = await w.failedOver();
    w.sim.node('n1').setUnreachable(false);
    w.sim.node('n1').boot();
    const back = await w.pass();
    expect(back.observed.liveness?.get('n1')?.condition).toBe('Ready');
    expect(back.plan.actions.filter((a) => a.node === 'n1' && a.subject === 'Instance/web1').map((a) => a.verb)).toEqual(['instance.remove']);
    await w.converge();
    expect(w.running('web1')).toEqual(on);
    expect(Object.keys(w.sim.snapshot().n1!.instances)).not.toContain('web1');
  });

  it('given a copy still running on the old node when it returns (its qemu survived), that stale copy is stopped, never a second one kept', async () => {
    const w = await World.make();
    const on = await w.failedOver();
    // n1 comes back with web1 running (as if its qemu had survived)
    w.sim.node('n1').setUnreachable(false);
    w.sim.node('n1').boot();
    w.sim.node('n1').tamper((s) => {
      const vm = s.instances.get('web1')!;
      s.instances.set('web1', { ...vm, runState: 'running', pid: 4242 });
    });
    const back = await w.pass();
    expect(back.plan.refused.map((r) => r.code)).not.toContain('RUNNING_TWICE');
    expect(back.plan.actions.find((a) => a.node === 'n1' && a.verb === 'instance.stop')?.reason).toMatch(/stale copy/);
    await w.converge();
    expect(w.running('web1')).toEqual(on);
  });

  it('given failover off, an unreachable node past its grace is never fenced and its instances wait', async () => {
    const w = await World.make({ failover: false });
    await w.converge();
    w.sim.node('n1').setUnreachable(true);
    let last!: ReconcileResult;
    for (let i = 0; i < 4; i++) last = await w.pass();
    expect(w.fencer.calls).toEqual([]);
    expect(last.plan.fencing?.[0]).toMatchObject({ node: 'n1', fence: false, reason: expect.stringMatching(/no instance on it asks for failover/) });
    expect(w.running('web1')).toEqual(['n1']);
  });

  it('given no out-of-band program, the node is not fenced: nothing moves', async () => {
    const w = await World.make({ oob: false });
    await w.converge();
    w.sim.node('n1').setUnreachable(true);
    let last!: ReconcileResult;
    for (let i = 0; i < 4; i++) last = await w.pass();
    expect(w.fencer.calls).toEqual([]);
    expect(last.plan.fencing?.[0]?.reason).toMatch(/no out-of-band program/);
    expect(w.running('web1')).toEqual(['n1']);
  });

  it('given two nodes of the group vanishing together, neither is fenced (at most one per group by default)', async () => {
    const w = await World.make();
    await w.converge();
    w.sim.node('n1').setUnreachable(true);
    w.sim.node('n2').setUnreachable(true);
    let last!: ReconcileResult;
    for (let i = 0; i < 4; i++) last = await w.pass();
    expect(w.fencer.calls).toEqual([]);
    expect(last.plan.fencing?.find((f) => f.node === 'n1')?.reason).toMatch(/2 nodes of group default are down or unreachable together/);
    expect((await readLiveness(w.stateDir))?.nodes.get('n1')?.condition).toBe('Unreachable');
  });

  // Fault campaign (failover worlds, seed 2 step 23): n4 lost sshd one pass after n3; n3's grace ended first and it was
  // fenced while its DRBD peer n4, unobservable, was still connected to it. Two nodes a pass apart vanished together.
  it('given a second node of the group vanishing one pass after the first, the first is not fenced when its grace ends: both count', async () => {
    const w = await World.make();
    await w.converge();
    w.sim.node('n1').setUnreachable(true);
    await w.pass();
    w.sim.node('n2').setUnreachable(true);
    let last!: ReconcileResult;
    for (let i = 0; i < 4; i++) last = await w.pass();
    expect(w.fencer.calls).toEqual([]);
    expect(last.plan.fencing?.find((f) => f.node === 'n1')).toMatchObject({ fence: false, reason: expect.stringMatching(/2 nodes of group default are down or unreachable together \(n1, n2;/) });
    expect(w.running('web1')).toEqual(['n1']);
  });

  it('given a power-off that cannot be confirmed, the node stays Unreachable and nothing starts elsewhere', async () => {
    const w = await World.make();
    await w.converge();
    const fencer = new SimFencer(w.sim, { failFor: new Set(['n1']) });
    Object.assign(w, { fencer });
    w.sim.node('n1').setUnreachable(true);
    let last!: ReconcileResult;
    for (let i = 0; i < 3; i++) last = await w.pass();
    expect(last.fencing).toMatchObject([{ node: 'n1', ok: false }]);
    expect(last.observed.liveness?.get('n1')?.condition).toBe('Unreachable');
    expect(w.running('web1')).toEqual(['n1']);
  });
});

describe('failover records for DRBD (pure: a plan and an execute report built by hand)', () => {
  const promote = { verb: 'drbd.primary' as const, node: 'n2', subject: 'Instance/db1', resource: 'resource0', minor: 0, waitS: 0, failover: { from: 'n1', force: false }, reason: 'failover' };
  const planOf = (actions: Action[]): Plan => ({ entries: [], actions, waves: [actions], refused: [], orphans: [], unreachable: [], failovers: [{ instance: 'db1', from: 'n1', to: 'n2', fenced: '2026-11-28T12:00:09Z' }] });
  const result = (action: Action, ok: boolean) => ({ action, ok, unchanged: false, commands: [], durationMs: 1 });

  it('given a DRBD instance declared stopped, its failover is recorded once the promotion on the new primary succeeded, and not when it failed', () => {
    const p = planOf([promote]);
    expect(completedFailovers(p, { results: [result(promote, true)], skipped: [], ok: true, durationMs: 1 }, 'T')).toEqual([{ instance: 'db1', from: 'n1', to: 'n2', fenced: '2026-11-28T12:00:09Z', started: 'T' }]);
    expect(completedFailovers(p, { results: [result(promote, false)], skipped: [], ok: false, durationMs: 1 }, 'T')).toEqual([]);
  });

  it('given results that carry their end time, the record\'s started is when the promotion (or the start) ended, not the end of the pass', () => {
    const p = planOf([promote]);
    const done = { ...result(promote, true), finishedAt: '2026-11-28T12:00:11.000Z' };
    expect(completedFailovers(p, { results: [done], skipped: [], ok: true, durationMs: 1 }, '2026-11-28T12:00:16.000Z')).toMatchObject([{ instance: 'db1', started: '2026-11-28T12:00:11.000Z' }]);
    const realStart = { verb: 'instance.start', node: 'n2', subject: 'Instance/db1', reason: 'failover start' } as unknown as Action;
    const started = { ...result(realStart, true), finishedAt: '2026-11-28T12:00:12.500Z' };
    expect(completedFailovers(planOf([promote, realStart]), { results: [done, started], skipped: [], ok: true, durationMs: 1 }, '2026-11-28T12:00:16.000Z')).toMatchObject([{ started: '2026-11-28T12:00:12.500Z' }]);
  });

  it('given a start planned after the promotion, only the start\'s success records the failover', () => {
    // only verb, node and subject matter to completedFailovers: the launch description is left out
    const realStart = { verb: 'instance.start', node: 'n2', subject: 'Instance/db1', reason: 'failover start' } as unknown as Action;
    const p = planOf([promote, realStart]);
    expect(completedFailovers(p, { results: [result(promote, true)], skipped: [], ok: false, durationMs: 1 }, 'T')).toEqual([]);
    expect(completedFailovers(p, { results: [result(promote, true), result(realStart, true)], skipped: [], ok: true, durationMs: 1 }, 'T')).toHaveLength(1);
  });
});
