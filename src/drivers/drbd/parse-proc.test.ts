import { describe, expect, it } from 'vitest';
import { parseProcDrbd } from './parse-proc.js';
import { ganeti, golden, hasGaneti, skipNote } from './testdata/golden.js';

describe('/proc/drbd parser', () => {
  it('given a real 8.4.11 resync (capture VM), it reads roles, disks, percent, speed and ETA on both ends', () => {
    const p = parseProcDrbd(golden('v84/proc-syncing.txt'));
    expect(p.version).toEqual({ major: 8, minor: 4, patch: 11 });
    expect(p.devices[0]).toEqual({
      minor: 0, role: 'Primary', disk: 'UpToDate', protocol: 'C',
      peers: [{ connection: 'Connected', replication: 'SyncSource', role: 'Secondary', disk: 'Inconsistent', outOfSyncKiB: 175104,
        sync: { percent: 31.2, remainingKiB: 175104, etaSec: 9, speedKiBps: 17664 } }],
    });
    // The SyncTarget line adds "want: 17,240" before K/sec.
    expect(p.devices[1]?.peers[0]).toMatchObject({ replication: 'SyncTarget', role: 'Primary', disk: 'UpToDate', sync: { percent: 31.2, etaSec: 9, speedKiBps: 17664 } });
    expect(parseProcDrbd(golden('v84/proc-syncing-late.txt')).devices[0]?.peers[0]?.sync).toEqual({ percent: 86.9, remainingKiB: 34236, etaSec: 2, speedKiBps: 16268 });
  });

  it('given real 8.4.11 attached, connected and UpToDate states, it reads them without sync progress', () => {
    expect(parseProcDrbd(golden('v84/proc-attached.txt')).devices[1]).toEqual({ minor: 1, role: 'Secondary', disk: 'Inconsistent',
      peers: [{ connection: 'StandAlone', role: 'Unknown', disk: 'DUnknown', outOfSyncKiB: 245504 }] });
    expect(parseProcDrbd(golden('v84/proc-connected-inconsistent.txt')).devices[0]?.peers[0]).toMatchObject({ connection: 'Connected', replication: 'Established', disk: 'Inconsistent' });
    const up = parseProcDrbd(golden('v84/proc-uptodate.txt')).devices;
    expect(up.map((d) => [d.minor, d.role, d.disk, d.peers[0]?.role, d.peers[0]?.disk, d.peers[0]?.sync])).toEqual([[0, 'Primary', 'UpToDate', 'Secondary', 'UpToDate', undefined], [1, 'Secondary', 'UpToDate', 'Primary', 'UpToDate', undefined]]);
    expect(parseProcDrbd(golden('v84/proc-empty.txt')).devices).toEqual([]);
  });

  it('given real 8.4.11 dual-primary during a live migration (VM lab, both ends), it reads Primary/Primary Connected UpToDate/UpToDate', () => {
    for (const f of ['v84/proc-dual-primary.txt', 'v84/proc-dual-primary-peer.txt']) {
      const [d] = parseProcDrbd(golden(f)).devices;
      expect([d?.minor, d?.role, d?.disk, d?.peers[0]?.connection, d?.peers[0]?.role, d?.peers[0]?.disk, d?.peers[0]?.sync]).toEqual([0, 'Primary', 'UpToDate', 'Connected', 'Primary', 'UpToDate', undefined]);
    }
  });

  it('given a minor detached while StandAlone (real), /proc/drbd calls it Unconfigured though the minor still exists', () => {
    expect(parseProcDrbd(golden('v84/proc-detached.txt')).devices[1]).toEqual({ minor: 1, unconfigured: true, peers: [] });
  });

  it(`given Ganeti's 8.4.2 sample ${skipNote('proc_drbd84*.txt')}, it reads the same fields`, (ctx) => {
    if (!hasGaneti('proc_drbd84.txt') || !hasGaneti('proc_drbd84_sync.txt')) return ctx.skip();
    const p = parseProcDrbd(ganeti('proc_drbd84.txt'));
    expect(p.devices.map((d) => d.minor)).toEqual([0, 1, 2, 4, 6, 8]);
    expect(p.devices[2]).toEqual({ minor: 2, unconfigured: true, peers: [] });
    expect(p.devices[4]).toMatchObject({ disk: 'Diskless', peers: [{ disk: 'UpToDate' }] });
    expect(p.devices[5]).toMatchObject({ peers: [{ connection: 'StandAlone', outOfSyncKiB: 1048320 }] });
    expect(p.devices[5]?.protocol).toBeUndefined();
    expect(parseProcDrbd(ganeti('proc_drbd84_sync.txt')).devices[2]?.peers[0]?.sync).toEqual({ percent: 68.5, remainingKiB: 335744, etaSec: 5, speedKiBps: 64800 });
  });

  it('given DRBD 9 /proc/drbd (version only), it has no devices', () => {
    expect(parseProcDrbd(golden('v9/proc-drbd.txt'))).toEqual({ version: { major: 9, minor: 2, patch: 8 }, devices: [] });
  });
});
