import type { Logger } from '../util/log.js';
import type { BackoffOptions } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { Controller, type Reconcile, type ReconcileReport } from './controller.js';
import { Debouncer } from './debounce.js';
import { createRuntimeMetrics, startMetricsServer, type MetricsServer, type RuntimeMetrics } from './metrics.js';
import { chokidarWatch, type ManifestWatcher, type WatchFactory } from './watcher.js';
import { WorkQueue } from './workqueue.js';

export interface DaemonOptions {
  /** Manifest files or directories (YAML). */
  readonly paths: readonly string[];
  readonly reconcile: Reconcile;
  /** Every key the current desired state implies ("cluster", "Node/n1", ...). */
  readonly keysFor: () => Promise<readonly string[]>;
  /** Watch `paths` for changes (otherwise only the start-up pass and resyncs run). */
  readonly watch: boolean;
  /** Enqueue every key this often, to catch drift made by hand on nodes. Default 60 s; 0 disables. */
  readonly resyncMs?: number;
  /** Quiet time after the last file event before enqueuing. Default 500 ms. */
  readonly debounceMs?: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Abort to stop: the watcher closes, the queue drains, then `run` resolves. */
  readonly signal: AbortSignal;
  readonly workers?: number;
  readonly backoff?: BackoffOptions;
  /** Serve Prometheus metrics on 127.0.0.1:<port> (0 picks a free port). */
  readonly metricsPort?: number;
  readonly metrics?: RuntimeMetrics;
  readonly newId?: () => string;
  readonly onReport?: (r: ReconcileReport) => void;
  readonly watchFactory?: WatchFactory;
}

export interface Daemon {
  readonly queue: WorkQueue;
  readonly metrics: RuntimeMetrics;
  /** Resolves once the watcher has finished its initial scan and the metrics server listens. */
  readonly ready: Promise<{ metricsPort?: number }>;
  /** Resolves after an abort, once everything is closed and the queue is drained. */
  readonly stopped: Promise<void>;
  /** Stop without the caller's signal (e.g. start-up failed); same as aborting it. */
  stop(): Promise<void>;
}

/**
 * The reconcile loop: level-triggered, like a Kubernetes controller. File events do not
 * say which key changed (a renamed group touches many objects), so after a debounced
 * burst every key from `keysFor()` is enqueued and the queue's dedup keeps that cheap.
 */
export function startDaemon(opts: DaemonOptions): Daemon {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger.child({ component: 'daemon' });
  const metrics = opts.metrics ?? createRuntimeMetrics();
  const queue = new WorkQueue({
    clock,
    ...(opts.backoff !== undefined ? { backoff: opts.backoff } : {}),
    onDepth: (d) => metrics.queueDepth.set(d),
  });
  const controller = new Controller({
    queue,
    reconcile: opts.reconcile,
    logger: opts.logger,
    clock,
    signal: opts.signal,
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
    ...(opts.newId !== undefined ? { newId: opts.newId } : {}),
    onReport: (r) => {
      metrics.observe(r);
      opts.onReport?.(r);
    },
  });

  const enqueueAll = async (why: string): Promise<void> => {
    try {
      const keys = await opts.keysFor();
      for (const k of keys) queue.add(k);
      log.debug({ why, keys: keys.length }, 'enqueued all keys');
    } catch (err) {
      // Usually an invalid manifest mid-edit: keep running; the next event or resync retries.
      log.error({ err, why }, 'listing keys failed; keeping the queue as it is');
    }
  };

  const debouncer = new Debouncer(clock, opts.debounceMs ?? 500, () => void enqueueAll('manifests changed'));

  const resyncMs = opts.resyncMs ?? 60_000;
  let resyncTimer: TimerHandle | undefined;
  const armResync = (): void => {
    if (resyncMs <= 0 || opts.signal.aborted) return;
    resyncTimer = clock.setTimeout(() => {
      resyncTimer = undefined;
      void enqueueAll('resync');
      armResync();
    }, resyncMs);
  };

  let watcher: ManifestWatcher | undefined;
  if (opts.watch && !opts.signal.aborted) {
    watcher = (opts.watchFactory ?? chokidarWatch)(opts.paths, {
      onChange: (path) => {
        log.debug({ path }, 'manifest changed');
        debouncer.trigger();
      },
      onError: (err) => log.error({ err }, 'watcher error'),
    });
  }

  const serverReady = opts.metricsPort !== undefined ? startMetricsServer(metrics.registry, opts.metricsPort) : undefined;

  controller.start();
  void enqueueAll('start');
  armResync();

  const ready = (async () => {
    await watcher?.ready;
    const server: MetricsServer | undefined = serverReady ? await serverReady : undefined;
    if (server) log.info({ port: server.port }, 'metrics listening on 127.0.0.1');
    return server ? { metricsPort: server.port } : {};
  })();

  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= doStop().then(() => resolveStopped()));
  const doStop = async (): Promise<void> => {
    log.info('stopping: closing watcher, draining queue');
    debouncer.stop();
    if (resyncTimer !== undefined) clock.clearTimeout(resyncTimer);
    resyncTimer = undefined;
    await watcher?.close().catch((err: unknown) => log.error({ err }, 'closing watcher failed'));
    await controller.stop();
    // Not `ready`: a watcher closed before its initial scan may never report ready.
    const srv = await serverReady?.catch(() => undefined);
    await srv?.close().catch((err: unknown) => log.error({ err }, 'closing metrics server failed'));
    log.info('stopped');
  };
  if (opts.signal.aborted) void stop();
  else opts.signal.addEventListener('abort', () => void stop(), { once: true });
  // Start-up failed (e.g. metrics port taken): do not leave workers and timers behind.
  void ready.catch(() => stop());

  return { queue, metrics, ready, stopped, stop };
}

/** Run until `signal` aborts; resolves once the daemon has stopped cleanly. */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const d = startDaemon(opts);
  try {
    await Promise.race([d.ready, d.stopped]);
  } catch (err) {
    await d.stop();
    throw err;
  }
  await d.stopped;
}
