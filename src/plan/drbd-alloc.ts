/**
 * DRBD minors (unique per node, 0..minorCount-1) and TCP ports (unique per cluster, in
 * spec.drbd.portRange), allocated like MACs and VNC displays: deterministic (instances
 * ask in name order, the lowest free number wins), and reserved from every known node
 * snapshot, including the last good one of a node that cannot be observed now (unknown is
 * not absent). What is recorded on a node (its LV tags, see naming.drbdTags) is kept; a
 * minor some DRBD device uses without a record is taken too. Pure.
 */
import type { ObservedCluster, PlanCluster } from '../core/plan.js';
import { lvFacts, type LvFact, type NodeLvFacts } from './locate.js';

export const DEFAULT_DRBD = { portStart: 11000, portEnd: 14999, minorCount: 128 } as const;

export interface DrbdDiskAlloc {
  /** node -> its minor for this disk. */
  readonly minors: ReadonlyMap<string, number>;
  readonly port: number;
}

export type DrbdAllocResult = DrbdDiskAlloc | { readonly code: string; readonly error: string };

/** A disk's key, "instance\0index": also what the taken maps hold as its owner (told as ownerText in messages). */
const keyOf = (instance: string, index: number): string => `${instance}\0${index}`;
/** "web1 disk 0" for a disk's key; an unrecorded device's owner ("device resource7") as it is. */
const ownerText = (owner: string): string => owner.replace('\0', ' disk ');

/** What one disk's LVs record: node -> minor (in LV-name order, the last one wins), and the distinct ports. */
export interface Recorded {
  readonly minors: [node: string, minor: number][];
  readonly ports: number[];
}
const byLvName = (a: LvFact, b: LvFact): number => (a.lv.name < b.lv.name ? -1 : a.lv.name > b.lv.name ? 1 : 0);

/**
 * What the allocator read from the LVs' tags and the devices, before any allocation, under
 * `key`: the caller's description of everything it was read from (plan/plan-cache
 * drbdRecordsKey). A next allocator given the same key starts from it instead of reading
 * every LV again.
 */
export interface DrbdRecords {
  readonly key: string;
  readonly minors: ReadonlyMap<string, ReadonlyMap<number, string>>;
  readonly ports: ReadonlyMap<number, string>;
  readonly recorded: ReadonlyMap<string, Recorded>;
}

export class DrbdAllocator {
  /** node -> minor -> owner (a disk's key, or "device resource7" for an unrecorded one): this allocator's own maps (own()). */
  private readonly minors = new Map<string, Map<number, string>>();
  /** The kept records' minors (never written: a node's map is copied into `minors` at its first write). */
  private sharedMinors: ReadonlyMap<string, ReadonlyMap<number, string>> | undefined;
  /** port -> owner; the kept records' map itself until the first write (portsOwned). */
  private ports = new Map<number, string>();
  private portsOwned = true;
  /** instance\0index -> what its LVs record (never changed after the constructor). */
  private recorded = new Map<string, Recorded>();
  /** The state read by the constructor, for the next allocator (records()). */
  private initial: DrbdRecords | undefined;
  private readonly range: { portStart: number; portEnd: number; minorCount: number };
  private portCursor = 0;
  /** Minors and ports handed out new (not recorded) so far: a reused plan part must not have taken one (plan/plan-cache). */
  private fresh = 0;
  private readonly minorCursor = new Map<string, number>();

  /**
   * `unknownNodes`: declared nodes that cannot be observed and have no known past (their ports are unknown).
   * `facts`: the LVs' tags as read once per plan (locate.lvFacts of the same `observed`).
   */
  constructor(observed: ObservedCluster, cluster: Pick<PlanCluster, 'drbd'>, private readonly unknownNodes: readonly string[] = [], facts: readonly NodeLvFacts[] = lvFacts(observed), reuse?: { readonly key: string; readonly prev: DrbdRecords | undefined }) {
    this.range = cluster.drbd ?? DEFAULT_DRBD;
    if (reuse?.prev !== undefined && reuse.prev.key === reuse.key) {
      // Read from the same LVs and devices: the same state (copied at the first write, node by node: allocations change minors and ports; records never change).
      this.sharedMinors = reuse.prev.minors;
      this.ports = reuse.prev.ports as Map<number, string>;
      this.portsOwned = false;
      this.recorded = reuse.prev.recorded as Map<string, Recorded>;
      this.initial = reuse.prev;
      return;
    }
    this.read(facts);
    if (reuse) this.initial = { key: reuse.key, minors: new Map([...this.minors].map(([n, m]) => [n, new Map(m)])), ports: new Map(this.ports), recorded: this.recorded };
  }

  /**
   * This allocator started from the same records as the one that gave `prev` (the same key).
   * Then a disk whose numbers were all recorded ones there (allocate() or reclaim() took
   * nothing new for it) gets them again here, in any order of the other calls: a recorded
   * number is claimed by its reader in the constructor, the lowest-free search skips every
   * claimed one, and reclaim() changes nothing when it succeeds. So reclaim() of such a
   * disk needs not be asked again.
   */
  sameRecords(prev: DrbdRecords | undefined): boolean {
    return prev !== undefined && this.initial !== undefined && this.initial.key === prev.key;
  }

  /** The state as read, before any allocation (undefined unless the constructor was given a key). */
  records(): DrbdRecords | undefined {
    return this.initial;
  }

  private read(facts: readonly NodeLvFacts[]): void {
    // Records are read in LV-name order on each node (code-unit order: cheap and
    // deterministic), which decides who holds a number two records claim. Without such a
    // clash the order changes nothing, so the records are first read as they come, and
    // read again in name order only when a clash was met.
    if (this.readRecords(facts, false)) return;
    this.minors.clear();
    this.ports.clear();
    this.recorded.clear();
    this.readRecords(facts, true);
  }

  /** Reads what the LVs record and the devices use; false (unsorted only) when two records clash, so the order matters. */
  private readRecords(facts: readonly NodeLvFacts[], sorted: boolean): boolean {
    for (const { node, obs, lvs } of facts) {
      // Only LVs whose tags record a DRBD minor or port.
      const recording: LvFact[] = [];
      for (const f of lvs) if (f.minor !== undefined || f.port !== undefined) recording.push(f);
      const taken = this.own(node);
      for (const { inst: tagged, managed, minor, port, disk } of sorted ? recording.sort(byLvName) : recording) {
        const inst = managed ? tagged : undefined;
        if (!inst || !disk || disk.instance !== inst) continue;
        const owner = keyOf(inst, disk.index);
        let r = this.recorded.get(owner);
        if (!r) this.recorded.set(owner, (r = { minors: [], ports: [] }));
        if (minor !== undefined) {
          const at = r.minors.find(([n]) => n === node);
          if (!sorted && at !== undefined && at[1] !== minor) return false;
          if (at) at[1] = minor;
          else r.minors.push([node, minor]);
          const holder = taken.get(minor);
          if (holder === undefined) taken.set(minor, owner);
          else if (!sorted && holder !== owner) return false;
        }
        if (port !== undefined) {
          if (!r.ports.includes(port)) r.ports.push(port);
          const holder = this.ports.get(port);
          if (holder === undefined) this.ownPorts().set(port, owner);
          else if (!sorted && holder !== owner) return false;
        }
      }
      for (const dev of Object.values(obs.drbd?.devices ?? {})) {
        if (!taken.has(dev.minor)) taken.set(dev.minor, `device ${dev.resource ?? `minor ${dev.minor}`}`);
      }
    }
    return true;
  }

  /** The minor on each of `nodes` and the port of disk `index` of `instance`: recorded ones kept, new ones the lowest free. */
  allocate(instance: string, index: number, nodes: readonly string[]): DrbdAllocResult {
    const owner = keyOf(instance, index);
    const rec = this.recorded.get(owner);
    const port = this.portFor(owner, rec?.ports);
    if (typeof port !== 'number') return port;
    const minors = new Map<string, number>();
    for (const node of nodes) {
      const m = this.minorFor(owner, node, rec?.minors.find(([n]) => n === node)?.[1]);
      if (typeof m !== 'number') return m;
      minors.set(node, m);
    }
    return { minors, port };
  }

  get freshCount(): number {
    return this.fresh;
  }

  /** Disk `index` of `instance` has one recorded port and a recorded minor on each of `nodes`: allocate() takes nothing new for it. */
  isRecorded(instance: string, index: number, nodes: readonly string[]): boolean {
    const rec = this.recorded.get(keyOf(instance, index));
    return rec !== undefined && rec.ports.length === 1 && nodes.every((n) => rec.minors.some(([m]) => m === n));
  }

  /**
   * A reused plan part's allocation asked again (plan/plan-cache): true when disk `index` of
   * `instance` is recorded (isRecorded) and allocate() gives `port` and, for each [node,
   * minor] of `minors`, that minor. Claims exactly what allocate() would (false or true),
   * without building its answer.
   */
  reclaim(instance: string, index: number, nodes: readonly string[], port: number, minors: readonly (readonly [string, number])[]): boolean {
    const owner = keyOf(instance, index);
    const rec = this.recorded.get(owner);
    if (rec === undefined || rec.ports.length !== 1 || !nodes.every((n) => rec.minors.some(([m]) => m === n))) return false;
    const p = this.portFor(owner, rec.ports);
    if (typeof p !== 'number') return false;
    const got: number[] = [];
    for (const node of nodes) {
      const m = this.minorFor(owner, node, rec.minors.find(([n]) => n === node)?.[1]);
      if (typeof m !== 'number') return false;
      got.push(m);
    }
    return p === port && minors.every(([n, m]) => nodes.includes(n) && got[nodes.lastIndexOf(n)] === m);
  }

  private portFor(owner: string, recorded: readonly number[] | undefined): number | { code: string; error: string } {
    const seen = recorded === undefined ? [] : recorded.length === 1 ? recorded : [...recorded].sort((a, b) => a - b);
    if (seen.length > 1) return { code: 'DRBD_RECORD_MISMATCH', error: `the LVs of ${ownerText(owner)} record different DRBD ports (${seen.join(', ')}): fix the gantry-drbd-port tags by hand so both nodes agree` };
    if (seen.length === 1) {
      const p = seen[0]!;
      const holder = this.ports.get(p);
      if (holder !== undefined && holder !== owner) return { code: 'DRBD_PORT_CONFLICT', error: `DRBD port ${p} recorded for ${ownerText(owner)} is also recorded for ${ownerText(holder)}: Gantry will not bring up two resources on one port` };
      return p;
    }
    if (this.unknownNodes.length > 0) {
      return { code: 'DRBD_PORTS_UNKNOWN', error: `no DRBD port is allocated for ${ownerText(owner)} while ${this.unknownNodes.join(', ')} cannot be observed and no earlier observation of it is kept: the port may be in use there` };
    }
    // Every port below the cursor is taken (ports are only ever added): lowest free, in linear time overall.
    for (let p = Math.max(this.portCursor, this.range.portStart); p <= this.range.portEnd; p++) {
      if (this.ports.has(p)) continue;
      this.ownPorts().set(p, owner);
      this.portCursor = p + 1;
      this.fresh++;
      return p;
    }
    return { code: 'DRBD_PORTS_EXHAUSTED', error: `no free DRBD port left in ${this.range.portStart}-${this.range.portEnd} for ${ownerText(owner)}` };
  }

  private minorFor(owner: string, node: string, recorded: number | undefined): number | { code: string; error: string } {
    const taken = this.view(node);
    if (recorded !== undefined) {
      const holder = taken.get(recorded);
      if (holder !== undefined && holder !== owner) return { code: 'DRBD_MINOR_CONFLICT', error: `DRBD minor ${recorded} recorded on ${node} for ${ownerText(owner)} is also held by ${ownerText(holder)}` };
      if (holder === undefined) this.own(node).set(recorded, owner);
      return recorded;
    }
    for (let m = this.minorCursor.get(node) ?? 0; m < this.range.minorCount; m++) {
      if (taken.has(m)) continue;
      this.own(node).set(m, owner);
      this.minorCursor.set(node, m + 1);
      this.fresh++;
      return m;
    }
    return { code: 'DRBD_MINORS_EXHAUSTED', error: `no free DRBD minor left on ${node} (minorCount ${this.range.minorCount}) for ${ownerText(owner)}` };
  }

  private static readonly NONE: ReadonlyMap<number, string> = new Map();

  /** A node's minors as they are now, to read. */
  private view(node: string): ReadonlyMap<number, string> {
    return this.minors.get(node) ?? this.sharedMinors?.get(node) ?? DrbdAllocator.NONE;
  }

  /** A node's minors to write: this allocator's own map (the kept records' one copied first). */
  private own(node: string): Map<number, string> {
    let m = this.minors.get(node);
    if (!m) this.minors.set(node, (m = new Map(this.sharedMinors?.get(node))));
    return m;
  }

  private ownPorts(): Map<number, string> {
    if (!this.portsOwned) {
      this.ports = new Map(this.ports);
      this.portsOwned = true;
    }
    return this.ports;
  }
}
