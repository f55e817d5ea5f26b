/**
 * What this release cannot run, refused in the plan with a reason (safety invariant 5:
 * refuse what cannot work; never plan it into a failure, never ignore it). Every such
 * refusal lives here, one function per feature, so whoever makes a feature really work
 * lifts its refusal in this one place. Pure.
 */
import type { PlanInstance, Refusal } from '../core/plan.js';

/**
 * DRBD: the planner would create LVs, run the OS installer and start QEMU on a
 * /dev/drbd/by-res path, but nothing configures DRBD devices yet, so every step after the
 * LVs fails on the node. Refuse before anything is created.
 */
export function refuseDrbd(inst: PlanInstance): Refusal[] {
  const drbd = inst.disks.filter((d) => d.state === 'present' && d.template === 'drbd').map((d) => d.index);
  if (drbd.length === 0) return [];
  return [{
    subject: `Instance/${inst.name}`, code: 'DRBD_NOT_MANAGED',
    message: `disk(s) ${drbd.join(', ')} use the drbd template, which Gantry does not manage yet (it configures no DRBD device, so the VM would start on a /dev/drbd path that does not exist). Nothing is created, installed or started for ${inst.name}: use plain, file or sharedfile.`,
  }];
}

/**
 * Routed NICs: the tap is created and brought up with no master, but nothing adds the
 * host route, proxy ARP or routing-table rule that Ganeti's kvm-ifup adds, so the NIC
 * is connected to nothing. Refuse rather than start a VM that looks up and is unreachable.
 */
export function refuseRoutedNics(inst: PlanInstance): Refusal[] {
  const routed = (inst.runtime?.nics ?? []).filter((n) => n.mode === 'routed');
  if (routed.length === 0) return [];
  return [{
    subject: `Instance/${inst.name}`, code: 'ROUTED_NIC_NOT_CONNECTED',
    message: `NIC(s) ${routed.map((n) => `${n.index}${n.network ? ` (network ${n.network})` : ''}`).join(', ')} use mode routed, but Gantry sets up no host route, proxy ARP or routing table for routed NICs yet: the VM's tap would be up and connected to nothing. Use a bridged or openvswitch network.`,
  }];
}

/** Every refusal of a feature this release cannot run, for one declared (present) instance. */
export function refuseUnsupported(inst: PlanInstance): Refusal[] {
  if (inst.state !== 'present') return [];
  return [...refuseDrbd(inst), ...refuseRoutedNics(inst)];
}
