/**
 * The drbd.* actions on a real node: each maps to one ensure of the DRBD 8.4 runner
 * (drivers/drbd/ops.ts), or of the DRBD 9 runner (drivers/drbd/ops9.ts) when the action
 * carries `v9` (`maxPeers` for create-md), which reads the node first and runs only the
 * missing steps.
 * `describe` gives the argv a fresh node would get (for --dry-run).
 */
import type { Action } from '../core/actions.js';
import type { Transport } from '../transport/transport.js';
import type { Logger } from '../util/log.js';
import * as c from '../drivers/drbd/cmd84.js';
import type { Drbd84Spec } from '../drivers/drbd/plan84.js';
import * as c9 from '../drivers/drbd/cmd9.js';
import type { Drbd9Spec } from '../drivers/drbd/plan9.js';
import { ensureDualPrimary9, ensureFailoverPrimary9, ensureMetadata9, ensurePeerDropped9, ensurePrimary9, ensureResized9, ensureSecondary9, ensureUp9, startInitialSync9, waitForSync9 } from '../drivers/drbd/ops9.js';
import { endpointArg } from '../drivers/drbd/validate.js';
import {
  ensureDisconnectedExcept, ensureDown, ensureDualPrimary, ensureFailoverPrimary, ensureMetadata, ensureUsermodeHelper, ensurePrimary, ensureResized, ensureSecondary, ensureUp, startInitialSyncWhenConnected, waitForSync, type EnsureResult, type WaitOptions,
} from '../drivers/drbd/ops.js';

export type DrbdAction = Extract<Action, { verb: `drbd.${string}` }>;

export function isDrbdAction(a: Action): a is DrbdAction {
  return a.verb.startsWith('drbd.');
}

function specOf(a: Extract<Action, { verb: 'drbd.up' }>): Drbd84Spec {
  return {
    resource: a.resource, minor: a.minor, dataDev: a.dataDev, metaDev: a.metaDev, sizeMiB: a.sizeMiB, barriers: a.barriers, resync: a.resync,
    net: { local: a.local, peer: a.peer, protocol: a.protocol, ...(a.pingTimeoutMs !== undefined ? { pingTimeoutMs: a.pingTimeoutMs } : {}) },
  };
}

/** The DRBD 9 spec of a drbd.up that carries `v9`. */
export function spec9Of(a: Extract<Action, { verb: 'drbd.up' }>): Drbd9Spec {
  const v = a.v9!;
  return {
    resource: a.resource, minor: a.minor, nodeId: v.nodeId, dataDev: a.dataDev, metaDev: a.metaDev, sizeMiB: a.sizeMiB, barriers: a.barriers, resync: a.resync,
    quorum: { quorum: v.quorum, onNoQuorum: v.onNoQuorum },
    peers: v.peers.map((p) => ({ nodeId: p.nodeId, name: p.node, local: p.local, peer: p.peer, protocol: a.protocol })),
  };
}

/** DRBD 9's argv for a fresh node (dry-run), or undefined for an 8.4 action. */
function describeDrbd9(a: DrbdAction): string[][] | undefined {
  switch (a.verb) {
    case 'drbd.create-md': return a.maxPeers === undefined ? undefined : [c9.dumpMdCmd(a.minor, a.metaDev), c.wipeMetaCmd(a.metaDev), c9.createMdCmd(a.minor, a.metaDev, a.maxPeers)];
    case 'drbd.up': {
      if (!a.v9) return undefined;
      const s = spec9Of(a);
      return [c.usermodeHelperWriteCmd(), c9.newResourceCmd(s.resource, s.nodeId), c9.resourceOptionsCmd(s.resource, s.quorum), c9.newMinorCmd(s.resource, s.minor),
        ...s.peers.flatMap((p) => [c9.newPeerCmd(s.resource, { nodeId: p.nodeId, name: p.name }), c9.newPathCmd(s.resource, p.nodeId, p.local, p.peer), c9.peerDeviceOptionsCmd(s.resource, p.nodeId, 0, s.resync)]),
        c9.applyAlCmd(s.minor, s.metaDev), c9.attach9Cmd({ minor: s.minor, dataDev: s.dataDev, metaDev: s.metaDev, sizeMiB: a.sizeMiB, barriers: a.barriers }), ...s.peers.map((p) => c9.connectCmd(s.resource, p.nodeId))];
    }
    case 'drbd.initial-sync': return a.v9 ? [c9.forcePrimaryForInitialSyncCmd(a.resource)] : undefined;
    case 'drbd.primary': return a.v9 ? [a.failover?.force ? c9.forcePrimaryForInitialSyncCmd(a.resource) : c9.primaryCmd(a.resource)] : undefined;
    case 'drbd.secondary': return a.v9 ? [c9.secondaryCmd(a.resource)] : undefined;
    case 'drbd.resize': return a.v9 ? [c9.resizeCmd(a.minor, a.sizeMiB)] : undefined;
    case 'drbd.disconnect': return a.v9 ? [c9.disconnectCmd(a.resource, a.v9.peerNodeId), c9.delPeerCmd(a.resource, a.v9.peerNodeId)] : undefined;
    case 'drbd.wait-sync': return a.v9 ? [c9.statusJsonCmd(a.resource)] : undefined;
    case 'drbd.single-primary': return a.v9 ? [c9.showCmd(a.resource), c9.allowTwoPrimariesCmd(a.resource, a.v9.peerNodeId, false)] : undefined;
    default: return undefined;
  }
}

/** Run a DRBD 9 action (one that carries `v9` / `maxPeers`), or undefined for an 8.4 one. */
function runDrbd9(t: Transport, a: DrbdAction, log: Logger, wait: Pick<WaitOptions, 'sleep' | 'intervalMs'>): Promise<EnsureResult> | undefined {
  switch (a.verb) {
    case 'drbd.create-md': return a.maxPeers === undefined ? undefined : ensureMetadata9(t, a.minor, a.metaDev, a.maxPeers, log);
    case 'drbd.up': return a.v9 ? (async () => {
      const helper = await ensureUsermodeHelper(t, a.usermodeHelper, log);
      const up = await ensureUp9(t, spec9Of(a), log);
      return { ran: [...helper.ran, ...up.ran], steps: [...helper.steps, ...up.steps] };
    })() : undefined;
    case 'drbd.initial-sync': return a.v9 ? startInitialSync9(t, a.resource, a.minor, { ...wait, timeoutMs: a.waitS * 1000 }, log) : undefined;
    case 'drbd.primary':
      if (!a.v9) return undefined;
      return a.failover ? ensureFailoverPrimary9(t, a.resource, a.minor, a.failover.fromNodeId, a.failover.force, a.v9.quorum, log) : ensurePrimary9(t, a.resource, a.minor, a.v9.quorum, { ...wait, timeoutMs: a.waitS * 1000 }, log);
    case 'drbd.secondary': return a.v9 ? ensureSecondary9(t, a.resource, a.minor, log) : undefined;
    case 'drbd.resize': return a.v9 ? ensureResized9(t, a.minor, a.sizeMiB, log) : undefined;
    case 'drbd.disconnect': return a.v9 ? ensurePeerDropped9(t, a.resource, a.v9.peerNodeId, log) : undefined;
    case 'drbd.wait-sync': return a.v9 ? waitForSync9(t, a.resource, a.minor, a.v9.peerNodeId, { ...wait, timeoutMs: a.waitS * 1000 }) : undefined;
    case 'drbd.single-primary': return a.v9 ? ensureDualPrimary9(t, a.resource, a.v9.peerNodeId, false, log) : undefined;
    default: return undefined;
  }
}

/** What the action runs on a node where nothing of it exists yet. */
export function describeDrbd(a: DrbdAction): string[][] {
  const v9 = describeDrbd9(a);
  if (v9) return v9;
  switch (a.verb) {
    case 'drbd.create-md': return [c.dumpMdCmd(a.minor, a.metaDev), c.wipeMetaCmd(a.metaDev), c.createMdCmd(a.minor, a.metaDev)];
    case 'drbd.up': {
      const s = specOf(a);
      return [c.usermodeHelperWriteCmd(), ...c.localUpCmds(s.resource, s), c.diskOptionsCmd(s.minor, s.resync), c.connectCmd(s.resource, s.net)];
    }
    case 'drbd.initial-sync': return [c.forcePrimaryForInitialSyncCmd(a.minor)];
    case 'drbd.primary': return [a.failover?.force ? c.forcePrimaryForInitialSyncCmd(a.minor) : c.primaryCmd(a.minor)];
    case 'drbd.secondary': return [c.secondaryCmd(a.minor)];
    case 'drbd.resize': return [c.resizeCmd(a.minor, a.sizeMiB)];
    case 'drbd.down': return [c.downCmd(a.resource)];
    // The link to the old secondary, as drbdsetup show names it on the node; only when it is not `keep`.
    case 'drbd.disconnect': return [c.showResourceCmd(a.resource), ['drbdsetup', 'disconnect', endpointArg(a.local), `<the peer drbdsetup show names, unless the link is ${endpointArg(a.local)} -> ${endpointArg(a.keep)}>`]];
    case 'drbd.wait-sync': return [c.events2NowCmd(), c.procDrbdCmd()];
    case 'drbd.single-primary': return [c.showResourceCmd(a.resource), c.allowTwoPrimariesCmd(a.local, a.remote, false)];
  }
}

/** Run one drbd.* action; throws a GantryError (prereq or exec) when it cannot. */
export async function runDrbd(t: Transport, a: DrbdAction, log: Logger, wait: Pick<WaitOptions, 'sleep' | 'intervalMs'> = {}): Promise<EnsureResult> {
  const v9 = runDrbd9(t, a, log, wait);
  if (v9) return v9;
  switch (a.verb) {
    case 'drbd.create-md': return ensureMetadata(t, a, log);
    case 'drbd.up': {
      const helper = await ensureUsermodeHelper(t, a.usermodeHelper, log);
      const up = await ensureUp(t, specOf(a), log);
      return { ran: [...helper.ran, ...up.ran], steps: [...helper.steps, ...up.steps] };
    }
    case 'drbd.initial-sync': return startInitialSyncWhenConnected(t, a.minor, { ...wait, timeoutMs: a.waitS * 1000 }, log);
    case 'drbd.primary': return a.failover ? ensureFailoverPrimary(t, a.minor, a.failover.force, log) : ensurePrimary(t, a.minor, { ...wait, timeoutMs: a.waitS * 1000 }, log);
    case 'drbd.secondary': return ensureSecondary(t, a.minor, log);
    case 'drbd.resize': return ensureResized(t, a.minor, a.sizeMiB, log);
    case 'drbd.down': return ensureDown(t, a.resource, log);
    case 'drbd.disconnect': return ensureDisconnectedExcept(t, a.resource, a.keep, log, a.local);
    case 'drbd.wait-sync': return waitForSync(t, a.minor, { ...wait, timeoutMs: a.waitS * 1000 });
    case 'drbd.single-primary': return ensureDualPrimary(t, { resource: a.resource, minor: a.minor, local: a.local, peer: a.remote }, false, log);
  }
}
