/**
 * Pure argv builders for DRBD 9 (drbdsetup 9 syntax): resources have node ids, peers
 * and paths are separate objects, roles are per resource, resync options are per peer
 * device. The order is drbdadm's own (`drbdadm -d up`, LINBIT drbd-utils
 * tests/v9/drbd_8.4.test and adjust_order.test):
 *
 *   newResource, resourceOptions (quorum), newMinor, newPeer, newPath,
 *   peerDeviceOptions, applyAl, attach, connect
 *
 * DRBD 9 cannot run on this machine (out-of-tree module): these are argv-tested, and run by
 * ops9.ts against sim/drbd9-double.ts (a test double), never against a real DRBD 9 module.
 */
import { PrereqError } from '../../util/errors.js';
import { attachCmd, GANETI_AFTER_SB, resyncArgs, type AfterSplitBrain, type AttachSpec, type ResyncOptions } from './cmd84.js';
import { checkCount, checkDevice, checkMinor, checkNodeId, checkResource, checkVolume, linkArgs, type Endpoint } from './validate.js';

export type Quorum = 'off' | 'majority' | 'all' | number;
export interface QuorumOptions {
  readonly quorum: Quorum;
  /** What a primary does when it loses quorum: fail I/O (the safe default for VMs) or freeze it. */
  readonly onNoQuorum: 'io-error' | 'suspend-io';
}

function quorumArg(q: Quorum): string {
  if (typeof q === 'number') return checkCount('quorum', q);
  if (!['off', 'majority', 'all'].includes(q)) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD quorum ${JSON.stringify(q)}`, {});
  return q;
}

export const newResourceCmd = (resource: string, nodeId: number): string[] => ['drbdsetup', 'new-resource', checkResource(resource), checkNodeId(nodeId)];

export function resourceOptionsCmd(resource: string, q: QuorumOptions): string[] {
  if (!['io-error', 'suspend-io'].includes(q.onNoQuorum)) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD on-no-quorum ${JSON.stringify(q.onNoQuorum)}`, {});
  return ['drbdsetup', 'resource-options', checkResource(resource), `--quorum=${quorumArg(q.quorum)}`, `--on-no-quorum=${q.onNoQuorum}`];
}

export const newMinorCmd = (resource: string, minor: number, volume = 0): string[] =>
  ['drbdsetup', 'new-minor', checkResource(resource), checkMinor(minor), checkVolume(volume)];

export interface PeerSpec {
  readonly nodeId: number;
  /** The peer's host name as DRBD shows it (--_name). */
  readonly name: string;
  readonly protocol?: 'A' | 'B' | 'C';
  readonly allowTwoPrimaries?: boolean;
  readonly afterSb?: AfterSplitBrain;
}

export function newPeerCmd(resource: string, p: PeerSpec): string[] {
  const protocol = p.protocol ?? 'C';
  if (!['A', 'B', 'C'].includes(protocol)) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD protocol ${JSON.stringify(protocol)}`, {});
  if (p.allowTwoPrimaries && protocol !== 'C') throw new PrereqError('DRBD_INVALID_OPTION', 'two primaries need protocol C', {});
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(p.name)) throw new PrereqError('DRBD_INVALID_NAME', `invalid DRBD peer name ${JSON.stringify(p.name)}`, {});
  const sb = p.afterSb ?? GANETI_AFTER_SB;
  return ['drbdsetup', 'new-peer', checkResource(resource), checkNodeId(p.nodeId), `--_name=${p.name}`, `--protocol=${protocol}`,
    `--after-sb-0pri=${sb.zeroPrimaries}`, `--after-sb-1pri=${sb.onePrimary}`, `--after-sb-2pri=${sb.twoPrimaries}`,
    ...(p.allowTwoPrimaries ? ['--allow-two-primaries=yes'] : [])];
}

export const newPathCmd = (resource: string, peerNodeId: number, local: Endpoint, peer: Endpoint): string[] =>
  ['drbdsetup', 'new-path', checkResource(resource), checkNodeId(peerNodeId), ...linkArgs(local, peer)];

/** In DRBD 9 the resync controller is per peer device; the "k"/"s" units as in 8.4. */
export const peerDeviceOptionsCmd = (resource: string, peerNodeId: number, volume: number, o: ResyncOptions): string[] =>
  ['drbdsetup', 'peer-device-options', checkResource(resource), checkNodeId(peerNodeId), checkVolume(volume), ...resyncArgs(o)];

/** v09 metadata for `maxPeers` peers; same --force reasoning as the 8.4 createMdCmd. */
export function createMdCmd(minor: number, metaDev: string, maxPeers: number): string[] {
  if (!Number.isSafeInteger(maxPeers) || maxPeers < 1 || maxPeers > 31) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD max peers ${maxPeers}: 1..31`, {});
  return ['drbdmeta', '--force', checkMinor(minor), 'v09', checkDevice(metaDev), 'flex-external', 'create-md', String(maxPeers)];
}
export const applyAlCmd = (minor: number, metaDev: string): string[] => ['drbdmeta', checkMinor(minor), 'v09', checkDevice(metaDev), 'flex-external', 'apply-al'];
/** Read-only: prints the v09 metadata (`version "v09";`), or fails with "No valid meta data found". */
export const dumpMdCmd = (minor: number, metaDev: string): string[] => ['drbdmeta', checkMinor(minor), 'v09', checkDevice(metaDev), 'flex-external', 'dump-md'];
/** attach has the same syntax in 8.4 and 9. */
export const attach9Cmd = (a: AttachSpec): string[] => attachCmd(a);

export const connectCmd = (resource: string, peerNodeId: number): string[] => ['drbdsetup', 'connect', checkResource(resource), checkNodeId(peerNodeId)];
export const disconnectCmd = (resource: string, peerNodeId: number): string[] => ['drbdsetup', 'disconnect', checkResource(resource), checkNodeId(peerNodeId)];
export const primaryCmd = (resource: string): string[] => ['drbdsetup', 'primary', checkResource(resource)];
/** As in 8.4: only to start the initial sync of a brand-new device. */
export const forcePrimaryForInitialSyncCmd = (resource: string): string[] => ['drbdsetup', 'primary', checkResource(resource), '--force'];
export const secondaryCmd = (resource: string): string[] => ['drbdsetup', 'secondary', checkResource(resource)];
export const detachCmd = (minor: number): string[] => ['drbdsetup', 'detach', checkMinor(minor)];
export const downCmd = (resource: string): string[] => ['drbdsetup', 'down', checkResource(resource)];
export const resizeCmd = (minor: number, sizeMiB: number): string[] => ['drbdsetup', 'resize', checkMinor(minor), '--size', `${checkCount('size (MiB)', sizeMiB)}m`];

// ---- reads ----
export const statusJsonCmd = (resource?: string): string[] => ['drbdsetup', 'status', '--json', ...(resource !== undefined ? [checkResource(resource)] : ['all'])];
export const showCmd = (resource?: string): string[] => ['drbdsetup', 'show', ...(resource !== undefined ? [checkResource(resource)] : [])];
export const events2NowCmd = (): string[] => ['drbdsetup', 'events2', '--now', '--statistics', 'all'];

/** allow-two-primaries on one connection (live migration), changed without a reconnect. */
export const allowTwoPrimariesCmd = (resource: string, peerNodeId: number, allow: boolean): string[] =>
  ['drbdsetup', 'net-options', checkResource(resource), checkNodeId(peerNodeId), `--allow-two-primaries=${allow ? 'yes' : 'no'}`];

export const delPeerCmd = (resource: string, peerNodeId: number): string[] => ['drbdsetup', 'del-peer', checkResource(resource), checkNodeId(peerNodeId)];

/** One replica of a DRBD 9 resource: its node name (as DRBD shows it), node id and replication endpoint. */
export interface Replica9 { readonly name: string; readonly nodeId: number; readonly address: Endpoint }

/**
 * Secondary replacement on DRBD 9, step 1 (no redundancy gap): NEW joins as one more
 * replica. On NEW: fresh v09 metadata, the resource with its own node id, a peer, path
 * and resync options per existing replica, attach, connect to each. On each existing
 * replica: a peer and path for NEW, its resync options, connect. NEW's empty metadata
 * makes it the SyncTarget of the existing UpToDate replicas: no `primary --force`.
 * The whole sequence as argv (tested); the executor reaches the same commands step by step
 * through plan9.planUp9 (the primary's drbd.up adds the missing peer) and plan/drbd9-replace.
 */
export function addReplicaCmds(
  resource: string, replica: Replica9 & { readonly minor: number; readonly dataDev: string; readonly metaDev: string; readonly sizeMiB?: number },
  existing: readonly Replica9[], resync: ResyncOptions, maxPeers: number,
): { readonly onNew: string[][]; readonly onExisting: ReadonlyMap<string, string[][]> } {
  if (existing.some((e) => e.nodeId === replica.nodeId)) throw new PrereqError('DRBD_INVALID_NODE_ID', `node id ${replica.nodeId} of ${replica.name} is already used in ${resource}`, { nodeId: replica.nodeId });
  const onNew: string[][] = [createMdCmd(replica.minor, replica.metaDev, maxPeers), newResourceCmd(resource, replica.nodeId), newMinorCmd(resource, replica.minor)];
  for (const e of existing) onNew.push(newPeerCmd(resource, { nodeId: e.nodeId, name: e.name }), newPathCmd(resource, e.nodeId, replica.address, e.address), peerDeviceOptionsCmd(resource, e.nodeId, 0, resync));
  onNew.push(applyAlCmd(replica.minor, replica.metaDev), attach9Cmd({ minor: replica.minor, dataDev: replica.dataDev, metaDev: replica.metaDev, ...(replica.sizeMiB !== undefined ? { sizeMiB: replica.sizeMiB } : {}) }));
  for (const e of existing) onNew.push(connectCmd(resource, e.nodeId));
  const onExisting = new Map(existing.map((e) => [e.name, [
    newPeerCmd(resource, { nodeId: replica.nodeId, name: replica.name }), newPathCmd(resource, replica.nodeId, e.address, replica.address),
    peerDeviceOptionsCmd(resource, replica.nodeId, 0, resync), connectCmd(resource, replica.nodeId),
  ]]));
  return { onNew, onExisting };
}

/**
 * Step 2, only once NEW is UpToDate (`drbdsetup status --json`: its peer-disk-state on
 * every remaining replica): OLD leaves. The remaining replicas disconnect from and forget
 * OLD (disconnect, del-peer); OLD takes its resource down. Its LVs are removed after, by
 * the LVM driver, each as its own planned action.
 */
export function dropReplicaCmds(resource: string, old: Replica9, remaining: readonly Replica9[]): { readonly onOld: string[][]; readonly onRemaining: ReadonlyMap<string, string[][]> } {
  return {
    onOld: [downCmd(resource)],
    onRemaining: new Map(remaining.map((r) => [r.name, [disconnectCmd(resource, old.nodeId), delPeerCmd(resource, old.nodeId)]])),
  };
}
