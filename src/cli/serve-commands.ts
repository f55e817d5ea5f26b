/**
 * `gantry serve`: the Ganeti-compatible remote API (src/rapi) over HTTPS. The users file
 * is reloaded on SIGHUP (a file that no longer parses keeps the users it had, and the
 * error is logged); SIGINT/SIGTERM close the server after the requests in flight.
 */
import type { Command } from 'commander';
import path from 'node:path';
import { DEFAULT_STATE_DIR } from '../status/state-dir.js';
import { createLogger, type Logger } from '../util/log.js';
import { CliExit } from './reconcile-commands.js';

interface ServeOpts {
  file: string[];
  listen: string;
  users?: string;
  tlsCert?: string;
  tlsKey?: string;
  anonymousRead?: boolean;
  stateDir: string;
  instanceDir?: string;
  lockTimeout: string;
  logLevel?: string;
  kubernetes?: boolean;
  namespace: string;
  kubeconfig?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** "ADDR:PORT", ":PORT", "PORT" or "[v6]:PORT" -> host and port; bad values are an error naming the option. */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]*))?:?(\d+)$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) throw new CliExit(1, `--listen ${v}: expected ADDR:PORT (e.g. 0.0.0.0:5080)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** What `gantry run --serve` hands the server: its passes and its reconcile metrics. */
export interface ServeInDaemon {
  /** Runs (or joins) the daemon's next pass and returns what it left: API writes go through the daemon's queue. */
  readonly pass: import('../rapi/writes.js').PassRunner;
  /** The daemon's own metrics (reconcile passes, queue, node liveness), served with the API's on /metrics. */
  readonly registry: import('prom-client').Registry;
}

type ListenOpts = Pick<ServeOpts, 'listen' | 'users' | 'tlsCert' | 'tlsKey' | 'anonymousRead' | 'stateDir'>;

/** What a mode (files or custom resources) gives the server: its view, its writes, more metrics. */
interface RapiParts {
  readonly source: import('../rapi/server.js').RapiSource & { snapshot(): Promise<import('../rapi/source.js').Snapshot> };
  readonly writes: import('../rapi/server.js').RapiWrites;
  readonly moreMetrics?: () => Promise<string>;
  readonly close?: () => Promise<void>;
}

type Started = { close(): Promise<void>; closed: Promise<void> };

/** Users, TLS, the job queue and the HTTPS listener, shared by both modes. */
async function listenRapi(opts: ListenOpts, logger: Logger, mode: string, parts: (jobs: import('../rapi/jobs.js').JobQueue) => Promise<RapiParts>): Promise<Started> {
  const { buildRapiServer } = await import('../rapi/server.js');
  const { JobQueue } = await import('../rapi/jobs.js');
  const { loadUsers } = await import('../rapi/users.js');
  const { ensureSelfSigned, loadTls } = await import('../rapi/tls.js');
  const { createRapiMetrics } = await import('../rapi/metrics.js');
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new CliExit(1, '--tls-cert and --tls-key go together');
  const { host, port } = parseListen(opts.listen);
  let users = opts.users ? await loadUsers(opts.users) : new Map();
  const tls = opts.tlsCert && opts.tlsKey ? await loadTls(opts.tlsCert, opts.tlsKey) : await ensureSelfSigned(opts.stateDir, logger);
  const jobs = await JobQueue.open(path.join(opts.stateDir, 'rapi', 'jobs.json'), { logger });
  const { source, writes, moreMetrics, close } = await parts(jobs);
  const registry = createRapiMetrics({ snapshot: () => source.snapshot(), jobs });
  const metrics = async () => ({ contentType: registry.contentType, body: (await registry.metrics()) + (moreMetrics ? await moreMetrics() : '') });
  const app = await buildRapiServer({ source, jobs, users: () => users, anonymousRead: opts.anonymousRead ?? false, logger, writes, https: tls, metrics });
  const onHup = () => {
    if (!opts.users) return;
    loadUsers(opts.users).then((u) => { users = u; logger.info({ file: opts.users, users: u.size }, 'reloaded the users file'); })
      .catch((e: Error) => logger.error({ file: opts.users, err: e.message }, 'users file not reloaded: keeping the users it had'));
  };
  process.on('SIGHUP', onHup);
  try {
    await app.listen({ host, port });
  } catch (e) {
    process.off('SIGHUP', onHup);
    await close?.();
    throw e;
  }
  const closed = new Promise<void>((resolve) => app.server.once('close', () => resolve()));
  // build the view (and the serialized lists) now, not on the first request; a load error is served as 503
  void source.snapshot().catch((e: Error) => logger.error({ err: e.message }, 'the desired state does not load yet'));
  logger.warn({ url: `https://${host.includes(':') ? `[${host}]` : host}:${port}/`, certificate: tls.certFile, users: users.size, anonymousRead: opts.anonymousRead ?? false, mode }, 'remote API listening');
  return {
    closed,
    close: async () => { process.off('SIGHUP', onHup); await app.close(); await jobs.idle(); await close?.(); },
  };
}

/**
 * Starts the remote API server (standalone `gantry serve`, or inside `gantry run --serve`
 * with `daemon`: then write jobs run no pass of their own, they ask the daemon, the one
 * writer holding the state directory lock). Resolves once it listens; close() stops it
 * after the requests and jobs in flight.
 */
export async function startRapi(opts: Omit<ServeOpts, 'file' | 'lockTimeout' | 'logLevel' | 'kubernetes' | 'namespace' | 'kubeconfig'> & { file: readonly string[]; lockTimeout?: string }, logger: Logger, daemon?: ServeInDaemon): Promise<Started> {
  const { FileSource } = await import('../rapi/source.js');
  const { fileWrites } = await import('../rapi/writes.js');
  if (opts.file.length === 0) throw new CliExit(1, 'no manifests: pass -f PATH (a file or a directory), repeatable');
  return listenRapi(opts, logger, daemon ? 'files, in gantry run' : 'files', async (jobs) => {
    const source = new FileSource({ files: opts.file, stateDir: opts.stateDir, logger });
    const writes = fileWrites({
      files: opts.file, stateDir: opts.stateDir, source, jobs, logger, lockTimeoutMs: Number(opts.lockTimeout ?? '600') * 1000,
      ...(opts.instanceDir ? { instanceDir: opts.instanceDir } : {}), ...(daemon ? { pass: daemon.pass } : {}),
    });
    return { source, writes, ...(daemon ? { moreMetrics: () => daemon.registry.metrics() } : {}) };
  });
}

/**
 * The remote API in Kubernetes mode: reads from the custom resources of `namespace`
 * (this server's own list + watch, so a replica that does not lead still answers reads),
 * writes as patches of those resources. With `hooks` (inside `gantry run --kubernetes`)
 * the leader's passes are what write jobs follow; without (standalone `gantry serve
 * --kubernetes`) this process reconciles nothing and refuses writes with 503.
 */
export async function startRapiKube(opts: ListenOpts & { namespace: string; api: import('../kube/client.js').KubeApi }, logger: Logger, hooks?: import('./run-kube.js').KubeServeHooks): Promise<Started> {
  const { CrSource } = await import('../kube/source.js');
  const { KubeSource } = await import('../rapi/kube-source.js');
  const { kubeWrites } = await import('../rapi/kube-writes.js');
  const { readObserved } = await import('../status/state-dir.js');
  return listenRapi(opts, logger, hooks ? `custom resources in ${opts.namespace}, in gantry run` : `custom resources in ${opts.namespace}, read-only`, async (jobs) => {
    // onChange fires only after start(), by when `source` is set
    const crs = new CrSource({ api: opts.api, namespace: opts.namespace, logger, onChange: () => source.invalidate() });
    const source = new KubeSource({
      crs: () => crs.snapshot(), logger,
      // the leader's last pass; else what a `gantry run` with this state directory left
      observed: async () => hooks?.passes.observed ?? (await readObserved(opts.stateDir).catch(() => undefined)),
    });
    hooks?.passes.onObserved(() => source.invalidate());
    await crs.start();
    const writes = kubeWrites({
      api: opts.api, namespace: opts.namespace, source, jobs, logger,
      mayWrite: hooks?.mayWrite ?? (() => 'gantry serve --kubernetes runs no reconcile loop (use gantry run --kubernetes --serve)'),
      ...(hooks ? { passes: hooks.passes } : {}),
    });
    return { source, writes, ...(hooks ? { moreMetrics: hooks.metrics } : {}), close: async () => crs.stop() };
  });
}

async function serve(opts: ServeOpts, logger: Logger): Promise<void> {
  let server: Started;
  if (opts.kubernetes) {
    if (opts.file.length > 0 || opts.instanceDir) throw new CliExit(1, '--kubernetes reads custom resources: -f and --instance-dir do not apply');
    const { kubeApiFrom, loadKubeConfig } = await import('../kube/client.js');
    server = await startRapiKube({ ...opts, api: kubeApiFrom(loadKubeConfig(opts.kubeconfig)) }, logger);
  } else {
    server = await startRapi(opts, logger);
  }
  const stop = () => { void server.close(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await server.closed;
}

/** Adds `serve` to the gantry program. */
export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('serve the Ganeti-compatible remote API (RAPI v2) over HTTPS: ganetimgr, Ganeti Web Manager, htools -m and the RAPI checks keep working')
    .option('-f, --file <path>', 'manifest file or directory (repeatable); required unless --kubernetes', collect, [])
    .option('--listen <addr:port>', 'address and port to listen on', '0.0.0.0:5080')
    .option('--users <file>', "Ganeti's RAPI users file (`name password [read|write]`, {HA1} hashes); reloaded on SIGHUP. Without it no request is authenticated")
    .option('--tls-cert <file>', 'PEM certificate (with --tls-key); default: a self-signed one made on first start in STATE_DIR/rapi/')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--anonymous-read', 'answer reads without authentication (htools -m reads anonymously)')
    .option('--state-dir <dir>', 'the state directory: last observation (read), certificate, lock for write jobs', DEFAULT_STATE_DIR)
    .option('--instance-dir <dir>', 'where instances created through the API are written (one file each); default: the first -f directory')
    .option('--lock-timeout <seconds>', 'how long a write job waits for the state directory lock held by apply/run', '600')
    .option('--kubernetes', 'serve the gantry.dev custom resources of --namespace instead of files, read-only (writes need the leader: gantry run --kubernetes --serve)')
    .option('--namespace <ns>', 'with --kubernetes: the namespace holding the custom resources', 'default')
    .option('--kubeconfig <file>', 'with --kubernetes: kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config)')
    .option('--log-level <level>', 'pino level for the structured log on stderr')
    .addHelpText('after', '\nExamples:\n  gantry serve -f manifests/ --users /etc/gantry/rapi-users\n  gantry serve --kubernetes --namespace gantry --anonymous-read\n  gantry serve -f manifests/ --anonymous-read --listen 127.0.0.1:5080\n  hbal -m https://127.0.0.1:5080   # with --anonymous-read\n')
    .action(async (opts: ServeOpts, cmd: Command) => {
      const level = opts.logLevel ?? (cmd.optsWithGlobals() as { logLevel?: string }).logLevel ?? process.env.GANTRY_LOG_LEVEL ?? 'warn';
      await serve(opts, createLogger({ level }));
    });
}
