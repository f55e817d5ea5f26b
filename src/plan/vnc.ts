/**
 * VNC displays, allocated and recorded like MACs (replacing a hash of the name, which
 * gave two instances the same display with nothing to notice it). A display is kept in
 * the instance's launch description, so its record on the node (gantry.json) holds it;
 * every display recorded on a known node snapshot stays reserved, including those of
 * nodes that cannot be observed now (their last snapshot) and of undeclared instances.
 * Unique per node; a new display is also free cluster-wide, so a later migration does
 * not meet it on another node. Pure and deterministic: instances ask in name order.
 */
import type { ObservedInstance } from '../core/observed.js';
import type { ObservedCluster } from '../core/plan.js';
import { knownSnapshots } from './locate.js';

/** Display N listens on TCP 5900+N; below 100 is left to what sysadmins run by hand. */
export const FIRST_VNC_DISPLAY = 100;
export const LAST_VNC_DISPLAY = 59635;

/** The display a copy was recorded with (its record), or runs with (its runtime spec, before records held it). */
export function recordedVncDisplay(vm: ObservedInstance): number | undefined {
  const fromMeta = vm.meta?.launch?.vncDisplay;
  if (typeof fromMeta === 'number') return fromMeta;
  const spec = vm.runtime?.spec as { vncDisplay?: unknown } | undefined;
  return typeof spec?.vncDisplay === 'number' ? spec.vncDisplay : undefined;
}

export class VncAllocator {
  /** node -> display -> owning instance. */
  private readonly taken = new Map<string, Map<number, string>>();
  private readonly anywhere = new Set<number>();
  /** instance -> node -> recorded display. */
  private readonly recorded = new Map<string, Map<string, number>>();
  private claims = 0;

  constructor(observed: ObservedCluster) {
    for (const { node, obs } of knownSnapshots(observed)) {
      for (const vm of Object.values(obs.instances).sort((a, b) => a.name.localeCompare(b.name))) {
        const d = recordedVncDisplay(vm);
        if (d === undefined) continue;
        if (!this.recorded.has(vm.name)) this.recorded.set(vm.name, new Map());
        this.recorded.get(vm.name)!.set(node, d);
        if (!this.on(node).has(d)) this.claim(node, d, vm.name);
      }
    }
  }

  /**
   * The display of `instance` on `node`: the one recorded for it (on that node, else on
   * another) when no other instance holds it there, else the lowest display free on
   * every node. Undefined when none is left.
   */
  displayFor(instance: string, node: string): number | undefined {
    const mine = this.recorded.get(instance);
    const candidates = [mine?.get(node), ...[...(mine ?? new Map<string, number>())].sort(([a], [b]) => a.localeCompare(b)).map(([, d]) => d)];
    for (const d of candidates) {
      if (d === undefined) continue;
      const owner = this.on(node).get(d);
      if (owner === undefined || owner === instance) {
        this.claim(node, d, instance);
        return d;
      }
    }
    for (let d = FIRST_VNC_DISPLAY; d <= LAST_VNC_DISPLAY; d++) {
      if (this.anywhere.has(d)) continue;
      this.claim(node, d, instance);
      return d;
    }
    return undefined;
  }

  /** Displays claimed so far (a reused plan part must not have claimed one: plan/plan-cache). */
  get claimCount(): number {
    return this.claims;
  }

  /** The display recorded for `instance` on `node`, if any. */
  recordedOn(instance: string, node: string): number | undefined {
    return this.recorded.get(instance)?.get(node);
  }

  /** Who holds display `d` on `node`. */
  heldBy(node: string, d: number): string | undefined {
    return this.taken.get(node)?.get(d);
  }

  private on(node: string): Map<number, string> {
    let m = this.taken.get(node);
    if (!m) this.taken.set(node, (m = new Map()));
    return m;
  }

  private claim(node: string, d: number, instance: string): void {
    if (!this.on(node).has(d)) this.claims++;
    this.on(node).set(d, instance);
    this.anywhere.add(d);
  }
}
