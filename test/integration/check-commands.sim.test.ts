/**
 * gantry check ... over a SIMULATED cluster (SimCluster nodes, real manifests, a state
 * directory written by real reconcile passes): each check reads the manifests and the last
 * observation (the default, no SSH) and judges it; a node made unreachable, a failed remote
 * API job (the real JobQueue's file) and a stale observation change the verdicts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simRapiCluster, type SimRapiCluster } from '../helpers/rapi-sim.js';
import { runCheck, type CheckOpts } from '../../src/cli/check-commands.js';
import { loadDesired } from '../../src/desired/load.js';
import { balance } from '../../src/place/index.js';
import { clusterFromDesired, nodeFactsFromObserved } from '../../src/place/from-desired.js';
import { JobQueue } from '../../src/rapi/jobs.js';
import { reconcileOnce } from '../../src/runtime/reconcile.js';
import { CHECK_STATUS, renderCheck } from '../../src/status/checks.js';
import { clearWatcherPause, readObserved, writeWatcherPause } from '../../src/status/state-dir.js';
import { silentLogger } from '../../src/util/log.js';

const run = promisify(execFile);
let c: SimRapiCluster;
let opts: CheckOpts;

beforeAll(async () => {
  c = await simRapiCluster({ nodes: 3, instances: 6 });
  opts = { file: [c.manifests], stateDir: c.stateDir, maxAge: '900', since: '3600', stuck: '1800' };
}, 120_000);
afterAll(async () => { await c?.cleanup(); });

describe('gantry check on a healthy simulated cluster (last observation)', () => {
  it('given a cluster in sync, verify, nodes, freemem, ippool and watcher are OK with their perfdata', async () => {
    expect(renderCheck(await runCheck('verify', opts))).toBe('GANTRY VERIFY OK - no problems found | errors=0;;0;0 warnings=0;0;;0');
    expect(renderCheck(await runCheck('nodes', opts))).toBe('GANTRY NODES OK - 3 of 3 node(s) up | down=0;;0;0;3 up=3;;;0;3 drained=0;;;0;3 offline=0;;;0;3');
    const mem = await runCheck('freemem', opts);
    expect(mem.status).toBe(CHECK_STATUS.OK);
    expect(mem.text).toMatch(/^lowest free memory [\d.]+% on node\d .*; N\+1 ok$/);
    expect(renderCheck(await runCheck('ippool', opts))).toBe('GANTRY IPPOOL OK - lowest pool net1: 253 of 253 addresses free (100%) | free_min=100%;20:;10:;0;100 free_net1=253;;;0;253');
    expect((await runCheck('watcher', opts)).status).toBe(CHECK_STATUS.OK);
  });

  it('given the balance check, its score is the one gantry balance starts from, judged by -w/-c', async () => {
    const { state } = await loadDesired([c.manifests]);
    const snap = await readObserved(c.stateDir);
    const g = balance(clusterFromDesired(state!, nodeFactsFromObserved(state!, snap!.observed)).cluster, {}).groups[0]!;
    const score = g.initialScore;
    expect(score).toBeGreaterThan(0);
    const r = await runCheck('balance', { ...opts, warning: String(score * 2), critical: String(score * 4) });
    expect(r.status).toBe(CHECK_STATUS.OK);
    expect(r.perf[0]!.value).toBe(score);
    expect(r.perf[1]!.value).toBe(g.moves.length);
    expect((await runCheck('balance', { ...opts, warning: String(score / 2), critical: String(score * 4) })).status).toBe(CHECK_STATUS.WARNING);
  });

  it('given remote API jobs saved by the real JobQueue, a recent failure is WARNING and none is OK', async () => {
    expect((await runCheck('jobs', opts)).text).toBe('0 failed in the last 60 min; 0 queued or running');
    const q = await JobQueue.open(path.join(c.stateDir, 'rapi', 'jobs.json'));
    q.submit({ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'vm1' }, 'OP_INSTANCE_STARTUP(vm1)', 'ops', async () => { throw new Error('boom'); });
    await q.idle();
    await q.flushed();
    const r = await runCheck('jobs', opts);
    expect(renderCheck(r)).toBe('GANTRY JOBS WARNING - 1 failed in the last 60 min; 0 queued or running; last failed: job 1 (OP_INSTANCE_STARTUP(vm1)) | failed=1;0;;0 pending=0;;;0 stuck=0;;0;0');
  });

  it('given a watcher pause written as `gantry watcher pause` writes it, the watcher check is WARNING until it is cleared', async () => {
    const now = Date.now();
    await writeWatcherPause(c.stateDir, { until: new Date(now + 3_600_000).toISOString(), since: new Date(now).toISOString() });
    const r = await runCheck('watcher', opts);
    expect(r.status).toBe(CHECK_STATUS.WARNING);
    expect(r.text).toMatch(/^paused until /);
    await clearWatcherPause(c.stateDir);
    expect((await runCheck('watcher', opts)).status).toBe(CHECK_STATUS.OK);
  });

  it('given what keeps a check from judging (a stale observation, a bad threshold, no state), it is UNKNOWN saying why', async () => {
    const late = { ...opts, now: Date.now() / 1000 + 5000 };
    expect(await runCheck('nodes', late)).toMatchObject({ status: CHECK_STATUS.UNKNOWN, text: expect.stringMatching(/over --max-age 900: is gantry run running/) });
    expect((await runCheck('watcher', late)).status).toBe(CHECK_STATUS.CRITICAL);
    expect(await runCheck('nodes', { ...opts, critical: '5:1' })).toMatchObject({ status: CHECK_STATUS.UNKNOWN, text: expect.stringMatching(/start above end/) });
    const empty = await mkdtemp(path.join(tmpdir(), 'gantry-check-'));
    try {
      expect(await runCheck('watcher', { ...opts, stateDir: empty })).toMatchObject({ status: CHECK_STATUS.UNKNOWN, text: expect.stringMatching(/^no watcher state/) });
      expect(await runCheck('verify', { ...opts, stateDir: empty })).toMatchObject({ status: CHECK_STATUS.UNKNOWN, text: expect.stringMatching(/^no observation in/) });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('gantry check with a node down (simulated, observed unreachable by a real pass)', () => {
  it('given node3 unreachable, nodes and verify are CRITICAL naming it, and the command exits 2 with one line', async () => {
    c.sim.node('node3').setUnreachable(true);
    const { state } = await loadDesired([c.manifests]);
    await reconcileOnce(state!, { logger: silentLogger(), ops: c.sim.nodes, stateDir: c.stateDir }, { apply: true, command: 'test' });
    expect(await runCheck('nodes', opts)).toMatchObject({ status: CHECK_STATUS.CRITICAL, text: '2 of 3 node(s) up; down: node3' });
    const v = await runCheck('verify', opts);
    expect(v.status).toBe(CHECK_STATUS.CRITICAL);
    expect(v.text).toMatch(/node-down Node\/node3/);
    const cli = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', 'nodes', '-f', c.manifests, '--state-dir', c.stateDir], { timeout: 120_000 }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect((cli as { code?: number }).code).toBe(2);
    expect(cli.stdout).toBe('GANTRY NODES CRITICAL - 2 of 3 node(s) up; down: node3 | down=1;;0;0;3 up=2;;;0;3 drained=0;;;0;3 offline=0;;;0;3\n');
    expect(cli.stderr).toBe('');
  }, 180_000);
});
