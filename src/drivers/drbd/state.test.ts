import { describe, expect, it } from 'vitest';
import { parseEvents2 } from './parse-events2.js';
import { parseProcDrbd } from './parse-proc.js';
import { isHealthy, splitBrainIndicators } from './state.js';
import { golden } from './testdata/golden.js';

describe('DRBD state helpers', () => {
  it('given the real split brain (capture VM), the device is only suspected from state, proven by the helper in the stream', () => {
    const dev = parseProcDrbd(golden('v84/proc-split-brain.txt')).devices[0]!;
    expect(splitBrainIndicators(dev, { expectConnected: true })).toMatchObject({ suspected: true });
    expect(splitBrainIndicators(dev, { expectConnected: false })).toEqual({ suspected: false, reasons: [] });
    const helperSeen = parseEvents2(golden('v84/events2-stream.txt')).splitBrainHelpers?.includes('resource0') ?? false;
    expect(splitBrainIndicators(dev, { expectConnected: true, helperSeen }).reasons).toHaveLength(2);
  });

  it('given an admin disconnect (real), /proc/drbd looks the same as after a split brain: both read StandAlone UpToDate', () => {
    const admin = parseProcDrbd(golden('v84/proc-standalone.txt')).devices[0]!;
    const sb = parseProcDrbd(golden('v84/proc-split-brain.txt')).devices[0]!;
    expect([admin.role, admin.disk, admin.peers[0]?.connection]).toEqual([sb.role, sb.disk, sb.peers[0]?.connection]);
  });

  it('given real UpToDate, syncing and StandAlone states, only the first is healthy', () => {
    expect(parseProcDrbd(golden('v84/proc-uptodate.txt')).devices.every(isHealthy)).toBe(true);
    expect(parseProcDrbd(golden('v84/proc-syncing.txt')).devices.some(isHealthy)).toBe(false);
    expect(parseProcDrbd(golden('v84/proc-standalone.txt')).devices.some(isHealthy)).toBe(false);
  });
});

describe('joining events2 and /proc/drbd (8.4)', () => {
  it('given both captured during the real resync, the named devices get percent, speed and ETA', async () => {
    const { withProcProgress } = await import('./state.js');
    const s = withProcProgress(parseEvents2(golden('v84/events2-syncing.txt')), parseProcDrbd(golden('v84/proc-syncing.txt')).devices);
    expect(s.devices[0]).toMatchObject({ minor: 0, resource: 'resource0', protocol: 'C', peers: [{ replication: 'SyncSource', outOfSyncKiB: 175104, sync: { percent: 31.2, speedKiBps: 17664, etaSec: 9 } }] });
    expect(s.resources).toEqual(['resource0', 'resource1']);
  });
});
