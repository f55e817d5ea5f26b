/**
 * harep's reinstall made resumable. Pure. A reinstall re-creates a plain or file instance's
 * disks EMPTY on the allocator's node, installs its OS and starts it (DATA LOSS, stated in
 * the plan, opt-in). A pass that stops between the disks and the install (a crash, a failed
 * install) left disks with no instance record, which the next pass would refuse to install
 * over (DISKS_WITHOUT_RECORD: Gantry never runs an installer over data it has no record of
 * installing). So the disks a reinstall creates carry a mark until its install succeeded:
 * an LV the tag REINSTALL_LV_TAG (set by its lvcreate), an image file an empty file beside
 * it (reinstallMarkPath, made by the same file.create before the image). The next pass
 * finds its own half-made disks by that mark, resumes on that node (not the allocator's
 * next answer: no second set of disks elsewhere) and installs over them, which are the
 * empty disks it made itself; the marks are dropped after the install (lv.untag, file.remove
 * of the mark file).
 */
import type { Action, FileRemove, LvUntag } from '../core/actions.js';
import { actionKey } from '../core/actions.js';
import type { ObservedCluster, PlanCluster, PlanInstance, PlanNode } from '../core/plan.js';
import { volumesOf } from './disks.js';
import path from 'node:path';
import { instanceOfDiskFile, isDiskFileOf, REINSTALL_LV_TAG, reinstallMarkPath } from './naming.js';

type Vol = ({ kind: 'lv'; vg: string; name: string } | { kind: 'file'; path: string; mark: string }) & { tagged: boolean; exists: boolean };

/** The templates whose reinstall is resumable (disks on the node alone, made by lv.create or file.create). */
const RESUMABLE = new Set(['plain', 'file']);

/** The instance's plain LVs and file images on `node` (as its primary), each with whether it exists there now and carries the reinstall mark. */
function volsOn(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): Vol[] {
  const obs = observed.nodes.get(node);
  const seen = obs?.reachable ? obs : undefined;
  const out: Vol[] = [];
  for (const d of inst.disks) {
    if (d.state !== 'present' || !RESUMABLE.has(d.template)) continue;
    for (const v of volumesOf(inst, d, node, undefined, nodes, cluster)) {
      if (v.kind === 'lv') {
        const lv = seen?.lvs[`${v.vg}/${v.name}`];
        out.push({ kind: 'lv', vg: v.vg, name: v.name, exists: lv !== undefined, tagged: lv?.tags.includes(REINSTALL_LV_TAG) === true });
      } else {
        const mark = reinstallMarkPath(v.path);
        out.push({ kind: 'file', path: v.path, mark, exists: seen?.files[v.path] !== undefined, tagged: seen?.files[mark] !== undefined });
      }
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

/** Every existing disk (LV or image) of the instance on `node` carries the reinstall mark, and at least one exists. */
export function halfMadeOn(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): boolean {
  const there = volsOn(inst, node, nodes, cluster, observed).filter((l) => l.exists);
  return there.length > 0 && there.every((l) => l.tagged);
}

/**
 * The mark drop after the install: each disk of the instance on `node` that carries the mark
 * now or is created with one by `actions` in this pass, once `install` succeeded (never
 * before: a failed install leaves the mark, and the next pass resumes).
 */
export function reinstallUntags(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster, actions: readonly Action[], install: Action | undefined): (LvUntag | FileRemove)[] {
  const created = new Set(actions.flatMap((a) => (a.verb === 'lv.create' && a.node === node && a.tags.includes(REINSTALL_LV_TAG) ? [`${a.vg}/${a.name}`] : a.verb === 'file.create' && a.node === node && a.mark !== undefined ? [a.mark] : [])));
  const subject = `Instance/${inst.name}`;
  const after = install ? { after: [actionKey(install)] } : {};
  return volsOn(inst, node, nodes, cluster, observed)
    .filter((l) => l.tagged || created.has(l.kind === 'lv' ? `${l.vg}/${l.name}` : l.mark))
    .map((l): LvUntag | FileRemove => (l.kind === 'lv'
      ? { verb: 'lv.untag', node, subject, vg: l.vg, name: l.name, tags: [REINSTALL_LV_TAG], ...after, reason: `reinstall done: its OS is installed on ${l.vg}/${l.name}; the half-made mark (${REINSTALL_LV_TAG}) is dropped` }
      : { verb: 'file.remove', node, subject, path: l.mark, ...after, reason: `reinstall done: its OS is installed on ${l.path}; the half-made mark (the empty file ${l.mark}) is removed` }));
}

/**
 * A mark left behind by a pass that stopped after the install but before the mark drop: the
 * instance's record is on `node` (its OS installed there), so the mark goes, whatever the
 * pass is doing (never left to excuse an install over data later).
 */
export function leftoverReinstallMarks(inst: PlanInstance, node: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster, hasRecord: boolean): (LvUntag | FileRemove)[] {
  if (!hasRecord || !inst.disks.some((d) => d.state === 'present' && RESUMABLE.has(d.template))) return [];
  return reinstallUntags(inst, node, nodes, cluster, observed, [], undefined);
}

/**
 * Stray marks: a reinstall cut between a file disk's mark and its image (the same
 * file.create makes the mark first) leaves an empty `<image>.reinstall` with no image
 * beside it. It marks nothing (only an existing image is half-made) and would stay for
 * ever, so the plan shows and removes it: an empty file named after a disk of a declared,
 * present instance, in its node's file storage directory or the shared one, whose image
 * no reachable node shows, and that no action of this plan makes (a resumed file.create)
 * or already removes. Cluster-wide, after the instances are planned (every pass: never
 * part of an instance's cached plan). Images that exist keep their mark: half-made or
 * leftover, plan/reinstall's other rules decide.
 */
export function strayReinstallMarks(instances: readonly PlanInstance[], nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster, planned: readonly Action[]): FileRemove[] {
  const present = new Map(instances.filter((i) => i.state === 'present').map((i) => [i.name, i]));
  const seen = [...observed.nodes].filter(([, o]) => o.reachable).sort(([a], [b]) => a.localeCompare(b));
  const made = new Set(planned.flatMap((a) => (a.verb === 'file.create' && a.mark !== undefined ? [`${a.node}\0${a.mark}`, a.mark] : [])));
  const removed = new Set(planned.flatMap((a) => (a.verb === 'file.remove' ? [a.path] : [])));
  const out: FileRemove[] = [];
  const sharedDone = new Set<string>();
  for (const [name, obs] of seen) {
    for (const f of Object.values(obs.files)) {
      if (!f.path.endsWith('.reinstall') || f.virtualSizeMiB !== 0) continue;
      const image = f.path.slice(0, -'.reinstall'.length);
      const owner = instanceOfDiskFile(image)?.instance;
      const inst = owner !== undefined ? present.get(owner) : undefined;
      if (!inst) continue;
      const shared = cluster.sharedFileStorageDir !== undefined && path.posix.dirname(f.path) === cluster.sharedFileStorageDir;
      const dirs = [nodes.get(name)?.fileStorageDir, cluster.sharedFileStorageDir].filter((d): d is string => d !== undefined);
      if (!isDiskFileOf(image, inst.name, dirs) || removed.has(f.path)) continue;
      if (shared) {
        if (sharedDone.has(f.path)) continue;
        sharedDone.add(f.path);
        if (made.has(f.path) || seen.some(([, o]) => o.files[image] !== undefined)) continue;
      } else if (made.has(`${name}\0${f.path}`) || obs.files[image] !== undefined) continue;
      out.push({ verb: 'file.remove', node: name, subject: `Instance/${inst.name}`, path: f.path, reason: `a reinstall's mark with no image beside it (a pass cut between the mark and ${image}): it marks nothing, removed` });
    }
  }
  return out;
}
