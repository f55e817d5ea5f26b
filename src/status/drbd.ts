/**
 * DRBD facts per instance for status and describe: each disk's device on each node it
 * is recorded on (LV tags), with role, disk state, connection and resync progress
 * (percent, speed, ETA, as gnt-instance add prints them). Pure; one pass over the nodes.
 */
import type { ObservedCluster } from '../core/plan.js';
import { drbdOfLvTags, instanceOfDiskLv, instanceOfLvTags, MANAGED_LV_TAG } from '../plan/naming.js';
import { DRBD_SYNCING, describeSync } from '../plan/drbd.js';

export interface DrbdDiskFact {
  readonly disk: number;
  readonly node: string;
  readonly minor: number;
  readonly port?: number;
  /** 'down' when no device is configured for the recorded minor; undefined when DRBD could not be read. */
  readonly role?: string;
  readonly diskState?: string;
  readonly connection?: string;
  readonly peerDisk?: string;
  readonly sync?: { readonly percent: number; readonly speedKiBps?: number; readonly etaSec?: number };
}

/** Instance -> the DRBD facts of its disks, nodes in name order. */
export function drbdFactsByInstance(observed: ObservedCluster): Map<string, DrbdDiskFact[]> {
  const out = new Map<string, DrbdDiskFact[]>();
  for (const [node, o] of [...observed.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    if (!o.reachable) continue;
    for (const lv of Object.values(o.lvs)) {
      const inst = lv.tags.includes(MANAGED_LV_TAG) ? instanceOfLvTags(lv.tags) : undefined;
      const d = instanceOfDiskLv(lv.name);
      const rec = drbdOfLvTags(lv.tags);
      if (!inst || !d || d.meta || d.instance !== inst || rec.minor === undefined) continue;
      const dev = o.drbd?.devices[String(rec.minor)];
      const fact: DrbdDiskFact = {
        disk: d.index, node, minor: rec.minor, ...(rec.port !== undefined ? { port: rec.port } : {}),
        ...(o.drbd === undefined ? {} : dev === undefined ? { role: 'down' } : {
          ...(dev.role ? { role: dev.role } : {}), ...(dev.disk ? { diskState: dev.disk } : {}),
          connection: dev.peer?.replication && DRBD_SYNCING.has(dev.peer.replication) ? dev.peer.replication : dev.peer?.connection ?? 'StandAlone',
          ...(dev.peer?.disk ? { peerDisk: dev.peer.disk } : {}), ...(dev.peer?.sync ? { sync: dev.peer.sync } : {}),
        }),
      };
      if (!out.has(inst)) out.set(inst, []);
      out.get(inst)!.push(fact);
    }
  }
  for (const l of out.values()) l.sort((a, b) => a.disk - b.disk || a.node.localeCompare(b.node));
  return out;
}

export const drbdHealthy = (f: DrbdDiskFact): boolean => f.diskState === 'UpToDate' && f.peerDisk === 'UpToDate' && f.connection === 'Connected';

/** "disk0 on node2: StandAlone, UpToDate/DUnknown" or "disk0 on node1: SyncSource 45.2% done, 10.0 MiB/s, ETA 1m23s". */
export function describeDrbdFact(f: DrbdDiskFact): string {
  const where = `disk${f.disk} on ${f.node} (minor ${f.minor})`;
  if (f.role === undefined) return `${where}: DRBD state unknown`;
  if (f.role === 'down') return `${where}: down`;
  const sync = f.sync ? ` ${describeSync(f.sync)}` : '';
  return `${where}: ${f.role}, ${f.connection ?? '?'}${sync}, ${f.diskState ?? '?'}/${f.peerDisk ?? '?'}`;
}
