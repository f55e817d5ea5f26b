/**
 * What Gantry launches for one instance, and where its runtime files live. Ganeti runs one
 * daemonized qemu per instance and keeps its pid, monitor sockets and a runtime record
 * under a per-instance directory; Gantry does the same under a run root chosen per node
 * (lab nodes share one filesystem, so each gets its own root).
 */
import { createHash } from 'node:crypto';
import { PrereqError } from '../../util/errors.js';
import type { TapLink } from '../tap/tap.js';

export type Accel = 'kvm' | 'tcg';
export type DiskFormat = 'raw' | 'qcow2';
export type DiskBus = 'virtio' | 'ide' | 'scsi';
/** "default" passes no cache= option (QEMU's own default, writeback). */
export type DiskCache = 'default' | 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';
export type NicModel = 'virtio' | 'e1000' | 'rtl8139';
export type BootDevice = 'disk' | 'cdrom' | 'network';

export interface QemuDisk {
  path: string;
  format: DiskFormat;
  bus: DiskBus;
  cache: DiskCache;
  /** Attach read-only (readonly=on); IDE hard disks cannot be read-only in QEMU. */
  readOnly?: boolean;
}

export interface QemuNic {
  /** Host tap device (see drivers/tap). */
  tap: string;
  mac: string;
  model: NicModel;
  /** Where start() plugs the tap; absent = the tap must already exist. */
  link?: TapLink;
}

export interface QemuLaunchSpec {
  name: string;
  uuid: string;
  memoryMiB: number;
  vcpus: number;
  accel: Accel;
  /** Default "pc". */
  machineType?: string;
  /** Default "host" with kvm, "qemu64" with tcg. */
  cpuType?: string;
  /** Direct kernel boot; without it the instance boots from its disks (bootOrder). */
  kernelPath?: string;
  initrdPath?: string;
  kernelArgs?: string;
  /** Default ['disk']. */
  bootOrder?: BootDevice[];
  disks: QemuDisk[];
  nics: QemuNic[];
  /** An ISO image attached as an IDE CD-ROM (read-only). */
  cdromImagePath?: string;
  /** A USB pointer on a USB controller; absent = none. */
  usbMouse?: 'mouse' | 'tablet';
  /** A guest reboot ends the VM (-no-reboot) instead of rebooting it. */
  noReboot?: boolean;
  /**
   * Chroot QEMU into <runDir>/chroot once it is set up (-chroot, as Ganeti's use_chroot):
   * the directory must be empty, so a compromised QEMU sees nothing of the node's files.
   */
  chroot?: boolean;
  /** VNC display number (port 5900+N); absent = no display. */
  vncDisplay?: number;
  /** Default 127.0.0.1. */
  vncBindAddress?: string;
  /** <runRoot>/<name>; see runDirFor. */
  runDir: string;
}

/** Files in an instance's run directory. */
export const RUN_FILES = {
  pid: 'pid',
  qmp: 'qmp.sock',
  serial: 'serial.sock',
  /** The empty directory QEMU chroots into (hvParams.useChroot). */
  chroot: 'chroot',
  /** Everything the guest wrote to ttyS0 (QEMU's chardev logfile). */
  console: 'console.log',
  runtime: 'runtime.json',
  /** Present when Gantry stopped the instance (ADMIN_down rather than ERROR_down). */
  adminStopped: 'adminStopped',
  /** Gantry's allocation record (observe/types InstanceMeta), written by the executor. */
  meta: 'gantry.json',
  /** Output of the OS scripts run for this instance. */
  osLog: 'os.log',
} as const;

/** Instance names become directory and file names: keep them to DNS-ish names. */
const INSTANCE_NAME = /^[a-z0-9]([a-z0-9.-]{0,62})$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const TAP = /^[A-Za-z0-9_.-]{1,15}$/;
const MACHINE_OR_CPU = /^[A-Za-z0-9_.+-]+$/;

export function assertInstanceName(name: string): void {
  if (!INSTANCE_NAME.test(name) || name.includes('..')) {
    throw new PrereqError('QEMU_BAD_INSTANCE_NAME', `instance name ${JSON.stringify(name)} is not a valid host name`);
  }
}

export function runDirFor(runRoot: string, instance: string): string {
  assertInstanceName(instance);
  if (!runRoot.startsWith('/')) throw new PrereqError('QEMU_BAD_RUN_ROOT', `run root ${JSON.stringify(runRoot)} must be absolute`);
  return `${runRoot.replace(/\/+$/, '')}/${instance}`;
}

export function runFile(runDir: string, file: keyof typeof RUN_FILES): string {
  return `${runDir}/${RUN_FILES[file]}`;
}

/** Reject specs that would produce a malformed or unsafe command line (no I/O). */
export function validateLaunchSpec(spec: QemuLaunchSpec): void {
  const bad = (what: string): never => {
    throw new PrereqError('QEMU_BAD_SPEC', `instance ${spec.name}: ${what}`, { instance: spec.name });
  };
  assertInstanceName(spec.name);
  if (!UUID.test(spec.uuid)) bad(`uuid ${JSON.stringify(spec.uuid)} is not a UUID`);
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16) bad('memoryMiB must be an integer >= 16');
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 255) bad('vcpus must be an integer in 1..255');
  if (spec.machineType !== undefined && !MACHINE_OR_CPU.test(spec.machineType)) bad('machineType has invalid characters');
  if (spec.cpuType !== undefined && !MACHINE_OR_CPU.test(spec.cpuType)) bad('cpuType has invalid characters');
  if (!spec.runDir.startsWith('/')) bad('runDir must be absolute');
  if (spec.runDir.includes(',')) bad('runDir cannot contain a comma (QEMU option syntax)');
  if ((spec.initrdPath || spec.kernelArgs) && !spec.kernelPath) bad('initrdPath/kernelArgs need kernelPath');
  if (!spec.kernelPath && spec.disks.length === 0) bad('nothing to boot: no kernel and no disks');
  spec.disks.forEach((d, i) => {
    if (!d.path.startsWith('/')) bad(`disk ${i}: path must be absolute`);
    if (d.readOnly && d.bus === 'ide') bad(`disk ${i}: an IDE hard disk cannot be read-only in QEMU (use diskType paravirtual or scsi)`);
  });
  if (spec.cdromImagePath !== undefined && !spec.cdromImagePath.startsWith('/')) bad('cdromImagePath must be absolute');
  if ((spec.bootOrder ?? []).includes('cdrom') && !spec.kernelPath && spec.cdromImagePath === undefined) bad('bootOrder cdrom needs cdromImagePath');
  spec.nics.forEach((n, i) => {
    if (!TAP.test(n.tap)) bad(`nic ${i}: tap ${JSON.stringify(n.tap)} is not a valid interface name`);
    if (!MAC.test(n.mac)) bad(`nic ${i}: mac ${JSON.stringify(n.mac)} is not a MAC address`);
  });
  if (spec.vncDisplay !== undefined && (!Number.isInteger(spec.vncDisplay) || spec.vncDisplay < 0 || spec.vncDisplay > 59635)) bad('vncDisplay out of range');
}

/** Stable JSON: keys sorted, so equal specs always hash equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Hash of everything that needs a qemu restart to change. The run dir is excluded: an
 * instance migrated to another node (another run root) runs the same machine.
 */
export function specHash(spec: QemuLaunchSpec): string {
  const { runDir: _runDir, ...machine } = spec;
  return createHash('sha256').update(canonicalJson(machine)).digest('hex').slice(0, 16);
}

/** The record written to RUNDIR/runtime.json when an instance starts. */
export interface RuntimeRecord {
  version: 1;
  instance: string;
  specHash: string;
  spec: QemuLaunchSpec;
  startedAt: string;
  /** Set while the instance is the destination of an incoming migration. */
  incoming?: string;
}

export function buildRuntimeRecord(spec: QemuLaunchSpec, startedAt: string, incoming?: string): RuntimeRecord {
  return { version: 1, instance: spec.name, specHash: specHash(spec), spec, startedAt, ...(incoming ? { incoming } : {}) };
}

/** Parse runtime.json content; undefined when absent or unreadable (reported, not thrown). */
export function parseRuntimeRecord(text: string): RuntimeRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<RuntimeRecord>;
    if (v && v.version === 1 && typeof v.instance === 'string' && v.spec && typeof v.specHash === 'string') return v as RuntimeRecord;
  } catch {
    /* fall through */
  }
  return undefined;
}
