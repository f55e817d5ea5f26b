/**
 * Adapter: the desired state (src/desired) -> a PlaceCluster, so the planner and
 * `gantry balance -f` use the same engine as the htools text mode.
 *
 * Manifests say where instances should run but not how big nodes are; sizes come
 * from `facts` (observed free/total memory, disk, CPUs per node), else from the
 * Node's spec.memory / spec.cpus. A node without a known disk size gets an
 * effectively unbounded disk (disk never limits placement on it); a node without
 * any memory size is left out (and so are instances that need it). Drained and
 * offline nodes never receive instances. Instances without a complete placement
 * (no primary, or DRBD without a secondary) are listed as `unplaced`: the
 * planner allocates them with `allocate`.
 */
import type { DesiredInstance, DesiredState, IPolicyEff, ISpecEff } from '../desired/model.js';
import { buildCluster, type GroupInput, type InstanceInput, type NodeInput } from './index.js';
import type { DiskTemplate, IPolicy, ISpec, PlaceCluster } from './types.js';
import type { ObservedCluster } from '../core/plan.js';

export interface NodeFacts {
  readonly memoryMiB?: number;
  readonly nodeMemoryMiB?: number;
  readonly freeMemoryMiB?: number;
  readonly diskMiB?: number;
  readonly freeDiskMiB?: number;
  readonly cpus?: number;
  readonly reservedCpus?: number;
  readonly spindles?: number;
}

export interface FromDesiredResult {
  readonly cluster: PlaceCluster;
  /** Instances the planner still has to place. */
  readonly unplaced: readonly string[];
  /** Nodes and instances left out, with the reason. */
  readonly skipped: readonly { readonly kind: 'Node' | 'Instance'; readonly name: string; readonly reason: string }[];
}

/** Disk size used when nothing says how big a node's volume group is (1 PiB). */
export const UNKNOWN_DISK_MIB = 1024 * 1024 * 1024;

function spec(s: ISpecEff): ISpec {
  return {
    memorySize: s.memory, cpuCount: s.vcpus, diskSize: s.diskSize, diskCount: s.diskCount, nicCount: s.nicCount,
    spindleUse: s.spindleUse,
  };
}

export function ipolicyFromDesired(p: IPolicyEff): IPolicy {
  return {
    minMax: [{ min: spec(p.minSpec), max: spec(p.maxSpec) }], std: spec(p.stdSpec),
    diskTemplates: p.diskTemplates as DiskTemplate[], vcpuRatio: p.vcpuRatio, spindleRatio: p.spindleRatio,
  };
}

/** Spindles an instance's disks take on exclusive-storage nodes: each disk's, default 1. */
export function desiredSpindles(i: DesiredInstance): number {
  return i.disks.filter((d) => d.state === 'present').reduce((a, d) => a + (d.spindles ?? 1), 0);
}

function presentDisks(i: DesiredInstance): number[] {
  return i.disks.filter((d) => d.state === 'present').map((d) => d.size);
}

export function clusterFromDesired(state: DesiredState, facts: Readonly<Record<string, NodeFacts>> = {}): FromDesiredResult {
  const skipped: { kind: 'Node' | 'Instance'; name: string; reason: string }[] = [];
  const groups: GroupInput[] = [...state.groups.values()].map((g) => ({
    name: g.name, allocPolicy: g.allocPolicy, tags: g.tags, networks: g.networks.map((n) => n.network),
    ipolicy: ipolicyFromDesired(g.ipolicy),
  }));
  const nodes: NodeInput[] = [];
  for (const n of state.nodes.values()) {
    const f = facts[n.name] ?? {};
    const mem = f.memoryMiB ?? n.memory;
    if (mem === undefined) {
      skipped.push({ kind: 'Node', name: n.name, reason: 'memory size unknown (set spec.memory or give node facts)' });
      continue;
    }
    nodes.push({
      name: n.name, group: n.group, memoryMiB: mem, nodeMemoryMiB: f.nodeMemoryMiB ?? 0,
      ...(f.freeMemoryMiB !== undefined ? { freeMemoryMiB: f.freeMemoryMiB } : {}),
      diskMiB: f.diskMiB ?? UNKNOWN_DISK_MIB, ...(f.freeDiskMiB !== undefined ? { freeDiskMiB: f.freeDiskMiB } : {}),
      cpus: f.cpus ?? n.cpus ?? 1, reservedCpus: f.reservedCpus ?? 1, offline: n.role === 'drained' || n.role === 'offline',
      spindles: n.spindles ?? f.spindles ?? 1, exclusiveStorage: n.exclusiveStorage, tags: n.tags,
    });
  }
  const known = new Set(nodes.map((n) => n.name));
  const instances: InstanceInput[] = [];
  const unplaced: string[] = [];
  for (const i of state.instances.values()) {
    if (i.state !== 'present') continue;
    const p = i.placement.primary;
    const s = i.placement.secondary;
    const drbd = i.diskTemplate === 'drbd' || i.needsSecondary;
    if (p === undefined || (drbd && s === undefined)) { unplaced.push(i.name); continue; }
    if (!known.has(p) || (drbd && !known.has(s!))) {
      skipped.push({ kind: 'Instance', name: i.name, reason: `placed on a node left out (${[p, s].filter(Boolean).join(', ')})` });
      continue;
    }
    instances.push({
      name: i.name, memoryMiB: i.beParams.memory, vcpus: i.beParams.vcpus, disksMiB: presentDisks(i),
      diskTemplate: drbd ? 'drbd' : i.diskTemplate, primary: p, secondary: drbd ? s! : null,
      status: i.powerState === 'running' ? 'running' : 'ADMIN_down', autoBalance: i.beParams.autoBalance, tags: i.tags,
      spindleUse: i.beParams.spindleUse, spindles: desiredSpindles(i), networks: i.nics.map((n) => n.network).filter((x): x is string => x !== undefined),
    });
  }
  const cluster = buildCluster({
    groups, nodes, instances, clusterTags: state.cluster.tags, ipolicy: ipolicyFromDesired(state.cluster.ipolicy),
    exclusionTags: state.cluster.exclusionTags,
  });
  return { cluster, unplaced, skipped };
}

/**
 * Node sizes as the nodes reported them (one observation): total memory, CPUs, and the
 * cluster volume group's size and free space. Unreachable nodes are left out (their size
 * is unknown, not zero). `gantry balance --live/--cached` and the remote API use this, so
 * hbal -m reading the API and `gantry balance` see the same cluster.
 */
export function nodeFactsFromObserved(state: DesiredState, observed: ObservedCluster): Record<string, NodeFacts> {
  const vg = state.cluster.storage.volumeGroup;
  const out: Record<string, NodeFacts> = {};
  for (const [name, o] of observed.nodes) {
    if (!o.reachable) continue;
    const v = o.vgs[vg];
    out[name] = {
      memoryMiB: o.facts.memoryTotalMiB, cpus: o.facts.cpus,
      ...(v ? { diskMiB: v.sizeMiB, freeDiskMiB: v.freeMiB, ...(v.pvs.length > 0 ? { spindles: v.pvs.length } : {}) } : {}),
    };
  }
  return out;
}
