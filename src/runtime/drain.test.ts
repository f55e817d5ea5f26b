import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { SimCluster } from '../sim/index.js';
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
