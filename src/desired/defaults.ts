/** Ganeti's defaults (lib/constants.py), as gantry fills them when a manifest says nothing. */
import type { BeParamsEff, DiskTemplate, ISpecEff, KvmParams, MigrationEff } from './model.js';

export const DEFAULT_KVM: KvmParams = {
  accel: 'kvm',
  kernelArgs: 'ro',
  bootOrder: 'disk',
  diskType: 'paravirtual',
  diskCache: 'none',
  nicType: 'paravirtual',
  serialConsole: true,
  migrationBandwidthMiBps: 32,
  migrationDowntimeMs: 30,
  rebootBehavior: 'reboot',
  useChroot: false,
};

export const DEFAULT_BE: BeParamsEff = { vcpus: 1, memory: 128, autoBalance: true, spindleUse: 1 };
export const DEFAULT_MIGRATION: MigrationEff = { mode: 'live', bandwidthMiBps: 32, downtimeMs: 30 };
export const DEFAULT_MIN_SPEC: ISpecEff = { memory: 128, vcpus: 1, diskSize: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 };
export const DEFAULT_MAX_SPEC: ISpecEff = { memory: 32768, vcpus: 8, diskSize: 1024 * 1024, diskCount: 16, nicCount: 8, spindleUse: 12 };
export const DEFAULT_STD_SPEC: ISpecEff = { memory: 128, vcpus: 1, diskSize: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 };
export const DEFAULT_VCPU_RATIO = 4;
export const DEFAULT_SPINDLE_RATIO = 32;
export const DEFAULT_VG = 'xenvg';
export const DEFAULT_FILE_DIR = '/srv/ganeti/file-storage';
export const DEFAULT_SHAREDFILE_DIR = '/srv/ganeti/shared-file-storage';
export const DEFAULT_MAC_PREFIX = 'aa:00:00';
// Persistent, not /run: each instance's record (installed OS generation, MACs, IPs) lives
// beside its sockets, and a node reboot must not make Gantry believe its VMs were never installed.
export const DEFAULT_RUN_DIR = '/var/lib/gantry/instances';
export const DEFAULT_GROUP = 'default';
export const DEFAULT_DRBD_META_MIB = 128;
/**
 * Templates enabled when the Cluster says nothing: every template this release runs
 * (Ganeti's drbd and plain first). Plain and DRBD LVs need device-mapper on the node, DRBD
 * its kernel module (real nodes and the VM lab have both; the namespace lab has neither).
 */
export const DEFAULT_ENABLED_DISK_TEMPLATES: readonly DiskTemplate[] = ['drbd', 'plain', 'file', 'sharedfile', 'diskless'];
/** Orphan removal takes at most this percentage of a node's Gantry objects per pass. */
export const DEFAULT_ORPHAN_MAX_PERCENT = 10;
/** An instance's disks become removable orphans only after it has been undeclared this long. */
export const DEFAULT_ORPHAN_GRACE_MINUTES = 60;
/**
 * Sysctl keys a node profile may set without the Cluster allowing more (spec.nodeSysctlAllow).
 * A trailing "*" is a prefix. Left out on purpose: kernel.* (core_pattern pipes, modprobe and
 * usermode-helper paths run programs as root), fs.* beyond inotify, and everything else.
 */
export const DEFAULT_SYSCTL_ALLOW: readonly string[] = [
  'net.ipv4.ip_forward', 'net.ipv4.conf.*', 'net.ipv6.conf.*', 'net.ipv4.neigh.*', 'net.ipv6.neigh.*', 'net.bridge.*', 'net.core.*',
  'vm.swappiness', 'vm.dirty_*', 'vm.overcommit_memory', 'vm.overcommit_ratio', 'vm.min_free_kbytes', 'vm.nr_hugepages',
  'vm.vfs_cache_pressure', 'vm.max_map_count', 'vm.zone_reclaim_mode', 'vm.watermark_scale_factor',
  'fs.inotify.*',
];
