/**
 * Actions are data: a closed set of verbs, each aimed at one node, each carrying the
 * reason the planner chose it (for the drift report; never consulted during apply).
 * The executor maps an action to one driver operation (src/drivers/<subsystem>/ops.ts).
 */

interface Base {
  /** Node the action runs on. */
  readonly node: string;
  /** The resource this action serves, "Kind/name" (e.g. "Node/node1", "Instance/web1"). */
  readonly subject: string;
  /** Why the planner chose this action, in words a sysadmin reads in the drift report. */
  readonly reason: string;
  /**
   * Actions (by actionKey) on other nodes that must have succeeded earlier in the same
   * execution before this one runs; if one failed or was skipped, this one is skipped and
   * says why. Used for one running copy: a start (install, migration) elsewhere waits for
   * the stop of every other copy that may run.
   */
  readonly after?: readonly string[];
}

/** How one action is named in another's `after`: "instance.stop@node1 Instance/web2". */
export function actionKey(a: Pick<Base, 'node' | 'subject'> & { readonly verb: string }): string {
  return `${a.verb}@${a.node} ${a.subject}`;
}

// ---- node profile: network ----
export interface BridgeEnsure extends Base { readonly verb: 'bridge.ensure'; readonly name: string; readonly vlanFiltering: boolean; readonly mtu?: number; readonly addresses: readonly string[]; readonly ports: readonly string[] }
export interface BridgeRemove extends Base { readonly verb: 'bridge.remove'; readonly name: string }
/**
 * Remove one address the manifest does not list from a managed bridge (drift). Its own
 * action so the plan shows it; the planner never makes one for a node's management address.
 */
export interface BridgeAddressRemove extends Base { readonly verb: 'bridge.address.remove'; readonly bridge: string; readonly address: string }
export interface OvsBridgeEnsure extends Base { readonly verb: 'ovs.bridge.ensure'; readonly name: string; readonly datapathType: string }
export interface OvsBridgeRemove extends Base { readonly verb: 'ovs.bridge.remove'; readonly name: string }
/**
 * Make the port exist on `bridge` with this tag, these trunks (added; extra trunks are
 * left for ovs.port.vlans.remove) and this interface type. `fromBridge` names the bridge
 * the port is moved off (the plan shows it); a port on any other bridge is refused.
 */
export interface OvsPortEnsure extends Base { readonly verb: 'ovs.port.ensure'; readonly bridge: string; readonly port: string; readonly tag?: number; readonly trunks: readonly number[]; readonly type: string; readonly fromBridge?: string }
/** Remove VLANs the manifest does not list from an OVS port: these trunks, and the access tag when `tag` is set. */
export interface OvsPortVlansRemove extends Base { readonly verb: 'ovs.port.vlans.remove'; readonly bridge: string; readonly port: string; readonly trunks: readonly number[]; readonly tag?: number }
export interface OvsPortRemove extends Base { readonly verb: 'ovs.port.remove'; readonly bridge: string; readonly port: string }
/**
 * The kernel cannot change a VXLAN's id, endpoints, port or device in place: `recreate`
 * says the plan deletes and re-adds the link (dropping its FDB entries); without it a
 * link that differs in those fields is refused.
 */
export interface VxlanEnsure extends Base { readonly verb: 'vxlan.ensure'; readonly name: string; readonly vni: number; readonly local?: string; readonly remote?: string; readonly group?: string; readonly dstPort: number; readonly dev?: string; readonly master?: string; readonly recreate?: boolean }
export interface VxlanRemove extends Base { readonly verb: 'vxlan.remove'; readonly name: string }
export interface SysctlSet extends Base { readonly verb: 'sysctl.set'; readonly key: string; readonly value: string }
/**
 * A routed NIC's tap (Ganeti's mode routed): host routes for the guest's addresses to the
 * tap, proxy ARP/NDP and forwarding on it, proxy NDP entries for `proxyNdp` (the gateway6).
 * Adds and sets only; a stale entry is removed by nic.routed.remove.
 */
export interface NicRoutedEnsure extends Base { readonly verb: 'nic.routed.ensure'; readonly tap: string; readonly addresses: readonly string[]; readonly proxyNdp: readonly string[]; readonly table?: string }
/** Remove one host route (`kind: route`, in `table`), proxy NDP entry (`kind: proxy`) or the tap's rule (`kind: rule`, `family`, `table`). */
export interface NicRoutedRemove extends Base { readonly verb: 'nic.routed.remove'; readonly tap: string; readonly kind: 'route' | 'proxy' | 'rule'; readonly address?: string; readonly table?: string; readonly family?: 4 | 6 }

// ---- node profile: storage ----
export interface VgEnsure extends Base { readonly verb: 'vg.ensure'; readonly name: string; readonly pvs: readonly string[] }

// ---- instance disks ----
/**
 * Exclusive storage (a node with ndParams.exclusiveStorage): `spindles` makes the driver pick that
 * many empty PVs of its own (leaving `reserveMiB` free on them) and stripe the LV over all of them;
 * `besideLv` creates it on the PVs of that LV of the same VG instead (a DRBD disk's metadata LV
 * beside its data LV).
 */
export interface LvCreate extends Base {
  readonly verb: 'lv.create'; readonly vg: string; readonly name: string; readonly sizeMiB: number; readonly tags: readonly string[]; readonly stripes?: number;
  readonly spindles?: number; readonly reserveMiB?: number; readonly besideLv?: string;
}
/** `ownPvs` (exclusive storage): the new extents go on the PVs the LV already holds, never on another one. */
export interface LvExtend extends Base { readonly verb: 'lv.extend'; readonly vg: string; readonly name: string; readonly sizeMiB: number; readonly ownPvs?: true }
export interface LvRemove extends Base { readonly verb: 'lv.remove'; readonly vg: string; readonly name: string }
/**
 * Activate an existing, inactive LV (`lvchange -ay VG/LV`): after a node boots without LVM
 * autoactivation or an `lvchange -an`, before the instance or the DRBD device on it needs it.
 */
export interface LvActivate extends Base { readonly verb: 'lv.activate'; readonly vg: string; readonly name: string }
/** Drop tags from an LV (a record that no longer holds: a DRBD minor/port after a conversion to plain). */
export interface LvUntag extends Base { readonly verb: 'lv.untag'; readonly vg: string; readonly name: string; readonly tags: readonly string[] }
/** The image's directory (the storage root) must exist: it is never created. */
export interface FileCreate extends Base {
  readonly verb: 'file.create'; readonly path: string; readonly sizeMiB: number; readonly format: 'raw' | 'qcow2';
  /** A reinstall's half-made mark (plan/reinstall): this empty file is made first, then the image; never when the image exists. */
  readonly mark?: string;
}
/** `format` is the declared format qemu-img is told (-f); default raw, what file.create makes. */
export interface FileGrow extends Base { readonly verb: 'file.grow'; readonly path: string; readonly sizeMiB: number; readonly format?: 'raw' | 'qcow2' }
export interface FileRemove extends Base { readonly verb: 'file.remove'; readonly path: string }

// ---- DRBD (one resource per disk, Ganeti's "resource<minor>" naming, 8.4 command order) ----
export interface DrbdEndpointSpec { readonly host: string; readonly port: number }
/** Fixed resync rate (KiB/s), or DRBD's dynamic resync controller capped at maxRateKiB. */
export type DrbdResyncSpec =
  | { readonly kind: 'fixed'; readonly rateKiB: number }
  | { readonly kind: 'dynamic'; readonly planAhead: number; readonly fillTarget: number; readonly delayTarget: number; readonly maxRateKiB: number; readonly minRateKiB: number };
/** Ganeti's disk-barriers letters: each true DISABLES that mechanism (b barrier, f flushes, d drain). */
export interface DrbdBarrierSpec { readonly noDiskBarrier?: boolean; readonly noDiskFlushes?: boolean; readonly noDiskDrain?: boolean }
/** Zero the head of a meta LV and write fresh metadata, only when it holds no valid DRBD metadata (never over existing metadata). */
export interface DrbdCreateMd extends Base {
  readonly verb: 'drbd.create-md'; readonly minor: number; readonly metaDev: string;
  /** DRBD 9: v09 metadata with bitmap slots for this many peers (absent: 8.4's v08). */
  readonly maxPeers?: number;
}
/** A DRBD 9 replica as a peer of another: its node, DRBD node id and the path to it. */
export interface Drbd9PeerSpec { readonly node: string; readonly nodeId: number; readonly local: DrbdEndpointSpec; readonly peer: DrbdEndpointSpec }
/** What a drbd.up needs on a node running DRBD 9: its node id, the quorum policy and one peer per other replica. */
export interface Drbd9UpSpec {
  readonly nodeId: number;
  readonly maxPeers: number;
  readonly quorum: 'off' | 'majority';
  readonly onNoQuorum: 'io-error';
  readonly peers: readonly Drbd9PeerSpec[];
}
/** Attach (new-resource, new-minor, apply-al, attach), sync options, connect: only the missing steps. */
export interface DrbdUp extends Base {
  readonly verb: 'drbd.up'; readonly resource: string; readonly minor: number; readonly dataDev: string; readonly metaDev: string;
  readonly sizeMiB: number; readonly local: DrbdEndpointSpec; readonly peer: DrbdEndpointSpec; readonly peerNode: string;
  readonly protocol: 'A' | 'B' | 'C'; readonly resync: DrbdResyncSpec; readonly barriers: DrbdBarrierSpec;
  /** The module's usermode_helper (Cluster spec.drbd.usermodeHelper, Ganeti's /bin/true): set first when it differs. */
  readonly usermodeHelper: string;
  /** net ping-timeout in ms (diskParams.drbd.pingTimeoutMs), given to connect; absent: DRBD's default. */
  readonly pingTimeoutMs?: number;
  /** The node runs DRBD 9: the resource has a node id and a peer per other replica (`peer`/`peerNode` name the pair's partner). */
  readonly v9?: Drbd9UpSpec;
}
/** `primary --force` to start the initial full sync of a new pair: only when both sides are connected, Secondary and Inconsistent. */
export interface DrbdInitialSync extends Base { readonly verb: 'drbd.initial-sync'; readonly resource: string; readonly minor: number; readonly waitS: number; readonly v9?: true }
/** Promote, after waiting up to waitS for the peer to connect; refused when the peer stays away and this side is not known UpToDate. */
export interface DrbdPrimary extends Base {
  readonly verb: 'drbd.primary'; readonly resource: string; readonly minor: number; readonly waitS: number;
  /**
   * Failover: the peer (`from`) is Dead or Offline, so promote WITHOUT waiting for it, and only
   * while this side still does not see it connected. Plain `primary` needs this side UpToDate;
   * `force` (Instance spec.autoRepair.allowDegradedFailover) promotes an Outdated or
   * Inconsistent replica with `primary --force`: writes the dead node had and this one lacks are lost.
   */
  readonly failover?: { readonly from: string; readonly force: boolean; /** DRBD 9: the old primary's node id. */ readonly fromNodeId?: number };
  /** DRBD 9: promote by resource name; with `quorum` on, only while this side has quorum (no fencing then). */
  readonly v9?: { readonly quorum: boolean };
}
export interface DrbdSecondary extends Base { readonly verb: 'drbd.secondary'; readonly resource: string; readonly minor: number; readonly v9?: true }
/** After both data LVs grew: the device takes the new size (run on the primary). */
export interface DrbdResize extends Base { readonly verb: 'drbd.resize'; readonly resource: string; readonly minor: number; readonly sizeMiB: number; readonly v9?: true }
/** Only for an explicit deletion (disk or instance absent with its data deleted). */
export interface DrbdDown extends Base {
  readonly verb: 'drbd.down'; readonly resource: string; readonly minor: number;
  /** Secondary replacement (8.4): the old secondary goes down before the primary connects to the new one (it could connect in its place). */
  readonly beforeConnect?: true;
}
/**
 * Secondary replacement (Ganeti's replace-disks -n, 8.4): drop this (primary) side's link
 * unless it already points at `keep` (the new secondary's endpoint); a no-op when it has no
 * link or is linked to `keep`. The device stays attached and keeps its role.
 */
export interface DrbdDisconnect extends Base {
  readonly verb: 'drbd.disconnect'; readonly resource: string; readonly minor: number; readonly local: DrbdEndpointSpec; readonly keep: DrbdEndpointSpec; readonly from: readonly string[];
  /** DRBD 9 (replacement without a gap): disconnect from and forget (del-peer) the old replica's node id, once the new one is UpToDate. */
  readonly v9?: { readonly peerNodeId: number };
}
/**
 * Clear allow-two-primaries on this side's link (`net-options --allow-two-primaries=no`, no
 * reconnect): a live migration that never finished (Gantry stopped between the promotion and
 * the clear) left it set. Planned only while the pair is single-primary and no migration runs;
 * 8.4 passes the change to the connected peer, so the other side's action usually finds it done.
 */
export interface DrbdSinglePrimary extends Base {
  readonly verb: 'drbd.single-primary'; readonly resource: string; readonly minor: number; readonly local: DrbdEndpointSpec; readonly remote: DrbdEndpointSpec;
  /** DRBD 9: clear it on the connection to this node id. */
  readonly v9?: { readonly peerNodeId: number };
}
/** Wait up to waitS until this side and its peer (`peerNode`) are Connected and both UpToDate: the end of a resync. Fails when the time runs out (the next pass waits again). */
export interface DrbdWaitSync extends Base {
  readonly verb: 'drbd.wait-sync'; readonly resource: string; readonly minor: number; readonly peerNode: string; readonly waitS: number;
  /** DRBD 9: the peer's node id (status --json per peer). */
  readonly v9?: { readonly peerNodeId: number };
}

// ---- instances (QEMU/KVM) ----
/** The full launch description; drivers/qemu turns it into argv. */
export interface InstanceLaunch {
  readonly name: string;
  readonly uuid: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly accel: 'kvm' | 'tcg';
  readonly machineType?: string;
  readonly cpuType?: string;
  readonly kernelPath?: string;
  readonly initrdPath?: string;
  readonly kernelArgs?: string;
  readonly bootOrder: readonly ('disk' | 'cdrom' | 'network')[];
  readonly disks: readonly { readonly path: string; readonly format: 'raw' | 'qcow2'; readonly bus: 'virtio' | 'ide' | 'scsi'; readonly readOnly?: true }[];
  /** Absent = cache=none. */
  readonly diskCache?: 'default' | 'writethrough' | 'writeback';
  readonly usbMouse?: 'mouse' | 'tablet';
  /** A guest reboot stops the VM (-no-reboot). */
  readonly noReboot?: true;
  /** hvParams.useChroot: QEMU chroots into an empty directory of its run directory after start-up (-chroot). */
  readonly chroot?: true;
  readonly cdromImagePath?: string;
  readonly nics: readonly {
    readonly mac: string; readonly model: 'virtio' | 'e1000' | 'rtl8139'; readonly mode: 'bridged' | 'routed' | 'openvswitch'; readonly link: string; readonly vlan?: number; readonly trunks: readonly number[];
    /** Routed NICs only: the guest's addresses routed to the tap, and the IPv6 addresses the node answers NDP for on it. */
    readonly routed?: { readonly addresses: readonly string[]; readonly proxyNdp: readonly string[]; readonly table?: string };
  }[];
  readonly vnc: boolean;
  readonly vncBindAddress: string;
  /** VNC display (port 5900+N), allocated by the planner (plan/vnc) when `vnc` is on. */
  readonly vncDisplay?: number;
}

/** Recorded on the node beside the instance (see InstanceMeta in observe/types). */
export interface InstanceRecord {
  readonly uuid: string;
  readonly os: string;
  readonly osGeneration: number;
  readonly restartGeneration: number;
  readonly nics: readonly { readonly mac: string; readonly ip?: string; readonly ip6?: string; readonly network?: string }[];
  /** The launch description the VM was (or will be) started with; compared to detect restarts. */
  readonly launch: InstanceLaunch;
}

/** What the OS scripts learn about one NIC beyond the launch (Ganeti's NIC_%d_* network variables). */
export interface NicInfo {
  readonly ip?: string; readonly ip6?: string; readonly network?: string;
  readonly subnet?: string; readonly gateway?: string; readonly subnet6?: string; readonly gateway6?: string;
  /** NIC name (OS scripts: NIC_N_NAME). */
  readonly name?: string;
}

export interface InstanceInstall extends Base {
  readonly verb: 'instance.install'; readonly name: string; readonly runDir: string;
  readonly os: { readonly name: string; readonly params: Readonly<Record<string, string>> };
  readonly launch: InstanceLaunch; readonly record: InstanceRecord;
  /** Extra OS environment: NIC IPs, network details. */
  readonly nicInfo: readonly NicInfo[];
  /** Disk names for the OS scripts (DISK_N_NAME), in launch order; absent when none is named. */
  readonly diskNames?: readonly (string | null)[];
}
export interface InstanceStart extends Base { readonly verb: 'instance.start'; readonly name: string; readonly runDir: string; readonly launch: InstanceLaunch; readonly record: InstanceRecord; readonly ovsdbSocket?: string }
export interface InstanceStop extends Base { readonly verb: 'instance.stop'; readonly name: string; readonly runDir: string; readonly timeoutS: number }
export interface InstanceRemove extends Base { readonly verb: 'instance.remove'; readonly name: string; readonly runDir: string; readonly nicCount: number; readonly ovsdbSocket?: string }
export interface InstanceMigrate extends Base {
  readonly verb: 'instance.migrate'; readonly name: string;
  /** Destination node (the action's node is the source). */
  readonly peer: string; readonly peerAddress: string; readonly runDir: string; readonly peerRunDir: string;
  readonly launch: InstanceLaunch; readonly record: InstanceRecord; readonly bandwidthMiBps: number; readonly downtimeMs: number;
  readonly peerOvsdbSocket?: string;
  /**
   * DRBD disks (live migration through dual-primary, Ganeti's _ExecMigration): checked
   * Connected and UpToDate/UpToDate on both nodes, allow-two-primaries set on both,
   * `peer` promoted, QEMU migrated, the source demoted, allow-two-primaries cleared.
   * On a failure before the guest runs on `peer`: `peer` demoted, allow-two-primaries
   * cleared, QEMU stays on the source.
   */
  readonly drbd?: readonly DrbdMigrationDisk[];
}

/** One DRBD disk of a live migration: its resource on the source (the action's node) and on the destination. */
export interface DrbdMigrationDisk {
  readonly index: number;
  readonly source: DrbdMigrationSide;
  readonly target: DrbdMigrationSide;
}
export interface DrbdMigrationSide {
  readonly resource: string; readonly minor: number; readonly local: DrbdEndpointSpec; readonly peer: DrbdEndpointSpec;
  /** DRBD 9: the other side's node id (allow-two-primaries is per connection). */
  readonly v9?: { readonly peerNodeId: number };
}

/**
 * Grow a disk of a running instance through its QEMU (QMP block_resize on drive `drive`):
 * for an image file QEMU grows the file itself (qemu-img cannot while QEMU holds the
 * image's lock); for an LV or DRBD device grown underneath, the guest learns the new size.
 */
export interface InstanceBlockResize extends Base {
  readonly verb: 'instance.block-resize'; readonly name: string; readonly runDir: string;
  /** QEMU's drive id (diskN, N = position in the running launch's disks). */
  readonly drive: string;
  /** The device or image the drive opened (checked against QEMU's own before resizing). */
  readonly path: string;
  readonly sizeMiB: number;
}

/**
 * Carry a rename (Instance spec.renamedFrom) onto this node, the VM stopped: each LV made for
 * the old name is renamed (lvrename) and its gantry-inst tag swapped for the new name's (one
 * lvchange); each image file is moved to the new name's path (never over an existing file);
 * the instance directory `runDir`/`from` (record, run files) becomes `runDir`/`to`. Nothing is
 * copied or re-created. Each step is skipped when it is done already, so a rename stopped
 * halfway is finished by the next pass (plan/rename recognises both names).
 */
export interface InstanceRename extends Base {
  readonly verb: 'instance.rename'; readonly from: string; readonly to: string;
  readonly lvs: readonly { readonly vg: string; readonly from: string; readonly to: string }[];
  readonly files: readonly { readonly from: string; readonly to: string }[];
  /** The node's instance directory root; absent when this node holds no directory of the old name. */
  readonly runDir?: string;
  /**
   * DRBD minors attached to LVs that move: detached first (`drbdsetup detach`), since the
   * kernel would keep showing the old LV paths; the next pass re-attaches them (drbd.up, the
   * same metadata: no full resync).
   */
  readonly drbdDetach?: readonly number[];
}

export type Action =
  | InstanceInstall | InstanceStart | InstanceStop | InstanceRemove | InstanceMigrate | InstanceBlockResize | InstanceRename
  | BridgeEnsure | BridgeRemove | BridgeAddressRemove
  | OvsBridgeEnsure | OvsBridgeRemove | OvsPortEnsure | OvsPortRemove | OvsPortVlansRemove
  | VxlanEnsure | VxlanRemove
  | SysctlSet
  | NicRoutedEnsure | NicRoutedRemove
  | VgEnsure
  | LvCreate | LvExtend | LvActivate | LvRemove | LvUntag
  | FileCreate | FileGrow | FileRemove
  | DrbdCreateMd | DrbdUp | DrbdInitialSync | DrbdPrimary | DrbdSecondary | DrbdResize | DrbdDown | DrbdDisconnect | DrbdWaitSync | DrbdSinglePrimary;

export type Verb = Action['verb'];
