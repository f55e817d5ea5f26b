import { describe, expect, it } from 'vitest';
import { emptyObservedNode, type ObservedDrbdDevice, type ObservedNode } from '../core/observed.js';
import type { Plan } from '../core/plan.js';
import { deriveStatus } from './status.js';
import { drbdTags, instanceLvTag, MANAGED_LV_TAG } from '../plan/naming.js';

const lv = (name: string, minor: number) => ({ vg: 'vg0', name, sizeMiB: 64, tags: [MANAGED_LV_TAG, instanceLvTag('db1'), ...drbdTags(minor, 11000)] });
const node = (name: string, minor: number, dev: ObservedDrbdDevice | undefined): ObservedNode => ({
  ...emptyObservedNode(name, 't'),
  lvs: { 'vg0/db1.disk0': lv('db1.disk0', minor), 'vg0/db1.disk0_meta': lv('db1.disk0_meta', minor) },
  drbd: { devices: dev ? { [String(minor)]: dev } : {} },
});
const plan: Plan = { entries: [{ subject: 'Instance/db1', status: 'in-sync', diffs: [], actions: [], refused: [], notes: [] }], actions: [], waves: [], refused: [], orphans: [], unreachable: [] };

describe('DRBD in status', () => {
  it('given a resync, the instance carries each disk\'s role, connection and progress, and is Degraded with reason DrbdSyncing', () => {
    const observed = { nodes: new Map([
      ['n1', node('n1', 0, { minor: 0, resource: 'resource0', role: 'Primary', disk: 'UpToDate', peer: { connection: 'Connected', replication: 'SyncSource', disk: 'Inconsistent', sync: { percent: 31.2, speedKiBps: 17664, etaSec: 9 } } })],
      ['n2', node('n2', 3, { minor: 3, resource: 'resource3', role: 'Secondary', disk: 'Inconsistent', peer: { connection: 'Connected', replication: 'SyncTarget', disk: 'UpToDate', sync: { percent: 31.2, speedKiBps: 17664, etaSec: 9 } } })],
    ]) };
    const [s] = deriveStatus(plan, observed, 't');
    expect(s!.facts.drbd).toEqual([
      { disk: 0, node: 'n1', minor: 0, port: 11000, role: 'Primary', diskState: 'UpToDate', connection: 'SyncSource', peerDisk: 'Inconsistent', sync: { percent: 31.2, speedKiBps: 17664, etaSec: 9 } },
      { disk: 0, node: 'n2', minor: 3, port: 11000, role: 'Secondary', diskState: 'Inconsistent', connection: 'SyncTarget', peerDisk: 'UpToDate', sync: { percent: 31.2, speedKiBps: 17664, etaSec: 9 } },
    ]);
    const degraded = s!.conditions.find((c) => c.reason === 'DrbdSyncing')!;
    expect(degraded.message).toMatch(/disk0 on n1 \(minor 0\): Primary, SyncSource 31\.2% done, 17\.3 MiB\/s, ETA 9s, UpToDate\/Inconsistent/);
  });

  it('given the secondary down, it is Degraded with reason DrbdDegraded naming the node', () => {
    const observed = { nodes: new Map([
      ['n1', node('n1', 0, { minor: 0, role: 'Primary', disk: 'UpToDate', peer: { connection: 'WFConnection' } })],
      ['n2', node('n2', 0, undefined)],
    ]) };
    const c = deriveStatus(plan, observed, 't')[0]!.conditions.find((x) => x.reason === 'DrbdDegraded')!;
    expect(c.message).toMatch(/disk0 on n2 \(minor 0\): down/);
  });

  it('given a plan holding a split brain, the instance has a SplitBrain condition carrying the guidance', () => {
    const message = 'disk 0: split brain: ... on the OTHER node (the victim) ... --discard-my-data ...';
    const held: Plan = { ...plan, entries: [{ subject: 'Instance/db1', status: 'refused', diffs: [], actions: [], refused: [{ subject: 'Instance/db1', code: 'DRBD_SPLIT_BRAIN', message }], notes: [] }] };
    const observed = { nodes: new Map([['n1', node('n1', 0, { minor: 0, role: 'Primary', disk: 'UpToDate', splitBrain: true, peer: { connection: 'StandAlone' } })]]) };
    expect(deriveStatus(held, observed, 't')[0]!.conditions.find((c) => c.type === 'SplitBrain')).toMatchObject({ status: 'True', reason: 'DrbdSplitBrain', message });
    expect(deriveStatus(plan, observed, 't')[0]!.conditions.find((c) => c.type === 'SplitBrain')).toBeUndefined();
  });
});
