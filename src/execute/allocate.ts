import type { DesiredState, IPolicyEff, ISpecEff } from '../desired/model.js';
import { makeAllocator } from '../plan/allocate.js';
import type { PlanOptions } from '../plan/plan.js';
import type { IPolicy, ISpec } from '../place/index.js';

const ispec = (s: ISpecEff): ISpec => ({ memorySize: s.memory, cpuCount: s.vcpus, diskSize: s.diskSize, diskCount: s.diskCount, nicCount: s.nicCount, spindleUse: s.spindleUse });

/** The desired (filled) instance policy in the placement engine's terms. */
export function toPlaceIPolicy(p: IPolicyEff): IPolicy {
  return { minMax: [{ min: ispec(p.minSpec), max: ispec(p.maxSpec) }], std: ispec(p.stdSpec), diskTemplates: [...p.diskTemplates], vcpuRatio: p.vcpuRatio, spindleRatio: p.spindleRatio };
}

/** The planner's allocator for this desired state: hail over its groups, their policies and the default VG. */
export function allocatorFor(state: DesiredState): PlanOptions['allocator'] {
  const groups = [...state.groups.values()].map((g) => ({ name: g.name, allocPolicy: g.allocPolicy, ipolicy: toPlaceIPolicy(g.ipolicy) }));
  return (input, observed) => makeAllocator(input, observed, { groups, volumeGroup: state.cluster.storage.volumeGroup });
}
