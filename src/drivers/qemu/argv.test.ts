import { describe, expect, it } from 'vitest';
import { buildQemuArgv, escapeOptionValue, tcpUri } from './argv.js';
import { specHash, type QemuLaunchSpec } from './spec.js';

const base: QemuLaunchSpec = {
  name: 'web1',
  uuid: '6f1c9a52-6a43-4f63-9a4e-0c5d1d0a1b01',
  memoryMiB: 512,
  vcpus: 2,
  accel: 'tcg',
  kernelPath: '/boot/vmlinuz',
  initrdPath: '/boot/initrd.img',
  kernelArgs: 'console=ttyS0 quiet',
  disks: [{ path: '/srv/disks/web1.disk0', format: 'raw', bus: 'virtio', cache: 'none' }],
  nics: [{ tap: 't-web1-0', mac: 'AA:00:00:12:34:56', model: 'virtio' }],
  vncDisplay: 7,
  runDir: '/run/gantry/node1/web1',
};

function after(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));
}

describe('buildQemuArgv', () => {
  it('given a kernel-boot spec, it daemonizes with QMP and serial on unix sockets in the run dir', () => {
    const argv = buildQemuArgv(base);
    expect(argv[0]).toBe('qemu-system-x86_64');
    expect(argv).toContain('-daemonize');
    expect(argv).toContain('-no-shutdown');
    expect(after(argv, '-pidfile')).toEqual(['/run/gantry/node1/web1/pid']);
    expect(after(argv, '-qmp')).toEqual(['unix:/run/gantry/node1/web1/qmp.sock,server=on,wait=off']);
    expect(after(argv, '-chardev')[0]).toMatch(/^socket,id=serial0,path=\/run\/gantry\/node1\/web1\/serial\.sock,server=on,wait=off,logfile=.*console\.log/);
    expect(after(argv, '-serial')).toEqual(['chardev:serial0']);
    expect(after(argv, '-machine')).toEqual(['pc,accel=tcg']);
    expect(after(argv, '-cpu')).toEqual(['qemu64']);
    expect(after(argv, '-m')).toEqual(['512']);
    expect(after(argv, '-smp')).toEqual(['2']);
    expect(after(argv, '-append')).toEqual(['console=ttyS0 quiet']);
    expect(argv).not.toContain('-boot');
    expect(after(argv, '-vnc')).toEqual(['127.0.0.1:7']);
    expect(argv).not.toContain('-incoming');
  });

  it('given disks and nics, it emits a drive/device pair each with stable ids', () => {
    const argv = buildQemuArgv(base);
    expect(after(argv, '-drive')).toEqual(['file=/srv/disks/web1.disk0,format=raw,if=none,id=disk0,cache=none']);
    expect(after(argv, '-netdev')).toEqual(['tap,id=net0,ifname=t-web1-0,script=no,downscript=no']);
    expect(after(argv, '-device')).toEqual(['virtio-blk-pci,drive=disk0,id=virtio-disk0', 'virtio-net-pci,netdev=net0,mac=aa:00:00:12:34:56,id=nic0']);
  });

  it('given ide and scsi disks, disk boot and e1000/rtl8139 nics, it picks the matching devices', () => {
    const { kernelPath: _k, initrdPath: _i, kernelArgs: _a, ...noKernel } = base;
    const argv = buildQemuArgv({
      ...noKernel,
      accel: 'kvm',
      bootOrder: ['network', 'disk'],
      disks: [
        { path: '/d/a,b', format: 'qcow2', bus: 'ide', cache: 'writeback' },
        { path: '/d/c', format: 'raw', bus: 'scsi', cache: 'writethrough' },
      ],
      nics: [
        { tap: 'tap0', mac: 'aa:00:00:00:00:01', model: 'e1000' },
        { tap: 'tap1', mac: 'aa:00:00:00:00:02', model: 'rtl8139' },
      ],
    });
    expect(after(argv, '-boot')).toEqual(['order=nc']);
    expect(after(argv, '-cpu')).toEqual(['host']);
    expect(after(argv, '-drive')[0]).toBe('file=/d/a,,b,format=qcow2,if=none,id=disk0,cache=writeback');
    expect(after(argv, '-device')).toEqual([
      'virtio-scsi-pci,id=scsi0',
      'ide-hd,drive=disk0,bus=ide.0,unit=0,bootindex=1',
      'scsi-hd,drive=disk1,bus=scsi0.0,scsi-id=1,lun=0',
      'e1000,netdev=net0,mac=aa:00:00:00:00:01,id=nic0',
      'rtl8139,netdev=net1,mac=aa:00:00:00:00:02,id=nic1',
    ]);
  });

  it('given an incoming migration, it listens on tcp (IPv6 in brackets) and no display without vnc', () => {
    const { vncDisplay: _v, ...noVnc } = base;
    expect(after(buildQemuArgv(noVnc, 'qemu', { incoming: { address: '198.18.200.2', port: 8102 } }), '-incoming')).toEqual(['tcp:198.18.200.2:8102']);
    expect(buildQemuArgv(noVnc)).toContain('-display');
    expect(tcpUri('fd00::2', 8102)).toBe('tcp:[fd00::2]:8102');
    expect(() => tcpUri('198.18.0.1', 0)).toThrow(RangeError);
  });

  it('given invalid input, it refuses with a prerequisite error instead of building argv', () => {
    expect(() => buildQemuArgv({ ...base, name: '../etc' })).toThrow(/not a valid host name/);
    expect(() => buildQemuArgv({ ...base, uuid: 'nope' })).toThrow(/not a UUID/);
    expect(() => buildQemuArgv({ ...base, nics: [{ tap: 'a-very-long-tap-name', mac: 'aa:00:00:00:00:01', model: 'virtio' }] })).toThrow(/interface name/);
    expect(() => buildQemuArgv({ ...base, runDir: '/run/a,b' })).toThrow(/comma/);
    expect(escapeOptionValue('a,b,,c')).toBe('a,,b,,,,c');
  });
});

describe('specHash', () => {
  it('given the same machine under another run root or key order, it hashes equal; a real change differs', () => {
    const moved = { ...base, runDir: '/run/gantry/node2/web1' };
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as unknown as QemuLaunchSpec;
    expect(specHash(moved)).toBe(specHash(base));
    expect(specHash(reordered)).toBe(specHash(base));
    expect(specHash({ ...base, memoryMiB: 1024 })).not.toBe(specHash(base));
  });
  it('given a CD-ROM image and bootOrder cdrom, it attaches a read-only IDE CD-ROM that boots first (checked with real QEMU TCG: accepted)', () => {
    const { kernelPath: _k, initrdPath: _i, kernelArgs: _a, ...diskBoot } = base;
    const argv = buildQemuArgv({ ...diskBoot, bootOrder: ['cdrom', 'disk'], cdromImagePath: '/srv/iso/debian.iso' });
    expect(after(argv, '-boot')).toEqual(['order=dc']);
    expect(after(argv, '-drive')).toContain('file=/srv/iso/debian.iso,format=raw,if=none,id=cdrom0,media=cdrom,readonly=on');
    expect(after(argv, '-device')).toContain('ide-cd,drive=cdrom0,id=ide-cdrom0,bootindex=0');
    expect(after(argv, '-device')).toContain('virtio-blk-pci,drive=disk0,id=virtio-disk0,bootindex=1');
    expect(() => buildQemuArgv({ ...diskBoot, bootOrder: ['cdrom'] })).toThrow(/bootOrder cdrom needs cdromImagePath/);
  });

  it('given diskCache, a read-only disk, a USB tablet and rebootBehavior exit, it passes cache=, readonly=on, -usb -device usb-tablet and -no-reboot', () => {
    const argv = buildQemuArgv({ ...base, disks: [{ ...base.disks[0]!, cache: 'writeback', readOnly: true }], usbMouse: 'tablet', noReboot: true });
    expect(after(argv, '-drive')).toEqual(['file=/srv/disks/web1.disk0,format=raw,if=none,id=disk0,cache=writeback,readonly=on']);
    expect(after(argv, '-usb')).toEqual(['-device']);
    expect(after(argv, '-device')).toContain('usb-tablet,id=pointer0');
    expect(argv).toContain('-no-reboot');
    const dflt = buildQemuArgv({ ...base, disks: [{ ...base.disks[0]!, cache: 'default' }], usbMouse: 'mouse' });
    expect(after(dflt, '-drive')).toEqual(['file=/srv/disks/web1.disk0,format=raw,if=none,id=disk0']);
    expect(after(dflt, '-device')).toContain('usb-mouse,id=pointer0');
    expect(dflt).not.toContain('-no-reboot');
    expect(() => buildQemuArgv({ ...base, disks: [{ ...base.disks[0]!, bus: 'ide', readOnly: true }] })).toThrow(/IDE hard disk cannot be read-only/);
  });

  it('given chroot, it passes -chroot with the chroot directory of the run directory, and nothing without it', () => {
    expect(after(buildQemuArgv({ ...base, chroot: true }), '-chroot')).toEqual([`${base.runDir}/chroot`]);
    expect(buildQemuArgv(base)).not.toContain('-chroot');
  });
});
