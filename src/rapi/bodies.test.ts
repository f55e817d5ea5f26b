import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cachedBody, etagMatches, etagOf, GZIP_MIN_BYTES, gzipEtag, listBody, sliced, warmBodies } from './bodies.js';
import { acceptsGzip } from './server.js';
import type { RapiModel } from './view.js';

function model(n: number): RapiModel {
  const instances = Array.from({ length: n }, (_, k) => ({ name: `vm${k}.example.org`, status: 'running', pnode: 'n1' }));
  return { info: {}, instances, nodes: [{ name: 'n1' }], groups: [], networks: [], os: [] };
}

describe('cached read bodies', () => {
  it('given a model, it serializes a list once and its gzip decompresses to the same JSON', async () => {
    const m = model(500);
    await warmBodies(m);
    const b = listBody(m, 'instances', true);
    expect(listBody(m, 'instances', true)).toBe(b);
    expect(JSON.parse(b.json.toString())).toEqual(m.instances);
    const gz = await b.gzip!;
    expect(gz.length).toBeLessThan(b.json.length / 4);
    expect(gunzipSync(gz).equals(b.json)).toBe(true);
    expect(JSON.parse(listBody(m, 'instances', false).json.toString())[0]).toEqual({ id: 'vm0.example.org', uri: '/2/instances/vm0.example.org' });
  });

  it('given a body under the gzip threshold, it has no gzip form', () => {
    const b = cachedBody(model(0), 'x', () => ({ small: true }));
    expect(b.json.length).toBeLessThan(GZIP_MIN_BYTES);
    expect(b.gzip).toBeUndefined();
  });

  it('given Accept-Encoding headers, it takes gzip unless absent or refused with q=0', () => {
    expect(acceptsGzip('gzip, deflate, br')).toBe(true);
    expect(acceptsGzip('deflate;q=1, GZIP;q=0.5')).toBe(true);
    expect(acceptsGzip('*')).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('identity')).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
  });

  it('given a body, its ETag changes with its bytes and its gzip form has another tag', () => {
    const a = cachedBody(model(3), 'x', () => model(3).instances);
    expect(a.etag).toBe(etagOf(Buffer.from(JSON.stringify(model(3).instances))));
    expect(a.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(cachedBody(model(4), 'x', () => model(4).instances).etag).not.toBe(a.etag);
    expect(gzipEtag(a.etag)).not.toBe(a.etag);
    expect(gzipEtag(a.etag)).toMatch(/-gzip"$/);
  });

  it('given If-None-Match headers, it matches the tag, a list holding it, a weak form of it or *, and nothing else', () => {
    expect(etagMatches('"abc"', '"abc"')).toBe(true);
    expect(etagMatches('"x", W/"abc"', '"abc"')).toBe(true);
    expect(etagMatches('*', '"abc"')).toBe(true);
    expect(etagMatches('"abcd"', '"abc"')).toBe(false);
    expect(etagMatches(undefined, '"abc"')).toBe(false);
  });

  it('given a buffer of several slices, it streams views of at most one slice that add up to the same bytes', async () => {
    const buf = Buffer.from(Array.from({ length: 10_001 }, (_, k) => k % 251));
    const parts: Buffer[] = [];
    for await (const p of sliced(buf, 1000)) parts.push(p as Buffer);
    expect(parts).toHaveLength(11);
    expect(parts.every((p) => p.length <= 1000 && p.buffer === buf.buffer)).toBe(true);
    expect(Buffer.concat(parts).equals(buf)).toBe(true);
  });
});
