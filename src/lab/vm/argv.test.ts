import { describe, expect, it } from 'vitest';
import { layoutLab } from '../config.js';
import { vmNodeArgv } from './argv.js';

const boot = { kernelPath: '/boot/vmlinuz-6.1.0-56-amd64', initrdPath: '/var/lib/vmt-lab/vm/initrd-6.1.0-56-amd64.img' };

/** The value after each occurrence of a flag. */
function values(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));
}

describe('vmNodeArgv', () => {
  const node = layoutLab({ nodes: 0, vmNodes: 1, prefix: 'vmt' }).nodes[0]!;
  const argv = vmNodeArgv(node, boot);

  it('given a VM node it boots the kernel and initramfs under TCG, daemonized with its pid file and QMP socket', () => {
    expect(argv[0]).toBe('qemu-system-x86_64');
    expect(values(argv, '-machine')).toEqual(['pc,accel=tcg']);
    expect(values(argv, '-m')).toEqual(['1024']);
    expect(values(argv, '-kernel')).toEqual([boot.kernelPath]);
    expect(values(argv, '-initrd')).toEqual([boot.initrdPath]);
    expect(values(argv, '-append')[0]).toMatch(/^console=ttyS0 .*panic=-1 no_timer_check gantry\.node=node1$/);
    expect(values(argv, '-qmp')).toEqual(['unix:/var/lib/vmt-lab/node1/qmp.sock,server=on,wait=off']);
    expect(values(argv, '-pidfile')).toEqual(['/var/lib/vmt-lab/node1/qemu.pid']);
    expect(argv).toContain('-daemonize');
    expect(argv).toContain('-no-reboot');
    expect(argv).not.toContain('-enable-kvm');
  });

  it('given a VM node it shares / read-only and its config dir over 9p, its disk first, and NICs on its taps with its MACs', () => {
    expect(values(argv, '-fsdev')).toEqual([
      'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
      'local,id=nodecfg,path=/var/lib/vmt-lab/node1/vmcfg,security_model=none,readonly=on',
    ]);
    expect(values(argv, '-drive')).toEqual(['file=/var/lib/vmt-lab/node1/disk.img,format=raw,if=none,id=pv,cache=writeback,discard=unmap']);
    expect(values(argv, '-netdev')).toEqual(['tap,id=mgmt,ifname=vmt-1m,script=no,downscript=no', 'tap,id=repl,ifname=vmt-1r,script=no,downscript=no']);
    const devices = values(argv, '-device');
    expect(devices).toContain(`virtio-net-pci,netdev=mgmt,mac=${node.vm!.mgmtMac},addr=0x6`);
    expect(devices).toContain(`virtio-net-pci,netdev=repl,mac=${node.vm!.replMac},addr=0x7`);
    // The PV disk sits in a lower PCI slot than anything else with a block device: /dev/vda.
    expect(devices).toContain('virtio-blk-pci,drive=pv,serial=gantry-pv,addr=0x5');
    expect(values(argv, '-chardev')).toEqual(['file,id=serial0,path=/var/lib/vmt-lab/node1/serial.log,append=on']);
  });

  it('given a namespace node it refuses', () => {
    const netns = layoutLab({ nodes: 1 }).nodes[0]!;
    expect(() => vmNodeArgv(netns, boot)).toThrow(TypeError);
  });
});
