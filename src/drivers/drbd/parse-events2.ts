/**
 * `drbdsetup events2` lines (8.4 and 9), e.g.
 *   exists device name:r0 volume:0 minor:0 disk:UpToDate
 *   change peer-device name:r0 peer-node-id:1 conn-name:peer volume:0 replication:SyncSource done:37.50
 *   call helper name:r0 peer-node-id:0 conn-name:peer volume:0 minor:0 helper:split-brain
 * A `--now` dump is all "exists" lines ending with "exists -"; a stream adds create /
 * change / destroy. Lines are applied in order, so a stream's tail gives the current
 * state. Object keys: resource by name, connection by (name, peer), device by (name,
 * volume), peer device by (name, peer, volume).
 */
import { ExecError } from '../../util/errors.js';
import { asRole, SYNCING, type DrbdDevice, type DrbdPeer, type DrbdSnapshot, type DrbdSync } from './state.js';

export interface Event2 { readonly verb: string; readonly object: string; readonly fields: Readonly<Record<string, string>> }

export function parseEvent2Line(line: string): Event2 | undefined {
  const words = line.trim().split(/\s+/);
  // "exists -" ends a --now dump; "- skipped N" notes dropped stream events.
  if (words.length < 2 || words[1] === '-' || words[0] === '-') return undefined;
  const fields: Record<string, string> = {};
  for (const w of words.slice(2)) {
    const i = w.indexOf(':');
    if (i <= 0) throw new ExecError('PARSE_FAILED', `events2: cannot read ${JSON.stringify(w)} in ${JSON.stringify(line)}`);
    fields[w.slice(0, i)] = w.slice(i + 1);
  }
  return { verb: words[0]!, object: words[1]!, fields };
}

type Fields = Record<string, string>;
interface Tables { res: Map<string, Fields>; conn: Map<string, Fields>; dev: Map<string, Fields>; pd: Map<string, Fields>; helpers: Set<string> }

function keyOf(e: Event2): string | undefined {
  const f = e.fields;
  switch (e.object) {
    case 'resource': return f.name;
    case 'connection': return `${f.name}/${f['peer-node-id']}`;
    case 'device': return `${f.name}/${f.volume}`;
    case 'peer-device': return `${f.name}/${f['peer-node-id']}/${f.volume}`;
    default: return undefined;
  }
}

function apply(t: Tables, e: Event2): void {
  if (e.verb === 'call' && e.object === 'helper' && e.fields.helper === 'split-brain' && e.fields.name) t.helpers.add(e.fields.name);
  const table = ({ resource: t.res, connection: t.conn, device: t.dev, 'peer-device': t.pd } as Record<string, Map<string, Fields>>)[e.object];
  const key = keyOf(e);
  if (!table || key === undefined) return;
  if (e.verb === 'destroy') { table.delete(key); return; }
  table.set(key, { ...(e.verb === 'change' ? table.get(key) : {}), ...e.fields });
}

const num = (s: string | undefined): number | undefined => (s === undefined || s === '' || !Number.isFinite(Number(s)) ? undefined : Number(s));

function sync(pd: Fields): DrbdSync | undefined {
  const percent = num(pd.done);
  if (!SYNCING.has(pd.replication ?? '') || percent === undefined) return undefined;
  const eta = num(pd.eta);
  const mibps = num(pd.dbdt1);
  return { percent, ...(eta !== undefined ? { etaSec: eta } : {}), ...(mibps !== undefined ? { speedKiBps: Math.round(mibps * 1024) } : {}) };
}

function peersOf(t: Tables, name: string, volume: string): DrbdPeer[] {
  const out: DrbdPeer[] = [];
  for (const c of t.conn.values()) {
    if (c.name !== name) continue;
    const pd = t.pd.get(`${name}/${c['peer-node-id']}/${volume}`) ?? {};
    const s = sync(pd);
    const oos = num(pd['out-of-sync']);
    out.push({
      ...(num(c['peer-node-id']) !== undefined ? { nodeId: num(c['peer-node-id'])! } : {}),
      ...(c['conn-name'] !== undefined ? { name: c['conn-name'] } : {}),
      connection: c.connection ?? 'Unknown',
      ...(pd.replication !== undefined ? { replication: pd.replication } : {}),
      ...(c.role !== undefined ? { role: asRole(c.role)! } : {}),
      ...(pd['peer-disk'] !== undefined ? { disk: pd['peer-disk'] } : {}),
      ...(oos !== undefined ? { outOfSyncKiB: oos } : {}),
      ...(s ? { sync: s } : {}),
    });
  }
  return out;
}

function device(t: Tables, d: Fields): DrbdDevice {
  const name = d.name ?? '';
  const r = t.res.get(name) ?? {};
  return {
    minor: Number(d.minor), resource: name, volume: Number(d.volume ?? 0),
    ...(r.role !== undefined ? { role: asRole(r.role)! } : {}),
    ...(d.disk !== undefined ? { disk: d.disk } : {}),
    ...(d.quorum !== undefined ? { quorum: d.quorum === 'yes' } : {}),
    ...(num(d.size) !== undefined ? { sizeKiB: num(d.size)! } : {}),
    peers: peersOf(t, name, d.volume ?? '0'),
  };
}

/** All lines in order; the resulting state of every device, sorted by minor. */
export function parseEvents2(text: string): DrbdSnapshot {
  const t: Tables = { res: new Map(), conn: new Map(), dev: new Map(), pd: new Map(), helpers: new Set() };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const e = parseEvent2Line(line);
    if (e) apply(t, e);
  }
  const devices = [...t.dev.values()].map((d) => device(t, d)).sort((a, b) => a.minor - b.minor);
  return { devices, resources: [...t.res.keys()].sort(), ...(t.helpers.size ? { splitBrainHelpers: [...t.helpers].sort() } : {}) };
}
