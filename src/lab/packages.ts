/**
 * The Debian packages the lab needs, found by the tools they provide. `lab up` installs
 * only the missing ones, with apt-get, and says so.
 */
import { readdir } from 'node:fs/promises';
import type { Logger } from '../util/log.js';
import { PrereqError } from '../util/errors.js';
import { findTool, type HostRunner } from './host.js';

/** tool -> Debian package that ships it (bookworm). */
export const LAB_TOOLS: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  unshare: 'util-linux',
  losetup: 'mount',
  sshd: 'openssh-server',
  'ssh-keygen': 'openssh-client',
  'ovsdb-tool': 'openvswitch-common',
  'ovsdb-server': 'openvswitch-common',
  'ovs-vswitchd': 'openvswitch-switch',
  'ovs-vsctl': 'openvswitch-switch',
  lvm: 'lvm2',
  // VM nodes run the kernel's DRBD 8.4 module with the host's drbd-utils (seen over 9p).
  drbdsetup: 'drbd-utils',
  // The lab's guests: QEMU under TCG, disk images, a busybox initramfs, QMP over socat.
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  busybox: 'busybox-static',
  cpio: 'cpio',
  socat: 'socat',
  timeout: 'coreutils',
};

/** Packages found by a file rather than a tool on PATH. */
const LAB_FILES: readonly { dir: string; pattern: RegExp; pkg: string }[] = [
  { dir: '/boot', pattern: /^vmlinuz-.+-amd64$/, pkg: 'linux-image-amd64' },
];

export async function missingPackages(): Promise<string[]> {
  const missing = new Set<string>();
  for (const [tool, pkg] of Object.entries(LAB_TOOLS)) {
    if (!(await findTool(tool))) missing.add(pkg);
  }
  for (const f of LAB_FILES) {
    const names = await readdir(f.dir).catch(() => [] as string[]);
    if (!names.some((n) => f.pattern.test(n))) missing.add(f.pkg);
  }
  return [...missing].sort();
}

export async function ensurePackages(run: HostRunner, log: Logger, install: boolean): Promise<void> {
  const missing = await missingPackages();
  if (missing.length === 0) return;
  if (!install) {
    throw new PrereqError('LAB_TOOLS_MISSING', `the lab needs these Debian packages: ${missing.join(' ')} (apt-get install ${missing.join(' ')})`, { missing });
  }
  log.info({ packages: missing }, 'installing missing lab packages with apt-get');
  // A fresh machine may have empty package lists.
  await run.run(['apt-get', 'update', '-q'], { env: { DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 600_000 });
  await run.run(['apt-get', 'install', '-y', '--no-install-recommends', ...missing], {
    env: { DEBIAN_FRONTEND: 'noninteractive' },
    timeoutMs: 900_000,
  });
  const still = await missingPackages();
  if (still.length) throw new PrereqError('LAB_TOOLS_MISSING', `apt-get ran but these are still missing: ${still.join(' ')}`, { missing: still });
}
