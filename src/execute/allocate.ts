import type { DesiredState } from '../desired/model.js';
import type { PlanOptions } from '../plan/plan.js';

/** Placement for instances without placement.primary (wired to src/place). */
export function allocatorFor(_state: DesiredState): PlanOptions['allocate'] {
  return undefined;
}
