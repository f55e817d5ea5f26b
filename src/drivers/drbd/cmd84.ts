/**
 * Pure argv builders for DRBD 8.4 (drbdsetup/drbdmeta 8.4 syntax; Debian's drbd-utils 9
 * execs its drbdsetup-84 for an 8.4 module). One resource per minor, as Ganeti does
 * (lib/storage/drbd_cmdgen.py, DRBD84CmdGenerator), in Ganeti's order:
 *
 *   create:  wipeMeta, createMd                      (once, on a new meta LV)
 *   up:      newResource, newMinor, applyAl, attach, diskOptions, connect
 *   roles:   primary / forcePrimaryForInitialSync / secondary
 *   down:    disconnect, detach, down;  grow: resize
 *
 * Sync options go in before connect: DRBD sends its sync speed while connecting, and
 * setting it after both sides are up races with the handshake (Ganeti's comment).
 */
import { PrereqError } from '../../util/errors.js';
import { checkCount, checkDevice, checkMinor, checkResource, linkArgs, type Endpoint } from './validate.js';

export const resourceName = (minor: number): string => `resource${checkMinor(minor)}`;
export const devicePath = (minor: number): string => `/dev/drbd${checkMinor(minor)}`;

/** Ganeti's meta LV bounds (DRBD8Dev._CheckMetaSize): 128 MiB .. 1 GiB. */
export const META_MIN_MIB = 128;
export const META_MAX_MIB = 1024;

/**
 * Zero the head of the meta LV so drbdmeta does not find an old filesystem or old
 * metadata there (Ganeti issue 182): the first 128 MiB, direct I/O, as Ganeti does.
 */
export function wipeMetaCmd(metaDev: string): string[] {
  return ['dd', 'if=/dev/zero', `of=${checkDevice(metaDev)}`, 'bs=1048576', `count=${META_MIN_MIB}`, 'oflag=direct'];
}

/**
 * Write fresh v08 metadata with an external, flexible-size layout. `--force` as in
 * Ganeti: drbdmeta otherwise stops to ask "Do you want to proceed? [need to type 'yes'
 * to confirm]" when it finds something on the device, and there is no one to answer.
 * It is safe only right after wipeMetaCmd on a meta LV that held no valid DRBD metadata
 * (the runner reads that first with dumpMdCmd); it must never run on a live meta LV.
 */
export function createMdCmd(minor: number, metaDev: string): string[] {
  return ['drbdmeta', '--force', devicePath(minor), 'v08', checkDevice(metaDev), 'flex-external', 'create-md'];
}

/** Read-only: prints the metadata, or fails with "No valid meta data found". */
export function dumpMdCmd(minor: number, metaDev: string): string[] {
  return ['drbdmeta', devicePath(minor), 'v08', checkDevice(metaDev), 'flex-external', 'dump-md'];
}

export const newResourceCmd = (resource: string): string[] => ['drbdsetup', 'new-resource', checkResource(resource)];
export const newMinorCmd = (resource: string, minor: number): string[] => ['drbdsetup', 'new-minor', checkResource(resource), checkMinor(minor), '0'];
/** Replays the activity log; drbdsetup refuses to attach a device whose AL is unapplied. */
export const applyAlCmd = (minor: number, metaDev: string): string[] =>
  ['drbdmeta', devicePath(minor), 'v08', checkDevice(metaDev), 'flex-external', 'apply-al'];

/** Ganeti's disk_barriers / meta_barriers: each true DISABLES that mechanism. */
export interface BarrierOptions {
  readonly noDiskBarrier?: boolean;
  readonly noDiskDrain?: boolean;
  readonly noDiskFlushes?: boolean;
  readonly noMdFlushes?: boolean;
}
export interface AttachSpec {
  readonly minor: number;
  readonly dataDev: string;
  readonly metaDev: string;
  /** Usable size in MiB (Ganeti passes the disk size); absent: the whole data LV. */
  readonly sizeMiB?: number;
  readonly barriers?: BarrierOptions;
}

/** Any subset is valid (Ganeti's DRBD_VALID_BARRIER_OPT: "n" or any subset of "bdf"). */
function barrierArgs(b: BarrierOptions = {}): string[] {
  return [
    ...(b.noMdFlushes ? ['--md-flushes=no'] : []),
    ...(b.noDiskFlushes ? ['--disk-flushes=no'] : []),
    ...(b.noDiskDrain ? ['--disk-drain=no'] : []),
    ...(b.noDiskBarrier ? ['--disk-barrier=no'] : []),
  ];
}

export function attachCmd(a: AttachSpec): string[] {
  return ['drbdsetup', 'attach', checkMinor(a.minor), checkDevice(a.dataDev), checkDevice(a.metaDev), 'flexible', '--on-io-error=detach',
    ...(a.sizeMiB !== undefined ? ['--size', `${checkCount('size (MiB)', a.sizeMiB)}m`] : []), ...barrierArgs(a.barriers)];
}

/** new-resource, new-minor, apply-al, attach: the local half (GenLocalInitCmds). */
export function localUpCmds(resource: string, a: AttachSpec): string[][] {
  return [newResourceCmd(resource), newMinorCmd(resource, a.minor), applyAlCmd(a.minor, a.metaDev), attachCmd(a)];
}

/** Fixed resync rate, or DRBD's dynamic resync controller (c-plan-ahead > 0). */
export type ResyncOptions =
  | { readonly kind: 'fixed'; readonly rateKiB: number }
  | { readonly kind: 'dynamic'; readonly planAhead: number; readonly fillTarget: number; readonly delayTarget: number; readonly maxRateKiB: number; readonly minRateKiB: number };

export function resyncArgs(o: ResyncOptions): string[] {
  if (o.kind === 'fixed') return ['--resync-rate', `${checkCount('resync rate (KiB/s)', o.rateKiB)}k`];
  if (o.planAhead === 0) throw new PrereqError('DRBD_INVALID_OPTION', 'c-plan-ahead 0 disables the dynamic resync controller: choose the fixed resync rate instead', {});
  return ['--c-plan-ahead', checkCount('c-plan-ahead', o.planAhead), '--c-fill-target', `${checkCount('c-fill-target', o.fillTarget, 0)}s`,
    '--c-delay-target', checkCount('c-delay-target', o.delayTarget), '--c-max-rate', `${checkCount('c-max-rate', o.maxRateKiB)}k`,
    '--c-min-rate', `${checkCount('c-min-rate', o.minRateKiB, 0)}k`];
}

/** Sync parameters of an attached minor (GenSyncParamsCmd); run before connect. */
export const diskOptionsCmd = (minor: number, o: ResyncOptions): string[] => ['drbdsetup', 'disk-options', checkMinor(minor), ...resyncArgs(o)];

/**
 * Split-brain recovery policies. Only the ones that never throw away changed data on a
 * guess: discard-zero-changes (only a side that wrote nothing), consensus (as Ganeti),
 * disconnect (stay StandAlone and report). Ganeti sets 0pri and 1pri; 2pri stays
 * "disconnect", DRBD's default, written out so `drbdsetup show` confirms it.
 */
export interface AfterSplitBrain {
  readonly zeroPrimaries: 'discard-zero-changes' | 'disconnect';
  readonly onePrimary: 'consensus' | 'disconnect';
  readonly twoPrimaries: 'disconnect';
}
export const GANETI_AFTER_SB: AfterSplitBrain = { zeroPrimaries: 'discard-zero-changes', onePrimary: 'consensus', twoPrimaries: 'disconnect' };

export interface NetSpec {
  readonly local: Endpoint;
  readonly peer: Endpoint;
  /** Ganeti's default C; dual-primary requires C. */
  readonly protocol?: 'A' | 'B' | 'C';
  /** Only for a live migration, only on request. */
  readonly allowTwoPrimaries?: boolean;
  readonly afterSb?: AfterSplitBrain;
  /** --ping-timeout, in ms (DRBD counts tenths of a second: a multiple of 100, 100-30000); absent: DRBD's default (500). */
  readonly pingTimeoutMs?: number;
  /** Ganeti's DRBD_HMAC_ALG is md5; the secret travels in argv (DRBD has no other way): never log these argv. */
  readonly auth?: { readonly hmac: string; readonly secret: string };
}

export function connectCmd(resource: string, n: NetSpec): string[] {
  const protocol = n.protocol ?? 'C';
  if (!['A', 'B', 'C'].includes(protocol)) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD protocol ${JSON.stringify(protocol)}`, {});
  if (n.allowTwoPrimaries && protocol !== 'C') throw new PrereqError('DRBD_INVALID_OPTION', 'two primaries need protocol C (Ganeti forces C for migration)', {});
  const sb = n.afterSb ?? GANETI_AFTER_SB;
  return ['drbdsetup', 'connect', checkResource(resource), ...linkArgs(n.local, n.peer), '--protocol', protocol,
    '--after-sb-0pri', sb.zeroPrimaries, '--after-sb-1pri', sb.onePrimary, '--after-sb-2pri', sb.twoPrimaries,
    ...(n.allowTwoPrimaries ? ['--allow-two-primaries'] : []), ...pingTimeoutArgs(n.pingTimeoutMs), ...authArgs(n.auth)];
}

function pingTimeoutArgs(ms: number | undefined): string[] {
  if (ms === undefined) return [];
  if (!Number.isInteger(ms) || ms < 100 || ms > 30000 || ms % 100 !== 0) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD ping-timeout ${JSON.stringify(ms)} ms: a multiple of 100 from 100 to 30000`, {});
  return ['--ping-timeout', String(ms / 100)];
}

function authArgs(auth: NetSpec['auth']): string[] {
  if (!auth) return [];
  if (!/^[a-z0-9-]{1,32}$/.test(auth.hmac)) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD cram-hmac-alg ${JSON.stringify(auth.hmac)}`, {});
  // DRBD's SHARED_SECRET_MAX is 64; never put the secret in an error message.
  if (!/^[\x21-\x7e]{1,64}$/.test(auth.secret)) throw new PrereqError('DRBD_INVALID_OPTION', 'invalid DRBD shared secret: 1-64 printable ASCII characters, no spaces', {});
  return ['--cram-hmac-alg', auth.hmac, '--shared-secret', auth.secret];
}

/** Set ping-timeout on a live link (net-options: no reconnect). */
export function pingTimeoutCmd(local: Endpoint, peer: Endpoint, ms: number): string[] {
  return ['drbdsetup', 'net-options', ...linkArgs(local, peer), ...pingTimeoutArgs(ms)];
}

/** The ping-timeout as `drbdsetup show` prints it (tenths of a second), for a value in ms; DRBD's default 5 when unset. */
export const pingTimeoutShown = (ms: number | undefined): string => String(ms === undefined ? 5 : ms / 100);

/** Toggle dual-primary on a connected link (live migration), without reconnecting. */
export function allowTwoPrimariesCmd(local: Endpoint, peer: Endpoint, allow: boolean): string[] {
  return ['drbdsetup', 'net-options', ...linkArgs(local, peer), `--allow-two-primaries=${allow ? 'yes' : 'no'}`];
}

export const primaryCmd = (minor: number): string[] => ['drbdsetup', 'primary', checkMinor(minor)];
/**
 * Promote with both sides Inconsistent: what starts the initial full sync, and only
 * that. Never for a device whose peer may hold newer data: it makes this side's data win.
 */
export const forcePrimaryForInitialSyncCmd = (minor: number): string[] => ['drbdsetup', 'primary', checkMinor(minor), '--force'];
export const secondaryCmd = (minor: number): string[] => ['drbdsetup', 'secondary', checkMinor(minor)];
export const disconnectCmd = (local: Endpoint, peer: Endpoint): string[] => ['drbdsetup', 'disconnect', ...linkArgs(local, peer)];
export const detachCmd = (minor: number): string[] => ['drbdsetup', 'detach', checkMinor(minor)];
export const downCmd = (resource: string): string[] => ['drbdsetup', 'down', checkResource(resource)];
/** After both data LVs grew; sizeMiB is the new usable size. */
export const resizeCmd = (minor: number, sizeMiB: number): string[] => ['drbdsetup', 'resize', checkMinor(minor), '--size', `${checkCount('size (MiB)', sizeMiB)}m`];
export const pauseSyncCmd = (minor: number): string[] => ['drbdsetup', 'pause-sync', checkMinor(minor)];
export const resumeSyncCmd = (minor: number): string[] => ['drbdsetup', 'resume-sync', checkMinor(minor)];

// ---- reads ----
export const showCmd = (minor: number): string[] => ['drbdsetup', 'show', checkMinor(minor)];
export const showResourceCmd = (resource: string): string[] => ['drbdsetup', 'show', checkResource(resource)];
/** Every resource's running configuration (the probe reads allow-two-primaries from it). */
export const showAllCmd = (): string[] => ['drbdsetup', 'show'];
export const procDrbdCmd = (): string[] => ['cat', '/proc/drbd'];
/**
 * DRBD calls its usermode helper (default /sbin/drbdadm) on events such as
 * before-resync-source; drbdadm without a config file exits 1 and DRBD drops the
 * connection (seen in the VM lab right after the initial sync's primary --force).
 * Ganeti sets it to /bin/true; the helper is written with tee (stdin), read with cat.
 */
export const USERMODE_HELPER_PATH = '/sys/module/drbd/parameters/usermode_helper';
export const usermodeHelperReadCmd = (): string[] => ['cat', USERMODE_HELPER_PATH];
export const usermodeHelperWriteCmd = (): string[] => ['tee', USERMODE_HELPER_PATH];
export const versionCmd = (): string[] => ['drbdadm', '--version'];
/** One snapshot of every object, then exit (8.4's drbdsetup supports events2 --now). */
export const events2NowCmd = (): string[] => ['drbdsetup', 'events2', '--now', 'all'];
