/**
 * The VM node's initramfs: busybox, the modules that mount the root (virtio, 9p, overlay)
 * plus dm-mod and DRBD, and a stage-1 /init that mounts the host's / read-only over 9p
 * under an overlay with a tmpfs upper layer, then hands over to busybox init in it.
 * One image serves every VM node of a kernel version (the node's own files come from its
 * 9p config share). `initramfsEntries` is pure; `ensureVmInitramfs` writes the image.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ExecError, PrereqError } from '../../util/errors.js';
import { resolveModules, type ResolvedModule } from '../guest/modules.js';

/** 9p tags the QEMU argv and /init agree on. */
export const HOST_ROOT_TAG = 'hostroot';
export const NODE_CONFIG_TAG = 'nodecfg';
/** Where the node's config share is mounted in the VM. */
export const NODE_CONFIG_MOUNT = '/etc/gantry-node';

/**
 * Loaded by /init, in this order with their dependencies first. crc32c_generic before
 * drbd: libcrc32c's soft dependency on "crc32c" is not in modules.dep, and crc32c-intel
 * needs SSE4.2 (given by -cpu max, but the generic one always works).
 */
export const VM_NODE_MODULES = [
  'virtio_pci', 'virtio_blk', 'virtio_net', '9pnet_virtio', '9p', 'overlay', 'dm_mod', 'crc32c_generic', 'drbd',
] as const;

export const VM_NODE_INIT = `#!/bin/busybox sh
# Gantry lab VM node, stage 1: host root (9p, read-only) + tmpfs -> overlay; busybox init.
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /lower /rw /newroot
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
fail() { echo "gantry-vm-node: stage 1 failed: $*"; sleep 1; poweroff -f; }
echo "gantry-vm-node: stage 1"
while read -r m; do insmod "/lib/modules/$m" || echo "gantry-vm-node: insmod $m failed"; done </lib/modules/load.order
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose ${HOST_ROOT_TAG} /lower || fail "mount the host root"
mount -t tmpfs -o mode=0755 rw /rw || fail "mount the tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount the overlay"
mkdir -p /newroot${NODE_CONFIG_MOUNT}
mount -t 9p -o ro,trans=virtio,version=9p2000.L ${NODE_CONFIG_TAG} /newroot${NODE_CONFIG_MOUNT} || fail "mount the node config"
cp /newroot${NODE_CONFIG_MOUNT}/inittab /newroot/etc/inittab || fail "install inittab"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/busybox init
`;

export interface InitramfsEntry {
  /** Path inside the image, relative. */
  path: string;
  mode: number;
  /** Directory when absent; otherwise where the content comes from. */
  source?: { kind: 'file'; path: string; compression: ResolvedModule['compression'] } | { kind: 'text'; text: string };
}

/** Every file of the image, in cpio order. Pure. */
export function initramfsEntries(busyboxPath: string, moduleDir: string, modules: readonly ResolvedModule[]): InitramfsEntry[] {
  const dirs = ['bin', 'lib', 'lib/modules', 'proc', 'sys', 'dev', 'lower', 'rw', 'newroot'];
  const names = modules.map((m) => `${m.name}.ko`);
  return [
    ...dirs.map((path) => ({ path, mode: 0o755 })),
    { path: 'bin/busybox', mode: 0o755, source: { kind: 'file', path: busyboxPath, compression: 'none' } },
    { path: 'init', mode: 0o755, source: { kind: 'text', text: VM_NODE_INIT } },
    ...modules.map((m, i): InitramfsEntry => ({ path: `lib/modules/${names[i]!}`, mode: 0o644, source: { kind: 'file', path: join(moduleDir, m.path), compression: m.compression } })),
    { path: 'lib/modules/load.order', mode: 0o644, source: { kind: 'text', text: names.map((n) => `${n}\n`).join('') } },
  ];
}

/** The modules to load, from a modules.dep text; refuses when one is missing. Pure. */
export function vmNodeModules(modulesDep: string): ResolvedModule[] {
  const { order, missing } = resolveModules(modulesDep, VM_NODE_MODULES);
  if (missing.length) throw new PrereqError('LAB_VM_MODULES_MISSING', `the kernel lacks modules the VM nodes need: ${missing.join(', ')}`, { missing });
  return order;
}

function content(e: InitramfsEntry): Buffer {
  const src = e.source!;
  if (src.kind === 'text') return Buffer.from(src.text);
  switch (src.compression) {
    case 'none': return readFileSync(src.path);
    case 'gz': return gunzipSync(readFileSync(src.path));
    case 'xz': return execFileSync('xz', ['-dc', src.path], { maxBuffer: 64 * 1024 * 1024 });
    case 'zst': return execFileSync('zstd', ['-dcq', src.path], { maxBuffer: 64 * 1024 * 1024 });
  }
}

/**
 * Write <outFile> unless its stamp says it is current. Atomic (rename), so labs built
 * side by side never see half an image.
 */
export function ensureVmInitramfs(opts: { kernelVersion: string; outFile: string; busyboxPath?: string; modulesRoot?: string }): { path: string; built: boolean } {
  const busybox = opts.busyboxPath ?? '/bin/busybox';
  const moduleDir = join(opts.modulesRoot ?? '/lib/modules', opts.kernelVersion);
  if (!existsSync(busybox)) throw new PrereqError('LAB_NO_BUSYBOX', `${busybox} is missing: install busybox-static`);
  const depFile = join(moduleDir, 'modules.dep');
  if (!existsSync(depFile)) throw new PrereqError('LAB_NO_MODULES', `${depFile} is missing: install linux-image-amd64`);
  const entries = initramfsEntries(busybox, moduleDir, vmNodeModules(readFileSync(depFile, 'utf8')));
  const stamp = createHash('sha256').update(JSON.stringify(entries)).update(readFileSync(busybox)).digest('hex');
  const stampFile = `${opts.outFile}.stamp`;
  if (existsSync(opts.outFile) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return { path: opts.outFile, built: false };
  mkdirSync(dirname(opts.outFile), { recursive: true });
  const staging = mkdtempSync(join(dirname(opts.outFile), '.initramfs-'));
  try {
    for (const e of entries) {
      const abs = join(staging, e.path);
      if (!e.source) mkdirSync(abs, { recursive: true, mode: e.mode });
      else writeFileSync(abs, content(e), { mode: e.mode });
    }
    const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: staging, input: ['.', ...entries.map((e) => e.path)].join('\n') + '\n', maxBuffer: 256 * 1024 * 1024 });
    const tmp = `${opts.outFile}.tmp-${process.pid}`;
    writeFileSync(tmp, gzipSync(cpio, { level: 6 }));
    renameSync(tmp, opts.outFile);
    writeFileSync(stampFile, stamp);
  } catch (err) {
    throw new ExecError('LAB_VM_INITRAMFS', `building the VM node initramfs failed: ${(err as Error).message}`, {}, { cause: err });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { path: opts.outFile, built: true };
}
