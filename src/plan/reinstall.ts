/**
 * harep's reinstall made resumable. Pure. A reinstall re-creates a plain instance's disks
 * EMPTY on the allocator's node, installs its OS and starts it (DATA LOSS, stated in the
 * plan, opt-in). A pass that stops between the disks and the install (a crash, a failed
 * install) left disks with no instance record, which the next pass would refuse to install
 * over (DISKS_WITHOUT_RECORD: Gantry never runs an installer over data it has no record of
 * installing). So the LVs a reinstall creates carry REINSTALL_LV_TAG until its install
 * succeeded: the next pass finds its own half-made disks by that tag, resumes on that node
 * (not the allocator's next answer: no second set of disks elsewhere) and installs over
 * them, which are the empty disks it made itself; the tag is dropped after the install.
 * File disks carry no tags: a file reinstall cut short stays refused (DISKS_WITHOUT_RECORD).
 */
import type { Action, LvUntag } from '../core/actions.js';
import { actionKey } from '../core/actions.js';
import type { ObservedCluster, PlanCluster, PlanInstance, PlanNode } from '../core/plan.js';
import { volumesOf } from './disks.js';
import { REINSTALL_LV_TAG } from './naming.js';

type Lv = { vg: string; name: string; tagged: boolean; exists: boolean };

/** The instance's plain LVs on `node` (as its primary), each with whether it exists there now and carries the reinstall tag. */
function lvsOn(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): Lv[] {
  const obs = observed.nodes.get(node);
  const out: Lv[] = [];
  for (const d of inst.disks) {
    if (d.state !== 'present') continue;
    for (const v of volumesOf(inst, d, node, undefined, nodes, cluster)) {
      if (v.kind !== 'lv') continue;
      const lv = obs?.reachable ? obs.lvs[`${v.vg}/${v.name}`] : undefined;
      out.push({ vg: v.vg, name: v.name, exists: lv !== undefined, tagged: lv?.tags.includes(REINSTALL_LV_TAG) === true });
    }
  }
  return out;
}

/**
 * A node observed now, usable, where an earlier pass's reinstall of `inst` left disks (at
 * least one of its LVs, every one there carrying the reinstall tag): the reinstall resumes
 * there. Undefined when there is none.
 */
export function halfMadeReinstall(inst: PlanInstance, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster, gone: ReadonlySet<string>): string | undefined {
  for (const [name, o] of [...observed.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    const role = nodes.get(name)?.role;
    if (!o.reachable || gone.has(name) || role === undefined || role === 'offline' || role === 'drained') continue;
    if (halfMadeOn(inst, name, nodes, cluster, observed)) return name;
  }
  return undefined;
}

/** Every existing LV of the instance on `node` carries the reinstall tag, and at least one exists. */
export function halfMadeOn(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): boolean {
  const there = lvsOn(inst, node, nodes, cluster, observed).filter((l) => l.exists);
  return there.length > 0 && there.every((l) => l.tagged);
}

/**
 * The tag drop after the install: each LV of the instance on `node` that carries the tag now
 * or is created by `actions` in this pass, once `install` succeeded (never before: a failed
 * install leaves the tag, and the next pass resumes).
 */
export function reinstallUntags(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster, actions: readonly Action[], install: Action | undefined): LvUntag[] {
  const created = new Set(actions.filter((a) => a.verb === 'lv.create' && a.node === node && a.tags.includes(REINSTALL_LV_TAG)).map((a) => (a.verb === 'lv.create' ? `${a.vg}/${a.name}` : '')));
  return lvsOn(inst, node, nodes, cluster, observed)
    .filter((l) => l.tagged || created.has(`${l.vg}/${l.name}`))
    .map((l) => ({ verb: 'lv.untag', node, subject: `Instance/${inst.name}`, vg: l.vg, name: l.name, tags: [REINSTALL_LV_TAG], ...(install ? { after: [actionKey(install)] } : {}), reason: `reinstall done: its OS is installed on ${l.vg}/${l.name}; the half-made mark (${REINSTALL_LV_TAG}) is dropped` }));
}

/**
 * A mark left behind by a pass that stopped after the install but before the tag drop: the
 * instance's record is on `node` (its OS installed there), so the mark goes, whatever the
 * pass is doing (never left to excuse an install over data later).
 */
export function leftoverReinstallMarks(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster, hasRecord: boolean): LvUntag[] {
  if (!hasRecord || !inst.disks.some((d) => d.state === 'present' && d.template === 'plain')) return [];
  return reinstallUntags(inst, node, nodes, cluster, observed, [], undefined);
}
