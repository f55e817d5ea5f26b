/**
 * `npm run bench:rapi`: GET /2/instances?bulk=1 from `gantry serve`'s server over HTTPS on
 * 127.0.0.1, for a generated cluster (default 200 nodes, 40,000 plain instances, written as
 * manifests by test/helpers/rapi-sim.ts's generators and loaded by the real loader). With
 * --observe the cluster is first applied on SimCluster nodes so the state directory holds
 * a real observation; without it the server shows the manifests with nothing observed
 * (the same fields, live ones null). Measures the view build (load, model, serialized and
 * gzipped lists: what `gantry serve` does once per change), then, for each client
 * (--clients), each encoding (--encodings: identity, gzip) and each number of keep-alive
 * connections (--parallel, a list), --requests requests after one warm-up: latency of each
 * request and requests/s over the level. Clients:
 *
 * * node: node's https client in a worker thread (its own event loop), counting bytes;
 * * curl: curl processes (one per connection, keep-alive within each, the body to
 *   /dev/null, gzip not decompressed), with their CPU time (/usr/bin/time);
 * * python: Ganeti's own client (python3-ganeti-rapi, pycurl), GetInstances(bulk=True),
 *   one connection, identity only (it sends no Accept-Encoding): transfer plus its JSON
 *   parse (simplejson; pythonJsonLoadsMs: that parse alone, once).
 *
 * With curl and python the server's CPU per request is the bench process's CPU over the
 * level divided by the requests (the clients are other processes). Bounded request counts;
 * loopback only.
 *
 *   npm run bench:rapi
 *   npm run bench:rapi -- --instances 4000 --nodes 40 --requests 40 --clients node,curl,python
 */
import { execFile } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { clusterYaml, instancesYaml, nodesYaml, simRapiCluster } from '../test/helpers/rapi-sim.js';
import { JobQueue } from '../src/rapi/jobs.js';
import { buildRapiServer } from '../src/rapi/server.js';
import { FileSource } from '../src/rapi/source.js';
import { ensureSelfSigned } from '../src/rapi/tls.js';
import { silentLogger } from '../src/util/log.js';
import { numberFlag } from './flags.js';

const run = promisify(execFile);
const NODES = numberFlag('nodes', 200);
const INSTANCES = numberFlag('instances', 40_000);
const REQUESTS = numberFlag('requests', 20);
const OBSERVE = process.argv.includes('--observe');
const list = (name: string, def: string) => { const i = process.argv.indexOf(`--${name}`); return (i > 0 ? process.argv[i + 1] ?? def : def).split(',').filter((x) => x !== ''); };
const PARALLEL = list('parallel', '1,2,4').map(Number);
const CLIENTS = list('clients', 'node,curl,python');
const ENCODINGS = list('encodings', 'identity,gzip');
const PY_CLIENT = '/usr/lib/python3/dist-packages/ganeti/rapi/client.py';

async function manifests(): Promise<{ dir: string; manifests: string; stateDir: string; cleanup: () => Promise<void> }> {
  if (OBSERVE) return simRapiCluster({ nodes: NODES, instances: INSTANCES });
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-bench-'));
  const m = path.join(dir, 'manifests');
  await mkdir(m);
  await writeFile(path.join(m, 'cluster.yaml'), clusterYaml());
  await writeFile(path.join(m, 'nodes.yaml'), nodesYaml(NODES));
  await writeFile(path.join(m, 'instances.yaml'), instancesYaml(INSTANCES, NODES));
  return { dir, manifests: m, stateDir: path.join(dir, 'state'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The node client, run in a worker thread so that it does not share the server's event loop
 * (a real client is another process): plain JS for the worker, node's https client over
 * PARALLEL keep-alive connections. One warm-up request, then REQUESTS; posts the timings.
 */
const CLIENT = `
const { workerData: w, parentPort } = require('node:worker_threads');
const { Agent, request } = require('node:https');
const agent = new Agent({ keepAlive: true, maxSockets: w.parallel });
const get = () => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const req = request({ host: '127.0.0.1', port: w.port, path: w.url, agent, headers: w.headers, rejectUnauthorized: false }, (res) => {
    let bytes = 0;
    res.on('data', (c) => { bytes += c.length; });
    res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, bytes }) : reject(new Error('HTTP ' + res.statusCode))));
  });
  req.on('error', reject);
  req.end();
});
(async () => {
  const first = await get();
  let next = 0;
  const ms = [];
  const c0 = performance.now();
  await Promise.all(Array.from({ length: w.parallel }, async () => { while (next++ < w.requests) ms.push((await get()).ms); }));
  const wallS = (performance.now() - c0) / 1000;
  agent.destroy();
  parentPort.postMessage({ bytes: first.bytes, ms, wallS });
})().catch((e) => parentPort.postMessage({ error: String(e) }));
`;

interface Level { bytes: number; ms: number[]; wallS: number; clientCpuMs?: number }

function nodeClient(port: number, url: string, gzip: boolean, parallel: number): Promise<Level> {
  const headers = gzip ? { 'accept-encoding': 'gzip' } : {};
  const w = new Worker(CLIENT, { eval: true, workerData: { port, url, headers, parallel, requests: REQUESTS } });
  return new Promise((resolve, reject) => {
    w.once('message', (m: Level & { error?: string }) => { void w.terminate(); if (m.error) reject(new Error(m.error)); else resolve(m); });
    w.once('error', reject);
  });
}

/** `parallel` curl processes, each fetching its share of REQUESTS over one keep-alive connection. */
async function curlClient(port: number, url: string, gzip: boolean, parallel: number): Promise<Level> {
  const one = async (n: number) => {
    const args = ['-f', '%U %S', 'curl', '-sk', '-w', '%{time_total} %{size_download}\\n', ...(gzip ? ['-H', 'Accept-Encoding: gzip'] : [])];
    for (let i = 0; i < n; i++) args.push('-o', '/dev/null', `https://127.0.0.1:${port}${url}`);
    const { stdout, stderr } = await run('/usr/bin/time', args, { maxBuffer: 1 << 20 });
    const [user, sys] = stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    const rows = stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
    return { ms: rows.map((r) => r[0]! * 1000), bytes: rows[0]![1]!, cpuMs: (user! + sys!) * 1000 };
  };
  await one(1);
  const shares = Array.from({ length: parallel }, (_, k) => Math.floor(REQUESTS / parallel) + (k < REQUESTS % parallel ? 1 : 0));
  const c0 = performance.now();
  const outs = await Promise.all(shares.map(one));
  const wallS = (performance.now() - c0) / 1000;
  return { bytes: outs[0]!.bytes, ms: outs.flatMap((o) => o.ms), wallS, clientCpuMs: outs.reduce((a, o) => a + o.cpuMs, 0) / REQUESTS };
}

/** Ganeti's Python client: GetInstances(bulk=True) REQUESTS times on one client object, after one warm-up. */
async function pythonClient(port: number, dir: string): Promise<Level> {
  const script = path.join(dir, 'bulk.py');
  await writeFile(script, [
    'import json, resource, simplejson, time',
    'from ganeti.rapi import client as rc',
    `c = rc.GanetiRapiClient("127.0.0.1", port=${port})`,
    'first = c.GetInstances(bulk=True)',
    'ms = []',
    'r0 = resource.getrusage(resource.RUSAGE_SELF)',
    't0 = time.monotonic()',
    `for _ in range(${REQUESTS}):`,
    '  t = time.monotonic(); c.GetInstances(bulk=True); ms.append((time.monotonic() - t) * 1000)',
    'wall = time.monotonic() - t0',
    'r1 = resource.getrusage(resource.RUSAGE_SELF)',
    "text = json.dumps(first, separators=(',', ':'))",
    "t = time.monotonic(); simplejson.loads(text.encode()); parse = (time.monotonic() - t) * 1000",
    `print(json.dumps({"ms": ms, "wallS": wall, "bytes": len(text), "clientCpuMs": (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000 / ${REQUESTS}, "parseMs": parse}))`,
  ].join('\n'));
  const { stdout } = await run('/usr/bin/python3', [script], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as Level;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function main(): Promise<void> {
  const t0 = performance.now();
  const c = await manifests();
  const logger = silentLogger();
  const source = new FileSource({ files: [c.manifests], stateDir: c.stateDir, logger, checkMs: 3_600_000 });
  const app = await buildRapiServer({ source, jobs: new JobQueue(), users: () => new Map(), anonymousRead: true, logger, https: await ensureSelfSigned(c.stateDir, logger, 'localhost') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const url = '/2/instances?bulk=1';
  try {
    const setupS = (performance.now() - t0) / 1000;
    const v0 = performance.now();
    await source.snapshot();
    const viewS = (performance.now() - v0) / 1000;
    console.log(JSON.stringify({
      machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
      instances: INSTANCES, nodes: NODES, observed: OBSERVE, setupS: +setupS.toFixed(1), viewS: +viewS.toFixed(1),
    }));
    for (const client of CLIENTS) {
      for (const encoding of ENCODINGS) {
        if (client === 'python' && (encoding === 'gzip' || !existsSync(PY_CLIENT))) continue;
        for (const parallel of client === 'python' ? [1] : PARALLEL) {
          const load0 = loadavg()[0]!;
          const cpu0 = process.cpuUsage();
          const gzip = encoding === 'gzip';
          const r = client === 'node' ? await nodeClient(port, url, gzip, parallel) : client === 'curl' ? await curlClient(port, url, gzip, parallel) : await pythonClient(port, c.dir);
          const cpu = process.cpuUsage(cpu0);
          const cpuPerReq = (cpu.user + cpu.system) / 1000 / (REQUESTS + 1);
          console.log(JSON.stringify({
            client, encoding, parallel, n: r.ms.length, bodyMiB: +(r.bytes / 2 ** 20).toFixed(2),
            medianMs: Math.round(pct(r.ms, 0.5)), p90Ms: Math.round(pct(r.ms, 0.9)), maxMs: Math.round(Math.max(...r.ms)), reqPerS: +(r.ms.length / r.wallS).toFixed(1),
            // with the node client the bench process's CPU is the server's and the client's
            ...(client === 'node' ? { serverAndClientCpuMsPerReq: Math.round(cpuPerReq) } : { serverCpuMsPerReq: Math.round(cpuPerReq), clientCpuMsPerReq: Math.round(r.clientCpuMs ?? 0) }),
            ...((r as { parseMs?: number }).parseMs !== undefined ? { pythonJsonLoadsMs: Math.round((r as { parseMs?: number }).parseMs!) } : {}),
            load: [+load0.toFixed(1), +loadavg()[0]!.toFixed(1)],
          }));
        }
      }
    }
  } finally {
    await app.close();
    await c.cleanup();
  }
}

await main();
