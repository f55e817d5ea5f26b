/**
 * Jobs as Ganeti's RAPI shows them (/2/jobs, /2/jobs/[id], /2/jobs/[id]/wait): integer
 * ids, one opcode each, status queued -> running -> success | error, log entries with a
 * serial. Jobs run one at a time in submission order (one writer: each one edits the
 * manifests and runs a reconcile pass). The newest `keep` finished jobs are remembered;
 * with a `file` (STATE_DIR/rapi/jobs.json) they are saved on every change and read back
 * by JobQueue.open, so ids keep counting and finished jobs stay visible across a restart.
 * A job the restart interrupted (queued or running) is reported as an error saying so,
 * never as running: its work is gone with the old process.
 */
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../util/log.js';
import type { Json, RapiObject } from './view.js';

export type JobStatus = 'queued' | 'running' | 'success' | 'error';

export const FINAL: ReadonlySet<JobStatus> = new Set(['success', 'error']);

/** [seconds, microseconds], Ganeti's timestamp shape. */
type Ts = [number, number];

export interface Job {
  readonly id: number;
  /** The opcode as Ganeti names it, e.g. {OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web1'}. */
  readonly op: RapiObject;
  readonly summary: string;
  readonly user: string;
  status: JobStatus;
  result: Json;
  /** [serial, timestamp, type, message] */
  readonly log: [number, Ts, string, string][];
  readonly receivedTs: Ts;
  startTs: Ts | null;
  endTs: Ts | null;
}

export interface JobContext {
  log(message: string): void;
}

/** What a job does; its return value is the opcode result, a throw its error. */
export type JobWork = (ctx: JobContext) => Promise<Json>;

const ts = (ms: number): Ts => [Math.floor(ms / 1000), (ms % 1000) * 1000];

export class JobQueue {
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private logSerial = 0;
  private tail: Promise<void> = Promise.resolve();
  private readonly changes = new EventEmitter();

  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly opts: { now?: () => number; keep?: number; file?: string; logger?: Logger } = {}) {
    this.changes.setMaxListeners(0);
  }

  /** A queue saved to `file`, with the jobs a previous server saved there. */
  static async open(file: string, opts: { now?: () => number; keep?: number; logger?: Logger } = {}): Promise<JobQueue> {
    const q = new JobQueue({ ...opts, file });
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => { if (e.code === 'ENOENT') return undefined; throw e; });
    if (text === undefined) return q;
    const saved = JSON.parse(text) as { nextId: number; logSerial: number; jobs: Job[] };
    q.nextId = saved.nextId;
    q.logSerial = saved.logSerial;
    for (const j of saved.jobs) {
      if (!FINAL.has(j.status)) {
        const msg = 'gantry serve restarted before this job finished: check the instance and submit it again';
        j.log.push([++q.logSerial, ts(q.now()), 'message', `error: ${msg}`]);
        Object.assign(j, { status: 'error', result: ['OpExecError', [msg]], endTs: ts(q.now()) });
      }
      q.jobs.set(j.id, j);
    }
    q.save();
    return q;
  }

  /** Writes the jobs to the file (atomically, one write at a time, in order). */
  private save(): void {
    const file = this.opts.file;
    if (!file) return;
    const body = JSON.stringify({ nextId: this.nextId, logSerial: this.logSerial, jobs: [...this.jobs.values()] });
    this.saving = this.saving.then(async () => {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, body, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    }).catch((err: unknown) => { this.opts.logger?.error({ err, file }, 'remote API jobs not saved: they will not survive a restart'); });
  }

  /** Resolves when the last save has been written. */
  async flushed(): Promise<void> {
    await this.saving;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Queue a job; it runs after the jobs before it. Returns its id. */
  submit(op: RapiObject, summary: string, user: string, work: JobWork): number {
    const job: Job = { id: this.nextId++, op, summary, user, status: 'queued', result: null, log: [], receivedTs: ts(this.now()), startTs: null, endTs: null };
    this.jobs.set(job.id, job);
    this.prune();
    this.save();
    this.tail = this.tail.then(() => this.run(job, work));
    return job.id;
  }

  private async run(job: Job, work: JobWork): Promise<void> {
    job.status = 'running';
    job.startTs = ts(this.now());
    this.changed(job);
    const ctx: JobContext = { log: (message) => { job.log.push([++this.logSerial, ts(this.now()), 'message', message]); this.changed(job); } };
    try {
      job.result = await work(ctx);
      job.status = 'success';
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const code = (e as { code?: unknown }).code;
      job.log.push([++this.logSerial, ts(this.now()), 'message', `error: ${msg}`]);
      job.result = [typeof code === 'string' ? code : 'OpExecError', [msg]];
      job.status = 'error';
    }
    job.endTs = ts(this.now());
    this.changed(job);
  }

  private changed(job: Job): void {
    this.save();
    this.changes.emit(String(job.id));
  }

  private prune(): void {
    const keep = this.opts.keep ?? 1000;
    if (this.jobs.size <= keep) return;
    for (const j of this.jobs.values()) {
      if (this.jobs.size <= keep) break;
      if (FINAL.has(j.status)) this.jobs.delete(j.id);
    }
  }

  get(id: number): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  /** Resolves when the job changes (status or log) or after timeoutMs; true when it changed. */
  waitForChange(id: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (changed: boolean) => { clearTimeout(timer); this.changes.off(String(id), onChange); resolve(changed); };
      const onChange = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.changes.on(String(id), onChange);
    });
  }

  /** Resolves once every job submitted so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    let t;
    do { t = this.tail; await t; } while (t !== this.tail);
  }
}

/** A job in /2/jobs/[id] shape (all fields Ganeti documents for it). */
export function jobJson(j: Job): RapiObject {
  return {
    id: j.id, ops: [j.op], status: j.status, summary: [j.summary],
    opstatus: [j.status === 'queued' ? 'queued' : j.status],
    opresult: [j.result], oplog: [j.log as unknown as Json],
    received_ts: j.receivedTs, start_ts: j.startTs, end_ts: j.endTs,
  };
}

/** The fields a client may ask /2/jobs/[id]/wait for. */
export const JOB_FIELDS: ReadonlySet<string> = new Set(['id', 'ops', 'status', 'summary', 'opstatus', 'opresult', 'oplog', 'received_ts', 'start_ts', 'end_ts']);
