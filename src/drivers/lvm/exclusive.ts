/**
 * Exclusive storage (Ganeti's `exclusive_storage` node parameter): every LV of an instance
 * gets physical volumes of its own, and no two instances share a PV. Pure choosers over the
 * parsed `pvs` report (PV_FIELDS, which lists the LVs on each PV), as Ganeti's
 * LogicalVolume.Create picks empty PVs (_GetEmptyPvNames) and stripes the LV over all of
 * them so that each one the disk's spindles count is really used.
 */
import { PrereqError } from '../../util/errors.js';
import type { PvRow } from './parse.js';

/** Allocatable: LVM's pv_attr starts with 'a' (unknown attr counts as allocatable). */
const allocatable = (p: PvRow): boolean => p.attr === undefined || p.attr.startsWith('a');

/** A PV with no LV on it (Ganeti's LvmPvInfo.IsEmpty). The report must list LVs (lv_name). */
export function isEmptyPv(p: PvRow): boolean {
  if (p.lvs === undefined) throw new Error(`lvm: the pvs report for ${p.name} has no lv_name column`);
  return p.lvs.length === 0;
}

export type PvChoice = { readonly pvs: readonly string[] } | { readonly error: PrereqError };

/**
 * `spindles` empty, allocatable PVs of `vg` for a new LV of `sizeMiB` (plus `reserveMiB` that must
 * stay free on them, e.g. the DRBD metadata LV created beside it), striped over all of them:
 * each must hold its share. Most free space first, then by name (as Ganeti sorts, made stable).
 */
export function chooseEmptyPvs(pvs: readonly PvRow[], vg: string, lv: string, spindles: number, sizeMiB: number, reserveMiB = 0): PvChoice {
  if (!Number.isInteger(spindles) || spindles < 1) throw new Error(`lvm: invalid spindle count ${spindles}`);
  const inVg = pvs.filter((p) => p.vg === vg);
  const empty = inVg.filter((p) => allocatable(p) && isEmptyPv(p)).sort((a, b) => b.freeMiB - a.freeMiB || a.name.localeCompare(b.name));
  const what = `cannot create ${vg}/${lv} with exclusive storage`;
  if (empty.length < spindles) {
    const used = inVg.filter((p) => !empty.includes(p)).map((p) => `${p.name} (${p.lvs && p.lvs.length > 0 ? `holds ${p.lvs.join(', ')}` : 'not allocatable'})`);
    return {
      error: new PrereqError('EXCL_NOT_ENOUGH_PVS', `${what}: it needs ${spindles} empty physical volume(s) of its own (its spindles), volume group ${vg} has ${empty.length}${empty.length > 0 ? ` (${empty.map((p) => p.name).join(', ')})` : ''}${used.length > 0 ? `; in use: ${used.join('; ')}` : ''}`, { vg, lv, spindles, empty: empty.length }),
    };
  }
  const chosen = empty.slice(0, spindles);
  // Striped over all of them: the smallest one bounds each stripe (LVM rounds a stripe up to whole extents).
  const perPv = Math.min(...chosen.map((p) => p.freeMiB));
  const need = sizeMiB + reserveMiB;
  if (perPv * spindles < need) {
    return {
      error: new PrereqError('EXCL_PVS_TOO_SMALL', `${what}: ${spindles} spindle(s) hold ${spindles} x ${perPv} MiB, the disk needs ${need} MiB${reserveMiB > 0 ? ` (with ${reserveMiB} MiB of DRBD metadata)` : ''}: give the disk more spindles`, { vg, lv, spindles, perPvMiB: perPv, needMiB: need }),
    };
  }
  return { pvs: chosen.map((p) => p.name) };
}

/** The PVs of `vg` that hold extents of `lv`, in report order. */
export function pvsOfLv(pvs: readonly PvRow[], vg: string, lv: string): string[] {
  return pvs.filter((p) => p.vg === vg && (p.lvs ?? []).includes(lv)).map((p) => p.name);
}

/** Free MiB on the named PVs. */
export function freeOn(pvs: readonly PvRow[], names: readonly string[]): number {
  return pvs.filter((p) => names.includes(p.name)).reduce((a, p) => a + p.freeMiB, 0);
}
