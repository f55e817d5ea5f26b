/**
 * Which DRBD is on a node. `drbdadm --version` prints shell assignments; its
 * DRBD_KERNEL_VERSION_CODE is the loaded module (0x000000 when none is loaded) and
 * DRBDADM_VERSION_CODE the utilities. /proc/drbd's first line names the module too.
 * The family picks the argv builders: 8.4 (cmd84.ts) or 9 (cmd9.ts).
 */
import { PrereqError } from '../../util/errors.js';

export interface DrbdVersion { readonly major: number; readonly minor: number; readonly patch: number }
export type DrbdFamily = '8.4' | '9';

export interface DrbdadmVersion {
  /** The loaded kernel module; undefined when none is loaded (code 0x000000). */
  readonly kernel?: DrbdVersion;
  readonly utils?: DrbdVersion;
  /** DRBDADM_API_VERSION: 1 when drbdadm drives an 8.4 module, 2 for 9. */
  readonly api?: number;
}

export const versionString = (v: DrbdVersion): string => `${v.major}.${v.minor}.${v.patch}`;

/** 0x08040b -> 8.4.11; undefined for 0 (no module). */
export function decodeVersionCode(code: string): DrbdVersion | undefined {
  const n = Number.parseInt(code, 16);
  if (!/^0x[0-9a-fA-F]{1,8}$/.test(code) || !Number.isFinite(n) || n === 0) return undefined;
  return { major: (n >> 16) & 0xff, minor: (n >> 8) & 0xff, patch: n & 0xff };
}

export function parseDrbdadmVersion(text: string): DrbdadmVersion {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) vars.set(m[1]!, m[2]!);
  }
  const kernel = decodeVersionCode(vars.get('DRBD_KERNEL_VERSION_CODE') ?? '');
  const utils = decodeVersionCode(vars.get('DRBDADM_VERSION_CODE') ?? '');
  const api = vars.has('DRBDADM_API_VERSION') ? Number(vars.get('DRBDADM_API_VERSION')) : undefined;
  return { ...(kernel ? { kernel } : {}), ...(utils ? { utils } : {}), ...(api !== undefined && Number.isInteger(api) ? { api } : {}) };
}

export interface ProcDrbdHeader { readonly version: DrbdVersion; readonly api?: number; readonly protoMin?: number; readonly protoMax?: number }

/** "version: 8.4.11 (api:1/proto:86-101)"; also DRBD 9's "version: 9.2.8 (api:2/proto:86-122)". */
export function parseProcDrbdHeader(text: string): ProcDrbdHeader | undefined {
  const m = /^version: (\d+)\.(\d+)\.(\d+)\S*(?: \(api:(\d+)\/proto:(\d+)-(\d+)\))?/m.exec(text);
  if (!m) return undefined;
  const version = { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
  return { version, ...(m[4] !== undefined ? { api: Number(m[4]), protoMin: Number(m[5]), protoMax: Number(m[6]) } : {}) };
}

/** 8.4.x -> '8.4', 9.x -> '9'; anything else is refused (Ganeti's 8.3 syntax is not built). */
export function familyOf(v: DrbdVersion): DrbdFamily {
  if (v.major === 8 && v.minor === 4) return '8.4';
  if (v.major === 9) return '9';
  throw new PrereqError('DRBD_UNSUPPORTED_VERSION', `DRBD ${versionString(v)} is not supported: Gantry drives DRBD 8.4 and 9`, { version: versionString(v) });
}

/**
 * The family of the loaded module, from drbdadm's report and /proc/drbd (either may be
 * missing, not both); refused when no module is loaded or the two disagree.
 */
export function detectFamily(drbdadmText: string | undefined, procDrbdText: string | undefined): { family: DrbdFamily; kernel: DrbdVersion; utils?: DrbdVersion } {
  const adm = drbdadmText !== undefined ? parseDrbdadmVersion(drbdadmText) : undefined;
  const proc = procDrbdText !== undefined ? parseProcDrbdHeader(procDrbdText)?.version : undefined;
  const kernel = adm?.kernel ?? proc;
  if (!kernel) throw new PrereqError('DRBD_NO_MODULE', 'no DRBD kernel module is loaded on this node (DRBD_KERNEL_VERSION_CODE=0x000000 and no /proc/drbd): run modprobe drbd', {});
  if (adm?.kernel && proc && versionString(adm.kernel) !== versionString(proc)) {
    throw new PrereqError('DRBD_VERSION_MISMATCH', `drbdadm reports kernel DRBD ${versionString(adm.kernel)} but /proc/drbd says ${versionString(proc)}`, {});
  }
  return { family: familyOf(kernel), kernel, ...(adm?.utils ? { utils: adm.utils } : {}) };
}
