/**
 * gantry plan | verify | apply | run: the reconcile loop from the command line.
 *   plan   observe + diff; prints the drift report; --detailed-exitcode 0/2/1
 *   apply  plan, confirm (unless --yes), execute in waves, re-plan; --dry-run prints commands
 *   run    the daemon: watch manifests, resync periodically, reconcile with backoff
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { loadDesired } from '../desired/load.js';
import { formatLoadError } from '../desired/errors.js';
import type { DesiredState } from '../desired/model.js';
import { connectNodes } from '../execute/connect.js';
import { reconcileOnce, type ReconcileResult } from '../runtime/reconcile.js';
import { fencerFor } from '../execute/fence.js';
import { planHasChanges, type Plan } from '../core/plan.js';
import { describeAction, renderPlan, summary, type ReportFormat } from '../status/drift-report.js';
import { DEFAULT_JOB_LOG_RETENTION, DEFAULT_STATE_DIR, type JobLogRetention } from '../status/state-dir.js';
import { acquireStateLock, type StateLock } from '../runtime/state-lock.js';
import { GantryError } from '../util/errors.js';
import { memoryView, renderVerify, verifyCluster, verifyExit } from '../status/verify.js';
import { createLogger, type Logger } from '../util/log.js';
import type { RunOptions } from './run-daemon.js';

interface CommonOpts {
  file: string[];
  stateDir: string;
  output: ReportFormat;
  logLevel?: string;
  all?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Exit statuses of apply and run (also in their --help). */
export const EXIT = { ok: 0, failed: 1, changes: 2, locked: 3, stateDir: 4 } as const;

const EXIT_HELP = `
Exit status:
  0  the nodes match the manifests
  1  an error, or anything short of the desired state (failed, skipped, refused, unreachable)
  3  another apply or run holds the state directory's lock (the message names it)
  4  the state directory could not be written (status, last observation or job log);
     the summary printed before it is still true, and an unwritten job log went to stderr as JSON
`;

interface WriterOpts {
  lockTimeout: string;
  jobLogKeep: string;
  jobLogMaxAge: string;
}

/** Ends a command with an exit status (and a message for stderr, when there is one). */
export class CliExit extends Error {
  constructor(readonly exitCode: number, message = '') {
    super(message);
  }
}

export async function loadOrExit(files: string[]): Promise<DesiredState> {
  if (files.length === 0) throw new CliExit(1, 'no manifests: pass -f PATH (a file or a directory), repeatable');
  const { state, errors } = await loadDesired(files);
  if (errors.length > 0 || !state) {
    throw new CliExit(1, errors.map(formatLoadError).join('\n') || 'manifests did not load');
  }
  return state;
}

function loggerFor(opts: { logLevel?: string }, cmd: Command): Logger {
  const globalLevel = (cmd.optsWithGlobals() as { logLevel?: string }).logLevel;
  return createLogger({ level: opts.logLevel ?? globalLevel ?? process.env.GANTRY_LOG_LEVEL ?? 'warn' });
}

async function withCluster<T>(files: string[], logger: Logger, fn: (state: DesiredState, ops: Awaited<ReturnType<typeof connectNodes>>) => Promise<T>): Promise<T> {
  const state = await loadOrExit(files);
  const conn = await connectNodes(state, { logger });
  try {
    return await fn(state, conn);
  } finally {
    await conn.close();
  }
}

async function askConfirm(plan: Plan): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new CliExit(1, 'apply needs confirmation: run it on a terminal or pass --yes');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const a = await rl.question(`Apply ${plan.actions.length} actions on ${new Set(plan.actions.map((x) => x.node)).size} nodes? Only "yes" is accepted: `);
    return a.trim() === 'yes';
  } finally {
    rl.close();
  }
}

/** Options of the commands that write (apply, run): the lock and the job log. */
function addWriter(c: Command): Command {
  return c
    .option('--lock-timeout <seconds>', 'wait this long for another apply or run to release the state directory lock (default: fail at once, naming it)', '0')
    .option('--job-log-keep <count>', 'keep at most this many job records in STATE_DIR/jobs', String(DEFAULT_JOB_LOG_RETENTION.keep))
    .option('--job-log-max-age <days>', 'remove job records older than this', String(DEFAULT_JOB_LOG_RETENTION.maxAgeDays))
    .addHelpText('after', EXIT_HELP);
}

export function jobLogRetention(o: Pick<WriterOpts, 'jobLogKeep' | 'jobLogMaxAge'>): JobLogRetention {
  const keep = Number(o.jobLogKeep);
  const maxAgeDays = Number(o.jobLogMaxAge);
  if (!Number.isInteger(keep) || keep < 1) throw new CliExit(EXIT.failed, `--job-log-keep must be a whole number >= 1 (got ${o.jobLogKeep})`);
  if (!Number.isFinite(maxAgeDays) || maxAgeDays <= 0) throw new CliExit(EXIT.failed, `--job-log-max-age must be a number of days > 0 (got ${o.jobLogMaxAge})`);
  return { keep, maxAgeDays };
}

/** Take the state directory lock; a held or unwritable lock becomes exit 3 or 4. */
export async function lockOrExit(stateDir: string, command: string, timeoutSeconds: string, logger: Logger): Promise<StateLock> {
  const waitMs = Number(timeoutSeconds) * 1000;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new CliExit(EXIT.failed, `--lock-timeout must be a number of seconds >= 0 (got ${timeoutSeconds})`);
  try {
    return await acquireStateLock({ stateDir, command, logger, waitMs });
  } catch (e) {
    if (e instanceof GantryError && e.code === 'STATE_LOCKED') throw new CliExit(EXIT.locked, e.message);
    if (e instanceof GantryError && e.code === 'STATE_DIR_UNWRITABLE') throw new CliExit(EXIT.stateDir, e.message);
    throw e;
  }
}

/** After the summary: a state directory that refused a write is exit 4, with what it refused. */
export function stateDirExit(res: Pick<ReconcileResult, 'jobLogError' | 'stateError'>): CliExit | undefined {
  const errs = [res.jobLogError, res.stateError].filter((e) => e !== undefined);
  if (errs.length === 0) return undefined;
  return new CliExit(EXIT.stateDir, errs.map((e) => e.message).join('\n'));
}

function addCommon(c: Command, fileRequired = true): Command {
  const fileHelp = 'manifest file or directory (repeatable)';
  return (fileRequired ? c.requiredOption('-f, --file <path>', fileHelp, collect, []) : c.option('-f, --file <path>', `${fileHelp}; required unless --kubernetes`, collect, []))
    .option('--state-dir <dir>', 'where status, the last observation and the job log are kept', DEFAULT_STATE_DIR)
    .option('-o, --output <format>', 'table | json | markdown', 'table')
    .option('--all', 'also list resources that are in sync')
    .option('--log-level <level>', 'pino level for the structured log on stderr');
}

export function registerReconcileCommands(program: Command): void {
  addCommon(program.command('plan'))
    .description('observe the nodes and print the drift report: what differs from the manifests, the actions that would fix it, and why')
    .option('--detailed-exitcode', 'exit 0 when nothing differs, 2 when there are changes (or refusals), 1 on error')
    .action(async (opts: CommonOpts & { detailedExitcode?: boolean }, cmd: Command) => {
      const logger = loggerFor(opts, cmd);
      const res = await withCluster(opts.file, logger, (state, conn) => reconcileOnce(state, { logger, ops: conn.ops, floorDir: opts.stateDir }, { apply: false }));
      process.stdout.write(renderPlan(res.plan, opts.output, { showInSync: opts.all ?? false }));
      if (opts.detailedExitcode && planHasChanges(res.plan)) throw new CliExit(2);
      if (res.plan.unreachable.length > 0 && opts.detailedExitcode) throw new CliExit(2);
    });

  addCommon(program.command('verify'))
    .description('gnt-cluster verify: observe the nodes and report nodes down, instances on the wrong node, degraded DRBD disks, memory N+1 and orphans; changes nothing')
    .addHelpText('after', '\nExit status:\n  0  no problems found\n  1  errors found (or the manifests or nodes could not be read)\n  2  warnings only\n')
    .action(async (opts: CommonOpts, cmd: Command) => {
      const logger = loggerFor(opts, cmd);
      const { res, state } = await withCluster(opts.file, logger, async (st, conn) => ({ state: st, res: await reconcileOnce(st, { logger, ops: conn.ops, floorDir: opts.stateDir }, { apply: false }) }));
      const findings = verifyCluster(res.plan, res.observed, memoryView(state, res.observed));
      process.stdout.write(opts.output === 'json' ? `${JSON.stringify({ findings }, null, 2)}\n` : renderVerify(findings));
      const code = verifyExit(findings);
      if (code !== 0) throw new CliExit(code);
    });

  addWriter(addCommon(program.command('apply')))
    .description('make the nodes match the manifests: plan, confirm, run the actions in waves over disjoint nodes, re-plan. Holds the state directory lock throughout (not with --dry-run)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'print the exact commands each action would run; change nothing')
    .action(async (opts: CommonOpts & WriterOpts & { yes?: boolean; dryRun?: boolean }, cmd: Command) => {
      const logger = loggerFor(opts, cmd);
      const jobLog = jobLogRetention(opts);
      // --dry-run changes nothing on any node and writes no state: it needs no lock
      const lock = opts.dryRun ? undefined : await lockOrExit(opts.stateDir, 'gantry apply', opts.lockTimeout, logger);
      let exit: CliExit | undefined;
      try {
        const res = await withCluster(opts.file, logger, (state, conn) =>
          reconcileOnce(state, { logger, ops: conn.ops, stateDir: opts.stateDir, jobLog, fencer: fencerFor(state, logger) }, {
            apply: true,
            command: 'apply',
            ...(opts.dryRun ? { dryRun: true } : {}),
            ...(opts.yes || opts.dryRun ? {} : {
              confirm: async (p: Plan) => {
                process.stderr.write(renderPlan(p, 'table'));
                return askConfirm(p);
              },
            }),
            onResult: (r, done, total) => {
              if (opts.output !== 'table' || opts.dryRun) return;
              const mark = r.ok ? (r.unchanged ? '=' : '✓') : '✗';
              process.stderr.write(`[${done}/${total}] ${mark} ${describeAction(r.action)}${r.error ? `  — ${r.error.code}: ${r.error.message}` : ''}\n`);
            },
            // the summary goes out before status and the observation are written
            beforeStateWrite: (r) => { exit = printApply(r, opts); },
          }),
        );
        const end = stateDirExit(res) ?? exit;
        if (end) throw end;
      } finally {
        await lock?.release();
      }
    });

  addWriter(addCommon(program.command('run'), false))
    .description('run the reconcile loop as a daemon: watch the manifests, resync periodically, repair drift. Holds the state directory lock for its whole life (file mode); with --kubernetes the Lease is the lock')
    .option('--resync <seconds>', 'full resync period (catches drift made by hand on nodes)', '60')
    .option('--debounce <ms>', 'wait this long after a manifest change before reconciling', '500')
    .option('--probe-interval <seconds>', 'liveness: a TCP heartbeat to each node\'s SSH port this often, every 2 s for a node that does not answer (each unanswered check is a missed probe; a change starts a pass at once); passes every half of it while a node is Unreachable, and as soon as its grace time ends', '5')
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:PORT')
    .option('--once', 'reconcile once and exit (for cron or tests)')
    .option('--kubernetes', 'read the desired state from gantry.dev custom resources instead of files; status goes into the CRs')
    .option('--namespace <ns>', 'with --kubernetes: the namespace holding the custom resources', 'default')
    .option('--kubeconfig <file>', 'with --kubernetes: kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config)')
    .option('--lease-name <name>', 'with --kubernetes: the coordination.k8s.io Lease used for leader election', 'gantry-leader')
    .option('--pod-name <name>', 'with --kubernetes: the pod this process runs in (the Helm chart passes it); the Lease holder labels it gantry.dev/rapi-leader=true so the remote API\'s Service reaches only the replica that writes')
    .option('--serve', "also serve the remote API (as `gantry serve`) in this process: API writes edit the manifests (with --kubernetes: patch the custom resources, on the Lease holder only) and follow this daemon's passes (one writer)")
    .option('--listen <addr:port>', 'with --serve: address and port of the remote API', '0.0.0.0:5080')
    .option('--users <file>', "with --serve: Ganeti's RAPI users file; reloaded on SIGHUP")
    .option('--tls-cert <file>', 'with --serve: PEM certificate (with --tls-key); default: self-signed in STATE_DIR/rapi/')
    .option('--tls-key <file>', 'with --serve: PEM private key of --tls-cert')
    .option('--anonymous-read', 'with --serve: answer reads without authentication')
    .option('--instance-dir <dir>', 'with --serve: where instances created through the API are written; default: the first -f directory')
    .action(async (opts: CommonOpts & WriterOpts & RunServeOpts & { resync: string; debounce: string; probeInterval: string; metricsPort?: string; once?: boolean; kubernetes?: boolean; namespace: string; kubeconfig?: string; leaseName: string; podName?: string }, cmd: Command) => {
      const logger = loggerFor({ logLevel: opts.logLevel ?? 'info' }, cmd);
      if (opts.serve && opts.once) throw new CliExit(1, '--serve needs the daemon: leave out --once');
      if (opts.kubernetes) {
        if (opts.file.length > 0 || opts.once) throw new CliExit(1, '--kubernetes reads custom resources: -f and --once do not apply');
        if (opts.instanceDir) throw new CliExit(1, '--instance-dir does not apply with --kubernetes: instances created through the API are custom resources');
        if (opts.podName !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(opts.podName)) throw new CliExit(1, `--pod-name ${JSON.stringify(opts.podName)} is not a pod name (lowercase DNS subdomain)`);
        const { runKubeDaemon } = await import('./run-kube.js');
        await runKubeDaemon({
          namespace: opts.namespace, leaseName: opts.leaseName, logger, resyncMs: Number(opts.resync) * 1000, debounceMs: Number(opts.debounce),
          ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}), ...(opts.metricsPort ? { metricsPort: Number(opts.metricsPort) } : {}),
          ...(opts.serve ? { serve: serveInKube(opts, logger) } : {}), ...(opts.podName !== undefined ? { podName: opts.podName } : {}),
        });
        return;
      }
      if (opts.podName !== undefined) throw new CliExit(1, '--pod-name needs --kubernetes (the leader label is for the remote API\'s Service in a cluster)');
      if (opts.file.length === 0) throw new CliExit(1, "error: required option '-f, --file <path>' not specified (or pass --kubernetes)");
      const jobLog = jobLogRetention(opts);
      const lock = await lockOrExit(opts.stateDir, opts.once ? 'gantry run --once' : 'gantry run', opts.lockTimeout, logger);
      const { runReconcileDaemon } = await import('./run-daemon.js');
      try {
        const res = await runReconcileDaemon({
          files: opts.file, stateDir: opts.stateDir, logger, resyncMs: Number(opts.resync) * 1000, debounceMs: Number(opts.debounce), probeIntervalMs: probeInterval(opts.probeInterval),
          ...(opts.metricsPort ? { metricsPort: Number(opts.metricsPort) } : {}), once: opts.once ?? false, lock, jobLog,
          ...(opts.serve ? { serve: serveInRun(opts, logger) } : {}),
        });
        const end = res ? stateDirExit(res) : undefined;
        if (end) throw end;
      } finally {
        await lock.release();
      }
    });
}

/** Print the apply summary; returns the exit it implies (thrown by the caller after the state writes). */
function printApply(res: ReconcileResult, opts: CommonOpts & { dryRun?: boolean }): CliExit | undefined {
  if (opts.output === 'json') {
    process.stdout.write(JSON.stringify({ plan: res.plan, results: res.report?.results ?? [], skipped: res.report?.skipped ?? [], after: res.after ? summary(res.after) : null, aborted: res.aborted }, null, 2) + '\n');
  } else if (opts.dryRun) {
    if (res.plan.actions.length === 0) process.stdout.write('No changes. The nodes match the desired state.\n');
    for (const r of res.report?.results ?? []) {
      process.stdout.write(`# ${describeAction(r.action)}\n#   why: ${r.action.reason}\n`);
      // `<<<` introduces what a command is fed on stdin (QMP JSON, a record): a bash here-string.
      for (const c of r.commands) process.stdout.write(`${c.map((w) => (w === '<<<' ? w : shellish(w))).join(' ')}\n`);
    }
  } else {
    if (res.aborted) return new CliExit(EXIT.failed, 'aborted: nothing was changed');
    if (res.plan.actions.length === 0) process.stdout.write(renderPlan(res.plan, opts.output));
    const failed = res.report?.results.filter((r) => !r.ok) ?? [];
    for (const f of failed) process.stdout.write(`FAILED ${describeAction(f.action)}: ${f.error?.code} ${f.error?.message}\n`);
    for (const s of res.report?.skipped ?? []) process.stdout.write(`SKIPPED ${describeAction(s.action)}: ${s.because}\n`);
    if (res.plan.refused.length > 0) for (const r of res.plan.refused) process.stdout.write(`REFUSED ${r.subject} ${r.code}: ${r.message}\n`);
    if (res.plan.unreachable.length > 0) process.stdout.write(`UNREACHABLE ${res.plan.unreachable.join(', ')}: their changes wait for the next run\n`);
    if (res.after) {
      const s = summary(res.after);
      const job = res.jobFile ? ` Job log: ${res.jobFile}` : res.jobLogError ? ' Job log: NOT WRITTEN (printed to stderr as JSON).' : '';
      process.stdout.write(`Applied ${res.report?.results.length ?? 0} actions (${failed.length} failed) in ${res.report?.durationMs ?? 0} ms. After apply: ${s.drift} drifted, ${s.refused} refused, ${s.unreachable} unreachable, ${s.inSync} in sync.${job}\n`);
    }
    // Anything short of the desired state (failed, skipped, refused, unreachable) is exit 1.
    if (failed.length > 0 || (res.report?.skipped.length ?? 0) > 0 || res.plan.refused.length > 0 || res.plan.unreachable.length > 0) return new CliExit(EXIT.failed);
  }
  return undefined;
}

/** For display only (dry-run): quote argv elements that a shell would split. */
function shellish(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** --probe-interval in ms: a positive number of seconds. */
function probeInterval(v: string): number {
  const s = Number(v);
  if (!Number.isFinite(s) || s <= 0 || s > 3600) throw new CliExit(1, `--probe-interval ${JSON.stringify(v)}: want seconds between 0 and 3600`);
  return Math.round(s * 1000);
}

interface RunServeOpts { serve?: boolean; listen: string; users?: string; tlsCert?: string; tlsKey?: string; anonymousRead?: boolean; instanceDir?: string }

/** `run --kubernetes --serve`: the remote API in the daemon's process, writing CRs only while it holds the Lease. */
function serveInKube(opts: CommonOpts & RunServeOpts & { namespace: string }, logger: Logger): NonNullable<import('./run-kube.js').KubeRunOptions['serve']> {
  return async (hooks) => {
    const { startRapiKube } = await import('./serve-commands.js');
    return startRapiKube({
      listen: opts.listen, stateDir: opts.stateDir, namespace: opts.namespace, api: hooks.api,
      ...(opts.users ? { users: opts.users } : {}), ...(opts.tlsCert ? { tlsCert: opts.tlsCert } : {}), ...(opts.tlsKey ? { tlsKey: opts.tlsKey } : {}),
      ...(opts.anonymousRead ? { anonymousRead: true } : {}),
    }, logger, hooks);
  };
}

/** `run --serve`: the remote API in the daemon's process, its write jobs passing through the daemon's queue. */
function serveInRun(opts: CommonOpts & RunServeOpts, logger: Logger): NonNullable<RunOptions['serve']> {
  return async (daemon) => {
    const { startRapi } = await import('./serve-commands.js');
    return startRapi({
      file: opts.file, listen: opts.listen, stateDir: opts.stateDir,
      ...(opts.users ? { users: opts.users } : {}), ...(opts.tlsCert ? { tlsCert: opts.tlsCert } : {}), ...(opts.tlsKey ? { tlsKey: opts.tlsKey } : {}),
      ...(opts.anonymousRead ? { anonymousRead: true } : {}), ...(opts.instanceDir ? { instanceDir: opts.instanceDir } : {}),
    }, logger, {
      registry: daemon.registry,
      pass: async (_state, ctx) => {
        const res = await daemon.pass(ctx);
        return { plan: res.after ?? res.plan, failed: (res.report?.results ?? []).filter((r) => !r.ok).map((r) => ({ subject: r.action.subject, message: `${r.error?.code}: ${r.error?.message}` })) };
      },
    });
  };
}

