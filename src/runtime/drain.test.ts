import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { SimCluster } from '../sim/index.js';
import { Scenario } from '../sim/campaign/scenario.js';
import { silentLogger } from '../util/log.js';
import { reconcileOnce, type ReconcileResult } from './reconcile.js';

const SHARED = '/srv/gantry/shared';
const NODES = ['n1', 'n2', 'n3'];
const CLUSTER = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [sharedfile, plain]
  hvParams: {kvm: {accel: tcg}}
  beParams: {vcpus: 1, memory: 256M}
  storage: {volumeGroup: vg0, sharedFileStorageDir: ${SHARED}}
  nodeProfile: {volumeGroups: [{name: vg0, pvs: [/dev/sdb]}]}
`;
const node = (name: string, i: number, drained: boolean) => `---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: ${name}}
spec:
  address: 198.18.0.${10 + i}
  secondaryAddress: 198.19.0.${10 + i}
${drained ? '  role: drained\n' : ''}`;
const instance = (name: string, template: string, primary?: string) => `---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: ${name}}
spec: {os: {name: none}, diskTemplate: ${template}, disks: [{size: 1G}]${primary ? `, placement: {primary: ${primary}}` : ''}}
`;

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-drain-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

/** Manifests with n1 drained or not: web1..web4 (sharedfile) pinned to n1, db1 (plain) on n1. */
async function manifests(drained: boolean): Promise<DesiredState> {
  const insts = ['web1', 'web2', 'web3', 'web4'].map((n) => instance(n, 'sharedfile', 'n1')).join('') + instance('db1', 'plain', 'n1');
  await mkdir(path.join(dir, 'm'), { recursive: true });
  await writeFile(path.join(dir, 'm', 'all.yaml'), CLUSTER + NODES.map((n, i) => node(n, i, drained && n === 'n1')).join('') + insts);
  const { state, errors } = await loadDesired([path.join(dir, 'm')]);
  expect(errors).toEqual([]);
  return state!;
}

const sim = () => new SimCluster(NODES.map((name) => ({ name, blockDevices: { '/dev/sdb': 65_536 }, ovs: false })), { sharedDirs: [SHARED] });
const pass = (state: DesiredState, s: SimCluster, stateDir: string, apply: boolean): Promise<ReconcileResult> =>
  reconcileOnce(state, { logger: silentLogger(), ops: s.nodes, stateDir }, { apply });
const runningOn = (s: SimCluster, inst: string) => Object.entries(s.snapshot()).filter(([, o]) => o.instances[inst]?.runState === 'running').map(([n]) => n);

describe('drain and evacuate (simulated nodes, real planner, allocator and state directory)', () => {
  it('given n1 drained with four running sharedfile instances and a plain one, the plan shows each live migration off n1 before apply, and after apply each runs once elsewhere, the plain one stays with its reason, and a re-plan is empty', async () => {
    const s = sim();
    const stateDir = path.join(dir, 'state');
    const before = await manifests(false);
    for (let i = 0; i < 5 && (await pass(before, s, stateDir, true)).plan.actions.length > 0; i++);
    expect(runningOn(s, 'web1')).toEqual(['n1']);

    const state = await manifests(true);
    const dry = await pass(state, s, stateDir, false);
    const migrations = dry.plan.actions.filter((a) => a.verb === 'instance.migrate');
    expect(migrations.map((a) => a.subject).sort()).toEqual(['Instance/web1', 'Instance/web2', 'Instance/web3', 'Instance/web4']);
    expect(migrations.every((a) => a.node === 'n1' && 'peer' in a && a.peer !== 'n1')).toBe(true);
    // The placement engine spreads them: not all four on one node.
    expect(new Set(migrations.map((a) => 'peer' in a ? a.peer : '')).size).toBe(2);
    expect(dry.plan.entries.find((e) => e.subject === 'Instance/web1')?.notes.join('\n')).toMatch(/drain: n1 is drained; web1 moves to n[23] \(node-evacuate\)/);
    expect(dry.plan.entries.find((e) => e.subject === 'Instance/db1')?.notes.join('\n')).toMatch(/drain: n1 is drained but db1 stays: its plain disks exist only on n1/);
    expect(runningOn(s, 'web1')).toEqual(['n1']);

    await pass(state, s, stateDir, true);
    for (const w of ['web1', 'web2', 'web3', 'web4']) {
      const on = runningOn(s, w);
      expect(on).toHaveLength(1);
      expect(on[0]).not.toBe('n1');
    }
    expect(runningOn(s, 'db1')).toEqual(['n1']);
    const again = await pass(state, s, stateDir, false);
    expect(again.plan.actions).toEqual([]);
    expect(again.plan.entries.find((e) => e.subject === 'Instance/web1')?.notes.join('\n')).toMatch(/stays on n[23] where it runs/);
  });

  it('given an instance whose manifest names an undrained node, it follows the manifest, not the evacuation', async () => {
    const s = sim();
    const stateDir = path.join(dir, 'state');
    const before = await manifests(false);
    for (let i = 0; i < 5 && (await pass(before, s, stateDir, true)).plan.actions.length > 0; i++);
    const text = CLUSTER + NODES.map((n, i) => node(n, i, n === 'n1')).join('') + instance('web1', 'sharedfile', 'n3');
    await writeFile(path.join(dir, 'm', 'all.yaml'), text);
    const { state } = await loadDesired([path.join(dir, 'm')]);
    const dry = await pass(state!, s, stateDir, false);
    const mig = dry.plan.actions.find((a) => a.verb === 'instance.migrate' && a.subject === 'Instance/web1');
    expect(mig).toMatchObject({ node: 'n1', peer: 'n3' });
  });
});

describe('drain of DRBD primaries and secondaries (simulated DRBD nodes, real planner, allocator and state directory)', () => {
  let sc: Scenario | undefined;
  afterEach(async () => { await sc?.cleanup(); sc = undefined; });

  /** The instance's DRBD devices as the nodes report them now: node -> "role disk connection peerDisk". */
  const devicesOf = async (s: Scenario, inst: string): Promise<Record<string, string>> => {
    const obs = await s.sim.observe({ sysctls: [], fileDirs: [], drbd: true });
    const out: Record<string, string> = {};
    for (const [node, o] of obs.nodes) {
      const minors = Object.values(o.lvs).filter((lv) => lv.name === `${inst}.disk0`).flatMap((lv) => lv.tags.filter((t) => t.startsWith('gantry-drbd-minor=')).map((t) => t.split('=')[1]!));
      for (const m of minors) {
        const d = o.drbd?.devices[m];
        if (d) out[node] = `${d.role} ${d.disk} ${d.peer?.connection} ${d.peer?.disk}`;
      }
    }
    return out;
  };
  const lvsOn = (s: Scenario, node: string) => Object.keys(s.sim.node(node).snapshot().lvs).filter((k) => /\/db\d/.test(k)).sort();

  it('given n1 drained holding two DRBD primaries (one running, one stopped) and a DRBD secondary, each move is in the plan before it runs: the running one live-migrates to its secondary, the stopped one swaps roles, then each secondary on n1 is replaced by the allocator\'s choice; n1 ends with no primaries and no secondaries, one running copy throughout, data never re-created or forced', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3', 'n4'], drbd: true, migration: 'live' });
    const drbd = (primary: string, secondary: string, powerState: 'running' | 'stopped') => ({ os: { name: 'none' }, diskTemplate: 'drbd' as const, disks: [{ size: '64M' }], nics: [], placement: { primary, secondary }, powerState });
    sc.world.addInstance(drbd('n1', 'n2', 'running')); // vm0
    sc.world.addInstance(drbd('n1', 'n3', 'stopped')); // vm1
    sc.world.addInstance(drbd('n2', 'n1', 'running')); // vm2
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n1']);

    sc.world.roles.set('n1', 'drained');
    const executed: string[] = [];
    const notes: string[] = [];
    let last;
    const twice: string[] = [];
    for (let i = 0; i < 8; i++) {
      last = await sc.pass({ afterAction: () => { for (const v of ['vm0', 'vm1', 'vm2']) if (sc!.runningOn(v).length > 1) twice.push(v); } });
      expect(last.error).toBeUndefined();
      // The plan shows every action the pass ran, each with its reason.
      for (const a of last.executed) expect(last.plan!.actions).toContainEqual(a);
      executed.push(...last.executed.map((a) => `${a.verb}@${a.node}:${a.subject}`));
      notes.push(...last.plan!.entries.flatMap((e) => e.notes.filter((n) => n.startsWith('drain:'))));
      expect(sc.findings()).toEqual([]);
      for (const v of ['vm0', 'vm2']) expect(sc.runningOn(v)).toHaveLength(1);
      if ((last.plan?.actions.length ?? 0) === 0) break;
    }
    expect(twice).toEqual([]);
    expect(last!.plan!.actions).toEqual([]);
    expect(last!.plan!.refused).toEqual([]);
    // Wave 1: the primaries leave n1 for their secondaries.
    expect(notes).toContain('drain: n1 is drained; vm0 moves to its DRBD secondary n2 (node-evacuate; live migration through dual-primary); n1 then holds its secondary, replaced by the allocator\'s choice in a later pass (change-secondary)');
    expect(notes).toContain('drain: n1 is drained; vm1 moves to its DRBD secondary n3 (node-evacuate; primary swap (stopped): n1 demoted, n3 promoted); n1 then holds its secondary, replaced by the allocator\'s choice in a later pass (change-secondary)');
    expect(executed).toContain('instance.migrate@n1:Instance/vm0');
    expect(executed).toContain('drbd.secondary@n1:Instance/vm1');
    expect(executed).toContain('drbd.primary@n3:Instance/vm1');
    // Wave 2: the secondaries on n1 are replaced (8.4 sequence) and n1's LVs removed only then.
    expect(notes.filter((n) => /the secondary of vm\d moves to n\d \(node-evacuate, change-secondary\)/.test(n)).length).toBeGreaterThanOrEqual(3);
    expect(executed.filter((a) => a.startsWith('drbd.disconnect@')).length).toBe(3);
    // No data re-created where it lives: no initial sync, no forced promotion, no new data LV on the old pair's survivors.
    expect(executed.filter((a) => a.startsWith('drbd.initial-sync@'))).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n2']);
    expect(sc.runningOn('vm2')).toEqual(['n2']);
    expect(sc.runningOn('vm1')).toEqual([]);
    expect(lvsOn(sc, 'n1')).toEqual([]);
    expect(Object.keys(sc.sim.node('n1').snapshot().drbd?.devices ?? {})).toEqual([]);
    // Each pair is two undrained nodes, Connected, UpToDate/UpToDate, its Primary where the instance is.
    for (const [v, p] of [['vm0', 'n2'], ['vm1', 'n3'], ['vm2', 'n2']] as const) {
      const devs = await devicesOf(sc, v);
      expect(Object.keys(devs)).toHaveLength(2);
      expect(devs).not.toHaveProperty('n1');
      expect(devs[p]).toBe('Primary UpToDate Connected UpToDate');
      expect(Object.entries(devs).filter(([n]) => n !== p).map(([, d]) => d)).toEqual(['Secondary UpToDate Connected UpToDate']);
    }
  });

  it('given migration mode non-live, a running DRBD primary on a drained node is stopped there, the roles swapped, and it starts on its secondary only after the stop and the promotion; one running copy throughout', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], drbd: true, migration: 'non-live' });
    sc.world.addInstance({ os: { name: 'none' }, diskTemplate: 'drbd', disks: [{ size: '64M' }], nics: [], placement: { primary: 'n1', secondary: 'n2' }, powerState: 'running' });
    await sc.converge();
    sc.world.roles.set('n1', 'drained');
    const copies: number[] = [];
    const o = await sc.pass({ afterAction: () => { copies.push(sc!.runningOn('vm0').length); } });
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.every((n) => n <= 1)).toBe(true);
    expect(o.plan!.entries.find((e) => e.subject === 'Instance/vm0')?.notes).toContain('drain: n1 is drained; vm0 moves to its DRBD secondary n2 (node-evacuate; stopped on n1 and started on n2 (migration mode non-live)); n1 then holds its secondary, replaced by the allocator\'s choice in a later pass (change-secondary)');
    expect(o.executed.map((a) => `${a.verb}@${a.node}`)).toEqual(['instance.stop@n1', 'drbd.secondary@n1', 'drbd.primary@n2', 'instance.start@n2']);
    const start = o.executed.find((a) => a.verb === 'instance.start')!;
    expect(start.after).toEqual(expect.arrayContaining(['instance.stop@n1 Instance/vm0', 'drbd.primary@n2 Instance/vm0']));
    expect(sc.runningOn('vm0')).toEqual(['n2']);
    const end = await sc.converge();
    expect(end.plan!.actions).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n2']);
    expect(Object.keys(sc.sim.node('n1').snapshot().lvs).filter((k) => k.includes('vm0'))).toEqual([]);
    expect(sc.findings()).toEqual([]);
  });

  it('given n1 drained with nine running sharedfile instances, they leave in waves of at most four a pass (Cluster spec.drain.maxParallelMoves default), the rest shown waiting, n1\'s entry showing the progress, one running copy throughout, then an empty plan', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3', 'n4'], drbd: false, migration: 'live' });
    for (let i = 0; i < 9; i++) sc.world.addInstance({ os: { name: 'none' }, diskTemplate: 'sharedfile', disks: [{ size: '64M' }], nics: [], placement: { primary: 'n1' }, powerState: 'running' });
    await sc.converge();
    const names = [...sc.world.instances.keys()];
    expect(names.every((n) => sc!.runningOn(n).join() === 'n1')).toBe(true);
    sc.world.roles.set('n1', 'drained');
    const waves: number[] = [];
    const progress: string[] = [];
    const twice = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const o = await sc.pass({ afterAction: () => names.forEach((n) => { if (sc!.runningOn(n).length > 1) twice.add(n); }) });
      expect(o.error).toBeUndefined();
      const moves = o.plan!.actions.filter((a) => a.verb === 'instance.migrate');
      if (moves.length === 0) { expect(o.plan!.actions).toEqual([]); break; }
      waves.push(moves.length);
      progress.push(...o.plan!.entries.find((e) => e.subject === 'Node/n1')!.notes.filter((n) => n.startsWith('drain:')));
      const waiting = o.plan!.entries.filter((e) => e.notes.some((n) => n.endsWith('it waits for a later pass (at most 4 instances leave n1 at a time: Cluster spec.drain.maxParallelMoves)')));
      expect(waiting.length).toBe(names.length - waves.reduce((a, b) => a + b, 0));
    }
    expect(waves).toEqual([4, 4, 1]);
    expect(progress).toEqual([
      'drain: 0/9 movable instances moved off n1 (placed on it by the manifests or still there); 4 leave in this pass, 5 wait for later passes (at most 4 at a time: Cluster spec.drain.maxParallelMoves)',
      'drain: 4/9 movable instances moved off n1 (placed on it by the manifests or still there); 4 leave in this pass, 1 wait for later passes (at most 4 at a time: Cluster spec.drain.maxParallelMoves)',
      'drain: 8/9 movable instances moved off n1 (placed on it by the manifests or still there); 1 leaves in this pass (at most 4 at a time: Cluster spec.drain.maxParallelMoves)',
    ]);
    expect([...twice]).toEqual([]);
    for (const n of names) expect(sc.runningOn(n)).toHaveLength(1);
    expect(names.filter((n) => sc!.runningOn(n)[0] === 'n1')).toEqual([]);
    expect(sc.findings()).toEqual([]);
  });

  it('given a drained primary whose DRBD secondary is not observed and whose last snapshot is lost (state directory gone), the move is refused as DRAIN_STATE_UNKNOWN naming the unobserved node (not DRAIN_NO_ROOM), nothing moves, and it moves once the node is seen again', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], drbd: true, migration: 'live' });
    sc.world.addInstance({ os: { name: 'none' }, diskTemplate: 'drbd', disks: [{ size: '64M' }], nics: [], placement: { primary: 'n1', secondary: 'n2' }, powerState: 'running' });
    await sc.converge();
    sc.sim.node('n2').setUnreachable(true);
    await rm(sc.stateDir, { recursive: true, force: true });
    sc.world.roles.set('n1', 'drained');
    const o = await sc.pass();
    expect(o.plan!.refused.map((r) => r.code)).toEqual(['DRAIN_STATE_UNKNOWN']);
    expect(o.plan!.refused[0]!.message).toBe('drain of n1: moving vm0 to its DRBD secondary refused: its secondary n2 is not observed this pass: its DRBD state there is unknown (not a lack of room); it moves once n2 is observed again');
    expect(o.executed).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
    sc.sim.node('n2').setUnreachable(false);
    const back = await sc.pass();
    expect(back.plan!.refused).toEqual([]);
    expect(back.executed.map((a) => `${a.verb}@${a.node}`)).toContain('instance.migrate@n1');
    expect(sc.runningOn('vm0')).toEqual(['n2']);
    expect(sc.findings()).toEqual([]);
  });

  it('given a drained primary whose DRBD pair is not in sync, the move is refused naming the states, and nothing moves', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2', 'n3'], drbd: true, migration: 'live' });
    sc.world.addInstance({ os: { name: 'none' }, diskTemplate: 'drbd', disks: [{ size: '64M' }], nics: [], placement: { primary: 'n1', secondary: 'n2' }, powerState: 'running' });
    await sc.converge();
    sc.sim.node('n2').setReplicationDown(true);
    sc.world.roles.set('n1', 'drained');
    const o = await sc.pass();
    const r = o.plan!.refused.find((x) => x.code === 'DRAIN_DRBD_NOT_READY');
    expect(r?.message).toMatch(/drain of n1: moving vm0 to its DRBD secondary refused: its disks must be Connected and UpToDate\/UpToDate on both sides; this pass sees n1: disk 0 Primary, UpToDate, (WFConnection|StandAlone)/);
    expect(o.executed.filter((a) => a.verb === 'instance.migrate' || a.verb === 'drbd.disconnect')).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
  });
});
