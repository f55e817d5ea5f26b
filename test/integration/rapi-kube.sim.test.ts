/**
 * The remote API in Kubernetes mode (`gantry run --kubernetes --serve`), end to end on
 * the simulator: an API DOUBLE stands in for kube-apiserver (none can run here; it keeps
 * resourceVersion, generation, merge patch, watch and the CRD schemas), the nodes are
 * SimCluster nodes, and the server is the real one over HTTPS with a users file. Each
 * write is a patch (or create) of a custom resource by field manager gantry-rapi with the
 * API user in an annotation, and its job follows the reconcile pass the change triggers;
 * a refusal is a 400 naming the field that patches nothing; a replica that does not hold
 * the Lease answers reads and refuses writes with 503.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runKubeDaemon } from '../../src/cli/run-kube.js';
import { startRapiKube } from '../../src/cli/serve-commands.js';
import { OPERATION_ANNOTATION, USER_ANNOTATION } from '../../src/rapi/kube-writes.js';
import { SimCluster } from '../../src/sim/index.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort, https } from '../helpers/https.js';
import { SHARED_DIR } from '../helpers/rapi-sim.js';
import { createCr, loadRepoCrds, patchCrSpec, startKubeApiDouble, type KubeApiDouble } from '../helpers/kube-api-double.js';

const NS = 'gantry';
const ADMIN = 'admin:adminpw';
const READER = 'viewer:viewpw';
let api: KubeApiDouble;
let sim: SimCluster;
let dir: string;
const daemons: { stop: AbortController; running: Promise<void> }[] = [];
let leaderPort: number;
let followerPort: number;

const cr = (plural: string, name: string) => api.request('GET', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/${plural}/${name}`);
/** Every gantry CR's generation, spec and annotations (status writes of the passes change the rest). */
async function crVersions(): Promise<string[]> {
  const out: string[] = [];
  for (const plural of ['clusters', 'nodes', 'instances']) {
    for (const o of (await api.request('GET', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/${plural}`)).items) out.push(`${plural}/${o.metadata.name}@${o.metadata.generation} ${JSON.stringify(o.spec)} ${JSON.stringify(o.metadata.annotations ?? {})}`);
  }
  return out;
}
const vm = (node: string, name: string) => sim.node(node).snapshot().instances[name];

/** Submit a write to the leader, wait for its job (WaitForJobChange-style polling) and return it. */
async function write(method: string, url: string, body?: unknown): Promise<any> {
  const r = await https(leaderPort, method, url, ADMIN, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  let job: any;
  await vi.waitFor(async () => {
    job = (await https(leaderPort, 'GET', `/2/jobs/${r.json as number}`, ADMIN)).json;
    expect(['success', 'error']).toContain(job.status);
  }, { timeout: 20_000, interval: 50 });
  return job;
}

function startReplica(identity: string, port: number, stateDir: string, users: string): void {
  const stop = new AbortController();
  const running = runKubeDaemon({
    namespace: NS, kubeConfig: api.kubeConfig(), leaseName: 'gantry', identity, logger: silentLogger(),
    resyncMs: 0, debounceMs: 20, ops: sim.nodes, signal: stop.signal, retryPeriodMs: 100, renewDeadlineMs: 1_000, leaseDurationMs: 2_000,
    serve: (hooks) => startRapiKube({ listen: `127.0.0.1:${port}`, stateDir, users, namespace: NS, api: hooks.api }, silentLogger(), hooks),
  });
  daemons.push({ stop, running });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-kube-'));
  const users = path.join(dir, 'users');
  await writeFile(users, 'admin adminpw write\nviewer viewpw read\n');
  api = await startKubeApiDouble(await loadRepoCrds());
  await createCr(api, NS, 'Cluster', 'sim', {
    enabledHypervisors: ['kvm'], enabledDiskTemplates: ['plain', 'sharedfile'], storage: { volumeGroup: 'vg0', sharedFileStorageDir: SHARED_DIR },
    migration: { mode: 'live' }, nodeProfile: { volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }] },
  });
  await createCr(api, NS, 'Node', 'node1', { address: '198.18.1.1', role: 'master-candidate' });
  await createCr(api, NS, 'Node', 'node2', { address: '198.18.1.2' });
  await createCr(api, NS, 'Instance', 'web1', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], beParams: { memory: '256M' }, placement: { primary: 'node1' } });
  await createCr(api, NS, 'Instance', 'sf1', { os: { name: 'none' }, diskTemplate: 'sharedfile', disks: [{ size: '1G' }], beParams: { memory: '128M' }, placement: { primary: 'node1' } });
  sim = new SimCluster(['node1', 'node2'], { sharedDirs: [SHARED_DIR] });
  leaderPort = await freePort();
  startReplica('replica-a', leaderPort, path.join(dir, 'state-a'), users);
  // the first replica leads and has reconciled web1 before the second one starts
  await vi.waitFor(() => { expect(vm('node1', 'web1')?.runState).toBe('running'); expect(vm('node1', 'sf1')?.runState).toBe('running'); }, { timeout: 20_000, interval: 50 });
  followerPort = await freePort();
  startReplica('replica-b', followerPort, path.join(dir, 'state-b'), users);
  await vi.waitFor(async () => expect((await https(followerPort, 'GET', '/2/instances', READER)).status).toBe(200), { timeout: 20_000, interval: 100 });
}, 60_000);

afterAll(async () => {
  for (const d of daemons) d.stop.abort();
  await Promise.all(daemons.map((d) => d.running));
  await api?.stop();
  await sim?.close();
  await rm(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe('remote API writes in Kubernetes mode (simulated nodes; API double: no kube-apiserver can run here)', () => {
  it('given a shutdown and a startup, it patches spec.powerState as gantry-rapi with the user in an annotation, and each job succeeds after the pass it triggered', async () => {
    const down = await write('PUT', '/2/instances/web1/shutdown');
    expect(down.status, JSON.stringify(down.opresult)).toBe('success');
    expect(vm('node1', 'web1')?.runState).not.toBe('running');
    let o = await cr('instances', 'web1');
    expect(o.spec.powerState).toBe('stopped');
    expect(o.metadata.annotations).toMatchObject({ [USER_ANNOTATION]: 'admin', [OPERATION_ANNOTATION]: 'shutdown instance web1' });
    expect(api.fieldManagers).toContain(`PATCH /apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/web1 gantry-rapi`);
    const log = down.oplog[0].map((l: any) => l[3]).join('\n');
    expect(log).toMatch(/patched Instance\/web1 \(generation 2; user admin\)/);
    expect(log).toMatch(/waiting for the reconcile pass that reads generation 2 of Instance\/web1/);

    const up = await write('PUT', '/2/instances/web1/startup');
    expect(up.status, JSON.stringify(up.opresult)).toBe('success');
    expect(vm('node1', 'web1')?.runState).toBe('running');
    o = await cr('instances', 'web1');
    expect(o.spec.powerState).toBe('running');
    expect(o.metadata.generation).toBe(3);
    expect((await https(leaderPort, 'GET', '/2/instances/web1', READER)).json).toMatchObject({ admin_state: 'up', status: 'running', pnode: 'node1' });
  });

  it('given an instance create (reqv1), it creates the custom resource and the job succeeds once the VM runs on the named node', async () => {
    const job = await write('POST', '/2/instances', {
      __version__: 1, mode: 'create', name: 'web2', disk_template: 'plain', disks: [{ size: 512 }], nics: [], os_type: 'none',
      beparams: { maxmem: 128, vcpus: 1 }, pnode: 'node2', name_check: false, ip_check: false,
    });
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    const o = await cr('instances', 'web2');
    expect(o.spec).toMatchObject({ diskTemplate: 'plain', disks: [{ size: '512M' }], placement: { primary: 'node2' } });
    expect(o.metadata.annotations).toMatchObject({ [USER_ANNOTATION]: 'admin', [OPERATION_ANNOTATION]: 'create instance web2' });
    expect(api.fieldManagers).toContain(`POST /apis/gantry.dev/v1alpha1/namespaces/${NS}/instances gantry-rapi`);
    expect(vm('node2', 'web2')?.runState).toBe('running');
  });

  it('given a modify and tags, it patches the spec of the CR (the rest of it kept) and the pass applies it', async () => {
    const mod = await write('PUT', '/2/instances/web2/modify', { beparams: { vcpus: 2 } });
    expect(mod.status, JSON.stringify(mod.opresult)).toBe('success');
    expect((await cr('instances', 'web2')).spec).toMatchObject({ beParams: { vcpus: 2, memory: '128M' }, disks: [{ size: '512M' }], placement: { primary: 'node2' } });
    expect((await https(leaderPort, 'GET', '/2/instances/web2', READER)).json.beparams).toMatchObject({ vcpus: 2 });

    const add = await write('PUT', '/2/instances/web2/tags?tag=team:a&tag=owner:alice');
    expect(add.status, JSON.stringify(add.opresult)).toBe('success');
    expect((await cr('instances', 'web2')).spec.tags).toEqual(['team:a', 'owner:alice']);
    const del = await write('DELETE', '/2/instances/web2/tags?tag=team:a');
    expect(del.status, JSON.stringify(del.opresult)).toBe('success');
    expect((await cr('instances', 'web2')).spec.tags).toEqual(['owner:alice']);
    expect((await https(leaderPort, 'GET', '/2/instances/web2/tags', READER)).json).toEqual(['owner:alice']);
  });

  it('given a delete, it sets spec.state absent (the CR stays, its disks are kept) and the VM is gone', async () => {
    const job = await write('DELETE', '/2/instances/web2');
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect((await cr('instances', 'web2')).spec.state).toBe('absent');
    expect(vm('node2', 'web2')).toBeUndefined();
    expect(Object.values(sim.node('node2').snapshot().lvs).filter((lv) => lv.tags.some((t) => t.endsWith('=web2'))).map((lv) => lv.sizeMiB)).toEqual([512]);
    expect((await https(leaderPort, 'GET', '/2/instances/web2', READER)).status).toBe(404);
  });

  it('given another writer patching the CR between our read and our patch, it gets 409, reads again and patches on top, keeping the other change', async () => {
    const other = { tags: ['set-by-kubectl'] };
    api.beforeNext('PATCH', new RegExp(`/instances/web1$`), async () => {
      await patchCrSpec(api, NS, 'Instance', 'web1', other);
    });
    const job = await write('POST', '/2/instances/web1/reboot');
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    const log = job.oplog[0].map((l: any) => l[3]).join('\n');
    expect(log).toMatch(/changed since it was read \(409\): reading it again/);
    const o = await cr('instances', 'web1');
    expect(o.spec).toMatchObject({ restartGeneration: 1, tags: ['set-by-kubectl'], powerState: 'running' });
  });

  it('given a failover of a running sharedfile instance, it patches twice in one job (stop and move, then start), each step after its own pass, never live-migrating', async () => {
    const job = await write('PUT', '/2/instances/sf1/failover', { target_node: 'node2' });
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    const log = job.oplog[0].map((l: any) => l[3]).join('\n');
    expect(log).toMatch(/patched Instance\/sf1 \(generation 2;[\s\S]*stop and move: done[\s\S]*patched Instance\/sf1 \(generation 3;[\s\S]*start: done/);
    expect(sim.node('node1').history().map((h) => h.action.verb)).not.toContain('instance.migrate');
    expect(vm('node2', 'sf1')?.runState).toBe('running');
    expect((await cr('instances', 'sf1')).spec).toMatchObject({ placement: { primary: 'node2' }, powerState: 'running' });

    const back = await write('PUT', '/2/instances/sf1/migrate', { target_node: 'node1' });
    expect(back.status, JSON.stringify(back.opresult)).toBe('success');
    expect(vm('node1', 'sf1')?.runState).toBe('running');
    expect((await cr('instances', 'sf1')).spec.placement).toEqual({ primary: 'node1' });
  });

  it('given a rename of a stopped instance, it marks the old CR, creates the new one (spec.renamedFrom), deletes the old one, and the pass renames its disks: nothing created or removed', async () => {
    const made = await write('POST', '/2/instances', { __version__: 1, mode: 'create', name: 'ren1', disk_template: 'plain', disks: [{ size: 512 }], nics: [], os_type: 'none', beparams: { maxmem: 128 }, pnode: 'node2', name_check: false, ip_check: false });
    expect(made.status, JSON.stringify(made.opresult)).toBe('success');
    expect((await write('PUT', '/2/instances/ren1/shutdown')).status).toBe('success');
    const spec = (await cr('instances', 'ren1')).spec;
    const lvsOf = (name: string) => Object.values(sim.node('node2').snapshot().lvs).filter((lv) => lv.tags.includes(`gantry-inst=${name}`)).map((lv) => lv.sizeMiB);
    expect(lvsOf('ren1')).toEqual([512]);
    const seen = sim.node('node2').history().length;

    const job = await write('PUT', '/2/instances/ren1/rename', { new_name: 'ren2' });
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    const log = job.oplog[0].map((l: any) => l[3]).join('\n');
    expect(log).toMatch(/marked Instance\/ren1 gantry.dev\/renamed-to: ren2[\s\S]*created Instance\/ren2 with spec.renamedFrom: ren1[\s\S]*deleted Instance\/ren1 \(superseded by Instance\/ren2\)[\s\S]*rename instance ren1 to ren2: done/);
    await expect(api.request('GET', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/ren1`)).rejects.toMatchObject({ status: 404 });
    const o = await cr('instances', 'ren2');
    expect(o.spec).toEqual({ ...spec, renamedFrom: 'ren1' });
    expect(o.metadata.annotations).toMatchObject({ [USER_ANNOTATION]: 'admin', [OPERATION_ANNOTATION]: 'rename instance ren1 to ren2' });
    expect(api.fieldManagers).toContain(`POST /apis/gantry.dev/v1alpha1/namespaces/${NS}/instances gantry-rapi`);
    // the disk moved under the new name; the passes that read the three states did nothing else to either name
    expect(lvsOf('ren2')).toEqual([512]);
    expect(lvsOf('ren1')).toEqual([]);
    expect(sim.node('node2').history().slice(seen).map((h) => `${h.action.verb} ${h.action.subject}`)).toEqual(['instance.rename Instance/ren2']);
    const listed = (await https(leaderPort, 'GET', '/2/instances', READER)).json.map((i: any) => i.id);
    expect(listed).toContain('ren2');
    expect(listed).not.toContain('ren1');
  });

  it('given a rename whose delete of the old CR fails, the job says which CR is left and why it is inert; the passes keep one copy, under the new name', async () => {
    api.failNext('DELETE', new RegExp(`/instances/ren2$`), 500);
    const seen = sim.node('node2').history().length;
    const job = await write('PUT', '/2/instances/ren2/rename', { new_name: 'ren3' });
    expect(job.status).toBe('error');
    expect(JSON.stringify(job.opresult)).toMatch(/Instance\/ren3 was created with spec.renamedFrom: ren2 and carries the rename, but the old custom resource Instance\/ren2 was not deleted: .*superseded.*delete it: kubectl -n gantry delete instances.gantry.dev ren2/);
    expect((await cr('instances', 'ren2')).metadata.annotations['gantry.dev/renamed-to']).toBe('ren3');
    expect((await cr('instances', 'ren3')).spec.renamedFrom).toBe('ren2');
    // the leader reads the old CR as superseded: it renames the disks once and creates nothing for either name
    await vi.waitFor(() => expect(Object.values(sim.node('node2').snapshot().lvs).filter((lv) => lv.tags.includes('gantry-inst=ren3')).map((lv) => lv.sizeMiB)).toEqual([512]), { timeout: 20_000, interval: 50 });
    await vi.waitFor(async () => {
      const listed = (await https(leaderPort, 'GET', '/2/instances', READER)).json.map((i: any) => i.id);
      expect(listed).toContain('ren3');
      expect(listed).not.toContain('ren2');
    }, { timeout: 20_000, interval: 100 });
    expect(sim.node('node2').history().slice(seen).map((h) => `${h.action.verb} ${h.action.subject}`)).toEqual(['instance.rename Instance/ren3']);
    // the operator deletes the old CR: nothing changes
    await api.request('DELETE', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/instances/ren2`);
    expect((await write('PUT', '/2/instances/ren3/startup')).status).toBe('success');
    expect(vm('node2', 'ren3')?.runState).toBe('running');
    expect(sim.node('node2').history().slice(seen).map((h) => h.action.verb).filter((v) => v !== 'instance.rename' && v !== 'instance.start')).toEqual([]);
  });

  it('given a write the schemas refuse, it answers 400 naming the field and patches nothing', async () => {
    const before = await crVersions();
    const jobsBefore = (await https(leaderPort, 'GET', '/2/jobs', READER)).json.length;
    const bad = await https(leaderPort, 'POST', '/2/instances', ADMIN, {
      __version__: 1, mode: 'create', name: 'web3', disk_template: 'floppy', disks: [{ size: 512 }], os_type: 'none', pnode: 'node2',
    });
    expect(bad.status).toBe(400);
    expect(bad.json.explain).toMatch(/^disk_template: /);
    const badVcpus = await https(leaderPort, 'PUT', '/2/instances/web1/modify', ADMIN, { beparams: { vcpus: -3 } });
    expect(badVcpus.status).toBe(400);
    expect(badVcpus.json.explain).toMatch(/^beparams\.vcpus: /);
    expect(await crVersions()).toEqual(before);
    expect((await https(leaderPort, 'GET', '/2/jobs', READER)).json.length).toBe(jobsBefore);
  });

  it('given GET /metrics, the leader serves the API metrics and its reconcile loop metrics; a follower only the API ones', async () => {
    const leader = await https(leaderPort, 'GET', '/metrics', READER);
    expect(leader.status).toBe(200);
    expect(leader.json).toMatch(/^gantry_rapi_jobs\{/m);
    expect(leader.json).toMatch(/^gantry_reconcile_total\{/m);
    const follower = await https(followerPort, 'GET', '/metrics', READER);
    expect(follower.json).toMatch(/^# HELP gantry_rapi_jobs /m);
    expect(follower.json).not.toMatch(/gantry_reconcile_total/);
  });

  it('given a replica that does not hold the Lease, it answers reads and refuses writes with 503 (one writer), patching nothing', async () => {
    const before = await crVersions();
    const list = await https(followerPort, 'GET', '/2/instances', READER);
    expect(list.json.map((i: any) => i.id)).toContain('web1');
    const r = await https(followerPort, 'PUT', '/2/instances/web1/shutdown', ADMIN);
    expect(r.status).toBe(503);
    expect(r.json.explain).toMatch(/replica-b.*does not hold the Lease gantry\/gantry/);
    expect(await crVersions()).toEqual(before);
    expect(vm('node1', 'web1')?.runState).toBe('running');
  });
});

describe('the remote API in Kubernetes mode through the CLI (API double: no kube-apiserver can run here)', () => {
  const REPO = path.resolve(import.meta.dirname, '../..');
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('given `gantry run --kubernetes --serve` while another replica holds the Lease, it serves the CRs over HTTPS and refuses writes with 503', async () => {
    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: double, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: nobody, user: {}}]\ncontexts: [{name: double, context: {cluster: double, user: nobody}}]\ncurrent-context: double\n`);
    const port = await freePort();
    let log = '';
    child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), 'run', '--kubernetes', '--kubeconfig', kubeconfig, '--namespace', NS, '--lease-name', 'gantry',
      '--serve', '--listen', `127.0.0.1:${port}`, '--users', path.join(dir, 'users'), '--state-dir', path.join(dir, 'state-cli'), '--log-level', 'warn'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (b: Buffer) => { log += b.toString(); });
    child.stdout!.on('data', (b: Buffer) => { log += b.toString(); });
    await vi.waitFor(async () => {
      expect(child!.exitCode, `exit ${child!.exitCode}: ${log}`).toBeNull();
      const r = await https(port, 'GET', '/2/instances?bulk=1', READER).catch(() => ({ status: 0, json: null }));
      expect(r.status).toBe(200);
      expect((r.json as { name: string }[]).map((i) => i.name)).toContain('web1');
    }, { timeout: 60_000, interval: 250 });
    const before = await crVersions();
    const w = await https(port, 'PUT', '/2/instances/web1/shutdown', ADMIN);
    expect(w.status).toBe(503);
    expect(w.json.explain).toMatch(/does not hold the Lease gantry\/gantry/);
    expect(await crVersions()).toEqual(before);
  }, 90_000);

  it('given a server with no reconcile loop (gantry serve --kubernetes), it refuses writes with 503 and patches nothing', async () => {
    const port = await freePort();
    const server = await startRapiKube({ listen: `127.0.0.1:${port}`, stateDir: path.join(dir, 'state-serve'), users: path.join(dir, 'users'), namespace: NS, api: (await import('../../src/kube/client.js')).kubeApiFrom(api.kubeConfig()) }, silentLogger());
    try {
      const before = await crVersions();
      expect((await https(port, 'GET', '/2/instances/web1', READER)).json).toMatchObject({ name: 'web1', pnode: 'node1' });
      const w = await https(port, 'PUT', '/2/instances/web1/shutdown', ADMIN);
      expect(w.status).toBe(503);
      expect(w.json.explain).toMatch(/runs no reconcile loop/);
      expect(await crVersions()).toEqual(before);
    } finally {
      await server.close();
    }
  });
});
