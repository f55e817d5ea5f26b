/**
 * Idempotent LVM operations: read (vgs/lvs/pvs), decide, then run only what differs.
 * Nothing here shrinks or removes data unless the action says remove.
 */
import type { ExecResult } from '../../transport/transport.js';
import { PrereqError, TerminalError } from '../../util/errors.js';
import { firstLine, NOOP, readFailed, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { lvActivateCmd, lvAddTagsCmd, lvCreateCmd, lvDelTagsCmd, lvExtendCmd, lvRemoveCmd, lvsOfVgCmd, pvsCmd, signaturesCmd, vgCreateCmd, vgExtendCmd, vgsCmd, type LvmOptions } from './commands.js';
import { chooseEmptyPvs, freeOn, pvsOfLv } from './exclusive.js';
import { lvActiveOf, parseLvs, parsePvs, parseSignatures, parseVgs, type LvRow, type PvRow, type VgRow } from './parse.js';

/** What the LVM operations need (the executor passes its actions: only the shape matters). */
export interface LvCreateParams {
  readonly vg: string; readonly name: string; readonly sizeMiB: number; readonly tags: readonly string[]; readonly stripes?: number;
  /** Exclusive storage: on this many empty PVs of its own, striped over all of them. */
  readonly spindles?: number;
  /** Exclusive storage: MiB that must stay free on the chosen PVs (a DRBD metadata LV made beside it). */
  readonly reserveMiB?: number;
  /** Exclusive storage: on the PVs of this LV (same VG). */
  readonly besideLv?: string;
}
export interface LvExtendParams { readonly vg: string; readonly name: string; readonly sizeMiB: number; readonly ownPvs?: true }
export interface LvRemoveParams { readonly vg: string; readonly name: string }
export interface LvActivateParams { readonly vg: string; readonly name: string }
export interface LvUntagParams { readonly vg: string; readonly name: string; readonly tags: readonly string[] }
export interface VgEnsureParams { readonly name: string; readonly pvs: readonly string[] }

interface LvState { readonly vg?: VgRow; readonly lv?: LvRow }

function lvState(vg: string, name: string, reads: readonly ExecResult[]): LvState | Decision {
  const [vgsR, lvsR] = reads;
  if (!vgsR || !lvsR) throw new Error('lvm: expected two read results');
  if (vgsR.code !== 0) return { kind: 'refuse', error: readFailed(vgsR, 'LVM_READ_FAILED') };
  if (lvsR.code !== 0) return { kind: 'refuse', error: readFailed(lvsR, 'LVM_READ_FAILED') };
  const vgRow = parseVgs(vgsR.stdout).find((v) => v.name === vg);
  const lvRow = parseLvs(lvsR.stdout).find((l) => l.vg === vg && l.name === name);
  return { ...(vgRow ? { vg: vgRow } : {}), ...(lvRow ? { lv: lvRow } : {}) };
}
const isDecision = (x: LvState | Decision): x is Decision => 'kind' in x;

function noSpace(vg: VgRow, needMiB: number, what: string): Decision {
  return { kind: 'refuse', error: new PrereqError('VG_NO_SPACE', `${what}: volume group ${vg.name} has ${vg.freeMiB} MiB free, ${needMiB} MiB needed`, { vg: vg.name, freeMiB: vg.freeMiB, needMiB }) };
}

const exclusive = (a: LvCreateParams): boolean => a.spindles !== undefined || a.besideLv !== undefined;

/** The PV report, when the action needs it (exclusive storage), or a refusal. */
function pvRows(r: ExecResult | undefined): PvRow[] | Decision {
  if (!r) throw new Error('lvm: expected a pvs read result');
  if (r.code !== 0) return { kind: 'refuse', error: readFailed(r, 'LVM_READ_FAILED') };
  return parsePvs(r.stdout);
}

/** Where a new exclusive-storage LV goes (its PVs and stripes), or a refusal. */
function exclusivePlacement(a: LvCreateParams, pvs: readonly PvRow[]): { pvs: readonly string[]; stripes: number } | Decision {
  if (a.besideLv !== undefined) {
    const own = pvsOfLv(pvs, a.vg, a.besideLv);
    if (own.length === 0) return { kind: 'refuse', error: new PrereqError('EXCL_BESIDE_MISSING', `cannot create ${a.vg}/${a.name} beside ${a.vg}/${a.besideLv} (exclusive storage): that LV holds no physical volume`, { vg: a.vg, lv: a.name, beside: a.besideLv }) };
    const free = freeOn(pvs, own);
    if (free < a.sizeMiB) return { kind: 'refuse', error: new PrereqError('VG_NO_SPACE', `create ${a.vg}/${a.name}: the physical volumes of ${a.vg}/${a.besideLv} (${own.join(', ')}) have ${free} MiB free, ${a.sizeMiB} MiB needed`, { vg: a.vg, freeMiB: free, needMiB: a.sizeMiB }) };
    return { pvs: own, stripes: 1 };
  }
  const c = chooseEmptyPvs(pvs, a.vg, a.name, a.spindles!, a.sizeMiB, a.reserveMiB ?? 0);
  if ('error' in c) return { kind: 'refuse', error: c.error };
  return { pvs: c.pvs, stripes: c.pvs.length };
}

/** What --dry-run shows for an exclusive-storage LV: the PVs are chosen on the node when it runs. */
export function describeExclusivePvs(a: LvCreateParams): string {
  return a.besideLv !== undefined ? `<the PVs of ${a.vg}/${a.besideLv}>` : `<${a.spindles} empty PV(s) of ${a.vg}, chosen when run>`;
}

export function lvCreateOp(opts: LvmOptions): EnsureOp<LvCreateParams> {
  return {
    read: (a) => [vgsCmd(opts), lvsOfVgCmd(a.vg, opts), ...(exclusive(a) ? [pvsCmd(opts)] : [])],
    describe: (a) => [exclusive(a)
      ? [...lvCreateCmd(a.vg, a.name, a.sizeMiB, a.tags, opts, a.besideLv !== undefined ? 1 : a.spindles), describeExclusivePvs(a)]
      : lvCreateCmd(a.vg, a.name, a.sizeMiB, a.tags, opts, a.stripes)],
    decide(a, reads) {
      const s = lvState(a.vg, a.name, reads);
      if (isDecision(s)) return s;
      if (!s.vg) return { kind: 'refuse', error: new PrereqError('VG_MISSING', `cannot create ${a.vg}/${a.name}: volume group ${a.vg} does not exist`, { vg: a.vg }) };
      const stripes = a.stripes ?? 1;
      if (!s.lv && exclusive(a)) {
        const pvs = pvRows(reads[2]);
        if (!Array.isArray(pvs)) return pvs;
        const at = exclusivePlacement(a, pvs);
        if ('kind' in at) return at;
        return runAll([lvCreateCmd(a.vg, a.name, a.sizeMiB, a.tags, opts, at.stripes, at.pvs)]);
      }
      // Ganeti quietly uses fewer stripes than asked when the VG has fewer PVs; Gantry refuses instead.
      if (!s.lv && stripes > 1 && s.vg.pvCount !== undefined && s.vg.pvCount < stripes) {
        return { kind: 'refuse', error: new PrereqError('VG_TOO_FEW_PVS', `cannot create ${a.vg}/${a.name} with ${stripes} stripes: volume group ${a.vg} has ${s.vg.pvCount} physical volume(s)`, { vg: a.vg, stripes, pvs: s.vg.pvCount }) };
      }
      if (!s.lv) return a.sizeMiB > s.vg.freeMiB ? noSpace(s.vg, a.sizeMiB, `create ${a.vg}/${a.name}`) : runAll([lvCreateCmd(a.vg, a.name, a.sizeMiB, a.tags, opts, stripes)]);
      // Already there (a retry after a lost reply, or a rerun): converge size and tags.
      const cmds: string[][] = [];
      if (s.lv.sizeMiB < a.sizeMiB) {
        if (exclusive(a)) {
          const pvs = pvRows(reads[2]);
          if (!Array.isArray(pvs)) return pvs;
          const grow = ownPvsGrow(a, s.lv.sizeMiB, pvs);
          if ('kind' in grow) return grow;
          cmds.push(lvExtendCmd(a.vg, a.name, a.sizeMiB, opts, grow));
        } else {
          if (a.sizeMiB - s.lv.sizeMiB > s.vg.freeMiB) return noSpace(s.vg, a.sizeMiB - s.lv.sizeMiB, `grow ${a.vg}/${a.name}`);
          cmds.push(lvExtendCmd(a.vg, a.name, a.sizeMiB, opts));
        }
      }
      const missingTags = a.tags.filter((t) => !s.lv!.tags.includes(t));
      if (missingTags.length > 0) cmds.push(lvAddTagsCmd(a.vg, a.name, missingTags, opts));
      return runAll(cmds);
    },
  };
}

/** Exclusive storage: an LV grows only on the PVs it holds (Ganeti's Grow with exclusive storage). */
function ownPvsGrow(a: { readonly vg: string; readonly name: string; readonly sizeMiB: number }, haveMiB: number, pvs: readonly PvRow[]): readonly string[] | Decision {
  const own = pvsOfLv(pvs, a.vg, a.name);
  if (own.length === 0) return { kind: 'refuse', error: new PrereqError('LV_MISSING', `cannot grow ${a.vg}/${a.name}: it holds no physical volume`, { vg: a.vg, lv: a.name }) };
  const free = freeOn(pvs, own);
  if (a.sizeMiB - haveMiB > free) return { kind: 'refuse', error: new PrereqError('VG_NO_SPACE', `grow ${a.vg}/${a.name} (exclusive storage): its physical volumes (${own.join(', ')}) have ${free} MiB free, ${a.sizeMiB - haveMiB} MiB needed`, { vg: a.vg, freeMiB: free, needMiB: a.sizeMiB - haveMiB }) };
  return own;
}

export function lvExtendOp(opts: LvmOptions): EnsureOp<LvExtendParams> {
  return {
    read: (a) => [vgsCmd(opts), lvsOfVgCmd(a.vg, opts), ...(a.ownPvs ? [pvsCmd(opts)] : [])],
    describe: (a) => [a.ownPvs ? [...lvExtendCmd(a.vg, a.name, a.sizeMiB, opts), `<the PVs ${a.vg}/${a.name} holds>`] : lvExtendCmd(a.vg, a.name, a.sizeMiB, opts)],
    decide(a, reads) {
      const s = lvState(a.vg, a.name, reads);
      if (isDecision(s)) return s;
      if (!s.vg || !s.lv) return { kind: 'refuse', error: new PrereqError('LV_MISSING', `cannot extend ${a.vg}/${a.name}: it does not exist`, { vg: a.vg, lv: a.name }) };
      if (s.lv.sizeMiB >= a.sizeMiB) {
        // LVM rounds up to whole extents, so "a little bigger" is the size we asked for.
        if (s.lv.sizeMiB - a.sizeMiB < Math.max(1, s.lv.extentMiB)) return NOOP;
        return { kind: 'refuse', error: new TerminalError('LV_SHRINK_REFUSED', `refusing to shrink ${a.vg}/${a.name} from ${s.lv.sizeMiB} MiB to ${a.sizeMiB} MiB: shrinking loses data`, { vg: a.vg, lv: a.name, sizeMiB: s.lv.sizeMiB, wantMiB: a.sizeMiB }) };
      }
      if (a.ownPvs) {
        const pvs = pvRows(reads[2]);
        if (!Array.isArray(pvs)) return pvs;
        const grow = ownPvsGrow(a, s.lv.sizeMiB, pvs);
        if ('kind' in grow) return grow;
        return runAll([lvExtendCmd(a.vg, a.name, a.sizeMiB, opts, grow)]);
      }
      if (a.sizeMiB - s.lv.sizeMiB > s.vg.freeMiB) return noSpace(s.vg, a.sizeMiB - s.lv.sizeMiB, `extend ${a.vg}/${a.name}`);
      return runAll([lvExtendCmd(a.vg, a.name, a.sizeMiB, opts)]);
    },
  };
}

export function lvRemoveOp(opts: LvmOptions): EnsureOp<LvRemoveParams> {
  return {
    read: (a) => [vgsCmd(opts), lvsOfVgCmd(a.vg, opts)],
    describe: (a) => [lvRemoveCmd(a.vg, a.name, opts)],
    decide(a, reads) {
      const s = lvState(a.vg, a.name, reads);
      if (isDecision(s)) return s;
      return s.lv ? runAll([lvRemoveCmd(a.vg, a.name, opts)]) : NOOP;
    },
  };
}

/**
 * Activate an LV that reads inactive (lv_attr '-'); an active one is left alone. Refused:
 * a missing LV, LVM run with activation disabled (no device-mapper: the namespace lab), and
 * a state that is neither active nor inactive (suspended, no table: a human looks first).
 */
export function lvActivateOp(opts: LvmOptions): EnsureOp<LvActivateParams> {
  return {
    read: (a) => [vgsCmd(opts), lvsOfVgCmd(a.vg, opts)],
    describe: (a) => [lvActivateCmd(a.vg, a.name)],
    decide(a, reads) {
      if (opts.activation === false) return { kind: 'refuse', error: new PrereqError('LV_ACTIVATION_DISABLED', `cannot activate ${a.vg}/${a.name}: LVM runs with activation disabled on this node (no device-mapper)`, { vg: a.vg, lv: a.name }) };
      const s = lvState(a.vg, a.name, reads);
      if (isDecision(s)) return s;
      if (!s.lv) return { kind: 'refuse', error: new PrereqError('LV_MISSING', `cannot activate ${a.vg}/${a.name}: it does not exist`, { vg: a.vg, lv: a.name }) };
      const active = lvActiveOf(s.lv.attr);
      if (active === true) return NOOP;
      if (active === undefined) return { kind: 'refuse', error: new PrereqError('LV_STATE_UNKNOWN', `cannot activate ${a.vg}/${a.name}: lv_attr ${JSON.stringify(s.lv.attr)} is neither active nor inactive`, { vg: a.vg, lv: a.name, attr: s.lv.attr }) };
      return runAll([lvActivateCmd(a.vg, a.name)]);
    },
  };
}

/** Drop the named tags the LV still carries (only those: a rerun finds none and does nothing). A missing LV is refused. */
export function lvUntagOp(opts: LvmOptions): EnsureOp<LvUntagParams> {
  return {
    read: (a) => [vgsCmd(opts), lvsOfVgCmd(a.vg, opts)],
    describe: (a) => [lvDelTagsCmd(a.vg, a.name, a.tags, opts)],
    decide(a, reads) {
      const s = lvState(a.vg, a.name, reads);
      if (isDecision(s)) return s;
      if (!s.lv) return { kind: 'refuse', error: new PrereqError('LV_MISSING', `cannot untag ${a.vg}/${a.name}: it does not exist`, { vg: a.vg, lv: a.name }) };
      const present = a.tags.filter((t) => s.lv!.tags.includes(t));
      return present.length > 0 ? runAll([lvDelTagsCmd(a.vg, a.name, present, opts)]) : NOOP;
    },
  };
}

/**
 * Create the VG or add the declared PVs it lacks; PVs in the VG but not declared are left
 * alone (removing one could move data). A device that is not yet a PV must carry no
 * signature at all (filesystem, partition table, RAID...): it is refused, named, and
 * nothing is written to it. Devices are read with `wipefs --no-act`, never wiped.
 */
export function vgEnsureOp(opts: LvmOptions): EnsureOp<VgEnsureParams> {
  return {
    read: (a) => [vgsCmd(opts), pvsCmd(opts), ...a.pvs.map(signaturesCmd)],
    describe: (a) => [vgCreateCmd(a.name, a.pvs, opts)],
    decide(a, reads) {
      const [vgsR, pvsR, ...sigR] = reads;
      if (!vgsR || !pvsR) throw new Error('lvm: expected two read results');
      if (vgsR.code !== 0) return { kind: 'refuse', error: readFailed(vgsR, 'LVM_READ_FAILED') };
      if (pvsR.code !== 0) return { kind: 'refuse', error: readFailed(pvsR, 'LVM_READ_FAILED') };
      const exists = parseVgs(vgsR.stdout).some((v) => v.name === a.name);
      const pvs = parsePvs(pvsR.stdout);
      // PV paths are compared as written: declare the same path LVM reports.
      const taken = pvs.filter((p) => a.pvs.includes(p.name) && p.vg !== '' && p.vg !== a.name);
      if (taken.length > 0) {
        return { kind: 'refuse', error: new PrereqError('PV_IN_OTHER_VG', `cannot use ${taken.map((p) => `${p.name} (in ${p.vg})`).join(', ')} for volume group ${a.name}`, { vg: a.name }) };
      }
      const missing = a.pvs.filter((p) => !pvs.some((r) => r.name === p && r.vg === a.name));
      if (missing.length === 0) return NOOP;
      const refusal = unusableDevices(a, missing, pvs, sigR);
      if (refusal) return refusal;
      return runAll([exists ? vgExtendCmd(a.name, missing, opts) : vgCreateCmd(a.name, a.pvs, opts)]);
    },
  };
}

/** A refusal naming every device that is missing or carries a signature, or undefined. */
function unusableDevices(a: VgEnsureParams, devices: readonly string[], pvs: readonly PvRow[], sigR: readonly ExecResult[]): Decision | undefined {
  const problems: string[] = [];
  for (const dev of devices) {
    if (pvs.some((p) => p.name === dev)) continue; // already a PV (of no VG): LVM's own label
    const r = sigR[a.pvs.indexOf(dev)];
    if (!r) throw new Error(`lvm: no signature read for ${dev}`);
    if (r.code !== 0) {
      problems.push(`${dev} cannot be probed (${firstLine(r.stderr)})`);
      continue;
    }
    const sigs = parseSignatures(r.stdout);
    if (sigs.length > 0) problems.push(`${dev} carries ${sigs.map((s) => `a ${s.type} signature at offset ${s.offset}`).join(', ')}`);
  }
  if (problems.length === 0) return undefined;
  return { kind: 'refuse', error: new PrereqError('PV_HAS_SIGNATURE', `volume group ${a.name}: refusing to use ${problems.join('; ')}. Gantry never wipes a device: check it holds nothing you need, then wipe it by hand (wipefs -a)`, { vg: a.name, devices: [...devices] }) };
}
