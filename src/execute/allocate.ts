import type { DesiredState } from '../desired/model.js';
import { makeAllocator } from '../plan/allocate.js';
import type { PlanOptions } from '../plan/plan.js';
import { ipolicyFromDesired } from '../place/index.js';

/** The planner's allocator for this desired state: hail over its groups, their policies and the default VG. */
export function allocatorFor(state: DesiredState): PlanOptions['allocator'] {
  const groups = [...state.groups.values()].map((g) => ({ name: g.name, allocPolicy: g.allocPolicy, ipolicy: ipolicyFromDesired(g.ipolicy) }));
  return (input, observed, located) => makeAllocator(input, observed, { groups, volumeGroup: state.cluster.storage.volumeGroup }, located);
}
