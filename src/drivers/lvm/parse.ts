/**
 * Parsers for LVM JSON reports (`--reportformat json --units m --nosuffix`). LVM prints
 * numbers as strings ("16.00"); sizes are rounded down to whole MiB.
 */
import { ExecError } from '../../util/errors.js';
import { isRecord, parseJson } from '../facts/shared.js';

export interface VgRow { readonly name: string; readonly sizeMiB: number; readonly freeMiB: number; readonly extentMiB: number; readonly tags: readonly string[]; readonly pvCount?: number }
export interface LvRow { readonly vg: string; readonly name: string; readonly sizeMiB: number; readonly tags: readonly string[]; readonly attr: string; readonly extentMiB: number; readonly stripes?: number }
/**
 * One PV. With `lv_name` in the report (PV_FIELDS) LVM prints one row per (PV, LV) plus one
 * for the free space; the parser folds them into one row with the LVs it holds, as
 * Ganeti's GetPVInfo(include_lvs=True) does.
 */
export interface PvRow {
  readonly name: string; readonly vg: string; readonly sizeMiB: number; readonly freeMiB: number;
  /** pv_attr: its first letter is 'a' when the PV is allocatable (absent when not reported). */
  readonly attr?: string;
  /** LVs with extents on this PV, in report order (absent when lv_name was not reported). */
  readonly lvs?: readonly string[];
}

function rows(text: string, kind: 'vg' | 'lv' | 'pv'): Record<string, unknown>[] {
  if (text.trim() === '') return []; // no VGs at all on some LVM versions prints nothing
  const doc = parseJson(text, `${kind}s`);
  const report = isRecord(doc) && Array.isArray(doc.report) ? doc.report : undefined;
  if (report === undefined) throw new ExecError('PARSE_FAILED', `${kind}s output has no "report" array`);
  return report.flatMap((r: unknown) => (isRecord(r) && Array.isArray(r[kind]) ? (r[kind] as unknown[]) : [])).filter(isRecord);
}

const str = (row: Record<string, unknown>, key: string): string => (typeof row[key] === 'string' ? (row[key] as string) : '');
function mib(row: Record<string, unknown>, key: string): number {
  const n = Number(str(row, key));
  if (str(row, key) === '' || !Number.isFinite(n)) throw new ExecError('PARSE_FAILED', `LVM report field ${key} is not a number: ${JSON.stringify(row[key])}`);
  return Math.floor(n);
}
const tags = (s: string): string[] => (s === '' ? [] : s.split(','));

export function parseVgs(text: string): VgRow[] {
  return rows(text, 'vg').map((r) => ({
    name: str(r, 'vg_name'), sizeMiB: mib(r, 'vg_size'), freeMiB: mib(r, 'vg_free'),
    extentMiB: r.vg_extent_size === undefined ? 4 : mib(r, 'vg_extent_size'), tags: tags(str(r, 'vg_tags')),
    ...(r.pv_count !== undefined ? { pvCount: mib(r, 'pv_count') } : {}),
  }));
}

/** The VGs of `pvsWithVgsCmd`'s rows (one per PV and LV, VG columns repeated): each VG once, orphan PVs (no VG) left out. */
export function parseVgsOfPvs(text: string): VgRow[] {
  const seen = new Map<string, VgRow>();
  for (const r of rows(text, 'pv')) {
    const name = str(r, 'vg_name');
    if (name === '' || seen.has(name)) continue;
    seen.set(name, {
      name, sizeMiB: mib(r, 'vg_size'), freeMiB: mib(r, 'vg_free'),
      extentMiB: r.vg_extent_size === undefined ? 4 : mib(r, 'vg_extent_size'), tags: tags(str(r, 'vg_tags')),
      ...(r.pv_count !== undefined ? { pvCount: mib(r, 'pv_count') } : {}),
    });
  }
  return [...seen.values()];
}

export function parseLvs(text: string): LvRow[] {
  return rows(text, 'lv').map((r) => ({
    vg: str(r, 'vg_name'), name: str(r, 'lv_name'), sizeMiB: mib(r, 'lv_size'), tags: tags(str(r, 'lv_tags')),
    attr: str(r, 'lv_attr'), extentMiB: r.vg_extent_size === undefined ? 4 : mib(r, 'vg_extent_size'),
    ...(r.stripes !== undefined ? { stripes: mib(r, 'stripes') } : {}),
  }));
}

/**
 * Whether an LV is active, from its lv_attr (`lvs(8)`: the fifth letter is the state, 'a'
 * active, '-' inactive). Undefined for anything else: 'X' (LVM run with activation
 * disabled cannot tell), suspended, a device without a table, or an attr too short.
 */
export function lvActiveOf(attr: string): boolean | undefined {
  const state = attr.length >= 5 ? attr[4] : undefined;
  return state === 'a' ? true : state === '-' ? false : undefined;
}

export function parsePvs(text: string): PvRow[] {
  const out = new Map<string, { name: string; vg: string; sizeMiB: number; freeMiB: number; attr?: string; lvs?: string[] }>();
  for (const r of rows(text, 'pv')) {
    const name = str(r, 'pv_name');
    let pv = out.get(name);
    if (!pv) {
      pv = { name, vg: str(r, 'vg_name'), sizeMiB: mib(r, 'pv_size'), freeMiB: mib(r, 'pv_free'), ...(r.pv_attr !== undefined ? { attr: str(r, 'pv_attr') } : {}), ...(r.lv_name !== undefined ? { lvs: [] } : {}) };
      out.set(name, pv);
    }
    const lv = str(r, 'lv_name');
    if (lv !== '' && pv.lvs && !pv.lvs.includes(lv)) pv.lvs.push(lv);
  }
  return [...out.values()];
}

/**
 * Ganeti's `lvs --noheadings --separator=; --units=b -o lv_uuid,lv_name,lv_attr,...`
 * text (shared/ganeti/outputs/lvs_lv.txt): only the columns Gantry needs.
 */
export interface GanetiLvLine { readonly name: string; readonly attr: string; readonly sizeBytes: number; readonly vg: string; readonly tags: readonly string[] }
export function parseGanetiLvsLine(line: string): GanetiLvLine {
  const f = line.trim().split(';');
  if (f.length < 13) throw new ExecError('PARSE_FAILED', `lvs line has ${f.length} fields, want at least 13`);
  // uuid;name;attr;major;minor;kmajor;kminor;size;stripes;tags;?;vg_uuid;vg_name;...
  return { name: f[1]!, attr: f[2]!, sizeBytes: Number(f[7]!.replace(/B$/, '')), tags: tags(f[9]!), vg: f[12]! };
}

/** One signature `wipefs --no-act --json DEVICE` reports. */
export interface Signature { readonly type: string; readonly offset: string }

/** `wipefs --json` output: an empty device prints `{"signatures": []}` (or nothing). */
export function parseSignatures(text: string): Signature[] {
  if (text.trim() === '') return [];
  const doc = parseJson(text, 'wipefs');
  if (!isRecord(doc) || !Array.isArray(doc.signatures)) throw new ExecError('PARSE_FAILED', 'wipefs output has no "signatures" array');
  return doc.signatures.filter(isRecord).map((s) => ({ type: str(s, 'type'), offset: str(s, 'offset') }));
}
