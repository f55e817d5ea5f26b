/**
 * `npm run bench:tls-ceiling`: what moving the bulk body of `GET /2/instances?bulk=1`
 * without gzip costs over TLS, without fastify or RAPI. A bare node https server (the same
 * self-signed P-256 certificate kind as `gantry serve`) sends a body of `--mib` MiB
 * (default 44, the bulk list of 40,000 instances) from a ready Buffer, either whole
 * (`res.end(body)`: node's TLS layer encrypts all of it into one growing buffer before the
 * socket takes a byte) or in 256 KiB slices each written once the socket took the last
 * (what `gantry serve` does, src/rapi/bodies.ts). The client is curl (another process,
 * one keep-alive connection, the body to /dev/null), `--requests` requests per mode after
 * one warm-up; the server's CPU per request is this process's CPU over them, curl's from
 * /usr/bin/time.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sliced } from '../src/rapi/bodies.js';
import { ensureSelfSigned } from '../src/rapi/tls.js';
import { silentLogger } from '../src/util/log.js';
import { numberFlag } from './flags.js';

const run = promisify(execFile);
const mib = numberFlag('mib', 44);
const n = numberFlag('requests', 10);
const dir = await mkdtemp(path.join(tmpdir(), 'gantry-tls-'));
const tls = await ensureSelfSigned(dir, silentLogger(), 'localhost');
const body = Buffer.alloc(mib * 1024 * 1024, 0x61);
const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  if (req.url === '/sliced') sliced(body).pipe(res);
  else res.end(body);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;

async function curl(mode: string, count: number): Promise<{ ms: number[]; curlCpuMs: number }> {
  const args = ['-f', '%U %S', 'curl', '-sk', '-w', '%{time_total}\\n'];
  for (let i = 0; i < count; i++) args.push('-o', '/dev/null', `https://127.0.0.1:${port}/${mode}`);
  const { stdout, stderr } = await run('/usr/bin/time', args);
  const [u, s] = stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { ms: stdout.trim().split('\n').map((l) => Number(l) * 1000), curlCpuMs: ((u! + s!) * 1000) / count };
}

try {
  for (const mode of ['whole', 'sliced']) {
    await curl(mode, 1);
    const load = loadavg()[0]!;
    const c0 = process.cpuUsage();
    const { ms, curlCpuMs } = await curl(mode, n);
    const c = process.cpuUsage(c0);
    ms.sort((a, b) => a - b);
    const median = ms[Math.floor(n / 2)]!;
    console.log(JSON.stringify({ mode, mib, requests: n, medianMs: Math.round(median), minMs: Math.round(ms[0]!), mibPerS: Math.round(mib / (median / 1000)), serverCpuMsPerReq: Math.round((c.user + c.system) / 1000 / n), curlCpuMsPerReq: Math.round(curlCpuMs), load: [+load.toFixed(1), +loadavg()[0]!.toFixed(1)] }));
  }
} finally {
  server.close();
  await rm(dir, { recursive: true, force: true });
}
