import { request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../util/log.js';
import { listBody, SEND_SLICE_BYTES, warmBodies } from './bodies.js';
import { JobQueue } from './jobs.js';
import { buildRapiServer } from './server.js';
import { ensureSelfSigned } from './tls.js';
import type { RapiModel } from './view.js';

// a hand-made model (names and a few fields): what is under test is how the server sends it
const instances = Array.from({ length: 12_000 }, (_, k) => ({ name: `vm${k}.example.org`, status: 'running', pnode: `node${k % 7}`, 'disk.sizes': [10240, 2048] }));
const model: RapiModel = { info: {}, instances, nodes: [{ name: 'node0' }], groups: [], networks: [], os: [] };
let app: FastifyInstance;
let dir: string;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-server-'));
  await warmBodies(model);
  const logger = silentLogger();
  app = await buildRapiServer({ source: { current: async () => model }, jobs: new JobQueue(), users: () => new Map(), anonymousRead: true, logger, https: await ensureSelfSigned(dir, logger, 'localhost') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: url, headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

describe('remote API server: sending cached bodies over HTTPS', () => {
  it('given a bulk list larger than one send slice, it arrives whole, with its Content-Length and ETag', async () => {
    const body = listBody(model, 'instances', true);
    expect(body.json.length).toBeGreaterThan(2 * SEND_SLICE_BYTES);
    const r = await get('/2/instances?bulk=1');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(body.json.length));
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(r.headers.etag).toBe(body.etag);
    expect(r.body.equals(body.json)).toBe(true);
    expect(JSON.parse(r.body.toString())).toHaveLength(12_000);
  });

  it('given If-None-Match with the current ETag, it answers 304 without a body; with another tag, the body', async () => {
    const { etag } = listBody(model, 'instances', true);
    const same = await get('/2/instances?bulk=1', { 'if-none-match': etag });
    expect(same.status).toBe(304);
    expect(same.body.length).toBe(0);
    expect(same.headers.etag).toBe(etag);
    const other = await get('/2/instances?bulk=1', { 'if-none-match': '"stale"' });
    expect(other.status).toBe(200);
    expect(other.body.length).toBe(listBody(model, 'instances', true).json.length);
  });

  it('given Accept-Encoding: gzip, it sends the gzip form under its own ETag, and a 304 only for that tag', async () => {
    const b = listBody(model, 'instances', true);
    const gz = await get('/2/instances?bulk=1', { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.equals(await b.gzip!)).toBe(true);
    expect(gz.headers.etag).not.toBe(b.etag);
    expect((await get('/2/instances?bulk=1', { 'accept-encoding': 'gzip', 'if-none-match': b.etag })).status).toBe(200);
    expect((await get('/2/instances?bulk=1', { 'accept-encoding': 'gzip', 'if-none-match': gz.headers.etag as string })).status).toBe(304);
  });
});
