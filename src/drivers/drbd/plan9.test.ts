import { describe, expect, it } from 'vitest';
import { dropPeer9Cmds, failover9Decision, initialSync9Decision, metaState9, planUp9, promote9Decision, sync9Done, type Drbd9Spec } from './plan9.js';
import { parseEvents2 } from './parse-events2.js';
import { parseDrbdShow } from './parse-show.js';
import { parseStatusJson } from './parse-status-json.js';
import { golden } from './testdata/golden.js';
import type { DrbdDevice } from './state.js';

/** Decisions on real DRBD 9 output samples (testdata/v9, see its README for their sources). */
const spec: Drbd9Spec = {
  resource: 'gnt-disk2', minor: 7, nodeId: 0, dataDev: '/dev/xenvg/disk2.data', metaDev: '/dev/xenvg/disk2.meta', resync: { kind: 'fixed', rateKiB: 61440 },
  quorum: { quorum: 'majority', onNoQuorum: 'io-error' },
  peers: [
    { nodeId: 1, name: 'node3.example.org', local: { host: '198.18.1.10', port: 11000 }, peer: { host: '198.18.1.11', port: 11000 } },
    { nodeId: 3, name: 'node5.example.org', local: { host: '198.18.1.10', port: 11000 }, peer: { host: '198.18.1.13', port: 11000 } },
  ],
};
const verbs = (cmds: readonly string[][]) => cmds.map((c) => `${c[1]} ${c.slice(2, 4).join(' ')}`);

describe('DRBD 9 ensure decisions', () => {
  it('given nothing configured, planUp9 is drbdadm\'s order: new-resource with the node id, resource-options, new-minor, a peer + path + options per peer, apply-al, attach, connect each', () => {
    const d = planUp9(spec, { devices: [], resources: [] }, undefined);
    expect(d.kind === 'run' && verbs(d.commands)).toEqual([
      'new-resource gnt-disk2 0', 'resource-options gnt-disk2 --quorum=majority', 'new-minor gnt-disk2 7',
      'new-peer gnt-disk2 1', 'new-path gnt-disk2 1', 'peer-device-options gnt-disk2 1', 'new-peer gnt-disk2 3', 'new-path gnt-disk2 3', 'peer-device-options gnt-disk2 3',
      '7 v09 /dev/xenvg/disk2.meta', 'attach 7 /dev/xenvg/disk2.data', 'connect gnt-disk2 1', 'connect gnt-disk2 3']);
  });

  it('given the real sample with peers 1 (Connected) and 2, planUp9 adds only the missing peer 3 and leaves peer 2 (not in the spec) alone', () => {
    const events = parseEvents2(golden('v9/events2-sync.txt'));
    const cfg = parseDrbdShow(golden('v9/show-two-peers.txt'))[0];
    const d = planUp9(spec, events, cfg);
    expect(d.kind === 'run' && verbs(d.commands)).toEqual(['new-peer gnt-disk2 3', 'new-path gnt-disk2 3', 'peer-device-options gnt-disk2 3', 'connect gnt-disk2 3']);
    expect(d.kind === 'run' && d.steps).toEqual(['new-peer', 'connect']);
  });

  it('given a running node id or a path that differs from the spec, planUp9 refuses (DRBD_NODE_ID_MISMATCH, DRBD_NET_MISMATCH)', () => {
    const events = parseEvents2(golden('v9/events2-sync.txt'));
    const cfg = parseDrbdShow(golden('v9/show-two-peers.txt'))[0];
    expect(planUp9({ ...spec, nodeId: 4 }, events, cfg)).toMatchObject({ kind: 'refuse', error: { code: 'DRBD_NODE_ID_MISMATCH' } });
    const moved = { ...spec, peers: [{ ...spec.peers[0]!, peer: { host: '198.18.1.99', port: 11000 } }] };
    expect(planUp9(moved, events, cfg)).toMatchObject({ kind: 'refuse', error: { code: 'DRBD_NET_MISMATCH' } });
  });

  it('given dump-md answers, v09 metadata is present, absent (create it) or unknown (stop)', () => {
    expect(metaState9(0, '# DRBD meta data dump\nversion "v09";\n')).toBe('present');
    expect(metaState9(255, 'No valid meta data found')).toBe('none');
    expect(metaState9(0, 'version "v08";')).toBe('unknown');
    expect(metaState9(1, 'open(/dev/x) failed: No such file or directory')).toBe('unknown');
  });

  it('given the real status --json samples, promotion, initial sync and sync-done read the per-peer states', () => {
    const [primary, standalone] = parseStatusJson(golden('v9/status-json-connected.json')).devices as [DrbdDevice, DrbdDevice];
    const syncing = parseStatusJson(golden('v9/status-json-syncing.json')).devices[0]!;
    expect(sync9Done(primary)).toBe(true);
    expect(sync9Done(syncing, 1)).toBe(false);
    expect(initialSync9Decision('gnt-disk2', syncing)).toBe('done');
    expect(promote9Decision('gnt-disk1', standalone, true)).toBe('wait'); // quorum false in the sample
    expect(promote9Decision('gnt-disk1', standalone, false)).toBe('wait'); // StandAlone: no peer
    expect(promote9Decision('gnt-disk0', primary, true)).toBe('done');
  });

  it('given failover decisions, quorum decides when on (never forced), the 8.4 rules apply when off, and a connected Primary peer always holds it', () => {
    const dev = (over: Partial<DrbdDevice>): DrbdDevice => ({ minor: 0, resource: 'r', role: 'Secondary', disk: 'UpToDate', quorum: true, peers: [{ nodeId: 0, connection: 'Connecting' }, { nodeId: 2, connection: 'Connected', role: 'Secondary', disk: 'UpToDate' }], ...over });
    expect(failover9Decision('r', dev({}), 0, false, true)).toEqual({ argv: ['drbdsetup', 'primary', 'r'] });
    expect(failover9Decision('r', dev({ quorum: false }), 0, true, true)).toMatchObject({ code: 'DRBD_NO_QUORUM' });
    expect(failover9Decision('r', dev({ disk: 'Outdated' }), 0, true, true)).toMatchObject({ code: 'DRBD_FAILOVER_DEGRADED' });
    expect(failover9Decision('r', dev({ disk: 'Outdated', quorum: false }), 0, true, false)).toEqual({ argv: ['drbdsetup', 'primary', 'r', '--force'] });
    expect(failover9Decision('r', dev({ peers: [{ nodeId: 0, connection: 'Connected', role: 'Secondary' }] }), 0, false, false)).toMatchObject({ code: 'DRBD_FAILOVER_HELD' });
    expect(failover9Decision('r', dev({ peers: [{ nodeId: 2, connection: 'Connected', role: 'Primary' }] }), 0, false, true)).toMatchObject({ code: 'DRBD_FAILOVER_HELD' });
  });

  it('given a peer to drop, it disconnects then del-peers (only del-peer when StandAlone, nothing when absent)', () => {
    const cfg = parseDrbdShow(golden('v9/show-two-peers.txt'))[0];
    expect(dropPeer9Cmds('gnt-disk2', cfg, 1)).toEqual([['drbdsetup', 'disconnect', 'gnt-disk2', '1'], ['drbdsetup', 'del-peer', 'gnt-disk2', '1']]);
    expect(dropPeer9Cmds('gnt-disk2', cfg, 7)).toEqual([]);
  });
});
