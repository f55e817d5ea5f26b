/**
 * Serialized read bodies, cached per model (one model per snapshot): the JSON text once,
 * and its gzip once, for clients that send `Accept-Encoding: gzip`, each with its ETag. The
 * big lists (instances and nodes, plain and bulk) are prepared when a snapshot is built
 * (warmBodies), so no request pays for serializing or compressing 40,000 instances.
 *
 * A large body is sent in slices (sliced()), each written when the socket has taken the
 * last: handed to TLS in one piece, a 44 MiB body is encrypted whole into a buffer that
 * grows to 44 MiB per request (fresh pages every time) before a byte leaves, which cost
 * twice the CPU and three times the time of the same body in slices (bench/README.md).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { RapiModel, RapiObject } from './view.js';

const gzip = promisify(gzipCb);

/** Bodies smaller than this go out uncompressed (gzip would not pay for itself). */
export const GZIP_MIN_BYTES = 1024;

/** Bodies larger than this are written in slices of this size (see sliced()). */
export const SEND_SLICE_BYTES = 256 * 1024;

export interface Body {
  readonly json: Buffer;
  /** The strong ETag of json (a quoted content hash). */
  readonly etag: string;
  /** The gzip of json (level 6), made once; undefined for small bodies. Its ETag is etag with "-gzip" before the closing quote. */
  readonly gzip: Promise<Buffer> | undefined;
}

/** A strong entity tag for these bytes (sha256, 128 bits, base64url). */
export function etagOf(bytes: Buffer): string {
  return `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`;
}

/** The ETag of a body's gzip form (another representation: another tag). */
export const gzipEtag = (etag: string): string => `${etag.slice(0, -1)}-gzip"`;

/**
 * Whether an If-None-Match header names this ETag (or is "*"); weak comparison, as
 * RFC 9110 asks for If-None-Match.
 */
export function etagMatches(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = (Array.isArray(header) ? header.join(',') : header).split(',').map((t) => t.trim().replace(/^W\//, ''));
  return tags.includes('*') || tags.includes(etag);
}

/**
 * A stream of buf in slices of `slice` bytes (views, no copies), pushed one at a time as
 * the consumer reads; piped into a response, each slice is written once the socket took
 * the previous one.
 */
export function sliced(buf: Buffer, slice = SEND_SLICE_BYTES): Readable {
  let off = 0;
  return new Readable({
    highWaterMark: slice,
    read() {
      if (off >= buf.length) { this.push(null); return; }
      const end = Math.min(buf.length, off + slice);
      this.push(buf.subarray(off, end));
      off = end;
    },
  });
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
    m.set(key, (b = { json, etag: etagOf(json), gzip: json.length >= GZIP_MIN_BYTES ? gzip(json, { level: 6 }) : undefined }));
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
