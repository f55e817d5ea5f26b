/**
 * What this release cannot run, refused in the plan with a reason (safety invariant 5:
 * refuse what cannot work; never plan it into a failure, never ignore it). Every such
 * refusal lives here, one function per feature, so whoever makes a feature really work
 * lifts its refusal in this one place. Pure.
 */
import type { PlanInstance, Refusal } from '../core/plan.js';

/**
 * Routed NICs with a link: in Ganeti the link of a routed NIC names a routing table (an
 * `ip rule` for the tap and the host route in that table). Gantry routes into the main
 * table only; refuse rather than put the route where the admin did not ask.
 */
export function refuseRoutingTables(inst: PlanInstance): Refusal[] {
  const tabled = (inst.runtime?.nics ?? []).filter((n) => n.mode === 'routed' && n.link !== '');
  if (tabled.length === 0) return [];
  return [{
    subject: `Instance/${inst.name}`, code: 'ROUTED_TABLE_NOT_SUPPORTED',
    message: `routed NIC(s) ${tabled.map((n) => `${n.index} (link ${n.link})`).join(', ')} name a routing table, which Gantry does not manage yet (it routes into the main table). Remove link from the routed network, its group connection and the NIC to route through the main table.`,
  }];
}

/** Every refusal of a feature this release cannot run, for one declared (present) instance. */
export function refuseUnsupported(inst: PlanInstance): Refusal[] {
  if (inst.state !== 'present') return [];
  return refuseRoutingTables(inst);
}
