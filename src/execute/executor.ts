/**
 * The executor: the only place a plan's actions touch nodes. It runs waves in order;
 * within a wave each node is a lane (actions in order), lanes run in parallel. A failed
 * action skips the later actions of the same resource on the same node (they depend on
 * it) but never stops other nodes or other resources: the next plan picks up the rest.
 * Across nodes, an action runs only once every action named in its `after` succeeded
 * earlier in this execution (one running copy: a start elsewhere waits for the stop);
 * a failed or skipped dependency skips it, and the skip says which and why.
 */
import type { Logger } from '../util/log.js';
import { actionKey, type Action } from '../core/actions.js';
import type { Plan } from '../core/plan.js';
import { nodesOf } from '../plan/waves.js';
import type { ActionResult, NodeOps } from '../core/node-ops.js';

export interface ExecuteOptions {
  readonly logger: Logger;
  /** Print/collect the exact commands instead of running them. */
  readonly dryRun?: boolean;
  /** Retries of an action whose error is retryable (transport, transient exec). */
  readonly retries?: number;
  /** Delay before retry n (1-based); injected so tests need not sleep. */
  readonly retryDelay?: (attempt: number) => Promise<void>;
  /** Called after every action (progress bars, job log). */
  readonly onResult?: (r: ActionResult, done: number, total: number) => void;
  /** Max lanes running at once within a wave. */
  readonly parallelism?: number;
  /**
   * Checked before every action (and every retry): once aborted, the remaining actions
   * are skipped as "cancelled: <reason>" (e.g. the Lease was lost in Kubernetes mode).
   */
  readonly signal?: AbortSignal;
  /** The clock each result's finishedAt is read from (default: the system clock). */
  readonly now?: () => Date;
}

export interface SkippedAction {
  readonly action: Action;
  readonly because: string;
}

export interface ExecuteReport {
  readonly results: readonly ActionResult[];
  readonly skipped: readonly SkippedAction[];
  readonly ok: boolean;
  readonly durationMs: number;
}

const defaultDelay = (attempt: number) => new Promise<void>((r) => setTimeout(r, Math.min(500 * 2 ** (attempt - 1), 5000)));

export async function executePlan(plan: Plan, ops: ReadonlyMap<string, NodeOps>, opts: ExecuteOptions): Promise<ExecuteReport> {
  const started = Date.now();
  const results: ActionResult[] = [];
  const skipped: SkippedAction[] = [];
  const failedKeys = new Set<string>(); // "node\0subject" whose earlier action failed
  const outcomes = new Map<string, string | undefined>(); // actionKey -> undefined when it succeeded, else what happened
  const total = plan.actions.length;
  let done = 0;
  const retries = opts.retries ?? 2;
  const delay = opts.retryDelay ?? defaultDelay;

  const runOne = async (a: Action): Promise<void> => {
    if (opts.signal?.aborted) {
      skipped.push({ action: a, because: `cancelled: ${abortReason(opts.signal)}` });
      done++;
      return;
    }
    const keys = nodesOf(a).map((n) => `${n}\0${a.subject}`);
    const blocked = keys.find((k) => failedKeys.has(k));
    const because = blocked !== undefined ? `an earlier action for ${a.subject} on ${blocked.split('\0')[0]} failed` : unmetDependency(a, outcomes);
    if (because !== undefined) {
      skipped.push({ action: a, because });
      outcomes.set(actionKey(a), `was skipped: ${because}`);
      opts.logger.warn({ verb: a.verb, node: a.node, subject: a.subject, because }, 'action skipped');
      done++;
      return;
    }
    const nodeOps = ops.get(a.node);
    let r: ActionResult;
    if (!nodeOps) {
      r = { action: a, ok: false, unchanged: false, commands: [], durationMs: 0, error: { code: 'NO_NODE_OPS', message: `no connection to node ${a.node}`, retryable: false } };
    } else if (opts.dryRun) {
      r = { action: a, ok: true, unchanged: false, commands: nodeOps.describe(a), durationMs: 0 };
    } else {
      r = await nodeOps.run(a);
      // The retry rule (util/errors.ts): only transport and declared-transient failures.
      for (let attempt = 1; !r.ok && r.error?.retryable && attempt <= retries && !opts.signal?.aborted; attempt++) {
        opts.logger.warn({ verb: a.verb, node: a.node, subject: a.subject, attempt, code: r.error.code }, 'retrying action');
        await delay(attempt);
        if (opts.signal?.aborted) break;
        r = await nodeOps.run(a);
      }
    }
    r = { ...r, finishedAt: (opts.now ?? (() => new Date()))().toISOString() };
    if (!r.ok) keys.forEach((k) => failedKeys.add(k));
    outcomes.set(actionKey(a), r.ok ? undefined : `failed (${r.error?.code ?? 'FAILED'}: ${r.error?.message ?? 'no message'})`);
    results.push(r);
    done++;
    opts.logger.info(
      { verb: a.verb, node: a.node, subject: a.subject, ok: r.ok, unchanged: r.unchanged, durationMs: r.durationMs, dryRun: opts.dryRun ?? false, ...(r.error ? { code: r.error.code, error: r.error.message } : {}) },
      r.ok ? 'action done' : 'action failed',
    );
    opts.onResult?.(r, done, total);
  };

  for (const wave of plan.waves) {
    const lanes = new Map<string, Action[]>();
    for (const a of wave) {
      const lane = nodesOf(a).join('+');
      if (!lanes.has(lane)) lanes.set(lane, []);
      lanes.get(lane)!.push(a);
    }
    await runLimited([...lanes.values()], opts.parallelism ?? 16, async (lane) => {
      for (const a of lane) await runOne(a);
    });
  }
  return { results, skipped, ok: results.every((r) => r.ok) && skipped.length === 0, durationMs: Date.now() - started };
}

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string') return r;
  return r instanceof Error && r.name !== 'AbortError' ? r.message : 'aborted';
}

/** Why `a` may not run: a dependency in its `after` that failed, was skipped or has not run. */
function unmetDependency(a: Action, outcomes: ReadonlyMap<string, string | undefined>): string | undefined {
  for (const dep of a.after ?? []) {
    const what = outcomes.has(dep) ? outcomes.get(dep) : 'has not run before it';
    if (what !== undefined) return `${a.verb} on ${a.node} must follow ${dep}, which ${what}; not run, so that ${a.subject} never runs twice`;
  }
  return undefined;
}

async function runLimited<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
