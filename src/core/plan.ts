import type { Action } from './actions.js';
import type { ObservedNode } from './observed.js';
import type { LivenessPolicy, NodeLiveness } from './liveness.js';

/** What the planner needs of each node, already filled and validated by src/desired. */
export interface PlanNode {
  readonly name: string;
  readonly group: string;
  readonly role: 'master-candidate' | 'regular' | 'drained' | 'offline';
  /** Management (primary) IP: never removed from an interface by any plan. */
  readonly address?: string;
  /** Replication IP: never removed either. */
  readonly secondaryAddress?: string;
  readonly ovsdbSocket?: string;
  readonly runDir: string;
  readonly fileStorageDir: string;
  readonly profile: PlanNodeProfile;
  /** It has an out-of-band power program (Node spec.oob): Gantry can fence it. */
  readonly fenceable?: boolean;
  /** Planning overrides of what the node reports (MiB, CPUs). */
  readonly memoryMiB?: number;
  readonly cpus?: number;
  /** ndParams.exclusiveStorage: placement counts spindles (PVs) like Ganeti's dedicated allocation. */
  readonly exclusiveStorage?: true;
  /** Spindles to plan with (Node spec.spindles); default the observed PV count. */
  readonly spindles?: number;
}

export interface PlanNodeProfile {
  readonly bridges: readonly { name: string; vlanFiltering: boolean; mtu?: number; addresses: readonly string[]; ports: readonly string[] }[];
  readonly ovsBridges: readonly { name: string; datapathType: string; ports: readonly { name: string; tag?: number; trunks: readonly number[]; type: string }[] }[];
  readonly vxlans: readonly { name: string; vni: number; local?: string; remote?: string; group?: string; dstPort: number; dev?: string; bridge?: string }[];
  readonly volumeGroups: readonly { name: string; pvs: readonly string[] }[];
  readonly sysctls: Readonly<Record<string, string>>;
}

export type DiskTemplate = 'plain' | 'drbd' | 'file' | 'sharedfile' | 'diskless';

export interface PlanDisk {
  readonly index: number;
  readonly sizeMiB: number;
  readonly template: DiskTemplate;
  readonly vg: string;
  readonly metaVg: string;
  readonly state: 'present' | 'absent';
  /** DRBD disks: metadata LV size (MiB, diskParams.drbd.metaSize) and the sync and safety parameters. */
  readonly drbd?: PlanDrbdParams;
  /** Disk name (OS scripts: DISK_N_NAME). */
  readonly name?: string;
  /** mode: ro (QEMU readonly=on, DISK_N_ACCESS=ro). */
  readonly readOnly?: true;
  /** Spindles (PVs) on exclusive-storage nodes (disk spec.spindles; default 1). */
  readonly spindles?: number;
  /** plain disks: LV stripes (diskParams.plain.stripes), when more than one. */
  readonly stripes?: number;
  /** file and sharedfile disks: the image format when not raw (diskParams.file/sharedfile.format). */
  readonly format?: 'qcow2';
}

export interface PlanDrbdParams {
  readonly metaSizeMiB: number;
  readonly protocol: 'A' | 'B' | 'C';
  readonly resyncRateKiB: number;
  readonly dynamicResync: boolean;
  /** "n" or letters of b, f, d: the write-ordering mechanisms to disable. */
  readonly diskBarriers: string;
  /** net ping-timeout in ms (diskParams.drbd.pingTimeoutMs); absent: DRBD's default. */
  readonly pingTimeoutMs?: number;
}

export interface PlanInstance {
  readonly name: string;
  readonly state: 'present' | 'absent';
  readonly deleteDisks: boolean;
  /** Instance spec.renamedFrom: objects on the nodes named after this name are renamed (plan/rename). */
  readonly renamedFrom?: string;
  readonly diskTemplate: DiskTemplate;
  readonly primary?: string;
  readonly secondary?: string;
  readonly group?: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly disks: readonly PlanDisk[];
  readonly tags: readonly string[];
  /** Instance spec.autoRepair.failover; undefined = the cluster's policy. */
  readonly failover?: boolean;
  /** Instance spec.autoRepair.allowDegradedFailover: DRBD failover may force-promote a replica that is not UpToDate (data-loss risk). */
  readonly allowDegradedFailover?: boolean;
  /** Instance spec.autoRepair.repair: counts as an instance tag ganeti:watcher:autorepair:TYPE. */
  readonly repair?: RepairType;
  /** What the VM runs and how; absent = disks only (the VM itself is not managed). */
  readonly runtime?: PlanInstanceRuntime;
}

export interface PlanNic {
  readonly index: number;
  readonly network?: string;
  readonly mode: 'bridged' | 'routed' | 'openvswitch';
  /** Bridge or OVS bridge. */
  readonly link: string;
  readonly vlan?: number;
  readonly trunks: readonly number[];
  /** 'pool', 'none', or a fixed IPv4 address. */
  readonly ip: string;
  /** 'auto' or a fixed MAC. */
  readonly mac: string;
  readonly model: 'virtio' | 'e1000' | 'rtl8139';
  /** NIC name (OS scripts: NIC_N_NAME). */
  readonly name?: string;
}

export interface PlanInstanceRuntime {
  readonly uuid: string;
  readonly os: { readonly name: string; readonly params: Readonly<Record<string, string>>; readonly generation: number };
  readonly powerState: 'running' | 'stopped';
  readonly restartGeneration: number;
  readonly accel: 'kvm' | 'tcg';
  readonly machineType?: string;
  readonly cpuType?: string;
  readonly kernelPath?: string;
  readonly initrdPath?: string;
  readonly kernelArgs?: string;
  readonly bootOrder: readonly ('disk' | 'cdrom' | 'network')[];
  readonly diskBus: 'virtio' | 'ide' | 'scsi';
  /** hvParams.diskCache when not "none" (the default). */
  readonly diskCache?: 'default' | 'writethrough' | 'writeback';
  /** hvParams.usbMouse when not "none". */
  readonly usbMouse?: 'mouse' | 'tablet';
  /** hvParams.rebootBehavior: exit. */
  readonly noReboot?: true;
  /** hvParams.useChroot. */
  readonly chroot?: true;
  readonly cdromImagePath?: string;
  readonly vnc: boolean;
  readonly vncBindAddress: string;
  readonly nics: readonly PlanNic[];
  readonly migration: { readonly mode: 'live' | 'non-live'; readonly bandwidthMiBps: number; readonly downtimeMs: number };
  /** Restart a crashed VM (ERROR_down), like ganeti-watcher. */
  readonly restartErrorDown: boolean;
  readonly stopTimeoutS: number;
}

export interface PlanNetwork {
  readonly name: string;
  readonly subnet: string;
  readonly gateway?: string;
  /** IPv6 network; NICs on it get the EUI-64 address of their MAC in it (like Ganeti's networks). */
  readonly subnet6?: string;
  readonly gateway6?: string;
  readonly reserved: readonly string[];
  readonly macPrefix?: string;
}

export interface PlanCluster {
  readonly name: string;
  readonly macPrefix: string;
  readonly sharedFileStorageDir: string;
  readonly removeOrphans: boolean;
  /** At most this percentage of a node's Gantry objects is removed as orphans in one pass (default 10). */
  readonly orphanMaxPercentPerPass?: number;
  /** An instance's objects go as orphans only after it has been undeclared this long (default 60). */
  readonly orphanGraceMinutes?: number;
  readonly exclusionTags: readonly string[];
  /** Cluster spec.liveness (default 3 probes over 10 s). */
  readonly liveness?: LivenessPolicy;
  /** Cluster spec.autoRepair.failover: fail over instances of Dead or Offline nodes (default false). */
  readonly failover?: boolean;
  /** Cluster spec.drain.maxParallelMoves: at most this many instances leave one drained node at a time (default 4). */
  readonly drainMaxParallel?: number;
  /** Fence at most this many nodes of one group at a time (default 1). */
  readonly fenceMaxPerGroup?: number;
  /** Auto-repair (harep): the cap on failed repairs in a row, and the ganeti:watcher:autorepair tags of the cluster and of each node group. */
  readonly autoRepair?: { readonly maxAttempts: number; readonly tags: readonly string[]; readonly groupTags: ReadonlyMap<string, readonly string[]> };
  /** Cluster spec.watcher: ERROR_down restarts (default 5 tries, 10 s backoff doubling, counters reset after 300 s running). */
  readonly watcher?: WatcherPolicy;
  /** Cluster spec.nPlusOne.mode: a manifest move that breaks N+1 memory redundancy is refused, noted, or not checked (default warn). */
  readonly nPlusOne?: 'refuse' | 'warn' | 'off';
  /** DRBD ports (per cluster) and minors (per node, 0..minorCount-1); default 11000-14999 and 128. */
  readonly drbd?: { readonly portStart: number; readonly portEnd: number; readonly minorCount: number; readonly usermodeHelper?: string };
}

/** The planner's whole input on the desired side. */
export interface PlanInput {
  readonly cluster: PlanCluster;
  readonly nodes: readonly PlanNode[];
  readonly instances: readonly PlanInstance[];
  readonly networks: readonly PlanNetwork[];
  /** How big the desired state was at the last apply (state directory); absent when unknown. */
  readonly lastApplied?: DesiredSummary;
  /** Instances that failed over (state directory, failovers.json), by name: kept on their new node while the manifest names the old one. */
  readonly failovers?: ReadonlyMap<string, FailoverRecord>;
  /** ISO time of this pass: the orphan grace counts to it (absent: no orphan is old enough). */
  readonly now?: string;
  /** The watcher's memory (state directory): restarts per instance, and a pause. */
  readonly watcher?: WatcherState;
  /** Auto-repair's memory (state directory, autorepair.json): the last repair of each instance. */
  readonly repairs?: ReadonlyMap<string, RepairRecord>;
  /**
   * The last boot ID recorded per node (state directory, boot-ids.json): a node observed
   * with another one rebooted, and its DRBD disks are brought up again with that reason.
   */
  readonly bootIds?: ReadonlyMap<string, string>;
}

/** Auto-repair types (Ganeti's harep), least invasive first: each includes those before it. */
export type RepairType = 'fix-storage' | 'migrate' | 'failover' | 'reinstall';
export const REPAIR_TYPES: readonly RepairType[] = ['fix-storage', 'migrate', 'failover', 'reinstall'];

/** Auto-repair's memory of one instance (state directory, autorepair.json). */
export interface RepairRecord {
  /** The repair last tried. */
  readonly type: RepairType;
  /** Tries that failed in a row (0 after a success); at Cluster spec.autoRepair.maxAttempts Gantry stops trying. */
  readonly attempts: number;
  /** ISO time of the last try. */
  readonly last: string;
  readonly result: 'success' | 'failure';
  readonly message: string;
  /** A fix-storage success: the DRBD secondary it replaced (a gone node) and the new one, kept while the manifest names the old. */
  readonly secondary?: { readonly from: string; readonly to: string };
}

/** What auto-repair does with an instance that needs a repair, in this plan. */
export interface AutoRepairDecision {
  readonly instance: string;
  /** The repair the instance needs (harep's detectBroken, on Gantry's node conditions). */
  readonly needed: RepairType;
  /** The most invasive type its policy allows, and where that came from; absent: auto-repair is not enabled for it. */
  readonly allowed?: RepairType;
  readonly scope?: 'instance' | 'group' | 'cluster';
  /**
   * repair: planned in this plan; not-allowed: its policy stops below the type needed; suspended: a
   * ganeti:watcher:autorepair:suspend tag holds; gave-up: maxAttempts tries failed in a row;
   * unavailable: allowed, but Gantry cannot make this repair (the plan says why).
   */
  readonly decision: 'repair' | 'not-allowed' | 'suspended' | 'gave-up' | 'unavailable';
  readonly attempts: number;
  readonly max: number;
  /** suspended: until this ISO time (absent: until the tag is removed). */
  readonly until?: string;
  /** reinstall: the repair destroys data (new empty disks). */
  readonly dataLoss?: true;
  /** fix-storage planned: the gone node whose DRBD secondary is replaced. */
  readonly replaces?: string;
  readonly message: string;
}

/** Cluster spec.watcher, filled. */
export interface WatcherPolicy {
  /** Restarts of an ERROR_down instance before the watcher gives up and asks for a human. */
  readonly maxRestarts: number;
  /** Wait before the second restart; doubles after each further one (capped at 16 times). */
  readonly backoffSeconds: number;
  /** An instance seen running this long after its last restart has its count reset. */
  readonly healthySeconds: number;
}

/** Cluster spec.drain.maxParallelMoves by default: instances leaving one drained node at a time (Ganeti runs a node evacuation as a few jobs at once, not all). */
export const DEFAULT_DRAIN_MAX_PARALLEL = 4;

export const DEFAULT_WATCHER: WatcherPolicy = { maxRestarts: 5, backoffSeconds: 10, healthySeconds: 300 };

/** Restarts the watcher made of one instance (state directory, watcher.json). */
export interface WatcherRestarts {
  readonly attempts: number;
  /** ISO time of the last restart. */
  readonly last: string;
}

export interface WatcherState {
  /** `gantry watcher pause`: no ERROR_down restart before this ISO time. */
  readonly pausedUntil?: string;
  readonly restarts: ReadonlyMap<string, WatcherRestarts>;
}

/** What the watcher does with an ERROR_down instance in this plan. */
export interface WatcherDecision {
  readonly instance: string;
  readonly node: string;
  /** restart: a start is planned; backoff: not yet (until `next`); gave-up: the cap is reached, a human must act; paused; disabled (restartErrorDown false). */
  readonly decision: 'restart' | 'backoff' | 'gave-up' | 'paused' | 'disabled';
  /** Restarts made so far (before this plan's). */
  readonly attempts: number;
  readonly max: number;
  /** backoff: the earliest time of the next restart; paused: the pause's end. */
  readonly next?: string;
  /** restart asked by a human (restartGeneration bumped): the count starts again. */
  readonly manual?: true;
  readonly message: string;
}

/** The size of a desired state, kept after each apply to tell a shrink from a truncated checkout. */
export interface DesiredSummary {
  readonly instances: number;
  readonly nodes: number;
  /** ISO time of the apply that recorded it. */
  readonly at: string;
  /**
   * Instance name -> ISO time an apply pass first found its marked objects orphaned (no
   * manifest declared it), kept while they stay orphaned; dropped when it is declared again.
   */
  readonly orphanSince?: Readonly<Record<string, string>>;
}

export interface ObservedCluster {
  /** What each node reported in this pass (unreachable nodes: an empty snapshot with `error`). */
  readonly nodes: ReadonlyMap<string, ObservedNode>;
  /**
   * The last good snapshot of each declared node that cannot be observed now (unreachable
   * or offline), from the state directory's last observation: the floor of what that node
   * holds. A node missing here has no known past (state directory lost): anything not
   * seen elsewhere may be on it. Unknown is not absent (DESIGN.md, safety invariant 1).
   */
  readonly lastKnown?: ReadonlyMap<string, ObservedNode>;
  /** Each declared node's condition in this pass (observe/liveness); absent = not tracked (every unreachable node is only Unreachable). */
  readonly liveness?: ReadonlyMap<string, NodeLiveness>;
  /**
   * Offline nodes (role: offline) that still answered a read-only probe in this pass. Nothing
   * is changed on them, but an instance still running there is never failed over (that
   * would be a second running copy); it leaves only by live migration (plan/offline-migrate).
   */
  readonly offlineAnswers?: ReadonlyMap<string, ObservedNode>;
  /**
   * Planner-internal (plan/plan-cache): notes what one instance's planning reads from the
   * per-plan indexes built over every node, so the incremental planner knows when to reuse it.
   */
  readonly reads?: { note(id: string, key: string): void; unnoted<T>(fn: () => T): T };
}

/** One field that differs between desired and observed, for the drift report. */
export interface FieldDiff {
  readonly path: string;
  readonly desired: unknown;
  readonly observed: unknown;
}

/** A change the planner will not make, with the reason a sysadmin can act on. */
export interface Refusal {
  readonly subject: string;
  readonly code: string;
  readonly message: string;
}

/** Something on a node Gantry manages that no manifest declares. */
export interface Orphan {
  readonly node: string;
  readonly kind: 'lv' | 'file' | 'instance';
  readonly id: string;
  readonly removed: boolean;
  /** With removal on, why this one is kept in this pass (no ownership mark, in use, bound reached, ...). */
  readonly kept?: string;
}

export type EntryStatus = 'in-sync' | 'drift' | 'refused' | 'unreachable';

/** One entry per resource ("Kind/name"): what differs, what will be done, why. */
export interface PlanEntry {
  readonly subject: string;
  readonly status: EntryStatus;
  readonly diffs: readonly FieldDiff[];
  readonly actions: readonly Action[];
  readonly refused: readonly Refusal[];
  readonly notes: readonly string[];
}

/** Resources that wait for a node that cannot be observed now (unknown is not absent). */
export interface NodeWait {
  readonly node: string;
  /** Why it cannot be observed: "unreachable (...)" or "offline". */
  readonly why: string;
  /** When it was last observed (its last good snapshot); absent = no earlier observation kept. */
  readonly since?: string;
  /** "Instance/web2", ...: last seen there, or (no snapshot) possibly there. */
  readonly subjects: readonly string[];
}

/** An instance moved off a Dead or Offline node: the timeline (ISO times) and its new primary. */
export interface FailoverRecord {
  readonly instance: string;
  readonly from: string;
  readonly to: string;
  /** The node's first missed probe. */
  readonly detected?: string;
  /** Its out-of-band program confirmed power off (absent: the node was declared offline). */
  readonly fenced?: string;
  /** The start on the new primary succeeded (for a recovered record: the pass that rebuilt it). */
  readonly started: string;
  /**
   * Set when the record was rebuilt from the nodes, not written by the failover itself
   * (failovers.json lost or stale): what was observed.
   */
  readonly recovered?: string;
}

/** A failover this plan makes (its start is among the actions) or cannot make (lost). */
export interface PlannedFailover {
  readonly instance: string;
  readonly from: string;
  /** The new primary; absent when the instance is lost until its node returns. */
  readonly to?: string;
  readonly detected?: string;
  readonly fenced?: string;
  /** Why it cannot fail over (plain/file disks live only on the gone node). */
  readonly lost?: string;
  /** harep's reinstall: its disks are re-created empty on `to` and its OS installed again (DATA LOSS). */
  readonly reinstall?: true;
}

/** Whether a node past its grace is fenced in this pass, and why (plan/fencing). */
export interface FenceDecision {
  readonly node: string;
  readonly fence: boolean;
  readonly reason: string;
}

export interface Plan {
  readonly entries: readonly PlanEntry[];
  /** Every action, in execution order. */
  readonly actions: readonly Action[];
  /** Actions grouped into waves: within a wave, actions on different nodes run in parallel. */
  readonly waves: readonly (readonly Action[])[];
  readonly refused: readonly Refusal[];
  readonly orphans: readonly Orphan[];
  /** Owner -> since when its marked objects are orphaned: what the next desired summary keeps for the orphan grace. */
  readonly orphanSince?: Readonly<Record<string, string>>;
  readonly unreachable: readonly string[];
  /** Per node that cannot be observed: the resources that wait for it. */
  readonly waits?: readonly NodeWait[];
  /** Nodes past their liveness grace: fenced in this pass (before its actions) or held, with the reason. */
  readonly fencing?: readonly FenceDecision[];
  /** Instances leaving a Dead or Offline node in this plan, or lost with it. */
  readonly failovers?: readonly PlannedFailover[];
  /**
   * Failovers rebuilt from observation (the DRBD Primary on the manifest's other node, the
   * manifest's node the stale side) that the state directory had no record of: kept as records.
   */
  readonly recoveredFailovers?: readonly FailoverRecord[];
  /** The watcher: its pause, and what it does with each ERROR_down instance. */
  readonly watcher?: { readonly pausedUntil?: string; readonly decisions: readonly WatcherDecision[] };
  /** Auto-repair (harep): each instance that needs a repair, and whether it is made. */
  readonly autoRepair?: readonly AutoRepairDecision[];
}

export function planHasChanges(p: Plan): boolean {
  return p.actions.length > 0 || p.refused.length > 0 || (p.fencing ?? []).some((f) => f.fence);
}
