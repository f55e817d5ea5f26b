/**
 * Drain and evacuate (DESIGN.md, "Failure model and high availability"). Pure. A node
 * with `role: drained` takes no new instances, and its running instances leave it:
 * sharedfile (and diskless) ones live-migrate (or stop and start, per their
 * migration mode) to the node the placement engine's node-evacuate answer names, all
 * of a pass in one request. An instance whose manifest names another, undrained node
 * simply follows its manifest. Plain and file instances stay (their disks are only
 * there), DRBD ones wait for DRBD evacuation; each says so in the plan.
 */
import type { PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import type { Allocation, AllocateFn } from './allocate.js';
import { failsOverByRestart } from './failover.js';
import type { InstanceLocation } from './locate.js';

/** Node names with `role: drained`. */
export function drainedNodes(input: PlanInput): Set<string> {
  return new Set(input.nodes.filter((n) => n.role === 'drained').map((n) => n.name));
}

/** Instances the evacuation must place: running on a drained node, movable, with no undrained manifest primary. */
export function evacuees(input: PlanInput, located: ReadonlyMap<string, InstanceLocation>, drained: ReadonlySet<string>): string[] {
  return input.instances.filter((i) => {
    const run = located.get(i.name)?.running;
    const pinnedElsewhere = i.primary !== undefined && !drained.has(i.primary);
    return i.state === 'present' && run !== undefined && drained.has(run) && !pinnedElsewhere && failsOverByRestart(i);
  }).map((i) => i.name).sort();
}

/** The node-evacuate answers for `names` (empty when there is nothing to evacuate or no evacuating allocator). */
export function evacuateAll(names: readonly string[], allocator: AllocateFn | undefined): ReadonlyMap<string, Allocation> {
  if (names.length === 0) return new Map();
  if (!allocator?.evacuate) return new Map(names.map((n) => [n, { error: 'no allocator configured to evacuate drained nodes' }]));
  return allocator.evacuate(names);
}

/**
 * Where an instance placed on a drained node goes: where it already runs (if it left),
 * the evacuation's answer (if it runs there), else it stays, with the reason.
 */
export function drainPlacement(
  inst: PlanInstance, primary: string, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>, evacs: ReadonlyMap<string, Allocation>,
): { primary: string; note: string } | undefined {
  if (nodes.get(primary)?.role !== 'drained') return undefined;
  const run = loc?.running;
  if (run !== undefined && run !== primary && nodes.get(run)?.role !== 'drained') {
    return { primary: run, note: `drain: ${primary} is drained; ${inst.name} stays on ${run} where it runs (set placement.primary: ${run} to make it so)` };
  }
  if (run !== primary) return { primary, note: `drain: ${primary} is drained; ${inst.name} is not running there and is not moved` };
  const ev = evacs.get(inst.name);
  if (ev && 'primary' in ev) return { primary: ev.primary, note: `drain: ${primary} is drained; ${inst.name} moves to ${ev.primary} (node-evacuate)` };
  if (ev) return { primary, note: `drain: ${primary} is drained but ${inst.name} stays: ${ev.error}` };
  const why = inst.diskTemplate === 'drbd'
    ? 'DRBD evacuation (failover to the secondary, secondary replacement) is not done by this release'
    : `its ${inst.diskTemplate} disks exist only on ${primary}`;
  return { primary, note: `drain: ${primary} is drained but ${inst.name} stays: ${why}` };
}
