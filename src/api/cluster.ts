import { Type, type Static } from '@sinclair/typebox';
import { AbsPath, MacPrefix, MESSAGE_KEY, Size, StrEnum, Strict, SYSCTL_ALLOW_RE, Tags, Port } from './common.js';
import { BeParams, DiskParams, DiskTemplateSchema, HYPERVISORS, IPolicy, KvmHvParams, Migration, NicParams, NodeProfile } from './params.js';

/** Cluster: what gnt-cluster init/modify sets. Exactly one per set of manifests. */
export const ClusterSpec = Type.Object(
  {
    enabledHypervisors: Type.Optional(Type.Array(StrEnum(HYPERVISORS), { minItems: 1, description: 'enabled hypervisors (default [kvm])' })),
    enabledDiskTemplates: Type.Optional(Type.Array(DiskTemplateSchema, { minItems: 1, description: 'enabled disk templates (default [drbd, plain, file, sharedfile, diskless])' })),
    hvParams: Type.Optional(Type.Object({ kvm: Type.Optional(KvmHvParams) }, { ...Strict, description: 'default hypervisor parameters (-H)' })),
    beParams: Type.Optional(BeParams),
    nicParams: Type.Optional(NicParams),
    diskParams: Type.Optional(DiskParams),
    storage: Type.Optional(Type.Object({
      volumeGroup: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,126}$', description: 'default volume group (--vg-name; default xenvg)' })),
      fileStorageDir: Type.Optional(AbsPath('file storage dir (default /srv/ganeti/file-storage)')),
      sharedFileStorageDir: Type.Optional(AbsPath('shared file storage dir (default /srv/ganeti/shared-file-storage)')),
    }, Strict)),
    drbd: Type.Optional(Type.Object({
      portRange: Type.Optional(Type.Object({ start: Port(), end: Port() }, { ...Strict, description: 'DRBD TCP ports (default 11000-14999)' })),
      minorCount: Type.Optional(Type.Integer({ minimum: 1, maximum: 1048576, description: 'minors per node (default 128)' })),
      usermodeHelper: Type.Optional(AbsPath('drbd usermode_helper (default /bin/true)')),
    }, Strict)),
    migration: Type.Optional(Migration),
    ipolicy: Type.Optional(IPolicy),
    nPlusOne: Type.Optional(Type.Object({
      mode: Type.Optional(StrEnum(['refuse', 'warn', 'off'] as const, 'what the reconcile planner does with a move the manifests ask for (a placement.primary change, or a new instance pinned to a node) or a DRBD failover promotion, that breaks N+1 memory redundancy (if any one node fails, what would fail over from it fits the free memory where it goes: a DRBD secondary, or the other usable nodes of its node group for sharedfile): refuse it (the instance stays where it is, the plan says why with node, needed MiB and free MiB), warn (the plan notes it with the numbers and makes the move), or off (no check). gantry verify reports N+1 whatever this says (default warn, as Ganeti, which checks N+1 in its allocator and cluster verify but not on placements an admin names)')),
    }, Strict)),
    watcher: Type.Optional(Type.Object({
      restartErrorDown: Type.Optional(Type.Boolean({ description: 'restart instances found ERROR_down (their VM is not running and Gantry did not stop it), like ganeti-watcher (default true)' })),
      maxRestarts: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'restarts of an ERROR_down instance before the watcher gives up: then the plan and the instance\'s status (condition NeedsHuman) ask for a human, who bumps the instance\'s spec.restartGeneration to start it again (default 5, as Ganeti\'s MAXTRIES)' })),
      backoffSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400, description: 'wait this long before the second restart, twice as long before each next one, at most 16 times as long (default 10)' })),
      healthySeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 604800, description: 'an instance seen running this long after its last restart has its restart count reset (default 300, a ganeti-watcher period)' })),
    }, Strict)),
    autoRepair: Type.Optional(Type.Object({
      enabled: Type.Optional(Type.Boolean({ description: 'default false' })),
      failover: Type.Optional(Type.Boolean({ description: 'fail over instances of a node confirmed dead (fenced: its out-of-band program reports power off) or declared offline; sharedfile ones start on the allocator\'s choice, plain/file ones are reported lost (default false; Instance spec.autoRepair.failover overrides)' })),
      maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'auto-repair (Instance spec.autoRepair.repair, ganeti:watcher:autorepair tags): repairs of one instance that may fail in a row; then Gantry stops trying, the plan says so and the instance\'s status asks for a human (NeedsHuman, AutoRepairGaveUp); the count starts over once the instance needs no repair (default 3)' })),
      fenceMaxPerGroup: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'fence at most this many nodes of one node group at a time: when more are unreachable together (a partition on the controller\'s side, a switch), none is fenced and a human decides (default 1)' })),
    }, Strict)),
    drain: Type.Optional(Type.Object({
      maxParallelMoves: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'instances that leave one drained node (role: drained) at a time: primaries moved in a pass (live migration, or a DRBD role swap) and DRBD secondaries being replaced (a replacement counts until its resync ends); the rest wait for later passes, and the node\'s plan entry shows the progress (default 4)' })),
    }, Strict)),
    liveness: Type.Optional(Type.Object({
      missedProbes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'a node unreachable for this many probes in a row (and for graceSeconds) has passed its grace; nothing follows from a shorter outage (default 3)' })),
      graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400, description: 'and for at least this long since its first missed probe (default 10)' })),
    }, Strict)),
    orphans: Type.Optional(Type.Object({
      remove: Type.Optional(Type.Boolean({ description: 'remove disk LVs and image files that carry Gantry\'s ownership mark and that no manifest declares (default false: report only). Orphan VMs are only reported. Refused when the manifests shrank by more than half since the last apply (MANIFESTS_TRUNCATED)' })),
      maxPercentPerPass: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'remove at most this percentage (rounded up) of a node\'s Gantry objects in one pass; the rest waits for later passes (default 10)' })),
      graceMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 525600, description: 'an instance\'s disks are removed as orphans only after no manifest has declared it for this many minutes, in every apply pass since (default 60): a checkout cut short and completed within the grace removes nothing' })),
    }, Strict)),
    macPrefix: Type.Optional(MacPrefix('MAC prefix for generated MACs (default aa:00:00)')),
    osSearchPath: Type.Optional(Type.Array(AbsPath('directory of OS definitions'), { minItems: 1, description: 'where OS definitions live, searched in order (Ganeti: --os-search-path; default [/srv/gantry/os, /usr/share/gantry/os])' })),
    exclusionTags: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:+*/@=-]{1,128}$' }), { description: 'instance tag prefixes whose instances must not share a primary node (htools:iextags)' })),
    tags: Type.Optional(Tags()),
    nodeProfile: Type.Optional(NodeProfile),
    nodeSysctlAllow: Type.Optional(Type.Array(
      Type.String({ pattern: SYSCTL_ALLOW_RE, [MESSAGE_KEY]: 'is not a sysctl key or a prefix ending in "*" (like net.ipv4.tcp_* or kernel.panic)', maxLength: 255 }),
      { maxItems: 256, description: 'sysctl keys (or prefixes ending in "*") node profiles may set, added to the built-in allow-list (net.ipv4.ip_forward, net.ipv4.conf.*, net.ipv6.conf.*, net.bridge.*, net.core.*, the usual vm.* tuning, fs.inotify.*). Any other key is refused: a sysctl such as kernel.core_pattern or kernel.modprobe makes whoever writes manifests root on every node' },
    )),
    maxDiskSize: Type.Optional(Size('refuse disks larger than this (default unlimited)')),
  },
  { ...Strict, description: 'cluster-wide settings (gnt-cluster init/modify)' },
);
export type ClusterSpec = Static<typeof ClusterSpec>;
