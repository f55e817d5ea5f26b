/**
 * Drain and evacuate (DESIGN.md, "Failure model and high availability"). Pure. A node
 * with `role: drained` takes no new instances, and its running instances leave it:
 * sharedfile (and diskless) ones live-migrate (or stop and start, per their
 * migration mode) to the node the placement engine's node-evacuate answer names, all
 * of a pass in one request. An instance whose manifest names another, undrained node
 * simply follows its manifest. Plain and file instances stay (their disks are only
 * there); each says so in the plan.
 *
 * DRBD primaries on a drained node are in the same node-evacuate request (primary-only:
 * hail's failover to the secondary, which checks its room): a running one live-migrates
 * to its secondary through dual-primary, a stopped one swaps roles (the drained side
 * demoted, the secondary promoted), only when both sides are Connected and UpToDate this
 * pass (else refused, naming the states). Its DRBD primary has then left the node and the
 * drained node holds its secondary, which a later pass replaces like any other:
 *
 * DRBD secondaries on a drained node get a new secondary from the placement engine's
 * node-evacuate answer in secondary-only mode (hail's change-secondary), all in one
 * request; the move itself is a secondary replacement (plan/drbd-replace), shown in the
 * plan before apply. Once a new secondary holds the disk's LVs it is kept in later
 * passes (the answer is not asked again), until the manifest names one. So a drained
 * node ends with no primaries and no secondaries, in two waves (passes) per DRBD primary.
 */
import type { PlanInput, PlanInstance, PlanNode, Refusal } from '../core/plan.js';
export { DEFAULT_DRAIN_MAX_PARALLEL } from '../core/plan.js';
import type { DrbdSide } from './failover.js';
import type { Allocation, AllocateFn, SecondaryAllocation } from './allocate.js';
import { failsOverByRestart } from './failover.js';
import type { InstanceLocation } from './locate.js';

/** Node names with `role: drained`. */
export function drainedNodes(input: PlanInput): Set<string> {
  return new Set(input.nodes.filter((n) => n.role === 'drained').map((n) => n.name));
}

/** Whether a node is observed in this pass (reachable now, not known only from a stale snapshot). */
export type Seen = (node: string) => boolean;
const always: Seen = () => true;

/**
 * Instances the evacuation must place: running on a drained node, movable, with no undrained
 * manifest primary. Unknown is not absent: one whose state is known only from a stale
 * snapshot (its drained node, or for DRBD its pair, not observed now) is not asked for: it
 * waits, and takes no room in the placement engine's answer from the instances that can move.
 */
export function evacuees(input: PlanInput, located: ReadonlyMap<string, InstanceLocation>, drained: ReadonlySet<string>, seen: Seen = always): string[] {
  if (drained.size === 0) return []; // no drained node: nothing to evacuate (not a walk over every instance)
  return input.instances.filter((i) => {
    const loc = located.get(i.name);
    const pinnedElsewhere = i.primary !== undefined && !drained.has(i.primary);
    if (i.state !== 'present' || pinnedElsewhere) return false;
    if (loc !== undefined && loc.waitsFor.size > 0) return false;
    if (failsOverByRestart(i)) return loc?.running !== undefined && drained.has(loc.running) && seen(loc.running);
    const home = drbdHome(i, loc);
    return drbdOnly(i) && home !== undefined && drained.has(home) && seen(home) && (i.secondary === undefined || seen(i.secondary));
  }).map((i) => i.name).sort();
}

/** Every present disk is DRBD (or diskless): the instance can move to its secondary. */
export function drbdOnly(inst: PlanInstance): boolean {
  const present = inst.disks.filter((d) => d.state === 'present');
  return inst.diskTemplate === 'drbd' && present.some((d) => d.template === 'drbd') && present.every((d) => d.template === 'drbd' || d.template === 'diskless');
}

/** Where a DRBD instance is: the node it runs on, else the one whose device is Primary, else its manifest primary when that holds its disks. */
export function drbdHome(inst: PlanInstance, loc: InstanceLocation | undefined): string | undefined {
  return loc?.running ?? loc?.drbdPrimary ?? (inst.primary !== undefined && loc?.nodes.has(inst.primary) ? inst.primary : undefined);
}

const usable = (n: string, nodes: ReadonlyMap<string, PlanNode>): boolean => {
  const role = nodes.get(n)?.role;
  return role !== undefined && role !== 'drained' && role !== 'offline';
};

/**
 * A DRBD instance placed (manifest or observation) on the drained `primary` that already
 * left it: the undrained node it runs on, else whose device is Primary (a stopped one
 * whose roles were swapped). Undefined when it has not moved (or `primary` is not drained).
 */
export function drbdMovedTo(inst: PlanInstance, primary: string, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>): string | undefined {
  if (inst.diskTemplate !== 'drbd' || nodes.get(primary)?.role !== 'drained') return undefined;
  const at = loc?.running ?? loc?.drbdPrimary;
  return at !== undefined && at !== primary && loc?.nodes.has(at) && usable(at, nodes) ? at : undefined;
}

/** The pair of a DRBD instance as a drain sees it: its primary (where it moved, if it left a drained one) and its secondary. */
export function drainedDrbdPair(inst: PlanInstance, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>): { primary?: string; secondary?: string } {
  const named = inst.primary ?? loc?.running ?? loc?.drbdPrimary;
  if (named === undefined) return {};
  const moved = drbdMovedTo(inst, named, loc, nodes);
  const primary = moved ?? named;
  const secondary = (moved === undefined ? inst.secondary : undefined) ?? observedSecondary(loc, primary, nodes);
  return { primary, ...(secondary !== undefined ? { secondary } : {}) };
}

/** Connected (no resync), UpToDate here and at the peer, for every device of the instance on `node`; else what was seen. */
function sideReady(node: string, sides: ReadonlyMap<string, readonly DrbdSide[]> | undefined, disks: readonly number[]): string | undefined {
  const list = sides?.get(node);
  if (!list) return `${node}: no DRBD device observed`;
  const bad: string[] = [];
  for (const index of disks) {
    const d = list.find((x) => x.disk === index)?.dev;
    const ok = d !== undefined && d.peer?.connection === 'Connected' && (d.peer.replication === undefined || d.peer.replication === 'Established') && d.disk === 'UpToDate' && d.peer.disk === 'UpToDate';
    if (!ok) bad.push(`disk ${index} ${d ? `${d.role ?? '?'}, ${d.disk ?? '?'}, ${d.peer ? `${d.peer.replication && d.peer.replication !== 'Established' ? d.peer.replication : d.peer.connection} (peer ${d.peer.disk ?? '?'})` : 'StandAlone'}` : 'down'}`);
  }
  return bad.length > 0 ? `${node}: ${bad.join('; ')}` : undefined;
}

export interface DrbdDrain {
  readonly primary: string;
  readonly secondary?: string;
  readonly note: string;
  readonly refusal?: Refusal;
  /** The primary moves to its secondary in this pass (live migration or role swap): its secondary is replaced in a later one. */
  readonly swap?: boolean;
}

/**
 * Why a DRBD instance placed on the drained `primary` cannot move to its secondary in this
 * pass whatever the placement engine answers (a side not observed, not running or Primary
 * there, a disk that is not DRBD, no undrained secondary, its pair not Connected and
 * UpToDate/UpToDate): the "stays" answer, with a refusal where a human must look; undefined
 * when it is ready to move (or `primary` is not drained, or it already moved).
 */
export function drbdDrainBlocked(
  inst: PlanInstance, primary: string, secondary: string | undefined, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>,
  sides: ReadonlyMap<string, readonly DrbdSide[]> | undefined, seen: Seen = always,
): DrbdDrain | undefined {
  if (inst.diskTemplate !== 'drbd' || nodes.get(primary)?.role !== 'drained' || drbdMovedTo(inst, primary, loc, nodes) !== undefined) return undefined;
  const stays = staysOn(inst, primary, secondary);
  // Unknown is not absent: a side not observed this pass has an unknown DRBD state (and room); nothing moves on it.
  const unseen = [primary, secondary].filter((n): n is string => n !== undefined && !seen(n));
  if (unseen.length > 0) return stays(`${unseen.map((n) => `${n === primary ? 'its primary' : 'its secondary'} ${n} is not observed this pass`).join(' and ')}: its DRBD state there is unknown (not a lack of room); it moves once ${unseen.length > 1 ? 'both are' : `${unseen[0]} is`} observed again`, 'DRAIN_STATE_UNKNOWN');
  const home = drbdHome(inst, loc);
  if (home !== primary) return stays(home === undefined ? 'it is neither running nor Primary anywhere observed' : `it is on ${home}, drained too`);
  if (!drbdOnly(inst)) return stays('not all its disks are DRBD (a plain or file disk exists only on this node)');
  if (secondary === undefined) return stays('it has no DRBD secondary to move to');
  if (!usable(secondary, nodes)) return stays(`its secondary ${secondary} is ${nodes.get(secondary)?.role ?? 'not declared'} too: no undrained node holds its replica (name a new placement.secondary first)`);
  const disks = inst.disks.filter((d) => d.state === 'present' && d.template === 'drbd').map((d) => d.index);
  const notReady = [sideReady(primary, sides, disks), sideReady(secondary, sides, disks)].filter((x): x is string => x !== undefined);
  if (notReady.length > 0) return stays(`its disks must be Connected and UpToDate/UpToDate on both sides; this pass sees ${notReady.join('; ')} (it moves once they are)`, 'DRAIN_DRBD_NOT_READY');
  return undefined;
}

const staysOn = (inst: PlanInstance, primary: string, secondary: string | undefined) => (why: string, code?: string): DrbdDrain => ({
  primary, ...(secondary !== undefined ? { secondary } : {}), note: `drain: ${primary} is drained but ${inst.name} stays: ${why}`,
  ...(code ? { refusal: { subject: `Instance/${inst.name}`, code, message: `drain of ${primary}: moving ${inst.name} to its DRBD secondary refused: ${why}` } } : {}),
});

/**
 * Where a DRBD instance placed on the drained `primary` goes: where it moved (if it left),
 * else to its secondary when the node-evacuate answer says so and both sides are
 * Connected and UpToDate/UpToDate; else it stays, with the reason (and a refusal when the
 * answer found no room or the disks are not ready; a note when it waits for a later wave).
 * Undefined when `primary` is not drained.
 */
export function drainDrbdPrimary(
  inst: PlanInstance, primary: string, secondary: string | undefined, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>,
  evacs: ReadonlyMap<string, Allocation>, sides: ReadonlyMap<string, readonly DrbdSide[]> | undefined, seen: Seen = always, later?: ReadonlyMap<string, string>,
): DrbdDrain | undefined {
  if (inst.diskTemplate !== 'drbd' || nodes.get(primary)?.role !== 'drained') return undefined;
  const moved = drbdMovedTo(inst, primary, loc, nodes);
  if (moved !== undefined) {
    const s = observedSecondary(loc, moved, nodes);
    return { primary: moved, ...(s !== undefined ? { secondary: s } : {}), note: `drain: ${primary} is drained; the DRBD primary of ${inst.name} is on ${moved} now${s !== undefined ? `, its secondary ${s}` : ''} (set placement.primary: ${moved} to make it so)` };
  }
  const blocked = drbdDrainBlocked(inst, primary, secondary, loc, nodes, sides, seen);
  if (blocked) return blocked;
  const stays = staysOn(inst, primary, secondary);
  const wave = later?.get(inst.name);
  if (wave !== undefined) return stays(wave);
  const ev = evacs.get(inst.name);
  if (!ev) return stays('no node-evacuate answer');
  if ('error' in ev) return stays(`no room on its secondary ${secondary}: ${ev.error}`, 'DRAIN_NO_ROOM');
  if (ev.primary !== secondary) return stays(`the node-evacuate answer names ${ev.primary}, not its secondary ${secondary}`);
  const how = loc?.running === primary
    ? (inst.runtime?.migration.mode === 'live' && inst.runtime.powerState === 'running' ? 'live migration through dual-primary' : `stopped on ${primary} and started on ${secondary} (migration mode ${inst.runtime?.migration.mode ?? 'unset'})`)
    : `primary swap (stopped): ${primary} demoted, ${secondary} promoted`;
  return {
    primary: secondary!, secondary: primary, swap: true,
    note: `drain: ${primary} is drained; ${inst.name} moves to its DRBD secondary ${secondary} (node-evacuate; ${how}); ${primary} then holds its secondary, replaced by the allocator's choice in a later pass (change-secondary)`,
  };
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
  inst: PlanInstance, primary: string, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>, evacs: ReadonlyMap<string, Allocation>, later?: ReadonlyMap<string, string>,
): { primary: string; note: string } | undefined {
  if (nodes.get(primary)?.role !== 'drained') return undefined;
  const run = loc?.running;
  if (run !== undefined && run !== primary && nodes.get(run)?.role !== 'drained') {
    return { primary: run, note: `drain: ${primary} is drained; ${inst.name} stays on ${run} where it runs (set placement.primary: ${run} to make it so)` };
  }
  if (run !== primary) return { primary, note: `drain: ${primary} is drained; ${inst.name} is not running there and is not moved` };
  const wave = later?.get(inst.name);
  if (wave !== undefined) return { primary, note: `drain: ${primary} is drained but ${inst.name} stays: ${wave}` };
  const ev = evacs.get(inst.name);
  if (ev && 'primary' in ev) return { primary: ev.primary, note: `drain: ${primary} is drained; ${inst.name} moves to ${ev.primary} (node-evacuate)` };
  if (ev) return { primary, note: `drain: ${primary} is drained but ${inst.name} stays: ${ev.error}` };
  return { primary, note: `drain: ${primary} is drained but ${inst.name} stays: its ${inst.diskTemplate} disks exist only on ${primary}` };
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
  if (![...nodes.values()].some((n) => n.role === 'drained')) return out; // no drained node: no secondary to move
  for (const i of input.instances) {
    if (i.state !== 'present' || i.diskTemplate !== 'drbd') continue;
    const loc = located.get(i.name);
    const { primary, secondary } = drainedDrbdPair(i, loc, nodes);
    if (primary === undefined || nodes.get(primary)?.role === 'drained') continue;
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
  inst: PlanInstance, primary: string, secondary: string | undefined, loc: InstanceLocation | undefined, nodes: ReadonlyMap<string, PlanNode>, evacs: ReadonlyMap<string, SecondaryAllocation>, later?: ReadonlyMap<string, string>,
): { secondary: string; note: string } | undefined {
  if (inst.diskTemplate !== 'drbd' || secondary === undefined || nodes.get(secondary)?.role !== 'drained') return undefined;
  const moved = replacing(loc, primary, secondary, nodes);
  if (moved !== undefined) return { secondary: moved, note: `drain: ${secondary} is drained; the secondary of ${inst.name} is ${moved} (set placement.secondary: ${moved} to make it so)` };
  if (!loc?.nodes.has(secondary)) return undefined; // nothing there: a new placement on a drained node is refused as such
  const wave = later?.get(inst.name);
  if (wave !== undefined) return { secondary, note: `drain: ${secondary} is drained but the secondary of ${inst.name} stays: ${wave}` };
  const ev = evacs.get(inst.name);
  if (ev && 'secondary' in ev) return { secondary: ev.secondary, note: `drain: ${secondary} is drained; the secondary of ${inst.name} moves to ${ev.secondary} (node-evacuate, change-secondary)` };
  return { secondary, note: `drain: ${secondary} is drained but the secondary of ${inst.name} stays: ${ev?.error ?? 'no node-evacuate answer'}` };
}


/** One pass's wave of a drain: who is asked to move now, who waits for a later pass and why, and each drained node's progress. */
export interface DrainWaves {
  /** Primaries for this pass's node-evacuate request (primary-only). */
  readonly primaries: string[];
  /** DRBD instances whose drained secondary gets a new one in this pass (secondary-only). */
  readonly secondaries: string[];
  /** Instance -> why it waits for a later pass. */
  readonly later: Map<string, string>;
  /** Drained node -> its progress ("12 of 80 ... moved off"), while anything movable is left there. */
  readonly progress: Map<string, string>;
}

/**
 * Caps a drain's wave: at most `max` instances leave each drained node at a time, primaries
 * first (the node must stop running guests), then secondaries, in name order. A secondary
 * replacement still under way (its new secondary resyncing, the drained one still holding
 * the disks) takes one of the node's slots until it ends: like Ganeti's node-evacuate jobs,
 * a few run at once, not eighty. Only instances ready to move take a slot (`ready`: for a
 * DRBD primary, nothing blocks its move but the placement engine's answer), so an instance
 * refused for its own reasons never holds the others back. Pure.
 */
export function drainWaves(
  input: PlanInput, located: ReadonlyMap<string, InstanceLocation>, nodes: ReadonlyMap<string, PlanNode>,
  primaries: readonly string[], secondaries: readonly string[], ready: (inst: PlanInstance, node: string) => boolean, max: number,
): DrainWaves {
  const out: DrainWaves = { primaries: [], secondaries: [], later: new Map(), progress: new Map() };
  const drained = [...nodes.values()].filter((n) => n.role === 'drained').map((n) => n.name).sort();
  if (drained.length === 0) return out;
  const byName = new Map(input.instances.map((i) => [i.name, i]));
  const taken = new Map<string, number>(drained.map((n) => [n, 0]));
  const inflight = new Map<string, number>(drained.map((n) => [n, 0]));
  const waiting = new Map<string, number>(drained.map((n) => [n, 0]));
  const movable = (i: PlanInstance) => i.state === 'present' && (failsOverByRestart(i) || drbdOnly(i));
  // Replacements under way: a DRBD secondary on a drained node with a new one already holding the disks.
  for (const i of input.instances) {
    if (i.state !== 'present' || i.diskTemplate !== 'drbd') continue;
    const loc = located.get(i.name);
    const { primary, secondary } = drainedDrbdPair(i, loc, nodes);
    if (primary === undefined || secondary === undefined || !inflight.has(secondary) || !loc?.nodes.has(secondary)) continue;
    if (replacing(loc, primary, secondary, nodes) !== undefined) inflight.set(secondary, inflight.get(secondary)! + 1);
  }
  const wave = (name: string, node: string | undefined, into: string[]) => {
    if (node === undefined || !taken.has(node)) { into.push(name); return; }
    const busy = taken.get(node)! + inflight.get(node)!;
    if (busy < max) {
      taken.set(node, taken.get(node)! + 1);
      into.push(name);
      return;
    }
    waiting.set(node, waiting.get(node)! + 1);
    out.later.set(name, `it waits for a later pass (at most ${max} instances leave ${node} at a time: Cluster spec.drain.maxParallelMoves)`);
  };
  for (const name of primaries) {
    const i = byName.get(name);
    const loc = located.get(name);
    const node = i === undefined ? undefined : failsOverByRestart(i) ? loc?.running : drbdHome(i, loc);
    if (i !== undefined && node !== undefined && !ready(i, node)) { out.primaries.push(name); continue; } // refused for its own reason: takes no slot
    wave(name, node, out.primaries);
  }
  for (const name of secondaries) {
    const i = byName.get(name);
    wave(name, i === undefined ? undefined : drainedDrbdPair(i, located.get(name), nodes).secondary, out.secondaries);
  }
  for (const node of drained) {
    let total = 0;
    let left = 0;
    for (const i of input.instances) {
      if (!movable(i)) continue;
      const loc = located.get(i.name);
      const there = loc?.running === node || loc?.nodes.has(node) === true;
      if (!there && i.primary !== node && i.secondary !== node) continue;
      total++;
      if (!there) left++;
    }
    if (left === total) continue;
    const now = taken.get(node)!;
    const busy = inflight.get(node)!;
    const parts = [`${now} leave${now === 1 ? 's' : ''} in this pass`, ...(busy > 0 ? [`${busy} secondary replacement${busy === 1 ? '' : 's'} still resyncing`] : []), ...(waiting.get(node)! > 0 ? [`${waiting.get(node)} wait for later passes`] : [])];
    out.progress.set(node, `drain: ${left}/${total} movable instances moved off ${node} (placed on it by the manifests or still there); ${parts.join(', ')} (at most ${max} at a time: Cluster spec.drain.maxParallelMoves)`);
  }
  return out;
}
