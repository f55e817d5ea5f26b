import type { ObservedCluster } from '../core/plan.js';
import { instanceOfLvTags } from './naming.js';
import { ALIVE } from './instance-runtime.js';

/** Where an instance's volumes and process live now, from observation alone. */
export function locateInstances(observed: ObservedCluster): Map<string, { nodes: Set<string>; running?: string }> {
  const out = new Map<string, { nodes: Set<string>; running?: string }>();
  const at = (inst: string) => {
    let e = out.get(inst);
    if (!e) out.set(inst, (e = { nodes: new Set() }));
    return e;
  };
  for (const [node, obs] of observed.nodes) {
    if (!obs.reachable) continue;
    for (const lv of Object.values(obs.lvs)) {
      const inst = instanceOfLvTags(lv.tags);
      if (inst) at(inst).nodes.add(node);
    }
    for (const [name, vm] of Object.entries(obs.instances)) {
      const e = at(name);
      e.nodes.add(node);
      if (ALIVE.has(vm.runState)) e.running = node;
    }
  }
  return out;
}

