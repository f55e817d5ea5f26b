/**
 * An offline node that still answers (harep's migrate). Pure. `role: offline` is an admin's
 * word that a node is down (Ganeti's `gnt-node modify -O yes`), and Gantry fails over what
 * it held. But a node declared offline while it still runs guests is not down: starting one
 * of them elsewhere would make a second running copy (safety invariant 2). So each pass
 * probes offline nodes read-only (ObservedCluster.offlineAnswers), and an instance still
 * running on one is never failed over. With harep's `migrate` allowed (its tags or
 * spec.autoRepair.repair, at migrate or above) a sharedfile or diskless one moves live to
 * the node the allocator picks (hail: N+1, exclusion tags), or, migration mode non-live, is
 * stopped there and started there: one running copy throughout. A DRBD one (all its disks
 * DRBD) moves to its secondary by the DRBD migration path (dual-primary, QEMU migration,
 * demotion; or stop, demote, promote, start when its migration mode is not live), only
 * while both sides are Connected and UpToDate/UpToDate (plan/drbd refuses the move
 * otherwise, with the states it saw): never a promotion beside the running copy. Without
 * the opt-in it stays, reported.
 */
import type { AutoRepairDecision, ObservedCluster, PlanInput, PlanInstance } from '../core/plan.js';
import type { ObservedInstance } from '../core/observed.js';
import { repairDecision } from './autorepair.js';
import { drbdOnly } from './drain.js';
import { failsOverByRestart } from './failover.js';
import { ALIVE, type RuntimeHooks } from './instance-runtime.js';

/** The copy of `name` alive on `node` when `node` is offline and answered its probe this pass; else undefined. */
export function stillRunsOnOffline(observed: ObservedCluster, node: string, name: string): ObservedInstance | undefined {
  const o = observed.offlineAnswers?.get(node);
  const vm = o?.reachable ? o.instances[name] : undefined;
  return vm !== undefined && ALIVE.has(vm.runState) ? vm : undefined;
}

/**
 * The copy of `name` an offline node showed alive when it last answered, after it was
 * declared offline, while it does not answer now: the admin's word is contradicted by what
 * was seen, and its silence proves nothing (a lost sshd, a cut management link), so the
 * copy's state is unknown: it is not started elsewhere (unknown is not absent).
 */
export function lastSeenRunningOnOffline(observed: ObservedCluster, node: string, name: string): ObservedInstance | undefined {
  if (observed.offlineAnswers?.get(node)?.reachable) return undefined;
  const live = observed.liveness?.get(node);
  const last = observed.lastKnown?.get(node);
  if (live?.condition !== 'Offline' || live.answeredOffline !== true || last === undefined) return undefined;
  const vm = last.instances[name];
  return vm !== undefined && ALIVE.has(vm.runState) ? vm : undefined;
}

/** Whether a migrate repair can move it off (disks every node reaches, or none; or DRBD disks only, to their secondary). */
export function migratable(inst: PlanInstance): boolean {
  return inst.diskTemplate === 'drbd' ? drbdOnly(inst) : failsOverByRestart(inst);
}

/**
 * Where a DRBD instance on the offline `node` moves: its DRBD secondary, the manifest's
 * when it names one other than `node`, else the one node observed holding its disks
 * besides `node`. Undefined when there is none or more than one (never a guess).
 */
export function drbdMigrateTarget(inst: PlanInstance, node: string, holders: Iterable<string> | undefined): string | undefined {
  if (inst.secondary !== undefined && inst.secondary !== node) return inst.secondary;
  if (inst.secondary === node && inst.primary !== undefined && inst.primary !== node) return inst.primary;
  const others = [...(holders ?? [])].filter((n) => n !== node);
  return others.length === 1 ? others[0] : undefined;
}

/** Why it stays on an offline node that answered running it and is silent now. */
export function offlineSilentNote(inst: PlanInstance, node: string, vm: ObservedInstance, observed: ObservedCluster): string {
  return `${node} is offline (declared) but answered running ${inst.name} (${vm.runState}) at ${observed.lastKnown?.get(node)?.observedAt ?? '?'}, after it was declared so, and does not answer now: its state there is unknown, so ${inst.name} is not started elsewhere (a second running copy); it waits until ${node} answers again, or remove role: offline so that a silent ${node} can be fenced (power off confirmed) and failed over`;
}

/** Why it stays on the offline node, for the plan. */
export function offlineHoldNote(inst: PlanInstance, node: string, vm: ObservedInstance, decision: AutoRepairDecision | undefined): string {
  const why = `${node} is offline (declared) but still answers and runs ${inst.name} (${vm.runState}): a failover would start a second running copy, so none is made`;
  if (decision) return `${why}; ${decision.message}`;
  return migratable(inst)
    ? `${why}; it stays there until it stops, its node is drained instead (role: drained moves it ${inst.diskTemplate === 'drbd' ? 'to its DRBD secondary' : 'live'}), or harep's migrate is allowed (ganeti:watcher:autorepair:migrate or spec.autoRepair.repair: migrate)`
    : `${why}; it stays there until it stops: its ${inst.diskTemplate} disks exist only on ${node}`;
}

/** The auto-repair decision for an instance still running on an offline node: it needs harep's migrate. */
export function offlineMigrateDecision(input: PlanInput, inst: PlanInstance, node: string): AutoRepairDecision | undefined {
  return repairDecision(input, inst, 'migrate', node, `${node} is offline but still runs ${inst.name}`, (type) => {
    if (type !== 'migrate') return 'only a migrate repair applies';
    if (!migratable(inst)) return `its ${inst.diskTemplate === 'drbd' ? 'disks are not all DRBD (a plain or file disk exists' : `${inst.diskTemplate} disks exist`} only on ${node}: nothing else can run it`;
    return undefined;
  });
}

/** The observation and runtime hooks a migration off the offline `node` is planned with: the node's probe as its source. */
export function withOfflineSource(observed: ObservedCluster, hooks: RuntimeHooks, node: string, name: string, vm: ObservedInstance): { observed: ObservedCluster; hooks: RuntimeHooks } {
  const probe = observed.offlineAnswers!.get(node)!;
  const copies = new Map(hooks.copies);
  copies.set(name, [...(hooks.copies.get(name) ?? []).filter((c) => c.node !== node), { node, vm }]);
  return { observed: { ...observed, nodes: new Map([...observed.nodes, [node, probe]]) }, hooks: { ...hooks, copies } };
}
