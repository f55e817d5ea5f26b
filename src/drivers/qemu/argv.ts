/**
 * Pure: a launch spec -> the qemu command line. One daemonized qemu per instance, with
 * its monitor (QMP) and serial console on unix sockets in the run dir, so every later
 * operation is "connect to a socket" and needs no Gantry daemon on the node.
 */
import { runFile, validateLaunchSpec, type QemuDisk, type QemuLaunchSpec, type QemuNic } from './spec.js';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

export interface IncomingMigration {
  address: string;
  port: number;
}

export interface QemuArgvOptions {
  /** Start as the destination of a live migration (`-incoming tcp:ADDR:PORT`). */
  incoming?: IncomingMigration;
}

/** QEMU's option syntax splits on commas; a literal comma is written twice. */
export function escapeOptionValue(v: string): string {
  return v.replace(/,/g, ',,');
}

/** "tcp:HOST:PORT", with IPv6 literals in brackets. */
export function tcpUri(address: string, port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad TCP port ${port}`);
  return `tcp:${address.includes(':') ? `[${address}]` : address}:${port}`;
}

const NIC_DEVICE = { virtio: 'virtio-net-pci', e1000: 'e1000', rtl8139: 'rtl8139' } as const;
const BOOT_LETTER = { disk: 'c', cdrom: 'd', network: 'n' } as const;

export function buildQemuArgv(spec: QemuLaunchSpec, binary: string = DEFAULT_QEMU_BINARY, opts: QemuArgvOptions = {}): string[] {
  validateLaunchSpec(spec);
  const dir = spec.runDir;
  const argv: string[] = [binary,
    '-daemonize',
    '-pidfile', runFile(dir, 'pid'),
    '-qmp', `unix:${runFile(dir, 'qmp')},server=on,wait=off`,
    // A socket console plus a log of it: anyone may attach, nothing the guest says is lost.
    '-chardev', `socket,id=serial0,path=${runFile(dir, 'serial')},server=on,wait=off,logfile=${runFile(dir, 'console')},logappend=on`,
    '-serial', 'chardev:serial0',
    // A guest poweroff leaves qemu alive in runstate "shutdown": Ganeti's USER_down,
    // visible over QMP without anyone having watched the event.
    '-no-shutdown',
    '-nodefaults',
    '-name', escapeOptionValue(spec.name),
    '-uuid', spec.uuid,
    '-m', String(spec.memoryMiB),
    '-smp', String(spec.vcpus),
    '-machine', `${spec.machineType ?? 'pc'},accel=${spec.accel}`,
    '-cpu', spec.cpuType ?? (spec.accel === 'kvm' ? 'host' : 'qemu64'),
  ];
  const bootOrder = spec.bootOrder ?? ['disk'];
  if (spec.kernelPath) {
    argv.push('-kernel', spec.kernelPath);
    if (spec.initrdPath) argv.push('-initrd', spec.initrdPath);
    if (spec.kernelArgs) argv.push('-append', spec.kernelArgs);
  } else {
    argv.push('-boot', `order=${bootOrder.map((b) => BOOT_LETTER[b]).join('')}`);
  }
  const diskBootIndex = spec.kernelPath ? undefined : bootOrder.indexOf('disk');
  if (spec.disks.some((d) => d.bus === 'scsi')) argv.push('-device', 'virtio-scsi-pci,id=scsi0');
  spec.disks.forEach((d, i) => argv.push(...diskArgs(d, i, i === 0 && diskBootIndex !== undefined && diskBootIndex >= 0 ? diskBootIndex : undefined)));
  if (spec.cdromImagePath !== undefined) argv.push(...cdromArgs(spec.cdromImagePath, spec.kernelPath ? -1 : bootOrder.indexOf('cdrom')));
  spec.nics.forEach((n, i) => argv.push(...nicArgs(n, i)));
  if (spec.usbMouse) argv.push('-usb', '-device', spec.usbMouse === 'tablet' ? 'usb-tablet,id=pointer0' : 'usb-mouse,id=pointer0');
  if (spec.noReboot) argv.push('-no-reboot');
  if (spec.chroot) argv.push('-chroot', runFile(dir, 'chroot'));
  if (spec.vncDisplay !== undefined) {
    argv.push('-vga', 'std', '-vnc', `${spec.vncBindAddress ?? '127.0.0.1'}:${spec.vncDisplay}`);
  } else {
    argv.push('-display', 'none');
  }
  if (opts.incoming) argv.push('-incoming', tcpUri(opts.incoming.address, opts.incoming.port));
  return argv;
}

function diskArgs(d: QemuDisk, i: number, bootIndex: number | undefined): string[] {
  const id = `disk${i}`;
  const cache = d.cache === 'default' ? '' : `,cache=${d.cache}`;
  const drive = `file=${escapeOptionValue(d.path)},format=${d.format},if=none,id=${id}${cache}${d.readOnly ? ',readonly=on' : ''}`;
  const boot = bootIndex !== undefined ? `,bootindex=${bootIndex}` : '';
  let device: string;
  switch (d.bus) {
    case 'virtio': device = `virtio-blk-pci,drive=${id},id=virtio-${id}${boot}`; break;
    // The pc machine's built-in IDE controller: two buses, two units each.
    case 'ide': device = `ide-hd,drive=${id},bus=ide.${Math.floor(i / 2)},unit=${i % 2}${boot}`; break;
    case 'scsi': device = `scsi-hd,drive=${id},bus=scsi0.0,scsi-id=${i},lun=0${boot}`; break;
  }
  return ['-drive', drive, '-device', device];
}

/** The CD-ROM on the pc machine's IDE controller (QEMU picks a free bus/unit after the disks). */
function cdromArgs(path: string, bootIndex: number): string[] {
  return [
    '-drive', `file=${escapeOptionValue(path)},format=raw,if=none,id=cdrom0,media=cdrom,readonly=on`,
    '-device', `ide-cd,drive=cdrom0,id=ide-cdrom0${bootIndex >= 0 ? `,bootindex=${bootIndex}` : ''}`,
  ];
}

function nicArgs(n: QemuNic, i: number): string[] {
  return [
    // The tap exists already (drivers/tap creates it); qemu only attaches, never runs scripts.
    '-netdev', `tap,id=net${i},ifname=${n.tap},script=no,downscript=no`,
    '-device', `${NIC_DEVICE[n.model]},netdev=net${i},mac=${n.mac.toLowerCase()},id=nic${i}`,
  ];
}
