import type { ObservedVxlan } from '../../core/observed.js';
import type { Link } from '../bridge/parse.js';

/** VXLAN links from the shared link listing (`ip -j -d link show [type vxlan]`). */
export function vxlansFrom(links: readonly Link[]): Record<string, ObservedVxlan> {
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
    };
  }
  return out;
}
