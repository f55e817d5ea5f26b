import { Type, type Static } from '@sinclair/typebox';
import { Hostname, IfName, IntOrString, LvmName, MAC_RE, MESSAGE_KEY, OS_NAME_RE, Size, StrEnum, StringMap, Strict, Tags, Vlan } from './common.js';
import { BeParams, DiskTemplateSchema, HYPERVISORS, KvmHvParams, NIC_MODES } from './params.js';

const IP_RE = '^(pool|none|((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))$';

export const DiskSpec = Type.Object({
  name: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$', description: 'disk name, unique in the instance: given to the OS scripts as DISK_N_NAME' })),
  size: Size('disk size (-s / --disk N:size=)'),
  template: Type.Optional(DiskTemplateSchema),
  vg: Type.Optional(LvmName('volume group (--disk N:vg=)')),
  metaVg: Type.Optional(LvmName('DRBD metadata volume group (--disk N:metavg=)')),
  spindles: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, description: 'physical volumes (spindles) this disk takes on a node with exclusive storage (--disk N:spindles=): required when the instance may be placed on such a node; the LV is created on that many empty PVs of its own, striped over them; ignored elsewhere' })),
  mode: Type.Optional(StrEnum(['rw', 'ro'] as const, 'access mode: ro attaches the disk read-only to the VM (QEMU readonly=on; not with diskType ide) and gives the OS scripts DISK_N_ACCESS=ro (default rw)')),
  state: Type.Optional(StrEnum(['present', 'absent'] as const, 'absent = explicitly delete this disk (default present)')),
}, { ...Strict, description: 'one disk; template overrides the instance diskTemplate for this disk' });
export type DiskSpec = Static<typeof DiskSpec>;

export const NicSpec = Type.Object({
  name: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$', description: 'NIC name, unique in the instance: given to the OS scripts as NIC_N_NAME' })),
  network: Type.Optional(Hostname('Network name')),
  mode: Type.Optional(StrEnum(NIC_MODES)),
  link: Type.Optional(IfName('bridge / OVS bridge / routing link')),
  vlan: Type.Optional(Vlan()),
  ip: Type.Optional(Type.String({ pattern: IP_RE, [MESSAGE_KEY]: 'is not "pool", "none" or an IPv4 address', description: '"pool" (allocate from the network), "none", or an IPv4 address (default: pool with a network, none without)' })),
  mac: Type.Optional(Type.String({ pattern: `^(auto|${MAC_RE.slice(1, -1)})$`, [MESSAGE_KEY]: 'is not "auto" or a lowercase MAC address', description: '"auto" (generate) or a MAC (default auto)' })),
  model: Type.Optional(StrEnum(['paravirtual', 'e1000', 'rtl8139'] as const, 'NIC model (default: hvParams.nicType)')),
}, { ...Strict, description: 'one NIC (--net N:network=...,ip=pool)' });
export type NicSpec = Static<typeof NicSpec>;

/** Instance: gnt-instance add/modify, declaratively. */
export const InstanceSpec = Type.Object(
  {
    os: Type.Object({
      name: Type.String({ pattern: OS_NAME_RE, [MESSAGE_KEY]: 'is not an OS name (provider+variant, like image+debian)', description: 'OS (-o), e.g. image+debian, debootstrap+default' }),
      params: Type.Optional(StringMap(IntOrString('value'), 'OS parameters (-O key=value)')),
      generation: Type.Optional(Type.Integer({ minimum: 1, description: 'bump to reinstall (default 1)' })),
      resetParamsOnReinstall: Type.Optional(Type.Boolean({ description: 'not supported (refused when set): every install runs with exactly the manifest\'s params' })),
    }, Strict),
    hypervisor: Type.Optional(StrEnum(HYPERVISORS, 'hypervisor (default kvm)')),
    hvParams: Type.Optional(KvmHvParams),
    beParams: Type.Optional(BeParams),
    diskTemplate: Type.Optional(DiskTemplateSchema),
    disks: Type.Optional(Type.Array(DiskSpec, { maxItems: 16 })),
    nics: Type.Optional(Type.Array(NicSpec, { maxItems: 8 })),
    placement: Type.Optional(Type.Object({
      primary: Type.Optional(Hostname('primary node (-n); set it to the secondary to migrate')),
      secondary: Type.Optional(Hostname('secondary node for DRBD (-n primary:secondary)')),
      group: Type.Optional(Hostname('node group (--iallocator picks a node in it)')),
    }, { ...Strict, description: 'all optional: the allocator fills in the rest' })),
    powerState: Type.Optional(StrEnum(['running', 'stopped'] as const, 'default running')),
    restartGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'bump to power-cycle the VM (default 0)' })),
    state: Type.Optional(StrEnum(['present', 'absent'] as const, 'absent deletes the VM (default present)')),
    deleteDisks: Type.Optional(Type.Boolean({ description: 'with state: absent, also delete its disks (default false)' })),
    renamedFrom: Type.Optional(Hostname('the name this instance had before a rename (gnt-instance rename): while its disks (LVs and their tags, image files) and its instance directory on the nodes still carry that name, the plan renames them (instance.rename, only while the instance is stopped) before anything else of it; never a new, empty instance beside the old one. Set by the remote API\'s rename; harmless once the rename is done')),
    autoRepair: Type.Optional(Type.Object({
      failover: Type.Optional(Type.Boolean({ description: 'fail this instance over when its node is confirmed dead or offline (default: Cluster spec.autoRepair.failover)' })),
      repair: Type.Optional(StrEnum(['fix-storage', 'migrate', 'failover', 'reinstall'] as const, 'auto-repair (Ganeti\'s harep): the most invasive repair Gantry may make of this instance on its own; each type includes those before it: fix-storage (re-create or re-attach its disks on its current nodes), migrate, failover (start it elsewhere when its node is confirmed dead or offline), reinstall (DATA LOSS: re-create its disks empty on another node and reinstall the OS when they are lost with their node). Counts as the tag ganeti:watcher:autorepair:TYPE on the instance; with both, the least invasive wins (as harep); instance tags or this field override the node group\'s and the cluster\'s tags; ganeti:watcher:autorepair:suspend[:UNIXTIME] suspends. Default: no auto-repair')),
      allowDegradedFailover: Type.Optional(Type.Boolean({ description: 'DATA-LOSS RISK. DRBD failover normally promotes the secondary only when its disk is UpToDate; true also promotes an Outdated, Inconsistent or Consistent replica (primary --force), losing whatever the dead primary wrote that this replica lacks (default false)' })),
    }, Strict)),
    tags: Type.Optional(Tags()),
  },
  { ...Strict, description: 'instance (gnt-instance)' },
);
export type InstanceSpec = Static<typeof InstanceSpec>;
