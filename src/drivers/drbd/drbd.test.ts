import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { attachCmds, connectCmd, diskOptionsCmd, downCmd, primaryCmd, createMdCmd, disconnectCmd } from './commands.js';
import { parseDrbdShow, parseProcDrbd } from './parse.js';

const DIR = '/work/shared/ganeti/outputs';
const has = (f: string) => existsSync(`${DIR}/${f}`);
const read = (f: string) => readFileSync(`${DIR}/${f}`, 'utf8');
const why = (f: string) => `(${DIR}/${f}; skipped when absent)`;

describe('DRBD 8.4 argv builders', () => {
  it('given a minor and LVs it builds new-resource, new-minor, apply-al and attach', () => {
    expect(attachCmds(3, '/dev/xenvg/d.data', '/dev/xenvg/d.meta', { sizeMiB: 1024, noDiskBarrier: true, noMdFlushes: true })).toEqual([
      ['drbdsetup', 'new-resource', 'resource3'],
      ['drbdsetup', 'new-minor', 'resource3', '3', '0'],
      ['drbdmeta', '/dev/drbd3', 'v08', '/dev/xenvg/d.meta', 'flex-external', 'apply-al'],
      ['drbdsetup', 'attach', '3', '/dev/xenvg/d.data', '/dev/xenvg/d.meta', 'flexible', '--on-io-error=detach', '--size', '1024m', '--md-flushes=no', '--disk-barrier=no'],
    ]);
    expect(createMdCmd(3, '/dev/xenvg/d.meta')).toEqual(['drbdmeta', '--force', '/dev/drbd3', 'v08', '/dev/xenvg/d.meta', 'flex-external', 'create-md']);
  });
  it('given endpoints and net options it builds connect with split-brain policies', () => {
    expect(connectCmd(3, { host: '198.18.0.1', port: 11000 }, { host: '198.18.0.2', port: 11000 }, { hmac: 'md5', secret: 's3cr3t', dualPrimary: true })).toEqual([
      'drbdsetup', 'connect', 'resource3', 'ipv4:198.18.0.1:11000', 'ipv4:198.18.0.2:11000', '--protocol', 'C',
      '--after-sb-0pri', 'discard-zero-changes', '--after-sb-1pri', 'consensus', '--allow-two-primaries', '--cram-hmac-alg', 'md5', '--shared-secret', 's3cr3t']);
    expect(disconnectCmd({ host: 'fd00::1', port: 11000 }, { host: 'fd00::2', port: 11000 })).toEqual(['drbdsetup', 'disconnect', 'ipv6:[fd00::1]:11000', 'ipv6:[fd00::2]:11000']);
  });
  it('given roles, sync and teardown it builds the short commands', () => {
    expect(primaryCmd(3, true)).toEqual(['drbdsetup', 'primary', '3', '--force']);
    expect(downCmd(3)).toEqual(['drbdsetup', 'down', 'resource3']);
    expect(diskOptionsCmd(3, { resyncRateKiB: 61440 })).toEqual(['drbdsetup', 'disk-options', '3', '--resync-rate', '61440']);
    expect(diskOptionsCmd(3, { dynamic: { planAhead: 20, fillTarget: 0, delayTarget: 1, maxRateKiB: 61440, minRateKiB: 4096 } })).toContain('--c-plan-ahead');
  });
  it('given bad minors, hosts, secrets or a zero plan-ahead it throws', () => {
    expect(() => primaryCmd(-1)).toThrow(/minor/);
    expect(() => connectCmd(1, { host: 'a;b', port: 1 }, { host: '198.18.0.2', port: 1 })).toThrow(/invalid IP/);
    expect(() => connectCmd(1, { host: '198.18.0.1', port: 1 }, { host: '198.18.0.2', port: 1 }, { hmac: 'md5' })).toThrow(/together/);
    expect(() => connectCmd(1, { host: '198.18.0.1', port: 1 }, { host: '198.18.0.2', port: 1 }, { hmac: 'md5', secret: 'a b' })).toThrow(/secret/);
    expect(() => diskOptionsCmd(1, { dynamic: { planAhead: 0, fillTarget: 0, delayTarget: 1, maxRateKiB: 1, minRateKiB: 1 } })).toThrow(/plan-ahead/);
  });
});

describe('/proc/drbd parser (Ganeti test data)', () => {
  it.skipIf(!has('proc_drbd84.txt'))(`given 8.4 output ${why('proc_drbd84.txt')} it reads roles, disks and unconfigured minors`, () => {
    const p = parseProcDrbd(read('proc_drbd84.txt'));
    expect(p.version).toBe('8.4.2');
    expect(Object.keys(p.minors).map(Number)).toEqual([0, 1, 2, 4, 6, 8]);
    expect(p.minors[0]).toEqual({ minor: 0, connection: 'Connected', role: 'Primary', peerRole: 'Secondary', disk: 'UpToDate', peerDisk: 'UpToDate', protocol: 'C', outOfSyncKiB: 0 });
    expect(p.minors[2]).toEqual({ minor: 2, connection: 'Unconfigured' });
    expect(p.minors[6]?.disk).toBe('Diskless');
    expect(p.minors[8]).toMatchObject({ connection: 'StandAlone', outOfSyncKiB: 1048320 });
    expect(p.minors[8]?.protocol).toBeUndefined(); // StandAlone lines carry no protocol letter
  });
  it.skipIf(!has('proc_drbd83.txt'))(`given 8.3 output ${why('proc_drbd83.txt')} it reads the same fields`, () => {
    const p = parseProcDrbd(read('proc_drbd83.txt'));
    expect(p.version).toBe('8.3.1');
    expect(p.minors[5]).toMatchObject({ role: 'Primary', peerDisk: 'Diskless' });
    expect(p.minors[7]?.connection).toBe('WFConnection');
  });
  it.skipIf(!has('proc_drbd84_sync.txt'))(`given an 8.4 resync ${why('proc_drbd84_sync.txt')} it reads percent and eta`, () => {
    expect(parseProcDrbd(read('proc_drbd84_sync.txt')).minors[5]).toMatchObject({ connection: 'SyncSource', syncPercent: 68.5, syncEtaSec: 5, outOfSyncKiB: 335744 });
  });
  it.skipIf(!has('proc_drbd83_sync.txt'))(`given an 8.3 resync ${why('proc_drbd83_sync.txt')} it reads percent and eta`, () => {
    expect(parseProcDrbd(read('proc_drbd83_sync.txt')).minors[3]).toMatchObject({ connection: 'SyncTarget', disk: 'Inconsistent', syncPercent: 34.9, syncEtaSec: 5 });
  });
});

describe('drbdsetup show parser (Ganeti test data)', () => {
  it.skipIf(!has('bdev-drbd-8.4.txt'))(`given 8.4 resource syntax ${why('bdev-drbd-8.4.txt')} it reads devices, addresses and redacts the secret`, () => {
    const s = parseDrbdShow(read('bdev-drbd-8.4.txt'));
    expect(s).toMatchObject({ minor: 0, disk: '/dev/xenvg/test.data', metaDisk: '/dev/xenvg/test.meta', metaIndex: 0,
      local: { family: 'ipv4', host: '192.0.2.1', port: 11000 }, remote: { family: 'ipv4', host: '192.0.2.2', port: 11000 } });
    expect(s.net['shared-secret']).toBe('[redacted]');
    expect(s.net['after-sb-0pri']).toBe('discard-zero-changes');
    expect(JSON.stringify(s)).not.toContain('shared_secret_123');
  });
  it.skipIf(!has('bdev-drbd-8.3.txt'))(`given 8.3 flat syntax ${why('bdev-drbd-8.3.txt')} it reads the same`, () => {
    expect(parseDrbdShow(read('bdev-drbd-8.3.txt'))).toMatchObject({ minor: 0, protocol: 'C', disk: '/dev/xenvg/test.data', local: { host: '192.0.2.1', port: 11000 }, remote: { host: '192.0.2.2' } });
  });
  it.skipIf(!has('bdev-drbd-disk.txt'))(`given a disk-only device ${why('bdev-drbd-disk.txt')} it has no addresses`, () => {
    const s = parseDrbdShow(read('bdev-drbd-disk.txt'));
    expect(s).toMatchObject({ minor: 58, disk: '/dev/xenvg/test.data', metaDisk: '/dev/xenvg/test.meta' });
    expect(s.local).toBeUndefined();
    expect(s.diskOptions['on-io-error']).toBe('detach');
  });
  it.skipIf(!has('bdev-drbd-net-ip6.txt'))(`given a net-only IPv6 device ${why('bdev-drbd-net-ip6.txt')} it unbrackets hosts`, () => {
    const s = parseDrbdShow(read('bdev-drbd-net-ip6.txt'));
    expect(s.local).toEqual({ family: 'ipv6', host: '2001:db8:65::1', port: 11048 });
    expect(s.remote).toEqual({ family: 'ipv6', host: '2001:db8:66::1', port: 11048 });
    expect(s.disk).toBeUndefined();
  });
  it.skipIf(!has('bdev-drbd-net-ip4.txt'))(`given a net-only IPv4 device ${why('bdev-drbd-net-ip4.txt')} it reads protocol and addresses`, () => {
    expect(parseDrbdShow(read('bdev-drbd-net-ip4.txt'))).toMatchObject({ minor: 59, protocol: 'C', local: { host: '192.0.2.1', port: 11002 } });
  });
});
