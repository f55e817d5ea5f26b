/**
 * The drbd.* actions on a real node: each maps to one ensure of the DRBD 8.4 runner
 * (drivers/drbd/ops.ts), which reads the node first and runs only the missing steps.
 * `describe` gives the argv a fresh node would get (for --dry-run).
 */
import type { Action } from '../core/actions.js';
import type { Transport } from '../transport/transport.js';
import type { Logger } from '../util/log.js';
import * as c from '../drivers/drbd/cmd84.js';
import type { Drbd84Spec } from '../drivers/drbd/plan84.js';
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

/** What the action runs on a node where nothing of it exists yet. */
export function describeDrbd(a: DrbdAction): string[][] {
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
    case 'drbd.disconnect': return [c.showResourceCmd(a.resource), ['drbdsetup', 'disconnect', endpointArg(a.local), `<the peer drbdsetup show names, unless it is ${endpointArg(a.keep)}>`]];
    case 'drbd.wait-sync': return [c.events2NowCmd(), c.procDrbdCmd()];
    case 'drbd.single-primary': return [c.showResourceCmd(a.resource), c.allowTwoPrimariesCmd(a.local, a.remote, false)];
  }
}

/** Run one drbd.* action; throws a GantryError (prereq or exec) when it cannot. */
export async function runDrbd(t: Transport, a: DrbdAction, log: Logger, wait: Pick<WaitOptions, 'sleep' | 'intervalMs'> = {}): Promise<EnsureResult> {
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
    case 'drbd.disconnect': return ensureDisconnectedExcept(t, a.resource, a.keep, log);
    case 'drbd.wait-sync': return waitForSync(t, a.minor, { ...wait, timeoutMs: a.waitS * 1000 });
    case 'drbd.single-primary': return ensureDualPrimary(t, { resource: a.resource, minor: a.minor, local: a.local, peer: a.remote }, false, log);
  }
}
