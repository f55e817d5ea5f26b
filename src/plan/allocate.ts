/**
 * The planner's allocator for instances the manifests do not place: Ganeti's hail
 * (src/place) over a cluster model built from the desired state and the observation.
 * Pure. One allocator per plan: each placement is added to the model before the next,
 * so two new instances never both take the last free slot.
 */
import { allocate, buildCluster, evacuate, type IPolicy, type NodeInput, type InstanceInput, type PlaceCluster } from '../place/index.js';
import type { ObservedCluster, PlanInput, PlanInstance } from '../core/plan.js';
import { localFileDirs, locateInstances, type InstanceLocation } from './locate.js';
import { goneNodes } from './failover.js';
import { observedSecondary } from './drain.js';

export type Allocation = { primary: string; secondary?: string } | { error: string };
/** A new DRBD secondary (node-evacuate in secondary-only mode, hail's change-secondary). */
export type SecondaryAllocation = { secondary: string } | { error: string };

/**
 * Chooses a node for an instance the manifests do not place; `evacuate` (Ganeti's
 * node-evacuate, primary-only) moves running instances off drained nodes, all in one
 * request so that two evacuees never both take the last free slot.
 */
export type AllocateFn = ((inst: PlanInstance) => Allocation) & {
  readonly evacuate?: (names: readonly string[]) => ReadonlyMap<string, Allocation>;
  /** New secondaries for DRBD instances whose secondary is drained, all in one request. */
  readonly evacuateSecondaries?: (names: readonly string[]) => ReadonlyMap<string, SecondaryAllocation>;
};

export interface AllocatorContext {
  /** Group alloc policies (NodeGroup spec.allocPolicy). */
  readonly groups: readonly { name: string; allocPolicy: 'preferred' | 'last_resort' | 'unallocable'; ipolicy?: IPolicy }[];
  /** Default volume group whose size is a node's disk capacity. */
  readonly volumeGroup: string;
}

/** `located`: locateInstances of the same input and observation, when the caller has it (plan() does: one read of every LV a plan). */
export function makeAllocator(input: PlanInput, observed: ObservedCluster, ctx: AllocatorContext, located: ReadonlyMap<string, InstanceLocation> = locateInstances(observed, localFileDirs(input.nodes))): AllocateFn {
  const nodes: NodeInput[] = input.nodes.map((n) => {
    const o = observed.nodes.get(n.name);
    const usable = o?.reachable === true && n.role !== 'offline' && n.role !== 'drained';
    const vg = o?.vgs[ctx.volumeGroup];
    return {
      name: n.name, group: n.group, offline: !usable,
      memoryMiB: n.memoryMiB ?? o?.facts.memoryTotalMiB ?? 0,
      diskMiB: vg?.sizeMiB ?? 0,
      cpus: n.cpus ?? (o?.facts.cpus || 1),
      ...(n.exclusiveStorage ? { exclusiveStorage: true, spindles: n.spindles ?? (vg?.pvs.length || 1) } : {}),
    };
  });
  const known = new Set(input.nodes.map((n) => n.name));
  const byName = new Map(input.nodes.map((n) => [n.name, n]));
  // Instances on a Dead or Offline node hold nothing on a live one: the failing-over ones are allocated anew.
  const gone = goneNodes(input, observed);
  const drained = new Set(input.nodes.filter((n) => n.role === 'drained').map((n) => n.name));
  const existing: InstanceInput[] = [];
  for (const i of input.instances) {
    if (i.state === 'absent') continue;
    const moved = input.failovers?.get(i.name);
    const running = located.get(i.name)?.running;
    const pinned = moved && i.primary === moved.from ? moved.to : i.primary;
    // Pinned to a drained node but already moved off it: it holds its room where it runs.
    const loc = located.get(i.name);
    // A DRBD one's primary may have moved to its secondary (plan/drain): it is where it runs, else where its device is Primary.
    const at = running ?? (i.diskTemplate === 'drbd' ? loc?.drbdPrimary : undefined);
    const left = pinned !== undefined && drained.has(pinned) && at !== undefined && at !== pinned;
    const primary = (left ? at : pinned) ?? at ?? [...(loc?.nodes ?? [])].sort()[0];
    if (!primary || !known.has(primary) || gone.has(primary)) continue;
    const secondary = i.diskTemplate === 'drbd' ? ((left ? undefined : i.secondary) ?? observedSecondary(loc, primary, byName)) : undefined;
    if (i.diskTemplate === 'drbd' && (!secondary || !known.has(secondary))) continue;
    existing.push(toInstanceInput(i, primary, secondary));
  }
  let cluster: PlaceCluster = buildCluster({
    groups: ctx.groups.length ? ctx.groups.map((g) => ({ name: g.name, allocPolicy: g.allocPolicy, ...(g.ipolicy ? { ipolicy: g.ipolicy } : {}) })) : [{ name: 'default' }],
    nodes, instances: existing, exclusionTags: input.cluster.exclusionTags,
  });
  const one = (inst: PlanInstance): Allocation => {
    const r = allocate(cluster, {
      name: inst.name, memoryMiB: inst.memoryMiB, vcpus: inst.vcpus, diskTemplate: inst.diskTemplate,
      disksMiB: inst.disks.filter((d) => d.state === 'present').map((d) => d.sizeMiB), tags: inst.tags,
      ...(inst.group !== undefined ? { group: inst.group } : {}), spindles: planSpindles(inst),
    });
    if (!r.ok) return { error: `no node can take ${inst.name}: ${r.message}` };
    cluster = r.cluster;
    return { primary: r.primary, ...(r.secondary !== undefined ? { secondary: r.secondary } : {}) };
  };
  const evacuateNames = (names: readonly string[]): Map<string, Allocation> => {
    const held = new Set(cluster.instances.map((i) => i.name));
    const r = evacuate(cluster, names.filter((n) => held.has(n)), 'primary-only');
    cluster = r.cluster;
    const out = new Map<string, Allocation>(names.filter((n) => !held.has(n)).map((n) => [n, { error: `${n} is not in the placement model (unknown primary)` }]));
    for (const [name, , [primary]] of r.moved) out.set(name, { primary: primary! });
    for (const [name, why] of r.failed) out.set(name, { error: why });
    return out;
  };
  const evacuateSecondaries = (names: readonly string[]): Map<string, SecondaryAllocation> => {
    const held = new Set(cluster.instances.map((i) => i.name));
    const r = evacuate(cluster, names.filter((n) => held.has(n)), 'secondary-only');
    cluster = r.cluster;
    const out = new Map<string, SecondaryAllocation>(names.filter((n) => !held.has(n)).map((n) => [n, { error: `${n} is not in the placement model (unknown primary or secondary)` }]));
    for (const [name, , [, secondary]] of r.moved) out.set(name, secondary !== undefined ? { secondary } : { error: 'the answer names no secondary' });
    for (const [name, why] of r.failed) out.set(name, { error: why });
    return out;
  };
  return Object.assign(one, { evacuate: evacuateNames, evacuateSecondaries });
}

function toInstanceInput(i: PlanInstance, primary: string, secondary: string | undefined): InstanceInput {
  return {
    name: i.name, memoryMiB: i.memoryMiB, vcpus: i.vcpus, diskTemplate: i.diskTemplate, primary,
    ...(secondary !== undefined ? { secondary } : {}),
    disksMiB: i.disks.filter((d) => d.state === 'present').map((d) => d.sizeMiB), tags: i.tags,
    status: i.runtime?.powerState === 'stopped' ? 'ADMIN_down' : 'running', spindles: planSpindles(i),
  };
}

/** Spindles an instance's present disks use on exclusive-storage nodes (default 1 each). */
function planSpindles(i: PlanInstance): number {
  return i.disks.filter((d) => d.state === 'present').reduce((a, d) => a + (d.spindles ?? 1), 0);
}
