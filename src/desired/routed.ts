/**
 * The node-wide sysctls routed NICs need (Ganeti leaves them to the admin): IPv4
 * forwarding on a node that may host a routed NIC, and IPv6 forwarding when that NIC's
 * network has a subnet6. They join the node profile's sysctls, so the plan shows them as
 * sysctl.set like any other and every pass observes them; a value the profile sets itself
 * wins (the admin's word). Pure.
 */
import type { DesiredInstance, DesiredNode, DesiredState } from './model.js';

export const IPV4_FORWARD = 'net.ipv4.ip_forward';
export const IPV6_FORWARD = 'net.ipv6.conf.all.forwarding';

/**
 * The present instances with a routed NIC, once per desired state (a state is never changed
 * once built): each node's question then walks these few, not every instance of the
 * cluster once per node and per pass.
 */
const routedInstances = new WeakMap<DesiredState, readonly DesiredInstance[]>();

function withRoutedNics(state: DesiredState): readonly DesiredInstance[] {
  let out = routedInstances.get(state);
  if (!out) {
    out = [...state.instances.values()].filter((i) => i.state === 'present' && i.nics.some((n) => n.mode === 'routed'));
    routedInstances.set(state, out);
  }
  return out;
}

/** Networks of the routed NICs that may land on `node`: placed there, or unplaced in its group. */
function routedNetworksOn(node: DesiredNode, state: DesiredState): Set<string | undefined> {
  const out = new Set<string | undefined>();
  for (const i of withRoutedNics(state)) {
    const p = i.placement;
    const here = p.primary === node.name || p.secondary === node.name || (p.primary === undefined && (p.group === undefined || p.group === node.group));
    if (!here) continue;
    for (const n of i.nics) if (n.mode === 'routed') out.add(n.network);
  }
  for (const c of state.groups.get(node.group)?.networks ?? []) if (c.mode === 'routed') out.add(c.network);
  return out;
}

/** The forwarding sysctls `node` needs for routed NICs (empty when it hosts none). */
export function routedNodeSysctls(node: DesiredNode, state: DesiredState): Record<string, string> {
  const nets = routedNetworksOn(node, state);
  if (nets.size === 0) return {};
  const v6 = [...nets].some((n) => n !== undefined && state.networks.get(n)?.subnet6 !== undefined);
  return { [IPV4_FORWARD]: '1', ...(v6 ? { [IPV6_FORWARD]: '1' } : {}) };
}

/** The node's profile sysctls with those routed NICs need; the profile's own values win. */
export function effectiveNodeSysctls(node: DesiredNode, state: DesiredState): Record<string, string> {
  return { ...routedNodeSysctls(node, state), ...node.profile.sysctls };
}
