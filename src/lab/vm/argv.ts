/**
 * The QEMU command line of a VM node. Pure. TCG (this machine has no usable KVM), one
 * vCPU, the Debian kernel with the lab's initramfs, the host's / read-only and the node's
 * config share over virtio-9p, its PV disk, two virtio NICs on the lab's taps, the serial
 * console into a file, a QMP socket, daemonized with a pid file. PCI slots are fixed so the
 * PV disk is always /dev/vda.
 */
import type { NodeLayout } from '../config.js';
import { HOST_ROOT_TAG, NODE_CONFIG_TAG } from './initramfs.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
// no_timer_check: on a busy TCG host the kernel's check that the 8254 timer's IRQ reaches the
// IO-APIC can miss its ticks ("MP-BIOS bug: 8254 timer not connected to IO-APIC"); a VM node
// then hung before init (seen once at load 11). Virtual machines skip that check.
export const VM_KERNEL_ARGS = 'console=ttyS0 quiet loglevel=4 panic=-1 no_timer_check';

export interface VmBoot {
  kernelPath: string;
  initrdPath: string;
}

export function vmNodeArgv(node: NodeLayout, boot: VmBoot): string[] {
  const vm = node.vm;
  if (!vm) throw new TypeError(`${node.name} is not a VM node`);
  const nic = (id: string, tap: string, mac: string, slot: string) => [
    '-netdev', `tap,id=${id},ifname=${tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=${id},mac=${mac},addr=${slot}`,
  ];
  return [
    QEMU_BINARY,
    '-name', `gantry-lab-${node.name},debug-threads=off`,
    '-machine', 'pc,accel=tcg',
    '-cpu', 'max',
    '-smp', '1',
    '-m', String(vm.memoryMiB),
    '-nodefaults', '-no-user-config', '-display', 'none',
    // A guest panic or reboot ends the process: power is the lab's to give back.
    '-no-reboot',
    '-kernel', boot.kernelPath,
    '-initrd', boot.initrdPath,
    '-append', `${VM_KERNEL_ARGS} gantry.node=${node.name}`,
    '-fsdev', `local,id=${HOST_ROOT_TAG},path=/,security_model=none,readonly=on,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=${HOST_ROOT_TAG},mount_tag=${HOST_ROOT_TAG},addr=0x3`,
    '-fsdev', `local,id=${NODE_CONFIG_TAG},path=${vm.configDir},security_model=none,readonly=on`,
    '-device', `virtio-9p-pci,fsdev=${NODE_CONFIG_TAG},mount_tag=${NODE_CONFIG_TAG},addr=0x4`,
    '-drive', `file=${vm.diskFile},format=raw,if=none,id=pv,cache=writeback,discard=unmap`,
    '-device', 'virtio-blk-pci,drive=pv,serial=gantry-pv,addr=0x5',
    ...nic('mgmt', node.mgmtVeth, vm.mgmtMac, '0x6'),
    ...nic('repl', node.replVeth, vm.replMac, '0x7'),
    '-chardev', `file,id=serial0,path=${vm.serialLog},append=on`,
    '-serial', 'chardev:serial0',
    '-qmp', `unix:${vm.qmpSocket},server=on,wait=off`,
    '-pidfile', vm.pidFile,
    '-daemonize',
  ];
}
