/**
 * Columns of `gantry list`, named like the gnt-* list fields (gnt-instance list -o
 * name,pnode,snodes,...), computed from the desired state.
 */
import type { DesiredGroup, DesiredInstance, DesiredNetwork, DesiredNode, DesiredState } from '../desired/model.js';

export interface Column<T> {
  readonly title: string;
  readonly doc: string;
  readonly get: (item: T, state: DesiredState) => unknown;
}

export interface ListSpec<T> {
  readonly items: (s: DesiredState) => T[];
  readonly columns: Readonly<Record<string, Column<T>>>;
  readonly defaults: readonly string[];
}

const list = (v: readonly unknown[]) => v.join(',');

const instanceColumns: Record<string, Column<DesiredInstance>> = {
  name: { title: 'Instance', doc: 'instance name', get: (i) => i.name },
  hypervisor: { title: 'Hypervisor', doc: 'hypervisor', get: (i) => i.hypervisor },
  os: { title: 'OS', doc: 'OS (provider+variant)', get: (i) => i.os.name },
  pnode: { title: 'Primary_node', doc: 'primary node (empty: chosen by the allocator)', get: (i) => i.placement.primary ?? '' },
  snodes: { title: 'Secondary_Nodes', doc: 'secondary node (drbd)', get: (i) => i.placement.secondary ?? '' },
  pgroup: { title: 'PrimaryGroup', doc: 'node group (placement.group or the primary\'s)', get: (i) => i.placement.group ?? '' },
  status: { title: 'Status', doc: 'desired status: running, ADMIN_down, or absent (to be removed)', get: (i) => (i.state === 'absent' ? 'absent' : i.powerState === 'running' ? 'running' : 'ADMIN_down') },
  admin_state: { title: 'InstanceState', doc: 'desired admin state: up or down', get: (i) => (i.powerState === 'running' ? 'up' : 'down') },
  'be/memory': { title: 'ConfigMaxMem', doc: 'memory, MiB', get: (i) => i.beParams.memory },
  'be/vcpus': { title: 'ConfigVCPUs', doc: 'virtual CPUs', get: (i) => i.beParams.vcpus },
  'be/auto_balance': { title: 'Auto_balance', doc: 'counted for N+1', get: (i) => i.beParams.autoBalance },
  disk_template: { title: 'Disk_template', doc: 'instance disk template', get: (i) => i.diskTemplate },
  'disk.count': { title: 'Disks', doc: 'number of disks', get: (i) => i.disks.filter((d) => d.state === 'present').length },
  'disk.sizes': { title: 'Disk_sizes', doc: 'disk sizes, MiB', get: (i) => list(i.disks.filter((d) => d.state === 'present').map((d) => d.size)) },
  'disk.templates': { title: 'Disk_templates', doc: 'per-disk templates', get: (i) => list(i.disks.filter((d) => d.state === 'present').map((d) => d.template)) },
  disk_usage: { title: 'DiskUsage', doc: 'total disk size, MiB', get: (i) => i.disks.filter((d) => d.state === 'present').reduce((n, d) => n + d.size, 0) },
  'nic.count': { title: 'NICs', doc: 'number of NICs', get: (i) => i.nics.length },
  'nic.ips': { title: 'NIC_IPs', doc: 'NIC IPs (pool = to be allocated)', get: (i) => list(i.nics.map((n) => n.ip)) },
  'nic.macs': { title: 'NIC_MACs', doc: 'NIC MACs (auto = to be generated)', get: (i) => list(i.nics.map((n) => n.mac)) },
  'nic.modes': { title: 'NIC_modes', doc: 'NIC modes', get: (i) => list(i.nics.map((n) => n.mode)) },
  'nic.links': { title: 'NIC_links', doc: 'NIC links', get: (i) => list(i.nics.map((n) => n.link ?? '')) },
  'nic.networks': { title: 'NIC_networks', doc: 'NIC networks', get: (i) => list(i.nics.map((n) => n.network ?? '')) },
  tags: { title: 'Tags', doc: 'tags', get: (i) => list(i.tags) },
};

const instancesOf = (s: DesiredState, node: string, role: 'primary' | 'secondary') =>
  [...s.instances.values()].filter((i) => i.placement[role] === node).map((i) => i.name);

const nodeColumns: Record<string, Column<DesiredNode>> = {
  name: { title: 'Node', doc: 'node name', get: (n) => n.name },
  group: { title: 'Group', doc: 'node group', get: (n) => n.group },
  role: { title: 'Role', doc: 'master-candidate, regular, drained or offline', get: (n) => n.role },
  pip: { title: 'PrimaryIP', doc: 'primary address', get: (n) => n.address },
  sip: { title: 'SecondaryIP', doc: 'secondary (replication) address', get: (n) => n.secondaryAddress },
  master_candidate: { title: 'MasterC', doc: 'is a master candidate', get: (n) => n.role === 'master-candidate' },
  drained: { title: 'Drained', doc: 'is drained', get: (n) => n.role === 'drained' },
  offline: { title: 'Offline', doc: 'is offline', get: (n) => n.role === 'offline' },
  mtotal: { title: 'MTotal', doc: 'memory declared for planning, MiB (empty: observed)', get: (n) => n.memory ?? '' },
  ctotal: { title: 'CTotal', doc: 'CPUs declared for planning (empty: observed)', get: (n) => n.cpus ?? '' },
  pinst_cnt: { title: 'Pinst', doc: 'instances pinned here as primary', get: (n, s) => instancesOf(s, n.name, 'primary').length },
  sinst_cnt: { title: 'Sinst', doc: 'instances pinned here as secondary', get: (n, s) => instancesOf(s, n.name, 'secondary').length },
  pinst_list: { title: 'PriInstances', doc: 'instances pinned here as primary', get: (n, s) => list(instancesOf(s, n.name, 'primary')) },
  sinst_list: { title: 'SecInstances', doc: 'instances pinned here as secondary', get: (n, s) => list(instancesOf(s, n.name, 'secondary')) },
  vgs: { title: 'VGs', doc: 'volume groups of the node profile', get: (n) => list(n.profile.volumeGroups.map((v) => v.name)) },
  bridges: { title: 'Bridges', doc: 'bridges and OVS bridges of the node profile', get: (n) => list([...n.profile.bridges, ...n.profile.ovsBridges].map((b) => b.name)) },
  tags: { title: 'Tags', doc: 'tags', get: (n) => list(n.tags) },
};

const networkColumns: Record<string, Column<DesiredNetwork>> = {
  name: { title: 'Network', doc: 'network name', get: (n) => n.name },
  network: { title: 'Subnet', doc: 'IPv4 subnet', get: (n) => n.subnet },
  gateway: { title: 'Gateway', doc: 'IPv4 gateway', get: (n) => n.gateway ?? '' },
  network6: { title: 'IPv6Subnet', doc: 'IPv6 subnet', get: (n) => n.subnet6 ?? '' },
  gateway6: { title: 'IPv6Gateway', doc: 'IPv6 gateway', get: (n) => n.gateway6 ?? '' },
  mac_prefix: { title: 'MacPrefix', doc: 'MAC prefix', get: (n) => n.macPrefix },
  mode: { title: 'Mode', doc: 'NIC mode', get: (n) => n.mode ?? '' },
  link: { title: 'Link', doc: 'bridge / OVS bridge / routing link', get: (n) => n.link ?? '' },
  vlan: { title: 'VLAN', doc: 'access VLAN', get: (n) => n.vlan ?? '' },
  trunks: { title: 'Trunks', doc: 'trunked VLANs', get: (n) => list(n.trunks) },
  reserved: { title: 'Reserved', doc: 'reserved IPs', get: (n) => list(n.reservedIps) },
  group_list: { title: 'GroupList', doc: 'groups the network is connected to', get: (n, s) => list([...s.groups.values()].filter((g) => g.networks.some((c) => c.network === n.name)).map((g) => g.name)) },
  inst_list: { title: 'InstanceList', doc: 'instances with a NIC on it', get: (n, s) => list([...s.instances.values()].filter((i) => i.nics.some((c) => c.network === n.name)).map((i) => i.name)) },
  tags: { title: 'Tags', doc: 'tags', get: (n) => list(n.tags) },
};

const groupColumns: Record<string, Column<DesiredGroup>> = {
  name: { title: 'Group', doc: 'group name', get: (g) => g.name },
  alloc_policy: { title: 'AllocPolicy', doc: 'preferred, last_resort or unallocable', get: (g) => g.allocPolicy },
  node_cnt: { title: 'Nodes', doc: 'number of nodes', get: (g, s) => [...s.nodes.values()].filter((n) => n.group === g.name).length },
  node_list: { title: 'NodeList', doc: 'nodes', get: (g, s) => list([...s.nodes.values()].filter((n) => n.group === g.name).map((n) => n.name)) },
  pinst_cnt: { title: 'Instances', doc: 'instances placed in the group', get: (g, s) => [...s.instances.values()].filter((i) => i.placement.group === g.name).length },
  networks: { title: 'Networks', doc: 'connected networks', get: (g) => list(g.networks.map((c) => c.network)) },
  'hv/cpu_type': { title: 'CpuType', doc: 'effective kvm cpu_type', get: (g) => g.hvParams.kvm.cpuType ?? '' },
  implicit: { title: 'Implicit', doc: 'true for the implied "default" group', get: (g) => g.implicit },
  tags: { title: 'Tags', doc: 'tags', get: (g) => list(g.tags) },
};

export const LISTS = {
  instances: { items: (s: DesiredState) => [...s.instances.values()], columns: instanceColumns, defaults: ['name', 'hypervisor', 'os', 'pnode', 'status', 'be/memory'] } satisfies ListSpec<DesiredInstance>,
  nodes: { items: (s: DesiredState) => [...s.nodes.values()], columns: nodeColumns, defaults: ['name', 'group', 'role', 'pip', 'sip', 'pinst_cnt', 'sinst_cnt'] } satisfies ListSpec<DesiredNode>,
  networks: { items: (s: DesiredState) => [...s.networks.values()], columns: networkColumns, defaults: ['name', 'network', 'gateway', 'mode', 'link', 'vlan', 'mac_prefix', 'group_list'] } satisfies ListSpec<DesiredNetwork>,
  groups: { items: (s: DesiredState) => [...s.groups.values()], columns: groupColumns, defaults: ['name', 'alloc_policy', 'node_cnt', 'pinst_cnt', 'networks'] } satisfies ListSpec<DesiredGroup>,
} as const;

export type ListKind = keyof typeof LISTS;

/** Plain-text table: columns padded, like gnt-* list. */
export function renderTable(headers: readonly string[] | undefined, rows: readonly (readonly string[])[]): string {
  const all = headers ? [headers, ...rows] : rows;
  if (all.length === 0) return '';
  const widths = all[0]!.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join(' ').trimEnd()).join('\n') + '\n';
}
