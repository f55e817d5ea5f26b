/**
 * The engine's working form of a cluster: indexed, typed-array backed, mutable
 * inside the engine only, with a journal so a candidate move is applied, scored
 * and rolled back in O(nodes touched). `PlaceCluster` values go in, new
 * `PlaceCluster` values come out (`toCluster`); nothing here does I/O.
 *
 * The node arithmetic follows Ganeti htools (Node.hs): adding an instance to a
 * node either returns a failure reason or updates memory, disk, vCPU, spindle,
 * N+1 reservation (peers), exclusion-tag and location bookkeeping. The cluster
 * score is Ganeti 3.0's detailed CV (Cluster/Metrics.hs): a weighted sum of
 * population standard deviations and sums of per-node metrics, maintained
 * incrementally from per-group sums and sums of squares.
 */
import {
  type DiskTemplate, type FailReason, type InstanceStatus, type IPolicy, type MirrorType,
  type PlaceCluster, type PlaceInstance, type PlaceNode,
  mirrorType, notOffline, usesLocalStorage, usesMemory,
} from './types.js';
import {
  desiredLocationTags, exclusionPrefixes, exclusionTags, locationTags, migrationTags, recvMigrationTags,
} from './tags.js';

// ---- per-node dynamic fields (Float64Array, F per node) ----
const F_IMEM = 0; // memory of primaries that use memory
const F_FMEMF = 1; // "forth" free memory (Ganeti fMemForth)
const F_FDSK = 2;
const F_UCPU = 3;
const F_INSTSP = 4;
const F_FSP = 5;
const F_RMEM = 6; // memory to reserve for N+1 (max over peers)
const F_FAILN1 = 7;
const F_PCNT = 8;
const F_SCNT = 9;
const F_CONFL = 10; // conflicting primaries (exclusion tags)
const F_LOCSC = 11;
const F = 12;

/** Names and weights of the score components, in hbal's printing order. */
export const SCORE_COMPONENTS: readonly { name: string; weight: number; kind: 'sd' | 'sum' | 'off' | 'map' }[] = [
  { name: 'free_mem_cv', weight: 0.5, kind: 'sd' },
  { name: 'free_disk_cv', weight: 0.5, kind: 'sd' },
  { name: 'n1_cnt', weight: 1, kind: 'sum' },
  { name: 'reserved_mem_cv', weight: 1, kind: 'sd' },
  { name: 'offline_all_cnt', weight: 4, kind: 'off' },
  { name: 'offline_pri_cnt', weight: 16, kind: 'off' },
  { name: 'vcpu_ratio_cv', weight: 0.5, kind: 'sd' },
  { name: 'cpu_load_cv', weight: 1, kind: 'sd' },
  { name: 'mem_load_cv', weight: 1, kind: 'sd' },
  { name: 'disk_load_cv', weight: 1, kind: 'sd' },
  { name: 'net_load_cv', weight: 1, kind: 'sd' },
  { name: 'pri_tags_score', weight: 2, kind: 'sum' },
  { name: 'spindles_cv', weight: 0.5, kind: 'sd' },
  { name: 'free_mem_cv_forth', weight: 0.5, kind: 'sd' },
  { name: 'free_disk_cv_forth', weight: 0.5, kind: 'sd' },
  { name: 'vcpu_ratio_cv_forth', weight: 0.5, kind: 'sd' },
  { name: 'spindles_cv_forth', weight: 0.5, kind: 'sd' },
  { name: 'location_score', weight: 1, kind: 'sum' },
  { name: 'location_exclusion_score', weight: 1, kind: 'map' },
  { name: 'reserved_mem_rtotal', weight: 0.25, kind: 'sum' },
];
/**
 * Internal (deduplicated) components: several of Ganeti's components are equal
 * without dynamic-utilisation data or forthcoming instances (the three load CVs
 * count primaries; the *_forth disk/vCPU/spindle CVs equal their plain twins),
 * so they are kept once with the summed weight. `groupComponents` expands them.
 */
const U = [
  { w: 0.5, kind: 'sd' }, // 0 pMem -> free_mem_cv
  { w: 1.0, kind: 'sd' }, // 1 pDsk -> free_disk_cv + free_disk_cv_forth
  { w: 1, kind: 'sum' }, // 2 n1 -> n1_cnt
  { w: 1, kind: 'sd' }, // 3 pRem -> reserved_mem_cv
  { w: 4, kind: 'off' }, // 4 offline_all_cnt
  { w: 16, kind: 'off' }, // 5 offline_pri_cnt
  { w: 1.0, kind: 'sd' }, // 6 pCpu -> vcpu_ratio_cv + _forth
  { w: 3, kind: 'sd' }, // 7 primaries -> cpu/mem/net load
  { w: 1, kind: 'sd' }, // 8 primaries+secondaries -> disk load
  { w: 2, kind: 'sum' }, // 9 pri_tags_score
  { w: 1.0, kind: 'sd' }, // 10 spindles -> spindles_cv + _forth
  { w: 0.5, kind: 'sd' }, // 11 free_mem_cv_forth
  { w: 1, kind: 'sum' }, // 12 location_score
  { w: 1, kind: 'map' }, // 13 location_exclusion_score
  { w: 0.25, kind: 'sum' }, // 14 reserved_mem_rtotal
] as const;
/** For each of Ganeti's components, the internal component holding its value. */
const EXPAND = [0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 7, 9, 10, 11, 1, 6, 10, 12, 13, 14];
const K = U.length;
const MAP_COMPONENT = 13;
const W = new Float64Array(U.map((c) => c.w));
const SD_IDX = U.flatMap((c, k) => (c.kind === 'sd' ? [k] : []));
const SUM_IDX = U.flatMap((c, k) => (c.kind === 'sum' || c.kind === 'off' ? [k] : []));
const IS_SD = U.map((c) => c.kind === 'sd');
const IS_OFF = U.map((c) => c.kind === 'off');

export type MoveType =
  | 'failover'
  | 'failoverToAny'
  | 'replacePrimary'
  | 'replaceSecondary'
  | 'replaceAndFailover'
  | 'failoverAndReplace';

export interface InstS {
  readonly idx: number;
  readonly src: PlaceInstance;
  readonly name: string;
  readonly mem: number;
  readonly dsk: number;
  readonly vcpus: number;
  readonly status: InstanceStatus;
  readonly usesMem: boolean;
  readonly online: boolean; // not ADMIN_offline
  readonly usesSecMem: boolean;
  readonly local: boolean;
  readonly dt: DiskTemplate;
  readonly mirror: MirrorType;
  readonly exclTags: readonly string[];
  readonly dsrdLoc: ReadonlySet<string>;
  readonly spindleUse: number;
  readonly spindles: number | null;
  movable: boolean;
  readonly autoBalance: boolean;
}

export interface NodeS {
  readonly idx: number;
  readonly src: PlaceNode;
  readonly name: string;
  readonly gdx: number;
  offline: boolean;
  readonly pTags: Map<string, number>;
  readonly peers: Map<number, number>;
  readonly instMap: Map<string, number>;
  readonly locTags: ReadonlySet<string>;
  readonly migTags: ReadonlySet<string>;
  readonly rmigTags: ReadonlySet<string>;
  ipolicy: IPolicy;
}

/** A cluster group as the engine sees it, with its incremental score statistics. */
export interface GroupS {
  readonly gdx: number;
  readonly name: string;
  readonly uuid: string;
  readonly nodes: number[];
  readonly sum: Float64Array;
  readonly sq: Float64Array;
  nOnline: number;
  readonly mapCounts: Map<string, number>;
  mapValue: number;
}

export interface StateOptions {
  /** Extra exclusion-tag prefixes (hbal --exclusion-tags). */
  readonly exclusionTags?: readonly string[];
}

export class ClusterState {
  readonly src: PlaceCluster;
  readonly nodes: NodeS[];
  readonly insts: InstS[];
  readonly groups: GroupS[];
  readonly nodeByName = new Map<string, number>();
  readonly groupByUuid = new Map<string, number>();
  // static node arrays
  readonly tMem: Float64Array;
  readonly tMemT: Float64Array;
  readonly nMem: Float64Array;
  readonly xMemPos: Float64Array;
  readonly fMem0: Float64Array;
  readonly iMem0: Float64Array;
  readonly tDsk: Float64Array;
  readonly loDsk: Float64Array;
  readonly tCpu: Float64Array;
  readonly speed: Float64Array;
  readonly hiSp: Float64Array;
  readonly tSp: Float64Array;
  readonly excl: Uint8Array;
  readonly lCpu: Float64Array;
  // dynamic
  readonly d: Float64Array;
  readonly vec: Float64Array;
  readonly pNode: Int32Array;
  readonly sNode: Int32Array;
  readonly iLoc: Int32Array;
  private readonly journal = new Journal();
  /**
   * Like Ganeti, the steps of a move off an offline node skip the soft checks
   * (N+1, vCPU ratio, exclusion tags), so e.g. a transient failover to the
   * secondary is allowed.
   */
  offlineForce = true;
  /**
   * Optional strictness beyond Ganeti: a move off an offline node must not leave
   * an online node newly failing N+1 or with more exclusion-tag conflicts. Off by
   * default: evacuating a dead node may pass through N+1 failures that later
   * moves repair (hbal does the same).
   */
  finalSoftCheck = false;

  constructor(c: PlaceCluster, opts: StateOptions = {}) {
    this.src = c;
    const nN = c.nodes.length;
    const nI = c.instances.length;
    c.groups.forEach((g, i) => this.groupByUuid.set(g.uuid, i));
    this.groups = c.groups.map((g, i) => ({
      gdx: i, name: g.name, uuid: g.uuid, nodes: [], sum: new Float64Array(K), sq: new Float64Array(K),
      nOnline: 0, mapCounts: new Map(), mapValue: 0,
    }));
    const mk = (): Float64Array => new Float64Array(nN);
    this.tMem = mk(); this.tMemT = mk(); this.nMem = mk(); this.xMemPos = mk(); this.fMem0 = mk();
    this.iMem0 = mk(); this.tDsk = mk(); this.loDsk = mk(); this.tCpu = mk(); this.speed = mk();
    this.hiSp = mk(); this.tSp = mk(); this.excl = new Uint8Array(nN); this.lCpu = mk();
    this.d = new Float64Array(nN * F);
    this.vec = new Float64Array(nN * K);
    this.pNode = new Int32Array(nI).fill(-1);
    this.sNode = new Int32Array(nI).fill(-1);
    this.iLoc = new Int32Array(nI);
    const ctags = c.clusterTags;
    this.nodes = c.nodes.map((n, i) => {
      const gdx = this.groupByUuid.get(n.group);
      if (gdx === undefined) throw new Error(`Unknown group '${n.group}' for node ${n.name}`);
      this.nodeByName.set(n.name, i);
      this.groups[gdx]!.nodes.push(i);
      const grp = c.groups[gdx]!;
      const ipolicy = grp.ipolicy;
      this.tMem[i] = n.tMem; this.tMemT[i] = Math.trunc(n.tMem); this.nMem[i] = n.nMem; this.fMem0[i] = n.fMem;
      this.tDsk[i] = n.tDsk; this.loDsk[i] = 0; this.tCpu[i] = n.tCpu; this.speed[i] = n.cpuSpeed;
      this.tSp[i] = n.tSpindles; this.hiSp[i] = ipolicy.spindleRatio * n.tSpindles; this.excl[i] = n.exclStorage ? 1 : 0;
      this.lCpu[i] = ipolicy.vcpuRatio;
      const o = i * F;
      this.d[o + F_FMEMF] = n.fMem; this.d[o + F_FDSK] = n.fDsk; this.d[o + F_UCPU] = n.nCpu;
      this.d[o + F_FSP] = n.fSpindles; this.d[o + F_FAILN1] = 1;
      return {
        idx: i, src: n, name: n.name, gdx, offline: n.offline, pTags: new Map(), peers: new Map(), instMap: new Map(),
        locTags: locationTags(ctags, n.tags), migTags: migrationTags(ctags, n.tags),
        rmigTags: recvMigrationTags(ctags, n.tags), ipolicy,
      };
    });
    const prefixes = exclusionPrefixes(ctags, opts.exclusionTags ?? []);
    this.insts = c.instances.map((inst, i) => {
      const p = this.nodeByName.get(inst.pNode);
      if (p === undefined) throw new Error(`Unknown node '${inst.pNode}' for instance ${inst.name}`);
      let s = -1;
      if (inst.sNode !== null && inst.sNode !== '') {
        const sv = this.nodeByName.get(inst.sNode);
        if (sv === undefined) throw new Error(`Unknown node '${inst.sNode}' for instance ${inst.name}`);
        s = sv;
      }
      if (inst.diskTemplate === 'drbd' && s === p) {
        throw new Error(`Instance ${inst.name} has same primary and secondary node - ${inst.pNode}`);
      }
      this.pNode[i] = p;
      this.sNode[i] = s;
      const mir = mirrorType(inst.diskTemplate);
      return {
        idx: i, src: inst, name: inst.name, mem: inst.mem, dsk: inst.dsk, vcpus: inst.vcpus, status: inst.status,
        usesMem: usesMemory(inst.status), online: notOffline(inst.status),
        usesSecMem: notOffline(inst.status) && inst.autoBalance, local: usesLocalStorage(inst.diskTemplate),
        dt: inst.diskTemplate, mirror: mir, exclTags: exclusionTags(prefixes, inst.tags),
        dsrdLoc: desiredLocationTags(ctags, inst.tags), spindleUse: inst.spindleUse, spindles: inst.spindles,
        movable: mir !== 'none', autoBalance: inst.autoBalance,
      };
    });
    // instances whose nodes sit in different groups are never moved (hbal: split instances)
    for (const inst of this.insts) {
      const s = this.sNode[inst.idx]!;
      if (s >= 0 && this.nodes[s]!.gdx !== this.nodes[this.pNode[inst.idx]!]!.gdx) inst.movable = false;
    }
    // Loader.fixNodes: setPri / setSec without checks
    for (const inst of this.insts) {
      const p = this.pNode[inst.idx]!;
      const s = this.sNode[inst.idx]!;
      this.iLoc[inst.idx] = s >= 0 && inst.dt === 'drbd' ? intersectSize(this.nodes[p]!.locTags, this.nodes[s]!.locTags) : 0;
      this.loadPri(p, inst);
      if (s >= 0) this.loadSec(s, inst);
    }
    // Loader.checkData (iMem, xMem) and Node.buildPeers (rMem, failN1)
    for (const n of this.nodes) {
      const i = n.idx;
      const o = i * F;
      this.iMem0[i] = this.d[o + F_IMEM]!;
      const xMem = this.tMemT[i]! - this.nMem[i]! - this.fMem0[i]! - this.d[o + F_IMEM]!;
      this.xMemPos[i] = Math.max(0, xMem);
      let rmem = 0;
      for (const v of n.peers.values()) if (v > rmem) rmem = v;
      this.d[o + F_RMEM] = rmem;
      this.d[o + F_FAILN1] = this.fMem0[i]! < rmem ? 1 : 0;
    }
    for (const g of this.groups) this.recomputeGroup(g.gdx);
  }

  // ---------------------------------------------------------------- loading
  private loadPri(p: number, inst: InstS): void {
    const n = this.nodes[p]!;
    const o = p * F;
    const d = this.d;
    d[o + F_PCNT]! += 1;
    if (inst.online) d[o + F_UCPU]! += inst.vcpus;
    if (inst.usesMem) d[o + F_IMEM]! += inst.mem;
    else d[o + F_FMEMF]! -= inst.mem;
    if (inst.local && !this.excl[p]) d[o + F_INSTSP]! += inst.spindleUse;
    d[o + F_LOCSC]! += this.iLoc[inst.idx]! + dsrdScore(inst, n);
    for (const t of inst.exclTags) {
      const c = n.pTags.get(t) ?? 0;
      if (c >= 1) d[o + F_CONFL]! += 1;
      n.pTags.set(t, c + 1);
    }
    for (const loc of n.locTags) {
      for (const ex of inst.exclTags) {
        const k = `${loc}\u0000${ex}`;
        n.instMap.set(k, (n.instMap.get(k) ?? 0) + 1);
      }
    }
  }

  private loadSec(s: number, inst: InstS): void {
    const n = this.nodes[s]!;
    const o = s * F;
    this.d[o + F_SCNT]! += 1;
    if (inst.local && !this.excl[s]) this.d[o + F_INSTSP]! += inst.spindleUse;
    const p = this.pNode[inst.idx]!;
    const m = inst.usesSecMem ? inst.mem : 0;
    n.peers.set(p, (n.peers.get(p) ?? 0) + m);
  }

  // ---------------------------------------------------------------- node arithmetic
  unallocated(i: number): number {
    return this.tMemT[i]! - this.nMem[i]! - this.d[i * F + F_IMEM]! - this.xMemPos[i]!;
  }
  freeDisk(i: number): number { return this.d[i * F + F_FDSK]!; }
  /** Free spindles: changes only on exclusive-storage nodes, as Ganeti's Node.fSpindles. */
  freeSpindles(i: number): number { return this.d[i * F + F_FSP]!; }
  usedCpu(i: number): number { return this.d[i * F + F_UCPU]!; }
  reservedMem(i: number): number { return this.d[i * F + F_RMEM]!; }
  failsN1(i: number): boolean { return this.d[i * F + F_FAILN1] === 1; }
  primaryCount(i: number): number { return this.d[i * F + F_PCNT]!; }
  secondaryCount(i: number): number { return this.d[i * F + F_SCNT]!; }
  conflicts(i: number): number { return this.d[i * F + F_CONFL]!; }
  instSpindles(i: number): number { return this.d[i * F + F_INSTSP]!; }
  memUsedByInstances(i: number): number { return this.d[i * F + F_IMEM]!; }
  /** Free memory as a sysadmin would read it on the node after the simulated moves. */
  reportedFreeMem(i: number): number {
    return this.fMem0[i]! - (this.d[i * F + F_IMEM]! - this.iMem0[i]!);
  }

  private pDsk(i: number, fdsk: number, fsp: number): number {
    if (this.excl[i]) return this.tSp[i] === 0 ? 1 : fsp / this.tSp[i]!;
    return this.tDsk[i] === 0 ? 1 : fdsk / this.tDsk[i]!;
  }

  private touch(i: number): void {
    this.journal.touchNode(this, i);
  }

  private jmap<K2>(m: Map<K2, number>, k: K2, v: number): void {
    this.journal.logMap(m as Map<unknown, number>, k, m.get(k));
    if (v === 0) m.delete(k);
    else m.set(k, v);
  }

  private groupMapAdd(n: NodeS, k: string, delta: 1 | -1): void {
    if (n.offline) return;
    const g = this.groups[n.gdx]!;
    const c = g.mapCounts.get(k) ?? 0;
    if (delta === 1) { if (c >= 1) g.mapValue += 1; this.jmap(g.mapCounts, k, c + 1); }
    else { if (c >= 2) g.mapValue -= 1; this.jmap(g.mapCounts, k, c - 1); }
  }

  private addTagsLoc(n: NodeS, inst: InstS, delta: 1 | -1): void {
    const o = n.idx * F;
    for (const t of inst.exclTags) {
      const c = n.pTags.get(t) ?? 0;
      if (delta === 1) { if (c >= 1) this.d[o + F_CONFL]! += 1; this.jmap(n.pTags, t, c + 1); }
      else { if (c >= 2) this.d[o + F_CONFL]! -= 1; this.jmap(n.pTags, t, Math.max(0, c - 1)); }
    }
    if (inst.exclTags.length > 0) {
      for (const loc of n.locTags) {
        for (const ex of inst.exclTags) {
          const k = `${loc}\u0000${ex}`;
          this.jmap(n.instMap, k, Math.max(0, (n.instMap.get(k) ?? 0) + delta));
          this.groupMapAdd(n, k, delta);
        }
      }
    }
  }

  /** Node.removePri. */
  removePri(p: number, inst: InstS, loc: number): void {
    this.touch(p);
    const n = this.nodes[p]!;
    const o = p * F;
    const d = this.d;
    d[o + F_PCNT]! -= 1;
    if (inst.usesMem) d[o + F_IMEM]! -= inst.mem;
    d[o + F_FAILN1] = this.unallocated(p) <= d[o + F_RMEM]! ? 1 : 0;
    if (inst.local) d[o + F_FDSK]! += inst.dsk;
    if (inst.local && !this.excl[p]) d[o + F_INSTSP]! -= inst.spindleUse;
    if (inst.local && this.excl[p] && inst.spindles !== null) d[o + F_FSP]! += inst.spindles;
    if (inst.online) d[o + F_UCPU]! -= inst.vcpus;
    d[o + F_FMEMF]! += inst.mem;
    d[o + F_LOCSC]! -= loc + dsrdScore(inst, n);
    this.addTagsLoc(n, inst, -1);
  }

  /** Node.removeSec. */
  removeSec(s: number, inst: InstS, pdx: number): void {
    this.touch(s);
    const n = this.nodes[s]!;
    const o = s * F;
    const d = this.d;
    d[o + F_SCNT]! -= 1;
    if (inst.local) d[o + F_FDSK]! += inst.dsk;
    if (inst.local && !this.excl[s]) d[o + F_INSTSP]! -= inst.spindleUse;
    if (inst.local && this.excl[s] && inst.spindles !== null) d[o + F_FSP]! += inst.spindles;
    const oldPeem = n.peers.get(pdx) ?? 0;
    const newPeem = inst.usesSecMem ? oldPeem - inst.mem : oldPeem;
    this.jmap(n.peers, pdx, newPeem > 0 ? newPeem : 0);
    const oldR = d[o + F_RMEM]!;
    let newR = oldR;
    if (!(oldPeem < oldR)) {
      newR = 0;
      for (const v of n.peers.values()) if (v > newR) newR = v;
    }
    d[o + F_RMEM] = newR;
    d[o + F_FAILN1] = this.unallocated(s) <= newR ? 1 : 0;
  }

  /** Node.addPriEx: checks then adds; returns a failure reason or null. */
  addPri(p: number, inst: InstS, force: boolean, loc: number): FailReason | null {
    const n = this.nodes[p]!;
    const o = p * F;
    const d = this.d;
    const strict = !force;
    const newIMem = d[o + F_IMEM]! + (inst.usesMem ? inst.mem : 0);
    const newFree = this.tMemT[p]! - this.nMem[p]! - newIMem - this.xMemPos[p]!;
    const newFailN1 = newFree <= d[o + F_RMEM]!;
    const newDsk = inst.local ? d[o + F_FDSK]! - inst.dsk : d[o + F_FDSK]!;
    const excl = this.excl[p] === 1;
    const newFsp = inst.local && excl ? (inst.spindles === null ? -1 : d[o + F_FSP]! - inst.spindles) : d[o + F_FSP]!;
    const newInstSp = inst.local && !excl ? d[o + F_INSTSP]! + inst.spindleUse : d[o + F_INSTSP]!;
    const newUcpu = inst.online ? d[o + F_UCPU]! + inst.vcpus : d[o + F_UCPU]!;
    const newPcpu = newUcpu / this.tCpu[p]!;
    const lCpu = this.lCpu[p]!;
    if (newFree <= 0) return 'FailMem';
    if (inst.local && newDsk <= 0) return 'FailDisk';
    if (strict && inst.local && newDsk < this.loDsk[p]!) return 'FailDisk';
    if (inst.local && excl && newFsp < 0) return 'FailSpindles';
    if (strict && inst.local && newInstSp > this.hiSp[p]!) return 'FailDisk';
    if (strict && newFailN1 && d[o + F_FAILN1] !== 1) return 'FailMem';
    if (strict && lCpu >= 0 && lCpu < newPcpu) return 'FailCPU';
    if (strict) for (const t of inst.exclTags) if ((n.pTags.get(t) ?? 0) > 0) return 'FailTags';
    if (strict && d[o + F_FMEMF]! - inst.mem <= 0) return 'FailMem';
    this.touch(p);
    d[o + F_PCNT]! += 1;
    d[o + F_IMEM] = newIMem;
    d[o + F_FDSK] = newDsk;
    d[o + F_FAILN1] = newFailN1 ? 1 : 0;
    d[o + F_UCPU] = newUcpu;
    d[o + F_INSTSP] = newInstSp;
    if (excl) d[o + F_FSP] = newFsp;
    d[o + F_FMEMF]! -= inst.mem;
    d[o + F_LOCSC]! += loc + dsrdScore(inst, n);
    this.addTagsLoc(n, inst, 1);
    return null;
  }

  /** Node.addSecExEx: checks then adds; returns a failure reason or null. */
  addSec(s: number, inst: InstS, pdx: number, force: boolean, ignoreDisks = false): FailReason | null {
    const n = this.nodes[s]!;
    const o = s * F;
    const d = this.d;
    const strict = !force;
    if (inst.dt !== 'drbd') return 'FailDisk';
    const secMem = inst.usesSecMem ? inst.mem : 0;
    const newPeem = (n.peers.get(pdx) ?? 0) + secMem;
    const oldMem = this.unallocated(s);
    const newDsk = d[o + F_FDSK]! - inst.dsk;
    const excl = this.excl[s] === 1;
    const newFsp = excl ? (inst.spindles === null ? -1 : d[o + F_FSP]! - inst.spindles) : d[o + F_FSP]!;
    const newInstSp = !excl ? d[o + F_INSTSP]! + inst.spindleUse : d[o + F_INSTSP]!;
    const newR = Math.max(d[o + F_RMEM]!, newPeem);
    const newFailN1 = oldMem <= newR;
    if (!ignoreDisks && newDsk <= 0) return 'FailDisk';
    if (strict && newDsk < this.loDsk[s]!) return 'FailDisk';
    if (excl && newFsp < 0) return 'FailSpindles';
    if (strict && newInstSp > this.hiSp[s]!) return 'FailDisk';
    if (strict && secMem >= oldMem) return 'FailMem';
    if (strict && newFailN1 && d[o + F_FAILN1] !== 1) return 'FailMem';
    if (strict && secMem >= d[o + F_FMEMF]!) return 'FailMem';
    this.touch(s);
    this.jmap(n.peers, pdx, newPeem);
    d[o + F_SCNT]! += 1;
    d[o + F_FDSK] = newDsk;
    d[o + F_FAILN1] = newFailN1 ? 1 : 0;
    d[o + F_RMEM] = newR;
    d[o + F_INSTSP] = newInstSp;
    if (excl) d[o + F_FSP] = newFsp;
    return null;
  }

  checkMigration(src: number, dst: number): boolean {
    const a = this.nodes[src]!.migTags;
    if (a.size === 0) return true;
    const b = this.nodes[dst]!.rmigTags;
    for (const t of a) if (!b.has(t)) return false;
    return true;
  }

  locScoreOf(p: number, s: number): number {
    if (s < 0) return 0;
    return intersectSize(this.nodes[p]!.locTags, this.nodes[s]!.locTags);
  }

  // ---------------------------------------------------------------- moves
  /**
   * Applies an hbal move (Cluster/Moves.hs applyMoveEx) inside the current
   * transaction. On failure the caller must roll back.
   */
  applyMove(ii: number, mv: MoveType, tdx: number, force: boolean): FailReason | null {
    if (force || !this.finalSoftCheck) return this.applyMoveSteps(ii, mv, tdx, force);
    const p = this.pNode[ii]!;
    const s = this.sNode[ii]!;
    const d = this.d;
    const nodes = [p, s, tdx];
    const n1 = nodes.map((i) => (i >= 0 ? d[i * F + F_FAILN1]! : 0));
    const cf = nodes.map((i) => (i >= 0 ? d[i * F + F_CONFL]! : 0));
    const r = this.applyMoveSteps(ii, mv, tdx, force);
    if (r !== null) return r;
    for (let j = 0; j < 3; j++) {
      const i = nodes[j]!;
      if (i < 0 || this.nodes[i]!.offline) continue;
      if (d[i * F + F_FAILN1] === 1 && n1[j] === 0) return 'FailN1';
      if (d[i * F + F_CONFL]! > cf[j]!) return 'FailTags';
    }
    return null;
  }

  private applyMoveSteps(ii: number, mv: MoveType, tdx: number, force: boolean): FailReason | null {
    const inst = this.insts[ii]!;
    const p = this.pNode[ii]!;
    const s = this.sNode[ii]!;
    const oldLoc = this.iLoc[ii]!;
    const pOff = this.offlineForce && this.nodes[p]!.offline;
    const sOff = this.offlineForce && s >= 0 && this.nodes[s]!.offline;
    switch (mv) {
      case 'failover': {
        if (!this.checkMigration(p, s)) return 'FailMig';
        this.removePri(p, inst, oldLoc);
        this.removeSec(s, inst, p);
        const r1 = this.addPri(s, inst, pOff || force, oldLoc);
        if (r1) return r1;
        // htools 3.0: the old primary takes the secondary with the same leniency
        // (and, when it is offline, without its disks being checked)
        const r2 = this.addSec(p, inst, s, pOff || force, pOff);
        if (r2) return r2;
        this.setInst(ii, s, p, oldLoc);
        return null;
      }
      case 'failoverToAny': {
        if (!this.checkMigration(p, tdx)) return 'FailMig';
        const r = this.addPri(tdx, inst, pOff || force, 0);
        if (r) return r;
        this.removePri(p, inst, oldLoc);
        this.setInst(ii, tdx, s, 0);
        return null;
      }
      case 'replacePrimary': {
        if (!this.checkMigration(p, s) || !this.checkMigration(s, tdx)) return 'FailMig';
        const newLoc = this.locScoreOf(tdx, s);
        const fp = pOff || force;
        this.removePri(p, inst, oldLoc);
        this.removeSec(s, inst, p);
        const r1 = this.addPri(s, inst, fp, newLoc);
        if (r1) return r1;
        this.removePri(s, inst, newLoc);
        const r2 = this.addPri(tdx, inst, fp, newLoc);
        if (r2) return r2;
        const r3 = this.addSec(s, inst, tdx, fp);
        if (r3) return r3;
        this.setInst(ii, tdx, s, newLoc);
        return null;
      }
      case 'replaceSecondary': {
        const newLoc = this.locScoreOf(p, tdx);
        const fs = sOff || force;
        this.removePri(p, inst, oldLoc);
        this.removeSec(s, inst, p);
        const r1 = this.addSec(tdx, inst, p, fs);
        if (r1) return r1;
        const r2 = this.addPri(p, inst, true, newLoc);
        if (r2) return r2;
        this.setInst(ii, p, tdx, newLoc);
        return null;
      }
      case 'replaceAndFailover': {
        if (!this.checkMigration(p, tdx)) return 'FailMig';
        const newLoc = this.locScoreOf(tdx, p);
        const fs = sOff || force;
        this.removePri(p, inst, oldLoc);
        this.removeSec(s, inst, p);
        const r1 = this.addPri(tdx, inst, force, newLoc);
        if (r1) return r1;
        const r2 = this.addSec(p, inst, tdx, fs);
        if (r2) return r2;
        this.setInst(ii, tdx, p, newLoc);
        return null;
      }
      case 'failoverAndReplace': {
        if (!this.checkMigration(p, s)) return 'FailMig';
        const newLoc = this.locScoreOf(s, tdx);
        const fp = pOff || force;
        this.removePri(p, inst, oldLoc);
        this.removeSec(s, inst, p);
        const r1 = this.addPri(s, inst, fp, newLoc);
        if (r1) return r1;
        const r2 = this.addSec(tdx, inst, s, fp);
        if (r2) return r2;
        this.setInst(ii, s, tdx, newLoc);
        return null;
      }
    }
  }

  setInst(ii: number, p: number, s: number, loc: number): void {
    this.journal.logInst(this, ii);
    this.pNode[ii] = p;
    this.sNode[ii] = s;
    this.iLoc[ii] = loc;
  }

  /** Places a new instance (already appended via `addInstance`) on p[,s]. */
  placeNew(ii: number, p: number, s: number): FailReason | null {
    const inst = this.insts[ii]!;
    const loc = inst.dt === 'drbd' ? this.locScoreOf(p, s) : 0;
    const r1 = this.addPri(p, inst, false, loc);
    if (r1) return r1;
    if (inst.dt === 'drbd') {
      const r2 = this.addSec(s, inst, p, false);
      if (r2) return r2;
    }
    this.setInst(ii, p, inst.dt === 'drbd' ? s : -1, loc);
    return null;
  }

  /** Appends an unplaced instance record (pNode = -1) and returns its index. */
  addInstance(src: PlaceInstance, prefixes: readonly string[]): number {
    const i = this.insts.length;
    const mir = mirrorType(src.diskTemplate);
    const ctags = this.src.clusterTags;
    this.insts.push({
      idx: i, src, name: src.name, mem: src.mem, dsk: src.dsk, vcpus: src.vcpus, status: src.status,
      usesMem: usesMemory(src.status), online: notOffline(src.status),
      usesSecMem: notOffline(src.status) && src.autoBalance, local: usesLocalStorage(src.diskTemplate),
      dt: src.diskTemplate, mirror: mir, exclTags: exclusionTags(prefixes, src.tags),
      dsrdLoc: desiredLocationTags(ctags, src.tags), spindleUse: src.spindleUse, spindles: src.spindles,
      movable: mir !== 'none', autoBalance: src.autoBalance,
    });
    growInt(this, 'pNode', i);
    growInt(this, 'sNode', i);
    growInt(this, 'iLoc', i);
    this.pNode[i] = -1;
    this.sNode[i] = -1;
    this.iLoc[i] = 0;
    return i;
  }

  /** Removes an instance from its nodes (used by relocation / evacuation). */
  unplace(ii: number): void {
    const inst = this.insts[ii]!;
    const p = this.pNode[ii]!;
    const s = this.sNode[ii]!;
    if (p >= 0) this.removePri(p, inst, this.iLoc[ii]!);
    if (s >= 0) this.removeSec(s, inst, p);
    this.setInst(ii, -1, -1, 0);
  }

  // ---------------------------------------------------------------- transactions
  begin(): void { this.journal.begin(this); }
  /** A nested what-if point inside the current transaction. */
  savepoint(): Savepoint { return this.journal.savepoint(); }
  rollbackTo(sp: Savepoint): void { this.journal.rollbackTo(this, sp); }
  inTransaction(): boolean { return this.journal.active; }
  rollback(): void { this.journal.rollback(this); }
  commit(): void { this.journal.commit(); }
  touchedNodes(): readonly number[] { return this.journal.touched; }

  /** Re-scores the nodes touched in the current transaction and returns their groups' score. */
  rescoreTouched(): void {
    const t = this.journal.touched;
    const n = t.length;
    for (let j = 0; j < n; j++) {
      const i = t[j]!;
      this.touch(i); // snapshot vec and group sums at the current savepoint level first
      this.updateNodeVec(i);
    }
  }

  // ---------------------------------------------------------------- scoring
  nodeVector(i: number, out: Float64Array, off: number): void {
    const d = this.d;
    const o = i * F;
    const pc = d[o + F_PCNT]!;
    const sc = d[o + F_SCNT]!;
    if (this.nodes[i]!.offline) {
      out.fill(0, off, off + K);
      out[off + 4] = pc + sc;
      out[off + 5] = pc;
      return;
    }
    const tMem = this.tMem[i]!;
    const pMem = this.unallocated(i) / tMem;
    const pDsk = this.pDsk(i, d[o + F_FDSK]!, d[o + F_FSP]!);
    const pRem = d[o + F_RMEM]! / tMem;
    const pCpu = d[o + F_UCPU]! / this.tCpu[i]! / this.speed[i]!;
    const sp = this.excl[i] ? 0 : d[o + F_INSTSP]! / this.hiSp[i]!;
    out[off + 0] = pMem;
    out[off + 1] = pDsk;
    out[off + 2] = d[o + F_FAILN1] === 1 ? pc + sc : 0;
    out[off + 3] = pRem;
    out[off + 4] = 0;
    out[off + 5] = 0;
    out[off + 6] = pCpu;
    out[off + 7] = pc;
    out[off + 8] = pc + sc;
    out[off + 9] = d[o + F_CONFL]!;
    out[off + 10] = sp;
    out[off + 11] = d[o + F_FMEMF]! / tMem;
    out[off + 12] = d[o + F_LOCSC]!;
    out[off + 13] = 0;
    out[off + 14] = pRem;
  }

  private readonly tmpVec = new Float64Array(K);

  updateNodeVec(i: number): void {
    const g = this.groups[this.nodes[i]!.gdx]!;
    const v = this.tmpVec;
    this.nodeVector(i, v, 0);
    const base = i * K;
    const vec = this.vec;
    for (let k = 0; k < K; k++) {
      const a = vec[base + k]!;
      const b = v[k]!;
      if (a !== b) {
        g.sum[k]! += b - a;
        g.sq[k]! += b * b - a * a;
        vec[base + k] = b;
      }
    }
  }

  recomputeGroup(gdx: number): void {
    const g = this.groups[gdx]!;
    g.sum.fill(0);
    g.sq.fill(0);
    g.nOnline = 0;
    g.mapCounts.clear();
    g.mapValue = 0;
    for (const i of g.nodes) {
      this.nodeVector(i, this.vec, i * K);
      const n = this.nodes[i]!;
      if (!n.offline) {
        g.nOnline++;
        for (const [k, c] of n.instMap) {
          if (c <= 0) continue;
          const prev = g.mapCounts.get(k) ?? 0;
          g.mapCounts.set(k, prev + c);
        }
      }
      for (let k = 0; k < K; k++) {
        const x = this.vec[i * K + k]!;
        g.sum[k]! += x;
        g.sq[k]! += x * x;
      }
    }
    for (const c of g.mapCounts.values()) g.mapValue += c - 1;
  }

  /** Fast score of a group from the incremental statistics. */
  groupScore(gdx: number): number {
    const g = this.groups[gdx]!;
    return scoreFromSums(g.sum, g.sq, g.nOnline, g.mapValue);
  }

  /** Exact per-component values of a group, computed like Ganeti (two-pass variance). */
  groupComponents(gdx: number): number[] {
    const g = this.groups[gdx]!;
    const on = g.nodes.filter((i) => !this.nodes[i]!.offline);
    const off = g.nodes.filter((i) => this.nodes[i]!.offline);
    const out: number[] = [];
    const vecs = on.map((i) => { const a = new Float64Array(K); this.nodeVector(i, a, 0); return a; });
    const offv = off.map((i) => { const a = new Float64Array(K); this.nodeVector(i, a, 0); return a; });
    for (let k = 0; k < K; k++) {
      if (k === MAP_COMPONENT) {
        const m = new Map<string, number>();
        for (const i of on) for (const [key, c] of this.nodes[i]!.instMap) if (c > 0) m.set(key, (m.get(key) ?? 0) + c);
        let s = 0;
        for (const c of m.values()) s += c;
        out.push(s - m.size);
      } else if (IS_OFF[k]) {
        let s = 0;
        for (const a of offv) s += a[k]!;
        out.push(s);
      } else if (IS_SD[k]) {
        const nt = vecs.length;
        let s = 0;
        for (const a of vecs) s += a[k]!;
        const mean = s / nt;
        let nv = 0;
        for (const a of vecs) { const dd = a[k]! - mean; nv += dd * dd; }
        out.push(nt === 0 ? 0 : Math.sqrt(nv / nt));
      } else {
        let s = 0;
        for (const a of vecs) s += a[k]!;
        out.push(s);
      }
    }
    return EXPAND.map((k) => out[k]!);
  }

  /** Exact cluster score of a group (what hbal prints for that group). */
  /**
   * The score Ganeti prints when it reads the current placement back from a file. It can
   * differ from `exactGroupScore` after moves: Ganeti's incremental N+1 test (Node.hs
   * removePri/addSec: free <= reserved) and its load-time test (free < reserved) disagree
   * when a node's free memory equals its reserved memory exactly. Decisions keep the
   * incremental semantics (hbal parity); reported scores use this one.
   */
  rereadGroupScore(gdx: number): number {
    return new ClusterState(this.toCluster()).exactGroupScore(gdx);
  }

  exactGroupScore(gdx: number): number {
    const c = this.groupComponents(gdx);
    let t = 0;
    for (let k = 0; k < c.length; k++) t += SCORE_COMPONENTS[k]!.weight * c[k]!;
    return t;
  }

  // ---------------------------------------------------------------- output
  /** The current placement as a new immutable PlaceCluster. */
  toCluster(): PlaceCluster {
    const nodes: PlaceNode[] = this.nodes.map((n) => {
      const i = n.idx;
      const o = i * F;
      return Object.freeze({
        ...n.src,
        fMem: this.reportedFreeMem(i),
        fDsk: this.d[o + F_FDSK]!,
        fSpindles: this.d[o + F_FSP]!,
      });
    });
    const instances: PlaceInstance[] = this.insts.map((inst) => {
      const p = this.pNode[inst.idx]!;
      const s = this.sNode[inst.idx]!;
      if (p < 0) return inst.src;
      return Object.freeze({ ...inst.src, pNode: this.nodes[p]!.name, sNode: s >= 0 ? this.nodes[s]!.name : null });
    }).filter((x) => this.nodeByName.has(x.pNode));
    return Object.freeze({ ...this.src, nodes: Object.freeze(nodes), instances: Object.freeze(instances) });
  }

  /** Internal access for the journal. */
  nodeFieldsOffset(i: number): number { return i * F; }
}

export const NODE_FIELDS = F;
export const SCORE_WEIGHTS = W;
export const SCORE_SD_IDX = SD_IDX;
export const SCORE_SUM_IDX = SUM_IDX;
export const SCORE_MAP_IDX = MAP_COMPONENT;
export const SCORE_K = K;

/** The score from a group's running sums (population standard deviations). */
export function scoreFromSums(sum: Float64Array, sq: Float64Array, n: number, mapValue: number): number {
  let total = W[MAP_COMPONENT]! * mapValue;
  for (let j = 0; j < SUM_IDX.length; j++) {
    const k = SUM_IDX[j]!;
    total += W[k]! * sum[k]!;
  }
  if (n > 0) {
    for (let j = 0; j < SD_IDX.length; j++) {
      const k = SD_IDX[j]!;
      const mean = sum[k]! / n;
      const varr = sq[k]! / n - mean * mean;
      if (varr > 0) total += W[k]! * Math.sqrt(varr);
    }
  }
  return total;
}

function intersectSize(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let n = 0;
  for (const x of a) if (b.has(x)) n++;
  return n;
}

function dsrdScore(inst: InstS, n: NodeS): number {
  if (inst.dsrdLoc.size === 0) return 0;
  return inst.dsrdLoc.size - intersectSize(inst.dsrdLoc, n.locTags);
}

function growInt(st: ClusterState, key: 'pNode' | 'sNode' | 'iLoc', need: number): void {
  const arr = st[key];
  if (need < arr.length) return;
  const next = new Int32Array(Math.max(16, arr.length * 2));
  next.set(arr);
  (st as unknown as Record<string, Int32Array>)[key] = next;
}

/** A position in the journal to roll back to (nested what-ifs). */
export interface Savepoint {
  readonly snaps: number;
  readonly maps: number;
  readonly insts: number;
  readonly groups: number;
  readonly touched: number;
}

/**
 * Undo log for one transaction: node field snapshots (taken at the first touch
 * after the transaction start or the last savepoint), map entries, instance
 * placements, group statistics. Supports savepoints for nested what-ifs.
 */
class Journal {
  active = false;
  touched: number[] = [];
  private stamp = new Int32Array(0);
  private gen = 1;
  private snapNode: number[] = [];
  private snaps = new Float64Array(16 * (F + K));
  private mapM: Map<unknown, number>[] = [];
  private mapK: unknown[] = [];
  private mapV: (number | undefined)[] = [];
  private nMap = 0;
  private instI: number[] = [];
  private instP: number[] = [];
  private instS: number[] = [];
  private instL: number[] = [];
  private gStamp = new Int32Array(0);
  private gIdx: number[] = [];
  private gsnap = new Float64Array(4 * (2 * K + 1));

  begin(st: ClusterState): void {
    this.active = true;
    this.touched.length = 0;
    if (this.stamp.length < st.nodes.length) this.stamp = new Int32Array(st.nodes.length);
    if (this.gStamp.length < st.groups.length) this.gStamp = new Int32Array(st.groups.length);
    this.gen++;
    this.snapNode.length = 0;
    this.nMap = 0;
    this.instI.length = 0; this.instP.length = 0; this.instS.length = 0; this.instL.length = 0;
    this.gIdx.length = 0;
  }

  touchNode(st: ClusterState, i: number): void {
    if (!this.active || this.stamp[i] === this.gen) return;
    this.stamp[i] = this.gen;
    this.touched.push(i);
    const slot = this.snapNode.length;
    this.snapNode.push(i);
    const need = (slot + 1) * (F + K);
    if (need > this.snaps.length) {
      const n = new Float64Array(this.snaps.length * 2);
      n.set(this.snaps);
      this.snaps = n;
    }
    const base = slot * (F + K);
    const d = st.d;
    const vec = st.vec;
    const snaps = this.snaps;
    for (let f = 0; f < F; f++) snaps[base + f] = d[i * F + f]!;
    for (let k = 0; k < K; k++) snaps[base + F + k] = vec[i * K + k]!;
    const gdx = st.nodes[i]!.gdx;
    if (this.gStamp[gdx] !== this.gen) {
      this.gStamp[gdx] = this.gen;
      const gi = this.gIdx.length;
      this.gIdx.push(gdx);
      const need2 = (gi + 1) * (2 * K + 1);
      if (need2 > this.gsnap.length) {
        const n = new Float64Array(this.gsnap.length * 2);
        n.set(this.gsnap);
        this.gsnap = n;
      }
      const g = st.groups[gdx]!;
      const gb = gi * (2 * K + 1);
      for (let k = 0; k < K; k++) { this.gsnap[gb + k] = g.sum[k]!; this.gsnap[gb + K + k] = g.sq[k]!; }
      this.gsnap[gb + 2 * K] = g.mapValue;
    }
  }

  logMap(m: Map<unknown, number>, k: unknown, prev: number | undefined): void {
    if (!this.active) return;
    const j = this.nMap++;
    this.mapM[j] = m; this.mapK[j] = k; this.mapV[j] = prev;
  }

  logInst(st: ClusterState, ii: number): void {
    if (!this.active) return;
    this.instI.push(ii); this.instP.push(st.pNode[ii]!); this.instS.push(st.sNode[ii]!); this.instL.push(st.iLoc[ii]!);
  }

  savepoint(): Savepoint {
    const sp = {
      snaps: this.snapNode.length, maps: this.nMap, insts: this.instI.length, groups: this.gIdx.length,
      touched: this.touched.length,
    };
    this.gen++;
    return sp;
  }

  rollbackTo(st: ClusterState, sp: Savepoint): void {
    for (let j = this.nMap - 1; j >= sp.maps; j--) {
      const m = this.mapM[j]!;
      const prev = this.mapV[j];
      if (prev === undefined) m.delete(this.mapK[j]);
      else m.set(this.mapK[j], prev);
    }
    this.nMap = sp.maps;
    for (let j = this.instI.length - 1; j >= sp.insts; j--) {
      const ii = this.instI[j]!;
      st.pNode[ii] = this.instP[j]!; st.sNode[ii] = this.instS[j]!; st.iLoc[ii] = this.instL[j]!;
    }
    this.instI.length = sp.insts; this.instP.length = sp.insts; this.instS.length = sp.insts; this.instL.length = sp.insts;
    const d = st.d;
    const vec = st.vec;
    const snaps = this.snaps;
    for (let slot = this.snapNode.length - 1; slot >= sp.snaps; slot--) {
      const i = this.snapNode[slot]!;
      const base = slot * (F + K);
      for (let f = 0; f < F; f++) d[i * F + f] = snaps[base + f]!;
      for (let k = 0; k < K; k++) vec[i * K + k] = snaps[base + F + k]!;
    }
    this.snapNode.length = sp.snaps;
    for (let gi = this.gIdx.length - 1; gi >= sp.groups; gi--) {
      const g = st.groups[this.gIdx[gi]!]!;
      const gb = gi * (2 * K + 1);
      for (let k = 0; k < K; k++) { g.sum[k] = this.gsnap[gb + k]!; g.sq[k] = this.gsnap[gb + K + k]!; }
      g.mapValue = this.gsnap[gb + 2 * K]!;
    }
    this.gIdx.length = sp.groups;
    this.touched.length = sp.touched;
    this.gen++;
  }

  rollback(st: ClusterState): void {
    this.rollbackTo(st, { snaps: 0, maps: 0, insts: 0, groups: 0, touched: 0 });
    this.active = false;
    this.touched.length = 0;
  }

  commit(): void {
    this.active = false;
    this.nMap = 0;
  }
}
