import { Type, type Static } from '@sinclair/typebox';
import { Hostname, IfName, StrEnum, Strict, Tags, Vlan } from './common.js';
import { DiskParams, IPolicy, KvmHvParams, Migration, NdParams, NIC_MODES, NicParams, NodeProfile } from './params.js';

/** A network connected to a group (gnt-network connect NET GROUP MODE LINK [VLAN]). */
export const NetworkConnection = Type.Object({
  network: Hostname('Network name'),
  mode: Type.Optional(StrEnum(NIC_MODES, 'NIC mode on this group (default: the network\'s)')),
  link: Type.Optional(IfName('link on this group (default: the network\'s)')),
  vlan: Type.Optional(Vlan('access VLAN on this group (default: the network\'s)')),
}, Strict);

/** NodeGroup: gnt-group add/modify. Groups override hv/nic/disk params and ipolicy, not be. */
export const NodeGroupSpec = Type.Object(
  {
    allocPolicy: Type.Optional(StrEnum(['preferred', 'last_resort', 'unallocable'] as const, 'alloc_policy (default preferred)')),
    hvParams: Type.Optional(Type.Object({ kvm: Type.Optional(KvmHvParams) }, Strict)),
    nicParams: Type.Optional(NicParams),
    diskParams: Type.Optional(DiskParams),
    migration: Type.Optional(Migration),
    ipolicy: Type.Optional(IPolicy),
    networks: Type.Optional(Type.Array(NetworkConnection, { description: 'networks connected to this group; when set, NICs of its instances may only use these' })),
    ndParams: Type.Optional(NdParams),
    nodeProfile: Type.Optional(NodeProfile),
    tags: Type.Optional(Tags()),
  },
  { ...Strict, description: 'node group (gnt-group)' },
);
export type NodeGroupSpec = Static<typeof NodeGroupSpec>;
