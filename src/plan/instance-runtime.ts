/**
 * Instance runtime drift (power state, restarts, migration): filled in with the
 * hypervisor driver. Until then instances only get their disks planned.
 */
import type { Action } from './actions.js';
import type { Placement } from './plan.js';
import type { FieldDiff, ObservedCluster, PlanInput, PlanInstance, Refusal } from './types.js';

export interface RuntimeHooks {
  readonly enabled?: boolean;
}

export function planInstanceRuntime(
  _inst: PlanInstance, _placement: Placement | undefined, _input: PlanInput, _observed: ObservedCluster, _hooks?: RuntimeHooks,
): { diffs: FieldDiff[]; actions: Action[]; refused: Refusal[]; notes: string[] } {
  return { diffs: [], actions: [], refused: [], notes: [] };
}
