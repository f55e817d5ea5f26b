import type { Action, Verb } from '../core/actions.js';
import { ExecError, PrereqError, TerminalError } from '../util/errors.js';
import { instanceHandlers, type InstanceCtx } from './instances.js';
import { filesFor, vgFreeMiB, type SimNodeState } from './state.js';
import { instanceLvTag } from '../plan/naming.js';

const ALIVE_STATES = new Set(['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate', 'unknown']);
import { drbdHandlers, lvHeldByDrbd } from './drbd.js';

/**
 * One handler per verb, with the idempotent-ensure contract the real drivers promise:
 * an object that already matches is left alone (returns false = unchanged), a differing
 * one is brought in line (true), removing a missing object is unchanged, and anything
 * destructive that was not asked for (a shrink) is refused. Handlers validate before they
 * mutate, so a failed action leaves the node as it was.
 *
 * Error classes follow src/util/errors.ts: ExecError when the next pass (after a
 * re-observe) can succeed, e.g. the parent object is not there yet (not retried within
 * the pass: only transport and declared-transient failures are); PrereqError or
 * TerminalError when only a change of the desired state helps.
 */
type Handler<V extends Verb> = (s: SimNodeState, a: Extract<Action, { verb: V }>, ctx: InstanceCtx) => boolean;
// Partial on purpose: verbs added to the Action union before the simulator learns them
// still compile, and run() answers them with an UNKNOWN_VERB result instead of crashing.
type Handlers = { [V in Verb]?: Handler<V> };

const sameSet = <T>(a: readonly T[], b: readonly T[]): boolean => {
  if (a.length !== b.length) return false;
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
};

/** Drop keys whose value is undefined, so snapshots look like what a probe reports. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Drop enslavement of any interface to a bridge that goes away (the kernel does the same). */
function releaseFromMaster(s: SimNodeState, bridge: string): void {
  for (const [k, v] of s.vxlans) if (v.master === bridge) s.vxlans.set(k, compact({ ...v, master: undefined }));
  for (const [k, t] of s.taps) if (t.master === bridge) s.taps.set(k, compact({ ...t, master: undefined }));
}

function ovsOf(s: SimNodeState): NonNullable<SimNodeState['ovs']> {
  if (s.ovs === undefined) throw new ExecError('OVS_NOT_RUNNING', 'Open vSwitch is not running on this node (ovsdb-server unreachable)');
  return s.ovs;
}

export const handlers: Handlers = {
  'bridge.ensure': (s, a) => {
    // Like the real driver: add and set what the action names, never remove an address or port.
    const cur = s.bridges.get(a.name);
    const mtu = a.mtu ?? cur?.mtu ?? 1500;
    const addresses = [...new Set([...(cur?.addresses ?? []), ...a.addresses])];
    const ports = [...new Set([...(cur?.ports ?? []), ...a.ports])];
    if (cur && cur.up && cur.vlanFiltering === a.vlanFiltering && cur.mtu === mtu && sameSet(cur.addresses, addresses) && sameSet(cur.ports, ports)) return false;
    s.bridges.set(a.name, { name: a.name, up: true, vlanFiltering: a.vlanFiltering, mtu, addresses, ports });
    return true;
  },
  'bridge.address.remove': (s, a) => {
    const cur = s.bridges.get(a.bridge);
    if (!cur || !cur.addresses.includes(a.address)) return false;
    s.bridges.set(a.bridge, { ...cur, addresses: cur.addresses.filter((x) => x !== a.address) });
    return true;
  },
  'bridge.remove': (s, a) => {
    if (!s.bridges.delete(a.name)) return false;
    releaseFromMaster(s, a.name);
    return true;
  },
  'ovs.bridge.ensure': (s, a) => {
    const ovs = ovsOf(s);
    const cur = ovs.get(a.name);
    if (cur && cur.datapathType === a.datapathType) return false;
    ovs.set(a.name, { name: a.name, datapathType: a.datapathType, ports: cur?.ports ?? {} });
    return true;
  },
  'ovs.bridge.remove': (s, a) => s.ovs?.delete(a.name) ?? false,
  'ovs.port.ensure': (s, a) => {
    const br = ovsOf(s).get(a.bridge);
    if (br === undefined) throw new ExecError('OVS_BRIDGE_NOT_FOUND', `OVS bridge ${a.bridge} does not exist (ensure it first)`, { bridge: a.bridge });
    const cur = br.ports[a.port];
    // Like the real driver: the tag is set only when named, trunks are added, never dropped.
    const tag = a.tag ?? cur?.tag;
    const trunks = [...new Set([...(cur?.trunks ?? []), ...a.trunks])];
    if (cur && cur.tag === tag && cur.type === a.type && sameSet(cur.trunks, trunks)) return false;
    const port = { name: a.port, ...(tag !== undefined ? { tag } : {}), trunks, type: a.type };
    ovsOf(s).set(a.bridge, { ...br, ports: { ...br.ports, [a.port]: port } });
    return true;
  },
  'ovs.port.vlans.remove': (s, a) => {
    const br = s.ovs?.get(a.bridge);
    const cur = br?.ports[a.port];
    if (!br || !cur) return false;
    const trunks = cur.trunks.filter((t) => !a.trunks.includes(t));
    const dropTag = a.tag !== undefined && cur.tag === a.tag;
    if (trunks.length === cur.trunks.length && !dropTag) return false;
    const { tag: _tag, ...rest } = cur;
    s.ovs?.set(a.bridge, { ...br, ports: { ...br.ports, [a.port]: { ...(dropTag ? rest : cur), trunks } } });
    return true;
  },
  'ovs.port.remove': (s, a) => {
    const br = s.ovs?.get(a.bridge);
    if (br === undefined || br.ports[a.port] === undefined) return false;
    const { [a.port]: _gone, ...rest } = br.ports;
    s.ovs?.set(a.bridge, { ...br, ports: rest });
    return true;
  },
  'vxlan.ensure': (s, a) => {
    if (a.master !== undefined && !s.bridges.has(a.master)) {
      throw new ExecError('MASTER_NOT_FOUND', `bridge ${a.master} for VXLAN ${a.name} does not exist`, { master: a.master });
    }
    const want = { name: a.name, vni: a.vni, local: a.local, remote: a.remote, group: a.group, dstPort: a.dstPort, dev: a.dev, master: a.master, up: true };
    const cur = s.vxlans.get(a.name);
    if (cur && (Object.keys(want) as (keyof typeof want)[]).every((k) => cur[k] === want[k])) return false;
    // A changed VNI or endpoint means delete + add on a real node; the result is the same.
    s.vxlans.set(a.name, compact(want));
    return true;
  },
  'vxlan.remove': (s, a) => s.vxlans.delete(a.name),
  'sysctl.set': (s, a) => {
    if (s.sysctls.get(a.key) === a.value) return false;
    s.sysctls.set(a.key, a.value);
    return true;
  },
  'vg.ensure': (s, a) => {
    const cur = s.vgs.get(a.name);
    const missing = a.pvs.filter((pv) => !cur?.pvs.includes(pv));
    if (cur && missing.length === 0) return false; // extra PVs are never removed implicitly
    for (const pv of missing) {
      if (!s.blockDevices.has(pv)) throw new PrereqError('PV_NOT_FOUND', `block device ${pv} does not exist on this node`, { pv });
      for (const other of s.vgs.values()) {
        if (other.name !== a.name && other.pvs.includes(pv)) throw new PrereqError('PV_IN_USE', `${pv} already belongs to VG ${other.name}`, { pv, vg: other.name });
      }
    }
    s.vgs.set(a.name, { name: a.name, pvs: [...(cur?.pvs ?? []), ...missing] });
    return true;
  },
  'lv.create': (s, a) => {
    if (!s.vgs.has(a.vg)) throw new ExecError('VG_NOT_FOUND', `volume group ${a.vg} does not exist`, { vg: a.vg });
    const id = `${a.vg}/${a.name}`;
    const cur = s.lvs.get(id);
    if (cur) {
      // Creating is not resizing: the planner says lv.extend when it means that.
      if (cur.sizeMiB !== a.sizeMiB) throw new PrereqError('LV_SIZE_MISMATCH', `${id} exists with ${cur.sizeMiB} MiB, not ${a.sizeMiB} MiB`, { lv: id });
      if (a.tags.every((t) => cur.tags.includes(t))) return false;
      s.lvs.set(id, { ...cur, tags: [...new Set([...cur.tags, ...a.tags])] });
      return true;
    }
    const free = vgFreeMiB(s, a.vg);
    if (free < a.sizeMiB) throw new PrereqError('INSUFFICIENT_SPACE', `${a.vg} has ${free} MiB free, ${id} needs ${a.sizeMiB} MiB`, { vg: a.vg, free });
    // lvcreate activates the new LV (a node with device-mapper, as the VM lab's).
    s.lvs.set(id, { vg: a.vg, name: a.name, sizeMiB: a.sizeMiB, tags: [...a.tags], active: true });
    return true;
  },
  'lv.activate': (s, a) => {
    const id = `${a.vg}/${a.name}`;
    const cur = s.lvs.get(id);
    if (cur === undefined) throw new PrereqError('LV_MISSING', `cannot activate ${id}: it does not exist`, { lv: id });
    if (cur.active !== false) return false;
    s.lvs.set(id, { ...cur, active: true });
    return true;
  },
  'lv.extend': (s, a) => {
    const id = `${a.vg}/${a.name}`;
    const cur = s.lvs.get(id);
    if (cur === undefined) throw new ExecError('LV_NOT_FOUND', `logical volume ${id} does not exist`, { lv: id });
    if (a.sizeMiB === cur.sizeMiB) return false;
    if (a.sizeMiB < cur.sizeMiB) throw new TerminalError('REFUSED_SHRINK', `refusing to shrink ${id} from ${cur.sizeMiB} MiB to ${a.sizeMiB} MiB`, { lv: id });
    const free = vgFreeMiB(s, a.vg);
    if (free < a.sizeMiB - cur.sizeMiB) throw new PrereqError('INSUFFICIENT_SPACE', `${a.vg} has ${free} MiB free, extending ${id} needs ${a.sizeMiB - cur.sizeMiB} MiB`, { vg: a.vg, free });
    s.lvs.set(id, { ...cur, sizeMiB: a.sizeMiB });
    return true;
  },
  'lv.remove': (s, a) => {
    if (lvHeldByDrbd(s, `${a.vg}/${a.name}`)) throw new ExecError('LV_IN_USE', `logical volume ${a.vg}/${a.name} is in use by a DRBD device`, { lv: `${a.vg}/${a.name}` });
    return s.lvs.delete(`${a.vg}/${a.name}`);
  },
  'lv.untag': (s, a) => {
    const id = `${a.vg}/${a.name}`;
    const cur = s.lvs.get(id);
    if (cur === undefined) throw new PrereqError('LV_MISSING', `cannot untag ${id}: it does not exist`, { lv: id });
    if (!a.tags.some((t) => cur.tags.includes(t))) return false;
    s.lvs.set(id, { ...cur, tags: cur.tags.filter((t) => !a.tags.includes(t)) });
    return true;
  },
  'file.create': (s, a) => {
    const files = filesFor(s, a.path);
    const cur = files.get(a.path);
    if (cur) {
      if (cur.format === a.format && cur.virtualSizeMiB === a.sizeMiB) return false;
      throw new PrereqError('FILE_MISMATCH', `${a.path} exists as ${cur.format} ${cur.virtualSizeMiB} MiB, not ${a.format} ${a.sizeMiB} MiB`, { path: a.path });
    }
    if (a.mark !== undefined) filesFor(s, a.mark).set(a.mark, { path: a.mark, format: 'raw', virtualSizeMiB: 0 }); // touch, before the image
    files.set(a.path, { path: a.path, format: a.format, virtualSizeMiB: a.sizeMiB });
    return true;
  },
  'file.grow': (s, a) => {
    const files = filesFor(s, a.path);
    const cur = files.get(a.path);
    if (cur === undefined) throw new ExecError('FILE_NOT_FOUND', `disk image ${a.path} does not exist`, { path: a.path });
    if (a.sizeMiB === cur.virtualSizeMiB) return false;
    if (a.sizeMiB < cur.virtualSizeMiB) throw new TerminalError('REFUSED_SHRINK', `refusing to shrink ${a.path} from ${cur.virtualSizeMiB} MiB to ${a.sizeMiB} MiB`, { path: a.path });
    files.set(a.path, { ...cur, virtualSizeMiB: a.sizeMiB });
    return true;
  },
  'file.remove': (s, a) => filesFor(s, a.path).delete(a.path),
  'instance.rename': (s, a) => {
    // As the shell driver: check every step first (nothing moves when one is refused), then
    // detach the DRBD devices named and rename what is not renamed yet.
    const oldTag = instanceLvTag(a.from);
    const newTag = instanceLvTag(a.to);
    for (const l of a.lvs) {
      const src = s.lvs.get(`${l.vg}/${l.from}`);
      const dst = s.lvs.get(`${l.vg}/${l.to}`);
      if (src && dst && l.from !== l.to) throw new PrereqError('RENAME_CONFLICT', `both ${l.vg}/${l.from} and ${l.vg}/${l.to} exist`, { vg: l.vg });
      if (!src && !dst) throw new ExecError('RENAME_SOURCE_MISSING', `neither ${l.vg}/${l.from} nor ${l.vg}/${l.to} exists`, { vg: l.vg });
    }
    const dir = a.runDir !== undefined ? s.instances.get(a.from) : undefined;
    if (dir && s.instances.has(a.to)) throw new PrereqError('RENAME_CONFLICT', `both instance directories ${a.from} and ${a.to} exist`, {});
    if (dir && ALIVE_STATES.has(dir.runState)) throw new PrereqError('INSTANCE_RUNNING', `${a.from} is ${dir.runState}: a rename needs it stopped`, {});
    for (const f of a.files) {
      const files = filesFor(s, f.from);
      if (files.has(f.from) && files.has(f.to)) throw new PrereqError('RENAME_CONFLICT', `both ${f.from} and ${f.to} exist`, {});
      if (!files.has(f.from) && !files.has(f.to)) throw new ExecError('RENAME_SOURCE_MISSING', `neither ${f.from} nor ${f.to} exists`, {});
    }
    let changed = false;
    const moving = a.lvs.some((l) => l.from !== l.to && s.lvs.has(`${l.vg}/${l.from}`));
    for (const minor of moving ? a.drbdDetach ?? [] : []) {
      const d = s.drbd.get(minor);
      if (d?.attached) {
        s.drbd.set(minor, { ...d, attached: false });
        changed = true;
      }
    }
    for (const l of a.lvs) {
      const fromId = `${l.vg}/${l.from}`;
      const toId = `${l.vg}/${l.to}`;
      const cur = s.lvs.get(toId) ?? s.lvs.get(fromId)!;
      const tags = [...cur.tags.filter((t) => t !== oldTag && t !== newTag), newTag];
      if (cur.name === l.to && sameSet(tags, cur.tags)) continue;
      s.lvs.delete(fromId);
      s.lvs.set(toId, { ...cur, name: l.to, tags });
      // DRBD metadata lives on its LV: it moves with it
      const md = s.drbdMeta.get(fromId);
      if (md && fromId !== toId) {
        s.drbdMeta.delete(fromId);
        s.drbdMeta.set(toId, md);
      }
      changed = true;
    }
    for (const f of a.files) {
      const files = filesFor(s, f.from);
      const cur = files.get(f.from);
      if (!cur) continue;
      files.delete(f.from);
      files.set(f.to, { ...cur, path: f.to });
      changed = true;
    }
    if (dir) {
      s.instances.delete(a.from);
      s.instances.set(a.to, { ...dir, name: a.to, ...(dir.meta ? { meta: { ...dir.meta, instance: a.to } } : {}) });
      changed = true;
    }
    return changed;
  },
  ...instanceHandlers,
  ...drbdHandlers,
};

/** The handler for a verb, or undefined for a verb this simulator does not know yet. */
export function handlerFor(verb: string): ((s: SimNodeState, a: Action, ctx: InstanceCtx) => boolean) | undefined {
  return Object.hasOwn(handlers, verb) ? (handlers[verb as Verb] as ((s: SimNodeState, a: Action, ctx: InstanceCtx) => boolean) | undefined) : undefined;
}
