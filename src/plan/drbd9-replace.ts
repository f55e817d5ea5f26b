/**
 * Secondary replacement on DRBD 9, without a redundancy gap. Pure.
 *
 * 8.4 has one peer per resource, so Ganeti disconnects the old secondary before the new
 * one syncs (plan/drbd-replace states that gap). DRBD 9 keeps several peers: the new
 * secondary NEW joins as one more replica and the old one (OLD) leaves only after:
 *
 *   1. new LVs on NEW (their tags record NEW's minor, the port and NEW's node id, the
 *      lowest no replica holds), v09 metadata, NEW's resource with the primary as its peer;
 *      on the primary P a new peer + path for NEW, connect (drbd.up adds only the missing
 *      peer: OLD stays connected). NEW's fresh metadata makes it a SyncTarget of P.
 *   2. drbd.wait-sync on P until NEW is UpToDate: P and OLD hold the data all along.
 *   3. P disconnects from and forgets OLD (drbd.disconnect: disconnect + del-peer of OLD's
 *      node id), OLD's resource goes down, OLD's LVs are removed (destruction, shown).
 *
 * At no step are there fewer than two UpToDate replicas (tested on the DRBD 9 test double:
 * DRBD 9 cannot run here). A gone OLD (Dead, offline) is not touched; P forgets its peer.
 */
import { actionKey, type Action, type LvRemove } from '../core/actions.js';
import type { FieldDiff, Refusal } from '../core/plan.js';
import { deviceOf, describeSync, down, drbdAddr, type DrbdDiskInput, type DrbdDiskPlan } from './drbd.js';
import { newReplicaSpace, type FormerReplica, type ReplacePlan } from './drbd-replace.js';
import { drbd9NodeIds, pairView, toDrbd9, type Drbd9Ctx } from './drbd9.js';
import { drbdResourceName } from './naming.js';

export function planReplaceSecondary9(x: DrbdDiskInput, base: DrbdDiskPlan, former: readonly FormerReplica[], waitS: number): ReplacePlan {
  const { inst, disk, primary: P, secondary: S, alloc } = x;
  const subject = `Instance/${inst.name}`;
  const label = `disk ${disk.index}`;
  const olds = former.map((f) => f.node).join(', ');
  const pObs = x.observed.nodes.get(P.name)!;
  const sObs = x.observed.nodes.get(S.name)!;
  const minorP = alloc.minors.get(P.name)!;
  const res = drbdResourceName(minorP);
  const rawP = deviceOf(pObs, minorP);
  const rawS = deviceOf(sObs, alloc.minors.get(S.name)!);
  const devices = new Map([[P.name, rawP], [S.name, rawS], ...former.map((f) => [f.node, f.device] as const)]);
  const ids = drbd9NodeIds(inst, disk, [P.name, S.name, ...former.map((f) => f.node)], x.observed, devices, x.holders);
  const sDev = pairView(rawS, ids.get(P.name)!);
  const pDev = pairView(rawP, ids.get(S.name)!);
  const diffs: FieldDiff[] = [...base.diffs, { path: `disks[${disk.index}].secondary`, desired: S.name, observed: olds }];
  const notes = [...base.notes];
  const synced = sDev?.disk === 'UpToDate' && sDev.peer?.connection === 'Connected' && pDev?.peer?.disk === 'UpToDate' && sDev.peer.replication !== 'SyncTarget';
  const live = former.filter((f) => f.gone === undefined);

  const joined = rawS !== undefined;
  if (!synced && !joined) {
    const refused: Refusal[] = [];
    if (rawP?.disk !== 'UpToDate') refused.push({ subject, code: 'DRBD_REPLACE_DEGRADED', message: `${label}: replacing the secondary ${olds} by ${S.name} refused: the primary's data on ${P.name} is ${rawP ? rawP.disk ?? 'unknown' : `not up (${res} is down)`}, not UpToDate; the old secondary may hold the only good copy` });
    const space = newReplicaSpace(x, olds, label);
    refused.push(...space.refused);
    if (refused.length > 0) return { diffs, actions: [], refused, notes, blocksRuntime: false, drop: space.creates };
  }
  notes.push(`secondary replacement on DRBD 9, no redundancy gap: ${S.name} joins ${label} as one more replica (node id ${ids.get(S.name)}) and resyncs from ${P.name}; ${live.length > 0 ? `${live.map((f) => f.node).join(', ')} stays connected and UpToDate until then, and leaves only once ${S.name} is UpToDate` : `the old replica ${olds} is gone`}`);
  const actions: Action[] = base.actions.map((a) => (a.verb === 'drbd.up' && a.node === P.name
    ? { ...a, reason: `secondary replacement (DRBD 9, no gap): add ${S.name} (node id ${ids.get(S.name)}) as a peer of ${res} on ${P.name}; ${olds} stays connected [DRBD 9: peers ${S.name}]` }
    : a));
  const keys = actions.filter((a) => a.verb === 'drbd.up').map((a) => actionKey(a));
  const ctx: Drbd9Ctx = { ids, addr: () => '', port: alloc.port, peersOf: () => [], quorum: 'off' };
  let wait: Action | undefined;
  if (!synced) {
    const progress = sDev?.peer?.sync ? ` (now ${describeSync(sDev.peer.sync)})` : '';
    wait = toDrbd9({
      verb: 'drbd.wait-sync', node: P.name, subject, resource: res, minor: minorP, peerNode: S.name, waitS, ...(keys.length > 0 ? { after: keys } : {}),
      reason: `secondary replacement (DRBD 9): wait until ${S.name} is UpToDate (resync from ${P.name}${progress}); ${olds} keeps its UpToDate replica meanwhile`,
    }, ctx);
    actions.push(wait);
  }
  const first = wait ? [actionKey(wait)] : [];
  for (const f of former) {
    const oldId = ids.get(f.node)!;
    const after = [...first];
    if (rawP?.peers?.some((p) => p.nodeId === oldId)) {
      const drop: Action = {
        verb: 'drbd.disconnect', node: P.name, subject, resource: res, minor: minorP, local: { host: drbdAddr(P), port: alloc.port }, keep: { host: drbdAddr(S), port: alloc.port }, from: [f.node], v9: { peerNodeId: oldId },
        ...(first.length > 0 ? { after: first } : {}),
        reason: `secondary replacement (DRBD 9): ${S.name} is UpToDate${wait ? ' (once the wait above succeeds)' : ''}: ${P.name} disconnects from and forgets the old replica ${f.node} (node id ${oldId}: disconnect, del-peer)`,
      };
      actions.push(drop);
      after.push(actionKey(drop));
    }
    if (f.gone !== undefined) {
      notes.push(`${label}: the old secondary ${f.node} is ${f.gone}: its LVs stay there, not removed (Gantry never removes data on a node it cannot see): remove them by hand once it returns`);
      continue;
    }
    if (f.device && f.minor !== undefined) {
      const d = down(subject, f.node, f.minor, `secondary replacement (DRBD 9): ${S.name} is UpToDate: take down ${drbdResourceName(f.minor)} on the old secondary ${f.node} before its LVs are removed`, [...after]);
      actions.push(d);
      after.push(actionKey(d));
    }
    for (const lv of f.lvs) {
      const rm: LvRemove = {
        verb: 'lv.remove', node: f.node, subject, vg: lv.vg, name: lv.name, ...(after.length > 0 ? { after } : {}),
        reason: `secondary replacement (DRBD 9): remove the old secondary's LV ${lv.vg}/${lv.name} on ${f.node} once ${S.name} is UpToDate: this DESTROYS the old copy of ${label} there (${P.name} and ${S.name} hold the data)`,
      };
      actions.push(rm);
      diffs.push({ path: `disks[${disk.index}].former.${f.node}`, desired: 'absent', observed: `${lv.vg}/${lv.name} on ${f.node}` });
    }
  }
  return { diffs, actions, refused: [], notes, blocksRuntime: base.blocksRuntime, drop: [] };
}
