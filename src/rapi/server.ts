/**
 * The Ganeti RAPI v2-compatible HTTP server (fastify). Paths, shapes and errors as
 * Ganeti sends them: `{code, message, explain}` bodies, 404 for an unknown resource, 501
 * for a method a resource does not have, 415 for a body that is not JSON, 401/403 for
 * authentication and access. Reads come from a RapiModel (view.ts) whose serialized
 * lists are cached per snapshot; writes go to RapiWrites (writes.ts) and become jobs.
 */
import type { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../util/log.js';
import { GantryError } from '../util/errors.js';
import { FINAL, JOB_FIELDS, jobJson, type JobQueue } from './jobs.js';
import { checkPassword, parseBasicAuth, RAPI_REALM, type RapiUser, type UsersFile } from './users.js';
import { etagMatches, gzipEtag, listBody, SEND_SLICE_BYTES, sliced, type Body } from './bodies.js';
import { allFieldNames, fieldDefs, instanceInfo, runQuery } from './query.js';
import type { Json, RapiModel, RapiObject } from './view.js';

/** Features this server implements (GET /2/features). */
export const FEATURES = ['instance-create-reqv1', 'instance-reinstall-reqv1'] as const;

export class RapiHttpError extends Error {
  constructor(readonly statusCode: number, message: string, readonly explain = '') {
    super(message);
  }
}

const REASON: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 415: 'Unsupported Media Type', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable' };

export interface RapiSource {
  /** The model of the current snapshot (reloaded by the source when its inputs change). */
  current(): Promise<RapiModel>;
}

/** One write request as handed to RapiWrites: the resource, the body and the query. */
export interface WriteRequest {
  readonly user: RapiUser | undefined;
  readonly params: Record<string, string>;
  readonly query: Record<string, string | string[]>;
  readonly body: unknown;
}

/** Write operations; each validates, submits a job and returns its id (or throws RapiHttpError 400). */
export type WriteHandler = (req: WriteRequest) => Promise<number>;

export interface RapiWrites {
  readonly createInstance: WriteHandler;
  readonly deleteInstance: WriteHandler;
  readonly startup: WriteHandler;
  readonly shutdown: WriteHandler;
  readonly reboot: WriteHandler;
  readonly migrate: WriteHandler;
  readonly failover: WriteHandler;
  readonly reinstall: WriteHandler;
  readonly rename: WriteHandler;
  readonly modify: WriteHandler;
  readonly growDisk: WriteHandler;
  readonly addTags: WriteHandler;
  readonly removeTags: WriteHandler;
  readonly addNodeTags: WriteHandler;
  readonly removeNodeTags: WriteHandler;
  readonly addGroupTags: WriteHandler;
  readonly removeGroupTags: WriteHandler;
  readonly addClusterTags: WriteHandler;
  readonly removeClusterTags: WriteHandler;
  readonly setNodeRole: WriteHandler;
}

export interface RapiServerOptions {
  readonly source: RapiSource;
  readonly jobs: JobQueue;
  readonly users: () => UsersFile;
  readonly anonymousRead: boolean;
  readonly logger: Logger;
  readonly writes?: RapiWrites;
  readonly https?: { readonly cert: string; readonly key: string };
  /** GET /metrics (Prometheus text; read access like the other reads); absent: 404. */
  readonly metrics?: () => Promise<{ readonly contentType: string; readonly body: string }>;
  /** Longest /2/jobs/[id]/wait (Ganeti: 10 s). */
  readonly waitTimeoutMs?: number;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Handler = (req: FastifyRequest, user: RapiUser | undefined) => Promise<unknown>;
interface Resource { readonly url: string; readonly methods: Partial<Record<Method, { access: 'read' | 'write'; handler: Handler }>> }

function errorBody(code: number, explain: string): string {
  return JSON.stringify({ code, message: REASON[code] ?? 'Error', explain });
}

function sendError(reply: FastifyReply, code: number, explain: string): FastifyReply {
  if (code === 401) reply.header('WWW-Authenticate', `Basic realm="${RAPI_REALM}"`);
  return reply.code(code).type('application/json').send(errorBody(code, explain));
}

const isBulk = (req: FastifyRequest) => ['1', 'true'].includes(String((req.query as Record<string, unknown>).bulk ?? '0'));

function find(items: readonly RapiObject[], what: string, name: string): RapiObject {
  const o = items.find((x) => x.name === name);
  if (!o) throw new RapiHttpError(404, 'Not Found', `${what} '${name}' is unknown`);
  return o;
}

/** Ganeti's query resources (singular) and the lists that answer them. */
const QUERY_KIND: Record<string, 'instances' | 'nodes' | 'groups' | 'networks'> = { instance: 'instances', node: 'nodes', group: 'groups', network: 'networks' };

/** ?fields=a,b as a list (undefined when absent). */
function fieldsParam(req: FastifyRequest): string[] | undefined {
  const f = (req.query as Record<string, unknown>).fields;
  return typeof f === 'string' ? f.split(',').filter((x) => x !== '') : undefined;
}

/** GET /2/instances/[name]/info: as in Ganeti, a job (OpInstanceQueryData) whose result is the instance's details. */
function infoJob(o: RapiServerOptions, inst: RapiObject, req: FastifyRequest, user: RapiUser | undefined): number {
  const staticOnly = String((req.query as Record<string, unknown>).static ?? '0') === '1';
  const op = { OP_ID: 'OP_INSTANCE_QUERY_DATA', instances: [inst.name as string], static: staticOnly };
  return o.jobs.submit(op, `INSTANCE_QUERY_DATA(${inst.name as string})`, user?.name ?? 'anonymous', async () => instanceInfo(inst));
}

const ROLE_NAME: Record<string, string> = { M: 'master', C: 'master-candidate', R: 'regular', D: 'drained', O: 'offline' };

function readResources(o: RapiServerOptions): Resource[] {
  const model = () => o.source.current();
  const list = (kind: keyof Pick<RapiModel, 'instances' | 'nodes' | 'groups' | 'networks'>) => async (req: FastifyRequest) => {
    return listBody(await model(), kind, isBulk(req));
  };
  const one = (kind: keyof Pick<RapiModel, 'instances' | 'nodes' | 'groups' | 'networks'>, what: string) => async (req: FastifyRequest) =>
    find((await model())[kind], what, (req.params as { name: string }).name);
  const queried = async (req: FastifyRequest) => {
    const res = (req.params as { resource: string }).resource;
    const kind = QUERY_KIND[res];
    if (!kind) throw new RapiHttpError(404, 'Not Found', `no query resource '${res}' (this server answers ${Object.keys(QUERY_KIND).join(', ')})`);
    return (await model())[kind];
  };
  const r = (handler: Handler) => ({ access: 'read' as const, handler });
  return [
    { url: '/', methods: { GET: r(async () => null) } },
    { url: '/version', methods: { GET: r(async () => 2) } },
    { url: '/2/info', methods: { GET: r(async () => (await model()).info) } },
    { url: '/2/features', methods: { GET: r(async () => [...FEATURES]) } },
    { url: '/2/os', methods: { GET: r(async () => (await model()).os) } },
    { url: '/2/tags', methods: { GET: r(async () => (await model()).info.tags) } },
    { url: '/2/instances', methods: { GET: r(list('instances')) } },
    { url: '/2/instances/:name', methods: { GET: r(one('instances', 'Instance')) } },
    { url: '/2/instances/:name/tags', methods: { GET: r(async (req) => (await one('instances', 'Instance')(req)).tags) } },
    { url: '/2/instances/:name/info', methods: { GET: r(async (req, user) => infoJob(o, await one('instances', 'Instance')(req), req, user)) } },
    { url: '/2/nodes', methods: { GET: r(list('nodes')) } },
    { url: '/2/nodes/:name', methods: { GET: r(one('nodes', 'Node')) } },
    { url: '/2/nodes/:name/role', methods: { GET: r(async (req) => ROLE_NAME[(await one('nodes', 'Node')(req)).role as string]) } },
    { url: '/2/nodes/:name/tags', methods: { GET: r(async (req) => (await one('nodes', 'Node')(req)).tags) } },
    { url: '/2/groups', methods: { GET: r(list('groups')) } },
    { url: '/2/groups/:name', methods: { GET: r(one('groups', 'Group')) } },
    { url: '/2/groups/:name/tags', methods: { GET: r(async (req) => (await one('groups', 'Group')(req)).tags) } },
    { url: '/2/networks', methods: { GET: r(list('networks')) } },
    { url: '/2/networks/:name', methods: { GET: r(one('networks', 'Network')) } },
    { url: '/2/query/:resource', methods: { GET: r(async (req) => runQuery(await queried(req), { fields: fieldsParam(req) })), PUT: r(async (req) => runQuery(await queried(req), req.body)) } },
    { url: '/2/query/:resource/fields', methods: { GET: r(async (req) => { const items = await queried(req); return { fields: fieldDefs(items, fieldsParam(req) ?? allFieldNames(items)) }; }) } },
  ];
}

function jobResources(o: RapiServerOptions): Resource[] {
  const job = (req: FastifyRequest) => {
    const raw = (req.params as { id: string }).id;
    const j = /^\d+$/.test(raw) ? o.jobs.get(Number(raw)) : undefined;
    if (!j) throw new RapiHttpError(404, 'Not Found', `job ${raw} is unknown`);
    return j;
  };
  const wait = async (req: FastifyRequest) => {
    const j = job(req);
    const body = (req.body ?? (await getBody(req)) ?? {}) as { fields?: unknown; previous_job_info?: unknown; previous_log_serial?: unknown };
    if (!Array.isArray(body.fields) || body.fields.some((f) => typeof f !== 'string' || !JOB_FIELDS.has(f))) {
      throw new RapiHttpError(400, 'Bad Request', `fields: a list of job fields (${[...JOB_FIELDS].join(', ')})`);
    }
    const fields = body.fields as string[];
    const prevSerial = typeof body.previous_log_serial === 'number' ? body.previous_log_serial : -1;
    const view = () => { const js = jobJson(j); return fields.map((f) => js[f] ?? null); };
    const unchanged = () => JSON.stringify(view()) === JSON.stringify(body.previous_job_info ?? null) && !j.log.some((l) => l[0] > prevSerial);
    if (!FINAL.has(j.status) && unchanged()) await o.jobs.waitForChange(j.id, o.waitTimeoutMs ?? 10_000);
    if (unchanged()) return null;
    return { job_info: view(), log_entries: j.log.filter((l) => l[0] > prevSerial) as unknown as Json };
  };
  const r = (handler: Handler) => ({ access: 'read' as const, handler });
  return [
    { url: '/2/jobs', methods: { GET: r(async (req) => (isBulk(req) ? o.jobs.list().map(jobJson) : o.jobs.list().map((j) => ({ id: j.id, uri: `/2/jobs/${j.id}` })))) } },
    { url: '/2/jobs/:id', methods: { GET: r(async (req) => jobJson(job(req))) } },
    { url: '/2/jobs/:id/wait', methods: { GET: r(wait), PUT: r(wait) } },
  ];
}

function writeResources(o: RapiServerOptions): Resource[] {
  const w = o.writes;
  if (!w) return [];
  const call = (h: WriteHandler): { access: 'write'; handler: Handler } => ({
    access: 'write',
    handler: async (req, user) => h({ user, params: req.params as Record<string, string>, query: req.query as Record<string, string | string[]>, body: req.body }),
  });
  return [
    { url: '/2/instances', methods: { POST: call(w.createInstance) } },
    { url: '/2/instances/:name', methods: { DELETE: call(w.deleteInstance) } },
    { url: '/2/instances/:name/startup', methods: { PUT: call(w.startup) } },
    { url: '/2/instances/:name/shutdown', methods: { PUT: call(w.shutdown) } },
    { url: '/2/instances/:name/reboot', methods: { POST: call(w.reboot) } },
    { url: '/2/instances/:name/migrate', methods: { PUT: call(w.migrate) } },
    { url: '/2/instances/:name/failover', methods: { PUT: call(w.failover) } },
    { url: '/2/instances/:name/reinstall', methods: { POST: call(w.reinstall) } },
    { url: '/2/instances/:name/rename', methods: { PUT: call(w.rename) } },
    { url: '/2/instances/:name/modify', methods: { PUT: call(w.modify) } },
    { url: '/2/instances/:name/disk/:disk/grow', methods: { POST: call(w.growDisk) } },
    { url: '/2/instances/:name/tags', methods: { PUT: call(w.addTags), DELETE: call(w.removeTags) } },
    { url: '/2/nodes/:name/tags', methods: { PUT: call(w.addNodeTags), DELETE: call(w.removeNodeTags) } },
    { url: '/2/groups/:name/tags', methods: { PUT: call(w.addGroupTags), DELETE: call(w.removeGroupTags) } },
    { url: '/2/tags', methods: { PUT: call(w.addClusterTags), DELETE: call(w.removeClusterTags) } },
    { url: '/2/nodes/:name/role', methods: { PUT: call(w.setNodeRole) } },
  ];
}

/** The resources, with the methods of the same path merged. */
function allResources(o: RapiServerOptions): Resource[] {
  const byUrl = new Map<string, Resource>();
  for (const r of [...readResources(o), ...jobResources(o), ...writeResources(o)]) {
    const have = byUrl.get(r.url);
    byUrl.set(r.url, { url: r.url, methods: { ...have?.methods, ...r.methods } });
  }
  return [...byUrl.values()];
}

/**
 * The JSON body of a GET (Ganeti's client sends WaitForJobChange as a GET with a body;
 * fastify parses bodies of other methods only).
 */
async function getBody(req: FastifyRequest): Promise<unknown> {
  if (req.method !== 'GET' || !Number(req.headers['content-length'] ?? 0)) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of req.raw) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RapiHttpError(400, 'Bad Request', `the body is not valid JSON: ${(e as Error).message}`);
  }
}

const isBody = (x: unknown): x is Body => typeof x === 'object' && x !== null && Buffer.isBuffer((x as Body).json);

/** Whether the client takes gzip (Accept-Encoding: gzip, without q=0). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const v = Array.isArray(header) ? header.join(',') : header ?? '';
  return v.split(',').some((p) => {
    const [coding, ...params] = p.trim().toLowerCase().split(';').map((x) => x.trim());
    return (coding === 'gzip' || coding === '*') && !params.some((q) => /^q=0(\.0*)?$/.test(q));
  });
}

/**
 * Sends a cached body, gzipped when it has a gzip form and the client accepts it, with its
 * ETag (304 when If-None-Match names it); a large body goes out in slices (bodies.ts).
 */
async function sendBody(req: FastifyRequest, reply: FastifyReply, b: Body): Promise<Buffer | Readable | null> {
  reply.header('Vary', 'Accept-Encoding');
  const gz = b.gzip && acceptsGzip(req.headers['accept-encoding']);
  const etag = gz ? gzipEtag(b.etag) : b.etag;
  reply.header('ETag', etag);
  if (etagMatches(req.headers['if-none-match'], etag)) {
    reply.code(304);
    return null;
  }
  if (gz) reply.header('Content-Encoding', 'gzip');
  const bytes = gz ? await b.gzip! : b.json;
  if (bytes.length <= SEND_SLICE_BYTES) return bytes;
  reply.header('Content-Length', bytes.length);
  return sliced(bytes);
}

function authenticate(o: RapiServerOptions, req: FastifyRequest, access: 'read' | 'write'): RapiUser | undefined {
  const creds = parseBasicAuth(req.headers.authorization);
  if (!creds) {
    if (access === 'read' && o.anonymousRead) return undefined;
    throw new RapiHttpError(401, 'Unauthorized', 'this resource needs a user (HTTP Basic authentication)');
  }
  const user = checkPassword(o.users(), creds.name, creds.password);
  if (!user) throw new RapiHttpError(401, 'Unauthorized', 'wrong user name or password');
  if (!user.access.has(access)) throw new RapiHttpError(403, 'Forbidden', `user ${user.name} has no ${access} access`);
  return user;
}

function installBodyParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body).trim();
    if (text === '') { done(null, undefined); return; }
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new RapiHttpError(400, 'Bad Request', `the body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    if (String(body).trim() === '') { done(null, undefined); return; }
    done(new RapiHttpError(415, 'Unsupported Media Type', `the body must be JSON (Content-Type: application/json), not ${req.headers['content-type'] ?? 'untyped'}`), undefined);
  });
}

function register(app: FastifyInstance, o: RapiServerOptions, res: Resource): void {
  app.route({
    method: ['GET', 'PUT', 'POST', 'DELETE'],
    url: res.url,
    handler: async (req, reply) => {
      const m = res.methods[req.method as Method];
      if (!m) throw new RapiHttpError(501, 'Not Implemented', `method ${req.method} is unsupported for ${res.url}`);
      const user = authenticate(o, req, m.access);
      const out = await m.handler(req, user);
      reply.type('application/json');
      return isBody(out) ? sendBody(req, reply, out) : JSON.stringify(out ?? null);
    },
  });
}

export async function buildRapiServer(o: RapiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // request lines are debug noise at 50 requests/s: fastify logs only warnings and errors
    loggerInstance: o.logger.child({ component: 'rapi' }, { level: 'warn' }),
    bodyLimit: 4 * 1024 * 1024,
    ...(o.https ? { https: { cert: o.https.cert, key: o.https.key } } : {}),
  }) as unknown as FastifyInstance;
  installBodyParsers(app);
  for (const r of allResources(o)) register(app, o, r);
  const metrics = o.metrics;
  if (metrics) {
    app.route({
      method: ['GET', 'PUT', 'POST', 'DELETE'], url: '/metrics',
      handler: async (req, reply) => {
        if (req.method !== 'GET') throw new RapiHttpError(501, 'Not Implemented', `method ${req.method} is unsupported for /metrics`);
        authenticate(o, req, 'read');
        const m = await metrics();
        return reply.type(m.contentType).send(m.body);
      },
    });
  }
  app.setNotFoundHandler((req, reply) => { sendError(reply, 404, `no resource ${req.url.split('?')[0]}`); });
  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof RapiHttpError) return sendError(reply, err.statusCode, err.explain || err.message);
    if (err instanceof GantryError && err.errorClass === 'prereq') return sendError(reply, 400, `${err.code}: ${err.message}`);
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 415 || status === 400 || status === 413) return sendError(reply, status, (err as Error).message);
    o.logger.error({ err, url: req.url, method: req.method }, 'remote API request failed');
    return sendError(reply, 500, err instanceof Error ? err.message : String(err));
  });
  return app;
}
