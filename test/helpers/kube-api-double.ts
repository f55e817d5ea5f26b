/**
 * An in-process stand-in for kube-apiserver (none can run on this machine). It keeps
 * only the semantics Gantry relies on, but keeps them faithfully:
 *  - one monotonically increasing resourceVersion for every write, lists carry it;
 *  - metadata.generation starts at 1 and is bumped when spec changes, never for status;
 *  - the status subresource: PUT/PATCH on /status changes only status, writes to the
 *    main resource leave status alone (for CRDs that declare subresources.status);
 *  - PUT with a stale metadata.resourceVersion -> 409 Conflict; CR updates must carry one;
 *  - PATCH with application/merge-patch+json (RFC 7386), anything else -> 415;
 *  - DELETE with DeleteOptions.preconditions (uid, resourceVersion) -> 409 when they differ;
 *  - ?watch=true&resourceVersion=N streams newline-delimited events after N; a version
 *    older than the compaction floor gets an ERROR event with code 410 (Gone);
 *  - CRDs are checked as structural schemas when created and CRs validated against them;
 *  - Leases under /apis/coordination.k8s.io/v1/namespaces/NS/leases; Pods (labels only,
 *    nothing runs) under /api/v1/namespaces/NS/pods.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { KubeConfig } from '@kubernetes/client-node';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { checkStructural } from '../../src/api/structural.js';

type Obj = Record<string, any>;
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Collection {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly statusSubresource: boolean;
  /** custom resources must name the resourceVersion they update */
  readonly requireRvOnUpdate: boolean;
  readonly validate?: ValidateFunction;
}

interface StoredEvent { rv: number; coll: string; ns: string; type: EventType; object: Obj }

interface WatchConn { coll: string; ns: string; res: ServerResponse }

/** A request the test wants to see before the double handles it (e.g. to race a writer). */
export type RequestHook = (req: { method: string; path: string }) => void | Promise<void>;

const clone = <T>(x: T): T => structuredClone(x);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Obj = target !== null && typeof target === 'object' && !Array.isArray(target) ? clone(target as Obj) : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function status(code: number, reason: string, message: string): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

export class KubeApiDouble {
  private server?: Server;
  private rv = 0;
  /** Watches asking for a resourceVersion below this get 410 Gone. */
  private floor = 0;
  private readonly colls = new Map<string, Collection>();
  private readonly objects = new Map<string, Obj>();
  private events: StoredEvent[] = [];
  private readonly watches = new Set<WatchConn>();
  private readonly hooks: { match: (m: string, p: string) => boolean; fn: RequestHook }[] = [];
  private readonly failures: { match: (m: string, p: string) => boolean; code: number; times: number }[] = [];
  /** Every request seen, as "METHOD path" (for assertions). */
  readonly requests: string[] = [];
  /** Every write that named a field manager (?fieldManager=), as "METHOD path manager". */
  readonly fieldManagers: string[] = [];
  port = 0;

  constructor() {
    this.colls.set('coordination.k8s.io/v1/leases', {
      group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', statusSubresource: false, requireRvOnUpdate: false,
    });
    // Pods only as objects with labels (the leader label); nothing runs them.
    this.colls.set('/v1/pods', { group: '', version: 'v1', plural: 'pods', kind: 'Pod', statusSubresource: true, requireRvOnUpdate: false });
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.dropWatches();
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    // keep-alive connections would hold close() open forever
    this.server?.closeAllConnections();
    await closed;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A KubeConfig pointing at the double: plain HTTP, no auth. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'double', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'double', cluster: 'double', user: 'nobody' }],
      currentContext: 'double',
    });
    return kc;
  }

  /** Register a CRD as the API server would on POST (structural check included). */
  createCrd(crd: Obj): void {
    const problems = this.crdProblems(crd);
    if (problems.length) throw new HttpError(422, 'Invalid', `CustomResourceDefinition ${crd.metadata?.name} is invalid: ${problems.join('; ')}`);
    for (const v of crd.spec.versions as Obj[]) {
      if (!v.served) continue;
      const ajv = new Ajv({ strict: false, allErrors: true });
      this.colls.set(`${crd.spec.group}/${v.name}/${crd.spec.names.plural}`, {
        group: crd.spec.group, version: v.name, plural: crd.spec.names.plural, kind: crd.spec.names.kind,
        statusSubresource: v.subresources?.status !== undefined, requireRvOnUpdate: true,
        validate: ajv.compile(v.schema.openAPIV3Schema),
      });
    }
  }

  private crdProblems(crd: Obj): string[] {
    const out: string[] = [];
    if (crd.apiVersion !== 'apiextensions.k8s.io/v1' || crd.kind !== 'CustomResourceDefinition') out.push('not an apiextensions.k8s.io/v1 CustomResourceDefinition');
    const spec = crd.spec ?? {};
    if (!spec.group || !spec.names?.plural || !spec.names?.kind) out.push('spec.group and spec.names.{plural,kind} are required');
    if (crd.metadata?.name !== `${spec.names?.plural}.${spec.group}`) out.push(`metadata.name must be ${spec.names?.plural}.${spec.group}`);
    if (!['Namespaced', 'Cluster'].includes(spec.scope)) out.push('spec.scope must be Namespaced or Cluster');
    const versions = (spec.versions ?? []) as Obj[];
    if (versions.filter((v) => v.storage).length !== 1) out.push('exactly one version must be the storage version');
    for (const v of versions) {
      const schema = v.schema?.openAPIV3Schema;
      if (!schema) { out.push(`version ${v.name}: schema.openAPIV3Schema is required`); continue; }
      for (const p of checkStructural(schema)) out.push(`version ${v.name}: ${p.path}: ${p.message}`);
    }
    return out;
  }

  /** The stored object (a copy), or undefined. */
  get(group: string, version: string, plural: string, ns: string, name: string): Obj | undefined {
    const o = this.objects.get(this.key(`${group}/${version}/${plural}`, ns, name));
    return o ? clone(o) : undefined;
  }

  /** Run `fn` before the next request matching method and path (regexp), once. */
  beforeNext(method: string, path: RegExp, fn: RequestHook): void {
    this.hooks.push({ match: (m, p) => m === method && path.test(p), fn });
  }

  /** Answer the next `times` matching requests with `code` (e.g. 500, 503). */
  failNext(method: string, path: RegExp, code: number, times = 1): void {
    this.failures.push({ match: (m, p) => m === method && path.test(p), code, times });
  }

  /** Forget history: watches from any resourceVersion before now get 410 Gone (etcd compaction). */
  compact(): void {
    this.floor = this.rv;
    this.events = [];
  }

  /** Close every open watch stream, as an API server restart or a proxy timeout would. */
  dropWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** A plain HTTP request to the double (what kubectl would send); throws on non-2xx. */
  async request(method: string, p: string, body?: unknown, contentType = 'application/json'): Promise<Obj> {
    const res = await fetch(this.url + p, { method, headers: { 'content-type': contentType }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const out = (await res.json()) as Obj;
    if (!res.ok) throw Object.assign(new Error(`${method} ${p}: ${res.status} ${String(out.message)}`), { status: res.status, body: out });
    return out;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${url.searchParams.get('watch') === 'true' ? '?watch' : ''}`);
    const manager = url.searchParams.get('fieldManager');
    if (manager !== null) this.fieldManagers.push(`${method} ${url.pathname} ${manager}`);
    try {
      const body = await readBody(req);
      for (const [i, h] of this.hooks.entries()) {
        if (!h.match(method, url.pathname)) continue;
        this.hooks.splice(i, 1);
        await h.fn({ method, path: url.pathname });
        break;
      }
      const failure = this.failures.find((f) => f.times > 0 && f.match(method, url.pathname));
      if (failure) {
        failure.times--;
        throw new HttpError(failure.code, 'InternalError', 'injected failure');
      }
      if (url.pathname === '/apis/apiextensions.k8s.io/v1/customresourcedefinitions' && method === 'POST') {
        const crd = JSON.parse(body) as Obj;
        this.createCrd(crd);
        return send(res, 201, crd);
      }
      // the core group lives under /api/v1 (pods): stored with group ''
      const core = /^\/api\/v1\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(url.pathname);
      const m = core ? [core[0], '', 'v1', core[1], core[2], core[3], core[4]] : /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(url.pathname);
      const coll = m ? this.colls.get(`${m[1]}/${m[2]}/${m[4]}`) : undefined;
      if (!m || !coll) throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
      const [, , , ns, , name, sub] = m as unknown as [string, string, string, string, string, string | undefined, string | undefined];
      if (sub && !coll.statusSubresource) throw new HttpError(404, 'NotFound', 'no status subresource');
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (!name) {
        if (method === 'GET' && url.searchParams.get('watch') === 'true') return this.watch(coll, ns, url.searchParams.get('resourceVersion'), res);
        if (method === 'GET') return send(res, 200, this.list(coll, ns));
        if (method === 'POST') return send(res, 201, this.create(coll, ns, JSON.parse(body) as Obj));
      } else {
        if (method === 'GET') return send(res, 200, this.mustGet(coll, ns, name));
        if (method === 'PUT') return send(res, 200, this.update(coll, ns, name, JSON.parse(body) as Obj, sub === 'status'));
        if (method === 'PATCH') {
          if (ct !== 'application/merge-patch+json') throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (got ${ct})`);
          const cur = this.mustGet(coll, ns, name);
          const patch = JSON.parse(body) as Obj;
          const next = mergePatch(cur, patch) as Obj;
          // a patch without a resourceVersion is unconditional: apply it to the current one
          if (patch.metadata?.resourceVersion === undefined) next.metadata.resourceVersion = cur.metadata.resourceVersion;
          return send(res, 200, this.update(coll, ns, name, next, sub === 'status'));
        }
        if (method === 'DELETE') return send(res, 200, this.remove(coll, ns, name, body ? (JSON.parse(body) as Obj).preconditions : undefined));
      }
      throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported here`);
    } catch (e) {
      if (e instanceof HttpError) return send(res, e.code, status(e.code, e.reason, e.message));
      if (e instanceof SyntaxError) return send(res, 400, status(400, 'BadRequest', `invalid JSON: ${e.message}`));
      return send(res, 500, status(500, 'InternalError', String(e)));
    }
  }

  // ---- storage semantics ----

  private key(coll: string, ns: string, name: string): string {
    return `${coll}|${ns}|${name}`;
  }

  private collKey(c: Collection): string {
    return `${c.group}/${c.version}/${c.plural}`;
  }

  private mustGet(c: Collection, ns: string, name: string): Obj {
    const o = this.objects.get(this.key(this.collKey(c), ns, name));
    if (!o) throw new HttpError(404, 'NotFound', `${c.plural}.${c.group} "${name}" not found`);
    return clone(o);
  }

  private list(c: Collection, ns: string): Obj {
    const prefix = `${this.collKey(c)}|${ns}|`;
    const items = [...this.objects].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([, o]) => clone(o));
    return { apiVersion: c.group ? `${c.group}/${c.version}` : c.version, kind: `${c.kind}List`, metadata: { resourceVersion: String(this.rv) }, items };
  }

  private validate(c: Collection, o: Obj): void {
    const name = String(o.metadata?.name);
    if (!c.validate || c.validate(o)) return;
    const msgs = (c.validate.errors ?? []).map((e) => `${e.instancePath || '<root>'}: ${e.message ?? 'invalid'}`);
    throw new HttpError(422, 'Invalid', `${c.kind}.${c.group} "${name}" is invalid: ${msgs.join(', ')}`);
  }

  private create(c: Collection, ns: string, body: Obj): Obj {
    const name = body.metadata?.name as string | undefined;
    if (!name) throw new HttpError(422, 'Invalid', 'metadata.name: Required value');
    const k = this.key(this.collKey(c), ns, name);
    if (this.objects.has(k)) throw new HttpError(409, 'AlreadyExists', `${c.plural}.${c.group} "${name}" already exists`);
    const o = clone(body);
    if (c.statusSubresource) delete o.status;
    o.metadata = {
      ...o.metadata, namespace: ns, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      resourceVersion: String(++this.rv), ...(c.requireRvOnUpdate ? { generation: 1 } : {}),
    };
    this.validate(c, o);
    this.objects.set(k, o);
    this.emit(c, ns, 'ADDED', o);
    return clone(o);
  }

  private update(c: Collection, ns: string, name: string, body: Obj, toStatus: boolean): Obj {
    const cur = this.mustGet(c, ns, name);
    const wantRv = body.metadata?.resourceVersion as string | undefined;
    if (wantRv === undefined && c.requireRvOnUpdate) throw new HttpError(422, 'Invalid', 'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update');
    if (wantRv !== undefined && wantRv !== cur.metadata.resourceVersion) {
      throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${c.plural}.${c.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    let next: Obj;
    if (toStatus) {
      // the status subresource ignores everything but status
      next = { ...cur, status: clone(body.status) };
    } else {
      next = clone(body);
      if (c.statusSubresource) next.status = cur.status;
      if (next.status === undefined) delete next.status;
      // server-owned metadata cannot be set by clients
      next.metadata = { ...next.metadata, namespace: ns, name, uid: cur.metadata.uid, creationTimestamp: cur.metadata.creationTimestamp, generation: cur.metadata.generation };
      if (next.metadata.generation === undefined) delete next.metadata.generation;
      if (c.requireRvOnUpdate && !same(cur.spec, next.spec)) next.metadata.generation = (cur.metadata.generation as number) + 1;
    }
    this.validate(c, next);
    // a no-op write does not get a new resourceVersion, as in the real server
    if (same({ ...cur, metadata: { ...cur.metadata, resourceVersion: 0 } }, { ...next, metadata: { ...next.metadata, resourceVersion: 0 } })) return cur;
    next.metadata.resourceVersion = String(++this.rv);
    this.objects.set(this.key(this.collKey(c), ns, name), next);
    this.emit(c, ns, 'MODIFIED', next);
    return clone(next);
  }

  private remove(c: Collection, ns: string, name: string, pre?: { uid?: string; resourceVersion?: string }): Obj {
    const cur = this.mustGet(c, ns, name);
    // DeleteOptions.preconditions, as the real server checks them: 409 when the object is not that one
    for (const k of ['uid', 'resourceVersion'] as const) {
      if (pre?.[k] !== undefined && pre[k] !== cur.metadata[k]) {
        throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${c.plural}.${c.group} "${name}": Precondition failed: ${k}: ${pre[k]}, ${k} in object meta: ${cur.metadata[k]}`);
      }
    }
    this.objects.delete(this.key(this.collKey(c), ns, name));
    const gone = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(++this.rv) } };
    this.emit(c, ns, 'DELETED', gone);
    return gone;
  }

  private emit(c: Collection, ns: string, type: EventType, object: Obj): void {
    const ev: StoredEvent = { rv: this.rv, coll: this.collKey(c), ns, type, object: clone(object) };
    this.events.push(ev);
    for (const w of this.watches) if (w.coll === ev.coll && w.ns === ns) w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  private watch(c: Collection, ns: string, rvParam: string | null, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // clients wait for the headers before they read events
    res.flushHeaders();
    const coll = this.collKey(c);
    if (rvParam === null || rvParam === '' || rvParam === '0') {
      // no version: the current state as synthetic ADDED events, then changes
      for (const o of this.list(c, ns).items as Obj[]) res.write(JSON.stringify({ type: 'ADDED', object: o }) + '\n');
    } else {
      const from = Number(rvParam);
      if (!Number.isInteger(from) || from < this.floor) {
        res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${rvParam} (${this.floor})`) }) + '\n');
        return;
      }
      for (const ev of this.events) if (ev.rv > from && ev.coll === coll && ev.ns === ns) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
    }
    const conn: WatchConn = { coll, ns, res };
    this.watches.add(conn);
    res.on('close', () => this.watches.delete(conn));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Start a double with every CRD in crds/ stored (they must pass the structural check). */
export async function startKubeApiDouble(crds: readonly Obj[] = []): Promise<KubeApiDouble> {
  const d = await new KubeApiDouble().start();
  for (const crd of crds) d.createCrd(crd);
  return d;
}

/** The generated CRDs in crds/, parsed. */
export async function loadRepoCrds(): Promise<Obj[]> {
  const dir = path.resolve(import.meta.dirname, '../../crds');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(files.map(async (f) => parse(await readFile(path.join(dir, f), 'utf8')) as Obj));
}

/** POST a gantry.dev custom resource to the double (as kubectl create would). */
export async function createCr(d: KubeApiDouble, ns: string, kind: string, name: string, spec: unknown): Promise<Obj> {
  return d.request('POST', `/apis/gantry.dev/v1alpha1/namespaces/${ns}/${kind.toLowerCase()}s`, { apiVersion: 'gantry.dev/v1alpha1', kind, metadata: { name }, spec });
}

/** Merge-patch a CR's spec (as kubectl patch --type merge would). */
export async function patchCrSpec(d: KubeApiDouble, ns: string, kind: string, name: string, spec: unknown): Promise<Obj> {
  return d.request('PATCH', `/apis/gantry.dev/v1alpha1/namespaces/${ns}/${kind.toLowerCase()}s/${name}`, { spec }, 'application/merge-patch+json');
}
