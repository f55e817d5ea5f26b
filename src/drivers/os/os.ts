/**
 * Ganeti's OS interface (man ganeti-os-interface): an OS definition is a directory with
 * create/import/export/rename/verify scripts and ganeti_api_version, variants.list,
 * parameters.list; the scripts get everything through environment variables. Pure
 * parsers and the environment builder, plus a runner that executes one script on a node
 * through the Transport with its output appended to a log file.
 */
import type { Transport } from '../../transport/transport.js';
import { ExecError, PrereqError } from '../../util/errors.js';

export const OS_SCRIPTS = ['create', 'import', 'export', 'rename', 'verify'] as const;
export type OsScript = (typeof OS_SCRIPTS)[number];
export const OS_API_VERSION = 20;

const OS_NAME = /^[A-Za-z0-9_.-]+$/;
const PARAM_NAME = /^[a-z0-9_]+$/;

export interface OsRef {
  name: string;
  variant?: string;
}

/** "debootstrap+bookworm" -> {name, variant}; Ganeti's name+variant syntax. */
export function parseOsName(full: string): OsRef {
  const plus = full.indexOf('+');
  const name = plus < 0 ? full : full.slice(0, plus);
  const variant = plus < 0 ? undefined : full.slice(plus + 1);
  if (!OS_NAME.test(name)) throw new PrereqError('OS_BAD_NAME', `OS name ${JSON.stringify(name)} is invalid`);
  if (variant !== undefined && !OS_NAME.test(variant)) throw new PrereqError('OS_BAD_VARIANT', `OS variant ${JSON.stringify(variant)} is invalid`);
  return { name, ...(variant !== undefined ? { variant } : {}) };
}

export function formatOsName(os: OsRef): string {
  return os.variant ? `${os.name}+${os.variant}` : os.name;
}

/** OS parameter names become OSP_<NAME> variables: Ganeti allows lower case, digits, '_'. */
export function validateOsParams(params: Readonly<Record<string, string>>): void {
  for (const name of Object.keys(params)) {
    if (!PARAM_NAME.test(name)) throw new PrereqError('OS_BAD_PARAM', `OS parameter name ${JSON.stringify(name)} must match ^[a-z0-9_]+$`, { param: name });
  }
}

// ---- definition files ----

export function parseApiVersions(text: string): number[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l)).map(Number);
}

export function parseVariants(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

export interface OsParameterDoc {
  name: string;
  description: string;
}

export function parseParametersList(text: string): OsParameterDoc[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { name: m[1]!, description: m[2] ?? '' };
    });
}

export interface OsDefinition {
  dir: string;
  apiVersions: number[];
  variants: string[];
  parameters: OsParameterDoc[];
}

/**
 * What a request must satisfy against a definition: a supported API version, a listed
 * variant (the first one when none is given, as Ganeti does), declared parameters.
 * Returns the variant to use.
 */
export function checkOsRequest(def: OsDefinition, os: OsRef, params: Readonly<Record<string, string>>): string | undefined {
  validateOsParams(params);
  if (!def.apiVersions.includes(OS_API_VERSION)) {
    throw new PrereqError('OS_API_MISMATCH', `OS ${os.name} supports API ${def.apiVersions.join(', ') || 'none'}, Gantry speaks ${OS_API_VERSION}`);
  }
  const variant = os.variant ?? def.variants[0];
  if (def.variants.length && variant && !def.variants.includes(variant)) {
    throw new PrereqError('OS_UNKNOWN_VARIANT', `OS ${os.name} has no variant ${variant} (has: ${def.variants.join(', ')})`);
  }
  const known = new Set(def.parameters.map((p) => p.name));
  const unknown = Object.keys(params).filter((p) => !known.has(p));
  if (unknown.length) throw new PrereqError('OS_UNKNOWN_PARAM', `OS ${os.name} does not declare parameter(s) ${unknown.join(', ')}`);
  return variant;
}

/** Read the three text files of an OS definition on a node (one batch). */
export async function readOsDefinition(transport: Transport, dir: string): Promise<OsDefinition> {
  const [api, variants, params] = await transport.execBatch([
    ['cat', `${dir}/ganeti_api_version`],
    ['cat', `${dir}/variants.list`],
    ['cat', `${dir}/parameters.list`],
  ]);
  if (!api || api.code !== 0) throw new PrereqError('OS_NOT_FOUND', `no OS definition at ${dir} on ${transport.node}: ${api?.stderr.trim() ?? ''}`);
  return {
    dir,
    apiVersions: parseApiVersions(api.stdout),
    variants: variants && variants.code === 0 ? parseVariants(variants.stdout) : [],
    parameters: params && params.code === 0 ? parseParametersList(params.stdout) : [],
  };
}

// ---- environment ----

export interface OsDisk {
  path: string;
  /** Ganeti: "rw" | "ro". */
  access?: 'rw' | 'ro';
  /** e.g. "paravirtual" / "ide". */
  frontendType?: string;
  /** e.g. "block" / "file:raw". */
  backendType?: string;
  uuid?: string;
  name?: string;
}

export interface OsNic {
  mac: string;
  ip?: string;
  /** IPv6 address (NIC_%d_IP6). Ganeti's OS API has no such variable (its scripts derive it from MAC and NETWORK_SUBNET6); Gantry passes it too. */
  ip6?: string;
  mode?: 'bridged' | 'routed' | 'openvswitch';
  /** Bridge (bridged/openvswitch) or routing table (routed). */
  link?: string;
  vlan?: number;
  frontendType?: string;
  /** NIC name (Ganeti: NIC_N_NAME). */
  name?: string;
  network?: { name: string; subnet?: string; gateway?: string; subnet6?: string; gateway6?: string; macPrefix?: string };
}

export interface OsEnvInput {
  os: OsRef;
  instance: string;
  hypervisor?: string;
  disks: readonly OsDisk[];
  nics: readonly OsNic[];
  params?: Readonly<Record<string, string>>;
  debugLevel?: number;
  /** import/export/rename extras. */
  importDevice?: string;
  importIndex?: number;
  exportDevice?: string;
  exportIndex?: number;
  oldInstanceName?: string;
}

/** The environment a script runs with (OS API 20). Pure. */
export function buildOsEnv(input: OsEnvInput): Record<string, string> {
  const params = input.params ?? {};
  validateOsParams(params);
  const fullName = formatOsName(input.os);
  const env: Record<string, string> = {
    OS_API_VERSION: String(OS_API_VERSION),
    OS_NAME: input.os.name,
    INSTANCE_OS: fullName,
    INSTANCE_NAME: input.instance,
    HYPERVISOR: input.hypervisor ?? 'kvm',
    DEBUG_LEVEL: String(input.debugLevel ?? 0),
    DISK_COUNT: String(input.disks.length),
    NIC_COUNT: String(input.nics.length),
  };
  if (input.os.variant) env.OS_VARIANT = input.os.variant;
  input.disks.forEach((d, i) => {
    env[`DISK_${i}_PATH`] = d.path;
    env[`DISK_${i}_ACCESS`] = d.access ?? 'rw';
    if (d.frontendType) env[`DISK_${i}_FRONTEND_TYPE`] = d.frontendType;
    if (d.backendType) env[`DISK_${i}_BACKEND_TYPE`] = d.backendType;
    if (d.uuid) env[`DISK_${i}_UUID`] = d.uuid;
    if (d.name) env[`DISK_${i}_NAME`] = d.name;
  });
  input.nics.forEach((n, i) => {
    const p = `NIC_${i}_`;
    env[`${p}MAC`] = n.mac;
    if (n.ip) env[`${p}IP`] = n.ip;
    if (n.ip6) env[`${p}IP6`] = n.ip6;
    if (n.mode) env[`${p}MODE`] = n.mode;
    if (n.link) {
      env[`${p}LINK`] = n.link;
      if (n.mode !== 'routed') env[`${p}BRIDGE`] = n.link;
    }
    if (n.vlan !== undefined) env[`${p}VLAN`] = String(n.vlan);
    if (n.frontendType) env[`${p}FRONTEND_TYPE`] = n.frontendType;
    if (n.name) env[`${p}NAME`] = n.name;
    if (n.network) {
      env[`${p}NETWORK_NAME`] = n.network.name;
      if (n.network.subnet) env[`${p}NETWORK_SUBNET`] = n.network.subnet;
      if (n.network.gateway) env[`${p}NETWORK_GATEWAY`] = n.network.gateway;
      if (n.network.subnet6) env[`${p}NETWORK_SUBNET6`] = n.network.subnet6;
      if (n.network.gateway6) env[`${p}NETWORK_GATEWAY6`] = n.network.gateway6;
      if (n.network.macPrefix) env[`${p}NETWORK_MAC_PREFIX`] = n.network.macPrefix;
    }
  });
  for (const [k, v] of Object.entries(params)) env[`OSP_${k.toUpperCase()}`] = v;
  if (input.importDevice) env.IMPORT_DEVICE = input.importDevice;
  if (input.importIndex !== undefined) env.IMPORT_INDEX = String(input.importIndex);
  if (input.exportDevice) env.EXPORT_DEVICE = input.exportDevice;
  if (input.exportIndex !== undefined) env.EXPORT_INDEX = String(input.exportIndex);
  if (input.oldInstanceName) env.OLD_INSTANCE_NAME = input.oldInstanceName;
  return env;
}

// ---- running a script ----

/**
 * $1 script, $2 log file, $3 stdin file ('' = /dev/null), $4 stdout file ('' = the log).
 * Runs from the OS dir (as Ganeti does), appends output to the log, prints the log's
 * tail so a failure message reaches the caller, exits with the script's code.
 */
export const OS_RUN_SCRIPT = `s=$1 log=$2 in=\${3:-/dev/null} out=$4
mkdir -p "\${log%/*}" || exit 1
printf '=== %s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$s" >>"$log"
cd "\${s%/*}" || exit 1
if [ -n "$out" ]; then "$s" <"$in" >"$out" 2>>"$log"; else "$s" <"$in" >>"$log" 2>&1; fi
rc=$?
printf '=== exit %s\\n' "$rc" >>"$log"
tail -n 20 "$log"
exit $rc`;

export interface OsRunRequest {
  osDir: string;
  script: OsScript;
  env: Record<string, string>;
  /** e.g. RUNDIR/os.log. */
  logPath: string;
  /** import: the file fed on stdin. */
  stdinFile?: string;
  /** export: where stdout goes. */
  stdoutFile?: string;
  timeoutMs?: number;
}

export function osRunArgv(req: OsRunRequest): string[] {
  for (const p of [req.osDir, req.logPath]) {
    if (!p.startsWith('/')) throw new PrereqError('OS_BAD_PATH', `${p} must be an absolute path`);
  }
  return ['sh', '-c', OS_RUN_SCRIPT, 'gantry-os', `${req.osDir.replace(/\/+$/, '')}/${req.script}`, req.logPath, req.stdinFile ?? '', req.stdoutFile ?? ''];
}

export class OsScriptError extends ExecError {
  constructor(script: OsScript, node: string, code: number | null, tail: string, details: Record<string, unknown>) {
    super('OS_SCRIPT_FAILED', `OS ${script} script failed on ${node} (exit ${code}): ${tail.trim().split('\n').slice(-5).join(' | ')}`, details);
  }
}

/** Run one OS script; resolves with the log tail, rejects with OsScriptError. */
export async function runOsScript(transport: Transport, req: OsRunRequest): Promise<string> {
  const r = await transport.exec(osRunArgv(req), { env: req.env, timeoutMs: req.timeoutMs ?? 30 * 60_000 });
  if (r.code !== 0) {
    throw new OsScriptError(req.script, transport.node, r.code, r.stdout + r.stderr, { script: req.script, osDir: req.osDir, log: req.logPath, instance: req.env.INSTANCE_NAME });
  }
  return r.stdout;
}

// ---- the "image" provider ----

export const IMAGE_FORMATS = ['raw', 'qcow2', 'vmdk', 'vdi', 'vpc'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export interface ImageWrite {
  image: string;
  disk: string;
  /** The declared source format: qemu-img is always told it (-f), never left to probe. */
  sourceFormat: ImageFormat;
  /** The target exists (an LV or a pre-sized file): write into it, do not recreate it. */
  targetExists?: boolean;
  /** The disk's own format (default raw): a qcow2 disk file is written through its qcow2 structure. */
  targetFormat?: 'raw' | 'qcow2';
}

/** Absolute, normal paths only (no '..', no empty or odd components). */
function checkImagePath(p: string, what: string): string {
  if (!/^(\/[A-Za-z0-9_.:+-]+)+$/.test(p) || p.split('/').some((c) => c === '.' || c === '..' || c.startsWith('-'))) {
    throw new PrereqError('OS_BAD_PATH', `${what} ${JSON.stringify(p)} must be an absolute, normal path`);
  }
  return p;
}

/**
 * The declared format of an image+... OS: the OS parameter `image_format` (default raw).
 * A value qemu-img does not know as an image format is refused.
 */
export function declaredImageFormat(params: Readonly<Record<string, string>>): ImageFormat {
  const f = params.image_format ?? 'raw';
  if (!(IMAGE_FORMATS as readonly string[]).includes(f)) {
    throw new PrereqError('OS_IMAGE_FORMAT_INVALID', `OS parameter image_format ${JSON.stringify(f)} is not one of ${IMAGE_FORMATS.join(', ')}`);
  }
  return f as ImageFormat;
}

/**
 * `qemu-img info` probes the format: its answer is only compared with the declared one
 * (an image that is not what its owner says is refused), never used to read the image.
 */
export function imageInfoArgv(image: string): string[] {
  return ['qemu-img', 'info', '--output=json', checkImagePath(image, 'image')];
}

/**
 * The image must be what the manifest declares, and stand alone: a backing file (or an
 * external data file) would make qemu-img read another file of the node into the disk.
 */
export function checkImageInfo(infoJson: string, w: Pick<ImageWrite, 'image' | 'sourceFormat'>): void {
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(infoJson) as Record<string, unknown>;
  } catch (e) {
    throw new ExecError('OS_IMAGE_INFO_UNREADABLE', `qemu-img info ${w.image}: ${(e as Error).message}`);
  }
  if (info.format !== w.sourceFormat) {
    throw new PrereqError('OS_IMAGE_FORMAT_MISMATCH', `image ${w.image} is ${String(info.format)}, but its declared format (OS parameter image_format) is ${w.sourceFormat}: refusing to write it`, { image: w.image, probed: info.format, declared: w.sourceFormat });
  }
  const backing = info['backing-filename'] ?? (info['format-specific'] as { data?: { 'data-file'?: unknown } } | undefined)?.data?.['data-file'];
  if (backing !== undefined) {
    throw new PrereqError('OS_IMAGE_HAS_BACKING_FILE', `image ${w.image} refers to another file (${String(backing)}): refusing to write it; flatten it first (qemu-img convert)`, { image: w.image });
  }
}

/** `qemu-img convert -f FORMAT -O DISKFORMAT IMG DISK`: install a disk from an image file. */
export function imageWriteArgv(w: ImageWrite): string[] {
  return ['qemu-img', 'convert', '-f', w.sourceFormat, '-O', w.targetFormat ?? 'raw', ...(w.targetExists ? ['-n'] : []), checkImagePath(w.image, 'image'), checkImagePath(w.disk, 'disk')];
}

/** Check the image's real format against the declared one, then convert with -f declared. */
export async function writeImage(transport: Transport, w: ImageWrite, timeoutMs = 60 * 60_000): Promise<void> {
  const info = await transport.exec(imageInfoArgv(w.image), { timeoutMs: 60_000 });
  if (info.code !== 0) throw new PrereqError('OS_IMAGE_UNREADABLE', `image ${w.image} on ${transport.node}: ${info.stderr.trim()}`, { image: w.image });
  checkImageInfo(info.stdout, w);
  const argv = imageWriteArgv(w);
  const r = await transport.exec(argv, { timeoutMs });
  if (r.code !== 0) throw new ExecError('OS_IMAGE_WRITE_FAILED', `writing image ${w.image} to ${w.disk} on ${transport.node} failed: ${r.stderr.trim()}`, { argv });
}
