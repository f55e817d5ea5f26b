/**
 * The lab's layout, computed up front from the options: every name, address and path a
 * lab node gets. Pure, so `up`, `down` and `status` agree on what belongs to the lab.
 *
 * Volume groups: every node gets a VG named `gantry` (like a real cluster, where the VG
 * name is the same on all nodes). All namespaces share /dev and /etc/lvm, so each node
 * has its own LVM config directory (LVM_SYSTEM_DIR, set for ssh sessions by sshd) whose
 * device filter accepts only that node's loop device, with activation = 0 (no
 * device-mapper here) and its own lock, backup and archive directories. A command run
 * outside ssh must set LVM_SYSTEM_DIR=<lvmSystemDir> to see the node's VG.
 *
 * VM nodes (`vmNodes`) follow the namespace nodes in numbering (node M+1 ... M+N): each
 * is a QEMU VM (see vm/) on taps named like the veths, with its own kernel, so its LVM
 * needs none of the above (real activation through dm-mod on its virtio disk).
 */
import { join } from 'node:path';
import { PrereqError } from '../util/errors.js';

export interface LabLayoutOptions {
  /** Namespace nodes (node1..nodeM). */
  nodes: number;
  /** VM nodes, numbered after the namespace nodes. */
  vmNodes?: number;
  /** Memory of each VM node. */
  vmMemoryMiB?: number;
  /** Prefix of every kernel object name (namespaces, bridges, veths): 2-8 of [a-z0-9]. */
  prefix?: string;
  /** Pid files, keys, configs, loop files and the record; default /var/lib/<prefix>-lab. */
  stateDir?: string;
  /** Management network, a /24 inside 198.18.0.0/15; the host takes .1, node i takes .(10+i). */
  mgmtSubnet?: string;
  /** Replication (secondary) network, same rules. */
  replSubnet?: string;
  vgName?: string;
  /** Size of each node's sparse loop file. */
  pvSizeGiB?: number;
  /** Physical volumes (sparse loop files) in each namespace node's VG, default 1 (exclusive storage labs want several). */
  pvsPerNode?: number;
}

export interface LabNetwork {
  bridge: string;
  /** Address of the host on the bridge, with prefix length. */
  hostCidr: string;
  /** The first three octets. */
  base: string;
}

export type LabNodeKind = 'netns' | 'vm';

/** What a VM node adds: files of its QEMU process and the guest's hardware. */
export interface VmNodeLayout {
  pidFile: string;
  qmpSocket: string;
  serialLog: string;
  /** Sparse raw file: the node's virtio disk, its LVM PV (/dev/vda in the guest). */
  diskFile: string;
  /** Shared read-only with the guest over 9p: host key, sshd and LVM config, stage-2 init. */
  configDir: string;
  mgmtMac: string;
  replMac: string;
  memoryMiB: number;
}

export interface NodeLayout {
  name: string;
  index: number;
  kind: LabNodeKind;
  /** Namespace nodes: the network namespace (VM nodes have none; the name is reserved). */
  namespace: string;
  dir: string;
  /** Host ends of the veth pairs (VM nodes: the taps); inside, eth0 (mgmt) and eth1 (repl). */
  mgmtVeth: string;
  replVeth: string;
  address: string;
  secondaryAddress: string;
  hostKeyFile: string;
  sshdConfig: string;
  sshdPidFile: string;
  sshdLog: string;
  ovsDir: string;
  ovsDb: string;
  ovsdbSocket: string;
  ovsdbPidFile: string;
  ovsdbCtl: string;
  vswitchdPidFile: string;
  vswitchdCtl: string;
  lvmSystemDir: string;
  pvFile: string;
  /** More PVs of the node's VG (lab option pvsPerNode), each a sparse loop file like pvFile. */
  extraPvFiles?: string[];
  vgName: string;
  vm?: VmNodeLayout;
}

export interface LabLayout {
  prefix: string;
  stateDir: string;
  sharedDir: string;
  recordFile: string;
  clientKeyFile: string;
  authorizedKeysFile: string;
  pvSizeGiB: number;
  mgmt: LabNetwork;
  repl: LabNetwork;
  nodes: NodeLayout[];
}

export const DEFAULT_PREFIX = 'gantry';
export const NODE_MGMT_IF = 'eth0';
export const NODE_REPL_IF = 'eth1';
export const DEFAULT_VM_MEMORY_MIB = 1024;
const MAX_NODES = 200;
/** sun_path is 108 bytes including the NUL. */
const MAX_SOCKET_PATH = 107;

export function defaultStateDir(prefix: string): string {
  return `/var/lib/${prefix}-lab`;
}

export function layoutLab(opts: LabLayoutOptions): LabLayout {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  if (!/^[a-z][a-z0-9]{1,7}$/.test(prefix)) {
    throw new PrereqError('LAB_BAD_PREFIX', `lab prefix ${JSON.stringify(prefix)} must be 2-8 of [a-z0-9], starting with a letter (interface names are limited to 15 characters)`);
  }
  const vmNodes = opts.vmNodes ?? 0;
  if (!Number.isInteger(opts.nodes) || opts.nodes < 0 || !Number.isInteger(vmNodes) || vmNodes < 0 || opts.nodes + vmNodes < 1 || opts.nodes + vmNodes > MAX_NODES) {
    throw new PrereqError('LAB_BAD_NODE_COUNT', `--nodes plus --vm-nodes must be integers adding up to 1 to ${MAX_NODES}`);
  }
  const vmMemoryMiB = opts.vmMemoryMiB ?? DEFAULT_VM_MEMORY_MIB;
  if (!Number.isInteger(vmMemoryMiB) || vmMemoryMiB < 256 || vmMemoryMiB > 16384) {
    throw new PrereqError('LAB_BAD_VM_MEMORY', '--vm-memory must be an integer from 256 to 16384 (MiB)');
  }
  const stateDir = opts.stateDir ?? defaultStateDir(prefix);
  const mgmt = network(`${prefix}-mgmt`, opts.mgmtSubnet ?? '198.18.0.0/24');
  const repl = network(`${prefix}-repl`, opts.replSubnet ?? '198.19.0.0/24');
  if (mgmt.base === repl.base) throw new PrereqError('LAB_BAD_SUBNET', 'management and replication subnets must differ');
  const vgName = opts.vgName ?? 'gantry';
  const pvsPerNode = opts.pvsPerNode ?? 1;
  if (!Number.isInteger(pvsPerNode) || pvsPerNode < 1 || pvsPerNode > 16) throw new PrereqError('LAB_BAD_PV_COUNT', '--pvs-per-node must be an integer from 1 to 16');
  const nodes: NodeLayout[] = [];
  for (let index = 1; index <= opts.nodes + vmNodes; index++) {
    const name = `node${index}`;
    const dir = join(stateDir, name);
    const ovsDir = join(dir, 'ovs');
    const kind: LabNodeKind = index > opts.nodes ? 'vm' : 'netns';
    const node: NodeLayout = {
      name,
      index,
      kind,
      namespace: `${prefix}-${name}`,
      dir,
      mgmtVeth: `${prefix}-${index}m`,
      replVeth: `${prefix}-${index}r`,
      address: `${mgmt.base}.${10 + index}`,
      secondaryAddress: `${repl.base}.${10 + index}`,
      hostKeyFile: join(dir, 'ssh_host_ed25519_key'),
      sshdConfig: join(dir, 'sshd_config'),
      sshdPidFile: join(dir, 'sshd.pid'),
      sshdLog: join(dir, 'sshd.log'),
      ovsDir,
      ovsDb: join(ovsDir, 'conf.db'),
      ovsdbSocket: join(ovsDir, 'db.sock'),
      ovsdbPidFile: join(ovsDir, 'ovsdb-server.pid'),
      ovsdbCtl: join(ovsDir, 'ovsdb-server.ctl'),
      vswitchdPidFile: join(ovsDir, 'ovs-vswitchd.pid'),
      vswitchdCtl: join(ovsDir, 'ovs-vswitchd.ctl'),
      lvmSystemDir: join(dir, 'lvm'),
      pvFile: join(dir, 'pv.img'),
      ...(pvsPerNode > 1 && kind === 'netns' ? { extraPvFiles: Array.from({ length: pvsPerNode - 1 }, (_, i) => join(dir, `pv${i + 1}.img`)) } : {}),
      vgName,
      ...(kind === 'vm' ? { vm: vmLayout(prefix, dir, index, vmMemoryMiB) } : {}),
    };
    for (const sock of [node.ovsdbSocket, node.ovsdbCtl, node.vswitchdCtl, ...(node.vm ? [node.vm.qmpSocket] : [])]) {
      if (sock.length > MAX_SOCKET_PATH) throw new PrereqError('LAB_PATH_TOO_LONG', `unix socket path ${sock} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter --state-dir`);
    }
    nodes.push(node);
  }
  return {
    prefix,
    stateDir,
    sharedDir: join(stateDir, 'shared'),
    recordFile: join(stateDir, 'lab.json'),
    clientKeyFile: join(stateDir, 'id_ed25519'),
    authorizedKeysFile: join(stateDir, 'authorized_keys'),
    pvSizeGiB: opts.pvSizeGiB ?? 10,
    mgmt,
    repl,
    nodes,
  };
}

/**
 * Locally administered unicast MACs, unique per lab prefix, node and leg:
 * 52:54:<prefix hash>:<index>:<1 mgmt | 2 repl>.
 */
export function vmNodeMac(prefix: string, index: number, leg: 'mgmt' | 'repl'): string {
  let h = 0;
  for (const c of prefix) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return ['52', '54', hex((h >>> 8) & 0xff), hex(h & 0xff), hex(index & 0xff), leg === 'mgmt' ? '01' : '02'].join(':');
}

function vmLayout(prefix: string, dir: string, index: number, memoryMiB: number): VmNodeLayout {
  return {
    pidFile: join(dir, 'qemu.pid'),
    qmpSocket: join(dir, 'qmp.sock'),
    serialLog: join(dir, 'serial.log'),
    diskFile: join(dir, 'disk.img'),
    configDir: join(dir, 'vmcfg'),
    mgmtMac: vmNodeMac(prefix, index, 'mgmt'),
    replMac: vmNodeMac(prefix, index, 'repl'),
    memoryMiB,
  };
}

function network(bridge: string, subnet: string): LabNetwork {
  const m = /^198\.(18|19)\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!m || Number(m[2]) > 255) {
    throw new PrereqError('LAB_BAD_SUBNET', `lab subnet ${subnet} must be a /24 inside 198.18.0.0/15, written like 198.18.0.0/24`);
  }
  const base = `198.${m[1]}.${m[2]}`;
  return { bridge, hostCidr: `${base}.1/24`, base };
}

/** sshd config for one node: its own host key, pid file and listen address; root by key only. */
/**
 * How a namespace node's sshd is started (inside its netns): `unshare --uts` gives the node
 * its own hostname, and `--mount` its own empty /root (tmpfs), as VM nodes have. Every
 * session is `bash -c` as root, and bash run by sshd sources ~/.bashrc: the host's dotfiles
 * (a pyenv init here) would cost each command ~0.8 s and are no part of a node. The mount
 * stays in sshd's namespace (`--propagation unchanged` keeps the host's later mounts
 * visible to it, as `ip netns exec` set them up).
 */
export function sshdLaunchArgv(node: NodeLayout, sshd: string): string[] {
  return [
    'unshare', '--uts', '--mount', '--propagation', 'unchanged', 'sh', '-c',
    'mount -t tmpfs -o mode=0700 gantry-node-root /root && hostname "$1" && exec "$2" -f "$3" -E "$4"',
    'sh', node.name, sshd, node.sshdConfig, node.sshdLog,
  ];
}

export function renderSshdConfig(node: NodeLayout, authorizedKeysFile: string): string {
  return [
    `# Gantry lab node ${node.name}: generated by "gantry lab up"; do not edit.`,
    `ListenAddress ${node.address}:22`,
    `HostKey ${node.hostKeyFile}`,
    `PidFile ${node.sshdPidFile}`,
    `AuthorizedKeysFile ${authorizedKeysFile}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // The state dir may live under a world-writable parent (tests use /tmp).
    'StrictModes no',
    'MaxSessions 10',
    'MaxStartups 50:30:100',
    'PrintMotd no',
    'X11Forwarding no',
    'UseDNS no',
    'ClientAliveInterval 15',
    // Sessions find this node's OVS and LVM without flags.
    `SetEnv OVS_RUNDIR=${node.ovsDir} OVS_DBDIR=${node.ovsDir} OVS_LOGDIR=${node.ovsDir} LVM_SYSTEM_DIR=${node.lvmSystemDir} LVM_SUPPRESS_FD_WARNINGS=1`,
    '',
  ].join('\n');
}

/** lvm.conf for one node: sees only its own loop device(s); metadata only (activation = 0). */
export function renderLvmConf(node: NodeLayout, loopDevices: string | readonly string[]): string {
  const devs = (typeof loopDevices === 'string' ? [loopDevices] : loopDevices).map((d) => d.replace(/[|\\"]/g, ''));
  const accept = devs.map((d) => `"a|^${d}$|", `).join('');
  return [
    `# Gantry lab node ${node.name}: LVM sees only ${devs.join(' ')}; no device-mapper on this kernel.`,
    'devices {',
    `  filter = [ ${accept}"r|.*|" ]`,
    `  global_filter = [ ${accept}"r|.*|" ]`,
    '  use_devicesfile = 0',
    '  obtain_device_list_from_udev = 0',
    '}',
    'global {',
    '  activation = 0',
    '  event_activation = 0',
    `  locking_dir = "${join(node.lvmSystemDir, 'lock')}"`,
    '}',
    'activation {',
    '  udev_sync = 0',
    '  udev_rules = 0',
    '  monitoring = 0',
    '}',
    'backup {',
    `  backup_dir = "${join(node.lvmSystemDir, 'backup')}"`,
    `  archive_dir = "${join(node.lvmSystemDir, 'archive')}"`,
    '}',
    '',
  ].join('\n');
}
