/**
 * Parameter blocks shared by Cluster, NodeGroup and Instance, named after Ganeti's
 * hvparams (-H kvm:...), beparams (-B), nicparams (-N), diskparams (-D) and ipolicy.
 * Every field is optional here: src/desired fills them cluster -> group -> instance.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  AbsPath, IfName, Ipv4, LvmName, Printable, Size, StrEnum, Strict, Vlan, IpCidr, Port,
  StringMap, IntOrString, MESSAGE_KEY,
} from './common.js';

export const HYPERVISORS = ['kvm'] as const;
export const DISK_TEMPLATES = ['plain', 'drbd', 'file', 'sharedfile', 'diskless'] as const;
export type DiskTemplate = (typeof DISK_TEMPLATES)[number];
export const NIC_MODES = ['bridged', 'routed', 'openvswitch'] as const;
export type NicMode = (typeof NIC_MODES)[number];
export const DiskTemplateSchema = StrEnum(DISK_TEMPLATES, 'disk template, as gnt-instance add -t');

/** KVM hypervisor parameters (gnt-cluster init -H kvm:kernel_path=...,...). */
export const KvmHvParams = Type.Object(
  {
    accel: Type.Optional(StrEnum(['kvm', 'tcg'] as const, 'QEMU accelerator (default kvm; the lab uses tcg)')),
    kernelPath: Type.Optional(AbsPath('kernel_path: boot this kernel directly (empty: boot from disk)')),
    initrdPath: Type.Optional(AbsPath('initrd_path')),
    kernelArgs: Type.Optional(Printable('kernel_args (default "ro")')),
    rootPath: Type.Optional(AbsPath('root_path: with kernelPath, root=PATH on the kernel command line (default: none, the kernel or initrd decides)')),
    bootOrder: Type.Optional(StrEnum(['disk', 'cdrom', 'network'] as const, 'boot_order (default disk)')),
    cdromImagePath: Type.Optional(AbsPath('cdrom_image_path: an ISO image on the node, attached read-only as an IDE CD-ROM (needed by bootOrder: cdrom)')),
    machineType: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$', [MESSAGE_KEY]: 'is not a QEMU machine type (A-Z a-z 0-9 _ . -, not starting with "." or "-")', description: 'machine_type (QEMU -machine; default: QEMU default)' })),
    cpuType: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.,=+-]{0,127}$', [MESSAGE_KEY]: 'is not a QEMU CPU model (A-Z a-z 0-9 _ . , = + -, not starting with "-")', description: 'cpu_type (QEMU -cpu)' })),
    diskType: Type.Optional(StrEnum(['paravirtual', 'ide', 'scsi'] as const, 'disk_type (default paravirtual)')),
    diskCache: Type.Optional(StrEnum(['default', 'none', 'writethrough', 'writeback'] as const, 'disk_cache (default none: O_DIRECT, safe for live migration; "default" leaves QEMU\'s own default, writeback)')),
    nicType: Type.Optional(StrEnum(['paravirtual', 'e1000', 'rtl8139'] as const, 'nic_type (default paravirtual)')),
    serialConsole: Type.Optional(Type.Boolean({ description: 'serial_console: with kernelPath, console=ttyS0 on the kernel command line (default true; the serial port, its socket and log are always there, so false needs kernelPath)' })),
    serialSpeed: Type.Optional(Type.Integer({ minimum: 1200, maximum: 921600, description: 'serial_speed: with kernelPath and serialConsole, console=ttyS0,SPEED on the kernel command line (default: none given, the kernel\'s)' })),
    vncBindAddress: Type.Optional(Ipv4('vnc_bind_address (unset: no VNC)')),
    usbMouse: Type.Optional(StrEnum(['none', 'mouse', 'tablet'] as const, 'usb_mouse: a USB mouse or tablet (absolute pointer, for VNC) on a USB controller (default none)')),
    migrationBandwidthMiBps: Type.Optional(Type.Integer({ minimum: 1, description: 'migration_bandwidth in MiB/s (default 32)' })),
    migrationDowntimeMs: Type.Optional(Type.Integer({ minimum: 1, description: 'migration_downtime in ms (default 30)' })),
    rebootBehavior: Type.Optional(StrEnum(['reboot', 'exit'] as const, 'reboot_behavior: exit = a guest reboot stops the VM (QEMU -no-reboot; Ganeti then reports it down) (default reboot)')),
    useChroot: Type.Optional(Type.Boolean({ description: 'use_chroot: QEMU chroots into an empty directory of its run directory once started (-chroot), as Ganeti does' })),
  },
  { ...Strict, description: 'KVM hypervisor parameters (Ganeti -H kvm:...)' },
);
export type KvmHvParams = Static<typeof KvmHvParams>;

export const HvParams = Type.Object({ kvm: Type.Optional(KvmHvParams) }, { ...Strict, description: 'hypervisor parameters per hypervisor' });
export type HvParams = Static<typeof HvParams>;

/** Backend parameters (gnt-cluster init -B vcpus=2,memory=512M). */
export const BeParams = Type.Object(
  {
    vcpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, description: 'virtual CPUs (default 1)' })),
    memory: Type.Optional(Size('memory (default 128M)')),
    autoBalance: Type.Optional(Type.Boolean({ description: 'auto_balance: count this instance in N+1 (default true)' })),
    spindleUse: Type.Optional(Type.Integer({ minimum: 0, description: 'spindle_use (default 1)' })),
  },
  { ...Strict, description: 'backend parameters (Ganeti -B)' },
);
export type BeParams = Static<typeof BeParams>;

/** NIC parameters (gnt-cluster init -N mode=bridged,link=br113). */
export const NicParams = Type.Object(
  {
    mode: Type.Optional(StrEnum(NIC_MODES, 'NIC mode (default bridged)')),
    link: Type.Optional(IfName('bridge, OVS bridge or routing table link')),
    vlan: Type.Optional(Vlan('access VLAN (openvswitch mode)')),
  },
  { ...Strict, description: 'NIC parameters (Ganeti -N)' },
);
export type NicParams = Static<typeof NicParams>;

/** Disk parameters per template (gnt-cluster init -D drbd:metavg=...). */
export const DiskParams = Type.Object(
  {
    plain: Type.Optional(Type.Object({
      vg: Type.Optional(LvmName('volume group for plain LVs (default: storage.volumeGroup)')),
      stripes: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: 'stripes of new plain LVs (lvcreate -i N over N PVs of the VG; default 1). Applies when an LV is created; an existing LV keeps its stripes (the plan notes a difference)' })),
    }, Strict)),
    drbd: Type.Optional(Type.Object({
      vg: Type.Optional(LvmName('volume group for DRBD data LVs (default: storage.volumeGroup)')),
      metaVg: Type.Optional(LvmName('volume group for DRBD metadata LVs (default: the data VG)')),
      metaSize: Type.Optional(Size('metadata LV size (default 128M)')),
      resyncRateKiB: Type.Optional(Type.Integer({ minimum: 1, description: 'resync-rate in KiB/s (default 61440)' })),
      protocol: Type.Optional(StrEnum(['A', 'B', 'C'] as const, 'DRBD replication protocol (default C)')),
      dynamicResync: Type.Optional(Type.Boolean({ description: 'dynamic-resync (default false)' })),
      diskBarriers: Type.Optional(Type.String({ pattern: '^(n|[bfd]{1,3})$', description: 'disk-barriers (default n)' })),
      pingTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30000, multipleOf: 100, description: 'net ping-timeout in ms, a multiple of 100 (DRBD counts tenths of a second; default: DRBD\'s own, 500): how long a peer may take to answer a ping before the link is dropped. Raise it for slow or loaded nodes: a link dropped while both sides are Primary (a live migration) is a split brain. Applies when a resource connects (drbd.up); an existing connection keeps its value' })),
    }, Strict)),
    file: Type.Optional(Type.Object({
      dir: Type.Optional(AbsPath('directory for file disks (default: storage.fileStorageDir)')),
      format: Type.Optional(StrEnum(['raw', 'qcow2'] as const, 'image format (default raw)')),
    }, Strict)),
    sharedfile: Type.Optional(Type.Object({
      dir: Type.Optional(AbsPath('directory for sharedfile disks, on storage all nodes see (default: storage.sharedFileStorageDir)')),
      format: Type.Optional(StrEnum(['raw', 'qcow2'] as const, 'image format (default raw)')),
    }, Strict)),
  },
  { ...Strict, description: 'disk parameters per template (Ganeti -D)' },
);
export type DiskParams = Static<typeof DiskParams>;

export const Migration = Type.Object(
  {
    mode: Type.Optional(StrEnum(['live', 'non-live'] as const, 'migration_mode (default live)')),
    bandwidthMiBps: Type.Optional(Type.Integer({ minimum: 1, description: 'MiB/s (default 32)' })),
    downtimeMs: Type.Optional(Type.Integer({ minimum: 1, description: 'max downtime in ms (default 30)' })),
  },
  { ...Strict, description: 'live migration settings' },
);
export type Migration = Static<typeof Migration>;

export const ISpec = Type.Object(
  {
    memory: Type.Optional(Size('memory size')),
    vcpus: Type.Optional(Type.Integer({ minimum: 1 })),
    diskSize: Type.Optional(Size('disk size')),
    diskCount: Type.Optional(Type.Integer({ minimum: 0 })),
    nicCount: Type.Optional(Type.Integer({ minimum: 0 })),
    spindleUse: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { ...Strict, description: 'instance spec (ipolicy min/max/std)' },
);
export type ISpec = Static<typeof ISpec>;

export const IPolicy = Type.Object(
  {
    minSpec: Type.Optional(ISpec),
    maxSpec: Type.Optional(ISpec),
    stdSpec: Type.Optional(ISpec),
    diskTemplates: Type.Optional(Type.Array(DiskTemplateSchema, { description: 'disk templates the policy allows (default: all enabled)' })),
    vcpuRatio: Type.Optional(Type.Number({ minimum: 0, description: 'max virtual/physical CPU ratio (default 4)' })),
    spindleRatio: Type.Optional(Type.Number({ minimum: 0, description: 'max instances per spindle (default 32)' })),
  },
  { ...Strict, description: 'instance policy (gnt-cluster modify --ipolicy-...)' },
);
export type IPolicy = Static<typeof IPolicy>;

// ---- node profile: what a node must have (formerly puppet's job) ----

export const BridgeSpec = Type.Object({
  name: IfName('bridge name'),
  vlanFiltering: Type.Optional(Type.Boolean({ description: 'vlan_filtering (default false)' })),
  mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65535 })),
  addresses: Type.Optional(Type.Array(IpCidr('IPv4 or IPv6 address/prefix to put on the bridge (e.g. a routed network\'s gateway)'))),
  ports: Type.Optional(Type.Array(IfName('enslaved interface'))),
}, Strict);

export const OvsPortSpec = Type.Object({
  name: IfName('port name'),
  tag: Type.Optional(Vlan('access VLAN')),
  trunks: Type.Optional(Type.Array(Vlan('trunked VLAN'))),
  type: Type.Optional(StrEnum(['system', 'internal'] as const, 'port type (default system)')),
}, Strict);

export const OvsBridgeSpec = Type.Object({
  name: IfName('OVS bridge name'),
  datapathType: Type.Optional(StrEnum(['system', 'netdev'] as const, 'datapath_type (default system; the lab uses netdev)')),
  ports: Type.Optional(Type.Array(OvsPortSpec)),
}, Strict);

export const VxlanSpec = Type.Object({
  name: IfName('vxlan interface name'),
  vni: Type.Integer({ minimum: 0, maximum: 16777215 }),
  local: Type.Optional(Ipv4('local tunnel address')),
  remote: Type.Optional(Ipv4('remote tunnel address (unicast)')),
  group: Type.Optional(Ipv4('multicast group')),
  dstPort: Type.Optional(Port('UDP port (default 4789)')),
  dev: Type.Optional(IfName('underlay device')),
  bridge: Type.Optional(IfName('bridge to enslave the vxlan to')),
}, Strict);

export const VolumeGroupSpec = Type.Object({
  name: LvmName('volume group name'),
  pvs: Type.Array(AbsPath('physical volume (block device path)'), { minItems: 1 }),
}, Strict);

export const NodeProfile = Type.Object(
  {
    bridges: Type.Optional(Type.Array(BridgeSpec)),
    ovsBridges: Type.Optional(Type.Array(OvsBridgeSpec)),
    vxlans: Type.Optional(Type.Array(VxlanSpec)),
    volumeGroups: Type.Optional(Type.Array(VolumeGroupSpec)),
    sysctls: Type.Optional(StringMap(IntOrString('sysctl value'), 'sysctl key -> value (keys like net.ipv4.ip_forward)')),
  },
  { ...Strict, description: 'what a node must have: bridges, OVS bridges, VXLANs, volume groups, sysctls (lists merge by name: cluster, then group, then node)' },
);
export type NodeProfile = Static<typeof NodeProfile>;

/** Node parameters (gnt-group/gnt-node --node-parameters); the node's value overrides its group's. */
export const NdParams = Type.Object({
  exclusiveStorage: Type.Optional(Type.Boolean({ description: 'exclusive_storage: each instance disk gets physical volumes of its own (spindles), and placement counts spindles like Ganeti\'s dedicated allocation (default false)' })),
}, { ...Strict, description: 'node parameters (ndparams)' });
