/**
 * Every leaf of every kind's spec, named so that a parameter block shared by several kinds
 * (hvParams, diskParams, ipolicy, ...) has one name wherever it appears: the
 * every-leaf test (every-leaf.test.ts) lists each name with its consumer or its refusal
 * (field-support.ts), so no field can be accepted and silently ignored.
 */
import type { TSchema } from '@sinclair/typebox';
import { KIND_INFO, KINDS, type Kind } from './kinds.js';
import { BeParams, DiskParams, IPolicy, KvmHvParams, Migration, NdParams, NicParams, NodeProfile } from './params.js';
import type { PathSegment } from './validate.js';

/** Shared parameter blocks, recognised by their description wherever they are embedded. */
const BLOCKS: readonly [string, TSchema][] = [
  ['hvParams', KvmHvParams], ['beParams', BeParams], ['nicParams', NicParams], ['diskParams', DiskParams],
  ['migration', Migration], ['ipolicy', IPolicy], ['nodeProfile', NodeProfile], ['ndParams', NdParams],
];

export interface Leaf {
  readonly kind: Kind;
  /** Path in the document, arrays as "[]": spec.hvParams.kvm.diskCache, spec.disks[].mode. */
  readonly path: string;
  /** The name the registry uses: "hvParams.diskCache" inside a shared block, else "Instance.spec.os.name". */
  readonly key: string;
  /** A Size (integer MiB or a string with a unit). */
  readonly size?: true;
}

type Node = { type?: string; properties?: Record<string, Node>; items?: Node; description?: string };

function blockOf(s: Node): string | undefined {
  return BLOCKS.find(([, b]) => b.description !== undefined && b.description === s.description)?.[0];
}

function walk(kind: Kind, s: Node, path: string, key: string, out: Leaf[]): void {
  const block = blockOf(s);
  const k = block ?? key;
  if (s.type === 'object' && s.properties) {
    for (const [name, child] of Object.entries(s.properties)) walk(kind, child, `${path}.${name}`, `${k}.${name}`, out);
  } else if (s.type === 'array' && s.items?.type === 'object' && s.items.properties) {
    walk(kind, s.items, `${path}[]`, `${k}[]`, out);
  } else {
    out.push({ kind, path, key: k, ...((s as Record<string, unknown>)['x-kubernetes-int-or-string'] === true ? { size: true as const } : {}) });
  }
}

const cache = new Map<Kind, readonly Leaf[]>();

/** The leaves of one kind's spec (maps and scalar lists are leaves). */
export function schemaLeaves(kind: Kind): readonly Leaf[] {
  let leaves = cache.get(kind);
  if (!leaves) {
    const out: Leaf[] = [];
    walk(kind, KIND_INFO[kind].spec as Node, 'spec', `${kind}.spec`, out);
    cache.set(kind, (leaves = out));
  }
  return leaves;
}

export function allLeaves(): Leaf[] {
  return KINDS.flatMap((k) => [...schemaLeaves(k)]);
}

/** Where a leaf is set in a document: one concrete path per array element. */
export function setPaths(doc: unknown, leafPath: string): PathSegment[][] {
  const parts = leafPath.split('.').flatMap((p) => (p.endsWith('[]') ? [p.slice(0, -2), '[]'] : [p]));
  const out: PathSegment[][] = [];
  const go = (v: unknown, i: number, at: PathSegment[]): void => {
    if (v === undefined || v === null) return;
    if (i === parts.length) { out.push(at); return; }
    const p = parts[i]!;
    if (p === '[]') {
      if (Array.isArray(v)) v.forEach((x, j) => go(x, i + 1, [...at, j]));
    } else if (typeof v === 'object' && !Array.isArray(v)) {
      go((v as Record<string, unknown>)[p], i + 1, [...at, p]);
    }
  };
  go(doc, 0, []);
  return out;
}
