/**
 * What the operator does to the manifests between passes: the workload of the campaign.
 * Moves (migrations), power changes, restarts, reinstalls, growth, deletions (with and
 * without deleteDisks), forgetting a deleted instance, new instances, and draining a node
 * (role: drained; at most one at a time, undrained by a later drain edit), and declaring a
 * node offline (role: offline; at most one at a time, back by a later offline edit): whether
 * it still runs guests (an admin's word ahead of the facts: harep's migrate, never a second
 * copy) or is down with a fault (failover, fix-storage and reinstall repairs).
 */
import type { World } from './world.js';

export const EDIT_KINDS = ['add', 'move', 'power', 'restart', 'reinstall', 'grow', 'delete', 'forget', 'drain', 'offline'] as const;
export type EditKind = (typeof EDIT_KINDS)[number];

const MAX_PRESENT = 10;

/** Apply one random edit; undefined when the chosen edit had nothing to act on. */
export function editWorld(r: () => number, world: World): { kind: EditKind; what: string } | undefined {
  const kind = EDIT_KINDS[Math.floor(r() * EDIT_KINDS.length)]!;
  const what = applyEdit(kind, r, world);
  return what === undefined ? undefined : { kind, what };
}

function applyEdit(kind: EditKind, r: () => number, world: World): string | undefined {
  const docs = [...world.instances.values()];
  const present = docs.filter((d) => d.spec.state !== 'absent');
  const absent = docs.filter((d) => d.spec.state === 'absent');
  const one = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(r() * xs.length)]);
  switch (kind) {
    case 'add': {
      if (present.length >= MAX_PRESENT) return undefined;
      const d = world.addInstance();
      return `${d.metadata.name} (${d.spec.diskTemplate}${d.spec.placement?.primary ? ` on ${d.spec.placement.primary}` : ''}, ${d.spec.powerState})`;
    }
    case 'move': {
      const d = one(present.filter((x) => x.spec.diskTemplate !== 'drbd'));
      if (d === undefined) return undefined;
      const to = one(world.shape.nodes.filter((n) => n !== d.spec.placement?.primary));
      if (to === undefined) return undefined;
      d.spec.placement = { ...d.spec.placement, primary: to };
      return `${d.metadata.name} (${d.spec.diskTemplate}) to ${to}`;
    }
    case 'power': {
      const d = one(present);
      if (d === undefined) return undefined;
      d.spec.powerState = d.spec.powerState === 'running' ? 'stopped' : 'running';
      return `${d.metadata.name} ${d.spec.powerState}`;
    }
    case 'restart': {
      const d = one(present);
      if (d === undefined) return undefined;
      d.spec.restartGeneration = (d.spec.restartGeneration ?? 0) + 1;
      return d.metadata.name;
    }
    case 'reinstall': {
      const d = one(present);
      if (d === undefined) return undefined;
      d.spec.os = { ...d.spec.os, generation: (d.spec.os.generation ?? 1) + 1 };
      return d.metadata.name;
    }
    case 'grow': {
      const d = one(present);
      if (d === undefined) return undefined;
      const disk = d.spec.disks[0]!;
      disk.size = `${Number.parseInt(disk.size, 10) + 64}M`;
      return `${d.metadata.name} disk0 to ${disk.size}`;
    }
    case 'delete': {
      const d = one(present);
      if (d === undefined) return undefined;
      d.spec.state = 'absent';
      d.spec.deleteDisks = r() < 0.7;
      return `${d.metadata.name}${d.spec.deleteDisks ? ' with deleteDisks' : ''}`;
    }
    case 'forget': {
      const d = one(absent);
      if (d === undefined) return undefined;
      world.instances.delete(d.metadata.name);
      return d.metadata.name;
    }
    case 'drain': {
      const drained = [...world.roles].filter(([, role]) => role === 'drained').map(([n]) => n);
      if (drained.length > 0) {
        world.roles.delete(drained[0]!);
        return `${drained[0]} undrained`;
      }
      const n = one(world.shape.nodes);
      if (n === undefined) return undefined;
      world.roles.set(n, 'drained');
      return `${n} drained`;
    }
    case 'offline': {
      const off = [...world.roles].filter(([, role]) => role === 'offline').map(([n]) => n);
      if (off.length > 0) {
        world.roles.delete(off[0]!);
        return `${off[0]} back online`;
      }
      const n = one(world.shape.nodes.filter((x) => !world.roles.has(x)));
      if (n === undefined) return undefined;
      world.roles.set(n, 'offline');
      return `${n} declared offline`;
    }
  }
}
