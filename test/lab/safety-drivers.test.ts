/**
 * Issue 8 on the real lab, driver side: an ensure never removes what its action does not
 * name (a hand-added address survives an MTU repair; its removal is its own planned
 * action, never for the management address); a device with a filesystem signature is
 * refused as a PV and nothing is written to it; a missing storage root is refused and
 * not created; with exclusive storage no two instances share a PV (the node's VG has three
 * loop-device PVs). Real sshd, iproute2, LVM (metadata mode), wipefs, qemu-img.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { connectNodes } from '../../src/execute/connect.js';
import { reconcileOnce } from '../../src/runtime/reconcile.js';
import type { Action } from '../../src/core/actions.js';
import { silentLogger } from '../../src/util/log.js';

const run = promisify(execFile);
const skip = await labSkipReason();
const logger = silentLogger();

describe.skipIf(skip)('given a 1-node lab (three PVs in its VG) with the lab node profile applied', () => {
  const manifestsDir = path.join(tmpdir(), `gantry-lab-safety-${process.pid}`);
  const lab = useLab({ nodes: 1, manifestsDir, pvsPerNode: 3 });
  let m: ManifestSet;

  const withOps = async <T>(fn: (ops: Awaited<ReturnType<typeof connectNodes>>['ops'], state: Awaited<ReturnType<ManifestSet['load']>>) => Promise<T>): Promise<T> => {
    const state = await m.load();
    const conn = await connectNodes(state, { logger });
    try {
      return await fn(conn.ops, state);
    } finally {
      await conn.close();
    }
  };
  const pass = (apply: boolean) => withOps((ops, state) => reconcileOnce(state, { logger, ops }, { apply }));
  const addrs = async (dev: string) => {
    const r = await lab.local('node1').exec(['ip', '-j', 'addr', 'show', 'dev', dev]);
    return (JSON.parse(r.stdout) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
  };

  beforeAll(async () => {
    m = await labManifests(lab, { files: ['cluster.yaml', 'group.yaml', 'networks.yaml'] });
    const first = await pass(true);
    expect(first.report?.results.filter((r) => !r.ok)).toEqual([]);
  });
  afterAll(async () => m?.cleanup());

  it('an address added by hand to a managed bridge survives an MTU repair; its removal is its own later action, and the management address is never removed', async () => {
    const node = lab.node('node1');
    const extra = `${node.address.replace(/\.\d+$/, '.207')}/32`;
    const mgmt = `${node.address}/32`;
    await lab.local('node1').exec(['ip', 'addr', 'add', extra, 'dev', 'br-lab']);
    await lab.local('node1').exec(['ip', 'addr', 'add', mgmt, 'dev', 'br-lab']);
    await lab.local('node1').exec(['ip', 'link', 'set', 'dev', 'br-lab', 'mtu', '1500']);
    try {
      const p = (await pass(false)).plan;
      const acts = p.actions.filter((a) => a.node === 'node1' && a.verb.startsWith('bridge.'));
      expect(acts.map((a) => a.verb)).toEqual(['bridge.ensure', 'bridge.address.remove']);
      expect(acts[1]).toMatchObject({ bridge: 'br-lab', address: extra, reason: `bridge br-lab: address ${extra} is not in the manifest` });
      const entry = p.entries.find((e) => e.subject === 'Node/node1')!;
      expect(entry.notes).toContain(`bridge br-lab holds ${mgmt}, not in the manifest: kept, it is this node's management address`);
      // Removals run in a later wave than the repair.
      const wave = (v: string) => p.waves.findIndex((w) => w.some((a) => a.verb === v));
      expect(wave('bridge.address.remove')).toBeGreaterThan(wave('bridge.ensure'));

      // The MTU repair alone, on the real node: the MTU changes, no address goes.
      const ensure = acts[0] as Extract<Action, { verb: 'bridge.ensure' }>;
      const r = await withOps((ops) => ops.get('node1')!.run(ensure));
      expect(r.commands).toEqual([['ip', 'link', 'set', 'dev', 'br-lab', 'mtu', '1450']]);
      expect(await addrs('br-lab')).toEqual(expect.arrayContaining([extra, mgmt]));

      // The whole plan: the extra address goes as its own action, the management one stays.
      const applied = await pass(true);
      expect(applied.report?.results.filter((x) => !x.ok)).toEqual([]);
      const after = await addrs('br-lab');
      expect(after).not.toContain(extra);
      expect(after).toContain(mgmt);
      expect((await pass(false)).plan.actions).toEqual([]);
    } finally {
      await lab.local('node1').exec(['ip', 'addr', 'del', mgmt, 'dev', 'br-lab']);
      await lab.local('node1').exec(['ip', 'addr', 'del', extra, 'dev', 'br-lab']);
    }
  });

  it('a device with an ext4 signature declared as a PV is refused, named, and nothing is written to it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-pv-'));
    const img = path.join(dir, 'pv.img');
    await run('truncate', ['-s', '64M', img]);
    await run('mkfs.ext4', ['-q', img]);
    const loop = (await run('losetup', ['-f', '--show', img])).stdout.trim();
    const head = async () => createHash('sha256').update((await readFile(img)).subarray(0, 4 << 20)).digest('hex');
    const before = await head();
    try {
      await m.edit('nodes.yaml', (docs) => {
        docs.find((d) => d.metadata.name === 'node1')!.spec.profile.volumeGroups.push({ name: 'gsafety', pvs: [loop] });
      });
      const r = await pass(true);
      const vg = r.report!.results.find((x) => x.action.verb === 'vg.ensure')!;
      expect(vg.ok).toBe(false);
      expect(vg.error?.code).toBe('PV_HAS_SIGNATURE');
      expect(vg.error?.message).toContain(`${loop} carries a ext4 signature`);
      expect(vg.commands).toEqual([]);
      expect(await head()).toBe(before);
      const sig = await run('wipefs', ['--no-act', '--json', loop]);
      expect(JSON.parse(sig.stdout).signatures.map((s: { type: string }) => s.type)).toEqual(['ext4']);
    } finally {
      await m.edit('nodes.yaml', (docs) => {
        const p = docs.find((d) => d.metadata.name === 'node1')!.spec.profile;
        p.volumeGroups = p.volumeGroups.filter((v: { name: string }) => v.name !== 'gsafety');
      });
      await run('losetup', ['-d', loop]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a file disk whose storage directory is missing is refused in the plan and by the driver, and the directory is not created', async () => {
    let missing = '';
    await m.edit('nodes.yaml', (docs) => {
      const spec = docs.find((d) => d.metadata.name === 'node1')!.spec;
      missing = `${spec.paths.fileStorageDir}-missing`;
      spec.paths.fileStorageDir = missing;
    });
    await m.write('instances.yaml', [
      { apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'file1' }, spec: { os: { name: 'none' }, diskTemplate: 'file', disks: [{ size: '16M' }], powerState: 'stopped', placement: { primary: 'node1' } } },
    ]);
    try {
      const r = await pass(true);
      expect(r.plan.refused).toEqual([expect.objectContaining({ subject: 'Instance/file1', code: 'STORAGE_DIR_MISSING', message: expect.stringContaining(`storage directory ${missing} does not exist on node1`) })]);
      expect(r.plan.actions.filter((a) => a.verb === 'file.create')).toEqual([]);
      // Defence in depth: the driver refuses the same create on its own.
      const create: Action = { verb: 'file.create', node: 'node1', subject: 'Instance/file1', reason: 'test', path: `${missing}/file1.disk0.img`, sizeMiB: 16, format: 'raw' };
      const d = await withOps((ops) => ops.get('node1')!.run(create));
      expect([d.ok, d.error?.code, d.commands]).toEqual([false, 'FILE_STORAGE_DIR_MISSING', []]);
      expect(existsSync(missing)).toBe(false);
    } finally {
      await m.write('instances.yaml', []);
      await m.edit('nodes.yaml', (docs) => {
        const spec = docs.find((d) => d.metadata.name === 'node1')!.spec;
        spec.paths.fileStorageDir = spec.paths.fileStorageDir.replace(/-missing$/, '');
      });
    }
  });

  it('with exclusive storage each instance disk gets empty PVs of its own (as many as its spindles), one that cannot is refused by the driver, and a hand-made LV sharing a PV is reported', async () => {
    const node = lab.node('node1');
    const pvs = [node.loopDevice, ...(node.extraLoopDevices ?? [])];
    expect(pvs).toHaveLength(3);
    const inst = (name: string, spindles: number) => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name }, spec: { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '64M', spindles }], powerState: 'stopped', placement: { primary: 'node1' } } });
    const pvReport = async () => {
      const r = await lab.transport('node1').exec(['pvs', '--reportformat', 'json', '-o', 'pv_name,lv_name']);
      const rows = (JSON.parse(r.stdout) as { report: { pv: { pv_name: string; lv_name: string }[] }[] }).report[0]!.pv;
      return Object.fromEntries(pvs.map((pv) => [pv, rows.filter((x) => x.pv_name === pv && x.lv_name !== '').map((x) => x.lv_name).sort()]));
    };
    await m.edit('nodes.yaml', (docs) => { docs.find((d) => d.metadata.name === 'node1')!.spec.ndParams = { exclusiveStorage: true }; });
    await m.write('instances.yaml', [inst('exa', 2), inst('exb', 1)]);
    try {
      const r = await pass(true);
      expect(r.plan.refused).toEqual([]);
      expect(r.report?.results.filter((x) => !x.ok)).toEqual([]);
      const creates = r.report!.results.filter((x) => x.action.verb === 'lv.create');
      expect(creates.map((x) => x.action.verb === 'lv.create' && [x.action.name, x.action.spindles])).toEqual([['exa.disk0', 2], ['exb.disk0', 1]]);
      // Ganeti's layout on the node: exa striped over two PVs of its own, exb alone on the third.
      const layout = await pvReport();
      expect(Object.values(layout).sort()).toEqual([['exa.disk0'], ['exa.disk0'], ['exb.disk0']]);
      expect(creates[0]!.commands[0]!.slice(-3)).toEqual([node.vgName, ...Object.keys(layout).filter((pv) => layout[pv]!.includes('exa.disk0'))]);
      const again = await pass(false);
      expect(again.plan.actions).toEqual([]);

      // No empty PV is left: the driver refuses a third instance's disk and runs nothing.
      const create: Action = { verb: 'lv.create', node: 'node1', subject: 'Instance/exc', reason: 'test', vg: node.vgName, name: 'exc.disk0', sizeMiB: 64, tags: ['gantry'], spindles: 1 };
      const d = await withOps((ops) => ops.get('node1')!.run(create));
      expect([d.ok, d.error?.code, d.commands]).toEqual([false, 'EXCL_NOT_ENOUGH_PVS', []]);
      expect(d.error?.message).toContain(`volume group ${node.vgName} has 0`);

      // Drift: an LV made by hand on exb's PV is reported on exb, and nothing is planned for it.
      const exbPv = Object.keys(layout).find((pv) => layout[pv]!.includes('exb.disk0'))!;
      await lab.transport('node1').exec(['lvcreate', '-L', '8m', '-n', 'scratch', '-y', '--wipesignatures', 'n', node.vgName, exbPv]);
      const drift = await pass(false);
      expect(drift.plan.actions).toEqual([]);
      expect(drift.plan.entries.find((e) => e.subject === 'Instance/exb')?.notes).toContain(
        `disk 0: ${node.vgName}/exb.disk0 on node1 shares physical volume ${exbPv} with ${node.vgName}/scratch, no instance's; exclusive storage gives each instance PVs of its own: move one away (pvmove)`);
    } finally {
      await lab.transport('node1').exec(['lvremove', '-f', '-y', `${node.vgName}/scratch`]);
      await m.write('instances.yaml', ['exa', 'exb'].map((n) => ({ ...inst(n, 1), spec: { ...inst(n, 1).spec, state: 'absent', deleteDisks: true } })));
      await pass(true);
      await m.write('instances.yaml', []);
      await m.edit('nodes.yaml', (docs) => { delete docs.find((d) => d.metadata.name === 'node1')!.spec.ndParams; });
    }
  });
});
