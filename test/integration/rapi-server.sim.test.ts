/**
 * The remote API served from a SIMULATED cluster (SimCluster nodes, real manifests, real
 * state directory, real reconcile passes): reads, errors, authentication, and writes that
 * edit the manifests and run a pass on the simulated nodes.
 */
import { gunzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simRapiCluster, type SimRapiCluster } from '../helpers/rapi-sim.js';
import { loadDesired } from '../../src/desired/load.js';
import { reconcileOnce } from '../../src/runtime/reconcile.js';
import { silentLogger } from '../../src/util/log.js';
import { JobQueue } from '../../src/rapi/jobs.js';
import { buildRapiServer } from '../../src/rapi/server.js';
import { FileSource } from '../../src/rapi/source.js';
import { parseUsers } from '../../src/rapi/users.js';
import { fileWrites, type PassRunner } from '../../src/rapi/writes.js';
import { createRapiMetrics } from '../../src/rapi/metrics.js';

let c: SimRapiCluster;
let app: FastifyInstance;
let jobs: JobQueue;
const users = parseUsers('admin adminpw write\nviewer viewpw read\n', 'users');
const auth = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const admin = auth('admin', 'adminpw');

beforeAll(async () => {
  c = await simRapiCluster({ nodes: 3, instances: 6 });
  const logger = silentLogger();
  const source = new FileSource({ files: [c.manifests], stateDir: c.stateDir, logger, checkMs: 0 });
  jobs = new JobQueue();
  const pass: PassRunner = async (state, ctx) => {
    ctx.log('reconcile pass (simulated nodes)');
    const res = await reconcileOnce(state, { logger, ops: c.sim.nodes, stateDir: c.stateDir }, { apply: true, command: 'rapi' });
    return { plan: res.after ?? res.plan, failed: (res.report?.results ?? []).filter((r) => !r.ok).map((r) => ({ subject: r.action.subject, message: r.error?.message ?? '' })) };
  };
  const writes = fileWrites({ files: [c.manifests], stateDir: c.stateDir, source, jobs, logger, pass, git: false });
  const registry = createRapiMetrics({ snapshot: () => source.snapshot(), jobs });
  app = await buildRapiServer({ source, jobs, users: () => users, anonymousRead: true, logger, writes, waitTimeoutMs: 2000, metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }) });
}, 120_000);
afterAll(async () => {
  await app?.close();
  await c?.cleanup();
});

const get = async (url: string, headers: Record<string, string> = {}) => {
  const r = await app.inject({ method: 'GET', url, headers });
  return { status: r.statusCode, body: r.json() as any };
};

async function finished(id: number): Promise<any> {
  await jobs.idle();
  return (await get(`/2/jobs/${id}`)).body;
}

describe('remote API reads (simulator-backed)', () => {
  it('given /version, /2/features and /2/info, it answers as Ganeti does (2, instance-create-reqv1, a master that is a node)', async () => {
    expect((await get('/version')).body).toBe(2);
    expect((await get('/2/features')).body).toContain('instance-create-reqv1');
    const info = (await get('/2/info')).body;
    expect(info.name).toBe('sim');
    expect(info.master).toBe('node1');
    expect(info.default_hypervisor).toBe('kvm');
    expect(info.ipolicy.minmax[0].min).toHaveProperty('memory-size');
  });

  it('given /2/instances, it lists {id, uri}; with bulk=1 every instance with the fields htools and ganetimgr read', async () => {
    const plain = (await get('/2/instances')).body;
    expect(plain[0]).toEqual({ id: 'vm1', uri: '/2/instances/vm1' });
    const bulk = (await get('/2/instances?bulk=1')).body;
    expect(bulk).toHaveLength(6);
    const vm1 = bulk.find((i: any) => i.name === 'vm1');
    expect(vm1).toMatchObject({ status: 'running', admin_state: 'up', oper_state: true, pnode: 'node1', snodes: [], disk_template: 'plain', 'disk.sizes': [1024], disk_usage: 1024, oper_ram: 128, tags: ['team:b'] });
    expect(vm1.beparams).toMatchObject({ vcpus: 1, maxmem: 128, minmem: 128, spindle_use: 1, auto_balance: true });
    for (const f of ['uuid', 'os', 'nic.ips', 'nic.macs', 'nic.modes', 'nic.links', 'nic.networks', 'hvparams', 'oper_vcpus', 'network_port', 'ctime', 'mtime', 'serial_no']) expect(vm1).toHaveProperty([f]);
  });

  it('given Accept-Encoding: gzip, it sends the cached bulk list gzipped, the same JSON as without', async () => {
    const plain = await app.inject({ method: 'GET', url: '/2/instances?bulk=1' });
    const gz = await app.inject({ method: 'GET', url: '/2/instances?bulk=1', headers: { 'accept-encoding': 'gzip, deflate' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toBe('Accept-Encoding');
    expect(gz.rawPayload.length).toBeLessThan(plain.rawPayload.length);
    expect(JSON.parse(gunzipSync(gz.rawPayload).toString())).toEqual(plain.json());
  });

  it('given /2/nodes?bulk=1, it reports sizes the simulated nodes observed and the instance lists', async () => {
    const nodes = (await get('/2/nodes?bulk=1')).body;
    const n1 = nodes.find((n: any) => n.name === 'node1');
    expect(n1).toMatchObject({ role: 'M', master_candidate: true, offline: false, drained: false, vm_capable: true, mtotal: 65536, ctotal: 16, dtotal: 1024 * 1024 });
    expect(n1.pinst_list).toEqual(['vm1', 'vm4']);
    expect(n1['group.uuid']).toBe((await get('/2/groups?bulk=1')).body[0].uuid);
    expect((await get('/2/nodes/node2/role')).body).toBe('regular');
  });

  it('given /2/groups and /2/networks, it answers lists and bulk objects', async () => {
    const g = (await get('/2/groups?bulk=1')).body[0];
    expect(g).toMatchObject({ name: 'default', alloc_policy: 'preferred', node_cnt: 3, node_list: ['node1', 'node2', 'node3'] });
    const n = (await get('/2/networks/net1')).body;
    expect(n).toMatchObject({ name: 'net1', network: '198.18.64.0/24', gateway: '198.18.64.1', free_count: 253 });
  });

  it('given an unknown resource, an unknown name, a method a resource lacks, it answers 404 / 404 / 501 with code, message and explain', async () => {
    expect((await get('/2/nothing'))).toEqual({ status: 404, body: { code: 404, message: 'Not Found', explain: 'no resource /2/nothing' } });
    expect((await get('/2/instances/nope')).body).toEqual({ code: 404, message: 'Not Found', explain: "Instance 'nope' is unknown" });
    const r = await app.inject({ method: 'DELETE', url: '/2/info', headers: admin });
    expect(r.statusCode).toBe(501);
    expect(r.json().explain).toMatch(/DELETE is unsupported/);
  });
});

describe('remote API queries (simulator-backed)', () => {
  it('given PUT /2/query/instance with fields and a filter, it answers Ganeti\'s {fields, data} for the matching instances', async () => {
    const r = await app.inject({ method: 'PUT', url: '/2/query/instance', payload: { fields: ['name', 'pnode', 'oper_state'], qfilter: ['&', ['=', 'pnode', 'node1'], ['=~', 'name', '^vm']] } });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.fields.map((f: any) => f.name)).toEqual(['name', 'pnode', 'oper_state']);
    const all = (await get('/2/instances?bulk=1')).body.filter((i: any) => i.pnode === 'node1').map((i: any) => [[0, i.name], [0, 'node1'], [0, i.oper_state]]);
    expect(all.length).toBeGreaterThan(0);
    expect(body.data).toEqual(all);
  });

  it('given PUT /2/query/node and GET /2/query/node/fields, it answers node rows and field kinds', async () => {
    const q = await app.inject({ method: 'PUT', url: '/2/query/node', payload: { fields: ['name', 'mtotal'], qfilter: ['=', 'name', 'node1'] } });
    expect(q.json().data).toEqual([[[0, 'node1'], [0, 65536]]]);
    const f = (await get('/2/query/node/fields?fields=name,mtotal,offline')).body;
    expect(f.fields.map((x: any) => [x.name, x.kind])).toEqual([['name', 'text'], ['mtotal', 'number'], ['offline', 'bool']]);
  });

  it('given a bad filter, an unknown query resource or no fields, it answers 400 / 404 / 400', async () => {
    const bad = await app.inject({ method: 'PUT', url: '/2/query/instance', payload: { fields: ['name'], qfilter: ['=', 'nosuch', 1] } });
    expect(bad.json()).toEqual({ code: 400, message: 'Bad Request', explain: 'qfilter: unknown field "nosuch"' });
    expect((await app.inject({ method: 'PUT', url: '/2/query/lock', payload: { fields: ['name'] } })).statusCode).toBe(404);
    expect((await app.inject({ method: 'PUT', url: '/2/query/instance', payload: {} })).statusCode).toBe(400);
  });

  it('given GET /2/instances/[name]/info, it answers a job id whose result holds the instance details', async () => {
    const id = (await get('/2/instances/vm1/info')).body;
    expect(typeof id).toBe('number');
    const job = await finished(id);
    expect(job.status).toBe('success');
    expect(job.ops[0]).toMatchObject({ OP_ID: 'OP_INSTANCE_QUERY_DATA', instances: ['vm1'] });
    expect(job.opresult[0].vm1).toMatchObject({ name: 'vm1', config_state: 'up', run_state: 'up', pnode: 'node1', disks: [{ size: 1024 }] });
    expect((await get('/2/instances/nope/info')).status).toBe(404);
  });
});

describe('remote API authentication', () => {
  it('given no credentials, it answers reads (anonymous reads on) and refuses writes with 401 and a Basic challenge', async () => {
    const r = await app.inject({ method: 'PUT', url: '/2/instances/vm1/shutdown' });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="Ganeti Remote API"');
  });

  it('given a wrong password, it answers 401 even for a read; a read-only user gets 403 on a write', async () => {
    expect((await get('/2/info', auth('admin', 'nope'))).status).toBe(401);
    const r = await app.inject({ method: 'PUT', url: '/2/instances/vm1/shutdown', headers: auth('viewer', 'viewpw') });
    expect(r.statusCode).toBe(403);
  });

  it('given a body that is not JSON, it answers 415', async () => {
    const r = await app.inject({ method: 'PUT', url: '/2/instances/vm1/shutdown', headers: { ...admin, 'content-type': 'text/plain' }, payload: 'stop' });
    expect(r.statusCode).toBe(415);
  });
});

describe('remote API writes: manifest edits, jobs, reconcile passes (simulator-backed)', () => {
  it('given a shutdown, it sets powerState in the manifest (comments kept), runs a pass, and the job succeeds with the VM stopped', async () => {
    const r = await app.inject({ method: 'PUT', url: '/2/instances/vm2/shutdown', headers: admin });
    expect(r.statusCode).toBe(200);
    const id = r.json() as number;
    expect(Number.isInteger(id)).toBe(true);
    const job = await finished(id);
    expect(job.status).toBe('success');
    expect(job.ops[0]).toEqual({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'vm2' });
    const text = await readFile(path.join(c.manifests, 'instances.yaml'), 'utf8');
    expect(text).toContain('# instance 1');
    const { state } = await loadDesired([c.manifests]);
    expect(state!.instances.get('vm2')!.powerState).toBe('stopped');
    expect((await get('/2/instances/vm2')).body.status).toBe('ADMIN_down');
    expect(c.sim.node('node2').snapshot().instances.vm2?.runState).not.toBe('running');
  });

  it('given a startup after it, the instance runs again and /2/jobs/[id]/wait reports the final status', async () => {
    const id = (await app.inject({ method: 'PUT', url: '/2/instances/vm2/startup', headers: admin })).json() as number;
    const w = await app.inject({ method: 'PUT', url: `/2/jobs/${id}/wait`, headers: admin, payload: { fields: ['status'], previous_job_info: null, previous_log_serial: null } });
    expect(w.statusCode).toBe(200);
    expect(['queued', 'running', 'success']).toContain(w.json().job_info[0]);
    expect((await finished(id)).status).toBe('success');
    expect((await get('/2/instances/vm2')).body.status).toBe('running');
  });

  it('given a create request (__version__ 1), it writes a new manifest, places and starts the instance', async () => {
    const body = { __version__: 1, mode: 'create', name: 'new1', disk_template: 'plain', disks: [{ size: 2048 }], nics: [], os_type: 'none', beparams: { maxmem: 256, vcpus: 2 }, tags: ['team:c'] };
    const r = await app.inject({ method: 'POST', url: '/2/instances', headers: admin, payload: body });
    expect(r.statusCode).toBe(200);
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(await readFile(path.join(c.manifests, 'new1.yaml'), 'utf8')).toContain('name: new1');
    const i = (await get('/2/instances/new1')).body;
    expect(i).toMatchObject({ status: 'running', 'disk.sizes': [2048], tags: ['team:c'] });
    expect(i.beparams).toMatchObject({ maxmem: 256, vcpus: 2 });
  });

  it('given a create that validation or placement refuses, it answers 400 naming the request field and writes no file and no job', async () => {
    const before = await readFile(path.join(c.manifests, 'instances.yaml'), 'utf8');
    const r1 = await app.inject({ method: 'POST', url: '/2/instances', headers: admin, payload: { __version__: 1, mode: 'create', name: 'bad1', disk_template: 'drbd', disks: [{ size: 512 }], nics: [], os_type: 'none' } });
    expect(r1.statusCode).toBe(400);
    expect(r1.json().explain).toMatch(/^disk_template: /);
    const r2 = await app.inject({ method: 'POST', url: '/2/instances', headers: admin, payload: { __version__: 1, mode: 'create', name: 'bad2', disk_template: 'plain', disks: [{ size: 512 }], nics: [], os_type: 'none', beparams: { maxmem: 256, minmem: 128 } } });
    expect(r2.statusCode).toBe(400);
    expect(r2.json().explain).toMatch(/^beparams\.minmem: /);
    const r3 = await app.inject({ method: 'POST', url: '/2/instances', headers: admin, payload: { __version__: 1, mode: 'create', name: 'bad3', disk_template: 'plain', disks: [], nics: [], os_type: 'none', pnode: 'node9' } });
    expect(r3.statusCode).toBe(400);
    expect(r3.json().explain).toMatch(/^pnode: /);
    const r4 = await app.inject({ method: 'POST', url: '/2/instances', headers: admin, payload: { __version__: 1, mode: 'create', name: 'bad4', disk_template: 'plain', disks: [], nics: [], os_type: 'none', frobnicate: 1 } });
    expect(r4.json().explain).toMatch(/^frobnicate: not supported/);
    const r5 = await app.inject({ method: 'POST', url: '/2/instances', headers: admin, payload: { __version__: 1, mode: 'create', name: 'bad5', disk_template: 'plain', disks: [{ size: 512 }], nics: [], os_type: 'none', beparams: { maxmem: 70000, minmem: 70000 } } });
    expect(r5.statusCode).toBe(400);
    expect(r5.json().explain).toMatch(/^pnode: no node can take bad5: .*nothing was written/);
    await jobs.idle();
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(c.manifests)).filter((f) => f.startsWith('bad'))).toEqual([]);
    expect(await readFile(path.join(c.manifests, 'instances.yaml'), 'utf8')).toBe(before);
    expect(jobs.list().some((j) => j.summary.includes('bad'))).toBe(false);
  });

  it('given tags added and removed, it edits spec.tags and the instance shows them', async () => {
    const add = await app.inject({ method: 'PUT', url: '/2/instances/vm3/tags?tag=web&tag=prod', headers: admin });
    expect((await finished(add.json() as number)).status).toBe('success');
    expect((await get('/2/instances/vm3/tags')).body).toEqual(['team:b', 'web', 'prod']);
    const del = await app.inject({ method: 'DELETE', url: '/2/instances/vm3/tags?tag=web', headers: admin });
    expect((await finished(del.json() as number)).status).toBe('success');
    expect((await get('/2/instances/vm3')).body.tags).toEqual(['team:b', 'prod']);
  });

  it('given a migrate of a plain instance, it answers 400 (its disks cannot follow it) and changes no file', async () => {
    const before = await readFile(path.join(c.manifests, 'instances.yaml'), 'utf8');
    const r = await app.inject({ method: 'PUT', url: '/2/instances/vm5/migrate', headers: admin, payload: { target_node: 'node3' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().explain).toMatch(/^disk_template: plain/);
    const bad = await app.inject({ method: 'PUT', url: '/2/instances/vm5/migrate', headers: admin, payload: { target_node: 'node3', cleanup: true } });
    expect(bad.json().explain).toMatch(/^cleanup: /);
    expect(await readFile(path.join(c.manifests, 'instances.yaml'), 'utf8')).toBe(before);
  });

  it('given a node role change, it writes spec.role and the node shows drained', async () => {
    const r = await app.inject({ method: 'PUT', url: '/2/nodes/node3/role', headers: { ...admin, 'content-type': 'application/json' }, payload: JSON.stringify('drained') });
    expect(r.statusCode).toBe(200);
    await finished(r.json() as number);
    expect((await get('/2/nodes/node3')).body).toMatchObject({ drained: true, role: 'D' });
    const bad = await app.inject({ method: 'PUT', url: '/2/nodes/node3/role', headers: { ...admin, 'content-type': 'application/json' }, payload: JSON.stringify('master') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().explain).toMatch(/^role: /);
  });
});

describe('remote API /metrics (simulator-backed)', () => {
  it('given the writes above, it serves Prometheus text: nodes (reachable, memory, disk, instances), instance status and memory, the observation time, jobs by status', async () => {
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    const line = (re: RegExp) => r.body.split('\n').find((l) => re.test(l));
    const value = (re: RegExp) => Number(line(re)?.split(' ').at(-1));
    expect(value(/^gantry_node_reachable\{node="node1"\}/)).toBe(1);
    expect(value(/^gantry_node_memory_bytes\{node="node1",kind="total"\}/)).toBeGreaterThan(0);
    expect(value(/^gantry_node_disk_bytes\{node="node1",kind="free"\}/)).toBeGreaterThan(0);
    const nodes = (await get('/2/nodes?bulk=1')).body as any[];
    expect(value(/^gantry_node_instances\{node="node1",role="primary"\}/)).toBe(nodes.find((n) => n.name === 'node1').pinst_cnt);
    const vm1 = (await get('/2/instances/vm1')).body;
    expect(value(new RegExp(`^gantry_instance_status\\{instance="vm1",node="${vm1.pnode}",status="${vm1.status}"\\}`))).toBe(1);
    expect(value(/^gantry_instance_up\{instance="vm1",/)).toBe(vm1.oper_state ? 1 : 0);
    expect(value(/^gantry_observation_timestamp_seconds /)).toBeGreaterThan(Date.now() / 1000 - 3600);
    expect(value(/^gantry_rapi_jobs\{status="success",op="OP_INSTANCE_SHUTDOWN"\}/)).toBe(1);
    expect(line(/^gantry_rapi_job_duration_seconds\{id="\d+",op="OP_INSTANCE_STARTUP",status="success"\}/)).toBeDefined();
    // simulated nodes have no QEMU process or tap counters: no sample rather than a zero
    expect(line(/^gantry_instance_cpu_seconds\{/)).toBeUndefined();
    expect((await app.inject({ method: 'POST', url: '/metrics' })).statusCode).toBe(501);
  });
});

