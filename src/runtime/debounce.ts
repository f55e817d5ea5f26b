import type { Clock, TimerHandle } from './clock.js';

/**
 * Trailing debounce on an injected clock: a burst of `trigger` calls (an editor saving,
 * a `git pull` touching fifty files) produces one `fn` call `delayMs` after the last one.
 * `maxWaitMs` bounds the wait so a file that never stops changing still gets reconciled.
 */
export class Debouncer {
  private timer: TimerHandle | undefined;
  private firstAt: number | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly delayMs: number,
    private readonly fn: () => void,
    private readonly maxWaitMs = Math.max(delayMs * 10, delayMs),
  ) {}

  trigger(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    this.firstAt ??= now;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.delayMs, this.firstAt + this.maxWaitMs - now));
    this.timer = this.clock.setTimeout(() => this.fire(), wait);
  }

  /** Cancel any pending call and ignore later triggers. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.firstAt = undefined;
    this.fn();
  }
}
