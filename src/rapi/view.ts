/**
 * The cluster as Ganeti's remote API shows it: pure functions from the desired state and
 * one observation to RAPI v2 objects, with Ganeti's field names and shapes (doc/rapi.rst,
 * lib/rapi/rlib2.py). What cannot be known is null, as Ganeti sends it (an unreachable
 * node's memory, a stopped instance's oper_ram), never a made-up number.
 *
 * Node and instance sizes come from the placement model (src/place) built from the same
 * desired state and observation as `gantry balance --cached`, so htools reading this API
 * (hbal -m, hspace -m) and `gantry balance` see the same cluster and score it the same.
 */
import { crc32 } from 'node:zlib';
import type { DesiredGroup, DesiredInstance, DesiredNetwork, DesiredNode, DesiredState, IPolicyEff, ISpecEff, KvmParams } from '../desired/model.js';
import type { ObservedCluster } from '../core/plan.js';
import type { ObservedInstance } from '../core/observed.js';
import { ALIVE } from '../plan/instance-runtime.js';
import { instanceUuid } from '../plan/from-desired.js';
import { recordedVncDisplay } from '../plan/vnc.js';
import { clusterFromDesired, nodeFactsFromObserved } from '../place/from-desired.js';
import { totalDisk } from '../place/index.js';
import type { PlaceNode } from '../place/types.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type RapiObject = Record<string, Json>;

/** The software version /2/info reports (Ganeti's RAPI v2 as of Ganeti 3.0). */
export const GANETI_COMPAT_VERSION = '3.0.2';

export interface ViewInput {
  readonly state: DesiredState;
  /** The last observation (state directory) or a live one; absent: nothing observed yet. */
  readonly observed?: ObservedCluster;
  /** Seconds since the epoch each manifest file was last modified (ctime/mtime of its resources). */
  readonly fileTimes?: ReadonlyMap<string, number>;
}

const uuidOf = (cluster: string, kind: string, name: string): string => instanceUuid(cluster, `${kind}/${name}`);

/** A serial number that changes when the object changes (a checksum of its content). */
function serialOf(value: unknown): number {
  return crc32(JSON.stringify(value)) >>> 1;
}

const ROLE_LETTER = { 'master-candidate': 'C', regular: 'R', drained: 'D', offline: 'O' } as const;

/**
 * Gantry has no master daemon; htools and clients need one node named master. It is the
 * first master candidate by name, else the first node that is not offline, else the first.
 */
export function masterOf(state: DesiredState): string {
  const nodes = [...state.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (nodes.find((n) => n.role === 'master-candidate') ?? nodes.find((n) => n.role !== 'offline') ?? nodes[0])?.name ?? '';
}

export function ispecJson(s: ISpecEff): RapiObject {
  return { 'memory-size': s.memory, 'cpu-count': s.vcpus, 'disk-size': s.diskSize, 'disk-count': s.diskCount, 'nic-count': s.nicCount, 'spindle-use': s.spindleUse };
}

export function ipolicyJson(p: IPolicyEff): RapiObject {
  return {
    minmax: [{ min: ispecJson(p.minSpec), max: ispecJson(p.maxSpec) }], std: ispecJson(p.stdSpec),
    'disk-templates': [...p.diskTemplates], 'vcpu-ratio': p.vcpuRatio, 'spindle-ratio': p.spindleRatio,
  };
}

/** Gantry's KVM parameters under Ganeti's hvparams names. */
export function hvparamsJson(k: KvmParams): RapiObject {
  return {
    kvm_flag: k.accel === 'kvm' ? 'enabled' : 'disabled', kernel_path: k.kernelPath ?? '', initrd_path: k.initrdPath ?? '', kernel_args: k.kernelArgs,
    root_path: k.rootPath ?? '', boot_order: k.bootOrder, cdrom_image_path: k.cdromImagePath ?? '', machine_version: k.machineType ?? '', cpu_type: k.cpuType ?? '',
    disk_type: k.diskType, disk_cache: k.diskCache, nic_type: k.nicType, serial_console: k.serialConsole, serial_speed: k.serialSpeed ?? null,
    vnc_bind_address: k.vncBindAddress ?? '', usb_mouse: k.usbMouse === 'none' || k.usbMouse === undefined ? '' : k.usbMouse,
    migration_bandwidth: k.migrationBandwidthMiBps, migration_downtime: k.migrationDowntimeMs, reboot_behavior: k.rebootBehavior, use_chroot: k.useChroot,
  };
}

function beparamsJson(b: DesiredInstance['beParams'] | DesiredState['cluster']['beParams']): RapiObject {
  return { vcpus: b.vcpus, maxmem: b.memory, minmem: b.memory, memory: b.memory, spindle_use: b.spindleUse, auto_balance: b.autoBalance, always_failover: false };
}

type Copy = { node: string; vm: ObservedInstance };

/** Every copy of every instance on the nodes observed (reachable now, or their last good snapshot). */
function indexCopies(observed: ObservedCluster | undefined): Map<string, Copy[]> {
  const out = new Map<string, Copy[]>();
  if (!observed) return out;
  const add = (node: string, vms: Readonly<Record<string, ObservedInstance>>) => {
    for (const vm of Object.values(vms)) {
      let l = out.get(vm.name);
      if (!l) out.set(vm.name, (l = []));
      l.push({ node, vm });
    }
  };
  for (const [node, o] of observed.nodes) if (o.reachable) add(node, o.instances);
  for (const [node, o] of observed.lastKnown ?? []) if (!observed.nodes.get(node)?.reachable) add(node, o.instances);
  return out;
}

/** Whether a node's state is unknown now: not observed (unreachable, never seen) or declared offline. */
function nodeDown(node: string, input: ViewInput): boolean {
  if (input.state.nodes.get(node)?.role === 'offline') return true;
  const o = input.observed?.nodes.get(node);
  return o === undefined || !o.reachable;
}

/** Ganeti's instance status: running, ADMIN_down, ERROR_down, ERROR_up, USER_down, ERROR_nodedown, ERROR_wrongnode. */
export function ganetiStatus(inst: DesiredInstance, copy: Copy | undefined, pnode: string, input: ViewInput): string {
  const adminUp = inst.powerState === 'running';
  const running = copy !== undefined && ALIVE.has(copy.vm.runState) && !copy.vm.guestShutdown && copy.vm.runState !== 'shutdown';
  if (pnode !== '' && nodeDown(pnode, input) && !(copy && input.observed?.nodes.get(copy.node)?.reachable)) return 'ERROR_nodedown';
  if (running) {
    if (!adminUp) return 'ERROR_up';
    return inst.placement.primary !== undefined && copy.node !== inst.placement.primary ? 'ERROR_wrongnode' : 'running';
  }
  if (!adminUp) return 'ADMIN_down';
  return copy?.vm.guestShutdown || copy?.vm.runState === 'shutdown' ? 'USER_down' : 'ERROR_down';
}

function nicsOf(inst: DesiredInstance, copy: Copy | undefined): { ip: string | null; mac: string | null }[] {
  const meta = copy?.vm.meta?.nics ?? [];
  return inst.nics.map((n, i) => ({
    ip: meta[i]?.ip ?? (n.ip === 'pool' || n.ip === 'none' ? null : n.ip),
    mac: meta[i]?.mac ?? (n.mac === 'auto' ? null : n.mac),
  }));
}

/** One instance in /2/instances?bulk=1 shape. */
export function instanceJson(inst: DesiredInstance, copies: readonly Copy[], input: ViewInput, diskUsage: number): RapiObject {
  const copy = copies.find((c) => ALIVE.has(c.vm.runState)) ?? copies.find((c) => c.node === inst.placement.primary) ?? copies[0];
  const pnode = copy?.node ?? inst.placement.primary ?? '';
  const running = copy !== undefined && ALIVE.has(copy.vm.runState);
  const nics = nicsOf(inst, copy);
  const disks = inst.disks.filter((d) => d.state === 'present');
  const src = input.state.sources.get(`Instance/${inst.name}`);
  const time = src ? input.fileTimes?.get(src.file) ?? null : null;
  const vnc = copy ? recordedVncDisplay(copy.vm) : undefined;
  return {
    name: inst.name,
    uuid: copy?.vm.meta?.uuid ?? instanceUuid(input.state.cluster.name, inst.name),
    admin_state: inst.powerState === 'running' ? 'up' : 'down',
    admin_state_source: 'admin',
    oper_state: running,
    status: ganetiStatus(inst, copy, pnode, input),
    pnode,
    snodes: inst.needsSecondary && inst.placement.secondary ? [inst.placement.secondary] : [],
    os: inst.os.name,
    hypervisor: 'kvm',
    disk_template: inst.diskTemplate,
    'disk.sizes': disks.map((d) => d.size),
    'disk.spindles': disks.map(() => null),
    'disk.names': disks.map((d) => d.name ?? null),
    disk_usage: diskUsage,
    'nic.ips': nics.map((n) => n.ip),
    'nic.macs': nics.map((n) => n.mac),
    'nic.modes': inst.nics.map((n) => n.mode),
    'nic.links': inst.nics.map((n) => n.link ?? null),
    'nic.bridges': inst.nics.map((n) => (n.mode === 'bridged' ? n.link ?? null : null)),
    'nic.networks': inst.nics.map((n) => n.network ?? null),
    'nic.names': inst.nics.map((n) => n.name ?? null),
    'nic.vlans': inst.nics.map((n) => (n.vlan !== undefined ? `.${n.vlan}` : '')),
    beparams: beparamsJson(inst.beParams),
    hvparams: hvparamsJson(inst.hvParams),
    osparams: { ...inst.os.params },
    oper_ram: running ? copy.vm.memoryMiB ?? null : null,
    oper_vcpus: running ? copy.vm.vcpus ?? null : null,
    network_port: vnc !== undefined ? 5900 + vnc : null,
    tags: [...inst.tags],
    ctime: time,
    mtime: time,
    serial_no: serialOf(inst),
  };
}

function nodeLists(state: DesiredState, instances: readonly RapiObject[]): Map<string, { p: string[]; s: string[] }> {
  const out = new Map<string, { p: string[]; s: string[] }>([...state.nodes.keys()].map((n) => [n, { p: [], s: [] }]));
  for (const i of instances) {
    out.get(i.pnode as string)?.p.push(i.name as string);
    for (const s of i.snodes as string[]) out.get(s)?.s.push(i.name as string);
  }
  return out;
}

/** One node in /2/nodes?bulk=1 shape; sizes from the placement model (null when the node was not observed). */
export function nodeJson(n: DesiredNode, model: PlaceNode | undefined, lists: { p: string[]; s: string[] }, input: ViewInput, master: string): RapiObject {
  const src = input.state.sources.get(`Node/${n.name}`);
  const time = src ? input.fileTimes?.get(src.file) ?? null : null;
  const known = model !== undefined && !nodeDown(n.name, input);
  const v = <T>(x: T): T | null => (known ? x : null);
  return {
    name: n.name,
    uuid: uuidOf(input.state.cluster.name, 'Node', n.name),
    pip: n.address,
    sip: n.secondaryAddress,
    role: n.name === master ? 'M' : ROLE_LETTER[n.role],
    offline: n.role === 'offline',
    drained: n.role === 'drained',
    master_candidate: n.role === 'master-candidate',
    master_capable: n.role === 'master-candidate',
    vm_capable: true,
    group: n.group,
    'group.uuid': uuidOf(input.state.cluster.name, 'NodeGroup', n.group),
    ndparams: { spindle_count: 1, exclusive_storage: false, oob_program: null, ssh_port: n.ssh.port },
    mtotal: v(model?.tMem ?? null), mnode: v(model?.nMem ?? null), mfree: v(model?.fMem ?? null),
    dtotal: v(model?.tDsk ?? null), dfree: v(model?.fDsk ?? null),
    ctotal: v(model?.tCpu ?? null), cnos: v(model?.nCpu ?? null), cnodes: null, csockets: null,
    spfree: v(0), sptotal: v(model?.tSpindles ?? null),
    pinst_cnt: lists.p.length, pinst_list: [...lists.p].sort(), sinst_cnt: lists.s.length, sinst_list: [...lists.s].sort(),
    tags: [...n.tags],
    ctime: time, mtime: time, serial_no: serialOf(n),
  };
}

export function groupJson(g: DesiredGroup, state: DesiredState, fileTimes?: ReadonlyMap<string, number>): RapiObject {
  const nodes = [...state.nodes.values()].filter((n) => n.group === g.name).map((n) => n.name).sort();
  const src = state.sources.get(`NodeGroup/${g.name}`);
  const time = src ? fileTimes?.get(src.file) ?? null : null;
  return {
    name: g.name, uuid: uuidOf(state.cluster.name, 'NodeGroup', g.name), alloc_policy: g.allocPolicy, ipolicy: ipolicyJson(g.ipolicy),
    node_cnt: nodes.length, node_list: nodes, tags: [...g.tags], ndparams: {}, diskparams: {},
    networks: g.networks.map((n) => [n.network, n.mode, n.link ?? ''] as Json),
    ctime: time, mtime: time, serial_no: serialOf(g),
  };
}

/** Addresses in an IPv4 CIDR (without network and broadcast for prefixes under /31). */
function usableCount(cidr: string): number {
  const prefix = Number(cidr.split('/')[1]);
  const size = 2 ** (32 - prefix);
  return prefix >= 31 ? size : size - 2;
}

export function networkJson(net: DesiredNetwork, state: DesiredState, instances: readonly RapiObject[]): RapiObject {
  const users = instances.filter((i) => (i['nic.networks'] as (string | null)[]).includes(net.name)).map((i) => i.name as string).sort();
  const used = instances.reduce((a, i) => a + (i['nic.networks'] as (string | null)[]).filter((n, k) => n === net.name && (i['nic.ips'] as (string | null)[])[k] !== null).length, 0);
  const groups = [...state.groups.values()].filter((g) => g.networks.length === 0 || g.networks.some((c) => c.network === net.name)).map((g) => g.name).sort();
  const reserved = net.reservedIps.length + (net.gateway ? 1 : 0);
  return {
    name: net.name, uuid: uuidOf(state.cluster.name, 'Network', net.name), network: net.subnet, gateway: net.gateway ?? null,
    network6: net.subnet6 ?? null, gateway6: net.gateway6 ?? null, mac_prefix: net.macPrefix,
    free_count: Math.max(0, usableCount(net.subnet) - reserved - used), reserved_count: reserved,
    external_reservations: [...net.reservedIps, ...(net.gateway ? [net.gateway] : [])].join(', '),
    group_list: groups.map((g) => [g, net.mode ?? 'bridged', net.link ?? ''] as Json), group_cnt: groups.length,
    inst_list: users, tags: [...net.tags], serial_no: serialOf(net),
  };
}

export function infoJson(state: DesiredState, master: string): RapiObject {
  const c = state.cluster;
  return {
    name: c.name, uuid: uuidOf(c.name, 'Cluster', c.name), master, software_version: GANETI_COMPAT_VERSION, protocol_version: 3000000, config_version: 3000000,
    os_api_version: 20, export_version: 0, architecture: ['64bit', 'x86_64'], default_hypervisor: 'kvm', enabled_hypervisors: [...c.enabledHypervisors],
    enabled_disk_templates: [...c.enabledDiskTemplates], hvparams: { kvm: hvparamsJson(c.hvParams.kvm) }, beparams: { default: beparamsJson(c.beParams) },
    nicparams: { default: { mode: c.nicParams.mode, link: c.nicParams.link ?? '', ...(c.nicParams.vlan !== undefined ? { vlan: `.${c.nicParams.vlan}` } : {}) } },
    ipolicy: ipolicyJson(c.ipolicy), ndparams: { spindle_count: 1, exclusive_storage: false, oob_program: null }, tags: [...c.tags],
    volume_group_name: c.storage.volumeGroup, file_storage_dir: c.storage.fileStorageDir, shared_file_storage_dir: c.storage.sharedFileStorageDir,
    drbd_usermode_helper: c.drbd.usermodeHelper, mac_prefix: c.macPrefix, candidate_pool_size: [...state.nodes.values()].filter((n) => n.role === 'master-candidate').length,
    maintain_node_health: false, primary_ip_version: 4, ctime: null, mtime: null,
  };
}

/** Everything the read endpoints serve, computed once per snapshot. */
export interface RapiModel {
  readonly info: RapiObject;
  readonly instances: readonly RapiObject[];
  readonly nodes: readonly RapiObject[];
  readonly groups: readonly RapiObject[];
  readonly networks: readonly RapiObject[];
  readonly os: readonly string[];
}

export function buildModel(input: ViewInput): RapiModel {
  const { state } = input;
  const facts = input.observed ? nodeFactsFromObserved(state, input.observed) : {};
  const place = clusterFromDesired(state, facts).cluster;
  const placeNodes = new Map(place.nodes.map((n) => [n.name, n]));
  const copies = indexCopies(input.observed);
  const byName = <T extends { name: string }>(m: ReadonlyMap<string, T>) => [...m.values()].sort((a, b) => a.name.localeCompare(b.name));
  const instances = byName(state.instances).filter((i) => i.state === 'present').map((i) => {
    const sizes = i.disks.filter((d) => d.state === 'present').map((d) => d.size);
    return instanceJson(i, copies.get(i.name) ?? [], input, i.diskTemplate === 'diskless' ? 0 : totalDisk(i.needsSecondary ? 'drbd' : i.diskTemplate, sizes));
  });
  const master = masterOf(state);
  const lists = nodeLists(state, instances);
  return {
    info: infoJson(state, master),
    instances,
    nodes: byName(state.nodes).map((n) => nodeJson(n, placeNodes.get(n.name), lists.get(n.name)!, input, master)),
    groups: byName(state.groups).map((g) => groupJson(g, state, input.fileTimes)),
    networks: byName(state.networks).map((n) => networkJson(n, state, instances)),
    os: [...new Set(byName(state.instances).map((i) => i.os.name))].sort(),
  };
}
