/**
 * Custom resources -> DesiredState, with the same schema and cross-resource checks as
 * files. Pure. Each CR gets an Origin named `Kind/namespace/name@resourceVersion`, so
 * every LoadError says which object (and which version of it) is wrong.
 */
import { KIND_INFO, KINDS, validateDocument, type Kind, type PathSegment } from '../api/index.js';
import { buildDesired, type ManifestResource, type Origin, type ResourceDoc } from '../desired/build.js';
import { formatPath, type LoadError } from '../desired/errors.js';
import type { DesiredState } from '../desired/model.js';
import { CrBuildCache } from './build-cache.js';
import type { KubeObject } from './client.js';

/**
 * The memo every build in this process shares by default (the leader's passes, the API's
 * view and its write checks read the same CRs): keyed by content, so sharing is safe.
 */
export const sharedCrBuildCache = new CrBuildCache();

/** Server-managed metadata the schema does not describe (managedFields, ownerReferences...). */
const KEEP_METADATA = new Set(['name', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generateName', 'finalizers']);

export interface CrRef {
  readonly kind: Kind;
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  readonly generation: number;
}

export interface BuildFromCrs {
  /** Present only when every CR is valid. */
  readonly state?: DesiredState;
  /** Errors per CR, keyed `Kind/name`. */
  readonly invalid: ReadonlyMap<string, LoadError[]>;
  /** Every CR that took part, keyed `Kind/name` (the generation it was built from). */
  readonly refs: ReadonlyMap<string, CrRef>;
}

export const originName = (r: CrRef): string => `${r.kind}/${r.namespace}/${r.name}@${r.resourceVersion}`;

function originFor(ref: CrRef): Origin {
  const file = originName(ref);
  return {
    file, line: 1,
    error: (path: readonly PathSegment[], code, message) => ({ file, line: 1, column: 1, path: formatPath(path), message, code }),
  };
}

export function kindOfPlural(plural: string): Kind | undefined {
  return KINDS.find((k) => KIND_INFO[k].plural === plural);
}

/**
 * Build the desired state from the CRs of one namespace (objects of the five kinds).
 * Memoised in `cache` by content: the same documents give the same (shared, unchanged) result.
 */
export function buildFromCrs(objects: readonly KubeObject[], cache: CrBuildCache = sharedCrBuildCache): BuildFromCrs {
  // status is ours and server metadata is not part of the desired state
  const docs = objects.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: pick(o.metadata), spec: o.spec }));
  const keys = docs.map((d) => CrBuildCache.keyOf(d));
  return cache.build(keys, () => build(objects, docs, keys, cache));
}

function build(objects: readonly KubeObject[], docs: readonly Record<string, unknown>[], keys: readonly string[], cache: CrBuildCache): BuildFromCrs {
  const resources: ManifestResource[] = [];
  const refs = new Map<string, CrRef>();
  const byOrigin = new Map<string, string>();
  const invalid = new Map<string, LoadError[]>();
  const failed = new Set<string>();
  const addError = (subject: string, e: LoadError) => invalid.set(subject, [...(invalid.get(subject) ?? []), e]);

  for (const [n, o] of objects.entries()) {
    const kind = o.kind as Kind;
    const ref: CrRef = {
      kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name,
      resourceVersion: o.metadata.resourceVersion ?? '', generation: o.metadata.generation ?? 0,
    };
    const subject = `${kind}/${ref.name}`;
    refs.set(subject, ref);
    byOrigin.set(originName(ref), subject);
    const origin = originFor(ref);
    const doc = docs[n]!;
    const issues = cache.issues(keys[n]!, () => validateDocument(kind, doc));
    if (issues.length) {
      failed.add(subject);
      failed.add(`${kind}/*`);
      for (const i of issues) addError(subject, origin.error(i.path, i.code, i.message));
      continue;
    }
    resources.push({ kind, name: ref.name, body: doc as unknown as ResourceDoc, origin });
  }
  if (resources.length === 0 && invalid.size === 0) return { invalid, refs };
  const built = buildDesired(resources, undefined, failed);
  for (const e of built.errors) {
    // with a broken Cluster CR, "no Cluster" would only repeat its own error
    if (e.code === 'missing-cluster' && failed.has('Cluster/*')) continue;
    addError(byOrigin.get(e.file) ?? `Cluster/*`, e);
  }
  return invalid.size === 0 && built.state ? { state: built.state, invalid, refs } : { invalid, refs };
}

function pick(meta: KubeObject['metadata']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(meta).filter(([k]) => KEEP_METADATA.has(k)));
}
