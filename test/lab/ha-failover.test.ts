/**
 * Issue 10 on the real lab: `gantry run` with Cluster spec.autoRepair.failover on; ha1, a
 * sharedfile VM, runs on node1. `gantry lab power off node1` kills every process of its
 * namespace (sshd, OVS, ha1's QEMU) and takes its links down. The daemon's heartbeat
 * notices, its passes count the missed probes through the grace, it fences node1 through
 * the Node manifest's out-of-band program (the lab's own `gantry lab power`), and ha1
 * starts on another node: exactly one copy. Power node1 on again: still one copy, and
 * node1's stale runtime files go. Measures power-off to running-elsewhere (bench/README).
 * Real sshd, QEMU (TCG), shared storage, state directory and the gantry CLI.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { alive, exists, labPasses } from '../helpers/passes.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/gantry.js');
const skip = await labSkipReason();
const NODES = ['node1', 'node2', 'node3'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('given a 3-node lab running gantry run with failover on, and ha1 (sharedfile) on node1', () => {
  const lab = useLab({ nodes: 3, manifestsDir: path.join(tmpdir(), `gantry-ha-nodes-${process.pid}`) });
  let m: ManifestSet;
  let stateDir: string;
  let daemon: ReturnType<typeof spawn> | undefined;
  let log = '';
  let movedTo = '';

  const runDir = async (node: string) => path.join((await m.load()).nodes.get(node)!.paths.runDir, 'ha1');
  const pidOn = async (node: string) => Number((await readFile(path.join(await runDir(node), 'pid'), 'utf8').catch(() => '0')).trim());
  /** Nodes where ha1's QEMU (by its pid file) is alive. */
  const runningOn = async () => {
    const out: string[] = [];
    for (const n of NODES) if (alive(await pidOn(n))) out.push(n);
    return out;
  };
  const { pass } = labPasses(() => m.load(), { stateDir: () => stateDir });
  const apply = () => pass(true);

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-ha-state-'));
    m = await labManifests(lab, { files: ['cluster.yaml', 'group.yaml', 'networks.yaml'] });
    await m.edit('cluster.yaml', ([c]) => {
      c!.spec.migration = { mode: 'non-live' };
      c!.spec.autoRepair = { failover: true };
    });
    await m.write('instances.yaml', [{
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'ha1' },
      spec: { os: { name: 'busybox+default' }, diskTemplate: 'sharedfile', disks: [{ size: '64M' }], nics: [{ network: 'lab-net', ip: 'pool' }], placement: { primary: 'node1' } },
    }]);
    const r = await apply();
    expect(r.report?.results.filter((x) => !x.ok)).toEqual([]);
  });

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM'); // the PID we spawned
      await exited;
    }
    await lab.power('node1', 'on').catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent')));
    await apply().catch(() => undefined);
    await m?.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('the lab writes each Node manifest with its own power program, and ha1 runs on node1 only', async () => {
    const node1 = (await m.load()).nodes.get('node1')!;
    expect(node1.oob?.program[1]).toMatch(/bin\/gantry\.js$/);
    expect(node1.oob?.program.slice(2, 4)).toEqual(['lab', 'power']);
    const { stdout } = await run(node1.oob!.program[0]!, [...node1.oob!.program.slice(1), 'power-status', 'node1'], { encoding: 'utf8' });
    expect(JSON.parse(stdout)).toEqual({ powered: true });
    expect(await runningOn()).toEqual(['node1']);
  });

  it('power off node1: the daemon fences it and ha1 runs on exactly one other node (the time it takes is measured)', async () => {
    daemon = spawn(process.execPath, [BIN, 'run', '-f', m.dir, '--state-dir', stateDir, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    daemon.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    for (let t = 0; t < 240 && !log.includes('"msg":"reconciled"'); t++) await sleep(500);
    expect(log).toContain('"msg":"reconciled"');
    await sleep(6000); // a heartbeat has seen every node answer

    const t0 = Date.now();
    const off = await lab.power('node1', 'off');
    expect(off.powered).toBe(false);
    let on: string[] = [];
    while (Date.now() - t0 < 120_000) {
      on = (await runningOn()).filter((n) => n !== 'node1');
      if (on.length > 0) break;
      await sleep(250);
    }
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[ha-failover] power-off to running elsewhere: ${seconds.toFixed(1)} s (ha1 on ${on.join(',')})`);
    expect(on).toHaveLength(1);
    movedTo = on[0]!;
    expect(await runningOn()).toEqual([movedTo]);
    expect(seconds).toBeLessThan(120); // the <= 30 s target is measured, not asserted (bench/README.md)

    const rec = JSON.parse(await readFile(path.join(stateDir, 'failovers.json'), 'utf8').catch(() => '{}')) as { instances?: Record<string, { from: string; to: string; detected: string; fenced: string; started: string }> };
    for (let t = 0; t < 40 && !rec.instances?.ha1; t++) {
      await sleep(500);
      Object.assign(rec, JSON.parse(await readFile(path.join(stateDir, 'failovers.json'), 'utf8').catch(() => '{}')));
    }
    expect(rec.instances?.ha1).toMatchObject({ from: 'node1', to: movedTo, detected: expect.any(String), fenced: expect.any(String), started: expect.any(String) });
    // The time by phase (bench/README.md): power off -> first missed probe -> fenced -> start done (failovers.json; the start's clock is the end of its pass).
    const r = rec.instances!.ha1!;
    const since = (iso: string) => ((Date.parse(iso) - t0) / 1000).toFixed(1);
    // From the daemon's log (pino's epoch ms): the heartbeat's notice and the fence program's start.
    const logAt = (msg: RegExp) => {
      const line = log.split('\n').find((l) => msg.test(l));
      return line ? ((Number((JSON.parse(line) as { time: number }).time) - t0) / 1000).toFixed(1) : '?';
    };
    console.log(`[ha-failover] phases from power off: heartbeat noticed ${logAt(/heartbeat: node1 stopped answering/)} s, detected ${since(r.detected)} s, fencing began ${logAt(/"msg":"fencing: power-off"/)} s, fenced ${since(r.fenced)} s, start recorded ${since(r.started)} s; seen running by the test ${seconds.toFixed(1)} s`);
    const live = JSON.parse(await readFile(path.join(stateDir, 'liveness.json'), 'utf8')) as { nodes: Record<string, { condition: string }> };
    expect(live.nodes.node1?.condition).toBe('Dead');
    expect(log).toMatch(/fenced: power off confirmed/);
  });

  it('power node1 on again: it is Ready, ha1 still runs once on its new node, and node1\'s stale runtime files go', async () => {
    const on = await lab.power('node1', 'on');
    expect(on.powered).toBe(true);
    let live = '';
    for (let t = 0; t < 120; t++) {
      live = JSON.parse(await readFile(path.join(stateDir, 'liveness.json'), 'utf8')).nodes.node1.condition as string;
      if (live === 'Ready' && !(await exists(await runDir('node1')))) break;
      await sleep(500);
    }
    expect(live).toBe('Ready');
    expect(await exists(await runDir('node1'))).toBe(false);
    expect(await runningOn()).toEqual([movedTo]);
    await sleep(6000); // more passes: nothing moves back
    expect(await runningOn()).toEqual([movedTo]);
  });
});
