import { randomUUID } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { GantryError } from '../util/errors.js';
import { systemClock, type Clock } from './clock.js';
import type { WorkQueue } from './workqueue.js';

/** What a reconcile asks of the runner when it returns normally. */
export interface Outcome {
  /** Look at this key again after this long even if nothing changes (e.g. wait for a DRBD sync). */
  readonly requeueAfterMs?: number;
}

export interface ReconcileContext {
  /** Unique per reconcile call; also bound in `logger` as `reconcileId`. */
  readonly id: string;
  readonly logger: Logger;
  /** Aborted when the daemon stops; long reconciles should pass it down. */
  readonly signal: AbortSignal;
}

/** A reconcile reads everything for `key` itself (level-triggered); it gets only the key. */
export type Reconcile = (key: string, ctx: ReconcileContext) => Promise<Outcome | void>;

export type ResultKind = 'success' | 'requeue_after' | 'error' | 'terminal';

export interface ReconcileReport {
  readonly key: string;
  readonly id: string;
  readonly result: ResultKind;
  readonly durationMs: number;
  readonly error?: unknown;
  /** For 'error' and 'requeue_after': when the key will be looked at again. */
  readonly retryInMs?: number;
}

export interface ControllerOptions {
  readonly queue: WorkQueue;
  readonly reconcile: Reconcile;
  readonly logger: Logger;
  readonly workers?: number;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
  readonly newId?: () => string;
  /** Every reconcile outcome (metrics, status: a terminal error belongs in status). */
  readonly onReport?: (r: ReconcileReport) => void;
}

/**
 * Runs `workers` loops that take keys from the queue and reconcile them. The queue
 * guarantees one key never runs on two workers at once; this maps each outcome to a
 * queue operation the way controller-runtime's reconcileHandler does:
 *
 *   throws permanent GantryError     -> forget, report terminal (retrying cannot help)
 *   throws anything else             -> addRateLimited (per-key exponential backoff)
 *   returns {requeueAfterMs > 0}     -> forget, addAfter
 *   returns otherwise                -> forget
 */
export class Controller {
  private readonly o: Required<Omit<ControllerOptions, 'onReport' | 'signal'>> & Pick<ControllerOptions, 'onReport'>;
  private readonly signal: AbortSignal;
  private running: Promise<void>[] = [];

  constructor(opts: ControllerOptions) {
    this.o = {
      workers: 1,
      clock: systemClock,
      newId: randomUUID,
      ...opts,
    };
    this.signal = opts.signal ?? new AbortController().signal;
    if (!Number.isInteger(this.o.workers) || this.o.workers < 1) throw new RangeError('controller: workers must be an integer >= 1');
  }

  /** Start the workers; idempotent. */
  start(): void {
    if (this.running.length > 0) return;
    for (let i = 0; i < this.o.workers; i++) this.running.push(this.worker());
  }

  /** Shut the queue down and wait until queued and in-flight keys are finished. */
  async stop(): Promise<void> {
    await this.o.queue.shutdown();
    await Promise.all(this.running);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.o.queue.get();
      if (key === undefined) return;
      try {
        await this.processOne(key);
      } finally {
        this.o.queue.done(key);
      }
    }
  }

  /** Reconcile one key and map its outcome; never throws. */
  private async processOne(key: string): Promise<void> {
    const { queue, clock } = this.o;
    const id = this.o.newId();
    const logger = this.o.logger.child({ reconcileId: id, key });
    const started = clock.now();
    let report: ReconcileReport;
    try {
      const outcome = await this.o.reconcile(key, { id, logger, signal: this.signal });
      const durationMs = clock.now() - started;
      queue.forget(key);
      const after = outcome?.requeueAfterMs ?? 0;
      if (after > 0) {
        queue.addAfter(key, after);
        report = { key, id, result: 'requeue_after', durationMs, retryInMs: after };
      } else {
        report = { key, id, result: 'success', durationMs };
      }
      logger.debug({ result: report.result, durationMs }, 'reconciled');
    } catch (error) {
      const durationMs = clock.now() - started;
      if (error instanceof GantryError && error.permanent) {
        queue.forget(key);
        report = { key, id, result: 'terminal', durationMs, error };
        logger.error({ err: error, code: error.code, durationMs }, 'reconcile failed terminally; not retrying');
      } else {
        const retryInMs = queue.addRateLimited(key);
        report = { key, id, result: 'error', durationMs, error, retryInMs };
        logger.warn({ err: error, retryInMs, retries: queue.numRequeues(key), durationMs }, 'reconcile failed; will retry');
      }
    }
    try {
      this.o.onReport?.(report);
    } catch (err) {
      logger.error({ err }, 'onReport hook threw');
    }
  }
}
