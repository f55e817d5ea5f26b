import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initramfsEntries, VM_NODE_INIT, vmNodeModules } from './initramfs.js';

// Real modules.dep lines of Debian's 6.1.0-56-amd64 (see testdata/README.md).
const modulesDep = readFileSync(join(import.meta.dirname, 'testdata', 'modules.dep.6.1.0-56-amd64'), 'utf8');

describe('vmNodeModules', () => {
  it('given the real modules.dep it loads each wanted module after its dependencies, drbd after crc32c_generic, and nothing unwanted', () => {
    const names = vmNodeModules(modulesDep).map((m) => m.name);
    expect(names).toEqual([
      'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_blk', 'failover', 'net_failover', 'virtio_net',
      '9pnet', '9pnet_virtio', 'netfs', 'fscache', '9p', 'overlay', 'dm_mod', 'crc32c_generic', 'libcrc32c', 'lru_cache', 'drbd',
    ]);
    expect(names).not.toContain('ext4');
  });

  it('given a kernel without drbd it refuses, naming the module', () => {
    const noDrbd = modulesDep.split('\n').filter((l) => !l.includes('drbd.ko:')).join('\n');
    expect(() => vmNodeModules(noDrbd)).toThrow(expect.objectContaining({ code: 'LAB_VM_MODULES_MISSING', message: expect.stringContaining('drbd') }));
  });
});

describe('initramfsEntries', () => {
  it('given the modules it lists busybox, /init, the mount points, every module by its .ko name and a load order in the same order', () => {
    const modules = vmNodeModules(modulesDep);
    const entries = initramfsEntries('/bin/busybox', '/lib/modules/6.1.0-56-amd64', modules);
    const paths = entries.map((e) => e.path);
    expect(paths.slice(0, 9)).toEqual(['bin', 'lib', 'lib/modules', 'proc', 'sys', 'dev', 'lower', 'rw', 'newroot']);
    expect(paths).toContain('bin/busybox');
    expect(paths).toContain('init');
    expect(paths).toContain('lib/modules/drbd.ko');
    expect(paths).toContain('lib/modules/dm_mod.ko');
    expect(entries.find((e) => e.path === 'lib/modules/dm_mod.ko')!.source).toEqual({ kind: 'file', path: '/lib/modules/6.1.0-56-amd64/kernel/drivers/md/dm-mod.ko', compression: 'none' });
    const order = entries.find((e) => e.path === 'lib/modules/load.order')!.source;
    expect(order).toEqual({ kind: 'text', text: modules.map((m) => `${m.name}.ko\n`).join('') });
    expect(entries.find((e) => e.path === 'init')).toMatchObject({ mode: 0o755, source: { kind: 'text', text: VM_NODE_INIT } });
  });

  it('given the init script it mounts the host root read-only over 9p under a tmpfs overlay and switches to busybox init', () => {
    expect(VM_NODE_INIT).toMatch(/mount -t 9p -o ro,trans=virtio,version=9p2000\.L,[^ ]* hostroot \/lower/);
    expect(VM_NODE_INIT).toContain('mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot');
    expect(VM_NODE_INIT).toContain('exec switch_root /newroot /bin/busybox init');
  });
});
