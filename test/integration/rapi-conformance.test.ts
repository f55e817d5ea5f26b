/**
 * Conformance with Ganeti's own clients, against the remote API served over real HTTPS
 * (self-signed certificate made by openssl) from a SIMULATED cluster (SimCluster nodes,
 * real manifests and state directory): Ganeti's Python RAPI client (python3-ganeti-rapi)
 * and htools (hbal -m and hcheck -m from ganeti-htools-3.0), whose cluster score
 * must equal `gantry balance`'s on the same cluster. Skipped, saying why, when the Debian
 * packages are missing.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simRapiCluster, type SimRapiCluster } from '../helpers/rapi-sim.js';
import { loadDesired } from '../../src/desired/load.js';
import { readObserved } from '../../src/status/state-dir.js';
import { balance } from '../../src/place/index.js';
import { clusterFromDesired, nodeFactsFromObserved } from '../../src/place/from-desired.js';
import { reconcileOnce } from '../../src/runtime/reconcile.js';
import { JobQueue } from '../../src/rapi/jobs.js';
import { buildRapiServer } from '../../src/rapi/server.js';
import { FileSource } from '../../src/rapi/source.js';
import { ensureSelfSigned } from '../../src/rapi/tls.js';
import { parseUsers } from '../../src/rapi/users.js';
import { fileWrites, type PassRunner } from '../../src/rapi/writes.js';
import { silentLogger } from '../../src/util/log.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const HTOOLS = '/usr/lib/ganeti/3.0/usr/bin';
const CLIENT = '/usr/lib/python3/dist-packages/ganeti/rapi/client.py';
const haveClient = existsSync(CLIENT);
const haveHtools = existsSync(path.join(HTOOLS, 'hbal'));
if (!haveClient) console.warn(`skipping the Python client tests: ${CLIENT} missing (apt-get install python3-ganeti-rapi)`);
if (!haveHtools) console.warn(`skipping the htools tests: ${HTOOLS}/hbal missing (apt-get install ganeti-htools-3.0)`);

let c: SimRapiCluster;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  c = await simRapiCluster({ nodes: 4, instances: 12, shared: true });
  const logger = silentLogger();
  const source = new FileSource({ files: [c.manifests], stateDir: c.stateDir, logger, checkMs: 0 });
  const jobs = new JobQueue();
  const pass: PassRunner = async (state) => {
    const res = await reconcileOnce(state, { logger, ops: c.sim.nodes, stateDir: c.stateDir }, { apply: true, command: 'rapi' });
    return { plan: res.after ?? res.plan, failed: (res.report?.results ?? []).filter((r) => !r.ok).map((r) => ({ subject: r.action.subject, message: r.error?.message ?? '' })) };
  };
  const writes = fileWrites({ files: [c.manifests], stateDir: c.stateDir, source, jobs, logger, pass, git: false });
  const tls = await ensureSelfSigned(c.stateDir, logger, 'localhost');
  app = await buildRapiServer({
    source, jobs, writes, logger, anonymousRead: true, https: tls,
    users: () => parseUsers('ops opspw write\n', 'users'),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
}, 180_000);
afterAll(async () => {
  await app?.close();
  await c?.cleanup();
});

/** Run a Python snippet with Ganeti's RAPI client bound to `c`; it prints one JSON document. */
async function python(body: string): Promise<any> {
  const script = path.join(c.dir, 'client.py');
  await writeFile(script, `import json\nfrom ganeti.rapi import client as rc\nc = rc.GanetiRapiClient("127.0.0.1", port=${port}, username="ops", password="opspw")\nout = {}\n${body}\nprint(json.dumps(out))\n`);
  const { stdout } = await run(PYTHON, [script], { timeout: 120_000 });
  return JSON.parse(stdout);
}

describe.skipIf(!haveClient)("Ganeti's Python RAPI client against gantry serve (simulator-backed)", () => {
  it('given the read calls ganetimgr and GWM make, it gets Ganeti-shaped answers', async () => {
    const out = await python([
      'out["info"] = c.GetInfo()',
      'out["features"] = c.GetFeatures()',
      'out["names"] = c.GetInstances()',
      'out["bulk"] = c.GetInstances(bulk=True)',
      'out["one"] = c.GetInstance("vm2")',
      'out["nodes"] = c.GetNodes(bulk=True)',
      'out["groups"] = c.GetGroups(bulk=True)',
      'out["networks"] = c.GetNetworks(bulk=True)',
      'try:\n  c.GetInstance("missing")\nexcept rc.GanetiApiError as e:\n  out["missing"] = [e.code, str(e)]',
    ].join('\n'));
    expect(out.info).toMatchObject({ name: 'sim', master: 'node1' });
    expect(out.features).toContain('instance-create-reqv1');
    expect(out.names).toHaveLength(13);
    expect(out.bulk.map((i: any) => i.name)).toEqual(out.names.slice().sort((a: string, b: string) => a.localeCompare(b)));
    expect(out.one).toMatchObject({ name: 'vm2', status: 'running', pnode: 'node2' });
    expect(out.nodes.map((n: any) => n.name)).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(out.groups[0]).toMatchObject({ name: 'default', node_cnt: 4 });
    expect(out.networks[0]).toMatchObject({ name: 'net1', network: '198.18.64.0/24' });
    expect(out.missing).toEqual([404, "404 Not Found: Instance 'missing' is unknown"]);
  });

  it('given CreateInstance, ShutdownInstance, StartupInstance with GetJobStatus and WaitForJobChange, the jobs succeed and the cluster follows', async () => {
    const out = await python([
      'def wait(job):',
      '  info = None',
      '  for _ in range(600):',
      '    r = c.WaitForJobChange(job, ["status"], info, None)',
      '    if r: info = r["job_info"]',
      '    if info and info[0] in ("success", "error"): return c.GetJobStatus(job)',
      '  raise Exception("job did not finish")',
      'j = c.CreateInstance("create", "api1", "plain", [{"size": 2048}], [], os_type="none", beparams={"maxmem": 256}, tags=["by:api"], pnode="node4")',
      'out["create"] = wait(j)',
      'out["created"] = c.GetInstance("api1")',
      'out["shutdown"] = wait(c.ShutdownInstance("api1"))',
      'out["stopped"] = c.GetInstance("api1")["status"]',
      'out["startup"] = wait(c.StartupInstance("api1"))',
      'out["started"] = c.GetInstance("api1")["status"]',
      'try:\n  c.MigrateInstance("api1", target_node="node2")\nexcept rc.GanetiApiError as e:\n  out["migrate"] = [e.code, str(e)]',
    ].join('\n'));
    expect(out.create.status, JSON.stringify(out.create.opresult)).toBe('success');
    expect(out.created).toMatchObject({ status: 'running', pnode: 'node4', 'disk.sizes': [2048], tags: ['by:api'] });
    expect(out.shutdown.status).toBe('success');
    expect(out.stopped).toBe('ADMIN_down');
    expect(out.startup.status).toBe('success');
    expect(out.started).toBe('running');
    expect(out.migrate[0]).toBe(400);
    expect(out.migrate[1]).toMatch(/disk_template: plain disks stay on their node/);
  }, 300_000);
});

describe.skipIf(!haveClient)("Ganeti's Python RAPI client: the remaining writes (simulator-backed)", () => {
  it('given FailoverInstance, ReinstallInstance, ModifyInstance, AddInstanceTags, SetNodeRole and RenameInstance, the jobs succeed or the call is refused by name', async () => {
    const out = await python([
      'def wait(job):',
      '  info = None',
      '  for _ in range(600):',
      '    r = c.WaitForJobChange(job, ["status"], info, None)',
      '    if r: info = r["job_info"]',
      '    if info and info[0] in ("success", "error"): return c.GetJobStatus(job)',
      '  raise Exception("job did not finish")',
      'out["failover"] = wait(c.FailoverInstance("sf1", target_node="node3"))',
      'out["sf1"] = c.GetInstance("sf1")',
      'out["reinstall"] = wait(c.ReinstallInstance("vm3", no_startup=True))',
      'out["vm3"] = c.GetInstance("vm3")["status"]',
      'out["modify"] = wait(c.ModifyInstance("vm5", beparams={"maxmem": 384, "minmem": 384}, disks=[["add", -1, {"size": 256}]]))',
      'out["vm5"] = c.GetInstance("vm5")',
      'out["tags"] = wait(c.AddInstanceTags("vm5", ["owner:alice"]))',
      'out["vm5tags"] = c.GetInstanceTags("vm5")',
      'out["role"] = wait(c.SetNodeRole("node4", "drained"))',
      'out["node4"] = c.GetNodeRole("node4")',
      'out["grow"] = wait(c.GrowInstanceDisk("vm5", 0, 512))',
      'out["vm5grown"] = c.GetInstance("vm5")["disk.sizes"]',
      'out["grow2"] = wait(c.ModifyInstance("vm5", disks=[["modify", 1, {"size": 1024}]]))',
      'out["vm5grown2"] = c.GetInstance("vm5")["disk.sizes"]',
      'try:\n  c.RenameInstance("vm5", "vm5b")\nexcept rc.GanetiApiError as e:\n  out["rename_running"] = [e.code, str(e)]',
      'out["rename"] = wait(c.RenameInstance("vm3", "vm3b", ip_check=False, name_check=False))',
      'out["vm3b"] = c.GetInstance("vm3b")["status"]',
      'try:\n  c.ModifyInstance("vm5", runtime_mem=256)\nexcept rc.GanetiApiError as e:\n  out["modify_bad"] = [e.code, str(e)]',
    ].join('\n'));
    for (const k of ['failover', 'reinstall', 'modify', 'grow', 'grow2', 'tags', 'role']) expect(out[k].status, `${k}: ${JSON.stringify(out[k].opresult)}`).toBe('success');
    expect(out.sf1).toMatchObject({ pnode: 'node3', status: 'running' });
    expect(out.vm3).toBe('ADMIN_down');
    expect(out.vm5['disk.sizes']).toEqual([1024, 256]);
    expect(out.vm5grown).toEqual([1536, 256]);
    expect(out.vm5grown2).toEqual([1536, 1024]);
    // the pass grew the logical volumes on the (simulated) node, not only the manifest
    const lvs = ['node1', 'node2', 'node3', 'node4'].map((n) => c.sim.node(n).snapshot().lvs).find((l) => l['vg0/vm5.disk0']);
    expect([lvs?.['vg0/vm5.disk0']?.sizeMiB, lvs?.['vg0/vm5.disk1']?.sizeMiB]).toEqual([1536, 1024]);
    expect(out.vm5.beparams).toMatchObject({ maxmem: 384 });
    expect(out.vm5tags).toContain('owner:alice');
    expect(out.node4).toBe('drained');
    expect(out.rename_running[0]).toBe(400);
    expect(out.rename_running[1]).toMatch(/instance: vm5 is running: shut it down first/);
    expect(out.rename.status, JSON.stringify(out.rename.opresult)).toBe('success');
    expect(out.vm3b).toBe('ADMIN_down');
    expect(out.modify_bad).toEqual([400, expect.stringMatching(/runtime_mem: not supported/)]);
  }, 300_000);
});

/** `gantry balance --cached`'s initial score of the cluster, from the same manifests and observation. */
async function gantryScore(): Promise<number> {
  const { state } = await loadDesired([c.manifests]);
  const snap = await readObserved(c.stateDir);
  const r = balance(clusterFromDesired(state!, nodeFactsFromObserved(state!, snap!.observed)).cluster, {});
  return r.groups[0]!.initialScore;
}

describe.skipIf(!haveHtools)('htools reading the cluster through gantry serve (simulator-backed)', () => {
  it('given hbal -m, it loads every node and instance and its initial score equals gantry balance', async () => {
    const { stdout } = await run(path.join(HTOOLS, 'hbal'), ['-m', `https://127.0.0.1:${port}`], { timeout: 120_000 });
    const loaded = /Loaded (\d+) nodes, (\d+) instances/.exec(stdout);
    const { state } = await loadDesired([c.manifests]);
    expect(loaded?.slice(1)).toEqual(['4', String(state!.instances.size)]);
    const score = Number(/Initial score: ([\d.]+)/.exec(stdout)?.[1]);
    expect(score).toBeGreaterThan(0);
    expect(score.toFixed(8)).toBe((await gantryScore()).toFixed(8));
  }, 180_000);

  it('given hcheck -m, it reads the cluster through the API and reports on it', async () => {
    const hcheck = await run(path.join(HTOOLS, 'hcheck'), ['-m', `https://127.0.0.1:${port}`, '--machine-readable'], { timeout: 120_000 }).catch((e: { stdout: string }) => e);
    expect(hcheck.stdout).toMatch(/^HCHECK_INIT_CLUSTER_\w+=/m);
  }, 300_000);
});
