import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { SimCluster } from '../sim/index.js';
import { silentLogger } from '../util/log.js';
import { reconcileOnce } from '../runtime/reconcile.js';
import { emptyObservedNode } from '../core/observed.js';
import type { Plan } from '../core/plan.js';
import { memoryView, nPlusOne, renderVerify, verifyCluster, verifyExit } from './verify.js';

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
const node = (name: string, i: number) => `---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: ${name}}
spec: {address: 198.18.0.${10 + i}, secondaryAddress: 198.19.0.${10 + i}}
`;
const instance = (name: string, primary: string) => `---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: ${name}}
spec: {os: {name: none}, diskTemplate: sharedfile, disks: [{size: 1G}], placement: {primary: ${primary}}}
`;

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-verify-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

async function load(instances: string): Promise<DesiredState> {
  await mkdir(path.join(dir, 'm'), { recursive: true });
  await writeFile(path.join(dir, 'm', 'all.yaml'), CLUSTER + NODES.map(node).join('') + instances);
  const { state, errors } = await loadDesired([path.join(dir, 'm')]);
  expect(errors).toEqual([]);
  return state!;
}

async function verify(state: DesiredState, s: SimCluster) {
  const res = await reconcileOnce(state, { logger: silentLogger(), ops: s.nodes }, { apply: false });
  return verifyCluster(res.plan, res.observed, memoryView(state, res.observed));
}

describe('gantry verify (simulated nodes, real planner)', () => {
  it('given a converged cluster it finds nothing and exits 0; then a node down, an instance on the wrong node and an undeclared one are each reported, with exit 1', async () => {
    const s = new SimCluster(NODES.map((name) => ({ name, blockDevices: { '/dev/sdb': 65_536 }, ovs: false })), { sharedDirs: [SHARED] });
    const first = await load(instance('web1', 'n1') + instance('web2', 'n2'));
    for (let i = 0; i < 5 && (await reconcileOnce(first, { logger: silentLogger(), ops: s.nodes }, { apply: true })).plan.actions.length > 0; i++);
    const clean = await verify(first, s);
    expect(clean).toEqual([]);
    expect(verifyExit(clean)).toBe(0);
    expect(renderVerify(clean)).toBe('verify: no problems found\n');

    s.node('n3').setUnreachable(true);
    const moved = await load(instance('web1', 'n2'));
    const f = await verify(moved, s);
    expect(f).toContainEqual(expect.objectContaining({ severity: 'error', check: 'node-down', subject: 'Node/n3' }));
    expect(f).toContainEqual({ severity: 'error', check: 'wrong-node', subject: 'Instance/web1', message: 'runs on n1, the manifests place it on n2' });
    expect(f.filter((x) => x.check === 'orphan').map((x) => x.message).join('\n')).toMatch(/web2/);
    expect(verifyExit(f)).toBe(1);
    expect(renderVerify(f)).toMatch(/verify: \d+ error\(s\), \d+ warning\(s\)\n$/);
  });

  it('given only warnings it exits 2', () => {
    expect(verifyExit([{ severity: 'warning', check: 'orphan', subject: 'Node/n1', message: 'x' }])).toBe(2);
  });

  it('given a node whose running instances the others cannot hold, N+1 reports it with the numbers; a drained node offers no room', () => {
    const nodes = new Map([['a', { totalMiB: 4096, usable: true }], ['b', { totalMiB: 4096, usable: true }], ['c', { totalMiB: 8192, usable: false }]]);
    const running = [{ instance: 'x', node: 'a', memoryMiB: 3072 }, { instance: 'y', node: 'b', memoryMiB: 2048 }];
    expect(nPlusOne({ nodes, running })).toEqual([
      { severity: 'error', check: 'n-plus-one', subject: 'Node/a', message: 'its running instances need 3072 MiB; the other usable nodes have 2048 MiB free (1024 MiB short)' },
      { severity: 'error', check: 'n-plus-one', subject: 'Node/b', message: 'its running instances need 2048 MiB; the other usable nodes have 1024 MiB free (1024 MiB short)' },
    ]);
    expect(nPlusOne({ nodes, running: [{ instance: 'x', node: 'a', memoryMiB: 1024 }] })).toEqual([]);
  });

  it('given DRBD devices, one UpToDate on both sides and one with an Outdated peer, only the degraded one is reported', () => {
    const n1 = { ...emptyObservedNode('n1', 't'), drbd: { devices: {
      0: { minor: 0, resource: 'resource0', role: 'Primary' as const, disk: 'UpToDate', peer: { connection: 'Connected', disk: 'UpToDate' } },
      1: { minor: 1, resource: 'resource1', role: 'Primary' as const, disk: 'UpToDate', peer: { connection: 'StandAlone', disk: 'Outdated' } },
    } } };
    const plan = { unreachable: [], entries: [], orphans: [] } as unknown as Plan;
    expect(verifyCluster(plan, { nodes: new Map([['n1', n1]]) }, { nodes: new Map(), running: [] })).toEqual([
      { severity: 'error', check: 'degraded-disk', subject: 'Node/n1', message: 'DRBD minor 1 (resource1): peer disk Outdated (StandAlone)' },
    ]);
  });

  it('given a DRBD split brain the plan holds, it is an error naming the instance, with the plan\'s guidance', () => {
    const message = 'disk 0 (DRBD port 11000; ...): split brain: ... "drbdadm connect --discard-my-data RESOURCE" ...';
    const plan = { unreachable: [], orphans: [], entries: [{ subject: 'Instance/db1', status: 'refused', diffs: [], actions: [], notes: [], refused: [{ subject: 'Instance/db1', code: 'DRBD_SPLIT_BRAIN', message }] }] } as unknown as Plan;
    expect(verifyCluster(plan, { nodes: new Map() }, { nodes: new Map(), running: [] })).toEqual([{ severity: 'error', check: 'split-brain', subject: 'Instance/db1', message }]);
  });
});
