/**
 * Routed NICs, as Ganeti's kvm-ifup does for mode "routed": a host route for each of the
 * instance's addresses to its tap (`proto static`), proxy ARP and forwarding on the tap,
 * and for IPv6 proxy NDP on the tap with a proxy entry for each address the guest must
 * find there (its gateway6). Pure argv builders, parsers of real iproute2/sysctl output,
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
}

/** One host route or proxy entry on a tap, as observed. */
export interface TapEntry { readonly dst: string; readonly dev: string }

/** Removal of one route or proxy entry the plan no longer wants on a tap. */
export interface RoutedEntryRemoveParams { readonly tap: string; readonly kind: 'route' | 'proxy'; readonly address: string }

/** The canonical text of an IP address (RFC 5952 for IPv6, as iproute2 prints it). */
export function canonicalIp(ip: string): string {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try { a = ipaddr.parse(ip); } catch { throw new PrereqError('INVALID_ADDRESS', `invalid IP address ${JSON.stringify(ip)}`); }
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

const isV6 = (ip: string): boolean => ip.includes(':');
const family = (ip: string): string => (isV6(ip) ? '-6' : '-4');
const hostCidr = (ip: string): string => `${canonicalIp(ip)}/${isV6(ip) ? 128 : 32}`;

export function hostRouteAddArgv(tap: string, ip: string): string[] {
  return ['ip', family(ip), 'route', 'replace', hostCidr(ip), 'dev', checkIfName(tap), 'proto', 'static'];
}

export function hostRouteDelArgv(tap: string, ip: string): string[] {
  return ['ip', family(ip), 'route', 'del', hostCidr(ip), 'dev', checkIfName(tap), 'proto', 'static'];
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

/** Host routes Gantry made (`proto static`), every device: one section of the node probe. */
export const staticRoutesArgv = (fam: '-4' | '-6', tap?: string): string[] =>
  ['ip', '-j', fam, 'route', 'show', 'proto', 'static', ...(tap !== undefined ? ['dev', checkIfName(tap)] : [])];
export const proxyNeighArgv = (tap?: string): string[] => ['ip', '-j', '-6', 'neigh', 'show', 'proxy', ...(tap !== undefined ? ['dev', checkIfName(tap)] : [])];
/** The routed-tap sysctls of every Gantry tap ("t-..." and "tx..." names, see drivers/tap). */
export const tapConfArgv = (): string[] => ['sysctl', '-a', '-r', '^net\\.ipv[46]\\.conf\\.t[-x][^.]*\\.(proxy_arp|proxy_ndp|forwarding)$'];

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
    try { out.push({ dst: canonicalIp(e.dst), dev: d }); } catch { /* not an address: not ours */ }
  }
  return out;
}

/** `sysctl -a -r ...` -> key -> value. */
export const parseTapConf = (text: string): Record<string, string> => parseSysctl(text);

// ---- plan what differs (pure) ----

/** What is on the node for one tap (undefined fields: not read, so everything is asserted). */
export interface RoutedTapObserved {
  readonly routes?: readonly TapEntry[];
  readonly proxies?: readonly TapEntry[];
  readonly sysctls?: Readonly<Record<string, string>>;
}

/** Field-level differences, for the plan's drift report. */
export function routedTapDiffs(p: RoutedTapParams, o: RoutedTapObserved): { path: string; desired: unknown; observed: unknown }[] {
  const out: { path: string; desired: unknown; observed: unknown }[] = [];
  const routes = (o.routes ?? []).filter((r) => r.dev === p.tap).map((r) => r.dst);
  const proxies = (o.proxies ?? []).filter((r) => r.dev === p.tap).map((r) => r.dst);
  const want = p.addresses.map(canonicalIp);
  const wantProxy = p.proxyNdp.map(canonicalIp);
  if (o.routes === undefined || want.some((a) => !routes.includes(a))) out.push({ path: `routes[${p.tap}]`, desired: want, observed: o.routes === undefined ? null : routes });
  if (wantProxy.length > 0 && (o.proxies === undefined || wantProxy.some((a) => !proxies.includes(a)))) out.push({ path: `proxyNdp[${p.tap}]`, desired: wantProxy, observed: o.proxies === undefined ? null : proxies });
  for (const [k, v] of Object.entries(tapSysctls(p))) {
    const have = o.sysctls?.[k];
    if (have !== v) out.push({ path: `sysctls.${k}`, desired: v, observed: have ?? null });
  }
  return out;
}

/** The commands that bring the tap's routing to `p`: everything missing (all of it when unread). */
export function planRoutedTap(p: RoutedTapParams, o: RoutedTapObserved = {}): string[][] {
  const routes = new Set((o.routes ?? []).filter((r) => r.dev === p.tap).map((r) => r.dst));
  const proxies = new Set((o.proxies ?? []).filter((r) => r.dev === p.tap).map((r) => r.dst));
  const sysctls = Object.fromEntries(Object.entries(tapSysctls(p)).filter(([k, v]) => o.sysctls?.[k] !== v));
  return [
    // Proxy ARP/NDP and forwarding before the routes: the guest is answered as soon as it is routed.
    ...(Object.keys(sysctls).length > 0 ? [sysctlsWriteArgv(sysctls)] : []),
    ...p.addresses.filter((a) => !routes.has(canonicalIp(a))).map((a) => hostRouteAddArgv(p.tap, a)),
    ...p.proxyNdp.filter((a) => !proxies.has(canonicalIp(a))).map((a) => proxyNdpAddArgv(p.tap, a)),
  ];
}

// ---- operations (the executor binds an action to these) ----

const readsFor = (tap: string): string[][] => [staticRoutesArgv('-4', tap), staticRoutesArgv('-6', tap), proxyNeighArgv(tap), tapConfArgv()];

function observedFrom(tap: string, reads: readonly ExecResult[]): RoutedTapObserved | Decision {
  const [r4, r6, px, sc] = reads;
  if (!r4 || !r6 || !px || !sc) throw new Error('routed tap: expected four read results');
  const failed = [r4, r6, px].find((r) => r.code !== 0);
  if (failed) {
    if (/Cannot find device/.test(failed.stderr)) return { kind: 'refuse', error: new PrereqError('TAP_NOT_FOUND', `tap ${tap} does not exist: the instance must be started (which creates and routes it)`, { tap }) };
    return { kind: 'refuse', error: readFailed(failed, 'ROUTE_READ_FAILED') };
  }
  return { routes: [...parseTapEntries(r4.stdout, tap), ...parseTapEntries(r6.stdout, tap)], proxies: parseTapEntries(px.stdout, tap), sysctls: parseTapConf(sc.stdout) };
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

/** Remove one host route or proxy entry from a tap; already gone is fine. */
export const routedEntryRemoveOp: EnsureOp<RoutedEntryRemoveParams> = {
  read: (a) => readsFor(a.tap),
  describe: (a) => [a.kind === 'route' ? hostRouteDelArgv(a.tap, a.address) : proxyNdpDelArgv(a.tap, a.address)],
  decide(a, reads): Decision {
    const o = observedFrom(a.tap, reads);
    if ('kind' in o) return o.kind === 'refuse' && o.error.code === 'TAP_NOT_FOUND' ? NOOP : o;
    const have = (a.kind === 'route' ? o.routes : o.proxies) ?? [];
    return have.some((e) => e.dst === canonicalIp(a.address)) ? runAll([routedEntryRemoveOp.describe(a)[0]!]) : NOOP;
  },
};
