import type { ObservedVxlan } from '../../core/observed.js';
import { ExecError } from '../../util/errors.js';
import type { Link } from '../bridge/parse.js';
import { isRecord, parseJson } from '../facts/shared.js';

export interface FdbEntry { readonly dev: string; readonly mac: string; readonly dst: string }

/**
 * Static forwarding entries with a remote endpoint (`bridge -j fdb show`): what `bridge fdb
 * add/append ... dst IP` made. Learned (not permanent) entries and plain bridge entries
 * (no dst) are left out.
 */
export function parseFdb(text: string): FdbEntry[] {
  if (text.trim() === '') return [];
  const doc = parseJson(text, 'bridge fdb');
  if (!Array.isArray(doc)) throw new ExecError('PARSE_FAILED', 'bridge fdb: expected a JSON array');
  return doc.filter(isRecord)
    .filter((e) => typeof e.dst === 'string' && typeof e.ifname === 'string' && e.state === 'permanent')
    .map((e) => ({ dev: e.ifname as string, mac: String(e.mac), dst: e.dst as string }));
}

/**
 * VXLAN links from the shared link listing (`ip -j -d link show [type vxlan]`), with their
 * static FDB entries when given (the kernel's own default entry for `remote`/`group` is
 * not listed: `ip link add` makes it again).
 */
export function vxlansFrom(links: readonly Link[], fdb?: readonly FdbEntry[]): Record<string, ObservedVxlan> {
  const out: Record<string, ObservedVxlan> = {};
  for (const l of links.filter((x) => x.kind === 'vxlan')) {
    const d = l.data;
    const s = (k: string): string | undefined => (typeof d[k] === 'string' ? (d[k] as string) : undefined);
    const local = s('local') ?? s('local6');
    const remote = s('remote') ?? s('remote6');
    const group = s('group') ?? s('group6');
    const dev = s('link');
    out[l.name] = {
      name: l.name,
      vni: Number(d.id),
      ...(local !== undefined ? { local } : {}),
      ...(remote !== undefined ? { remote } : {}),
      ...(group !== undefined ? { group } : {}),
      dstPort: typeof d.port === 'number' ? d.port : 8472, // kernel default when unset
      ...(dev !== undefined ? { dev } : {}),
      ...(l.master !== undefined ? { master: l.master } : {}),
      up: l.up,
      ...(fdb ? { fdb: fdb.filter((e) => e.dev === l.name && !(e.mac === '00:00:00:00:00:00' && (e.dst === remote || e.dst === group))).map((e) => ({ mac: e.mac, dst: e.dst })) } : {}),
    };
  }
  return out;
}
