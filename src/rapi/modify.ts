/**
 * PUT /2/instances/[name]/modify (Ganeti's OpInstanceSetParams) -> one edit of the
 * Instance manifest. What Gantry's schema can express is written (beparams, hvparams under
 * Ganeti's names, disks and NICs added, modified or removed, the OS name and parameters);
 * every other parameter is refused by name (400), never accepted and ignored. A value
 * "default" removes the instance's own setting (Ganeti's VALUE_DEFAULT). After the edit the
 * change's check compares the instance's effective parameters with what was asked, so a
 * request the cluster or group layer would override is refused rather than silently lost.
 */
import { isMap, isSeq, type Document } from 'yaml';
import type { DesiredInstance, DesiredState, KvmParams } from '../desired/model.js';
import { asObject, bad, onlyKnown, type ManifestChange } from './edits.js';

const TOP = ['beparams', 'hvparams', 'disks', 'nics', 'os_name', 'osparams', 'force', 'hotplug', 'hotplug_if_possible', 'wait_for_sync', 'conflicts_check'] as const;
const BE = ['vcpus', 'maxmem', 'minmem', 'memory', 'auto_balance', 'spindle_use', 'always_failover'] as const;
const DISK_ADD = ['size', 'mode', 'name', 'vg', 'metavg'] as const;
const DISK_MODIFY = ['mode', 'name', 'size'] as const;
const GROW = ['amount', 'absolute', 'wait_for_sync', 'ignore_ipolicy'] as const;
const NIC = ['ip', 'mac', 'network', 'mode', 'link', 'name', 'vlan'] as const;
const DEFAULT = 'default';

type Conv = (v: unknown, field: string) => unknown;
const asString: Conv = (v, f) => { if (typeof v !== 'string') throw bad(f, `expected a string, got ${JSON.stringify(v)}`); return v; };
const asBool: Conv = (v, f) => { if (typeof v !== 'boolean') throw bad(f, `expected true or false, got ${JSON.stringify(v)}`); return v; };
const asInt: Conv = (v, f) => {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw bad(f, `expected a whole number >= 0, got ${JSON.stringify(v)}`);
  return n;
};
/** A path where Ganeti's "" means "none": only unsetting the instance's own value expresses it. */
const asPath: Conv = (v, f) => (v === '' ? undefined : asString(v, f));

/** Ganeti's KVM hvparams -> the manifest key, the value conversion and the effective value to compare. */
const HV: Record<string, { key: keyof KvmParams; conv: Conv; eff?: (k: KvmParams) => unknown; want?: (v: unknown) => unknown }> = {
  kvm_flag: { key: 'accel', conv: (v, f) => { if (v !== 'enabled' && v !== 'disabled') throw bad(f, 'expected "enabled" or "disabled"'); return v === 'enabled' ? 'kvm' : 'tcg'; } },
  kernel_path: { key: 'kernelPath', conv: asPath },
  initrd_path: { key: 'initrdPath', conv: asPath },
  kernel_args: { key: 'kernelArgs', conv: asString },
  root_path: { key: 'rootPath', conv: asPath },
  boot_order: { key: 'bootOrder', conv: asString },
  cdrom_image_path: { key: 'cdromImagePath', conv: asPath },
  machine_version: { key: 'machineType', conv: asPath },
  cpu_type: { key: 'cpuType', conv: asPath },
  disk_type: { key: 'diskType', conv: asString },
  disk_cache: { key: 'diskCache', conv: asString },
  nic_type: { key: 'nicType', conv: asString },
  serial_console: { key: 'serialConsole', conv: asBool },
  serial_speed: { key: 'serialSpeed', conv: asInt },
  vnc_bind_address: { key: 'vncBindAddress', conv: asPath },
  usb_mouse: { key: 'usbMouse', conv: (v, f) => (v === '' ? 'none' : asString(v, f)) },
  migration_bandwidth: { key: 'migrationBandwidthMiBps', conv: asInt },
  migration_downtime: { key: 'migrationDowntimeMs', conv: asInt },
  reboot_behavior: { key: 'rebootBehavior', conv: asString },
  use_chroot: { key: 'useChroot', conv: asBool },
};

/** One step of the edit and, for the check after loading, what the instance must then show. */
type Step = (doc: Document.Parsed) => void;
type Expect = (i: DesiredInstance) => string | undefined;

function ensureMap(doc: Document.Parsed, path: (string | number)[]): void {
  if (!isMap(doc.getIn(path, true))) doc.setIn(path, doc.createNode({}));
}

/** Set (or with undefined, delete) spec.<path>; an emptied map is removed with it. */
function put(doc: Document.Parsed, path: string[], value: unknown): void {
  if (value === undefined) {
    if (doc.hasIn(['spec', ...path])) doc.deleteIn(['spec', ...path]);
    const parent = ['spec', ...path.slice(0, -1)];
    const m = doc.getIn(parent, true);
    if (path.length > 1 && isMap(m) && m.items.length === 0) doc.deleteIn(parent);
    return;
  }
  for (let i = 1; i < path.length; i++) ensureMap(doc, ['spec', ...path.slice(0, i)]);
  doc.setIn(['spec', ...path], value);
}

function beSteps(v: unknown, steps: Step[], expects: Expect[]): void {
  const b = asObject(v, 'beparams');
  onlyKnown(b, BE, 'beparams.');
  if (b.always_failover !== undefined && b.always_failover !== false && b.always_failover !== DEFAULT) throw bad('beparams.always_failover', 'not supported (migration follows the cluster and group migration settings)');
  const mem = b.maxmem ?? b.memory;
  const memField = b.maxmem !== undefined ? 'beparams.maxmem' : 'beparams.memory';
  if (b.minmem !== undefined && mem !== undefined && b.minmem !== mem) throw bad('beparams.minmem', 'Gantry gives an instance one memory size: minmem must equal maxmem');
  if (b.minmem !== undefined && mem === undefined) throw bad('beparams.minmem', 'Gantry gives an instance one memory size: set maxmem (minmem equal to it)');
  const field = (name: string, key: string, raw: unknown, conv: (x: unknown) => unknown, eff: (i: DesiredInstance) => unknown) => {
    if (raw === undefined) return;
    const value = raw === DEFAULT ? undefined : conv(raw);
    steps.push((doc) => put(doc, ['beParams', key], value));
    if (value !== undefined) expects.push((i) => (eff(i) === (key === 'memory' ? asInt(raw, name) : value) ? undefined : `${name}: the instance would have ${JSON.stringify(eff(i))}, not ${JSON.stringify(raw)}`));
  };
  field('beparams.vcpus', 'vcpus', b.vcpus, (x) => asInt(x, 'beparams.vcpus'), (i) => i.beParams.vcpus);
  field(memField, 'memory', mem, (x) => `${asInt(x, memField) as number}M`, (i) => i.beParams.memory);
  field('beparams.auto_balance', 'autoBalance', b.auto_balance, (x) => asBool(x, 'beparams.auto_balance'), (i) => i.beParams.autoBalance);
  field('beparams.spindle_use', 'spindleUse', b.spindle_use, (x) => asInt(x, 'beparams.spindle_use'), (i) => i.beParams.spindleUse);
}

function hvSteps(v: unknown, steps: Step[], expects: Expect[]): void {
  const h = asObject(v, 'hvparams');
  onlyKnown(h, Object.keys(HV), 'hvparams.');
  for (const [name, raw] of Object.entries(h)) {
    const m = HV[name]!;
    const field = `hvparams.${name}`;
    const value = raw === DEFAULT ? undefined : m.conv(raw, field);
    steps.push((doc) => put(doc, ['hvParams', m.key], value));
    if (raw !== DEFAULT) {
      expects.push((i) => {
        const eff = i.hvParams[m.key];
        const ok = value === undefined ? eff === undefined : eff === value;
        return ok ? undefined : `${field}: the cluster or group sets ${m.key} to ${JSON.stringify(eff)}, which an instance cannot unset: ${JSON.stringify(raw)} cannot be expressed`;
      });
    }
  }
}

/** Ganeti's disk/NIC modification list: [op, identifier, params] (or the legacy [op, params], op an index for modify). */
function mods(v: unknown, what: 'disks' | 'nics'): { op: 'add' | 'remove' | 'modify'; id: number; params: Record<string, unknown>; field: string }[] {
  if (!Array.isArray(v)) throw bad(what, 'expected a list of [operation, index, parameters]');
  return v.map((m, k) => {
    const field = `${what}[${k}]`;
    if (!Array.isArray(m) || m.length < 2 || m.length > 3) throw bad(field, 'expected [operation, index, parameters] or [operation, parameters]');
    const [op, rawId, params] = m.length === 3 ? m : typeof m[0] === 'number' ? ['modify', m[0], m[1]] : [m[0], -1, m[1]];
    const id: unknown = typeof rawId === 'string' && /^-?\d+$/.test(rawId) ? Number(rawId) : rawId;
    if (op !== 'add' && op !== 'remove' && op !== 'modify') throw bad(`${field}[0]`, `expected add, remove or modify, got ${JSON.stringify(op)}`);
    if (typeof id !== 'number' || !Number.isInteger(id) || id < -1) throw bad(`${field}[1]`, `expected a ${what === 'disks' ? 'disk' : 'NIC'} index (or -1 for the last), got ${JSON.stringify(id)}`);
    return { op, id, params: asObject(params, `${field}[${m.length - 1}]`), field };
  });
}

function diskSteps(v: unknown, inst: DesiredInstance, steps: Step[]): void {
  // Ganeti's disk indexes count the disks the instance has: positions among the present ones.
  const present = inst.disks.filter((d) => d.state === 'present').map((d) => d.index);
  for (const m of mods(v, 'disks')) {
    if (m.op === 'add') {
      onlyKnown(m.params, DISK_ADD, `${m.field}.`);
      if (m.id !== -1 && m.id !== present.length) throw bad(`${m.field}[1]`, `a new disk goes after the last one (index ${present.length} or -1): Gantry keeps disk positions`);
      if (m.params.size === undefined) throw bad(`${m.field}.size`, 'missing (MiB)');
      const size = asInt(m.params.size, `${m.field}.size`) as number;
      const disk = {
        size: `${size}M`, ...(m.params.mode !== undefined ? { mode: m.params.mode } : {}), ...(m.params.name !== undefined ? { name: m.params.name } : {}),
        ...(m.params.vg !== undefined ? { vg: m.params.vg } : {}), ...(m.params.metavg !== undefined ? { metaVg: m.params.metavg } : {}),
      };
      steps.push((doc) => {
        if (!isSeq(doc.getIn(['spec', 'disks'], true))) doc.setIn(['spec', 'disks'], doc.createNode([]));
        doc.addIn(['spec', 'disks'], doc.createNode(disk, { flow: true }));
      });
      present.push(-1);
      continue;
    }
    const pos = m.id === -1 ? present.at(-1) : present[m.id];
    if (pos === undefined || pos < 0) throw bad(`${m.field}[1]`, `${inst.name} has no disk ${m.id} (it has ${inst.disks.filter((d) => d.state === 'present').length})`);
    if (m.op === 'remove') {
      onlyKnown(m.params, [], `${m.field}.`);
      // the disk stays in the list as absent, so the later disks keep their positions and names
      steps.push((doc) => doc.setIn(['spec', 'disks', pos, 'state'], 'absent'));
      present.splice(present.indexOf(pos), 1);
      continue;
    }
    onlyKnown(m.params, DISK_MODIFY, `${m.field}.`);
    if (m.params.size !== undefined) steps.push(growStep(inst, pos, asInt(m.params.size, `${m.field}.size`) as number, `${m.field}.size`));
    for (const k of DISK_MODIFY) if (k !== 'size' && m.params[k] !== undefined) steps.push((doc) => doc.setIn(['spec', 'disks', pos, k], m.params[k]));
  }
}

/**
 * The edit that grows disk `pos` (its position in spec.disks) to `size` MiB: the manifest's
 * size changes and the pass grows the volume (and a running QEMU's view of it). A smaller
 * size is refused (Gantry never shrinks a disk); the same size is no change.
 */
function growStep(inst: DesiredInstance, pos: number, size: number, field: string): Step {
  const disk = inst.disks.find((d) => d.index === pos)!;
  if (size < disk.size) throw bad(field, `${size} MiB is smaller than disk ${pos} of ${inst.name} (${disk.size} MiB): disks are never shrunk`);
  // whole GiB stay in G, as an operator writes them
  const text = size % 1024 === 0 ? `${size / 1024}G` : `${size}M`;
  return (doc) => { if (size !== disk.size) doc.setIn(['spec', 'disks', pos, 'size'], text); };
}

/**
 * POST /2/instances/[name]/disk/[index]/grow (Ganeti's OpInstanceGrowDisk): `amount` MiB
 * more (or, with `absolute`, the new size) -> the disk's size in the manifest; the pass grows
 * the volume, online when the instance runs.
 */
export function growDiskChange(body: unknown, inst: DesiredInstance, rawIndex: string): ManifestChange {
  const b = asObject(body, 'body');
  onlyKnown(b, GROW);
  const present = inst.disks.filter((d) => d.state === 'present');
  const idx = /^\d+$/.test(rawIndex) ? Number(rawIndex) : NaN;
  const disk = present[idx];
  if (!disk) throw bad('disk', `${inst.name} has no disk ${rawIndex} (it has ${present.length})`);
  if (b.amount === undefined) throw bad('amount', 'missing (MiB)');
  const amount = asInt(b.amount, 'amount') as number;
  const absolute = b.absolute === undefined ? false : asBool(b.absolute, 'absolute');
  if (b.wait_for_sync !== undefined) asBool(b.wait_for_sync, 'wait_for_sync');
  if (b.ignore_ipolicy !== undefined && b.ignore_ipolicy !== false) throw bad('ignore_ipolicy', 'not supported: the instance policy applies to every manifest; pass false or leave it out');
  const size = absolute ? amount : disk.size + amount;
  if (!absolute && amount === 0) throw bad('amount', 'expected more than 0 MiB');
  const step = growStep(inst, disk.index, size, 'amount');
  return {
    subject: `Instance/${inst.name}`, what: `grow disk ${idx} of instance ${inst.name} to ${size} MiB`,
    op: { OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: inst.name, disk: idx, amount, absolute },
    edit: step,
    check: (next: DesiredState) => {
      const d = next.instances.get(inst.name)?.disks.find((x) => x.index === disk.index);
      if (d && d.size !== size) throw bad('amount', `disk ${idx} would be ${d.size} MiB, not ${size}`);
    },
  };
}

function nicValue(p: Record<string, unknown>, field: string): Record<string, unknown> {
  onlyKnown(p, NIC, `${field}.`);
  const out: Record<string, unknown> = {};
  for (const k of NIC) {
    const v = p[k];
    if (v === undefined) continue;
    if (k === 'vlan') { out.vlan = typeof v === 'string' ? Number(v.replace(/^\./, '')) : v; continue; }
    if (k === 'ip') { out.ip = v === null ? 'none' : v; continue; }
    if (k === 'mac' && (v === 'generate' || v === 'auto')) { out.mac = 'auto'; continue; }
    out[k] = v;
  }
  return out;
}

function nicSteps(v: unknown, inst: DesiredInstance, steps: Step[]): void {
  let count = inst.nics.length;
  for (const m of mods(v, 'nics')) {
    if (m.op === 'add') {
      if (m.id !== -1 && m.id !== count) throw bad(`${m.field}[1]`, `a new NIC goes after the last one (index ${count} or -1)`);
      const nic = nicValue(m.params, m.field);
      steps.push((doc) => {
        if (!isSeq(doc.getIn(['spec', 'nics'], true))) doc.setIn(['spec', 'nics'], doc.createNode([]));
        doc.addIn(['spec', 'nics'], doc.createNode(nic, { flow: true }));
      });
      count++;
      continue;
    }
    const idx = m.id === -1 ? count - 1 : m.id;
    if (idx < 0 || idx >= count) throw bad(`${m.field}[1]`, `${inst.name} has no NIC ${m.id} (it has ${count})`);
    if (m.op === 'remove') {
      onlyKnown(m.params, [], `${m.field}.`);
      // NICs have no "absent": removing one from the middle would renumber the later ones
      if (idx !== count - 1) throw bad(`${m.field}[1]`, `only the last NIC (index ${count - 1}) can be removed: the later NICs would change their positions`);
      steps.push((doc) => doc.deleteIn(['spec', 'nics', idx]));
      count--;
      continue;
    }
    const nic = nicValue(m.params, m.field);
    steps.push((doc) => { for (const [k, x] of Object.entries(nic)) doc.setIn(['spec', 'nics', idx, k], x); });
  }
}

/** The manifest change of a modify request (throws the 400 naming the parameter it cannot express). */
export function modifyInstanceChange(body: unknown, inst: DesiredInstance): ManifestChange {
  const b = asObject(body, 'body');
  onlyKnown(b, TOP);
  if (Object.keys(b).length === 0) throw bad('body', 'nothing to modify');
  for (const f of ['hotplug', 'hotplug_if_possible', 'conflicts_check'] as const) {
    if (b[f] !== undefined && b[f] !== false) throw bad(f, 'not supported: Gantry applies disk and NIC changes as its reconcile pass decides; pass false or leave it out');
  }
  for (const f of ['force', 'wait_for_sync'] as const) if (b[f] !== undefined) asBool(b[f], f);
  const steps: Step[] = [];
  const expects: Expect[] = [];
  if (b.beparams !== undefined) beSteps(b.beparams, steps, expects);
  if (b.hvparams !== undefined) hvSteps(b.hvparams, steps, expects);
  if (b.disks !== undefined) diskSteps(b.disks, inst, steps);
  if (b.nics !== undefined) nicSteps(b.nics, inst, steps);
  if (b.os_name !== undefined) { const os = asString(b.os_name, 'os_name'); steps.push((doc) => doc.setIn(['spec', 'os', 'name'], os)); }
  if (b.osparams !== undefined) {
    const p = asObject(b.osparams, 'osparams');
    for (const [k, x] of Object.entries(p)) {
      if (x !== DEFAULT) asString(x, `osparams.${k}`);
      steps.push((doc) => put(doc, ['os', 'params', k], x === DEFAULT ? undefined : x));
    }
  }
  if (steps.length === 0) throw bad('body', 'nothing to modify');
  const op = { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: inst.name, ...b };
  return {
    subject: `Instance/${inst.name}`, what: `modify instance ${inst.name} (${Object.keys(b).filter((k) => !['force', 'wait_for_sync', 'hotplug', 'hotplug_if_possible', 'conflicts_check'].includes(k)).join(', ')})`, op,
    edit: (doc) => { for (const s of steps) s(doc); },
    check: (next: DesiredState) => {
      const i = next.instances.get(inst.name);
      const why = i ? expects.map((e) => e(i)).filter((x) => x !== undefined) : [];
      if (why.length) throw bad(why[0]!.split(':')[0]!, why[0]!.slice(why[0]!.indexOf(':') + 2));
    },
  };
}
