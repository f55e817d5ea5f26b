/**
 * The RFC 7386 JSON merge patch that turns one JSON value into another, pure. Objects
 * are diffed key by key (a key gone is `null`), anything else (arrays included) is
 * replaced whole, as merge patch can only do. Undefined when nothing differs.
 * A merge patch cannot set a value to null: a `null` in `after` is refused.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function mergePatchOf(before: unknown, after: unknown, at = ''): Json | undefined {
  if (after === null) throw new TypeError(`${at || '<root>'}: a JSON merge patch cannot set null`);
  if (!isObject(before) || !isObject(after)) return same(before, after) ? undefined : noNulls(after, at) as Json;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(after)) {
    if (v === undefined) continue;
    const d = k in before && before[k] !== undefined ? mergePatchOf(before[k], v, `${at}.${k}`) : noNulls(v, `${at}.${k}`) as Json;
    if (d !== undefined) out[k] = d;
  }
  for (const k of Object.keys(before)) if (before[k] !== undefined && (!(k in after) || after[k] === undefined)) out[k] = null;
  return Object.keys(out).length ? out : undefined;
}

function noNulls(v: unknown, at: string): unknown {
  if (v === null) throw new TypeError(`${at}: a JSON merge patch cannot set null`);
  if (Array.isArray(v)) return v;
  if (isObject(v)) for (const [k, x] of Object.entries(v)) noNulls(x, `${at}.${k}`);
  return v;
}
