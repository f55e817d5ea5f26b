/**
 * POST /2/instances with `__version__: 1` (Ganeti's instance-create-reqv1) -> a new
 * Instance manifest. Every body field maps to a manifest field or is refused by name:
 * Gantry has one memory size (minmem must equal maxmem), no name or IP checks against DNS,
 * no import mode. Placement is the allocator's unless pnode/snode are given.
 */
import { API_VERSION } from '../api/index.js';
import type { DesiredState } from '../desired/model.js';
import { asObject, bad, onlyKnown, type ManifestChange } from './edits.js';

const TOP = ['__version__', 'mode', 'name', 'instance_name', 'disk_template', 'disks', 'nics', 'os_type', 'osparams', 'beparams', 'hvparams', 'pnode', 'snode',
  'iallocator', 'start', 'tags', 'hypervisor', 'group_name', 'name_check', 'ip_check', 'conflicts_check'] as const;
const DISK = ['size', 'mode', 'name', 'vg', 'metavg'] as const;
const NIC = ['ip', 'mac', 'network', 'mode', 'link', 'name', 'vlan'] as const;
const BE = ['vcpus', 'maxmem', 'minmem', 'memory', 'auto_balance', 'spindle_use', 'always_failover'] as const;

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || v === '') throw bad(field, 'expected a non-empty string');
  return v;
};
const int = (v: unknown, field: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(field, 'expected a whole number >= 0');
  return v;
};
const list = (v: unknown, field: string): unknown[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(field, 'expected a list');
  return v;
};

function disks(v: unknown): Record<string, unknown>[] {
  return list(v, 'disks').map((d, i) => {
    const o = asObject(d, `disks[${i}]`);
    onlyKnown(o, DISK, `disks[${i}].`);
    if (o.size === undefined) throw bad(`disks[${i}].size`, 'missing (MiB)');
    return {
      size: `${int(o.size, `disks[${i}].size`)}M`,
      ...(o.mode !== undefined ? { mode: o.mode } : {}), ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.vg !== undefined ? { vg: o.vg } : {}), ...(o.metavg !== undefined ? { metaVg: o.metavg } : {}),
    };
  });
}

function nics(v: unknown): Record<string, unknown>[] {
  return list(v, 'nics').map((n, i) => {
    const o = asObject(n, `nics[${i}]`);
    onlyKnown(o, NIC, `nics[${i}].`);
    const ip = o.ip === null || o.ip === undefined ? undefined : o.ip === 'none' ? 'none' : o.ip;
    const mac = o.mac === undefined || o.mac === 'auto' || o.mac === 'generate' ? undefined : o.mac;
    const vlan = typeof o.vlan === 'string' ? Number(o.vlan.replace(/^\./, '')) : o.vlan;
    return {
      ...(o.network !== undefined && o.network !== null ? { network: o.network } : {}), ...(ip !== undefined ? { ip } : {}), ...(mac !== undefined ? { mac } : {}),
      ...(o.mode !== undefined ? { mode: o.mode } : {}), ...(o.link !== undefined ? { link: o.link } : {}), ...(o.name !== undefined ? { name: o.name } : {}),
      ...(vlan !== undefined && vlan !== '' ? { vlan } : {}),
    };
  });
}

function beParams(v: unknown): Record<string, unknown> {
  const o = asObject(v, 'beparams');
  onlyKnown(o, BE, 'beparams.');
  const mem = o.maxmem ?? o.memory;
  if (o.minmem !== undefined && mem !== undefined && o.minmem !== mem) throw bad('beparams.minmem', 'Gantry gives an instance one memory size: minmem must equal maxmem');
  if (o.always_failover === true) throw bad('beparams.always_failover', 'not supported (migration follows the cluster and group migration settings)');
  return {
    ...(o.vcpus !== undefined ? { vcpus: o.vcpus } : {}), ...(mem !== undefined ? { memory: `${int(mem, o.maxmem !== undefined ? 'beparams.maxmem' : 'beparams.memory')}M` } : {}),
    ...(o.auto_balance !== undefined ? { autoBalance: o.auto_balance } : {}), ...(o.spindle_use !== undefined ? { spindleUse: o.spindle_use } : {}),
  };
}

function checks(b: Record<string, unknown>): void {
  for (const f of ['name_check', 'ip_check', 'conflicts_check'] as const) {
    if (b[f] === true) throw bad(f, 'Gantry does not check names or IPs against DNS or the network: pass false');
  }
  if (b.hvparams !== undefined && Object.keys(asObject(b.hvparams, 'hvparams')).length > 0) {
    throw bad(`hvparams.${Object.keys(asObject(b.hvparams, 'hvparams'))[0]}`, 'per-instance hypervisor parameters are not supported through the remote API yet (set them in the manifest)');
  }
  if (b.hypervisor !== undefined && b.hypervisor !== 'kvm') throw bad('hypervisor', `only kvm is supported, got ${JSON.stringify(b.hypervisor)}`);
  if (b.iallocator !== undefined && b.pnode !== undefined) throw bad('iallocator', 'give either iallocator or pnode');
}

/** The new Instance resource for a v1 create request; `state` rejects a name already declared. */
export function createInstanceChange(body: unknown, state: DesiredState): ManifestChange {
  const b = asObject(body, 'body');
  onlyKnown(b, TOP);
  if (b.__version__ !== 1) throw bad('__version__', 'only version 1 requests are supported (instance-create-reqv1)');
  if (b.mode !== 'create') throw bad('mode', `only "create" is supported, got ${JSON.stringify(b.mode)}`);
  const name = str(b.name ?? b.instance_name, 'name');
  if (state.instances.has(name)) throw bad('name', `instance ${name} already exists`);
  checks(b);
  const placement = { ...(b.pnode !== undefined ? { primary: str(b.pnode, 'pnode') } : {}), ...(b.snode !== undefined ? { secondary: str(b.snode, 'snode') } : {}), ...(b.group_name !== undefined ? { group: str(b.group_name, 'group_name') } : {}) };
  const be = beParams(b.beparams);
  const osparams = asObject(b.osparams, 'osparams');
  const spec: Record<string, unknown> = {
    os: { name: str(b.os_type, 'os_type'), ...(Object.keys(osparams).length ? { params: osparams } : {}) },
    diskTemplate: str(b.disk_template, 'disk_template'),
    disks: disks(b.disks),
    nics: nics(b.nics),
    ...(Object.keys(be).length ? { beParams: be } : {}),
    ...(Object.keys(placement).length ? { placement } : {}),
    ...(b.start === false ? { powerState: 'stopped' } : {}),
    ...(b.tags !== undefined ? { tags: list(b.tags, 'tags') } : {}),
  };
  const op = { OP_ID: 'OP_INSTANCE_CREATE', instance_name: name, disk_template: spec.diskTemplate, mode: 'create' };
  return { subject: `Instance/${name}`, what: `create instance ${name}`, op, create: { apiVersion: API_VERSION, kind: 'Instance', metadata: { name }, spec } };
}

/** Manifest paths of a created instance -> the RAPI field they came from (for 400s naming the request's field). */
export const CREATE_FIELD_OF: readonly [RegExp, string][] = [
  [/^spec\.os\.name/, 'os_type'], [/^spec\.os\.params/, 'osparams'], [/^spec\.diskTemplate/, 'disk_template'],
  [/^spec\.disks\[(\d+)\]\.size/, 'disks[$1].size'], [/^spec\.disks\[(\d+)\]\.metaVg/, 'disks[$1].metavg'], [/^spec\.disks\[(\d+)\]\.(\w+)/, 'disks[$1].$2'], [/^spec\.disks/, 'disks'],
  [/^spec\.nics\[(\d+)\]\.(\w+)/, 'nics[$1].$2'], [/^spec\.nics/, 'nics'],
  [/^spec\.beParams\.memory/, 'beparams.maxmem'], [/^spec\.beParams\.autoBalance/, 'beparams.auto_balance'], [/^spec\.beParams\.spindleUse/, 'beparams.spindle_use'], [/^spec\.beParams\.(\w+)/, 'beparams.$1'],
  [/^spec\.placement\.primary/, 'pnode'], [/^spec\.placement\.secondary/, 'snode'], [/^spec\.placement\.group/, 'group_name'], [/^spec\.placement/, 'pnode'],
  [/^spec\.tags/, 'tags'], [/^metadata\.name/, 'name'],
];

export function rapiField(manifestPath: string): string {
  for (const [re, field] of CREATE_FIELD_OF) if (re.test(manifestPath)) return manifestPath.replace(re, field);
  return manifestPath;
}
