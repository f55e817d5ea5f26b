/**
 * `gantry run --kubernetes`: the reconcile loop with custom resources as the desired
 * state. Only the holder of the Lease reconciles; it follows the CRs of one namespace
 * (list + watch), and on a change (debounced) or a resync runs the same level-triggered
 * pass as file mode under one key per namespace, then writes each resource's status
 * into its CR. Invalid CRs get Synced=False/InvalidSpec and nothing on any node changes.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { DesiredState } from '../desired/model.js';
import { connectNodes, type Connections } from '../execute/connect.js';
import type { NodeOps } from '../core/node-ops.js';
import { reconcileOnce } from '../runtime/reconcile.js';
import { kubeApiFrom, loadKubeConfig, type KubeApi } from '../kube/client.js';
import { LeaderElector } from '../kube/leader.js';
import { PodLeaderLabel } from '../kube/leader-label.js';
import { sleep, systemClock } from '../runtime/clock.js';
import { CrSource } from '../kube/source.js';
import { StatusQueue, StatusWriter, invalidSpecUpdates, updatesFromStatuses } from '../kube/status-writer.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileReport } from '../runtime/controller.js';
import { startDaemon, type Daemon } from '../runtime/daemon.js';
import type { WatchHandlers } from '../runtime/watcher.js';
import { summary } from '../status/drift-report.js';
import { ExecError, PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { KubePassHub } from '../rapi/kube-writes.js';

export interface KubeRunOptions {
  readonly namespace: string;
  /** Default: in-cluster config, $KUBECONFIG or ~/.kube/config. */
  readonly kubeconfig?: string;
  /** Injected instead of `kubeconfig` (tests, embedding). */
  readonly kubeConfig?: KubeConfig;
  readonly leaseName: string;
  readonly identity?: string;
  /** This process's pod: the Lease holder labels it (kube/leader-label.ts) so the API's Service reaches the writer only. */
  readonly podName?: string;
  readonly logger: Logger;
  readonly resyncMs: number;
  readonly debounceMs?: number;
  /** Also keep the job log and last observation locally (optional in this mode). */
  readonly stateDir?: string;
  readonly metricsPort?: number;
  /** NodeOps to use instead of SSH connections (the simulator in tests). */
  readonly ops?: ReadonlyMap<string, NodeOps>;
  readonly clock?: Clock;
  /** Stop when aborted; default: SIGINT / SIGTERM. */
  readonly signal?: AbortSignal;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly relistMs?: number;
  readonly onReport?: (r: ReconcileReport) => void;
  /**
   * `gantry run --kubernetes --serve`: started before the campaign, with this process's
   * passes (API jobs follow them) and whether it may write (it holds the Lease); its
   * close() is awaited when the daemon stops.
   */
  readonly serve?: (k: KubeServeHooks) => Promise<{ close(): Promise<void> }>;
}

/** What the remote API gets from `run --kubernetes`: the API client, the passes, the Lease. */
export interface KubeServeHooks {
  readonly api: KubeApi;
  readonly passes: KubePassHub;
  /** Why this process may not write now, or undefined while it leads. */
  readonly mayWrite: () => string | undefined;
  /** The reconcile loop's metrics (Prometheus text) while this process leads; empty otherwise. */
  readonly metrics: () => Promise<string>;
}

/** What runs while this process leads: the CR source, the daemon, node connections. */
interface Term {
  readonly abort: AbortController;
  readonly source: CrSource;
  readonly daemon: Daemon;
  readonly statuses: StatusQueue;
}

export async function runKubeDaemon(opts: KubeRunOptions): Promise<void> {
  const { logger, namespace } = opts;
  const api: KubeApi = kubeApiFrom(opts.kubeConfig ?? loadKubeConfig(opts.kubeconfig));
  const writer = new StatusWriter({ api, namespace, logger });
  const stop = new AbortController();
  const signal = opts.signal ?? stop.signal;
  if (!opts.signal) {
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  let conn: Connections | undefined;
  let connFor: DesiredState | undefined;
  const opsFor = async (state: DesiredState): Promise<ReadonlyMap<string, NodeOps>> => {
    if (opts.ops) return opts.ops;
    // reconnect when the node list changes; SSH connections are otherwise reused
    if (!conn || !sameNodes(connFor, state)) {
      await conn?.close();
      conn = await connectNodes(state, { logger });
      connFor = state;
    }
    return conn.ops;
  };

  const passes = new KubePassHub();
  const labelStop = new AbortController();
  const label = opts.podName !== undefined
    ? new PodLeaderLabel({ api, namespace, pod: opts.podName, logger, signal: labelStop.signal, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.retryPeriodMs !== undefined ? { retryMs: opts.retryPeriodMs } : {}) })
    : undefined;
  let term: Term | undefined;
  let stopping: Promise<void> = Promise.resolve();
  const elector: LeaderElector = new LeaderElector({
    api, namespace, leaseName: opts.leaseName, logger,
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.leaseDurationMs !== undefined ? { leaseDurationMs: opts.leaseDurationMs } : {}),
    ...(opts.renewDeadlineMs !== undefined ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
    ...(opts.retryPeriodMs !== undefined ? { retryPeriodMs: opts.retryPeriodMs } : {}),
    onStartedLeading: () => {
      lead();
      void label?.set(true);
    },
    // stop reconciling at once: another replica may take over after the lease expires
    onStoppedLeading: () => {
      void label?.set(false);
      passes.setKick(undefined);
      passes.abort('this replica stopped leading before the reconcile pass: the change is in the custom resource and the new leader reconciles it');
      stopping = stopping.then(follow);
    },
  });

  const lead = (): void => {
    const abort = new AbortController();
    let handlers: WatchHandlers | undefined;
    const source = new CrSource({
      api, namespace, logger, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.relistMs !== undefined ? { relistMs: opts.relistMs } : {}),
      onChange: (why) => handlers?.onChange(why),
    });
    // this term's status writes, off the passes' path; they end with the term
    const statuses = new StatusQueue(writer, { logger, stop: () => abort.signal.aborted || !elector.isLeader });
    const ready = source.start();
    // a failed first list is reported by the daemon's ready; reconciles must not see it unhandled
    ready.catch(() => undefined);

    const reconcile = async (key: string, ctx: { logger: Logger }) => {
      try {
        return await reconcilePass(key, ctx);
      } catch (err) {
        // a pass that failed before its plan: the API jobs waiting for it fail with its error
        if (!(err instanceof PassReported)) passes.abort(`the reconcile pass failed: ${err instanceof Error ? err.message : String(err)}`);
        throw err instanceof PassReported ? err.cause : err;
      }
    };
    const reconcilePass = async (key: string, ctx: { logger: Logger }) => {
      await ready;
      if (!elector.isLeader) return undefined;
      const built = source.build();
      const generations = new Map([...built.refs].map(([s, r]) => [s, r.generation]));
      if (built.invalid.size > 0) {
        statuses.push(invalidSpecUpdates(built.invalid, generations, new Date().toISOString()), (kind, name) => source.get(kind, name));
        const lines = [...built.invalid].flatMap(([s, errs]) => errs.map((e) => `${s}: ${e.path ? `${e.path}: ` : ''}${e.message}`));
        passes.report({ generations, invalid: lines.slice(0, 10).join('; ') });
        // terminal for this pass: the next CR change enqueues the key again
        throw new PassReported(new PrereqError('INVALID_SPEC', `custom resources in ${namespace} are invalid; nothing changed:\n${lines.join('\n')}`));
      }
      if (!built.state) {
        ctx.logger.info({ namespace }, 'no gantry resources in the namespace; nothing to do');
        return undefined;
      }
      const state = built.state;
      // this term's signal: losing the Lease cancels the pass before its next action
      const leadership = elector.leadership;
      const res = await reconcileOnce(state, {
        logger: ctx.logger, ops: await opsFor(state),
        ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
      }, { apply: true, command: `run ${key}`, signal: leadership });
      if (leadership.aborted) {
        // the new leader writes status from its own observation; ours may be stale already
        const cancelled = res.report?.skipped.filter((s) => s.because.startsWith('cancelled:')).length ?? 0;
        ctx.logger.warn({ key, cancelled, reason: String(leadership.reason) }, 'lost leadership during the pass: remaining actions cancelled, status not written');
        passes.abort('this replica lost the Lease during the reconcile pass: its remaining actions were cancelled; the new leader reconciles the change');
        return undefined;
      }
      const failedActions = (res.report?.results ?? []).filter((r) => !r.ok);
      passes.report({
        generations, plan: res.after ?? res.plan, observed: res.observed,
        failed: failedActions.map((r) => ({ subject: r.action.subject, message: `${r.error?.code}: ${r.error?.message}` })),
      });
      // written after the pass returns: the next pass and the jobs waiting for it do not wait for them
      statuses.push(updatesFromStatuses(res.statuses, generations), (kind, name) => source.get(kind, name));
      const s = summary(res.after ?? res.plan);
      ctx.logger.info({ key, planned: res.plan.actions.length, statusesQueued: statuses.queued, ...s }, 'reconciled');
      if (failedActions.length > 0) throw new PassReported(new ExecError('APPLY_FAILED', `${failedActions.length} actions failed`));
      if (res.plan.unreachable.length > 0) return { requeueAfterMs: 15_000 };
      return undefined;
    };

    const daemon = startDaemon({
      paths: [], watch: true, reconcile, resyncMs: opts.resyncMs, logger, signal: abort.signal,
      keysFor: async () => [`Namespace/${namespace}`],
      watchFactory: (_paths, h) => {
        handlers = h;
        return { ready, close: async () => source.stop() };
      },
      ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
      ...(opts.onReport ? { onReport: opts.onReport } : {}),
    });
    daemon.ready.then(() => logger.info({ namespace }, 'leading: following the custom resources'), (err: unknown) => {
      logger.error({ err, namespace }, 'cannot follow the custom resources (CRDs installed? RBAC?)');
    });
    passes.setKick(() => daemon.queue.add(`Namespace/${namespace}`));
    term = { abort, source, daemon, statuses };
  };

  const follow = async (): Promise<void> => {
    const t = term;
    term = undefined;
    if (!t) return;
    t.abort.abort();
    await t.daemon.stopped;
    await t.statuses.idle();
  };

  const server = await opts.serve?.({
    api, passes,
    mayWrite: () => (elector.isLeader ? undefined : `this replica (${elector.identity}) does not hold the Lease ${namespace}/${opts.leaseName}`),
    metrics: async () => (term ? term.daemon.metrics.registry.metrics() : ''),
  });
  logger.info({ namespace, lease: opts.leaseName, identity: elector.identity }, 'gantry run --kubernetes: campaigning for leadership');
  // a container restarted in the same pod keeps the pod's labels: not the leader until the Lease says so
  void label?.set(false);
  try {
    await elector.run(signal);
    await stopping;
    await follow();
  } finally {
    passes.abort('gantry run is stopping');
    // one bounded try to take the label off (release() stepped down); the pod may be going away anyway
    if (label) await Promise.race([label.set(false), sleep(opts.clock ?? systemClock, 5_000)]);
    labelStop.abort();
    await server?.close();
    await conn?.close();
  }
}

/** An error whose pass was already reported to the API's jobs (they judge it themselves). */
class PassReported extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

function sameNodes(a: DesiredState | undefined, b: DesiredState): boolean {
  if (!a) return false;
  const key = (s: DesiredState) => JSON.stringify([...s.nodes.values()].map((n) => [n.name, n.ssh, n.role]));
  return key(a) === key(b);
}
