/**
 * What this release cannot run, refused in the plan with a reason (safety invariant 5:
 * refuse what cannot work; never plan it into a failure, never ignore it). Every such
 * refusal lives here, one function per feature, so whoever makes a feature really work
 * lifts its refusal in this one place. Pure. (None left: DRBD and routing tables for
 * routed NICs were the last two; refusals of bad combinations live beside their feature,
 * e.g. plan/routed.ts refuseUnroutable.)
 */
import type { PlanInstance, Refusal } from '../core/plan.js';

/** Every refusal of a feature this release cannot run, for one declared (present) instance. */
export function refuseUnsupported(inst: PlanInstance): Refusal[] {
  if (inst.state !== 'present') return [];
  return [];
}
