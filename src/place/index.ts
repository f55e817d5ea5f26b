/**
 * Placement: htools-grade allocation, balancing, capacity and N+1, pure.
 *
 * The reconciler's planner calls `allocate` for instances that have no placement
 * in their manifest:
 *
 *   const cluster = buildCluster({ groups, nodes, instances });
 *   const r = allocate(cluster, { name: 'web1', memoryMiB: 2048, vcpus: 2, diskMiB: 20480,
 *                                 diskTemplate: 'drbd', tags: [] });
 *   if (r.ok) use(r.primary, r.secondary, r.cluster)   // r.cluster has web1 placed
 *   else explain(r.message, r.reasons)                   // e.g. { FailMem: 3, FailN1: 1, ... }
 *
 * API
 *   buildCluster(input): PlaceCluster            plain arrays -> frozen cluster (defaults filled)
 *   allocate(cluster, req, opts?): AllocateResult hail: best node / DRBD pair, counted failure reasons
 *   balance(cluster, opts?): BalanceResult        hbal: moves grouped in waves, score after each
 *   capacity(cluster, opts?): CapacityResult      hspace: how many more of a spec fit, and why not more
 *   allocateMany(cluster, reqs, opts?)            multi-allocate, in order, each seeing the previous ones
 *   evacuate(cluster, instances, mode)            HA: move instances off their nodes (failover / new secondary / both)
 *   changeGroup(cluster, instances, groups?)      HA: re-allocate instances into another node group
 *   clusterScore(cluster, group?): number         Ganeti's cluster score (what hbal prints)
 *   scoreComponents(cluster, group): {name, weight, value}[]
 *   parseText / serializeText                     htools text format
 *   answerRequest / answerRequestText             IAllocator protocol (hail)
 *
 * Everything here is pure: values in, values out; no clock, no I/O, no randomness.
 */
import { allocateInstance } from './allocate.js';
import { allocateDedicated, isDedicated } from './dedicated.js';
import { evacuateInstances, type EvacMode } from './iallocator.js';
import { ClusterState, SCORE_COMPONENTS } from './state.js';
import { exclusionPrefixes } from './tags.js';
import {
  type AllocPolicy, type DiskTemplate, type FailCounts, type InstanceStatus, type IPolicy,
  type PlaceCluster, type PlaceGroup, type PlaceInstance, type PlaceNode,
  DEFAULT_IPOLICY, emptyFailCounts,
} from './types.js';

export { balance, balanceGroups, type BalanceMove, type BalanceOptions, type BalanceResult, type GroupBalance } from './balance.js';
export { capacity, machineReadable, parseSpec, type CapacityOptions, type CapacityResult, type CapacitySpec } from './capacity.js';
export { answerRequest, answerRequestText, clusterFromRequest, type EvacMode, type EvacuationResult, type IAllocatorAnswer } from './iallocator.js';
export { clusterFromDesired, ipolicyFromDesired, type FromDesiredResult, type NodeFacts } from './from-desired.js';
export { parseText, serializeText, TextFormatError } from './text.js';
export { policyViolation } from './policy.js';
export type { MoveType } from './state.js';
export * from './types.js';

export interface GroupInput {
  readonly name: string;
  readonly uuid?: string;
  readonly allocPolicy?: AllocPolicy;
  readonly tags?: readonly string[];
  readonly networks?: readonly string[];
  readonly ipolicy?: IPolicy;
}

export interface NodeInput {
  readonly name: string;
  /** Group name or uuid; default the first group. */
  readonly group?: string;
  readonly memoryMiB: number;
  /** Memory used by the node itself (Ganeti n_mem). Default 0. */
  readonly nodeMemoryMiB?: number;
  /** Free memory as reported; default total - node - running instances. */
  readonly freeMemoryMiB?: number;
  readonly diskMiB: number;
  /** Free disk; default total - disks of its instances. */
  readonly freeDiskMiB?: number;
  readonly cpus: number;
  readonly reservedCpus?: number;
  readonly cpuSpeed?: number;
  /** Offline or drained nodes never receive instances. */
  readonly offline?: boolean;
  /** Spindles: with exclusive storage, the PVs of the volume group; else Ganeti's spindle_count. Default 1. */
  readonly spindles?: number;
  /** ndparams exclusive_storage: disks get PVs of their own, placement counts spindles. Default false. */
  readonly exclusiveStorage?: boolean;
  /** Free spindles (exclusive storage); default spindles - those of the instances' disks on it. */
  readonly freeSpindles?: number;
  readonly tags?: readonly string[];
}

export interface InstanceInput {
  readonly name: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  /** Disk sizes (MiB); for DRBD, 128 MiB of metadata per disk are added like Ganeti's disk_space_total. */
  readonly disksMiB: readonly number[];
  readonly diskTemplate: DiskTemplate;
  readonly primary: string;
  readonly secondary?: string | null;
  readonly status?: InstanceStatus;
  readonly autoBalance?: boolean;
  readonly tags?: readonly string[];
  readonly spindleUse?: number;
  /** Spindles its disks use on exclusive-storage nodes (sum over the disks); default one per disk. */
  readonly spindles?: number;
  readonly networks?: readonly string[];
}

export interface ClusterInput {
  readonly groups?: readonly GroupInput[];
  readonly nodes: readonly NodeInput[];
  readonly instances?: readonly InstanceInput[];
  readonly clusterTags?: readonly string[];
  readonly ipolicy?: IPolicy;
  /** Exclusion tag prefixes (Ganeti cluster tags htools:iextags:PREFIX). */
  readonly exclusionTags?: readonly string[];
}

const DRBD_META_MIB = 128;

export function totalDisk(t: DiskTemplate, disks: readonly number[]): number {
  const s = disks.reduce((a, b) => a + b, 0);
  return t === 'drbd' ? s + DRBD_META_MIB * disks.length : s;
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

/** Spindles an instance's disks take on an exclusive-storage node (Ganeti: the disks' spindles). */
function instanceSpindles(i: InstanceInput): number {
  return i.spindles ?? i.disksMiB.length;
}

/**
 * Per node, in one pass over the instances: memory of running primaries, and disk of
 * plain/DRBD instances it holds as primary or secondary (counted once when both).
 */
function usagePerNode(insts: readonly InstanceInput[]): { running: Map<string, number>; disk: Map<string, number>; spindles: Map<string, number> } {
  const running = new Map<string, number>();
  const disk = new Map<string, number>();
  const spindles = new Map<string, number>();
  for (const i of insts) {
    if ((i.status ?? 'running') === 'running') add(running, i.primary, i.memoryMiB);
    if (i.diskTemplate !== 'plain' && i.diskTemplate !== 'drbd') continue;
    const d = totalDisk(i.diskTemplate, i.disksMiB);
    const sp = instanceSpindles(i);
    add(disk, i.primary, d);
    add(spindles, i.primary, sp);
    if (typeof i.secondary === 'string' && i.secondary !== i.primary) { add(disk, i.secondary, d); add(spindles, i.secondary, sp); }
  }
  return { running, disk, spindles };
}

/** Builds a frozen PlaceCluster from plain arrays, filling Ganeti's defaults. */
export function buildCluster(input: ClusterInput): PlaceCluster {
  const ipolicy = input.ipolicy ?? DEFAULT_IPOLICY;
  const gin = input.groups && input.groups.length ? input.groups : [{ name: 'default' }];
  const groups: PlaceGroup[] = gin.map((g) => Object.freeze({
    name: g.name, uuid: g.uuid ?? g.name, allocPolicy: g.allocPolicy ?? 'preferred', tags: [...(g.tags ?? [])],
    networks: [...(g.networks ?? [])], ipolicy: g.ipolicy ?? ipolicy,
  }));
  const gByKey = new Map<string, string>();
  for (const g of groups) { gByKey.set(g.name, g.uuid); gByKey.set(g.uuid, g.uuid); }
  const insts = input.instances ?? [];
  const sums = usagePerNode(insts);
  const nodes: PlaceNode[] = input.nodes.map((n) => {
    const group = n.group === undefined ? groups[0]!.uuid : gByKey.get(n.group);
    if (group === undefined) throw new Error(`node ${n.name}: unknown group '${n.group}'`);
    const nodeMem = n.nodeMemoryMiB ?? 0;
    const running = sums.running.get(n.name) ?? 0;
    const used = sums.disk.get(n.name) ?? 0;
    const excl = n.exclusiveStorage ?? false;
    const tSp = n.spindles ?? 1;
    return Object.freeze({
      name: n.name, group, tMem: n.memoryMiB, nMem: nodeMem, fMem: n.freeMemoryMiB ?? n.memoryMiB - nodeMem - running,
      tDsk: n.diskMiB, fDsk: n.freeDiskMiB ?? n.diskMiB - used, tCpu: n.cpus, nCpu: n.reservedCpus ?? 1,
      cpuSpeed: n.cpuSpeed ?? 1, offline: n.offline ?? false, master: false, tSpindles: tSp,
      fSpindles: excl ? n.freeSpindles ?? tSp - (sums.spindles.get(n.name) ?? 0) : 0,
      exclStorage: excl, tags: [...(n.tags ?? [])],
    });
  });
  const instances: PlaceInstance[] = insts.map((i) => Object.freeze(toPlaceInstance(i)));
  const ctags = [...(input.clusterTags ?? []), ...(input.exclusionTags ?? []).map((p) => `htools:iextags:${p}`)];
  const c: PlaceCluster = Object.freeze({ groups, nodes, instances, clusterTags: ctags, ipolicy });
  new ClusterState(c); // validates references (unknown nodes, same primary and secondary)
  return c;
}

function toPlaceInstance(i: InstanceInput): PlaceInstance {
  return {
    name: i.name, mem: i.memoryMiB, dsk: totalDisk(i.diskTemplate, i.disksMiB), disks: [...i.disksMiB], vcpus: i.vcpus,
    status: i.status ?? 'running', autoBalance: i.autoBalance ?? true, pNode: i.primary,
    sNode: i.diskTemplate === 'drbd' ? i.secondary ?? null : null, diskTemplate: i.diskTemplate, tags: [...(i.tags ?? [])],
    spindleUse: i.spindleUse ?? 1, spindles: i.spindles ?? null, nics: (i.networks ?? []).map((n) => ({ network: n })),
  };
}

export interface AllocateRequest {
  readonly name: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  /** Total disk (MiB) as one disk, or `disksMiB` for several. */
  readonly diskMiB?: number;
  readonly disksMiB?: readonly number[];
  readonly diskTemplate: DiskTemplate;
  readonly tags?: readonly string[];
  /** Restrict to one group (name or uuid). */
  readonly group?: string;
  readonly spindleUse?: number;
  /** Spindles its disks use on exclusive-storage nodes; default one per disk. */
  readonly spindles?: number;
  readonly networks?: readonly string[];
}

export interface AllocateOptions {
  /** Keep the group globally N+1 redundant (hail's default). Default true. */
  readonly capacityChecks?: boolean;
}

export type AllocateResult =
  | {
    readonly ok: true;
    readonly primary: string;
    readonly secondary?: string;
    readonly group: string;
    /** Group score after the allocation (equals `clusterScore(result.cluster, group)`). */
    readonly score: number;
    /** The cluster with the instance placed. */
    readonly cluster: PlaceCluster;
  }
  | {
    readonly ok: false;
    /** How many candidate nodes/pairs failed for each reason. */
    readonly reasons: FailCounts;
    readonly message: string;
  };

/** hail: places one new instance; never throws for "does not fit" (returns reasons). */
export function allocate(cluster: PlaceCluster, req: AllocateRequest, opts: AllocateOptions = {}): AllocateResult {
  const st = new ClusterState(cluster);
  if (st.insts.some((i) => i.name === req.name)) {
    return { ok: false, reasons: emptyFailCounts(), message: `instance ${req.name} already exists` };
  }
  const disks = req.disksMiB ?? (req.diskMiB !== undefined && req.diskTemplate !== 'diskless' ? [req.diskMiB] : []);
  const inst: PlaceInstance = {
    ...toPlaceInstance({
      name: req.name, memoryMiB: req.memoryMiB, vcpus: req.vcpus, disksMiB: disks, diskTemplate: req.diskTemplate,
      primary: '', secondary: null, tags: req.tags ?? [], spindleUse: req.spindleUse ?? 1, networks: req.networks ?? [],
      spindles: req.spindles ?? disks.length,
    }),
  };
  let groups: number[] | undefined;
  if (req.group !== undefined) {
    const g = st.groups.find((x) => x.name === req.group || x.uuid === req.group);
    if (!g) return { ok: false, reasons: emptyFailCounts(), message: `unknown group '${req.group}'` };
    groups = [g.gdx];
  }
  const ii = st.addInstance(inst, exclusionPrefixes(cluster.clusterTags));
  const groupName = groups ? st.groups[groups[0]!]!.name : undefined;
  // like hail: on a dedicated (exclusive-storage) cluster, the lost-allocations metric
  const out = isDedicated(st, groupName)
    ? allocateDedicated(st, ii, { pairs: inst.diskTemplate === 'drbd', ...(groupName !== undefined ? { groupName } : {}) })
    : allocateInstance(st, ii, { capacity: opts.capacityChecks ?? true, ...(groups ? { groups } : {}) });
  if (!out.ok) {
    return { ok: false, reasons: out.fails, message: out.messages.join('; ') || 'no online nodes' };
  }
  const primary = st.nodes[out.p]!.name;
  const secondary = out.s >= 0 ? st.nodes[out.s]!.name : undefined;
  return {
    ok: true, primary, ...(secondary !== undefined ? { secondary } : {}), group: st.groups[out.gdx]!.name,
    score: st.rereadGroupScore(out.gdx), cluster: st.toCluster(),
  };
}

/** Ganeti's cluster score of one group (name or uuid; default the first group). */
export function clusterScore(cluster: PlaceCluster, group?: string): number {
  const st = new ClusterState(cluster);
  const g = group === undefined ? st.groups[0] : st.groups.find((x) => x.name === group || x.uuid === group);
  if (!g) throw new Error(`unknown group '${group ?? ''}'`);
  return st.exactGroupScore(g.gdx);
}

/** The score's components for a group, as `hinfo`/`hbal -v` print them. */
export function scoreComponents(cluster: PlaceCluster, group: string): { name: string; weight: number; value: number }[] {
  const st = new ClusterState(cluster);
  const g = st.groups.find((x) => x.name === group || x.uuid === group);
  if (!g) throw new Error(`unknown group '${group}'`);
  const v = st.groupComponents(g.gdx);
  return SCORE_COMPONENTS.map((c, k) => ({ name: c.name, weight: c.weight, value: v[k]! }));
}

/** Multi-allocation: each request sees the instances placed before it. */
export function allocateMany(
  cluster: PlaceCluster, reqs: readonly AllocateRequest[], opts: AllocateOptions = {},
): { cluster: PlaceCluster; results: { name: string; result: AllocateResult }[] } {
  let cur = cluster;
  const results: { name: string; result: AllocateResult }[] = [];
  for (const r of reqs) {
    const res = allocate(cur, r, opts);
    if (res.ok) cur = res.cluster;
    results.push({ name: r.name, result: res });
  }
  return { cluster: cur, results };
}

export interface EvacuateResult {
  readonly cluster: PlaceCluster;
  /** [instance, group, [primary, secondary?]] for each moved instance. */
  readonly moved: readonly (readonly [string, string, readonly string[]])[];
  readonly failed: readonly (readonly [string, string])[];
}

/**
 * Evacuation for the HA work: 'primary-only' fails DRBD instances over to their
 * secondary, 'secondary-only' gives them a new secondary, 'all' re-allocates both
 * nodes within the group; shared-storage instances move to the best other node.
 */
export function evacuate(cluster: PlaceCluster, instances: readonly string[], mode: EvacMode): EvacuateResult {
  const st = new ClusterState(cluster);
  const r = evacuateInstances(st, instances, mode, 'evac');
  return { cluster: st.toCluster(), moved: r.moved, failed: r.failed };
}

/** Re-allocates instances into another group (any other group when `groups` is empty). */
export function changeGroup(cluster: PlaceCluster, instances: readonly string[], groups: readonly string[] = []): EvacuateResult {
  const st = new ClusterState(cluster);
  const r = evacuateInstances(st, instances, 'all', 'change-group', groups);
  return { cluster: st.toCluster(), moved: r.moved, failed: r.failed };
}
