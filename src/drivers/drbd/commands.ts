/**
 * Pure argv builders for DRBD 8.4 (drbdsetup/drbdmeta), one resource per minor named
 * "resourceN" as Ganeti does. The lab has no DRBD module: these are tested as argv
 * only; behaviour is exercised on the simulator.
 */
import { PrereqError } from '../../util/errors.js';
import { checkPath, checkSizeMiB } from '../facts/shared.js';
import { checkIp } from '../bridge/commands.js';

function checkMinor(minor: number): string {
  if (!Number.isSafeInteger(minor) || minor < 0 || minor > 1048575) throw new PrereqError('INVALID_NAME', `invalid DRBD minor ${minor}`);
  return String(minor);
}
function checkPort(port: number): string {
  if (!Number.isSafeInteger(port) || port < 1 || port > 65535) throw new PrereqError('INVALID_NAME', `invalid DRBD port ${port}`);
  return String(port);
}
export const resourceName = (minor: number): string => `resource${checkMinor(minor)}`;
export const devicePath = (minor: number): string => `/dev/drbd${checkMinor(minor)}`;

export const showCmd = (minor: number): string[] => ['drbdsetup', 'show', checkMinor(minor)];
export const newResourceCmd = (minor: number): string[] => ['drbdsetup', 'new-resource', resourceName(minor)];
export const newMinorCmd = (minor: number): string[] => ['drbdsetup', 'new-minor', resourceName(minor), checkMinor(minor), '0'];
export const createMdCmd = (minor: number, metaDev: string): string[] =>
  ['drbdmeta', '--force', devicePath(minor), 'v08', checkPath(metaDev), 'flex-external', 'create-md'];
/** The activity log must be applied before attach or drbdsetup refuses. */
export const applyAlCmd = (minor: number, metaDev: string): string[] =>
  ['drbdmeta', devicePath(minor), 'v08', checkPath(metaDev), 'flex-external', 'apply-al'];

export interface DiskOptions {
  readonly sizeMiB?: number;
  /** Ganeti's disk barrier knobs: each true disables that mechanism. */
  readonly noDiskBarrier?: boolean;
  readonly noDiskDrain?: boolean;
  readonly noDiskFlushes?: boolean;
  readonly noMdFlushes?: boolean;
}
function barrierArgs(o: DiskOptions): string[] {
  return [
    ...(o.noMdFlushes ? ['--md-flushes=no'] : []),
    ...(o.noDiskFlushes ? ['--disk-flushes=no'] : []),
    ...(o.noDiskDrain ? ['--disk-drain=no'] : []),
    ...(o.noDiskBarrier ? ['--disk-barrier=no'] : []),
  ];
}

/** new-resource, new-minor, apply-al, attach: what brings up the local half. */
export function attachCmds(minor: number, dataDev: string, metaDev: string, o: DiskOptions = {}): string[][] {
  return [
    newResourceCmd(minor),
    newMinorCmd(minor),
    applyAlCmd(minor, metaDev),
    ['drbdsetup', 'attach', checkMinor(minor), checkPath(dataDev), checkPath(metaDev), 'flexible', '--on-io-error=detach',
      ...(o.sizeMiB !== undefined ? ['--size', `${checkSizeMiB(o.sizeMiB)}m`] : []), ...barrierArgs(o)],
  ];
}

export interface Endpoint { readonly host: string; readonly port: number }
export interface NetOptions {
  readonly protocol?: 'A' | 'B' | 'C';
  readonly dualPrimary?: boolean;
  readonly hmac?: string;
  /** Passed in argv (DRBD has no other way); callers must not log these commands. */
  readonly secret?: string;
}
function addr(e: Endpoint): string {
  const host = checkIp(e.host);
  return host.includes(':') ? `ipv6:[${host}]:${checkPort(e.port)}` : `ipv4:${host}:${checkPort(e.port)}`;
}

export function connectCmd(minor: number, local: Endpoint, remote: Endpoint, o: NetOptions = {}): string[] {
  if ((o.hmac === undefined) !== (o.secret === undefined)) throw new PrereqError('INVALID_NAME', 'DRBD hmac and secret go together');
  if (o.hmac !== undefined && !/^[a-z0-9-]+$/.test(o.hmac)) throw new PrereqError('INVALID_NAME', `invalid DRBD hmac ${JSON.stringify(o.hmac)}`);
  if (o.secret !== undefined && !/^[\x21-\x7e]{1,64}$/.test(o.secret)) throw new PrereqError('INVALID_NAME', 'invalid DRBD shared secret: 1-64 printable characters');
  return [
    'drbdsetup', 'connect', resourceName(minor), addr(local), addr(remote),
    '--protocol', o.protocol ?? 'C', '--after-sb-0pri', 'discard-zero-changes', '--after-sb-1pri', 'consensus',
    ...(o.dualPrimary ? ['--allow-two-primaries'] : []),
    ...(o.hmac !== undefined && o.secret !== undefined ? ['--cram-hmac-alg', o.hmac, '--shared-secret', o.secret] : []),
  ];
}

export interface SyncOptions {
  /** Fixed resync rate in KiB/s; or the dynamic controller below. */
  readonly resyncRateKiB?: number;
  readonly dynamic?: { readonly planAhead: number; readonly fillTarget: number; readonly delayTarget: number; readonly maxRateKiB: number; readonly minRateKiB: number };
}
export function diskOptionsCmd(minor: number, o: SyncOptions): string[] {
  const n = (v: number): string => {
    if (!Number.isSafeInteger(v) || v < 0) throw new PrereqError('INVALID_NAME', `invalid DRBD sync option ${v}`);
    return String(v);
  };
  if (o.dynamic) {
    if (o.dynamic.planAhead === 0) throw new PrereqError('INVALID_NAME', 'c-plan-ahead 0 disables the dynamic resync controller: disable it explicitly instead');
    const d = o.dynamic;
    return ['drbdsetup', 'disk-options', checkMinor(minor), '--c-plan-ahead', n(d.planAhead), '--c-fill-target', n(d.fillTarget),
      '--c-delay-target', n(d.delayTarget), '--c-max-rate', n(d.maxRateKiB), '--c-min-rate', n(d.minRateKiB)];
  }
  return ['drbdsetup', 'disk-options', checkMinor(minor), '--resync-rate', n(o.resyncRateKiB ?? 61440)];
}

export const primaryCmd = (minor: number, force = false): string[] => ['drbdsetup', 'primary', checkMinor(minor), ...(force ? ['--force'] : [])];
export const secondaryCmd = (minor: number): string[] => ['drbdsetup', 'secondary', checkMinor(minor)];
export const detachCmd = (minor: number): string[] => ['drbdsetup', 'detach', checkMinor(minor)];
export const disconnectCmd = (local: Endpoint, remote: Endpoint): string[] => ['drbdsetup', 'disconnect', addr(local), addr(remote)];
export const downCmd = (minor: number): string[] => ['drbdsetup', 'down', resourceName(minor)];
export const resizeCmd = (minor: number, sizeMiB: number): string[] => ['drbdsetup', 'resize', checkMinor(minor), '--size', `${checkSizeMiB(sizeMiB)}m`];
export const pauseSyncCmd = (minor: number): string[] => ['drbdsetup', 'pause-sync', checkMinor(minor)];
export const resumeSyncCmd = (minor: number): string[] => ['drbdsetup', 'resume-sync', checkMinor(minor)];
