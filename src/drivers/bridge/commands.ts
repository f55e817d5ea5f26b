/** Pure argv builders for Linux bridges, links and addresses (iproute2). */
import { PrereqError } from '../../util/errors.js';
import { checkIfName } from '../facts/shared.js';

/** `ip -j -d link show`: every link with kind, master and kind-specific data. */
export const linksCmd = (): string[] => ['ip', '-j', '-d', 'link', 'show'];
/** linksCmd with each link's counters (`-s`: stats64, the kernel's rx/tx bytes as in /sys/class/net/DEV/statistics). */
export const linksStatsCmd = (): string[] => ['ip', '-s', '-j', '-d', 'link', 'show'];
export const bridgesCmd = (): string[] => ['ip', '-j', '-d', 'link', 'show', 'type', 'bridge'];
export const addrsCmd = (): string[] => ['ip', '-j', 'addr', 'show'];
export const vlansCmd = (): string[] => ['bridge', '-j', 'vlan', 'show'];
/** Every forwarding entry of every device (VXLAN static entries are filtered in parseFdb). */
export const fdbCmd = (): string[] => ['bridge', '-j', 'fdb', 'show'];

/**
 * vlan_filtering is only passed when wanted: kernels built without bridge VLAN
 * filtering reject the attribute even as 0 (seen on the lab kernel).
 */
export function bridgeAddCmd(name: string, vlanFiltering: boolean): string[] {
  return ['ip', 'link', 'add', 'name', checkIfName(name), 'type', 'bridge', ...(vlanFiltering ? ['vlan_filtering', '1'] : [])];
}
export const bridgeSetVlanFilteringCmd = (name: string, on: boolean): string[] => ['ip', 'link', 'set', 'dev', checkIfName(name), 'type', 'bridge', 'vlan_filtering', on ? '1' : '0'];
export const linkUpCmd = (name: string): string[] => ['ip', 'link', 'set', 'dev', checkIfName(name), 'up'];
export function linkMtuCmd(name: string, mtu: number): string[] {
  if (!Number.isSafeInteger(mtu) || mtu < 68 || mtu > 65535) throw new PrereqError('INVALID_NAME', `invalid MTU ${mtu}`);
  return ['ip', 'link', 'set', 'dev', checkIfName(name), 'mtu', String(mtu)];
}
/** Enslave and bring up in one call: a port that is down forwards nothing. */
export const linkMasterCmd = (port: string, master: string): string[] => ['ip', 'link', 'set', 'dev', checkIfName(port), 'master', checkIfName(master), 'up'];
export const linkNoMasterCmd = (port: string): string[] => ['ip', 'link', 'set', 'dev', checkIfName(port), 'nomaster'];
export const linkDelCmd = (name: string): string[] => ['ip', 'link', 'del', 'dev', checkIfName(name)];
export const addrAddCmd = (cidr: string, dev: string): string[] => ['ip', 'addr', 'add', checkCidr(cidr), 'dev', checkIfName(dev)];
export const addrDelCmd = (cidr: string, dev: string): string[] => ['ip', 'addr', 'del', checkCidr(cidr), 'dev', checkIfName(dev)];

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const V6 = /^[0-9a-fA-F:]+(%[A-Za-z0-9_.-]+)?$/;
export function checkIp(ip: string): string {
  if (!(V4.test(ip) || (ip.includes(':') && V6.test(ip)))) throw new PrereqError('INVALID_ADDRESS', `invalid IP address ${JSON.stringify(ip)}`);
  return ip;
}
export function checkCidr(cidr: string): string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const max = m && m[1]!.includes(':') ? 128 : 32;
  if (!m || Number(m[2]) > max) throw new PrereqError('INVALID_ADDRESS', `invalid CIDR ${JSON.stringify(cidr)}`);
  checkIp(m[1]!);
  return cidr;
}
