/**
 * Where Gantry puts an instance's objects on a node. Names are derived, never stored
 * only in Gantry's state directory, so a lost state directory is rebuilt by observation:
 * an LV tagged with its instance, a file under the storage dir named after it.
 */
import path from 'node:path';

/** LVM tag marking every LV Gantry created (so orphans can be told from others' LVs). */
export const MANAGED_LV_TAG = 'gantry';

/** LVM tag naming the owning instance (LVM tags allow [A-Za-z0-9_+.-/=!:&#]). */
export function instanceLvTag(instance: string): string {
  return `gantry-inst=${instance}`;
}

export function instanceOfLvTags(tags: readonly string[]): string | undefined {
  const t = tags.find((x) => x.startsWith('gantry-inst='));
  return t?.slice('gantry-inst='.length);
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

export function instanceOfDiskFile(filePath: string): { instance: string; index: number } | undefined {
  const m = FILE_RE.exec(path.posix.basename(filePath));
  return m ? { instance: m[1]!, index: Number(m[2]) } : undefined;
}

/** DRBD metadata size Ganeti uses per disk (128 MiB covers disks up to 4 TiB). */
export const DRBD_META_MIB = 128;
