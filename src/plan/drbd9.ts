/**
 * DRBD 9 in the planner. Pure. plan/drbd.ts plans a disk's lifecycle the same way for
 * 8.4 and 9 (creation, repair, roles, resize, split brain, failover) on a pair view of
 * each side's device (its connection to the partner); for a pair whose nodes both run
 * DRBD 9 this module adds what 9 needs to each action:
 *
 *   node ids   one per replica, recorded on its data LV (tag gantry-drbd-node-id=N) like
 *              minors and ports, so a lost state is rebuilt; else the id the running
 *              resource shows; else the lowest id no other replica of the disk holds
 *              (a new pair: primary 0, secondary 1).
 *   metadata   v09 with DRBD9_MAX_PEERS bitmap slots (the partner, a replica joining in a
 *              replacement, a tiebreaker).
 *   quorum     quorumPolicy: `majority` + on-no-quorum io-error for 3 or more voters (3
 *              replicas, or 2 + a diskless tiebreaker); `off` for a plain pair, whose
 *              failover then needs the fencing 8.4 needs.
 *
 * A pair with one 8.4 and one 9 node is refused (DRBD_VERSION_MIXED): the two speak
 * different protocols and metadata.
 */
import type { Action, Drbd9PeerSpec } from '../core/actions.js';
import type { ObservedDrbdDevice, ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanDisk, PlanInstance, PlanNode } from '../core/plan.js';
import { diskLvName, isDiskLvOf, MANAGED_LV_TAG } from './naming.js';

/** Bitmap slots in v09 metadata: the partner, one replica joining in a replacement, a tiebreaker. */
export const DRBD9_MAX_PEERS = 3;
export const DRBD_NODE_ID_TAG = `${MANAGED_LV_TAG}-drbd-node-id=`;

export const drbdNodeIdTag = (id: number): string => `${DRBD_NODE_ID_TAG}${id}`;

/** The node id an LV's tags record; undefined when none. */
export function drbdNodeIdOfLvTags(tags: readonly string[]): number | undefined {
  for (const t of tags) {
    if (!t.startsWith(DRBD_NODE_ID_TAG)) continue;
    const v = Number(t.slice(DRBD_NODE_ID_TAG.length));
    if (Number.isSafeInteger(v) && v >= 0 && v <= 31) return v;
  }
  return undefined;
}

export type DrbdFamily = '8.4' | '9' | 'unsupported';

/** The family of a node's loaded module; an unread version counts as 8.4 (as before DRBD 9 was driven). */
export function drbdFamilyOf(o: ObservedNode | undefined): DrbdFamily {
  const v = o?.drbd?.version;
  if (v === undefined || v.startsWith('8.4.')) return '8.4';
  return v.startsWith('9.') ? '9' : 'unsupported';
}

export const isDrbd9Node = (o: ObservedNode | undefined): boolean => drbdFamilyOf(o) === '9';

/** DRBD 9 quorum for a resource with `diskful` replicas and `diskless` tiebreakers. */
export function quorumPolicy(diskful: number, diskless = 0): { quorum: 'off' | 'majority'; onNoQuorum: 'io-error' } {
  return { quorum: diskful + diskless >= 3 ? 'majority' : 'off', onNoQuorum: 'io-error' };
}

/** The node id recorded on `node`'s data LV of this disk, or shown by its running device. */
function recordedNodeId(inst: PlanInstance, disk: PlanDisk, obs: ObservedNode | undefined, dev: ObservedDrbdDevice | undefined): number | undefined {
  const lv = obs?.lvs[`${disk.vg}/${diskLvName(inst.name, disk.index)}`];
  const tagged = lv && isDiskLvOf(lv, inst.name) ? drbdNodeIdOfLvTags(lv.tags) : undefined;
  return tagged ?? dev?.nodeId;
}

/**
 * The node id of each of `members` (in order: primary, secondary, then others), and of any
 * other observed node whose LVs of this disk record one (an old replica): recorded ids are
 * kept, the others get the lowest id no one holds.
 */
export function drbd9NodeIds(inst: PlanInstance, disk: PlanDisk, members: readonly string[], observed: ObservedCluster, devices: ReadonlyMap<string, ObservedDrbdDevice | undefined> = new Map(), holders?: Iterable<string>): Map<string, number> {
  const ids = new Map<string, number>();
  const taken = new Set<number>();
  // `holders`: the nodes holding the instance's LVs (plan/locate), so only they are read (the incremental planner then
  // replans the instance only when one of them changes); without it, every observed node.
  const scan = holders === undefined ? [...observed.nodes.keys()] : [...new Set([...members, ...holders])].sort();
  for (const name of scan) {
    const obs = observed.nodes.get(name);
    const id = recordedNodeId(inst, disk, obs, devices.get(name));
    if (id === undefined || taken.has(id)) continue;
    ids.set(name, id);
    taken.add(id);
  }
  // A replica not seen now (a dead old primary) is known to its peers by name (new-peer --_name);
  // an id a member's device still has a peer for (a dead old secondary) is taken too.
  for (const m of members) {
    if (ids.has(m)) continue;
    for (const d of devices.values()) {
      const p = d?.peers?.find((x) => x.name === m);
      if (p && !taken.has(p.nodeId)) { ids.set(m, p.nodeId); taken.add(p.nodeId); break; }
    }
  }
  for (const d of devices.values()) for (const p of d?.peers ?? []) taken.add(p.nodeId);
  for (const m of members) {
    if (ids.has(m)) continue;
    let id = 0;
    while (taken.has(id)) id++;
    ids.set(m, id);
    taken.add(id);
  }
  return ids;
}

/** drbd9NodeIds of a pair, with each member's device read at its allocated minor (what planDrbdDisk and the LV tags both use). */
export function drbd9PairIds(inst: PlanInstance, disk: PlanDisk, members: readonly string[], minors: ReadonlyMap<string, number>, observed: ObservedCluster, holders?: Iterable<string>): Map<string, number> {
  const devices = new Map(members.map((m) => [m, minors.has(m) ? observed.nodes.get(m)?.drbd?.devices[String(minors.get(m))] : undefined] as const));
  return drbd9NodeIds(inst, disk, members, observed, devices, holders);
}

/** The device as seen toward `peerNodeId`: `peer` is that connection (absent when the device has no peer with that id). */
export function pairView(d: ObservedDrbdDevice | undefined, peerNodeId: number): ObservedDrbdDevice | undefined {
  if (!d?.peers) return d;
  const p = d.peers.find((x) => x.nodeId === peerNodeId);
  const { peer: _first, ...rest } = d;
  void _first;
  return p ? { ...rest, peer: { connection: p.connection, ...(p.replication !== undefined ? { replication: p.replication } : {}), ...(p.role !== undefined ? { role: p.role } : {}), ...(p.disk !== undefined ? { disk: p.disk } : {}), ...(p.sync ? { sync: p.sync } : {}) } } : rest;
}

export interface Drbd9Ctx {
  /** node -> node id, for every replica the resource has (or gets) in this plan. */
  readonly ids: ReadonlyMap<string, number>;
  /** node -> its replication address and the disk's port. */
  readonly addr: (n: string) => string;
  readonly port: number;
  /** node -> the replicas it is (to be) peered with. */
  readonly peersOf: (n: string) => readonly string[];
  readonly quorum: 'off' | 'majority';
}

const peerSpec = (ctx: Drbd9Ctx, n: string, other: string): Drbd9PeerSpec => ({
  node: other, nodeId: ctx.ids.get(other)!, local: { host: ctx.addr(n), port: ctx.port }, peer: { host: ctx.addr(other), port: ctx.port },
});

/** The DRBD 9 parts of a disk's actions (node ids, peers, v09 metadata, quorum); 8.4 actions unchanged otherwise. */
export function toDrbd9(a: Action, ctx: Drbd9Ctx): Action {
  switch (a.verb) {
    case 'drbd.create-md': return { ...a, maxPeers: DRBD9_MAX_PEERS };
    case 'drbd.up': return {
      ...a, v9: { nodeId: ctx.ids.get(a.node)!, maxPeers: DRBD9_MAX_PEERS, quorum: ctx.quorum, onNoQuorum: 'io-error', peers: ctx.peersOf(a.node).map((o) => peerSpec(ctx, a.node, o)) },
      reason: `${a.reason} [DRBD 9: node id ${ctx.ids.get(a.node)}, peers ${ctx.peersOf(a.node).map((o) => `${o} (id ${ctx.ids.get(o)})`).join(', ')}, quorum ${ctx.quorum}]`,
    };
    case 'drbd.initial-sync': case 'drbd.secondary': case 'drbd.resize': return { ...a, v9: true };
    case 'drbd.primary': return {
      ...a, v9: { quorum: ctx.quorum !== 'off' },
      ...(a.failover ? { failover: { ...a.failover, ...(ctx.ids.has(a.failover.from) ? { fromNodeId: ctx.ids.get(a.failover.from)! } : {}) } } : {}),
    };
    case 'drbd.wait-sync': return ctx.ids.has(a.peerNode) ? { ...a, v9: { peerNodeId: ctx.ids.get(a.peerNode)! } } : a;
    default: return a;
  }
}

/** A pair's nodes' DRBD families: both 9, both 8.4, or the refusal's reason. */
export function pairFamily(p: PlanNode, pObs: ObservedNode | undefined, s: PlanNode, sObs: ObservedNode | undefined): { family: '8.4' | '9' } | { code: string; why: string } {
  const fp = drbdFamilyOf(pObs), fs = drbdFamilyOf(sObs);
  const bad = ([[p, pObs, fp], [s, sObs, fs]] as const).filter(([, , f]) => f === 'unsupported').map(([n, o]) => `${n.name} runs DRBD ${o!.drbd!.version}`);
  if (bad.length > 0) return { code: 'DRBD_VERSION_UNSUPPORTED', why: `${bad.join(', ')}: Gantry drives DRBD 8.4 and 9 only` };
  // A node not observed now has an unknown version: it does not make a pair mixed.
  const known = [[p, pObs, fp], [s, sObs, fs]].filter(([, o]) => (o as ObservedNode | undefined)?.drbd?.version !== undefined);
  const fams = new Set(known.map(([, , f]) => f));
  if (fams.size > 1) return { code: 'DRBD_VERSION_MIXED', why: `${p.name} runs DRBD ${pObs!.drbd!.version} and ${s.name} DRBD ${sObs!.drbd!.version}: a DRBD 8.4 and a DRBD 9 node cannot replicate one disk (different protocols and metadata); upgrade both, or place the instance on two nodes of one version` };
  return { family: fams.has('9') ? '9' : '8.4' };
}
