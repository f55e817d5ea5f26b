/**
 * Deterministic (seeded) generator of a large cluster for `npm run bench:plan`: the
 * planner's desired input (PlanInput, src/plan/types.ts) and an observed cluster that
 * matches it exactly, plus a drift function that breaks a chosen fraction of the
 * observed objects. The observed side is derived from the naming contract
 * (src/plan/naming.ts), not from the planner's own code, so a non-empty plan for the
 * converged case is a real finding rather than a tautology.
 *
 * Shape (defaults): 700 nodes in 20 groups; each node has two Linux bridges (management
 * with an address, VM bridge with VLAN filtering), one OVS bridge with an uplink trunk and
 * VLAN access ports, one VG on two PVs and a few sysctls; 40,000 instances, 60 % plain,
 * 30 % DRBD (primary and secondary in the same group), 10 % sharedfile, 1-3 disks each.
 * Templates are assigned by exact quota (see quotaTemplates), so 40,000 instances have
 * exactly 12,000 DRBD ones. Each DRBD disk has a
 * port (cluster-wide, from 11000) and a minor on each of its two nodes, recorded in its LV
 * tags, and a device Connected UpToDate/UpToDate on both nodes, Primary on the primary.
 *
 *   npx tsx bench/gen-desired.ts --nodes 700 --instances 40000 --seed 1   # prints a summary
 */
import type { ObservedDrbdDevice, ObservedNode } from '../src/core/observed.js';
import { DRBD_META_MIB, diskFilePath, diskLvName, diskMetaLvName, drbdOfLvTags, drbdResourceName, drbdTags, instanceLvTag, MANAGED_LV_TAG } from '../src/plan/naming.js';
import type { SimDrbdSeed } from '../src/sim/node.js';
import type { ObservedCluster, PlanDisk, PlanInput, PlanInstance, PlanInstanceRuntime, PlanNetwork, PlanNode } from '../src/core/plan.js';
import { prng } from './prng.js';

export { prng };

export interface GenSpec {
  readonly seed: number;
  readonly nodes: number;
  readonly groups: number;
  readonly instances: number;
  /** Fractions of plain / drbd / sharedfile instances (normalised). */
  readonly mix?: { readonly plain: number; readonly drbd: number; readonly sharedfile: number };
  /**
   * Give every instance a QEMU runtime spec (OS, power state, two NICs: one on the VM
   * bridge, one on an OVS VLAN with an address from that VLAN's Network pool). The
   * matching observed VMs cannot be written down from the naming contract alone (the
   * launch record is the planner's), so the bench builds them by applying a plan.
   */
  readonly runtime?: boolean;
}

export const DEFAULT_SPEC: GenSpec = { seed: 1, nodes: 700, groups: 20, instances: 40_000 };

const VG = 'xenvg';
const PV_MIB = 8 * 1024 * 1024; // two 8 TiB PVs per node: room for ~60 instances' disks
const SHARED_DIR = '/srv/gantry/shared-file-storage';
const VLANS = [100, 101, 102, 103];


const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pad = (n: number, w: number): string => String(n).padStart(w, '0');

function nodeName(i: number): string {
  return `node${pad(i, 4)}`;
}

function genNode(i: number, group: string): PlanNode {
  const name = nodeName(i);
  const octet3 = Math.floor(i / 250);
  const octet4 = (i % 250) + 1;
  return {
    name,
    group,
    role: i % 35 === 0 ? 'master-candidate' : 'regular',
    secondaryAddress: `198.19.${octet3}.${octet4}`,
    runDir: '/var/run/gantry',
    fileStorageDir: '/srv/gantry/file-storage',
    profile: {
      bridges: [
        { name: 'br-mgmt', vlanFiltering: false, mtu: 1500, addresses: [`198.18.${octet3}.${octet4}/22`], ports: ['eno1'] },
        { name: 'br-vm', vlanFiltering: true, mtu: 9000, addresses: [], ports: ['eno2'] },
      ],
      ovsBridges: [{
        name: 'ovsbr0',
        datapathType: 'netdev',
        ports: [
          { name: 'eno3', trunks: VLANS, type: 'system' },
          ...VLANS.map((v) => ({ name: `vlan${v}`, tag: v, trunks: [], type: 'internal' })),
        ],
      }],
      vxlans: [],
      volumeGroups: [{ name: VG, pvs: ['/dev/sdb', '/dev/sdc'] }],
      sysctls: { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '0', 'vm.swappiness': '1' },
    },
  };
}

/** The planner's desired input for a cluster of the given shape. */
export function genDesired(spec: GenSpec = DEFAULT_SPEC): PlanInput {
  const r = prng(spec.seed);
  const groupOf = (i: number): number => Math.floor((i * spec.groups) / spec.nodes);
  const nodes = Array.from({ length: spec.nodes }, (_, i) => genNode(i, `group${pad(groupOf(i), 2)}`));
  // Node index ranges per group, for picking a DRBD secondary in the primary's group.
  const ranges: [number, number][] = [];
  nodes.forEach((_, i) => {
    const g = groupOf(i);
    ranges[g] = ranges[g] ? [ranges[g]![0], i] : [i, i];
  });

  const mix = spec.mix ?? { plain: 0.6, drbd: 0.3, sharedfile: 0.1 };
  const templateOf = quotaTemplates(mix);
  const instances: PlanInstance[] = [];
  for (let k = 0; k < spec.instances; k++) {
    const template = templateOf(k);
    r(); // the draw that used to pick the template: keeps the rest of the stream as before
    const p = int(r, 0, spec.nodes - 1);
    const [lo, hi] = ranges[groupOf(p)]!;
    let s = int(r, lo, hi - 1);
    if (s >= p) s++; // any other node of the group
    const disks: PlanDisk[] = Array.from({ length: int(r, 1, 3) }, (_, index) => ({
      index, sizeMiB: int(r, 10, 100) * 1024, template, vg: VG, metaVg: VG, state: 'present',
    }));
    const name = `inst${pad(k, 5)}`;
    instances.push({
      name,
      state: 'present',
      deleteDisks: false,
      diskTemplate: template,
      primary: nodes[p]!.name,
      ...(template === 'drbd' && hi > lo ? { secondary: nodes[s]!.name } : {}),
      memoryMiB: int(r, 1, 16) * 1024,
      vcpus: int(r, 1, 8),
      disks,
      tags: [],
      ...(spec.runtime ? { runtime: genRuntime(r, k) } : {}),
    });
  }
  return {
    cluster: { name: 'bench', macPrefix: 'aa:00:00', sharedFileStorageDir: SHARED_DIR, removeOrphans: false, exclusionTags: [], drbd: DRBD_RANGE },
    nodes,
    instances,
    networks: spec.runtime ? NETWORKS : [],
  };
}

/** Room for ~24,000 DRBD disks (one port each) and ~70 minors a node on average. */
const DRBD_RANGE = { portStart: 11000, portEnd: 60999, minorCount: 256 } as const;

/**
 * Templates by exact quota: each instance takes the template furthest behind its share
 * (largest share * (k + 1) - count so far), so the first n instances hold each template's
 * share of n, rounded (40,000 at 6:3:1: 24,000 plain, 12,000 DRBD, 4,000 sharedfile).
 */
function quotaTemplates(mix: NonNullable<GenSpec['mix']>): (k: number) => PlanDisk['template'] {
  const total = mix.plain + mix.drbd + mix.sharedfile;
  const shares = [['drbd', mix.drbd], ['sharedfile', mix.sharedfile], ['plain', mix.plain]] as const;
  const counts = new Map<string, number>();
  return (k) => {
    let best: (typeof shares)[number] = shares[0];
    let bestDeficit = -Infinity;
    for (const sh of shares) {
      const deficit = (sh[1] / total) * (k + 1) - (counts.get(sh[0]) ?? 0);
      if (deficit > bestDeficit + 1e-9) [best, bestDeficit] = [sh, deficit];
    }
    counts.set(best[0], (counts.get(best[0]) ?? 0) + 1);
    return best[0];
  };
}

/** One /16 per OVS VLAN: room for every instance's second NIC. */
const NETWORKS: PlanNetwork[] = VLANS.map((v) => ({ name: `vlan${v}`, subnet: `10.${v}.0.0/16`, gateway: `10.${v}.0.1`, reserved: [`10.${v}.0.2-10.${v}.0.20`] }));

function genRuntime(r: () => number, k: number): PlanInstanceRuntime {
  const vlan = VLANS[k % VLANS.length]!;
  return {
    uuid: `00000000-0000-4000-8000-${pad(k, 12)}`,
    os: { name: 'debootstrap+default', params: {}, generation: 1 },
    powerState: r() < 0.95 ? 'running' : 'stopped',
    restartGeneration: 0,
    accel: 'kvm',
    bootOrder: ['disk'],
    diskBus: 'virtio',
    vnc: false,
    vncBindAddress: '127.0.0.1',
    nics: [
      { index: 0, mode: 'bridged', link: 'br-vm', trunks: [], ip: 'none', mac: 'auto', model: 'virtio' },
      { index: 1, network: `vlan${vlan}`, mode: 'openvswitch', link: 'ovsbr0', vlan, trunks: [], ip: 'pool', mac: 'auto', model: 'virtio' },
    ],
    migration: { mode: 'live', bandwidthMiBps: 100, downtimeMs: 300 },
    restartErrorDown: true,
    stopTimeoutS: 120,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type LvRec = Mutable<ObservedNode['lvs']>;
type FileRec = Mutable<ObservedNode['files']>;

/** An observed cluster in which every node already has exactly what `input` asks for. */
export function genObserved(input: PlanInput, observedAt = '2026-01-01T00:00:00.000Z'): ObservedCluster {
  const lvs = new Map<string, LvRec>(input.nodes.map((n) => [n.name, {}]));
  const files = new Map<string, FileRec>(input.nodes.map((n) => [n.name, {}]));
  const drbd = new Map<string, Record<string, ObservedDrbdDevice>>(input.nodes.map((n) => [n.name, {}]));
  const nextMinor = new Map<string, number>();
  let nextPort = input.cluster.drbd?.portStart ?? 11000;
  for (const inst of input.instances) {
    const base = [MANAGED_LV_TAG, instanceLvTag(inst.name)];
    for (const d of inst.disks) {
      if (d.state !== 'present') continue;
      if (d.template === 'plain' || d.template === 'drbd') {
        const on = d.template === 'drbd' ? [inst.primary, inst.secondary] : [inst.primary];
        const port = d.template === 'drbd' ? nextPort++ : 0;
        const minors = on.map((n) => {
          const m = nextMinor.get(n ?? '') ?? 0;
          if (d.template === 'drbd' && n !== undefined) nextMinor.set(n, m + 1);
          return m;
        });
        on.forEach((n, i) => {
          if (n === undefined) return;
          const tags = d.template === 'drbd' ? [...base, ...drbdTags(minors[i]!, port)] : base;
          if (d.template === 'drbd') drbd.get(n)![String(minors[i])] = upToDate(minors[i]!, d.sizeMiB, i === 0);
          const rec = lvs.get(n)!;
          const data = diskLvName(inst.name, d.index);
          rec[`${d.vg}/${data}`] = { vg: d.vg, name: data, sizeMiB: d.sizeMiB, tags };
          if (d.template === 'drbd') {
            const meta = diskMetaLvName(inst.name, d.index);
            rec[`${d.metaVg}/${meta}`] = { vg: d.metaVg, name: meta, sizeMiB: DRBD_META_MIB, tags };
          }
        });
      } else if (d.template === 'sharedfile' && inst.primary !== undefined) {
        // Listed on the primary only: the bench models a probe that lists the shared
        // directory once, not 700 copies of it.
        const path = diskFilePath(input.cluster.sharedFileStorageDir, inst.name, d.index);
        files.get(inst.primary)![path] = { path, format: 'raw', virtualSizeMiB: d.sizeMiB };
      }
    }
  }

  const nodes = new Map<string, ObservedNode>();
  for (const n of input.nodes) {
    const p = n.profile;
    const nodeLvs = lvs.get(n.name)!;
    const vgs: ObservedNode['vgs'] = Object.fromEntries(p.volumeGroups.map((vg) => {
      const size = vg.pvs.length * PV_MIB;
      let used = 0;
      for (const lv of Object.values(nodeLvs)) if (lv.vg === vg.name) used += lv.sizeMiB;
      return [vg.name, { name: vg.name, sizeMiB: size, freeMiB: size - used, pvs: [...vg.pvs] }];
    }));
    nodes.set(n.name, {
      name: n.name,
      reachable: true,
      observedAt,
      facts: { hostname: n.name, kernel: '6.1.0-28-amd64', cpus: 32, memoryTotalMiB: 262_144, memoryFreeMiB: 200_000 },
      vgs,
      lvs: nodeLvs,
      bridges: Object.fromEntries(p.bridges.map((b) => [b.name, { name: b.name, up: true, vlanFiltering: b.vlanFiltering, mtu: b.mtu ?? 1500, ports: [...b.ports], addresses: [...b.addresses] }])),
      ovs: {
        bridges: Object.fromEntries(p.ovsBridges.map((ob) => [ob.name, {
          name: ob.name,
          datapathType: ob.datapathType,
          // ovs-vsctl reports a system port's type as "".
          ports: Object.fromEntries(ob.ports.map((port) => [port.name, { name: port.name, ...(port.tag !== undefined ? { tag: port.tag } : {}), trunks: [...port.trunks], type: port.type === 'system' ? '' : port.type }])),
        }])),
      },
      vxlans: Object.fromEntries(p.vxlans.map((v) => [v.name, { name: v.name, vni: v.vni, dstPort: v.dstPort, up: true, ...(v.local ? { local: v.local } : {}), ...(v.remote ? { remote: v.remote } : {}), ...(v.group ? { group: v.group } : {}), ...(v.dev ? { dev: v.dev } : {}), ...(v.bridge ? { master: v.bridge } : {}) }])),
      sysctls: { ...p.sysctls },
      files: files.get(n.name)!,
      instances: {},
      taps: {},
      probeErrors: [],
      drbd: { devices: drbd.get(n.name)! },
    });
  }
  return { nodes };
}

/** A converged DRBD 8.4 device: Connected, UpToDate on both sides, Primary on the instance's primary. */
function upToDate(minor: number, sizeMiB: number, primary: boolean): ObservedDrbdDevice {
  const role = primary ? 'Primary' : 'Secondary';
  return {
    minor, resource: drbdResourceName(minor), role, disk: 'UpToDate', sizeMiB,
    peer: { connection: 'Connected', replication: 'Established', role: primary ? 'Secondary' : 'Primary', disk: 'UpToDate' },
  };
}

export interface DriftResult {
  readonly observed: ObservedCluster;
  /** Objects considered (sysctls, bridges, OVS ports, VGs, LVs, files, DRBD devices, running VMs). */
  readonly objects: number;
  readonly missing: number;
  readonly different: number;
}

/**
 * Break about `fraction` of the observed objects: half go missing, half differ in a way
 * the planner repairs (smaller disk, other MTU or VLAN tag, sysctl value, a lost PV; a
 * DRBD device down or StandAlone).
 * Nothing grows, so the drifted plan has repairs and no shrink refusals.
 */
export function drift(observed: ObservedCluster, fraction: number, seed: number): DriftResult {
  const r = prng(seed ^ 0x5eed);
  let objects = 0;
  let missing = 0;
  let different = 0;
  /** Decide the fate of one object: keep it, drop it, or change it. */
  const fate = (canDrop = true): 'keep' | 'drop' | 'change' => {
    objects++;
    if (r() >= fraction) return 'keep';
    if (r() < 0.5 && canDrop) {
      missing++;
      return 'drop';
    }
    different++;
    return 'change';
  };

  const nodes = new Map<string, ObservedNode>();
  for (const [name, o] of observed.nodes) {
    const sysctls: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.sysctls)) {
      const f = fate();
      if (f === 'keep') sysctls[k] = v;
      else if (f === 'change') sysctls[k] = v === '1' ? '0' : '1';
    }
    const bridges: Mutable<ObservedNode['bridges']> = {};
    for (const [k, b] of Object.entries(o.bridges)) {
      const f = fate();
      if (f === 'keep') bridges[k] = b;
      else if (f === 'change') bridges[k] = { ...b, mtu: b.mtu === 1500 ? 9000 : 1500 };
    }
    const ovsBridges: Mutable<NonNullable<ObservedNode['ovs']>['bridges']> = {};
    for (const [k, ob] of Object.entries(o.ovs?.bridges ?? {})) {
      const ports: Record<string, (typeof ob.ports)[string]> = {};
      for (const [pk, port] of Object.entries(ob.ports)) {
        // VM taps ("t-..."/"tx...") belong to the instance runtime, not the node profile.
        if (/^t[x-]/.test(pk)) {
          ports[pk] = port;
          continue;
        }
        const f = fate();
        if (f === 'keep') ports[pk] = port;
        else if (f === 'change') ports[pk] = { ...port, tag: (port.tag ?? 0) + 1000 };
      }
      ovsBridges[k] = { ...ob, ports };
    }
    const vgs: Mutable<ObservedNode['vgs']> = {};
    for (const [k, vg] of Object.entries(o.vgs)) {
      // A VG never goes missing here: its LVs would go with it and skew the count.
      vgs[k] = fate(false) === 'keep' ? vg : { ...vg, pvs: vg.pvs.slice(0, 1) };
    }
    const lvs: LvRec = {};
    for (const [k, lv] of Object.entries(o.lvs)) {
      // A DRBD disk's LV never goes missing here (its tags record the minor and port of a
      // device that is up); DRBD drift is a device down or StandAlone, below.
      const f = fate(drbdOfLvTags(lv.tags).port === undefined);
      if (f === 'keep') lvs[k] = lv;
      else if (f === 'change') lvs[k] = { ...lv, sizeMiB: Math.max(1, lv.sizeMiB - 1024) };
    }
    const files: FileRec = {};
    for (const [k, file] of Object.entries(o.files)) {
      const f = fate();
      if (f === 'keep') files[k] = file;
      else if (f === 'change') files[k] = { ...file, virtualSizeMiB: Math.max(1, file.virtualSizeMiB - 1024) };
    }
    const instances: Mutable<ObservedNode['instances']> = {};
    for (const [k, vm] of Object.entries(o.instances)) {
      // A VM never loses its record here (that is not drift but a lost node); it crashes.
      const f = vm.runState === 'running' ? fate(false) : 'keep';
      if (f === 'keep') instances[k] = vm;
      else {
        const { pid: _pid, ...rest } = vm;
        instances[k] = { ...rest, runState: 'stopped', adminStopped: false };
      }
    }
    const devices: Record<string, ObservedDrbdDevice> = {};
    for (const [k, dev] of Object.entries(o.drbd?.devices ?? {})) {
      const f = fate();
      if (f === 'keep') devices[k] = dev;
      else if (f === 'change') devices[k] = { ...dev, peer: { connection: 'StandAlone', role: 'Unknown', disk: 'DUnknown' } };
    }
    nodes.set(name, { ...o, sysctls, bridges, ...(o.ovs ? { ovs: { bridges: ovsBridges } } : {}), vgs, lvs, files, instances, ...(o.drbd ? { drbd: { devices } } : {}) });
  }
  return { observed: { nodes }, objects, missing, different };
}

/**
 * The DRBD state a simulator node starts with, matching `observed` (after drift): the
 * metadata of every DRBD disk (UpToDate; it lives on the meta LV, which drift keeps), and
 * each device observed up, with its network config unless it was seen StandAlone.
 */
export function simDrbdSeed(input: PlanInput, observed: ObservedCluster): Map<string, SimDrbdSeed> {
  const out = new Map<string, SimDrbdSeed>(input.nodes.map((n) => [n.name, { devices: [], meta: {} }]));
  const nodes = new Map(input.nodes.map((n) => [n.name, n]));
  const addr = (n: string): string => nodes.get(n)?.secondaryAddress ?? n;
  for (const inst of input.instances) {
    if (inst.diskTemplate !== 'drbd' || inst.primary === undefined || inst.secondary === undefined) continue;
    const pair = [inst.primary, inst.secondary] as const;
    for (const d of inst.disks) {
      pair.forEach((n, i) => {
        const obs = observed.nodes.get(n);
        const metaId = `${d.metaVg}/${diskMetaLvName(inst.name, d.index)}`;
        const { minor, port } = drbdOfLvTags(obs?.lvs[metaId]?.tags ?? []);
        if (minor === undefined || port === undefined) return;
        const seed = out.get(n)!;
        seed.meta[metaId] = { disk: 'UpToDate', wroteAlone: false };
        const dev = obs?.drbd?.devices[String(minor)];
        if (!dev) return;
        const peer = pair[1 - i]!;
        const linked = dev.peer !== undefined && dev.peer.connection !== 'StandAlone';
        seed.devices.push({
          minor, resource: drbdResourceName(minor), dataLv: `${d.vg}/${diskLvName(inst.name, d.index)}`, metaLv: metaId,
          role: dev.role === 'Primary' ? 'Primary' : 'Secondary', attached: dev.disk !== 'Diskless', sizeMiB: dev.sizeMiB ?? d.sizeMiB,
          ...(linked ? { net: { local: `${addr(n)}:${port}`, peer: `${addr(peer)}:${port}`, peerNode: peer } } : {}),
        });
      });
    }
  }
  return out;
}

/** A dead node: the cluster with failover on and one node declared offline (see deadNode). */
export interface DeadNodeCase {
  readonly input: PlanInput;
  readonly observed: ObservedCluster;
  /** The offline node. */
  readonly node: string;
  /** The instances whose primary it is (the ones to replan), in name order. */
  readonly instances: readonly PlanInstance[];
}

/**
 * The converged cluster after a node died and an admin declared it offline (`role:
 * offline`) with Cluster spec.autoRepair.failover on: the node is not observed, its last
 * good snapshot is kept (the floor, ObservedCluster.lastKnown), its DRBD peers lost their
 * connection to it (WFConnection, peer role and disk unknown; still UpToDate), and its
 * sharedfile images are listed by every other node (the bench lists the shared directory
 * on each image's primary only; a real probe lists it on every node, and the node an
 * instance fails over to must see its image). The node is the one
 * that is primary of the most instances (lowest name on a tie), so it has every template.
 * Every node declares 1 TiB of memory and 128 CPUs (Node spec.memory, spec.cpus): the
 * generated nodes report 256 GiB and 32 CPUs and already hold about 485 GiB and 256
 * vCPUs of instances each (the disk bench never runs them), so without it the
 * allocator, which checks memory and the vCPU ratio like hail, has no room for the
 * sharedfile instances that restart elsewhere.
 */
export function deadNode(input: PlanInput, observed: ObservedCluster): DeadNodeCase {
  const primaries = new Map<string, number>();
  for (const i of input.instances) if (i.primary !== undefined) primaries.set(i.primary, (primaries.get(i.primary) ?? 0) + 1);
  let node = input.nodes[0]!.name;
  for (const n of input.nodes) if ((primaries.get(n.name) ?? 0) > (primaries.get(node) ?? 0)) node = n.name;
  const last = observed.nodes.get(node)!;
  // The ports of its DRBD disks: a survivor's device on one of them has lost its peer.
  const ports = new Set<number>();
  for (const lv of Object.values(last.lvs)) {
    const { port } = drbdOfLvTags(lv.tags);
    if (port !== undefined) ports.add(port);
  }
  // Its sharedfile images, listed by every surviving node (as a real probe of the shared directory does).
  const shared = Object.fromEntries(Object.entries(last.files).filter(([p]) => p.startsWith(`${input.cluster.sharedFileStorageDir}/`)));
  const nodes = new Map<string, ObservedNode>();
  for (const [name, o] of observed.nodes) {
    if (name === node) continue;
    let devices: Record<string, ObservedDrbdDevice> | undefined;
    for (const lv of Object.values(o.lvs)) {
      const { minor, port } = drbdOfLvTags(lv.tags);
      if (minor === undefined || port === undefined || !ports.has(port)) continue;
      const dev = o.drbd?.devices[String(minor)];
      if (!dev) continue;
      devices ??= { ...o.drbd!.devices };
      devices[String(minor)] = { ...dev, peer: { connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' } };
    }
    const files = { ...o.files, ...shared };
    nodes.set(name, { ...o, files, ...(devices ? { drbd: { devices } } : {}) });
  }
  return {
    input: {
      ...input,
      cluster: { ...input.cluster, failover: true },
      nodes: input.nodes.map((n) => ({ ...n, memoryMiB: 1_048_576, cpus: 128, ...(n.name === node ? { role: 'offline' as const } : {}) })),
    },
    observed: { ...observed, nodes, lastKnown: new Map([...(observed.lastKnown ?? []), [node, last]]) },
    node,
    instances: input.instances.filter((i) => i.primary === node),
  };
}

// Summary when run directly.
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k: string, d: number): number => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const spec: GenSpec = { seed: arg('seed', 1), nodes: arg('nodes', 700), groups: arg('groups', 20), instances: arg('instances', 40_000), runtime: process.argv.includes('--runtime') };
  const input = genDesired(spec);
  const obs = genObserved(input);
  let lvCount = 0;
  let fileCount = 0;
  for (const n of obs.nodes.values()) {
    lvCount += Object.keys(n.lvs).length;
    fileCount += Object.keys(n.files).length;
  }
  const byTemplate: Record<string, number> = {};
  for (const i of input.instances) byTemplate[i.diskTemplate] = (byTemplate[i.diskTemplate] ?? 0) + 1;
  console.log(JSON.stringify({ spec, nodes: input.nodes.length, instances: input.instances.length, byTemplate, lvs: lvCount, files: fileCount }, null, 2));
}
