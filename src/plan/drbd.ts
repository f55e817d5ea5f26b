/**
 * The DRBD lifecycle of one instance's disks, from desired and observed state. Pure.
 *
 *   creation:  lv.create (data + meta, tags record minor and port) -> drbd.create-md ->
 *              drbd.up on both nodes -> drbd.initial-sync on the primary (primary --force,
 *              only for a pair created in this plan or found fully Inconsistent)
 *   running:   the primary's device Primary (drbd.primary waits for the peer), the
 *              secondary's Secondary; a grown disk: lv.extend on both, then drbd.resize
 *   degraded:  a device down, detached (Diskless) or StandAlone -> drbd.up (re-attach,
 *              re-connect), each shown with its reason; a failed disk is reported
 *   split brain: both sides Primary while apart -> refused with guidance (Gantry never
 *              picks whose writes to discard); both StandAlone and UpToDate -> suspected,
 *              re-connect planned (DRBD's after-sb policies discard no changed data)
 *   deletion:  drbd.down only with an explicit deletion, before the LVs go.
 *   leftovers: allow-two-primaries still set by a live migration that never finished ->
 *              drbd.single-primary once the pair is single-primary and no migration runs.
 */
import { actionKey, type Action, type DrbdMigrationDisk, type DrbdResyncSpec, type DrbdUp } from '../core/actions.js';
import type { ObservedDrbdDevice, ObservedNode } from '../core/observed.js';
import type { FieldDiff, ObservedCluster, PlanDisk, PlanInstance, PlanNode, Refusal } from '../core/plan.js';
import type { DrbdDiskAlloc } from './drbd-alloc.js';
import { pingTimeoutDiffers, syncOptionsDiff } from '../drivers/drbd/plan84.js';
import { pingTimeoutShown } from '../drivers/drbd/cmd84.js';
import { diskLvName, diskMetaLvName, drbdDevicePath, drbdOfLvTags, drbdResourceName, isDiskLvOf } from './naming.js';
import { drbd9PairIds, pairFamily, pairView, quorumPolicy, toDrbd9, type Drbd9Ctx } from './drbd9.js';

/** Seconds drbd.primary and drbd.initial-sync wait for the peer to connect. */
export const DRBD_PEER_WAIT_S = 120;

/** Replication states of a running or paused resync. */
export const DRBD_SYNCING: ReadonlySet<string> = new Set(['SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT', 'StartingSyncS', 'StartingSyncT', 'WFBitMapS', 'WFBitMapT', 'WFSyncUUID']);
const CONNECTED = new Set(['Connected', ...DRBD_SYNCING, 'VerifyS', 'VerifyT']);

export interface DrbdDiskPlan {
  readonly diffs: FieldDiff[];
  readonly actions: Action[];
  readonly refused: Refusal[];
  readonly notes: string[];
  /** The disk cannot be used now (split brain, state unknown): the VM is not installed or started on it. */
  readonly blocksRuntime: boolean;
  /** Live migration (DrbdDiskInput.liveMigration) ready on this disk: its two sides for instance.migrate. */
  readonly migration?: DrbdMigrationDisk;
  /** A swap of the primary role to this node is held this pass (DRBD_MOVE_NOT_READY): nothing of the VM starts there; its other runtime actions go ahead. */
  readonly heldOn?: string;
}

export interface DrbdDiskInput {
  readonly inst: PlanInstance;
  readonly disk: PlanDisk;
  readonly primary: PlanNode;
  readonly secondary: PlanNode;
  readonly alloc: DrbdDiskAlloc;
  readonly observed: ObservedCluster;
  /** The disk actions planned for this instance so far (lv.create / lv.extend). */
  readonly planned: readonly Action[];
  /** Cluster spec.drbd.usermodeHelper (default /bin/true). */
  readonly usermodeHelper?: string;
  /**
   * Failover: `secondary` is the old primary, Dead or Offline (`why`); `primary` is the
   * survivor, to be promoted without its peer (plan/failover).
   */
  readonly failover?: { readonly why: string; readonly allowDegraded: boolean };
  /**
   * Live migration: the VM runs on `secondary` (the old primary) and moves to `primary`
   * through dual-primary. No role action is planned here (instance.migrate switches the
   * roles); the disk must be Connected and UpToDate/UpToDate on both sides, else refused.
   */
  readonly liveMigration?: boolean;
  /**
   * The nodes where the VM runs now (observed copies). A running VM on `secondary` that is
   * to run on `primary` without live migration is stopped only when the move can complete
   * (planOfflineMove): else refused before anything is stopped.
   */
  readonly running?: readonly string[];
  /** Nodes whose boot ID changed since the last pass recorded it (rebooted: Ganeti's watcher re-activates their disks). */
  readonly rebooted?: ReadonlySet<string>;
  /** The nodes holding the instance's LVs (plan/locate), where DRBD 9 node ids recorded by other replicas are read; absent: every node. */
  readonly holders?: ReadonlySet<string>;
  /** Both nodes run DRBD 9: node ids, peers and quorum (set by planDrbdDisk; plan/drbd9). */
  readonly v9?: Drbd9Ctx;
  /**
   * The declared node whose replication address is `host` (a device's link shows only
   * addresses): whether it is observed this pass, or gone (Dead or offline, why); undefined
   * when no Node declares that address. Absent: a device linked elsewhere is not re-linked.
   */
  readonly linkPeer?: (host: string) => LinkPeer | undefined;
}

export interface LinkPeer { readonly node: string; readonly seen: boolean; readonly gone?: string }

/** The device on `node` for `minor`; undefined = no such device (or an unconfigured minor). */
export function deviceOf(obs: ObservedNode, minor: number): ObservedDrbdDevice | undefined {
  const d = obs.drbd?.devices[String(minor)];
  return d && (d.disk !== undefined || d.peer !== undefined || d.role !== undefined) ? d : undefined;
}

const connected = (d: ObservedDrbdDevice | undefined): boolean => d?.peer !== undefined && CONNECTED.has(d.peer.connection);
/** The device's peer is connected (Connected, or a resync or verify running): its node is alive on the replication network. */
export const drbdPeerConnected = connected;

export function resyncSpec(disk: PlanDisk): DrbdResyncSpec {
  const p = disk.drbd;
  const rate = p?.resyncRateKiB ?? 61440;
  // Ganeti's dynamic resync defaults: c-plan-ahead 20 (2 s), c-fill-target 0, c-delay-target 1 (0.1 s), c-min-rate 4096 KiB/s.
  return p?.dynamicResync ? { kind: 'dynamic', planAhead: 20, fillTarget: 0, delayTarget: 1, maxRateKiB: rate, minRateKiB: Math.min(4096, rate) } : { kind: 'fixed', rateKiB: rate };
}

export function barrierSpec(letters: string | undefined): DrbdUp['barriers'] {
  const l = letters ?? 'n';
  return { ...(l.includes('b') ? { noDiskBarrier: true } : {}), ...(l.includes('f') ? { noDiskFlushes: true } : {}), ...(l.includes('d') ? { noDiskDrain: true } : {}) };
}

/** "45.2% done, 10.0 MiB/s, ETA 1m23s", as gnt-instance add prints a sync. */
export function describeSync(s: { percent: number; speedKiBps?: number; etaSec?: number }): string {
  const speed = s.speedKiBps !== undefined ? `, ${(s.speedKiBps / 1024).toFixed(1)} MiB/s` : '';
  const eta = s.etaSec !== undefined ? `, ETA ${s.etaSec >= 60 ? `${Math.floor(s.etaSec / 60)}m` : ''}${s.etaSec % 60}s` : '';
  return `${s.percent.toFixed(1)}% done${speed}${eta}`;
}

/** A node's replication address (its secondary address, else its address). */
export const drbdAddr = (n: PlanNode): string => n.secondaryAddress ?? n.address ?? n.name;
const addr = drbdAddr;

/** drbd.up of disk x.disk on `n`, linked to `peerNode`. */
export function drbdUpAction(x: DrbdDiskInput, n: PlanNode, peerNode: PlanNode, reason: string, after?: readonly string[]): DrbdUp {
  const { inst, disk, alloc } = x;
  const minor = alloc.minors.get(n.name)!;
  return {
    verb: 'drbd.up', node: n.name, subject: `Instance/${inst.name}`, resource: drbdResourceName(minor), minor,
    dataDev: `/dev/${disk.vg}/${diskLvName(inst.name, disk.index)}`, metaDev: `/dev/${disk.metaVg}/${diskMetaLvName(inst.name, disk.index)}`,
    sizeMiB: disk.sizeMiB, local: { host: addr(n), port: alloc.port }, peer: { host: addr(peerNode), port: alloc.port }, peerNode: peerNode.name,
    protocol: disk.drbd?.protocol ?? 'C', resync: resyncSpec(disk), barriers: barrierSpec(disk.drbd?.diskBarriers), usermodeHelper: x.usermodeHelper ?? '/bin/true', reason,
    ...(disk.drbd?.pingTimeoutMs !== undefined ? { pingTimeoutMs: disk.drbd.pingTimeoutMs } : {}),
    ...(after && after.length > 0 ? { after } : {}),
  };
}

/**
 * One disk's plan. Both nodes on DRBD 9: planned on each side's view toward its partner
 * (plan/drbd9 pairView), then each action gets its DRBD 9 parts (node ids, peers, v09
 * metadata, quorum: plan/drbd9 toDrbd9). A node on another version, or a mixed 8.4/9
 * pair, is refused.
 */
export function planDrbdDisk(x: DrbdDiskInput): DrbdDiskPlan {
  const { inst, disk, primary: P, secondary: S, alloc } = x;
  const pObs = x.observed.nodes.get(P.name);
  const sObs = x.observed.nodes.get(S.name);
  const fam = pairFamily(P, pObs, S, sObs);
  if ('code' in fam) {
    const label = `disk ${disk.index} (DRBD port ${alloc.port}; minor ${alloc.minors.get(P.name)} on ${P.name}, ${alloc.minors.get(S.name)} on ${S.name})`;
    return { diffs: [], actions: [], notes: [], blocksRuntime: true, refused: [{ subject: `Instance/${inst.name}`, code: fam.code, message: `${label}: ${fam.why}; nothing is run on this disk until it is fixed` }] };
  }
  if (fam.family === '8.4' || x.v9) return planDrbdPair(x);
  const ids = drbd9PairIds(inst, disk, [P.name, S.name], alloc.minors, x.observed, x.holders);
  const addrs = new Map([[P.name, drbdAddr(P)], [S.name, drbdAddr(S)]]);
  const ctx: Drbd9Ctx = { ids, addr: (n) => addrs.get(n)!, port: alloc.port, peersOf: (n) => (n === P.name ? [S.name] : [P.name]), quorum: quorumPolicy(2).quorum };
  const out = planDrbdPair({ ...x, v9: ctx });
  return { ...out, actions: out.actions.map((a) => toDrbd9(a, ctx)) };
}

/** This side's device; on DRBD 9 as seen toward its partner in the pair. */
function sideDev(x: DrbdDiskInput, n: PlanNode, obs: ObservedNode): ObservedDrbdDevice | undefined {
  const d = deviceOf(obs, x.alloc.minors.get(n.name)!);
  if (!x.v9) return d;
  const partner = n.name === x.primary.name ? x.secondary.name : x.primary.name;
  return pairView(d, x.v9.ids.get(partner)!);
}

function planDrbdPair(x: DrbdDiskInput): DrbdDiskPlan {
  const out: DrbdDiskPlan = { diffs: [], actions: [], refused: [], notes: [], blocksRuntime: false };
  const { inst, disk, primary: P, secondary: S, alloc } = x;
  const subject = `Instance/${inst.name}`;
  const pObs = x.observed.nodes.get(P.name);
  const sObs = x.observed.nodes.get(S.name);
  const minorOf = (n: PlanNode) => alloc.minors.get(n.name)!;
  const label = `disk ${disk.index} (DRBD port ${alloc.port}; minor ${minorOf(P)} on ${P.name}, ${minorOf(S)} on ${S.name})`;
  if (x.failover && pObs?.reachable && !sObs?.reachable) return planFailoverPromotion(x, out, label, pObs);
  if (!pObs?.reachable || !sObs?.reachable) {
    out.notes.push(`${label}: DRBD waits until both ${P.name} and ${S.name} are observed`);
    return { ...out, blocksRuntime: !pObs?.reachable };
  }
  const unread = [pObs, sObs].filter((o) => o.drbd === undefined).map((o) => o.name);
  if (unread.length > 0) {
    out.notes.push(`${label}: DRBD state of ${unread.join(', ')} could not be read (module loaded? drbd-utils installed?): no DRBD action until it can`);
    return { ...out, blocksRuntime: true };
  }
  const pDev = sideDev(x, P, pObs);
  const sDev = sideDev(x, S, sObs);
  for (const [n, d] of [[P, pDev], [S, sDev]] as const) {
    const want = drbdResourceName(minorOf(n));
    if (d?.resource !== undefined && d.resource !== want) {
      out.refused.push({ subject, code: 'DRBD_MINOR_IN_USE', message: `${label}: minor ${minorOf(n)} on ${n.name} is DRBD resource ${d.resource}, not ${want}; Gantry does not touch a device it did not make. Free the minor or fix the LV tags.` });
    }
  }
  if (out.refused.length > 0) return { ...out, blocksRuntime: true };

  if (disk.state === 'absent') {
    for (const [n, d] of [[P, pDev], [S, sDev]] as const) {
      if (!d) continue;
      out.diffs.push({ path: `disks[${disk.index}].drbd`, desired: 'absent', observed: `${drbdResourceName(minorOf(n))} up on ${n.name}` });
      out.actions.push(down(subject, n.name, minorOf(n), `disk ${disk.index} is marked absent: take DRBD resource ${drbdResourceName(minorOf(n))} down before its LVs are removed`));
    }
    return out;
  }

  // ---- split brain: never resolved by Gantry ----
  const bothPrimary = pDev?.role === 'Primary' && sDev?.role === 'Primary' && !(connected(pDev) && connected(sDev));
  if (bothPrimary || pDev?.splitBrain || sDev?.splitBrain) {
    out.refused.push(splitBrainRefusal(x, label, bothPrimary ? `both ${P.name} and ${S.name} are Primary while not connected` : 'DRBD found a split brain when the two sides reconnected and dropped the connection (StandAlone)', [[P, pDev], [S, sDev]]));
    return { ...out, blocksRuntime: true };
  }
  if (pDev && sDev && pDev.peer?.connection === 'StandAlone' && sDev.peer?.connection === 'StandAlone' && pDev.disk === 'UpToDate' && sDev.disk === 'UpToDate') {
    out.notes.push(`${label}: both sides StandAlone with UpToDate data: an admin disconnect, or a split brain DRBD refused to resolve (its kernel log says "Split-Brain detected"). ` +
      'Re-connect is planned: DRBD\'s after-sb policies (discard-zero-changes, consensus, disconnect) discard no changed data. If it drops to StandAlone again, it is a split brain: resolve it by hand (drbdadm connect --discard-my-data on the node whose writes are to be dropped).');
  }

  // ---- bring up, repair ----
  const lvCreated = (n: PlanNode) => x.planned.some((a) => a.verb === 'lv.create' && a.node === n.name && a.name === diskMetaLvName(inst.name, disk.index));
  const creating = !pDev && !sDev && lvCreated(P) && lvCreated(S);
  const ups: Action[] = [];
  for (const [n, d, peerNode] of [[P, pDev, S], [S, sDev, P]] as const) {
    const minor = minorOf(n);
    const res = drbdResourceName(minor);
    const up = (reason: string): DrbdUp => drbdUpAction(x, n, peerNode, reason);
    let why: string | undefined;
    const rebooted = x.rebooted?.has(n.name) ? `node rebooted (boot id changed): ` : '';
    if (!d) {
      why = creating || lvCreated(n) ? `new DRBD ${res} on ${n.name} (${label})`
        : rebooted ? `${rebooted}re-activate ${inst.name}'s disk ${disk.index} on ${n.name}: DRBD ${res} up again on its LVs as secondary and reconnected to ${peerNode.name}${n === P ? ' (promoted once connected)' : ''}`
          : `DRBD ${res} is down on ${n.name}: bring it up again (attach, connect)`;
      out.diffs.push({ path: `disks[${disk.index}].drbd.${n === P ? 'primary' : 'secondary'}`, desired: 'up', observed: creating || lvCreated(n) ? null : 'down' });
      out.actions.push({ verb: 'drbd.create-md', node: n.name, subject, minor, metaDev: up('').metaDev, reason: `${why}: DRBD metadata on its meta LV (written only if the LV holds none; existing metadata is never overwritten)` });
    } else if (d.disk !== 'Failed' && linkedElsewhere(x, n, d, peerNode)) {
      const relink = planRelink(x, n, d, peerNode, label, out);
      if (relink) {
        ups.push(relink);
        out.actions.push(relink);
      }
    } else if (d.disk === 'Diskless') {
      why = `DRBD ${res} on ${n.name} has no disk (Diskless, detached): re-attach its data and meta LVs`;
      out.diffs.push({ path: `disks[${disk.index}].drbd.${n.name}.disk`, desired: 'attached', observed: 'Diskless' });
    } else if (d.disk === 'Failed') {
      out.notes.push(`${label}: the backing disk of ${res} on ${n.name} FAILED (DRBD detached it on an I/O error): check the LV and its PV; Gantry does not re-attach a failed disk by itself`);
    } else if (!d.peer || d.peer.connection === 'StandAlone') {
      why = `DRBD ${res} on ${n.name} is StandAlone (not connected to ${peerNode.name}): re-connect`;
      out.diffs.push({ path: `disks[${disk.index}].drbd.${n.name}.connection`, desired: 'Connected', observed: d.peer?.connection ?? 'StandAlone' });
    } else {
      why = liveOptionsDrift(x, n, d, res, out);
    }
    if (why !== undefined) {
      const a = up(why);
      ups.push(a);
      out.actions.push(a);
    }
  }
  conditionNotes(out, label, P, S, pDev, sDev);

  // ---- initial sync (only at creation) and roles ----
  const fresh = pDev && sDev && pDev.disk === 'Inconsistent' && sDev.disk === 'Inconsistent' && connected(pDev) && !DRBD_SYNCING.has(pDev.peer?.replication ?? pDev.peer?.connection ?? '');
  const after = ups.map((a) => actionKey(a));
  if (x.liveMigration && !creating) {
    const m = planMigrationRoles(x, out, label, pDev, sDev, ups.length > 0);
    if (!m.migration) planDualPrimaryReset(x, m, label, pDev, sDev);
    return m;
  }
  // A move of the primary role that cannot complete this pass: refused before any step (its repairs still run).
  const held = !creating && !fresh && (isOfflineMove(x, pDev) ? planOfflineMove(x, out, label, pDev, sDev, ups.length > 0) : planSwapHeld(x, out, label, pDev, sDev, ups.length > 0));
  if (held) {
    planResize(x, out, label, pDev, sDev, creating);
    return held;
  }
  if (creating || fresh) {
    out.actions.push({ verb: 'drbd.initial-sync', node: P.name, subject, resource: drbdResourceName(minorOf(P)), minor: minorOf(P), waitS: DRBD_PEER_WAIT_S, after, reason: `initial full sync of the new pair ${label}: primary --force on ${P.name}, both sides Inconsistent` });
  } else {
    if (sDev?.role === 'Primary') {
      out.diffs.push({ path: `disks[${disk.index}].drbd.${S.name}.role`, desired: 'Secondary', observed: 'Primary' });
      out.actions.push({ verb: 'drbd.secondary', node: S.name, subject, resource: drbdResourceName(minorOf(S)), minor: minorOf(S), reason: `${S.name} is the secondary: demote ${drbdResourceName(minorOf(S))}` });
    }
    if (pDev?.role !== 'Primary') {
      out.diffs.push({ path: `disks[${disk.index}].drbd.${P.name}.role`, desired: 'Primary', observed: pDev?.role ?? null });
      const demote = out.actions.filter((a) => a.verb === 'drbd.secondary').map((a) => actionKey(a));
      out.actions.push({ verb: 'drbd.primary', node: P.name, subject, resource: drbdResourceName(minorOf(P)), minor: minorOf(P), waitS: DRBD_PEER_WAIT_S, after: [...after, ...demote], reason: `${P.name} is the primary: promote ${drbdResourceName(minorOf(P))} once ${S.name} is connected (never on a guess)` });
    }
  }

  planDualPrimaryReset(x, out, label, pDev, sDev);
  planResize(x, out, label, pDev, sDev, creating);
  return out;
}

/**
 * A grown disk: both data LVs first (lv.extend, planned with the disk), then the device
 * (drbd.resize). Also while a move of the primary role is held (DRBD_MOVE_NOT_READY): the
 * grow does not depend on it; DRBD grows a device only while its pair is connected, which
 * the runner checks.
 */
function planResize(x: DrbdDiskInput, out: DrbdDiskPlan, _label: string, pDev: ObservedDrbdDevice | undefined, _sDev: ObservedDrbdDevice | undefined, creating: boolean): void {
  const { inst, disk, primary: P, alloc } = x;
  const minor = alloc.minors.get(P.name)!;
  const extends_ = x.planned.filter((a) => a.verb === 'lv.extend' && a.name === diskLvName(inst.name, disk.index));
  const small = pDev?.sizeMiB !== undefined && pDev.sizeMiB < disk.sizeMiB;
  if ((extends_.length > 0 || small) && !creating) {
    out.actions.push({ verb: 'drbd.resize', node: P.name, subject: `Instance/${inst.name}`, resource: drbdResourceName(minor), minor, sizeMiB: disk.sizeMiB, after: extends_.map((a) => actionKey(a)), reason: `disk ${disk.index} grows to ${disk.sizeMiB} MiB: the DRBD device takes the new size once both data LVs grew` });
  }
}

const sameEndpoint = (a: { host: string; port: number }, b: { host: string; port: number }): boolean => a.host === b.host && a.port === b.port;
const showEndpoint = (e: { host: string; port: number }): string => `${e.host}:${e.port}`;

/** DRBD 8.4: this side's link (as `drbdsetup show` printed it) is not the pair's: another local address or another peer. Not read: false (unknown is not wrong). */
function linkedElsewhere(x: DrbdDiskInput, n: PlanNode, d: ObservedDrbdDevice, peerNode: PlanNode): boolean {
  if (x.v9 || d.link === undefined) return false;
  return !sameEndpoint(d.link.local, { host: addr(n), port: x.alloc.port }) || !sameEndpoint(d.link.remote, { host: addr(peerNode), port: x.alloc.port });
}

/**
 * A device linked to another peer than its pair's (a replica the state directory lost
 * track of, a node that died before its secondary was replaced): its side would wait for
 * that peer for good, and the pair never connects. Shown as drift, and repaired by a
 * disconnect of that link and a connect to the pair's peer (drbd.up after it), only when
 * nothing is lost by it: the link is not connected (no live replication is cut), and the
 * node it names is observed this pass or gone (Dead or offline). A link to a node not
 * observed (unknown is not absent) or to an address no Node declares is refused, with what
 * to do. A link to another observed node holding the disk is a replica elsewhere: left to
 * the secondary replacement (named by the manifest or a drain: plan/drbd-replace); connected
 * elsewhere otherwise: a note, nothing cut. Returns the drbd.up to plan.
 */
function planRelink(x: DrbdDiskInput, n: PlanNode, d: ObservedDrbdDevice, peerNode: PlanNode, label: string, out: DrbdDiskPlan): DrbdUp | undefined {
  const { inst, disk, alloc } = x;
  const subject = `Instance/${inst.name}`;
  const minor = alloc.minors.get(n.name)!;
  const res = drbdResourceName(minor);
  const link = d.link!;
  const want = { local: { host: addr(n), port: alloc.port }, remote: { host: addr(peerNode), port: alloc.port } };
  const other = x.linkPeer?.(link.remote.host);
  const who = other ? other.node : 'no declared node';
  const shown = `${showEndpoint(link.local)} -> ${showEndpoint(link.remote)} (${who})`;
  const wanted = `${showEndpoint(want.local)} -> ${showEndpoint(want.remote)} (${peerNode.name})`;
  // A replica on another observed node that holds the disk: the secondary replacement's (plan/drbd-replace), named or not.
  if (other?.seen && other.node !== peerNode.name && x.holders?.has(other.node) !== false) return undefined;
  out.diffs.push({ path: `disks[${disk.index}].drbd.${n.name}.link`, desired: wanted, observed: shown });
  if (connected(d)) {
    out.notes.push(`${label}: DRBD ${res} on ${n.name} is ${d.peer!.replication ?? d.peer!.connection} over ${shown}, not linked to ${peerNode.name}: Gantry does not cut a live replication link on its own`);
    return undefined;
  }
  const refuse = (why: string) => {
    out.refused.push({ subject, code: 'DRBD_LINKED_ELSEWHERE', message: `${label}: DRBD ${res} on ${n.name} waits for a peer over ${shown} (${d.peer?.connection ?? 'no connection'}), not ${wanted}; ${why}` });
    return undefined;
  };
  if (!x.linkPeer) return refuse('not re-linked in this pass');
  if (other === undefined) return refuse(`no Node declares ${link.remote.host}: Gantry does not guess whose replica that is. Declare that node (it is then re-linked once observed), or disconnect the link by hand (drbdsetup disconnect ${showEndpoint(link.local)} ${showEndpoint(link.remote)})`);
  if (!other.seen && other.gone === undefined) return refuse(`${other.node} is not observed this pass: its replica's state is unknown (unknown is not absent), so the link is kept until ${other.node} is observed again or confirmed dead (Dead, or role: offline)`);
  const because = other.gone !== undefined ? `${other.node} is ${other.gone}` : other.node === peerNode.name ? `the link's ${sameEndpoint(link.local, want.local) ? 'port' : 'local address'} is not the pair's` : `${other.node} is not its peer in this pair`;
  const disconnect: Action = {
    verb: 'drbd.disconnect', node: n.name, subject, resource: res, minor, local: want.local, keep: want.remote, from: [other.node],
    reason: `DRBD ${res} on ${n.name} is linked ${shown} and waits there (${d.peer?.connection ?? 'no connection'}; ${because}): drop that link (the device stays attached and ${d.role ?? 'as it is'}; no replication is cut: it is not connected)`,
  };
  out.actions.push(disconnect);
  return drbdUpAction(x, n, peerNode, `re-link DRBD ${res} on ${n.name} to its pair's peer ${peerNode.name} (${wanted}), after the disconnect from ${who}: DRBD then resyncs toward the UpToDate side (never --force)`, [actionKey(disconnect)]);
}

/**
 * The resync options (`diskParams.drbd.resyncRateKiB`, `dynamicResync`) and, when set,
 * `pingTimeoutMs` of a device that is up and connected, compared with what `drbdsetup show`
 * printed: a difference is a diff and the reason of a drbd.up, whose ensure then runs only
 * `drbdsetup disk-options` / `net-options` (the rest is up). Unknown (show not read) is not drift.
 */
function liveOptionsDrift(x: DrbdDiskInput, n: PlanNode, d: ObservedDrbdDevice, res: string, out: DrbdDiskPlan): string | undefined {
  // DRBD 9 keeps resync options per peer device (show's connection volumes): not compared yet.
  if (x.v9) return undefined;
  const diff = d.diskOptions === undefined ? [] : syncOptionsDiff(resyncSpec(x.disk), d.diskOptions);
  const pingMs = x.disk.drbd?.pingTimeoutMs;
  if (pingMs !== undefined && d.netOptions !== undefined && pingTimeoutDiffers(pingMs, d.netOptions)) {
    diff.push({ option: 'ping-timeout', have: d.netOptions['ping-timeout'] ?? pingTimeoutShown(undefined), want: pingTimeoutShown(pingMs) });
  }
  if (diff.length === 0) return undefined;
  for (const f of diff) out.diffs.push({ path: `disks[${x.disk.index}].drbd.${n.name}.${f.option}`, desired: f.want, observed: f.have });
  const cmds = [...(diff.some((f) => f.option !== 'ping-timeout') ? ['disk-options'] : []), ...(diff.some((f) => f.option === 'ping-timeout') ? ['net-options'] : [])];
  return `DRBD ${res} on ${n.name} has ${diff.map((f) => `${f.option} ${f.have}`).join(', ')}; diskParams say ${diff.map((f) => `${f.option} ${f.want}`).join(', ')}: set them on the live device (drbdsetup ${cmds.join(' and ')}; nothing else changes)`;
}

/**
 * A split brain, reported with what each side holds and the manual recovery of the DRBD
 * user guide ("Manual split brain recovery"): choose the victim, demote it, reconnect it
 * discarding its changes; the survivor reconnects. Gantry never picks the victim.
 */
export function splitBrainRefusal(x: DrbdDiskInput, label: string, why: string, sides: readonly (readonly [PlanNode, ObservedDrbdDevice | undefined])[]): Refusal {
  const runs = (n: string): boolean => ['running', 'paused'].includes(x.observed.nodes.get(n)?.instances[x.inst.name]?.runState ?? '');
  const holds = sides.map(([n, d]) => `${n.name} holds ${d ? `${d.role ?? 'Unknown'}, disk ${d.disk ?? 'unknown'}, ${d.peer?.connection ?? 'StandAlone'} (minor ${d.minor})` : 'no device up'}${runs(n.name) ? `, ${x.inst.name} running there` : ''}`).join('; ');
  const minorOf = (n: PlanNode) => x.alloc.minors.get(n.name)!;
  const [[a], [b]] = sides as [[PlanNode, unknown], [PlanNode, unknown]];
  return {
    subject: `Instance/${x.inst.name}`, code: 'DRBD_SPLIT_BRAIN',
    message: `${label}: split brain: ${why}, so each side may hold writes the other lacks (${holds}). ` +
      'Gantry never chooses whose data to discard, and promotes or starts nothing on this disk until the pair is Connected again. ' +
      `To resolve it by hand (DRBD user guide, "Manual split brain recovery"): decide which node's data survives; on the OTHER node (the victim; stop ${x.inst.name} there first if it runs) run ` +
      `"drbdsetup secondary MINOR" and reconnect it discarding its changes ("drbdadm connect --discard-my-data RESOURCE"; with drbdsetup 8.4: "drbdsetup connect RESOURCE LOCAL PEER --discard-my-data"); ` +
      `on the survivor, if it is StandAlone, connect it again ("drbdadm connect RESOURCE"). Here: ${a.name} minor ${minorOf(a)}, ${b.name} minor ${minorOf(b)}, resource ${drbdResourceName(minorOf(a))}/${drbdResourceName(minorOf(b))}, port ${x.alloc.port}. ` +
      'The victim resyncs from the survivor; the next pass sees the pair Connected.',
  };
}

/**
 * Failover of one disk: promote the survivor (x.primary) of a pair whose old primary
 * (x.secondary) is Dead or Offline. Only an UpToDate replica is promoted, unless the
 * instance allows a degraded failover (then `primary --force`, with the data-loss risk
 * stated); never while the survivor still sees the old primary connected (alive on the
 * replication network: the fencing guard); never on a device that is down or Diskless.
 */
function planFailoverPromotion(x: DrbdDiskInput, out: DrbdDiskPlan, label: string, pObs: ObservedNode): DrbdDiskPlan {
  const { inst, disk, primary: P, secondary: S, alloc, failover } = x;
  const subject = `Instance/${inst.name}`;
  const minor = alloc.minors.get(P.name)!;
  const res = drbdResourceName(minor);
  const refuse = (code: string, message: string): DrbdDiskPlan => ({ ...out, refused: [...out.refused, { subject, code, message: `${label}: failover to ${P.name} refused: ${message}` }], blocksRuntime: true });
  if (pObs.drbd === undefined) {
    out.notes.push(`${label}: failover waits: the DRBD state of ${P.name} could not be read`);
    return { ...out, blocksRuntime: true };
  }
  const d = sideDev(x, P, pObs);
  if (d?.resource !== undefined && d.resource !== res) return refuse('DRBD_MINOR_IN_USE', `minor ${minor} on ${P.name} is DRBD resource ${d.resource}, not ${res}`);
  if (d?.splitBrain) return { ...out, refused: [...out.refused, splitBrainRefusal(x, label, `DRBD on ${P.name} reported a split brain with ${S.name}`, [[P, d], [S, undefined]])], blocksRuntime: true };
  if (!d) return refuse('DRBD_FAILOVER_DEGRADED', `${res} is down on ${P.name}: the state of its replica is unknown, so it is not promoted on a guess. Bring it up by hand (drbdsetup attach) and check its disk state`);
  if (d.role === 'Primary') {
    out.notes.push(`${label}: ${res} is already Primary on ${P.name} (failed over from ${S.name}); ${S.name} rejoins as secondary when it returns`);
    return out;
  }
  if (connected(d)) {
    return refuse('DRBD_FAILOVER_HELD', `${S.name} is ${failover!.why}, yet ${res} on ${P.name} still sees its peer ${d.peer!.replication ?? d.peer!.connection}: ` +
      `the old primary is alive on the replication network, and promoting now would make two primaries. Nothing is promoted until ${P.name} loses the connection`);
  }
  if (d.disk === 'UpToDate' || (failover!.allowDegraded && d.disk !== undefined && ['Outdated', 'Inconsistent', 'Consistent'].includes(d.disk))) {
    const force = d.disk !== 'UpToDate';
    out.diffs.push({ path: `disks[${disk.index}].drbd.${P.name}.role`, desired: 'Primary', observed: d.role ?? null });
    out.actions.push({
      verb: 'drbd.primary', node: P.name, subject, resource: res, minor, waitS: 0, failover: { from: S.name, force },
      reason: force
        ? `failover: ${S.name} is ${failover!.why}; FORCE-promote ${res} on ${P.name} although its disk is ${d.disk} (Instance spec.autoRepair.allowDegradedFailover): DATA LOSS: whatever ${S.name} wrote that ${P.name} lacks is gone`
        : `failover: ${S.name} is ${failover!.why}; promote the UpToDate replica ${res} on ${P.name} without waiting for its peer`,
    });
    return out;
  }
  const override = failover!.allowDegraded
    ? 'allowDegradedFailover is set, but a Diskless or failed replica holds no data to promote'
    : 'or set Instance spec.autoRepair.allowDegradedFailover: true to force it (data-loss risk)';
  return refuse('DRBD_FAILOVER_DEGRADED', `its replica ${res} on ${P.name} is ${d.disk ?? 'in an unknown state'}, not UpToDate: promoting it would serve stale or partial data. ` +
    `Bring ${S.name} back (it resyncs); ${override}`);
}

/** How one side of a disk reads in a refusal: "node2: Secondary, UpToDate, Connected (peer UpToDate)". */
function describeSide(n: PlanNode, d: ObservedDrbdDevice | undefined): string {
  if (!d) return `${n.name}: down`;
  const p = d.peer;
  return `${n.name}: ${d.role ?? '?'}, ${d.disk ?? '?'}, ${p ? `${p.replication && p.replication !== 'Established' ? p.replication : p.connection} (peer ${p.disk ?? '?'})` : 'no network config'}`;
}

/** Ready for dual-primary: Connected (no resync), UpToDate here and on the peer. */
function migrationReady(d: ObservedDrbdDevice | undefined): boolean {
  return d !== undefined && d.peer?.connection === 'Connected' && (d.peer.replication === undefined || d.peer.replication === 'Established') && d.disk === 'UpToDate' && d.peer.disk === 'UpToDate';
}

/**
 * Live migration of the VM from S (old primary) to P: the disk's two sides for
 * instance.migrate, or a refusal naming the states seen this pass. Repairs planned for
 * the disk (re-attach, re-connect) still run; the migration waits for a pass that sees it
 * healthy.
 */
function planMigrationRoles(x: DrbdDiskInput, out: DrbdDiskPlan, label: string, pDev: ObservedDrbdDevice | undefined, sDev: ObservedDrbdDevice | undefined, repairing: boolean): DrbdDiskPlan {
  const { inst, disk, primary: P, secondary: S, alloc } = x;
  if (repairing || !migrationReady(pDev) || !migrationReady(sDev)) {
    out.refused.push({
      subject: `Instance/${inst.name}`, code: 'DRBD_MIGRATION_NOT_READY',
      message: `${label}: live migration ${S.name} -> ${P.name} needs both sides Connected and UpToDate/UpToDate; this pass sees ${describeSide(S, sDev)}; ${describeSide(P, pDev)}. ` +
        `The VM stays on ${S.name}; it migrates once the disk is healthy${repairing ? ' (its repair is planned)' : ''}.`,
    });
    return out;
  }
  const side = (n: PlanNode, peer: PlanNode) => ({
    resource: drbdResourceName(alloc.minors.get(n.name)!), minor: alloc.minors.get(n.name)!, local: { host: addr(n), port: alloc.port }, peer: { host: addr(peer), port: alloc.port },
    ...(x.v9 ? { v9: { peerNodeId: x.v9.ids.get(peer.name)! } } : {}),
  });
  out.diffs.push({ path: `disks[${disk.index}].drbd.primary`, desired: P.name, observed: S.name });
  return { ...out, migration: { index: disk.index, source: side(S, P), target: side(P, S) } };
}

/** The VM runs on S (only there), is to keep running, and moves to P, not Primary yet: a stop, a demote and a promote (migration mode not live). */
function isOfflineMove(x: DrbdDiskInput, pDev: ObservedDrbdDevice | undefined): boolean {
  const on = x.running ?? [];
  return x.inst.runtime?.powerState === 'running' && on.includes(x.secondary.name) && !on.includes(x.primary.name) && pDev?.role !== 'Primary';
}

/**
 * A move of a running VM from S to P without live migration stops it on S, demotes S and
 * promotes P: P's promotion needs its peer connected, so unless this pass sees the pair
 * Connected and UpToDate/UpToDate (no repair planned, no resync running) the move cannot
 * complete and would leave the guest stopped (DRBD_PEER_MISSING every pass). Refused before
 * anything is stopped (blocksRuntime: no stop, no start); repairs planned for the disk still
 * run, and the move goes ahead on a pass that sees the pair healthy. Undefined: ready.
 */
function planOfflineMove(x: DrbdDiskInput, out: DrbdDiskPlan, label: string, pDev: ObservedDrbdDevice | undefined, sDev: ObservedDrbdDevice | undefined, repairing: boolean): DrbdDiskPlan | undefined {
  if (!repairing && migrationReady(pDev) && migrationReady(sDev)) return undefined;
  const { inst, primary: P, secondary: S } = x;
  out.refused.push({
    subject: `Instance/${inst.name}`, code: 'DRBD_MOVE_NOT_READY',
    message: `${label}: the move ${S.name} -> ${P.name} (stop on ${S.name}, demote, promote ${P.name}, start there) needs both sides Connected and UpToDate/UpToDate, ` +
      `else ${P.name} cannot be promoted and ${inst.name} would stay stopped; this pass sees ${describeSide(S, sDev)}; ${describeSide(P, pDev)}. ` +
      `Nothing is stopped: ${inst.name} keeps running on ${S.name} and moves once the pair is healthy${repairing ? ' (its repair is planned)' : ''}` +
      `${sDev?.peer?.connection === 'WFConnection' && pDev?.peer?.connection === 'WFConnection' && sDev.link === undefined ? `; both sides wait for a peer (WFConnection): if ${S.name}'s device is linked to another node (a replica the state directory lost track of), name that node as placement.secondary, or placement.primary: ${S.name}` : ''}.`,
  });
  return { ...out, blocksRuntime: true };
}

/**
 * A swap of the primary role without a running VM to stop first (a stopped instance, or one
 * to run that runs nowhere): S demoted, P promoted, and P's promotion needs its peer
 * connected. Unless this pass sees the pair Connected and UpToDate/UpToDate (no repair
 * planned), the promotion fails (DRBD_PEER_MISSING) every pass after the demotion left no
 * Primary: refused before any step instead; repairs planned for the disk still run, and the
 * swap goes ahead on a pass that sees the pair healthy. `heldOn`: P (nothing of the VM starts
 * there); a stop the manifest asks for still runs. Undefined: no swap, or ready.
 */
function planSwapHeld(x: DrbdDiskInput, out: DrbdDiskPlan, label: string, pDev: ObservedDrbdDevice | undefined, sDev: ObservedDrbdDevice | undefined, repairing: boolean): DrbdDiskPlan | undefined {
  if (sDev?.role !== 'Primary' || pDev?.role === 'Primary') return undefined;
  if (!repairing && migrationReady(pDev) && migrationReady(sDev)) return undefined;
  const { inst, primary: P, secondary: S } = x;
  out.refused.push({
    subject: `Instance/${inst.name}`, code: 'DRBD_MOVE_NOT_READY',
    message: `${label}: the role swap ${S.name} -> ${P.name} (demote ${S.name}, promote ${P.name}) needs both sides Connected and UpToDate/UpToDate, ` +
      `else ${P.name} cannot be promoted (it waits for its peer) and no side would be Primary; this pass sees ${describeSide(S, sDev)}; ${describeSide(P, pDev)}. ` +
      `Nothing is demoted: ${S.name} stays Primary${repairing ? ' (the repair is planned)' : ''}, and the swap runs on a pass that sees the pair healthy.`,
  });
  return { ...out, heldOn: P.name };
}

const MIGRATING: ReadonlySet<string> = new Set(['inmigrate', 'postmigrate']);

/**
 * allow-two-primaries left on a link by a live migration that never finished (Gantry stopped
 * between setting it and clearing it: execute/drbd-migration's steps 2-6): cleared with
 * drbd.single-primary once the pair is single-primary (after this pass's demotion when one is
 * planned) and no QEMU migration of the instance runs on either node. Not read (undefined):
 * nothing planned. While both sides stay Primary it waits, with a note.
 */
function planDualPrimaryReset(x: DrbdDiskInput, out: DrbdDiskPlan, label: string, pDev: ObservedDrbdDevice | undefined, sDev: ObservedDrbdDevice | undefined): void {
  const { inst, disk, primary: P, secondary: S, alloc } = x;
  const left = ([[P, pDev, S], [S, sDev, P]] as const).filter(([, d]) => d?.allowTwoPrimaries === true);
  if (left.length === 0) return;
  const where = left.map(([n]) => n.name).join(' and ');
  const migrating = [P, S].filter((n) => MIGRATING.has(x.observed.nodes.get(n.name)?.instances[inst.name]?.runState ?? '')).map((n) => n.name);
  if (migrating.length > 0) {
    out.notes.push(`${label}: allow-two-primaries is set on ${where} while a QEMU migration of ${inst.name} is in flight on ${migrating.join(', ')}: left alone until it ends`);
    return;
  }
  const demotes = out.actions.filter((a) => a.verb === 'drbd.secondary').map((a) => actionKey(a));
  if (pDev?.role === 'Primary' && sDev?.role === 'Primary' && demotes.length === 0) {
    out.notes.push(`${label}: allow-two-primaries is set on ${where} and both sides are Primary: it is cleared once one side is demoted`);
    return;
  }
  for (const [n, , peer] of left) {
    const minor = alloc.minors.get(n.name)!;
    const res = drbdResourceName(minor);
    out.diffs.push({ path: `disks[${disk.index}].drbd.${n.name}.allowTwoPrimaries`, desired: false, observed: true });
    out.actions.push({
      verb: 'drbd.single-primary', node: n.name, subject: `Instance/${inst.name}`, resource: res, minor,
      local: { host: addr(n), port: alloc.port }, remote: { host: addr(peer), port: alloc.port }, ...(x.v9 ? { v9: { peerNodeId: x.v9.ids.get(peer.name)! } } : {}),
      ...(demotes.length > 0 ? { after: demotes } : {}),
      reason: `allow-two-primaries is still set on ${n.name}'s link of ${res} (${label}), left by a live migration that did not finish; ` +
        `the pair is single-primary${demotes.length > 0 ? ` once ${S.name} is demoted` : ''} and no migration runs: clear it (net-options, no reconnect; DRBD passes it to the connected peer)`,
    });
  }
}

/** Degraded states and sync progress, as notes (the conditions the drift report and describe show). */
function conditionNotes(out: DrbdDiskPlan, label: string, P: PlanNode, S: PlanNode, pDev: ObservedDrbdDevice | undefined, sDev: ObservedDrbdDevice | undefined): void {
  for (const [n, d] of [[P, pDev], [S, sDev]] as const) {
    if (!d?.peer) continue;
    const rep = d.peer.replication ?? d.peer.connection;
    if (d.peer.sync && DRBD_SYNCING.has(rep)) out.notes.push(`${label}: resync on ${n.name} (${rep}): ${describeSync(d.peer.sync)}`);
    else if (d.peer.connection === 'WFConnection') out.notes.push(`condition Degraded: ${label}: ${n.name} waits for its peer to connect (WFConnection)`);
    if (d.disk === 'Outdated') out.notes.push(`condition Degraded: ${label}: the data on ${n.name} is Outdated: it resyncs from its peer once connected`);
  }
}

export function down(subject: string, node: string, minor: number, reason: string, after?: readonly string[]): Action {
  return { verb: 'drbd.down', node, subject, resource: drbdResourceName(minor), minor, reason, ...(after && after.length > 0 ? { after } : {}) };
}

/**
 * Instance absent with deleteDisks: take down every DRBD device its LVs record on this
 * node (matched by the recorded minor and Gantry's resource name), before the LVs go.
 */
export function planDrbdDownForDeletion(instance: string, node: string, obs: ObservedNode): Action[] {
  const out: Action[] = [];
  const seen = new Set<number>();
  for (const lv of Object.values(obs.lvs)) {
    if (!isDiskLvOf(lv, instance)) continue;
    const minor = drbdOfLvTags(lv.tags).minor;
    if (minor === undefined || seen.has(minor)) continue;
    seen.add(minor);
    const d = deviceOf(obs, minor);
    if (d && (d.resource === undefined || d.resource === drbdResourceName(minor))) {
      out.push(down(`Instance/${instance}`, node, minor, `instance is absent and deleteDisks is set: take DRBD ${drbdResourceName(minor)} (${drbdDevicePath(minor)}) down before its LVs are removed`));
    }
  }
  return out;
}
