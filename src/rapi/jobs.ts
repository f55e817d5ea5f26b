/**
 * Jobs as Ganeti's RAPI shows them (/2/jobs, /2/jobs/[id], /2/jobs/[id]/wait): integer
 * ids, one opcode each, status queued -> running -> success | error, log entries with a
 * serial. Jobs run one at a time in submission order (one writer: each one edits the
 * manifests and runs a reconcile pass). Kept in memory; the newest `keep` finished jobs
 * are remembered.
 */
import { EventEmitter } from 'node:events';
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

  constructor(private readonly opts: { now?: () => number; keep?: number } = {}) {
    this.changes.setMaxListeners(0);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Queue a job; it runs after the jobs before it. Returns its id. */
  submit(op: RapiObject, summary: string, user: string, work: JobWork): number {
    const job: Job = { id: this.nextId++, op, summary, user, status: 'queued', result: null, log: [], receivedTs: ts(this.now()), startTs: null, endTs: null };
    this.jobs.set(job.id, job);
    this.prune();
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
