import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cachedBody, GZIP_MIN_BYTES, listBody, warmBodies } from './bodies.js';
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
});
