/**
 * The fault campaign, the way FoundationDB and Jepsen test: one seed drives a small
 * simulated cluster, an operator editing its manifests, and faults (node crashes, lost
 * sshd, partitions, failing and hanging commands, controller crashes between two
 * actions, lost or corrupt state directories, two controllers at once, truncated
 * checkouts). Each step is one real reconcile pass; after every step (and for instant
 * invariants, after every action) the simulator's ground truth is checked. At the end
 * every fault heals and the loop must converge within a bounded number of passes.
 * Everything is a function of the seed: a violation replays with its seed and step.
 */
import { StateLockedError } from '../../util/errors.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Action } from '../../core/actions.js';
import { REPAIR_TYPES, type RepairType } from '../../core/plan.js';
import { FakeClock } from '../../runtime/fake-clock.js';
import { prng } from '../../util/prng.js';
import { silentLogger } from '../../util/log.js';
import { SimCluster } from '../cluster.js';
import { isDeliberate, runPass, type PassEnv, type PassOutcome, type PassSpec } from './controller.js';
import { FaultInjector, FAULT_KINDS, type FaultKind } from './faults.js';
import {
  actionsInPlan, describeAction, diskRemovals, disksOf, instantInvariants, splitBrainReported, truthOf, type Finding, type InvariantName,
} from './invariants.js';
import { EDIT_KINDS, editWorld, type EditKind } from './edits.js';
import { SHARED_DIR, World, type WorldShape } from './world.js';

export interface CampaignOptions {
  readonly seed: number;
  readonly steps: number;
  /** Chance that a step injects a new fault. Default 0.35. */
  readonly faultRate?: number;
  /** Chance that the operator edits the manifests before a step. Default 0.2. */
  readonly editRate?: number;
  /** Passes allowed to converge once every fault healed. Default 8. */
  readonly convergePasses?: number;
  /** Parent of the per-seed temporary state directory. Default the OS temp dir. */
  readonly tmpRoot?: string;
  /** Only these fault kinds (default all). */
  readonly kinds?: readonly FaultKind[];
  /** Collect a step-by-step trace (for replaying one seed). */
  readonly trace?: boolean;
  /** Fix parts of the world's shape (e.g. failover on) instead of drawing them from the seed. */
  readonly shape?: Partial<WorldShape>;
  /** How many steps a fault lasts, at least and at most. Default [1, 4]. */
  readonly faultSteps?: readonly [number, number];
  /**
   * Plan incrementally, as `gantry run` does (plan/plan-cache), and compare each plan with
   * the full plan: a difference is a controller-error violation. Default true; false: full plans only.
   */
  readonly incremental?: boolean;
}

export interface Violation {
  readonly seed: number;
  /** The step after which it was found; steps + k for the k-th convergence pass. */
  readonly step: number;
  readonly invariant: InvariantName;
  readonly detail: string;
  /** Actions run in that step (by which controller), most recent last. */
  readonly actions: readonly string[];
}

export interface CampaignResult {
  readonly seed: number;
  readonly steps: number;
  readonly passes: number;
  readonly actions: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly edits: Readonly<Record<EditKind, number>>;
  readonly violations: readonly Violation[];
  /** Passes the loop needed after the faults healed (convergePasses + 1 when it did not converge). */
  readonly convergedAfter: number;
  readonly trace: readonly string[];
  /** Fences the controller asked for (worlds with failover), and those the power control refused. */
  readonly fences: { readonly asked: number; readonly refused: number };
  /** Instances the controller started elsewhere after fencing their node. */
  readonly failovers: number;
  /** Auto-repairs (harep) planned in passes that ran actions, by type. */
  readonly repairs: Readonly<Record<RepairType, number>>;
  /** The world had Cluster autoRepair.failover on (and power control). */
  readonly failoverWorld: boolean;
  /** Incremental planning: instance parts reused from the previous plan and planned again, over every plan. */
  readonly planParts?: { readonly reused: number; readonly planned: number };
}

const BASE_TIME = Date.UTC(2026, 0, 1);

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const r = prng(opts.seed);
  const world = new World(r, opts.shape, undefined, prng(opts.seed * 7919 + 104729));
  const stateDir = await mkdtemp(path.join(opts.tmpRoot ?? tmpdir(), `gantry-campaign-${opts.seed}-`));
  const sim = new SimCluster(world.shape.nodes.map((name) => ({ name, blockDevices: { '/dev/sdb': 65_536 }, ovs: false })), { clock: new FakeClock(BASE_TIME), sharedDirs: [SHARED_DIR] });
  let step = 0;
  const violations: Violation[] = [];
  const trace: string[] = [];
  // The temporary state directory's name differs run to run: a trace names it by role, so a seed replays to the same text.
  const log = (line: string) => {
    if (opts.trace) trace.push(`step ${step}: ${line.split(stateDir).join('$STATE_DIR')}`);
  };
  const faults = new FaultInjector(r, sim, world, stateDir, opts.kinds ?? FAULT_KINDS, log, opts.faultSteps);
  const edits = Object.fromEntries(EDIT_KINDS.map((k) => [k, 0])) as Record<EditKind, number>;
  let passes = 0;
  let actions = 0;
  let failovers = 0;
  const repairs = Object.fromEntries(REPAIR_TYPES.map((t) => [t, 0])) as Record<RepairType, number>;
  let stepActions: string[] = [];

  const report = (found: readonly Finding[]) => {
    for (const f of found) {
      if (violations.some((v) => v.invariant === f.invariant && v.detail === f.detail)) continue; // one report per distinct finding
      violations.push({ seed: opts.seed, step, invariant: f.invariant, detail: f.detail, actions: stepActions.slice(-12) });
      log(`VIOLATION ${f.invariant}: ${f.detail}`);
    }
  };
  const env: PassEnv = {
    sim, stateDir, logger: silentLogger(), now: () => new Date(BASE_TIME + step * 60_000),
    ...(world.shape.failover ? { fencer: faults.fencer(report) } : {}),
    ...(opts.incremental !== false ? { incremental: { verify: true } } : {}),
  };
  const afterAction = (who: string) => (a: Action) => {
    stepActions.push(`${who}: ${describeAction(a)}`);
    report(instantInvariants(sim));
  };
  const checkPass = (o: PassOutcome) => {
    passes++;
    actions += o.executed.length;
    failovers += o.result?.failovers?.length ?? 0;
    if (o.executed.length > 0) for (const d of o.plan?.autoRepair ?? []) if (d.decision === 'repair') repairs[d.needed]++;
    for (const f of o.result?.failovers ?? []) log(`  ${o.name}: failover ${f.instance} ${f.from} -> ${f.to}`);
    log(`${o.name}: planned ${o.plan?.actions.length ?? 0}, ran ${o.executed.length}${o.crashed ? ', crashed' : ''}${o.error !== undefined && !o.crashed ? `, error ${traceError(o.error)}` : ''}`);
    if (opts.trace) {
      for (const r of o.results) log(`  ${o.name}: ${describeAction(r.action)}${r.ok ? '' : ` FAILED ${r.error?.code}`}`);
      for (const x of o.plan?.refused ?? []) log(`  ${o.name}: refused ${x.subject} ${x.code}`);
      for (const f of o.plan?.fencing ?? []) log(`  ${o.name}: ${f.fence ? 'fence' : 'hold'} ${f.node}: ${f.reason}`);
    }
    report(actionsInPlan(o.plan, o.executed, o.name));
    if (o.error !== undefined && !isDeliberate(o.error)) {
      report([{ invariant: 'controller-error', detail: `${o.name} failed with an unexpected error: ${o.error instanceof Error ? o.error.stack?.split('\n').slice(0, 3).join(' | ') : String(o.error)}` }]);
    }
  };
  const pass = async (spec: Omit<PassSpec, 'afterAction'>): Promise<PassOutcome> => {
    const o = await runPass(env, { ...spec, afterAction: afterAction(spec.name) });
    checkPass(o);
    return o;
  };

  try {
    for (step = 0; step < opts.steps; step++) {
      // A step runs on microtasks only (the simulator answers at once): let the event loop
      // turn once per step so a test runner's messages are not starved on a busy machine.
      await new Promise((resolve) => setImmediate(resolve));
      stepActions = [];
      await faults.healDue(step);
      if (r() < (opts.editRate ?? 0.2)) {
        const edit = editWorld(r, world);
        if (edit !== undefined) {
          edits[edit.kind]++;
          log(`operator edit: ${edit.kind} ${edit.what}`);
        }
      }
      if (r() < (opts.faultRate ?? 0.35)) await faults.inject(step);
      const before = disksOf(truthOf(sim), [SHARED_DIR]);
      const seenBy = faults.desiredFor(world);
      const a = await pass({ name: 'controller A', desired: seenBy, arm: (p) => faults.armPass(p, (spec) => pass(spec)) });
      await faults.afterPass(a, (spec) => pass(spec));
      report(instantInvariants(sim));
      report(diskRemovals(before, disksOf(truthOf(sim), [SHARED_DIR]), (inst) => world.removalAllowed(inst)));
    }
    await faults.healAll();
    const limit = opts.convergePasses ?? 8;
    let convergedAfter = limit + 1;
    let last: PassOutcome | undefined;
    for (let k = 0; k < limit; k++, step++) {
      stepActions = [];
      const before = disksOf(truthOf(sim), [SHARED_DIR]);
      last = await pass({ name: 'controller A', desired: world.desired() });
      report(instantInvariants(sim));
      if (last.error === undefined) report(splitBrainReported(truthOf(sim), last.result?.after ?? last.plan, (i) => world.instances.has(i) && world.instances.get(i)!.spec.state !== 'absent'));
      report(diskRemovals(before, disksOf(truthOf(sim), [SHARED_DIR]), (inst) => world.removalAllowed(inst)));
      if (last.error === undefined && (last.plan?.actions.length ?? 0) === 0) {
        convergedAfter = k;
        break;
      }
    }
    if (convergedAfter > limit) {
      const left = last?.result?.after?.actions ?? last?.plan?.actions ?? [];
      const failures = (last?.results ?? []).filter((x) => !x.ok).map((x) => `${describeAction(x.action)}: ${x.error?.code}`);
      report([{ invariant: 'converges', detail: `no empty plan within ${limit} passes after every fault healed; still planned: ${left.map((x) => `${describeAction(x)} (${x.reason})`).slice(0, 6).join('; ') || (last?.error !== undefined ? `pass error ${String(last.error)}` : 'nothing')}${failures.length ? `; failing: ${failures.slice(0, 4).join('; ')}` : ''}` }]);
    }
    return { seed: opts.seed, steps: opts.steps, passes, actions, faults: faults.counts(), edits, violations, convergedAfter, trace, fences: faults.fenceCounts(), failovers, repairs, failoverWorld: world.shape.failover, ...(env.incremental?.totals ? { planParts: env.incremental.totals } : {}) };
  } finally {
    await sim.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** Totals over many seeds, for the benchmark and the unit test. */
export interface CampaignSummary {
  readonly seeds: number;
  readonly steps: number;
  readonly passes: number;
  readonly actions: number;
  readonly faults: Record<FaultKind, number>;
  readonly edits: Record<EditKind, number>;
  readonly violations: Violation[];
  readonly notConverged: number;
  readonly fences: { asked: number; refused: number };
  readonly failovers: number;
  readonly repairs: Record<RepairType, number>;
  /** Seeds whose world had failover on. */
  readonly failoverWorlds: number;
  /** Incremental planning: instance parts reused and planned again, over every seed. */
  readonly planParts: { reused: number; planned: number };
}

export function summarize(results: readonly CampaignResult[]): CampaignSummary {
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const edits = Object.fromEntries(EDIT_KINDS.map((k) => [k, 0])) as Record<EditKind, number>;
  let steps = 0, passes = 0, actions = 0, notConverged = 0, failovers = 0, failoverWorlds = 0;
  const fences = { asked: 0, refused: 0 };
  const repairs = Object.fromEntries(REPAIR_TYPES.map((t) => [t, 0])) as Record<RepairType, number>;
  const planParts = { reused: 0, planned: 0 };
  const violations: Violation[] = [];
  for (const x of results) {
    steps += x.steps;
    passes += x.passes;
    actions += x.actions;
    for (const k of FAULT_KINDS) faults[k] += x.faults[k];
    for (const k of EDIT_KINDS) edits[k] += x.edits[k];
    violations.push(...x.violations);
    if (x.violations.some((v) => v.invariant === 'converges')) notConverged++;
    fences.asked += x.fences.asked;
    fences.refused += x.fences.refused;
    failovers += x.failovers;
    for (const t of REPAIR_TYPES) repairs[t] += x.repairs[t];
    if (x.failoverWorld) failoverWorlds++;
    planParts.reused += x.planParts?.reused ?? 0;
    planParts.planned += x.planParts?.planned ?? 0;
  }
  return { seeds: results.length, steps, passes, actions, faults, edits, violations, notConverged, fences, failovers, repairs, failoverWorlds, planParts };
}

/** An error as the trace shows it: a lock refusal by its code (its message names a temp dir, a pid and the wall clock, which differ run to run). */
function traceError(e: unknown): string {
  return e instanceof StateLockedError ? `StateLockedError ${e.code}` : String(e);
}
