/**
 * `npm run bench:tls-ceiling`: the floor under `GET /2/instances?bulk=1` without gzip. A
 * bare node https server (the same self-signed P-256 certificate kind as `gantry serve`,
 * no fastify, no RAPI) sends a body of `--mib` MiB (default 44, the bulk list of 40,000
 * instances) from a ready Buffer to node's https client over a keep-alive connection on
 * 127.0.0.1; the client only counts bytes. What this takes per request is what any server
 * pays to move that body through TLS on this machine.
 */
import { Agent, createServer, request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureSelfSigned } from '../src/rapi/tls.js';
import { silentLogger } from '../src/util/log.js';

const arg = (name: string, dflt: number) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
const mib = arg('mib', 44);
const n = arg('requests', 10);
const dir = await mkdtemp(path.join(tmpdir(), 'gantry-tls-'));
const tls = await ensureSelfSigned(dir, silentLogger(), 'localhost');
const body = Buffer.alloc(mib * 1024 * 1024, 0x61);
const server = createServer({ cert: tls.cert, key: tls.key }, (_req, res) => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const one = () => new Promise<number>((resolve, reject) => {
  const t = performance.now();
  request({ host: '127.0.0.1', port, path: '/', agent, rejectUnauthorized: false }, (res) => { res.on('data', () => undefined); res.on('end', () => resolve(performance.now() - t)); }).on('error', reject).end();
});
await one();
const ms: number[] = [];
for (let i = 0; i < n; i++) ms.push(await one());
ms.sort((a, b) => a - b);
console.log(JSON.stringify({ mib, requests: n, medianMs: Math.round(ms[Math.floor(n / 2)]!), minMs: Math.round(ms[0]!), mibPerS: Math.round(mib / (ms[Math.floor(n / 2)]! / 1000)) }));
agent.destroy();
server.close();
await rm(dir, { recursive: true, force: true });
