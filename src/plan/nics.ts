/**
 * NIC addressing: MACs from the cluster's (or network's) prefix, unique across the
 * cluster, and IPs from each Network's pool. Pure and deterministic: allocations already
 * recorded on the nodes (InstanceMeta) are kept; new ones are taken in instance-name
 * order, so two planners given the same input allocate the same addresses.
 * Unknown is not absent: every address recorded on any known node snapshot stays
 * reserved, whether its instance is declared or not and whether the node is observed
 * now or only known from its last snapshot; while a node cannot be observed and has no
 * known past, no pool hands out a new address (it may hold any of them).
 */
import ipaddr from 'ipaddr.js';
import { generateMac, normaliseMac } from './mac.js';
import type { ObservedCluster, PlanInput, PlanNetwork, Refusal } from '../core/plan.js';
import type { InstanceMeta } from '../core/observed.js';
import { blindNodes, describeWait, knownSnapshots } from './locate.js';
import { eui64Address } from './ip6.js';

export interface NicAllocation {
  readonly mac: string;
  readonly ip?: string;
  /** EUI-64 of the MAC in the network's subnet6 (plan/ip6), when the network has one. */
  readonly ip6?: string;
  readonly network?: string;
}

export interface AllocationResult {
  /** instance name -> NIC allocations by index. */
  readonly nics: ReadonlyMap<string, readonly NicAllocation[]>;
  /** instance name -> why its NICs could not be addressed (code and message of the refusal). */
  readonly errors: ReadonlyMap<string, Omit<Refusal, 'subject'>>;
}

/** The newest record of each instance found on any known node snapshot (observed now or last seen). */
export function recordedMeta(observed: ObservedCluster): Map<string, InstanceMeta> {
  const out = new Map<string, InstanceMeta>();
  for (const { obs } of knownSnapshots(observed)) {
    for (const vm of Object.values(obs.instances)) {
      if (!vm.meta) continue;
      const prev = out.get(vm.name);
      // A running copy is authoritative (after a migration the source may keep a stale record).
      if (!prev || vm.runState === 'running') out.set(vm.name, vm.meta);
    }
  }
  return out;
}

function poolFor(net: PlanNetwork, used: Set<string>): () => string | undefined {
  const [base, len] = ipaddr.parseCIDR(net.subnet);
  const first = ipToInt(base.toString()) & maskOf(len);
  const size = 2 ** (32 - len);
  let next = 1; // skip the network address
  return () => {
    for (; next < size - 1; next++) {
      const ip = intToIp(first + next);
      if (!used.has(ip)) {
        used.add(ip);
        next++;
        return ip;
      }
    }
    return undefined;
  };
}

const maskOf = (len: number) => (len === 0 ? 0 : (~0 << (32 - len)) >>> 0);
const ipToInt = (ip: string) => ip.split('.').reduce((a, o) => ((a << 8) >>> 0) + Number(o), 0) >>> 0;
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** Expand "a.b.c.d" or "a.b.c.d-a.b.c.e" into addresses. */
export function expandReserved(entry: string): string[] {
  const [lo, hi] = entry.split('-');
  if (!hi) return [lo!];
  const out: string[] = [];
  for (let i = ipToInt(lo!); i <= ipToInt(hi) && out.length < 65536; i++) out.push(intToIp(i));
  return out;
}

/** Every MAC and (network, IP) recorded on any known node snapshot, declared instance or not. */
function reserveRecorded(observed: ObservedCluster, usedMacs: Set<string>, usedIps: ReadonlyMap<string, Set<string>>): void {
  for (const { obs } of knownSnapshots(observed)) {
    for (const vm of Object.values(obs.instances)) {
      for (const n of vm.meta?.nics ?? []) {
        if (typeof n.mac === 'string') usedMacs.add(normaliseMac(n.mac));
        if (n.ip && n.network) usedIps.get(n.network)?.add(n.ip);
      }
    }
  }
}

/** Why no pool may hand out a new address now: a node with no known past may hold any of them. */
function poolsBlockedBy(input: PlanInput, observed: ObservedCluster): string | undefined {
  const unknown = [...blindNodes(input.nodes, observed).values()].filter((b) => !b.last);
  if (unknown.length === 0) return undefined;
  return `no new address is taken from a pool while ${unknown.map(describeWait).join('; ')}: its instances may hold any of them. Bring the node back (or remove it from the manifests) first.`;
}

export function allocateNics(input: PlanInput, observed: ObservedCluster): AllocationResult {
  const meta = recordedMeta(observed);
  const nets = new Map(input.networks.map((n) => [n.name, n]));
  const usedIps = new Map<string, Set<string>>();
  const usedMacs = new Set<string>();
  const nicsOut = new Map<string, NicAllocation[]>();
  const errors = new Map<string, Omit<Refusal, 'subject'>>();
  const blocked = poolsBlockedBy(input, observed);
  const live = input.instances.filter((i) => i.state === 'present' && i.runtime);

  for (const net of input.networks) {
    const s = new Set<string>();
    const [base, len] = ipaddr.parseCIDR(net.subnet);
    const first = ipToInt(base.toString()) & maskOf(len);
    s.add(intToIp(first));
    s.add(intToIp(first + 2 ** (32 - len) - 1));
    if (net.gateway) s.add(net.gateway);
    for (const r of net.reserved) expandReserved(r).forEach((ip) => s.add(ip));
    usedIps.set(net.name, s);
  }
  reserveRecorded(observed, usedMacs, usedIps);
  // First pass: fixed addresses and recorded allocations are taken before anything new.
  for (const inst of live) {
    const rec = meta.get(inst.name);
    inst.runtime!.nics.forEach((nic, i) => {
      if (nic.mac !== 'auto') usedMacs.add(normaliseMac(nic.mac));
      else if (rec?.nics[i]) usedMacs.add(rec.nics[i]!.mac);
      if (!nic.network) return;
      if (nic.ip !== 'pool' && nic.ip !== 'none') usedIps.get(nic.network)?.add(nic.ip);
      else if (nic.ip === 'pool' && rec?.nics[i]?.ip && rec.nics[i]!.network === nic.network) usedIps.get(nic.network)?.add(rec.nics[i]!.ip!);
    });
  }
  const pools = new Map(input.networks.map((n) => [n.name, poolFor(n, usedIps.get(n.name)!)]));

  for (const inst of [...live].sort((a, b) => a.name.localeCompare(b.name))) {
    const rec = meta.get(inst.name);
    const out: NicAllocation[] = [];
    for (const [i, nic] of inst.runtime!.nics.entries()) {
      const net = nic.network ? nets.get(nic.network) : undefined;
      let mac = nic.mac !== 'auto' ? normaliseMac(nic.mac) : rec?.nics[i]?.mac;
      if (!mac) {
        try {
          mac = generateMac({ prefix: net?.macPrefix ?? input.cluster.macPrefix, seed: input.cluster.name, instance: inst.name, nicIndex: i, used: usedMacs });
        } catch (e) {
          errors.set(inst.name, { code: 'NIC_ALLOCATION', message: e instanceof Error ? e.message : String(e) });
          continue;
        }
      }
      usedMacs.add(mac);
      let ip: string | undefined;
      if (nic.ip === 'pool') {
        if (!net) {
          errors.set(inst.name, { code: 'NIC_ALLOCATION', message: `nic ${i} asks for ip: pool but names no network` });
          continue;
        }
        const recIp = rec?.nics[i]?.network === nic.network ? rec?.nics[i]?.ip : undefined;
        if (!recIp && blocked) {
          errors.set(inst.name, { code: 'NODE_UNKNOWN', message: `nic ${i} needs an address from network ${net.name}, but ${blocked}` });
          continue;
        }
        ip = recIp ?? pools.get(net.name)!();
        if (!ip) {
          errors.set(inst.name, { code: 'NIC_ALLOCATION', message: `network ${net.name} (${net.subnet}) has no free address for nic ${i}` });
          continue;
        }
      } else if (nic.ip !== 'none') {
        ip = nic.ip;
      }
      let ip6: string | undefined;
      try {
        ip6 = net?.subnet6 !== undefined ? eui64Address(net.subnet6, mac) : undefined;
      } catch (e) {
        errors.set(inst.name, { code: 'NIC_ALLOCATION', message: `nic ${i}: ${e instanceof Error ? e.message : String(e)}` });
        continue;
      }
      out.push({ mac, ...(ip !== undefined ? { ip } : {}), ...(ip6 !== undefined ? { ip6 } : {}), ...(nic.network ? { network: nic.network } : {}) });
    }
    nicsOut.set(inst.name, out);
  }
  return { nics: nicsOut, errors };
}
