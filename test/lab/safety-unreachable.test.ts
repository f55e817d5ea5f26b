/**
 * Issue 8 on the real lab (items 1, 2 and 11): web2, a file-disk VM, runs on node1; node1's
 * sshd is stopped while the guest keeps running. Before the fix `gantry apply` created a new
 * disk for web2 on node2, ran the installer and started it there (two copies), and handed
 * its IP to a new instance. Now nothing of web2 moves, a new instance gets another IP, the
 * plan says web2 waits for node1, and when sshd is back the cluster converges with one copy.
 * Then a stop that fails on node1 (its run dir made immutable with chattr +i) blocks the
 * start of the moved VM on node2. Real sshd, QEMU (TCG), file disks and the state directory.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { alive, exists, failures, killGuests, labPasses } from '../helpers/passes.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/gantry.js');
const skip = await labSkipReason();

const vm = (name: string, template: 'file' | 'sharedfile', primary?: string) => ({
  apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name },
  spec: {
    os: { name: 'busybox+default' }, diskTemplate: template, disks: [{ size: '64M' }], nics: [{ network: 'lab-net', ip: 'pool' }],
    ...(primary ? { placement: { primary } } : {}),
  },
});


describe.skipIf(skip)('given a 3-node lab where a file-disk VM runs on node1 and node1 loses sshd', () => {
  // Three nodes: with node1 down, hail can still place an instance (N+1 holds on two), so
  // the old re-allocation of web2 would really happen here.
  const lab = useLab({ nodes: 3, manifestsDir: path.join(tmpdir(), `gantry-safety-nodes-${process.pid}`) });
  let m: ManifestSet;
  let stateDir: string;
  let web2Pid = 0;
  let web2Ip = '';
  let api1Node = '';
  const immutable: string[] = [];

  const { pass, converge } = labPasses(() => m.load(), { stateDir: () => stateDir });
  const paths = async (node: string) => (await m.load()).nodes.get(node)!.paths;
  const runDir = async (node: string, inst: string) => path.join((await paths(node)).runDir, inst);
  const pidOf = async (node: string, inst: string) => Number((await readFile(path.join(await runDir(node, inst), 'pid'), 'utf8').catch(() => '0')).trim());
  const editSpec = (name: string, fn: (spec: Record<string, any>) => void) => m.edit('instances.yaml', (docs) => fn(docs.find((d) => d.metadata.name === name)!.spec));

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-safety-state-'));
    m = await labManifests(lab, { files: ['cluster.yaml', 'group.yaml', 'networks.yaml'] });
    await m.edit('cluster.yaml', ([c]) => (c!.spec.migration = { mode: 'non-live' }));
    await m.write('instances.yaml', [vm('web2', 'file', 'node1')]);
  });
  afterAll(async () => {
    for (const dir of immutable) await run('chattr', ['-i', dir]).catch(() => undefined);
    await lab.startNode('node1').catch(() => undefined);
    // Stop the guests this file started (by the PIDs in their pid files) before the lab goes.
    if (m) await killGuests(await m.load()).catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent')));
    await pass(true).catch(() => undefined);
    await m?.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('web2 is created on node1, and stays there when the manifest no longer pins it', async () => {
    await converge();
    await editSpec('web2', (s) => delete s.placement);
    const r = await pass(false);
    expect(r.plan.actions).toEqual([]);
    web2Pid = await pidOf('node1', 'web2');
    expect(alive(web2Pid)).toBe(true);
    const record = JSON.parse(await readFile(path.join(await runDir('node1', 'web2'), 'gantry.json'), 'utf8')) as { nics: { ip: string }[] };
    web2Ip = record.nics[0]!.ip;
    expect(web2Ip).toMatch(/^198\.18\.\d+\.\d+$/);
  });

  it('with node1 sshd stopped, apply starts no second web2, a new instance does not take its IP, and the plan says web2 waits for node1', async () => {
    await lab.stopNode('node1');
    expect(alive(web2Pid)).toBe(true);
    await m.edit('instances.yaml', (docs) => docs.unshift(vm('api1', 'file')));
    const r = await pass(true);

    expect(r.plan.unreachable).toEqual(['node1']);
    expect(r.plan.actions.filter((a) => a.subject === 'Instance/web2')).toEqual([]);
    const entry = r.plan.entries.find((e) => e.subject === 'Instance/web2')!;
    expect(entry.status).toBe('unreachable');
    expect(entry.notes.join(' ')).toMatch(/waits for node1: unreachable .* since \d{4}-\d\d-\d\dT/);
    expect(r.plan.waits?.find((w) => w.node === 'node1')?.subjects).toContain('Instance/web2');

    const api1 = r.plan.entries.find((e) => e.subject === 'Instance/api1')!;
    expect({ refused: api1.refused, notes: api1.notes.join('; ') }).toMatchObject({ refused: [], notes: expect.stringMatching(/allocated: primary node[23]/) });
    const install = r.plan.actions.find((a) => a.verb === 'instance.install' && a.subject === 'Instance/api1');
    expect(install?.node).toMatch(/^node[23]$/);
    api1Node = install!.node;
    expect(install?.verb === 'instance.install' && install.nicInfo[0]?.ip).not.toBe(web2Ip);
    expect(failures(r)).toEqual([]);

    // No second copy anywhere: no disk, no run dir, and the guest on node1 never stopped.
    for (const other of ['node2', 'node3']) {
      expect(await exists(path.join((await paths(other)).fileStorageDir, 'web2.disk0.img'))).toBe(false);
      expect(await exists(await runDir(other, 'web2'))).toBe(false);
    }
    expect(alive(web2Pid)).toBe(true);

    // The state directory keeps node1's last good snapshot, and gantry plan reads it.
    const saved = JSON.parse(await readFile(path.join(stateDir, 'observed.json'), 'utf8')) as { lastKnown?: Record<string, { instances: Record<string, unknown> }> };
    expect(Object.keys(saved.lastKnown?.node1?.instances ?? {})).toContain('web2');
    const cli = await run(process.execPath, [BIN, 'plan', '-f', m.dir, '--state-dir', stateDir], { encoding: 'utf8' });
    expect(cli.stdout).toMatch(/waits for node1: .*Instance\/web2/);
    expect(cli.stdout).not.toMatch(/instance\.(install|start) @node[23] .*web2/);
  });

  it('with node1 sshd still stopped, the gantry run daemon leaves web2 alone pass after pass and logs that it waits for node1', async () => {
    const child = spawn(process.execPath, [BIN, 'run', '-f', m.dir, '--state-dir', stateDir, '--resync', '2', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (b: Buffer) => (log += b.toString()));
    child.stderr.on('data', (b: Buffer) => (log += b.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const passes = () => log.split('\n').filter((l) => l.includes('"msg":"reconciled"')).length;
      for (let t = 0; t < 600 && passes() < 3; t++) await new Promise((r) => setTimeout(r, 500));
      expect(passes()).toBeGreaterThanOrEqual(3);
    } finally {
      child.kill('SIGTERM'); // by the PID we spawned
      await exited;
    }
    const waits = log.split('\n').filter((l) => l.includes('cannot be observed')).map((l) => JSON.parse(l) as { node: string; waiting: string[] });
    expect(waits.length).toBeGreaterThanOrEqual(3);
    expect(waits.every((w) => w.node === 'node1' && w.waiting.includes('Instance/web2'))).toBe(true);
    for (const other of ['node2', 'node3']) expect(await exists(await runDir(other, 'web2'))).toBe(false);
    expect(alive(web2Pid)).toBe(true);
  });

  it('when node1 sshd is back the cluster converges with one copy of web2, never restarted', async () => {
    await lab.startNode('node1');
    await converge();
    expect(await pidOf('node1', 'web2')).toBe(web2Pid);
    expect(alive(web2Pid)).toBe(true);
    expect(await exists(await runDir('node2', 'web2'))).toBe(false);
    expect(await exists(await runDir('node3', 'web2'))).toBe(false);
    expect(alive(await pidOf(api1Node, 'api1'))).toBe(true);
  });

  it('a stop that fails on node1 blocks the start of the moved VM on node2', async () => {
    await m.edit('instances.yaml', (docs) => docs.push(vm('mv1', 'sharedfile', 'node1')));
    await converge();
    const pid1 = await pidOf('node1', 'mv1');
    expect(alive(pid1)).toBe(true);

    // Gantry's stop records "adminStopped" in the run dir: an immutable dir makes it fail.
    const dir = await runDir('node1', 'mv1');
    await run('chattr', ['+i', dir]);
    immutable.push(dir);
    await editSpec('mv1', (s) => (s.placement.primary = 'node2'));
    const r = await pass(true);
    expect(r.plan.actions.filter((a) => a.subject === 'Instance/mv1').map((a) => `${a.verb}@${a.node}`)).toEqual(['instance.stop@node1', 'instance.start@node2']);
    expect(failures(r)).toEqual([expect.stringMatching(/^instance\.stop@node1: /)]);
    expect(r.report?.skipped.map((s) => `${s.action.verb}@${s.action.node}: ${s.because}`)).toEqual([
      expect.stringMatching(/^instance\.start@node2: .*must follow instance\.stop@node1 Instance\/mv1, which failed/),
    ]);
    expect(alive(await pidOf('node2', 'mv1'))).toBe(false);

    await run('chattr', ['-i', dir]);
    immutable.pop();
    await converge();
    expect(alive(await pidOf('node2', 'mv1'))).toBe(true);
    expect(await exists(dir)).toBe(false);
  });
});
