/**
 * Issue 12 on the real lab: `gantry serve` (the real CLI, a child process) over HTTPS with
 * a users file, in front of 3 namespace nodes; an authenticated instance startup through
 * the remote API (Ganeti's own Python client when installed, else plain HTTPS) runs as a
 * job that edits the manifest, takes the state directory lock, reconciles over SSH, and
 * succeeds with the guest really running (its QEMU serial console counting). The time
 * from the request to the job's success is printed (bench/README.md, "Remote API").
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, https } from '../helpers/https.js';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { killGuests, labPasses } from '../helpers/passes.js';
import { tapName } from '../../src/drivers/tap/tap.js';
import { acquireStateLock } from '../../src/runtime/state-lock.js';
import { silentLogger } from '../../src/util/log.js';

const skip = await labSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '../..');
const CLIENT = '/usr/lib/python3/dist-packages/ganeti/rapi/client.py';

/** GET /metrics as text (Prometheus exposition). */
function metricsText(port: number, auth: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, method: 'GET', path: '/metrics', rejectUnauthorized: false, timeout: 60_000, headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`/metrics: ${res.statusCode}`))));
    }).on('error', reject).end();
  });
}

/** The value of the first sample whose line starts with `prefix` (undefined when there is none). */
const sample = (text: string, prefix: string): number | undefined => {
  const l = text.split('\n').find((x) => x.startsWith(prefix));
  return l === undefined ? undefined : Number(l.split(' ').at(-1));
};

/**
 * Sends `count` ARP requests for `target` onto `bridge` in the node's network namespace
 * (AF_PACKET, lab traffic only: the lab's own bridge and its guest's 198.18 address): the
 * bridge floods them to the guest's tap (tap tx) and the guest answers (tap rx).
 */
const ARP_PY = `import socket, struct, sys
br, target, sender, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((br, 0))
mac = bytes.fromhex('02badc0ffee1')
arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, mac, socket.inet_aton(sender), bytes(6), socket.inet_aton(target))
for _ in range(count): s.send(b'\\xff' * 6 + mac + b'\\x08\\x06' + arp + bytes(18))
`;

describe.skipIf(skip)('given gantry serve with a users file in front of a 3-node lab', () => {
  const lab = useLab({ nodes: 3, manifestsDir: path.join(tmpdir(), `gantry-rapi-nodes-${process.pid}`) });
  let m: ManifestSet;
  let work: string;
  let stateDir: string;
  let port: number;
  let server: ChildProcess | undefined;
  let serverLog = '';
  const { pass, converge } = labPasses(() => m.load(), { stateDir: () => stateDir });
  const consoleOf = async (node: string, inst: string) => readFile(path.join(lab.up.record.stateDir, node, 'run', inst, 'console.log'), 'utf8').catch(() => '');

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-lab-'));
    stateDir = path.join(work, 'state');
    m = await labManifests(lab);
    // web1 only, installed and stopped: the API starts it.
    await m.edit('instances.yaml', (docs) => {
      docs.splice(0, docs.length, ...docs.filter((d) => d.metadata.name === 'web1'));
      docs[0]!.spec.placement = { primary: 'node1' };
      docs[0]!.spec.powerState = 'stopped';
    });
    await converge();
    await writeFile(path.join(work, 'users'), '# remote API users\nops opspw write\n', { mode: 0o600 });
    port = await freePort();
    server = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), 'serve', '-f', m.dir, '--users', path.join(work, 'users'),
      '--listen', `127.0.0.1:${port}`, '--state-dir', stateDir, '--lock-timeout', '300'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (c: Buffer) => { serverLog += c.toString(); });
    server.stderr!.on('data', (c: Buffer) => { serverLog += c.toString(); });
    const until = Date.now() + 120_000;
    for (;;) {
      const r = await https(port, 'GET', '/version').catch(() => undefined);
      if (r?.status === 401 || r?.status === 200) break;
      if (Date.now() > until || server.exitCode !== null) throw new Error(`gantry serve did not come up: ${serverLog}`);
      await sleep(500);
    }
  }, 600_000);

  afterAll(async () => {
    if (server?.pid && server.exitCode === null) {
      const closed = new Promise((r) => server!.once('exit', r));
      process.kill(server.pid, 'SIGTERM');
      await Promise.race([closed, sleep(15_000)]);
    }
    if (m) await killGuests(await m.load()).catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent'))).catch(() => undefined);
    await pass(true).catch(() => undefined);
    await m?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  }, 300_000);

  it('given no credentials or a read-only request, it refuses the startup (401) and reads need a user too', async () => {
    expect((await https(port, 'PUT', '/2/instances/web1/startup')).status).toBe(401);
    expect((await https(port, 'GET', '/2/instances/web1', 'ops:wrong')).status).toBe(401);
    const web1 = await https(port, 'GET', '/2/instances/web1', 'ops:opspw');
    expect(web1.json).toMatchObject({ name: 'web1', pnode: 'node1', status: 'ADMIN_down' });
  });

  it('given an authenticated startup, the job edits the manifest, reconciles over SSH and succeeds; the guest really runs', async () => {
    const started = performance.now();
    let ms: number;
    let job: any;
    if (existsSync(CLIENT)) {
      // Ganeti's own client: StartupInstance, then WaitForJobChange until the job is final.
      const script = path.join(work, 'startup.py');
      await writeFile(script, [
        'import json, time',
        'from ganeti.rapi import client as rc',
        `c = rc.GanetiRapiClient("127.0.0.1", port=${port}, username="ops", password="opspw")`,
        't0 = time.monotonic()',
        'job = c.StartupInstance("web1")',
        'info = None',
        'while True:',
        '  r = c.WaitForJobChange(job, ["status"], info, None)',
        '  if r: info = r["job_info"]',
        '  if info and info[0] in ("success", "error"): break',
        'ms = (time.monotonic() - t0) * 1000',
        'print(json.dumps({"ms": ms, "job": c.GetJobStatus(job)}))',
      ].join('\n'));
      const { stdout } = await run('/usr/bin/python3', [script], { timeout: 600_000 });
      ({ ms, job } = JSON.parse(stdout) as { ms: number; job: any });
    } else {
      const id = (await https(port, 'PUT', '/2/instances/web1/startup', 'ops:opspw')).json as number;
      for (;;) {
        job = (await https(port, 'GET', `/2/jobs/${id}`, 'ops:opspw')).json;
        if (job.status === 'success' || job.status === 'error') break;
        await sleep(200);
      }
      ms = performance.now() - started;
    }
    console.log(`[rapi lab] authenticated startup through the API, request to job success: ${Math.round(ms)} ms (${existsSync(CLIENT) ? "Ganeti's Python client" : 'https'}; job ${job.id})`);
    expect(job.status, `${JSON.stringify(job.opresult)}\n${serverLog}`).toBe('success');
    expect(job.ops[0]).toMatchObject({ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web1' });
    // The manifest says running, the guest boots and counts on its serial console.
    expect(await readFile(path.join(m.dir, 'instances.yaml'), 'utf8')).toMatch(/powerState: running/);
    const until = Date.now() + 120_000;
    while (!/gantry-guest web1 tick 2/.test(await consoleOf('node1', 'web1'))) {
      if (Date.now() > until) throw new Error(`web1 never counted: ...${(await consoleOf('node1', 'web1')).slice(-300)}`);
      await sleep(500);
    }
    const again = await pass(false);
    expect(again.statuses.find((s) => s.subject === 'Instance/web1')?.facts.status).toBe('running');
    expect(again.plan.actions).toEqual([]);
    expect((await https(port, 'GET', '/2/instances/web1', 'ops:opspw')).json.status).toBe('running');
  }, 600_000);

  it('given the running guest and two observe passes, /metrics shows its CPU seconds and tap counters non-zero and growing (read by the pass, not per scrape)', async () => {
    const web1 = (await https(port, 'GET', '/2/instances/web1', 'ops:opspw')).json;
    const guestIp = (web1['nic.ips'] as string[])[0]!;
    const sender = guestIp.replace(/\.\d+$/, '.250');
    const tap = tapName('web1', 0);
    const link = JSON.parse((await lab.local('node1').exec(['ip', '-j', 'link', 'show', 'dev', tap])).stdout || '[]') as { master?: string }[];
    const bridge = link[0]?.master;
    expect(bridge, `web1's tap ${tap} on node1 is on a bridge`).toBeDefined();
    const arp = async () => {
      const r = await lab.local('node1').exec(['python3', '-c', ARP_PY, bridge!, guestIp, sender, '20']);
      expect(r.code, r.stderr).toBe(0);
    };
    /** An apply pass (the observation), then the server's view of it once it reloaded. */
    const observeAndScrape = async (after: number): Promise<string> => {
      await pass(true);
      const until = Date.now() + 60_000;
      for (;;) {
        const t = await metricsText(port, 'ops:opspw');
        if ((sample(t, 'gantry_observation_timestamp_seconds ') ?? 0) > after) return t;
        if (Date.now() > until) throw new Error(`the server did not pick up the new observation:\n${t.slice(0, 2000)}`);
        await sleep(500);
      }
    };
    const labels = `{instance="web1",node="node1"`;
    await arp();
    await sleep(1000);
    const first = await observeAndScrape(0);
    const cpu1 = sample(first, `gantry_instance_cpu_seconds${labels}}`);
    const rx1 = sample(first, `gantry_instance_nic_rx_bytes${labels},nic="0",tap="${tap}"}`);
    const tx1 = sample(first, `gantry_instance_nic_tx_bytes${labels},nic="0",tap="${tap}"}`);
    console.log(`[rapi lab] metrics after the first pass: cpu ${cpu1} s, tap ${tap} rx ${rx1} B, tx ${tx1} B`);
    expect(cpu1).toBeGreaterThan(0);
    expect(rx1).toBeGreaterThan(0);
    expect(tx1).toBeGreaterThan(0);
    expect(sample(first, `gantry_instance_status${labels},status="running"}`)).toBe(1);
    expect(sample(first, 'gantry_node_reachable{node="node1"}')).toBe(1);
    await arp();
    await sleep(2000);
    const second = await observeAndScrape(sample(first, 'gantry_observation_timestamp_seconds ')!);
    const cpu2 = sample(second, `gantry_instance_cpu_seconds${labels}}`)!;
    const rx2 = sample(second, `gantry_instance_nic_rx_bytes${labels},nic="0",tap="${tap}"}`)!;
    const tx2 = sample(second, `gantry_instance_nic_tx_bytes${labels},nic="0",tap="${tap}"}`)!;
    console.log(`[rapi lab] metrics after the second pass: cpu ${cpu2} s, tap rx ${rx2} B, tx ${tx2} B`);
    expect(cpu2).toBeGreaterThan(cpu1!);
    expect(rx2).toBeGreaterThan(rx1!);
    expect(tx2).toBeGreaterThan(tx1!);
    expect(sample(second, 'gantry_rapi_jobs{status="success",op="OP_INSTANCE_STARTUP"}')).toBe(1);
  }, 600_000);

  it('given gantry run --serve instead, an API shutdown is a job whose pass is the daemon\'s own (one writer: the lock stays the daemon\'s), and /metrics adds the daemon\'s reconcile metrics', async () => {
    // stop `gantry serve`, start the daemon with the API in its process
    const closed = new Promise((r) => server!.once('exit', r));
    process.kill(server!.pid!, 'SIGTERM');
    await Promise.race([closed, sleep(15_000)]);
    serverLog = '';
    server = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), 'run', '-f', m.dir, '--state-dir', stateDir, '--resync', '600',
      '--serve', '--users', path.join(work, 'users'), '--listen', `127.0.0.1:${port}`], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (c: Buffer) => { serverLog += c.toString(); });
    server.stderr!.on('data', (c: Buffer) => { serverLog += c.toString(); });
    const up = Date.now() + 180_000;
    while ((await https(port, 'GET', '/version').catch(() => undefined))?.status !== 401) {
      if (Date.now() > up || server.exitCode !== null) throw new Error(`gantry run --serve did not come up: ${serverLog}`);
      await sleep(500);
    }
    // one writer: the daemon holds the state directory lock, a second writer is refused at once
    await expect(acquireStateLock({ stateDir, command: 'second writer (test)', logger: silentLogger(), waitMs: 0 })).rejects.toThrow(/lock/i);
    const id = (await https(port, 'PUT', '/2/instances/web1/shutdown', 'ops:opspw')).json as number;
    expect(typeof id, JSON.stringify(id)).toBe('number');
    let job: any;
    const until = Date.now() + 300_000;
    for (;;) {
      job = (await https(port, 'GET', `/2/jobs/${id}`, 'ops:opspw')).json;
      if (job.status === 'success' || job.status === 'error') break;
      if (Date.now() > until) throw new Error(`job ${id} did not finish: ${JSON.stringify(job)}\n${serverLog}`);
      await sleep(500);
    }
    expect(job.status, `${JSON.stringify(job.opresult)}\n${serverLog.slice(-3000)}`).toBe('success');
    const logs = JSON.stringify(job.oplog);
    expect(logs).toMatch(/queued for the daemon's next reconcile pass/);
    expect(logs).not.toMatch(/waiting for the state directory lock/);
    expect(await readFile(path.join(m.dir, 'instances.yaml'), 'utf8')).toMatch(/powerState: stopped/);
    expect((await https(port, 'GET', '/2/instances/web1', 'ops:opspw')).json.status).toBe('ADMIN_down');
    const text = await metricsText(port, 'ops:opspw');
    expect(sample(text, 'gantry_reconcile_total{result="success"}')).toBeGreaterThan(0);
    expect(sample(text, 'gantry_rapi_jobs{status="success",op="OP_INSTANCE_SHUTDOWN"}')).toBe(1);

    // the stopped web1 renamed to web9: the daemon's pass moves its sharedfile image and its
    // instance directory on node1 over SSH (mv -n -T), the same image kept
    const image = path.join(lab.up.sharedDir, 'web1.disk0.img');
    const inode = (await stat(image)).ino;
    const rid = (await https(port, 'PUT', '/2/instances/web1/rename', 'ops:opspw', { new_name: 'web9', ip_check: false, name_check: false })).json as number;
    expect(typeof rid, JSON.stringify(rid)).toBe('number');
    let renamed: any;
    for (const until = Date.now() + 300_000; ;) {
      renamed = (await https(port, 'GET', `/2/jobs/${rid}`, 'ops:opspw')).json;
      if (renamed.status === 'success' || renamed.status === 'error') break;
      if (Date.now() > until) throw new Error(`job ${rid} did not finish: ${JSON.stringify(renamed)}\n${serverLog}`);
      await sleep(500);
    }
    expect(renamed.status, `${JSON.stringify(renamed.opresult)}\n${serverLog.slice(-3000)}`).toBe('success');
    expect((await stat(path.join(lab.up.sharedDir, 'web9.disk0.img'))).ino).toBe(inode);
    await expect(stat(image)).rejects.toThrow(/ENOENT/);
    const runOf = (inst: string) => path.join(lab.up.record.stateDir, 'node1', 'run', inst);
    expect((await stat(runOf('web9'))).isDirectory()).toBe(true);
    await expect(stat(runOf('web1'))).rejects.toThrow(/ENOENT/);
    expect(await readFile(path.join(m.dir, 'instances.yaml'), 'utf8')).toMatch(/name: web9[\s\S]*renamedFrom: web1/);
    expect((await https(port, 'GET', '/2/instances/web9', 'ops:opspw')).json).toMatchObject({ name: 'web9', status: 'ADMIN_down' });
  }, 900_000);
});

