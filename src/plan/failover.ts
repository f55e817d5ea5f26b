/**
 * Automatic failover (DESIGN.md, "Failure model and high availability"). Pure. An
 * instance whose node is Dead (fenced: power off confirmed) or Offline (declared), and
 * that wants failover (Cluster or Instance spec.autoRepair.failover), leaves that node:
 * DRBD instances are promoted on their secondary when it is UpToDate (plan/drbd.ts,
 * planFailoverPromotion; drbdSurvivor below); sharedfile (and diskless) instances start on the manifest's primary when it is alive,
 * else on the allocator's choice (hail: N+1 and exclusion tags); plain and file instances
 * are lost until their node returns (their only disk is there). Once an instance has
 * failed over, the state directory's record (failovers.json) keeps it on its new node
 * while the manifest still names the old one, and marks any copy left on the old node
 * stale (stopped before anything else there).
 */
import type { FailoverRecord, ObservedCluster, PlanInput, PlanInstance } from '../core/plan.js';
import type { ObservedInstance } from '../core/observed.js';
import type { InstanceLocation } from './locate.js';

/** Nodes whose instances may be failed over: Dead (confirmed) or Offline (declared). */
export function goneNodes(input: PlanInput, observed: ObservedCluster): Set<string> {
  const out = new Set<string>();
  for (const n of input.nodes) {
    const c = observed.liveness?.get(n.name)?.condition;
    if (n.role === 'offline' || c === 'Dead' || c === 'Offline') out.add(n.name);
  }
  return out;
}

/**
 * The gone node an instance must leave: every unobservable node holding it is gone.
 * Undefined when it waits for no node, or for one that is merely Unreachable.
 */
export function goneHome(loc: InstanceLocation | undefined, gone: ReadonlySet<string>): string | undefined {
  if (!loc || loc.waitsFor.size === 0) return undefined;
  const waits = [...loc.waitsFor].sort();
  if (!waits.every((n) => gone.has(n))) return undefined;
  return loc.running !== undefined && gone.has(loc.running) ? loc.running : waits[0];
}

/**
 * DRBD: the node a failover from `gone` promotes, i.e. the other node of the pair.
 * null when `gone` is not the instance's primary (a gone secondary is waited for; the
 * primary keeps running degraded); undefined when the pair has no other node. The
 * primary is the failover record's new node, else where it was last seen running, else
 * the manifest's.
 */
export function drbdSurvivor(inst: PlanInstance, loc: InstanceLocation | undefined, gone: string, record: FailoverRecord | undefined, goneSet: ReadonlyMap<string, unknown>): string | null | undefined {
  const recorded = record && record.from === inst.primary && !goneSet.has(record.to) ? record.to : undefined;
  const current = recorded ?? loc?.running ?? inst.primary;
  if (current !== undefined && current !== gone) return null;
  const pair = [inst.primary, inst.secondary, ...[...(loc?.nodes ?? [])].sort()].filter((n): n is string => n !== undefined);
  return pair.find((n) => n !== gone && !goneSet.has(n));
}

/** Instances whose disks are all reachable from any node (sharedfile) or absent (diskless). */
export function failsOverByRestart(inst: PlanInstance): boolean {
  return inst.disks.filter((d) => d.state === 'present').every((d) => d.template === 'sharedfile' || d.template === 'diskless');
}

/** The copy last seen on the gone node, as stopped: its record (OS generation, MACs) carries over; its process is gone with the node. */
export function staleCopy(observed: ObservedCluster, node: string, instance: string): { node: string; vm: ObservedInstance } | undefined {
  const vm = observed.lastKnown?.get(node)?.instances[instance];
  if (!vm) return undefined;
  const { pid: _pid, ...rest } = vm;
  return { node, vm: { ...rest, runState: 'stopped' } };
}

/** Records to keep: the instance is still declared present, and its manifest names no primary or still the old one. */
export function keepFailoverRecords(input: PlanInput, records: ReadonlyMap<string, FailoverRecord>): Map<string, FailoverRecord> {
  const byName = new Map(input.instances.map((i) => [i.name, i]));
  const out = new Map<string, FailoverRecord>();
  for (const [name, r] of records) {
    const i = byName.get(name);
    if (i && i.state === 'present' && (i.primary === undefined || i.primary === r.from)) out.set(name, r);
  }
  return out;
}
