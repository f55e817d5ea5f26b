import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareKernelVersions, pickNewestKernel } from './build.js';
import { parseGuestHeader, renderGuestHeader } from './header.js';
import { moduleName, resolveModules } from './modules.js';
import { LAB_OS_FILES } from './scripts.js';

// Lines from Debian 12's /lib/modules/6.1.0-56-amd64/modules.dep (plus one .xz entry).
const MODULES_DEP = `kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/input/evdev.ko.xz:
`;

describe('resolveModules', () => {
  it('given modules.dep, it loads dependencies first, each once, and reports built-ins as missing', () => {
    const { order, missing } = resolveModules(MODULES_DEP, ['virtio_pci', 'virtio_blk', 'virtio_net', 'evdev', 'button']);
    const names = order.map((m) => m.name);
    expect(names).toEqual(['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_blk', 'failover', 'net_failover', 'virtio_net', 'evdev']);
    expect(order.find((m) => m.name === 'evdev')?.compression).toBe('xz');
    expect(missing).toEqual(['button']);
    expect(moduleName('kernel/x/snd-hda.ko.zst')).toBe('snd_hda');
  });
});

describe('kernel choice', () => {
  it('given several installed kernels, it picks the newest amd64 one numerically', () => {
    expect(pickNewestKernel(['vmlinuz-6.1.0-9-amd64', 'vmlinuz-6.1.0-56-amd64', 'vmlinuz-6.10.0-1-cloud-amd64x', 'config-6.1.0-56-amd64'])).toBe('6.1.0-56-amd64');
    expect(compareKernelVersions('6.10.0-1-amd64', '6.9.0-3-amd64')).toBeGreaterThan(0);
    expect(pickNewestKernel([])).toBeUndefined();
  });
});

describe('guest header', () => {
  it('given a config, it round-trips and keeps values on one line', () => {
    const text = renderGuestHeader({ hostname: 'vm1', ip: '198.18.201.10/24', gateway: '198.18.201.1', poweroffAfter: 3, message: 'a\nb' });
    const six = { hostname: 'vm6', ip6: '2001:2:0:40::5/64', gateway6: '2001:2:0:40::1', ping: '2001:2:0:40::1' };
    expect(parseGuestHeader(renderGuestHeader(six))).toEqual(six);
    expect(text).toContain('message=a b\n');
    expect(parseGuestHeader(Buffer.concat([Buffer.from(text), Buffer.alloc(100)]))).toEqual({ hostname: 'vm1', ip: '198.18.201.10/24', gateway: '198.18.201.1', poweroffAfter: 3, message: 'a b' });
    expect(parseGuestHeader(Buffer.alloc(4096))).toBeUndefined();
  });
});

describe('lab OS definition scripts (run with sh on a scratch disk)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-labos-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, [content, mode]] of Object.entries(LAB_OS_FILES)) writeFileSync(join(dir, name), content, { mode });
  const disk = join(dir, 'disk.raw');
  writeFileSync(disk, Buffer.alloc(64 * 1024, 0xee));
  const run = (script: string, env: Record<string, string>): string =>
    execFileSync(join(dir, script), { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

  it('given the Ganeti environment, create writes the header the guest reads, padded, without growing the disk', () => {
    run('create', { INSTANCE_NAME: 'vm1.lab', DISK_0_PATH: disk, NIC_COUNT: '1', NIC_0_IP: '198.18.201.10', NIC_0_NETWORK_SUBNET: '198.18.201.0/24', NIC_0_NETWORK_GATEWAY: '198.18.201.1', OSP_POWEROFF_AFTER: '3', OSP_MESSAGE: 'hi\nthere' });
    const raw = readFileSync(disk);
    expect(parseGuestHeader(raw)).toEqual({ hostname: 'vm1', ip: '198.18.201.10/24', gateway: '198.18.201.1', poweroffAfter: 3, message: 'hi there' });
    expect(raw[4095]).toBe(0);
  });

  it('given IPv6 NIC variables and a ping parameter, create writes ip6, gateway6 and ping for the guest', () => {
    run('create', {
      INSTANCE_NAME: 'vm6', DISK_0_PATH: disk, NIC_COUNT: '1', NIC_0_IP6: '2001:2:0:40:a800:ff:fe00:1', NIC_0_NETWORK_SUBNET6: '2001:2:0:40::/64',
      NIC_0_NETWORK_GATEWAY6: '2001:2:0:40::1', OSP_PING: '2001:2:0:40::1 198.18.40.1',
    });
    expect(parseGuestHeader(readFileSync(disk))).toEqual({ hostname: 'vm6', ip6: '2001:2:0:40:a800:ff:fe00:1/64', gateway6: '2001:2:0:40::1', ping: '2001:2:0:40::1 198.18.40.1' });
    run('create', { INSTANCE_NAME: 'vm1.lab', DISK_0_PATH: disk, NIC_COUNT: '1', NIC_0_IP: '198.18.201.10', NIC_0_NETWORK_SUBNET: '198.18.201.0/24', NIC_0_NETWORK_GATEWAY: '198.18.201.1', OSP_POWEROFF_AFTER: '3', OSP_MESSAGE: 'hi\nthere' });
    const raw = readFileSync(disk);
    expect(raw[4095]).toBe(0);
    expect(raw[4096]).toBe(0xee);
    expect(statSync(disk).size).toBe(64 * 1024);
  });

  it('given a new name, rename rewrites only the hostname; verify rejects a bad poweroff_after', () => {
    run('rename', { INSTANCE_NAME: 'vm9.lab', OLD_INSTANCE_NAME: 'vm1.lab', DISK_0_PATH: disk });
    expect(parseGuestHeader(readFileSync(disk))).toMatchObject({ hostname: 'vm9', poweroffAfter: 3 });
    expect(() => run('verify', { OSP_POWEROFF_AFTER: 'soon' })).toThrow();
    expect(run('verify', { OSP_POWEROFF_AFTER: '5' })).toBe('');
    expect(LAB_OS_FILES['ganeti_api_version']?.[0]).toBe('20\n');
  });
});
