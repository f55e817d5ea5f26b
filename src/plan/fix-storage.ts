/**
 * harep's fix-storage for a DRBD instance whose secondary's node is gone (Dead, its power
 * off confirmed, or `role: offline`) while its primary lives: Ganeti's `gnt-instance
 * replace-disks --new-secondary NODE` with NODE from the placement engine (node-evacuate,
 * secondary-only: hail's change-secondary). Pure. The replacement is plan/drbd-replace's
 * 8.4 sequence without the gone peer: the primary is disconnected from it and connected
 * to the new secondary, which resyncs in full from the primary; the gone node's LVs are
 * never touched (Gantry cannot see it): once it returns they are left alone beside the
 * new pair, for a human to remove. Only with the opt-in (harep's tags or
 * spec.autoRepair.repair allowing fix-storage); without it the plan only reports.
 */
import type { FailoverRecord, ObservedCluster, PlanInput, PlanInstance, PlanNode, RepairRecord } from '../core/plan.js';
import type { SecondaryAllocation } from './allocate.js';
import { drbdSurvivor, goneHome } from './failover.js';
import type { InstanceLocation } from './locate.js';

/** A DRBD instance whose secondary's node is gone: its live primary, the gone node, and the new secondary if one already holds its disks. */
export interface DeadSecondary {
  readonly primary: string;
  readonly gone: string;
  /** A live, usable node other than the pair that holds the instance's LVs: the replacement, under way or done. */
  readonly replacement?: string;
}

const usable = (n: string, nodes: ReadonlyMap<string, PlanNode>): boolean => {
  const role = nodes.get(n)?.role;
  return role !== undefined && role !== 'drained' && role !== 'offline';
};

/** The instance's secondary is on a gone node and its primary is observed: what fix-storage works from; else undefined. */
export function deadSecondary(
  inst: PlanInstance, loc: InstanceLocation | undefined, goneSet: ReadonlySet<string>, gone: ReadonlyMap<string, string>, record: FailoverRecord | undefined,
  nodes: ReadonlyMap<string, PlanNode>, observed: ObservedCluster,
): DeadSecondary | undefined {
  if (inst.diskTemplate !== 'drbd' || inst.state !== 'present') return undefined;
  const from = goneHome(loc, goneSet);
  if (from === undefined || drbdSurvivor(inst, loc, from, record, gone) !== null) return undefined;
  const primary = loc?.running ?? loc?.drbdPrimary ?? inst.primary;
  if (primary === undefined || primary === from || goneSet.has(primary) || !observed.nodes.get(primary)?.reachable) return undefined;
  const replacement = [...(loc?.nodes ?? [])].sort().find((n) => n !== primary && n !== from && !goneSet.has(n) && !loc!.waitsFor.has(n) && usable(n, nodes) && observed.nodes.get(n)?.reachable);
  return { primary, gone: from, ...(replacement !== undefined ? { replacement } : {}) };
}

/** Instances that need a new secondary from the allocator: a dead secondary, fix-storage allowed, no replacement yet. */
export function fixStorageEvacuees(
  input: PlanInput, located: ReadonlyMap<string, InstanceLocation>, goneSet: ReadonlySet<string>, gone: ReadonlyMap<string, string>,
  nodes: ReadonlyMap<string, PlanNode>, observed: ObservedCluster, allowed: (inst: PlanInstance, node: string) => boolean,
): string[] {
  if (goneSet.size === 0) return [];
  const out: string[] = [];
  for (const inst of input.instances) {
    if (inst.diskTemplate !== 'drbd') continue;
    const d = deadSecondary(inst, located.get(inst.name), goneSet, gone, input.failovers?.get(inst.name), nodes, observed);
    if (d && d.replacement === undefined && allowed(inst, d.primary)) out.push(inst.name);
  }
  return out.sort();
}

/** The secondary a fix-storage repair uses: the replacement already holding the disks, else the allocator's answer; or why none. */
export function fixStorageSecondary(inst: PlanInstance, d: DeadSecondary, answers: ReadonlyMap<string, SecondaryAllocation>): { secondary: string } | { error: string } {
  if (d.replacement !== undefined) return { secondary: d.replacement };
  const a = answers.get(inst.name);
  if (!a) return { error: 'no node-evacuate answer' };
  return a;
}

/**
 * After a fix-storage repair, the manifest may still name the old secondary: the new one is
 * kept (from the repair record) while it holds the disks; the returning node's LVs are left alone.
 */
export function repairedSecondary(inst: PlanInstance, rec: RepairRecord | undefined, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>): { secondary: string; note: string } | undefined {
  const moved = rec?.type === 'fix-storage' && rec.result === 'success' ? rec.secondary : undefined;
  if (!moved || inst.secondary !== moved.from || !loc?.nodes.has(moved.to) || !usable(moved.to, nodes)) return undefined;
  return {
    secondary: moved.to,
    note: `fix-storage replaced the secondary ${moved.from} by ${moved.to} (${rec!.last}): kept while the manifest names ${moved.from} (set placement.secondary: ${moved.to} to make it so); what ${moved.from} still holds of ${inst.name} is left alone for a human to remove`,
  };
}
