/**
 * Where things are, as far as the planner can know: the nodes observed in this pass, and
 * for a declared node that cannot be observed now, its last good snapshot (the state
 * directory's floor, ObservedCluster.lastKnown). Unknown is not absent: an instance last
 * seen on an unobservable node is still there, and a node with no known past may hold
 * anything not seen elsewhere. Every allocator (IPs, MACs, VNC displays, and DRBD minors
 * and ports) reserves from knownSnapshots(), never from the reachable nodes alone.
 */
import type { ObservedLv, ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanNode } from '../core/plan.js';
import { instanceOfDiskFile, instanceOfDiskLv, lvTagFacts } from './naming.js';
import { ALIVE } from './instance-runtime.js';

/** A declared node the planner cannot see in this pass. */
export interface BlindNode {
  readonly node: string;
  /** Why it cannot be seen: the probe error, or that it is offline. */
  readonly why: string;
  /** Its last good snapshot, when the state directory kept one. */
  readonly last?: ObservedNode;
}

/** One node's snapshot as the planner knows it; `stale` = the last good one of an unobservable node. */
export interface KnownSnapshot {
  readonly node: string;
  readonly obs: ObservedNode;
  readonly stale: boolean;
}

export interface InstanceLocation {
  /** Nodes holding its volumes, node-local disk images or runtime directory. */
  readonly nodes: Set<string>;
  /** A node where its process was seen alive. */
  running?: string;
  /** A node observed now (not a stale snapshot) where a DRBD device of its data LVs is Primary. */
  drbdPrimary?: string;
  /** The nodes among `nodes` that cannot be observed now (known from their last snapshot). */
  readonly waitsFor: ReadonlySet<string>;
}

/** Declared nodes that are unreachable or offline in this pass, by name. */
export function blindNodes(nodes: readonly PlanNode[], observed: ObservedCluster): Map<string, BlindNode> {
  const out = new Map<string, BlindNode>();
  for (const n of [...nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    const obs = observed.nodes.get(n.name);
    if (obs?.reachable && n.role !== 'offline') continue;
    const last = observed.lastKnown?.get(n.name);
    const why = n.role === 'offline' ? 'offline' : `unreachable (${obs?.error ?? 'not observed'})`;
    out.set(n.name, { node: n.name, why, ...(last ? { last } : {}) });
  }
  return out;
}

/** Every node snapshot the planner knows, in node-name order: observed now, else the last good one. */
export function knownSnapshots(observed: ObservedCluster): KnownSnapshot[] {
  const out: KnownSnapshot[] = [];
  for (const [node, obs] of observed.nodes) if (obs.reachable) out.push({ node, obs, stale: false });
  for (const [node, obs] of observed.lastKnown ?? []) {
    if (!observed.nodes.get(node)?.reachable) out.push({ node, obs, stale: true });
  }
  return out.sort((a, b) => a.node.localeCompare(b.node));
}

/**
 * What every known LV's tags say, read once per plan: several passes (where instances
 * are, the DRBD minors and ports already recorded, orphans) each need the owner and DRBD
 * tags of every LV of every node (144,000 LVs on a 700-node cluster); plan() reads them
 * once and hands the result to each. The facts are exactly those of instanceOfLvTags,
 * drbdOfLvTags and the MANAGED_LV_TAG test.
 */
export interface LvFact {
  readonly lv: ObservedLv;
  /** The instance its gantry-inst= tag names (instanceOfLvTags). */
  readonly inst: string | undefined;
  /** It carries Gantry's own tag (MANAGED_LV_TAG). */
  readonly managed: boolean;
  /** The DRBD minor and port its tags record (drbdOfLvTags). */
  readonly minor: number | undefined;
  readonly port: number | undefined;
  /** instanceOfDiskLv of its name, read only for an LV recording a minor or port (what the DRBD passes look at); else undefined. */
  readonly disk: { readonly instance: string; readonly index: number; readonly meta: boolean } | undefined;
}

/** One known node snapshot (knownSnapshots: observed now, or the last good one) with its LVs' facts, in Object.values(obs.lvs) order. */
export interface NodeLvFacts {
  readonly node: string;
  readonly obs: ObservedNode;
  readonly stale: boolean;
  readonly lvs: readonly LvFact[];
}

/** The facts of every LV of every known snapshot, in knownSnapshots order (node name). */
export function lvFacts(observed: ObservedCluster): NodeLvFacts[] {
  return knownSnapshots(observed).map(nodeLvFacts);
}

/** The facts of one snapshot's LVs. */
export function nodeLvFacts({ node, obs, stale }: KnownSnapshot): NodeLvFacts {
  const lvs: LvFact[] = [];
  for (const lv of Object.values(obs.lvs)) {
    const { inst, managed, minor, port } = lvTagFacts(lv.tags);
    lvs.push({ lv, inst, managed, minor, port, disk: minor !== undefined || port !== undefined ? instanceOfDiskLv(lv.name) : undefined });
  }
  return { node, obs, stale, lvs };
}

/** Node -> its own (node-local) file storage directory. */
export function localFileDirs(nodes: readonly PlanNode[]): Map<string, string> {
  return new Map(nodes.map((n) => [n.name, n.fileStorageDir]));
}

/** "node1: unreachable (connect ECONNREFUSED) since 2026-11-28T04:00:00.000Z" (the last good observation). */
export function describeWait(b: BlindNode): string {
  return b.last ? `${b.node}: ${b.why} since ${b.last.observedAt}` : `${b.node}: ${b.why}, and no earlier observation of it is kept`;
}

/**
 * Where each instance's volumes and process are, from the known snapshots. Only disk
 * images in a node's own file storage directory (`fileDirs`, node -> dir) place an
 * instance there: sharedfile images are seen by every node.
 */
export function locateInstances(observed: ObservedCluster, fileDirs: ReadonlyMap<string, string> = new Map(), facts: readonly NodeLvFacts[] = lvFacts(observed)): Map<string, InstanceLocation> {
  const out = new Map<string, InstanceLocation>();
  // Most instances wait for no node: they share one empty set (read-only to every reader), and get their own on the first stale node.
  const none: ReadonlySet<string> = new Set();
  const at = (inst: string, node: string, stale: boolean) => {
    let e = out.get(inst);
    if (!e) out.set(inst, (e = { nodes: new Set(), waitsFor: none }));
    e.nodes.add(node);
    if (stale) (e as { waitsFor: ReadonlySet<string> }).waitsFor = new Set([...e.waitsFor, node]);
    return e;
  };
  for (const { node, obs, stale, lvs } of facts) {
    for (const { inst, minor, disk } of lvs) {
      if (!inst) continue;
      const e = at(inst, node, stale);
      // A DRBD Primary (stopped instances keep their primary's device Primary): where it is when no process runs.
      if (minor !== undefined && !stale && e.drbdPrimary === undefined && disk?.instance === inst && !disk.meta && obs.drbd?.devices[String(minor)]?.role === 'Primary') e.drbdPrimary = node;
    }
    const dir = fileDirs.get(node);
    for (const f of Object.values(obs.files)) {
      if (dir === undefined || !f.path.startsWith(dir + '/')) continue;
      const owner = instanceOfDiskFile(f.path);
      if (owner) at(owner.instance, node, stale);
    }
    for (const [name, vm] of Object.entries(obs.instances)) {
      const e = at(name, node, stale);
      if (ALIVE.has(vm.runState) && (e.running === undefined || !stale)) e.running = node;
    }
  }
  return out;
}
