/**
 * The five gantry kinds of one namespace, kept in memory from list + watch, the way an
 * informer does: list (remember the list's resourceVersion), watch from there, and
 * relist when the watch says 410 Gone, when it ends, and periodically anyway, since a
 * relist is the only thing that recovers events lost on a dropped connection.
 * `onChange` fires only for changes that can alter the desired state (add, delete, a new
 * generation): our own status writes bump resourceVersion but not generation, and
 * must not wake the reconciler up again.
 */
import { KIND_INFO, KINDS, type Kind } from '../api/index.js';
import { systemClock, type Clock, type TimerHandle } from '../runtime/clock.js';
import type { Logger } from '../util/log.js';
import type { KubeApi, KubeObject, WatchEventType, WatchHandle } from './client.js';
import { buildFromCrs, type BuildFromCrs } from './desired.js';

export interface CrSourceOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly logger: Logger;
  /** Something that can change the desired state happened (already applied to the cache). */
  readonly onChange: (why: string) => void;
  readonly clock?: Clock;
  /** Full relist period. Default 5 minutes; 0 disables. */
  readonly relistMs?: number;
  /** Wait before re-watching after a stream ended or a list failed. Default 1 s. */
  readonly retryMs?: number;
}

/** What makes an object matter to the desired state: its spec, through its generation. */
const fingerprint = (o: KubeObject): string => String(o.metadata.generation ?? `rv:${o.metadata.resourceVersion ?? ''}`);

class KindCache {
  readonly objects = new Map<string, KubeObject>();
  resourceVersion = '';
  watch?: WatchHandle;
  /** Bumped on every (re)list: callbacks of an older watch are ignored. */
  epoch = 0;
  timer?: TimerHandle;
  constructor(readonly kind: Kind) {}
  get plural(): string {
    return KIND_INFO[this.kind].plural;
  }
}

export class CrSource {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly caches = new Map<Kind, KindCache>(KINDS.map((k) => [k, new KindCache(k)]));
  private relistTimer?: TimerHandle;
  private stopped = false;
  /** Lists completed (for tests and metrics). */
  relists = 0;

  constructor(private readonly opts: CrSourceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'kube-source', namespace: opts.namespace });
  }

  /** List every kind, then watch. Rejects when the first list fails (bad kubeconfig, no CRDs, RBAC). */
  async start(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => this.relist(c, 'start', true)));
    this.armRelist();
  }

  stop(): void {
    this.stopped = true;
    if (this.relistTimer !== undefined) this.clock.clearTimeout(this.relistTimer);
    for (const c of this.caches.values()) {
      c.epoch++;
      c.watch?.stop();
      if (c.timer !== undefined) this.clock.clearTimeout(c.timer);
    }
  }

  /** Every cached CR of the five kinds. */
  snapshot(): KubeObject[] {
    return [...this.caches.values()].flatMap((c) => [...c.objects.values()].map((o) => ({ ...o, kind: c.kind })));
  }

  /** The cached CR (spec and status, as the last list or watch event left it). */
  get(kind: Kind, name: string): KubeObject | undefined {
    return this.caches.get(kind)?.objects.get(name);
  }

  build(): BuildFromCrs {
    return buildFromCrs(this.snapshot());
  }

  /** Relist everything now (the periodic path; also handy for tests). */
  async relistAll(why = 'resync'): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => this.relist(c, why, false)));
  }

  private armRelist(): void {
    const every = this.opts.relistMs ?? 300_000;
    if (every <= 0 || this.stopped) return;
    this.relistTimer = this.clock.setTimeout(() => {
      void this.relistAll().finally(() => this.armRelist());
    }, every);
  }

  private async relist(c: KindCache, why: string, throwOnError: boolean): Promise<void> {
    if (this.stopped) return;
    const epoch = ++c.epoch;
    c.watch?.stop();
    c.watch = undefined;
    let list;
    try {
      list = await this.opts.api.list(c.plural, this.opts.namespace);
    } catch (err) {
      if (throwOnError) throw err;
      this.log.warn({ err, kind: c.kind, why }, 'list failed; retrying');
      this.retry(c, epoch, why);
      return;
    }
    if (epoch !== c.epoch || this.stopped) return;
    this.relists++;
    const before = new Map([...c.objects].map(([n, o]) => [n, fingerprint(o)]));
    c.objects.clear();
    for (const o of list.items) c.objects.set(o.metadata.name, { ...o, kind: c.kind });
    c.resourceVersion = list.resourceVersion;
    const changed = before.size !== c.objects.size || [...c.objects].some(([n, o]) => before.get(n) !== fingerprint(o));
    this.log.debug({ kind: c.kind, why, items: c.objects.size, resourceVersion: c.resourceVersion, changed }, 'listed');
    // the start-up list is not a change: the caller reconciles once it is ready
    if (changed && why !== 'start') this.opts.onChange(`${c.kind} relist (${why})`);
    await this.startWatch(c, epoch);
  }

  private retry(c: KindCache, epoch: number, why: string): void {
    if (this.stopped || epoch !== c.epoch) return;
    if (c.timer !== undefined) this.clock.clearTimeout(c.timer);
    c.timer = this.clock.setTimeout(() => {
      c.timer = undefined;
      if (epoch === c.epoch) void this.relist(c, why, false);
    }, this.opts.retryMs ?? 1_000);
  }

  private async startWatch(c: KindCache, epoch: number): Promise<void> {
    try {
      const h = await this.opts.api.watch(c.plural, this.opts.namespace, c.resourceVersion,
        (type, obj) => { if (epoch === c.epoch) this.onEvent(c, type, obj); },
        (err) => {
          if (epoch !== c.epoch || this.stopped) return;
          // a watch ends normally too (server timeout): relisting is cheap and always right
          this.log.debug({ kind: c.kind, err }, 'watch ended; relisting');
          this.retry(c, epoch, 'watch ended');
        });
      if (epoch !== c.epoch || this.stopped) h.stop();
      else c.watch = h;
    } catch (err) {
      this.log.warn({ err, kind: c.kind }, 'watch failed; relisting');
      this.retry(c, epoch, 'watch failed');
    }
  }

  private onEvent(c: KindCache, type: WatchEventType, obj: KubeObject): void {
    if (type === 'ERROR') {
      const code = (obj as unknown as { code?: number }).code;
      // 410 Gone: our resourceVersion was compacted away; only a fresh list is correct
      this.log.info({ kind: c.kind, code }, code === 410 ? 'watch expired (410 Gone); relisting' : 'watch error; relisting');
      void this.relist(c, code === 410 ? 'gone' : 'watch error', false);
      return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv) c.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const name = obj.metadata.name;
    const prev = c.objects.get(name);
    if (type === 'DELETED') {
      c.objects.delete(name);
      if (prev) this.opts.onChange(`${c.kind}/${name} deleted`);
      return;
    }
    const next = { ...obj, kind: c.kind };
    c.objects.set(name, next);
    if (!prev || fingerprint(prev) !== fingerprint(next)) this.opts.onChange(`${c.kind}/${name} ${type.toLowerCase()}`);
  }
}
