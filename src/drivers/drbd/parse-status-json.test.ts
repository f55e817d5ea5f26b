import { describe, expect, it } from 'vitest';
import { isJsonUnsupported, parseStatusJson } from './parse-status-json.js';
import { golden } from './testdata/golden.js';

describe('drbdsetup status --json parser (DRBD 9)', () => {
  it('given two resources, one Connected and one StandAlone, it reads roles, disks, quorum and out-of-sync', () => {
    const s = parseStatusJson(golden('v9/status-json-connected.json'));
    expect(s.devices).toEqual([
      { minor: 4, volume: 0, resource: 'gnt-disk0', role: 'Primary', disk: 'UpToDate', quorum: true, sizeKiB: 1048576,
        peers: [{ nodeId: 0, name: 'node2.example.org', connection: 'Connected', replication: 'Established', role: 'Secondary', disk: 'UpToDate', outOfSyncKiB: 0 }] },
      { minor: 5, volume: 0, resource: 'gnt-disk1', role: 'Secondary', disk: 'UpToDate', quorum: false, sizeKiB: 2097152,
        peers: [{ nodeId: 0, name: 'node2.example.org', connection: 'StandAlone', replication: 'Off', role: 'Unknown', disk: 'DUnknown', outOfSyncKiB: 24 }] },
    ]);
  });

  it('given a resync with sync details, it reads percent done, ETA and speed', () => {
    expect(parseStatusJson(golden('v9/status-json-syncing.json')).devices[0]?.peers[0]?.sync).toEqual({ percent: 35, etaSec: 111, speedKiBps: 61440 });
  });

  it('given what drbd-utils 9.22 prints against the real 8.4.11 module, it recognises --json as unsupported', () => {
    expect(isJsonUnsupported(golden('v84/status-json-unsupported.txt'))).toBe(true);
    expect(() => parseStatusJson(golden('v84/status-json-unsupported.txt'))).toThrow(expect.objectContaining({ code: 'PARSE_FAILED' }));
    expect(() => parseStatusJson('{"name":"r"}')).toThrow(expect.objectContaining({ code: 'PARSE_FAILED' }));
  });
});
