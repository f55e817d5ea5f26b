/**
 * gantry plan | apply | run: the reconcile loop from the command line.
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
import { planHasChanges, type Plan } from '../core/plan.js';
import { describeAction, renderPlan, summary, type ReportFormat } from '../status/drift-report.js';
import { DEFAULT_STATE_DIR } from '../status/state-dir.js';
import { createLogger, type Logger } from '../util/log.js';

interface CommonOpts {
  file: string[];
  stateDir: string;
  output: ReportFormat;
  logLevel?: string;
  all?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

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

  addCommon(program.command('apply'))
    .description('make the nodes match the manifests: plan, confirm, run the actions in waves over disjoint nodes, re-plan')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'print the exact commands each action would run; change nothing')
    .action(async (opts: CommonOpts & { yes?: boolean; dryRun?: boolean }, cmd: Command) => {
      const logger = loggerFor(opts, cmd);
      const res = await withCluster(opts.file, logger, (state, conn) =>
        reconcileOnce(state, { logger, ops: conn.ops, stateDir: opts.stateDir }, {
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
        }),
      );
      printApply(res, opts);
    });

  addCommon(program.command('run'), false)
    .description('run the reconcile loop as a daemon: watch the manifests, resync periodically, repair drift')
    .option('--resync <seconds>', 'full resync period (catches drift made by hand on nodes)', '60')
    .option('--debounce <ms>', 'wait this long after a manifest change before reconciling', '500')
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:PORT')
    .option('--once', 'reconcile once and exit (for cron or tests)')
    .option('--kubernetes', 'read the desired state from gantry.dev custom resources instead of files; status goes into the CRs')
    .option('--namespace <ns>', 'with --kubernetes: the namespace holding the custom resources', 'default')
    .option('--kubeconfig <file>', 'with --kubernetes: kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config)')
    .option('--lease-name <name>', 'with --kubernetes: the coordination.k8s.io Lease used for leader election', 'gantry-leader')
    .action(async (opts: CommonOpts & { resync: string; debounce: string; metricsPort?: string; once?: boolean; kubernetes?: boolean; namespace: string; kubeconfig?: string; leaseName: string }, cmd: Command) => {
      const logger = loggerFor({ logLevel: opts.logLevel ?? 'info' }, cmd);
      if (opts.kubernetes) {
        if (opts.file.length > 0 || opts.once) throw new CliExit(1, '--kubernetes reads custom resources: -f and --once do not apply');
        const { runKubeDaemon } = await import('./run-kube.js');
        await runKubeDaemon({
          namespace: opts.namespace, leaseName: opts.leaseName, logger, resyncMs: Number(opts.resync) * 1000, debounceMs: Number(opts.debounce),
          ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}), ...(opts.metricsPort ? { metricsPort: Number(opts.metricsPort) } : {}),
        });
        return;
      }
      if (opts.file.length === 0) throw new CliExit(1, "error: required option '-f, --file <path>' not specified (or pass --kubernetes)");
      const { runReconcileDaemon } = await import('./run-daemon.js');
      await runReconcileDaemon({
        files: opts.file, stateDir: opts.stateDir, logger, resyncMs: Number(opts.resync) * 1000, debounceMs: Number(opts.debounce),
        ...(opts.metricsPort ? { metricsPort: Number(opts.metricsPort) } : {}), once: opts.once ?? false,
      });
    });
}

function printApply(res: ReconcileResult, opts: CommonOpts & { dryRun?: boolean }): void {
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
    if (res.aborted) throw new CliExit(1, 'aborted: nothing was changed');
    if (res.plan.actions.length === 0) process.stdout.write(renderPlan(res.plan, opts.output));
    const failed = res.report?.results.filter((r) => !r.ok) ?? [];
    for (const f of failed) process.stdout.write(`FAILED ${describeAction(f.action)}: ${f.error?.code} ${f.error?.message}\n`);
    for (const s of res.report?.skipped ?? []) process.stdout.write(`SKIPPED ${describeAction(s.action)}: ${s.because}\n`);
    if (res.plan.refused.length > 0) for (const r of res.plan.refused) process.stdout.write(`REFUSED ${r.subject} ${r.code}: ${r.message}\n`);
    if (res.plan.unreachable.length > 0) process.stdout.write(`UNREACHABLE ${res.plan.unreachable.join(', ')}: their changes wait for the next run\n`);
    if (res.after) {
      const s = summary(res.after);
      process.stdout.write(`Applied ${res.report?.results.length ?? 0} actions (${failed.length} failed) in ${res.report?.durationMs ?? 0} ms. After apply: ${s.drift} drifted, ${s.refused} refused, ${s.unreachable} unreachable, ${s.inSync} in sync.${res.jobFile ? ` Job log: ${res.jobFile}` : ''}\n`);
    }
    // Anything short of the desired state (failed, skipped, refused, unreachable) is exit 1.
    if (failed.length > 0 || (res.report?.skipped.length ?? 0) > 0 || res.plan.refused.length > 0 || res.plan.unreachable.length > 0) throw new CliExit(1);
  }
}

/** For display only (dry-run): quote argv elements that a shell would split. */
function shellish(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
