/**
 * `gantry run`: the reconcile loop as a daemon. One key per cluster: every pass reloads
 * the manifests and recomputes the whole plan (allocation is cluster-wide), so there is
 * nothing to gain from finer keys and a lot of consistency to lose. Invalid manifests
 * are a terminal error for that pass: nothing is changed until the files are fixed.
 *
 * One writer: the caller holds the state directory lock for the daemon's whole life;
 * every pass first checks that the lock is still its own (a lock removed by hand is taken
 * again; one taken by another process stops the pass before it observes anything).
 * A state directory that refuses a write fails the pass after its actions are logged.
 */
import { loadDesired, ParseCache } from '../desired/load.js';
import { formatLoadError } from '../desired/errors.js';
import { connectNodes, type Connections } from '../execute/connect.js';
import { reconcileOnce, type IncrementalPlanner, type ReconcileResult } from '../runtime/reconcile.js';
import { acquireStateLock, type StateLock } from '../runtime/state-lock.js';
import type { JobLogRetention } from '../status/state-dir.js';
import { startDaemon } from '../runtime/daemon.js';
import { createRuntimeMetrics, type RuntimeMetrics } from '../runtime/metrics.js';
import { nextWatcherWakeMs } from '../runtime/restarts.js';
import { HEARTBEAT_TIMEOUT_MS, livenessPassDelayMs, quickProbeOps, startHeartbeat, type Heartbeat } from '../runtime/heartbeat.js';
import type { MissedProbe } from '../observe/liveness.js';
import { systemClock } from '../runtime/clock.js';
import { fencerFor } from '../execute/fence.js';
import { summary } from '../status/drift-report.js';
import { PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { DesiredState } from '../desired/model.js';

export interface RunOptions {
  files: string[];
  stateDir: string;
  logger: Logger;
  resyncMs: number;
  debounceMs: number;
  /** Heartbeat period while every node answers (a silent node is checked every 2 s), and twice the pass period while a node is Unreachable (default 5 s). */
  probeIntervalMs?: number;
  metricsPort?: number;
  once: boolean;
  /** The state directory lock, taken by the caller and released by it after we return. */
  lock?: StateLock;
  jobLog?: JobLogRetention;
  /**
   * `gantry run --serve`: started once the daemon runs, with a pass runner that queues the
   * daemon's own pass (one writer: the API never runs a second reconciler) and the
   * daemon's metrics; its close() is awaited when the daemon stops.
   */
  serve?: (daemon: { pass: (ctx: { log(m: string): void }) => Promise<ReconcileResult>; registry: RuntimeMetrics['registry'] }) => Promise<{ close(): Promise<void> }>;
}

/** Runs until stopped; with `once`, returns the result of its one pass. */
export async function runReconcileDaemon(opts: RunOptions): Promise<ReconcileResult | undefined> {
  // every pass re-reads the manifests; only the files that changed are parsed again
  const parsed = new ParseCache();
  const { logger } = opts;
  let conn: Connections | undefined;
  let connFor: DesiredState | undefined;
  let lock = opts.lock;
  let last: ReconcileResult | undefined;

  /** Before a pass: still the one writer? A lock removed by hand is taken again (or the pass fails naming the new holder). */
  const ensureLock = async (): Promise<void> => {
    if (!lock || (await lock.held())) return;
    logger.error({ lock: lock.file }, 'the state directory lock is no longer ours; taking it again before this pass');
    // throws StateLockedError (permanent: no pass runs until a resync finds the lock free)
    lock = await acquireStateLock({ stateDir: opts.stateDir, command: lock.holder.command, logger, waitMs: 0 });
  };

  const metrics = createRuntimeMetrics();
  const probeMs = opts.probeIntervalMs ?? 5000;
  /** The heartbeat (started with the daemon) and its missed probes since the last pass took them. */
  const beat: { heartbeat?: Heartbeat } = {};
  let misses = new Map<string, MissedProbe[]>();
  const takeMissedProbes = () => {
    const out = misses;
    misses = new Map();
    return out;
  };
  /** API jobs waiting for a pass that starts after they asked (`run --serve`). */
  let passWaiters: { resolve: (r: ReconcileResult) => void; reject: (e: unknown) => void }[] = [];
  const reconcile = async (key: string, ctx: { logger: Logger }) => {
    const waiting = passWaiters;
    passWaiters = [];
    const before = last;
    try {
      const out = await reconcilePass(key, ctx);
      for (const w of waiting) w.resolve(last!);
      return out;
    } catch (e) {
      // a pass whose actions failed still has a result: the job judges its own subject
      for (const w of waiting) {
        if (last !== before && last) w.resolve(last);
        else w.reject(e);
      }
      throw e;
    }
  };
  // Each pass plans incrementally: an instance whose inputs did not change keeps its part of the last plan (plan/plan-cache).
  const incremental: IncrementalPlanner = {};
  const reconcilePass = async (key: string, ctx: { logger: Logger }) => {
    await ensureLock();
    const { state, errors } = await loadDesired(opts.files, undefined, parsed);
    if (!state || errors.length > 0) {
      throw new PrereqError('INVALID_MANIFESTS', `manifests are invalid; nothing changed:\n${errors.map(formatLoadError).join('\n')}`);
    }
    // Reconnect when the node list changes; SSH connections are otherwise reused.
    if (!conn || !sameNodes(connFor, state)) {
      await conn?.close();
      // A handshake that takes longer than a probe interval counts as a missed probe (the grace absorbs one slow answer).
      conn = await connectNodes(state, { logger, connectTimeoutMs: Math.min(8000, Math.max(3000, probeMs)) });
      connFor = state;
    }
    // A node the heartbeat found silent is first asked for a TCP answer: none, and it is unreachable without an SSH timeout.
    const ops = quickProbeOps(conn.ops, { failing: (n) => beat.heartbeat?.failing(n), target: (n) => heartbeatTarget(state, n), clock: systemClock });
    const res = await reconcileOnce(state, { logger: ctx.logger, ops, takeMissedProbes, stateDir: opts.stateDir, fencer: fencerFor(state, ctx.logger), incremental, ...(opts.jobLog ? { jobLog: opts.jobLog } : {}) }, { apply: true, command: `run ${key}` });
    last = res;
    if (res.observed.liveness) metrics.observeLiveness(res.observed.liveness);
    const s = summary(res.after ?? res.plan);
    ctx.logger.info({ key, planned: res.plan.actions.length, failed: res.report?.results.filter((r) => !r.ok).length ?? 0, ...s, ...(res.jobFile ? { jobFile: res.jobFile } : {}) }, "reconciled");
    for (const w of res.plan.waits ?? []) {
      ctx.logger.warn({ key, node: w.node, why: w.why, ...(w.since ? { lastSeen: w.since } : {}), waiting: w.subjects }, `node ${w.node} cannot be observed: ${w.subjects.length} resources wait for it and are left alone`);
    }
    const stateErr = res.jobLogError ?? res.stateError;
    if (stateErr) throw stateErr;
    // Unreachable nodes or failed actions: try again soon, with the queue's backoff.
    if (res.report && !res.report.ok) throw new Error(`${res.report.results.filter((r) => !r.ok).length} actions failed`);
    // A node in its liveness grace is probed again soon, and as soon as its grace time is over: its count decides whether it is fenced.
    const graceMs = livenessPassDelayMs(res.observed.liveness?.values() ?? [], state.cluster.liveness, Date.now(), probeMs);
    if (graceMs !== undefined) return { requeueAfterMs: graceMs };
    if (res.plan.unreachable.length > 0) return { requeueAfterMs: 15_000 };
    // The watcher holds a restart back (backoff): come back when it is due.
    const wake = nextWatcherWakeMs(res.after ?? res.plan, Date.now());
    if (wake !== undefined) return { requeueAfterMs: Math.max(1000, wake) };
    return undefined;
  };

  const keysFor = async () => {
    const { state } = await loadDesired(opts.files, undefined, parsed);
    return [`Cluster/${state?.cluster.name ?? 'invalid'}`];
  };

  if (opts.once) {
    const [key] = await keysFor();
    try {
      await reconcile(key!, { logger });
    } catch (e) {
      // the state directory's refusal is the caller's exit 4, after the pass's own outcome
      if (!(last && (e === last.jobLogError || e === last.stateError))) throw e;
      logger.error({ err: e }, 'state directory not written');
    } finally {
      await conn?.close();
      if (lock !== opts.lock) await lock?.release();
    }
    return last;
  }

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const daemon = startDaemon({
    paths: opts.files, reconcile, keysFor, watch: true, resyncMs: opts.resyncMs, debounceMs: opts.debounceMs, logger, signal: abort.signal, metrics,
    ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
  });
  const hb = startHeartbeat({
    intervalMs: probeMs, clock: systemClock,
    targets: () => [...(connFor?.nodes.values() ?? [])].filter((n) => n.role !== 'offline').map((n) => ({ node: n.name, host: n.ssh.host, port: n.ssh.port })),
    // Each silent check is a missed probe the next pass counts (at most the last 100 per node: a later start of the outage is the safe side).
    onMiss: (node, at) => {
      const t = connFor ? heartbeatTarget(connFor, node) : undefined;
      const list = [...(misses.get(node) ?? []), { at: new Date(at).toISOString(), error: `no TCP answer on its SSH port${t ? ` ${t.host}:${t.port}` : ''} within ${HEARTBEAT_TIMEOUT_MS} ms (heartbeat)` }];
      misses.set(node, list.slice(-100));
    },
    onChange: (node, answers) => {
      logger.info({ node, answers }, answers ? `heartbeat: ${node} answers again` : `heartbeat: ${node} stopped answering; probing it now`);
      if (!answers) void conn?.reset(node);
      void keysFor().then((keys) => keys.forEach((k) => daemon.queue.add(k)));
    },
  });
  beat.heartbeat = hb;
  abort.signal.addEventListener('abort', () => hb.stop(), { once: true });
  const ready = await daemon.ready;
  logger.info({ files: opts.files, resyncMs: opts.resyncMs, ...ready }, 'gantry run: watching manifests');
  const server = await opts.serve?.({
    registry: metrics.registry,
    pass: (ctx) => new Promise<ReconcileResult>((resolve, reject) => {
      ctx.log('queued for the daemon\'s next reconcile pass');
      passWaiters.push({ resolve, reject });
      void keysFor().then((keys) => keys.forEach((k) => daemon.queue.add(k)), reject);
    }),
  }).catch(async (e: unknown) => { abort.abort(); await daemon.stopped; throw e; });
  await daemon.stopped;
  await server?.close();
  await conn?.close();
  if (lock !== opts.lock) await lock?.release();
  return undefined;
}

function heartbeatTarget(state: DesiredState, node: string): { node: string; host: string; port: number } | undefined {
  const n = state.nodes.get(node);
  return n ? { node, host: n.ssh.host, port: n.ssh.port } : undefined;
}

function sameNodes(a: DesiredState | undefined, b: DesiredState): boolean {
  if (!a) return false;
  const key = (s: DesiredState) => JSON.stringify([...s.nodes.values()].map((n) => [n.name, n.ssh, n.role]));
  return key(a) === key(b);
}
