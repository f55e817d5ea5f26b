/**
 * The planner: plan(desired, observed) -> Plan. Pure: no I/O, no clock, no randomness.
 * Every pass recomputes the whole difference (level-triggered), so a plan made after a
 * partial or failed apply picks up exactly what is still missing.
 */
import { actionKey, type Action, type DrbdMigrationDisk } from '../core/actions.js';
import { activationsForInstall, planDeleteInstanceDisks, planDiskConversions, planInstanceDisks } from './disks.js';
import { planNodeProfile } from './node-profile.js';
import { buildWaves, orderActions } from './waves.js';
import type { AutoRepairDecision, FailoverRecord, RepairType, FieldDiff, NodeWait, ObservedCluster, Plan, PlanEntry, PlanDisk, PlanInput, PlanInstance, PlanNode, PlannedFailover, Refusal, WatcherDecision } from '../core/plan.js';
import { ALIVE, diskDevice, indexCopies, MAY_RUN, planInstanceRuntime, runDirOf, statusOf, type RuntimeHooks, type RuntimePlan } from './instance-runtime.js';
import { planOnlineResize, type WantedDrive } from './online-resize.js';
import { planRoutedDrift, refuseUnroutable, routedTapIndex, routedWants, type RoutedDrift, type RoutedTapIndex } from './routed.js';
import { drbdPrimaries, drbdSidesByInstance, drbdStaleness, drbdSurvivor, failsOverByRestart, goneHome, goneNodes, leftBehindCopy, observedDrbdSecondary, staleCopy } from './failover.js';
import { volumesOf } from './disks.js';
import { allocateNics, type NicAllocation } from './nics.js';
import { blindNodes, describeWait, localFileDirs, locateInstances, lvFacts, type BlindNode, type InstanceLocation } from './locate.js';
import type { AllocateFn } from './allocate.js';
import { refuseUnsupported } from './unsupported.js';
import { VncAllocator } from './vnc.js';
import { planOrphans } from './orphans.js';
import { planRename } from './rename.js';
import { planFencing, wantsFailover } from './fencing.js';
import { DEFAULT_DRAIN_MAX_PARALLEL, drainDrbdPrimary, drainPlacement, drainSecondary, drainWaves, drainedNodes, drbdDrainBlocked, evacuateAll, evacuateSecondariesAll, evacuees, observedSecondary, secondaryEvacuees } from './drain.js';
import { describeLiveness } from '../observe/liveness.js';
import { DEFAULT_LIVENESS } from '../core/liveness.js';
import { DrbdAllocator, type DrbdAllocResult, type DrbdDiskAlloc } from './drbd-alloc.js';
import type { Allocation, SecondaryAllocation } from './allocate.js';
import { changedKeys, digestNodes, drbdRecordsKey, emptySlice, Fingerprints, lvFactsReusing, ReadRecorder, TrackedMap, TrackedNodes, TrackedSet, type CachedInstance, type DerivedMaps, type InstanceSlice, type PlanCache, type PlanCacheStats } from './plan-cache.js';
import { diskIndexFingerprint } from './disks.js';
import { drbdAddr, planDrbdDisk, type DrbdDiskInput, type DrbdDiskPlan, type LinkPeer } from './drbd.js';
import { drbd9PairIds, drbdNodeIdTag, isDrbd9Node } from './drbd9.js';
import { formerReplicas, goneReplica, planDrbdToPlain, planPlainToDrbd, planReplaceSecondary } from './drbd-replace.js';
import { diskLvName, diskMetaLvName, drbdTags, REINSTALL_LV_TAG } from './naming.js';
import { planNPlusOne } from './n-plus-one.js';
import { watcherPaused } from './watcher.js';
import { repairAllowed, repairDecision } from './autorepair.js';
import { deadSecondary, fixStorageEvacuees, fixStorageSecondary, repairedSecondary } from './fix-storage.js';
import { halfMadeOn, halfMadeReinstall, leftoverReinstallMarks, reinstallUntags, strayReinstallMarks } from './reinstall.js';
import { drbdMigrateTarget, lastSeenRunningOnOffline, offlineHoldNote, offlineMigrateDecision, offlineSilentNote, stillRunsOnOffline, withOfflineSource } from './offline-migrate.js';

export type { ObservedCluster, Plan } from '../core/plan.js';

export interface PlanOptions {
  /** Makes the allocator that chooses a primary (and secondary) for instances the manifests do not place (see plan/allocate). */
  readonly allocator?: (input: PlanInput, observed: ObservedCluster, located?: ReadonlyMap<string, InstanceLocation>) => AllocateFn;
}

export interface Placement {
  readonly primary: string;
  readonly secondary?: string;
}

export { locateInstances } from './locate.js';
export type { PlanCache, PlanCacheStats } from './plan-cache.js';

/** localeCompare's order (the default locale's collation), without building a collator per comparison. */
const collate = new Intl.Collator().compare;

/**
 * Unknown is not absent: why an instance must wait for (or may be on) a node that cannot
 * be observed now, or undefined when every node that may hold it is observed.
 */
export function instanceWait(inst: PlanInstance, loc: InstanceLocation | undefined, blind: ReadonlyMap<string, BlindNode>, unknown: readonly BlindNode[] = [...blind.values()].filter((b) => !b.last)): { refusal?: Refusal; note: string } | undefined {
  const subject = `Instance/${inst.name}`;
  if (loc && loc.waitsFor.size > 0) {
    const where = [...loc.waitsFor].sort().map((n) => blind.get(n)).filter((b): b is BlindNode => b !== undefined);
    const ran = loc.running !== undefined && loc.waitsFor.has(loc.running) ? `last seen running on ${loc.running}` : `last seen on ${[...loc.waitsFor].sort().join(', ')}`;
    return { note: `waits for ${where.map(describeWait).join('; ')}: ${ran}; nothing of it is moved, re-created or started elsewhere until the node is observed again` };
  }
  if (unknown.length === 0) return undefined;
  if (loc && loc.nodes.size > 0) {
    // Found on observed nodes but running on none of them, while a node with no known past is
    // out of sight: it may run there (a state directory lost beside a partition). Starting it
    // here could make a second running copy, so it waits; anything else of it may go on.
    if (loc.running !== undefined || inst.runtime?.powerState !== 'running') return undefined;
    return { note: `runs on no observed node (seen on ${[...loc.nodes].sort().join(', ')}, not running), and ${unknown.map(describeWait).join('; ')} (state directory lost?): it may run there; it is not started until that node is observed again` };
  }
  const message = `${inst.name} is on no observed node, and ${unknown.map(describeWait).join('; ')} (state directory lost?): it may be there. Gantry will not create or allocate it elsewhere and risk a second copy; bring the node back, or remove it from the manifests.`;
  return { refusal: { subject, code: 'NODE_UNKNOWN', message }, note: `may be on ${unknown.map((b) => b.node).join(', ')}` };
}

/** The incremental planner's answer: the plan, the cache for the next pass, and how the cache was used. */
export interface IncrementalPlan {
  readonly plan: Plan;
  readonly cache: PlanCache;
  readonly stats: PlanCacheStats;
}

export function plan(input: PlanInput, observed: ObservedCluster, opts: PlanOptions = {}): Plan {
  return planPass(input, observed, opts, undefined, false).plan;
}

/**
 * plan() that reuses each instance's part of the previous pass when nothing it read has
 * changed (plan/plan-cache): (desired, observed, previous cache) -> (plan, cache). The plan
 * is the one plan() makes (the fault campaign and bench:plan compare their hashes); with
 * no cache (the first pass) it is a full plan that records what each instance read.
 */
export function planIncremental(input: PlanInput, observed: ObservedCluster, cache: PlanCache | undefined, opts: PlanOptions = {}): IncrementalPlan {
  return planPass(input, observed, opts, cache, true);
}

/** The instance pass's shared inputs, as each instance's planning sees them (tracked: plan/plan-cache). */
interface InstanceCtx {
  readonly input: PlanInput;
  readonly observed: ObservedCluster;
  readonly nodes: ReadonlyMap<string, PlanNode>;
  readonly located: ReadonlyMap<string, InstanceLocation>;
  readonly blind: ReadonlyMap<string, BlindNode>;
  readonly unknownBlind: readonly BlindNode[];
  readonly waits: ReadonlyMap<string, string[]>;
  readonly nics: ReadonlyMap<string, readonly NicAllocation[]>;
  readonly gone: ReadonlyMap<string, string>;
  readonly goneSet: ReadonlySet<string>;
  readonly rebooted: ReadonlySet<string>;
  readonly drbdSides: ReturnType<typeof drbdSidesByInstance> extends Map<string, infer V> ? ReadonlyMap<string, V> : never;
  readonly evacs: ReadonlyMap<string, Allocation>;
  readonly secondaryEvacs: ReadonlyMap<string, SecondaryAllocation>;
  readonly fixEvacs: ReadonlyMap<string, SecondaryAllocation>;
  readonly hooks: RuntimeHooks;
  readonly drbdAlloc: DrbdAllocator;
  readonly drbdAllocs: Map<string, Map<number, DrbdDiskAlloc>>;
  readonly vnc: VncAllocator;
  readonly promotedMiB: Map<string, number>;
  readonly getAllocator: () => AllocateFn;
  readonly promotionRoom: (target: string, needMiB: number) => string | undefined;
  readonly timeline: (node: string) => { detected?: string; fenced?: string };
  readonly tapIndex: () => RoutedTapIndex;
  /** Observed now (reachable). */
  readonly seen: (node: string) => boolean;
  /** Drain waves: instances that wait for a later wave, with the reason. */
  readonly drainLater: ReadonlyMap<string, string>;
}

function planPass(input: PlanInput, observed: ObservedCluster, opts: PlanOptions, cache: PlanCache | undefined, track: boolean): IncrementalPlan {
  const nodes = new Map<string, PlanNode>(input.nodes.map((n) => [n.name, n]));
  const entries: PlanEntry[] = [];
  const allActions: Action[] = [];
  const refused: Refusal[] = [];
  const unreachable: string[] = [];

  const addEntry = (subject: string, diffs: FieldDiff[], actions: Action[], refs: Refusal[], notes: string[], isUnreachable = false) => {
    const status = isUnreachable ? 'unreachable' : refs.length > 0 ? 'refused' : diffs.length > 0 || actions.length > 0 ? 'drift' : 'in-sync';
    entries.push({ subject, status, diffs, actions: orderActions(actions), refused: refs, notes });
    allActions.push(...actions);
    refused.push(...refs);
  };


  // Nodes rebooted since the last pass (boot ID changed): their disks are re-activated with that reason.
  const rebooted = new Set(input.nodes.filter((n) => observed.nodes.get(n.name)?.reachable && rebootNote(input, n.name, observed.nodes.get(n.name)?.facts.bootId) !== undefined).map((n) => n.name));

  // ---- nodes ----
  for (const node of input.nodes) {
    const obs = observed.nodes.get(node.name);
    const live = observed.liveness?.get(node.name);
    const condition = live ? [describeLiveness(live, input.cluster.liveness ?? DEFAULT_LIVENESS)] : [];
    if (node.role === 'offline') {
      const answers = observed.offlineAnswers?.get(node.name)?.reachable === true;
      addEntry(`Node/${node.name}`, [], [], [], [answers ? 'node is offline but still answers its (read-only) probe: not changed; a guest still running there is not failed over (only moved off live, with harep\'s migrate)' : 'node is offline: not observed, not changed', ...condition]);
      continue;
    }
    if (!obs || !obs.reachable) {
      unreachable.push(node.name);
      const last = observed.lastKnown?.get(node.name);
      const held = last ? `last observed ${last.observedAt}: what it held then stays reserved` : 'no earlier observation is kept: instances seen nowhere else are not created elsewhere';
      addEntry(`Node/${node.name}`, [], [], [], [`unreachable: ${obs?.error ?? 'not observed'}; its changes wait for the next pass`, ...condition, held], true);
      continue;
    }
    const p = planNodeProfile(node, obs);
    const boot = rebootNote(input, node.name, obs.facts.bootId);
    addEntry(`Node/${node.name}`, p.diffs, p.actions, [], [...p.notes, ...(boot ? [boot] : []), ...obs.probeErrors.map((e) => `probe: ${e}`)]);
  }

  // ---- instances ----
  const blind = blindNodes(input.nodes, observed);
  const waits = new Map([...blind.keys()].map((n) => [n, [] as string[]]));
  // Every LV's tags, read once for the passes that need them all (locate, DRBD allocation, orphans).
  // The incremental planner digests each node's snapshot first and keeps the facts of nodes whose digest did not change.
  const digests = track ? digestNodes(observed, cache) : undefined;
  const lv = digests ? lvFactsReusing(observed, digests, cache) : undefined;
  const facts = lv?.facts ?? lvFacts(observed);
  const located = locateInstances(observed, localFileDirs(input.nodes), facts);
  const nicAlloc = allocateNics(input, observed);
  const disksExist = (inst: PlanInstance, primary: string, secondary: string | undefined): boolean => {
    const vols = inst.disks.filter((d) => d.state === 'present').flatMap((d) => volumesOf(inst, d, primary, secondary, nodes, input.cluster));
    return vols.length > 0 && vols.every((v) => {
      const o = observed.nodes.get(v.node);
      return v.kind === 'lv' ? o?.lvs[`${v.vg}/${v.name}`] !== undefined : o?.files[v.path] !== undefined;
    });
  };
  const drbdAllocs = new Map<string, Map<number, DrbdDiskAlloc>>();
  const drbdKeyParts = new Map<string, string>();
  const drbdAlloc = new DrbdAllocator(observed, input.cluster, [...blind.values()].filter((b) => !b.last).map((b) => b.node), facts, digests ? { key: drbdRecordsKey(facts, digests, { prev: cache?.drbdKeyParts, next: drbdKeyParts }), prev: cache?.drbdRecords } : undefined);
  const drbdMinor = (i: string, index: number, node: string) => drbdAllocs.get(i)?.get(index)?.minors.get(node);
  const gone = new Map([...goneNodes(input, observed)].map((n) => [n, observed.liveness?.get(n)?.condition === 'Dead' ? 'Dead (power off confirmed)' : 'offline']));
  const goneSet = new Set(gone.keys());
  const failovers: PlannedFailover[] = [];
  const recoveredFailovers: FailoverRecord[] = [];
  const drbdSides = drbdSidesByInstance(facts);
  const unknownBlind = [...blind.values()].filter((b) => !b.last);
  const timeline = (node: string) => {
    const l = observed.liveness?.get(node);
    return { ...(l?.detected ? { detected: l.detected } : {}), ...(l?.fence ? { fenced: l.fence.at } : {}) };
  };
  const superseded = new Map([...(input.failovers ?? new Map<string, FailoverRecord>())].map(([name, r]) => [name, r.from]));
  const hooks: RuntimeHooks = { nics: nicAlloc.nics, nicErrors: nicAlloc.errors, nodes, copies: indexCopies(observed), disksExist, vnc: new VncAllocator(observed), drbdMinor, superseded };
  const placements = new Map<string, Placement>();
  let allocateFn: AllocateFn | undefined;
  const getAllocator = (): AllocateFn => allocateFn ??= opts.allocator ? opts.allocator(input, observed, located) : Object.assign(() => ({ error: 'no allocator configured and the manifest gives no placement.primary' }), {});
  // Drained nodes: their running movable instances are evacuated in one node-evacuate request (plan/drain).
  const seen = (n: string) => observed.nodes.get(n)?.reachable === true;
  // In waves: at most Cluster spec.drain.maxParallelMoves instances leave each drained node at a time; the rest wait, with progress.
  const drainReady = (inst: PlanInstance, home: string) => inst.diskTemplate !== 'drbd' || drbdDrainBlocked(inst, home, inst.secondary ?? observedSecondary(located.get(inst.name), home, nodes), located.get(inst.name), nodes, drbdSides.get(inst.name), seen) === undefined;
  const waves = drainWaves(input, located, nodes, evacuees(input, located, drainedNodes(input), seen), secondaryEvacuees(input, located, nodes), drainReady, input.cluster.drainMaxParallel ?? DEFAULT_DRAIN_MAX_PARALLEL);
  for (const [n, note] of waves.progress) {
    const at = entries.findIndex((e) => e.subject === `Node/${n}`);
    if (at >= 0) entries[at] = { ...entries[at]!, notes: [...entries[at]!.notes, note] };
  }
  const toEvacuate = waves.primaries;
  const evacs = evacuateAll(toEvacuate, toEvacuate.length > 0 && opts.allocator ? getAllocator() : undefined);
  const toReplace = waves.secondaries;
  const secondaryEvacs = evacuateSecondariesAll(toReplace, toReplace.length > 0 && opts.allocator ? getAllocator() : undefined);
  // harep fix-storage: DRBD secondaries on a gone node get a new secondary from the same engine (plan/fix-storage).
  const toFix = fixStorageEvacuees(input, located, goneSet, gone, nodes, observed, (inst, node) => repairAllowed(input, inst, 'fix-storage', node));
  const fixEvacs = evacuateSecondariesAll(toFix, toFix.length > 0 && opts.allocator ? getAllocator() : undefined);
  // N+1 at DRBD promotion: memory on a failover's target (total less the declared memory of what runs there and of earlier promotions in this plan).
  const promotedMiB = new Map<string, number>();
  let usedMiB: Map<string, number> | undefined;
  const promotionRoom = (target: string, needMiB: number): string | undefined => {
    const total = nodes.get(target)?.memoryMiB ?? observed.nodes.get(target)?.facts.memoryTotalMiB ?? 0;
    if (total <= 0) return undefined;
    usedMiB ??= memoryInUse(input, observed);
    const free = Math.max(0, total - (usedMiB.get(target) ?? 0) - (promotedMiB.get(target) ?? 0));
    return needMiB > free ? `failing over to ${target} (DRBD promotion) breaks N+1: the instance needs ${needMiB} MiB, ${target} has ${free} MiB free (${needMiB - free} MiB short)` : undefined;
  };
  // A renamed instance's old name is its own too: objects still carrying it are never orphans.
  const declared = new Set<string>();
  for (const i of input.instances) {
    declared.add(i.name);
    if (i.renamedFrom !== undefined) declared.add(i.renamedFrom);
  }
  const manifestMoves = new Set<string>();
  let tapIndex: RoutedTapIndex | undefined;
  const watcherDecisions: WatcherDecision[] = [];
  const autoRepair: AutoRepairDecision[] = [];
  const base: InstanceCtx = {
    input, observed, nodes, located, blind, unknownBlind, waits, nics: nicAlloc.nics, gone, goneSet, rebooted, drbdSides, evacs, secondaryEvacs, fixEvacs, hooks, drbdAlloc, drbdAllocs,
    vnc: hooks.vnc as VncAllocator, promotedMiB, getAllocator, promotionRoom, timeline, tapIndex: () => (tapIndex ??= routedTapIndex(observed)), seen, drainLater: waves.later,
  };
  const order = instanceOrder(input, digests !== undefined, digests ? cache : undefined);
  const run = instancePass(base, input, observed, cache, digests && lv ? { digests, lvFacts: lv.byNode, order: order.order, drbdRecords: drbdAlloc.records(), drbdKeyParts } : undefined);
  for (const inst of order.sorted) {
    const s = run.slice(inst);
    if (s.entry) addEntry(s.entry.subject, s.entry.diffs, s.entry.actions, s.entry.refs, s.entry.notes, s.entry.unreachable);
    for (const [n, subject] of s.waits) waits.get(n)?.push(subject);
    failovers.push(...s.failovers);
    recoveredFailovers.push(...s.recovered);
    autoRepair.push(...s.autoRepair);
    watcherDecisions.push(...s.watcher);
    if (s.placement) placements.set(inst.name, s.placement);
    if (s.manifestMove) manifestMoves.add(inst.name);
  }


  // ---- N+1: manifest moves that break memory redundancy are refused or noted (plan/n-plus-one) ----
  applyNPlusOne(input, observed, { entries, allActions, refused }, located, placements, manifestMoves, goneSet);

  // ---- a reinstall's mark left without its image (a pass cut between the two): removed, shown (plan/reinstall) ----
  for (const a of strayReinstallMarks(input.instances, nodes, input.cluster, observed, allActions)) {
    const diff: FieldDiff = { path: 'disks', desired: 'no reinstall mark without its image', observed: `${a.path} on ${a.node}` };
    const i = entries.findIndex((e) => e.subject === a.subject);
    const e = i >= 0 ? entries[i]! : undefined;
    if (!e) {
      addEntry(a.subject, [diff], [a], [], []);
      continue;
    }
    entries[i] = { ...e, status: e.status === 'in-sync' ? 'drift' : e.status, diffs: [...e.diffs, diff], actions: orderActions([...e.actions, a]) };
    allActions.push(a);
  }

  // ---- orphans: data Gantry made that no manifest declares (plan/orphans: opt-in, marked, bounded) ----
  const o = planOrphans(input, observed, declared, facts);
  if (o.refused.length > 0 || o.notes.length > 0) addEntry(`Cluster/${input.cluster.name}`, [], [], o.refused, o.notes);
  allActions.push(...o.actions);
  const orphans = o.orphans;

  entries.sort((a, b) => collate(a.subject, b.subject));
  const ordered = orderActions(allActions);
  const fencing = planFencing(input, observed);
  const pausedUntil = watcherPaused(input);
  const watcher = pausedUntil !== undefined || watcherDecisions.length > 0 ? { ...(pausedUntil !== undefined ? { pausedUntil } : {}), decisions: watcherDecisions } : undefined;
  const p: Plan = {
    ...(watcher ? { watcher } : {}),
    entries, actions: ordered, waves: buildWaves(ordered), refused, orphans, orphanSince: o.orphanSince, unreachable, waits: nodeWaits(blind, waits),
    ...(fencing.length > 0 ? { fencing } : {}), ...(failovers.length > 0 ? { failovers } : {}), ...(autoRepair.length > 0 ? { autoRepair } : {}),
    ...(recoveredFailovers.length > 0 ? { recoveredFailovers } : {}),
  };
  return { plan: p, ...run.done() };
}

/** One instance's part of the plan, planned alone: everything it adds goes into `s` (plan/plan-cache reuses it when nothing it read changed). */
function planInstance(c: InstanceCtx, inst: PlanInstance, s: InstanceSlice): void {
  const { input, observed, nodes, located, blind, unknownBlind, gone, goneSet, rebooted, drbdSides, evacs, secondaryEvacs, fixEvacs, timeline, seen } = c;
  const waves = { later: c.drainLater };
  const nicAlloc = { nics: c.nics };
  // The waits of each node out of sight (c.waits has the same keys as blind: asking blind notes the read).
  const waits = { get: (n: string) => (blind.has(n) ? { push: (x: string) => void s.waits.push([n, x]) } : undefined) };
  const { failovers, recovered: recoveredFailovers, autoRepair, watcher: watcherDecisions } = s;
  const addEntry = (subject: string, diffs: FieldDiff[], actions: Action[], refs: Refusal[], notes: string[], unreachable = false) => {
    s.entry = { subject, diffs, actions, refs, notes, unreachable };
  };
  const placements = { get: (_: string) => s.placement, set: (_: string, p: Placement) => void (s.placement = p) };
  const manifestMoves = { add: (_: string) => void (s.manifestMove = true) };
  const drbdAllocs = { set: (n: string, a: Map<number, DrbdDiskAlloc>) => void c.drbdAllocs.set(n, (s.drbdAllocs = a)) };
  // Order-dependent: what an earlier instance took decides what this one gets, so a part that asked is planned every pass.
  const orderDependent = (why: string) => void (s.uncacheable ??= why);
  const getAllocator = (): AllocateFn => (orderDependent('allocator'), c.getAllocator());
  const promotionRoom = (target: string, needMiB: number) => (orderDependent('n+1'), c.promotionRoom(target, needMiB));
  const promotedMiB = { get: (n: string) => (orderDependent('n+1'), c.promotedMiB.get(n)), set: (n: string, v: number) => (orderDependent('n+1'), c.promotedMiB.set(n, v)) };
  const drbdAlloc = {
    allocate: (instance: string, index: number, on: readonly string[]): DrbdAllocResult => {
      const fresh = c.drbdAlloc.freshCount;
      const a = c.drbdAlloc.allocate(instance, index, on);
      if ('code' in a || c.drbdAlloc.freshCount !== fresh || instance !== inst.name) orderDependent('drbd-allocation');
      else s.drbdCalls.push({ index, nodes: [...on], minors: [...a.minors], port: a.port });
      return a;
    },
  };
  const hooks: RuntimeHooks = {
    ...c.hooks,
    vnc: {
      displayFor: (instance: string, node: string) => {
        const claims = c.vnc.claimCount;
        const d = c.vnc.displayFor(instance, node);
        if (c.vnc.claimCount !== claims || instance !== inst.name) orderDependent('vnc-display');
        else s.vncCalls.push([node, d]);
        return d;
      },
    },
    drbdMinor: (i: string, index: number, node: string) => (i !== inst.name && orderDependent('drbd-minor'), c.drbdAllocs.get(i)?.get(index)?.minors.get(node)),
  };

  const subject = `Instance/${inst.name}`;
  const loc = located.get(inst.name);
  if (inst.state === 'absent') {
    const diffs: FieldDiff[] = [];
    const actions: Action[] = [];
    const rt = planInstanceRuntime(inst, undefined, input, observed, hooks);
    diffs.push(...rt.diffs);
    actions.push(...rt.actions);
    const notes: string[] = [];
    if (inst.deleteDisks) {
      const d = planDeleteInstanceDisks(inst, nodes, input.cluster, observed);
      diffs.push(...d.diffs);
      actions.push(...d.actions);
    } else if (loc && loc.nodes.size > 0) {
      notes.push(`disks kept on ${[...loc.nodes].sort().join(', ')} (set deleteDisks: true to remove them)`);
    }
    const wait = loc && loc.waitsFor.size > 0 ? instanceWait(inst, loc, blind, unknownBlind) : undefined;
    if (wait) {
      notes.push(`its part on ${[...loc!.waitsFor].sort().join(', ')} ${wait.note}`);
      loc!.waitsFor.forEach((n) => waits.get(n)?.push(subject));
    }
    addEntry(subject, diffs, actions, [], notes);
    return;
  }

  const unsupported = [...refuseUnsupported(inst), ...refuseUnroutable(inst, nicAlloc.nics.get(inst.name) ?? [])];
  if (unsupported.length > 0) {
    addEntry(subject, [], [], unsupported, []);
    return;
  }

  // Renamed (spec.renamedFrom): while objects of the old name are left, the rename is its whole plan (plan/rename).
  const renaming = inst.renamedFrom !== undefined ? planRename(inst, observed, nodes, input.cluster.sharedFileStorageDir, (loc?.nodes.size ?? 0) > 0) : undefined;
  if (renaming) {
    addEntry(subject, renaming.diffs, renaming.actions, renaming.refused, renaming.notes);
    return;
  }

  // A Dead or Offline node's instances fail over when asked to (plan/failover).
  const from = goneHome(loc, goneSet);
  const record = input.failovers?.get(inst.name);
  // An offline node that still answers and still runs it: never failed over (a second running copy); harep's migrate may move it (plan/offline-migrate).
  const offlineRun = from !== undefined ? stillRunsOnOffline(observed, from, inst.name) : undefined;
  // Or it did after its declaration, and is silent now: unknown, not absent.
  const silentRun = from !== undefined && !offlineRun ? lastSeenRunningOnOffline(observed, from, inst.name) : undefined;
  const dead = from !== undefined && !offlineRun ? deadSecondary(inst, loc, goneSet, gone, record, nodes, observed) : undefined;
  const fixTo = dead ? fixStorageSecondary(inst, dead, fixEvacs) : undefined;
  const fixBlocked = !dead ? `its primary is not observed: a new secondary is paired only with a live primary` : fixTo && 'error' in fixTo ? `no node can take its new secondary: ${fixTo.error}` : undefined;
  const repair = silentRun ? undefined : offlineRun ? offlineMigrateDecision(input, inst, from!) : from !== undefined ? autoRepairFor(input, inst, loc, from, record, gone, fixBlocked) : undefined;
  const migrateOff = offlineRun && repair?.decision === 'repair' ? from : undefined;
  // fix-storage made here: the DRBD secondary on the gone node is replaced (its decision is kept until the new one is in sync).
  const fixing = dead !== undefined && fixTo !== undefined && 'secondary' in fixTo && repair?.decision === 'repair' && repair.needed === 'fix-storage' ? { ...dead, secondary: fixTo.secondary } : undefined;
  if (repair && !fixing) autoRepair.push(repair);
  if (silentRun) {
    waits.get(from!)?.push(subject);
    addEntry(subject, [], [], [], [offlineSilentNote(inst, from!, silentRun, observed)], true);
    return;
  }
  if (offlineRun && migrateOff === undefined) {
    waits.get(from!)?.push(subject);
    addEntry(subject, [], [], [], [offlineHoldNote(inst, from!, offlineRun, repair)], true);
    return;
  }
  let failover = from !== undefined && !offlineRun && wantsFailover(input, inst, loc?.running) ? from : undefined;
  // DRBD: the survivor of the pair takes over only when the gone node is the primary; a gone secondary is waited for.
  const drbdTo = failover !== undefined && inst.diskTemplate === 'drbd' ? drbdSurvivor(inst, loc, failover, record, gone) : undefined;
  if (drbdTo === null) failover = undefined;
  // harep's reinstall (opt-in): a plain or file instance whose disks are gone with their node is re-created empty elsewhere.
  const reinstall = failover !== undefined && repair?.decision === 'repair' && repair.needed === 'reinstall' && reinstallable(inst);
  if (failover !== undefined && !failsOverByRestart(inst) && typeof drbdTo !== 'string' && !reinstall) {
    const lost = inst.diskTemplate === 'drbd'
      ? `${inst.name} has no DRBD secondary to fail over to: it waits for ${failover}`
      : `its ${inst.diskTemplate} disks exist only on ${failover}: lost until ${failover} returns`;
    failovers.push({ instance: inst.name, from: failover, lost, ...timeline(failover) });
    waits.get(failover)?.push(subject);
    addEntry(subject, [], [], [], [`${failover} is ${gone.get(failover)}: ${lost}`], true);
    return;
  }

  // Unknown is not absent: an instance that is (or may be) on a node that cannot be
  // observed gets no action anywhere; its addresses and display stay reserved.
  const wait = failover !== undefined || fixing || migrateOff !== undefined ? undefined : instanceWait(inst, loc, blind, unknownBlind);
  if (wait) {
    waitingFor(loc, unknownBlind).forEach((n) => waits.get(n)?.push(subject));
    addEntry(subject, [], [], wait.refusal ? [wait.refusal] : [], [wait.note], wait.refusal === undefined);
    return;
  }

  // Placement: the manifest wins; else where the instance already is; else allocate.
  const notes: string[] = [];
  let primary = inst.primary;
  let secondary = inst.secondary;
  if (record && primary === record.from && !gone.has(record.to)) {
    primary = record.to;
    // DRBD: the pair is the same two nodes, roles swapped: the old primary rejoins as secondary (never runs a stale copy).
    if (inst.diskTemplate === 'drbd' && secondary === record.to) secondary = record.from;
    notes.push(`failed over from ${record.from} at ${record.started}: kept on ${record.to} while the manifest names ${record.from} (set placement.primary: ${record.to} to make it so, or name another node to move it)`);
  } else if (inst.diskTemplate === 'drbd' && primary !== undefined && failover === undefined && nodes.get(primary)?.role !== 'drained' && loc?.nodes.has(primary) && observed.nodes.get(primary)?.reachable) {
    // (A drained primary's replica may be disconnected by its own secondary replacement: the drain below says where it is.)
    // Where a DRBD instance lives comes from the nodes: Primary on the manifest's other node while
    // the manifest's node is the stale side and holds the copy a failover leaves (it ran there)
    // means a failover the state directory lost. Without that copy the manifest names a move
    // still to come (a stale destination: the migration waits for its resync), not a failover.
    const sides = drbdSides.get(inst.name);
    const prim = drbdPrimaries(sides);
    const o = prim.length === 1 ? prim[0]! : undefined;
    const left = o !== undefined && o !== primary && (loc.running === undefined || loc.running === o) ? leftBehindCopy(observed.nodes.get(primary), inst.name) : undefined;
    const stale = left !== undefined ? drbdStaleness(sides?.get(primary)) : undefined;
    if (o !== undefined && left !== undefined && stale !== undefined) {
      const what = `DRBD Primary on ${o}${loc.running === o ? ' and the VM running there' : ''}; ${primary}'s replica: ${stale}; a ${left.runState} copy of it left on ${primary}`;
      recoveredFailovers.push({ instance: inst.name, from: primary, to: o, started: input.now ?? observed.nodes.get(o)?.observedAt ?? '', recovered: what });
      notes.push(`observed: ${what}. ${primary} is the stale side (a failover the state directory has no record of): kept on ${o}, ${primary} rejoins as its secondary (set placement.primary: ${o} to make it so, or name another node to move it)`);
      secondary = primary;
      primary = o;
    }
  }
  let failoverStart = false;
  if (failover !== undefined && typeof drbdTo === 'string') {
    primary = drbdTo;
    secondary = failover;
    failoverStart = loc?.running !== drbdTo;
  } else if (failover !== undefined) {
    const running = loc?.running !== undefined && !gone.has(loc.running) && observed.nodes.get(loc.running)?.reachable ? loc.running : undefined;
    if (primary !== undefined && gone.has(primary)) primary = undefined;
    primary ??= running;
    failoverStart = running === undefined;
    // A reinstall an earlier pass left half-made (its disks made, its OS not installed yet) resumes where its disks are.
    const resume = reinstall && primary === undefined ? halfMadeReinstall(inst, nodes, input.cluster, observed, goneSet) : undefined;
    if (resume !== undefined) {
      primary = resume;
      notes.push(`reinstall resumed on ${resume}: the disks there were made EMPTY by this reinstall in an earlier pass that stopped before its OS install completed (tagged ${REINSTALL_LV_TAG}); they are installed over, not made again elsewhere`);
    }
  } else if (migrateOff !== undefined && inst.diskTemplate === 'drbd') {
    // DRBD: to its secondary, the offline node keeping the replica (plan/offline-migrate).
    const to = drbdMigrateTarget(inst, migrateOff, loc?.nodes);
    if (to === undefined) {
      waits.get(migrateOff)?.push(subject);
      addEntry(subject, [], [], [], [`${offlineHoldNote(inst, migrateOff, offlineRun!, undefined)}; harep's migrate would move it to its DRBD secondary, but no single node is known to hold it (name placement.secondary)`], true);
      return;
    }
    primary = to;
    secondary = migrateOff;
  } else if (migrateOff !== undefined && (primary === undefined || gone.has(primary))) {
    primary = undefined; // the allocator's choice (hail: N+1, exclusion tags)
  }
  // DRBD: the Primary side (where the VM runs, else where a device is Primary) is the primary, never a name-order guess.
  const observedPrimary = primary !== undefined || failover !== undefined || migrateOff !== undefined ? undefined : loc?.running ?? (inst.diskTemplate === 'drbd' ? drbdPrimaries(drbdSides.get(inst.name))[0] : undefined) ?? (loc && loc.nodes.size > 0 ? [...loc.nodes].sort()[0] : undefined);
  if (primary === undefined && observedPrimary !== undefined) {
    primary = observedPrimary;
    if (inst.diskTemplate === 'drbd' && secondary === undefined) {
      secondary = observedDrbdSecondary(primary, loc?.nodes ?? [], drbdSides.get(inst.name));
    }
    notes.push(`placement from observation: primary ${primary}${secondary ? `, secondary ${secondary}` : ''}`);
  } else if (inst.diskTemplate === 'drbd' && primary !== undefined && secondary === undefined && loc) {
    // The replica already has a node: keep it there rather than allocate a new (empty) one.
    secondary = observedDrbdSecondary(primary, loc.nodes, drbdSides.get(inst.name));
    if (secondary !== undefined) notes.push(`secondary from observation: ${secondary}`);
  }
  let keptRepair = false;
  if (fixing) {
    primary = fixing.primary;
    secondary = fixing.secondary;
    notes.push(`fix-storage: its secondary ${fixing.gone} is ${gone.get(fixing.gone)}; ${fixing.replacement !== undefined ? `its new secondary is ${secondary}` : `a new secondary on ${secondary} (node-evacuate, change-secondary)`} (Ganeti's replace-disks --new-secondary)`);
  } else if (inst.diskTemplate === 'drbd' && failover === undefined) {
    const kept = repairedSecondary(inst, input.repairs?.get(inst.name), loc, nodes);
    if (kept) {
      secondary = kept.secondary;
      notes.push(kept.note);
      keptRepair = true;
    }
  }
  if (inst.diskTemplate === 'drbd' && secondary === undefined && loc && loc.nodes.size > 0 && unknownBlind.length > 0) {
    // Unknown is not absent: its replica may be on a node with no known past; a new (empty) secondary is not allocated beside it.
    unknownBlind.forEach((b) => waits.get(b.node)?.push(subject));
    addEntry(subject, [], [], [], [...notes, `its DRBD secondary is on no observed node, and ${unknownBlind.map(describeWait).join('; ')} (state directory lost?): the replica may be there; no new secondary is allocated until that node is observed again`], true);
    return;
  }
  const drainRefused: Refusal[] = [];
  const drbdDrain = primary !== undefined && failover === undefined && inst.diskTemplate === 'drbd' ? drainDrbdPrimary(inst, primary, secondary, loc, nodes, evacs, drbdSides.get(inst.name), seen, waves.later) : undefined;
  const drain = drbdDrain ?? (primary !== undefined && failover === undefined && inst.diskTemplate !== 'drbd' ? drainPlacement(inst, primary, loc, nodes, evacs, waves.later) : undefined);
  if (drbdDrain) {
    secondary = drbdDrain.secondary;
    if (drbdDrain.refusal) drainRefused.push(drbdDrain.refusal);
  }
  if (drain) {
    primary = drain.primary;
    notes.push(drain.note);
  }
  // A DRBD primary moving to its secondary in this pass keeps the drained node as its secondary until a later pass replaces it.
  const drainS = primary !== undefined && failover === undefined && !drbdDrain?.swap ? drainSecondary(inst, primary, secondary, loc, nodes, secondaryEvacs, waves.later) : undefined;
  if (drainS) {
    secondary = drainS.secondary;
    notes.push(drainS.note);
  }
  if (primary === undefined || (inst.diskTemplate === 'drbd' && secondary === undefined)) {
    const got = getAllocator()(inst);
    if ('error' in got) {
      addEntry(subject, [{ path: 'placement', desired: 'allocated', observed: null }], [], [{ subject, code: 'NO_PLACEMENT', message: got.error }], notes);
      return;
    }
    // A fixed primary with an allocated pair: the secondary is the pair's node that is not the primary.
    secondary = secondary ?? (primary !== undefined && got.secondary === primary ? got.primary : got.secondary);
    primary = primary ?? got.primary;
    notes.push(`allocated: primary ${primary}${secondary ? `, secondary ${secondary}` : ''}`);
  }
  const pNode = nodes.get(primary);
  if (!pNode) {
    addEntry(subject, [], [], [{ subject, code: 'UNKNOWN_NODE', message: `primary node ${primary} is not declared` }], notes);
    return;
  }
  if (secondary !== undefined && secondary === primary) {
    addEntry(subject, [], [], [{ subject, code: 'DRBD_NO_SECONDARY', message: `the secondary of ${inst.name} would be its primary ${primary}: DRBD needs two nodes` }], notes);
    return;
  }
  const drained = [primary, secondary].find((n) => n !== undefined && nodes.get(n)?.role === 'drained' && !loc?.nodes.has(n));
  if (drained !== undefined) {
    addEntry(subject, [], [], [{ subject, code: 'PLACEMENT_DRAINED', message: `node ${drained} is drained: it takes no new instances (one already there stays until it is moved); name another node in placement or leave it unset` }], notes);
    return;
  }
  placements.set(inst.name, secondary !== undefined ? { primary, secondary } : { primary });
  if (inst.primary !== undefined && primary === inst.primary && failover === undefined && !drain && loc?.running !== primary && inst.runtime?.powerState === 'running' && observed.nodes.get(primary)?.instances[inst.name] === undefined) manifestMoves.add(inst.name);
  if (migrateOff !== undefined) notes.push(`migrate: ${migrateOff} is offline (declared) but still answers and runs ${inst.name}: it moves to ${primary} (harep's migrate, allowed by its auto-repair policy), never started a second time`);
  if (failover !== undefined && failoverStart && typeof drbdTo !== 'string') {
    failovers.push({ instance: inst.name, from: failover, to: primary, ...timeline(failover), ...(reinstall ? { reinstall: true as const } : {}) });
    notes.push(reinstall
      ? `reinstall: ${failover} is ${gone.get(failover)} and ${inst.name}'s ${inst.diskTemplate} disks were only there: DATA LOSS: its disks are re-created EMPTY on ${primary} and its OS (${inst.runtime?.os.name ?? 'none'}) installed again, then it starts there (harep's reinstall, allowed by its auto-repair policy); what ${failover} held is never touched and is left alone if it returns`
      : `failover: ${failover} is ${gone.get(failover)}; ${inst.name} starts on ${primary}`);
  }
  // A move off an offline node plans from that node's read-only probe (its copy, and for DRBD its devices and LVs).
  const offSource = migrateOff !== undefined ? withOfflineSource(observed, hooks, migrateOff, inst.name, offlineRun!) : undefined;
  const drbdOff = offSource !== undefined && inst.diskTemplate === 'drbd' ? offSource : undefined;
  const obsX = drbdOff?.observed ?? observed;
  const hooksX = drbdOff?.hooks ?? hooks;
  const involved = [primary, secondary].filter((n): n is string => n !== undefined);
  const down = involved.filter((n) => !obsX.nodes.get(n)?.reachable);
  if (down.length > 0) notes.push(`nodes ${down.join(', ')} unreachable: their part waits for the next pass`);
  const conversions = planDiskConversions(inst, primary, secondary, nodes, input.cluster, obsX);
  if (conversions.length > 0) {
    // No disk and no runtime action on a disk that is not where the manifest says; the runtime's own refusals still show.
    const rt = planInstanceRuntime(inst, placements.get(inst.name), input, obsX, hooksX);
    addEntry(subject, [], [], [...conversions, ...rt.refused], [...notes, ...rt.notes]);
    return;
  }
  const allocs = allocateDrbd(inst, primary, secondary, drbdAlloc);
  if ('code' in allocs) {
    addEntry(subject, [], [], [{ subject, code: allocs.code, message: allocs.error }], notes);
    return;
  }
  drbdAllocs.set(inst.name, allocs);
  const d0 = planInstanceDisks(inst, primary, secondary, nodes, input.cluster, obsX, (node, disk) => {
    const a = allocs.get(disk.index);
    const minor = a?.minors.get(node);
    if (reinstall && node === primary && (disk.template === 'plain' || disk.template === 'file')) return [REINSTALL_LV_TAG]; // half-made until its OS install succeeded (plan/reinstall): an LV's tag, an image's mark file
    if (!a || minor === undefined) return [];
    // DRBD 9: the replica's node id is recorded too (plan/drbd9), so a lost state rebuilds it.
    if (secondary !== undefined && isDrbd9Node(obsX.nodes.get(node))) return [...drbdTags(minor, a.port), drbdNodeIdTag(drbd9PairIds(inst, disk, [primary, secondary], a.minors, obsX, loc?.nodes ?? []).get(node)!)];
    return drbdTags(minor, a.port);
  });
  const drbdFailover = failover !== undefined && typeof drbdTo === 'string' ? { why: gone.get(failover)!, allowDegraded: inst.allowDegradedFailover === true } : undefined;
  const liveDrbd = failover === undefined && secondary !== undefined && drbdLiveMigration(inst, secondary, hooksX);
  const runningOn = (hooksX.copies.get(inst.name) ?? []).filter((c) => ALIVE.has(c.vm.runState)).map((c) => c.node);
  // Whose replication address a device's link names (plan/drbd planRelink): looked up only for a device linked elsewhere.
  const linkPeer = (host: string): LinkPeer | undefined => {
    for (const n of nodes.values()) {
      if (drbdAddr(n) !== host) continue;
      const why = gone.get(n.name);
      return { node: n.name, seen: obsX.nodes.get(n.name)?.reachable === true, ...(why !== undefined ? { gone: why } : {}) };
    }
    return undefined;
  };
  const dr = planDrbd(inst, allocs, nodes.get(primary)!, secondary !== undefined ? nodes.get(secondary) : undefined, obsX, d0.actions, { linkPeer, candidates: loc?.nodes ?? new Set(), running: runningOn, replace: (inst.secondary !== undefined && !keptRepair) || drainS !== undefined || drbdDrain !== undefined || fixing !== undefined, ...(fixing ? { gone: { node: fixing.gone, why: gone.get(fixing.gone)! } } : {}), ...(keptRepair ? { keptBy: 'kept from a fix-storage repair' } : {}) }, input.cluster.drbd?.usermodeHelper, drbdFailover, liveDrbd, rebooted);
  if (fixing && repair) {
    // Done once the new secondary is in sync with the primary: the instance needs no repair any more.
    if (dr.actions.length > 0 || dr.refused.length > 0) autoRepair.push({ ...repair, replaces: fixing.gone });
    else notes.push(`fix-storage done: ${fixing.secondary} is its UpToDate secondary`);
  }
  const d = dr.drop.length > 0 ? { ...d0, actions: d0.actions.filter((a) => !dr.drop.includes(a)) } : d0;
  // A failover carries the gone node's record over (OS generation, MACs); a reinstall does not: its OS is installed again.
  const rt = offSource
    ? planInstanceRuntime(inst, placements.get(inst.name), input, offSource.observed, offSource.hooks, liveDrbd ? dr.migrations : undefined)
    : planInstanceRuntime(inst, placements.get(inst.name), input, observed, failover !== undefined && !reinstall ? withStaleCopy(hooks, observed, failover, inst.name) : reinstall ? reinstallHooks(hooks, input, observed, nodes) : hooks, liveDrbd ? dr.migrations : undefined);
  // An OS install on a plain LV that reads inactive (a stopped instance: not activated above) activates it first.
  if (rt.actions.some((a) => a.verb === 'instance.install' && a.node === primary)) {
    const act = activationsForInstall(inst, primary, nodes, input.cluster, observed, d0.actions);
    rt.diffs.push(...act.diffs);
    rt.actions.unshift(...act.actions);
  }
  const installed = reinstall ? rt.actions.find((a) => a.verb === 'instance.install') : undefined;
  if (installed) rt.actions.push(...reinstallUntags(inst, primary, nodes, input.cluster, observed, d0.actions, installed));
  else if (inst.diskTemplate === 'plain' || inst.diskTemplate === 'file') rt.actions.push(...leftoverReinstallMarks(inst, primary, nodes, input.cluster, observed, (hooks.copies.get(inst.name) ?? []).some((x) => x.node === primary && x.vm.meta !== undefined)));
  if (rt.watcher && !dr.blocksRuntime) watcherDecisions.push(rt.watcher);
  const routed = routedDriftOf(inst, primary, rt, input, observed, hooks, c.tapIndex());
  rt.diffs.push(...routed.diffs);
  rt.actions.push(...routed.actions);
  // A held role swap (DRBD_MOVE_NOT_READY): what would run on the new primary waits; the rest (a stop asked for) goes ahead.
  const heldRt = dr.heldOn !== undefined && !dr.blocksRuntime ? rt.actions.filter((a) => a.node === dr.heldOn) : [];
  const rtActions = dr.blocksRuntime ? [] : linkRoleSwap(dr.actions, heldRt.length > 0 ? rt.actions.filter((a) => !heldRt.includes(a)) : rt.actions);
  if (dr.blocksRuntime && rt.actions.length > 0) notes.push(`the VM is not installed or started until its DRBD disks can be used (${rt.actions.map((a) => a.verb).join(', ')} wait)`);
  if (heldRt.length > 0) notes.push(`${heldRt.map((a) => a.verb).join(', ')} on ${dr.heldOn} wait${heldRt.length === 1 ? 's' : ''} for the role swap (DRBD_MOVE_NOT_READY)`);
  // N+1 at DRBD promotion (Cluster spec.nPlusOne): the survivor must have room for the instance it starts.
  let promotionRefused: Refusal | undefined;
  if (drbdFailover && failoverStart && inst.runtime?.powerState === 'running' && (input.cluster.nPlusOne ?? 'warn') !== 'off') {
    const room = promotionRoom(primary, inst.memoryMiB);
    if (room !== undefined && input.cluster.nPlusOne === 'refuse') {
      promotionRefused = { subject, code: 'N_PLUS_ONE', message: `${room}; Cluster spec.nPlusOne.mode is refuse: ${inst.name} is not promoted or started there (free memory on ${primary}, or set the mode to warn)` };
    } else if (room !== undefined) {
      notes.push(`warning: ${room} (Cluster spec.nPlusOne.mode: warn)`);
    }
  }
  if (drbdFailover && failoverStart && promotionRefused) {
    failovers.push({ instance: inst.name, from: failover!, lost: promotionRefused.message, ...timeline(failover!) });
  } else if (drbdFailover && failoverStart) {
    const promoted = dr.actions.some((a) => a.verb === 'drbd.primary' && a.failover !== undefined);
    const starts = rtActions.some((a) => a.verb === 'instance.start' && a.node === primary);
    if (starts) promotedMiB.set(primary, (promotedMiB.get(primary) ?? 0) + inst.memoryMiB);
    if (promoted || starts) {
      failovers.push({ instance: inst.name, from: failover!, to: primary, ...timeline(failover!) });
      notes.push(`failover: ${failover} is ${gone.get(failover!)}; its DRBD secondary ${primary} is promoted${starts ? ` and ${inst.name} starts there` : ''}`);
    } else if (dr.refused.length > 0) {
      failovers.push({ instance: inst.name, from: failover!, lost: dr.refused.map((r) => r.message).join('; '), ...timeline(failover!) });
    }
  }
  const live = (hooks.copies.get(inst.name) ?? []).filter((c) => ALIVE.has(c.vm.runState));
  const online = live.length === 0
    ? { actions: [...d.actions, ...dr.actions], resizes: [], notes: [] }
    : planOnlineResize(inst.name, wantedDrives(inst, primary, secondary, nodes, input, hooks), [...d.actions, ...dr.actions], live, (n) => runDirOf(nodes.get(n)));
  const refusedPromotion = (a: Action) => promotionRefused !== undefined && ((a.verb === 'drbd.primary' && a.failover !== undefined) || (a.verb === 'instance.start' && a.node === primary));
  const diskActions = [...online.actions, ...online.resizes].filter((a) => !refusedPromotion(a));
  if (promotionRefused) {
    rtActions.splice(0, rtActions.length, ...rtActions.filter((a) => !refusedPromotion(a)));
    dr.refused.push(promotionRefused);
  }
  const statusNote = rt.status ? [`status: ${rt.status} on ${primary}`] : [];
  // An instance whose nodes cannot be observed is not known to be in sync.
  addEntry(subject, [...d.diffs, ...dr.diffs, ...rt.diffs], [...diskActions, ...rtActions], [...drainRefused, ...d.refused, ...dr.refused, ...rt.refused], [...statusNote, ...notes, ...(d.notes ?? []), ...dr.notes, ...online.notes, ...rt.notes], down.length > 0 && diskActions.length + rtActions.length === 0);
}

/** "node rebooted (boot id changed A -> B)" when the node's observed boot ID differs from the recorded one. */
export function rebootNote(input: PlanInput, node: string, bootId: string | undefined): string | undefined {
  const last = input.bootIds?.get(node);
  return last !== undefined && bootId !== undefined && bootId !== last ? `node rebooted (boot id changed ${last} -> ${bootId}): the DRBD disks of its instances are re-activated` : undefined;
}

/**
 * A DRBD role swap beside runtime actions in one pass (a failover by manifest): the demote
 * on a node runs only after the VM's stop there succeeded, and the start on the new primary
 * only after its promotion did (executor: `after`, across nodes). Mutates `drbd`'s demotes.
 */
export function linkRoleSwap(drbd: Action[], runtime: readonly Action[]): Action[] {
  const key = (a: Action) => actionKey(a);
  for (const [i, a] of drbd.entries()) {
    if (a.verb !== 'drbd.secondary') continue;
    const stops = runtime.filter((r) => r.verb === 'instance.stop' && r.node === a.node).map(key);
    if (stops.length > 0) drbd[i] = { ...a, after: [...(a.after ?? []), ...stops] };
  }
  const promotes = drbd.filter((a) => a.verb === 'drbd.primary');
  return runtime.map((r) => {
    if (r.verb !== 'instance.start') return r;
    const here = promotes.filter((p) => p.node === r.node).map(key);
    return here.length > 0 ? { ...r, after: [...(r.after ?? []), ...here] } : r;
  });
}

/** Cluster spec.nPlusOne on the entries made: a feeding move's entry is refused (its actions dropped) or gets a note. */
function applyNPlusOne(
  input: PlanInput, observed: ObservedCluster, acc: { entries: PlanEntry[]; allActions: Action[]; refused: Refusal[] },
  located: ReadonlyMap<string, InstanceLocation>, placements: ReadonlyMap<string, Placement>, manifestMoves: ReadonlySet<string>, gone: ReadonlySet<string>,
): void {
  if (manifestMoves.size === 0 || (input.cluster.nPlusOne ?? 'warn') === 'off') return;
  const index = new Map(acc.entries.map((e, i) => [e.subject, i]));
  const placedOk = (name: string) => {
    const e = acc.entries[index.get(`Instance/${name}`) ?? -1];
    return e !== undefined && e.status !== 'refused' && e.status !== 'unreachable';
  };
  const all = input.instances.filter((i) => i.state === 'present').map((inst) => {
    const running = located.get(inst.name)?.running;
    const placed = placedOk(inst.name) ? placements.get(inst.name) : undefined;
    return { inst, ...(running !== undefined ? { running } : {}), ...(placed ? { placed } : {}), manifestMove: manifestMoves.has(inst.name) && placed !== undefined };
  });
  const found = planNPlusOne(input, observed, all, gone);
  if (found.size === 0) return;
  const refuse = input.cluster.nPlusOne === 'refuse';
  const dropped = new Set<Action>();
  for (const [name, messages] of found) {
    const subject = `Instance/${name}`;
    const i = index.get(subject)!;
    const e = acc.entries[i]!;
    if (refuse) {
      const refusals = messages.map((message): Refusal => ({ subject, code: 'N_PLUS_ONE', message: `${message}; Cluster spec.nPlusOne.mode is refuse: ${name} is not moved or started there (free memory, place it elsewhere, or set the mode to warn)` }));
      e.actions.forEach((a) => dropped.add(a));
      acc.entries[i] = { ...e, status: 'refused', actions: [], refused: [...e.refused, ...refusals] };
      acc.refused.push(...refusals);
    } else {
      acc.entries[i] = { ...e, notes: [...e.notes, ...messages.map((m) => `warning: ${m} (Cluster spec.nPlusOne.mode: warn)`)] };
    }
  }
  if (dropped.size > 0) {
    const kept = acc.allActions.filter((a) => !dropped.has(a));
    acc.allActions.length = 0;
    acc.allActions.push(...kept);
  }
}

/**
 * Auto-repair (plan/autorepair) of an instance whose node `from` is gone: the repair it
 * needs, as harep's detectBroken: its primary gone and a node left to run it, failover; its
 * DRBD secondary gone, fix-storage; its disks gone with their node, reinstall. A sharedfile
 * or diskless instance already running on a live node needs nothing.
 */
function autoRepairFor(input: PlanInput, inst: PlanInstance, loc: InstanceLocation | undefined, from: string, record: FailoverRecord | undefined, gone: ReadonlyMap<string, string>, fixStorageBlocked: string | undefined): AutoRepairDecision | undefined {
  const why = `${from} is ${gone.get(from)}`;
  let needed: RepairType;
  if (inst.diskTemplate === 'drbd') {
    const to = drbdSurvivor(inst, loc, from, record, gone);
    needed = to === null ? 'fix-storage' : to === undefined ? 'reinstall' : 'failover';
  } else if (failsOverByRestart(inst)) {
    if (loc?.running !== undefined && !gone.has(loc.running)) return undefined;
    needed = 'failover';
  } else {
    needed = 'reinstall';
  }
  const node = loc?.running ?? inst.primary;
  return repairDecision(input, inst, needed, node, why, (type) => {
    if (type === 'failover') return inst.failover === false ? `its spec.autoRepair.failover is false: ${inst.name} waits for ${from}` : undefined;
    if (type === 'fix-storage') return fixStorageBlocked === undefined ? undefined : `${fixStorageBlocked}: ${inst.name} runs on without a replica and waits for ${from}`;
    if (type === 'reinstall') return reinstallable(inst) ? undefined : `a DRBD pair with both nodes gone is not re-created by this release: ${inst.name} waits for ${from}`;
    return 'no migrate repair is planned';
  });
}

/** Declared memory of the instances alive on each observed node. */
function memoryInUse(input: PlanInput, observed: ObservedCluster): Map<string, number> {
  const mem = new Map(input.instances.map((i) => [i.name, i.memoryMiB]));
  const out = new Map<string, number>();
  for (const [node, o] of observed.nodes) {
    if (!o.reachable) continue;
    for (const vm of Object.values(o.instances)) if (ALIVE.has(vm.runState)) out.set(node, (out.get(node) ?? 0) + (mem.get(vm.name) ?? 0));
  }
  return out;
}

/** harep's reinstall re-creates these: every present disk is plain or file (node-local, gone with its node). */
function reinstallable(inst: PlanInstance): boolean {
  const present = inst.disks.filter((d) => d.state === 'present');
  return (inst.diskTemplate === 'plain' || inst.diskTemplate === 'file') && present.every((d) => d.template === 'plain' || d.template === 'file' || d.template === 'diskless');
}

/** A reinstall's runtime hooks: its own half-made disks (plan/reinstall) do not count as existing data to refuse an install over. */
function reinstallHooks(hooks: RuntimeHooks, input: PlanInput, observed: ObservedCluster, nodes: ReadonlyMap<string, PlanNode>): RuntimeHooks {
  return { ...hooks, disksExist: (i, p, s) => hooks.disksExist(i, p, s) && !halfMadeOn(i, p, nodes, input.cluster, observed) };
}

/** The runtime hooks with the gone node's last copy of `name` (stopped): its record carries the OS generation and MACs over. */
function withStaleCopy(hooks: RuntimeHooks, observed: ObservedCluster, node: string, name: string): RuntimeHooks {
  const stale = staleCopy(observed, node, name);
  if (!stale) return hooks;
  const copies = new Map(hooks.copies);
  copies.set(name, [...(hooks.copies.get(name) ?? []), stale]);
  return { ...hooks, copies };
}

/** The present disks as QEMU opens them on the primary (plan/online-resize). */
function wantedDrives(inst: PlanInstance, primary: string, secondary: string | undefined, nodes: ReadonlyMap<string, PlanNode>, input: PlanInput, hooks: RuntimeHooks): WantedDrive[] {
  const out: WantedDrive[] = [];
  for (const d of inst.disks) {
    if (d.state !== 'present' || d.template === 'diskless') continue;
    const { path } = diskDevice(inst, d, primary, secondary, nodes, input.cluster, (index) => hooks.drbdMinor?.(inst.name, index, primary));
    if (path !== '') out.push({ index: d.index, path, sizeMiB: d.sizeMiB, file: d.template === 'file' || d.template === 'sharedfile' });
  }
  return out;
}

/** Routed taps of an instance placed on `primary`: their drift there and stale entries elsewhere (plan/routed). */
function routedDriftOf(inst: PlanInstance, primary: string, rt: RuntimePlan, input: PlanInput, observed: ObservedCluster, hooks: { nics: ReadonlyMap<string, readonly NicAllocation[]>; copies: RuntimeHooks['copies'] }, tapIndex: RoutedTapIndex): RoutedDrift {
  if ((inst.runtime?.nics.length ?? 0) === 0) return { diffs: [], actions: [] }; // no NIC: nothing routed anywhere (planRoutedDrift's answer)
  const copies = hooks.copies.get(inst.name) ?? [];
  const wants = routedWants(inst, hooks.nics.get(inst.name) ?? [], input.networks);
  return planRoutedDrift(inst, primary, wants, observed, {
    runningOnPrimary: copies.some((c) => c.node === primary && ALIVE.has(c.vm.runState)),
    startPlanned: rt.actions.some((a) => a.verb === 'instance.start' || a.verb === 'instance.migrate'),
    mayRunOn: new Set(copies.filter((c) => MAY_RUN.has(c.vm.runState)).map((c) => c.node)),
    tapIndex,
  });
}

/** Minors and port of each DRBD disk of an instance (present or absent: an absent one keeps its recorded numbers to be taken down). */
function allocateDrbd(inst: PlanInstance, primary: string, secondary: string | undefined, alloc: Pick<DrbdAllocator, 'allocate'>): Map<number, DrbdDiskAlloc> | { code: string; error: string } {
  const out = new Map<number, DrbdDiskAlloc>();
  for (const disk of inst.disks.filter((x) => x.template === 'drbd')) {
    if (secondary === undefined && disk.state === 'absent') continue;
    if (secondary === undefined) return { code: 'DRBD_NO_SECONDARY', error: `disk ${disk.index} is DRBD but ${inst.name} has no secondary node` };
    const a = alloc.allocate(inst.name, disk.index, [primary, secondary]);
    if ('code' in a) return a;
    out.set(disk.index, a);
  }
  return out;
}

/**
 * A DRBD live migration is wanted: the VM runs (live migration mode, powerState running)
 * on the node the manifest now names as its secondary, i.e. primary and secondary were
 * swapped. Every present disk is DRBD (or diskless).
 */
function drbdLiveMigration(inst: PlanInstance, secondary: string, hooks: RuntimeHooks): boolean {
  const rt = inst.runtime;
  if (!rt || rt.powerState !== 'running' || rt.migration.mode !== 'live') return false;
  const present = inst.disks.filter((d) => d.state === 'present');
  if (!present.some((d) => d.template === 'drbd') || !present.every((d) => d.template === 'drbd' || d.template === 'diskless')) return false;
  const copies = hooks.copies.get(inst.name) ?? [];
  const running = copies.filter((c) => MAY_RUN.has(c.vm.runState));
  return running.length === 1 && running[0]!.node === secondary && statusOf(running[0]!.vm) === 'running';
}

/**
 * Every DRBD disk's lifecycle (plan/drbd), with a secondary replacement or a conversion
 * from plain where one is under way (plan/drbd-replace), and the conversion of plain
 * disks that still hold DRBD parts; merged. `drop`: planned disk actions a refusal cancels.
 */
function planDrbd(
  inst: PlanInstance, allocs: ReadonlyMap<number, DrbdDiskAlloc>, primary: PlanNode, secondary: PlanNode | undefined, observed: ObservedCluster, planned: readonly Action[],
  where: { candidates: ReadonlySet<string>; running: readonly string[]; replace: boolean; gone?: { node: string; why: string }; keptBy?: string; linkPeer?: DrbdDiskInput['linkPeer'] }, usermodeHelper?: string, failover?: DrbdDiskInput['failover'], liveMigration = false, rebooted?: ReadonlySet<string>,
): DrbdDiskPlan & { drop: Action[]; migrations?: DrbdMigrationDisk[] } {
  const out: DrbdDiskPlan & { drop: Action[] } = { diffs: [], actions: [], refused: [], notes: [], blocksRuntime: false, drop: [] };
  let blocks = false;
  let heldOn: string | undefined;
  const migrations: DrbdMigrationDisk[] = [];
  for (const disk of inst.disks) {
    const alloc = allocs.get(disk.index);
    if (!alloc || !secondary) {
      const c = where.candidates.size > 0 ? planDrbdToPlain(inst, disk, primary.name, where.candidates, observed, where.running) : undefined;
      if (!c) continue;
      out.diffs.push(...c.diffs);
      out.actions.push(...c.actions);
      out.refused.push(...c.refused);
      out.notes.push(...c.notes);
      blocks ||= c.blocksRuntime;
      continue;
    }
    const x: DrbdDiskInput = { inst, disk, primary, secondary, alloc, observed, planned, holders: where.candidates, running: where.running, ...(where.linkPeer ? { linkPeer: where.linkPeer } : {}), ...(usermodeHelper !== undefined ? { usermodeHelper } : {}), ...(failover ? { failover } : {}), ...(liveMigration && disk.state === 'present' ? { liveMigration } : {}), ...(rebooted && rebooted.size > 0 ? { rebooted } : {}) };
    const base = planDrbdDisk(x);
    if (base.migration) migrations.push(base.migration);
    const conv = planPlainToDrbd(x, base, where.running);
    // A replica elsewhere is replaced only when the secondary was named (manifest, or a drain's answer), never on a guess.
    const former = [...formerReplicas(inst, disk, [primary.name, secondary.name], where.candidates, observed), ...(where.gone ? [goneReplica(inst, disk, where.gone.node, where.gone.why, observed)] : [])];
    if (former.length > 0 && !where.replace && conv.refused.length === 0) {
      conv.notes.push(`disk ${disk.index} also has LVs on ${former.map((f) => f.node).join(', ')}, which is not its secondary ${secondary.name} (${where.keptBy ?? 'chosen by observation'}): left alone; name placement.secondary to replace the secondary explicitly`);
    }
    const p = conv.refused.length > 0 || !where.replace ? conv : planReplaceSecondary(x, conv, former);
    out.drop.push(...conv.drop, ...p.drop, ...unusableDiskLvs(base, inst, disk, planned));
    out.diffs.push(...p.diffs);
    out.actions.push(...p.actions);
    out.refused.push(...p.refused);
    out.notes.push(...p.notes);
    blocks ||= p.blocksRuntime && disk.state === 'present';
    heldOn ??= p.heldOn;
  }
  const ready = liveMigration && out.refused.length === 0 && migrations.length > 0;
  return { ...out, blocksRuntime: blocks, ...(ready ? { migrations } : {}), ...(heldOn !== undefined ? { heldOn } : {}) };
}

/** A disk whose nodes run a DRBD Gantry cannot drive gets no LV created or grown for it either. */
function unusableDiskLvs(base: DrbdDiskPlan, inst: PlanInstance, disk: PlanDisk, planned: readonly Action[]): Action[] {
  if (!base.refused.some((r) => r.code === 'DRBD_VERSION_UNSUPPORTED' || r.code === 'DRBD_VERSION_MIXED')) return [];
  const names = new Set([diskLvName(inst.name, disk.index), diskMetaLvName(inst.name, disk.index)]);
  return planned.filter((a) => (a.verb === 'lv.create' || a.verb === 'lv.extend') && names.has(a.name));
}

/** The nodes an instance waits for: where it was last seen, else (seen nowhere) every node with no known past. */
function waitingFor(loc: InstanceLocation | undefined, unknown: readonly BlindNode[]): string[] {
  if (loc && loc.waitsFor.size > 0) return [...loc.waitsFor];
  return unknown.map((b) => b.node);
}

function nodeWaits(blind: ReadonlyMap<string, BlindNode>, waits: ReadonlyMap<string, string[]>): NodeWait[] {
  return [...blind.values()].map((b) => ({ node: b.node, why: b.why, ...(b.last ? { since: b.last.observedAt } : {}), subjects: [...new Set(waits.get(b.node) ?? [])].sort() }));
}

const NO_ENTRIES = new Map<string, never>();
const EMPTY_CACHE: PlanCache = { global: '', instances: new Map(), digests: new Map(), lvFacts: new Map(), order: { names: [], sorted: [] }, wholes: new Map() };

/** The instances in name order (the locale's collation); the incremental planner keeps the order while the list of names is the same, name by name (40,000 collations are a tenth of a second). */
function instanceOrder(input: PlanInput, track: boolean, prev: PlanCache | undefined): { sorted: PlanInstance[]; order: PlanCache['order'] } {
  const list = input.instances;
  const same = prev !== undefined && prev.order.names.length === list.length && prev.order.sorted.length === list.length && list.every((inst, i) => prev.order.names[i] === inst.name);
  const sorted = same ? prev.order.sorted : [...list.keys()].sort((a, b) => collate(list[a]!.name, list[b]!.name));
  return { sorted: sorted.map((i) => list[i]!), order: { names: same ? prev.order.names : track ? list.map((i) => i.name) : [], sorted } };
}

/**
 * The instance pass: each instance's part, reused from `cache` when its spec and every
 * fingerprint of what it read are unchanged (and its DRBD minors and VNC display replay to
 * the same numbers), else planned with its reads recorded. Without `nodes` (digests): plan() itself.
 */
function instancePass(
  base: InstanceCtx, input: PlanInput, observed: ObservedCluster, cache: PlanCache | undefined, nodes: Pick<PlanCache, 'digests' | 'lvFacts' | 'order' | 'drbdRecords' | 'drbdKeyParts'> | undefined,
): { slice: (inst: PlanInstance) => InstanceSlice; done: () => { cache: PlanCache; stats: PlanCacheStats } } {
  if (!nodes) {
    return { slice: (inst) => planOne(base, inst), done: () => ({ cache: EMPTY_CACHE, stats: { reused: 0, planned: input.instances.length, why: {}, full: true } }) };
  }
  const rec = new ReadRecorder();
  const ctx = trackedCtx(base, rec);
  const maps = new Map<string, ReadonlyMap<string, unknown> | ReadonlySet<string> | undefined>([
    ['nics', base.hooks.nics], ['nicErrors', base.hooks.nicErrors], ['copies', base.hooks.copies], ['superseded', base.hooks.superseded], ['failovers', input.failovers], ['repairs', input.repairs],
    ['bootIds', input.bootIds], ['restarts', input.watcher?.restarts], ['gone', base.gone], ['rebooted', base.rebooted], ['sides', base.drbdSides], ['evacs', base.evacs],
    ['secondaryEvacs', base.secondaryEvacs], ['fixEvacs', base.fixEvacs], ['drainLater', base.drainLater],
  ]);
  const fp = new Fingerprints({
    input, observed, blind: base.blind, located: base.located,
    map: (id) => (id === 'taps' ? base.tapIndex().nodesWith : id === 'tapOrder' ? base.tapIndex().order : maps.has(id) ? maps.get(id) ?? NO_ENTRIES : undefined),
    disks: (id, key) => diskIndexFingerprint(id, key, ctx.nodes, input.cluster, ctx.observed),
  }, nodes.digests);
  const global = fp.global();
  const reuse = cache !== undefined && cache.global === global;
  const wholes = fp.wholes(reuse ? cache.wholes : undefined);
  const derived: DerivedMaps = { located: base.located, copies: base.hooks.copies, sides: base.drbdSides, nics: base.hooks.nics };
  if (reuse) fp.since(changedKeys(cache.derived, derived));
  // The DRBD allocator starts from the records the cache's pass started from: a reused part's recorded numbers are its again (DrbdAllocator.sameRecords).
  const sameRecords = reuse && base.drbdAlloc.sameRecords(cache.drbdRecords);
  const next = new Map<string, CachedInstance>();
  const why: Record<string, number> = {};
  const count = (k: string) => void (why[k] = (why[k] ?? 0) + 1);
  let reused = 0;
  return {
    slice: (inst) => {
      const old = reuse ? cache.instances.get(inst.name) : undefined;
      const specKey = old?.spec === inst ? old.specKey : JSON.stringify(inst);
      if (old) {
        const miss = old.specKey !== specKey ? 'spec' : fp.staleRead(old.reads);
        if (miss === undefined && replay(base, inst.name, old.slice, sameRecords)) {
          next.set(inst.name, old.spec === inst ? old : { ...old, spec: inst });
          reused++;
          return old.slice;
        }
        count(miss === undefined ? 'replay' : `changed:${miss}`);
      } else {
        count(cache === undefined ? 'first pass' : reuse ? 'not cached' : 'cluster-wide input changed');
      }
      rec.begin(true);
      const s = planOne(ctx, inst);
      const reads = rec.end()!;
      if (s.uncacheable !== undefined) count(`order/clock:${s.uncacheable}`);
      else next.set(inst.name, { spec: inst, specKey, reads: fp.fingerprint(reads), slice: s });
      return s;
    },
    done: () => ({ cache: { global, instances: next, wholes, derived, ...nodes }, stats: { reused, planned: input.instances.length - reused, why, full: !reuse } }),
  };
}

function planOne(c: InstanceCtx, inst: PlanInstance): InstanceSlice {
  const s = emptySlice();
  planInstance(c, inst, s);
  return s;
}

/**
 * A reused part's DRBD minors and ports and VNC displays, asked again in this pass's order:
 * true when each gives what it gave (recorded numbers only: nothing new is taken). With the
 * allocator started from the same records as in the cache's pass (`sameRecords`), its DRBD
 * numbers are not asked again: they are recorded ones, which give the same answer from the
 * same records whatever else is allocated (DrbdAllocator.sameRecords).
 */
function replay(c: InstanceCtx, name: string, s: InstanceSlice, sameRecords: boolean): boolean {
  if (!sameRecords) {
    for (const call of s.drbdCalls) {
      if (!c.drbdAlloc.reclaim(name, call.index, call.nodes, call.port, call.minors)) return false;
    }
  }
  for (const [node, d] of s.vncCalls) {
    if (d === undefined || c.vnc.recordedOn(name, node) !== d || c.vnc.heldBy(node, d) !== name) return false;
    c.vnc.displayFor(name, node);
  }
  if (s.drbdAllocs) c.drbdAllocs.set(name, s.drbdAllocs);
  return true;
}

/** The instance pass's inputs with every cluster-wide lookup noted by `rec` (plan/plan-cache). */
function trackedCtx(b: InstanceCtx, rec: ReadRecorder): InstanceCtx {
  const map = <V,>(id: string, m: ReadonlyMap<string, V> | undefined) => new TrackedMap(id, m ?? new Map<string, V>(), rec);
  // Optional maps are tracked even when absent (as empty): a record that appears later is a changed read.
  const o = b.observed;
  const observed: ObservedCluster = { ...o, nodes: new TrackedNodes(o.nodes, rec), lastKnown: map('last', o.lastKnown), liveness: map('live', o.liveness), offlineAnswers: map('offline', o.offlineAnswers), reads: rec };
  const i = b.input;
  const input: PlanInput = {
    ...i, failovers: map('failovers', i.failovers), repairs: map('repairs', i.repairs), bootIds: map('bootIds', i.bootIds),
    watcher: { ...i.watcher, restarts: map('restarts', i.watcher?.restarts) },
  };
  Object.defineProperty(input, 'now', { enumerable: true, get: () => (rec.note('now', ''), i.now) });
  Object.defineProperty(input, 'nodes', { enumerable: true, get: () => (rec.note('spec', '*'), i.nodes) });
  Object.defineProperty(input, 'instances', { enumerable: true, get: () => (rec.note('instances', '*'), i.instances) });
  // Read by the whole-cluster steps only (orphans); an instance part that reads it is planned every pass.
  if (i.lastApplied !== undefined) Object.defineProperty(input, 'lastApplied', { enumerable: true, get: () => (rec.note('instances', '*'), i.lastApplied) });
  const nodes = map('spec', b.nodes);
  const disksExist = (inst: PlanInstance, primary: string, secondary: string | undefined): boolean => {
    const vols = inst.disks.filter((d) => d.state === 'present').flatMap((d) => volumesOf(inst, d, primary, secondary, nodes, input.cluster));
    return vols.length > 0 && vols.every((v) => {
      const on = observed.nodes.get(v.node);
      return v.kind === 'lv' ? on?.lvs[`${v.vg}/${v.name}`] !== undefined : on?.files[v.path] !== undefined;
    });
  };
  const hooks: RuntimeHooks = {
    ...b.hooks, nodes, disksExist, nics: map('nics', b.hooks.nics), nicErrors: map('nicErrors', b.hooks.nicErrors), copies: map('copies', b.hooks.copies),
    ...(b.hooks.superseded ? { superseded: map('superseded', b.hooks.superseded) } : {}),
  };
  const tapIndex = () => {
    const t = b.tapIndex();
    return { nodesWith: map('taps', t.nodesWith), order: map('tapOrder', t.order) };
  };
  const timeline = (node: string) => {
    const l = observed.liveness?.get(node);
    return { ...(l?.detected ? { detected: l.detected } : {}), ...(l?.fence ? { fenced: l.fence.at } : {}) };
  };
  const seen = (n: string) => observed.nodes.get(n)?.reachable === true;
  return {
    ...b, input, observed, nodes, hooks, tapIndex, timeline, seen, drainLater: map('drainLater', b.drainLater),
    located: map('located', b.located), blind: map('blind', b.blind), nics: hooks.nics, gone: map('gone', b.gone), goneSet: new TrackedSet('gone', b.goneSet, rec),
    rebooted: new TrackedSet('rebooted', b.rebooted, rec), drbdSides: map('sides', b.drbdSides), evacs: map('evacs', b.evacs), secondaryEvacs: map('secondaryEvacs', b.secondaryEvacs), fixEvacs: map('fixEvacs', b.fixEvacs),
  };
}
