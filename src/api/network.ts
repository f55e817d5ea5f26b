import { Type, type Static } from '@sinclair/typebox';
import { IfName, Ipv4, Ipv4Cidr, Ipv6, Ipv6Cidr, MacPrefix, StrEnum, Strict, Tags, Vlan, MESSAGE_KEY } from './common.js';
import { NIC_MODES } from './params.js';

/** An IPv4 address or an inclusive range "a.b.c.d-a.b.c.e". */
const IP_OR_RANGE_RE = '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(-(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})?$';

/** Network: gnt-network add; the IP pool lives in status. */
export const NetworkSpec = Type.Object(
  {
    subnet: Ipv4Cidr('IPv4 network (--network)'),
    gateway: Type.Optional(Ipv4('gateway, inside subnet (reserved from the pool)')),
    subnet6: Type.Optional(Ipv6Cidr('IPv6 network (--network6)')),
    gateway6: Type.Optional(Ipv6('IPv6 gateway')),
    mode: Type.Optional(StrEnum(NIC_MODES, 'NIC mode for this network (default: cluster nicParams.mode)')),
    link: Type.Optional(IfName('bridge or OVS bridge (default: cluster nicParams.link)')),
    vlan: Type.Optional(Vlan('access VLAN (openvswitch)')),
    trunks: Type.Optional(Type.Array(Vlan('trunked VLAN'), { description: 'trunked VLANs (openvswitch)' })),
    macPrefix: Type.Optional(MacPrefix('MAC prefix for NICs on this network (default: the cluster\'s)')),
    reservedIps: Type.Optional(Type.Array(Type.String({ pattern: IP_OR_RANGE_RE, [MESSAGE_KEY]: 'is not an IPv4 address or range (a.b.c.d-a.b.c.e)' }), { description: 'addresses the pool never hands out (--add-reserved-ips)' })),
    tags: Type.Optional(Tags()),
  },
  { ...Strict, description: 'network (gnt-network)' },
);
export type NetworkSpec = Static<typeof NetworkSpec>;
