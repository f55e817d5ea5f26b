/**
 * Pure decisions for DRBD 8.4 ensures: from what a node shows (events2 --now, drbdsetup
 * show, drbdmeta dump-md) to the missing steps, in Ganeti's order, or a refusal. Nothing
 * here runs; ops.ts reads, calls these, then runs what they return.
 *
 * Refusals protect data: a minor used by another resource or disk, a link to another
 * peer, metadata already on a meta LV, a forced promotion over data that may be newer.
 */
import { PrereqError, type GantryError } from '../../util/errors.js';
import * as c from './cmd84.js';
import { isConnected, SYNCING, type DrbdDevice, type DrbdSnapshot } from './state.js';
import type { ShowResource } from './parse-show.js';
import type { Endpoint } from './validate.js';

/** Everything that defines one 8.4 resource on one node (Ganeti: one resource per minor). */
export interface Drbd84Spec {
  readonly resource: string;
  readonly minor: number;
  readonly dataDev: string;
  readonly metaDev: string;
  readonly sizeMiB?: number;
  readonly barriers?: c.BarrierOptions;
  readonly resync: c.ResyncOptions;
  readonly net: c.NetSpec;
}

export type UpStep = 'new-resource' | 'new-minor' | 'attach' | 'sync-options' | 'connect' | 'dual-primary' | 'ping-timeout';
export type UpDecision =
  | { readonly kind: 'run'; readonly steps: readonly UpStep[]; readonly commands: readonly string[][] }
  | { readonly kind: 'refuse'; readonly error: GantryError };

/** drbdsetup 8.4's defaults: `show` prints only what differs from these. */
const SYNC_DEFAULTS: Readonly<Record<string, string>> = {
  'resync-rate': '250k', 'c-plan-ahead': '20', 'c-fill-target': '100s', 'c-delay-target': '10', 'c-max-rate': '102400k', 'c-min-rate': '250k',
};

/** The disk options resyncArgs sets, as `drbdsetup show` prints them. */
export function expectedSyncOptions(o: c.ResyncOptions): Record<string, string> {
  const args = c.resyncArgs(o);
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) out[args[i]!.slice(2)] = args[i + 1]!;
  return out;
}

export function syncOptionsDiffer(o: c.ResyncOptions, shown: Readonly<Record<string, string>>): boolean {
  return Object.entries(expectedSyncOptions(o)).some(([k, v]) => (shown[k] ?? SYNC_DEFAULTS[k]) !== v);
}

/** Each sync option whose shown value (or DRBD's default when not shown) is not the wanted one. */
export function syncOptionsDiff(o: c.ResyncOptions, shown: Readonly<Record<string, string>>): { option: string; have: string; want: string }[] {
  return Object.entries(expectedSyncOptions(o)).flatMap(([option, want]) => {
    const have = shown[option] ?? SYNC_DEFAULTS[option] ?? 'unset';
    return have === want ? [] : [{ option, have, want }];
  });
}

/** Whether a live link's ping-timeout (`drbdsetup show`'s net section; DRBD's default when absent) is not `ms`. */
export function pingTimeoutDiffers(ms: number, net: Readonly<Record<string, string>>): boolean {
  return (net['ping-timeout'] ?? c.pingTimeoutShown(undefined)) !== c.pingTimeoutShown(ms);
}

const sameEndpoint = (a: { host: string; port: number } | undefined, b: Endpoint): boolean => a !== undefined && a.host === b.host && a.port === b.port;
const refuse = (code: string, message: string, details: Record<string, unknown>): UpDecision => ({ kind: 'refuse', error: new PrereqError(code, message, details) });

function localSteps(spec: Drbd84Spec, dev: DrbdDevice | undefined, cfg: ShowResource | undefined, resources: readonly string[]): UpDecision {
  const attach = [c.applyAlCmd(spec.minor, spec.metaDev), c.attachCmd(spec)];
  if (!dev) {
    if (resources.includes(spec.resource)) return { kind: 'run', steps: ['new-minor', 'attach'], commands: [c.newMinorCmd(spec.resource, spec.minor), ...attach] };
    return { kind: 'run', steps: ['new-resource', 'new-minor', 'attach'], commands: [c.newResourceCmd(spec.resource), c.newMinorCmd(spec.resource, spec.minor), ...attach] };
  }
  if (dev.resource !== spec.resource) return refuse('DRBD_MINOR_IN_USE', `minor ${spec.minor} belongs to DRBD resource ${dev.resource ?? '?'}, not ${spec.resource}`, { minor: spec.minor, resource: dev.resource });
  const vol = cfg?.volumes.find((v) => v.minor === spec.minor);
  if (vol?.disk === undefined) return dev.disk === 'Diskless' ? { kind: 'run', steps: ['attach'], commands: attach } : refuse('DRBD_DISK_STATE', `minor ${spec.minor} has no disk in drbdsetup show but its disk state is ${dev.disk ?? 'unknown'}: not attaching over it`, { minor: spec.minor, disk: dev.disk });
  if (vol.disk !== spec.dataDev || vol.metaDisk !== spec.metaDev) {
    return refuse('DRBD_DISK_MISMATCH', `minor ${spec.minor} is attached to ${vol.disk} (meta ${vol.metaDisk ?? '?'}), not ${spec.dataDev} (meta ${spec.metaDev})`, { minor: spec.minor, disk: vol.disk, metaDisk: vol.metaDisk });
  }
  return { kind: 'run', steps: [], commands: [] };
}

function netSteps(spec: Drbd84Spec, cfg: ShowResource | undefined, attachedNow: boolean): UpDecision {
  const conn = cfg?.connections[0];
  const vol = cfg?.volumes.find((v) => v.minor === spec.minor);
  const sync = attachedNow || syncOptionsDiffer(spec.resync, vol?.diskOptions ?? {}) ? [c.diskOptionsCmd(spec.minor, spec.resync)] : [];
  const syncStep: UpStep[] = sync.length ? ['sync-options'] : [];
  if (!conn?.local && !conn?.remote) return { kind: 'run', steps: [...syncStep, 'connect'], commands: [...sync, c.connectCmd(spec.resource, spec.net)] };
  if (!sameEndpoint(conn.local, spec.net.local) || !sameEndpoint(conn.remote, spec.net.peer)) {
    const shown = `${conn.local?.host ?? '?'}:${conn.local?.port ?? '?'} -> ${conn.remote?.host ?? '?'}:${conn.remote?.port ?? '?'}`;
    return refuse('DRBD_NET_MISMATCH', `${spec.resource} is linked ${shown}, not ${spec.net.local.host}:${spec.net.local.port} -> ${spec.net.peer.host}:${spec.net.peer.port}: disconnect it explicitly first`, { resource: spec.resource });
  }
  const dual = (conn.net['allow-two-primaries'] === 'yes') !== (spec.net.allowTwoPrimaries ?? false);
  const dualCmd = dual ? [c.allowTwoPrimariesCmd(spec.net.local, spec.net.peer, spec.net.allowTwoPrimaries ?? false)] : [];
  const ping = spec.net.pingTimeoutMs !== undefined && pingTimeoutDiffers(spec.net.pingTimeoutMs, conn.net);
  const pingCmd = ping ? [c.pingTimeoutCmd(spec.net.local, spec.net.peer, spec.net.pingTimeoutMs!)] : [];
  return { kind: 'run', steps: [...syncStep, ...(dual ? ['dual-primary' as const] : []), ...(ping ? ['ping-timeout' as const] : [])], commands: [...sync, ...dualCmd, ...pingCmd] };
}

/**
 * The missing steps to bring a resource up: local half (new-resource, new-minor,
 * apply-al + attach), sync options (before connect, see cmd84.ts), connect.
 */
export function planUp(spec: Drbd84Spec, events: DrbdSnapshot, cfg: ShowResource | undefined): UpDecision {
  const dev = events.devices.find((d) => d.minor === spec.minor);
  const local = localSteps(spec, dev, cfg, events.resources ?? []);
  if (local.kind === 'refuse') return local;
  const attachedNow = local.steps.includes('attach');
  const net = netSteps(spec, dev ? cfg : undefined, attachedNow);
  if (net.kind === 'refuse') return net;
  return { kind: 'run', steps: [...local.steps, ...net.steps], commands: [...local.commands, ...net.commands] };
}

/** dump-md's answer: metadata present, none (safe to create), or unreadable (v08 for 8.4; DRBD 9's v09 through plan9.metaState9). */
export function metaState(code: number | null, out: string, format: 'v08' | 'v09' = 'v08'): 'present' | 'none' | 'unknown' {
  if (code === 0 && new RegExp(`^version "${format}";`, 'm').test(out)) return 'present';
  // After `drbdsetup down` of an attached device its activity log is unapplied: metadata
  // is there (drbd.up runs apply-al before attach); never a reason to create new metadata.
  if (/Found meta data is "unclean", please apply-al first/.test(out)) return 'present';
  if (/No valid meta data found/.test(out)) return 'none';
  return 'unknown';
}

/** Only a fully Inconsistent, connected pair of Secondaries may be forced (initial sync). */
export function initialSyncDecision(minor: number, dev: DrbdDevice | undefined): 'force' | 'done' | GantryError {
  const peer = dev?.peers[0];
  if (dev && (dev.disk === 'UpToDate' || (peer && SYNCING.has(peer.replication ?? '')))) return 'done';
  if (dev?.disk === 'Inconsistent' && dev.role === 'Secondary' && peer?.connection === 'Connected' && peer.disk === 'Inconsistent' && peer.role === 'Secondary') return 'force';
  const shown = dev ? `disk ${dev.disk ?? '?'}, role ${dev.role ?? '?'}, peer ${peer?.connection ?? 'none'} ${peer?.disk ?? ''}` : 'not configured';
  return new PrereqError('DRBD_FORCE_REFUSED', `not forcing minor ${minor} primary: the initial sync needs both sides connected, Secondary and Inconsistent (now ${shown})`, { minor });
}

/**
 * Failover promotion of the survivor of a pair whose other node is Dead or Offline: no
 * wait for the peer (it is gone). Refused while this side still sees the peer connected
 * (the fencing guard, checked again on the node right before promoting), and unless this
 * side is UpToDate; with `force` (an explicit per-instance override) an Outdated,
 * Inconsistent or Consistent replica is promoted with `primary --force`. A Diskless side
 * holds no data and is never promoted.
 */
export function failoverPromoteDecision(minor: number, dev: DrbdDevice | undefined, force: boolean): { argv: string[] } | 'done' | GantryError {
  if (!dev || dev.unconfigured) return new PrereqError('DRBD_NOT_UP', `not promoting minor ${minor} for failover: it is not configured on this node`, { minor });
  if (dev.role === 'Primary') return 'done';
  const peer = dev.peers.find(isConnected);
  if (peer) return new PrereqError('DRBD_FAILOVER_HELD', `not promoting minor ${minor} for failover: this side still sees its peer connected (${peer.replication ?? peer.connection}): the old primary is alive on the replication network`, { minor });
  if (dev.disk === 'UpToDate') return { argv: c.primaryCmd(minor) };
  if (force && dev.disk !== undefined && ['Outdated', 'Inconsistent', 'Consistent'].includes(dev.disk)) return { argv: c.forcePrimaryForInitialSyncCmd(minor) };
  return new PrereqError('DRBD_FAILOVER_DEGRADED', `not promoting minor ${minor} for failover: its disk is ${dev.disk ?? 'unknown'}, not UpToDate${force ? ' (a Diskless or failed side holds no data to promote)' : ' (Instance spec.autoRepair.allowDegradedFailover forces it, losing what the dead node wrote last)'}`, { minor });
}

/**
 * Secondary replacement, or a re-link: the link is dropped unless it already goes from
 * `local` (when given) to `keep` (the pair's peer). No link: nothing to do. Only the link
 * goes (the argv names the endpoints show printed); the device stays attached and keeps its role.
 */
export function disconnectDecision(cfg: ShowResource | undefined, keep: Endpoint, local?: Endpoint): { argv: string[]; from: string } | 'done' {
  const conn = cfg?.connections[0];
  if (!conn?.local || !conn.remote) return 'done';
  if (sameEndpoint(conn.remote, keep) && (local === undefined || sameEndpoint(conn.local, local))) return 'done';
  return { argv: c.disconnectCmd({ host: conn.local.host, port: conn.local.port }, { host: conn.remote.host, port: conn.remote.port }), from: `${conn.remote.host}:${conn.remote.port}` };
}

/** The end of a resync: this side UpToDate, its peer connected, not syncing, UpToDate. */
export function syncDone(dev: DrbdDevice | undefined): boolean {
  const p = dev?.peers[0];
  return dev?.disk === 'UpToDate' && p !== undefined && isConnected(p) && !SYNCING.has(p.replication ?? p.connection) && p.disk === 'UpToDate';
}

/** What a live migration needs on each side before dual-primary: Connected, no resync, both disks UpToDate. */
export function migrationReadyProblem(dev: DrbdDevice | undefined): string | undefined {
  if (!dev || dev.unconfigured) return 'not configured';
  const peer = dev.peers[0];
  const shown = `${dev.role ?? '?'}, disk ${dev.disk ?? '?'}, ${peer ? `${peer.replication ?? peer.connection} to a ${peer.role ?? '?'} peer whose disk is ${peer.disk ?? '?'}` : 'no peer'}`;
  if (!peer || peer.connection !== 'Connected' || (peer.replication !== undefined && peer.replication !== 'Established')) return shown;
  if (dev.disk !== 'UpToDate' || peer.disk !== 'UpToDate') return shown;
  return undefined;
}

/**
 * Live migration, on the destination: promote while the source is still Primary (dual
 * primary, allow-two-primaries set on the link). Only Connected with UpToDate on both
 * sides; a resync, an Outdated or Diskless side, or a missing peer is refused.
 */
export function migrationPromoteDecision(minor: number, dev: DrbdDevice | undefined, dualPrimary: boolean): { argv: string[] } | 'done' | GantryError {
  if (dev?.role === 'Primary' && !dev.unconfigured) return 'done';
  const problem = migrationReadyProblem(dev);
  if (problem !== undefined) return new PrereqError('DRBD_MIGRATION_NOT_READY', `not promoting minor ${minor} for a live migration: it needs Connected and UpToDate/UpToDate (now ${problem})`, { minor });
  if (dev!.peers[0]?.role === 'Primary' && !dualPrimary) return new PrereqError('DRBD_NO_DUAL_PRIMARY', `not promoting minor ${minor}: the peer is Primary and allow-two-primaries is not set on this link`, { minor });
  return { argv: c.primaryCmd(minor) };
}

/** allow-two-primaries as `drbdsetup show` prints it (only when set: "no" is the default it omits). */
export function dualPrimaryOf(cfg: ShowResource | undefined): boolean | undefined {
  const conn = cfg?.connections[0];
  if (!conn?.local && !conn?.remote) return undefined;
  return conn.net['allow-two-primaries'] === 'yes';
}

/**
 * Set or clear allow-two-primaries on a connected link (net-options, no reconnect); a
 * resource with no network config, or linked to other endpoints, is refused.
 */
export function dualPrimaryDecision(resource: string, local: Endpoint, peer: Endpoint, cfg: ShowResource | undefined, allow: boolean): { argv: string[] } | 'done' | GantryError {
  const conn = cfg?.connections[0];
  if (!conn?.local && !conn?.remote) return new PrereqError('DRBD_NOT_CONNECTED', `${resource} has no network config: allow-two-primaries needs the link up`, { resource });
  if (!sameEndpoint(conn.local, local) || !sameEndpoint(conn.remote, peer)) {
    return new PrereqError('DRBD_NET_MISMATCH', `${resource} is linked ${conn.local?.host ?? '?'}:${conn.local?.port ?? '?'} -> ${conn.remote?.host ?? '?'}:${conn.remote?.port ?? '?'}, not ${local.host}:${local.port} -> ${peer.host}:${peer.port}`, { resource });
  }
  if (dualPrimaryOf(cfg) === allow) return 'done';
  return { argv: c.allowTwoPrimariesCmd(local, peer, allow) };
}
