import { describe, expect, it } from 'vitest';
import * as c from './cmd84.js';
import { golden } from './testdata/golden.js';

const A = { minor: 0, dataDev: '/dev/vda', metaDev: '/dev/vdb', sizeMiB: 240, barriers: { noDiskBarrier: true, noMdFlushes: true } };
const link = { local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 } };

/** "+ argv" lines of the capture VM's command log, each with the rc that followed. */
function ranInVm(): Map<string, number> {
  const lines = golden('v84/commands.log').split('\n');
  const out = new Map<string, number>();
  lines.forEach((l, i) => {
    if (!l.startsWith('+ ')) return;
    const rc = lines.slice(i + 1).find((x) => x.startsWith('rc='));
    if (rc && !out.has(l.slice(2))) out.set(l.slice(2), Number(rc.slice(3)));
  });
  return out;
}

describe('DRBD 8.4 argv builders (checked against what ran on real DRBD 8.4.11)', () => {
  const ran = ranInVm();
  const ranOk = (argv: string[]): void => expect(ran.get(argv.join(' ')), argv.join(' ')).toBe(0);

  it('given a new meta LV, it zeroes its head and creates v08 flex-external metadata, as Ganeti does', () => {
    expect(c.wipeMetaCmd('/dev/vdb')).toEqual(['dd', 'if=/dev/zero', 'of=/dev/vdb', 'bs=1048576', 'count=128', 'oflag=direct']);
    expect(c.createMdCmd(0, '/dev/vdb')).toEqual(['drbdmeta', '--force', '/dev/drbd0', 'v08', '/dev/vdb', 'flex-external', 'create-md']);
    ranOk(c.wipeMetaCmd('/dev/vdb'));
    ranOk(c.createMdCmd(0, '/dev/vdb'));
  });

  it('given an attach spec, it brings the local half up in Ganeti order and each step exited 0 in the VM', () => {
    const cmds = c.localUpCmds('resource0', A);
    expect(cmds.map((x) => x.slice(0, 2).join(' '))).toEqual(['drbdsetup new-resource', 'drbdsetup new-minor', 'drbdmeta /dev/drbd0', 'drbdsetup attach']);
    expect(cmds[3]).toEqual(['drbdsetup', 'attach', '0', '/dev/vda', '/dev/vdb', 'flexible', '--on-io-error=detach', '--size', '240m', '--md-flushes=no', '--disk-barrier=no']);
    for (const argv of cmds) ranOk(argv);
  });

  it('given fixed or dynamic resync options, it builds disk-options with explicit units that DRBD accepted', () => {
    const fixed = c.diskOptionsCmd(0, { kind: 'fixed', rateKiB: 8192 });
    const dynamic = c.diskOptionsCmd(1, { kind: 'dynamic', planAhead: 20, fillTarget: 0, delayTarget: 10, maxRateKiB: 8192, minRateKiB: 4096 });
    expect(fixed).toEqual(['drbdsetup', 'disk-options', '0', '--resync-rate', '8192k']);
    expect(dynamic).toEqual(['drbdsetup', 'disk-options', '1', '--c-plan-ahead', '20', '--c-fill-target', '0s', '--c-delay-target', '10', '--c-max-rate', '8192k', '--c-min-rate', '4096k']);
    ranOk(fixed);
    ranOk(dynamic);
  });

  it('given a link, it connects with protocol C and the non-destructive after-sb policies; disconnect names both ends', () => {
    const argv = c.connectCmd('resource0', link);
    expect(argv).toEqual(['drbdsetup', 'connect', 'resource0', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789', '--protocol', 'C',
      '--after-sb-0pri', 'discard-zero-changes', '--after-sb-1pri', 'consensus', '--after-sb-2pri', 'disconnect']);
    ranOk(argv);
    ranOk(c.disconnectCmd(link.local, link.peer));
    expect(c.connectCmd('r', { ...link, allowTwoPrimaries: true, auth: { hmac: 'md5', secret: 's3cr3t' } }).slice(-5)).toEqual(['--allow-two-primaries', '--cram-hmac-alg', 'md5', '--shared-secret', 's3cr3t']);
    expect(c.disconnectCmd({ host: 'fd00::1', port: 11000 }, { host: 'fd00::2', port: 11000 })).toEqual(['drbdsetup', 'disconnect', 'ipv6:[fd00::1]:11000', 'ipv6:[fd00::2]:11000']);
  });

  it('given a ping timeout in ms, connect passes it in tenths of a second; a value DRBD cannot take is refused', () => {
    expect(c.connectCmd('resource0', { ...link, pingTimeoutMs: 5000 }).slice(-2)).toEqual(['--ping-timeout', '50']);
    expect(c.connectCmd('resource0', { ...link, allowTwoPrimaries: true, pingTimeoutMs: 100 }).slice(-3)).toEqual(['--allow-two-primaries', '--ping-timeout', '1']);
    for (const bad of [0, 50, 150, 30100, 1.5]) expect(() => c.connectCmd('r', { ...link, pingTimeoutMs: bad })).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_OPTION' }));
  });

  it('given roles and teardown, forced promotion is its own builder and everything ran', () => {
    expect(c.primaryCmd(1)).toEqual(['drbdsetup', 'primary', '1']);
    expect(c.forcePrimaryForInitialSyncCmd(0)).toEqual(['drbdsetup', 'primary', '0', '--force']);
    for (const argv of [c.forcePrimaryForInitialSyncCmd(0), c.primaryCmd(1), c.secondaryCmd(0), c.detachCmd(1), c.downCmd('resource0'), c.downCmd('resource1')]) ranOk(argv);
    expect(c.resizeCmd(3, 2048)).toEqual(['drbdsetup', 'resize', '3', '--size', '2048m']);
    expect(c.allowTwoPrimariesCmd(link.local, link.peer, false)).toEqual(['drbdsetup', 'net-options', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789', '--allow-two-primaries=no']);
  });

  it('given bad names, minors, ports, addresses, secrets or options, it throws a typed error before building anything', () => {
    const code = (f: () => unknown): string | undefined => { try { f(); } catch (e) { return (e as { code?: string }).code; } return undefined; };
    expect(code(() => c.primaryCmd(-1))).toBe('DRBD_INVALID_MINOR');
    expect(code(() => c.primaryCmd(1048576))).toBe('DRBD_INVALID_MINOR');
    expect(code(() => c.downCmd('-rf'))).toBe('DRBD_INVALID_NAME');
    expect(code(() => c.downCmd('all'))).toBe('DRBD_INVALID_NAME');
    expect(code(() => c.attachCmd({ ...A, dataDev: '/dev/../etc/passwd' }))).toBe('DRBD_INVALID_PATH');
    expect(code(() => c.connectCmd('r', { ...link, peer: { host: '127.0.0.2', port: 70000 } }))).toBe('DRBD_INVALID_PORT');
    expect(code(() => c.connectCmd('r', { ...link, peer: { host: '127.0.0.2;reboot', port: 1 } }))).toBe('DRBD_INVALID_ADDRESS');
    expect(code(() => c.connectCmd('r', { ...link, peer: { host: 'fd00::2', port: 1 } }))).toBe('DRBD_INVALID_ADDRESS');
    expect(code(() => c.connectCmd('r', { ...link, peer: link.local }))).toBe('DRBD_INVALID_ADDRESS');
    expect(code(() => c.connectCmd('r', { ...link, allowTwoPrimaries: true, protocol: 'A' }))).toBe('DRBD_INVALID_OPTION');
    expect(code(() => c.connectCmd('r', { ...link, auth: { hmac: 'md5', secret: 'a b' } }))).toBe('DRBD_INVALID_OPTION');
    expect(code(() => c.diskOptionsCmd(1, { kind: 'dynamic', planAhead: 0, fillTarget: 0, delayTarget: 1, maxRateKiB: 1, minRateKiB: 1 }))).toBe('DRBD_INVALID_OPTION');
    expect(code(() => c.diskOptionsCmd(1, { kind: 'fixed', rateKiB: 1.5 }))).toBe('DRBD_INVALID_OPTION');
  });

  it('given a bad shared secret, the error does not contain it', () => {
    expect(() => c.connectCmd('r', { ...link, auth: { hmac: 'md5', secret: 'top secret' } })).toThrow(/^(?!.*top secret)/s);
  });
});
