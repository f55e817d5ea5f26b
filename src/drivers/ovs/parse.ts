/**
 * Parsers for `ovs-vsctl --format=json list TABLE`. OVSDB encodes values as: atoms
 * (string, number, boolean), ["uuid", id], ["set", [atoms]] (a one-element set is the
 * bare atom, an empty set is ["set", []]) and ["map", [[k, v], ...]].
 */
import type { ObservedOvs, ObservedOvsPort } from '../../core/observed.js';
import { ExecError } from '../../util/errors.js';
import { isRecord, parseJson } from '../facts/shared.js';

export type OvsAtom = string | number | boolean | { readonly uuid: string };
export type OvsValue = OvsAtom | OvsAtom[] | Record<string, OvsAtom>;

function atom(v: unknown): OvsAtom {
  if (Array.isArray(v) && v[0] === 'uuid' && typeof v[1] === 'string') return { uuid: v[1] };
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  throw new ExecError('PARSE_FAILED', `ovsdb: unexpected atom ${JSON.stringify(v)}`);
}

export function decodeValue(v: unknown): OvsValue {
  if (Array.isArray(v) && v[0] === 'set' && Array.isArray(v[1])) return v[1].map(atom);
  if (Array.isArray(v) && v[0] === 'map' && Array.isArray(v[1])) {
    const out: Record<string, OvsAtom> = {};
    for (const kv of v[1]) if (Array.isArray(kv)) out[String(atom(kv[0]))] = atom(kv[1]);
    return out;
  }
  return atom(v);
}

/** A value as a set: bare atoms become one-element lists. */
export function asSet(v: OvsValue | undefined): OvsAtom[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (typeof v === 'object' && !('uuid' in v)) return Object.values(v as Record<string, OvsAtom>);
  return [v as OvsAtom];
}
const uuidOf = (a: OvsAtom): string | undefined => (typeof a === 'object' ? a.uuid : undefined);

/** Rows of one table as records keyed by heading. */
export function parseTable(text: string): Record<string, OvsValue>[] {
  const doc = parseJson(text, 'ovs-vsctl');
  if (!isRecord(doc) || !Array.isArray(doc.headings) || !Array.isArray(doc.data)) throw new ExecError('PARSE_FAILED', 'ovs-vsctl: expected {headings, data}');
  const headings = doc.headings.map(String);
  return doc.data.filter(Array.isArray).map((row: unknown[]) => Object.fromEntries(headings.map((h, i) => [h, decodeValue(row[i])])));
}

/**
 * Join Bridge, Port and Interface tables into the snapshot. The bridge's own internal
 * port (named like the bridge) is left out: it always exists and no desired state lists it.
 */
/** `listAllCmd`'s output: the Bridge, Port and Interface tables, one JSON document a line. */
export function parseOvsListAll(text: string): ObservedOvs {
  const tables = text.split('\n').filter((l) => l.trim() !== '');
  if (tables.length !== 3) throw new ExecError('PARSE_FAILED', `ovs-vsctl printed ${tables.length} tables, want 3 (Bridge, Port, Interface)`);
  return parseOvs(tables[0]!, tables[1]!, tables[2]!);
}

export function parseOvs(bridgesText: string, portsText: string, interfacesText: string): ObservedOvs {
  const ifaces = new Map(parseTable(interfacesText).map((r) => [uuidOf(r._uuid as OvsAtom), r]));
  const ports = new Map(parseTable(portsText).map((r) => [uuidOf(r._uuid as OvsAtom), r]));
  const bridges: Record<string, ObservedOvs['bridges'][string]> = {};
  for (const b of parseTable(bridgesText)) {
    const name = String(b.name);
    const out: Record<string, ObservedOvsPort> = {};
    for (const ref of asSet(b.ports)) {
      const p = ports.get(uuidOf(ref));
      if (!p || String(p.name) === name) continue;
      const tag = asSet(p.tag)[0];
      const iface = ifaces.get(uuidOf(asSet(p.interfaces)[0] ?? ''));
      const type = iface ? String(iface.type) : '';
      out[String(p.name)] = {
        name: String(p.name),
        ...(typeof tag === 'number' ? { tag } : {}),
        trunks: asSet(p.trunks).filter((t): t is number => typeof t === 'number').sort((x, y) => x - y),
        type: type === '' ? 'system' : type,
      };
    }
    bridges[name] = { name, datapathType: String(asSet(b.datapath_type)[0] ?? ''), ports: out };
  }
  return { bridges };
}

/** ovs-vsctl could not reach ovsdb-server (no OVS on this node, or it is down). */
export const isNoServer = (stderr: string): boolean => /database connection failed|Connection refused|No such file or directory/.test(stderr);
