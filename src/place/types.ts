/**
 * Plain, immutable input types of the placement engine (htools-compatible).
 *
 * Units follow Ganeti's htools: memory and disk in MiB, CPUs as counts. A
 * `PlaceCluster` is a frozen value; every operation of the engine returns a new
 * one (the engine's mutable, indexed form lives in `state.ts` and never leaks).
 */

/** Disk templates known to Ganeti; only `plain` and `drbd` use local (LVM) storage. */
export type DiskTemplate =
  | 'diskless'
  | 'file'
  | 'sharedfile'
  | 'plain'
  | 'blockdev'
  | 'drbd'
  | 'rbd'
  | 'ext'
  | 'gluster';

export const DISK_TEMPLATES: readonly DiskTemplate[] = [
  'diskless', 'file', 'sharedfile', 'plain', 'blockdev', 'drbd', 'rbd', 'ext', 'gluster',
];

/** Ganeti's instance run states, as written in the htools text format. */
export type InstanceStatus =
  | 'running'
  | 'ADMIN_down'
  | 'ADMIN_offline'
  | 'ERROR_down'
  | 'ERROR_up'
  | 'ERROR_nodedown'
  | 'ERROR_nodeoffline'
  | 'ERROR_wrongnode'
  | 'USER_down';

export const INSTANCE_STATUSES: readonly InstanceStatus[] = [
  'running', 'ADMIN_down', 'ADMIN_offline', 'ERROR_down', 'ERROR_up',
  'ERROR_nodedown', 'ERROR_nodeoffline', 'ERROR_wrongnode', 'USER_down',
];

/**
 * Why an instance cannot go on a node. Names are Ganeti's `FailMode`s so counts
 * compare 1:1 with hail/hspace (policy violations map onto them as in Ganeti:
 * a too-big memory spec is FailMem, a forbidden disk template FailDisk, ...).
 */
export type FailReason =
  | 'FailMem'
  | 'FailDisk'
  | 'FailCPU'
  | 'FailN1'
  | 'FailTags'
  | 'FailMig'
  | 'FailDiskCount'
  | 'FailSpindles'
  | 'FailInternal';

export const FAIL_REASONS: readonly FailReason[] = [
  'FailMem', 'FailDisk', 'FailCPU', 'FailN1', 'FailTags', 'FailMig',
  'FailDiskCount', 'FailSpindles', 'FailInternal',
];

export type FailCounts = Record<FailReason, number>;

export function emptyFailCounts(): FailCounts {
  return {
    FailMem: 0, FailDisk: 0, FailCPU: 0, FailN1: 0, FailTags: 0, FailMig: 0,
    FailDiskCount: 0, FailSpindles: 0, FailInternal: 0,
  };
}

export interface ISpec {
  readonly memorySize: number;
  readonly cpuCount: number;
  readonly diskSize: number;
  readonly diskCount: number;
  readonly nicCount: number;
  readonly spindleUse: number;
}

export interface IPolicy {
  readonly minMax: readonly { readonly min: ISpec; readonly max: ISpec }[];
  readonly std: ISpec;
  readonly diskTemplates: readonly DiskTemplate[];
  readonly vcpuRatio: number;
  readonly spindleRatio: number;
}

export type AllocPolicy = 'preferred' | 'last_resort' | 'unallocable';

export interface PlaceGroup {
  readonly name: string;
  readonly uuid: string;
  readonly allocPolicy: AllocPolicy;
  readonly tags: readonly string[];
  readonly networks: readonly string[];
  /** Group instance policy; the cluster policy when the group has none of its own. */
  readonly ipolicy: IPolicy;
}

export interface PlaceNode {
  readonly name: string;
  /** UUID of the node's group. */
  readonly group: string;
  /** Total memory, memory used by the node OS, and free memory reported (MiB). */
  readonly tMem: number;
  readonly nMem: number;
  readonly fMem: number;
  /** Total and free local (LVM) disk (MiB). */
  readonly tDsk: number;
  readonly fDsk: number;
  /** Physical CPUs, CPUs reserved for the node OS, relative CPU speed. */
  readonly tCpu: number;
  readonly nCpu: number;
  readonly cpuSpeed: number;
  /** Offline or drained: never receives instances, its instances should leave. */
  readonly offline: boolean;
  readonly master: boolean;
  readonly tSpindles: number;
  readonly fSpindles: number;
  readonly exclStorage: boolean;
  readonly tags: readonly string[];
}

export interface PlaceInstance {
  readonly name: string;
  readonly mem: number;
  /** Total disk (MiB) and per-disk sizes. */
  readonly dsk: number;
  readonly disks: readonly number[];
  readonly vcpus: number;
  readonly status: InstanceStatus;
  readonly autoBalance: boolean;
  readonly pNode: string;
  /** Secondary node name; null when the template has none. */
  readonly sNode: string | null;
  readonly diskTemplate: DiskTemplate;
  readonly tags: readonly string[];
  readonly spindleUse: number;
  /** Total disk spindles when known (exclusive storage), else null. */
  readonly spindles: number | null;
  readonly nics: readonly { readonly network: string | null }[];
}

export interface PlaceCluster {
  readonly groups: readonly PlaceGroup[];
  readonly nodes: readonly PlaceNode[];
  readonly instances: readonly PlaceInstance[];
  readonly clusterTags: readonly string[];
  readonly ipolicy: IPolicy;
}

/** Ganeti's default instance policy (constants.IPOLICY_DEFAULTS). */
export const DEFAULT_IPOLICY: IPolicy = Object.freeze<IPolicy>({
  minMax: [{
    min: { memorySize: 128, cpuCount: 1, diskSize: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 },
    max: { memorySize: 32768, cpuCount: 8, diskSize: 1048576, diskCount: 16, nicCount: 8, spindleUse: 12 },
  }],
  std: { memorySize: 128, cpuCount: 1, diskSize: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 },
  diskTemplates: ['diskless', 'file', 'sharedfile', 'plain', 'blockdev', 'drbd', 'rbd', 'ext', 'gluster'],
  vcpuRatio: 4.0,
  spindleRatio: 32.0,
});

export function usesLocalStorage(t: DiskTemplate): boolean {
  return t === 'plain' || t === 'drbd';
}

export type MirrorType = 'none' | 'internal' | 'external';

export function mirrorType(t: DiskTemplate): MirrorType {
  if (t === 'drbd') return 'internal';
  if (t === 'sharedfile' || t === 'blockdev' || t === 'rbd' || t === 'ext' || t === 'gluster') return 'external';
  return 'none';
}

/** Whether the instance occupies memory on its primary (Ganeti `usesMemory`). */
export function usesMemory(s: InstanceStatus): boolean {
  return s === 'running' || s === 'ERROR_up' || s === 'ERROR_nodedown' || s === 'ERROR_wrongnode';
}

export function notOffline(s: InstanceStatus): boolean {
  return s !== 'ADMIN_offline';
}
