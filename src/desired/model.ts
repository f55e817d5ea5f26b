/**
 * The desired state: every resource of one set of manifests, validated, normalised and
 * filled the way Ganeti fills parameters (cluster -> node group -> instance). Sizes are
 * integer MiB; every default is applied, so consumers (planner, allocator, status)
 * never look at raw manifests or guess a default.
 */
import type { DiskTemplate, NicMode, NodeRole } from '../api/index.js';

export type { DiskTemplate, NicMode, NodeRole };

export interface KvmParams {
  accel: 'kvm' | 'tcg';
  kernelPath?: string;
  initrdPath?: string;
  kernelArgs: string;
  rootPath?: string;
  bootOrder: 'disk' | 'cdrom' | 'network';
  cdromImagePath?: string;
  machineType?: string;
  cpuType?: string;
  diskType: 'paravirtual' | 'ide' | 'scsi';
  diskCache: 'default' | 'none' | 'writethrough' | 'writeback';
  nicType: 'paravirtual' | 'e1000' | 'rtl8139';
  serialConsole: boolean;
  serialSpeed?: number;
  vncBindAddress?: string;
  usbMouse?: 'none' | 'mouse' | 'tablet';
  migrationBandwidthMiBps: number;
  migrationDowntimeMs: number;
  rebootBehavior: 'reboot' | 'exit';
  useChroot: boolean;
}

export interface BeParamsEff {
  vcpus: number;
  /** MiB */
  memory: number;
  autoBalance: boolean;
  spindleUse: number;
}

export interface NicParamsEff {
  mode: NicMode;
  link?: string;
  vlan?: number;
}

export interface DiskParamsEff {
  plain: { vg: string; stripes: number };
  drbd: { vg: string; metaVg: string; metaSize: number; resyncRateKiB: number; protocol: 'A' | 'B' | 'C'; dynamicResync: boolean; diskBarriers: string; pingTimeoutMs?: number };
  file: { dir: string; format: 'raw' | 'qcow2' };
  sharedfile: { dir: string; format: 'raw' | 'qcow2' };
}

export interface MigrationEff {
  mode: 'live' | 'non-live';
  bandwidthMiBps: number;
  downtimeMs: number;
}

/** Instance spec limits; sizes in MiB. */
export interface ISpecEff {
  memory: number;
  vcpus: number;
  diskSize: number;
  diskCount: number;
  nicCount: number;
  spindleUse: number;
}

export interface IPolicyEff {
  minSpec: ISpecEff;
  maxSpec: ISpecEff;
  stdSpec: ISpecEff;
  diskTemplates: DiskTemplate[];
  vcpuRatio: number;
  spindleRatio: number;
}

export interface BridgeEff { name: string; vlanFiltering: boolean; mtu?: number; addresses: string[]; ports: string[] }
export interface OvsPortEff { name: string; tag?: number; trunks: number[]; type: 'system' | 'internal' }
export interface OvsBridgeEff { name: string; datapathType: 'system' | 'netdev'; ports: OvsPortEff[] }
export interface VxlanEff { name: string; vni: number; local?: string; remote?: string; group?: string; dstPort: number; dev?: string; bridge?: string }
export interface VolumeGroupEff { name: string; pvs: string[] }

/** Node profile after merging cluster ⊕ group ⊕ node (lists merged by name, later wins). */
export interface NodeProfileEff {
  bridges: BridgeEff[];
  ovsBridges: OvsBridgeEff[];
  vxlans: VxlanEff[];
  volumeGroups: VolumeGroupEff[];
  /** sysctl key -> value, values as strings. */
  sysctls: Record<string, string>;
}

export interface DesiredCluster {
  name: string;
  enabledHypervisors: 'kvm'[];
  enabledDiskTemplates: DiskTemplate[];
  hvParams: { kvm: KvmParams };
  beParams: BeParamsEff;
  nicParams: NicParamsEff;
  diskParams: DiskParamsEff;
  storage: { volumeGroup: string; fileStorageDir: string; sharedFileStorageDir: string };
  drbd: { portRange: { start: number; end: number }; minorCount: number; usermodeHelper: string };
  migration: MigrationEff;
  ipolicy: IPolicyEff;
  /** Cluster spec.nPlusOne.mode: what the planner does with a manifest move that breaks N+1. */
  nPlusOne: { mode: 'refuse' | 'warn' | 'off' };
  watcher: { restartErrorDown: boolean; maxRestarts: number; backoffSeconds: number; healthySeconds: number };
  autoRepair: { enabled: boolean; failover: boolean; fenceMaxPerGroup: number; maxAttempts: number };
  /** Cluster spec.drain: at most maxParallelMoves instances leave one drained node at a time. */
  drain: { maxParallelMoves: number };
  /** Node liveness grace: nothing follows from an outage shorter than both. */
  liveness: { missedProbes: number; graceSeconds: number };
  orphans: { remove: boolean; maxPercentPerPass: number; graceMinutes: number };
  macPrefix: string;
  /** Directories searched for OS definitions (<dir>/<provider>/create ...). */
  osSearchPath: string[];
  exclusionTags: string[];
  tags: string[];
  nodeProfile: NodeProfileEff;
  /** Sysctl keys and prefixes ("...*") node profiles may set: the built-in list plus spec.nodeSysctlAllow. */
  nodeSysctlAllow: string[];
  /** MiB, undefined = unlimited */
  maxDiskSize?: number;
}

export interface NetworkConnectionEff {
  network: string;
  mode: NicMode;
  link?: string;
  vlan?: number;
}

export interface DesiredGroup {
  name: string;
  /** True when no NodeGroup "default" was written and nodes use it (see README). */
  implicit: boolean;
  allocPolicy: 'preferred' | 'last_resort' | 'unallocable';
  hvParams: { kvm: KvmParams };
  nicParams: NicParamsEff;
  diskParams: DiskParamsEff;
  migration: MigrationEff;
  ipolicy: IPolicyEff;
  /** Empty = every network may be used by its instances. */
  networks: NetworkConnectionEff[];
  nodeProfile: NodeProfileEff;
  tags: string[];
}

export interface DesiredNode {
  name: string;
  group: string;
  address: string;
  secondaryAddress: string;
  role: NodeRole;
  ssh: { host: string; port: number; user: string; hostKey?: string; privateKeyFile?: string };
  ovsdbSocket?: string;
  /** Out-of-band power program (argv; the verb and node name are appended) and its timeout. */
  oob?: { program: string[]; timeoutSeconds: number };
  paths: { runDir: string; fileStorageDir: string; sharedFileStorageDir: string };
  /** MiB, for planning; undefined = use what is observed. */
  memory?: number;
  cpus?: number;
  /** ndParams.exclusiveStorage: the node's, else its group's, else false. */
  exclusiveStorage: boolean;
  /** Spindles (PVs) to plan with on exclusive storage; undefined = observed PV count. */
  spindles?: number;
  /** cluster.nodeProfile ⊕ group.nodeProfile ⊕ node.profile */
  profile: NodeProfileEff;
  tags: string[];
}

export interface DesiredNetwork {
  name: string;
  subnet: string;
  gateway?: string;
  subnet6?: string;
  gateway6?: string;
  mode?: NicMode;
  link?: string;
  vlan?: number;
  trunks: number[];
  macPrefix: string;
  reservedIps: string[];
  tags: string[];
}

export interface DesiredDisk {
  index: number;
  name?: string;
  /** MiB */
  size: number;
  /** effective backend of this disk: disk.template ?? instance.diskTemplate */
  template: DiskTemplate;
  /** plain/drbd: data VG */
  vg?: string;
  /** drbd: metadata VG */
  metaVg?: string;
  /** plain: LV stripes (diskParams.plain.stripes) */
  stripes?: number;
  /** drbd: metadata LV size, MiB */
  metaSize?: number;
  /** drbd: the sync and safety parameters of diskParams.drbd (group over cluster) */
  drbdSync?: { protocol: 'A' | 'B' | 'C'; resyncRateKiB: number; dynamicResync: boolean; diskBarriers: string; pingTimeoutMs?: number };
  /** file/sharedfile: directory the image lives in (file: per node, see DesiredNode.paths) */
  dir?: string;
  format?: 'raw' | 'qcow2';
  mode: 'rw' | 'ro';
  /** Spindles (PVs) the disk uses on an exclusive-storage node (default 1). */
  spindles?: number;
  state: 'present' | 'absent';
}

export interface DesiredNic {
  index: number;
  name?: string;
  network?: string;
  mode: NicMode;
  link?: string;
  vlan?: number;
  trunks: number[];
  /** "pool", "none" or an IPv4 address */
  ip: string;
  /** "auto" or a MAC */
  mac: string;
  macPrefix: string;
  model: 'paravirtual' | 'e1000' | 'rtl8139';
}

export interface DesiredInstance {
  name: string;
  os: { name: string; params: Record<string, string>; generation: number; resetParamsOnReinstall: boolean };
  hypervisor: 'kvm';
  hvParams: KvmParams;
  beParams: BeParamsEff;
  /** the instance-level template (disks may override it, see disks[].template) */
  diskTemplate: DiskTemplate;
  /** true when any present disk is drbd: the instance needs a secondary node */
  needsSecondary: boolean;
  disks: DesiredDisk[];
  nics: DesiredNic[];
  placement: { primary?: string; secondary?: string; group?: string };
  /** group params used for filling: placement.group, else the primary's group */
  migration: MigrationEff;
  ipolicy: IPolicyEff;
  powerState: 'running' | 'stopped';
  /** Instance spec.autoRepair.failover; undefined = the cluster's policy. */
  failover?: boolean;
  /** Instance spec.autoRepair.allowDegradedFailover: a DRBD failover may promote a replica that is not UpToDate. */
  allowDegradedFailover?: boolean;
  /** Instance spec.autoRepair.repair: the most invasive auto-repair allowed (harep's types). */
  repair?: 'fix-storage' | 'migrate' | 'failover' | 'reinstall';
  restartGeneration: number;
  state: 'present' | 'absent';
  deleteDisks: boolean;
  /** spec.renamedFrom: the previous name its objects on the nodes may still carry. */
  renamedFrom?: string;
  tags: string[];
  /** tags matching the cluster's exclusionTags prefixes */
  exclusionTags: string[];
}

export interface SourceRef {
  file: string;
  line: number;
}

export interface DesiredState {
  cluster: DesiredCluster;
  groups: Map<string, DesiredGroup>;
  nodes: Map<string, DesiredNode>;
  networks: Map<string, DesiredNetwork>;
  instances: Map<string, DesiredInstance>;
  /** "Kind/name" -> where it was declared */
  sources: Map<string, SourceRef>;
}
