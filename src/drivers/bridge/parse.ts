/**
 * Parsers for iproute2 JSON (`ip -j -d link show`, `ip -j addr show`, `bridge -j vlan
 * show`). One link listing serves bridges, ports (via "master"), taps and VXLANs.
 */
import type { ObservedBridge, ObservedTap } from '../../core/observed.js';
import { ExecError } from '../../util/errors.js';
import { isRecord, parseJson } from '../facts/shared.js';

export interface Link {
  readonly name: string;
  /** Administratively up (the UP flag), not carrier: a bridge with no ports is still "up". */
  readonly up: boolean;
  readonly mtu: number;
  readonly master?: string;
  /** linkinfo.info_kind ("bridge", "vxlan", "tun", "veth", ...), "" for plain devices. */
  readonly kind: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** Bytes received and sent as the kernel counts them (`ip -s`: stats64); absent without -s. */
  readonly rxBytes?: number;
  readonly txBytes?: number;
}

function array(text: string, what: string): Record<string, unknown>[] {
  if (text.trim() === '') return [];
  const doc = parseJson(text, what);
  if (!Array.isArray(doc)) throw new ExecError('PARSE_FAILED', `${what}: expected a JSON array`);
  return doc.filter(isRecord);
}

export function parseLinks(text: string): Link[] {
  return array(text, 'ip link').map((l) => {
    const info = isRecord(l.linkinfo) ? l.linkinfo : {};
    const flags = Array.isArray(l.flags) ? l.flags : [];
    const stats = isRecord(l.stats64) ? l.stats64 : undefined;
    const bytes = (dir: string): number | undefined => {
      const d = stats?.[dir];
      return isRecord(d) && typeof d.bytes === 'number' ? d.bytes : undefined;
    };
    const rx = bytes('rx');
    const tx = bytes('tx');
    return {
      name: String(l.ifname ?? ''),
      up: flags.includes('UP'),
      mtu: typeof l.mtu === 'number' ? l.mtu : 0,
      ...(typeof l.master === 'string' ? { master: l.master } : {}),
      kind: typeof info.info_kind === 'string' ? info.info_kind : '',
      data: isRecord(info.info_data) ? info.info_data : {},
      ...(rx !== undefined ? { rxBytes: rx } : {}),
      ...(tx !== undefined ? { txBytes: tx } : {}),
    };
  });
}

/**
 * CIDR addresses per interface. IPv6 link-local addresses (scope link) are left out:
 * the kernel makes them itself and no desired state lists them.
 */
export function parseAddrs(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of array(text, 'ip addr')) {
    const list = (Array.isArray(l.addr_info) ? l.addr_info : []).filter(isRecord)
      .filter((a) => !(a.family === 'inet6' && a.scope === 'link'))
      .map((a) => `${String(a.local)}/${String(a.prefixlen)}`);
    out.set(String(l.ifname ?? ''), list);
  }
  return out;
}

export function bridgesFrom(links: readonly Link[], addrs: ReadonlyMap<string, readonly string[]>): Record<string, ObservedBridge> {
  const out: Record<string, ObservedBridge> = {};
  for (const b of links.filter((l) => l.kind === 'bridge')) {
    out[b.name] = {
      name: b.name,
      up: b.up,
      vlanFiltering: b.data.vlan_filtering === 1,
      mtu: b.mtu,
      ports: links.filter((l) => l.master === b.name).map((l) => l.name).sort(),
      addresses: [...(addrs.get(b.name) ?? [])],
    };
  }
  return out;
}

/** Tap devices: tun links whose info_data.type is "tap". */
export function tapsFrom(links: readonly Link[]): Record<string, ObservedTap> {
  const out: Record<string, ObservedTap> = {};
  for (const t of links.filter((l) => l.kind === 'tun' && l.data.type === 'tap')) {
    out[t.name] = {
      name: t.name, up: t.up, ...(t.master !== undefined ? { master: t.master } : {}),
      ...(t.rxBytes !== undefined ? { rxBytes: t.rxBytes } : {}), ...(t.txBytes !== undefined ? { txBytes: t.txBytes } : {}),
    };
  }
  return out;
}

export interface PortVlans { readonly port: string; readonly vlans: readonly { readonly vid: number; readonly pvid: boolean; readonly untagged: boolean }[] }

/** `bridge -j vlan show` (empty when no bridge filters VLANs). */
export function parseVlans(text: string): PortVlans[] {
  return array(text, 'bridge vlan').map((p) => ({
    port: String(p.ifname ?? ''),
    vlans: (Array.isArray(p.vlans) ? p.vlans : []).filter(isRecord).map((v) => {
      const flags = Array.isArray(v.flags) ? v.flags : [];
      return { vid: Number(v.vlan), pvid: flags.includes('PVID'), untagged: flags.includes('Egress Untagged') };
    }),
  }));
}
