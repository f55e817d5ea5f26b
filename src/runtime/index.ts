export { systemClock, sleep, type Clock, type TimerHandle } from './clock.js';
export { FakeClock } from './fake-clock.js';
export { ExponentialBackoff, type BackoffOptions } from './backoff.js';
export { WorkQueue, type WorkQueueOptions } from './workqueue.js';
export { Controller, type ControllerOptions, type Outcome, type Reconcile, type ReconcileContext, type ReconcileReport, type ResultKind } from './controller.js';
export { Debouncer } from './debounce.js';
export { chokidarWatch, type ManifestWatcher, type WatchFactory, type WatchHandlers } from './watcher.js';
export { createRuntimeMetrics, startMetricsServer, type MetricsServer, type RuntimeMetrics } from './metrics.js';
export { runDaemon, startDaemon, type Daemon, type DaemonOptions } from './daemon.js';
