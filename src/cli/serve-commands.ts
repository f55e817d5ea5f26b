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

/**
 * Starts the remote API server (standalone `gantry serve`, or inside `gantry run --serve`
 * with `daemon`: then write jobs run no pass of their own, they ask the daemon, the one
 * writer holding the state directory lock). Resolves once it listens; close() stops it
 * after the requests and jobs in flight.
 */
export async function startRapi(opts: Omit<ServeOpts, 'file' | 'lockTimeout' | 'logLevel'> & { file: readonly string[]; lockTimeout?: string }, logger: Logger, daemon?: ServeInDaemon): Promise<{ close(): Promise<void>; closed: Promise<void> }> {
  const { buildRapiServer } = await import('../rapi/server.js');
  const { FileSource } = await import('../rapi/source.js');
  const { JobQueue } = await import('../rapi/jobs.js');
  const { loadUsers } = await import('../rapi/users.js');
  const { ensureSelfSigned, loadTls } = await import('../rapi/tls.js');
  const { fileWrites } = await import('../rapi/writes.js');
  const { createRapiMetrics } = await import('../rapi/metrics.js');
  if (opts.file.length === 0) throw new CliExit(1, 'no manifests: pass -f PATH (a file or a directory), repeatable');
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new CliExit(1, '--tls-cert and --tls-key go together');
  const { host, port } = parseListen(opts.listen);
  let users = opts.users ? await loadUsers(opts.users) : new Map();
  const tls = opts.tlsCert && opts.tlsKey ? await loadTls(opts.tlsCert, opts.tlsKey) : await ensureSelfSigned(opts.stateDir, logger);
  const source = new FileSource({ files: opts.file, stateDir: opts.stateDir, logger });
  const jobs = await JobQueue.open(path.join(opts.stateDir, 'rapi', 'jobs.json'), { logger });
  const writes = fileWrites({
    files: opts.file, stateDir: opts.stateDir, source, jobs, logger, lockTimeoutMs: Number(opts.lockTimeout ?? '600') * 1000,
    ...(opts.instanceDir ? { instanceDir: opts.instanceDir } : {}), ...(daemon ? { pass: daemon.pass } : {}),
  });
  const registry = createRapiMetrics({ snapshot: () => source.snapshot(), jobs });
  const metrics = async () => ({ contentType: registry.contentType, body: (await registry.metrics()) + (daemon ? await daemon.registry.metrics() : '') });
  const app = await buildRapiServer({ source, jobs, users: () => users, anonymousRead: opts.anonymousRead ?? false, logger, writes, https: tls, metrics });
  const onHup = () => {
    if (!opts.users) return;
    loadUsers(opts.users).then((u) => { users = u; logger.info({ file: opts.users, users: u.size }, 'reloaded the users file'); })
      .catch((e: Error) => logger.error({ file: opts.users, err: e.message }, 'users file not reloaded: keeping the users it had'));
  };
  process.on('SIGHUP', onHup);
  await app.listen({ host, port });
  const closed = new Promise<void>((resolve) => app.server.once('close', () => resolve()));
  // build the view (and the serialized lists) now, not on the first request; a load error is served as 503
  void source.snapshot().catch((e: Error) => logger.error({ err: e.message }, 'manifests do not load yet'));
  logger.warn({ url: `https://${host.includes(':') ? `[${host}]` : host}:${port}/`, certificate: tls.certFile, users: users.size, anonymousRead: opts.anonymousRead ?? false, inDaemon: daemon !== undefined }, 'remote API listening');
  return {
    closed,
    close: async () => { process.off('SIGHUP', onHup); await app.close(); await jobs.idle(); },
  };
}

async function serve(opts: ServeOpts, logger: Logger): Promise<void> {
  const server = await startRapi(opts, logger);
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
    .requiredOption('-f, --file <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('--listen <addr:port>', 'address and port to listen on', '0.0.0.0:5080')
    .option('--users <file>', "Ganeti's RAPI users file (`name password [read|write]`, {HA1} hashes); reloaded on SIGHUP. Without it no request is authenticated")
    .option('--tls-cert <file>', 'PEM certificate (with --tls-key); default: a self-signed one made on first start in STATE_DIR/rapi/')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--anonymous-read', 'answer reads without authentication (htools -m reads anonymously)')
    .option('--state-dir <dir>', 'the state directory: last observation (read), certificate, lock for write jobs', DEFAULT_STATE_DIR)
    .option('--instance-dir <dir>', 'where instances created through the API are written (one file each); default: the first -f directory')
    .option('--lock-timeout <seconds>', 'how long a write job waits for the state directory lock held by apply/run', '600')
    .option('--log-level <level>', 'pino level for the structured log on stderr')
    .addHelpText('after', '\nExamples:\n  gantry serve -f manifests/ --users /etc/gantry/rapi-users\n  gantry serve -f manifests/ --anonymous-read --listen 127.0.0.1:5080\n  hbal -m https://127.0.0.1:5080   # with --anonymous-read\n')
    .action(async (opts: ServeOpts, cmd: Command) => {
      const level = opts.logLevel ?? (cmd.optsWithGlobals() as { logLevel?: string }).logLevel ?? process.env.GANTRY_LOG_LEVEL ?? 'warn';
      await serve(opts, createLogger({ level }));
    });
}
