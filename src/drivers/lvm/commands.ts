/**
 * Pure argv builders for LVM. Sizes are MiB. In the lab the kernel has no
 * device-mapper, so `activation: false` adds `--config 'global { activation = 0 }'`
 * (metadata-only operation) to every command.
 */
import { PrereqError } from '../../util/errors.js';
import { checkName, checkPath, checkSizeMiB } from '../facts/shared.js';

export interface LvmOptions {
  /** False runs LVM with activation disabled (no device-mapper on the node). */
  readonly activation?: boolean;
}

/** LVM names: the generic set minus ':' (LVM rejects it); tags may also hold '=', '/', '@'. */
export function checkLvmName(kind: string, value: string): string {
  checkName(kind, value);
  if (value.includes(':')) throw new PrereqError('INVALID_NAME', `invalid ${kind} name ${JSON.stringify(value)}: LVM names cannot hold ':'`);
  return value;
}

export function checkTag(tag: string): string {
  if (!/^[A-Za-z0-9_+.\-=/@:]+$/.test(tag) || tag.startsWith('-') || tag.length > 1024) {
    throw new PrereqError('INVALID_NAME', `invalid LVM tag ${JSON.stringify(tag)}: use [A-Za-z0-9_+.=/@:-], not starting with '-'`);
  }
  return tag;
}

function lvm(sub: string, opts: LvmOptions, args: string[]): string[] {
  const config = opts.activation === false ? ['--config', 'global { activation = 0 }'] : [];
  return [sub, ...config, ...args];
}

const REPORT = ['--reportformat', 'json', '--units', 'm', '--nosuffix'];
export const VG_FIELDS = 'vg_name,vg_size,vg_free,vg_extent_size,vg_tags,pv_count';
export const LV_FIELDS = 'vg_name,lv_name,lv_size,lv_tags,lv_attr,vg_extent_size,stripes';
/** lv_name makes LVM print one row per (PV, LV): the parser folds them (exclusive storage needs to know which PVs are empty). */
export const PV_FIELDS = 'pv_name,vg_name,pv_size,pv_free,pv_attr,lv_name';

/** Every VG / LV / PV on the node (no name filter, so a missing VG is not an error). */
export const vgsCmd = (opts: LvmOptions = {}): string[] => lvm('vgs', opts, [...REPORT, '-o', VG_FIELDS]);
export const lvsCmd = (opts: LvmOptions = {}): string[] => lvm('lvs', opts, [...REPORT, '-o', LV_FIELDS]);
export const pvsCmd = (opts: LvmOptions = {}): string[] => lvm('pvs', opts, [...REPORT, '-o', PV_FIELDS]);
/**
 * The node probe's one read of PVs and VGs: pvs with the VG columns too (every VG has a PV,
 * so its rows name every VG; parseVgsOfPvs). One LVM process instead of vgs + pvs (each
 * several seconds on a TCG VM node).
 */
export const PV_VG_FIELDS = `${PV_FIELDS},vg_size,vg_free,vg_extent_size,vg_tags,pv_count`;
export const pvsWithVgsCmd = (opts: LvmOptions = {}): string[] => lvm('pvs', opts, [...REPORT, '-o', PV_VG_FIELDS]);

/** LVs of one VG only (reading before an LV operation). */
export function lvsOfVgCmd(vg: string, opts: LvmOptions = {}): string[] {
  return lvm('lvs', opts, [...REPORT, '-o', LV_FIELDS, '-S', `vg_name=${checkLvmName('vg', vg)}`]);
}

/**
 * lvcreate; `stripes` > 1 stripes the LV over that many PVs (-i, LVM's default stripe size), as Ganeti's plain.stripes.
 * `pvs` restricts the allocation to those physical volumes (exclusive storage: the LV's own, empty PVs).
 */
export function lvCreateCmd(vg: string, name: string, sizeMiB: number, tags: readonly string[], opts: LvmOptions = {}, stripes = 1, pvs: readonly string[] = []): string[] {
  const tagArgs = tags.flatMap((t) => ['--addtag', checkTag(t)]);
  if (!Number.isInteger(stripes) || stripes < 1 || stripes > 64) throw new PrereqError('INVALID_VALUE', `invalid stripe count ${stripes}: 1..64`);
  const stripeArgs = stripes > 1 ? ['-i', String(stripes)] : [];
  // -y answers prompts; signatures are not wiped (the brief's choice); LVM still zeroes the start when it can.
  return lvm('lvcreate', opts, ['-L', `${checkSizeMiB(sizeMiB)}m`, ...stripeArgs, '-n', checkLvmName('lv', name), ...tagArgs, '-y', '--wipesignatures', 'n', checkLvmName('vg', vg), ...pvs.map(checkPath)]);
}

/** lvextend; `pvs` keeps the new extents on those PVs (exclusive storage: the LV's own). */
export function lvExtendCmd(vg: string, name: string, sizeMiB: number, opts: LvmOptions = {}, pvs: readonly string[] = []): string[] {
  return lvm('lvextend', opts, ['-L', `${checkSizeMiB(sizeMiB)}m`, `${checkLvmName('vg', vg)}/${checkLvmName('lv', name)}`, ...pvs.map(checkPath)]);
}

export function lvAddTagsCmd(vg: string, name: string, tags: readonly string[], opts: LvmOptions = {}): string[] {
  return lvm('lvchange', opts, [...tags.flatMap((t) => ['--addtag', checkTag(t)]), `${checkLvmName('vg', vg)}/${checkLvmName('lv', name)}`]);
}

export function lvDelTagsCmd(vg: string, name: string, tags: readonly string[], opts: LvmOptions = {}): string[] {
  return lvm('lvchange', opts, [...tags.flatMap((t) => ['--deltag', checkTag(t)]), `${checkLvmName('vg', vg)}/${checkLvmName('lv', name)}`]);
}

/** Replace tag `from` by tag `to` in one lvchange (one metadata update: the LV never carries neither). */
export function lvSwapTagCmd(vg: string, name: string, from: string, to: string, opts: LvmOptions = {}): string[] {
  return lvm('lvchange', opts, ['--deltag', checkTag(from), '--addtag', checkTag(to), `${checkLvmName('vg', vg)}/${checkLvmName('lv', name)}`]);
}

/** Activate one LV (never with activation disabled: that would be a no-op claiming success). */
export function lvActivateCmd(vg: string, name: string): string[] {
  return ['lvchange', '-ay', `${checkLvmName('vg', vg)}/${checkLvmName('lv', name)}`];
}

export function lvRenameCmd(vg: string, from: string, to: string, opts: LvmOptions = {}): string[] {
  return lvm('lvrename', opts, [checkLvmName('vg', vg), checkLvmName('lv', from), checkLvmName('lv', to)]);
}

export function lvRemoveCmd(vg: string, name: string, opts: LvmOptions = {}): string[] {
  return lvm('lvremove', opts, ['-f', '-y', `${checkLvmName('vg', vg)}/${checkLvmName('lv', name)}`]);
}

/**
 * Never `-y`/`-ff`/`--force`: those answer LVM's "signature detected, wipe it?" with yes.
 * `-qq` answers every prompt with no instead of waiting on stdin, so a device that still
 * carries a signature makes the command fail (the driver refuses such devices first).
 */
export function vgCreateCmd(vg: string, pvs: readonly string[], opts: LvmOptions = {}): string[] {
  if (pvs.length === 0) throw new PrereqError('INVALID_NAME', `vgcreate ${vg}: no physical volumes given`);
  return lvm('vgcreate', opts, ['-qq', checkLvmName('vg', vg), ...pvs.map(checkPath)]);
}

export function vgExtendCmd(vg: string, pvs: readonly string[], opts: LvmOptions = {}): string[] {
  return lvm('vgextend', opts, ['-qq', checkLvmName('vg', vg), ...pvs.map(checkPath)]);
}

/** List a device's signatures (filesystem, partition table, RAID, LVM...) without touching it. */
export const signaturesCmd = (device: string): string[] => ['wipefs', '--no-act', '--json', checkPath(device)];
