/**
 * Where the server's view comes from in Kubernetes mode: the gantry.dev custom resources
 * of one namespace (kept in memory by a CrSource, list + watch) and the last observation
 * (the reconcile pass of this process when it leads, else none). Rebuilt when a CR's spec
 * changed or a pass observed the nodes (invalidate()); CRs that do not validate keep the
 * last good view, as in file mode, and until a first good build requests get 503 naming
 * the errors.
 */
import type { ObservedCluster } from '../core/plan.js';
import { buildFromCrs, originName } from '../kube/desired.js';
import type { KubeObject } from '../kube/client.js';
import type { Logger } from '../util/log.js';
import { warmBodies } from './bodies.js';
import { buildModel, type RapiModel } from './view.js';
import { RapiHttpError, type RapiSource } from './server.js';
import type { Snapshot } from './source.js';

export interface KubeSourceOptions {
  /** The cached CRs of the namespace, each with its kind (CrSource.snapshot()). */
  readonly crs: () => readonly KubeObject[];
  /** The last observation of the nodes, when there is one. */
  readonly observed: () => Promise<{ observed: ObservedCluster; observedAt: string } | undefined>;
  readonly logger: Logger;
}

export class KubeSource implements RapiSource {
  private snap: Snapshot | undefined;
  private dirty = true;
  private building: Promise<void> | undefined;
  private lastError = '';

  constructor(private readonly o: KubeSourceOptions) {}

  /** A CR changed or a pass observed the nodes: the next snapshot() rebuilds. */
  invalidate(): void {
    this.dirty = true;
  }

  /** The CRs as cached now (what a write edits and validates against). */
  objects(): readonly KubeObject[] {
    return this.o.crs();
  }

  async snapshot(): Promise<Snapshot> {
    while (this.dirty) {
      this.dirty = false;
      this.building ??= this.rebuild().finally(() => { this.building = undefined; });
      await this.building;
    }
    if (this.building) await this.building;
    if (!this.snap) throw new RapiHttpError(503, 'Service Unavailable', `the custom resources do not validate: ${this.lastError || 'none listed yet'}`);
    return this.snap;
  }

  async current(): Promise<RapiModel> {
    return (await this.snapshot()).model;
  }

  private async rebuild(): Promise<void> {
    const objects = this.o.crs();
    const built = buildFromCrs(objects);
    if (!built.state) {
      const lines = [...built.invalid].flatMap(([s, errs]) => errs.map((e) => `${s}: ${e.path ? `${e.path}: ` : ''}${e.message}`));
      this.lastError = lines.length ? lines.slice(0, 10).join('; ') : 'no gantry resources in the namespace';
      this.o.logger.error({ errors: lines.slice(0, 20) }, 'custom resources do not validate: serving the last good view');
      return;
    }
    const last = await this.o.observed();
    // the same CRs (the build is memoised by content) and the same observation: the view stands
    if (this.snap && this.snap.state === built.state && this.snap.observedAt === last?.observedAt) return;
    // ctime/mtime of a resource: its CR's creation time (Kubernetes keeps no modification time)
    const times = new Map<string, number>();
    for (const o of objects) {
      const ref = built.refs.get(`${o.kind}/${o.metadata.name}`);
      const t = Date.parse(String(o.metadata.creationTimestamp ?? ''));
      if (ref && Number.isFinite(t)) times.set(originName(ref), t / 1000);
    }
    const model = buildModel({ state: built.state, ...(last ? { observed: last.observed } : {}), fileTimes: times });
    await warmBodies(model);
    this.snap = { state: built.state, ...(last ? { observed: last.observed, observedAt: last.observedAt } : {}), model };
  }
}
