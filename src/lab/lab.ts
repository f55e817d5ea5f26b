/**
 * The one-machine lab: `labUp` builds N namespaced nodes (sshd, OVS, a loop VG each) and
 * records everything it made in <stateDir>/lab.json; `labDown` removes exactly what the
 * record names; `labStatus` reports what is really running.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ExecError, PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { DEFAULT_PREFIX, defaultStateDir, layoutLab, type LabLayout, type LabLayoutOptions, type LabNodeKind, type NodeLayout } from './config.js';
import { HostRunner, exists, stopPid, waitForPort } from './host.js';
import type { VmBoot } from './vm/argv.js';
import { bootFiles, removeVmNode, upVmNode } from './vm/lab-vm.js';
import { rssKiB, vmPid } from './vm/vmnode.js';
import { renderNodeManifests } from './manifests.js';
import { ensureBridge, ensureNodeNetwork, linkExists, listNamespaces, namespacePids, removeLink, subnetUsers } from './network.js';
import { ensurePackages } from './packages.js';
import {
  ensureKey, ensureOvs, ensureSshd, ensureVolumeGroup, findLoop, ovsPids, publicKeyOnly, removeVolumeGroup, serializer, sshdPid, stopOvs, stopSshd, vgInfo, type Serializer,
} from './services.js';

export interface LabUpOptions extends LabLayoutOptions {
  /** VM nodes: kernel to boot (default the newest /boot/vmlinuz-*-amd64). */
  vmKernelPath?: string;
  logger: Logger;
  /** Write nodes.yaml here. */
  manifestsDir?: string;
  /** Node group written into the manifests. */
  group?: string;
  /** apt-get install missing Debian packages (default true). */
  installMissing?: boolean;
}

export interface LabRef {
  logger: Logger;
  prefix?: string;
  stateDir?: string;
}

export interface LabNode {
  name: string;
  kind: LabNodeKind;
  /** Namespace nodes only; '' for a VM node. */
  namespace: string;
  role: 'master-candidate' | 'regular';
  group: string;
  address: string;
  secondaryAddress: string;
  ssh: { host: string; port: number; user: string; hostKey: string; privateKeyFile: string };
  ovsdbSocket: string;
  vgName: string;
  /** LVM_SYSTEM_DIR that makes lvm commands see this node's VG (sshd sets it for sessions); VM nodes: /etc/lvm. */
  lvmSystemDir: string;
  /** The PV: a loop device (namespace node) or the VM's virtio disk (/dev/vda). */
  loopDevice: string;
  /** More PVs of the VG (lab option pvsPerNode): loop devices. */
  extraLoopDevices?: string[];
  /** Host processes of the node: sshd and OVS (namespace node) or QEMU (VM node). */
  pids: { sshd?: number; ovsdbServer?: number; ovsVswitchd?: number; qemu?: number };
  /** VM nodes: where to look on the host. */
  vm?: { serialLog: string; qmpSocket: string; diskFile: string; memoryMiB: number };
}

export interface LabRecord {
  version: 1;
  prefix: string;
  stateDir: string;
  updatedAt: string;
  layout: LabLayout;
  bridges: string[];
  nodes: LabNode[];
  /** Kernel and initramfs the VM nodes boot (power on boots them again). */
  vmBoot?: VmBoot;
}

export interface LabUpResult {
  record: LabRecord;
  nodes: LabNode[];
  manifestFile?: string;
  sharedDir: string;
  clientKeyFile: string;
}

export interface LabNodeStatus {
  name: string;
  kind: LabNodeKind;
  namespace: string;
  address: string;
  namespaceExists: boolean;
  sshdUp: boolean;
  ovsUp: boolean;
  vg?: { name: string; sizeBytes: number; freeBytes: number };
  pids: { sshd?: number; ovsdbServer?: number; ovsVswitchd?: number; qemu?: number };
  /** VM nodes: resident memory of the QEMU process. */
  rssKiB?: number;
}

export interface LabStatus {
  prefix: string;
  stateDir: string;
  recorded: boolean;
  nodes: LabNodeStatus[];
}

export interface LabDownResult {
  namespaces: string[];
  links: string[];
  loopDevices: string[];
  pids: number[];
  /** Whether the state dir itself went (it stays when it holds files the lab did not make). */
  stateDirRemoved: boolean;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new PrereqError('LAB_NEEDS_ROOT', 'the lab creates namespaces, bridges and loop devices: run it as root');
}

function recordFileOf(ref: { prefix?: string; stateDir?: string }): string {
  return join(ref.stateDir ?? defaultStateDir(ref.prefix ?? DEFAULT_PREFIX), 'lab.json');
}

export async function readLabRecord(ref: { prefix?: string; stateDir?: string }): Promise<LabRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordFileOf(ref), 'utf8')) as LabRecord;
  } catch {
    return undefined;
  }
}

export async function saveRecord(record: LabRecord): Promise<void> {
  record.updatedAt = new Date().toISOString();
  const file = join(record.stateDir, 'lab.json');
  await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

export async function labUp(opts: LabUpOptions): Promise<LabUpResult> {
  requireRoot();
  const log = opts.logger.child({ component: 'lab' });
  const layout = layoutLab(opts);
  const run = new HostRunner(log);
  const started = Date.now();
  await ensurePackages(run, log, opts.installMissing ?? true);

  const prev = await readLabRecord(layout);
  await refuseForeignObjects(run, layout, prev);

  await mkdir(layout.stateDir, { recursive: true, mode: 0o755 });
  await mkdir(layout.sharedDir, { recursive: true, mode: 0o755 });

  // Fewer nodes than last time: remove the surplus ones, exactly as down would.
  // A node whose kind changed (namespace <-> VM) is removed and made again.
  const keep = new Set(layout.nodes.map((n) => `${n.name}:${n.kind}`));
  const keyOf = (n: { name: string; kind?: LabNodeKind }) => `${n.name}:${n.kind ?? 'netns'}`;
  const surplus = prev?.layout.nodes.filter((n) => !keep.has(keyOf(n))) ?? [];
  for (const node of surplus) {
    const failures = await removeNode(run, node, log, emptyDown());
    if (failures.length) throw new ExecError('LAB_DOWN_INCOMPLETE', `could not remove surplus node ${node.name}:\n${failures.join('\n')}`, { failures });
  }

  // Record before creating, so a failed `up` can still be taken down.
  const record: LabRecord = {
    version: 1,
    prefix: layout.prefix,
    stateDir: layout.stateDir,
    updatedAt: '',
    layout,
    bridges: [layout.mgmt.bridge, layout.repl.bridge],
    nodes: prev?.nodes.filter((n) => keep.has(keyOf(n))) ?? [],
  };
  await saveRecord(record);

  const clientKey = await ensureKey(run, layout.clientKeyFile, 'gantry-lab');
  await writeFile(layout.authorizedKeysFile, clientKey + '\n', { mode: 0o600 });
  await ensureBridge(run, layout.mgmt);
  await ensureBridge(run, layout.repl);

  const group = opts.group ?? 'default';
  const serial = serializer();
  const boot = layout.nodes.some((n) => n.kind === 'vm') ? bootFiles(layout, opts.vmKernelPath, log) : undefined;
  if (boot) {
    record.vmBoot = boot;
    await saveRecord(record);
  }
  const nodes = await Promise.all(
    layout.nodes.map((node) => (node.kind === 'vm' ? upVmNode(run, layout, node, group, boot!, log) : upNode(run, layout, node, group, log, serial))),
  );
  record.nodes = nodes;
  await saveRecord(record);

  let manifestFile: string | undefined;
  if (opts.manifestsDir) {
    await mkdir(opts.manifestsDir, { recursive: true });
    manifestFile = join(opts.manifestsDir, 'nodes.yaml');
    await writeFile(
      manifestFile,
      renderNodeManifests(nodes.map((n) => ({
        ...n, hostKey: n.ssh.hostKey, privateKeyFile: n.ssh.privateKeyFile, nodeDir: layout.nodes.find((l) => l.name === n.name)!.dir,
        oobProgram: labOobProgram(layout.prefix, layout.stateDir),
      }))),
    );
  }
  log.info({ nodes: nodes.length, stateDir: layout.stateDir, ms: Date.now() - started }, 'lab is up');
  return { record, nodes, sharedDir: layout.sharedDir, clientKeyFile: layout.clientKeyFile, ...(manifestFile ? { manifestFile } : {}) };
}

async function upNode(run: HostRunner, layout: LabLayout, node: NodeLayout, group: string, log: Logger, serial: Serializer): Promise<LabNode> {
  await mkdir(node.dir, { recursive: true, mode: 0o700 });
  // The node's file storage root (manifests.ts): Gantry refuses a missing one, never creates it.
  await mkdir(`${node.dir}/file-storage`, { recursive: true, mode: 0o755 });
  const hostKey = publicKeyOnly(await ensureKey(run, node.hostKeyFile, node.name));
  await ensureNodeNetwork(run, node, layout.mgmt, layout.repl);
  const [[loopDevice, ...extraLoopDevices], ovs] = await Promise.all([ensureVolumeGroup(run, node, layout.pvSizeGiB, serial), ensureOvs(run, node)]);
  const sshd = await ensureSshd(run, layout, node, log);
  return {
    name: node.name,
    kind: 'netns',
    namespace: node.namespace,
    role: node.index === 1 ? 'master-candidate' : 'regular',
    group,
    address: node.address,
    secondaryAddress: node.secondaryAddress,
    ssh: { host: node.address, port: 22, user: 'root', hostKey, privateKeyFile: layout.clientKeyFile },
    ovsdbSocket: node.ovsdbSocket,
    vgName: node.vgName,
    lvmSystemDir: node.lvmSystemDir,
    loopDevice: loopDevice!,
    ...(extraLoopDevices.length > 0 ? { extraLoopDevices } : {}),
    pids: { sshd, ...ovs },
  };
}

/** Names we are about to use must be ours (in the record) or free. */
async function refuseForeignObjects(run: HostRunner, layout: LabLayout, prev: LabRecord | undefined): Promise<void> {
  const ours = new Set([...(prev?.bridges ?? []), ...(prev?.layout.nodes.flatMap((n) => [n.namespace, n.mgmtVeth, n.replVeth]) ?? [])]);
  const namespaces = await listNamespaces(run);
  for (const node of layout.nodes) {
    if (namespaces.includes(node.namespace) && !ours.has(node.namespace)) {
      throw new PrereqError('LAB_NAME_IN_USE', `network namespace ${node.namespace} exists but is not in ${layout.recordFile}; remove it or choose another --prefix`);
    }
  }
  for (const net of [layout.mgmt, layout.repl]) {
    if ((await linkExists(run, net.bridge)) && !ours.has(net.bridge)) {
      throw new PrereqError('LAB_NAME_IN_USE', `interface ${net.bridge} exists but is not in ${layout.recordFile}; choose another --prefix`);
    }
    const users = await subnetUsers(run, net.base, net.bridge);
    if (users.length) {
      throw new PrereqError('LAB_SUBNET_IN_USE', `${net.base}.0/24 is already used by ${users.join(', ')}; choose another subnet`, { users });
    }
  }
}

function emptyDown(): LabDownResult {
  return { namespaces: [], links: [], loopDevices: [], pids: [], stateDirRemoved: false };
}

/**
 * Remove one node: its processes, namespace, veths and loop device. Idempotent; every
 * step is tried even when an earlier one failed, and the failures are returned.
 */
async function removeNode(run: HostRunner, node: NodeLayout, log: Logger, out: LabDownResult): Promise<string[]> {
  if (node.kind === 'vm') return removeVmNode(run, node, log, out);
  const failures: string[] = [];
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      failures.push(`${node.name}: ${what}: ${(err as Error).message}`);
    }
  };
  await step('stop sshd', async () => {
    const sshd = await stopSshd(node, log);
    if (sshd !== undefined) out.pids.push(sshd);
  });
  await step('stop Open vSwitch', async () => {
    out.pids.push(...(await stopOvs(node, log)));
  });
  await step('delete namespace', async () => {
    if (!(await listNamespaces(run)).includes(node.namespace)) return;
    // Whatever still runs inside the namespace was started in the lab (a QEMU, a session):
    // it would keep the namespace and its veths alive after `ip netns del`.
    for (const pid of await namespacePids(run, node.namespace)) {
      log.info({ node: node.name, pid }, 'stopping a process left in the lab namespace');
      await stopPid(pid, log, `pid ${pid} in ${node.namespace}`);
      out.pids.push(pid);
    }
    await run.run(['ip', 'netns', 'del', node.namespace]);
    out.namespaces.push(node.namespace);
  });
  for (const link of [node.mgmtVeth, node.replVeth]) {
    await step(`delete ${link}`, async () => {
      if (await removeLink(run, link)) out.links.push(link);
    });
  }
  await step('detach loop device', async () => {
    out.loopDevices.push(...(await removeVolumeGroup(run, node)));
  });
  if (failures.length === 0) await rm(node.dir, { recursive: true, force: true });
  return failures;
}

export async function labDown(ref: LabRef): Promise<LabDownResult> {
  requireRoot();
  const log = ref.logger.child({ component: 'lab' });
  const out = emptyDown();
  const record = await readLabRecord(ref);
  if (!record) {
    log.info({ recordFile: recordFileOf(ref) }, 'no lab recorded; nothing to remove');
    return out;
  }
  const run = new HostRunner(log);
  const failures = (await Promise.all(record.layout.nodes.map((node) => removeNode(run, node, log, out)))).flat();
  for (const bridge of record.bridges) {
    try {
      if (await removeLink(run, bridge)) out.links.push(bridge);
    } catch (err) {
      failures.push(`bridge ${bridge}: ${(err as Error).message}`);
    }
  }
  if (failures.length) {
    // Keep the record so that running `down` again retries what is left.
    throw new ExecError('LAB_DOWN_INCOMPLETE', `lab down left things behind:\n${failures.join('\n')}`, { failures });
  }
  // Only the files the lab made: the state dir may also hold other people's things
  // (guest images, OS trees), which stay, and so does the dir itself then.
  const layout = record.layout;
  for (const file of [layout.sharedDir, join(layout.stateDir, 'vm'), layout.clientKeyFile, `${layout.clientKeyFile}.pub`, layout.authorizedKeysFile, layout.recordFile]) {
    await rm(file, { recursive: true, force: true });
  }
  out.stateDirRemoved = await rmdir(record.stateDir).then(
    () => true,
    () => false,
  );
  log.info({ namespaces: out.namespaces.length, links: out.links.length, loops: out.loopDevices.length, pids: out.pids.length }, 'lab is down');
  return out;
}

export async function labStatus(ref: LabRef): Promise<LabStatus> {
  const prefix = ref.prefix ?? DEFAULT_PREFIX;
  const stateDir = ref.stateDir ?? defaultStateDir(prefix);
  const record = await readLabRecord(ref);
  if (!record) return { prefix, stateDir, recorded: false, nodes: [] };
  const run = new HostRunner(ref.logger.child({ component: 'lab' }));
  const namespaces = await listNamespaces(run);
  const nodes = await Promise.all(record.layout.nodes.map((node) => (node.kind === 'vm' ? vmNodeStatus(node) : netnsNodeStatus(run, node, namespaces))));
  return { prefix: record.prefix, stateDir: record.stateDir, recorded: true, nodes };
}

async function netnsNodeStatus(run: HostRunner, node: NodeLayout, namespaces: string[]): Promise<LabNodeStatus> {
  const sshd = await sshdPid(node);
  const ovs = await ovsPids(node);
  const vg = (await findLoop(run, node.pvFile)) && (await exists(join(node.lvmSystemDir, 'lvm.conf'))) ? await vgInfo(run, node) : undefined;
  return {
    name: node.name,
    kind: 'netns',
    namespace: node.namespace,
    address: node.address,
    namespaceExists: namespaces.includes(node.namespace),
    sshdUp: sshd !== undefined,
    ovsUp: ovs.ovsdbServer !== undefined && ovs.ovsVswitchd !== undefined,
    ...(vg ? { vg } : {}),
    pids: { ...(sshd !== undefined ? { sshd } : {}), ...ovs },
  };
}

/** A VM node from the host: its QEMU by pid file, its sshd by a TCP connect. */
async function vmNodeStatus(node: NodeLayout): Promise<LabNodeStatus> {
  const qemu = await vmPid(node);
  const rss = qemu !== undefined ? await rssKiB(qemu) : undefined;
  return {
    name: node.name,
    kind: 'vm',
    namespace: '',
    address: node.address,
    namespaceExists: false,
    sshdUp: qemu !== undefined && (await waitForPort(node.address, 22, 1000)),
    ovsUp: false,
    pids: qemu !== undefined ? { qemu } : {},
    ...(rss !== undefined ? { rssKiB: rss } : {}),
  };
}

export async function recordedNode(ref: LabRef, name: string): Promise<{ record: LabRecord; node: NodeLayout }> {
  const record = await readLabRecord(ref);
  const node = record?.layout.nodes.find((n) => n.name === name);
  if (!record || !node) throw new PrereqError('LAB_NO_SUCH_NODE', `no lab node ${name} recorded in ${recordFileOf(ref)}`);
  return { record, node };
}

/** Simulate a dead node: stop its sshd (by PID) and drop the sessions it serves. */
export async function labStopNode(ref: LabRef, name: string): Promise<number | undefined> {
  requireRoot();
  const { node } = await recordedNode(ref, name);
  return stopSshd(node, ref.logger.child({ component: 'lab' }));
}

/** Bring a stopped node's sshd back. Returns its new PID. */
export async function labStartNode(ref: LabRef, name: string): Promise<number> {
  requireRoot();
  const { record, node } = await recordedNode(ref, name);
  const log = ref.logger.child({ component: 'lab' });
  const pid = await ensureSshd(new HostRunner(log), record.layout, node, log);
  const entry = record.nodes.find((n) => n.name === name);
  if (entry) {
    entry.pids.sshd = pid;
    await saveRecord(record);
  }
  return pid;
}

/**
 * The lab's out-of-band program for its Node manifests: `gantry lab power` of this lab
 * (Gantry appends the verb and the node name, Ganeti's OOB protocol). The gantry entry
 * point is found from this module, whether it runs from src/ or from the dist/ bundle.
 */
export function labOobProgram(prefix: string, stateDir: string): string[] {
  const bin = ['../../bin/gantry.js', '../bin/gantry.js'].map((rel) => fileURLToPath(new URL(rel, import.meta.url))).find((f) => existsSync(f));
  if (!bin) throw new PrereqError('LAB_NO_GANTRY_BIN', `bin/gantry.js not found near ${fileURLToPath(import.meta.url)}: cannot name the lab's out-of-band program`);
  return [process.execPath, bin, 'lab', 'power', '--prefix', prefix, '--state-dir', stateDir];
}
