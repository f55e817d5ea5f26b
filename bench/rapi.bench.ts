/**
 * `npm run bench:rapi`: GET /2/instances?bulk=1 from `gantry serve`'s server over HTTPS on
 * 127.0.0.1, for a generated cluster (default 200 nodes, 40,000 plain instances, written as
 * manifests by test/helpers/rapi-sim.ts's generators and loaded by the real loader). With
 * --observe the cluster is first applied on SimCluster nodes so the state directory holds
 * a real observation; without it the server shows the manifests with nothing observed
 * (the same fields, live ones null). Measures the view build (load, model, serialized and
 * gzipped lists: what `gantry serve` does once per change), one warm-up request, then --sequential requests one after another (latency), then
 * --concurrent requests over --parallel keep-alive connections (throughput). Bounded
 * request counts; loopback only. --gzip sends Accept-Encoding: gzip (body sizes are then the
 * compressed bytes on the wire).
 *
 *   npm run bench:rapi
 *   npm run bench:rapi -- --instances 4000 --nodes 40 --sequential 20 --concurrent 100 --parallel 4
 */
import { Worker } from 'node:worker_threads';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { clusterYaml, instancesYaml, nodesYaml, simRapiCluster } from '../test/helpers/rapi-sim.js';
import { JobQueue } from '../src/rapi/jobs.js';
import { buildRapiServer } from '../src/rapi/server.js';
import { FileSource } from '../src/rapi/source.js';
import { ensureSelfSigned } from '../src/rapi/tls.js';
import { silentLogger } from '../src/util/log.js';
import { numberFlag } from './flags.js';

const NODES = numberFlag('nodes', 200);
const INSTANCES = numberFlag('instances', 40_000);
const SEQUENTIAL = numberFlag('sequential', 30);
const CONCURRENT = numberFlag('concurrent', 100);
const PARALLEL = numberFlag('parallel', 4);
const OBSERVE = process.argv.includes('--observe');
const GZIP = process.argv.includes('--gzip');

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
 * The client, run in a worker thread so that it does not share the server's event loop
 * (a real client is another process): plain JS for the worker, node's https client over
 * keep-alive connections. It makes one warm-up request, SEQUENTIAL requests, then
 * CONCURRENT over PARALLEL connections, and posts the timings.
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
  const seq = [];
  for (let i = 0; i < w.sequential; i++) seq.push((await get()).ms);
  let next = 0;
  const conc = [];
  const c0 = performance.now();
  await Promise.all(Array.from({ length: w.parallel }, async () => { while (next++ < w.concurrent) conc.push((await get()).ms); }));
  const wallS = (performance.now() - c0) / 1000;
  agent.destroy();
  parentPort.postMessage({ first, seq, conc, wallS });
})().catch((e) => parentPort.postMessage({ error: String(e) }));
`;

interface ClientResult { first: { ms: number; bytes: number }; seq: number[]; conc: number[]; wallS: number; error?: string }

function runClient(port: number, url: string): Promise<ClientResult> {
  const headers = GZIP ? { 'accept-encoding': 'gzip' } : {};
  const w = new Worker(CLIENT, { eval: true, workerData: { port, url, headers, parallel: PARALLEL, sequential: SEQUENTIAL, concurrent: CONCURRENT } });
  return new Promise((resolve, reject) => {
    w.once('message', (m: ClientResult) => { void w.terminate(); if (m.error) reject(new Error(m.error)); else resolve(m); });
    w.once('error', reject);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function main(): Promise<void> {
  const t0 = performance.now();
  const c = await manifests();
  const logger = silentLogger();
  const source = new FileSource({ files: [c.manifests], stateDir: c.stateDir, logger, checkMs: 60_000 });
  const app = await buildRapiServer({ source, jobs: new JobQueue(), users: () => new Map(), anonymousRead: true, logger, https: await ensureSelfSigned(c.stateDir, logger, 'localhost') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const url = '/2/instances?bulk=1';
  try {
    const setupS = (performance.now() - t0) / 1000;
    const v0 = performance.now();
    await source.snapshot();
    const viewS = (performance.now() - v0) / 1000;
    const { first, seq, conc, wallS } = await runClient(port, url);
    const out = {
      machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
      instances: INSTANCES, nodes: NODES, observed: OBSERVE, gzip: GZIP, setupS: +setupS.toFixed(1), viewS: +viewS.toFixed(1), bodyMiB: +(first.bytes / 2 ** 20).toFixed(2),
      firstMs: Math.round(first.ms),
      sequential: { n: SEQUENTIAL, medianMs: Math.round(pct(seq, 0.5)), p90Ms: Math.round(pct(seq, 0.9)), maxMs: Math.round(Math.max(...seq)) },
      concurrent: { n: CONCURRENT, parallel: PARALLEL, reqPerS: +(CONCURRENT / wallS).toFixed(1), medianMs: Math.round(pct(conc, 0.5)), p90Ms: Math.round(pct(conc, 0.9)) },
    };
    console.log(JSON.stringify(out, null, 2));
  } finally {
    await app.close();
    await c.cleanup();
  }
}

await main();
