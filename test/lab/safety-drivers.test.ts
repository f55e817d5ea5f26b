/**
 * Issue 8 on the real lab, driver side: an ensure never removes what its action does not
 * name (a hand-added address survives an MTU repair; its removal is its own planned
 * action, never for the management address); a device with a filesystem signature is
 * refused as a PV and nothing is written to it; a missing storage root is refused and
 * not created. Real sshd, iproute2, LVM (metadata mode), wipefs, qemu-img.
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

describe.skipIf(skip)('given a 1-node lab with the lab node profile applied', () => {
  const manifestsDir = path.join(tmpdir(), `gantry-lab-safety-${process.pid}`);
  const lab = useLab({ nodes: 1, manifestsDir });
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
});
