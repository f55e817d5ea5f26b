/**
 * Each node's condition for this pass, from its previous condition (state directory,
 * liveness.json), this pass's probe, its declared role and the time. Pure: the caller
 * passes the clock's reading. One probe = one pass; a node is only Dead through
 * `confirmDead` (its out-of-band program said power off) and stays Dead until its probe
 * answers again.
 */
import type { FenceRecord, LivenessPolicy, NodeLiveness } from '../core/liveness.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';

export interface LivenessNode {
  readonly name: string;
  readonly role: string;
}

/** One node's next condition. `obs` undefined = not probed (an offline node's own probe is apart: it stays Offline). */
export function nextNodeLiveness(prev: NodeLiveness | undefined, node: LivenessNode, obs: ObservedNode | undefined, now: string, policy: LivenessPolicy): NodeLiveness {
  const name = node.name;
  const lastSeen = prev?.lastSeen !== undefined ? { lastSeen: prev.lastSeen } : {};
  if (node.role === 'offline') {
    // Its read-only probe answered in this Offline spell (now or before): what it last showed is from after its declaration.
    const answered = obs?.reachable === true || (prev?.condition === 'Offline' && prev.answeredOffline === true);
    return { node: name, condition: 'Offline', since: prev?.condition === 'Offline' ? prev.since : now, missedProbes: 0, ...(obs?.reachable ? { lastSeen: now } : lastSeen), ...(answered ? { answeredOffline: true as const } : {}) };
  }
  if (obs?.reachable) return { node: name, condition: 'Ready', since: prev?.condition === 'Ready' ? prev.since : now, missedProbes: 0, lastSeen: now };
  const error = obs?.error ?? 'not observed';
  const missedProbes = (prev && prev.condition !== 'Ready' && prev.condition !== 'Offline' ? prev.missedProbes : 0) + 1;
  if (prev?.condition === 'Dead') return { ...prev, missedProbes, error };
  const since = prev?.condition === 'Unreachable' ? prev.since : now;
  const graceOver = missedProbes >= policy.missedProbes && Date.parse(now) - Date.parse(since) >= policy.graceSeconds * 1000;
  return { node: name, condition: 'Unreachable', since, missedProbes, ...lastSeen, error, graceOver };
}

/** Every declared node's next condition, in name order. */
export function nextLiveness(
  prev: ReadonlyMap<string, NodeLiveness> | undefined, nodes: readonly LivenessNode[], observed: ReadonlyMap<string, ObservedNode>, now: string, policy: LivenessPolicy,
): Map<string, NodeLiveness> {
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  return new Map(sorted.map((n) => [n.name, nextNodeLiveness(prev?.get(n.name), n, observed.get(n.name), now, policy)]));
}

/** A probe between passes that got no answer (the daemon's heartbeat: no TCP answer on the node's SSH port in time). */
export interface MissedProbe {
  /** ISO time the probe gave up. */
  readonly at: string;
  readonly error: string;
}

/**
 * The conditions with the missed probes made between passes counted in, oldest first: each
 * is one more missed probe at its own time, exactly as a pass's failed probe is. A miss
 * not later than the node's last answer (lastSeen) is stale and ignored; an offline node's
 * misses are not counted (its condition is its role). Only misses count here: an answer
 * between passes proves nothing about the node's state, so Ready comes only from a pass
 * that observed it.
 */
export function withMissedProbes(
  prev: ReadonlyMap<string, NodeLiveness> | undefined, nodes: readonly LivenessNode[], misses: ReadonlyMap<string, readonly MissedProbe[]>, policy: LivenessPolicy,
): Map<string, NodeLiveness> | undefined {
  if (misses.size === 0) return prev ? new Map(prev) : undefined;
  const out = new Map(prev ?? []);
  for (const node of nodes) {
    if (node.role === 'offline') continue;
    const list = [...(misses.get(node.name) ?? [])].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    let l = out.get(node.name);
    for (const m of list) {
      if (l?.lastSeen !== undefined && Date.parse(m.at) <= Date.parse(l.lastSeen)) continue;
      l = nextNodeLiveness(l, node, emptyObservedNode(node.name, m.at, m.error), m.at, policy);
    }
    if (l) out.set(node.name, l);
  }
  return out;
}

/** An unreachable node whose program confirmed power off becomes Dead; a node that answered is never made Dead. */
export function confirmDead(l: NodeLiveness, fence: FenceRecord): NodeLiveness {
  if (l.condition !== 'Unreachable' || fence.powered) return l;
  const { graceOver: _g, ...rest } = l;
  return { ...rest, condition: 'Dead', since: fence.at, detected: l.since, fence };
}

/** "Unreachable since 12:00:01Z, 2 missed probes (grace: 3 probes over 10 s)" and the like, for reports. */
export function describeLiveness(l: NodeLiveness, policy?: LivenessPolicy): string {
  switch (l.condition) {
    case 'Ready': return `Ready since ${l.since}`;
    case 'Offline': return `Offline (declared in its Node spec) since ${l.since}`;
    case 'Dead': return `Dead since ${l.since}: its out-of-band program confirmed power off (${l.fence?.verbs.join(', ') ?? 'fenced'})`;
    case 'Unreachable': {
      const grace = l.graceOver ? ' (grace over)' : policy ? ` (in its grace: ${policy.missedProbes} probes over ${policy.graceSeconds} s)` : ' (in its grace)';
      return `Unreachable since ${l.since}, ${l.missedProbes} missed probe${l.missedProbes === 1 ? '' : 's'}${grace}${l.lastSeen ? `; last seen ${l.lastSeen}` : ''}`;
    }
  }
}
