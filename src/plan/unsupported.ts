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
  return [...refuseQcow2Script(inst)];
}

/**
 * A qcow2 disk is installed by qemu-img from an image (image+ OS) or left empty (none):
 * OS scripts write a block device or a raw file, and would write raw bytes over the qcow2
 * structure (Ganeti has no qcow2 disks at all).
 */
function refuseQcow2Script(inst: PlanInstance): Refusal[] {
  const name = inst.runtime?.os.name;
  const os = name?.split('+')[0];
  if (name === undefined || os === 'image' || os === 'none' || !inst.disks.some((d) => d.state === 'present' && d.format === 'qcow2')) return [];
  return [{ subject: `Instance/${inst.name}`, code: 'QCOW2_NEEDS_IMAGE_OS', message: `OS ${name} installs with scripts that write raw disks, and this instance has qcow2 disks: use an image+ OS (qemu-img writes the image as qcow2), os none, or raw disks` }];
}
