/**
 * Writes in Kubernetes mode: each RAPI write is the same ManifestChange as in file mode,
 * applied to a custom resource instead of a file. Before the request is answered the
 * change is applied to the cached CRs and the namespace is built with the same schemas
 * and cross-resource checks as the reconciler (a refusal is a 400 naming the field, and
 * nothing is patched). Then a job (1) reads the CR, applies the change and validates
 * again, (2) sends it as a JSON merge patch conditional on the resourceVersion it read
 * (a new instance: a create), with field manager "gantry-rapi" and the API user and the
 * operation in annotations, retrying on 409, and (3) follows the reconcile pass that the
 * changed CR triggers (the first pass built from the new generation) and succeeds when
 * that pass left the resource in sync. A delete sets spec.state: absent, as in file mode
 * (the VM goes, its disks are kept; the CR stays to say so).
 *
 * A rename (a CR cannot be renamed) is three writes in one job: the old CR is marked
 * `gantry.dev/renamed-to: NEW` (a conditional patch, spec untouched), the new CR is created
 * with the same spec and spec.renamedFrom: OLD, and the old CR is deleted (conditional on
 * its uid and resourceVersion). The build reads an old CR whose mark is claimed by the new
 * CR's renamedFrom as superseded (kube/desired.ts), so every pass, whichever of the three
 * states it reads, sees one instance: the old one, or the new one carrying the rename (its
 * disks renamed, never created empty beside orphans). A failure after the create leaves the
 * old CR superseded and inert, and the job says so (delete it by hand).
 *
 * One writer: only the replica holding the Lease writes (mayWrite); the others answer
 * writes with 503 and keep serving reads.
 */
import { parseDocument, stringify } from 'yaml';
import { KIND_INFO, isKind } from '../api/index.js';
import type { ObservedCluster } from '../core/plan.js';
import type { LoadError } from '../desired/errors.js';
import type { DesiredState } from '../desired/model.js';
import { KubeApiError, type KubeApi, type KubeObject } from '../kube/client.js';
import { buildFromCrs, RENAMED_TO_ANNOTATION } from '../kube/desired.js';
import { mergePatchOf } from '../kube/merge-patch.js';
import type { Logger } from '../util/log.js';
import { rapiField } from './create.js';
import { bad, type ManifestChange } from './edits.js';
import type { JobContext, JobQueue } from './jobs.js';
import type { KubeSource } from './kube-source.js';
import { RapiHttpError, type RapiWrites, type WriteRequest } from './server.js';
import { judgePass, MAX_PASSES, placementRefusal, writeHandlers, type ChangeSink, type PassOutcome } from './writes.js';

export const FIELD_MANAGER = 'gantry-rapi';
/** The API user who made the last change through the remote API. */
export const USER_ANNOTATION = 'gantry.dev/rapi-user';
/** The last operation made through the remote API ("startup instance web1"). */
export const OPERATION_ANNOTATION = 'gantry.dev/rapi-operation';
/** Attempts at a conditional patch when the CR keeps changing under it (409). */
const MAX_CONFLICTS = 5;

/** What one reconcile pass of the leader reports to the jobs waiting for it. */
export type KubePassReport =
  | (PassOutcome & { readonly generations: ReadonlyMap<string, number>; readonly observed?: ObservedCluster; readonly invalid?: undefined })
  /** The CRs did not validate: the pass changed nothing (someone else's broken CR, or a race). */
  | { readonly generations: ReadonlyMap<string, number>; readonly invalid: string };

interface Waiter {
  readonly subject: string;
  readonly generation: number;
  readonly resolve: (r: KubePassReport) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Between the leader's reconcile loop and the API's jobs: a job waits for the first pass
 * built from (at least) the generation it wrote; the loop reports every pass, and says
 * when it stops leading or a pass fails before it has a plan.
 */
export class KubePassHub {
  private readonly waiters = new Set<Waiter>();
  private kick: (() => void) | undefined;
  private lastObserved: { observed: ObservedCluster; observedAt: string } | undefined;
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly o: { timeoutMs?: number; now?: () => number } = {}) {}

  /** How the loop runs a pass soon (set while this process leads, unset when it stops). */
  setKick(fn: (() => void) | undefined): void {
    this.kick = fn;
  }

  /** Called after each pass observed the nodes (the API's view rebuilds). */
  onObserved(fn: () => void): void {
    this.listeners.push(fn);
  }

  get observed(): { observed: ObservedCluster; observedAt: string } | undefined {
    return this.lastObserved;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** The first pass (reported after this call) that was built from `subject` at `generation` or later. */
  after(subject: string, generation: number, ctx: JobContext): Promise<KubePassReport> {
    const timeoutMs = this.o.timeoutMs ?? 600_000;
    ctx.log(`waiting for the reconcile pass that reads generation ${generation} of ${subject}`);
    return new Promise<KubePassReport>((resolve, reject) => {
      const w: Waiter = {
        subject, generation, resolve, reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`no reconcile pass read generation ${generation} of ${subject} within ${Math.round(timeoutMs / 1000)} s (is this replica still leading?); the change is in the custom resource`));
        }, timeoutMs),
      };
      this.waiters.add(w);
      this.kick?.();
    });
  }

  /** A pass ran: the waiters whose generation it read get its outcome. */
  report(r: KubePassReport): void {
    if ('observed' in r && r.observed) {
      this.lastObserved = { observed: r.observed, observedAt: new Date((this.o.now ?? Date.now)()).toISOString() };
      for (const l of this.listeners) l();
    }
    for (const w of [...this.waiters]) {
      const g = r.generations.get(w.subject);
      if (g === undefined || g < w.generation) continue;
      this.settle(w);
      w.resolve(r);
    }
  }

  /** Every waiting job fails with `why` (this process stopped leading, a pass failed before its plan). */
  abort(why: string): void {
    for (const w of [...this.waiters]) {
      this.settle(w);
      w.reject(new Error(why));
    }
  }

  private settle(w: Waiter): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
  }
}

export interface KubeWritesOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly source: KubeSource;
  readonly jobs: JobQueue;
  readonly logger: Logger;
  /** Why this process may not write now (it does not hold the Lease), or undefined when it may. */
  readonly mayWrite: () => string | undefined;
  /** The leader's passes; absent: this process reconciles nothing, so it writes nothing. */
  readonly passes?: KubePassHub;
}

const sameObject = (a: KubeObject, kind: string, name: string) => a.kind === kind && a.metadata.name === name;
const replaced = (objects: readonly KubeObject[], next: KubeObject) => [...objects.filter((o) => !sameObject(o, next.kind, next.metadata.name)), next];

/** The 400 for a change the CRs refuse: each error with the RAPI field (create) or the spec field, and the CR. */
function refusal(invalid: ReadonlyMap<string, readonly LoadError[]>, created: boolean): RapiHttpError {
  const lines = [...invalid].flatMap(([subject, errors]) => errors.map((e) => `${created && e.path ? rapiField(e.path) : e.path || subject}: ${e.message} (${subject})`));
  return new RapiHttpError(400, 'Bad Request', lines.slice(0, 10).join('; '));
}

class KubeWrites implements ChangeSink {
  constructor(private readonly o: KubeWritesOptions) {}

  private mayWrite(): string | undefined {
    return this.o.passes ? this.o.mayWrite() : this.o.mayWrite() ?? 'this process runs no reconcile loop';
  }

  /** The CR after the change: the cached one (or `cur`, just read) edited through the same YAML edit as a manifest. */
  private render(change: ManifestChange, objects: readonly KubeObject[], cur?: KubeObject): KubeObject {
    const [kind, name] = change.subject.split('/') as [string, string];
    if (change.create) {
      if (objects.some((o) => sameObject(o, kind, name))) throw bad('name', `${kind} ${name} already exists in namespace ${this.o.namespace}`);
      return { ...(change.create as Omit<KubeObject, 'metadata'>), kind, metadata: { name, namespace: this.o.namespace } } as KubeObject;
    }
    const obj = cur ?? objects.find((o) => sameObject(o, kind, name));
    if (!obj) throw new RapiHttpError(404, 'Not Found', `${kind} '${name}' has no custom resource in namespace ${this.o.namespace}`);
    const doc = parseDocument(stringify({ apiVersion: obj.apiVersion, kind, metadata: { name }, spec: obj.spec ?? {} }));
    change.edit!(doc);
    const edited = doc.toJS() as { spec?: unknown };
    return { ...obj, kind, spec: edited.spec ?? {} };
  }

  /** Build the namespace with `next` in place of its CR: the desired state, or the 400. */
  private check(change: ManifestChange, objects: readonly KubeObject[], next: KubeObject): DesiredState {
    const built = buildFromCrs(replaced(objects, next));
    if (!built.state) throw refusal(built.invalid, change.create !== undefined);
    change.check?.(built.state);
    return built.state;
  }

  /** The change and its follow-ups, in order, on top of the cached CRs; throws the 400. */
  private validated(change: ManifestChange, objects: readonly KubeObject[], observed: ObservedCluster | undefined): void {
    const next = this.render(change, objects);
    const state = this.check(change, objects, next);
    if (change.create) {
      const why = placementRefusal(state, next.metadata.name, observed);
      if (why) throw bad('pnode', `${why} (name pnode/snode or make room; nothing was created)`);
    }
    let objs = replaced(objects, next);
    for (let step = change.then; step; step = step.then) {
      const n = this.render(step, objs);
      this.check(step, objs, n);
      objs = replaced(objs, n);
    }
  }

  async submit(req: WriteRequest, change: ManifestChange): Promise<number> {
    const why = this.mayWrite();
    if (why) throw new RapiHttpError(503, 'Service Unavailable', `${why}: only the replica holding the Lease writes (one writer); retry against it`);
    const snap = await this.o.source.snapshot();
    // the 400, before any job or patch
    if (change.judged !== undefined) this.checkRename(change, this.o.source.objects());
    else this.validated(change, this.o.source.objects(), snap.observed);
    const user = req.user?.name ?? 'anonymous';
    const run = change.judged !== undefined ? (ctx: JobContext) => this.runRename(change, user, ctx) : (ctx: JobContext) => this.runJob(change, user, ctx);
    return this.o.jobs.submit({ ...change.op } as never, `${change.op.OP_ID as string}(${change.subject.split('/')[1]})`, user, run);
  }

  /**
   * A rename's two CRs: the old one (`cur`, or the cached one) marked renamed-to, and the new
   * one (metadata.name and spec.renamedFrom set by the same edit as a manifest's).
   */
  private renamed(change: ManifestChange, objects: readonly KubeObject[], cur?: KubeObject): { marked: KubeObject; created: KubeObject } {
    const [kind, from] = change.subject.split('/') as [string, string];
    const to = change.judged!.split('/')[1]!;
    const obj = cur ?? objects.find((o) => sameObject(o, kind, from));
    if (!obj) throw new RapiHttpError(404, 'Not Found', `${kind} '${from}' has no custom resource in namespace ${this.o.namespace}`);
    const doc = parseDocument(stringify({ apiVersion: obj.apiVersion, kind, metadata: { name: from }, spec: obj.spec ?? {} }));
    change.edit!(doc);
    const edited = doc.toJS() as { metadata: { name: string }; spec?: unknown };
    if (edited.metadata.name !== to) throw new Error(`${change.what}: the edit names ${edited.metadata.name}, not ${to}`);
    const marked = { ...obj, kind, metadata: { ...obj.metadata, annotations: { ...(obj.metadata.annotations as Record<string, string> | undefined), [RENAMED_TO_ANNOTATION]: to } } };
    return { marked, created: { apiVersion: obj.apiVersion, kind, metadata: { name: to, namespace: this.o.namespace }, spec: edited.spec ?? {} } };
  }

  /** The namespace with the old CR marked and the new one created must build (the state a pass reads between the two); throws the 400. */
  private checkRename(change: ManifestChange, objects: readonly KubeObject[], cur?: KubeObject): { marked: KubeObject; created: KubeObject } {
    const r = this.renamed(change, objects, cur);
    if (objects.some((o) => sameObject(o, r.created.kind, r.created.metadata.name))) throw bad('new_name', `${change.judged} already exists in namespace ${this.o.namespace}`);
    this.check(change, replaced(objects, r.marked), r.created);
    return r;
  }

  /** Mark the old CR, create the new one, delete the old one; then follow the pass that reads the new one. */
  private async runRename(change: ManifestChange, user: string, ctx: JobContext): Promise<null> {
    const [kind, from] = change.subject.split('/') as [string, string];
    const to = change.judged!.split('/')[1]!;
    const plural = KIND_INFO.Instance.plural;
    const ns = this.o.namespace;
    const annotations = { [USER_ANNOTATION]: user, [OPERATION_ANNOTATION]: change.what };
    const notWriting = () => { const why = this.mayWrite(); if (why) throw new Error(`${change.what}: stopped: ${why}`); };
    // 1. mark the old CR (spec untouched: nothing changes for the passes while the new one does not exist)
    let marked: KubeObject;
    let created: KubeObject;
    for (let attempt = 1; ; attempt++) {
      notWriting();
      let cur: KubeObject;
      try {
        cur = { ...(await this.o.api.get(plural, ns, from)), kind };
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) throw new Error(`${change.what}: ${change.subject} was deleted from namespace ${ns}`);
        throw err;
      }
      ({ created } = this.checkRename(change, replaced(this.o.source.objects(), cur), cur));
      try {
        marked = await this.o.api.mergePatch(plural, ns, from, { metadata: { resourceVersion: cur.metadata.resourceVersion, annotations: { ...annotations, [RENAMED_TO_ANNOTATION]: to } } }, FIELD_MANAGER);
        ctx.log(`marked ${change.subject} ${RENAMED_TO_ANNOTATION}: ${to} (user ${user})`);
        break;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409 && attempt < MAX_CONFLICTS) { ctx.log(`${change.subject} changed since it was read (409): reading it again`); continue; }
        throw err;
      }
    }
    // 2. create the new CR: from here on the passes read the new instance carrying the rename
    let generation: number;
    try {
      notWriting();
      const made = await this.o.api.create(plural, ns, { ...created, metadata: { ...created.metadata, annotations } }, FIELD_MANAGER);
      generation = made.metadata.generation ?? 1;
      ctx.log(`created ${change.judged} with spec.renamedFrom: ${from} (generation ${generation}); ${change.subject} is superseded`);
    } catch (err) {
      const unmarked = await this.o.api.mergePatch(plural, ns, from, { metadata: { resourceVersion: marked.metadata.resourceVersion, annotations: { [RENAMED_TO_ANNOTATION]: null } } }, FIELD_MANAGER).then(() => true, () => false);
      throw new Error(`${change.what}: creating ${change.judged} failed: ${(err as Error).message}; nothing changed on the nodes, ${change.subject} ${unmarked ? 'is as it was' : `keeps its ${RENAMED_TO_ANNOTATION} mark, which means nothing while no ${change.judged} claims it`}`);
    }
    // 3. delete the old CR, only the version this job marked (or a later one still marked for this rename)
    await this.deleteSuperseded(change, marked, ctx);
    this.o.source.invalidate();
    for (let n = 1; ; n++) {
      const out = await this.o.passes!.after(change.judged!, generation, ctx);
      if (out.invalid !== undefined) throw new Error(`${change.what}: the custom resources do not validate, nothing changed on the nodes: ${out.invalid}`);
      if (judgePass(change, out, ctx, n < MAX_PASSES)) break;
      ctx.log(`${change.what}: actions left after pass ${n}, passing again`);
    }
    return null;
  }

  private async deleteSuperseded(change: ManifestChange, marked: KubeObject, ctx: JobContext): Promise<void> {
    const from = marked.metadata.name;
    const to = change.judged!.split('/')[1]!;
    const plural = KIND_INFO.Instance.plural;
    const ns = this.o.namespace;
    const left = (why: string) => new Error(`${change.what}: ${change.judged} was created with spec.renamedFrom: ${from} and carries the rename, but the old custom resource ${change.subject} was not deleted: ${why}. `
      + `It is superseded (marked ${RENAMED_TO_ANNOTATION}: ${to}): no pass reconciles it, and one copy of the instance is kept under ${to}; delete it: kubectl -n ${ns} delete ${plural}.gantry.dev ${from}`);
    let cur = marked;
    for (let attempt = 1; ; attempt++) {
      const why = this.mayWrite();
      if (why) throw left(why);
      try {
        await this.o.api.delete(plural, ns, from, { uid: cur.metadata.uid, resourceVersion: cur.metadata.resourceVersion });
        ctx.log(`deleted ${change.subject} (superseded by ${change.judged})`);
        return;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) { ctx.log(`${change.subject} was already deleted`); return; }
        if (!(err instanceof KubeApiError && err.status === 409 && attempt < MAX_CONFLICTS)) throw left((err as Error).message);
      }
      // changed since: delete it only while it is still this rename's old CR
      try {
        cur = await this.o.api.get(plural, ns, from);
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) { ctx.log(`${change.subject} was already deleted`); return; }
        throw left((err as Error).message);
      }
      if (cur.metadata.uid !== marked.metadata.uid || (cur.metadata.annotations as Record<string, string> | undefined)?.[RENAMED_TO_ANNOTATION] !== to) {
        throw left(`it changed since it was marked (another uid, or its ${RENAMED_TO_ANNOTATION} mark removed)`);
      }
      ctx.log(`${change.subject} changed since it was marked (409): deleting the version read again`);
    }
  }

  private async runJob(change: ManifestChange, user: string, ctx: JobContext): Promise<null> {
    for (let step: ManifestChange | undefined = change; step; step = step.then) {
      const generation = await this.write(step, user, ctx);
      this.o.source.invalidate();
      // a change can take more than one pass (a failover's stale runtime files go on the pass after the move)
      for (let n = 1; ; n++) {
        const out = await this.o.passes!.after(step.subject, generation, ctx);
        if (out.invalid !== undefined) throw new Error(`${step.what}: the custom resources do not validate, nothing changed on the nodes: ${out.invalid}`);
        if (judgePass(step, out, ctx, n < MAX_PASSES)) break;
        ctx.log(`${step.what}: actions left after pass ${n}, passing again`);
      }
    }
    return null;
  }

  /** Create or conditionally patch the CR; returns the generation the pass must read. */
  private async write(step: ManifestChange, user: string, ctx: JobContext): Promise<number> {
    const [kind, name] = step.subject.split('/') as [string, string];
    if (!isKind(kind)) throw new Error(`${step.subject}: not a gantry kind`);
    const plural = KIND_INFO[kind].plural;
    const annotations = { [USER_ANNOTATION]: user, [OPERATION_ANNOTATION]: step.what };
    for (let attempt = 1; ; attempt++) {
      const why = this.mayWrite();
      if (why) throw new Error(`${step.what}: not written: ${why}`);
      const objects = this.o.source.objects();
      if (step.create) {
        const next = this.render(step, objects);
        this.check(step, objects, next);
        const made = await this.o.api.create(plural, this.o.namespace, { ...next, metadata: { ...next.metadata, annotations } }, FIELD_MANAGER);
        ctx.log(`created ${step.subject} in namespace ${this.o.namespace} (user ${user})`);
        return made.metadata.generation ?? 1;
      }
      let cur: KubeObject;
      try {
        cur = { ...(await this.o.api.get(plural, this.o.namespace, name)), kind };
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) throw new Error(`${step.what}: ${step.subject} was deleted from namespace ${this.o.namespace}`);
        throw err;
      }
      const objs = replaced(objects, cur);
      const next = this.render(step, objs, cur);
      this.check(step, objs, next);
      const spec = mergePatchOf(cur.spec ?? {}, next.spec);
      const patch = { metadata: { resourceVersion: cur.metadata.resourceVersion, annotations }, ...(spec !== undefined ? { spec } : {}) };
      try {
        const out = await this.o.api.mergePatch(plural, this.o.namespace, name, patch, FIELD_MANAGER);
        ctx.log(`patched ${step.subject} (generation ${out.metadata.generation ?? '?'}${spec === undefined ? ', spec unchanged' : ''}; user ${user})`);
        return out.metadata.generation ?? 0;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409 && attempt < MAX_CONFLICTS) {
          ctx.log(`${step.subject} changed since it was read (409): reading it again`);
          continue;
        }
        throw err;
      }
    }
  }
}

/** The RapiWrites of Kubernetes mode. */
export function kubeWrites(o: KubeWritesOptions): RapiWrites {
  return writeHandlers(new KubeWrites(o), async () => (await o.source.snapshot()).state, async () => (await o.source.snapshot()).observed);
}
