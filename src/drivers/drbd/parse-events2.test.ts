import { describe, expect, it } from 'vitest';
import { parseEvent2Line, parseEvents2 } from './parse-events2.js';
import { golden } from './testdata/golden.js';

describe('drbdsetup events2 parser', () => {
  it('given a real 8.4.11 --now dump during a resync, it gives resource names, roles and replication states', () => {
    const s = parseEvents2(golden('v84/events2-syncing.txt'));
    expect(s.resources).toEqual(['resource0', 'resource1']);
    expect(s.devices[0]).toEqual({ minor: 0, resource: 'resource0', volume: 0, role: 'Primary', disk: 'UpToDate',
      peers: [{ nodeId: 0, name: 'peer', connection: 'Connected', replication: 'SyncSource', role: 'Secondary', disk: 'Inconsistent' }] });
    expect(s.devices[1]?.peers[0]).toMatchObject({ replication: 'SyncTarget', role: 'Primary', disk: 'UpToDate' });
  });

  it('given a real detached minor that /proc/drbd calls Unconfigured, events2 still shows the resource and a Diskless minor', () => {
    const s = parseEvents2(golden('v84/events2-detached.txt'));
    expect(s.devices[1]).toMatchObject({ minor: 1, resource: 'resource1', disk: 'Diskless', peers: [{ connection: 'StandAlone', replication: 'Off', disk: 'DUnknown' }] });
  });

  it('given the real 8.4.11 event stream of a sync and a split brain, it ends in the final state and names the split-brain resources', () => {
    const s = parseEvents2(golden('v84/events2-stream.txt'));
    expect(s.splitBrainHelpers).toEqual(['resource0', 'resource1']);
    // The stream ran until both resources were down: every object was destroyed again.
    expect(s.resources).toEqual([]);
    expect(s.devices).toEqual([]);
    const lines = golden('v84/events2-stream.txt').split('\n');
    const beforeDetach = lines.slice(0, lines.findIndex((l) => l.includes('disk:Failed'))).join('\n');
    expect(parseEvents2(beforeDetach).devices.map((d) => [d.minor, d.disk, d.peers.length])).toEqual([[0, 'UpToDate', 0], [1, 'UpToDate', 0]]);
    expect(parseEvents2(golden('v84/events2-down.txt'))).toEqual({ devices: [], resources: [] });
  });

  it('given DRBD 9 events with statistics (fixture after drbd-utils tests/v9/events2-sync), it reads done, eta and speed', () => {
    const s = parseEvents2(golden('v9/events2-sync.txt'));
    expect(s.devices).toEqual([{ minor: 7, resource: 'gnt-disk2', volume: 0, role: 'Primary', disk: 'UpToDate', quorum: true,
      peers: [{ nodeId: 1, name: 'node3.example.org', connection: 'Connected', replication: 'SyncSource', role: 'Secondary', disk: 'Inconsistent', outOfSyncKiB: 6815744,
        sync: { percent: 35, etaSec: 111, speedKiBps: 61440 } }] }]);
  });

  it('given a DRBD 9 split brain (fixture), it reports the helper and the StandAlone end state', () => {
    const s = parseEvents2(golden('v9/events2-split-brain.txt'));
    expect(s.splitBrainHelpers).toEqual(['gnt-disk3']);
    expect(s.devices[0]?.peers[0]).toMatchObject({ connection: 'StandAlone', disk: 'DUnknown' });
  });

  it('given a malformed field, it throws PARSE_FAILED; marker lines are skipped', () => {
    expect(() => parseEvent2Line('change device name:r0 garbage')).toThrow(expect.objectContaining({ code: 'PARSE_FAILED' }));
    expect(parseEvent2Line('exists -')).toBeUndefined();
    expect(parseEvent2Line('- skipped 1')).toBeUndefined();
  });
});
