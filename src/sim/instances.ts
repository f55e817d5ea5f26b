import { tapName } from '../drivers/tap/tap.js';
import type { InstanceMeta, ObservedInstance } from '../core/observed.js';
import type { InstanceBlockResize, InstanceLaunch, InstanceMigrate, InstanceRecord, InstanceInstall, InstanceRemove, InstanceStart, InstanceStop } from '../core/actions.js';
import { ExecError, PrereqError, TerminalError } from '../util/errors.js';
import { filesFor, type SimNodeState } from './state.js';
import { drbdDeviceUsable, migrateDrbd } from './drbd.js';

/**
 * Instance verbs on the simulator, with the QEMU driver's contract: start on a running
 * VM, stop on a stopped one, remove of a missing one and a repeated install of the same
 * OS generation are unchanged. The state written is what the real probe would report
 * (runState, adminStopped, the gantry.json record), so plan -> apply -> re-plan on the
 * simulator converges exactly when it would on real nodes.
 */
export interface InstanceCtx {
  /** The peer node's state for a migration, or undefined when it cannot be reached. */
  peer(name: string): SimNodeState | undefined;
  nextPid(): number;
}

const ALIVE = new Set(['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate']);

function metaOf(name: string, r: InstanceRecord): InstanceMeta {
  return {
    version: 1, instance: name, uuid: r.uuid, os: r.os, osGeneration: r.osGeneration, restartGeneration: r.restartGeneration,
    nics: r.nics.map((n) => ({ ...n })), launch: structuredClone(r.launch) as unknown as Record<string, unknown>,
  };
}

/** /dev/VG/LV exists while the LV exists and is not inactive (an inactive LV has no device node). */
export function lvUsable(s: SimNodeState, id: string): boolean {
  const lv = s.lvs.get(id);
  return lv !== undefined && lv.active !== false;
}

/**
 * Every disk the launch names must exist on this node, as QEMU would find it: an LV
 * (/dev/VG/LV), an image file (local or on shared storage), or a DRBD device that is up
 * and Primary here: a missing device is refused, never started as an empty disk.
 */
function checkDisks(s: SimNodeState, launch: InstanceLaunch): void {
  for (const d of launch.disks) {
    const lv = /^\/dev\/([^/]+)\/([^/]+)$/.exec(d.path);
    // /dev/drbdN exists while its device is up, attached and Primary (sim/drbd).
    const present = /^\/dev\/drbd\d+$/.test(d.path) ? drbdDeviceUsable(s, d.path) : lv ? lvUsable(s, `${lv[1]}/${lv[2]}`) : !d.path.startsWith('/dev/') && filesFor(s, d.path).has(d.path);
    if (!present) throw new ExecError('DISK_NOT_FOUND', `disk ${d.path} of ${launch.name} does not exist on ${s.facts.hostname}`, { path: d.path });
  }
}

/** Plug the VM's taps: a Linux bridge master, or a port on the OVS bridge. */
function plugTaps(s: SimNodeState, launch: InstanceLaunch): void {
  launch.nics.forEach((nic, i) => {
    if (nic.mode === 'bridged' && !s.bridges.has(nic.link)) throw new ExecError('MASTER_NOT_FOUND', `bridge ${nic.link} for ${launch.name} nic ${i} does not exist`, { link: nic.link });
    if (nic.mode === 'openvswitch' && s.ovs?.get(nic.link) === undefined) throw new ExecError('OVS_BRIDGE_NOT_FOUND', `OVS bridge ${nic.link} for ${launch.name} nic ${i} does not exist`, { link: nic.link });
  });
  launch.nics.forEach((nic, i) => {
    const name = tapName(launch.name, i);
    s.taps.set(name, { name, up: true, ...(nic.mode === 'bridged' ? { master: nic.link } : {}) });
    const br = nic.mode === 'openvswitch' ? s.ovs?.get(nic.link) : undefined;
    if (br) s.ovs?.set(br.name, { ...br, ports: { ...br.ports, [name]: { name, ...(nic.vlan !== undefined ? { tag: nic.vlan } : {}), trunks: [...nic.trunks], type: '' } } });
  });
}

function unplugTaps(s: SimNodeState, instance: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const name = tapName(instance, i);
    s.taps.delete(name);
    for (const [k, br] of s.ovs ?? []) {
      if (br.ports[name] === undefined) continue;
      const { [name]: _gone, ...rest } = br.ports;
      s.ovs?.set(k, { ...br, ports: rest });
    }
  }
}

function running(s: SimNodeState, name: string, launch: InstanceLaunch, record: InstanceRecord, pid: number): ObservedInstance {
  plugTaps(s, launch);
  // What query-block reports: each drive at the size of what it opened, as QEMU read it at start.
  const drives = launch.disks.map((d, i) => ({ drive: `disk${i}`, path: d.path, sizeMiB: deviceSizeMiB(s, d.path) ?? 0 }));
  return { name, pid, runState: 'running', guestShutdown: false, adminStopped: false, memoryMiB: launch.memoryMiB, vcpus: launch.vcpus, runtime: { uuid: record.uuid }, meta: metaOf(name, record), drives };
}

/** The size of an image, LV or DRBD device on this node, as QEMU would find it. */
function deviceSizeMiB(s: SimNodeState, path: string): number | undefined {
  const drbd = /^\/dev\/drbd(\d+)$/.exec(path);
  if (drbd) return s.drbd.get(Number(drbd[1]))?.sizeMiB;
  const lv = /^\/dev\/([^/]+)\/([^/]+)$/.exec(path);
  if (lv) return s.lvs.get(`${lv[1]}/${lv[2]}`)?.sizeMiB;
  return filesFor(s, path).get(path)?.virtualSizeMiB;
}

export const instanceHandlers = {
  'instance.install': (s: SimNodeState, a: InstanceInstall): boolean => {
    const cur = s.instances.get(a.name);
    if (cur?.meta && cur.meta.uuid === a.record.uuid && cur.meta.osGeneration >= a.record.osGeneration) return false;
    if (cur && ALIVE.has(cur.runState)) throw new ExecError('INSTANCE_RUNNING', `${a.name} is running; stop it before installing`, { instance: a.name });
    checkDisks(s, a.launch);
    s.instances.set(a.name, { name: a.name, runState: 'stopped', guestShutdown: false, adminStopped: true, meta: metaOf(a.name, a.record) });
    return true;
  },
  'instance.start': (s: SimNodeState, a: InstanceStart, ctx: InstanceCtx): boolean => {
    const cur = s.instances.get(a.name);
    if (cur && ALIVE.has(cur.runState)) {
      // Like drivers/qemu: a VM running another launch spec needs stop + start, never a second qemu.
      if (JSON.stringify(cur.meta?.launch) !== JSON.stringify(a.launch)) {
        throw new PrereqError('RESTART_NEEDED', `instance ${a.name} runs with another spec; it must be stopped first`, { instance: a.name });
      }
      // The record is rewritten (bookkeeping, as the driver does); the VM is untouched.
      s.instances.set(a.name, { ...cur, meta: metaOf(a.name, a.record) });
      return false;
    }
    checkDisks(s, a.launch);
    s.instances.set(a.name, running(s, a.name, a.launch, a.record, ctx.nextPid()));
    return true;
  },
  'instance.stop': (s: SimNodeState, a: InstanceStop): boolean => {
    const cur = s.instances.get(a.name);
    if (cur === undefined || (!ALIVE.has(cur.runState) && cur.adminStopped === true)) return false;
    const { pid: _pid, ...rest } = cur;
    // A stop Gantry asked for is recorded, so the VM reads ADMIN_down, not ERROR_down.
    s.instances.set(a.name, { ...rest, runState: 'stopped', guestShutdown: false, adminStopped: true });
    return true;
  },
  'instance.remove': (s: SimNodeState, a: InstanceRemove): boolean => {
    const had = s.instances.delete(a.name);
    const tapsBefore = s.taps.size;
    unplugTaps(s, a.name, a.nicCount);
    return had || s.taps.size !== tapsBefore;
  },
  /** QEMU's block_resize: an image grows with its drive; a block device must already be that big. */
  'instance.block-resize': (s: SimNodeState, a: InstanceBlockResize): boolean => {
    const cur = s.instances.get(a.name);
    if (cur === undefined || !ALIVE.has(cur.runState)) throw new ExecError('QMP_UNREACHABLE', `instance ${a.name}: cannot reach the QMP monitor: not running on ${s.facts.hostname}`, { instance: a.name });
    const drive = cur.drives?.find((d) => d.drive === a.drive);
    if (!drive || drive.path !== a.path) throw new PrereqError('QMP_DRIVE_MISMATCH', `instance ${a.name} has no drive ${a.drive} opened on ${a.path}`, { instance: a.name });
    if (drive.sizeMiB === a.sizeMiB) return false;
    if (drive.sizeMiB > a.sizeMiB) throw new TerminalError('REFUSED_SHRINK', `instance ${a.name}: drive ${a.drive} is ${drive.sizeMiB} MiB; refusing to resize it to ${a.sizeMiB}`, { instance: a.name });
    if (a.path.startsWith('/dev/')) {
      const have = deviceSizeMiB(s, a.path) ?? 0;
      if (have < a.sizeMiB) throw new ExecError('QMP_ERROR', `instance ${a.name}: QMP block_resize failed: GenericError: Cannot grow device files`, { instance: a.name });
    } else {
      const files = filesFor(s, a.path);
      const f = files.get(a.path);
      if (f === undefined) throw new ExecError('QMP_ERROR', `instance ${a.name}: QMP block_resize failed: image ${a.path} is gone`, { instance: a.name });
      files.set(a.path, { ...f, virtualSizeMiB: Math.max(f.virtualSizeMiB, a.sizeMiB) });
    }
    s.instances.set(a.name, { ...cur, drives: cur.drives!.map((d) => (d.drive === a.drive ? { ...d, sizeMiB: a.sizeMiB } : d)) });
    return true;
  },
  'instance.migrate': (s: SimNodeState, a: InstanceMigrate, ctx: InstanceCtx): boolean => {
    const peer = ctx.peer(a.peer);
    if (peer === undefined) throw new ExecError('PEER_UNREACHABLE', `migration target ${a.peer} (${a.peerAddress}) cannot be reached`, { peer: a.peer });
    const src = s.instances.get(a.name);
    const dst = peer.instances.get(a.name);
    if ((src === undefined || !ALIVE.has(src.runState)) && dst !== undefined && ALIVE.has(dst.runState)) return false; // already moved
    if (src === undefined || src.runState !== 'running') throw new ExecError('NOT_RUNNING', `${a.name} is not running on ${s.facts.hostname}; nothing to migrate`, { instance: a.name });
    const move = () => {
      checkDisks(peer, a.launch);
      peer.instances.set(a.name, running(peer, a.name, a.launch, a.record, ctx.nextPid()));
      // The source QEMU exits once the destination runs; its run dir is gone too.
      s.instances.delete(a.name);
      unplugTaps(s, a.name, a.launch.nics.length);
    };
    // DRBD: dual-primary around the move, disks reverted if it fails (sim/drbd migrateDrbd).
    if (a.drbd?.length) migrateDrbd(s, peer, a.drbd, ctx, move);
    else move();
    return true;
  },
};
