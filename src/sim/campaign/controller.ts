/**
 * One controller pass of the campaign: the real reconcileOnce on the simulator, through
 * NodeOps that record what the pass ran, can crash the controller between two actions,
 * and can run hooks before a given action (a second controller, a partition that starts
 * mid-pass).
 */
import type { Action } from '../../core/actions.js';
import type { ActionResult, NodeOps, ObserveRequest } from '../../core/node-ops.js';
import type { ObservedNode } from '../../core/observed.js';
import type { Fencer } from '../../core/liveness.js';
import type { Plan } from '../../core/plan.js';
import type { DesiredState } from '../../desired/model.js';
import { reconcileOnce, type IncrementalPlanner, type ReconcileResult } from '../../runtime/reconcile.js';
import { acquireStateLock, type StateLock } from '../../runtime/state-lock.js';
import { GantryError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { SimCluster } from '../cluster.js';

/** Thrown by a pass's NodeOps once the campaign crashed its controller. */
export class ControllerCrash extends Error {
  constructor(readonly afterActions: number) {
    super(`controller crashed after ${afterActions} actions (injected)`);
    this.name = 'ControllerCrash';
  }
}

/** What to do to a pass once its plan is known (so a crash or a hook lands between two of its actions). */
export interface PassArming {
  /** The controller dies when it is about to start action number `crashAfter` (0-based). */
  readonly crashAfter?: number;
  /** Run before action number k (0-based) starts; awaited. */
  readonly before?: ReadonlyMap<number, () => Promise<void>>;
}

export interface PassSpec {
  readonly name: string;
  readonly desired: DesiredState;
  /** Called with the plan before it executes. */
  readonly arm?: (plan: Plan) => PassArming;
  /** Called after every action that reached a node. */
  readonly afterAction?: (a: Action, r: ActionResult) => void;
}

export interface PassOutcome {
  readonly name: string;
  readonly plan?: Plan;
  readonly executed: readonly Action[];
  readonly results: readonly ActionResult[];
  readonly result?: ReconcileResult;
  /** Why the pass ended without a result: the injected crash, or an error the controller raised. */
  readonly error?: unknown;
  readonly crashed: boolean;
  /** Hooks whose action index the pass never reached (run after it). */
  readonly missedHooks: readonly number[];
}

export interface PassEnv {
  readonly sim: SimCluster;
  readonly stateDir: string;
  readonly logger: Logger;
  readonly now: () => Date;
  /** The controller's out-of-band power control (fencing), when the world has one. */
  readonly fencer?: Fencer;
  /** The incremental planner's memory across passes (runtime/reconcile), when the campaign plans as `gantry run` does. */
  readonly incremental?: IncrementalPlanner;
}

class Recorder {
  readonly executed: Action[] = [];
  readonly results: ActionResult[] = [];
  private started = 0;
  private crashed = false;
  readonly hooksRun = new Set<number>();
  arming: PassArming = {};

  constructor(private readonly spec: PassSpec) {}

  async run(a: Action, go: () => Promise<ActionResult>): Promise<ActionResult> {
    const k = this.started++;
    const crashAfter = this.arming.crashAfter;
    if (this.crashed || (crashAfter !== undefined && k >= crashAfter)) {
      this.crashed = true;
      throw new ControllerCrash(crashAfter ?? k);
    }
    const hook = this.arming.before?.get(k);
    if (hook !== undefined) {
      this.hooksRun.add(k);
      await hook();
    }
    const r = await go();
    this.executed.push(a);
    this.results.push(r);
    this.spec.afterAction?.(a, r);
    return r;
  }

  get didCrash(): boolean {
    return this.crashed;
  }
}

class RecordingOps implements NodeOps {
  constructor(readonly node: string, private readonly inner: NodeOps, private readonly rec: Recorder) {}
  observe(req: ObserveRequest): Promise<ObservedNode> {
    return this.inner.observe(req);
  }
  describe(a: Action): readonly (readonly string[])[] {
    return this.inner.describe(a);
  }
  run(a: Action): Promise<ActionResult> {
    return this.rec.run(a, () => this.inner.run(a));
  }
  async close(): Promise<void> {
    // The simulated nodes outlive a pass.
  }
}

/**
 * Run one apply pass of `spec` against the simulator, holding the state directory lock as
 * `gantry apply`/`run` do (a second controller meets the first one's lock: StateLockedError,
 * a deliberate refusal); never throws. A crashed controller's lock is released here: a real
 * crash leaves it to a dead pid, which the next controller takes over as stale
 * (runtime/state-lock.test.ts tests that takeover).
 */
export async function runPass(env: PassEnv, spec: PassSpec): Promise<PassOutcome> {
  const rec = new Recorder(spec);
  const ops = new Map<string, NodeOps>([...env.sim.nodes].map(([n, o]) => [n, new RecordingOps(n, o, rec)]));
  let plan: Plan | undefined;
  let result: ReconcileResult | undefined;
  let error: unknown;
  let lock: StateLock | undefined;
  try {
    lock = await acquireStateLock({ stateDir: env.stateDir, command: `campaign ${spec.name}`, logger: env.logger });
    result = await reconcileOnce(spec.desired, {
      logger: env.logger, ops, now: env.now, stateDir: env.stateDir, execute: { retries: 2, retryDelay: async () => {} },
      ...(env.fencer ? { fencer: env.fencer } : {}), ...(env.incremental ? { incremental: env.incremental } : {}),
    }, {
      apply: true, command: `campaign ${spec.name}`,
      confirm: async (p) => {
        plan = p;
        rec.arming = spec.arm?.(p) ?? {};
        return true;
      },
    });
    plan ??= result.plan;
  } catch (e) {
    error = e;
  } finally {
    await lock?.release();
  }
  const missedHooks = [...(rec.arming.before?.keys() ?? [])].filter((k) => !rec.hooksRun.has(k)).sort((a, b) => a - b);
  return {
    name: spec.name, ...(plan ? { plan } : {}), executed: rec.executed, results: rec.results, ...(result ? { result } : {}),
    ...(error !== undefined ? { error } : {}), crashed: rec.didCrash, missedHooks,
  };
}

/** An error a controller may raise on purpose (a refusal, a held lock, a corrupt state file), as opposed to a bug. */
export function isDeliberate(e: unknown): boolean {
  return e instanceof ControllerCrash || e instanceof GantryError;
}
