import { describe, expect, it } from 'vitest';
import { parseDrbdShow } from './parse-show.js';
import { ganeti, golden, hasGaneti, skipNote } from './testdata/golden.js';

describe('drbdsetup show parser', () => {
  it('given real 8.4.11 output for two connected resources, it reads minors, disks, addresses and disk options', () => {
    const [r0, r1] = parseDrbdShow(golden('v84/show-uptodate.txt'));
    expect(r0).toEqual({
      name: 'resource0', options: {},
      volumes: [{ volume: 0, minor: 0, disk: '/dev/vda', metaDisk: '/dev/vdb', diskOptions: { size: '491520s', 'md-flushes': 'no', 'c-fill-target': '0s', 'c-max-rate': '8192k' } }],
      connections: [{ local: { family: 'ipv4', host: '127.0.0.1', port: 7788 }, remote: { family: 'ipv4', host: '127.0.0.2', port: 7789 }, net: { 'after-sb-0pri': 'discard-zero-changes', 'after-sb-1pri': 'consensus' } }],
    });
    expect(r1?.volumes[0]?.diskOptions).toEqual({ size: '491520s', 'resync-rate': '8192k', 'c-min-rate': '4096k' });
    expect(parseDrbdShow(golden('v84/show-uptodate-minor0.txt'))).toEqual([r0]);
  });

  it('given real 8.4.11 output before connect and after detach, it has no connection and no disk', () => {
    expect(parseDrbdShow(golden('v84/show-attached.txt'))[0]?.connections).toEqual([]);
    expect(parseDrbdShow(golden('v84/show-detached.txt'))[1]).toEqual({ name: 'resource1', options: {}, volumes: [{ volume: 0, minor: 1, diskOptions: {} }], connections: [] });
  });

  it.skipIf(!hasGaneti('bdev-drbd-8.4.txt'))(`given Ganeti's 8.4 sample ${skipNote('bdev-drbd-8.4.txt')}, it reads it and redacts the secret`, () => {
    const [r] = parseDrbdShow(ganeti('bdev-drbd-8.4.txt'));
    expect(r?.volumes[0]).toMatchObject({ minor: 0, disk: '/dev/xenvg/test.data', metaDisk: '/dev/xenvg/test.meta', metaIndex: '0' });
    expect(r?.connections[0]).toMatchObject({ local: { host: '192.0.2.1', port: 11000 }, remote: { host: '192.0.2.2', port: 11000 } });
    expect(r?.connections[0]?.net['shared-secret']).toBe('[redacted]');
    expect(JSON.stringify(r)).not.toContain('shared_secret_123');
  });

  it('given DRBD 9 output with two peers (fixture after drbd-utils tests/v9), it reads node ids, paths, cstate and quorum', () => {
    const [r] = parseDrbdShow(golden('v9/show-two-peers.txt'));
    expect(r).toMatchObject({ name: 'gnt-disk2', nodeId: 0, options: { quorum: 'majority', 'on-no-quorum': 'io-error' } });
    expect(r?.volumes).toEqual([{ volume: 0, minor: 7, disk: '/dev/xenvg/disk2.data', metaDisk: '/dev/xenvg/disk2.meta', diskOptions: { 'on-io-error': 'detach' } }]);
    expect(r?.connections.map((c) => [c.peerNodeId, c.name, c.cstate, c.local?.host, c.remote?.host])).toEqual([
      [1, 'node3.example.org', 'Connected', '198.18.1.10', '198.18.1.11'], [2, 'node4.example.org', 'Connecting', 'fd00:198::10', 'fd00:198::12']]);
    expect(JSON.stringify(r)).not.toContain('9f2c7e0d5b8a41c3a6e1');
  });

  it('given an address it cannot read, it throws PARSE_FAILED', () => {
    expect(() => parseDrbdShow('resource r { _this_host { address ipv4 nonsense; } }')).toThrow(expect.objectContaining({ code: 'PARSE_FAILED' }));
  });
});
