import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import { SimCluster, SimFencer } from '../sim/index.js';
import { Scenario } from '../sim/campaign/scenario.js';
import { readRepairRecords } from '../status/state-dir.js';
import { renderPlan } from '../status/drift-report.js';
import { silentLogger } from '../util/log.js';
import { reconcileOnce, type ReconcileResult } from './reconcile.js';

const SHARED = '/srv/gantry/shared';
const NODES = ['n1', 'n2', 'n3'];
/** Cluster failover off: only auto-repair (harep's tags) may move anything. */
const manifests = (clusterTags: string[], web1: { tags?: string[]; repair?: string }, db1Tags: string[] = []) => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [sharedfile, plain]
  hvParams: {kvm: {accel: tcg}}
  beParams: {vcpus: 1, memory: 256M}
  storage: {volumeGroup: vg0, sharedFileStorageDir: ${SHARED}}
  autoRepair: {maxAttempts: 2}
  tags: ${JSON.stringify(clusterTags)}
  nodeProfile: {volumeGroups: [{name: vg0, pvs: [/dev/sdb]}]}
${NODES.map((n, i) => `---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: ${n}}
spec: {address: 198.18.0.${10 + i}, oob: {program: [/usr/local/sbin/bmc-power], timeoutSeconds: 30}}
`).join('')}---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec:
  os: {name: none}
  diskTemplate: sharedfile
  disks: [{size: 1G}]
  placement: {primary: n1}
  tags: ${JSON.stringify(web1.tags ?? [])}
${web1.repair ? `  autoRepair: {repair: ${web1.repair}}\n` : ''}---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: db1}
spec: {os: {name: none}, diskTemplate: plain, disks: [{size: 1G}], placement: {primary: n1}, tags: ${JSON.stringify(db1Tags)}}
`;

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-autorepair-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

/** Simulated nodes and power, real manifests and state directory. */
async function world(text: string) {
  await mkdir(path.join(dir, 'm'), { recursive: true });
  await writeFile(path.join(dir, 'm', 'all.yaml'), text);
  const { state, errors } = await loadDesired([path.join(dir, 'm')]);
  expect(errors).toEqual([]);
  const sim = new SimCluster(NODES.map((name) => ({ name, blockDevices: { '/dev/sdb': 65_536 }, ovs: false })), { sharedDirs: [SHARED] });
  const fencer = new SimFencer(sim);
  const stateDir = path.join(dir, 'state');
  let clock = Date.parse('2026-11-28T12:00:00.000Z');
  const pass = (): Promise<ReconcileResult> => {
    clock += 5000;
    return reconcileOnce(state!, { logger: silentLogger(), ops: sim.nodes, stateDir, now: () => new Date(clock), fencer }, { apply: true });
  };
  const running = (inst: string) => Object.entries(sim.snapshot()).filter(([, o]) => o.instances[inst]?.runState === 'running').map(([n]) => n);
  for (let i = 0; i < 5; i++) if ((await pass()).plan.actions.length === 0) break;
  expect(running('web1')).toEqual(['n1']);
  /** n1 cut off, passes through its grace: the last pass's result. */
  const cutN1 = async (passes = 3) => {
    sim.node('n1').setUnreachable(true);
    let last!: ReconcileResult;
    for (let i = 0; i < passes; i++) last = await pass();
    return last;
  };
  return { sim, fencer, stateDir, pass, running, cutN1 };
}

describe('auto-repair (harep) on simulated nodes, cluster failover off', () => {
  it('given the cluster tagged ganeti:watcher:autorepair:failover, a dead node is fenced and web1 (sharedfile) fails over as a repair, recorded as a success; db1 (plain) needs reinstall, which the cluster does not allow', async () => {
    const w = await world(manifests(['ganeti:watcher:autorepair:failover'], {}));
    const last = await w.cutN1();
    expect(w.fencer.calls).toEqual(['n1']);
    const on = w.running('web1');
    expect(on).toHaveLength(1);
    expect(on[0]).not.toBe('n1');
    expect(last.plan.autoRepair).toEqual([
      expect.objectContaining({ instance: 'db1', needed: 'reinstall', decision: 'not-allowed', allowed: 'failover', scope: 'cluster' }),
      expect.objectContaining({ instance: 'web1', needed: 'failover', decision: 'repair', allowed: 'failover', scope: 'cluster', attempts: 0, max: 2 }),
    ]);
    expect(renderPlan(last.plan, 'table')).toMatch(/Auto-repair .*\n(.*\n)* {2}> web1: failover repair \(0\/2 failed tries\): n1 is Dead \(power off confirmed\): failover/);
    expect((await readRepairRecords(w.stateDir)).get('web1')).toMatchObject({ type: 'failover', attempts: 0, result: 'success', message: `failover: n1 -> ${on[0]}` });
    expect(last.statuses.find((s) => s.subject === 'Instance/web1')?.facts).toMatchObject({ autoRepair: { needed: 'failover', decision: 'repair', last: { result: 'success' } } });
    // The next pass: web1 runs on a live node, it needs no repair; db1 still does (not allowed).
    const next = await w.pass();
    expect(next.plan.autoRepair?.map((d) => d.instance)).toEqual(['db1']);
    expect(w.running('web1')).toEqual(on);
  });

  it('given only fix-storage allowed (instance spec.autoRepair.repair) over a cluster that allows failover, the nearest scope wins: n1 is not fenced, web1 waits, and the plan says why', async () => {
    const w = await world(manifests(['ganeti:watcher:autorepair:failover'], { repair: 'fix-storage' }, ['ganeti:watcher:autorepair:fix-storage']));
    const last = await w.cutN1(4);
    expect(w.fencer.calls).toEqual([]);
    expect(w.running('web1')).toEqual(['n1']);
    expect(last.plan.fencing?.[0]?.reason).toMatch(/no instance on it asks for failover/);
    // Unreachable only: nothing is known to need a repair yet (unknown is not absent).
    expect(last.plan.autoRepair).toBeUndefined();
  });

  it('given the instance suspended (ganeti:watcher:autorepair:suspend), nothing is repaired', async () => {
    const w = await world(manifests(['ganeti:watcher:autorepair:failover'], { tags: ['ganeti:watcher:autorepair:suspend'] }, ['ganeti:watcher:autorepair:failover']));
    await w.cutN1(4);
    // db1 allows failover: n1 is fenced for it (plain: it needs reinstall, not allowed); web1 stays suspended.
    expect(w.fencer.calls).toEqual(['n1']);
    const p = await w.pass();
    expect(p.plan.autoRepair?.find((d) => d.instance === 'web1')).toMatchObject({ decision: 'suspended', message: expect.stringMatching(/suspended by its own tags or spec.autoRepair.repair/) });
    expect(w.running('web1')).toEqual([]);
  });

  it('given db1 (plain) allowed to reinstall and its node dead, the plan says DATA LOSS and re-creates its disks empty on the allocator\'s node, installs its OS and starts it there; recorded as a success; n1 back, its old copy is left alone and db1 stays where it was reinstalled', async () => {
    const w = await world(manifests(['ganeti:watcher:autorepair:failover'], {}, ['ganeti:watcher:autorepair:reinstall']));
    const plans: ReconcileResult[] = [];
    w.sim.node('n1').setUnreachable(true);
    for (let i = 0; i < 4; i++) plans.push(await w.pass());
    expect(w.fencer.calls).toEqual(['n1']);
    const p = plans.find((r) => r.plan.autoRepair?.some((d) => d.instance === 'db1' && d.decision === 'repair'))!.plan;
    expect(p.autoRepair?.find((d) => d.instance === 'db1')).toMatchObject({ needed: 'reinstall', decision: 'repair', allowed: 'reinstall', scope: 'instance', dataLoss: true, message: expect.stringMatching(/n1 is Dead \(power off confirmed\): reinstall .*DATA LOSS, its disks are re-created empty/) });
    const entry = p.entries.find((e) => e.subject === 'Instance/db1')!;
    expect(entry.notes.join('\n')).toMatch(/reinstall: n1 is Dead \(power off confirmed\) and db1's plain disks were only there: DATA LOSS: its disks are re-created EMPTY on n[23]/);
    const to = p.failovers?.find((f) => f.instance === 'db1')?.to;
    expect(p.failovers?.find((f) => f.instance === 'db1')).toMatchObject({ from: 'n1', reinstall: true });
    expect(entry.actions.map((a) => `${a.verb}@${a.node}`)).toEqual([`lv.create@${to}`, `instance.install@${to}`, `instance.start@${to}`, `lv.untag@${to}`]);
    expect(w.running('db1')).toEqual([to]);
    expect((await readRepairRecords(w.stateDir)).get('db1')).toMatchObject({ type: 'reinstall', result: 'success', message: `reinstall: n1 -> ${to} (disks re-created empty, OS installed again)` });
    // n1 returns: db1 stays on its new node; the old LV on n1 is not removed.
    w.sim.node('n1').setUnreachable(false);
    w.sim.node('n1').boot();
    for (let i = 0; i < 3; i++) await w.pass();
    expect(w.running('db1')).toEqual([to]);
    expect(Object.keys(w.sim.node('n1').snapshot().lvs).filter((k) => k.includes('db1'))).toHaveLength(1);
  });

  it('given a failover repair whose start keeps failing, it is tried maxAttempts times, then auto-repair gives up: no more tries, NeedsHuman in status and the plan says so', async () => {
    const w = await world(manifests([], { tags: ['ganeti:watcher:autorepair:failover'] }));
    for (const n of ['n2', 'n3']) w.sim.node(n).failNext('instance.start', { code: 'QEMU_FAILED', retryable: false, times: 100, message: 'qemu exited' });
    await w.cutN1(3);
    expect((await readRepairRecords(w.stateDir)).get('web1')).toMatchObject({ type: 'failover', attempts: 1, result: 'failure', message: expect.stringMatching(/instance.start on n[23]: QEMU_FAILED: qemu exited/) });
    await w.pass();
    expect((await readRepairRecords(w.stateDir)).get('web1')).toMatchObject({ attempts: 2, result: 'failure' });
    const gave = await w.pass();
    expect(gave.plan.actions.filter((a) => a.subject === 'Instance/web1')).toEqual([]);
    expect(gave.plan.autoRepair).toEqual([expect.objectContaining({ instance: 'web1', decision: 'gave-up', attempts: 2, max: 2 })]);
    expect(gave.statuses.find((s) => s.subject === 'Instance/web1')?.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'NeedsHuman', reason: 'AutoRepairGaveUp' })]));
    await w.pass();
    expect((await readRepairRecords(w.stateDir)).get('web1')).toMatchObject({ attempts: 2 });
    expect(w.running('web1')).toEqual([]);
  });
});

describe('auto-repair fix-storage: a DRBD secondary on a gone node replaced (simulated DRBD nodes, real planner, allocator and state directory)', () => {
  let sc: Scenario | undefined;
  afterEach(async () => { await sc?.cleanup(); sc = undefined; });
  const drbd = (extra: Record<string, unknown> = {}) => ({ os: { name: 'none' }, diskTemplate: 'drbd' as const, disks: [{ size: '64M' }], nics: [], placement: { primary: 'n1', secondary: 'n2' }, powerState: 'running' as const, ...extra });
  const devs = async (s: Scenario, node: string) => Object.values((await s.sim.node(node).observe({ sysctls: [], fileDirs: [], drbd: true })).drbd?.devices ?? {}).map((d) => `${d.role} ${d.disk} ${d.peer?.connection}`);
  const lvs = (s: Scenario, node: string, inst: string) => Object.keys(s.sim.node(node).snapshot().lvs).filter((k) => k.startsWith(`vg0/${inst}.`)).sort();

  it('given n2 (secondary of vm0 and vm1) powered off and declared offline, vm0 (fix-storage allowed) gets a new secondary on n3 by the 8.4 sequence without the dead peer, n2\'s LVs untouched; vm1 (no opt-in) is only reported; the success is recorded and, n2 back, the new secondary is kept and n2\'s copy left alone', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], drbd: true });
    sc.world.addInstance(drbd({ autoRepair: { repair: 'fix-storage' } })); // vm0
    sc.world.addInstance(drbd()); // vm1
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    const n2Before = [...lvs(sc, 'n2', 'vm0'), ...lvs(sc, 'n2', 'vm1')];
    expect(n2Before).toHaveLength(4);

    sc.sim.node('n2').crash();
    sc.world.roles.set('n2', 'offline');
    const o = await sc.pass();
    expect(o.error).toBeUndefined();
    const plan = o.plan!;
    // The plan shows the replacement before it runs, with the gap and what is never done on n2.
    const vm0 = plan.entries.find((e) => e.subject === 'Instance/vm0')!;
    expect(vm0.notes.join('\n')).toContain('fix-storage: its secondary n2 is offline; a new secondary on n3 (node-evacuate, change-secondary)');
    expect(vm0.notes.join('\n')).toMatch(/the old secondary n2 is offline: its LVs vg0\/vm0\.disk0, vg0\/vm0\.disk0_meta stay there, not removed/);
    expect(vm0.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['lv.create@n3', 'lv.create@n3', 'drbd.create-md@n3', 'drbd.disconnect@n1', 'drbd.up@n3', 'drbd.up@n1', 'drbd.wait-sync@n1']);
    expect(plan.actions.filter((a) => a.node === 'n2')).toEqual([]);
    expect(plan.autoRepair).toEqual([
      expect.objectContaining({ instance: 'vm0', needed: 'fix-storage', decision: 'repair', replaces: 'n2' }),
    ]);
    expect(plan.entries.find((e) => e.subject === 'Instance/vm1')?.actions).toEqual([]);
    expect(o.results.every((r) => r.ok)).toBe(true);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
    expect(await devs(sc, 'n3')).toEqual(['Secondary UpToDate Connected']);
    expect((await readRepairRecords(sc.stateDir)).get('vm0')).toMatchObject({ type: 'fix-storage', result: 'success', attempts: 0, secondary: { from: 'n2', to: 'n3' }, message: 'fix-storage: secondary n2 replaced by n3 (resynced from n1)' });

    // Converged while n2 is gone: nothing more to do, no repair needed any more.
    const again = await sc.pass();
    expect(again.plan!.actions).toEqual([]);
    expect(again.plan!.autoRepair ?? []).toEqual([]);

    // n2 returns: n3 stays the secondary (the manifest still names n2), n2's old LVs are left alone.
    sc.world.roles.delete('n2');
    sc.sim.node('n2').boot();
    const back = await sc.converge();
    expect(back.plan!.refused).toEqual([]);
    expect(back.plan!.entries.find((e) => e.subject === 'Instance/vm0')?.notes.join('\n')).toMatch(/fix-storage replaced the secondary n2 by n3 .*kept while the manifest names n2/);
    expect(back.plan!.entries.find((e) => e.subject === 'Instance/vm0')?.notes.join('\n')).toContain('disk 0 also has LVs on n2, which is not its secondary n3 (kept from a fix-storage repair): left alone');
    expect(lvs(sc, 'n2', 'vm0')).toEqual(['vg0/vm0.disk0', 'vg0/vm0.disk0_meta']);
    expect(await devs(sc, 'n3')).toEqual(['Secondary UpToDate Connected']);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
    expect(sc.findings()).toEqual([]);
  });
});

describe('auto-repair fix-storage with fencing (simulated nodes and power, real manifests and state directory)', () => {
  const text = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [sharedfile, drbd]
  hvParams: {kvm: {accel: tcg}}
  beParams: {vcpus: 1, memory: 256M}
  storage: {volumeGroup: vg0, sharedFileStorageDir: ${SHARED}}
  nodeProfile: {volumeGroups: [{name: vg0, pvs: [/dev/sdb]}]}
${NODES.map((n, i) => `---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: ${n}}
spec: {address: 198.18.0.${10 + i}, secondaryAddress: 198.19.0.${10 + i}, oob: {program: [/usr/local/sbin/bmc-power], timeoutSeconds: 30}}
`).join('')}---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec: {os: {name: none}, diskTemplate: sharedfile, disks: [{size: 1G}], placement: {primary: n1}}
---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: db1}
spec:
  os: {name: none}
  diskTemplate: drbd
  disks: [{size: 256M}]
  placement: {primary: n1, secondary: n2}
  tags: [ganeti:watcher:autorepair:fix-storage]
`;

  it('given the node holding only db1\'s DRBD secondary crashed, unreachable past its grace, it is fenced for the fix-storage repair (cluster failover off) and db1 gets a new secondary on the third node; nothing of the dead node is removed', async () => {
    const w = await world(text);
    w.sim.node('n2').crash(); // its links go with it: db1's primary loses its peer
    let last!: ReconcileResult;
    for (let i = 0; i < 4; i++) last = await w.pass();
    expect(w.fencer.calls).toEqual(['n2']);
    expect(last.plan.autoRepair ?? []).toEqual([]);
    expect((await readRepairRecords(w.stateDir)).get('db1')).toMatchObject({ type: 'fix-storage', result: 'success', secondary: { from: 'n2', to: 'n3' } });
    const n3 = await w.sim.node('n3').observe({ sysctls: [], fileDirs: [], drbd: true });
    expect(Object.values(n3.drbd?.devices ?? {}).map((d) => `${d.role} ${d.disk} ${d.peer?.connection}`)).toEqual(['Secondary UpToDate Connected']);
    expect(Object.keys(w.sim.node('n2').snapshot().lvs).filter((k) => k.includes('db1'))).toHaveLength(2);
    expect(w.running('web1')).toEqual(['n1']);
  });
});

describe('auto-repair migrate: an instance still running on a node declared offline (simulated nodes, real planner, allocator and state directory)', () => {
  let sc: Scenario | undefined;
  afterEach(async () => { await sc?.cleanup(); sc = undefined; });
  const web = (extra: Record<string, unknown> = {}) => ({ os: { name: 'none' }, diskTemplate: 'sharedfile' as const, disks: [{ size: '64M' }], nics: [], placement: { primary: 'n1' }, powerState: 'running' as const, ...extra });

  it('given n1 declared offline while it still runs vm0 (migrate allowed) and vm1 (cluster failover only), vm0 live-migrates to the allocator\'s node and the success is recorded, vm1 is never started a second time and the plan says why, also when n1 then stops answering; once n1 is fenced vm1 fails over; one running copy throughout', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], failover: true, migration: 'live' });
    sc.world.addInstance(web({ autoRepair: { repair: 'migrate' } })); // vm0
    sc.world.addInstance(web()); // vm1
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
    expect(sc.runningOn('vm1')).toEqual(['n1']);

    sc.world.roles.set('n1', 'offline'); // the admin's word; n1 still answers and runs both
    const twice = new Set<string>();
    const check = () => { for (const v of ['vm0', 'vm1']) if (sc!.runningOn(v).length > 1) twice.add(v); };
    const o = await sc.pass({ afterAction: check });
    expect(o.error).toBeUndefined();
    const plan = o.plan!;
    const vm0 = plan.entries.find((e) => e.subject === 'Instance/vm0')!;
    expect(vm0.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['instance.migrate@n1']);
    const to = (vm0.actions[0] as { peer: string }).peer;
    expect(['n2', 'n3']).toContain(to);
    expect(vm0.notes).toContain(`migrate: n1 is offline (declared) but still answers and runs vm0: it moves to ${to} (harep's migrate, allowed by its auto-repair policy), never started a second time`);
    const vm1 = plan.entries.find((e) => e.subject === 'Instance/vm1')!;
    expect(vm1.actions).toEqual([]);
    expect(vm1.notes.join('\n')).toMatch(/^n1 is offline \(declared\) but still answers and runs vm1 \(running\): a failover would start a second running copy, so none is made; it stays there until it stops/);
    expect(plan.failovers ?? []).toEqual([]);
    expect(plan.autoRepair).toEqual([expect.objectContaining({ instance: 'vm0', needed: 'migrate', decision: 'repair' })]);
    expect(plan.actions.filter((a) => a.node === 'n1').map((a) => a.verb)).toEqual(['instance.migrate']);
    expect(sc.runningOn('vm0')).toEqual([to]);
    expect(sc.runningOn('vm1')).toEqual(['n1']);
    expect((await readRepairRecords(sc.stateDir)).get('vm0')).toMatchObject({ type: 'migrate', result: 'success', message: `migrate: n1 -> ${to} (live)` });

    // Settled while n1 answers: vm0 stays where it went, vm1 still held, nothing more planned.
    const again = await sc.pass({ afterAction: check });
    expect(again.plan!.actions).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual([to]);
    expect(sc.runningOn('vm1')).toEqual(['n1']);

    // n1 stops answering but still runs vm1 (its sshd lost): its silence proves nothing, vm1 is not started elsewhere.
    sc.sim.node('n1').setUnreachable(true);
    const silent = await sc.pass({ afterAction: check });
    expect(silent.plan!.actions).toEqual([]);
    expect(silent.plan!.entries.find((e) => e.subject === 'Instance/vm1')!.notes.join('\n')).toMatch(/n1 is offline \(declared\) but answered running vm1 \(running\) at .*, after it was declared so, and does not answer now: its state there is unknown, so vm1 is not started elsewhere/);
    expect(sc.runningOn('vm1')).toEqual(['n1']);
    sc.sim.node('n1').setUnreachable(false);

    // n1 really goes down, and the admin takes back role: offline: n1 is fenced (power off confirmed) and vm1 fails over as the cluster asks (vm0 is not touched).
    sc.sim.node('n1').crash();
    sc.world.roles.delete('n1');
    let down = await sc.pass({ afterAction: check });
    for (let i = 0; i < 6; i++) down = await sc.pass({ afterAction: check }); // past its grace, fenced, failed over
    expect(down.plan!.actions).toEqual([]);
    expect(down.plan!.refused).toEqual([]);
    expect(sc.runningOn('vm1')).toHaveLength(1);
    expect(sc.runningOn('vm1')).not.toEqual(['n1']);
    expect(sc.runningOn('vm0')).toEqual([to]);
    expect([...twice]).toEqual([]);
    expect(sc.findings()).toEqual([]);
  });
});

describe('auto-repair migrate of a DRBD instance still running on a node declared offline (simulated nodes and DRBD, real planner and state directory)', () => {
  let sc: Scenario | undefined;
  afterEach(async () => { await sc?.cleanup(); sc = undefined; });
  const db = (extra: Record<string, unknown> = {}) => ({ os: { name: 'none' }, diskTemplate: 'drbd' as const, disks: [{ size: '64M' }], nics: [], placement: { primary: 'n1', secondary: 'n2' }, powerState: 'running' as const, ...extra });

  it('given n1 declared offline while it runs vm0 (migrate allowed, Connected UpToDate/UpToDate) and vm1 (no opt-in), vm0 live-migrates to its secondary n2 through dual-primary and n1 keeps its replica as Secondary; vm1 is held with the reason; never two running copies nor two Primaries', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], drbd: true, failover: true, migration: 'live' });
    sc.world.addInstance(db({ autoRepair: { repair: 'migrate' } })); // vm0
    sc.world.addInstance(db()); // vm1
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n1']);

    sc.world.roles.set('n1', 'offline');
    const twice = new Set<string>();
    const check = () => { for (const v of ['vm0', 'vm1']) if (sc!.runningOn(v).length > 1) twice.add(v); };
    const o = await sc.pass({ afterAction: check });
    expect(o.error).toBeUndefined();
    const vm0 = o.plan!.entries.find((e) => e.subject === 'Instance/vm0')!;
    expect(vm0.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['instance.migrate@n1']);
    expect(vm0.actions[0]).toMatchObject({ peer: 'n2', drbd: [expect.objectContaining({ index: 0 })] });
    expect(vm0.notes).toContain('migrate: n1 is offline (declared) but still answers and runs vm0: it moves to n2 (harep\'s migrate, allowed by its auto-repair policy), never started a second time');
    expect(vm0.diffs).toContainEqual({ path: 'disks[0].drbd.primary', desired: 'n2', observed: 'n1' });
    const vm1 = o.plan!.entries.find((e) => e.subject === 'Instance/vm1')!;
    expect(vm1.actions).toEqual([]);
    expect(vm1.notes.join('\n')).toContain('n1 is offline (declared) but still answers and runs vm1 (running): a failover would start a second running copy, so none is made; it stays there until it stops, its node is drained instead (role: drained moves it to its DRBD secondary), or harep\'s migrate is allowed');
    expect(o.plan!.failovers ?? []).toEqual([]);
    expect(o.results.every((r) => r.ok)).toBe(true);
    expect(sc.runningOn('vm0')).toEqual(['n2']);
    expect(sc.runningOn('vm1')).toEqual(['n1']);
    const roles = async (n: string) => Object.values((await sc!.sim.node(n).observe({ sysctls: [], fileDirs: [], drbd: true })).drbd?.devices ?? {}).map((d) => `${d.resource} ${d.role} ${d.disk} ${d.peer?.connection}`).sort();
    const n1 = await roles('n1');
    const n2 = await roles('n2');
    expect(n1.filter((r) => r.includes(' Primary '))).toHaveLength(1); // vm1's, still on n1
    expect(n2.filter((r) => r.includes(' Primary '))).toHaveLength(1); // vm0's, moved
    expect([...n1, ...n2].every((r) => r.endsWith('UpToDate Connected'))).toBe(true);
    expect((await readRepairRecords(sc.stateDir)).get('vm0')).toMatchObject({ type: 'migrate', result: 'success' });

    // Settled: vm0 stays on n2 with n1 (offline) holding its replica; nothing more is planned on n1.
    const again = await sc.pass({ afterAction: check });
    expect(again.plan!.actions.filter((a) => a.node === 'n1')).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n2']);
    expect([...twice]).toEqual([]);
    expect(sc.findings()).toEqual([]);
  });

  it('given n1 declared offline while it runs vm0 (migrate allowed) but the pair is not connected, nothing moves: the plan refuses the migration with the DRBD states it saw and vm0 stays on n1, its only copy', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], drbd: true, failover: true, migration: 'live' });
    sc.world.addInstance(db({ autoRepair: { repair: 'migrate' } }));
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    // n2's DRBD device goes down (as after a crash of its DRBD, or drbdsetup down): n1 sees it disconnected.
    sc.sim.node('n2').tamper((s) => s.drbd.clear());
    sc.world.roles.set('n1', 'offline');
    const o = await sc.pass();
    const vm0 = o.plan!.entries.find((e) => e.subject === 'Instance/vm0')!;
    expect(vm0.actions.filter((a) => a.verb === 'instance.migrate' || a.verb === 'instance.start' || a.verb === 'drbd.primary')).toEqual([]);
    expect(vm0.refused.map((r) => r.code)).toEqual(['DRBD_MIGRATION_NOT_READY']);
    expect(vm0.refused[0]!.message).toMatch(/live migration n1 -> n2 needs both sides Connected and UpToDate\/UpToDate; this pass sees n1: Primary, UpToDate, .*; n2: down.*The VM stays on n1/);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
  });
});

describe('auto-repair reinstall cut short at each step resumes (simulated nodes, real planner, allocator and state directory)', () => {
  let sc: Scenario | undefined;
  afterEach(async () => { await sc?.cleanup(); sc = undefined; });
  const lvs = (s: Scenario) => Object.fromEntries(Object.entries(s.sim.snapshot()).map(([n, o]) => [n, Object.values(o.lvs).filter((l) => l.name.startsWith('vm0.')).map((l) => `${l.name}${l.tags.includes('gantry-reinstall') ? '+mark' : ''}`).sort()]));
  const files = (s: Scenario) => Object.fromEntries(Object.entries(s.sim.snapshot()).map(([n, o]) => [n, Object.keys(o.files).map((f) => f.split('/').pop()!).filter((f) => f.startsWith('vm0.')).sort()]));

  /**
   * vm0 (two disks of `template`, reinstall allowed) on n1; n1 dies and is declared offline; the
   * reinstall pass is cut before action k, then passes run until nothing is planned. Checks
   * what every template shares: one copy running on the node the cut pass chose, installed
   * again only when the cut pass had not installed it yet, and only there.
   */
  async function cutReinstall(template: 'plain' | 'file', k: number) {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], failover: true, migration: 'live' });
    sc.world.addInstance({ os: { name: 'debootstrap' }, diskTemplate: template, disks: [{ size: '64M' }, { size: '32M' }], nics: [], placement: { primary: 'n1' }, powerState: 'running', autoRepair: { repair: 'reinstall' } });
    await sc.converge();
    sc.sim.node('n1').crash();
    sc.world.roles.set('n1', 'offline');
    const cut = await sc.pass({ arm: () => ({ crashAfter: k }) });
    expect(cut.crashed).toBe(true);
    const planned = cut.plan!.entries.find((e) => e.subject === 'Instance/vm0')!.actions;
    const to = cut.plan!.failovers!.find((f) => f.instance === 'vm0')!.to!;
    const installs: string[] = [];
    let end = await sc.pass();
    installs.push(...end.executed.filter((a) => a.verb === 'instance.install').map((a) => a.node));
    for (let i = 0; i < 4 && (end.plan?.actions.length ?? 0) > 0; i++) {
      end = await sc.pass();
      installs.push(...end.executed.filter((a) => a.verb === 'instance.install').map((a) => a.node));
    }
    expect(end.plan!.refused).toEqual([]);
    expect(end.plan!.actions).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual([to]);
    expect(installs).toEqual(k <= 2 ? [to] : []);
    expect(sc.findings()).toEqual([]);
    return { planned, to };
  }
  const onlyOn = (held: Record<string, string[]>, nodes: string[]) => Object.entries(held).filter(([n, l]) => !nodes.includes(n) && l.length > 0);

  // The reinstall pass: lv.create x2, instance.install, instance.start, lv.untag x2 (the half-made mark dropped).
  for (const k of [0, 1, 2, 3, 4, 5]) {
    it(`given the controller dies before action ${k} of a reinstall (n1 gone, plain vm0 with two disks, reinstall allowed), the next passes resume on the node holding its half-made disks: installed once there, no DISKS_WITHOUT_RECORD, no second set of disks elsewhere, no mark left, n1's disks untouched`, async () => {
      const { planned, to } = await cutReinstall('plain', k);
      expect(planned.map((a) => a.verb)).toEqual(['lv.create', 'lv.create', 'instance.install', 'instance.start', 'lv.untag', 'lv.untag']);
      const held = lvs(sc!);
      expect(held.n1).toEqual(['vm0.disk0', 'vm0.disk1']);
      expect(held[to]).toEqual(['vm0.disk0', 'vm0.disk1']);
      expect(onlyOn(held, ['n1', to])).toEqual([]);
    });
  }

  // The same with file disks: file.create x2 (each makes its mark file, then its image), instance.install, instance.start, file.remove x2 (the marks).
  for (const k of [0, 1, 2, 3, 4, 5]) {
    it(`given the controller dies before action ${k} of a reinstall of file vm0 (two images, n1 gone, reinstall allowed), the next passes resume on the node holding its marked images: installed once there, no DISKS_WITHOUT_RECORD, no second set elsewhere, no mark file left, n1's images untouched`, async () => {
      const { planned, to } = await cutReinstall('file', k);
      expect(planned.map((a) => a.verb)).toEqual(['file.create', 'file.create', 'instance.install', 'instance.start', 'file.remove', 'file.remove']);
      expect(planned.map((a) => (a.verb === 'file.create' ? a.mark : a.verb === 'file.remove' ? a.path : undefined)).filter(Boolean).map((p) => p!.split('/').pop()))
        .toEqual(['vm0.disk0.img.reinstall', 'vm0.disk1.img.reinstall', 'vm0.disk0.img.reinstall', 'vm0.disk1.img.reinstall']);
      const held = files(sc!);
      expect(held.n1).toEqual(['vm0.disk0.img', 'vm0.disk1.img']);
      expect(held[to]).toEqual(['vm0.disk0.img', 'vm0.disk1.img']);
      expect(onlyOn(held, ['n1', to])).toEqual([]);
    });
  }
});
