import type { Clock, TimerHandle } from './clock.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/**
 * A manual clock for tests. Timers fire only inside `advance`, in due order (ties in
 * creation order), and pending promise callbacks are flushed between timers so async
 * code that awaits and then re-arms a timer behaves as it would in real time.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Number of armed timers (to assert that shutdown cleared everything). */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing due timers and settling promises in between. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await flush();
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.timers.delete(next.id);
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = target;
    await flush();
  }

  /** Settle pending promise callbacks without moving time. */
  async tick(): Promise<void> {
    await flush();
  }

  private nextDue(limit: number): Timer | undefined {
    let best: Timer | undefined;
    for (const tm of this.timers.values()) {
      if (tm.at > limit) continue;
      if (best === undefined || tm.at < best.at || (tm.at === best.at && tm.id < best.id)) best = tm;
    }
    return best;
  }
}

/** Let queued microtasks and already-resolved promise chains run. */
async function flush(): Promise<void> {
  // A macrotask boundary settles arbitrarily long promise chains, which a fixed number of
  // `await Promise.resolve()` would not.
  await new Promise<void>((resolve) => setImmediate(resolve));
}
