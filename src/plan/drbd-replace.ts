/**
 * Moving a DRBD disk's replica, and converting a disk between plain and DRBD. Pure.
 *
 *   secondary replacement (Ganeti's `gnt-instance replace-disks -n NEW`, TLReplaceDisks.
 *   _ExecDrbd8Secondary, DRBD 8.4): the manifest (or a drain) names a new secondary NEW
 *   while the old one (OLD) still holds the disk's LVs. New data + meta LVs and a new
 *   minor on NEW (the port is kept), metadata and the device on NEW (standalone until
 *   the primary connects), the primary disconnected from OLD and connected to NEW, a
 *   full resync from the primary (NEW's fresh metadata makes it the SyncTarget: never
 *   `primary --force`, never discard-my-data), and only once NEW is UpToDate OLD's
 *   resource taken down and its LVs removed, each shown as such. Between the disconnect
 *   and the end of the resync the data exists once (on the primary): the plan says so.
 *   Refused while the primary is not UpToDate, or when NEW lacks the space.
 *   Every pass recomputes where the replacement stands, so it resumes after any step.
 *
 *   On DRBD 9 (both nodes): plan/drbd9-replace, the new replica joins before the old
 *   one leaves (no gap).
 *
 *   plain -> drbd (Ganeti's `gnt-instance modify -t drbd -n SNODE`): with the instance
 *   stopped only. The existing data LV becomes the primary's DRBD backing device: a meta
 *   LV beside it, new LVs on the secondary, and `primary --force` on the primary, which
 *   here holds the only data (the initial sync copies it to the empty secondary).
 *
 *   drbd -> plain (`gnt-instance modify -t plain`): stopped only. Both resources down,
 *   the secondary's LVs and the primary's meta LV removed (shown as destruction); the
 *   primary's data LV is the plain disk.
 */
import { actionKey, type Action, type LvRemove, type LvUntag } from '../core/actions.js';
import type { ObservedDrbdDevice, ObservedNode } from '../core/observed.js';
import type { FieldDiff, ObservedCluster, PlanDisk, PlanInstance, Refusal } from '../core/plan.js';
import { deviceOf, down, drbdAddr, drbdPeerConnected, drbdUpAction, describeSync, type DrbdDiskInput, type DrbdDiskPlan } from './drbd.js';
import { isDrbd9Node } from './drbd9.js';
import { planReplaceSecondary9 } from './drbd9-replace.js';
import { DRBD_MINOR_TAG, DRBD_PORT_TAG, diskLvName, diskMetaLvName, drbdOfLvTags, drbdResourceName, isDiskLvOf } from './naming.js';

/** Seconds drbd.wait-sync waits for the new secondary's resync before the pass moves on (the next pass waits again). */
export const DRBD_SYNC_WAIT_S = 1800;

/** A node other than the pair that still holds LVs of a DRBD disk: an old secondary. */
export interface FormerReplica {
  readonly node: string;
  readonly lvs: readonly { readonly vg: string; readonly name: string }[];
  /** The minor its LVs record there, and the device using it (if up). */
  readonly minor?: number;
  readonly device?: ObservedDrbdDevice;
  /**
   * The node is gone (Dead or offline: harep's fix-storage replaces its replica): it cannot
   * be seen, so nothing of it is taken down or removed; its LVs (from its last snapshot)
   * are left as orphans to clean up once it returns.
   */
  readonly gone?: string;
}

/** The replica of this disk on a gone (Dead or offline) node, from its last snapshot when one is kept. */
export function goneReplica(inst: PlanInstance, disk: PlanDisk, node: string, why: string, observed: ObservedCluster): FormerReplica {
  const last = observed.lastKnown?.get(node);
  const { lvs, minor } = last ? diskLvsOn(inst, disk, last) : { lvs: [] };
  return { node, lvs, ...(minor !== undefined ? { minor } : {}), gone: why };
}

/** The disk's LVs on `node` (exact names, Gantry's tags for this instance), with the minor they record. */
function diskLvsOn(inst: PlanInstance, disk: PlanDisk, obs: ObservedNode): { lvs: { vg: string; name: string }[]; minor?: number } {
  const lvs: { vg: string; name: string }[] = [];
  let minor: number | undefined;
  for (const [vg, name] of [[disk.vg, diskLvName(inst.name, disk.index)], [disk.metaVg, diskMetaLvName(inst.name, disk.index)]] as const) {
    const lv = obs.lvs[`${vg}/${name}`];
    if (!lv || !isDiskLvOf(lv, inst.name)) continue;
    lvs.push({ vg, name });
    minor ??= drbdOfLvTags(lv.tags).minor;
  }
  return { lvs, ...(minor !== undefined ? { minor } : {}) };
}

/** Observed nodes among `candidates` (not the pair) that hold LVs of this disk. */
export function formerReplicas(inst: PlanInstance, disk: PlanDisk, pair: readonly string[], candidates: Iterable<string>, observed: ObservedCluster): FormerReplica[] {
  const out: FormerReplica[] = [];
  for (const node of [...candidates].sort()) {
    if (pair.includes(node)) continue;
    const obs = observed.nodes.get(node);
    if (!obs?.reachable) continue;
    const { lvs, minor } = diskLvsOn(inst, disk, obs);
    if (lvs.length === 0) continue;
    const dev = minor !== undefined ? deviceOf(obs, minor) : undefined;
    const device = dev && (dev.resource === undefined || dev.resource === drbdResourceName(minor!)) ? dev : undefined;
    out.push({ node, lvs, ...(minor !== undefined ? { minor } : {}), ...(device ? { device } : {}) });
  }
  return out;
}

export interface ReplacePlan extends DrbdDiskPlan {
  /** Planned actions of the disk step (lv.create on the new secondary) to drop: the replacement was refused. */
  readonly drop: readonly Action[];
}

/**
 * Adds the replacement of `former` by x.secondary to `base` (planDrbdDisk's plan for the
 * new pair). `base` already brings the new side up (create-md, drbd.up); this adds the
 * disconnect, the primary's connect, the wait for the resync and the removal of the old.
 */
export function planReplaceSecondary(x: DrbdDiskInput, base: DrbdDiskPlan, former: readonly FormerReplica[]): ReplacePlan {
  if (former.length === 0) return { ...base, drop: [] }; // nothing to replace (every converged disk)
  const { inst, disk, primary: P, secondary: S, alloc } = x;
  const subject = `Instance/${inst.name}`;
  const olds = former.map((f) => f.node).join(', ');
  const pObs = x.observed.nodes.get(P.name);
  const sObs = x.observed.nodes.get(S.name);
  if (former.length === 0 || x.failover || disk.state !== 'present' || base.refused.length > 0 || !pObs?.reachable || !sObs?.reachable || !pObs.drbd || !sObs.drbd) return { ...base, drop: [] };
  if (isDrbd9Node(pObs) && isDrbd9Node(sObs)) return planReplaceSecondary9(x, base, former, DRBD_SYNC_WAIT_S);
  const minorP = alloc.minors.get(P.name)!;
  const res = drbdResourceName(minorP);
  const pDev = deviceOf(pObs, minorP);
  const sDev = deviceOf(sObs, alloc.minors.get(S.name)!);
  const label = `disk ${disk.index}`;
  const diffs: FieldDiff[] = [...base.diffs, { path: `disks[${disk.index}].secondary`, desired: S.name, observed: olds }];
  // The primary's link to a gone replica, re-linked by the pair's plan (plan/drbd planRelink): the replacement's disconnect and connect stand for it.
  const relink = base.actions.find((a) => a.verb === 'drbd.disconnect' && a.node === P.name && a.minor === minorP);
  const actions: Action[] = relink === undefined ? [...base.actions] : base.actions.filter((a) => a !== relink && !(a.verb === 'drbd.up' && a.node === P.name && a.after?.includes(actionKey(relink))));
  const notes = [...base.notes];
  const newLinked = sDev !== undefined && drbdPeerConnected(sDev);
  const synced = newLinked && sDev.disk === 'UpToDate' && pDev?.disk === 'UpToDate' && sDev.peer?.replication !== 'SyncTarget';
  const dead = former.filter((f) => f.gone !== undefined);
  const gap = dead.length > 0
    ? `redundancy gap: ${dead.map((f) => `${f.node} is ${f.gone}`).join(', ')}, so until ${S.name} is UpToDate ${label} exists once (on ${P.name})`
    : `redundancy gap: from the disconnect of ${P.name} from ${olds} until ${S.name} is UpToDate, ${label} exists once (on ${P.name}); ${olds} keeps its copy, frozen at the disconnect, until then`;
  const keys: string[] = [];
  /** Old secondaries whose device this pass already takes down (before the new connect). */
  const downed: string[] = [];

  if (!newLinked) {
    const refused: Refusal[] = [];
    if (!pDev || pDev.disk !== 'UpToDate') {
      refused.push({ subject, code: 'DRBD_REPLACE_DEGRADED', message: `${label}: replacing the secondary ${olds} by ${S.name} refused: the primary's data on ${P.name} is ${pDev ? pDev.disk ?? 'unknown' : `not up (${res} is down)`}, not UpToDate; the old secondary may hold the only good copy. Let the pair ${P.name}/${olds} resync first (set placement.secondary back to ${olds} meanwhile)` });
    }
    const { creates, refused: noSpace } = newReplicaSpace(x, olds, label);
    refused.push(...noSpace);
    if (refused.length > 0) return { diffs, actions: [], refused, notes, blocksRuntime: false, drop: creates };
    const end = dead.length > 0 ? `${olds} cannot be seen: nothing of it is taken down or removed` : `then ${olds}'s resource and LVs removed once ${S.name} is UpToDate`;
    notes.push(`secondary replacement (Ganeti's replace-disks -n, DRBD 8.4): ${label} moves its secondary from ${olds} to ${S.name}: new LVs and metadata on ${S.name}, ${P.name} disconnected from ${olds} and connected to ${S.name}, a full resync from ${P.name} (never primary --force); ${end}. ${gap}`);
    const prep = [...creates, ...base.actions.filter((a) => a.node === S.name && a.verb === 'drbd.create-md')].map((a) => actionKey(a));
    const disconnect: Action = {
      verb: 'drbd.disconnect', node: P.name, subject, resource: res, minor: minorP, local: { host: drbdAddr(P), port: alloc.port }, keep: { host: drbdAddr(S), port: alloc.port }, from: former.map((f) => f.node),
      ...(prep.length > 0 ? { after: prep } : {}),
      reason: `secondary replacement: disconnect ${res} on ${P.name} from its old secondary ${olds} (the device stays attached and ${pDev?.role ?? 'as it is'}); ${gap}`,
    };
    actions.push(disconnect);
    keys.push(actionKey(disconnect));
    // The old secondary's device goes down before the primary listens for its new peer, as Ganeti's
    // replace-disks -n does: DRBD 8.4 accepts a connection from whichever peer comes first, so the old
    // secondary, still linked to the primary, could connect in the new one's place and pass the wait
    // below. Its LVs stay (its copy, frozen at the disconnect) until the new secondary is UpToDate.
    const oldDowns = former.filter((f) => f.gone === undefined && f.device && f.minor !== undefined)
      .map((f): Action => ({ ...down(subject, f.node, f.minor!, `secondary replacement: take down ${drbdResourceName(f.minor!)} on the old secondary ${f.node} before ${P.name} connects to ${S.name} (DRBD 8.4 takes whichever peer connects first); its LVs stay until ${S.name} is UpToDate`, [actionKey(disconnect)]), beforeConnect: true } as Action));
    actions.push(...oldDowns);
    const upAfter = [actionKey(disconnect), ...oldDowns.map((d) => actionKey(d))];
    const existing = actions.findIndex((a) => a.verb === 'drbd.up' && a.node === P.name && a.minor === minorP);
    if (existing < 0) {
      actions.push(drbdUpAction(x, P, S, `secondary replacement: connect ${res} on ${P.name} to its new secondary ${S.name}; ${S.name}'s fresh metadata makes it the SyncTarget of a full resync from ${P.name} (UpToDate)`, upAfter));
    } else if (oldDowns.length > 0) {
      const up = actions[existing]!;
      actions[existing] = { ...up, after: [...new Set([...(up.after ?? []), ...upAfter])] } as Action;
    }
    downed.push(...oldDowns.map((d) => d.node));
  }
  keys.push(...actions.filter((a) => a.verb === 'drbd.up').map((a) => actionKey(a)));

  let wait: Action | undefined;
  if (!synced) {
    const progress = sDev?.peer?.sync ? ` (now ${describeSync(sDev.peer.sync)})` : '';
    wait = {
      verb: 'drbd.wait-sync', node: P.name, subject, resource: res, minor: minorP, peerNode: S.name, waitS: DRBD_SYNC_WAIT_S, ...(keys.length > 0 ? { after: keys } : {}),
      reason: `secondary replacement: wait until ${S.name} is UpToDate (full resync from ${P.name}${progress}) before anything of ${olds} is removed`,
    };
    actions.push(wait);
    if (newLinked) notes.push(`condition Degraded: ${label}: ${S.name} resyncs from ${P.name} as the new secondary${progress}; ${gap}`);
  }
  const first = wait ? [actionKey(wait)] : [];
  for (const f of former) {
    if (f.gone !== undefined) {
      // Never remove data on a node Gantry cannot see: its copy is an orphan once it returns.
      const what = f.lvs.length > 0 ? `its LVs ${f.lvs.map((lv) => `${lv.vg}/${lv.name}`).join(', ')}` : 'whatever it holds of this disk';
      notes.push(`${label}: the old secondary ${f.node} is ${f.gone}: ${what} stay there, not removed (Gantry never removes data on a node it cannot see); once ${f.node} returns they are left alone beside the new pair (the plan names them): remove them by hand`);
      continue;
    }
    const after = [...first];
    const early = actions.find((a) => a.verb === 'drbd.down' && a.node === f.node && downed.includes(f.node));
    if (early) after.push(actionKey(early));
    else if (f.device && f.minor !== undefined) {
      const d = down(subject, f.node, f.minor, `secondary replacement: ${S.name} is UpToDate${wait ? ' (once the wait above succeeds)' : ''}: take down ${drbdResourceName(f.minor)} on the old secondary ${f.node} before its LVs are removed`, first);
      actions.push(d);
      after.push(actionKey(d));
    }
    for (const lv of f.lvs) {
      const rm: LvRemove = {
        verb: 'lv.remove', node: f.node, subject, vg: lv.vg, name: lv.name, ...(after.length > 0 ? { after } : {}),
        reason: `secondary replacement: remove the old secondary's LV ${lv.vg}/${lv.name} on ${f.node} once ${S.name} is UpToDate: this DESTROYS the old copy of ${label} there (${P.name} and ${S.name} hold the data)`,
      };
      actions.push(rm);
      diffs.push({ path: `disks[${disk.index}].former.${f.node}`, desired: 'absent', observed: `${lv.vg}/${lv.name} on ${f.node}` });
    }
  }
  return { diffs, actions, refused: [], notes, blocksRuntime: base.blocksRuntime, drop: [] };
}

/** The new secondary's planned LVs of this disk, and a DRBD_REPLACE_NO_SPACE refusal per volume group without room for them. */
export function newReplicaSpace(x: DrbdDiskInput, olds: string, label: string): { creates: Action[]; refused: Refusal[] } {
  const { inst, disk, secondary: S } = x;
  const sObs = x.observed.nodes.get(S.name);
  const need = new Map<string, number>();
  const creates = x.planned.filter((a) => a.verb === 'lv.create' && a.node === S.name && (a.name === diskLvName(inst.name, disk.index) || a.name === diskMetaLvName(inst.name, disk.index)));
  for (const a of creates) if (a.verb === 'lv.create') need.set(a.vg, (need.get(a.vg) ?? 0) + a.sizeMiB);
  const refused: Refusal[] = [];
  for (const [vg, mib] of need) {
    const free = sObs?.vgs[vg]?.freeMiB;
    if (free === undefined || free < mib) {
      refused.push({ subject: `Instance/${inst.name}`, code: 'DRBD_REPLACE_NO_SPACE', message: `${label}: replacing the secondary ${olds} by ${S.name} refused: ${S.name} ${free === undefined ? `has no volume group ${vg}` : `has ${free} MiB free in ${vg}`}, the new replica needs ${mib} MiB there` });
    }
  }
  return { creates, refused };
}

/**
 * plain -> drbd: the primary's data LV exists without a DRBD record and its meta LV is
 * planned now. Refused while the instance runs; otherwise `base` (a new pair, whose
 * initial sync is `primary --force` on the primary) is kept with the reason said.
 */
export function planPlainToDrbd(x: DrbdDiskInput, base: DrbdDiskPlan, running: readonly string[]): ReplacePlan {
  const { inst, disk, primary: P, secondary: S } = x;
  const pObs = x.observed.nodes.get(P.name);
  const data = pObs?.lvs[`${disk.vg}/${diskLvName(inst.name, disk.index)}`];
  // The meta LV lookup first: it exists on every converged DRBD disk, and the tag and name checks cost more.
  const converting = data !== undefined && pObs?.lvs[`${disk.metaVg}/${diskMetaLvName(inst.name, disk.index)}`] === undefined && isDiskLvOf(data, inst.name) && drbdOfLvTags(data.tags).minor === undefined;
  if (!converting || disk.state !== 'present') return { ...base, drop: [] };
  const subject = `Instance/${inst.name}`;
  const label = `disk ${disk.index}`;
  if (running.length > 0) {
    const drop = x.planned.filter((a) => a.verb === 'lv.create' && (a.name === diskMetaLvName(inst.name, disk.index) || (a.node !== P.name && a.name === diskLvName(inst.name, disk.index))));
    return {
      diffs: [{ path: `disks[${disk.index}].template`, desired: 'drbd', observed: 'plain' }], actions: [], notes: [], blocksRuntime: false, drop,
      refused: [{ subject, code: 'DRBD_CONVERT_RUNNING', message: `${label}: converting plain -> drbd needs ${inst.name} stopped (as Ganeti's gnt-instance modify -t drbd): it runs on ${running.join(', ')}. Set runtime.powerState: stopped, apply, then apply the conversion` }],
    };
  }
  const why = `conversion plain -> drbd (Ganeti's gnt-instance modify -t drbd -n ${S.name}): the existing data LV on ${P.name} becomes the backing device of a DRBD pair with ${S.name}`;
  const actions = base.actions.map((a): Action => a.verb === 'drbd.initial-sync'
    ? { ...a, reason: `${why}: primary --force on ${P.name}, which holds the only data (acceptable only here: ${S.name} is new and empty); the initial full sync copies it to ${S.name}` }
    : a);
  return { ...base, actions, diffs: [...base.diffs, { path: `disks[${disk.index}].template`, desired: 'drbd', observed: 'plain' }], notes: [...base.notes, `${why}; the instance stays stopped until the pair is up`], drop: [] };
}

/**
 * drbd -> plain: a plain disk whose primary still holds a DRBD meta LV for it. Stopped
 * only. Both resources go down, the other nodes' LVs and the primary's meta LV are
 * removed (destruction, shown), and the VM waits for the next pass (blocksRuntime).
 */
export function planDrbdToPlain(inst: PlanInstance, disk: PlanDisk, primary: string, candidates: Iterable<string>, observed: ObservedCluster, running: readonly string[]): DrbdDiskPlan | undefined {
  const pObs = observed.nodes.get(primary);
  if (disk.template !== 'plain' || disk.state !== 'present' || !pObs?.reachable) return undefined;
  const meta = pObs.lvs[`${disk.metaVg}/${diskMetaLvName(inst.name, disk.index)}`];
  if (!meta || !isDiskLvOf(meta, inst.name)) return staleDrbdRecord(inst, disk, primary, pObs);
  const subject = `Instance/${inst.name}`;
  const label = `disk ${disk.index}`;
  const diffs: FieldDiff[] = [{ path: `disks[${disk.index}].template`, desired: 'plain', observed: 'drbd' }];
  if (running.length > 0) {
    return { diffs, actions: [], notes: [], blocksRuntime: true, refused: [{ subject, code: 'DRBD_CONVERT_RUNNING', message: `${label}: converting drbd -> plain needs ${inst.name} stopped (as Ganeti's gnt-instance modify -t plain): it runs on ${running.join(', ')}. Set runtime.powerState: stopped, apply, then apply the conversion` }] };
  }
  const others = formerReplicas(inst, disk, [primary], candidates, observed);
  const why = `conversion drbd -> plain (Ganeti's gnt-instance modify -t plain)`;
  const actions: Action[] = [];
  const mine = diskLvsOn(inst, disk, pObs);
  const pMinor = mine.minor;
  const pDown: string[] = [];
  if (pMinor !== undefined && deviceOf(pObs, pMinor)) {
    const d = down(subject, primary, pMinor, `${why}: take down ${drbdResourceName(pMinor)} on ${primary}; its data LV becomes the plain disk`);
    actions.push(d);
    pDown.push(actionKey(d));
  }
  actions.push({ verb: 'lv.remove', node: primary, subject, vg: disk.metaVg, name: meta.name, ...(pDown.length > 0 ? { after: pDown } : {}), reason: `${why}: remove the DRBD meta LV ${disk.metaVg}/${meta.name} on ${primary} (DRBD metadata only; the data LV stays)` });
  const untag = untagDrbdRecord(inst, disk, primary, pObs, `${why}: the plain disk no longer holds its DRBD minor and port`, pDown);
  if (untag) actions.push(untag);
  for (const f of others) {
    const after = [...pDown];
    if (f.device && f.minor !== undefined) {
      const d = down(subject, f.node, f.minor, `${why}: take down ${drbdResourceName(f.minor)} on the secondary ${f.node}`);
      actions.push(d);
      after.push(actionKey(d));
    }
    for (const lv of f.lvs) {
      actions.push({ verb: 'lv.remove', node: f.node, subject, vg: lv.vg, name: lv.name, ...(after.length > 0 ? { after } : {}), reason: `${why}: remove the secondary's LV ${lv.vg}/${lv.name} on ${f.node}: this DESTROYS the replica of ${label} there (the data stays on ${primary})` });
      diffs.push({ path: `disks[${disk.index}].secondary`, desired: 'absent', observed: `${lv.vg}/${lv.name} on ${f.node}` });
    }
  }
  return { diffs, actions, refused: [], notes: [`${why}: ${label} keeps its data LV on ${primary}; the VM is started on it in the next pass, once the DRBD resources are down`], blocksRuntime: true };
}

/** The DRBD minor and port tags on the primary's data LV, dropped (after `after`), or undefined when it has none. */
function untagDrbdRecord(inst: PlanInstance, disk: PlanDisk, primary: string, pObs: ObservedNode, reason: string, after: readonly string[]): LvUntag | undefined {
  const name = diskLvName(inst.name, disk.index);
  const data = pObs.lvs[`${disk.vg}/${name}`];
  if (!data || !isDiskLvOf(data, inst.name)) return undefined;
  const tags = data.tags.filter((t) => t.startsWith(DRBD_MINOR_TAG) || t.startsWith(DRBD_PORT_TAG));
  if (tags.length === 0) return undefined;
  return { verb: 'lv.untag', node: primary, subject: `Instance/${inst.name}`, vg: disk.vg, name, tags, ...(after.length > 0 ? { after: [...after] } : {}), reason: `${reason} (${tags.join(', ')} dropped from ${disk.vg}/${name}; its data is untouched)` };
}

/**
 * A plain disk whose data LV still records a DRBD minor or port after its conversion to
 * plain (the pass that removed the meta LV stopped before the tags were dropped): the
 * record is dropped, unless a DRBD device with that minor is still up on the node.
 */
function staleDrbdRecord(inst: PlanInstance, disk: PlanDisk, primary: string, pObs: ObservedNode): DrbdDiskPlan | undefined {
  const data = pObs.lvs[`${disk.vg}/${diskLvName(inst.name, disk.index)}`];
  // Unknown is not absent: without this pass's DRBD view of the node, a device may still use the LV.
  if (!data || data.tags.length < 2 || pObs.drbd === undefined) return undefined;
  const { minor, port } = drbdOfLvTags(data.tags);
  if ((minor === undefined && port === undefined) || (minor !== undefined && deviceOf(pObs, minor))) return undefined;
  const untag = untagDrbdRecord(inst, disk, primary, pObs, `disk ${disk.index} is plain and has no DRBD meta LV: its data LV's DRBD record is stale`, []);
  return untag ? { diffs: [{ path: `disks[${disk.index}].drbdRecord`, desired: 'absent', observed: untag.tags.join(', ') }], actions: [untag], refused: [], notes: [], blocksRuntime: false } : undefined;
}
