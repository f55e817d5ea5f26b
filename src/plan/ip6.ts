/**
 * IPv6 addresses of NICs, as Ganeti's networks derive them: the EUI-64 interface
 * identifier of the NIC's MAC (RFC 4291 appendix A: universal/local bit flipped, ff:fe in
 * the middle) under the network's subnet6. Unique because MACs are unique in the cluster,
 * stable because the MAC is recorded, and what SLAAC would pick. Pure.
 */
import ipaddr from 'ipaddr.js';

/** The EUI-64 address of `mac` in `subnet6` (prefix length at most 64), RFC 5952 text. */
export function eui64Address(subnet6: string, mac: string): string {
  const [net, len] = ipaddr.IPv6.parseCIDR(subnet6);
  if (len > 64) throw new RangeError(`subnet6 ${subnet6} is longer than /64: no room for an EUI-64 interface identifier`);
  const m = mac.split(':').map((h) => parseInt(h, 16));
  if (m.length !== 6 || m.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new RangeError(`${JSON.stringify(mac)} is not a MAC address`);
  const iid = [m[0]! ^ 0x02, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!];
  const bytes = net.toByteArray().slice(0, 8).concat(iid);
  return (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
}
