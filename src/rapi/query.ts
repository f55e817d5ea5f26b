/**
 * Ganeti's query interface over the remote API (PUT /2/query/RESOURCE, GET
 * /2/query/RESOURCE/fields): the fields of the bulk objects (view.ts) by name, and the
 * subset of Ganeti's filter language (lib/qlang.py) clients send, as nested lists:
 *
 *   ["&", F...]  ["|", F...]  ["!", F]  ["?", field]
 *   ["=", field, value] (also "==")  ["!=", field, value]  ["=~", field, regex]
 *   ["<", ...] [">", ...] ["<=", ...] [">=", ...]  ["=[]", field, value] (list contains)
 *
 * The answer is Ganeti's: {fields: [{name, title, kind, doc}], data: [[[status, value]...]...]}.
 * A field this server does not know is answered as Ganeti does (kind "unknown", status 1
 * RS_UNKNOWN in every row); a filter it cannot read is a 400 naming the part.
 */
import { RapiHttpError } from './server.js';
import type { Json, RapiObject } from './view.js';

const RS_NORMAL = 0;
const RS_UNKNOWN = 1;

export interface FieldDef { readonly name: string; readonly title: string; readonly kind: string; readonly doc: string }

function kindOf(v: Json | undefined): string {
  if (v === undefined) return 'unknown';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'text';
  return 'other';
}

/** Field definitions for the names asked, taken from the first object that has each. */
export function fieldDefs(items: readonly RapiObject[], names: readonly string[]): FieldDef[] {
  return names.map((name) => {
    const holder = items.find((o) => o[name] !== undefined && o[name] !== null) ?? items.find((o) => name in o);
    const kind = holder ? kindOf(holder[name]) : 'unknown';
    return { name, title: name, kind, doc: kind === 'unknown' ? `Unknown field '${name}'` : name };
  });
}

const namesOf = new WeakMap<readonly RapiObject[], string[]>();

/** Every field name the objects have (GET /2/query/RESOURCE/fields without ?fields=), once per list. */
export function allFieldNames(items: readonly RapiObject[]): string[] {
  let names = namesOf.get(items);
  if (!names) {
    const set = new Set<string>();
    for (const o of items) for (const k of Object.keys(o)) set.add(k);
    namesOf.set(items, (names = [...set].sort()));
  }
  return names;
}

type Filter = (o: RapiObject) => boolean;

const bad = (explain: string) => new RapiHttpError(400, 'Bad Request', explain);

function field(known: ReadonlySet<string>, f: unknown, where: string): string {
  if (typeof f !== 'string' || !known.has(f)) throw bad(`${where}: unknown field ${JSON.stringify(f)}`);
  return f;
}

const CMP: Record<string, (a: number | string, b: number | string) => boolean> = {
  '<': (a, b) => a < b, '>': (a, b) => a > b, '<=': (a, b) => a <= b, '>=': (a, b) => a >= b,
};

function comparison(op: string, known: ReadonlySet<string>, args: unknown[], where: string): Filter {
  if (args.length !== 2) throw bad(`${where}: ${op} takes a field and a value`);
  const f = field(known, args[0], where);
  const want = args[1] as Json;
  if (op === '=' || op === '==') return (o) => JSON.stringify(o[f] ?? null) === JSON.stringify(want);
  if (op === '!=') return (o) => JSON.stringify(o[f] ?? null) !== JSON.stringify(want);
  if (op === '=[]') return (o) => Array.isArray(o[f]) && (o[f] as Json[]).some((x) => JSON.stringify(x) === JSON.stringify(want));
  if (op === '=~') {
    if (typeof want !== 'string') throw bad(`${where}: =~ takes a regular expression string`);
    let re: RegExp;
    try { re = new RegExp(want); } catch (e) { throw bad(`${where}: ${(e as Error).message}`); }
    return (o) => typeof o[f] === 'string' && re.test(o[f] as string);
  }
  const cmp = CMP[op];
  if (!cmp) throw bad(`${where}: unknown operator ${JSON.stringify(op)}`);
  if (typeof want !== 'number' && typeof want !== 'string') throw bad(`${where}: ${op} compares with a number or a string`);
  return (o) => typeof o[f] === typeof want && cmp(o[f] as number | string, want);
}

/** Compiles a filter (nested lists) against the known field names; null/absent: everything. */
export function compileFilter(q: unknown, known: ReadonlySet<string>, where = 'qfilter'): Filter {
  if (q === null || q === undefined) return () => true;
  if (!Array.isArray(q) || typeof q[0] !== 'string') throw bad(`${where}: a filter is a list starting with an operator, not ${JSON.stringify(q)}`);
  const [op, ...args] = q as [string, ...unknown[]];
  const sub = (x: unknown, k: number) => compileFilter(x, known, `${where}[${k + 1}]`);
  if (op === '&') { const fs = args.map(sub); return (o) => fs.every((f) => f(o)); }
  if (op === '|') { const fs = args.map(sub); return (o) => fs.some((f) => f(o)); }
  if (op === '!') {
    if (args.length !== 1) throw bad(`${where}: ! takes one filter`);
    const f = sub(args[0], 0);
    return (o) => !f(o);
  }
  if (op === '?') {
    const f = field(known, args[0], where);
    return (o) => { const v = o[f]; return Array.isArray(v) ? v.length > 0 : Boolean(v); };
  }
  return comparison(op, known, args, where);
}

/** The body of PUT /2/query/RESOURCE: {fields: [...], qfilter|filter: [...]}. */
export function runQuery(items: readonly RapiObject[], body: unknown): { fields: FieldDef[]; data: Json[][] } {
  const b = (body ?? {}) as { fields?: unknown; qfilter?: unknown; filter?: unknown };
  if (!Array.isArray(b.fields) || b.fields.length === 0 || b.fields.some((f) => typeof f !== 'string')) {
    throw new RapiHttpError(400, 'Bad Request', 'fields: a non-empty list of field names');
  }
  const names = b.fields as string[];
  const known = new Set(allFieldNames(items));
  const keep = compileFilter(b.qfilter ?? b.filter, known);
  const data = items.filter(keep).map((o) => names.map((n): Json => (known.has(n) ? [RS_NORMAL, o[n] ?? null] : [RS_UNKNOWN, null])));
  return { fields: fieldDefs(items, names), data };
}

/**
 * The result of OpInstanceQueryData (GET /2/instances/[name]/info, a job in Ganeti) for
 * one instance in bulk shape: {name: {config_state, run_state, pnode, snodes, os, disks,
 * nics, hv_*, be_*, ...}}; run_state null when the node is not observed.
 */
export function instanceInfo(i: RapiObject): Record<string, Json> {
  const list = (k: string) => (i[k] ?? []) as Json[];
  const unknownNode = i.status === 'ERROR_nodedown';
  return {
    [i.name as string]: {
      name: i.name ?? null, uuid: i.uuid ?? null, config_state: i.admin_state ?? null,
      run_state: unknownNode ? null : i.oper_state ? 'up' : 'down',
      pnode: i.pnode ?? null, snodes: i.snodes ?? [], os: i.os ?? null, hypervisor: 'kvm', network_port: i.network_port ?? null,
      disk_template: i.disk_template ?? null,
      disks: list('disk.sizes').map((size, k) => ({ size, name: list('disk.names')[k] ?? null, mode: 'rw', iv_name: `disk/${k}` })),
      nics: list('nic.macs').map((mac, k) => ({
        mac, ip: list('nic.ips')[k] ?? null, mode: list('nic.modes')[k] ?? null, link: list('nic.links')[k] ?? null,
        network: list('nic.networks')[k] ?? null, name: list('nic.names')[k] ?? null,
      })),
      hv_instance: i.hvparams ?? {}, hv_actual: i.hvparams ?? {}, be_instance: i.beparams ?? {}, be_actual: i.beparams ?? {},
      os_instance: i.osparams ?? {}, os_actual: i.osparams ?? {}, tags: i.tags ?? [],
      ctime: i.ctime ?? null, mtime: i.mtime ?? null, serial_no: i.serial_no ?? null,
    },
  };
}
