import type {
  NodeFacts, ObservedBridge, ObservedFile, ObservedInstance, ObservedLv, ObservedNode,
  ObservedOvsBridge, ObservedTap, ObservedVxlan,
} from '../core/observed.js';
import type { ObserveRequest } from '../core/node-ops.js';
import type { ObservedDrbd } from '../core/observed.js';
import type { SimDrbdDevice, SimDrbdMeta } from './drbd.js';

/** A VG as the simulator keeps it: size and free space are derived from PVs and LVs. */
export interface SimVg {
  name: string;
  pvs: string[];
}

/** A directory every node of a SimCluster sees (NFS-like shared storage for sharedfile disks). */
export interface SimSharedStorage {
  readonly dirs: readonly string[];
  readonly files: Map<string, ObservedFile>;
}

/**
 * The mutable truth of one simulated node. Shapes follow ObservedNode so a snapshot is a
 * copy, not a translation; only VGs differ (their sizes are computed, never stored).
 */
export interface SimNodeState {
  facts: NodeFacts;
  /** Block devices usable as PVs, with their sizes (MiB). */
  blockDevices: Map<string, number>;
  vgs: Map<string, SimVg>;
  /** Keyed "vg/lv". */
  lvs: Map<string, ObservedLv>;
  bridges: Map<string, ObservedBridge>;
  /** Undefined when the node runs no Open vSwitch. */
  ovs: Map<string, ObservedOvsBridge> | undefined;
  vxlans: Map<string, ObservedVxlan>;
  sysctls: Map<string, string>;
  /** Files on the node's own disks. */
  files: Map<string, ObservedFile>;
  /** Shared storage mounted on this node, if any (files under its dirs live there). */
  shared?: SimSharedStorage;
  instances: Map<string, ObservedInstance>;
  taps: Map<string, ObservedTap>;
  /** DRBD devices by minor (kernel state: gone after a crash). */
  drbd: Map<number, SimDrbdDevice>;
  /** DRBD metadata by meta LV ("vg/lv"): on disk, survives down and crashes. */
  drbdMeta: Map<string, SimDrbdMeta>;
}

export function defaultFacts(name: string): NodeFacts {
  return { hostname: name, kernel: '6.1.0-sim', cpus: 16, memoryTotalMiB: 65_536, memoryFreeMiB: 61_440, bootId: simBootId(name, 0) };
}

/** A simulated node's boot ID after `boots` reboots: UUID-shaped, the same for the same name and count. */
export function simBootId(name: string, boots: number): string {
  let h = 2166136261;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  const hex = (n: number, w: number) => (n >>> 0).toString(16).padStart(w, '0').slice(-w);
  return `${hex(h, 8)}-${hex(boots >>> 16, 4)}-4${hex(boots, 3)}-8000-${hex(h ^ boots, 12)}`;
}

/** The file map a path lives in: the shared storage for a path under a shared dir, else the node's own. */
export function filesFor(s: SimNodeState, path: string): Map<string, ObservedFile> {
  const sh = s.shared;
  return sh !== undefined && sh.dirs.some((d) => path.startsWith(d.endsWith('/') ? d : `${d}/`)) ? sh.files : s.files;
}

/** Every file the node sees: its own and the shared storage's. */
export function allFiles(s: SimNodeState): Map<string, ObservedFile> {
  return s.shared === undefined ? s.files : new Map([...s.files, ...s.shared.files]);
}

export function vgSizeMiB(s: SimNodeState, vg: SimVg): number {
  return vg.pvs.reduce((sum, pv) => sum + (s.blockDevices.get(pv) ?? 0), 0);
}

export function vgFreeMiB(s: SimNodeState, vgName: string): number {
  const vg = s.vgs.get(vgName);
  if (vg === undefined) return 0;
  let used = 0;
  for (const lv of s.lvs.values()) if (lv.vg === vgName) used += lv.sizeMiB;
  return vgSizeMiB(s, vg) - used;
}

/**
 * An immutable ObservedNode copy of the state, filtered the way the real probe filters:
 * only the sysctls asked for, only files under the given directories. Without `req`,
 * everything (for assertions).
 */
export function toObserved(name: string, s: SimNodeState, observedAt: string, req?: ObserveRequest, drbd?: ObservedDrbd): ObservedNode {
  const sysctls: Record<string, string> = {};
  if (req === undefined) for (const [k, v] of s.sysctls) sysctls[k] = v;
  else for (const k of req.sysctls) {
    const v = s.sysctls.get(k);
    if (v !== undefined) sysctls[k] = v;
  }
  const dirs = req?.fileDirs.map((d) => (d.endsWith('/') ? d : `${d}/`));
  const files: Record<string, ObservedFile> = {};
  for (const [p, f] of allFiles(s)) if (dirs === undefined || dirs.some((d) => p.startsWith(d))) files[p] = { ...f };

  const vgs: ObservedNode['vgs'] = Object.fromEntries(
    [...s.vgs.values()].map((vg) => [vg.name, { name: vg.name, sizeMiB: vgSizeMiB(s, vg), freeMiB: vgFreeMiB(s, vg.name), pvs: [...vg.pvs] }]),
  );
  const node: ObservedNode = {
    name,
    reachable: true,
    observedAt,
    facts: { ...s.facts },
    vgs,
    lvs: mapCopy(s.lvs, (lv) => ({ ...lv, tags: [...lv.tags] })),
    bridges: mapCopy(s.bridges, (b) => ({ ...b, ports: [...b.ports], addresses: [...b.addresses] })),
    ...(s.ovs !== undefined
      ? { ovs: { bridges: mapCopy(s.ovs, (b) => ({ ...b, ports: Object.fromEntries(Object.entries(b.ports).map(([k, p]) => [k, { ...p, trunks: [...p.trunks] }])) })) } }
      : {}),
    vxlans: mapCopy(s.vxlans, (v) => ({ ...v })),
    sysctls,
    files,
    instances: mapCopy(s.instances, (i) => ({ ...i })),
    taps: mapCopy(s.taps, (t) => ({ ...t })),
    probeErrors: [],
    ...(drbd ? { drbd } : {}),
  };
  return deepFreeze(node);
}

function mapCopy<T>(m: ReadonlyMap<string, T>, copy: (v: T) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of m) out[k] = copy(v);
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
