import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { SimCluster } from '../sim/index.js';
import { readWatcherRestarts, writeWatcherPause } from '../status/state-dir.js';
import { memoryView, verifyCluster } from '../status/verify.js';
import { renderPlan } from '../status/drift-report.js';
import { silentLogger } from '../util/log.js';
import { reconcileOnce, type ReconcileResult } from './reconcile.js';
import { nextWatcherWakeMs } from './restarts.js';

const SHARED = '/srv/gantry/shared';
const manifests = (restartGeneration = 0) => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [sharedfile]
  hvParams: {kvm: {accel: tcg}}
  beParams: {vcpus: 1, memory: 256M}
  storage: {sharedFileStorageDir: ${SHARED}}
  watcher: {maxRestarts: 2, backoffSeconds: 10, healthySeconds: 60}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 198.18.0.10}
---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec: {os: {name: none}, diskTemplate: sharedfile, disks: [{size: 1G}], placement: {primary: n1}, restartGeneration: ${restartGeneration}}
`;

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-watcher-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

async function load(restartGeneration = 0): Promise<DesiredState> {
  await mkdir(path.join(dir, 'm'), { recursive: true });
  await writeFile(path.join(dir, 'm', 'all.yaml'), manifests(restartGeneration));
  const { state, errors } = await loadDesired([path.join(dir, 'm')]);
  expect(errors).toEqual([]);
  return state!;
}

/** Simulated node (a double: the real QEMU guest killed 6 times is the namespace lab's job), real planner and state directory, a fake clock. */
class World {
  clock = Date.parse('2026-11-28T12:00:00.000Z');
  readonly sim = new SimCluster([{ name: 'n1', ovs: false }], { sharedDirs: [SHARED] });
  readonly stateDir = path.join(dir, 'state');
  constructor(public state: DesiredState) {}
  pass(stepS: number): Promise<ReconcileResult> {
    this.clock += stepS * 1000;
    return reconcileOnce(this.state, { logger: silentLogger(), ops: this.sim.nodes, stateDir: this.stateDir, now: () => new Date(this.clock) }, { apply: true });
  }
  /** The guest's QEMU dies: not stopped by Gantry, not shut down from inside (ERROR_down). */
  kill(): void {
    this.sim.node('n1').tamper((s) => {
      const vm = s.instances.get('web1')!;
      const { pid: _pid, ...rest } = vm;
      s.instances.set('web1', { ...rest, runState: 'stopped', guestShutdown: false, adminStopped: false });
    });
  }
  running(): boolean {
    return this.sim.snapshot().n1?.instances.web1?.runState === 'running';
  }
  starts(r: ReconcileResult): number {
    return r.plan.actions.filter((a) => a.verb === 'instance.start').length;
  }
}

describe('the watcher in reconcile passes (state directory, fake clock)', () => {
  it('given a guest that keeps crashing, it restarts it with backoff up to the cap, counts across passes in watcher.json, then stops and asks for a human; a bumped restartGeneration starts it again and the count resets once it stays up', async () => {
    const w = new World(await load());
    for (let i = 0; i < 5 && (await w.pass(1)).plan.actions.length > 0; i++);
    expect(w.running()).toBe(true);

    w.kill();
    const r1 = await w.pass(1);
    expect(w.starts(r1)).toBe(1);
    expect(w.running()).toBe(true);
    expect((await readWatcherRestarts(w.stateDir)).get('web1')).toEqual({ attempts: 1, last: new Date(w.clock).toISOString() });

    w.kill();
    const held = await w.pass(3);
    expect(w.starts(held)).toBe(0);
    expect(held.plan.watcher?.decisions[0]).toMatchObject({ decision: 'backoff', attempts: 1 });
    expect(nextWatcherWakeMs(held.plan, w.clock)).toBe(7000);
    expect(w.running()).toBe(false);

    const r2 = await w.pass(7);
    expect(w.starts(r2)).toBe(1);
    expect((await readWatcherRestarts(w.stateDir)).get('web1')?.attempts).toBe(2);

    // A new World is a restarted daemon: the count comes from the state directory.
    const again = new World(w.state);
    Object.assign(again, { clock: w.clock, sim: w.sim });
    again.kill();
    const gaveUp = await again.pass(3600);
    expect(again.starts(gaveUp)).toBe(0);
    expect(gaveUp.plan.watcher?.decisions[0]).toMatchObject({ decision: 'gave-up', attempts: 2, max: 2 });
    const st = gaveUp.statuses.find((s) => s.subject === 'Instance/web1')!;
    expect(st.conditions).toContainEqual(expect.objectContaining({ type: 'NeedsHuman', status: 'True', reason: 'WatcherGaveUp' }));
    expect(st.facts.watcher).toMatchObject({ restarts: 2, decision: 'gave-up' });
    expect(renderPlan(gaveUp.plan, 'table')).toMatch(/Watcher \(ERROR_down instances\):\n {2}! web1 on n1: gave-up \(2\/2 restarts\)/);
    expect(verifyCluster(gaveUp.plan, gaveUp.observed, memoryView(w.state, gaveUp.observed))).toContainEqual(expect.objectContaining({ severity: 'warning', check: 'watcher', subject: 'Instance/web1' }));
    expect(again.running()).toBe(false);

    again.state = await load(1);
    const manual = await again.pass(10);
    expect(again.starts(manual)).toBe(1);
    expect(again.running()).toBe(true);
    expect((await readWatcherRestarts(w.stateDir)).get('web1')?.attempts).toBe(0);
    await again.pass(30);
    expect((await readWatcherRestarts(w.stateDir)).has('web1')).toBe(true);
    await again.pass(31);
    expect((await readWatcherRestarts(w.stateDir)).has('web1')).toBe(false);
  });

  it('given the watcher paused, a crashed guest stays down, the plan says until when and verify warns; once the pause ends it is restarted', async () => {
    const w = new World(await load());
    for (let i = 0; i < 5 && (await w.pass(1)).plan.actions.length > 0; i++);
    const until = new Date(w.clock + 3600_000).toISOString();
    await writeWatcherPause(w.stateDir, { until, since: new Date(w.clock).toISOString() });
    w.kill();
    const p = await w.pass(1);
    expect(w.starts(p)).toBe(0);
    expect(p.plan.watcher).toMatchObject({ pausedUntil: until });
    expect(renderPlan(p.plan, 'table')).toContain(`Watcher (ERROR_down instances): paused until ${until}:`);
    expect(verifyCluster(p.plan, p.observed, memoryView(w.state, p.observed))).toContainEqual({ severity: 'warning', check: 'watcher', subject: 'Cluster', message: `the watcher is paused until ${until}: crashed (ERROR_down) instances are not restarted (gantry watcher resume)` });
    const later = await w.pass(3600);
    expect(w.starts(later)).toBe(1);
    expect(w.running()).toBe(true);
  });
});
