/**
 * Instance policy checks (Ganeti Instance.instMatchesPolicy): an instance must
 * fit one of the policy's min/max spec pairs and use an allowed disk template.
 * The failure reason names the first offending resource, as Ganeti does.
 */
import type { DiskTemplate, FailReason, IPolicy, ISpec } from './types.js';

export interface SpecSubject {
  readonly mem: number;
  readonly disks: readonly number[];
  readonly vcpus: number;
  readonly spindleUse: number;
  readonly spindles: number | null;
  readonly diskTemplate: DiskTemplate;
}

function compareSpec(which: 'below' | 'above', inst: SpecSubject, spec: ISpec, excl: boolean): FailReason | null {
  // 'above': fails when a value is below the min spec; 'below': fails when above the max spec
  const bad = (v: number, lim: number): boolean => (which === 'above' ? v < lim : v > lim);
  if (bad(inst.mem, spec.memorySize)) return 'FailMem';
  if (inst.disks.some((d) => bad(d, spec.diskSize))) return 'FailDisk';
  if (bad(inst.vcpus, spec.cpuCount)) return 'FailCPU';
  if (excl) {
    if (inst.spindles === null || bad(inst.spindles, spec.spindleUse)) return 'FailSpindles';
  } else if (bad(inst.spindleUse, spec.spindleUse)) return 'FailSpindles';
  if (inst.diskTemplate !== 'diskless' && bad(inst.disks.length, spec.diskCount)) return 'FailDiskCount';
  return null;
}

/** null when the instance complies with the policy, else the failure reason. */
export function policyViolation(inst: SpecSubject, pol: IPolicy, excl: boolean): FailReason | null {
  if (pol.minMax.length > 0) {
    let first: FailReason | null = null;
    let ok = false;
    for (const mm of pol.minMax) {
      const r = compareSpec('above', inst, mm.min, excl) ?? compareSpec('below', inst, mm.max, excl);
      if (r === null) { ok = true; break; }
      if (first === null) first = r;
    }
    if (!ok) return first;
  }
  if (!pol.diskTemplates.includes(inst.diskTemplate)) return 'FailDisk';
  return null;
}
