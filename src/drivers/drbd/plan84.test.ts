import { describe, expect, it } from 'vitest';
import { parseEvents2 } from './parse-events2.js';
import { parseDrbdShow } from './parse-show.js';
import { disconnectDecision, dualPrimaryDecision, dualPrimaryOf, expectedSyncOptions, failoverPromoteDecision, syncDone, initialSyncDecision, metaState, migrationPromoteDecision, migrationReadyProblem, pingTimeoutDiffers, planUp, syncOptionsDiffer, type Drbd84Spec } from './plan84.js';
import { golden } from './testdata/golden.js';

// The capture VM's resource0: what the golden states were made from.
const A: Drbd84Spec = { resource: 'resource0', minor: 0, dataDev: '/dev/vda', metaDev: '/dev/vdb', sizeMiB: 240, barriers: { noDiskBarrier: true, noMdFlushes: true },
  resync: { kind: 'fixed', rateKiB: 8192 }, net: { local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 } } };
const state = (name: string) => ({ events: parseEvents2(golden(`v84/events2-${name}.txt`)), show: (r: string) => parseDrbdShow(golden(`v84/show-${name}.txt`)).find((x) => x.name === r) });
const steps = (d: ReturnType<typeof planUp>): unknown => (d.kind === 'run' ? d.steps : d.error.code);

describe('DRBD 8.4 bring-up decisions (from real captured states)', () => {
  it('given nothing configured, it plans the whole Ganeti sequence', () => {
    const d = planUp(A, { devices: [], resources: [] }, undefined);
    expect(d.kind === 'run' && d.commands.map((x) => x[1])).toEqual(['new-resource', 'new-minor', '/dev/drbd0', 'attach', 'disk-options', 'connect']);
  });

  it('given attached but StandAlone (real), it sets the sync options, then connects', () => {
    const s = state('attached');
    expect(steps(planUp(A, s.events, s.show('resource0')))).toEqual(['sync-options', 'connect']);
  });

  it('given connected with the same sync options, it plans nothing', () => {
    const s = state('uptodate');
    const r1 = s.show('resource1')!;
    // resource1 shows resync-rate 8192k: the rate set on resource0, adopted over the link.
    expect(steps(planUp({ ...A, resource: 'resource1', minor: 1, dataDev: '/dev/vdc', metaDev: '/dev/vdd', net: { local: A.net.peer, peer: A.net.local } }, s.events, r1))).toEqual([]);
  });

  it('given connected where the peer overwrote the sync options at handshake (real), it re-applies them and does not reconnect', () => {
    const s = state('uptodate');
    expect(steps(planUp(A, s.events, s.show('resource0')))).toEqual(['sync-options']);
  });

  it('given a detached minor (real: Diskless, Unconfigured in /proc/drbd), it re-attaches without new-resource/new-minor', () => {
    const s = state('detached');
    const d = planUp({ ...A, resource: 'resource1', minor: 1, dataDev: '/dev/vdc', metaDev: '/dev/vdd', net: { local: A.net.peer, peer: A.net.local } }, s.events, s.show('resource1'));
    expect(steps(d)).toEqual(['attach', 'sync-options', 'connect']);
  });

  it('given a minor owned by another resource, attached elsewhere, or linked to another peer, it refuses', () => {
    const s = state('uptodate');
    expect(steps(planUp({ ...A, resource: 'resource9' }, s.events, s.show('resource0')))).toBe('DRBD_MINOR_IN_USE');
    expect(steps(planUp({ ...A, dataDev: '/dev/vdc' }, s.events, s.show('resource0')))).toBe('DRBD_DISK_MISMATCH');
    expect(steps(planUp({ ...A, net: { ...A.net, peer: { host: '127.0.0.3', port: 7789 } } }, s.events, s.show('resource0')))).toBe('DRBD_NET_MISMATCH');
  });

  it('given the real show of a device linked to a gone peer (127.0.0.3), bring-up to the pair\'s peer refuses DRBD_NET_MISMATCH: real DRBD refuses that connect too ("Local address(port) already in use"); a disconnect must come first', () => {
    const s = state('wrong-peer');
    expect(steps(planUp(A, s.events, s.show('resource0')))).toBe('DRBD_NET_MISMATCH');
    expect(golden('v84/relink-commands.log')).toMatch(/connect resource0 ipv4:127\.0\.0\.1:7788 ipv4:127\.0\.0\.2:7789 .*\nresource0: Failure: \(102\) Local address\(port\) already in use\.\nrc=10/);
  });

  it('given a request for dual primary on a connected link, it toggles it with net-options only', () => {
    const s = state('uptodate');
    const d = planUp({ ...A, resync: { kind: 'dynamic', planAhead: 20, fillTarget: 0, delayTarget: 10, maxRateKiB: 8192, minRateKiB: 250 }, net: { ...A.net, allowTwoPrimaries: true } }, s.events, s.show('resource0'));
    expect(d.kind === 'run' && d.commands).toEqual([['drbdsetup', 'net-options', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789', '--allow-two-primaries=yes']]);
  });

  it('given a ping-timeout in the spec and a connected link with DRBD\'s default (real show), it sets it with net-options only; none in the spec leaves the link alone', () => {
    const s = state('uptodate');
    const dyn = { kind: 'dynamic', planAhead: 20, fillTarget: 0, delayTarget: 10, maxRateKiB: 8192, minRateKiB: 250 } as const;
    const d = planUp({ ...A, resync: dyn, net: { ...A.net, pingTimeoutMs: 5000 } }, s.events, s.show('resource0'));
    expect(d.kind === 'run' && [d.steps, d.commands]).toEqual([['ping-timeout'], [['drbdsetup', 'net-options', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789', '--ping-timeout', '50']]]);
    expect(steps(planUp({ ...A, resync: dyn }, s.events, s.show('resource0')))).toEqual([]);
    expect(pingTimeoutDiffers(500, {})).toBe(false);
    expect(pingTimeoutDiffers(5000, { 'ping-timeout': '50' })).toBe(false);
  });

  it('given sync options and what show prints, defaults count as set', () => {
    expect(expectedSyncOptions({ kind: 'fixed', rateKiB: 250 })).toEqual({ 'resync-rate': '250k' });
    expect(syncOptionsDiffer({ kind: 'fixed', rateKiB: 250 }, {})).toBe(false);
    expect(syncOptionsDiffer({ kind: 'fixed', rateKiB: 8192 }, { 'resync-rate': '8192k' })).toBe(false);
  });

  it('given real dump-md answers, it tells present metadata from none', () => {
    expect(metaState(0, golden('v84/dump-md-fresh.txt'))).toBe('present');
    expect(metaState(1, golden('v84/dump-md-none.txt'))).toBe('none');
    expect(metaState(20, "Device '/dev/drbd0' is configured!")).toBe('unknown');
  });

  it('given the dump-md answer of a meta LV after drbdsetup down (seen on the VM lab, 8.4.11), it counts the metadata as present', () => {
    expect(metaState(1, 'Found meta data is "unclean", please apply-al first')).toBe('present');
  });

  it('given real states, the initial forced sync is allowed only for a connected Inconsistent pair of Secondaries', () => {
    const dev = (name: string, minor: number) => parseEvents2(golden(`v84/events2-${name}.txt`)).devices.find((d) => d.minor === minor);
    expect(initialSyncDecision(0, dev('connected-inconsistent', 0))).toBe('force');
    expect(initialSyncDecision(0, dev('syncing', 0))).toBe('done');
    expect(initialSyncDecision(1, dev('syncing', 1))).toBe('done');
    expect(initialSyncDecision(0, dev('uptodate', 0))).toBe('done');
    expect(initialSyncDecision(0, dev('attached', 0))).toMatchObject({ code: 'DRBD_FORCE_REFUSED' });
    expect(initialSyncDecision(0, undefined)).toMatchObject({ code: 'DRBD_FORCE_REFUSED' });
  });
});

describe('failover promotion (captured 8.4 events2 from the VM lab)', () => {
  const dev = (name: string, minor: number) => parseEvents2(golden(`v84/events2-${name}.txt`)).devices.find((d) => d.minor === minor);

  it('given an UpToDate Secondary that lost its peer (StandAlone), it promotes with plain primary; an already Primary device is done', () => {
    expect(failoverPromoteDecision(0, dev('split-brain', 0), false)).toEqual({ argv: ['drbdsetup', 'primary', '0'] });
    expect(failoverPromoteDecision(0, dev('uptodate', 0), false)).toBe('done');
  });

  it('given a Secondary that still sees its peer Connected, it refuses (the old primary is alive), even with force', () => {
    expect(failoverPromoteDecision(1, dev('uptodate', 1), true)).toMatchObject({ code: 'DRBD_FAILOVER_HELD' });
  });

  it('given an Outdated replica (the captured device with its disk state edited), it refuses unless forced, then uses primary --force; Diskless never', () => {
    const outdated = { ...dev('split-brain', 0)!, disk: 'Outdated' };
    expect(failoverPromoteDecision(0, outdated, false)).toMatchObject({ code: 'DRBD_FAILOVER_DEGRADED' });
    expect(failoverPromoteDecision(0, outdated, true)).toEqual({ argv: ['drbdsetup', 'primary', '0', '--force'] });
    expect(failoverPromoteDecision(0, { ...outdated, disk: 'Diskless' }, true)).toMatchObject({ code: 'DRBD_FAILOVER_DEGRADED' });
    expect(failoverPromoteDecision(5, undefined, true)).toMatchObject({ code: 'DRBD_NOT_UP' });
  });
});

describe('DRBD 8.4 secondary replacement decisions (from real captured states)', () => {
  it('given a resource linked to its old peer (real show), it disconnects exactly that link; linked to the new peer or not linked, it does nothing', () => {
    const up = state('uptodate').show('resource0');
    expect(disconnectDecision(up, { host: '127.0.0.3', port: 7788 })).toEqual({ argv: ['drbdsetup', 'disconnect', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789'], from: '127.0.0.2:7789' });
    expect(disconnectDecision(up, { host: '127.0.0.2', port: 7789 })).toBe('done');
    expect(disconnectDecision(state('attached').show('resource0'), { host: '127.0.0.3', port: 7788 })).toBe('done');
    expect(disconnectDecision(undefined, { host: '127.0.0.3', port: 7788 })).toBe('done');
    // a re-link (issue 10): the real show of a link to a gone peer is dropped; linked to the pair's peer from the pair's address, nothing
    const wrong = parseDrbdShow(golden('v84/show-wrong-peer.txt')).find((r) => r.name === 'resource0');
    expect(disconnectDecision(wrong, { host: '127.0.0.2', port: 7789 }, { host: '127.0.0.1', port: 7788 })).toEqual({ argv: ['drbdsetup', 'disconnect', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.3:7790'], from: '127.0.0.3:7790' });
    const relinked = parseDrbdShow(golden('v84/show-relinked.txt')).find((r) => r.name === 'resource0');
    expect(disconnectDecision(relinked, { host: '127.0.0.2', port: 7789 }, { host: '127.0.0.1', port: 7788 })).toBe('done');
    // the right peer from another local address: dropped too
    expect(disconnectDecision(relinked, { host: '127.0.0.2', port: 7789 }, { host: '127.0.0.5', port: 7788 })).toMatchObject({ from: '127.0.0.2:7789' });
  });

  it('given a pair still syncing (real), the resync is not done; UpToDate/UpToDate connected (real) is done; StandAlone is not', () => {
    const dev = (name: string, minor = 0) => parseEvents2(golden(`v84/events2-${name}.txt`)).devices.find((d) => d.minor === minor);
    expect(syncDone(dev('syncing'))).toBe(false);
    expect(syncDone(dev('uptodate'))).toBe(true);
    expect(syncDone(dev('attached'))).toBe(false);
    expect(syncDone(undefined)).toBe(false);
  });
});

describe('DRBD 8.4 live migration decisions (dual-primary)', () => {
  const ev = (name: string) => parseEvents2(golden(`v84/events2-${name}.txt`));
  const dev = (name: string, minor: number) => ev(name).devices.find((d) => d.minor === minor);
  const r0 = { local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 } };
  // Real show of the connected pair; dual-primary adds the one non-default line drbdsetup prints in net {} (as the lab test checks on the VM nodes).
  const show = (dual: boolean) => parseDrbdShow(golden('v84/show-uptodate.txt').replace(/( {4}net \{\n)/g, dual ? '$1        allow-two-primaries\tyes;\n' : '$1')).find((x) => x.name === 'resource0');
  const code = (d: unknown) => (d instanceof Error ? (d as unknown as { code: string }).code : d);

  it('given the real Connected UpToDate/UpToDate pair, both sides are ready; given the real resync or a StandAlone device, they are not, with the state named', () => {
    expect(migrationReadyProblem(dev('uptodate', 0))).toBeUndefined();
    expect(migrationReadyProblem(dev('uptodate', 1))).toBeUndefined();
    expect(migrationReadyProblem(dev('syncing', 1))).toMatch(/Secondary, disk Inconsistent, SyncTarget to a Primary peer whose disk is UpToDate/);
    expect(migrationReadyProblem(dev('syncing', 0))).toMatch(/SyncSource/);
    expect(migrationReadyProblem(dev('attached', 0))).toMatch(/disk Inconsistent/);
    expect(migrationReadyProblem(undefined)).toBe('not configured');
  });

  it('given the destination Secondary of a Primary peer, it is promoted only with allow-two-primaries set; a Primary destination is done', () => {
    expect(code(migrationPromoteDecision(1, dev('uptodate', 1), false))).toBe('DRBD_NO_DUAL_PRIMARY');
    expect(migrationPromoteDecision(1, dev('uptodate', 1), true)).toEqual({ argv: ['drbdsetup', 'primary', '1'] });
    expect(migrationPromoteDecision(0, dev('uptodate', 0), false)).toBe('done');
    expect(code(migrationPromoteDecision(1, dev('syncing', 1), true))).toBe('DRBD_MIGRATION_NOT_READY');
  });

  it('given allow-two-primaries as drbdsetup show prints it, it sets or clears it with net-options only when it differs, and refuses a link that is not there', () => {
    expect(dualPrimaryOf(show(false))).toBe(false);
    expect(dualPrimaryOf(show(true))).toBe(true);
    expect(dualPrimaryDecision('resource0', r0.local, r0.peer, show(false), true)).toEqual({ argv: ['drbdsetup', 'net-options', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789', '--allow-two-primaries=yes'] });
    expect(dualPrimaryDecision('resource0', r0.local, r0.peer, show(true), true)).toBe('done');
    expect(dualPrimaryDecision('resource0', r0.local, r0.peer, show(true), false)).toEqual({ argv: ['drbdsetup', 'net-options', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789', '--allow-two-primaries=no'] });
    expect(dualPrimaryDecision('resource0', r0.local, r0.peer, show(false), false)).toBe('done');
    expect(code(dualPrimaryDecision('resource0', r0.peer, r0.local, show(false), true))).toBe('DRBD_NET_MISMATCH');
    const standalone = parseDrbdShow(golden('v84/show-attached.txt')).find((x) => x.name === 'resource0');
    expect(code(dualPrimaryDecision('resource0', r0.local, r0.peer, standalone, true))).toBe('DRBD_NOT_CONNECTED');
  });

  // Captured from the VM lab, DRBD 8.4.11 (test/lab/drbd.test.ts, the role switch): net-options ran on node1 only.
  it('given the real show of both ends during dual-primary (VM lab, 8.4.11), both read allow-two-primaries yes: the peer got it from the source\'s net-options, so its ensure runs nothing', () => {
    const mine = parseDrbdShow(golden('v84/show-dual-primary.txt'))[0];
    const peer = parseDrbdShow(golden('v84/show-dual-primary-peer.txt'))[0];
    expect(mine?.connections[0]).toEqual({ local: { family: 'ipv4', host: '198.19.233.11', port: 11000 }, remote: { family: 'ipv4', host: '198.19.233.12', port: 11000 },
      net: { 'allow-two-primaries': 'yes', 'after-sb-0pri': 'discard-zero-changes', 'after-sb-1pri': 'consensus' } });
    expect([dualPrimaryOf(mine), dualPrimaryOf(peer)]).toEqual([true, true]);
    const n2 = { host: '198.19.233.12', port: 11000 };
    const n1 = { host: '198.19.233.11', port: 11000 };
    expect(dualPrimaryDecision('resource0', n2, n1, peer, true)).toBe('done');
    expect(dualPrimaryDecision('resource0', n1, n2, mine, false)).toEqual({ argv: ['drbdsetup', 'net-options', 'ipv4:198.19.233.11:11000', 'ipv4:198.19.233.12:11000', '--allow-two-primaries=no'] });
  });

  it('given the real events2 of both ends during dual-primary (VM lab, 8.4.11), each is Primary with a Primary peer, Connected UpToDate/UpToDate: promotion is done and the pair stays migration-ready', () => {
    for (const f of ['dual-primary', 'dual-primary-peer']) {
      const d = ev(f).devices[0];
      expect(d).toMatchObject({ minor: 0, resource: 'resource0', role: 'Primary', disk: 'UpToDate', peers: [{ connection: 'Connected', replication: 'Established', role: 'Primary', disk: 'UpToDate' }] });
      expect(migrationPromoteDecision(0, d, true)).toBe('done');
      expect(migrationReadyProblem(d)).toBeUndefined();
    }
  });
});
