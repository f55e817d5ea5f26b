import { describe, expect, it } from 'vitest';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { PlanDisk, PlanInstance, PlanNode } from '../core/plan.js';
import { drbd9NodeIds, drbdNodeIdOfLvTags, drbdNodeIdTag, pairFamily, pairView, quorumPolicy } from './drbd9.js';
import { instanceLvTag, MANAGED_LV_TAG } from './naming.js';

const disk: PlanDisk = { index: 0, sizeMiB: 64, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'present' };
const inst = { name: 'db1', disks: [disk] } as unknown as PlanInstance;
const pn = (name: string) => ({ name }) as PlanNode;
const obs = (name: string, version?: string, nodeId?: number): ObservedNode => ({
  ...emptyObservedNode(name, '2026-11-29T14:00:00Z'), drbd: { devices: {}, ...(version ? { version } : {}) },
  lvs: nodeId === undefined ? {} : { 'vg0/db1.disk0': { vg: 'vg0', name: 'db1.disk0', sizeMiB: 64, tags: [MANAGED_LV_TAG, instanceLvTag('db1'), drbdNodeIdTag(nodeId)] } },
});

describe('DRBD 9 in the planner (node ids, families, quorum)', () => {
  it('given the LV tags, node ids recorded are kept and new replicas get the lowest id no replica holds', () => {
    expect(drbdNodeIdOfLvTags(['gantry', 'gantry-drbd-node-id=2'])).toBe(2);
    expect(drbdNodeIdOfLvTags(['gantry-drbd-node-id=40'])).toBeUndefined();
    const fresh = { nodes: new Map([['n1', obs('n1', '9.2.8')], ['n2', obs('n2', '9.2.8')]]) };
    expect([...drbd9NodeIds(inst, disk, ['n1', 'n2'], fresh)]).toEqual([['n1', 0], ['n2', 1]]);
    const replacing = { nodes: new Map([['n1', obs('n1', '9.2.8', 0)], ['n2', obs('n2', '9.2.8', 1)], ['n3', obs('n3', '9.2.8')]]) };
    expect(drbd9NodeIds(inst, disk, ['n1', 'n3'], replacing).get('n3')).toBe(2);
    const after = { nodes: new Map([['n1', obs('n1', '9.2.8', 0)], ['n3', obs('n3', '9.2.8', 2)], ['n4', obs('n4', '9.2.8')]]) };
    expect(drbd9NodeIds(inst, disk, ['n1', 'n4'], after).get('n4')).toBe(1);
  });

  it('given a dead old primary not observed, its id is read from the survivor\'s peer of that name', () => {
    const c = { nodes: new Map([['n2', obs('n2', '9.2.8')]]) };
    const dev = { minor: 0, peers: [{ nodeId: 5, name: 'n1', connection: 'Connecting' }] };
    expect(drbd9NodeIds(inst, disk, ['n2', 'n1'], c, new Map([['n2', dev]])).get('n1')).toBe(5);
    // A new secondary never takes the id of a peer the primary still has (a dead old secondary, its LVs unseen).
    const p = { minor: 0, peers: [{ nodeId: 1, name: 'n2', connection: 'Connecting' }] };
    const c2 = { nodes: new Map([['n1', obs('n1', '9.2.8', 0)], ['n3', obs('n3', '9.2.8')]]) };
    expect(drbd9NodeIds(inst, disk, ['n1', 'n3'], c2, new Map([['n1', p]])).get('n3')).toBe(2);
  });

  it('given each pair of versions, both 9 or both 8.4 (or unread) pass, 8.4 with 9 is DRBD_VERSION_MIXED, 8.3 DRBD_VERSION_UNSUPPORTED', () => {
    expect(pairFamily(pn('a'), obs('a', '9.2.8'), pn('b'), obs('b', '9.1.0'))).toEqual({ family: '9' });
    expect(pairFamily(pn('a'), obs('a', '8.4.11'), pn('b'), obs('b'))).toEqual({ family: '8.4' });
    expect(pairFamily(pn('a'), obs('a', '9.2.8'), pn('b'), undefined)).toEqual({ family: '9' });
    expect(pairFamily(pn('a'), obs('a', '8.4.11'), pn('b'), obs('b', '9.2.8'))).toMatchObject({ code: 'DRBD_VERSION_MIXED' });
    expect(pairFamily(pn('a'), obs('a', '8.3.16'), pn('b'), obs('b', '8.4.11'))).toMatchObject({ code: 'DRBD_VERSION_UNSUPPORTED' });
  });

  it('given the replica count, quorum is majority from three voters (3 replicas, or 2 and a diskless tiebreaker), off for a pair', () => {
    expect(quorumPolicy(2)).toEqual({ quorum: 'off', onNoQuorum: 'io-error' });
    expect(quorumPolicy(3).quorum).toBe('majority');
    expect(quorumPolicy(2, 1).quorum).toBe('majority');
  });

  it('given a device with several peers, the pair view shows the connection to the partner only', () => {
    const d = { minor: 0, peer: { connection: 'Connected' }, peers: [{ nodeId: 1, connection: 'Connected', disk: 'UpToDate' }, { nodeId: 2, connection: 'Connected', replication: 'SyncSource', disk: 'Inconsistent' }] };
    expect(pairView(d, 2)?.peer).toEqual({ connection: 'Connected', replication: 'SyncSource', disk: 'Inconsistent' });
    expect(pairView(d, 7)?.peer).toBeUndefined();
  });
});
