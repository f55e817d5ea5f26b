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
