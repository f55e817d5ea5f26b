/**
 * Schema-valid resources -> DesiredState: cross-resource checks (references, templates,
 * DRBD secondaries, IPs) and filling (cluster -> node group -> instance), all pure.
 * Used for files (load.ts) and for Kubernetes CRs alike: a resource only needs an
 * Origin that turns a field path into a LoadError.
 */
import ipaddr from 'ipaddr.js';
import type {
  ClusterDoc, DiskParams, InstanceDoc, IPolicy, ISpec, Kind, KvmHvParams, NetworkDoc, NodeDoc, NodeGroupDoc,
  NodeProfile, PathSegment, Migration,
} from '../api/index.js';
import { ABS_PATH_MESSAGE, ABS_PATH_RE, SYSCTL_KEY_RE } from '../api/index.js';
import {
  DEFAULT_BE, DEFAULT_DRBD_META_MIB, DEFAULT_ENABLED_DISK_TEMPLATES, DEFAULT_FILE_DIR, DEFAULT_GROUP, DEFAULT_KVM, DEFAULT_MAC_PREFIX, DEFAULT_MAX_SPEC,
  DEFAULT_MIGRATION, DEFAULT_MIN_SPEC, DEFAULT_ORPHAN_GRACE_MINUTES, DEFAULT_ORPHAN_MAX_PERCENT, DEFAULT_SYSCTL_ALLOW, DEFAULT_RUN_DIR, DEFAULT_SHAREDFILE_DIR, DEFAULT_SPINDLE_RATIO, DEFAULT_STD_SPEC,
  DEFAULT_VCPU_RATIO, DEFAULT_VG,
} from './defaults.js';
import type { LoadError, LoadErrorCode } from './errors.js';
import type {
  DesiredCluster, DesiredDisk, DesiredGroup, DesiredInstance, DesiredNetwork, DesiredNic, DesiredNode, DesiredState,
  DiskParamsEff, DiskTemplate, IPolicyEff, ISpecEff, KvmParams, MigrationEff, NicParamsEff, NodeProfileEff,
} from './model.js';
import { parseSize } from './sizes.js';
import { DEFAULT_DRAIN_MAX_PARALLEL, DEFAULT_WATCHER } from '../core/plan.js';
import { checkConnectedOnce, checkFits, checkImageOs, checkIPolicyLayer, checkOverlaps, checkSubnetSpan, ExclusionRegistry, type LinkedSubnet } from './checks-set.js';
import { checkHostKey, checkInstanceDevices, checkKvmLayer, checkMaxDiskSize, checkNicVlan, checkOsParams, checkStorageDir, edgeAddresses, isMulticastMac } from './checks.js';

export type Anchor = 'key' | 'value' | 'parent';

/** Where a resource came from; turns a field path into a positioned error. */
export interface Origin {
  readonly file: string;
  readonly line: number;
  error(path: readonly PathSegment[], code: LoadErrorCode, message: string, anchor?: Anchor): LoadError;
}

export type ResourceDoc = ClusterDoc | NodeGroupDoc | NodeDoc | NetworkDoc | InstanceDoc;

export interface ManifestResource {
  readonly kind: Kind;
  readonly name: string;
  readonly body: ResourceDoc;
  readonly origin: Origin;
}


/** Shallow merge where undefined never overrides. */
function over<T extends object>(base: T, ...layers: (Partial<T> | undefined)[]): T {
  const out = { ...base } as Record<string, unknown>;
  for (const l of layers) {
    if (!l) continue;
    for (const [k, v] of Object.entries(l)) if (v !== undefined) out[k] = v;
  }
  return out as T;
}

function sizeOr(v: number | string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  return parseSize(v) ?? dflt;
}

function mergeByName<T extends { name: string }>(layers: (readonly T[] | undefined)[], merge: (a: T, b: T) => T): T[] {
  const out = new Map<string, T>();
  for (const l of layers) for (const item of l ?? []) {
    const prev = out.get(item.name);
    out.set(item.name, prev ? merge(prev, item) : item);
  }
  return [...out.values()];
}

/** IPv6 interface addresses in the form iproute2 prints (RFC 5952), so the plan compares like with like. */
function canonicalCidr(cidr: string): string {
  if (!cidr.includes(':')) return cidr;
  const [addr, len] = cidr.split('/');
  try { return `${ipaddr.IPv6.parse(addr!).toRFC5952String()}/${len}`; } catch { return cidr; }
}

/** cluster.nodeProfile ⊕ group.nodeProfile ⊕ node.profile; lists merge by name, later wins per field. */
export function mergeProfiles(layers: (NodeProfile | undefined)[]): NodeProfileEff {
  const bridges = mergeByName(layers.map((l) => l?.bridges), (a, b) => over(a, b)).map((b) => ({
    name: b.name, vlanFiltering: b.vlanFiltering ?? false, ...(b.mtu !== undefined ? { mtu: b.mtu } : {}),
    addresses: (b.addresses ?? []).map(canonicalCidr), ports: [...(b.ports ?? [])],
  }));
  const ovsBridges = mergeByName(layers.map((l) => l?.ovsBridges), (a, b) => ({
    ...over(a, b), ports: mergeByName([a.ports, b.ports], (x, y) => over(x, y)),
  })).map((b) => ({
    name: b.name, datapathType: b.datapathType ?? 'system',
    ports: (b.ports ?? []).map((p) => ({ name: p.name, ...(p.tag !== undefined ? { tag: p.tag } : {}), trunks: [...(p.trunks ?? [])], type: p.type ?? 'system' })),
  }));
  const vxlans = mergeByName(layers.map((l) => l?.vxlans), (a, b) => over(a, b)).map((v) => ({ ...v, dstPort: v.dstPort ?? 4789 }));
  const volumeGroups = mergeByName(layers.map((l) => l?.volumeGroups), (a, b) => over(a, b)).map((v) => ({ name: v.name, pvs: [...v.pvs] }));
  const sysctls: Record<string, string> = {};
  for (const l of layers) for (const [k, v] of Object.entries(l?.sysctls ?? {})) sysctls[k] = String(v);
  return { bridges, ovsBridges, vxlans, volumeGroups, sysctls };
}

function fillKvm(...layers: (KvmHvParams | undefined)[]): KvmParams {
  return over(DEFAULT_KVM, ...(layers as Partial<KvmParams>[]));
}

function fillDiskParams(storage: DesiredCluster['storage'], ...layers: (DiskParams | undefined)[]): DiskParamsEff {
  const plain = over({} as NonNullable<DiskParams['plain']>, ...layers.map((l) => l?.plain));
  const drbd = over({} as NonNullable<DiskParams['drbd']>, ...layers.map((l) => l?.drbd));
  const file = over({} as NonNullable<DiskParams['file']>, ...layers.map((l) => l?.file));
  const shared = over({} as NonNullable<DiskParams['sharedfile']>, ...layers.map((l) => l?.sharedfile));
  const drbdVg = drbd.vg ?? storage.volumeGroup;
  return {
    plain: { vg: plain.vg ?? storage.volumeGroup, stripes: plain.stripes ?? 1 },
    drbd: {
      vg: drbdVg, metaVg: drbd.metaVg ?? drbdVg, metaSize: sizeOr(drbd.metaSize, DEFAULT_DRBD_META_MIB),
      resyncRateKiB: drbd.resyncRateKiB ?? 61440, protocol: drbd.protocol ?? 'C', dynamicResync: drbd.dynamicResync ?? false,
      diskBarriers: drbd.diskBarriers ?? 'n', ...(drbd.pingTimeoutMs !== undefined ? { pingTimeoutMs: drbd.pingTimeoutMs } : {}),
    },
    file: { dir: file.dir ?? storage.fileStorageDir, format: file.format ?? 'raw' },
    sharedfile: { dir: shared.dir ?? storage.sharedFileStorageDir, format: shared.format ?? 'raw' },
  };
}

function fillISpec(dflt: ISpecEff, ...layers: (ISpec | undefined)[]): ISpecEff {
  const out = { ...dflt };
  for (const l of layers) {
    if (!l) continue;
    if (l.memory !== undefined) out.memory = sizeOr(l.memory, out.memory);
    if (l.diskSize !== undefined) out.diskSize = sizeOr(l.diskSize, out.diskSize);
    for (const k of ['vcpus', 'diskCount', 'nicCount', 'spindleUse'] as const) if (l[k] !== undefined) out[k] = l[k]!;
  }
  return out;
}

function fillIPolicy(enabled: DiskTemplate[], ...layers: (IPolicy | undefined)[]): IPolicyEff {
  let diskTemplates = [...enabled];
  let vcpuRatio = DEFAULT_VCPU_RATIO;
  let spindleRatio = DEFAULT_SPINDLE_RATIO;
  for (const l of layers) {
    if (l?.diskTemplates) diskTemplates = [...l.diskTemplates];
    if (l?.vcpuRatio !== undefined) vcpuRatio = l.vcpuRatio;
    if (l?.spindleRatio !== undefined) spindleRatio = l.spindleRatio;
  }
  return {
    minSpec: fillISpec(DEFAULT_MIN_SPEC, ...layers.map((l) => l?.minSpec)),
    maxSpec: fillISpec(DEFAULT_MAX_SPEC, ...layers.map((l) => l?.maxSpec)),
    stdSpec: fillISpec(DEFAULT_STD_SPEC, ...layers.map((l) => l?.stdSpec)),
    diskTemplates, vcpuRatio, spindleRatio,
  };
}

function fillMigration(kvm: KvmParams, ...layers: (Migration | undefined)[]): MigrationEff {
  return over({ ...DEFAULT_MIGRATION, bandwidthMiBps: kvm.migrationBandwidthMiBps, downtimeMs: kvm.migrationDowntimeMs }, ...(layers as Partial<MigrationEff>[]));
}

export function fillCluster(doc: ClusterDoc): DesiredCluster {
  const s = doc.spec;
  const storage = {
    volumeGroup: s.storage?.volumeGroup ?? DEFAULT_VG,
    fileStorageDir: s.storage?.fileStorageDir ?? DEFAULT_FILE_DIR,
    sharedFileStorageDir: s.storage?.sharedFileStorageDir ?? DEFAULT_SHAREDFILE_DIR,
  };
  const kvm = fillKvm(s.hvParams?.kvm);
  const enabledDiskTemplates = [...(s.enabledDiskTemplates ?? DEFAULT_ENABLED_DISK_TEMPLATES)];
  const be = s.beParams;
  return {
    name: doc.metadata.name,
    enabledHypervisors: [...(s.enabledHypervisors ?? ['kvm'])],
    enabledDiskTemplates,
    hvParams: { kvm },
    beParams: {
      vcpus: be?.vcpus ?? DEFAULT_BE.vcpus, memory: sizeOr(be?.memory, DEFAULT_BE.memory),
      autoBalance: be?.autoBalance ?? DEFAULT_BE.autoBalance, spindleUse: be?.spindleUse ?? DEFAULT_BE.spindleUse,
    },
    nicParams: over<NicParamsEff>({ mode: 'bridged' }, s.nicParams as Partial<NicParamsEff>),
    diskParams: fillDiskParams(storage, s.diskParams),
    storage,
    drbd: {
      portRange: { start: s.drbd?.portRange?.start ?? 11000, end: s.drbd?.portRange?.end ?? 14999 },
      minorCount: s.drbd?.minorCount ?? 128,
      usermodeHelper: s.drbd?.usermodeHelper ?? '/bin/true',
    },
    migration: fillMigration(kvm, s.migration),
    ipolicy: fillIPolicy(enabledDiskTemplates, s.ipolicy),
    nPlusOne: { mode: s.nPlusOne?.mode ?? 'warn' },
    watcher: { restartErrorDown: s.watcher?.restartErrorDown ?? true, maxRestarts: s.watcher?.maxRestarts ?? DEFAULT_WATCHER.maxRestarts, backoffSeconds: s.watcher?.backoffSeconds ?? DEFAULT_WATCHER.backoffSeconds, healthySeconds: s.watcher?.healthySeconds ?? DEFAULT_WATCHER.healthySeconds },
    autoRepair: { enabled: s.autoRepair?.enabled ?? false, failover: s.autoRepair?.failover ?? false, fenceMaxPerGroup: s.autoRepair?.fenceMaxPerGroup ?? 1, maxAttempts: s.autoRepair?.maxAttempts ?? 3 },
    drain: { maxParallelMoves: s.drain?.maxParallelMoves ?? DEFAULT_DRAIN_MAX_PARALLEL },
    liveness: { missedProbes: s.liveness?.missedProbes ?? 3, graceSeconds: s.liveness?.graceSeconds ?? 10 },
    orphans: { remove: s.orphans?.remove ?? false, maxPercentPerPass: s.orphans?.maxPercentPerPass ?? DEFAULT_ORPHAN_MAX_PERCENT, graceMinutes: s.orphans?.graceMinutes ?? DEFAULT_ORPHAN_GRACE_MINUTES },
    macPrefix: s.macPrefix ?? DEFAULT_MAC_PREFIX,
    osSearchPath: [...(s.osSearchPath ?? ['/srv/gantry/os', '/usr/share/gantry/os'])],
    exclusionTags: [...(s.exclusionTags ?? [])],
    tags: [...(s.tags ?? [])],
    nodeProfile: mergeProfiles([s.nodeProfile]),
    nodeSysctlAllow: [...DEFAULT_SYSCTL_ALLOW, ...(s.nodeSysctlAllow ?? [])],
    ...(s.maxDiskSize !== undefined ? { maxDiskSize: sizeOr(s.maxDiskSize, 0) } : {}),
  };
}

/** A group's effective params; `doc` undefined = the implicit "default" group. */
export function fillGroup(name: string, doc: NodeGroupDoc | undefined, clusterDoc: ClusterDoc, cluster: DesiredCluster, networks: Map<string, DesiredNetwork>): DesiredGroup {
  const s = doc?.spec;
  const cs = clusterDoc.spec;
  const kvm = fillKvm(cs.hvParams?.kvm, s?.hvParams?.kvm);
  const nicParams = over<NicParamsEff>(cluster.nicParams, s?.nicParams as Partial<NicParamsEff>);
  return {
    name,
    implicit: doc === undefined,
    allocPolicy: s?.allocPolicy ?? 'preferred',
    hvParams: { kvm },
    nicParams,
    diskParams: fillDiskParams(cluster.storage, cs.diskParams, s?.diskParams),
    migration: fillMigration(kvm, cs.migration, s?.migration),
    ipolicy: fillIPolicy(cluster.enabledDiskTemplates, cs.ipolicy, s?.ipolicy),
    networks: (s?.networks ?? []).map((c) => {
      const net = networks.get(c.network);
      const mode = c.mode ?? net?.mode ?? nicParams.mode;
      const link = c.link ?? net?.link ?? (mode === 'routed' ? undefined : nicParams.link);
      const vlan = c.vlan ?? net?.vlan;
      return { network: c.network, mode, ...(link !== undefined ? { link } : {}), ...(vlan !== undefined ? { vlan } : {}) };
    }),
    nodeProfile: mergeProfiles([cs.nodeProfile, s?.nodeProfile]),
    tags: [...(s?.tags ?? [])],
  };
}

interface Ip4Net { addr: ipaddr.IPv4; prefix: number }

function parseCidr4(cidr: string): Ip4Net | undefined {
  try {
    const [addr, prefix] = ipaddr.IPv4.parseCIDR(cidr);
    return { addr, prefix };
  } catch { return undefined; }
}

function ip4(s: string): ipaddr.IPv4 | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(s) ? ipaddr.IPv4.parse(s) : undefined;
}

const ipNum = (a: ipaddr.IPv4) => a.octets.reduce((n, o) => n * 256 + o, 0);

/** Build the desired state; errors are every problem found (never just the first). */
export function buildDesired(resources: readonly ManifestResource[], setOrigin?: Origin, failed: ReadonlySet<string> = new Set()): { state?: DesiredState; errors: LoadError[] } {
  const errors: LoadError[] = [];
  // a reference to a resource that failed validation is not reported again
  const missing = (kind: Kind, name: string, have: Map<string, unknown>) => !have.has(name) && !failed.has(`${kind}/${name}`);
  const err = (r: ManifestResource, path: PathSegment[], code: LoadErrorCode, msg: string, anchor: Anchor = 'value') => errors.push(r.origin.error(path, code, msg, anchor));
  const where = (r: ManifestResource) => `${r.origin.file}:${r.origin.line}`;

  // ---- one name per kind ----
  const byKind = new Map<Kind, Map<string, ManifestResource>>();
  for (const r of resources) {
    const m = byKind.get(r.kind) ?? new Map<string, ManifestResource>();
    byKind.set(r.kind, m);
    const first = m.get(r.name);
    if (r.kind === 'Cluster' && m.size > 0) {
      const [firstCluster] = m.values();
      err(r, ['metadata', 'name'], 'multiple-clusters', `a set holds exactly one Cluster; ${firstCluster!.name} is already declared at ${where(firstCluster!)}`);
      continue;
    }
    if (first) { err(r, ['metadata', 'name'], 'duplicate-name', `duplicate ${r.kind} "${r.name}" (first declared at ${where(first)})`); continue; }
    m.set(r.name, r);
  }
  const get = <D extends ResourceDoc>(k: Kind) => [...(byKind.get(k)?.values() ?? [])] as (ManifestResource & { body: D })[];
  const clusterR = get<ClusterDoc>('Cluster')[0];
  if (!clusterR) {
    // a Cluster that failed validation is not reported missing as well
    if (failed.has('Cluster/*') || failed.has('*/*')) return { errors };
    const first = resources[0]?.origin ?? setOrigin;
    errors.push(first
      ? { ...first.error([], 'missing-cluster', 'no Cluster in this set: exactly one Cluster resource is required', 'parent'), path: '' }
      : { file: '<none>', line: 1, column: 1, path: '', message: 'no manifests found: exactly one Cluster resource is required', code: 'missing-cluster' });
    return { errors };
  }
  const cluster = fillCluster(clusterR.body);
  const cs = clusterR.body.spec;
  if (cluster.drbd.portRange.start > cluster.drbd.portRange.end) err(clusterR, ['spec', 'drbd', 'portRange'], 'invalid-port-range', `start ${cluster.drbd.portRange.start} is after end ${cluster.drbd.portRange.end}`);
  for (const [i, t] of (cs.ipolicy?.diskTemplates ?? []).entries()) {
    if (!cluster.enabledDiskTemplates.includes(t)) err(clusterR, ['spec', 'ipolicy', 'diskTemplates', i], 'template-not-enabled', `disk template "${t}" is not in enabledDiskTemplates (${cluster.enabledDiskTemplates.join(', ')})`);
  }
  checkProfile(clusterR, ['spec', 'nodeProfile'], cs.nodeProfile, cluster.nodeSysctlAllow, err);
  const errAt = (r: ManifestResource) => (path: PathSegment[], code: LoadErrorCode, msg: string) => err(r, path, code, msg);
  checkKvmLayer(['spec', 'hvParams', 'kvm'], cs.hvParams?.kvm, cluster.hvParams.kvm, errAt(clusterR));
  checkNicVlan(['spec', 'nicParams', 'vlan'], cluster.nicParams.mode, cs.nicParams?.vlan, errAt(clusterR));
  checkStorageDir(['spec', 'storage', 'fileStorageDir'], cs.storage?.fileStorageDir, errAt(clusterR));
  checkStorageDir(['spec', 'storage', 'sharedFileStorageDir'], cs.storage?.sharedFileStorageDir, errAt(clusterR));
  checkStorageDir(['spec', 'diskParams', 'file', 'dir'], cs.diskParams?.file?.dir, errAt(clusterR));
  checkStorageDir(['spec', 'diskParams', 'sharedfile', 'dir'], cs.diskParams?.sharedfile?.dir, errAt(clusterR));
  const policyOk = new Map<string, boolean>([['', checkIPolicyLayer(cs.ipolicy, cluster.ipolicy, errAt(clusterR))]]);
  if (cs.macPrefix !== undefined && isMulticastMac(cs.macPrefix)) err(clusterR, ['spec', 'macPrefix'], 'invalid-value', `MAC prefix ${cs.macPrefix} is multicast (the low bit of its first octet is set): NICs need unicast MACs`);

  // ---- networks ----
  const networks = new Map<string, DesiredNetwork>();
  const netRanges = new Map<string, { net: Ip4Net; reserved: [number, number][]; gateway?: number }>();
  const linked: LinkedSubnet[] = [];
  for (const r of get<NetworkDoc>('Network')) {
    const s = r.body.spec;
    checkSubnetSpan(['spec', 'subnet'], s.subnet, errAt(r));
    checkSubnetSpan(['spec', 'subnet6'], s.subnet6, errAt(r));
    const net = parseCidr4(s.subnet);
    let ok = true;
    if (!net) { err(r, ['spec', 'subnet'], 'bad-cidr', `"${s.subnet}" is not an IPv4 CIDR`); ok = false; }
    else {
      const base = ipaddr.IPv4.networkAddressFromCIDR(s.subnet).toString();
      if (base !== net.addr.toString()) { err(r, ['spec', 'subnet'], 'bad-cidr', `"${s.subnet}" has host bits set (did you mean ${base}/${net.prefix}?)`); ok = false; }
    }
    const inNet = (a: ipaddr.IPv4) => !!net && a.match(net.addr, net.prefix);
    let gateway: number | undefined;
    if (s.gateway !== undefined && ok) {
      const g = ip4(s.gateway);
      if (!g || !inNet(g)) err(r, ['spec', 'gateway'], 'ip-outside-subnet', `gateway ${s.gateway} is outside subnet ${s.subnet}`);
      else if (ipNum(g) === edgeAddresses(ipNum(net!.addr), net!.prefix)?.broadcast) err(r, ['spec', 'gateway'], 'ip-reserved', `gateway ${s.gateway} is the broadcast address of ${s.subnet}`);
      else if (ipNum(g) === edgeAddresses(ipNum(net!.addr), net!.prefix)?.network) err(r, ['spec', 'gateway'], 'ip-reserved', `gateway ${s.gateway} is the network address of ${s.subnet}`);
      else gateway = ipNum(g);
    }
    const reserved: [number, number][] = [];
    for (const [i, res] of (s.reservedIps ?? []).entries()) {
      if (!ok) break;
      const [a, b = a] = res.split('-');
      const lo = ip4(a!), hi = ip4(b ?? a!);
      if (!lo || !hi || !inNet(lo) || !inNet(hi)) { err(r, ['spec', 'reservedIps', i], 'ip-outside-subnet', `reserved ${res} is outside subnet ${s.subnet}`); continue; }
      if (ipNum(lo) > ipNum(hi)) { err(r, ['spec', 'reservedIps', i], 'invalid-value', `range ${res} runs backwards`); continue; }
      reserved.push([ipNum(lo), ipNum(hi)]);
    }
    if (s.subnet6 !== undefined) {
      let n6: [ipaddr.IPv6, number] | undefined;
      try { n6 = ipaddr.IPv6.parseCIDR(s.subnet6) as [ipaddr.IPv6, number]; } catch { err(r, ['spec', 'subnet6'], 'bad-cidr', `"${s.subnet6}" is not an IPv6 CIDR`); }
      // NICs get the EUI-64 address of their MAC (plan/ip6): 64 bits of interface identifier.
      if (n6 && n6[1] > 64) { err(r, ['spec', 'subnet6'], 'invalid-value', `subnet6 ${s.subnet6} is longer than /64: NIC addresses are EUI-64 (derived from the MAC) and need a /64 or shorter`); n6 = undefined; }
      if (n6 && s.gateway6 !== undefined) {
        let g6: ipaddr.IPv6 | undefined;
        try { g6 = ipaddr.IPv6.parse(s.gateway6); } catch { /* reported below */ }
        if (!g6 || !g6.match(n6)) err(r, ['spec', 'gateway6'], 'ip-outside-subnet', `gateway6 ${s.gateway6} is outside subnet6 ${s.subnet6}`);
      }
    } else if (s.gateway6 !== undefined) err(r, ['spec', 'gateway6'], 'invalid-value', 'gateway6 needs subnet6');
    if (s.macPrefix !== undefined && isMulticastMac(s.macPrefix)) err(r, ['spec', 'macPrefix'], 'invalid-value', `MAC prefix ${s.macPrefix} is multicast (the low bit of its first octet is set): NICs need unicast MACs`);
    if (s.mode !== 'openvswitch' && (s.vlan !== undefined || s.trunks !== undefined)) err(r, ['spec', s.vlan !== undefined ? 'vlan' : 'trunks'], 'invalid-value', 'VLANs need mode: openvswitch');
    if (net && ok) netRanges.set(r.name, { net, reserved, ...(gateway !== undefined ? { gateway } : {}) });
    if (net && ok && net.prefix > 0) {
      const mode = s.mode ?? cluster.nicParams.mode;
      const link = s.link ?? (mode === 'routed' ? undefined : cluster.nicParams.link);
      // VLANs split one OVS switch into separate segments: the same subnet on two VLANs is fine.
      linked.push({ name: r.name, link: link !== undefined && s.vlan !== undefined ? `${link} (VLAN ${s.vlan})` : link, subnets: [s.subnet, s.subnet6], err: errAt(r), path: ['spec', 'subnet'] });
    }
    networks.set(r.name, {
      name: r.name, subnet: s.subnet,
      ...(s.gateway !== undefined ? { gateway: s.gateway } : {}),
      ...(s.subnet6 !== undefined ? { subnet6: s.subnet6 } : {}),
      ...(s.gateway6 !== undefined ? { gateway6: s.gateway6 } : {}),
      ...(s.mode !== undefined ? { mode: s.mode } : {}),
      ...(s.link !== undefined ? { link: s.link } : {}),
      ...(s.vlan !== undefined ? { vlan: s.vlan } : {}),
      trunks: [...(s.trunks ?? [])],
      macPrefix: s.macPrefix ?? cluster.macPrefix,
      reservedIps: [...(s.reservedIps ?? [])],
      tags: [...(s.tags ?? [])],
    });
  }

  checkOverlaps(linked);

  // ---- groups ----
  const groups = new Map<string, DesiredGroup>();
  for (const r of get<NodeGroupDoc>('NodeGroup')) {
    checkConnectedOnce(r.body.spec.networks ?? [], errAt(r));
    for (const [i, c] of (r.body.spec.networks ?? []).entries()) {
      if (missing('Network', c.network, networks)) err(r, ['spec', 'networks', i, 'network'], 'unknown-reference', `unknown Network "${c.network}"${known(networks)}`);
    }
    checkProfile(r, ['spec', 'nodeProfile'], r.body.spec.nodeProfile, cluster.nodeSysctlAllow, err);
    const g = fillGroup(r.name, r.body, clusterR.body, cluster, networks);
    checkKvmLayer(['spec', 'hvParams', 'kvm'], r.body.spec.hvParams?.kvm, g.hvParams.kvm, errAt(r));
    policyOk.set(r.name, policyOk.get('')! && checkIPolicyLayer(r.body.spec.ipolicy, g.ipolicy, errAt(r)));
    // A connection may put a network on another link than its own: check the group's links too.
    const netLink = new Map(linked.map((l) => [l.name, l.link]));
    checkOverlaps(g.networks.flatMap((c, i) => {
      const n = networks.get(c.network);
      if (!n || !linked.some((l) => l.name === c.network)) return [];
      const link = c.link !== undefined && c.vlan !== undefined ? `${c.link} (VLAN ${c.vlan})` : c.link;
      return [{ name: c.network, link, subnets: [n.subnet, n.subnet6], err: errAt(r), path: ['spec', 'networks', i, 'network'] }];
    }), (a, b) => netLink.get(a) !== undefined && netLink.get(a) === netLink.get(b));
    checkNicVlan(['spec', 'nicParams', 'vlan'], g.nicParams.mode, r.body.spec.nicParams?.vlan, errAt(r));
    for (const [i, c] of (r.body.spec.networks ?? []).entries()) checkNicVlan(['spec', 'networks', i, 'vlan'], g.networks[i]?.mode ?? 'bridged', c.vlan, errAt(r));
    groups.set(r.name, g);
  }

  // ---- nodes ----
  const nodes = new Map<string, DesiredNode>();
  const addresses = new Map<string, ManifestResource>();
  const groupDocs = byKind.get('NodeGroup') ?? new Map();
  for (const r of get<NodeDoc>('Node')) {
    const s = r.body.spec;
    const groupName = s.group ?? DEFAULT_GROUP;
    if (!groups.has(groupName)) {
      if (groupName === DEFAULT_GROUP) groups.set(DEFAULT_GROUP, fillGroup(DEFAULT_GROUP, undefined, clusterR.body, cluster, networks));
      else if (missing('NodeGroup', groupName, groups)) err(r, ['spec', 'group'], 'unknown-reference', `unknown NodeGroup "${groupName}"${known(groups)}`);
    }
    for (const [field, addr] of [['address', s.address], ['secondaryAddress', s.secondaryAddress]] as const) {
      if (addr === undefined) continue;
      if (field === 'address') { checkHostKey(s.ssh?.hostKey, errAt(r)); checkStorageDir(['spec', 'paths', 'fileStorageDir'], s.paths?.fileStorageDir, errAt(r)); }
      if (addr === '0.0.0.0') { err(r, ['spec', field], 'invalid-value', `${addr} is the unspecified address, not an address of the node`); continue; }
      const prev = addresses.get(addr);
      if (prev && prev.name !== r.name) err(r, ['spec', field], 'duplicate-address', `address ${addr} is already used by Node "${prev.name}" (${where(prev)})`);
      else addresses.set(addr, r);
    }
    checkProfile(r, ['spec', 'profile'], s.profile, cluster.nodeSysctlAllow, err);
    const oobProgram = s.oob?.program[0];
    if (oobProgram !== undefined && !new RegExp(ABS_PATH_RE).test(oobProgram)) err(r, ['spec', 'oob', 'program', 0], 'invalid-value', `${JSON.stringify(oobProgram)} ${ABS_PATH_MESSAGE} (the program is run as argv, never through a shell)`);
    const group = groups.get(groupName);
    const groupDoc = groupDocs.get(groupName)?.body as NodeGroupDoc | undefined;
    nodes.set(r.name, {
      name: r.name,
      group: groupName,
      address: s.address,
      secondaryAddress: s.secondaryAddress ?? s.address,
      role: s.role ?? 'regular',
      ssh: {
        host: s.ssh?.host ?? s.address, port: s.ssh?.port ?? 22, user: s.ssh?.user ?? 'root',
        ...(s.ssh?.hostKey !== undefined ? { hostKey: s.ssh.hostKey } : {}),
        ...(s.ssh?.privateKeyFile !== undefined ? { privateKeyFile: s.ssh.privateKeyFile } : {}),
      },
      ...(s.ovsdbSocket !== undefined ? { ovsdbSocket: s.ovsdbSocket } : {}),
      ...(s.oob !== undefined ? { oob: { program: [...s.oob.program], timeoutSeconds: s.oob.timeoutSeconds ?? 60 } } : {}),
      paths: {
        runDir: s.paths?.runDir ?? DEFAULT_RUN_DIR,
        fileStorageDir: s.paths?.fileStorageDir ?? group?.diskParams.file.dir ?? cluster.diskParams.file.dir,
        sharedFileStorageDir: group?.diskParams.sharedfile.dir ?? cluster.diskParams.sharedfile.dir,
      },
      ...(s.memory !== undefined ? { memory: sizeOr(s.memory, 0) } : {}),
      ...(s.cpus !== undefined ? { cpus: s.cpus } : {}),
      exclusiveStorage: s.ndParams?.exclusiveStorage ?? groupDoc?.spec.ndParams?.exclusiveStorage ?? false,
      ...(s.spindles !== undefined ? { spindles: s.spindles } : {}),
      profile: mergeProfiles([cs.nodeProfile, groupDoc?.spec.nodeProfile, s.profile]),
      tags: [...(s.tags ?? [])],
    });
  }

  // ---- instances ----
  const instances = new Map<string, DesiredInstance>();
  const usedIps = new Map<string, { r: ManifestResource; path: PathSegment[] }>();
  const usedMacs = new Map<string, string>();
  const exclusion = new ExclusionRegistry();
  for (const r of get<InstanceDoc>('Instance')) {
    const s = r.body.spec;
    const p = s.placement ?? {};
    const primary = p.primary !== undefined ? nodes.get(p.primary) : undefined;
    const secondary = p.secondary !== undefined ? nodes.get(p.secondary) : undefined;
    if (p.primary !== undefined && missing('Node', p.primary, nodes)) err(r, ['spec', 'placement', 'primary'], 'unknown-reference', `unknown Node "${p.primary}"${known(nodes)}`);
    if (p.secondary !== undefined && missing('Node', p.secondary, nodes)) err(r, ['spec', 'placement', 'secondary'], 'unknown-reference', `unknown Node "${p.secondary}"${known(nodes)}`);
    if (p.group !== undefined && missing('NodeGroup', p.group, groups)) err(r, ['spec', 'placement', 'group'], 'unknown-reference', `unknown NodeGroup "${p.group}"${known(groups)}`);
    if (primary && p.group !== undefined && groups.has(p.group) && primary.group !== p.group) {
      err(r, ['spec', 'placement', 'primary'], 'placement-conflict', `primary ${primary.name} is in group ${primary.group}, not in placement.group ${p.group}`);
    }
    const groupName = p.group ?? primary?.group;
    const group = groupName !== undefined ? groups.get(groupName) : undefined;
    const groupDoc = groupName !== undefined ? groupDocs.get(groupName)?.body as NodeGroupDoc | undefined : undefined;
    const hvParams = fillKvm(cs.hvParams?.kvm, groupDoc?.spec.hvParams?.kvm, s.hvParams);
    const diskParams = group?.diskParams ?? cluster.diskParams;
    const nicParams = group?.nicParams ?? cluster.nicParams;
    const hypervisor = s.hypervisor ?? 'kvm';
    if (!cluster.enabledHypervisors.includes(hypervisor)) err(r, ['spec', 'hypervisor'], 'unknown-hypervisor', `hypervisor ${hypervisor} is not enabled on the cluster`);

    // templates and disks
    const diskTemplate: DiskTemplate = s.diskTemplate ?? cluster.enabledDiskTemplates[0]!;
    const enabledMsg = (t: string) => `disk template "${t}" is not enabled on the cluster (enabledDiskTemplates: ${cluster.enabledDiskTemplates.join(', ')})`;
    if (s.diskTemplate !== undefined && !cluster.enabledDiskTemplates.includes(s.diskTemplate)) err(r, ['spec', 'diskTemplate'], 'template-not-enabled', enabledMsg(s.diskTemplate));
    const disks: DesiredDisk[] = (s.disks ?? []).map((d, index) => {
      const template = d.template ?? diskTemplate;
      if (d.template !== undefined && !cluster.enabledDiskTemplates.includes(d.template)) err(r, ['spec', 'disks', index, 'template'], 'template-not-enabled', enabledMsg(d.template));
      if (template === 'diskless') err(r, ['spec', 'disks', index, d.template !== undefined ? 'template' : 'size'], 'invalid-value', 'a diskless instance has no disks: give this disk a template');
      const size = parseSize(d.size);
      if (size === undefined) err(r, ['spec', 'disks', index, 'size'], 'bad-size', `${JSON.stringify(d.size)} is not a size`);
      if ((d.vg !== undefined || d.metaVg !== undefined) && template !== 'plain' && template !== 'drbd') err(r, ['spec', 'disks', index, d.vg !== undefined ? 'vg' : 'metaVg'], 'invalid-value', `a ${template} disk has no volume group`);
      if (d.metaVg !== undefined && template === 'plain') err(r, ['spec', 'disks', index, 'metaVg'], 'invalid-value', 'metaVg is for drbd disks');
      const base = { index, ...(d.name !== undefined ? { name: d.name } : {}), size: size ?? 0, template, mode: d.mode ?? 'rw', state: d.state ?? 'present', ...(d.spindles !== undefined ? { spindles: d.spindles } : {}) } as const;
      switch (template) {
        case 'plain': return { ...base, vg: d.vg ?? diskParams.plain.vg, ...(diskParams.plain.stripes > 1 ? { stripes: diskParams.plain.stripes } : {}) };
        case 'drbd': {
          const p = diskParams.drbd;
          return { ...base, vg: d.vg ?? p.vg, metaVg: d.metaVg ?? p.metaVg, metaSize: p.metaSize, drbdSync: { protocol: p.protocol, resyncRateKiB: p.resyncRateKiB, dynamicResync: p.dynamicResync, diskBarriers: p.diskBarriers, ...(p.pingTimeoutMs !== undefined ? { pingTimeoutMs: p.pingTimeoutMs } : {}) } };
        }
        case 'file': return { ...base, dir: diskParams.file.dir, format: diskParams.file.format };
        case 'sharedfile': return { ...base, dir: diskParams.sharedfile.dir, format: diskParams.sharedfile.format };
        default: return { ...base };
      }
    });
    // Exclusive storage (Ganeti's CheckSpindlesExclusiveStorage): a disk that may land on such a node says how many PVs it takes.
    const mayHost = p.primary !== undefined
      ? [primary, secondary, ...(secondary === undefined && primary ? [...nodes.values()].filter((n) => n.group === primary.group) : [])]
      : [...nodes.values()].filter((n) => groupName === undefined || n.group === groupName);
    const exclNode = mayHost.find((n) => n?.exclusiveStorage === true);
    if (exclNode) {
      (s.disks ?? []).forEach((d, index) => {
        const t = d.template ?? diskTemplate;
        if (d.spindles === undefined && d.state !== 'absent' && (t === 'plain' || t === 'drbd')) {
          err(r, ['spec', 'disks', index], 'missing-field', `disk ${index} has no spindles, and node ${exclNode.name} it may be placed on has exclusive storage (ndParams.exclusiveStorage): each disk there takes physical volumes of its own; say how many (spindles: N), as Ganeti requires`);
        }
      });
      // A count no node could hold: judged only when every node it may land on has exclusive storage and declares its spindles.
      const hosts = mayHost.filter((n): n is DesiredNode => n !== undefined);
      const declared = hosts.map((n) => (n.exclusiveStorage ? n.spindles : undefined));
      const want = (s.disks ?? []).reduce((a, d) => a + (d.state !== 'absent' && (d.template ?? diskTemplate) !== 'file' && (d.template ?? diskTemplate) !== 'sharedfile' ? d.spindles ?? 0 : 0), 0);
      if (hosts.length > 0 && declared.every((x) => x !== undefined)) {
        const most = Math.max(...(declared as number[]));
        if (want > most) err(r, ['spec', 'disks'], 'invalid-value', `the disks take ${want} spindles, more than any exclusive-storage node this instance may be placed on has (largest: ${most}, Node spec.spindles)`);
      }
    }
    checkKvmLayer(['spec', 'hvParams'], s.hvParams, hvParams, errAt(r));
    checkInstanceDevices(s, disks, hvParams, errAt(r));
    checkMaxDiskSize(disks, cluster.maxDiskSize, errAt(r));
    const needsSecondary = disks.some((d) => d.state === 'present' && d.template === 'drbd');

    // DRBD needs two nodes in one group
    if (needsSecondary) {
      const drbdPath: PathSegment[] = s.diskTemplate === 'drbd' || !s.disks?.some((d) => d.template === 'drbd') ? ['spec', 'diskTemplate'] : ['spec', 'disks', s.disks.findIndex((d) => d.template === 'drbd'), 'template'];
      const usable = (g: string) => [...nodes.values()].filter((n) => n.group === g && n.role !== 'offline').length;
      if (p.primary !== undefined && p.primary === p.secondary) err(r, ['spec', 'placement', 'secondary'], 'drbd-no-secondary', `DRBD needs a secondary other than the primary (${p.primary})`);
      else if (primary && secondary && primary.group !== secondary.group) err(r, ['spec', 'placement', 'secondary'], 'drbd-no-secondary', `DRBD secondary ${secondary.name} (group ${secondary.group}) must be in the primary's group ${primary.group}`);
      else if (groupName !== undefined && groups.has(groupName) && usable(groupName) < 2) err(r, drbdPath, 'drbd-no-secondary', `DRBD needs a secondary node, but group ${groupName} has ${usable(groupName)} node(s) that are not offline`);
      // A set that declares no Node at all (the lab writes them; `-f` adds them) cannot be judged here.
      else if (groupName === undefined && nodes.size > 0 && ![...groups.values()].some((g) => g.allocPolicy !== 'unallocable' && usable(g.name) >= 2)) err(r, drbdPath, 'drbd-no-secondary', 'DRBD needs a secondary node, but no allocatable group has two nodes that are not offline');
    } else if (p.secondary !== undefined) {
      err(r, ['spec', 'placement', 'secondary'], 'placement-conflict', `a secondary node is only for drbd disks (this instance has none)`);
    }

    // NICs
    const nics: DesiredNic[] = (s.nics ?? []).map((n, index) => {
      const net = n.network !== undefined ? networks.get(n.network) : undefined;
      if (n.network !== undefined && missing('Network', n.network, networks)) err(r, ['spec', 'nics', index, 'network'], 'unknown-reference', `unknown Network "${n.network}"${known(networks)}`);
      const conn = group?.networks.find((c) => c.network === n.network);
      if (net && group && group.networks.length > 0 && !conn) err(r, ['spec', 'nics', index, 'network'], 'network-not-connected', `Network "${n.network}" is not connected to group ${group.name} (connected: ${group.networks.map((c) => c.network).join(', ')})`);
      const mode = n.mode ?? conn?.mode ?? net?.mode ?? nicParams.mode;
      const carried = conn?.mode ?? net?.mode;
      if (n.mode !== undefined && carried !== undefined && n.mode !== carried) err(r, ['spec', 'nics', index, 'mode'], 'invalid-value', `network ${n.network} carries ${carried} NICs${conn ? ` in group ${group!.name}` : ''}, not ${n.mode}: leave mode unset (the network decides) or use a network of that mode`);
      // A routed NIC's link is a routing table, never the cluster's default bridge.
      const link = n.link ?? conn?.link ?? net?.link ?? (mode === 'routed' ? undefined : nicParams.link);
      const vlan = n.vlan ?? conn?.vlan ?? net?.vlan ?? nicParams.vlan;
      if (n.vlan !== undefined) checkNicVlan(['spec', 'nics', index, 'vlan'], mode, n.vlan, errAt(r));
      else if (n.mode !== undefined) checkNicVlan(['spec', 'nics', index, 'mode'], mode, vlan, errAt(r));
      if (mode !== 'routed' && link === undefined) err(r, ['spec', 'nics', index], 'nic-no-link', `no link for this ${mode} NIC: set link here, on its Network, or in the cluster nicParams`);
      if (n.mac !== undefined && n.mac !== 'auto') {
        const prevMac = usedMacs.get(n.mac);
        if (isMulticastMac(n.mac)) err(r, ['spec', 'nics', index, 'mac'], 'invalid-value', `MAC ${n.mac} is multicast (the low bit of its first octet is set): a NIC needs a unicast MAC`);
        else if (prevMac && s.state !== 'absent') err(r, ['spec', 'nics', index, 'mac'], 'duplicate-name', `MAC ${n.mac} is already used by ${prevMac}`);
        else if (s.state !== 'absent') usedMacs.set(n.mac, `Instance ${r.name} nics[${index}] (${where(r)})`);
      }
      const ip = n.ip ?? (net ? 'pool' : 'none');
      if (ip === 'pool' && !net && !(n.network !== undefined && failed.has(`Network/${n.network}`))) err(r, ['spec', 'nics', index, 'ip'], 'invalid-value', 'ip: pool needs a network to allocate from');
      if (ip !== 'pool' && ip !== 'none') {
        const a = ip4(ip);
        const range = n.network !== undefined ? netRanges.get(n.network) : undefined;
        if (a && range) {
          const v = ipNum(a);
          if (!a.match(range.net.addr, range.net.prefix)) err(r, ['spec', 'nics', index, 'ip'], 'ip-outside-subnet', `${ip} is outside subnet ${net!.subnet} of network ${n.network}`);
          else if (v === range.gateway) err(r, ['spec', 'nics', index, 'ip'], 'ip-reserved', `${ip} is the gateway of network ${n.network}`);
          else if (v === edgeAddresses(ipNum(range.net.addr), range.net.prefix)?.network) err(r, ['spec', 'nics', index, 'ip'], 'ip-reserved', `${ip} is the network address of ${net!.subnet} (network ${n.network})`);
          else if (v === edgeAddresses(ipNum(range.net.addr), range.net.prefix)?.broadcast) err(r, ['spec', 'nics', index, 'ip'], 'ip-reserved', `${ip} is the broadcast address of ${net!.subnet} (network ${n.network})`);
          else if (range.reserved.some(([lo, hi]) => v >= lo && v <= hi)) err(r, ['spec', 'nics', index, 'ip'], 'ip-reserved', `${ip} is reserved on network ${n.network}`);
        }
        const key = `${n.network ?? ''}|${ip}`;
        const prev = usedIps.get(key);
        if (prev && s.state !== 'absent') err(r, ['spec', 'nics', index, 'ip'], 'duplicate-ip', `${ip} is already used by ${prev.r.kind} ${prev.r.name} (${where(prev.r)})`);
        else if (s.state !== 'absent') usedIps.set(key, { r, path: ['spec', 'nics', index, 'ip'] });
      }
      return {
        index, ...(n.name !== undefined ? { name: n.name } : {}), ...(n.network !== undefined ? { network: n.network } : {}),
        mode, ...(link !== undefined ? { link } : {}), ...(vlan !== undefined ? { vlan } : {}),
        trunks: [...(net?.trunks ?? [])], ip, mac: n.mac ?? 'auto', macPrefix: net?.macPrefix ?? cluster.macPrefix,
        model: n.model ?? hvParams.nicType,
      };
    });

    const be = s.beParams;
    const beParams = {
      vcpus: be?.vcpus ?? cluster.beParams.vcpus, memory: be?.memory !== undefined ? sizeOr(be.memory, cluster.beParams.memory) : cluster.beParams.memory,
      autoBalance: be?.autoBalance ?? cluster.beParams.autoBalance, spindleUse: be?.spindleUse ?? cluster.beParams.spindleUse,
    };
    const ipolicy = group?.ipolicy ?? cluster.ipolicy;
    // Ganeti's default policy (min disk 1 GiB) would reject lab-sized VMs: check only a declared policy
    if ((cs.ipolicy !== undefined || groupDoc?.spec.ipolicy !== undefined) && policyOk.get(groupDoc ? groupName! : '') !== false) checkIPolicy(r, s.beParams, beParams, disks, nics.length, diskTemplate, ipolicy, err);

    const tags = [...(s.tags ?? [])];
    const exclusionTags = tags.filter((t) => cluster.exclusionTags.some((prefix) => t.startsWith(prefix)));
    if (s.state !== 'absent') {
      exclusion.check(r.name, p.primary, exclusionTags, errAt(r));
      const candidates = primary ? [primary] : [...nodes.values()].filter((n) => n.role !== 'offline' && (groupName === undefined || n.group === groupName));
      checkFits({
        memory: beParams.memory, vcpus: beParams.vcpus,
        memoryPath: s.beParams?.memory !== undefined ? ['spec', 'beParams', 'memory'] : ['spec'], vcpusPath: s.beParams?.vcpus !== undefined ? ['spec', 'beParams', 'vcpus'] : ['spec'],
      }, candidates, ipolicy.vcpuRatio, primary ? `node ${primary.name}` : groupName !== undefined ? `group ${groupName}` : 'the cluster', errAt(r));
    }

    // OS parameters that name files on the node: the same normal-form rule as every path field.
    checkOsParams(s.os.params, errAt(r));
    checkImageOs(s.os, errAt(r));
    const image = s.os.params?.image;
    if (image !== undefined && !new RegExp(ABS_PATH_RE).test(String(image))) err(r, ['spec', 'os', 'params', 'image'], 'invalid-value', `${JSON.stringify(String(image))} ${ABS_PATH_MESSAGE}`);

    instances.set(r.name, {
      name: r.name,
      os: {
        name: s.os.name, params: Object.fromEntries(Object.entries(s.os.params ?? {}).map(([k, v]) => [k, String(v)])),
        generation: s.os.generation ?? 1, resetParamsOnReinstall: s.os.resetParamsOnReinstall ?? false,
      },
      hypervisor, hvParams, beParams, diskTemplate, needsSecondary, disks, nics,
      placement: {
        ...(p.primary !== undefined ? { primary: p.primary } : {}),
        ...(p.secondary !== undefined ? { secondary: p.secondary } : {}),
        ...(groupName !== undefined ? { group: groupName } : {}),
      },
      migration: group?.migration ?? cluster.migration,
      ipolicy,
      powerState: s.powerState ?? 'running',
      ...(s.autoRepair?.failover !== undefined ? { failover: s.autoRepair.failover } : {}),
      ...(s.autoRepair?.allowDegradedFailover ? { allowDegradedFailover: true } : {}),
      ...(s.autoRepair?.repair !== undefined ? { repair: s.autoRepair.repair } : {}),
      restartGeneration: s.restartGeneration ?? 0,
      state: s.state ?? 'present',
      deleteDisks: s.deleteDisks ?? false,
      ...(s.renamedFrom !== undefined ? { renamedFrom: s.renamedFrom } : {}),
      tags,
      exclusionTags,
    });
  }

  // A rename's old name is gone from the manifests, and one instance carries it (plan/rename).
  const renamedBy = new Map<string, string>();
  for (const r of get<InstanceDoc>('Instance')) {
    const from = r.body.spec.renamedFrom;
    if (from === undefined) continue;
    const at: PathSegment[] = ['spec', 'renamedFrom'];
    if (from === r.name) err(r, at, 'invalid-value', `is the instance's own name`);
    else if (byKind.get('Instance')?.has(from)) err(r, at, 'invalid-value', `instance ${from} is still declared: a renamed instance's old name must be gone from the manifests (its disks would belong to both)`);
    else if (renamedBy.has(from)) err(r, at, 'duplicate-name', `instance ${renamedBy.get(from)} is renamed from ${from} too: only one instance can take its disks`);
    else renamedBy.set(from, r.name);
  }

  if (errors.length) return { errors };
  const sources = new Map(resources.map((r) => [`${r.kind}/${r.name}`, { file: r.origin.file, line: r.origin.line }]));
  return { state: { cluster, groups, nodes, networks, instances, sources }, errors };
}

function known(m: Map<string, unknown>): string {
  const names = [...m.keys()];
  return names.length ? ` (known: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''})` : '';
}

/** Whether a sysctl key is on the allow-list (exact keys, or prefixes ending in "*"); a slashed key is read dotted. */
export function sysctlAllowed(key: string, allow: readonly string[]): boolean {
  const k = key.includes('.') ? key : key.replace(/\//g, '.');
  return allow.some((a) => (a.endsWith('*') ? k.startsWith(a.slice(0, -1)) && k.length > a.length - 1 : k === a));
}

function checkProfile(r: ManifestResource, base: PathSegment[], p: NodeProfile | undefined, allow: readonly string[], err: (r: ManifestResource, path: PathSegment[], code: LoadErrorCode, msg: string, anchor?: Anchor) => void) {
  if (!p) return;
  const re = new RegExp(SYSCTL_KEY_RE);
  for (const [k, v] of Object.entries(p.sysctls ?? {})) {
    if (!re.test(k) || k.length > 255) err(r, [...base, 'sysctls', k], 'invalid-value', `"${k}" is not a sysctl key (like net.ipv4.ip_forward)`, 'key');
    else if (!sysctlAllowed(k, allow)) err(r, [...base, 'sysctls', k], 'sysctl-not-allowed', `sysctl "${k}" is not on the allow-list (the usual net.*, vm.* and fs.inotify.* tuning; the Cluster's spec.nodeSysctlAllow adds keys): some sysctls (kernel.core_pattern, kernel.modprobe) make whoever writes manifests root on every node`, 'key');
    if (typeof v === 'string' && !/^[ -~]{0,1024}$/.test(v)) err(r, [...base, 'sysctls', k], 'invalid-value', 'sysctl values are printable ASCII on one line');
  }
  for (const [list, items] of [['bridges', p.bridges], ['ovsBridges', p.ovsBridges], ['vxlans', p.vxlans], ['volumeGroups', p.volumeGroups]] as const) {
    const seen = new Set<string>();
    for (const [i, it] of (items ?? []).entries()) {
      if (seen.has(it.name)) err(r, [...base, list, i, 'name'], 'duplicate-name', `duplicate ${list} entry "${it.name}"`);
      seen.add(it.name);
    }
  }
}

function checkIPolicy(
  r: ManifestResource, rawBe: InstanceDoc['spec']['beParams'], be: { vcpus: number; memory: number; spindleUse: number },
  disks: DesiredDisk[], nicCount: number, template: DiskTemplate, pol: IPolicyEff,
  err: (r: ManifestResource, path: PathSegment[], code: LoadErrorCode, msg: string, anchor?: Anchor) => void,
) {
  if (!pol.diskTemplates.includes(template)) err(r, ['spec', 'diskTemplate'], 'ipolicy-violation', `disk template ${template} is not allowed by the instance policy (${pol.diskTemplates.join(', ')})`);
  const range = (what: string, v: number, lo: number, hi: number, path: PathSegment[]) => {
    if (v < lo || v > hi) err(r, path, 'ipolicy-violation', `${what} ${v} is outside the instance policy range ${lo}..${hi}`);
  };
  range('memory (MiB)', be.memory, pol.minSpec.memory, pol.maxSpec.memory, rawBe?.memory !== undefined ? ['spec', 'beParams', 'memory'] : ['spec']);
  range('vcpus', be.vcpus, pol.minSpec.vcpus, pol.maxSpec.vcpus, rawBe?.vcpus !== undefined ? ['spec', 'beParams', 'vcpus'] : ['spec']);
  const present = disks.filter((d) => d.state === 'present');
  if (template !== 'diskless') range('disk count', present.length, pol.minSpec.diskCount, pol.maxSpec.diskCount, ['spec', 'disks']);
  for (const d of present) range('disk size (MiB)', d.size, pol.minSpec.diskSize, pol.maxSpec.diskSize, ['spec', 'disks', d.index, 'size']);
  range('NIC count', nicCount, 0, pol.maxSpec.nicCount, ['spec', 'nics']);
}

