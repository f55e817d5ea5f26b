/**
 * The few Kubernetes API calls Gantry makes, behind one small interface: the source,
 * the status writer and the leader elector depend on this, not on client-node's
 * generated classes, and every failure becomes a KubeApiError with the HTTP status.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, Watch, setHeaderOptions, type V1Lease } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION_NAME } from '../api/index.js';
import { GantryError } from '../util/errors.js';

/** A custom resource as the API server returns it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    [k: string]: unknown;
  };
  spec?: unknown;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface KubeList {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchHandle {
  stop(): void;
}

/** Optimistic concurrency lost, a missing object, a 410: callers branch on `status`. */
export class KubeApiError extends GantryError {
  constructor(readonly status: number, message: string, options?: { cause?: unknown }) {
    super(status === 409 || status >= 500 || status === 0 ? 'transport' : 'terminal', `KUBE_${status || 'UNREACHABLE'}`, message, { status }, options);
  }
}

export interface KubeApi {
  list(plural: string, ns: string): Promise<KubeList>;
  get(plural: string, ns: string, name: string): Promise<KubeObject>;
  /** POST a new object (409 when the name is taken), as `fieldManager`. */
  create(plural: string, ns: string, obj: KubeObject, fieldManager: string): Promise<KubeObject>;
  /**
   * PATCH with an RFC 7386 JSON merge patch, as `fieldManager`. A patch that names
   * metadata.resourceVersion is conditional: 409 when someone wrote since.
   */
  mergePatch(plural: string, ns: string, name: string, patch: Record<string, unknown>, fieldManager: string): Promise<KubeObject>;
  /**
   * DELETE, conditional on the object's uid and resourceVersion (DeleteOptions.preconditions):
   * 409 when it changed since, 404 when it is gone.
   */
  delete(plural: string, ns: string, name: string, preconditions: { readonly uid?: string; readonly resourceVersion?: string }): Promise<void>;
  /** PUT .../status with the object's resourceVersion: 409 when someone wrote since. */
  replaceStatus(plural: string, ns: string, obj: KubeObject): Promise<KubeObject>;
  /**
   * Watch from `resourceVersion`; `onEvent` gets every event (ERROR events included,
   * e.g. 410 Gone), `onClose` once when the stream ends, with the error if any.
   */
  watch(plural: string, ns: string, resourceVersion: string, onEvent: (type: WatchEventType, obj: KubeObject) => void, onClose: (err?: unknown) => void): Promise<WatchHandle>;
  getLease(ns: string, name: string): Promise<V1Lease | undefined>;
  createLease(ns: string, lease: V1Lease): Promise<V1Lease>;
  /** PUT with the lease's resourceVersion: 409 when another candidate wrote first. */
  replaceLease(ns: string, lease: V1Lease): Promise<V1Lease>;
  /** Merge-patch labels of a Pod (a null value removes the label), as `fieldManager`. */
  patchPodLabels(ns: string, pod: string, labels: Readonly<Record<string, string | null>>, fieldManager: string): Promise<void>;
}

function statusOf(err: unknown): number {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return 0;
}

function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try { return (JSON.parse(body) as { message?: string }).message ?? body; } catch { return body; }
  }
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return err instanceof Error ? err.message : String(err);
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KubeApiError) throw err;
    const st = statusOf(err);
    throw new KubeApiError(st, `${what}: ${st ? `HTTP ${st}: ` : ''}${messageOf(err)}`, { cause: err });
  }
}

/** The KubeConfig: an explicit file, else in-cluster / $KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

/** KubeApi over @kubernetes/client-node for the gantry.dev CRs and coordination Leases. */
export function kubeApiFrom(kc: KubeConfig): KubeApi {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const coord = kc.makeApiClient(CoordinationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  const g = { group: API_GROUP, version: API_VERSION_NAME };
  return {
    list: (plural, namespace) => call(`list ${plural}`, async () => {
      const res = (await custom.listNamespacedCustomObject({ ...g, namespace, plural })) as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
      return { items: res.items ?? [], resourceVersion: res.metadata?.resourceVersion ?? '' };
    }),
    get: (plural, namespace, name) => call(`get ${plural}/${name}`, async () => (await custom.getNamespacedCustomObject({ ...g, namespace, plural, name })) as KubeObject),
    create: (plural, namespace, obj, fieldManager) => call(`create ${plural}/${obj.metadata.name}`, async () =>
      (await custom.createNamespacedCustomObject({ ...g, namespace, plural, body: obj, fieldManager })) as KubeObject),
    mergePatch: (plural, namespace, name, patch, fieldManager) => call(`patch ${plural}/${name}`, async () =>
      (await custom.patchNamespacedCustomObject({ ...g, namespace, plural, name, body: patch, fieldManager }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))) as KubeObject),
    delete: (plural, namespace, name, preconditions) => call(`delete ${plural}/${name}`, async () => {
      await custom.deleteNamespacedCustomObject({ ...g, namespace, plural, name, body: { preconditions } });
    }),
    replaceStatus: (plural, namespace, obj) => call(`update ${plural}/${obj.metadata.name}/status`, async () =>
      (await custom.replaceNamespacedCustomObjectStatus({ ...g, namespace, plural, name: obj.metadata.name, body: obj })) as KubeObject),
    watch: async (plural, ns, resourceVersion, onEvent, onClose) => {
      const path = `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/${encodeURIComponent(ns)}/${plural}`;
      const ctl = await watcher.watch(path, { resourceVersion, allowWatchBookmarks: true },
        (type, obj) => onEvent(type as WatchEventType, obj as KubeObject),
        (err: unknown) => onClose(err ?? undefined));
      return { stop: () => ctl.abort() };
    },
    getLease: async (namespace, name) => {
      try {
        return await call(`get lease ${name}`, () => coord.readNamespacedLease({ namespace, name }));
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    createLease: (namespace, lease) => call(`create lease ${lease.metadata?.name}`, () => coord.createNamespacedLease({ namespace, body: lease })),
    replaceLease: (namespace, lease) => call(`update lease ${lease.metadata?.name}`, () =>
      coord.replaceNamespacedLease({ namespace, name: lease.metadata!.name!, body: lease })),
    patchPodLabels: (namespace, name, labels, fieldManager) => call(`patch pod ${name}`, async () => {
      await core.patchNamespacedPod({ namespace, name, body: { metadata: { labels } }, fieldManager }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    }),
  };
}
