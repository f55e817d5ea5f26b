/**
 * Serialized read bodies, cached per model (one model per snapshot): the JSON text once,
 * and its gzip once, for clients that send `Accept-Encoding: gzip`. The big lists
 * (instances and nodes, plain and bulk) are prepared when a snapshot is built
 * (warmBodies), so no request pays for serializing or compressing 40,000 instances.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { RapiModel, RapiObject } from './view.js';

const gzip = promisify(gzipCb);

/** Bodies smaller than this go out uncompressed (gzip would not pay for itself). */
export const GZIP_MIN_BYTES = 1024;

export interface Body {
  readonly json: Buffer;
  /** The gzip of json (level 6), made once; undefined for small bodies. */
  readonly gzip: Promise<Buffer> | undefined;
}

const cache = new WeakMap<RapiModel, Map<string, Body>>();

export type ListKind = 'instances' | 'nodes' | 'groups' | 'networks';

export function listing(kind: ListKind, items: readonly RapiObject[]): { id: string; uri: string }[] {
  return items.map((o) => ({ id: o.name as string, uri: `/2/${kind}/${encodeURIComponent(o.name as string)}` }));
}

export function cachedBody(model: RapiModel, key: string, make: () => unknown): Body {
  let m = cache.get(model);
  if (!m) cache.set(model, (m = new Map()));
  let b = m.get(key);
  if (b === undefined) {
    const json = Buffer.from(JSON.stringify(make()));
    m.set(key, (b = { json, gzip: json.length >= GZIP_MIN_BYTES ? gzip(json, { level: 6 }) : undefined }));
  }
  return b;
}

/** The body of GET /2/KIND (bulk or not), cached. */
export function listBody(model: RapiModel, kind: ListKind, bulk: boolean): Body {
  return cachedBody(model, `${kind}:${bulk}`, () => (bulk ? model[kind] : listing(kind, model[kind])));
}

/** Serializes and compresses the big lists of a new model before it is served. */
export async function warmBodies(model: RapiModel): Promise<void> {
  const bodies = (['instances', 'nodes'] as const).flatMap((k) => [listBody(model, k, true), listBody(model, k, false)]);
  await Promise.all(bodies.map((b) => b.gzip));
}
