/**
 * Routed NICs, as Ganeti's kvm-ifup does for mode "routed": a host route for each of the
 * instance's addresses to its tap (`proto static`), proxy ARP and forwarding on the tap,
 * and for IPv6 proxy NDP on the tap with a proxy entry for each address the guest must
 * find there (its gateway6). With a routing table (Ganeti's link of a routed NIC) the
 * routes go into that table and an `ip rule` sends what comes from the tap to it. Pure argv builders, parsers of real iproute2/sysctl output,
 * a pure planner of what differs, and the ensure/remove operations the executor runs.
 */
import ipaddr from 'ipaddr.js';
import { checkIfName, isRecord, NOOP, parseJson, readFailed, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { checkSysctlKey } from '../sysctl/commands.js';
import { parseSysctl } from '../sysctl/parse.js';
import { PrereqError } from '../../util/errors.js';
import type { ExecResult } from '../../transport/transport.js';

/** What one routed tap needs: host addresses routed to it, addresses it answers NDP for. */
export interface RoutedTapParams {
  readonly tap: string;
  /** The guest's IPv4 and IPv6 addresses (no prefix): each gets a host route to the tap. */
  readonly addresses: readonly string[];
  /** IPv6 addresses the node answers neighbour solicitations for on the tap (the gateway6). */
  readonly proxyNdp: readonly string[];
  /** Routing table (name from rt_tables, or number) for the routes and the tap's `ip rule`; absent = main, no rule. */
  readonly table?: string;
}

/** One host route (with its table; absent = main) or proxy entry on a tap, as observed. */
export interface TapEntry { readonly dst: string; readonly dev: string; readonly table?: string }

/** One policy rule "from this interface, look up that table", as observed. */
export interface TapRule { readonly family: 4 | 6; readonly iif: string; readonly table: string }

/**
 * Removal of one entry the plan no longer wants on a tap: a host route (`address`, in
 * `table`), a proxy NDP entry (`address`), or the tap's rule (`family`, `table`).
 */
export interface RoutedEntryRemoveParams { readonly tap: string; readonly kind: 'route' | 'proxy' | 'rule'; readonly address?: string; readonly table?: string; readonly family?: 4 | 6 }

/** The canonical text of an IP address (RFC 5952 for IPv6, as iproute2 prints it). */
export function canonicalIp(ip: string): string {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try { a = ipaddr.parse(ip); } catch { throw new PrereqError('INVALID_ADDRESS', `invalid IP address ${JSON.stringify(ip)}`); }
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

const isV6 = (ip: string): boolean => ip.includes(':');
const family = (ip: string): string => (isV6(ip) ? '-6' : '-4');
const hostCidr = (ip: string): string => `${canonicalIp(ip)}/${isV6(ip) ? 128 : 32}`;
const TABLE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const tableArgs = (table: string | undefined): string[] => {
  if (table === undefined) return [];
  if (!TABLE.test(table)) throw new PrereqError('INVALID_NAME', `invalid routing table ${JSON.stringify(table)}`);
  return ['table', table];
};

export function hostRouteAddArgv(tap: string, ip: string, table?: string): string[] {
  return ['ip', family(ip), 'route', 'replace', hostCidr(ip), 'dev', checkIfName(tap), 'proto', 'static', ...tableArgs(table)];
}

export function hostRouteDelArgv(tap: string, ip: string, table?: string): string[] {
  return ['ip', family(ip), 'route', 'del', hostCidr(ip), 'dev', checkIfName(tap), 'proto', 'static', ...tableArgs(table)];
}

/** `ip rule add` does not refuse a duplicate: the ensure adds it only when it is not there. */
export function tapRuleAddArgv(tap: string, fam: 4 | 6, table: string): string[] {
  return ['ip', `-${fam}`, 'rule', 'add', 'iif', checkIfName(tap), ...tableArgs(table)];
}

export function tapRuleDelArgv(tap: string, fam: 4 | 6, table: string): string[] {
  return ['ip', `-${fam}`, 'rule', 'del', 'iif', checkIfName(tap), ...tableArgs(table)];
}

export function proxyNdpAddArgv(tap: string, ip: string): string[] {
  if (!isV6(ip)) throw new PrereqError('INVALID_ADDRESS', `proxy NDP needs an IPv6 address, not ${JSON.stringify(ip)}`);
  return ['ip', '-6', 'neigh', 'replace', 'proxy', canonicalIp(ip), 'dev', checkIfName(tap)];
}

export function proxyNdpDelArgv(tap: string, ip: string): string[] {
  return ['ip', '-6', 'neigh', 'del', 'proxy', canonicalIp(ip), 'dev', checkIfName(tap)];
}

/**
 * The per-tap sysctls a routed tap needs, like Ganeti's setup_route: proxy_arp and
 * forwarding for IPv4; proxy_ndp and forwarding for IPv6 (the kernel answers a proxied
 * solicitation only on an interface that forwards).
 */
export function tapSysctls(p: RoutedTapParams): Record<string, string> {
  const tap = checkIfName(p.tap);
  const out: Record<string, string> = {};
  if (p.addresses.some((a) => !isV6(a))) {
    out[`net.ipv4.conf.${tap}.proxy_arp`] = '1';
    out[`net.ipv4.conf.${tap}.forwarding`] = '1';
  }
  if (p.addresses.some(isV6) || p.proxyNdp.length > 0) {
    out[`net.ipv6.conf.${tap}.proxy_ndp`] = '1';
    out[`net.ipv6.conf.${tap}.forwarding`] = '1';
  }
  return out;
}

export function sysctlsWriteArgv(kv: Readonly<Record<string, string>>): string[] {
  return ['sysctl', '-w', ...Object.entries(kv).map(([k, v]) => `${checkSysctlKey(k)}=${v}`)];
}

// ---- probe (read-only) ----

/** Host routes Gantry made (`proto static`), every device and table: one section of the node probe. */
export const staticRoutesArgv = (fam: '-4' | '-6', tap?: string): string[] =>
  ['ip', '-j', fam, 'route', 'show', 'table', 'all', 'proto', 'static', ...(tap !== undefined ? ['dev', checkIfName(tap)] : [])];
/** Policy rules (those with an `iif` are read; Gantry's are per tap). */
export const rulesArgv = (fam: '-4' | '-6'): string[] => ['ip', '-j', fam, 'rule', 'show'];
export const proxyNeighArgv = (tap?: string): string[] => ['ip', '-j', '-6', 'neigh', 'show', 'proxy', ...(tap !== undefined ? ['dev', checkIfName(tap)] : [])];
/**
 * The routed-tap sysctls of every Gantry tap ("t-..." and "tx..." names, see drivers/tap).
 * Only the two conf trees are walked, not `sysctl -a`'s whole /proc/sys (8-10 s of a VM
 * node's probe under TCG at load 20, bench/README.md); a kernel without net.ipv6.conf makes
 * the read fail (exit 1), never look empty.
 */
export const tapConfArgv = (): string[] => ['sysctl', '-r', '^net\\.ipv[46]\\.conf\\.t[-x][^.]*\\.(proxy_arp|proxy_ndp|forwarding)$', 'net.ipv4.conf', 'net.ipv6.conf'];

/**
 * `ip -j [-4|-6] route show proto static [dev X]` or `ip -j -6 neigh show proxy [dev X]`
 * -> entries. With `dev X` iproute2 leaves the device out of each entry: `dev` fills it.
 * Addresses come back canonical; "dst" with a prefix ("198.18.0.0/24") is not a host entry
 * and is skipped (Gantry makes host routes only).
 */
export function parseTapEntries(json: string, dev?: string): TapEntry[] {
  const text = json.trim();
  if (!text) return [];
  const data = parseJson(text, 'ip -j');
  if (!Array.isArray(data)) throw new PrereqError('PARSE_FAILED', 'ip -j output is not a JSON array');
  const out: TapEntry[] = [];
  for (const e of data) {
    if (!isRecord(e) || typeof e.dst !== 'string') continue;
    const d = typeof e.dev === 'string' ? e.dev : dev;
    if (d === undefined || e.dst.includes('/') || e.dst === 'default') continue;
    const table = typeof e.table === 'string' && e.table !== 'main' ? e.table : undefined;
    try { out.push({ dst: canonicalIp(e.dst), dev: d, ...(table !== undefined ? { table } : {}) }); } catch { /* not an address: not ours */ }
  }
  return out;
}

/** `ip -j -4|-6 rule show` -> the rules that match on an input interface. */
export function parseTapRules(json: string, fam: 4 | 6): TapRule[] {
  const text = json.trim();
  if (!text) return [];
  const data = parseJson(text, 'ip -j rule');
  if (!Array.isArray(data)) throw new PrereqError('PARSE_FAILED', 'ip -j rule output is not a JSON array');
  return data.filter(isRecord).filter((r) => typeof r.iif === 'string' && typeof r.table === 'string')
    .map((r) => ({ family: fam, iif: r.iif as string, table: r.table as string }));
}

/** `sysctl -r ... net.ipv4.conf net.ipv6.conf` (tapConfArgv) -> key -> value. */
export const parseTapConf = (text: string): Record<string, string> => parseSysctl(text);

// ---- plan what differs (pure) ----

/** What is on the node for one tap (undefined fields: not read, so everything is asserted). */
export interface RoutedTapObserved {
  readonly routes?: readonly TapEntry[];
  readonly proxies?: readonly TapEntry[];
  readonly rules?: readonly TapRule[];
  readonly sysctls?: Readonly<Record<string, string>>;
}

/** The rule families a tap needs: one per address family it routes, only with a table. */
function wantedRules(p: RoutedTapParams): (4 | 6)[] {
  if (p.table === undefined) return [];
  return [...(p.addresses.some((a) => !isV6(a)) ? [4 as const] : []), ...(p.addresses.some(isV6) ? [6 as const] : [])];
}

const sameTable = (e: { table?: string }, table: string | undefined): boolean => e.table === table;
const hasRule = (o: RoutedTapObserved, tap: string, fam: 4 | 6, table: string): boolean =>
  (o.rules ?? []).some((r) => r.iif === tap && r.family === fam && r.table === table);

/** Field-level differences, for the plan's drift report. */
export function routedTapDiffs(p: RoutedTapParams, o: RoutedTapObserved): { path: string; desired: unknown; observed: unknown }[] {
  const out: { path: string; desired: unknown; observed: unknown }[] = [];
  const routes = (o.routes ?? []).filter((r) => r.dev === p.tap && sameTable(r, p.table)).map((r) => r.dst);
  const proxies = (o.proxies ?? []).filter((r) => r.dev === p.tap).map((r) => r.dst);
  const want = p.addresses.map(canonicalIp);
  const wantProxy = p.proxyNdp.map(canonicalIp);
  const at = p.table !== undefined ? ` (table ${p.table})` : '';
  if (o.routes === undefined || want.some((a) => !routes.includes(a))) out.push({ path: `routes[${p.tap}]${at}`, desired: want, observed: o.routes === undefined ? null : routes });
  for (const fam of wantedRules(p)) {
    if (o.rules === undefined || !hasRule(o, p.tap, fam, p.table!)) out.push({ path: `rules[${p.tap}].ipv${fam}`, desired: `iif ${p.tap} lookup ${p.table}`, observed: null });
  }
  if (wantProxy.length > 0 && (o.proxies === undefined || wantProxy.some((a) => !proxies.includes(a)))) out.push({ path: `proxyNdp[${p.tap}]`, desired: wantProxy, observed: o.proxies === undefined ? null : proxies });
  for (const [k, v] of Object.entries(tapSysctls(p))) {
    const have = o.sysctls?.[k];
    if (have !== v) out.push({ path: `sysctls.${k}`, desired: v, observed: have ?? null });
  }
  return out;
}

/** The commands that bring the tap's routing to `p`: everything missing (all of it when unread). */
export function planRoutedTap(p: RoutedTapParams, o: RoutedTapObserved = {}): string[][] {
  const routes = new Set((o.routes ?? []).filter((r) => r.dev === p.tap && sameTable(r, p.table)).map((r) => r.dst));
  const proxies = new Set((o.proxies ?? []).filter((r) => r.dev === p.tap).map((r) => r.dst));
  const sysctls = Object.fromEntries(Object.entries(tapSysctls(p)).filter(([k, v]) => o.sysctls?.[k] !== v));
  return [
    // Proxy ARP/NDP and forwarding before the routes: the guest is answered as soon as it is routed.
    ...(Object.keys(sysctls).length > 0 ? [sysctlsWriteArgv(sysctls)] : []),
    ...wantedRules(p).filter((fam) => !hasRule(o, p.tap, fam, p.table!)).map((fam) => tapRuleAddArgv(p.tap, fam, p.table!)),
    ...p.addresses.filter((a) => !routes.has(canonicalIp(a))).map((a) => hostRouteAddArgv(p.tap, a, p.table)),
    ...p.proxyNdp.filter((a) => !proxies.has(canonicalIp(a))).map((a) => proxyNdpAddArgv(p.tap, a)),
  ];
}

// ---- operations (the executor binds an action to these) ----

/** The read-only commands that show one tap's routing (routes, proxies, sysctls, rules). */
export const routedTapReadsArgv = (tap: string): string[][] => readsFor(tap);

/**
 * What those reads show, for a tap that may not exist yet (a VM start): a missing device
 * has no routes or proxies, but rules name interfaces and outlive them, so they still count.
 */
export function routedTapObservedForStart(tap: string, reads: readonly ExecResult[]): RoutedTapObserved {
  const o = observedFrom(tap, reads);
  if (!('kind' in o)) return o;
  if (o.kind === 'refuse' && o.error.code === 'TAP_NOT_FOUND') {
    const [, , , sc, u4, u6] = reads;
    return { routes: [], proxies: [], rules: [...parseTapRules(u4!.stdout, 4), ...parseTapRules(u6!.stdout, 6)], sysctls: parseTapConf(sc!.stdout) };
  }
  throw o.kind === 'refuse' ? o.error : new Error('routed tap: unexpected decision');
}

const readsFor = (tap: string): string[][] => [staticRoutesArgv('-4', tap), staticRoutesArgv('-6', tap), proxyNeighArgv(tap), tapConfArgv(), rulesArgv('-4'), rulesArgv('-6')];

function observedFrom(tap: string, reads: readonly ExecResult[]): RoutedTapObserved | Decision {
  const [r4, r6, px, sc, u4, u6] = reads;
  if (!r4 || !r6 || !px || !sc || !u4 || !u6) throw new Error('routed tap: expected six read results');
  const failed = [r4, r6, px, u4, u6].find((r) => r.code !== 0);
  if (failed) {
    if (/Cannot find device/.test(failed.stderr)) return { kind: 'refuse', error: new PrereqError('TAP_NOT_FOUND', `tap ${tap} does not exist: the instance must be started (which creates and routes it)`, { tap }) };
    return { kind: 'refuse', error: readFailed(failed, 'ROUTE_READ_FAILED') };
  }
  return {
    routes: [...parseTapEntries(r4.stdout, tap), ...parseTapEntries(r6.stdout, tap)], proxies: parseTapEntries(px.stdout, tap),
    rules: [...parseTapRules(u4.stdout, 4), ...parseTapRules(u6.stdout, 6)], sysctls: parseTapConf(sc.stdout),
  };
}

/** Make the tap routed as `p` says; adds and sets only (a stale entry is routedEntryRemoveOp's). */
export const routedTapEnsureOp: EnsureOp<RoutedTapParams> = {
  read: (a) => readsFor(a.tap),
  describe: (a) => planRoutedTap(a),
  decide(a, reads): Decision {
    const o = observedFrom(a.tap, reads);
    if ('kind' in o) return o;
    return runAll(planRoutedTap(a, o));
  },
};

function removeArgv(a: RoutedEntryRemoveParams): string[] {
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new PrereqError('INVALID_ACTION', `nic.routed.remove ${a.kind} on ${a.tap} names no ${what}`);
    return v;
  };
  if (a.kind === 'rule') return tapRuleDelArgv(a.tap, need(a.family, 'family'), need(a.table, 'table'));
  if (a.kind === 'route') return hostRouteDelArgv(a.tap, need(a.address, 'address'), a.table);
  return proxyNdpDelArgv(a.tap, need(a.address, 'address'));
}

/** Whether the entry a removal names is still there. */
function present(a: RoutedEntryRemoveParams, o: RoutedTapObserved): boolean {
  if (a.kind === 'rule') return (o.rules ?? []).some((r) => r.iif === a.tap && r.family === a.family && r.table === a.table);
  const list = (a.kind === 'route' ? o.routes : o.proxies) ?? [];
  const dst = canonicalIp(a.address ?? '');
  return list.some((e) => e.dst === dst && (a.kind === 'proxy' || sameTable(e, a.table)));
}

/** Remove one host route, proxy entry or rule from a tap; already gone is fine. */
export const routedEntryRemoveOp: EnsureOp<RoutedEntryRemoveParams> = {
  read: (a) => readsFor(a.tap),
  describe: (a) => [removeArgv(a)],
  decide(a, reads): Decision {
    const o = observedFrom(a.tap, reads);
    if ('kind' in o) return o.kind === 'refuse' && o.error.code === 'TAP_NOT_FOUND' ? NOOP : o;
    return present(a, o) ? runAll([removeArgv(a)]) : NOOP;
  },
};
