/**
 * Pure decisions for DRBD 9 ensures (ops9.ts reads, calls these, runs what they return):
 * from what a node shows (events2 --now, drbdsetup show, dump-md) to the missing steps in
 * drbdadm's order (cmd9.ts), or a refusal. A resource has a node id, a quorum policy and
 * one peer (connection + path + per-peer resync options) per other replica.
 *
 * Never run against a real DRBD 9 module here (it cannot load on this machine): tested
 * against sim/drbd9-double.ts, a test double, and on the real 9 output samples of testdata/v9.
 */
import { PrereqError, type GantryError } from '../../util/errors.js';
import type { BarrierOptions, ResyncOptions } from './cmd84.js';
import * as c from './cmd9.js';
import { metaState } from './plan84.js';
import type { ShowResource } from './parse-show.js';
import { isConnected, SYNCING, type DrbdDevice, type DrbdSnapshot } from './state.js';
import type { Endpoint } from './validate.js';

export interface Peer9Spec {
  readonly nodeId: number;
  /** The peer's node name (drbdsetup's --_name). */
  readonly name: string;
  readonly local: Endpoint;
  readonly peer: Endpoint;
  readonly protocol?: 'A' | 'B' | 'C';
}

/** Everything that defines one DRBD 9 resource (one volume) on one node. */
export interface Drbd9Spec {
  readonly resource: string;
  readonly minor: number;
  readonly nodeId: number;
  readonly dataDev: string;
  readonly metaDev: string;
  readonly sizeMiB?: number;
  readonly barriers?: BarrierOptions;
  readonly resync: ResyncOptions;
  readonly quorum: c.QuorumOptions;
  readonly peers: readonly Peer9Spec[];
}

export type Up9Step = 'new-resource' | 'quorum' | 'new-minor' | 'new-peer' | 'attach' | 'connect';
export type Up9Decision =
  | { readonly kind: 'run'; readonly steps: readonly Up9Step[]; readonly commands: readonly string[][] }
  | { readonly kind: 'refuse'; readonly error: GantryError };

const refuse = (code: string, message: string, details: Record<string, unknown>): Up9Decision => ({ kind: 'refuse', error: new PrereqError(code, message, details) });
const sameEp = (a: { host: string; port: number } | undefined, b: Endpoint): boolean => a !== undefined && a.host === b.host && a.port === b.port;
const quorumShown = (cfg: ShowResource | undefined): string => cfg?.options.quorum ?? 'off';

function peerCmds(spec: Drbd9Spec, p: Peer9Spec): string[][] {
  return [
    c.newPeerCmd(spec.resource, { nodeId: p.nodeId, name: p.name, ...(p.protocol ? { protocol: p.protocol } : {}) }),
    c.newPathCmd(spec.resource, p.nodeId, p.local, p.peer),
    c.peerDeviceOptionsCmd(spec.resource, p.nodeId, 0, spec.resync),
  ];
}

/**
 * The missing steps to bring a DRBD 9 resource up (or to add a peer to it): new-resource
 * with the node id, resource-options (quorum), new-minor, new-peer + new-path +
 * peer-device-options per missing peer, apply-al + attach, connect per peer not
 * connecting. Peers the node has that the spec does not name are left alone (a replica
 * leaves only by an explicit drbd.disconnect: disconnect + del-peer).
 */
export function planUp9(spec: Drbd9Spec, events: DrbdSnapshot, cfg: ShowResource | undefined): Up9Decision {
  const steps: Up9Step[] = [];
  const commands: string[][] = [];
  const exists = (events.resources ?? []).includes(spec.resource);
  const dev = events.devices.find((d) => d.minor === spec.minor);
  if (dev && dev.resource !== spec.resource) return refuse('DRBD_MINOR_IN_USE', `minor ${spec.minor} belongs to DRBD resource ${dev.resource ?? '?'}, not ${spec.resource}`, { minor: spec.minor });
  if (exists && cfg?.nodeId !== undefined && cfg.nodeId !== spec.nodeId) {
    return refuse('DRBD_NODE_ID_MISMATCH', `${spec.resource} runs with DRBD node id ${cfg.nodeId}, not ${spec.nodeId} (the id its LVs record): take it down by hand or fix the gantry-drbd-node-id tag`, { resource: spec.resource, nodeId: cfg.nodeId });
  }
  if (!exists) {
    steps.push('new-resource');
    commands.push(c.newResourceCmd(spec.resource, spec.nodeId));
  }
  if (!exists || quorumShown(cfg) !== String(spec.quorum.quorum) || (spec.quorum.quorum !== 'off' && cfg?.options['on-no-quorum'] !== spec.quorum.onNoQuorum)) {
    steps.push('quorum');
    commands.push(c.resourceOptionsCmd(spec.resource, spec.quorum));
  }
  if (!dev) {
    steps.push('new-minor');
    commands.push(c.newMinorCmd(spec.resource, spec.minor));
  }
  const connections = exists ? cfg?.connections ?? [] : [];
  const connect: string[][] = [];
  for (const p of spec.peers) {
    const have = connections.find((x) => x.peerNodeId === p.nodeId);
    if (!have) {
      if (!steps.includes('new-peer')) steps.push('new-peer');
      commands.push(...peerCmds(spec, p));
      connect.push(c.connectCmd(spec.resource, p.nodeId));
      continue;
    }
    if ((have.local || have.remote) && (!sameEp(have.local, p.local) || !sameEp(have.remote, p.peer))) {
      return refuse('DRBD_NET_MISMATCH', `${spec.resource}'s path to node id ${p.nodeId} is ${have.local?.host ?? '?'}:${have.local?.port ?? '?'} -> ${have.remote?.host ?? '?'}:${have.remote?.port ?? '?'}, not ${p.local.host}:${p.local.port} -> ${p.peer.host}:${p.peer.port}: drop that peer explicitly first`, { resource: spec.resource, peerNodeId: p.nodeId });
    }
    if (!have.local && !have.remote) commands.push(c.newPathCmd(spec.resource, p.nodeId, p.local, p.peer));
    if (have.cstate === undefined || have.cstate === 'StandAlone') connect.push(c.connectCmd(spec.resource, p.nodeId));
  }
  if (!dev || dev.disk === 'Diskless') {
    steps.push('attach');
    commands.push(c.applyAlCmd(spec.minor, spec.metaDev), c.attach9Cmd({ minor: spec.minor, dataDev: spec.dataDev, metaDev: spec.metaDev, ...(spec.sizeMiB !== undefined ? { sizeMiB: spec.sizeMiB } : {}), ...(spec.barriers ? { barriers: spec.barriers } : {}) }));
  }
  if (connect.length > 0) steps.push('connect');
  return { kind: 'run', steps, commands: [...commands, ...connect] };
}

/** dump-md's answer for v09 metadata: present, none (safe to create), or unreadable (v08 metadata left by 8.4 is unknown: never overwritten). */
export const metaState9 = (code: number | null, out: string): 'present' | 'none' | 'unknown' => metaState(code, out, 'v09');

/**
 * The initial sync of a new resource: `primary --force` only when this side and every
 * peer are Inconsistent, connected and Secondary (nothing holds data yet).
 */
export function initialSync9Decision(resource: string, dev: DrbdDevice | undefined): 'force' | 'done' | GantryError {
  if (dev && (dev.disk === 'UpToDate' || dev.peers.some((p) => SYNCING.has(p.replication ?? '')))) return 'done';
  const fresh = dev?.disk === 'Inconsistent' && dev.role === 'Secondary' && dev.peers.length > 0 && dev.peers.every((p) => isConnected(p) && p.disk === 'Inconsistent' && p.role === 'Secondary');
  if (fresh) return 'force';
  const shown = dev ? `disk ${dev.disk ?? '?'}, role ${dev.role ?? '?'}, peers ${dev.peers.map((p) => `${p.name ?? p.nodeId}: ${p.connection} ${p.disk ?? ''}`).join(', ') || 'none'}` : 'not configured';
  return new PrereqError('DRBD_FORCE_REFUSED', `not forcing ${resource} primary: the initial sync needs every replica connected, Secondary and Inconsistent (now ${shown})`, { resource });
}

/**
 * Promotion on DRBD 9. With quorum configured, DRBD's own quorum decides: promoted only
 * while this side has quorum and UpToDate data (no fencing needed: the other partition
 * cannot have quorum too). Without quorum (a pair), as on 8.4: only while a peer is
 * connected (else this side may be the stale one: a failover decision).
 */
export function promote9Decision(resource: string, dev: DrbdDevice | undefined, quorumOn: boolean): 'promote' | 'done' | 'wait' {
  if (dev?.role === 'Primary') return 'done';
  if (!dev || dev.disk !== 'UpToDate') return 'wait';
  if (quorumOn) return dev.quorum === true ? 'promote' : 'wait';
  void resource;
  return dev.peers.some(isConnected) ? 'promote' : 'wait';
}

/**
 * Failover on DRBD 9: the old primary (`fromNodeId`) is Dead or Offline. Refused while this
 * side still sees any peer Primary, or still sees the old primary connected. With quorum
 * configured: promoted only with quorum (and UpToDate), never forced. Without: UpToDate,
 * or `force` (allowDegradedFailover) for an Outdated / Inconsistent / Consistent replica.
 */
export function failover9Decision(resource: string, dev: DrbdDevice | undefined, fromNodeId: number | undefined, force: boolean, quorumOn: boolean): { argv: string[] } | 'done' | GantryError {
  if (!dev) return new PrereqError('DRBD_NOT_UP', `not promoting ${resource} for failover: it is not configured on this node`, { resource });
  if (dev.role === 'Primary') return 'done';
  const primaryPeer = dev.peers.find((p) => isConnected(p) && p.role === 'Primary');
  if (primaryPeer) return new PrereqError('DRBD_FAILOVER_HELD', `not promoting ${resource} for failover: peer ${primaryPeer.name ?? primaryPeer.nodeId} is connected and Primary`, { resource });
  const old = dev.peers.find((p) => p.nodeId === fromNodeId && isConnected(p));
  if (old) return new PrereqError('DRBD_FAILOVER_HELD', `not promoting ${resource} for failover: this side still sees the old primary (node id ${fromNodeId}) connected: it is alive on the replication network`, { resource });
  if (quorumOn) {
    if (dev.quorum !== true) return new PrereqError('DRBD_NO_QUORUM', `not promoting ${resource} for failover: this side has no quorum (DRBD quorum majority): the old primary's partition may still write; a replica with quorum is promoted instead, or bring nodes back`, { resource });
    if (dev.disk === 'UpToDate') return { argv: c.primaryCmd(resource) };
    return new PrereqError('DRBD_FAILOVER_DEGRADED', `not promoting ${resource} for failover: its disk is ${dev.disk ?? 'unknown'}, not UpToDate (with quorum on, a stale replica is never forced)`, { resource });
  }
  if (dev.disk === 'UpToDate') return { argv: c.primaryCmd(resource) };
  if (force && dev.disk !== undefined && ['Outdated', 'Inconsistent', 'Consistent'].includes(dev.disk)) return { argv: c.forcePrimaryForInitialSyncCmd(resource) };
  return new PrereqError('DRBD_FAILOVER_DEGRADED', `not promoting ${resource} for failover: its disk is ${dev.disk ?? 'unknown'}, not UpToDate`, { resource });
}

/** The end of a resync toward `peerNodeId` (or every peer): this side UpToDate, the peer connected, UpToDate, not syncing. */
export function sync9Done(dev: DrbdDevice | undefined, peerNodeId?: number): boolean {
  if (dev?.disk !== 'UpToDate') return false;
  const peers = peerNodeId === undefined ? dev.peers : dev.peers.filter((p) => p.nodeId === peerNodeId);
  return peers.length > 0 && peers.every((p) => isConnected(p) && p.disk === 'UpToDate' && !SYNCING.has(p.replication ?? p.connection));
}

/** Drop a peer: disconnect (unless StandAlone already) then del-peer; nothing when the peer is not configured. */
export function dropPeer9Cmds(resource: string, cfg: ShowResource | undefined, peerNodeId: number): string[][] {
  const conn = cfg?.connections.find((x) => x.peerNodeId === peerNodeId);
  if (!conn) return [];
  return [...(conn.cstate === 'StandAlone' ? [] : [c.disconnectCmd(resource, peerNodeId)]), c.delPeerCmd(resource, peerNodeId)];
}

/** What a live migration needs toward the peer `peerNodeId` before dual-primary: Connected, no resync, both UpToDate; undefined when ready. */
export function migrationReady9Problem(dev: DrbdDevice | undefined, peerNodeId: number): string | undefined {
  if (!dev) return 'not configured';
  const p = dev.peers.find((x) => x.nodeId === peerNodeId);
  const shown = `${dev.role ?? '?'}, disk ${dev.disk ?? '?'}, ${p ? `${p.replication ?? p.connection} to a ${p.role ?? '?'} peer whose disk is ${p.disk ?? '?'}` : `no peer with node id ${peerNodeId}`}`;
  if (!p || p.connection !== 'Connected' || (p.replication !== undefined && p.replication !== 'Established')) return shown;
  if (dev.disk !== 'UpToDate' || p.disk !== 'UpToDate') return shown;
  return undefined;
}

/** allow-two-primaries on the connection to `peerNodeId` (`drbdsetup show`'s net of that connection; "no" is the default show omits). */
export function dualPrimary9Of(cfg: ShowResource | undefined, peerNodeId: number): boolean | undefined {
  const conn = cfg?.connections.find((x) => x.peerNodeId === peerNodeId);
  return conn === undefined ? undefined : conn.net['allow-two-primaries'] === 'yes';
}
