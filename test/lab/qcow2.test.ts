/**
 * qcow2 disks end to end on the namespace lab (issue 11): a sharedfile instance whose
 * Cluster says diskParams.sharedfile.format: qcow2 is created with qemu-img -f qcow2,
 * installed from an image (image+ OS: qemu-img convert -O qcow2), boots and prints the
 * image's message, live-migrates to the other node and keeps counting, grows while it runs
 * (QEMU's block_resize) and while stopped (qemu-img resize -f qcow2). A second plan after each step is empty.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { killGuests, labPasses } from '../helpers/passes.js';
import { ensureLabGuest } from '../../src/lab/guest/index.js';
import { buildOsEnv, checkOsRequest, parseOsName, readOsDefinition, runOsScript } from '../../src/drivers/os/index.js';
import { LocalTransport } from '../../src/transport/local.js';
import { silentLogger } from '../../src/util/log.js';

const skip = await labSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('given a 2-node lab and a qcow2 sharedfile instance installed from an image', () => {
  const lab = useLab({ nodes: 2, manifestsDir: path.join(tmpdir(), `gantry-qcow2-nodes-${process.pid}`) });
  const imageDir = mkdtempSync(path.join(tmpdir(), 'gantry-qcow2-image-'));
  const image = path.join(imageDir, 'busybox.raw');
  let m: ManifestSet;
  let diskPath = '';

  const { pass, converge } = labPasses(() => m.load());
  const consoleOf = (node: string) => { try { return readFileSync(path.join(lab.up.record.stateDir, node, 'run', 'qc1', 'console.log'), 'utf8'); } catch { return ''; } };
  const waitConsole = async (node: string, re: RegExp | ((t: string) => boolean), ms = 180_000): Promise<string> => {
    const until = Date.now() + ms;
    for (;;) {
      const text = consoleOf(node);
      if (typeof re === 'function' ? re(text) : re.test(text)) return text;
      if (Date.now() > until) throw new Error(`console of qc1 on ${node} never matched ${re}: ...${text.slice(-400)}`);
      await sleep(1000);
    }
  };
  const lastTick = (text: string) => Math.max(0, ...[...text.matchAll(/gantry-guest qc1 tick (\d+)/g)].map((x) => Number(x[1])));
  const info = () => JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', diskPath], { encoding: 'utf8' })) as { format: string; 'virtual-size': number };
  const editSpec = (fn: (s: Record<string, any>) => void) => m.edit('instances.yaml', (docs) => fn(docs[0]!.spec));

  beforeAll(async () => {
    // The image: a raw disk the lab's busybox OS wrote its guest header (and message) into.
    const guest = ensureLabGuest({});
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', image, '16M']);
    const host = new LocalTransport({ logger: silentLogger() });
    const os = parseOsName('busybox+default');
    const variant = checkOsRequest(await readOsDefinition(host, guest.osDir), os, { message: 'installed from a qcow2 image' });
    const env = buildOsEnv({ os: { name: os.name, ...(variant ? { variant } : {}) }, instance: 'qc1', disks: [{ path: image }], nics: [], params: { message: 'installed from a qcow2 image' } });
    await runOsScript(host, { osDir: guest.osDir, script: 'create', env, logPath: path.join(imageDir, 'os.log') });

    m = await labManifests(lab, { files: ['cluster.yaml', 'group.yaml'] });
    await m.edit('cluster.yaml', ([c]) => { c!.spec.diskParams = { ...(c!.spec.diskParams ?? {}), sharedfile: { format: 'qcow2' } }; });
    await m.write('instances.yaml', [{
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'qc1' },
      spec: {
        os: { name: 'image+busybox', params: { image, image_format: 'raw' } }, diskTemplate: 'sharedfile', disks: [{ size: '16M' }],
        placement: { primary: 'node1' },
      },
    }]);
  }, 180_000);
  afterAll(async () => {
    if (m) await killGuests(await m.load()).catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent')));
    await pass(true).catch(() => undefined);
    await m?.cleanup();
    rmSync(imageDir, { recursive: true, force: true });
  });

  it('the disk is created as qcow2, the image is written into it, and the guest boots with the image\'s message', async () => {
    const r = await converge();
    const create = r.plan.actions.find((a) => a.verb === 'file.create');
    expect(create?.verb === 'file.create' && create.format).toBe('qcow2');
    const start = r.plan.actions.find((a) => a.verb === 'instance.start');
    expect(start?.verb === 'instance.start' && start.launch.disks.map((d) => d.format)).toEqual(['qcow2']);
    expect(r.plan.actions.map((a) => a.verb)).toEqual(expect.arrayContaining(['file.create', 'instance.install', 'instance.start']));
    diskPath = create?.verb === 'file.create' ? create.path : '';
    expect(info()).toMatchObject({ format: 'qcow2', 'virtual-size': 16 * 1024 * 1024 });
    await waitConsole('node1', /installed from a qcow2 image[\s\S]*tick 2/);
  }, 300_000);

  it('a new primary live-migrates the qcow2 guest to node2 and it keeps counting', async () => {
    const before = lastTick(await waitConsole('node1', /tick 3/));
    await editSpec((s) => (s.placement.primary = 'node2'));
    const r = await converge();
    expect(r.plan.actions.map((a) => `${a.verb} ${a.node}`)).toEqual(['instance.migrate node1']);
    const dest = await waitConsole('node2', (t) => lastTick(t) > before);
    expect(dest).not.toMatch(/booted/);
  }, 300_000);

  it('a bigger disk while it runs is grown by its QEMU (QMP block_resize, no qemu-img on a locked image) and the guest keeps counting', async () => {
    const before = lastTick(await waitConsole('node2', /tick \d+/));
    const boots = consoleOf('node2').split('booted').length;
    await editSpec((s) => (s.disks[0].size = '24M'));
    const dry = await pass(false);
    expect(dry.plan.actions.map((a) => `${a.verb} ${a.node}`)).toEqual(['instance.block-resize node2']);
    await converge();
    expect(info()).toMatchObject({ format: 'qcow2', 'virtual-size': 24 * 1024 * 1024 });
    const after = await waitConsole('node2', (t) => lastTick(t) > before + 1);
    expect(after.split('booted').length).toBe(boots); // no reboot: the same guest counts on
    expect((await pass(false)).plan.actions).toEqual([]);
  }, 300_000);

  it('a bigger disk, stopped, is grown with qemu-img resize -f qcow2; started again, the guest boots from it', async () => {
    await editSpec((s) => (s.powerState = 'stopped'));
    await converge();
    await editSpec((s) => (s.disks[0].size = '32M'));
    const r = await converge();
    expect(r.plan.actions.map((a) => (a.verb === 'file.grow' ? `${a.verb} ${a.format}` : a.verb))).toEqual(['file.grow qcow2']);
    expect(info()).toMatchObject({ format: 'qcow2', 'virtual-size': 32 * 1024 * 1024 });
    await editSpec((s) => (s.powerState = 'running'));
    await converge();
    await waitConsole('node2', /booted[\s\S]*installed from a qcow2 image[\s\S]*tick 1/);
  }, 300_000);
});
