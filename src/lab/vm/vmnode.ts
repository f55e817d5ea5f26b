/**
 * One VM node's life on the host: its taps on the lab bridges, its disk and config share,
 * its QEMU process (found only through its pid file and checked to be ours), boot and
 * power off. Idempotent like the namespace services: `ensureVmNode` starts only what is
 * not running.
 */
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { LabLayout, LabNetwork, NodeLayout } from '../config.js';
import { exists, isOurs, readPid, sleep, stopPid, waitForPort, type HostRunner } from '../host.js';
import { linkExists } from '../network.js';
import { vmNodeArgv, type VmBoot } from './argv.js';
import { renderVmNodeFiles } from './node-files.js';
import { qmpCommand } from './qmp.js';

/** How long lab up waits for a VM node's sshd (TCG boots take ~10-20 s; a busy host more). */
export const VM_BOOT_TIMEOUT_MS = 240_000;

export async function vmPid(node: NodeLayout): Promise<number | undefined> {
  if (!node.vm) return undefined;
  const pid = await readPid(node.vm.pidFile);
  return pid !== undefined && (await isOurs(pid, node.vm.qmpSocket)) ? pid : undefined;
}

/** Resident memory of a process, in KiB (VmRSS). */
export async function rssKiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

async function ensureTap(run: HostRunner, tap: string, net: LabNetwork): Promise<void> {
  if (!(await linkExists(run, tap))) await run.run(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await run.run(['ip', 'link', 'set', tap, 'master', net.bridge, 'up']);
}

/** Write the node's config share (keys, sshd, LVM, init) and its sparse PV disk. */
export async function prepareVmNode(run: HostRunner, lab: LabLayout, node: NodeLayout, hostPublicKey: string): Promise<void> {
  const vm = node.vm!;
  await mkdir(vm.configDir, { recursive: true, mode: 0o700 });
  const files = renderVmNodeFiles(lab, node, {
    hostPrivateKey: await readFile(node.hostKeyFile, 'utf8'),
    hostPublicKey: hostPublicKey + '\n',
    authorizedKeys: await readFile(lab.authorizedKeysFile, 'utf8'),
  });
  for (const [name, f] of Object.entries(files)) await writeFile(join(vm.configDir, name), f.content, { mode: f.mode });
  if (!(await exists(vm.diskFile))) {
    const fh = await open(vm.diskFile, 'w', 0o600);
    await fh.truncate(lab.pvSizeGiB * 1024 ** 3);
    await fh.close();
  }
  await ensureTap(run, node.mgmtVeth, lab.mgmt);
  await ensureTap(run, node.replVeth, lab.repl);
}

/** Start the node's QEMU unless it runs. Returns its pid. Does not wait for the guest. */
export async function startVm(run: HostRunner, node: NodeLayout, boot: VmBoot, log: Logger): Promise<number> {
  const running = await vmPid(node);
  if (running !== undefined) return running;
  await rm(node.vm!.qmpSocket, { force: true });
  await writeFile(node.vm!.serialLog, `--- gantry lab: boot ${new Date().toISOString()} ---\n`, { flag: 'a' });
  await run.run(vmNodeArgv(node, boot));
  const pid = await vmPid(node);
  if (pid === undefined) throw new ExecError('LAB_VM_FAILED', `QEMU for ${node.name} exited right after starting; see ${node.vm!.serialLog}`, { node: node.name });
  log.info({ node: node.name, pid }, 'VM node started');
  return pid;
}

/** Wait until the node's sshd accepts connections; fails with the serial log's tail. */
export async function waitForVmSshd(node: NodeLayout, timeoutMs = VM_BOOT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await waitForPort(node.address, 22, Math.min(2000, deadline - Date.now()))) return;
    if ((await vmPid(node)) === undefined) break;
  }
  const tail = (await readFile(node.vm!.serialLog, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
  throw new ExecError('LAB_VM_BOOT_FAILED', `VM node ${node.name} did not answer on ${node.address}:22 (QEMU ${(await vmPid(node)) === undefined ? 'exited' : 'still running'}). Serial log tail:\n${tail}`, { node: node.name });
}

/**
 * Power a VM node off: QMP `quit` (the process ends at once, like pulling the plug),
 * then by pid if it lingers. Returns the pid it stopped.
 */
export async function stopVm(node: NodeLayout, log: Logger): Promise<number | undefined> {
  const pid = await vmPid(node);
  if (pid === undefined) return undefined;
  try {
    await qmpCommand(node.vm!.qmpSocket, 'quit', undefined, 5000);
    for (let i = 0; i < 60 && (await vmPid(node)) !== undefined; i++) await sleep(50);
  } catch (err) {
    log.warn({ node: node.name, err: (err as Error).message }, 'QMP quit failed; stopping QEMU by pid');
  }
  if ((await vmPid(node)) !== undefined) await stopPid(pid, log, `QEMU ${node.name}`);
  log.info({ node: node.name, pid }, 'VM node powered off');
  return pid;
}
