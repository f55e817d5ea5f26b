/**
 * ajv validators compiled from the kind schemas, and the translation of ajv's errors
 * into issues a sysadmin can act on ("unknown field", '"10X" is not a size', ...).
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { MESSAGE_KEY } from './common.js';
import { KINDS, type Kind } from './kinds.js';
import { kindValidators } from './validators.js';
import { refusedFieldIssues } from './field-support.js';
import { schemaLeaves, setPaths } from './leaves.js';
import { parseSize } from './sizes.js';

export { createAjv } from './ajv.js';

export type PathSegment = string | number;

/** One schema violation; `at` says whether to point at the key, the value or the object. */
export interface SchemaIssue {
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly code: 'unknown-field' | 'missing-field' | 'invalid-value' | 'bad-size' | 'invalid-name' | 'invalid-type' | 'unsupported-field';
  readonly at: 'key' | 'value' | 'parent';
}

/** Validate one document of a known kind against its schema, then refuse fields set that this release cannot honour; [] when valid. */
export function validateDocument(kind: Kind, doc: unknown): SchemaIssue[] {
  const v = kindValidators().get(kind)!;
  if (v(doc)) return [...sizeRangeIssues(kind, doc), ...refusedFieldIssues(kind, doc)];
  return translateErrors(v.errors ?? []);
}

/** Sizes the pattern accepts but no number holds (99999999999999999999T): refused, never read as a default. */
export function sizeRangeIssues(kind: Kind, doc: unknown): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  for (const leaf of schemaLeaves(kind)) {
    if (!leaf.size) continue;
    for (const path of setPaths(doc, leaf.path)) {
      let v: unknown = doc;
      for (const p of path) v = (v as Record<string | number, unknown>)[p];
      if ((typeof v === 'number' || typeof v === 'string') && parseSize(v) === undefined) {
        out.push({ path, at: 'value', code: 'bad-size', message: `${show(v)} is too large: a size must be at most ${Number.MAX_SAFE_INTEGER} MiB` });
      }
    }
  }
  return out;
}

/** Validate with any compiled function (e.g. a CRD's openAPIV3Schema) and translate. */
export function validateWith(v: ValidateFunction, doc: unknown): SchemaIssue[] {
  return v(doc) ? [] : translateErrors(v.errors ?? []);
}

function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => {
    const seg = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^(0|[1-9][0-9]*)$/.test(seg) ? Number(seg) : seg;
  });
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v) ?? String(v));

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { bestD = d; best = c; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** A pattern failure in words: the field's description when it has one, never the regular expression itself. */
function patternWords(path: readonly PathSegment[], parent: Record<string, unknown>): string {
  const field = [...path].reverse().find((p) => typeof p === 'string') ?? 'value';
  const what = typeof parent.description === 'string' ? ` (${parent.description})` : '';
  const len = typeof parent.maxLength === 'number' ? ` (at most ${parent.maxLength} characters)` : '';
  return `is not a valid ${field}${what}${len}`;
}

/** Turn ajv errors into issues: one per problem, branch noise of int-or-string removed. */
export function translateErrors(errors: readonly ErrorObject[]): SchemaIssue[] {
  const anyOfAt = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const out: SchemaIssue[] = [];
  const seen = new Set<string>();
  const push = (i: SchemaIssue) => {
    const key = `${i.path.join('.')}|${i.message}`;
    if (!seen.has(key)) { seen.add(key); out.push(i); }
  };
  for (const e of errors) {
    const path = pointerToPath(e.instancePath);
    const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
    const custom = parent[MESSAGE_KEY] as string | undefined;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        const known = Object.keys((parent.properties ?? {}) as object);
        const hint = closest(key, known);
        push({ path: [...path, key], at: 'key', code: 'unknown-field', message: `unknown field ${show(key)}${hint ? ` (did you mean ${show(hint)}?)` : known.length ? ` (known: ${known.join(', ')})` : ''}` });
        break;
      }
      case 'required': {
        const key = (e.params as { missingProperty: string }).missingProperty;
        push({ path: [...path, key], at: 'parent', code: 'missing-field', message: `missing required field ${show(key)}` });
        break;
      }
      case 'pattern':
      case 'format': {
        const isSize = parent['x-kubernetes-int-or-string'] === true && custom !== undefined;
        const code = isSize ? 'bad-size' : custom?.includes('hostname') ? 'invalid-name' : 'invalid-value';
        push({ path, at: 'value', code, message: custom ? `${show(e.data)} ${custom}` : `${show(e.data)} ${patternWords(path, parent)}` });
        break;
      }
      case 'enum':
        push({ path, at: 'value', code: 'invalid-value', message: `${show(e.data)} is not one of: ${((e.schema as unknown[]) ?? []).join(', ')}` });
        break;
      case 'const':
        push({ path, at: 'value', code: 'invalid-value', message: `${show(e.data)} must be ${show(e.schema)}` });
        break;
      case 'type': {
        if (e.schemaPath.includes('/anyOf/') && anyOfAt.has(e.instancePath)) break;
        const want = Array.isArray(e.schema) ? e.schema.join(' or ') : String(e.schema);
        const got = e.data === null ? 'null' : Array.isArray(e.data) ? 'a list' : typeof e.data === 'object' ? 'a mapping' : `${show(e.data)}`;
        push({ path, at: 'value', code: 'invalid-type', message: `must be ${want === 'object' ? 'a mapping' : want === 'array' ? 'a list' : `a ${want}`}, got ${got}` });
        break;
      }
      case 'anyOf':
        if (custom) push({ path, at: 'value', code: 'bad-size', message: `${show(e.data)} ${custom}` });
        else push({ path, at: 'value', code: 'invalid-type', message: `${show(e.data)} must be an integer or a string` });
        break;
      case 'if':
        break;
      default:
        push({ path, at: 'value', code: 'invalid-value', message: `${show(e.data)} ${e.message ?? 'is invalid'}` });
    }
  }
  return out;
}

export function isKind(k: unknown): k is Kind {
  return typeof k === 'string' && (KINDS as readonly string[]).includes(k);
}

export type { TSchema };
