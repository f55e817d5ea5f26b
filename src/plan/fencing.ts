/**
 * When to fence (DESIGN.md, "Failure model and high availability"). Pure. A node is
 * fenced only when all of these hold: it is Unreachable past its grace; some instance
 * that may be on it wants failover (the cluster's or its own autoRepair.failover);
 * it has an out-of-band program (Node spec.oob); and its group is not losing more nodes
 * at once than Cluster spec.autoRepair.fenceMaxPerGroup allows (default 1: when several
 * nodes vanish together the likelier cause is on Gantry's side, and a human decides,
 * like LINSTOR stopping evictions); and no DRBD peer of it still reports it connected
 * (a node seen on the replication network is alive: a management-only partition is not a
 * death, and fencing it would kill a working primary). Every node past its grace gets a
 * decision with its reason, so the plan shows why a node was or was not fenced.
 */
import type { NodeLiveness } from '../core/liveness.js';
import type { FenceDecision, ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import { repairAllowed } from './autorepair.js';
import type { ObservedNode } from '../core/observed.js';
import { drbdPeerConnected } from './drbd.js';
import { locateInstances, localFileDirs } from './locate.js';
import { drbdOfLvTags, drbdResourceName, instanceOfDiskLv, instanceOfLvTags } from './naming.js';

/**
 * Whether the instance is failed over when its node is confirmed dead: its own
 * spec.autoRepair.failover, else the cluster's, or its auto-repair policy (harep's tags,
 * spec.autoRepair.repair) allowing failover. `node`: where it runs (for its node group's tags).
 */
export function wantsFailover(input: PlanInput, instance: PlanInstance, node?: string): boolean {
  return instance.failover ?? (input.cluster.failover === true || repairAllowed(input, instance, 'failover', node));
}

/** Nodes that hold (or last held) an instance that wants failover. */
function nodesWithFailover(input: PlanInput, observed: ObservedCluster): Set<string> {
  const located = locateInstances(observed, localFileDirs(input.nodes));
  const out = new Set<string>();
  for (const inst of input.instances) {
    const loc = located.get(inst.name);
    // A DRBD instance allowed harep's fix-storage needs its secondary's node confirmed dead too (plan/fix-storage).
    const fix = inst.diskTemplate === 'drbd' && repairAllowed(input, inst, 'fix-storage', loc?.running);
    if (inst.state !== 'present' || !(wantsFailover(input, inst, loc?.running) || fix)) continue;
    if (loc?.running) out.add(loc.running);
    loc?.nodes.forEach((n) => out.add(n));
    if (inst.primary) out.add(inst.primary);
  }
  return out;
}

/**
 * A node counts as down for the per-group limit as soon as it is Unreachable, grace or
 * not: two nodes vanishing a pass apart vanished together (the second one's grace is
 * simply not over yet), and fencing the first could kill the DRBD peer of the second.
 */
const down = (l: NodeLiveness | undefined) => l?.condition === 'Dead' || l?.condition === 'Unreachable';

export function planFencing(input: PlanInput, observed: ObservedCluster): FenceDecision[] {
  const live = observed.liveness;
  if (!live) return [];
  const candidates = input.nodes.filter((n) => live.get(n.name)?.condition === 'Unreachable' && live.get(n.name)?.graceOver === true);
  if (candidates.length === 0) return [];
  const wanted = nodesWithFailover(input, observed);
  const max = input.cluster.fenceMaxPerGroup ?? 1;
  const downIn = (group: string) => input.nodes.filter((n) => n.group === group && down(live.get(n.name))).map((n) => n.name);
  return candidates.sort((a, b) => a.name.localeCompare(b.name)).map((n) => decide(n, wanted, downIn(n.group), max, seenOnReplication(n.name, input, observed)));
}

/**
 * What reachable nodes report `suspect` connected over DRBD ("node2: resource3 of web1
 * disk 0"). A device's peer is `suspect` when the device's LV tags name an instance whose
 * declared pair is this node and `suspect`, or when the suspect's last known snapshot has
 * an LV of the same disk recording the same port, or when no other reachable node holds
 * that disk (its peer is out of sight: it may be the suspect).
 */
export function seenOnReplication(suspect: string, input: PlanInput, observed: ObservedCluster): string[] {
  const pairs = new Map(input.instances.filter((i) => i.diskTemplate === 'drbd').map((i) => [i.name, [i.primary, i.secondary]]));
  const suspectPorts = new Set<number>();
  for (const lv of Object.values(observed.lastKnown?.get(suspect)?.lvs ?? {})) {
    const port = drbdOfLvTags(lv.tags).port;
    if (port !== undefined) suspectPorts.add(port);
  }
  // Which reachable nodes hold each DRBD disk (instance, disk, port): a device whose peer no
  // reachable node accounts for is connected to a node out of sight, which may be the suspect
  // (its last snapshot and the manifests' pairing may both be gone: a lost state directory,
  // an allocator-placed instance).
  const holders = new Map<string, Set<string>>();
  const drbdLvs: { node: string; obs: ObservedNode; minor: number; port?: number; inst: string; index: number }[] = [];
  for (const [node, obs] of observed.nodes) {
    if (node === suspect || !obs.reachable) continue;
    for (const lv of Object.values(obs.lvs)) {
      const { minor, port } = drbdOfLvTags(lv.tags);
      const inst = instanceOfLvTags(lv.tags);
      const disk = instanceOfDiskLv(lv.name);
      if (minor === undefined || inst === undefined || disk?.instance !== inst) continue;
      const key = `${inst}\0${disk.index}\0${port}`;
      holders.set(key, (holders.get(key) ?? new Set()).add(node));
      drbdLvs.push({ node, obs, minor, ...(port !== undefined ? { port } : {}), inst, index: disk.index });
    }
  }
  const out = new Set<string>();
  for (const { node, obs, minor, port, inst, index } of drbdLvs) {
    const pair = pairs.get(inst);
    const unaccounted = [...(holders.get(`${inst}\0${index}\0${port}`) ?? [])].every((n) => n === node);
    const peerIsSuspect = (pair?.includes(node) === true && pair.includes(suspect)) || (port !== undefined && suspectPorts.has(port)) || unaccounted;
    if (!peerIsSuspect) continue;
    const what = `${drbdResourceName(minor)} of ${inst} disk ${index}`;
    // Unknown is not absent: a peer whose DRBD state was not read (a failed probe) cannot vouch that the suspect is gone.
    if (!obs.drbd) out.add(`${node}: DRBD state not read (${what})`);
    else if (drbdPeerConnected(obs.drbd.devices[String(minor)])) out.add(`${node}: ${what}${unaccounted && !suspectPorts.has(port ?? -1) ? ' (its peer is on no observed node)' : ''}`);
  }
  return [...out].sort();
}

function decide(n: PlanNode, wanted: ReadonlySet<string>, groupDown: readonly string[], max: number, seen: readonly string[]): FenceDecision {
  const hold = (reason: string): FenceDecision => ({ node: n.name, fence: false, reason });
  if (!wanted.has(n.name)) return hold('no instance on it asks for failover (Cluster or Instance spec.autoRepair.failover) or, for a DRBD one, fix-storage: nothing needs it confirmed dead');
  if (seen.length > 0) {
    return hold(`it is still seen on the replication network: its DRBD peers report it connected, or their DRBD state is unknown (${seen.slice(0, 3).join('; ')}${seen.length > 3 ? `; ${seen.length - 3} more` : ''}): ` +
      'only the management path is cut, which is not a death; fencing it would kill a working primary. Repair the management network, or set role: offline once you know it is down');
  }
  if (!n.fenceable) return hold('it has no out-of-band program (Node spec.oob): it cannot be confirmed dead; set role: offline once you know it is down');
  if (groupDown.length > max) {
    return hold(`${groupDown.length} nodes of group ${n.group} are down or unreachable together (${groupDown.join(', ')}; at most ${max} at a time, Cluster spec.autoRepair.fenceMaxPerGroup): a fault on Gantry's side looks the same, so none is fenced; a human decides`);
  }
  return { node: n.name, fence: true, reason: 'unreachable past its grace and an instance on it asks for failover: power it off through its out-of-band program and confirm power off' };
}
