/**
 * Leader election with a coordination.k8s.io/v1 Lease, after client-go's
 * leaderelection: a candidate takes the lease when it is absent or expired, the leader
 * renews it every retry period, and a leader that has not renewed within the renew
 * deadline stops leading (before the lease can expire for the others, since
 * renewDeadline < leaseDuration). Expiry is judged on the local clock from when this
 * process last saw the lease record change, never from renewTime, so clock skew
 * between replicas cannot make two leaders. Writes carry resourceVersion: of two
 * candidates racing for an expired lease, the API server lets exactly one win (409).
 * Each term of leadership has an AbortSignal (`leadership`) that aborts the moment this
 * process stops leading, so work in flight stops before its next action.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { sleep, systemClock, type Clock } from '../runtime/clock.js';
import type { Logger } from '../util/log.js';
import { KubeApiError, type KubeApi } from './client.js';

export interface LeaderElectorOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly leaseName: string;
  /** Unique per process. Default: hostname + random suffix. */
  readonly identity?: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** How long others wait after the last renewal they saw. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** A leader that could not renew for this long steps down. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** Between attempts (to acquire, or to renew). Default 2 s. */
  readonly retryPeriodMs?: number;
  readonly onStartedLeading?: () => void;
  readonly onStoppedLeading?: () => void;
}

export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}

interface Seen { key: string; at: number }

export class LeaderElector {
  readonly identity: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private term?: AbortController;
  private lastRenew = 0;
  private seen?: Seen;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.identity = opts.identity ?? defaultIdentity();
    this.clock = opts.clock ?? systemClock;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) throw new RangeError('renewDeadlineMs must be shorter than leaseDurationMs');
    this.log = opts.logger.child({ component: 'leader', lease: `${opts.namespace}/${opts.leaseName}`, identity: this.identity });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Aborts when the current term of leadership ends (reason "lost leadership: why");
   * already aborted when this process does not lead. Take it when a pass starts.
   */
  get leadership(): AbortSignal {
    return this.leading && this.term ? this.term.signal : AbortSignal.abort('lost leadership: not the leader');
  }

  /** One attempt to acquire or renew; updates and returns leadership. */
  async step(): Promise<boolean> {
    const now = this.clock.now();
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew(now);
    } catch (err) {
      this.log.warn({ err }, 'lease update failed');
    }
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.term = new AbortController();
        this.log.info('became leader');
        this.opts.onStartedLeading?.();
      }
    } else if (this.leading && this.clock.now() - this.lastRenew >= this.renewDeadlineMs) {
      this.stepDown('could not renew the lease within the renew deadline');
    }
    return this.leading;
  }

  /** Campaign and renew until `signal` aborts; then release the lease if held. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.step();
      await sleep(this.clock, this.retryPeriodMs, signal);
    }
    await this.release();
  }

  /** Step down and hand the lease over now (instead of making others wait for expiry). */
  async release(): Promise<void> {
    if (!this.leading) return;
    this.stepDown('released');
    try {
      const lease = await this.opts.api.getLease(this.opts.namespace, this.opts.leaseName);
      if (lease?.spec?.holderIdentity !== this.identity) return;
      await this.opts.api.replaceLease(this.opts.namespace, {
        ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.clock.now()) },
      });
    } catch (err) {
      this.log.warn({ err }, 'releasing the lease failed; it will expire');
    }
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.term?.abort(`lost leadership: ${why}`);
    this.log.warn({ why }, 'stopped leading');
    this.opts.onStoppedLeading?.();
  }

  private spec(now: number, prev?: V1Lease['spec']): NonNullable<V1Lease['spec']> {
    const mine = prev?.holderIdentity === this.identity;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: mine && prev?.acquireTime ? prev.acquireTime : new V1MicroTime(now),
      renewTime: new V1MicroTime(now),
      leaseTransitions: (prev?.leaseTransitions ?? 0) + (prev && !mine ? 1 : 0),
    };
  }

  private async tryAcquireOrRenew(now: number): Promise<boolean> {
    const { api, namespace, leaseName } = this.opts;
    const lease = await api.getLease(namespace, leaseName);
    if (!lease) {
      try {
        await api.createLease(namespace, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: leaseName, namespace }, spec: this.spec(now) });
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) return false; // another candidate created it first
        throw err;
      }
      this.seen = undefined;
      return true;
    }
    const spec = lease.spec ?? {};
    const key = JSON.stringify([spec.holderIdentity, String(spec.renewTime ?? ''), lease.metadata?.resourceVersion]);
    if (this.seen?.key !== key) this.seen = { key, at: now };
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
    if (holder !== '' && holder !== this.identity && this.seen.at + durationMs > now) {
      if (this.leading) this.stepDown(`lease taken by ${holder}`);
      return false;
    }
    try {
      await api.replaceLease(namespace, { ...lease, spec: { ...spec, ...this.spec(now, spec) } });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
    if (holder !== this.identity) this.log.info({ previous: holder || undefined, transitions: (spec.leaseTransitions ?? 0) + 1 }, 'acquired the lease');
    return true;
  }
}
