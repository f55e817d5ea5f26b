/**
 * The observed state of one node: an immutable snapshot built from one batched probe.
 * Every field is what the real tools reported; nothing here is desired state.
 * Sizes are MiB (integers, rounded down) unless the name says otherwise.
 */
export interface ObservedNode {
  readonly name: string;
  /** False when the node could not be probed at all; `error` says why. */
  readonly reachable: boolean;
  readonly error?: string;
  /** ISO timestamp of the probe. */
  readonly observedAt: string;
  readonly facts: NodeFacts;
  readonly vgs: Readonly<Record<string, ObservedVg>>;
  /** Keyed "vg/lv". */
  readonly lvs: Readonly<Record<string, ObservedLv>>;
  readonly bridges: Readonly<Record<string, ObservedBridge>>;
  /** Absent (undefined) when the node runs no Open vSwitch. */
  readonly ovs?: ObservedOvs;
  readonly vxlans: Readonly<Record<string, ObservedVxlan>>;
  /** Only the sysctls the desired state cares about (the probe asks for those). */
  readonly sysctls: Readonly<Record<string, string>>;
  /** File and sharedfile disk images, keyed by absolute path. */
  readonly files: Readonly<Record<string, ObservedFile>>;
  /**
   * Whether each requested storage directory exists (true) or is missing (false); a
   * directory the probe could not check is absent from the map (unknown, not missing).
   */
  readonly storageDirs?: Readonly<Record<string, boolean>>;
  /** QEMU instances found on this node, keyed by instance name. */
  readonly instances: Readonly<Record<string, ObservedInstance>>;
  /** Tap devices, keyed by name. */
  readonly taps: Readonly<Record<string, ObservedTap>>;
  /** Routed NICs' host routes, proxy NDP entries and tap sysctls; absent when not read (unknown). */
  readonly routing?: ObservedRouting;
  /** Probe sections that failed without making the whole node unreachable. */
  readonly probeErrors: readonly string[];
  /** DRBD devices (events2 --now joined with /proc/drbd); absent when not read or the read failed (unknown, not "none"). */
  readonly drbd?: ObservedDrbd;
}

/** What DRBD reports on one node, keyed by minor (decimal string). */
export interface ObservedDrbd {
  readonly devices: Readonly<Record<string, ObservedDrbdDevice>>;
  /** The loaded kernel module's version ("8.4.11"), from /proc/drbd's first line; undefined when that line is missing. */
  readonly version?: string;
}

export interface ObservedDrbdSync {
  readonly percent: number;
  readonly speedKiBps?: number;
  readonly etaSec?: number;
}

/** A DRBD 9 peer of a device, as events2 shows it. */
export interface ObservedDrbdPeer {
  readonly nodeId: number;
  readonly name?: string;
  readonly connection: string;
  readonly replication?: string;
  readonly role?: 'Primary' | 'Secondary' | 'Unknown';
  readonly disk?: string;
  readonly sync?: ObservedDrbdSync;
}

export interface ObservedDrbdDevice {
  readonly minor: number;
  readonly resource?: string;
  readonly role?: 'Primary' | 'Secondary' | 'Unknown';
  /** UpToDate, Inconsistent, Outdated, Diskless, Failed, ... */
  readonly disk?: string;
  readonly sizeMiB?: number;
  /**
   * DRBD found a split brain on this resource and dropped the connection (its kernel log's
   * "Split-Brain detected", the split-brain helper): set by the simulator; the SSH probe
   * does not read the kernel log yet, so on real nodes only "both Primary while not
   * connected" shows a split brain (plan/drbd).
   */
  readonly splitBrain?: boolean;
  /**
   * allow-two-primaries on this side's link (`drbdsetup show`): true only inside a live
   * migration, or left behind by one that never finished. Undefined when show was not read.
   */
  readonly allowTwoPrimaries?: boolean;
  /**
   * The disk options `drbdsetup show` prints for this minor (only values that differ from
   * DRBD's defaults, e.g. `resync-rate: 8192k`). Undefined when show was not read.
   */
  readonly diskOptions?: Readonly<Record<string, string>>;
  /** The link's net options as `drbdsetup show` prints them (non-defaults only, e.g. `ping-timeout: 50`). Undefined when show was not read or the device has no link. */
  readonly netOptions?: Readonly<Record<string, string>>;
  /**
   * DRBD 8.4: the endpoints of this side's link as `drbdsetup show` prints them (`_this_host` /
   * `_remote_host` address): the peer it is connected to, or waits for. Undefined when show was
   * not read (unknown: never "wrong"), when the device has no network config (StandAlone), and on DRBD 9.
   */
  readonly link?: { readonly local: { readonly host: string; readonly port: number }; readonly remote: { readonly host: string; readonly port: number } };
  /** DRBD 9: this side's node id in the resource (`drbdsetup show`'s _this_host node-id); undefined on 8.4 or when show was not read. */
  readonly nodeId?: number;
  /** DRBD 9: whether this side has quorum (events2's device quorum:yes|no). */
  readonly quorum?: boolean;
  /** DRBD 9: one entry per peer (connection), with its node id and name; `peer` is the first of them. Undefined on 8.4. */
  readonly peers?: readonly ObservedDrbdPeer[];
  /** The (one, 8.4) peer; absent when the device has no network config at all. */
  readonly peer?: {
    /** Connected, StandAlone, WFConnection, SyncSource, ... */
    readonly connection: string;
    readonly replication?: string;
    readonly role?: 'Primary' | 'Secondary' | 'Unknown';
    readonly disk?: string;
    readonly sync?: ObservedDrbdSync;
  };
}

export interface NodeFacts {
  readonly hostname: string;
  readonly kernel: string;
  readonly cpus: number;
  readonly memoryTotalMiB: number;
  readonly memoryFreeMiB: number;
  /** /proc/sys/kernel/random/boot_id: changes at every boot (absent when it could not be read). */
  readonly bootId?: string;
}

export interface ObservedVg {
  readonly name: string;
  readonly sizeMiB: number;
  readonly freeMiB: number;
  readonly pvs: readonly string[];
}

export interface ObservedLv {
  readonly vg: string;
  readonly name: string;
  readonly sizeMiB: number;
  readonly tags: readonly string[];
  /** Stripes of the LV (lvs stripes; absent when the probe did not report them). */
  readonly stripes?: number;
  /** The PVs it has extents on (pvs lv_name; absent when the probe did not report them). */
  readonly pvs?: readonly string[];
  /**
   * Whether its device-mapper device is active (lv_attr's fifth letter: 'a' true, '-' false).
   * Absent when unknown: LVM run with activation disabled (the namespace lab) reports 'X', and
   * any other state letter (suspended, no table...) is not read as either.
   */
  readonly active?: boolean;
}

export interface ObservedBridge {
  readonly name: string;
  readonly up: boolean;
  readonly vlanFiltering: boolean;
  readonly mtu: number;
  /** Interfaces enslaved to this bridge. */
  readonly ports: readonly string[];
  /** CIDR addresses, e.g. "198.18.5.1/24". */
  readonly addresses: readonly string[];
}

export interface ObservedOvs {
  readonly bridges: Readonly<Record<string, ObservedOvsBridge>>;
}

export interface ObservedOvsBridge {
  readonly name: string;
  readonly datapathType: string;
  readonly ports: Readonly<Record<string, ObservedOvsPort>>;
}

export interface ObservedOvsPort {
  readonly name: string;
  /** Access VLAN, when set. */
  readonly tag?: number;
  /** Trunk VLANs (empty = all / none set). */
  readonly trunks: readonly number[];
  /** Interface type ("internal", "system" (""), "vxlan", ...). */
  readonly type: string;
}

export interface ObservedVxlan {
  readonly name: string;
  readonly vni: number;
  readonly local?: string;
  readonly remote?: string;
  readonly group?: string;
  readonly dstPort: number;
  readonly dev?: string;
  /** Bridge it is enslaved to. */
  readonly master?: string;
  readonly up: boolean;
  /** Static FDB entries (`bridge fdb append ... dst IP`); absent when the FDB was not read. */
  readonly fdb?: readonly { readonly mac: string; readonly dst: string }[];
}

export interface ObservedFile {
  readonly path: string;
  readonly format: string;
  readonly virtualSizeMiB: number;
}

/** Host routes (`proto static`) and proxy NDP entries per device, and Gantry taps' routing sysctls. */
export interface ObservedRouting {
  /** `table` absent = main. */
  readonly routes: readonly { readonly dst: string; readonly dev: string; readonly table?: string }[];
  readonly proxies: readonly { readonly dst: string; readonly dev: string }[];
  /** Policy rules matching on an input interface ("iif TAP lookup TABLE"), IPv4 and IPv6. */
  readonly rules: readonly { readonly family: 4 | 6; readonly iif: string; readonly table: string }[];
  /** "net.ipv4.conf.<tap>.proxy_arp" etc. -> value. */
  readonly tapSysctls: Readonly<Record<string, string>>;
}

export interface ObservedTap {
  readonly name: string;
  readonly master?: string;
  readonly up: boolean;
  /** The tap's counters (host side: rx is what the guest sent, tx what it was sent); absent when not read. */
  readonly rxBytes?: number;
  readonly txBytes?: number;
}

/** Ganeti's instance run states as seen on one node. */
export type ObservedRunState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'inmigrate' | 'postmigrate' | 'stopped' | 'unknown';

export interface ObservedInstance {
  readonly name: string;
  readonly pid?: number;
  /** From QMP query-status; 'stopped' when a runtime dir exists but no process runs. */
  readonly runState: ObservedRunState;
  /** True when the guest shut itself down (recorded by the runtime, see drivers/qemu). */
  readonly guestShutdown: boolean;
  readonly memoryMiB?: number;
  readonly vcpus?: number;
  /** CPU time the QEMU process used (user + system, /proc/PID/stat), seconds; absent when not read. */
  readonly cpuSeconds?: number;
  /** The runtime record Gantry wrote when it started the instance (spec hash etc.). */
  readonly runtime?: Readonly<Record<string, unknown>>;
  /** True when Gantry stopped it on purpose (ADMIN_down rather than ERROR_down). */
  readonly adminStopped?: boolean;
  /** Gantry's record of the instance on this node (RUNDIR/gantry.json). */
  readonly meta?: InstanceMeta;
  /** The drives a live QEMU has open and the size the guest sees (QMP query-block); absent when not read. */
  readonly drives?: readonly ObservedDrive[];
}

export interface ObservedDrive {
  /** QEMU's drive id (disk0, cdrom0...). */
  readonly drive: string;
  /** The image or device it opened. */
  readonly path: string;
  /** What the guest sees, in whole MiB (rounded down). */
  readonly sizeMiB: number;
}

/**
 * What Gantry records beside each instance on its node, so allocations (MACs, IPs),
 * the installed OS generation and the restart generation survive a lost state directory.
 */
export interface InstanceMeta {
  readonly version: 1;
  readonly instance: string;
  readonly uuid: string;
  readonly os: string;
  /** OS generation whose install completed; 0 = never installed. */
  readonly osGeneration: number;
  readonly restartGeneration: number;
  readonly nics: readonly { readonly mac: string; readonly ip?: string; readonly ip6?: string; readonly network?: string }[];
  /** The launch description it was started with (plan/actions InstanceLaunch). */
  readonly launch?: Readonly<Record<string, unknown>>;
}

export function emptyObservedNode(name: string, observedAt: string, error?: string): ObservedNode {
  return {
    name,
    reachable: error === undefined,
    ...(error !== undefined ? { error } : {}),
    observedAt,
    facts: { hostname: '', kernel: '', cpus: 0, memoryTotalMiB: 0, memoryFreeMiB: 0 },
    vgs: {},
    lvs: {},
    bridges: {},
    vxlans: {},
    sysctls: {},
    files: {},
    instances: {},
    taps: {},
    probeErrors: [],
  };
}
