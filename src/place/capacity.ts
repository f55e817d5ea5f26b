/**
 * Capacity (hspace): how many more instances of a spec fit, and why it stops.
 *
 * Standard mode allocates copies of one spec (default: the cluster policy's std
 * spec) with the allocator (global N+1 capacity checks on, like hspace) until an
 * allocation fails; the failure counts of that last attempt say why. Tiered mode
 * starts from a big spec (default: the policy's max spec) and, each time it stops
 * fitting, shrinks the resource that failed most (memory by 64 MiB, disk by
 * 256 MiB, vCPUs by one) until something fits again. Results carry hspace's
 * machine-readable keys.
 */
import { allocateInstance, planAllocation } from './allocate.js';
import { ClusterState } from './state.js';
import {
  type DiskTemplate, type FailCounts, type FailReason, type PlaceCluster, type PlaceInstance,
  FAIL_REASONS, emptyFailCounts,
} from './types.js';
import { exclusionPrefixes } from './tags.js';

export interface CapacitySpec {
  readonly memoryMiB: number;
  readonly diskMiB: number;
  readonly vcpus: number;
  readonly spindles: number;
}

export interface CapacityOptions {
  /** Standard spec; default the cluster policy's std spec. */
  readonly standard?: CapacitySpec;
  /** Tiered start spec; default the policy's (first) max spec. Set `tiered: false` to skip. */
  readonly tiered?: CapacitySpec | false;
  readonly diskTemplate?: DiskTemplate;
  /** Global N+1 capacity checks (hspace default true; --no-capacity-checks). */
  readonly capacity?: boolean;
  /** Cap on allocations per mode. */
  readonly maxAllocations?: number;
}

export interface Snapshot {
  readonly score: number;
  readonly instances: number;
  readonly memFree: number;
  readonly memAvail: number;
  readonly memInst: number;
  readonly memOverhead: number;
  readonly dskFree: number;
  readonly dskAvail: number;
  readonly dskInst: number;
  readonly spnFree: number;
  readonly spnInst: number;
  readonly cpuInst: number;
  readonly mnodeMemAvail: number;
  readonly mnodeDskAvail: number;
}

export interface ModeResult {
  readonly spec: CapacitySpec;
  readonly diskTemplate: DiskTemplate;
  readonly allocated: number;
  readonly final: Snapshot;
  /** Failure counts of the allocation attempt that stopped the run. */
  readonly fails: FailCounts;
  readonly reason: FailReason;
  /** Tiered only: specs used and how many of each were placed. */
  readonly tiers: readonly { spec: CapacitySpec; count: number }[];
}

export interface CapacityResult {
  readonly cluster: { mem: number; dsk: number; cpu: number; vcpu: number; spn: number; nodes: number };
  readonly initial: Snapshot;
  readonly standard: ModeResult | null;
  readonly tiered: ModeResult | null;
  readonly error: string | null;
}

/** Ganeti's FailMode order. */
const REASON_ORDER: readonly FailReason[] = FAIL_REASONS;

/** hspace's reported reason: the most frequent, ties to the first in FailMode order. */
export function mainReason(f: FailCounts): FailReason {
  let best: FailReason = 'FailMem';
  let n = -1;
  for (const r of REASON_ORDER) if (f[r] > n) { n = f[r]; best = r; }
  return best;
}

/** Counters as hspace prints them: by count, descending, ties in FailMode order. */
function sortedReasons(f: FailCounts): FailReason[] {
  return [...REASON_ORDER].sort((a, b) => f[b] - f[a]);
}

/** hspace's tiered shrink choice: the most frequent, ties to the last in FailMode order. */
function shrinkReason(f: FailCounts): FailReason {
  let best: FailReason = 'FailMem';
  let n = -1;
  for (const r of REASON_ORDER) if (f[r] >= n) { n = f[r]; best = r; }
  return best;
}

function snapshot(st: ClusterState): Snapshot {
  let memFree = 0, memAvail = 0, memInst = 0, memOverhead = 0, dskFree = 0, dskAvail = 0, dskInst = 0;
  let spnFree = 0, spnInst = 0, cpuInst = 0, mnodeMem = 0, mnodeDsk = 0;
  for (const n of st.nodes) {
    const i = n.idx;
    const un = st.unallocated(i);
    const av = Math.max(0, un - st.reservedMem(i));
    memFree += un; memAvail += av; memInst += st.memUsedByInstances(i); memOverhead += st.nMem[i]!;
    const fd = st.freeDisk(i);
    const ad = Math.max(0, fd - st.loDsk[i]!);
    dskFree += fd; dskAvail += ad; dskInst += Math.trunc(st.tDsk[i]!) - fd;
    const fs = st.freeSpindles(i);
    spnFree += fs; spnInst += st.tSp[i]! - fs;
    cpuInst += st.usedCpu(i);
    mnodeMem = Math.max(mnodeMem, av); mnodeDsk = Math.max(mnodeDsk, ad);
  }
  let instances = 0;
  for (const inst of st.insts) if (st.pNode[inst.idx]! >= 0) instances++;
  return {
    score: clusterScore(st), instances, memFree, memAvail, memInst, memOverhead, dskFree, dskAvail, dskInst,
    spnFree, spnInst, cpuInst, mnodeMemAvail: mnodeMem, mnodeDskAvail: mnodeDsk,
  };
}

/** hspace scores the whole cluster as one node list. */
function clusterScore(st: ClusterState): number {
  if (st.groups.length === 1) return st.exactGroupScore(0);
  const merged = new ClusterState({
    ...st.toCluster(),
    groups: [{ ...st.src.groups[0]!, uuid: '__all__' }],
    nodes: st.toCluster().nodes.map((n) => ({ ...n, group: '__all__' })),
  });
  return merged.exactGroupScore(0);
}

function shrink(spec: CapacitySpec, r: FailReason): CapacitySpec | null {
  if (r === 'FailMem') return spec.memoryMiB - 64 < 64 ? null : { ...spec, memoryMiB: spec.memoryMiB - 64 };
  if (r === 'FailDisk') return spec.diskMiB - 256 < 256 ? null : { ...spec, diskMiB: spec.diskMiB - 256 };
  if (r === 'FailCPU') return spec.vcpus - 1 < 1 ? null : { ...spec, vcpus: spec.vcpus - 1 };
  // Instance.shrinkByType FailSpindles: one spindle less on the (single) disk
  if (r === 'FailSpindles') return spec.spindles - 1 < 1 ? null : { ...spec, spindles: spec.spindles - 1 };
  return null;
}

function mkInstance(name: string, spec: CapacitySpec, dt: DiskTemplate, su: number): PlaceInstance {
  return {
    name, mem: spec.memoryMiB, dsk: spec.diskMiB, disks: [spec.diskMiB], vcpus: spec.vcpus, status: 'running',
    autoBalance: true, pNode: '', sNode: null, diskTemplate: dt, tags: [], spindleUse: su, spindles: spec.spindles,
    nics: [],
  };
}

interface Runner {
  st: ClusterState;
  counter: number;
  su: number;
  groups: number[];
}

function allocOnce(run: Runner, spec: CapacitySpec, dt: DiskTemplate, capacity: boolean, commit: boolean): { ok: boolean; fails: FailCounts } {
  const st = run.st;
  const prefixes = exclusionPrefixes(st.src.clusterTags);
  const ii = st.addInstance(mkInstance(`new-${run.counter}`, spec, dt, run.su), prefixes);
  const o = { capacity, groups: run.groups };
  const out = commit ? allocateInstance(st, ii, o) : planAllocation(st, ii, o);
  if (out.ok && commit) run.counter++;
  if (!out.ok || !commit) st.insts.pop();
  return { ok: out.ok, fails: out.fails };
}

function iterate(run: Runner, spec: CapacitySpec, dt: DiskTemplate, capacity: boolean, limit: number): { n: number; fails: FailCounts } {
  let n = 0;
  for (;;) {
    if (n >= limit) return { n, fails: emptyFailCounts() };
    const r = allocOnce(run, spec, dt, capacity, true);
    if (!r.ok) return { n, fails: r.fails };
    n++;
  }
}

export function capacity(cluster: PlaceCluster, opts: CapacityOptions = {}): CapacityResult {
  const base = new ClusterState(cluster);
  const pol = cluster.ipolicy;
  const dt = opts.diskTemplate ?? pol.diskTemplates[0] ?? 'drbd';
  const cap = opts.capacity ?? true;
  const limit = opts.maxAllocations ?? 100000;
  const clusterTotals = {
    mem: cluster.nodes.reduce((a, n) => a + n.tMem, 0), dsk: cluster.nodes.reduce((a, n) => a + n.tDsk, 0),
    cpu: cluster.nodes.reduce((a, n) => a + n.tCpu, 0),
    vcpu: base.nodes.reduce((a, n) => a + Math.floor(base.lCpu[n.idx]! * base.tCpu[n.idx]!), 0),
    spn: cluster.nodes.reduce((a, n) => a + n.tSpindles, 0), nodes: cluster.nodes.length,
  };
  const initial = snapshot(base);
  const online = base.nodes.some((n) => !n.offline);
  if (!online) {
    return { cluster: clusterTotals, initial, standard: null, tiered: null, error: 'No online nodes' };
  }
  const std = pol.std;
  const max = pol.minMax[0]?.max ?? std;
  const stdSpec = opts.standard ?? { memoryMiB: std.memorySize, diskMiB: std.diskSize, vcpus: std.cpuCount, spindles: std.spindleUse };
  // hspace: groups with N+1-failing nodes are not allocable, and then nothing is allocated
  const badGroups = new Set(base.nodes.filter((n) => !n.offline && base.failsN1(n.idx)).map((n) => n.gdx));
  const groups = base.groups.map((g) => g.gdx).filter((g) => !badGroups.has(g));
  const stop = badGroups.size > 0;
  const su = std.spindleUse;
  const stopped = (spec: CapacitySpec, tiersOf: boolean): ModeResult => {
    const f = emptyFailCounts();
    f.FailN1 = 1;
    return { spec, diskTemplate: dt, allocated: 0, final: initial, fails: f, reason: 'FailN1', tiers: tiersOf ? [] : [{ spec, count: 0 }] };
  };
  let tiered: ModeResult | null = null;
  if (opts.tiered !== false) {
    const startSpec = opts.tiered ?? { memoryMiB: max.memorySize, diskMiB: max.diskSize, vcpus: max.cpuCount, spindles: max.spindleUse };
    if (stop) tiered = stopped(startSpec, true);
    else {
      let spec = startSpec;
      const run: Runner = { st: new ClusterState(cluster), counter: 0, su, groups };
      const tiers: { spec: CapacitySpec; count: number }[] = [];
      let total = 0;
      let lastFails = emptyFailCounts();
      outer: for (;;) {
        const r = iterate(run, spec, dt, cap, limit - total);
        total += r.n;
        if (r.n > 0) tiers.push({ spec, count: r.n });
        if (total >= limit) break;
        lastFails = r.fails;
        // shrink one unit along the main failure of each failed attempt
        let cand = shrink(spec, shrinkReason(r.fails));
        while (cand) {
          const pr = allocOnce(run, cand, dt, cap, false);
          if (pr.ok) { spec = cand; continue outer; }
          cand = shrink(cand, shrinkReason(pr.fails));
        }
        // big steps: shrink along one failure reason until something fits
        for (const reason of [...REASON_ORDER].sort((a, b) => r.fails[b] - r.fails[a])) {
          let c2 = shrink(spec, reason);
          while (c2) {
            if (allocOnce(run, c2, dt, cap, false).ok) { spec = c2; continue outer; }
            c2 = shrink(c2, reason);
          }
        }
        break;
      }
      tiered = {
        spec: startSpec, diskTemplate: dt, allocated: total, final: snapshot(run.st), fails: lastFails,
        reason: mainReason(lastFails), tiers,
      };
    }
  }
  let standard: ModeResult;
  if (stop) standard = stopped(stdSpec, false);
  else {
    const run: Runner = { st: new ClusterState(cluster), counter: 0, su, groups };
    const r = iterate(run, stdSpec, dt, cap, limit);
    standard = {
      spec: stdSpec, diskTemplate: dt, allocated: r.n, final: snapshot(run.st), fails: r.fails, reason: mainReason(r.fails),
      tiers: [{ spec: stdSpec, count: r.n }],
    };
  }
  return { cluster: clusterTotals, initial, standard, tiered, error: null };
}

function fmt8(x: number): string { return x.toFixed(8); }

function phase(prefix: string, s: Snapshot, c: CapacityResult['cluster']): string[] {
  const eff = (a: number, b: number): string => fmt8(b === 0 ? 0 : a / b);
  return [
    `${prefix}_SCORE=${fmt8(s.score)}`, `${prefix}_INST_CNT=${s.instances}`,
    `${prefix}_MEM_FREE=${s.memFree}`, `${prefix}_MEM_AVAIL=${s.memAvail}`, `${prefix}_MEM_RESVD=${s.memFree - s.memAvail}`,
    `${prefix}_MEM_INST=${s.memInst}`, `${prefix}_MEM_OVERHEAD=${s.memOverhead}`, `${prefix}_MEM_EFF=${eff(s.memInst, c.mem)}`,
    `${prefix}_DSK_FREE=${s.dskFree}`, `${prefix}_DSK_AVAIL=${s.dskAvail}`, `${prefix}_DSK_RESVD=${s.dskFree - s.dskAvail}`,
    `${prefix}_DSK_INST=${s.dskInst}`, `${prefix}_DSK_EFF=${eff(s.dskInst, c.dsk)}`,
    `${prefix}_SPN_FREE=${s.spnFree}`, `${prefix}_SPN_INST=${s.spnInst}`, `${prefix}_SPN_EFF=${eff(s.spnInst, c.spn)}`,
    `${prefix}_CPU_INST=${s.cpuInst}`, `${prefix}_CPU_EFF=${eff(s.cpuInst, c.vcpu)}`,
    `${prefix}_MNODE_MEM_AVAIL=${s.mnodeMemAvail}`, `${prefix}_MNODE_DSK_AVAIL=${s.mnodeDskAvail}`,
  ];
}

function specKeys(prefix: string, s: CapacitySpec, dt: DiskTemplate): string[] {
  return [
    `${prefix}_MEM=${s.memoryMiB}`, `${prefix}_DSK=${s.diskMiB}`, `${prefix}_CPU=${s.vcpus}`, `${prefix}_SPN=${s.spindles}`,
    `${prefix}_RQN=${dt === 'drbd' ? 2 : 1}`, `${prefix}_DISK_TEMPLATE=${dt}`,
  ];
}

/** hspace --machine-readable output (the HTS_KM_* and HTS_ALLOC_USAGE keys are not produced). */
export function machineReadable(r: CapacityResult): string {
  const c = r.cluster;
  const out = [
    `HTS_CLUSTER_MEM=${c.mem}`, `HTS_CLUSTER_DSK=${c.dsk}`, `HTS_CLUSTER_CPU=${c.cpu}`, `HTS_CLUSTER_VCPU=${c.vcpu}`,
    `HTS_CLUSTER_SPN=${c.spn}`, `HTS_CLUSTER_NODES=${c.nodes}`,
    ...phase('HTS_INI', r.initial, c),
  ];
  if (r.error) {
    out.push(`HTS_ERROR=${r.error}`);
    return out.join('\n') + '\n';
  }
  if (r.tiered) {
    const t = r.tiered;
    out.push(...specKeys('HTS_TSPEC_INI', t.spec, t.diskTemplate), ...phase('HTS_TRL', t.final, c));
    const tiers = t.tiers.map((x) => `${x.spec.memoryMiB},${x.spec.diskMiB},${x.spec.vcpus},${x.spec.spindles}=${x.count}`);
    out.push(tiers.length ? `HTS_TSPEC='${tiers.join(' ')}'` : 'HTS_TSPEC=');
  }
  if (r.standard) {
    const s = r.standard;
    out.push(...specKeys('HTS_SPEC', s.spec, s.diskTemplate), ...phase('HTS_FIN', s.final, c));
    out.push(`HTS_ALLOC_INSTANCES=${s.allocated}`, `HTS_ALLOC_FAIL_REASON=${s.reason.toUpperCase()}`);
    for (const k of sortedReasons(s.fails)) out.push(`HTS_ALLOC_${k.toUpperCase()}_CNT=${s.fails[k]}`);
  }
  out.push('HTS_OK=1');
  return out.join('\n') + '\n';
}

/** Parses hspace's spec syntax 'disk,ram,cpu[,spindles]' (sizes in MiB; a trailing g/t/m unit is accepted). */
export function parseSpec(s: string, defaultSpindles = 1): CapacitySpec {
  const parts = s.split(',').map((x) => x.trim());
  if (parts.length < 3 || parts.length > 4) throw new Error(`Invalid spec '${s}': expected disk,ram,cpu[,spindles]`);
  const unit = (x: string): number => {
    const m = /^(\d+(?:\.\d+)?)([mMgGtT]?)$/.exec(x);
    if (!m) throw new Error(`Invalid size '${x}' in spec '${s}'`);
    const v = Number(m[1]);
    const u = m[2]!.toLowerCase();
    return Math.round(u === 'g' ? v * 1024 : u === 't' ? v * 1024 * 1024 : v);
  };
  const cpu = Number(parts[2]);
  if (!Number.isInteger(cpu) || cpu < 1) throw new Error(`Invalid cpu count in spec '${s}'`);
  return {
    diskMiB: unit(parts[0]!), memoryMiB: unit(parts[1]!), vcpus: cpu,
    spindles: parts[3] !== undefined ? Number(parts[3]) : defaultSpindles,
  };
}
