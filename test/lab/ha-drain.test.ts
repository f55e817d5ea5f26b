/**
 * Issue 10 item 4 on the real lab: three sharedfile VMs (busybox, TCG) run on node1;
 * node1's Node manifest gets `role: drained`. One pass plans every move (instance.migrate
 * off node1, chosen by the placement engine's node-evacuate) before anything runs; the
 * applying pass live-migrates them; node1 ends with no running instance and each VM runs
 * on exactly one node. Measures the evacuation rate (bench/README.md).
 * Real sshd's in namespaces, QEMU (TCG) with live migration, shared storage, state directory.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { alive, failures, killGuests, labPasses } from '../helpers/passes.js';

const skip = await labSkipReason();
const NODES = ['node1', 'node2', 'node3'];
const VMS = ['dr1', 'dr2', 'dr3'];

describe.skipIf(skip)('given a 3-node lab with three sharedfile VMs running on node1', () => {
  const lab = useLab({ nodes: 3, manifestsDir: path.join(tmpdir(), `gantry-ha-drain-nodes-${process.pid}`) });
  let m: ManifestSet;
  let stateDir: string;
  const { pass, converge } = labPasses(() => m.load(), { stateDir: () => stateDir });

  const pidOn = async (node: string, vm: string) => {
    const runDir = (await m.load()).nodes.get(node)!.paths.runDir;
    return Number((await readFile(path.join(runDir, vm, 'pid'), 'utf8').catch(() => '0')).trim());
  };
  /** Nodes where `vm`'s QEMU (by its pid file) is alive. */
  const runningOn = async (vm: string) => {
    const out: string[] = [];
    for (const n of NODES) if (alive(await pidOn(n, vm))) out.push(n);
    return out;
  };

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-ha-drain-state-'));
    m = await labManifests(lab, { files: ['cluster.yaml', 'group.yaml', 'networks.yaml'] });
    await m.write('instances.yaml', VMS.map((name) => ({
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name },
      spec: { os: { name: 'busybox+default' }, diskTemplate: 'sharedfile', disks: [{ size: '64M' }], nics: [{ network: 'lab-net', ip: 'pool' }], placement: { primary: 'node1' } },
    })));
    await converge();
  });

  afterAll(async () => {
    if (m) await killGuests(await m.load()).catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent')));
    await pass(true).catch(() => undefined);
    await m?.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('drain node1: the plan shows each move first, the apply empties node1, one copy each (the evacuation rate is measured)', async () => {
    for (const vm of VMS) expect(await runningOn(vm)).toEqual(['node1']);
    await m.edit('nodes.yaml', (docs) => docs.filter((d) => d.kind === 'Node' && d.metadata.name === 'node1').forEach((d) => (d.spec.role = 'drained')));

    const dry = await pass(false);
    const moves = dry.plan.actions.filter((a) => a.verb === 'instance.migrate');
    expect(moves.map((a) => a.subject).sort()).toEqual(VMS.map((v) => `Instance/${v}`));
    expect(moves.every((a) => a.node === 'node1' && 'peer' in a && a.peer !== 'node1')).toBe(true);
    for (const vm of VMS) expect(await runningOn(vm)).toEqual(['node1']);

    const t0 = Date.now();
    const r = await pass(true);
    const seconds = (Date.now() - t0) / 1000;
    expect(failures(r)).toEqual([]);
    console.log(`[ha-drain] ${VMS.length} sharedfile VMs (96 MiB, busybox) evacuated off node1 in ${seconds.toFixed(1)} s: ${(VMS.length / seconds * 60).toFixed(1)} instances/min`);
    for (const vm of VMS) {
      const on = await runningOn(vm);
      expect(on).toHaveLength(1);
      expect(on[0]).not.toBe('node1');
    }
    const again = await pass(false);
    expect(again.plan.actions).toEqual([]);
  });
});
