import type { ObservedNode } from '../core/observed.js';
import type { SimDrbdSeed, SimNodeInit } from './node.js';

/**
 * A simulated node that starts as an observed snapshot says (e.g. one from a generator or
 * a real probe), so a plan made against that snapshot can be applied to it. PVs seen in
 * VGs become block devices (the VG size split evenly); `blockDevices` adds or overrides
 * devices, e.g. a PV the desired state adds. DRBD state cannot be read off one node's
 * snapshot (the peer's address is the other node's); `drbd` gives it.
 */
export function initFromObserved(obs: ObservedNode, blockDevices: Readonly<Record<string, number>> = {}, drbd?: SimDrbdSeed): SimNodeInit {
  const devices: Record<string, number> = {};
  for (const vg of Object.values(obs.vgs)) {
    for (const pv of vg.pvs) devices[pv] = Math.floor(vg.sizeMiB / Math.max(1, vg.pvs.length));
  }
  Object.assign(devices, blockDevices);
  return {
    name: obs.name,
    facts: obs.facts,
    blockDevices: devices,
    ovs: obs.ovs !== undefined,
    seed: {
      vgs: Object.values(obs.vgs).map((vg) => ({ name: vg.name, pvs: [...vg.pvs] })),
      lvs: Object.values(obs.lvs),
      bridges: Object.values(obs.bridges),
      ovsBridges: Object.values(obs.ovs?.bridges ?? {}),
      vxlans: Object.values(obs.vxlans),
      sysctls: obs.sysctls,
      files: Object.values(obs.files),
      instances: Object.values(obs.instances),
      taps: Object.values(obs.taps),
      ...(drbd ? { drbd } : {}),
    },
  };
}
