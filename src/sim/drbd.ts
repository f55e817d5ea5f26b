/**
 * DRBD 8.4 on the simulator: one resource per minor, two nodes per resource, with the
 * rules the planner and runner rely on.
 *
 * * Metadata lives on the meta LV (it survives `down` and a node crash); the kernel's
 *   device (minor, role, attachment, network config) does not survive a crash.
 * * Two devices are Connected when both have network config pointing at each other and
 *   the replication path between their nodes works. Sync is instant: once connected, an
 *   Inconsistent or Outdated side takes the UpToDate side's data; a fully Inconsistent
 *   pair stays so until `primary --force` (the initial sync).
 * * A Primary that is not connected may write alone; when both sides wrote alone, the
 *   reconnect finds a split brain: both drop to StandAlone (network config gone), as
 *   8.4 does with the after-sb policies Gantry sets. Nothing is ever discarded here.
 * * Dual-primary only with allow-two-primaries set on both ends of a connected link (a
 *   live migration sets it, promotes the destination, moves the VM, demotes the source,
 *   clears it: migrateDrbd); otherwise promotion needs the peer Secondary. As on real 8.4
 *   (VM lab), changing it on one end of a connected link changes the peer's too; a link
 *   without network config has no net options.
 * * A failover promotion (drbd.primary with `failover`, the runner's failoverPromoteDecision)
 *   does not wait for the dead peer: refused while the peer is still connected, and unless
 *   this side is UpToDate (or forced, with a disk to promote).
 */
import type { DrbdDisconnect, DrbdDown, DrbdSinglePrimary, DrbdInitialSync, DrbdMigrationDisk, DrbdWaitSync, DrbdPrimary, DrbdResize, DrbdSecondary, DrbdUp, DrbdCreateMd } from '../core/actions.js';
import type { ObservedDrbd, ObservedDrbdDevice } from '../core/observed.js';
import { ExecError, PrereqError } from '../util/errors.js';
import type { SimNodeState } from './state.js';

export interface SimDrbdMeta {
  disk: 'Inconsistent' | 'UpToDate' | 'Outdated';
  /** Primary while not connected since the last sync: it may hold writes the peer lacks. */
  wroteAlone: boolean;
  /** A reconnect found both sides had written alone (split brain): set until an admin resolves it (not simulated). */
  splitBrain?: boolean;
}

export interface SimDrbdDevice {
  readonly minor: number;
  readonly resource: string;
  readonly dataLv: string;
  readonly metaLv: string;
  role: 'Primary' | 'Secondary';
  attached: boolean;
  /** Network config (undefined after disconnect, a split brain, or before connect). */
  net?: { readonly local: string; readonly peer: string; readonly peerNode: string };
  sizeMiB: number;
  /** allow-two-primaries on this end of the link (set only during a live migration). */
  allowTwoPrimaries?: boolean;
}

export interface DrbdCtx {
  /** The peer node's state, or undefined while the replication path to it is down. */
  peer(name: string): SimNodeState | undefined;
}

const lvId = (dev: string): string => dev.replace(/^\/dev\//, '');
const ep = (e: { host: string; port: number }): string => `${e.host}:${e.port}`;
const unEp = (s: string): { host: string; port: number } => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) });

/** The peer's device this one is linked to, when the link is configured on both ends and the path works. */
function peerDevice(s: SimNodeState, d: SimDrbdDevice, ctx: DrbdCtx): { ps: SimNodeState; pd: SimDrbdDevice } | undefined {
  if (!d.net || !d.attached) return undefined;
  const ps = ctx.peer(d.net.peerNode);
  if (!ps || ps === s) return undefined;
  for (const pd of ps.drbd.values()) {
    if (pd.attached && pd.net && pd.net.local === d.net.peer && pd.net.peer === d.net.local) return { ps, pd };
  }
  return undefined;
}

/** The nodes whose DRBD devices are connected to this node's now (ground truth, for the campaign's fencing invariant). */
export function connectedPeers(s: SimNodeState, ctx: DrbdCtx): string[] {
  const out = new Set<string>();
  for (const d of s.drbd.values()) {
    if (peerDevice(s, d, ctx) !== undefined) out.add(d.net!.peerNode);
  }
  return [...out].sort();
}

/**
 * Bring every device's pair to what DRBD would show now: connect linked pairs, sync
 * (instantly) toward the UpToDate side, mark lone primaries, detect split brain.
 */
export function settleDrbd(s: SimNodeState, ctx: DrbdCtx): void {
  for (const d of s.drbd.values()) {
    const meta = s.drbdMeta.get(d.metaLv);
    if (!meta) continue;
    const p = peerDevice(s, d, ctx);
    if (!p) {
      if (d.role === 'Primary') meta.wroteAlone = true;
      continue;
    }
    const pm = p.ps.drbdMeta.get(p.pd.metaLv);
    if (!pm) continue;
    if (meta.wroteAlone && pm.wroteAlone) {
      // Split brain, unresolved by the after-sb policies: both sides StandAlone, the kernel log says so.
      delete d.net;
      delete p.pd.net;
      meta.splitBrain = true;
      pm.splitBrain = true;
      continue;
    }
    if (meta.disk === 'UpToDate' || pm.disk === 'UpToDate') {
      meta.disk = 'UpToDate';
      pm.disk = 'UpToDate';
    }
    meta.wroteAlone = false;
    pm.wroteAlone = false;
  }
}

/** What the probe would report (events2 + /proc/drbd), after settling. */
export function observeDrbd(s: SimNodeState, ctx: DrbdCtx): ObservedDrbd {
  settleDrbd(s, ctx);
  const devices: Record<string, ObservedDrbdDevice> = {};
  for (const d of s.drbd.values()) {
    const meta = s.drbdMeta.get(d.metaLv);
    const p = peerDevice(s, d, ctx);
    const pm = p ? p.ps.drbdMeta.get(p.pd.metaLv) : undefined;
    devices[String(d.minor)] = {
      minor: d.minor, resource: d.resource, role: d.role, disk: d.attached ? meta?.disk ?? 'Diskless' : 'Diskless', sizeMiB: d.sizeMiB, ...(meta?.splitBrain ? { splitBrain: true } : {}),
      allowTwoPrimaries: d.net !== undefined && d.allowTwoPrimaries === true,
      ...(d.net ? { link: { local: unEp(d.net.local), remote: unEp(d.net.peer) } } : {}),
      peer: p ? { connection: 'Connected', replication: 'Established', role: p.pd.role, disk: pm?.disk ?? 'DUnknown' } : { connection: d.net ? 'WFConnection' : 'StandAlone', role: 'Unknown', disk: 'DUnknown' },
    };
  }
  return { devices };
}

function deviceOf(s: SimNodeState, minor: number, resource: string): SimDrbdDevice {
  const d = s.drbd.get(minor);
  if (!d) throw new ExecError('DRBD_NOT_UP', `minor ${minor} is not configured`, { minor });
  if (d.resource !== resource) throw new PrereqError('DRBD_MINOR_IN_USE', `minor ${minor} belongs to ${d.resource}, not ${resource}`, { minor });
  return d;
}

/** A running VM on this node uses /dev/drbdN. */
function inUse(s: SimNodeState, minor: number): boolean {
  const path = `/dev/drbd${minor}`;
  return [...s.instances.values()].some((vm) => ['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate'].includes(vm.runState) && JSON.stringify(vm.meta?.launch?.disks ?? []).includes(`"${path}"`));
}

export const drbdHandlers = {
  'drbd.create-md': (s: SimNodeState, a: DrbdCreateMd): boolean => {
    const id = lvId(a.metaDev);
    if (!s.lvs.has(id)) throw new ExecError('LV_NOT_FOUND', `meta LV ${a.metaDev} does not exist`, { lv: id });
    if (s.drbd.has(a.minor) || s.drbdMeta.has(id)) return false; // never over existing metadata
    s.drbdMeta.set(id, { disk: 'Inconsistent', wroteAlone: false });
    return true;
  },
  'drbd.up': (s: SimNodeState, a: DrbdUp): boolean => {
    const data = lvId(a.dataDev);
    const metaLv = lvId(a.metaDev);
    if (!s.lvs.has(data)) throw new ExecError('LV_NOT_FOUND', `data LV ${a.dataDev} does not exist`, { lv: data });
    if (!s.drbdMeta.has(metaLv)) throw new ExecError('DRBD_NO_METADATA', `no valid DRBD metadata on ${a.metaDev}`, { lv: metaLv });
    const cur0 = s.drbd.get(a.minor);
    if (!cur0?.attached) {
      // Attaching opens both LVs' device nodes: an inactive LV has none.
      for (const [id, dev] of [[data, a.dataDev], [metaLv, a.metaDev]] as const) {
        if (s.lvs.get(id)?.active === false) throw new ExecError('LV_INACTIVE', `cannot attach ${a.resource}: ${dev} is not active (no device node)`, { lv: id });
      }
    }
    const net = { local: ep(a.local), peer: ep(a.peer), peerNode: a.peerNode };
    const cur = s.drbd.get(a.minor);
    if (cur && cur.resource !== a.resource) throw new PrereqError('DRBD_MINOR_IN_USE', `minor ${a.minor} belongs to ${cur.resource}, not ${a.resource}`, { minor: a.minor });
    if (cur?.attached && (cur.dataLv !== data || cur.metaLv !== metaLv)) throw new PrereqError('DRBD_DISK_MISMATCH', `minor ${a.minor} is attached to ${cur.dataLv}`, { minor: a.minor });
    if (cur?.net && (cur.net.local !== net.local || cur.net.peer !== net.peer)) throw new PrereqError('DRBD_NET_MISMATCH', `${a.resource} is linked ${cur.net.local} -> ${cur.net.peer}`, { resource: a.resource });
    if (cur?.attached && cur.net) return false;
    s.drbd.set(a.minor, { minor: a.minor, resource: a.resource, dataLv: data, metaLv, role: cur?.role ?? 'Secondary', attached: true, net, sizeMiB: cur?.sizeMiB ?? a.sizeMiB });
    return true;
  },
  'drbd.initial-sync': (s: SimNodeState, a: DrbdInitialSync, ctx: DrbdCtx): boolean => {
    const d = deviceOf(s, a.minor, a.resource);
    settleDrbd(s, ctx);
    const meta = s.drbdMeta.get(d.metaLv)!;
    const p = peerDevice(s, d, ctx);
    const pm = p?.ps.drbdMeta.get(p.pd.metaLv);
    if (meta.disk === 'UpToDate') return false;
    if (!p || !pm || meta.disk !== 'Inconsistent' || pm.disk !== 'Inconsistent' || d.role !== 'Secondary' || p.pd.role !== 'Secondary') {
      throw new ExecError('DRBD_FORCE_REFUSED', `not forcing minor ${a.minor} primary: the initial sync needs both sides connected, Secondary and Inconsistent`, { minor: a.minor });
    }
    d.role = 'Primary';
    meta.disk = 'UpToDate';
    pm.disk = 'UpToDate';
    return true;
  },
  'drbd.primary': (s: SimNodeState, a: DrbdPrimary, ctx: DrbdCtx): boolean => {
    const d = deviceOf(s, a.minor, a.resource);
    if (d.role === 'Primary') return false;
    settleDrbd(s, ctx);
    const p = peerDevice(s, d, ctx);
    if (a.failover) {
      // The runner's failoverPromoteDecision (drivers/drbd/plan84): no wait for the (dead) peer, never while it is still connected.
      if (p) throw new PrereqError('DRBD_FAILOVER_HELD', `not promoting minor ${a.minor} for failover: this side still sees its peer connected`, { minor: a.minor });
      const disk = d.attached ? s.drbdMeta.get(d.metaLv)?.disk : undefined;
      if (disk !== 'UpToDate' && !(a.failover.force && disk !== undefined)) throw new PrereqError('DRBD_FAILOVER_DEGRADED', `not promoting minor ${a.minor} for failover: its disk is ${disk ?? 'Diskless'}, not UpToDate`, { minor: a.minor });
      d.role = 'Primary';
      return true;
    }
    if (!p) throw new ExecError('DRBD_PEER_MISSING', `not promoting minor ${a.minor}: its peer is not connected; this side may hold stale data`, { minor: a.minor });
    if (p.pd.role === 'Primary' && !(d.allowTwoPrimaries && p.pd.allowTwoPrimaries)) throw new ExecError('DRBD_PEER_PRIMARY', `not promoting minor ${a.minor}: the peer is Primary (dual-primary is for live migration only)`, { minor: a.minor });
    const mine = s.drbdMeta.get(d.metaLv)?.disk;
    const theirs = p.ps.drbdMeta.get(p.pd.metaLv)?.disk;
    if (mine !== 'UpToDate' && theirs !== 'UpToDate') throw new ExecError('DRBD_NO_GOOD_DATA', `neither side of minor ${a.minor} is UpToDate`, { minor: a.minor });
    d.role = 'Primary';
    return true;
  },
  'drbd.secondary': (s: SimNodeState, a: DrbdSecondary): boolean => {
    const d = s.drbd.get(a.minor);
    if (!d || d.role !== 'Primary') return false;
    if (inUse(s, a.minor)) throw new ExecError('DRBD_IN_USE', `minor ${a.minor} is held open by a running VM`, { minor: a.minor });
    d.role = 'Secondary';
    return true;
  },
  'drbd.resize': (s: SimNodeState, a: DrbdResize, ctx: DrbdCtx): boolean => {
    const d = deviceOf(s, a.minor, a.resource);
    if (d.sizeMiB >= a.sizeMiB) return false;
    const p = peerDevice(s, d, ctx);
    const mine = s.lvs.get(d.dataLv)?.sizeMiB ?? 0;
    const theirs = p ? p.ps.lvs.get(p.pd.dataLv)?.sizeMiB ?? 0 : 0;
    if (!p || mine < a.sizeMiB || theirs < a.sizeMiB) throw new ExecError('DRBD_RESIZE_FAILED', `minor ${a.minor}: both data LVs must hold ${a.sizeMiB} MiB and the peer be connected`, { minor: a.minor });
    d.sizeMiB = a.sizeMiB;
    p.pd.sizeMiB = a.sizeMiB;
    return true;
  },
  'drbd.down': (s: SimNodeState, a: DrbdDown): boolean => {
    const d = s.drbd.get(a.minor);
    if (!d || d.resource !== a.resource) return false;
    if (inUse(s, a.minor)) throw new ExecError('DRBD_IN_USE', `minor ${a.minor} is held open by a running VM`, { minor: a.minor });
    s.drbd.delete(a.minor);
    return true;
  },
  'drbd.disconnect': (s: SimNodeState, a: DrbdDisconnect): boolean => {
    const d = deviceOf(s, a.minor, a.resource);
    if (!d.net || (d.net.peer === ep(a.keep) && d.net.local === ep(a.local))) return false;
    delete d.net;
    delete d.allowTwoPrimaries;
    return true;
  },
  'drbd.single-primary': (s: SimNodeState, a: DrbdSinglePrimary, ctx: DrbdCtx): boolean => {
    const d = deviceOf(s, a.minor, a.resource);
    if (!d.net) throw new PrereqError('DRBD_NOT_CONNECTED', `${a.resource} has no network config: allow-two-primaries needs the link up`, { resource: a.resource });
    if (d.net.local !== ep(a.local) || d.net.peer !== ep(a.remote)) throw new PrereqError('DRBD_NET_MISMATCH', `${a.resource} is linked ${d.net.local} -> ${d.net.peer}`, { resource: a.resource });
    if (!d.allowTwoPrimaries) return false;
    d.allowTwoPrimaries = false;
    const p = peerDevice(s, d, ctx);
    if (p) p.pd.allowTwoPrimaries = false; // 8.4 sends the net-options change to the connected peer
    return true;
  },
  'drbd.wait-sync': (s: SimNodeState, a: DrbdWaitSync, ctx: DrbdCtx): boolean => {
    const d = deviceOf(s, a.minor, a.resource);
    settleDrbd(s, ctx);
    const p = peerDevice(s, d, ctx);
    const mine = s.drbdMeta.get(d.metaLv)?.disk;
    const theirs = p ? p.ps.drbdMeta.get(p.pd.metaLv)?.disk : undefined;
    if (!p || d.net?.peerNode !== a.peerNode || mine !== 'UpToDate' || theirs !== 'UpToDate') {
      throw new ExecError('DRBD_SYNC_PENDING', `minor ${a.minor} is not in sync with ${a.peerNode} (${p ? `peer ${theirs ?? '?'}` : 'peer not connected'}, local ${mine ?? '?'}); the next pass waits again`, { minor: a.minor });
    }
    return false;
  },
};

/** An LV a configured DRBD device holds open cannot be removed (lvremove: "in use"). */
export function lvHeldByDrbd(s: SimNodeState, id: string): boolean {
  return [...s.drbd.values()].some((d) => d.attached && (d.dataLv === id || d.metaLv === id));
}

/** /dev/drbdN exists for QEMU when the device is up, attached and Primary. */
export function drbdDeviceUsable(s: SimNodeState, path: string): boolean {
  const m = /^\/dev\/drbd(\d+)$/.exec(path);
  const d = m ? s.drbd.get(Number(m[1])) : undefined;
  return d !== undefined && d.attached && d.role === 'Primary';
}

/**
 * The DRBD half of a live migration from `s` to `t` (execute/drbd-migration on real
 * nodes): every disk Connected and UpToDate/UpToDate, allow-two-primaries on both ends,
 * the destination promoted; `move` moves the VM; then the source demoted and
 * allow-two-primaries cleared. If `move` throws, the destination is demoted and
 * allow-two-primaries cleared before the error goes on (the VM stays on the source).
 */
export function migrateDrbd(s: SimNodeState, t: SimNodeState, disks: readonly DrbdMigrationDisk[], ctx: DrbdCtx, move: () => void): void {
  const pairs = disks.map((m) => {
    const src = deviceOf(s, m.source.minor, m.source.resource);
    const dst = deviceOf(t, m.target.minor, m.target.resource);
    settleDrbd(s, ctx);
    const p = peerDevice(s, src, ctx);
    const sm = s.drbdMeta.get(src.metaLv)?.disk;
    const tm = t.drbdMeta.get(dst.metaLv)?.disk;
    if (p?.pd !== dst || sm !== 'UpToDate' || tm !== 'UpToDate') {
      throw new PrereqError('DRBD_MIGRATION_NOT_READY', `minor ${m.source.minor} on ${s.facts.hostname} is not ready for a live migration: it needs Connected and UpToDate/UpToDate (now ${p?.pd === dst ? 'Connected' : 'not connected'}, ${sm ?? '?'}/${tm ?? '?'})`, { minor: m.source.minor });
    }
    return { src, dst };
  });
  for (const { src, dst } of pairs) {
    src.allowTwoPrimaries = true;
    dst.allowTwoPrimaries = true;
    dst.role = 'Primary';
  }
  try {
    move();
  } catch (e) {
    for (const { src, dst } of pairs) {
      dst.role = 'Secondary';
      src.allowTwoPrimaries = false;
      dst.allowTwoPrimaries = false;
    }
    throw e;
  }
  for (const { src, dst } of pairs) {
    src.role = 'Secondary';
    src.allowTwoPrimaries = false;
    dst.allowTwoPrimaries = false;
  }
}
