/**
 * A renamed instance (Instance spec.renamedFrom): Gantry's names on the nodes are derived
 * from the instance's name (LVs <name>.diskN with the tag gantry-inst=<name>, image files
 * <name>.diskN.img, the instance directory <runDir>/<name>), so a rename in the manifests
 * alone would read as a new, empty instance beside an orphaned one. While any node holds an
 * object of the old name, the instance's plan is only this: `instance.rename` on each node
 * that holds one, refused while the VM runs (gnt-instance rename needs it stopped), while a
 * node that may hold its disks is not observed, or when an object of the new name is in the
 * way; nothing is created, removed or overwritten. The pass after the rename plans the rest.
 * Both names are recognised, so a rename stopped halfway (an LV renamed but still tagged
 * with the old name, some files moved) is finished by the next pass. Pure.
 */
import path from 'node:path';
import type { Action, InstanceRename } from '../core/actions.js';
import type { ObservedNode } from '../core/observed.js';
import type { FieldDiff, ObservedCluster, PlanInstance, PlanNode, Refusal } from '../core/plan.js';
import { MAY_RUN, runDirOf } from './instance-runtime.js';
import { diskFilePath, diskLvName, diskMetaLvName, instanceOfDiskFile, instanceOfDiskLv, isDiskFileOf, lvTagFacts } from './naming.js';

export interface RenamePlan {
  readonly diffs: FieldDiff[];
  readonly actions: Action[];
  readonly refused: Refusal[];
  readonly notes: string[];
}

/** What one node holds of the old name, and what is in the way there. */
interface NodeRename {
  readonly lvs: { vg: string; from: string; to: string }[];
  /** DRBD minors attached to an LV that is renamed here. */
  readonly detach: number[];
  readonly files: { from: string; to: string }[];
  dir: boolean;
  running?: string;
  readonly conflicts: string[];
}

function onNode(inst: PlanInstance, from: string, obs: ObservedNode, dirs: readonly string[], shared: string, sharedSeen: Set<string>): NodeRename {
  const out: NodeRename = { lvs: [], detach: [], files: [], dir: false, conflicts: [] };
  for (const lv of Object.values(obs.lvs)) {
    const tags = lvTagFacts(lv.tags);
    if (!tags.managed) continue;
    const made = instanceOfDiskLv(lv.name);
    if (made?.instance !== from && tags.inst !== from) continue;
    // Made for the old name: renamed. Made for the new one but still tagged with the old (a
    // rename cut short between its lvrename and its lvchange): only its tag changes.
    const to = made?.instance === from ? (made.meta ? diskMetaLvName(inst.name, made.index) : diskLvName(inst.name, made.index)) : made?.instance === inst.name ? lv.name : undefined;
    if (to === undefined) out.conflicts.push(`${lv.vg}/${lv.name} is tagged gantry-inst=${from} but its name is made for neither ${from} nor ${inst.name}`);
    else if (to !== lv.name && obs.lvs[`${lv.vg}/${to}`] !== undefined) out.conflicts.push(`${lv.vg}/${to} already exists beside ${lv.vg}/${lv.name}`);
    else {
      out.lvs.push({ vg: lv.vg, from: lv.name, to });
      const dev = tags.minor !== undefined && to !== lv.name ? obs.drbd?.devices[String(tags.minor)] : undefined;
      if (dev && dev.disk !== undefined && dev.disk !== 'Diskless' && !out.detach.includes(tags.minor!)) out.detach.push(tags.minor!);
    }
  }
  for (const f of Object.values(obs.files)) {
    if (!isDiskFileOf(f.path, from, dirs)) continue;
    const dir = path.posix.dirname(f.path);
    // a sharedfile image is seen by every node: moved once, by the first node that sees it
    if (dir === shared) {
      if (sharedSeen.has(f.path)) continue;
      sharedSeen.add(f.path);
    }
    const to = diskFilePath(dir, inst.name, instanceOfDiskFile(f.path)!.index);
    if (obs.files[to] !== undefined) out.conflicts.push(`${to} already exists beside ${f.path}`);
    else out.files.push({ from: f.path, to });
  }
  const vm = obs.instances[from];
  if (vm) {
    out.dir = true;
    if (MAY_RUN.has(vm.runState)) out.running = vm.runState;
    if (obs.instances[inst.name] !== undefined) out.conflicts.push(`both instance directories ${from} and ${inst.name} exist`);
  }
  return out;
}

/**
 * The plan of a renamed instance while objects of its old name are left; undefined when none
 * is (the rename is done, or there was nothing to rename): then it is planned as any other.
 * `hasObjects`: objects of the new name were found (so the rename was carried before).
 * Reads every node (observed and declared): the incremental planner re-plans it when any changes.
 */
export function planRename(inst: PlanInstance, observed: ObservedCluster, nodes: ReadonlyMap<string, PlanNode>, shared: string, hasObjects: boolean): RenamePlan | undefined {
  const from = inst.renamedFrom;
  if (from === undefined || inst.state !== 'present') return undefined;
  const subject = `Instance/${inst.name}`;
  const sharedSeen = new Set<string>();
  const found: [string, NodeRename][] = [];
  for (const [node, obs] of [...observed.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    if (!obs.reachable) continue;
    const dirs = [nodes.get(node)?.fileStorageDir, shared].filter((d): d is string => d !== undefined);
    const r = onNode(inst, from, obs, dirs, shared, sharedSeen);
    if (r.lvs.length + r.files.length + r.conflicts.length > 0 || r.dir) found.push([node, r]);
  }
  const unseen = [...nodes.values()].filter((n) => n.role !== 'offline' && !observed.nodes.get(n.name)?.reachable).map((n) => n.name).sort();
  const out: RenamePlan = { diffs: [], actions: [], refused: [], notes: [] };
  if (found.length === 0) {
    // Unknown is not absent: the old name's disks may be on a node not observed.
    if (unseen.length === 0 || hasObjects) return undefined;
    out.refused.push({ subject, code: 'RENAME_UNOBSERVED', message: `${inst.name} is renamed from ${from}, whose disks are on no observed node, and node(s) ${unseen.join(', ')} are not observed: they may hold them. Nothing of ${inst.name} is created until they are observed (or set spec.renamedFrom away if ${from} had no disks)` });
    return out;
  }
  out.diffs.push({ path: 'metadata.name', desired: inst.name, observed: from });
  for (const [node, r] of found) {
    for (const c of r.conflicts) out.refused.push({ subject, code: 'RENAME_CONFLICT', message: `rename ${from} -> ${inst.name} on ${node}: ${c}; nothing is renamed or overwritten (move the one in the way by hand)` });
  }
  const running = found.filter(([, r]) => r.running !== undefined);
  if (running.length > 0) {
    const where = running.map(([n, r]) => `${n} (${r.running})`).join(', ');
    if (inst.runtime?.powerState === 'stopped' && running.every(([, r]) => r.running !== 'unknown')) {
      // Stopped under its old name first; the pass after renames it.
      for (const [node] of running) {
        out.actions.push({ verb: 'instance.stop', node, subject, name: from, runDir: runDirOf(nodes.get(node)), timeoutS: inst.runtime.stopTimeoutS, reason: `rename ${from} -> ${inst.name} needs the VM stopped: stop it (as ${from}) on ${node}; the next pass renames it` });
      }
      out.notes.push(`rename ${from} -> ${inst.name}: stopped first, renamed on the next pass`);
      return out;
    }
    out.refused.push({ subject, code: 'RENAME_WHILE_RUNNING', message: `${from} may run on ${where}: a rename needs the instance stopped (as gnt-instance rename); set spec.powerState: stopped and the next pass stops it, then renames it` });
  }
  if (unseen.length > 0) out.refused.push({ subject, code: 'RENAME_UNOBSERVED', message: `node(s) ${unseen.join(', ')} are not observed and may hold objects of ${from}: the rename waits until every node is observed (unknown is not absent)` });
  if (out.refused.length > 0) return out;
  for (const [node, r] of found) {
    const what = [...r.lvs.map((l) => (l.from === l.to ? `${l.vg}/${l.to} (its tag)` : `${l.vg}/${l.from} -> ${l.to}`)), ...r.files.map((f) => `${f.from} -> ${path.posix.basename(f.to)}`), ...(r.dir ? [`instance directory ${from} -> ${inst.name}`] : [])];
    const detach = r.detach.length > 0 ? `; DRBD minor(s) ${r.detach.join(', ')} detached first (re-attached on the new LV names by the next pass)` : '';
    const a: InstanceRename = {
      verb: 'instance.rename', node, subject, from, to: inst.name, lvs: r.lvs, files: r.files,
      ...(r.dir ? { runDir: runDirOf(nodes.get(node)) } : {}),
      ...(r.detach.length > 0 ? { drbdDetach: [...r.detach].sort((x, y) => x - y) } : {}),
      reason: `renamed from ${from} (spec.renamedFrom): rename on ${node}, the data kept: ${what.join(', ')}${detach}`,
    };
    out.actions.push(a);
  }
  out.notes.push(`rename ${from} -> ${inst.name} first; the rest of its plan follows on the next pass`);
  return out;
}
