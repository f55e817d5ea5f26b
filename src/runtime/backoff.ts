/**
 * Per-key exponential backoff, like client-go's ItemExponentialFailureRateLimiter:
 * the n-th consecutive failure of a key waits base * 2^n (capped), plus jitter so that
 * many keys failing together (a node reboot) do not retry in lockstep.
 */
export interface BackoffOptions {
  /** Delay after the first failure. Default 1 s. */
  readonly baseMs?: number;
  /** Upper bound on any delay, jitter included. Default 5 min. */
  readonly maxMs?: number;
  /** Extra random fraction added to each delay: delay * (1 + jitter * random()). Default 0.1. */
  readonly jitter?: number;
  /** Uniform [0, 1) source; injected so tests are deterministic. */
  readonly random?: () => number;
}

export class ExponentialBackoff {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private readonly failures = new Map<string, number>();

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 1_000;
    this.maxMs = opts.maxMs ?? 300_000;
    this.jitter = opts.jitter ?? 0.1;
    this.random = opts.random ?? Math.random;
    if (this.baseMs <= 0 || this.maxMs < this.baseMs) throw new RangeError('backoff: need 0 < baseMs <= maxMs');
  }

  /** Record one more failure of `key` and return how long to wait before retrying it. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity for large n, which min() then caps: no special case needed.
    const raw = Math.min(this.maxMs, this.baseMs * 2 ** n);
    return Math.min(this.maxMs, Math.round(raw * (1 + this.jitter * this.random())));
  }

  /** Consecutive failures recorded for `key`. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The key succeeded (or was given up on): its next failure starts at base again. */
  forget(key: string): void {
    this.failures.delete(key);
  }
}
