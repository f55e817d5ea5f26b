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

/**
 * On an Instance CR being renamed in Kubernetes mode: the new name. A CR cannot be renamed,
 * so a rename is three writes (this annotation on the old CR, a create of the new CR with
 * spec.renamedFrom, a delete of the old CR); while the old CR is still there, the build
 * reads it as superseded (see supersededByRename), so no pass sees two instances.
 */
export const RENAMED_TO_ANNOTATION = 'gantry.dev/renamed-to';

/**
 * Instance CRs superseded by a rename, old name -> new name: the old CR carries
 * RENAMED_TO_ANNOTATION naming a new Instance CR that exists and names it in
 * spec.renamedFrom. Both sides must agree: an annotation nobody claims, or a renamedFrom
 * whose old CR does not consent, supersedes nothing (the latter is refused by the build:
 * the old name is still declared).
 */
export function supersededByRename(objects: readonly KubeObject[]): Map<string, string> {
  const instances = new Map(objects.filter((o) => o.kind === 'Instance').map((o) => [o.metadata.name, o]));
  const out = new Map<string, string>();
  for (const [name, o] of instances) {
    const to = (o.metadata.annotations as Record<string, string> | undefined)?.[RENAMED_TO_ANNOTATION];
    if (to === undefined || to === name) continue;
    const claimant = instances.get(to);
    if ((claimant?.spec as { renamedFrom?: unknown } | undefined)?.renamedFrom === name) out.set(name, to);
  }
  return out;
}

export interface BuildFromCrs {
  /** Present only when every CR is valid. */
  readonly state?: DesiredState;
  /** Errors per CR, keyed `Kind/name`. */
  readonly invalid: ReadonlyMap<string, LoadError[]>;
  /** Every CR that took part, keyed `Kind/name` (the generation it was built from). */
  readonly refs: ReadonlyMap<string, CrRef>;
  /** Instance CRs left out because a rename superseded them (old name -> new name; see supersededByRename). */
  readonly superseded: ReadonlyMap<string, string>;
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
export function buildFromCrs(all: readonly KubeObject[], cache: CrBuildCache = sharedCrBuildCache): BuildFromCrs {
  // an old CR a rename superseded is read as already deleted: the new CR (spec.renamedFrom) carries the instance
  const superseded = supersededByRename(all);
  const objects = superseded.size ? all.filter((o) => !(o.kind === 'Instance' && superseded.has(o.metadata.name))) : all;
  // status is ours and server metadata is not part of the desired state
  const docs = objects.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: pick(o.metadata), spec: o.spec }));
  const keys = docs.map((d) => CrBuildCache.keyOf(d));
  const built = cache.build(keys, () => ({ ...build(objects, docs, keys, cache), superseded: NONE }));
  return superseded.size ? { ...built, superseded } : built;
}

const NONE: ReadonlyMap<string, string> = new Map();

function build(objects: readonly KubeObject[], docs: readonly Record<string, unknown>[], keys: readonly string[], cache: CrBuildCache): Omit<BuildFromCrs, 'superseded'> {
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
