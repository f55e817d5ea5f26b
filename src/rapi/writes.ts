/**
 * Writes in file mode: each RAPI write is a manifest change, validated with the whole set
 * before the request is answered (a refusal is a 400 naming the field, and no file is
 * touched), then a job that (1) applies the same change to the file as it is now and
 * validates again, (2) writes it, (3) commits it when the manifests are a git work tree
 * (the message names the API user and the operation), (4) runs a reconcile pass holding
 * the state directory lock, and succeeds when the pass left the resource in sync.
 */
import { readFile, rename as renameFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadDesired } from '../desired/load.js';
import type { LoadError } from '../desired/errors.js';
import type { DesiredState } from '../desired/model.js';
import type { ObservedCluster, Plan } from '../core/plan.js';
import { allocatorFor } from '../execute/allocate.js';
import { toPlanInput } from '../plan/from-desired.js';
import { connectNodes } from '../execute/connect.js';
import { reconcileOnce } from '../runtime/reconcile.js';
import { acquireStateLock } from '../runtime/state-lock.js';
import type { Logger } from '../util/log.js';
import { gitCommitFiles, isGitWorkTree } from '../util/git.js';
import { createInstanceChange, rapiField } from './create.js';
import { asObject, bad, editDocument, failover, flag, migrate, newDocumentText, onlyKnown, onlyQuery, reboot, reinstall, remove, rename as renameChange, setPower, setRole, setTags, type ManifestChange } from './edits.js';
import { instanceOfDiskFile, instanceOfDiskLv, instanceOfLvTags } from '../plan/naming.js';
import { growDiskChange, modifyInstanceChange } from './modify.js';
import type { JobContext, JobQueue } from './jobs.js';
import { RapiHttpError, type RapiWrites, type WriteRequest } from './server.js';
import type { FileSource } from './source.js';

/** Reconcile passes one job step may take before what is left is its error. */
export const MAX_PASSES = 3;

/** What a reconcile pass left: the plan after apply (or the plan, when nothing ran) and failed actions. */
export interface PassOutcome {
  readonly plan: Plan;
  readonly failed: readonly { readonly subject: string; readonly message: string }[];
}

/** Runs one reconcile pass over this desired state (production: lock + SSH + reconcileOnce). */
export type PassRunner = (state: DesiredState, ctx: JobContext) => Promise<PassOutcome>;

export interface FileWritesOptions {
  readonly files: readonly string[];
  readonly stateDir: string;
  readonly source: FileSource;
  readonly jobs: JobQueue;
  readonly logger: Logger;
  /** Where new instances are written (one file each); default: the first -f path that is a directory. */
  readonly instanceDir?: string;
  readonly lockTimeoutMs?: number;
  /** Default: a real pass over SSH with the state directory lock. */
  readonly pass?: PassRunner;
  /** Commit to git when the manifests are a work tree (default true). */
  readonly git?: boolean;
}

/** The production pass: the state directory lock (waiting for apply/run), SSH to the nodes, reconcileOnce with apply. */
export function sshPass(o: { stateDir: string; logger: Logger; lockTimeoutMs: number }): PassRunner {
  return async (state, ctx) => {
    ctx.log('waiting for the state directory lock');
    const lock = await acquireStateLock({ stateDir: o.stateDir, command: 'gantry serve (remote API job)', logger: o.logger, waitMs: o.lockTimeoutMs });
    try {
      const conn = await connectNodes(state, { logger: o.logger });
      try {
        ctx.log('reconcile pass');
        const res = await reconcileOnce(state, { logger: o.logger, ops: conn.ops, stateDir: o.stateDir }, { apply: true, command: 'rapi' });
        const failed = (res.report?.results ?? []).filter((r) => !r.ok).map((r) => ({ subject: r.action.subject, message: `${r.error?.code}: ${r.error?.message}` }));
        return { plan: res.after ?? res.plan, failed };
      } finally {
        await conn.close();
      }
    } finally {
      await lock.release();
    }
  };
}

/** The 400 for a change the manifests refuse: each error with the RAPI field (create) or the manifest field. */
function refusal(errors: readonly LoadError[], created: boolean): RapiHttpError {
  const lines = errors.slice(0, 10).map((e) => `${created && e.path ? rapiField(e.path) : e.path || e.file}: ${e.message}${created ? '' : ` (${path.basename(e.file)}:${e.line})`}`);
  return new RapiHttpError(400, 'Bad Request', lines.join('; '));
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await renameFile(tmp, file);
}

class FileWrites implements ChangeSink {
  constructor(private readonly o: FileWritesOptions, private readonly pass: PassRunner) {}

  /** The file a change goes to and its new text, from the files as they are now (or `over`, a file's pending text). */
  private async render(change: ManifestChange, state: DesiredState, over?: { file: string; text: string }): Promise<{ file: string; text: string; before: string | undefined }> {
    if (change.create) {
      const file = path.join(await this.instanceDir(), `${change.subject.split('/')[1]}.yaml`);
      const before = await readFile(file, 'utf8').catch(() => undefined);
      if (before !== undefined) throw bad('name', `${file} already exists`);
      return { file, text: newDocumentText(change.create), before };
    }
    const src = state.sources.get(change.subject);
    if (!src) throw new RapiHttpError(404, 'Not Found', `${change.subject} is not declared in the manifests`);
    const before = over?.file === src.file ? over.text : await readFile(src.file, 'utf8');
    const [kind, name] = change.subject.split('/') as [string, string];
    return { file: src.file, text: editDocument(before, kind, name, change.edit!), before };
  }

  private async instanceDir(): Promise<string> {
    if (this.o.instanceDir) return this.o.instanceDir;
    for (const f of this.o.files) if ((await stat(f).catch(() => undefined))?.isDirectory()) return f;
    throw bad('name', 'no directory for new instances: start gantry serve with --instance-dir DIR');
  }

  /** Render and validate with the whole set (and the change's follow-ups on top, in order); throws the 400 when the manifests would not load. */
  private async validated(change: ManifestChange, state: DesiredState): Promise<{ file: string; text: string; before: string | undefined; next: DesiredState }> {
    const r = await this.render(change, state);
    const next = await this.loads(change, r);
    if (change.create) {
      const why = placementRefusal(next, change.subject.split('/')[1]!, (await this.o.source.snapshot()).observed);
      if (why) throw bad('pnode', `${why} (name pnode/snode or make room; nothing was written)`);
    }
    let over: { file: string; text: string } = r;
    for (let step = change.then; step; step = step.then) {
      over = await this.render(step, state, over);
      await this.loads(step, over);
    }
    return { ...r, next };
  }

  private async loads(change: ManifestChange, r: { file: string; text: string }): Promise<DesiredState> {
    const { state: next, errors } = await loadDesired([...this.o.files], new Map([[r.file, r.text]]));
    if (!next) throw refusal(errors, change.create !== undefined);
    change.check?.(next);
    return next;
  }

  async submit(req: WriteRequest, change: ManifestChange): Promise<number> {
    const { state } = await this.o.source.snapshot();
    await this.validated(change, state); // the 400, before any job or file
    const user = req.user?.name ?? 'anonymous';
    return this.o.jobs.submit({ ...change.op } as never, `${change.op.OP_ID as string}(${change.subject.split('/')[1]})`, user, (ctx) => this.runJob(change, user, ctx));
  }

  private async runJob(change: ManifestChange, user: string, ctx: JobContext): Promise<null> {
    for (let step: ManifestChange | undefined = change; step; step = step.then) {
      const { state: current, errors } = await loadDesired([...this.o.files]);
      if (!current) throw new Error(`the manifests do not load now: ${errors.slice(0, 3).map((e) => `${e.file}:${e.line}: ${e.path}: ${e.message}`).join('; ')}`);
      const r = await this.validated(step, current);
      await atomicWrite(r.file, r.text);
      ctx.log(`wrote ${r.file}`);
      await this.commit(r.file, `${step.what} (remote API, user ${user})`, ctx);
      this.o.source.invalidate();
      // A change can take more than one pass (a failover's stale runtime files go on the
      // pass after the move): pass again while the subject has only pending actions left.
      for (let n = 1; ; n++) {
        const out = await this.pass(r.next, ctx);
        this.o.source.invalidate();
        if (judgePass(step, out, ctx, n < MAX_PASSES)) break;
        ctx.log(`${step.what}: actions left after pass ${n}, passing again`);
      }
    }
    return null;
  }

  private async commit(file: string, message: string, ctx: JobContext): Promise<void> {
    const dir = path.dirname(file);
    if (this.o.git === false || !(await isGitWorkTree(dir))) return;
    await gitCommitFiles(dir, [file], message, 'gantry remote API');
    ctx.log(`committed: ${message}`);
  }
}

/**
 * True when the pass left the subject in sync; false when only pending actions are left
 * and `again` allows another pass; throws its failures, refusals or what is left otherwise.
 */
export function judgePass(change: ManifestChange, out: PassOutcome, ctx: JobContext, again: boolean): boolean {
  const subject = change.judged ?? change.subject;
  const failed = out.failed.filter((f) => f.subject === subject);
  if (failed.length) throw new Error(`${change.what}: ${failed.map((f) => f.message).join('; ')}`);
  const entry = out.plan.entries.find((e) => e.subject === subject);
  if (entry && entry.status !== 'in-sync') {
    if (again && entry.refused.length === 0 && entry.actions.length > 0) return false;
    const why = [...entry.refused.map((r) => `${r.code}: ${r.message}`), ...entry.notes, ...entry.actions.map((a) => `pending ${a.verb} on ${a.node}`)].slice(0, 5).join('; ');
    throw new Error(`${change.what}: ${entry.status} after the reconcile pass${why ? `: ${why}` : ''}`);
  }
  ctx.log(`${change.what}: done`);
  return true;
}

/**
 * Whether the placement engine (hail, as the pass will run it) refuses a new instance
 * the request does not place, over the last observation; undefined when it fits, when the
 * request places it, or when nothing is observed yet (the pass decides then).
 */
export function placementRefusal(next: DesiredState, name: string, observed: ObservedCluster | undefined): string | undefined {
  if (!observed) return undefined;
  const input = toPlanInput(next);
  const inst = input.instances.find((i) => i.name === name);
  if (!inst || (inst.primary !== undefined && (inst.diskTemplate !== 'drbd' || inst.secondary !== undefined))) return undefined;
  const r = allocatorFor(next)!(input, observed)(inst);
  return 'error' in r ? r.error : undefined;
}

function instanceOf(state: DesiredState, name: string) {
  const i = state.instances.get(name);
  if (!i || i.state === 'absent') throw new RapiHttpError(404, 'Not Found', `Instance '${name}' is unknown`);
  return i;
}

function tagsOf(query: Record<string, string | string[]>): string[] {
  const t = query.tag;
  const tags = t === undefined ? [] : Array.isArray(t) ? t : [t];
  if (tags.length === 0) throw bad('tag', 'no tag given (?tag=NAME, repeatable)');
  return tags;
}

const NODE_ROLES = ['master-candidate', 'regular', 'drained', 'offline'];

/** Where the writes' changes go: manifest files (file mode) or custom resources (Kubernetes mode). */
export interface ChangeSink {
  /** Validate (the 400, before anything is written), then submit the job that writes and follows the pass; returns the job id. */
  submit(req: WriteRequest, change: ManifestChange): Promise<number>;
}

/** The RapiWrites of file mode. */
export function fileWrites(o: FileWritesOptions): RapiWrites {
  const w = new FileWrites(o, o.pass ?? sshPass({ stateDir: o.stateDir, logger: o.logger, lockTimeoutMs: o.lockTimeoutMs ?? 600_000 }));
  return writeHandlers(w, async () => (await o.source.snapshot()).state, async () => (await o.source.snapshot()).observed);
}

/** Whether any node (as last observed) holds an LV, image file or instance directory of `name`, by its name or its gantry-inst tag. */
export function holdsObjectsOf(observed: ObservedCluster, name: string): boolean {
  for (const obs of observed.nodes.values()) {
    if (obs.instances[name] !== undefined) return true;
    for (const lv of Object.values(obs.lvs)) if (instanceOfDiskLv(lv.name)?.instance === name || instanceOfLvTags(lv.tags) === name) return true;
    for (const f of Object.keys(obs.files)) if (instanceOfDiskFile(f)?.instance === name) return true;
  }
  return false;
}

/** Each RAPI write checked field by field and turned into a ManifestChange for `w` (the same in both modes). */
export function writeHandlers(w: ChangeSink, state: () => Promise<DesiredState>, observed: () => Promise<ObservedCluster | undefined>): RapiWrites {
  /** Whether a reachable node still holds an object named for `old` (undefined: nothing observed yet). */
  const pending = async (): Promise<((old: string) => boolean) | undefined> => {
    const o = await observed();
    return o ? (old) => holdsObjectsOf(o, old) : undefined;
  };
  const name = (req: WriteRequest) => req.params.name!;
  const noBody = (req: WriteRequest) => onlyKnown(asObject(req.body, 'body'), []);
  const noDryRun = (req: WriteRequest) => { if (flag(req.query, 'dry-run')) throw bad('dry-run', 'not supported: `gantry plan` shows what a change would do'); };
  /** Tags of a node, a node group or the cluster: their manifest's spec.tags. */
  const otherTags = async (req: WriteRequest, kind: 'node' | 'nodegroup' | 'cluster', add: boolean): Promise<number> => {
    onlyQuery(req.query, ['tag', 'dry-run']);
    noDryRun(req);
    const s = await state();
    const target = kind === 'cluster' ? s.cluster : kind === 'node' ? s.nodes.get(name(req)) : s.groups.get(name(req));
    if (!target) throw new RapiHttpError(404, 'Not Found', `${kind === 'node' ? 'Node' : 'Group'} '${name(req)}' is unknown`);
    const manifestKind = kind === 'cluster' ? 'Cluster' : kind === 'node' ? 'Node' : 'NodeGroup';
    const tags = tagsOf(req.query);
    const next = add ? [...new Set([...target.tags, ...tags])] : target.tags.filter((t) => !tags.includes(t));
    const what = `${add ? 'add' : 'remove'} tags ${tags.join(', ')} ${add ? 'to' : 'from'} ${kind === 'nodegroup' ? 'group' : kind} ${target.name}`;
    return w.submit(req, setTags(manifestKind, target.name, next, what, { OP_ID: add ? 'OP_TAGS_SET' : 'OP_TAGS_DEL', kind, name: kind === 'cluster' ? null : target.name, tags }));
  };
  return {
    createInstance: async (req) => { onlyQuery(req.query, []); return w.submit(req, createInstanceChange(req.body, await state())); },
    deleteInstance: async (req) => { onlyQuery(req.query, []); noBody(req); instanceOf(await state(), name(req)); return w.submit(req, remove(name(req))); },
    startup: async (req) => { onlyQuery(req.query, []); noBody(req); instanceOf(await state(), name(req)); return w.submit(req, setPower(name(req), true, 'OP_INSTANCE_STARTUP')); },
    shutdown: async (req) => { onlyQuery(req.query, []); noBody(req); instanceOf(await state(), name(req)); return w.submit(req, setPower(name(req), false, 'OP_INSTANCE_SHUTDOWN')); },
    reboot: async (req) => {
      onlyQuery(req.query, ['type']);
      if (req.query.type !== undefined && req.query.type !== 'hard') throw bad('type', 'only a hard reboot (the VM is power-cycled) is supported');
      const i = instanceOf(await state(), name(req));
      if (i.powerState !== 'running') throw bad('instance', `instance ${i.name} is stopped: start it instead`);
      return w.submit(req, reboot(i.name, i.restartGeneration));
    },
    migrate: async (req) => {
      onlyQuery(req.query, []);
      const b = asObject(req.body, 'body');
      onlyKnown(b, ['mode', 'cleanup', 'target_node', 'allow_failover']);
      const i = instanceOf(await state(), name(req));
      if (b.cleanup === true) throw bad('cleanup', 'not needed: every reconcile pass checks both sides of a migration');
      const fixed = i.disks.find((d) => d.state === 'present' && d.template !== 'sharedfile' && d.template !== 'drbd');
      if (fixed) throw bad('disk_template', `${fixed.template} disks stay on their node: only sharedfile and DRBD instances migrate (disk ${fixed.index} of ${i.name})`);
      if (b.mode !== undefined && b.mode !== i.migration.mode) throw bad('mode', `the migration mode of ${i.name} is ${i.migration.mode} (cluster/group setting); got ${JSON.stringify(b.mode)}`);
      const from = i.placement.primary;
      const target = typeof b.target_node === 'string' ? b.target_node : i.needsSecondary ? i.placement.secondary : undefined;
      if (!target) throw bad('target_node', `needed: ${i.name} has no secondary to migrate to`);
      if (target === from) throw bad('target_node', `${i.name} is already on ${target}`);
      if (i.needsSecondary && target !== i.placement.secondary) throw bad('target_node', `a DRBD instance migrates to its secondary (${i.placement.secondary ?? 'none'})`);
      const op = { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: i.name, target_node: target, ...(b.mode !== undefined ? { mode: b.mode } : {}) };
      return w.submit(req, migrate(i.name, target, i.needsSecondary ? from : undefined, op));
    },
    failover: async (req) => {
      onlyQuery(req.query, []);
      const b = asObject(req.body, 'body');
      onlyKnown(b, ['iallocator', 'ignore_consistency', 'target_node']);
      const i = instanceOf(await state(), name(req));
      if (b.ignore_consistency === true) throw bad('ignore_consistency', 'not supported: Gantry fails over only onto disks its pass finds consistent (DRBD UpToDate, shared storage reachable)');
      if (b.iallocator !== undefined) throw bad('iallocator', 'name target_node (Gantry fails a DRBD instance over to its secondary; a sharedfile instance to the node you name)');
      const fixed = i.disks.find((d) => d.state === 'present' && d.template !== 'sharedfile' && d.template !== 'drbd');
      if (fixed) throw bad('disk_template', `${fixed.template} disks stay on their node: only sharedfile and DRBD instances fail over (disk ${fixed.index} of ${i.name})`);
      const from = i.placement.primary;
      const target = b.target_node !== undefined ? String(b.target_node) : i.needsSecondary ? i.placement.secondary : undefined;
      if (!target) throw bad('target_node', `needed: ${i.name} has no secondary to fail over to`);
      if (target === from) throw bad('target_node', `${i.name} is already on ${target}`);
      if (i.needsSecondary && target !== i.placement.secondary) throw bad('target_node', `a DRBD instance fails over to its secondary (${i.placement.secondary ?? 'none'})`);
      const op = { OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: i.name, target_node: target };
      return w.submit(req, failover(i.name, target, i.needsSecondary ? from : undefined, i.powerState === 'running', op));
    },
    reinstall: async (req) => {
      onlyQuery(req.query, ['os', 'nostartup']);
      const b = asObject(req.body, 'body');
      onlyKnown(b, ['os', 'start', 'osparams']);
      const i = instanceOf(await state(), name(req));
      if (b.os !== undefined && req.query.os !== undefined) throw bad('os', 'given both as a query argument and in the body');
      const os = b.os ?? req.query.os;
      if (os !== undefined && (typeof os !== 'string' || os === '')) throw bad('os', 'expected an OS name');
      if (b.start !== undefined && typeof b.start !== 'boolean') throw bad('start', 'expected true or false');
      const start = b.start === undefined ? !flag(req.query, 'nostartup') : b.start;
      const params = b.osparams === undefined ? undefined : asObject(b.osparams, 'osparams');
      for (const [k, v] of Object.entries(params ?? {})) if (typeof v !== 'string') throw bad(`osparams.${k}`, 'expected a string');
      return w.submit(req, reinstall(i.name, i.os.generation, { ...(os !== undefined ? { os } : {}), ...(params ? { params: params as Record<string, string> } : {}), start }));
    },
    rename: async (req) => {
      onlyQuery(req.query, []);
      const b = asObject(req.body, 'body');
      onlyKnown(b, ['new_name', 'ip_check', 'name_check']);
      const s = await state();
      const i = instanceOf(s, name(req));
      if (typeof b.new_name !== 'string' || b.new_name === '') throw bad('new_name', 'expected the new instance name');
      // Gantry does not resolve or ping names (Ganeti's checks default to on only in its CLI; its client sends them when set)
      if (b.name_check === true) throw bad('name_check', 'not supported: Gantry does not resolve instance names in DNS; send false or leave it out');
      if (b.ip_check === true) throw bad('ip_check', 'not supported: Gantry does not ping the new name; send false or leave it out');
      if (b.new_name === i.name) throw bad('new_name', `${i.name} is already its name`);
      if (s.instances.has(b.new_name)) throw bad('new_name', `instance ${b.new_name} already exists`);
      // as gnt-instance rename: only a stopped instance (its disks, run directory and tap names move)
      if (i.powerState !== 'stopped') throw bad('instance', `${i.name} is running: shut it down first (a rename needs the instance stopped), then rename it`);
      if (i.renamedFrom !== undefined) {
        const left = await pending();
        if (left === undefined || left(i.renamedFrom)) throw bad('instance', `${i.name}'s rename from ${i.renamedFrom} is not carried on the nodes yet${left === undefined ? ' (no observation of the nodes to tell)' : ''}: wait for a pass to finish it, then rename again`);
      }
      return w.submit(req, renameChange(i.name, b.new_name, { OP_ID: 'OP_INSTANCE_RENAME', instance_name: i.name, new_name: b.new_name, ...(b.ip_check !== undefined ? { ip_check: b.ip_check } : {}), ...(b.name_check !== undefined ? { name_check: b.name_check } : {}) }));
    },
    modify: async (req) => {
      onlyQuery(req.query, []);
      const i = instanceOf(await state(), name(req));
      return w.submit(req, modifyInstanceChange(req.body, i));
    },
    growDisk: async (req) => {
      onlyQuery(req.query, []);
      const i = instanceOf(await state(), name(req));
      return w.submit(req, growDiskChange(req.body, i, req.params.disk!));
    },
    addTags: async (req) => {
      onlyQuery(req.query, ['tag', 'dry-run']);
      noDryRun(req);
      const i = instanceOf(await state(), name(req));
      const add = tagsOf(req.query);
      return w.submit(req, setTags('Instance', i.name, [...new Set([...i.tags, ...add])], `add tags ${add.join(', ')} to instance ${i.name}`, { OP_ID: 'OP_TAGS_SET', kind: 'instance', name: i.name, tags: add }));
    },
    removeTags: async (req) => {
      onlyQuery(req.query, ['tag', 'dry-run']);
      noDryRun(req);
      const i = instanceOf(await state(), name(req));
      const drop = tagsOf(req.query);
      return w.submit(req, setTags('Instance', i.name, i.tags.filter((t) => !drop.includes(t)), `remove tags ${drop.join(', ')} from instance ${i.name}`, { OP_ID: 'OP_TAGS_DEL', kind: 'instance', name: i.name, tags: drop }));
    },
    addNodeTags: (req) => otherTags(req, 'node', true),
    removeNodeTags: (req) => otherTags(req, 'node', false),
    addGroupTags: (req) => otherTags(req, 'nodegroup', true),
    removeGroupTags: (req) => otherTags(req, 'nodegroup', false),
    addClusterTags: (req) => otherTags(req, 'cluster', true),
    removeClusterTags: (req) => otherTags(req, 'cluster', false),
    setNodeRole: async (req) => {
      onlyQuery(req.query, ['force', 'auto-promote']);
      flag(req.query, 'force');
      if (flag(req.query, 'auto-promote')) throw bad('auto-promote', 'not supported: Gantry does not promote master candidates by itself; set the roles you want');
      if (typeof req.body !== 'string' || !NODE_ROLES.includes(req.body)) throw bad('role', `one of ${NODE_ROLES.join(', ')} (the master is not a role in Gantry), got ${JSON.stringify(req.body)}`);
      const n = (await state()).nodes.get(name(req));
      if (!n) throw new RapiHttpError(404, 'Not Found', `Node '${name(req)}' is unknown`);
      return w.submit(req, setRole(n.name, req.body));
    },
  };
}
