/**
 * The VM-node parts of `lab up` and `lab down`: boot files, bring one VM node up (key,
 * config share, disk, taps, QEMU, wait for sshd), remove one (QEMU by pid, taps, files).
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PrereqError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { LabLayout, NodeLayout } from '../config.js';
import type { HostRunner } from '../host.js';
import { pickNewestKernel } from '../guest/build.js';
import { ensurePvhKernel } from '../kernel-image.js';
import { removeLink } from '../network.js';
import { ensureKey, publicKeyOnly } from '../services.js';
import type { LabDownResult, LabNode } from '../lab.js';
import type { VmBoot } from './argv.js';
import { ensureVmInitramfs } from './initramfs.js';
import { VM_OVSDB_SOCKET, VM_PV_DEVICE } from './node-files.js';
import { prepareVmNode, startVm, stopVm, waitForVmSshd } from './vmnode.js';

/** The kernel (newest /boot/vmlinuz-*-amd64 unless given, as a PVH ELF) and the lab's initramfs for it. */
export function bootFiles(lab: LabLayout, kernelPath?: string, log?: Logger): VmBoot {
  let kernel = kernelPath;
  if (!kernel) {
    const version = existsSync('/boot') ? pickNewestKernel(readdirSync('/boot')) : undefined;
    if (!version) throw new PrereqError('LAB_NO_KERNEL', 'VM nodes need /boot/vmlinuz-*-amd64: install linux-image-amd64');
    kernel = `/boot/vmlinuz-${version}`;
  }
  const version = kernel.slice(kernel.lastIndexOf('vmlinuz-') + 'vmlinuz-'.length);
  const initrd = ensureVmInitramfs({ kernelVersion: version, outFile: vmInitrdFile(lab, version) });
  // Unpacked to a PVH ELF: the real-mode stub unpacking xz is most of a TCG boot's kernel time.
  const elf = ensurePvhKernel(kernel, join(lab.stateDir, 'vm', `vmlinux-${version}`), log);
  return { kernelPath: elf, initrdPath: initrd.path };
}

export function vmInitrdFile(lab: LabLayout, version: string): string {
  return join(lab.stateDir, 'vm', `initrd-${version}.img`);
}

export async function upVmNode(run: HostRunner, lab: LabLayout, node: NodeLayout, group: string, boot: VmBoot, log: Logger): Promise<LabNode> {
  const vm = node.vm!;
  await mkdir(node.dir, { recursive: true, mode: 0o700 });
  const hostKey = publicKeyOnly(await ensureKey(run, node.hostKeyFile, node.name));
  await prepareVmNode(run, lab, node, hostKey);
  // The pinned key, for `lab exec` (ssh -o UserKnownHostsFile).
  await writeFile(join(node.dir, 'known_hosts'), `${node.address} ${hostKey}\n`);
  const started = Date.now();
  const qemu = await startVm(run, node, boot, log);
  await waitForVmSshd(node);
  log.info({ node: node.name, pid: qemu, bootMs: Date.now() - started }, 'VM node sshd answers');
  return {
    name: node.name,
    kind: 'vm',
    namespace: '',
    role: node.index === 1 ? 'master-candidate' : 'regular',
    group,
    address: node.address,
    secondaryAddress: node.secondaryAddress,
    ssh: { host: node.address, port: 22, user: 'root', hostKey, privateKeyFile: lab.clientKeyFile },
    ovsdbSocket: VM_OVSDB_SOCKET,
    vgName: node.vgName,
    lvmSystemDir: '/etc/lvm',
    loopDevice: VM_PV_DEVICE,
    pids: { qemu },
    vm: { serialLog: vm.serialLog, qmpSocket: vm.qmpSocket, diskFile: vm.diskFile, memoryMiB: vm.memoryMiB },
  };
}

/** Stop the VM (by its pid file), delete its taps and files. Failures are returned. */
export async function removeVmNode(run: HostRunner, node: NodeLayout, log: Logger, out: LabDownResult): Promise<string[]> {
  const failures: string[] = [];
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      failures.push(`${node.name}: ${what}: ${(err as Error).message}`);
    }
  };
  await step('stop QEMU', async () => {
    const pid = await stopVm(node, log);
    if (pid !== undefined) out.pids.push(pid);
  });
  for (const link of [node.mgmtVeth, node.replVeth]) {
    await step(`delete ${link}`, async () => {
      if (await removeLink(run, link)) out.links.push(link);
    });
  }
  if (failures.length === 0) await rm(node.dir, { recursive: true, force: true });
  return failures;
}
