import { describe, expect, it } from 'vitest';
import { Drbd9Double } from './drbd9-double.js';
import * as c9 from '../drivers/drbd/cmd9.js';
import { wipeMetaCmd } from '../drivers/drbd/cmd84.js';
import { parseStatusJson } from '../drivers/drbd/parse-status-json.js';
import { parseEvents2 } from '../drivers/drbd/parse-events2.js';
import { parseDrbdShow } from '../drivers/drbd/parse-show.js';
import { detectFamily } from '../drivers/drbd/version.js';

/** The DRBD 9 TEST DOUBLE (DRBD 9 cannot run here): its answers must read with the real parsers. */
const A = { host: '198.18.1.1', port: 11000 };
const B = { host: '198.18.1.2', port: 11000 };
const C = { host: '198.18.1.3', port: 11000 };
const run = (d: Drbd9Double, node: string, argv: string[]) => {
  const r = d.exec(node, argv);
  if (r.code !== 0) throw new Error(`${node}: ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** Bring resource r{minor} up on `node` (node id `id`) with peers, as drbdadm up orders it. */
function up(d: Drbd9Double, node: string, id: number, minor: number, self: typeof A, peers: { id: number; name: string; at: typeof A }[], quorum: c9.Quorum = 'off') {
  const res = `resource${minor}`;
  const meta = `/dev/vg/${node}.meta`;
  if (!d.hasMetadata(node, meta)) run(d, node, c9.createMdCmd(minor, meta, 2));
  run(d, node, c9.newResourceCmd(res, id));
  run(d, node, c9.resourceOptionsCmd(res, { quorum, onNoQuorum: 'io-error' }));
  run(d, node, c9.newMinorCmd(res, minor));
  for (const p of peers) {
    run(d, node, c9.newPeerCmd(res, { nodeId: p.id, name: p.name }));
    run(d, node, c9.newPathCmd(res, p.id, self, p.at));
    run(d, node, c9.peerDeviceOptionsCmd(res, p.id, 0, { kind: 'fixed', rateKiB: 61440 }));
  }
  run(d, node, c9.applyAlCmd(minor, meta));
  run(d, node, c9.attach9Cmd({ minor, dataDev: `/dev/vg/${node}.data`, metaDev: meta, sizeMiB: 1024 }));
  for (const p of peers) run(d, node, c9.connectCmd(res, p.id));
}

function pair(o = {}) {
  const d = new Drbd9Double(['n1', 'n2', 'n3'], o);
  up(d, 'n1', 0, 0, A, [{ id: 1, name: 'n2', at: B }]);
  up(d, 'n2', 1, 3, B, [{ id: 0, name: 'n1', at: A }]);
  return d;
}

describe('Drbd9Double (a test double of DRBD 9: the real module cannot run here)', () => {
  it('given drbdadm --version and /proc/drbd, the real version parsers detect a 9.2.8 module', () => {
    const d = new Drbd9Double(['n1']);
    const v = detectFamily(run(d, 'n1', ['drbdadm', '--version']), run(d, 'n1', ['cat', '/proc/drbd']));
    expect(v).toMatchObject({ family: '9', kernel: { major: 9, minor: 2, patch: 8 } });
  });

  it('given a new pair brought up in drbdadm order, status --json reads Connected Inconsistent/Inconsistent until primary --force starts the initial sync', () => {
    const d = pair({ syncStepPercent: 0 });
    const before = parseStatusJson(run(d, 'n1', c9.statusJsonCmd()));
    expect(before.devices).toEqual([expect.objectContaining({ minor: 0, resource: 'resource0', role: 'Secondary', disk: 'Inconsistent', quorum: true, sizeKiB: 1024 * 1024 })]);
    expect(before.devices[0]!.peers).toEqual([expect.objectContaining({ nodeId: 1, name: 'n2', connection: 'Connected', replication: 'Established', disk: 'Inconsistent', role: 'Secondary' })]);
    run(d, 'n1', c9.forcePrimaryForInitialSyncCmd('resource0'));
    const s = parseStatusJson(run(d, 'n1', c9.statusJsonCmd('resource0'))).devices[0]!;
    expect(s).toMatchObject({ role: 'Primary', disk: 'UpToDate' });
    expect(s.peers[0]).toMatchObject({ replication: 'SyncSource', disk: 'Inconsistent', sync: { percent: 0 } });
    d.finishSyncs();
    const t = parseEvents2(run(d, 'n2', c9.events2NowCmd()));
    expect(t.devices[0]).toMatchObject({ minor: 3, resource: 'resource3', role: 'Secondary', disk: 'UpToDate', quorum: true });
    expect(t.devices[0]!.peers[0]).toMatchObject({ nodeId: 0, name: 'n1', connection: 'Connected', replication: 'Established', role: 'Primary', disk: 'UpToDate' });
  });

  it('given a running resync, events2 --statistics and status --json carry its progress the way the real parsers read it', () => {
    const d = pair({ syncStepPercent: 25 });
    run(d, 'n1', c9.forcePrimaryForInitialSyncCmd('resource0'));
    const e = parseEvents2(run(d, 'n1', c9.events2NowCmd())).devices[0]!.peers[0]!;
    expect(e).toMatchObject({ replication: 'SyncSource', sync: { percent: 25, speedKiBps: 61440 } });
    const j = parseStatusJson(run(d, 'n2', c9.statusJsonCmd())).devices[0]!.peers[0]!;
    expect(j).toMatchObject({ replication: 'SyncTarget', sync: { percent: 50, speedKiBps: 61440 } });
  });

  it('given drbdsetup show, the real parser reads node id, quorum options, paths, peer names and per-peer resync options', () => {
    const d = new Drbd9Double(['n1', 'n2', 'n3']);
    up(d, 'n1', 0, 0, A, [{ id: 1, name: 'n2', at: B }, { id: 2, name: 'n3', at: C }], 'majority');
    const [r] = parseDrbdShow(run(d, 'n1', c9.showCmd()));
    expect(r).toMatchObject({ name: 'resource0', nodeId: 0, options: { quorum: 'majority', 'on-no-quorum': 'io-error' } });
    expect(r!.volumes).toEqual([{ volume: 0, minor: 0, disk: '/dev/vg/n1.data', metaDisk: '/dev/vg/n1.meta', diskOptions: { 'on-io-error': 'detach' } }]);
    expect(r!.connections.map((x) => [x.peerNodeId, x.name, x.cstate, x.local?.host, x.remote?.host])).toEqual([[1, 'n2', 'Connecting', '198.18.1.1', '198.18.1.2'], [2, 'n3', 'Connecting', '198.18.1.1', '198.18.1.3']]);
    expect(r!.connections[0]!.net).toMatchObject({ 'after-sb-0pri': 'discard-zero-changes', 'after-sb-1pri': 'consensus' });
  });

  it('given an Inconsistent side, primary is refused with drbdsetup\'s exit 11 and "Need access to UpToDate data"', () => {
    const d = pair();
    const r = d.exec('n1', c9.primaryCmd('resource0'));
    expect(r).toMatchObject({ code: 11 });
    expect(r.stderr).toMatch(/State change failed: \(-2\) Need access to UpToDate data/);
  });

  it('given the peer Primary, a second primary is refused unless allow-two-primaries is set on both ends', () => {
    const d = pair();
    run(d, 'n1', c9.forcePrimaryForInitialSyncCmd('resource0'));
    d.finishSyncs();
    expect(d.exec('n2', c9.primaryCmd('resource3')).stderr).toMatch(/\(-1\) Multiple primaries not allowed by config/);
    run(d, 'n2', c9.allowTwoPrimariesCmd('resource3', 0, true));
    expect(d.exec('n2', c9.primaryCmd('resource3')).code).toBe(11);
    run(d, 'n1', c9.allowTwoPrimariesCmd('resource0', 1, true));
    expect(d.exec('n2', c9.primaryCmd('resource3')).code).toBe(0);
  });

  it('given quorum majority on three replicas, the side cut off alone loses quorum: its promotion is refused and a Primary there fails its writes', () => {
    const d = new Drbd9Double(['n1', 'n2', 'n3']);
    up(d, 'n1', 0, 0, A, [{ id: 1, name: 'n2', at: B }, { id: 2, name: 'n3', at: C }], 'majority');
    up(d, 'n2', 1, 0, B, [{ id: 0, name: 'n1', at: A }, { id: 2, name: 'n3', at: C }], 'majority');
    up(d, 'n3', 2, 0, C, [{ id: 0, name: 'n1', at: A }, { id: 1, name: 'n2', at: B }], 'majority');
    run(d, 'n1', c9.forcePrimaryForInitialSyncCmd('resource0'));
    d.finishSyncs();
    expect(d.upToDateReplicas()).toHaveLength(3);
    d.cutLink('n1', 'n2');
    d.cutLink('n1', 'n3');
    expect(d.write('n1', 'resource0')).toBe('io-error');
    expect(parseStatusJson(run(d, 'n1', c9.statusJsonCmd())).devices[0]!.quorum).toBe(false);
    expect(d.hasQuorumOf('n2', 'resource0')).toBe(true);
    run(d, 'n1', c9.secondaryCmd('resource0'));
    expect(d.exec('n1', c9.primaryCmd('resource0')).stderr).toMatch(/No quorum/);
    expect(d.exec('n2', c9.primaryCmd('resource0')).code).toBe(0);
  });

  it('given both sides Primary while apart, the reconnect finds a split brain: both StandAlone, nothing resynced', () => {
    const d = pair();
    run(d, 'n1', c9.forcePrimaryForInitialSyncCmd('resource0'));
    d.finishSyncs();
    d.cutLink('n1', 'n2');
    run(d, 'n2', c9.primaryCmd('resource3'));
    d.cutLink('n1', 'n2', false);
    expect(d.splitBrains).toEqual(['n1/resource0 n2/resource3']);
    const s = parseStatusJson(run(d, 'n1', c9.statusJsonCmd())).devices[0]!;
    expect(s).toMatchObject({ role: 'Primary', disk: 'UpToDate', peers: [expect.objectContaining({ connection: 'StandAlone' })] });
  });

  it('given v09 metadata and a power-off, metadata survives while the kernel objects are gone; dd over the meta LV erases it', () => {
    const d = pair();
    d.powerOff('n2');
    expect(() => d.exec('n2', c9.statusJsonCmd())).toThrow(expect.objectContaining({ code: 'TRANSPORT_UNREACHABLE' }));
    d.powerOn('n2');
    expect(parseStatusJson(run(d, 'n2', c9.statusJsonCmd())).devices).toEqual([]);
    expect(run(d, 'n2', c9.dumpMdCmd(3, '/dev/vg/n2.meta'))).toMatch(/^version "v09";/m);
    run(d, 'n2', wipeMetaCmd('/dev/vg/n2.meta'));
    expect(d.exec('n2', c9.dumpMdCmd(3, '/dev/vg/n2.meta'))).toMatchObject({ code: 255, stderr: expect.stringMatching(/No valid meta data found/) });
  });

  it('given del-peer of a connected peer, it is refused; after disconnect it goes; a command the double does not model fails loudly', () => {
    const d = pair();
    expect(d.exec('n1', c9.delPeerCmd('resource0', 1)).code).toBe(10);
    run(d, 'n1', c9.disconnectCmd('resource0', 1));
    run(d, 'n1', c9.delPeerCmd('resource0', 1));
    expect(d.peerIds('n1', 'resource0')).toEqual([]);
    expect(d.exec('n1', ['lvs'])).toMatchObject({ code: 127 });
  });
});
