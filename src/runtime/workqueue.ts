import { ExponentialBackoff, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/**
 * A keyed work queue with client-go workqueue semantics:
 *
 * - it holds keys ("Node/node1", "Instance/web1", "cluster"), never objects: the
 *   reconciler re-reads everything for a key, so only "this key needs a look" matters;
 * - a key added while already queued is queued once (dedup);
 * - a key being processed is never handed out again until `done`; if it is added while
 *   processing it is marked dirty and re-queued by `done`, so the change is not lost;
 * - `addAfter` and `addRateLimited` delay an add; a key waiting for several delays fires
 *   once, at the earliest;
 * - after `shutdown` no new keys are accepted, but keys already queued are still handed
 *   out so workers drain them; `get` resolves undefined once nothing is left.
 */
export interface WorkQueueOptions {
  readonly clock?: Clock;
  readonly backoff?: BackoffOptions;
  /** Called whenever the number of queued (ready) keys changes, e.g. for a gauge. */
  readonly onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly limiter: ExponentialBackoff;
  private readonly onDepth: ((depth: number) => void) | undefined;

  /** Ready keys in FIFO order; `head` avoids O(n) shift on large queues. */
  private items: string[] = [];
  private head = 0;
  /** Keys that need processing (queued, or re-added while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys waiting for a delayed add, with when they become ready. */
  private readonly waiting = new Map<string, { readyAt: number; timer: TimerHandle }>();
  /** Workers blocked in `get`. */
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private drained: (() => void)[] = [];

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.limiter = new ExponentialBackoff(opts.backoff);
    this.onDepth = opts.onDepth;
  }

  /** Number of keys ready to be handed out. */
  len(): number {
    return this.items.length - this.head;
  }

  /** Keys handed out and not yet `done`. */
  inFlight(): number {
    return this.processing.size;
  }

  /** Keys waiting for a delayed add. */
  delayed(): number {
    return this.waiting.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    // Being processed: `done` re-queues it; queuing now would allow a concurrent run.
    if (this.processing.has(key)) return;
    this.push(key);
  }

  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing !== undefined) {
      if (existing.readyAt <= readyAt) return;
      this.clock.clearTimeout(existing.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { readyAt, timer });
  }

  /** Re-add after the key's next backoff delay (base * 2^failures, capped, jittered). */
  addRateLimited(key: string): number {
    const delay = this.limiter.when(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Reset the key's backoff: its next failure waits the base delay again. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** Consecutive rate-limited re-adds of the key since the last `forget`. */
  numRequeues(key: string): number {
    return this.limiter.retries(key);
  }

  /**
   * The next key to process, waiting until one is ready. Resolves undefined when the
   * queue is shutting down and empty: the worker should exit.
   */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** The worker finished `key`: release it, and re-queue it if it was re-added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
    this.maybeDrained();
  }

  /**
   * Stop accepting keys and drop delayed adds; resolves once every queued key has been
   * handed out and every handed-out key is `done`.
   */
  shutdown(): Promise<void> {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      for (const w of this.waiting.values()) this.clock.clearTimeout(w.timer);
      this.waiting.clear();
      // Blocked workers can only be waiting because the queue is empty: release them.
      for (const g of this.getters.splice(0)) g(undefined);
    }
    const p = new Promise<void>((resolve) => this.drained.push(resolve));
    this.maybeDrained();
    return p;
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      getter(key);
      return;
    }
    this.items.push(key);
    this.onDepth?.(this.len());
  }

  private take(): string | undefined {
    if (this.head >= this.items.length) return undefined;
    const key = this.items[this.head] as string;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    this.onDepth?.(this.len());
    return key;
  }

  private maybeDrained(): void {
    if (!this.shuttingDown || this.len() > 0 || this.processing.size > 0) return;
    for (const r of this.drained.splice(0)) r();
    // Workers still blocked (none should be) are told to exit.
    for (const g of this.getters.splice(0)) g(undefined);
  }
}
