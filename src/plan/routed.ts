/**
 * Routed NICs (Ganeti's mode "routed"): what each one's tap needs (host routes for the
 * guest's addresses, proxy NDP for its gateway6), what the OS scripts learn about each NIC,
 * and the drift of a running instance's taps: a route, proxy entry or tap sysctl lost on
 * the node is re-asserted (nic.routed.ensure); one the plan no longer wants there (an old
 * address, a node the instance left) is removed by its own action (nic.routed.remove).
 * Pure. A start sets the routing up itself (drivers/tap), so nothing is planned for an
 * instance this plan starts; a node whose routing was not read is unknown, not bare.
 */
import type { Action, NicInfo } from '../core/actions.js';
import type { FieldDiff, ObservedCluster, PlanInstance, PlanNetwork, PlanNic, Refusal } from '../core/plan.js';
import type { ObservedNode } from '../core/observed.js';
import type { NicAllocation } from './nics.js';
import { tapName } from '../drivers/tap/tap.js';
import { canonicalIp, routedTapDiffs, type RoutedTapParams } from '../drivers/route/route.js';

export type RoutedNicRouting = Omit<RoutedTapParams, 'tap'>;

/** What a routed NIC's tap needs; undefined for other modes. */
export function routedNicRouting(nic: PlanNic, alloc: NicAllocation | undefined, net: PlanNetwork | undefined): RoutedNicRouting | undefined {
  if (nic.mode !== 'routed') return undefined;
  const addresses = [alloc?.ip, alloc?.ip6].filter((a): a is string => a !== undefined);
  const proxyNdp = alloc?.ip6 !== undefined && net?.gateway6 !== undefined ? [canonicalIp(net.gateway6)] : [];
  // Ganeti's link of a routed NIC is a routing table.
  return { addresses, proxyNdp, ...(nic.link !== '' ? { table: nic.link } : {}) };
}

/** A NIC's addresses and its network's, for the OS scripts (NIC_%d_IP, _IP6, _NETWORK_*). */
export function nicInfoOf(n: NicAllocation, net: PlanNetwork | undefined): NicInfo {
  return {
    ...(n.ip ? { ip: n.ip } : {}), ...(n.ip6 ? { ip6: n.ip6 } : {}), ...(n.network ? { network: n.network } : {}),
    ...(net ? { subnet: net.subnet } : {}), ...(net?.gateway ? { gateway: net.gateway } : {}),
    ...(net?.subnet6 ? { subnet6: net.subnet6 } : {}), ...(net?.gateway6 ? { gateway6: net.gateway6 } : {}),
  };
}

/** A routed NIC with no address has nothing to route (Ganeti's kvm-ifup fails it the same way). */
export function refuseUnroutable(inst: PlanInstance, nics: readonly NicAllocation[]): Refusal[] {
  const bad = (inst.runtime?.nics ?? []).filter((n, i) => n.mode === 'routed' && nics[i]?.ip === undefined && nics[i]?.ip6 === undefined);
  if (bad.length === 0) return [];
  return [{
    subject: `Instance/${inst.name}`, code: 'ROUTED_NIC_NO_ADDRESS',
    message: `routed NIC(s) ${bad.map((n) => n.index).join(', ')} have no IPv4 or IPv6 address, so nothing can be routed to them: give them ip: pool (or a fixed ip) on a network, or a network with subnet6.`,
  }];
}

/** The routing each routed NIC of `inst` wants on its tap, by NIC index. */
export function routedWants(inst: PlanInstance, nics: readonly NicAllocation[], networks: readonly PlanNetwork[]): RoutedTapParams[] {
  return (inst.runtime?.nics ?? []).flatMap((n, i) => {
    const r = routedNicRouting(n, nics[i], networks.find((x) => x.name === n.network));
    return r ? [{ tap: tapName(inst.name, i), ...r }] : [];
  });
}

export interface RoutedDrift { readonly diffs: FieldDiff[]; readonly actions: Action[] }

/**
 * Drift of the instance's routed taps. On `primary`: what is extra on its taps is removed;
 * what is missing is ensured when the instance runs there and this plan does not start it.
 * On every other observed node where no copy of it may run: its taps' entries are stale.
 */
export function planRoutedDrift(
  inst: PlanInstance, primary: string, wants: readonly RoutedTapParams[], observed: ObservedCluster,
  opts: {
    readonly runningOnPrimary: boolean; readonly startPlanned: boolean; readonly mayRunOn: ReadonlySet<string>;
    /** routedTapIndex(observed), built once per plan; made here when not given. */
    readonly tapIndex?: RoutedTapIndex;
  },
): RoutedDrift {
  const out: RoutedDrift = { diffs: [], actions: [] };
  const subject = `Instance/${inst.name}`;
  const taps = (inst.runtime?.nics ?? []).map((_, i) => tapName(inst.name, i));
  if (taps.length === 0 && wants.length === 0) return out; // no NIC: nothing routed anywhere
  // Only the primary and the nodes listing an entry on one of the taps can have drift (a
  // node with no entry on a tap has nothing to remove): not a walk over every node per
  // instance. Visited in observed.nodes order, as a walk over every node would.
  const index = opts.tapIndex ?? routedTapIndex(observed);
  const visit = new Set<string>([primary]);
  for (const tap of taps) for (const node of index.nodesWith.get(tap) ?? []) visit.add(node);
  const inOrder = [...visit].sort((a, b) => (index.order.get(a) ?? -1) - (index.order.get(b) ?? -1));
  for (const node of inOrder) {
    const obs = observed.nodes.get(node);
    if (!obs || !obs.reachable || !obs.routing) continue;
    if (node === primary) {
      planOnPrimary(out, subject, node, obs, wants, opts.runningOnPrimary && !opts.startPlanned);
    } else if (!opts.mayRunOn.has(node)) {
      for (const tap of taps) removeExtra(out, subject, node, obs, { tap, addresses: [], proxyNdp: [] }, `${inst.name} does not run on ${node}`);
    }
  }
  return out;
}

/** Where routed entries are: each device -> the reachable nodes whose routing lists a route, proxy entry or rule on it; and each observed node's position. */
export interface RoutedTapIndex {
  readonly nodesWith: ReadonlyMap<string, readonly string[]>;
  readonly order: ReadonlyMap<string, number>;
}

/** One pass over every reachable node's routing entries (plan() builds it once and hands it to each planRoutedDrift). */
export function routedTapIndex(observed: ObservedCluster): RoutedTapIndex {
  const nodesWith = new Map<string, string[]>();
  const order = new Map<string, number>();
  for (const [node, obs] of observed.nodes) {
    order.set(node, order.size);
    if (!obs.reachable || !obs.routing) continue;
    const devs = new Set<string>();
    for (const r of obs.routing.routes) devs.add(r.dev);
    for (const p of obs.routing.proxies) devs.add(p.dev);
    for (const r of obs.routing.rules) devs.add(r.iif);
    for (const dev of devs) {
      const list = nodesWith.get(dev);
      if (list) list.push(node);
      else nodesWith.set(dev, [node]);
    }
  }
  return { nodesWith, order };
}

/** Extra entries go in any case (after a start, which adds the wanted ones); missing ones are ensured only on a running VM this plan does not start. */
function planOnPrimary(out: RoutedDrift, subject: string, node: string, obs: ObservedNode, wants: readonly RoutedTapParams[], ensure: boolean): void {
  for (const w of wants) {
    if (!obs.taps[w.tap]) continue; // no tap: the instance's next start creates and routes it
    removeExtra(out, subject, node, obs, w, 'not what this NIC routes');
    if (!ensure) continue;
    const diffs = routedTapDiffs(w, { routes: obs.routing!.routes, proxies: obs.routing!.proxies, rules: obs.routing!.rules, sysctls: obs.routing!.tapSysctls });
    if (diffs.length > 0) {
      out.diffs.push(...diffs);
      out.actions.push({
        verb: 'nic.routed.ensure', node, subject, tap: w.tap, addresses: w.addresses, proxyNdp: w.proxyNdp, ...(w.table !== undefined ? { table: w.table } : {}),
        reason: `routed tap ${w.tap}: ${diffs.map((d) => d.path).join(', ')} missing`,
      });
    }
  }
}

/** One removal per route, proxy entry or rule on the tap that `want` does not list. */
function removeExtra(out: RoutedDrift, subject: string, node: string, obs: ObservedNode, want: RoutedTapParams, why: string): void {
  const wantRoutes = new Set(want.addresses.map(canonicalIp));
  const wantProxies = new Set(want.proxyNdp.map(canonicalIp));
  const tap = want.tap;
  const remove = (path: string, seen: string, what: string, fields: Pick<Extract<Action, { verb: 'nic.routed.remove' }>, 'kind' | 'address' | 'table' | 'family'>) => {
    out.diffs.push({ path: `${path}[${tap}]@${node}`, desired: null, observed: seen });
    out.actions.push({ verb: 'nic.routed.remove', node, subject, tap, ...fields, reason: `${what} on ${tap} (${node}): ${why}` });
  };
  for (const e of obs.routing!.routes.filter((x) => x.dev === tap && (!wantRoutes.has(x.dst) || x.table !== want.table))) {
    const t = e.table !== undefined ? ` (table ${e.table})` : '';
    remove('routes', `${e.dst}${t}`, `host route ${e.dst}${t}`, { kind: 'route', address: e.dst, ...(e.table !== undefined ? { table: e.table } : {}) });
  }
  for (const e of obs.routing!.proxies.filter((x) => x.dev === tap && !wantProxies.has(x.dst))) {
    remove('proxyNdp', e.dst, `proxy NDP entry ${e.dst}`, { kind: 'proxy', address: e.dst });
  }
  const wantFamilies = new Set(want.table === undefined ? [] : want.addresses.map((a) => (a.includes(':') ? 6 : 4)));
  for (const r of obs.routing!.rules.filter((x) => x.iif === tap && (x.table !== want.table || !wantFamilies.has(x.family)))) {
    remove('rules', `ipv${r.family} iif ${tap} lookup ${r.table}`, `rule iif ${tap} lookup ${r.table} (IPv${r.family})`, { kind: 'rule', family: r.family, table: r.table });
  }
}
