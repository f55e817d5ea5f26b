/**
 * ResourceStatus -> the status subresource of each CR. Writes go to .../status with
 * the resourceVersion just read (optimistic concurrency), so spec is never touched and
 * a concurrent writer costs a re-read, not a lost update. A condition keeps its
 * lastTransitionTime while its status does not change, and an unchanged status is not
 * written at all (no churn, no watch events for nothing).
 *
 * With the CR as the leader's watch cache holds it (`cached`), a pass costs no read per CR:
 * a status equal to the cached one is not written, and a changed one is written
 * conditional on the cached resourceVersion (a stale cache costs a 409 and a fresh read,
 * never a lost update). The cache is trusted only at the resourceVersion this writer last
 * wrote or read for that CR (or when it has none): right after a write the cache is behind
 * until the watch event arrives, and comparing with it then would skip a status that
 * differs from the real one. At 2,000 instances a GET per CR per pass was seconds that the
 * next pass, and every API job waiting for it, queued behind.
 */
import { KIND_INFO, isKind, type Kind } from '../api/index.js';
import type { LoadError } from '../desired/errors.js';
import type { Condition, ResourceStatus } from '../status/status.js';
import type { Logger } from '../util/log.js';
import { KubeApiError, type KubeApi, type KubeObject } from './client.js';

export interface StatusWriterOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly logger: Logger;
  /** Attempts per object when the API answers 409 Conflict. Default 5. */
  readonly maxAttempts?: number;
}

/** The CR of `kind`/`name` as a watch cache holds it (status included), if it holds it. */
export type CachedCr = (kind: Kind, name: string) => KubeObject | undefined;

export type WriteOutcome = 'updated' | 'unchanged' | 'missing' | 'failed';

/** What to write into one CR: the generation it describes, conditions and facts. */
export interface StatusUpdate {
  readonly subject: string;
  /** metadata.generation of the spec this status was computed from. */
  readonly observedGeneration: number;
  readonly conditions: readonly Condition[];
  readonly facts?: Readonly<Record<string, unknown>>;
}

/**
 * Conditions merge by type: new ones replace old ones of the same type (keeping
 * lastTransitionTime when the status did not change); other old ones stay.
 */
export function mergeConditions(prev: readonly Partial<Condition>[] | undefined, next: readonly Condition[]): Partial<Condition>[] {
  const merged = next.map((c) => {
    const old = prev?.find((p) => p.type === c.type);
    return old && old.status === c.status && old.lastTransitionTime ? { ...c, lastTransitionTime: old.lastTransitionTime } : { ...c };
  });
  const kept = (prev ?? []).filter((p) => !next.some((c) => c.type === p.type));
  return [...merged, ...kept];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export class StatusWriter {
  private readonly log: Logger;
  /** Per CR ("Kind/name"), the resourceVersion this writer last wrote or read. */
  private readonly known = new Map<string, string>();
  constructor(private readonly opts: StatusWriterOptions) {
    this.log = opts.logger.child({ component: 'kube-status', namespace: opts.namespace });
  }

  /**
   * Write every status; failures are logged and counted, never thrown (status is best effort).
   * `stop` is asked before each write: once it says so, the rest is left unwritten.
   */
  async writeAll(updates: readonly StatusUpdate[], cached?: CachedCr, stop?: () => boolean): Promise<Record<WriteOutcome, number>> {
    const counts: Record<WriteOutcome, number> = { updated: 0, unchanged: 0, missing: 0, failed: 0 };
    for (const u of updates) {
      if (stop?.()) break;
      try {
        counts[await this.write(u, cached)]++;
      } catch (err) {
        counts.failed++;
        this.log.warn({ err, subject: u.subject }, 'status write failed');
      }
    }
    return counts;
  }

  /** Read (or take the cached CR), merge, PUT /status; on 409 read again (bounded). */
  async write(u: StatusUpdate, cached?: CachedCr): Promise<WriteOutcome> {
    const [kind, name] = u.subject.split('/', 2) as [string, string | undefined];
    if (!isKind(kind) || !name) return 'missing';
    const plural = KIND_INFO[kind].plural;
    const attempts = this.opts.maxAttempts ?? 5;
    let fromCache = cached?.(kind, name);
    const known = this.known.get(u.subject);
    if (fromCache && known !== undefined && fromCache.metadata.resourceVersion !== known) fromCache = undefined;
    for (let i = 1; ; i++) {
      let cur: KubeObject;
      if (fromCache) {
        cur = fromCache;
        fromCache = undefined; // a retry reads the CR
      } else {
        try {
          cur = await this.opts.api.get(plural, this.opts.namespace, name);
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 404) return 'missing';
          throw err;
        }
        this.remember(u.subject, cur);
      }
      const prev = cur.status ?? {};
      const status: Record<string, unknown> = {
        ...prev,
        ...u.facts,
        observedGeneration: u.observedGeneration,
        conditions: mergeConditions(prev.conditions as Partial<Condition>[] | undefined, u.conditions),
      };
      if (same(status, cur.status)) return 'unchanged';
      try {
        this.remember(u.subject, await this.opts.api.replaceStatus(plural, this.opts.namespace, { ...cur, status }));
        return 'updated';
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409 && i < attempts) {
          this.log.debug({ subject: u.subject, attempt: i }, 'status conflict; re-reading');
          continue;
        }
        if (err instanceof KubeApiError && err.status === 404) return 'missing';
        throw err;
      }
    }
  }

  private remember(subject: string, o: KubeObject): void {
    const rv = o.metadata?.resourceVersion;
    if (rv) this.known.set(subject, rv);
    else this.known.delete(subject);
  }
}

/** ResourceStatus from reconcileOnce -> updates, with the generation each CR was built from. */
export function updatesFromStatuses(statuses: readonly ResourceStatus[], generations: ReadonlyMap<string, number>): StatusUpdate[] {
  return statuses.flatMap((s) => {
    const g = generations.get(s.subject);
    return g === undefined ? [] : [{ subject: s.subject, observedGeneration: g, conditions: s.conditions, facts: s.facts }];
  });
}

/** Invalid CRs: Synced=False, reason InvalidSpec, with every error for that object. */
export function invalidSpecUpdates(invalid: ReadonlyMap<string, readonly LoadError[]>, generations: ReadonlyMap<string, number>, at: string): StatusUpdate[] {
  return [...invalid].flatMap(([subject, errors]) => {
    const g = generations.get(subject);
    if (g === undefined) return [];
    const message = errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
    return [{
      subject, observedGeneration: g,
      conditions: [{ type: 'Synced', status: 'False', reason: 'InvalidSpec', message, lastTransitionTime: at }],
    }];
  });
}

/**
 * Status writes off the reconcile loop's path: a pass hands its updates over and returns, so
 * the next pass (and the API jobs waiting for it) does not queue behind them. One writeAll runs
 * at a time; updates handed over meanwhile wait, the newest per CR (a CR's older update that a
 * newer pass replaced is never written). `stop` (this replica no longer leads) ends the writing
 * before the next write and drops what is left: the new leader writes status from its own passes.
 * Before, the first pass over 2,000 new CRs wrote 2,000 statuses before the next pass could start.
 */
export class StatusQueue {
  private readonly pending = new Map<string, StatusUpdate>();
  private cached: CachedCr | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly writer: StatusWriter, private readonly o: { readonly logger: Logger; readonly stop: () => boolean }) {}

  /** Queue these updates (replacing older ones for the same CRs) and start writing if idle. */
  push(updates: readonly StatusUpdate[], cached?: CachedCr): void {
    for (const u of updates) this.pending.set(u.subject, u);
    this.cached = cached;
    this.running ??= this.drain().finally(() => { this.running = undefined; });
  }

  /** Resolves once everything handed over so far is written (or dropped by `stop`). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  get queued(): number {
    return this.pending.size;
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const batch = [...this.pending.values()];
      this.pending.clear();
      if (this.o.stop()) return;
      const counts = await this.writer.writeAll(batch, this.cached, this.o.stop);
      this.o.logger.debug({ ...counts, queued: this.pending.size }, 'statuses written');
    }
  }
}
