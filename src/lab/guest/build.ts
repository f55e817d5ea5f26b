/**
 * Build the lab guest once into a cache directory: a busybox initramfs that boots the
 * newest installed Debian kernel (unpacked to a PVH ELF: kernel-image.ts), plus the lab OS definition directory ("busybox").
 * Local I/O only (lab/ runs on the machine hosting the lab); idempotent: a stamp of the
 * inputs decides whether anything is rebuilt.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ExecError, PrereqError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { ensurePvhKernel } from '../kernel-image.js';
import { GUEST_MODULES, resolveModules, type ResolvedModule } from './modules.js';
import { GUEST_INIT, GUEST_KERNEL_ARGS, LAB_OS_FILES } from './scripts.js';

export interface LabGuestOptions {
  /** Default /var/lib/gantry-lab. The guest goes to <cacheDir>/guest, the OS to <cacheDir>/os/busybox. */
  cacheDir?: string;
  /** Default: the newest /boot/vmlinuz-*-amd64. */
  kernelPath?: string;
  /** Default /bin/busybox (must be statically linked: Debian's busybox-static). */
  busyboxPath?: string;
  /** Where kernel modules live (default /lib/modules). */
  modulesRoot?: string;
  logger?: Logger;
}

export interface LabGuest {
  kernelPath: string;
  initrdPath: string;
  kernelArgs: string;
  /** The lab OS definition directory (Ganeti OS interface). */
  osDir: string;
  /** Whether this call built anything. */
  built: boolean;
}

/** Bump to force a rebuild when the build itself changes. */
const BUILD_VERSION = 1;

/** Compare Debian kernel versions like "6.1.0-56-amd64" numerically, field by field. */
export function compareKernelVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isInteger(nx) && Number.isInteger(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** The newest "vmlinuz-<version>-amd64" among file names; undefined when none. */
export function pickNewestKernel(fileNames: readonly string[]): string | undefined {
  const versions = fileNames.filter((f) => /^vmlinuz-.+-amd64$/.test(f)).map((f) => f.slice('vmlinuz-'.length));
  versions.sort(compareKernelVersions);
  return versions.length ? versions[versions.length - 1] : undefined;
}

export function ensureLabGuest(opts: LabGuestOptions = {}): LabGuest {
  const cacheDir = opts.cacheDir ?? '/var/lib/gantry-lab';
  const busybox = opts.busyboxPath ?? '/bin/busybox';
  const modulesRoot = opts.modulesRoot ?? '/lib/modules';
  let kernelPath = opts.kernelPath;
  if (!kernelPath) {
    const version = existsSync('/boot') ? pickNewestKernel(readdirSync('/boot')) : undefined;
    if (!version) throw new PrereqError('LAB_NO_KERNEL', 'no /boot/vmlinuz-*-amd64: install linux-image-amd64');
    kernelPath = `/boot/vmlinuz-${version}`;
  }
  const version = kernelPath.slice(kernelPath.lastIndexOf('vmlinuz-') + 'vmlinuz-'.length);
  if (!existsSync(busybox)) throw new PrereqError('LAB_NO_BUSYBOX', `${busybox} is missing: install busybox-static`);
  const moduleDir = join(modulesRoot, version);

  const osDir = join(cacheDir, 'os', 'busybox');
  writeOsDefinition(osDir);

  const guestDir = join(cacheDir, 'guest', version);
  const initrdPath = join(guestDir, 'initrd.img');
  const stampPath = join(guestDir, 'stamp');
  const modules = guestModules(moduleDir);
  const stamp = createHash('sha256')
    .update(JSON.stringify({
      BUILD_VERSION,
      init: GUEST_INIT,
      kernel: fileId(kernelPath),
      busybox: fileId(busybox),
      modules: modules.map((m) => m.path),
    }))
    .digest('hex');
  // Stable paths (<cacheDir>/guest/vmlinux, initrd.img) so manifests need not name a kernel
  // version. The kernel is unpacked to a PVH ELF: it boots in about half the time under TCG.
  const stableKernel = ensurePvhKernel(kernelPath, join(cacheDir, 'guest', 'vmlinux'), opts.logger);
  const stableInitrd = join(cacheDir, 'guest', 'initrd.img');
  const result = { kernelPath: stableKernel, initrdPath: stableInitrd, kernelArgs: GUEST_KERNEL_ARGS, osDir };
  if (existsSync(initrdPath) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) {
    publishStable(initrdPath, stableInitrd);
    return { ...result, built: false };
  }

  opts.logger?.info({ kernel: kernelPath, modules: modules.length }, 'building lab guest initramfs');
  mkdirSync(guestDir, { recursive: true });
  const staging = mkdtempSync(join(guestDir, '.staging-'));
  try {
    for (const d of ['bin', 'lib/modules', 'dev', 'proc', 'sys', 'tmp']) mkdirSync(join(staging, d), { recursive: true });
    copyFileSync(busybox, join(staging, 'bin/busybox'));
    chmodSync(join(staging, 'bin/busybox'), 0o755);
    writeFileSync(join(staging, 'init'), GUEST_INIT, { mode: 0o755 });
    const names: string[] = [];
    for (const m of modules) {
      const file = `${m.name}.ko`;
      writeFileSync(join(staging, 'lib/modules', file), readModule(join(moduleDir, m.path), m));
      names.push(file);
    }
    writeFileSync(join(staging, 'lib/modules/load.order'), names.map((n) => n + '\n').join(''));
    const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], {
      cwd: staging,
      input: listTree(staging).join('\n') + '\n',
      maxBuffer: 256 * 1024 * 1024,
    });
    const tmp = `${initrdPath}.tmp-${process.pid}`;
    writeFileSync(tmp, gzipSync(cpio, { level: 6 }));
    renameSync(tmp, initrdPath); // atomic: concurrent builders never see a partial image
    writeFileSync(stampPath, stamp);
  } catch (err) {
    throw new ExecError('LAB_GUEST_BUILD', `building the lab guest initramfs failed: ${(err as Error).message}`, {}, { cause: err });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  publishStable(initrdPath, stableInitrd);
  return { ...result, built: true };
}

/** Copy `from` to `to` when they differ (atomically, so a booting guest never reads half a file). */
function publishStable(from: string, to: string): void {
  if (existsSync(to) && statSync(to).size === statSync(from).size && readFileSync(to).equals(readFileSync(from))) return;
  const tmp = `${to}.tmp-${process.pid}`;
  copyFileSync(from, tmp);
  renameSync(tmp, to);
}

function guestModules(moduleDir: string): ResolvedModule[] {
  const depFile = join(moduleDir, 'modules.dep');
  if (!existsSync(depFile)) return []; // a kernel with everything built in
  return resolveModules(readFileSync(depFile, 'utf8'), GUEST_MODULES).order;
}

function readModule(path: string, m: ResolvedModule): Buffer {
  // busybox insmod loads plain ELF objects only, so compressed modules are unpacked here.
  switch (m.compression) {
    case 'none': return readFileSync(path);
    case 'gz': return gunzipSync(readFileSync(path));
    case 'xz': return execFileSync('xz', ['-dc', path], { maxBuffer: 64 * 1024 * 1024 });
    case 'zst': return execFileSync('zstd', ['-dcq', path], { maxBuffer: 64 * 1024 * 1024 });
  }
}

function listTree(root: string, rel = '.'): string[] {
  const out = [rel];
  const abs = join(root, rel);
  if (statSync(abs).isDirectory()) {
    for (const e of readdirSync(abs).sort()) out.push(...listTree(root, rel === '.' ? e : `${rel}/${e}`));
  }
  return out;
}

function fileId(path: string): string {
  const st = statSync(path);
  return `${path}:${st.size}:${st.mtimeMs}`;
}

function writeOsDefinition(osDir: string): void {
  mkdirSync(osDir, { recursive: true });
  for (const [name, [content, mode]] of Object.entries(LAB_OS_FILES)) {
    const path = join(osDir, name);
    if (existsSync(path) && readFileSync(path, 'utf8') === content) {
      chmodSync(path, mode);
      continue;
    }
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  }
}
