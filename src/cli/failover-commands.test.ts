import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import { reconcileOnce } from '../runtime/reconcile.js';
import { acquireStateLock } from '../runtime/state-lock.js';
import { SimCluster, SimFencer } from '../sim/index.js';
import { readFailovers } from '../status/state-dir.js';
import { silentLogger } from '../util/log.js';
import { failoverWriteBack } from './failover-commands.js';

const SHARED = '/srv/gantry/shared';
const MANIFEST = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [sharedfile]
  hvParams: {kvm: {accel: tcg}}
  beParams: {vcpus: 1, memory: 256M}
  storage: {volumeGroup: vg0, sharedFileStorageDir: ${SHARED}}
  autoRepair: {failover: true}
${['n1', 'n2', 'n3'].map((n, i) => `---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: ${n}}
spec:
  address: 198.18.0.${10 + i}
  oob: {program: [/usr/local/sbin/bmc-power], timeoutSeconds: 30}
`).join('')}---
# the web front end; keep it on n1 unless it fails
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec:
  os: {name: none}
  diskTemplate: sharedfile
  disks: [{size: 1G}]
  placement:
    primary: n1   # rack A
`;

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-writeback-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

const git = (...args: string[]) => execFileSync('git', ['-C', path.join(dir, 'm'), ...args], { encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });

/** Simulated nodes and power, real state directory and manifests: web1 fails over off n1; returns what reconciles and where web1 runs. */
async function failedOver(gitRepo: boolean) {
  const m = path.join(dir, 'm');
  await mkdir(m, { recursive: true });
  await writeFile(path.join(m, 'all.yaml'), MANIFEST);
  if (gitRepo) { git('init', '-q'); git('add', 'all.yaml'); git('commit', '-q', '-m', 'init'); }
  const sim = new SimCluster(['n1', 'n2', 'n3'].map((name) => ({ name, blockDevices: { '/dev/sdb': 65_536 }, ovs: false })), { sharedDirs: [SHARED] });
  const fencer = new SimFencer(sim);
  const stateDir = path.join(dir, 'state');
  let clock = Date.parse('2026-11-28T12:00:00.000Z');
  const pass = async () => {
    const { state } = await loadDesired([m]);
    clock += 5000;
    return reconcileOnce(state!, { logger: silentLogger(), ops: sim.nodes, stateDir, now: () => new Date(clock), fencer }, { apply: true });
  };
  for (let i = 0; i < 5; i++) if ((await pass()).plan.actions.length === 0) break;
  sim.node('n1').setUnreachable(true);
  for (let i = 0; i < 3; i++) await pass();
  const running = () => Object.entries(sim.snapshot()).filter(([, o]) => o.instances.web1?.runState === 'running').map(([n]) => n);
  const on = running();
  expect(on).toHaveLength(1);
  expect(on[0]).not.toBe('n1');
  expect((await readFailovers(stateDir)).get('web1')?.to).toBe(on[0]);
  return { m, stateDir, pass, running, to: on[0]! };
}

describe('gantry failover write-back', () => {
  it('given web1 failed over from n1, --dry-run prints the diff and changes nothing; then the manifest names the new node (comment kept), it is committed, the record is cleared, and the next pass leaves web1 where it runs', async () => {
    const w = await failedOver(true);
    const file = path.join(w.m, 'all.yaml');
    let out = '';
    const dry = await failoverWriteBack({ files: [w.m], stateDir: w.stateDir, dryRun: true, git: true, out: (s) => { out += s; } });
    expect(dry.written).toEqual([]);
    expect(out).toContain(`-    primary: n1   # rack A\n+    primary: ${w.to}   # rack A`);
    expect(await readFile(file, 'utf8')).toBe(MANIFEST);
    expect((await readFailovers(w.stateDir)).has('web1')).toBe(true);

    out = '';
    const res = await failoverWriteBack({ files: [w.m], stateDir: w.stateDir, dryRun: false, git: true, out: (s) => { out += s; } });
    expect(res.decisions).toMatchObject([{ instance: 'web1', decision: 'edit', primary: w.to }]);
    expect(await readFile(file, 'utf8')).toBe(MANIFEST.replace('primary: n1   # rack A', `primary: ${w.to}   # rack A`));
    expect(git('log', '--format=%s', '-1').trim()).toBe(`failover write-back: web1 n1 -> ${w.to} (gantry failover write-back)`);
    expect(git('status', '--porcelain').trim()).toBe('');
    expect(res.cleared).toEqual(['web1']);
    expect((await readFailovers(w.stateDir)).size).toBe(0);

    const after = await w.pass();
    expect(after.plan.entries.find((e) => e.subject === 'Instance/web1')?.actions).toEqual([]);
    expect(w.running()).toEqual([w.to]);
    // A second write-back finds nothing to do.
    out = '';
    expect((await failoverWriteBack({ files: [w.m], stateDir: w.stateDir, dryRun: false, git: true, out: (s) => { out += s; } })).written).toEqual([]);
    expect(out).toBe(`no failover records in ${w.stateDir}: nothing to write back\n`);
  });

  it('given the state directory locked by a running gantry run, the manifest is written and the record is left for the next pass, which drops it', async () => {
    const w = await failedOver(false);
    const lock = await acquireStateLock({ stateDir: w.stateDir, command: 'gantry run', logger: silentLogger() });
    let out = '';
    let res;
    try {
      res = await failoverWriteBack({ files: [w.m], stateDir: w.stateDir, dryRun: false, git: true, out: (s) => { out += s; } });
    } finally {
      await lock.release();
    }
    expect(res.written).toEqual([path.join(w.m, 'all.yaml')]);
    expect(res.commits).toEqual([]); // not a git work tree
    expect(res.cleared).toBeUndefined();
    expect(out).toMatch(/the state directory is locked .*: the next reconcile pass drops the records/);
    expect((await readFailovers(w.stateDir)).has('web1')).toBe(true);
    await w.pass();
    expect((await readFailovers(w.stateDir)).size).toBe(0);
    expect(w.running()).toEqual([w.to]);
  });
});
