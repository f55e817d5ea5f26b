/**
 * Where Gantry puts an instance's objects on a node. Names are derived, never stored
 * only in Gantry's state directory, so a lost state directory is rebuilt by observation:
 * an LV tagged with its instance, a file under the storage dir named after it.
 */
import path from 'node:path';

/** LVM tag marking every LV Gantry created (so orphans can be told from others' LVs). */
export const MANAGED_LV_TAG = 'gantry';

const INSTANCE_TAG = 'gantry-inst=';

/**
 * LVM tag on an LV a harep reinstall created EMPTY and whose OS install has not completed
 * yet: a later pass recognises the half-made reinstall by it and resumes there (plan/reinstall).
 * Dropped once the install succeeded.
 */
export const REINSTALL_LV_TAG = 'gantry-reinstall';
/**
 * A file disk's reinstall mark (files carry no tags): an empty file beside the image, made
 * before it by the same file.create and removed after the OS install succeeded. Its name
 * is not a disk image name (instanceOfDiskFile), so nothing reads it as a disk.
 */
export function reinstallMarkPath(imagePath: string): string {
  return `${imagePath}.reinstall`;
}

/** LVM tag naming the owning instance (LVM tags allow [A-Za-z0-9_+.-/=!:&#]). */
export function instanceLvTag(instance: string): string {
  return `${INSTANCE_TAG}${instance}`;
}

export function instanceOfLvTags(tags: readonly string[]): string | undefined {
  // A plain loop, no closure: this runs for every LV of every node, several times a plan.
  for (let i = 0; i < tags.length; i++) if (tags[i]!.startsWith(INSTANCE_TAG)) return tags[i]!.slice(INSTANCE_TAG.length);
  return undefined;
}

export function diskLvName(instance: string, index: number): string {
  return `${instance}.disk${index}`;
}

/** DRBD metadata volume, beside the data LV (Ganeti: <uuid>.disk0_meta). */
export function diskMetaLvName(instance: string, index: number): string {
  return `${instance}.disk${index}_meta`;
}

export function diskFilePath(dir: string, instance: string, index: number): string {
  return path.posix.join(dir, `${instance}.disk${index}.img`);
}

const FILE_RE = /^(.+)\.disk(\d+)\.img$/;

/** The instance and disk index a file name was made for (the whole suffix is fixed, so "web.disk1.disk0.img" is web.disk1's, never web's). */
export function instanceOfDiskFile(filePath: string): { instance: string; index: number } | undefined {
  const m = FILE_RE.exec(path.posix.basename(filePath));
  return m ? { instance: m[1]!, index: Number(m[2]) } : undefined;
}

/** The instance and disk index an LV name was made for (diskLvName / diskMetaLvName), parsed, never prefix-matched. */
export function instanceOfDiskLv(name: string): { instance: string; index: number; meta: boolean } | undefined {
  // /^(.+)\.disk(\d+)(_meta)?$/ by hand (it runs for every DRBD LV in each plan): the digits
  // are the name's last run of digits (before "_meta"), so ".disk" can only sit right before them.
  const meta = name.endsWith('_meta');
  const end = meta ? name.length - 5 : name.length;
  let digits = end;
  while (digits > 0 && name.charCodeAt(digits - 1) >= 48 && name.charCodeAt(digits - 1) <= 57) digits--;
  if (digits === end || digits < 6 || !name.startsWith('.disk', digits - 5)) return undefined;
  const instance = name.slice(0, digits - 5);
  if (LINE_BREAK.test(instance)) return undefined; // "." in that pattern matches no line terminator
  return { instance, index: Number(name.slice(digits, end)), meta };
}
const LINE_BREAK = /[\n\r\u2028\u2029]/;

/** An LV is `instance`'s disk only with both of Gantry's tags for it AND a name made for it. */
export function isDiskLvOf(lv: { readonly name: string; readonly tags: readonly string[] }, instance: string): boolean {
  return lv.tags.includes(MANAGED_LV_TAG) && lv.tags.includes(instanceLvTag(instance)) && instanceOfDiskLv(lv.name)?.instance === instance;
}

/** A file is `instance`'s disk only directly inside one of Gantry's storage dirs, under a name made for it. */
export function isDiskFileOf(filePath: string, instance: string, storageDirs: readonly string[]): boolean {
  return storageDirs.includes(path.posix.dirname(filePath)) && instanceOfDiskFile(filePath)?.instance === instance;
}

/** DRBD metadata size Ganeti uses per disk (128 MiB covers disks up to 4 TiB). */
export const DRBD_META_MIB = 128;

/**
 * DRBD allocations are recorded on the node, in the tags of the disk's data and meta LVs
 * (written by the same lvcreate that makes the LV, so they exist exactly when the LV
 * does and survive a lost state directory or a controller crash): this node's minor,
 * and the resource's TCP port (the same on both nodes).
 */
export const DRBD_MINOR_TAG = 'gantry-drbd-minor=';
export const DRBD_PORT_TAG = 'gantry-drbd-port=';

export function drbdTags(minor: number, port: number): string[] {
  return [`${DRBD_MINOR_TAG}${minor}`, `${DRBD_PORT_TAG}${port}`];
}

/** The minor and port an LV's tags record, each undefined when absent or unreadable. */
export function drbdOfLvTags(tags: readonly string[]): { readonly minor: number | undefined; readonly port: number | undefined } {
  // A plain loop and one fixed-shape result (no closure, no spread): this runs for every
  // LV of every node in each plan, and a spread-built result cost 2 us a call.
  let minor: number | undefined;
  let port: number | undefined;
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i]!;
    if (minor === undefined && t.startsWith(DRBD_MINOR_TAG)) minor = tagNumber(t, DRBD_MINOR_TAG.length);
    else if (port === undefined && t.startsWith(DRBD_PORT_TAG)) port = tagNumber(t, DRBD_PORT_TAG.length);
  }
  return { minor, port };
}

/** What one LV's tags say: instanceOfLvTags, the MANAGED_LV_TAG test and drbdOfLvTags in one pass over them. */
export interface LvTagFacts {
  readonly inst: string | undefined;
  readonly managed: boolean;
  readonly minor: number | undefined;
  readonly port: number | undefined;
}

/**
 * instanceOfLvTags, `tags.includes(MANAGED_LV_TAG)` and drbdOfLvTags at once (the same
 * first-match rules), for the per-plan read of every LV (locate.lvFacts): one loop, and a
 * tag that does not start with "gantry" is looked at once.
 */
export function lvTagFacts(tags: readonly string[]): LvTagFacts {
  let inst: string | undefined;
  let managed = false;
  let minor: number | undefined;
  let port: number | undefined;
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i]!;
    if (!t.startsWith(MANAGED_LV_TAG)) continue; // every tag of Gantry's starts with its mark
    if (t.length === MANAGED_LV_TAG.length) managed = true;
    else if (inst === undefined && t.startsWith(INSTANCE_TAG)) inst = t.slice(INSTANCE_TAG.length);
    else if (minor === undefined && t.startsWith(DRBD_MINOR_TAG)) minor = tagNumber(t, DRBD_MINOR_TAG.length);
    else if (port === undefined && t.startsWith(DRBD_PORT_TAG)) port = tagNumber(t, DRBD_PORT_TAG.length);
  }
  return { inst, managed, minor, port };
}

/** The non-negative integer after `at` in a tag; undefined when it is none. */
function tagNumber(tag: string, at: number): number | undefined {
  if (tag.length <= at) return undefined;
  const v = Number(tag.slice(at));
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** Ganeti names one DRBD resource per minor; the minor is unique on its node. */
export function drbdResourceName(minor: number): string {
  return `resource${minor}`;
}

export function drbdDevicePath(minor: number): string {
  return `/dev/drbd${minor}`;
}
