/**
 * Drain and evacuate (DESIGN.md, "Failure model and high availability"). Pure. A node
 * with `role: drained` takes no new instances, and its running instances leave it:
 * sharedfile (and diskless) ones live-migrate (or stop and start, per their
 * migration mode) to the node the placement engine's node-evacuate answer names, all
 * of a pass in one request. An instance whose manifest names another, undrained node
 * simply follows its manifest. Plain and file instances stay (their disks are only
 * there), DRBD primaries stay (moving them off is not done yet); each says so in the plan.
 *
 * DRBD secondaries on a drained node get a new secondary from the placement engine's
 * node-evacuate answer in secondary-only mode (hail's change-secondary), all in one
 * request; the move itself is a secondary replacement (plan/drbd-replace), shown in the
 * plan before apply. Once a new secondary holds the disk's LVs it is kept in later
 * passes (the answer is not asked again), until the manifest names one.
 */
import type { PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import type { Allocation, AllocateFn, SecondaryAllocation } from './allocate.js';
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
    ? 'moving a DRBD primary off a drained node (to its secondary) is not done by this release; DRBD secondaries on it are replaced'
    : `its ${inst.diskTemplate} disks exist only on ${primary}`;
  return { primary, note: `drain: ${primary} is drained but ${inst.name} stays: ${why}` };
}

/** The DRBD secondary seen in observation: a node other than the primary holding the instance, undrained ones first, then by name. */
export function observedSecondary(loc: InstanceLocation | undefined, primary: string, nodes: ReadonlyMap<string, PlanNode>): string | undefined {
  const rank = (n: string) => (nodes.get(n)?.role === 'drained' ? 1 : 0);
  return [...(loc?.nodes ?? [])].filter((n) => n !== primary).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))[0];
}

/** A node other than the pair, undrained, that already holds the instance: a secondary replacement under way. */
function replacing(loc: InstanceLocation | undefined, primary: string, secondary: string, nodes: ReadonlyMap<string, PlanNode>): string | undefined {
  return [...(loc?.nodes ?? [])].sort().find((n) => n !== primary && n !== secondary && (nodes.get(n)?.role ?? 'offline') !== 'drained' && nodes.get(n)?.role !== 'offline');
}

/**
 * DRBD instances whose secondary (the manifest's, else the observed one) is on a drained
 * node and still holds the disks there, with an undrained primary and no replacement under
 * way: they ask the placement engine for a new secondary.
 */
export function secondaryEvacuees(input: PlanInput, located: ReadonlyMap<string, InstanceLocation>, nodes: ReadonlyMap<string, PlanNode>): string[] {
  const out: string[] = [];
  for (const i of input.instances) {
    if (i.state !== 'present' || i.diskTemplate !== 'drbd') continue;
    const loc = located.get(i.name);
    const primary = i.primary ?? loc?.running;
    if (primary === undefined || nodes.get(primary)?.role === 'drained') continue;
    const secondary = i.secondary ?? observedSecondary(loc, primary, nodes);
    if (secondary === undefined || nodes.get(secondary)?.role !== 'drained' || !loc?.nodes.has(secondary)) continue;
    if (replacing(loc, primary, secondary, nodes) === undefined) out.push(i.name);
  }
  return out.sort();
}

/** The change-secondary answers for `names` (one request). */
export function evacuateSecondariesAll(names: readonly string[], allocator: AllocateFn | undefined): ReadonlyMap<string, SecondaryAllocation> {
  if (names.length === 0) return new Map();
  if (!allocator?.evacuateSecondaries) return new Map(names.map((n) => [n, { error: 'no allocator configured to evacuate drained nodes' }]));
  return allocator.evacuateSecondaries(names);
}

/** Where the secondary of a DRBD instance whose secondary is on a drained node goes, with the reason; undefined when not drained. */
export function drainSecondary(
  inst: PlanInstance, primary: string, secondary: string | undefined, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>, evacs: ReadonlyMap<string, SecondaryAllocation>,
): { secondary: string; note: string } | undefined {
  if (inst.diskTemplate !== 'drbd' || secondary === undefined || nodes.get(secondary)?.role !== 'drained') return undefined;
  const moved = replacing(loc, primary, secondary, nodes);
  if (moved !== undefined) return { secondary: moved, note: `drain: ${secondary} is drained; the secondary of ${inst.name} is ${moved} (set placement.secondary: ${moved} to make it so)` };
  if (!loc?.nodes.has(secondary)) return undefined; // nothing there: a new placement on a drained node is refused as such
  const ev = evacs.get(inst.name);
  if (ev && 'secondary' in ev) return { secondary: ev.secondary, note: `drain: ${secondary} is drained; the secondary of ${inst.name} moves to ${ev.secondary} (node-evacuate, change-secondary)` };
  return { secondary, note: `drain: ${secondary} is drained but the secondary of ${inst.name} stays: ${ev?.error ?? 'no node-evacuate answer'}` };
}
