/**
 * The per-node services of the lab: sshd (in its own UTS namespace for the hostname),
 * Open vSwitch (userspace datapath) and a loop-device volume group. Each `ensure` is
 * idempotent: it checks what runs or exists and only makes what is missing.
 */
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { renderLvmConf, renderSshdConfig, sshdLaunchArgv, type LabLayout, type NodeLayout } from './config.js';
import { childrenOf, exists, isOurs, readPid, sleep, stopPid, stopPidFile, waitForPort, type HostRunner } from './host.js';

const SSHD = '/usr/sbin/sshd';
const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

export async function ensureKey(run: HostRunner, file: string, comment: string): Promise<string> {
  if (!(await exists(file))) await run.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return (await readFile(`${file}.pub`, 'utf8')).trim();
}

/** "type base64" without the comment: the form pinned in Node manifests. */
export function publicKeyOnly(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ');
}

// ---- sshd ---------------------------------------------------------------------------

export async function sshdPid(node: NodeLayout): Promise<number | undefined> {
  const pid = await readPid(node.sshdPidFile);
  return pid !== undefined && (await isOurs(pid, node.sshdConfig)) ? pid : undefined;
}

export async function ensureSshd(run: HostRunner, lab: LabLayout, node: NodeLayout, log: Logger): Promise<number> {
  const config = renderSshdConfig(node, lab.authorizedKeysFile);
  const old = await readFile(node.sshdConfig, 'utf8').catch(() => '');
  let pid = await sshdPid(node);
  if (old !== config) {
    await writeFile(node.sshdConfig, config, { mode: 0o600 });
    if (pid !== undefined) {
      log.info({ node: node.name }, 'sshd config changed; restarting sshd');
      await stopSshd(node, log);
      pid = undefined;
    }
  }
  if (pid !== undefined) return pid;
  // sshd re-execs itself per connection and needs its privilege separation directory.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  // Own hostname and own /root (sshdLaunchArgv); sshd holds those namespaces for every
  // session it serves. sshd daemonizes, writes its PidFile and closes our pipes.
  await run.run(sshdLaunchArgv(node, SSHD), { netns: node.namespace });
  const up = await waitForPort(node.address, 22, 10_000);
  // sshd listens before it daemonizes and writes its PidFile: wait for both.
  const started = up ? await waitForSshdPid(node, 5_000) : undefined;
  if (!up || started === undefined) {
    const tail = (await readFile(node.sshdLog, 'utf8').catch(() => '')).split('\n').slice(-5).join('\n');
    throw new ExecError('LAB_SSHD_FAILED', `sshd for ${node.name} did not start listening on ${node.address}:22. Log tail:\n${tail}`, { node: node.name });
  }
  log.debug({ node: node.name, pid: started }, 'sshd started');
  return started;
}

async function waitForSshdPid(node: NodeLayout, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = await sshdPid(node);
    if (pid !== undefined || Date.now() >= deadline) return pid;
    await sleep(50);
  }
}

/**
 * Stop the node's sshd and the session processes it forked (its direct children, found
 * by parent PID), so open connections drop as they would if the node died.
 */
export async function stopSshd(node: NodeLayout, log: Logger): Promise<number | undefined> {
  const pid = await sshdPid(node);
  if (pid === undefined) return undefined;
  for (const child of await childrenOf(pid)) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await stopPid(pid, log, `sshd ${node.name}`);
  return pid;
}

// ---- Open vSwitch -------------------------------------------------------------------

function ovsEnv(node: NodeLayout): Record<string, string> {
  return { OVS_RUNDIR: node.ovsDir, OVS_DBDIR: node.ovsDir, OVS_LOGDIR: node.ovsDir };
}

export async function ovsPids(node: NodeLayout): Promise<{ ovsdbServer?: number; ovsVswitchd?: number }> {
  const db = await readPid(node.ovsdbPidFile);
  const sw = await readPid(node.vswitchdPidFile);
  return {
    ...(db !== undefined && (await isOurs(db, node.ovsdbPidFile)) ? { ovsdbServer: db } : {}),
    ...(sw !== undefined && (await isOurs(sw, node.vswitchdPidFile)) ? { ovsVswitchd: sw } : {}),
  };
}

export async function ensureOvs(run: HostRunner, node: NodeLayout): Promise<{ ovsdbServer: number; ovsVswitchd: number }> {
  await mkdir(node.ovsDir, { recursive: true });
  const env = ovsEnv(node);
  const ns = { netns: node.namespace, env };
  let pids = await ovsPids(node);
  if (pids.ovsdbServer === undefined) {
    if (!(await exists(node.ovsDb))) await run.run(['ovsdb-tool', 'create', node.ovsDb, OVS_SCHEMA], { env });
    await run.run(
      [
        'ovsdb-server', node.ovsDb, `--remote=punix:${node.ovsdbSocket}`, `--pidfile=${node.ovsdbPidFile}`,
        `--unixctl=${node.ovsdbCtl}`, `--log-file=${join(node.ovsDir, 'ovsdb-server.log')}`, '-vconsole:off', '--detach', '--no-chdir',
      ],
      ns,
    );
    await run.run(['ovs-vsctl', `--db=unix:${node.ovsdbSocket}`, '--no-wait', 'init'], { env });
  }
  if (pids.ovsVswitchd === undefined) {
    await run.run(
      [
        'ovs-vswitchd', `unix:${node.ovsdbSocket}`, `--pidfile=${node.vswitchdPidFile}`, `--unixctl=${node.vswitchdCtl}`,
        `--log-file=${join(node.ovsDir, 'ovs-vswitchd.log')}`, '-vconsole:off', '--detach', '--no-chdir',
      ],
      ns,
    );
  }
  pids = await ovsPids(node);
  if (pids.ovsdbServer === undefined || pids.ovsVswitchd === undefined) {
    throw new ExecError('LAB_OVS_FAILED', `Open vSwitch for ${node.name} did not stay up; see ${node.ovsDir}/*.log`, { node: node.name });
  }
  return { ovsdbServer: pids.ovsdbServer, ovsVswitchd: pids.ovsVswitchd };
}

export async function stopOvs(node: NodeLayout, log: Logger): Promise<number[]> {
  const stopped: number[] = [];
  const sw = await stopPidFile(node.vswitchdPidFile, node.vswitchdPidFile, log, `ovs-vswitchd ${node.name}`);
  if (sw !== undefined) stopped.push(sw);
  const db = await stopPidFile(node.ovsdbPidFile, node.ovsdbPidFile, log, `ovsdb-server ${node.name}`);
  if (db !== undefined) stopped.push(db);
  return stopped;
}

// ---- loop device + volume group -------------------------------------------------------

interface LoopInfo {
  name: string;
  'back-file': string | null;
}

/** The loop device backed by `file`, if attached. */
export async function findLoop(run: HostRunner, file: string): Promise<string | undefined> {
  const r = await run.run(['losetup', '--list', '--json'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  const devices = (JSON.parse(r.stdout) as { loopdevices: LoopInfo[] }).loopdevices;
  // losetup appends " (deleted)" when the backing file was removed.
  return devices.find((d) => d['back-file'] === file || d['back-file'] === `${file} (deleted)`)?.name;
}

export function lvmEnv(node: NodeLayout): Record<string, string> {
  return { LVM_SYSTEM_DIR: node.lvmSystemDir, LVM_SUPPRESS_FD_WARNINGS: '1' };
}

export async function vgInfo(run: HostRunner, node: NodeLayout): Promise<{ name: string; sizeBytes: number; freeBytes: number } | undefined> {
  const r = await run.run(['vgs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'vg_name,vg_size,vg_free'], {
    env: lvmEnv(node),
    allowFail: true,
  });
  if (r.code !== 0) return undefined;
  const vgs = (JSON.parse(r.stdout) as { report: { vg: { vg_name: string; vg_size: string; vg_free: string }[] }[] }).report[0]?.vg ?? [];
  const vg = vgs.find((v) => v.vg_name === node.vgName);
  return vg ? { name: vg.vg_name, sizeBytes: Number(vg.vg_size), freeBytes: Number(vg.vg_free) } : undefined;
}

/** Runs one function at a time, in call order. */
export type Serializer = <T>(fn: () => Promise<T>) => Promise<T>;

export function serializer(): Serializer {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
}

const pvFilesOf = (node: NodeLayout): string[] => [node.pvFile, ...(node.extraPvFiles ?? [])];

/**
 * `serial` orders the loop attaches of nodes brought up in parallel (losetup --find races).
 * Returns the node's loop devices: the first PV, then those of extraPvFiles.
 */
export async function ensureVolumeGroup(run: HostRunner, node: NodeLayout, sizeGiB: number, serial: Serializer): Promise<string[]> {
  for (const sub of ['lock', 'backup', 'archive']) await mkdir(join(node.lvmSystemDir, sub), { recursive: true });
  const loops: string[] = [];
  for (const file of pvFilesOf(node)) {
    if (!(await exists(file))) {
      // A sparse file: LVM only ever writes metadata here.
      const fh = await open(file, 'w', 0o600);
      await fh.truncate(sizeGiB * 1024 ** 3);
      await fh.close();
    }
    loops.push(await serial(async () => (await findLoop(run, file)) ?? (await run.run(['losetup', '--find', '--show', file])).stdout.trim()));
  }
  await writeFile(join(node.lvmSystemDir, 'lvm.conf'), renderLvmConf(node, loops));
  if (!(await vgInfo(run, node))) {
    const env = lvmEnv(node);
    for (const loop of loops) {
      const pv = await run.run(['pvs', '--noheadings', '-o', 'pv_name', loop], { env, allowFail: true });
      if (pv.code !== 0) await run.run(['pvcreate', '-q', loop], { env });
    }
    await run.run(['vgcreate', '-q', node.vgName, ...loops], { env });
  }
  return loops;
}

/** Detach the node's loop devices (only those backed by our files); the VG goes with them. */
export async function removeVolumeGroup(run: HostRunner, node: NodeLayout): Promise<string[]> {
  const loops: string[] = [];
  for (const file of pvFilesOf(node)) {
    const loop = await findLoop(run, file);
    if (loop) loops.push(loop);
  }
  if (loops.length === 0) return [];
  await run.run(['vgremove', '-q', '-f', node.vgName], { env: lvmEnv(node), allowFail: true });
  for (const loop of loops) await run.run(['losetup', '-d', loop]);
  return loops;
}
