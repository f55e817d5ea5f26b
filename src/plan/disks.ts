/**
 * Instance disk drift: LVs for plain and DRBD disks, image files for file and sharedfile
 * disks. Pure. A disk is never shrunk and never removed unless the manifest says so
 * (disk state: absent, or instance state: absent with deleteDisks).
 */
import path from 'node:path';
import type { Action } from '../core/actions.js';
import { DRBD_META_MIB, diskFilePath, diskLvName, diskMetaLvName, instanceLvTag, instanceOfDiskFile, instanceOfDiskLv, instanceOfLvTags, isDiskFileOf, isDiskLvOf, MANAGED_LV_TAG, REINSTALL_LV_TAG, reinstallMarkPath } from './naming.js';
import { planDrbdDownForDeletion } from './drbd.js';
import type { ObservedLv } from '../core/observed.js';
import type { FieldDiff, ObservedCluster, PlanCluster, PlanDisk, PlanInstance, PlanNode, Refusal } from '../core/plan.js';

export interface DiskPlan {
  readonly diffs: FieldDiff[];
  readonly actions: Action[];
  readonly refused: Refusal[];
  /** What the plan leaves alone on purpose, said once (an LV striped otherwise than diskParams now asks). */
  readonly notes?: string[];
}

/**
 * Exclusive storage (the node's ndParams.exclusiveStorage): a data LV takes `spindles` empty PVs of
 * its own, striped over them (Ganeti stripes over every spindle), keeping room for a DRBD metadata LV
 * that goes `beside` it (same VG), or on one empty PV of its own in another VG.
 */
type ExclusiveLv = { spindles: number; reserveMiB?: number } | { besideLv: string };

/** Where each volume of a disk lives: (node, LV) or (node that creates it, file path). */
type Volume =
  | { kind: 'lv'; node: string; vg: string; name: string; sizeMiB: number; role: string; stripes?: number; excl?: ExclusiveLv }
  | { kind: 'file'; node: string; path: string; sizeMiB: number; role: string; format: 'raw' | 'qcow2' };

export function volumesOf(inst: PlanInstance, disk: PlanDisk, primary: string, secondary: string | undefined, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster): Volume[] {
  switch (disk.template) {
    case 'plain': {
      // Validation requires spindles on disks that may land on an exclusive-storage node.
      const spindles = disk.spindles ?? 1;
      const excl = nodes.get(primary)?.exclusiveStorage ? { excl: { spindles }, ...(spindles > 1 ? { stripes: spindles } : {}) } : disk.stripes !== undefined ? { stripes: disk.stripes } : {};
      return [{ kind: 'lv', node: primary, vg: disk.vg, name: diskLvName(inst.name, disk.index), sizeMiB: disk.sizeMiB, role: 'data', ...excl }];
    }
    case 'drbd': {
      const out: Volume[] = [];
      const metaSizeMiB = disk.drbd?.metaSizeMiB ?? DRBD_META_MIB;
      const dataName = diskLvName(inst.name, disk.index);
      for (const n of [primary, secondary]) {
        if (n === undefined) continue;
        const isPrimary = n === primary;
        const excl = nodes.get(n)?.exclusiveStorage === true;
        const beside = disk.metaVg === disk.vg;
        const dataLv: Volume = { kind: 'lv', node: n, vg: disk.vg, name: dataName, sizeMiB: disk.sizeMiB, role: isPrimary ? 'primary data' : 'secondary data' };
        const metaLv: Volume = { kind: 'lv', node: n, vg: disk.metaVg, name: diskMetaLvName(inst.name, disk.index), sizeMiB: metaSizeMiB, role: isPrimary ? 'primary meta' : 'secondary meta' };
        out.push(excl ? { ...dataLv, excl: { spindles: disk.spindles ?? 1, ...(beside ? { reserveMiB: metaSizeMiB } : {}) } } : dataLv);
        out.push(excl ? { ...metaLv, excl: beside ? { besideLv: dataName } : { spindles: 1 } } : metaLv);
      }
      return out;
    }
    case 'file': {
      const dir = nodes.get(primary)?.fileStorageDir ?? '/srv/gantry/file-storage';
      return [{ kind: 'file', node: primary, path: diskFilePath(dir, inst.name, disk.index), sizeMiB: disk.sizeMiB, role: 'data', format: disk.format ?? 'raw' }];
    }
    case 'sharedfile':
      return [{ kind: 'file', node: primary, path: diskFilePath(cluster.sharedFileStorageDir, inst.name, disk.index), sizeMiB: disk.sizeMiB, role: 'shared data', format: disk.format ?? 'raw' }];
    case 'diskless':
      return [];
  }
}

function exclReason(e: ExclusiveLv | undefined): string | undefined {
  if (e === undefined) return undefined;
  return 'besideLv' in e ? ` (exclusive storage: on the physical volumes of ${e.besideLv})` : ` (exclusive storage: on ${e.spindles} empty physical volume(s) of its own)`;
}

/**
 * Exclusive storage drift: an instance LV that shares a PV with an LV of another instance (or
 * with one that is no instance's). Reported, not repaired: moving extents (pvmove) is the admin's.
 */
const ownerOf = (lv: ObservedLv): string | undefined => instanceOfLvTags(lv.tags) ?? instanceOfDiskLv(lv.name)?.instance;

export function sharedPvNotes(instance: string, diskIndex: number, node: string, lv: ObservedLv, lvs: Readonly<Record<string, ObservedLv>>): string[] {
  const notes: string[] = [];
  for (const pv of lv.pvs ?? []) {
    const others = Object.values(lvs).filter((o) => o.vg === lv.vg && o.name !== lv.name && (o.pvs ?? []).includes(pv) && ownerOf(o) !== instance);
    if (others.length === 0) continue;
    const who = others.map((o) => {
      const owner = ownerOf(o);
      return owner !== undefined ? `instance ${owner} (${o.vg}/${o.name})` : `${o.vg}/${o.name}, no instance's`;
    });
    notes.push(`disk ${diskIndex}: ${lv.vg}/${lv.name} on ${node} shares physical volume ${pv} with ${who.join(', ')}; exclusive storage gives each instance PVs of its own: move one away (pvmove)`);
  }
  return notes;
}

/** The directory an image lives in (its storage root: images are not nested). */
const storageDirOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';

/**
 * Whether an instance's LVs must be active (an LV reading inactive is then activated):
 * a DRBD disk's data and metadata LVs on both nodes always (its device stays up, attached
 * to them, whatever the power state); a plain disk's LV while the instance is to run.
 * An LV whose state is unknown (`active` absent) is never activated.
 */
function mustBeActive(inst: PlanInstance, disk: PlanDisk): boolean {
  return disk.template === 'drbd' || inst.runtime?.powerState === 'running';
}

function activation(inst: PlanInstance, disk: PlanDisk, v: Extract<Volume, { kind: 'lv' }>, why: string): { diff: FieldDiff; action: Action } {
  return {
    diff: { path: `disks[${disk.index}].${v.role.replace(' ', '.')}.active`, desired: true, observed: false },
    action: { verb: 'lv.activate', node: v.node, subject: `Instance/${inst.name}`, vg: v.vg, name: v.name, reason: `disk ${disk.index} ${v.role} LV ${v.vg}/${v.name} on ${v.node} is inactive (lvchange -an, or a boot without LVM autoactivation): ${why}` },
  };
}

/**
 * The plain LVs on `primary` that read inactive, for an OS install planned there while the
 * instance is to stay stopped (planInstanceDisks activates them only for a running one):
 * the installer writes to them. Those already planned are left out.
 */
export function activationsForInstall(inst: PlanInstance, primary: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster, planned: readonly Action[]): { diffs: FieldDiff[]; actions: Action[] } {
  const out: { diffs: FieldDiff[]; actions: Action[] } = { diffs: [], actions: [] };
  const obs = observed.nodes.get(primary);
  if (!obs?.reachable) return out;
  for (const disk of inst.disks) {
    if (disk.state === 'absent' || disk.template !== 'plain') continue;
    for (const v of volumesOf(inst, disk, primary, undefined, nodes, cluster)) {
      if (v.kind !== 'lv' || obs.lvs[`${v.vg}/${v.name}`]?.active !== false) continue;
      if (planned.some((a) => a.verb === 'lv.activate' && a.node === primary && a.vg === v.vg && a.name === v.name)) continue;
      const a = activation(inst, disk, v, 'the OS install writes to it');
      out.diffs.push(a.diff);
      out.actions.push(a.action);
    }
  }
  return out;
}

export function planInstanceDisks(
  inst: PlanInstance, primary: string, secondary: string | undefined,
  nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster,
  /** Tags recorded beside Gantry's own on a new LV (DRBD: its minor and port on that node). */
  extraTags: (node: string, disk: PlanDisk) => readonly string[] = () => [],
): DiskPlan {
  const diffs: FieldDiff[] = [];
  const actions: Action[] = [];
  const refused: Refusal[] = [];
  const notes: string[] = [];
  const subject = `Instance/${inst.name}`;
  const baseTags = [MANAGED_LV_TAG, instanceLvTag(inst.name)];

  for (const disk of inst.disks) {
    const path = `disks[${disk.index}]`;
    for (const v of volumesOf(inst, disk, primary, secondary, nodes, cluster)) {
      const obs = observed.nodes.get(v.node);
      if (!obs || !obs.reachable) continue; // reported once per node as unreachable
      if (v.kind === 'lv') {
        const have = obs.lvs[`${v.vg}/${v.name}`];
        if (disk.state === 'absent') {
          if (have) {
            diffs.push({ path: `${path}.${v.role}`, desired: 'absent', observed: `${v.vg}/${v.name} on ${v.node}` });
            actions.push({ verb: 'lv.remove', node: v.node, subject, vg: v.vg, name: v.name, reason: `disk ${disk.index} is marked absent: remove ${v.role} LV ${v.vg}/${v.name}` });
          }
        } else if (!have) {
          diffs.push({ path: `${path}.${v.role}`, desired: `${v.sizeMiB} MiB on ${v.node}`, observed: null });
          actions.push({ verb: 'lv.create', node: v.node, subject, vg: v.vg, name: v.name, sizeMiB: v.sizeMiB, tags: [...baseTags, ...extraTags(v.node, disk)], ...(v.stripes !== undefined ? { stripes: v.stripes } : {}), ...(v.excl ?? {}), reason: `disk ${disk.index} ${v.role} LV ${v.vg}/${v.name} is missing on ${v.node}${exclReason(v.excl) ?? (v.stripes !== undefined ? ` (${v.stripes} stripes)` : '')}` });
        } else if (have.sizeMiB < v.sizeMiB) {
          diffs.push({ path: `${path}.size`, desired: v.sizeMiB, observed: have.sizeMiB });
          actions.push({ verb: 'lv.extend', node: v.node, subject, vg: v.vg, name: v.name, sizeMiB: v.sizeMiB, ...(v.excl ? { ownPvs: true as const } : {}), reason: `disk ${disk.index} grows from ${have.sizeMiB} to ${v.sizeMiB} MiB${v.excl ? ' on its own physical volumes (exclusive storage)' : ''}` });
        } else if (have.sizeMiB > v.sizeMiB && v.role.endsWith('data')) {
          diffs.push({ path: `${path}.size`, desired: v.sizeMiB, observed: have.sizeMiB });
          refused.push({ subject, code: 'REFUSED_SHRINK', message: `disk ${disk.index} is ${have.sizeMiB} MiB on ${v.node}; the manifest asks for ${v.sizeMiB} MiB. Disks are never shrunk: restore the size in the manifest.` });
        }
        if (have && disk.state !== 'absent' && have.active === false && mustBeActive(inst, disk)) {
          const a = activation(inst, disk, v, disk.template === 'drbd' ? 'DRBD needs it to attach' : 'the instance runs on it');
          diffs.push(a.diff);
          actions.push(a.action);
        }
        if (have && disk.state !== 'absent' && v.excl) notes.push(...sharedPvNotes(inst.name, disk.index, v.node, have, obs.lvs));
        // Stripes are chosen at lvcreate (as Ganeti's plain.stripes): LVM cannot restripe a linear or striped LV in place.
        if (have && disk.state !== 'absent' && disk.template === 'plain' && have.stripes !== undefined && have.stripes !== (v.stripes ?? 1)) {
          notes.push(`disk ${disk.index}: ${v.vg}/${v.name} on ${v.node} has ${have.stripes} stripe(s), diskParams.plain.stripes asks ${v.stripes ?? 1}; stripes apply when an LV is created and this one is left as it is`);
        }
      } else {
        const have = obs.files[v.path];
        if (disk.state === 'absent') {
          if (have) {
            diffs.push({ path, desired: 'absent', observed: v.path });
            actions.push({ verb: 'file.remove', node: v.node, subject, path: v.path, reason: `disk ${disk.index} is marked absent: remove ${v.path}` });
          }
        } else if (!have) {
          diffs.push({ path, desired: `${v.sizeMiB} MiB at ${v.path}`, observed: null });
          const dir = storageDirOf(v.path);
          if (obs.storageDirs?.[dir] === false) {
            refused.push({ subject, code: 'STORAGE_DIR_MISSING', message: `disk ${disk.index}: storage directory ${dir} does not exist on ${v.node}. Gantry never creates it (an unmounted or mistyped directory would fill the root filesystem): create or mount it.` });
            continue;
          }
          const mark = extraTags(v.node, disk).includes(REINSTALL_LV_TAG) ? reinstallMarkPath(v.path) : undefined;
          actions.push({ verb: 'file.create', node: v.node, subject, path: v.path, sizeMiB: v.sizeMiB, format: v.format, ...(mark !== undefined ? { mark } : {}), reason: `disk ${disk.index} ${v.format} image ${v.path} is missing${mark !== undefined ? ` (made after its half-made mark ${mark}: a reinstall)` : ''}` });
        } else if (have.format !== v.format) {
          // Never converted in place: a raw disk read as qcow2 (or the reverse) would hand the guest garbage.
          diffs.push({ path: `${path}.format`, desired: v.format, observed: have.format });
          refused.push({ subject, code: 'DISK_FORMAT_MISMATCH', message: `disk ${disk.index} image ${v.path} on ${v.node} is ${have.format}; the manifest asks for ${v.format}. Gantry never converts a disk in place: convert it yourself (qemu-img convert, with the instance stopped) or set the format back.` });
        } else if (have.virtualSizeMiB < v.sizeMiB) {
          diffs.push({ path: `${path}.size`, desired: v.sizeMiB, observed: have.virtualSizeMiB });
          actions.push({ verb: 'file.grow', node: v.node, subject, path: v.path, sizeMiB: v.sizeMiB, format: v.format, reason: `disk ${disk.index} grows from ${have.virtualSizeMiB} to ${v.sizeMiB} MiB` });
        } else if (have.virtualSizeMiB > v.sizeMiB) {
          diffs.push({ path: `${path}.size`, desired: v.sizeMiB, observed: have.virtualSizeMiB });
          refused.push({ subject, code: 'REFUSED_SHRINK', message: `disk ${disk.index} image ${v.path} is ${have.virtualSizeMiB} MiB; the manifest asks for ${v.sizeMiB} MiB. Disks are never shrunk: restore the size in the manifest.` });
        }
      }
    }
  }
  return { diffs, actions, refused, notes };
}

/**
 * Remove every disk volume of an instance found anywhere (instance absent + deleteDisks).
 * Matched exactly: an LV with Gantry's tags for this instance and a name made for it; a
 * file directly in a Gantry storage dir under a name made for it. Never by prefix.
 */
export function planDeleteInstanceDisks(inst: PlanInstance, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): DiskPlan {
  const diffs: FieldDiff[] = [];
  const actions: Action[] = [];
  const subject = `Instance/${inst.name}`;
  const sharedSeen = new Set<string>();
  for (const [nodeName, obs] of [...observed.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    if (!obs.reachable) continue;
    const downs = planDrbdDownForDeletion(inst.name, nodeName, obs);
    actions.push(...downs);
    diffs.push(...downs.map((a) => ({ path: 'disks', desired: 'deleted', observed: `DRBD ${(a as { resource: string }).resource} up on ${nodeName}` })));
    for (const lv of Object.values(obs.lvs)) {
      if (!isDiskLvOf(lv, inst.name)) continue;
      diffs.push({ path: 'disks', desired: 'deleted', observed: `${lv.vg}/${lv.name} on ${nodeName}` });
      actions.push({ verb: 'lv.remove', node: nodeName, subject, vg: lv.vg, name: lv.name, reason: `instance is absent and deleteDisks is set: remove ${lv.vg}/${lv.name}` });
    }
    const dirs = [nodes.get(nodeName)?.fileStorageDir, cluster.sharedFileStorageDir].filter((d): d is string => d !== undefined);
    for (const f of Object.values(obs.files)) {
      // A reinstall's mark left beside an image goes with it.
      const image = f.path.endsWith('.reinstall') ? f.path.slice(0, -'.reinstall'.length) : f.path;
      if (!isDiskFileOf(image, inst.name, dirs)) continue;
      // A sharedfile image is seen by every node: remove it once.
      if (path.posix.dirname(f.path) === cluster.sharedFileStorageDir) {
        if (sharedSeen.has(f.path)) continue;
        sharedSeen.add(f.path);
      }
      diffs.push({ path: 'disks', desired: 'deleted', observed: `${f.path} on ${nodeName}` });
      actions.push({ verb: 'file.remove', node: nodeName, subject, path: f.path, reason: `instance is absent and deleteDisks is set: remove ${f.path}` });
    }
  }
  return { diffs, actions, refused: [] };
}

/** Where a volume is, as one comparable string (a sharedfile image is the same on every node). */
function volumeId(v: Volume, cluster: PlanCluster): string {
  if (v.kind === 'lv') return `LV ${v.vg}/${v.name} on ${v.node}`;
  return path.posix.dirname(v.path) === cluster.sharedFileStorageDir ? `shared file ${v.path}` : `file ${v.path} on ${v.node}`;
}

function volumeExists(v: Volume, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): boolean {
  if (v.kind === 'lv') return observed.nodes.get(v.node)?.lvs[`${v.vg}/${v.name}`] !== undefined;
  if (path.posix.dirname(v.path) === cluster.sharedFileStorageDir) {
    observed.reads?.note('disks.files', v.path);
    return filesSeen(nodes, cluster, observed).has(v.path);
  }
  return observed.nodes.get(v.node)?.files[v.path] !== undefined;
}

/** Every observed data volume made for disk `index` of `instance` (exact names, Gantry's storage dirs). */
function observedDataVolumes(instance: string, index: number, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): Volume[] {
  observed.reads?.note('disks.volumes', `${instance}\0${index}`);
  return dataVolumes(nodes, cluster, observed).get(`${instance}\0${index}`) ?? [];
}

/**
 * Lookups over every observed LV and file, each built in one pass when first needed, once
 * per plan (the `nodes` map is made per plan call; observed and cluster must be the same
 * objects too), so a missing disk costs a lookup, not a scan of every node:
 * "instance\0index" -> its observed data volumes; every file path a reachable node lists.
 */
interface PlanIndex { readonly observed: ObservedCluster; readonly cluster: PlanCluster; dataVolumes?: Map<string, Volume[]>; sharedFiles?: Set<string>; recordedDisks?: Map<string, { node: string; paths: string[] }[]> }
const planIndexes = new WeakMap<ReadonlyMap<string, PlanNode>, PlanIndex>();

function planIndex(nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): PlanIndex {
  const cached = planIndexes.get(nodes);
  if (cached?.observed === observed && cached.cluster === cluster) return cached;
  const index: PlanIndex = { observed, cluster };
  planIndexes.set(nodes, index);
  return index;
}

/** Builds a per-plan index without charging its reads to the instance that asked first (each lookup in it is noted instead: plan/plan-cache). */
const unnoted = <T>(observed: ObservedCluster, fn: () => T): T => (observed.reads ? observed.reads.unnoted(fn) : fn());

function filesSeen(nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): Set<string> {
  const index = planIndex(nodes, cluster, observed);
  if (!index.sharedFiles) {
    const files = new Set<string>();
    unnoted(observed, () => {
      for (const o of observed.nodes.values()) if (o.reachable) for (const p of Object.keys(o.files)) files.add(p);
    });
    index.sharedFiles = files;
  }
  return index.sharedFiles;
}

function dataVolumes(nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): Map<string, Volume[]> {
  const index = planIndex(nodes, cluster, observed);
  if (index.dataVolumes) return index.dataVolumes;
  // Built once per plan for every instance: its reads are no one instance's (each lookup is noted, plan/plan-cache).
  return (index.dataVolumes = unnoted(observed, () => buildDataVolumes(nodes, cluster, observed)));
}

function buildDataVolumes(nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): Map<string, Volume[]> {
  const out = new Map<string, Volume[]>();
  const add = (instance: string, i: number, v: Volume): void => {
    const k = `${instance}\0${i}`;
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  };
  for (const [node, obs] of observed.nodes) {
    if (!obs.reachable) continue;
    for (const lv of Object.values(obs.lvs)) {
      const owner = instanceOfDiskLv(lv.name);
      if (owner && !owner.meta && isDiskLvOf(lv, owner.instance)) add(owner.instance, owner.index, { kind: 'lv', node, vg: lv.vg, name: lv.name, sizeMiB: lv.sizeMiB, role: 'data' });
    }
    const dirs = [nodes.get(node)?.fileStorageDir, cluster.sharedFileStorageDir].filter((d): d is string => d !== undefined);
    for (const f of Object.values(obs.files)) {
      const owner = instanceOfDiskFile(f.path);
      if (owner && isDiskFileOf(f.path, owner.instance, dirs)) add(owner.instance, owner.index, { kind: 'file', node, path: f.path, sizeMiB: f.virtualSizeMiB, role: 'data', format: f.format === 'qcow2' ? 'qcow2' : 'raw' });
    }
  }
  return out;
}

/** The disk paths the instance was last started with, from its record on a reachable node (the primary's first, then by node name). */
function recordedDiskPaths(instance: string, primary: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): string[] | undefined {
  observed.reads?.note('disks.records', instance);
  const records = recordedDisks(nodes, cluster, observed).get(instance);
  if (!records) return undefined;
  return (records.find((r) => r.node === primary) ?? records[0]!).paths;
}

/** Instance -> each reachable node's record of the disks it was started with, in node-name order: one pass a plan (was a sort of every node per missing disk). */
function recordedDisks(nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): Map<string, { node: string; paths: string[] }[]> {
  const index = planIndex(nodes, cluster, observed);
  if (index.recordedDisks) return index.recordedDisks;
  return (index.recordedDisks = unnoted(observed, () => buildRecordedDisks(observed)));
}

function buildRecordedDisks(observed: ObservedCluster): Map<string, { node: string; paths: string[] }[]> {
  const out = new Map<string, { node: string; paths: string[] }[]>();
  for (const [node, obs] of [...observed.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    if (!obs.reachable) continue;
    for (const [name, vm] of Object.entries(obs.instances)) {
      const disks = vm?.meta?.launch?.disks;
      if (!Array.isArray(disks)) continue;
      const paths = disks.map((d) => String((d as { path?: unknown }).path ?? ''));
      const list = out.get(name);
      if (list) list.push({ node, paths });
      else out.set(name, [{ node, paths }]);
    }
  }
  return out;
}

/**
 * Every data volume volumesOf wants for a plain, DRBD or diskless disk exists (the common
 * case: no conversion to look for), answered without building the volumes; false means
 * "look properly" (and always for file and sharedfile disks).
 */
function dataVolumesExist(inst: PlanInstance, disk: PlanDisk, primary: string, secondary: string | undefined, observed: ObservedCluster): boolean {
  if (disk.template === 'diskless') return true;
  if (disk.template !== 'plain' && disk.template !== 'drbd') return false;
  const key = `${disk.vg}/${diskLvName(inst.name, disk.index)}`;
  if (observed.nodes.get(primary)?.lvs[key] === undefined) return false;
  return disk.template === 'plain' || secondary === undefined || observed.nodes.get(secondary)?.lvs[key] !== undefined;
}

/**
 * A disk that exists, but not where the manifest now puts it (its template, VG, storage
 * dir or node changed), is refused: planning the new location would create an empty
 * disk and restart the VM on it. Two witnesses: a volume made for this disk observed
 * elsewhere, or the instance record naming another path for it. Only when the desired
 * volume is missing (both existing is no conversion) and its node could be observed.
 */
export function planDiskConversions(
  inst: PlanInstance, primary: string, secondary: string | undefined,
  nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster,
): Refusal[] {
  const refused: Refusal[] = [];
  // Read only when a disk is missing: sorting every node's snapshot per instance costs O(nodes log nodes) each.
  let recorded: string[] | undefined | null = null;
  const recordedPaths = (): string[] | undefined => (recorded === null ? (recorded = recordedDiskPaths(inst.name, primary, nodes, cluster, observed)) : recorded);
  const present = inst.disks.filter((d) => d.state === 'present');
  present.forEach((disk, k) => {
    if (dataVolumesExist(inst, disk, primary, secondary, observed)) return;
    const want = volumesOf(inst, disk, primary, secondary, nodes, cluster).filter((v) => v.role.endsWith('data'));
    const missing = want.filter((v) => !volumeExists(v, nodes, cluster, observed));
    if (want.length === 0 || missing.length === 0) return;
    const unobservable = missing.some((v) => !observed.nodes.get(v.node)?.reachable && !(v.kind === 'file' && path.posix.dirname(v.path) === cluster.sharedFileStorageDir));
    if (unobservable) return; // unknown is not absent: decided when the node answers
    const wantIds = new Set(want.map((v) => volumeId(v, cluster)));
    const elsewhere = [...new Set(observedDataVolumes(inst.name, disk.index, nodes, cluster, observed).map((v) => volumeId(v, cluster)))].filter((id) => !wantIds.has(id));
    const wantPaths = new Set(want.filter((v) => v.node === primary || v.kind === 'file').map((v) => (v.kind === 'lv' ? `/dev/${v.vg}/${v.name}` : v.path)));
    const was = recordedPaths()?.[k];
    const recordSaysElsewhere = was !== undefined && was !== '' && disk.template !== 'drbd' && !wantPaths.has(was);
    if (elsewhere.length === 0 && !recordSaysElsewhere) return;
    // A DRBD secondary moving to another node, the primary's data in place and no old copy on
    // the new pair: a secondary replacement (plan/drbd-replace), planned and shown there.
    const onPair = (id: string) => id.endsWith(` on ${primary}`) || (secondary !== undefined && id.endsWith(` on ${secondary}`));
    if (disk.template === 'drbd' && secondary !== undefined && missing.every((v) => v.node === secondary) && !elsewhere.some(onPair)) return;
    const found = elsewhere.length > 0 ? elsewhere.sort().join(', ') : `${was} (the path its instance record was started with)`;
    refused.push({
      subject: `Instance/${inst.name}`, code: 'DISK_CONVERSION_NEEDED',
      message: `disk ${disk.index} exists as ${found}, but the manifest now asks for ${missing.map((v) => volumeId(v, cluster)).join(', ')} (${disk.template}), which does not exist. ` +
        'Gantry never converts or moves a disk implicitly (that would start the VM on a new, empty disk): conversion is an explicit operation. ' +
        'Restore the template, VG and storage dir in the manifest, or copy the data to the new place by hand and apply again.',
    });
  });
  return refused;
}

/** What a noted lookup in this plan's disk indexes answers now, as text (plan/plan-cache compares it with the previous pass's). */
export function diskIndexFingerprint(id: string, key: string, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster, observed: ObservedCluster): string {
  if (id === 'disks.files') return filesSeen(nodes, cluster, observed).has(key) ? '1' : '0';
  if (id === 'disks.volumes') return JSON.stringify(dataVolumes(nodes, cluster, observed).get(key) ?? []);
  return JSON.stringify(recordedDisks(nodes, cluster, observed).get(key) ?? []);
}
