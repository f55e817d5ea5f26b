/**
 * Cross-field checks of one resource that the schema cannot express: settings that only
 * take effect together with another (serialSpeed needs a kernel command line), names that
 * must be unique in an instance, limits the Cluster sets. Pure; each problem is reported
 * once, on the resource (and field) that sets it, never on every resource inheriting it.
 */
import type { InstanceDoc, KvmHvParams, PathSegment } from '../api/index.js';
import type { LoadErrorCode } from './errors.js';
import type { DesiredDisk, KvmParams } from './model.js';

export type ErrAt = (path: PathSegment[], code: LoadErrorCode, message: string) => void;

/**
 * KVM settings of one layer (Cluster, NodeGroup or Instance) checked against that layer's
 * effective parameters: what reaches the guest only through a kernel command line needs a
 * kernel, and a CD-ROM boot needs a CD-ROM.
 */
export function checkKvmLayer(base: PathSegment[], layer: KvmHvParams | undefined, eff: KvmParams, err: ErrAt): void {
  if (!layer) return;
  const noKernel = eff.kernelPath === undefined;
  if (layer.serialSpeed !== undefined && noKernel) {
    err([...base, 'serialSpeed'], 'invalid-value', `serialSpeed ${layer.serialSpeed} reaches the guest only as console=ttyS0,${layer.serialSpeed} on a kernel command line, and this boots from disk (no kernelPath): the guest sets its own console speed`);
  }
  if (layer.serialConsole === false && noKernel) {
    err([...base, 'serialConsole'], 'invalid-value', 'serialConsole: false only leaves console=ttyS0 off the kernel command line, and this boots from disk (no kernelPath): the serial port, its socket and log are always there');
  }
  if (layer.rootPath !== undefined && noKernel) {
    err([...base, 'rootPath'], 'invalid-value', `rootPath ${layer.rootPath} reaches the guest only as root=${layer.rootPath} on a kernel command line, and this boots from disk (no kernelPath)`);
  }
  if (layer.bootOrder === 'cdrom' && eff.cdromImagePath === undefined && noKernel) {
    err([...base, 'bootOrder'], 'invalid-value', 'bootOrder: cdrom needs cdromImagePath (an ISO image on the node): there is no CD-ROM to boot from');
  }
}

/** Disk and NIC names unique within the instance; read-only disks on a bus that has them. */
export function checkInstanceDevices(spec: InstanceDoc['spec'], disks: readonly DesiredDisk[], hv: KvmParams, err: ErrAt): void {
  for (const list of ['disks', 'nics'] as const) {
    const seen = new Map<string, number>();
    for (const [i, d] of (spec[list] ?? []).entries()) {
      if (d.name === undefined) continue;
      const first = seen.get(d.name);
      if (first !== undefined) err(['spec', list, i, 'name'], 'duplicate-name', `${list === 'disks' ? 'disk' : 'NIC'} name "${d.name}" is already used by ${list}[${first}]`);
      else seen.set(d.name, i);
    }
  }
  if (hv.diskType === 'ide') {
    for (const d of disks) if (d.mode === 'ro') err(['spec', 'disks', d.index, 'mode'], 'invalid-value', 'an IDE hard disk cannot be read-only in QEMU: use hvParams.diskType paravirtual or scsi for mode: ro');
  }
}

/** The Cluster's maxDiskSize, per disk. */
export function checkMaxDiskSize(disks: readonly DesiredDisk[], maxMiB: number | undefined, err: ErrAt): void {
  if (maxMiB === undefined) return;
  for (const d of disks) {
    if (d.state === 'present' && d.size > maxMiB) err(['spec', 'disks', d.index, 'size'], 'invalid-value', `disk size ${d.size} MiB is larger than the Cluster's maxDiskSize (${maxMiB} MiB)`);
  }
}

/** A VLAN on a NIC whose mode cannot carry it (only openvswitch tags ports). */
export function checkNicVlan(path: PathSegment[], mode: string, vlan: number | undefined, err: ErrAt): void {
  if (vlan !== undefined && mode !== 'openvswitch') err(path, 'invalid-value', `VLAN ${vlan} needs mode openvswitch (a ${mode} NIC is not tagged; put a bridged NIC on a bridge of that VLAN instead)`);
}

/** The network and broadcast addresses of an IPv4 subnet (as integers), for prefixes that have them. */
export function edgeAddresses(base: number, prefix: number): { network: number; broadcast: number } | undefined {
  if (prefix >= 31) return undefined; // /31 point-to-point and /32 hosts have no network or broadcast address
  const size = 2 ** (32 - prefix);
  return { network: base, broadcast: base + size - 1 };
}

/** A MAC address or prefix whose first octet has the multicast bit set. */
export const isMulticastMac = (mac: string): boolean => (parseInt(mac.slice(0, 2), 16) & 1) === 1;

/** OS parameter names reach the OS scripts as OSP_NAME environment variables (Ganeti: lowercase names). */
export function checkOsParams(params: Readonly<Record<string, unknown>> | undefined, err: ErrAt): void {
  for (const k of Object.keys(params ?? {})) {
    if (!/^[a-z0-9_]{1,64}$/.test(k)) err(['spec', 'os', 'params', k], 'invalid-value', `OS parameter name "${k}" cannot become an environment variable (OSP_${k.toUpperCase()}): use lowercase letters, digits and "_"`);
  }
}

/** The SSH wire-format strings of a public key blob (uint32 length + bytes, RFC 4253 6.6); undefined when they do not add up. */
function sshStrings(blob: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  for (let i = 0; i < blob.length;) {
    if (i + 4 > blob.length) return undefined;
    const n = blob.readUInt32BE(i);
    if (i + 4 + n > blob.length) return undefined;
    out.push(blob.subarray(i + 4, i + 4 + n));
    i += 4 + n;
  }
  return out;
}

const ecdsa = (curve: string, point: number) => (f: Buffer[]) => f.length === 3 && f[1]!.toString('latin1') === curve && f[2]!.length === point && f[2]![0] === 4;

/** The shape of each key type's blob after its name (RFC 8709, RFC 4253, RFC 5656). */
const KEY_SHAPES: Readonly<Record<string, (fields: Buffer[]) => boolean>> = {
  'ssh-ed25519': (f) => f.length === 2 && f[1]!.length === 32,
  'ssh-rsa': (f) => f.length === 3 && f[1]!.length >= 1 && f[1]!.length <= 8 && f[2]!.length >= 128,
  'ssh-dss': (f) => f.length === 5,
  'ecdsa-sha2-nistp256': ecdsa('nistp256', 65),
  'ecdsa-sha2-nistp384': ecdsa('nistp384', 97),
  'ecdsa-sha2-nistp521': ecdsa('nistp521', 133),
};

/** Why a pinned host key line is not a key of the type it names, or undefined when it is one. */
export function hostKeyProblem(line: string): string | undefined {
  const [type = '', b64 = ''] = line.trim().split(/\s+/);
  const blob = Buffer.from(b64, 'base64');
  if (b64 === '' || blob.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) return 'its key part is not base64';
  const fields = sshStrings(blob);
  if (!fields || fields.length === 0) return 'its base64 does not decode to an SSH public key (the lengths inside do not add up)';
  const inner = fields[0]!.toString('latin1');
  if (inner !== type) return `its base64 decodes to a ${JSON.stringify(inner)} key`;
  const shape = KEY_SHAPES[type];
  if (shape && !shape(fields)) return `its base64 decodes to a truncated or malformed ${type} key`;
  return undefined;
}

/** A pinned host key whose base64 decodes to a key of the type the line names (name, then that type's fields). */
export function checkHostKey(line: string | undefined, err: ErrAt): void {
  if (line === undefined) return;
  const problem = hostKeyProblem(line);
  const type = line.trim().split(/\s+/)[0];
  if (problem) err(['spec', 'ssh', 'hostKey'], 'invalid-value', `host key is not a valid ${type} key: ${problem} (copy the line from the node's /etc/ssh/ssh_host_*_key.pub, or ssh-keyscan)`);
}

/** Directories Ganeti refuses as file storage (lib/utils/storage.py: system directories). */
const SYSTEM_DIRS = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/proc', '/root', '/run', '/sbin', '/sys', '/usr', '/usr/bin', '/usr/lib', '/usr/sbin', '/var', '/var/lib', '/var/log', '/var/run', '/tmp', '/home'];

export function checkStorageDir(path: PathSegment[], dir: string | undefined, err: ErrAt): void {
  if (dir === undefined) return;
  if (SYSTEM_DIRS.includes(dir) || SYSTEM_DIRS.some((s) => ['/bin', '/boot', '/dev', '/etc', '/lib', '/proc', '/sbin', '/sys', '/usr'].includes(s) && dir.startsWith(`${s}/`))) {
    err(path, 'invalid-value', `${dir} is a system directory: disk images there would mix with the system's files; use a directory of its own (like /srv/ganeti/file-storage)`);
  }
}
