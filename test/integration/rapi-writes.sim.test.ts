/**
 * The remaining remote API writes (failover, reinstall, rename, modify, tags of nodes,
 * groups and the cluster, node role arguments) against a SIMULATED cluster (SimCluster
 * nodes with shared storage, real manifests, real state directory, real reconcile passes):
 * each is a manifest edit and a job whose pass the simulated nodes follow, and each refusal
 * is a 400 naming the parameter that leaves every file as it was and submits no job.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
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

let c: SimRapiCluster;
let app: FastifyInstance;
let jobs: JobQueue;
const admin = { authorization: `Basic ${Buffer.from('admin:adminpw').toString('base64')}` };

beforeAll(async () => {
  c = await simRapiCluster({ nodes: 3, instances: 6, shared: true });
  const logger = silentLogger();
  const source = new FileSource({ files: [c.manifests], stateDir: c.stateDir, logger, checkMs: 0 });
  jobs = new JobQueue();
  const pass: PassRunner = async (state, ctx) => {
    ctx.log('reconcile pass (simulated nodes)');
    const res = await reconcileOnce(state, { logger, ops: c.sim.nodes, stateDir: c.stateDir }, { apply: true, command: 'rapi' });
    return { plan: res.after ?? res.plan, failed: (res.report?.results ?? []).filter((r) => !r.ok).map((r) => ({ subject: r.action.subject, message: r.error?.message ?? '' })) };
  };
  const writes = fileWrites({ files: [c.manifests], stateDir: c.stateDir, source, jobs, logger, pass, git: false });
  app = await buildRapiServer({ source, jobs, users: () => parseUsers('admin adminpw write\n', 'users'), anonymousRead: true, logger, writes });
}, 120_000);
afterAll(async () => {
  await app?.close();
  await c?.cleanup();
});

const get = async (url: string) => (await app.inject({ method: 'GET', url })).json() as any;
const send = (method: 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
  app.inject({ method, url, headers: { ...admin, 'content-type': 'application/json' }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });

async function finished(id: number): Promise<any> {
  await jobs.idle();
  return get(`/2/jobs/${id}`);
}

/** Every manifest's text, to show a refusal changed nothing. */
async function manifests(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(c.manifests)).sort()) out[f] = await readFile(path.join(c.manifests, f), 'utf8');
  return out;
}

/** The request is refused with 400 whose explain starts with `field: `, and no file or job follows. */
async function refused(method: 'PUT' | 'POST' | 'DELETE', url: string, payload: unknown, field: string): Promise<string> {
  const before = await manifests();
  const jobsBefore = jobs.list().length;
  const r = await send(method, url, payload);
  expect(r.statusCode, r.body).toBe(400);
  const explain = r.json().explain as string;
  expect(explain.startsWith(`${field}: `), explain).toBe(true);
  await jobs.idle();
  expect(await manifests()).toEqual(before);
  expect(jobs.list().length).toBe(jobsBefore);
  return explain;
}

const observed = (node: string, name: string) => c.sim.node(node).snapshot().instances[name];

describe('remote API failover (simulator-backed, shared storage, live migration cluster)', () => {
  it('given a failover of a running sharedfile instance, it stops it, moves it, then starts it on the target (no live migration), in one job', async () => {
    expect(observed('node1', 'sf1')?.runState).toBe('running');
    const r = await send('PUT', '/2/instances/sf1/failover', { target_node: 'node2' });
    expect(r.statusCode, r.body).toBe(200);
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(job.ops[0]).toMatchObject({ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'sf1', target_node: 'node2' });
    const log = job.oplog[0].map((l: any) => l[3]).join('\n');
    expect(log).toMatch(/failover instance sf1 to node2: stop and move: done/);
    expect(log).toMatch(/failover instance sf1 to node2: start: done/);
    const history = c.sim.node('node1').history().map((h) => h.action.verb);
    expect(history).not.toContain('instance.migrate');
    expect(observed('node2', 'sf1')?.runState).toBe('running');
    expect(observed('node1', 'sf1')?.runState).not.toBe('running');
    const { state } = await loadDesired([c.manifests]);
    expect(state!.instances.get('sf1')).toMatchObject({ powerState: 'running', placement: { primary: 'node2' } });
    expect((await get('/2/instances/sf1')).pnode).toBe('node2');
  });

  it('given a failover of a running DRBD instance, it stops it, swaps primary and secondary, and starts it on the old secondary', async () => {
    const cluster = path.join(c.manifests, 'cluster.yaml');
    await writeFile(cluster, (await readFile(cluster, 'utf8')).replace('enabledDiskTemplates: [plain, sharedfile]', 'enabledDiskTemplates: [plain, sharedfile, drbd]'));
    await writeFile(path.join(c.manifests, 'drbd.yaml'), '# replicated\n---\napiVersion: gantry.dev/v1alpha1\nkind: Instance\nmetadata: {name: dr1}\nspec:\n  os: {name: none}\n  diskTemplate: drbd\n  disks: [{size: 512M}]\n  beParams: {memory: 128M}\n  placement: {primary: node1, secondary: node3}\n');
    await c.apply();
    await c.apply();
    expect(observed('node1', 'dr1')?.runState).toBe('running');
    // the server reloads a changed manifest set in the background (requests get the last view meanwhile)
    for (let i = 0; i < 100 && (await app.inject({ method: 'GET', url: '/2/instances/dr1' })).statusCode !== 200; i++) await new Promise((ok) => setTimeout(ok, 50));
    const r = await send('PUT', '/2/instances/dr1/failover', {});
    expect(r.statusCode, r.body).toBe(200);
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(job.ops[0]).toMatchObject({ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'dr1', target_node: 'node3' });
    // Two steps: stop, demote and promote in the first pass (the demote ordered after the stop; the old node's runtime
    // files go on the pass after), then the start.
    const log = job.oplog[0].map((l: any) => l[3]).join('\n');
    expect(log).toMatch(/failover instance dr1 to node3: stop and move: done/);
    expect(log).toMatch(/failover instance dr1 to node3: start: done/);
    const node1 = c.sim.node('node1').history().filter((h) => h.action.subject === 'Instance/dr1').map((h) => `${h.action.verb}:${h.ok}`);
    expect(node1.slice(node1.indexOf('instance.stop:true'))).toEqual(['instance.stop:true', 'drbd.secondary:true', 'instance.remove:true']);
    expect(observed('node3', 'dr1')?.runState).toBe('running');
    expect(observed('node1', 'dr1')?.runState).not.toBe('running');
    const { state } = await loadDesired([c.manifests]);
    expect(state!.instances.get('dr1')!.placement).toMatchObject({ primary: 'node3', secondary: 'node1' });
    expect(await get('/2/instances/dr1')).toMatchObject({ pnode: 'node3', snodes: ['node1'], status: 'running' });
  });

  it('given a failover the instance cannot do, it answers 400 naming the parameter and changes nothing', async () => {
    await refused('PUT', '/2/instances/vm1/failover', { target_node: 'node2' }, 'disk_template');
    await refused('PUT', '/2/instances/sf1/failover', {}, 'target_node');
    await refused('PUT', '/2/instances/sf1/failover', { target_node: 'node2' }, 'target_node');
    await refused('PUT', '/2/instances/sf1/failover', { target_node: 'node1', ignore_consistency: true }, 'ignore_consistency');
    await refused('PUT', '/2/instances/sf1/failover', { iallocator: 'hail' }, 'iallocator');
    await refused('PUT', '/2/instances/sf1/failover', { target_node: 'node9' }, 'spec.placement.primary');
  });

  it('given a migrate of a running DRBD instance (Ganeti\'s client body), the job swaps primary and secondary and the pass live-migrates it through dual-primary to its secondary', async () => {
    expect(observed('node3', 'dr1')?.runState).toBe('running');
    const r = await send('PUT', '/2/instances/dr1/migrate', { mode: 'live', cleanup: false });
    expect(r.statusCode, r.body).toBe(200);
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(job.ops[0]).toMatchObject({ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'dr1', target_node: 'node1' });
    expect(c.sim.node('node3').history().map((h) => h.action.verb)).toContain('instance.migrate');
    expect(observed('node1', 'dr1')?.runState).toBe('running');
    expect(observed('node3', 'dr1')).toBeUndefined();
    const { state } = await loadDesired([c.manifests]);
    expect(state!.instances.get('dr1')!.placement).toMatchObject({ primary: 'node1', secondary: 'node3' });
    expect(await get('/2/instances/dr1')).toMatchObject({ pnode: 'node1', snodes: ['node3'], status: 'running' });
  });
});

describe('remote API reinstall and rename (simulator-backed)', () => {
  it('given a reinstall (body of instance-reinstall-reqv1, start false), it bumps os.generation, the node installs generation 2 and leaves it stopped', async () => {
    expect((await get('/2/features'))).toContain('instance-reinstall-reqv1');
    expect(observed('node2', 'vm2')?.meta?.osGeneration).toBe(1);
    const r = await send('POST', '/2/instances/vm2/reinstall', { start: false, osparams: { variant: 'minimal' } });
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    const { state } = await loadDesired([c.manifests]);
    expect(state!.instances.get('vm2')!.os).toMatchObject({ generation: 2, params: { variant: 'minimal' } });
    expect(state!.instances.get('vm2')!.powerState).toBe('stopped');
    expect(observed('node2', 'vm2')?.meta?.osGeneration).toBe(2);
    expect((await get('/2/instances/vm2')).status).toBe('ADMIN_down');
  });

  it('given the old reinstall form (query os and nostartup=0), it reinstalls again and starts the VM', async () => {
    const r = await send('POST', '/2/instances/vm2/reinstall?os=none&nostartup=0');
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(observed('node2', 'vm2')).toMatchObject({ runState: 'running', meta: { osGeneration: 3 } });
    await refused('POST', '/2/instances/vm2/reinstall', { start: 'yes' }, 'start');
    await refused('POST', '/2/instances/vm2/reinstall', { os: 'bad os' }, 'spec.os.name');
  });

  it('given a rename of a running instance, or a body Gantry cannot honour, it answers 400 naming the field and changes nothing', async () => {
    expect(observed('node3', 'vm3')?.runState).toBe('running');
    await refused('PUT', '/2/instances/vm3/rename', { new_name: 'vm3b' }, 'instance');
    await refused('PUT', '/2/instances/vm3/rename', { new_name: 'vm3b', name_check: true }, 'name_check');
    await refused('PUT', '/2/instances/vm3/rename', { new_name: 'vm3b', ip_check: true }, 'ip_check');
    await refused('PUT', '/2/instances/vm3/rename', { new_name: 'vm4' }, 'new_name');
    expect((await send('PUT', '/2/instances/nope/rename', { new_name: 'x' })).statusCode).toBe(404);
  });

  it('given a stopped instance renamed (Ganeti\'s body), the job renames the manifest (comments kept) and the pass its LV, tag and record on the node: same disk, no install, and it starts under the new name', async () => {
    const down = await finished((await send('PUT', '/2/instances/vm3/shutdown')).json() as number);
    expect(down.status, JSON.stringify(down.opresult)).toBe('success');
    await refused('PUT', '/2/instances/vm3/rename', { new_name: 'bad name' }, 'metadata.name');
    const lvBefore = c.sim.node('node3').snapshot().lvs['vg0/vm3.disk0'];
    expect(lvBefore).toBeDefined();
    const r = await send('PUT', '/2/instances/vm3/rename', { new_name: 'vm3b', ip_check: false, name_check: false });
    expect(r.statusCode, r.body).toBe(200);
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(job.ops[0]).toMatchObject({ OP_ID: 'OP_INSTANCE_RENAME', instance_name: 'vm3', new_name: 'vm3b' });
    const text = Object.values(await manifests()).find((t) => t.includes('name: vm3b'))!;
    expect(text).toMatch(/# instance 2/);
    expect(text).toMatch(/renamedFrom: vm3/);
    const node3 = c.sim.node('node3').snapshot();
    expect(node3.lvs['vg0/vm3.disk0']).toBeUndefined();
    expect(node3.lvs['vg0/vm3b.disk0']).toEqual({ ...lvBefore, name: 'vm3b.disk0', tags: ['gantry', 'gantry-inst=vm3b'] });
    expect(Object.keys(node3.instances).filter((n) => n.startsWith('vm3'))).toEqual(['vm3b']);
    expect(c.sim.node('node3').history().filter((h) => h.action.subject === 'Instance/vm3b').map((h) => h.action.verb)).toEqual(['instance.rename']);
    expect((await app.inject({ method: 'GET', url: '/2/instances/vm3' })).statusCode).toBe(404);
    expect(await get('/2/instances/vm3b')).toMatchObject({ name: 'vm3b', pnode: 'node3', status: 'ADMIN_down' });
    const up = await finished((await send('PUT', '/2/instances/vm3b/startup')).json() as number);
    expect(up.status, JSON.stringify(up.opresult)).toBe('success');
    expect(c.sim.node('node3').history().filter((h) => h.action.subject === 'Instance/vm3b').map((h) => h.action.verb)).toEqual(['instance.rename', 'instance.start']);
    expect(observed('node3', 'vm3b')?.runState).toBe('running');
  });
});

describe('remote API modify (simulator-backed)', () => {
  it('given beparams, hvparams and a disk and a NIC to add, it writes them to the manifest (comments kept) and the pass applies them', async () => {
    const r = await send('PUT', '/2/instances/vm4/modify', {
      beparams: { maxmem: 512, minmem: 512, vcpus: 2 },
      hvparams: { disk_cache: 'writethrough', nic_type: 'e1000' },
      disks: [['add', -1, { size: 512, mode: 'ro' }]],
      nics: [['add', -1, { network: 'net1', ip: 'pool' }]],
    });
    expect(r.statusCode, r.body).toBe(200);
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(job.ops[0].OP_ID).toBe('OP_INSTANCE_SET_PARAMS');
    const text = await readFile(path.join(c.manifests, 'instances.yaml'), 'utf8');
    expect(text).toContain('# instance 3');
    const i = (await loadDesired([c.manifests])).state!.instances.get('vm4')!;
    expect(i.beParams).toMatchObject({ memory: 512, vcpus: 2 });
    expect(i.hvParams).toMatchObject({ diskCache: 'writethrough', nicType: 'e1000' });
    expect(i.disks.map((d) => [d.size, d.mode])).toEqual([[4096, 'rw'], [512, 'ro']]);
    expect(i.nics.map((n) => n.network)).toEqual(['net1']);
    const v = await get('/2/instances/vm4');
    expect(v).toMatchObject({ 'disk.sizes': [4096, 512], 'nic.networks': ['net1'], status: 'running' });
    expect(v.beparams).toMatchObject({ maxmem: 512, vcpus: 2 });
    expect(v.hvparams).toMatchObject({ disk_cache: 'writethrough', nic_type: 'e1000' });
  });

  it('given "default" for a parameter, it removes the instance\'s own setting; given a disk remove, the disk is marked absent', async () => {
    const r = await send('PUT', '/2/instances/vm4/modify', { hvparams: { disk_cache: 'default' }, disks: [['remove', 1, {}]] });
    const job = await finished(r.json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    const i = (await loadDesired([c.manifests])).state!.instances.get('vm4')!;
    expect(i.hvParams.diskCache).toBe('none');
    expect(i.disks.map((d) => d.state)).toEqual(['present', 'absent']);
    expect((await get('/2/instances/vm4'))['disk.sizes']).toEqual([4096]);
  });

  it('given parameters Gantry cannot express, it answers 400 naming each and changes nothing', async () => {
    await refused('PUT', '/2/instances/vm4/modify', { runtime_mem: 256 }, 'runtime_mem');
    await refused('PUT', '/2/instances/vm4/modify', { beparams: { maxmem: 512, minmem: 256 } }, 'beparams.minmem');
    await refused('PUT', '/2/instances/vm4/modify', { beparams: { always_failover: true } }, 'beparams.always_failover');
    await refused('PUT', '/2/instances/vm4/modify', { hvparams: { vhost_net: true } }, 'hvparams.vhost_net');
    await refused('PUT', '/2/instances/vm4/modify', { hvparams: { kvm_flag: 'maybe' } }, 'hvparams.kvm_flag');
    await refused('PUT', '/2/instances/vm4/modify', { hvparams: { disk_type: 'floppy' } }, 'spec.hvParams.diskType');
    await refused('PUT', '/2/instances/vm4/modify', { disks: [['modify', 0, { size: 2048 }]] }, 'disks[0].size');
    await refused('POST', '/2/instances/vm4/disk/0/grow', { amount: 2048, absolute: true }, 'amount');
    await refused('POST', '/2/instances/vm4/disk/3/grow', { amount: 1 }, 'disk');
    await refused('PUT', '/2/instances/vm4/modify', { disks: [['add', 0, { size: 1 }]] }, 'disks[0][1]');
    await refused('PUT', '/2/instances/vm4/modify', { disks: [['remove', 5, {}]] }, 'disks[0][1]');
    await refused('PUT', '/2/instances/vm4/modify', { nics: [['add', -1, { network: 'net1', bridge: 'br9' }]] }, 'nics[0].bridge');
    await refused('PUT', '/2/instances/vm4/modify', { hotplug: true, nics: [['remove', -1, {}]] }, 'hotplug');
    await refused('PUT', '/2/instances/vm4/modify', {}, 'body');
  });
});

describe('remote API tags of nodes, groups and the cluster; node role arguments (simulator-backed)', () => {
  it('given tags added to a node and to the cluster and removed again, it edits their spec.tags', async () => {
    let job = await finished((await send('PUT', '/2/nodes/node2/tags?tag=rack:a&tag=ssd')).json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(await get('/2/nodes/node2/tags')).toEqual(['rack:a', 'ssd']);
    job = await finished((await send('DELETE', '/2/nodes/node2/tags?tag=ssd')).json() as number);
    expect(await get('/2/nodes/node2/tags')).toEqual(['rack:a']);
    job = await finished((await send('PUT', '/2/tags?tag=site:ams')).json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect(await get('/2/tags')).toEqual(['site:ams']);
    expect((await loadDesired([c.manifests])).state!.cluster.tags).toEqual(['site:ams']);
    job = await finished((await send('DELETE', '/2/tags?tag=site:ams')).json() as number);
    expect(await get('/2/tags')).toEqual([]);
  });

  it('given tags for a group the manifests do not declare, a tag list missing, a dry run, it answers 404 / 400 / 400', async () => {
    expect(await get('/2/groups/default/tags')).toEqual([]);
    const g = await send('PUT', '/2/groups/default/tags?tag=x');
    expect(g.statusCode).toBe(404);
    expect(g.json().explain).toMatch(/NodeGroup\/default is not declared/);
    await refused('PUT', '/2/nodes/node2/tags', undefined, 'tag');
    await refused('PUT', '/2/nodes/node2/tags?tag=x&dry-run=1', undefined, 'dry-run');
    expect((await send('PUT', '/2/nodes/node9/tags?tag=x')).statusCode).toBe(404);
  });

  it('given a node role with auto-promote, it answers 400 on auto-promote; with force, it sets the role', async () => {
    await refused('PUT', '/2/nodes/node3/role?auto-promote=1', 'drained', 'auto-promote');
    const job = await finished((await send('PUT', '/2/nodes/node3/role?force=1', 'offline')).json() as number);
    expect(job.status, JSON.stringify(job.opresult)).toBe('success');
    expect((await get('/2/nodes/node3')).offline).toBe(true);
  });
});
