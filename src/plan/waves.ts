/**
 * Order actions into waves. A wave holds at most one lane per node; lanes run in
 * parallel, actions within a lane run in order. Phases keep dependencies right on
 * every node: network and volume groups before disks, disks before instances,
 * removals last (so nothing is removed before its replacement exists: a bridge gets its
 * new address before an address the manifest dropped is removed).
 */
import type { Action, Verb } from '../core/actions.js';

const PHASE: Record<Verb, number> = {
  'sysctl.set': 0,
  'bridge.ensure': 1,
  'ovs.bridge.ensure': 1,
  'vg.ensure': 1,
  'vxlan.ensure': 2,
  'ovs.port.ensure': 2,
  'lv.create': 3,
  'lv.extend': 3,
  'lv.activate': 3,
  'file.create': 3,
  'file.grow': 3,
  'drbd.create-md': 3.1,
  'drbd.disconnect': 3.15,
  'drbd.up': 3.2,
  'drbd.initial-sync': 3.3,
  'drbd.resize': 3.4,
  'instance.block-resize': 3.5,
  'instance.stop': 4,
  'instance.rename': 4.4,
  'drbd.secondary': 4.5,
  'drbd.primary': 4.6,
  'drbd.single-primary': 4.7,
  'instance.migrate': 5,
  'instance.install': 6,
  'instance.start': 7,
  'nic.routed.ensure': 7,
  'instance.remove': 8,
  'drbd.wait-sync': 8.4,
  'drbd.down': 8.5,
  'lv.remove': 9,
  'lv.untag': 9,
  'file.remove': 9,
  'ovs.port.remove': 10,
  'ovs.port.vlans.remove': 10,
  'bridge.address.remove': 10,
  'nic.routed.remove': 10,
  'vxlan.remove': 10,
  'ovs.bridge.remove': 11,
  'bridge.remove': 11,
};

/** DRBD 9's drbd.disconnect drops the old replica after the new one synced (plan/drbd9-replace): between wait-sync and down. */
const DRBD9_DROP_PHASE = 8.45;

/** A secondary replacement's old secondary taken down (8.4): after the primary's disconnect, before its connect to the new one. */
const DRBD_OLD_DOWN_PHASE = 3.17;

export function phaseOf(a: Action): number {
  if (a.verb === 'drbd.disconnect' && a.v9) return DRBD9_DROP_PHASE;
  if (a.verb === 'drbd.down' && a.beforeConnect) return DRBD_OLD_DOWN_PHASE;
  return PHASE[a.verb] ?? 5;
}

/**
 * Nodes an action touches (a migration touches two: its `peer` names the other node). A
 * `peer` that is not a node name (drbd.up's is the peer's address and port) runs on one node.
 */
export function nodesOf(a: Action): string[] {
  const peer: unknown = (a as { peer?: unknown }).peer;
  return typeof peer === 'string' && peer !== a.node ? [a.node, peer] : [a.node];
}

/** Stable order: by phase, then node, keeping the planner's order within a node. */
export function orderActions(actions: readonly Action[]): Action[] {
  if (actions.length < 2) return [...actions]; // most entries: nothing to order
  return actions
    .map((a, i) => ({ a, i }))
    .sort((x, y) => phaseOf(x.a) - phaseOf(y.a) || x.i - y.i)
    .map((x) => x.a);
}

/**
 * One wave per phase; an action touching two nodes (migration) goes into the first wave
 * of its phase in which neither node is already busy with another two-node action, like
 * htools' splitJobs.
 */
export function buildWaves(actions: readonly Action[]): Action[][] {
  const byPhase = new Map<number, Action[]>();
  for (const a of orderActions(actions)) {
    const p = phaseOf(a);
    if (!byPhase.has(p)) byPhase.set(p, []);
    byPhase.get(p)!.push(a);
  }
  const waves: Action[][] = [];
  for (const p of [...byPhase.keys()].sort((a, b) => a - b)) {
    const list = byPhase.get(p)!;
    const single = list.filter((a) => nodesOf(a).length === 1);
    const multi = list.filter((a) => nodesOf(a).length > 1);
    const sub: { actions: Action[]; busy: Set<string> }[] = [{ actions: [...single], busy: new Set() }];
    for (const a of multi) {
      const ns = nodesOf(a);
      let slot = sub.find((w) => ns.every((n) => !w.busy.has(n)));
      if (!slot) {
        slot = { actions: [], busy: new Set() };
        sub.push(slot);
      }
      slot.actions.push(a);
      ns.forEach((n) => slot.busy.add(n));
    }
    for (const w of sub) if (w.actions.length > 0) waves.push(w.actions);
  }
  return waves;
}
