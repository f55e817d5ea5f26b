import { describe, expect, it } from 'vitest';
import * as c from './cmd9.js';

// The argv forms follow what drbdadm 9 itself emits (LINBIT drbd-utils tests/v9/drbd_8.4.test,
// adjust_order.test): new-resource NAME NODE_ID, new-minor NAME MINOR VOLUME, new-peer NAME
// PEER --opt=value..., new-path NAME PEER LOCAL REMOTE, connect NAME PEER.
describe('DRBD 9 argv builders', () => {
  const local = { host: '198.18.1.10', port: 11000 };
  const peer = { host: '198.18.1.11', port: 11000 };

  it('given a two-node resource with quorum, it builds the drbdadm up sequence', () => {
    expect([
      c.newResourceCmd('gnt-disk2', 0),
      c.resourceOptionsCmd('gnt-disk2', { quorum: 'majority', onNoQuorum: 'io-error' }),
      c.newMinorCmd('gnt-disk2', 7),
      c.newPeerCmd('gnt-disk2', { nodeId: 1, name: 'node3.example.org' }),
      c.newPathCmd('gnt-disk2', 1, local, peer),
      c.peerDeviceOptionsCmd('gnt-disk2', 1, 0, { kind: 'fixed', rateKiB: 61440 }),
      c.applyAlCmd(7, '/dev/xenvg/disk2.meta'),
      c.attach9Cmd({ minor: 7, dataDev: '/dev/xenvg/disk2.data', metaDev: '/dev/xenvg/disk2.meta' }),
      c.connectCmd('gnt-disk2', 1),
    ]).toEqual([
      ['drbdsetup', 'new-resource', 'gnt-disk2', '0'],
      ['drbdsetup', 'resource-options', 'gnt-disk2', '--quorum=majority', '--on-no-quorum=io-error'],
      ['drbdsetup', 'new-minor', 'gnt-disk2', '7', '0'],
      ['drbdsetup', 'new-peer', 'gnt-disk2', '1', '--_name=node3.example.org', '--protocol=C', '--after-sb-0pri=discard-zero-changes', '--after-sb-1pri=consensus', '--after-sb-2pri=disconnect'],
      ['drbdsetup', 'new-path', 'gnt-disk2', '1', 'ipv4:198.18.1.10:11000', 'ipv4:198.18.1.11:11000'],
      ['drbdsetup', 'peer-device-options', 'gnt-disk2', '1', '0', '--resync-rate', '61440k'],
      ['drbdmeta', '7', 'v09', '/dev/xenvg/disk2.meta', 'flex-external', 'apply-al'],
      ['drbdsetup', 'attach', '7', '/dev/xenvg/disk2.data', '/dev/xenvg/disk2.meta', 'flexible', '--on-io-error=detach'],
      ['drbdsetup', 'connect', 'gnt-disk2', '1'],
    ]);
  });

  it('given roles, metadata and reads, it uses resource names where DRBD 9 wants them', () => {
    expect(c.forcePrimaryForInitialSyncCmd('gnt-disk2')).toEqual(['drbdsetup', 'primary', 'gnt-disk2', '--force']);
    expect(c.secondaryCmd('gnt-disk2')).toEqual(['drbdsetup', 'secondary', 'gnt-disk2']);
    expect(c.createMdCmd(7, '/dev/xenvg/disk2.meta', 1)).toEqual(['drbdmeta', '--force', '7', 'v09', '/dev/xenvg/disk2.meta', 'flex-external', 'create-md', '1']);
    expect(c.statusJsonCmd()).toEqual(['drbdsetup', 'status', '--json', 'all']);
    expect(c.resourceOptionsCmd('r', { quorum: 2, onNoQuorum: 'suspend-io' })).toEqual(['drbdsetup', 'resource-options', 'r', '--quorum=2', '--on-no-quorum=suspend-io']);
    expect(c.newPeerCmd('r', { nodeId: 2, name: 'n', allowTwoPrimaries: true })).toContain('--allow-two-primaries=yes');
  });

  it('given bad node ids, quorum values, peer names or a dual primary without protocol C, it throws typed errors', () => {
    expect(() => c.newResourceCmd('r', 32)).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_NODE_ID' }));
    expect(() => c.resourceOptionsCmd('r', { quorum: 'most' as 'all', onNoQuorum: 'io-error' })).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_OPTION' }));
    expect(() => c.resourceOptionsCmd('r', { quorum: 'majority', onNoQuorum: 'panic' as 'io-error' })).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_OPTION' }));
    expect(() => c.newPeerCmd('r', { nodeId: 1, name: '--force' })).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_NAME' }));
    expect(() => c.newPeerCmd('r', { nodeId: 1, name: 'n', protocol: 'B', allowTwoPrimaries: true })).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_OPTION' }));
    expect(() => c.newPathCmd('r', 1, local, { host: 'fd00::1', port: 1 })).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_ADDRESS' }));
    expect(() => c.createMdCmd(7, '/dev/x', 0)).toThrow(expect.objectContaining({ code: 'DRBD_INVALID_OPTION' }));
  });

  it('given a secondary replacement on DRBD 9, it adds the new replica beside the existing ones (no gap), and drops the old one only in a second step', () => {
    const a = { name: 'node1', nodeId: 0, address: { host: '198.18.1.10', port: 11000 } };
    const old = { name: 'node2', nodeId: 1, address: { host: '198.18.1.11', port: 11000 } };
    const nu = { name: 'node3', nodeId: 2, address: { host: '198.18.1.12', port: 11000 }, minor: 4, dataDev: '/dev/xenvg/d.data', metaDev: '/dev/xenvg/d.meta', sizeMiB: 1024 };
    const add = c.addReplicaCmds('gnt-d', nu, [a, old], { kind: 'fixed', rateKiB: 61440 }, 2);
    expect(add.onNew.map((x) => x.slice(0, 2).join(' '))).toEqual([
      'drbdmeta --force', 'drbdsetup new-resource', 'drbdsetup new-minor',
      'drbdsetup new-peer', 'drbdsetup new-path', 'drbdsetup peer-device-options',
      'drbdsetup new-peer', 'drbdsetup new-path', 'drbdsetup peer-device-options',
      'drbdmeta 4', 'drbdsetup attach', 'drbdsetup connect', 'drbdsetup connect',
    ]);
    expect(add.onNew[4]).toEqual(['drbdsetup', 'new-path', 'gnt-d', '0', 'ipv4:198.18.1.12:11000', 'ipv4:198.18.1.10:11000']);
    expect(add.onNew.flat()).not.toContain('primary');
    expect(add.onExisting.get('node1')).toEqual([
      ['drbdsetup', 'new-peer', 'gnt-d', '2', '--_name=node3', '--protocol=C', '--after-sb-0pri=discard-zero-changes', '--after-sb-1pri=consensus', '--after-sb-2pri=disconnect'],
      ['drbdsetup', 'new-path', 'gnt-d', '2', 'ipv4:198.18.1.10:11000', 'ipv4:198.18.1.12:11000'],
      ['drbdsetup', 'peer-device-options', 'gnt-d', '2', '0', '--resync-rate', '61440k'],
      ['drbdsetup', 'connect', 'gnt-d', '2'],
    ]);
    expect(() => c.addReplicaCmds('gnt-d', { ...nu, nodeId: 1 }, [a, old], { kind: 'fixed', rateKiB: 61440 }, 2)).toThrow(/node id 1 of node3 is already used/);
    const drop = c.dropReplicaCmds('gnt-d', old, [a, nu]);
    expect(drop.onOld).toEqual([['drbdsetup', 'down', 'gnt-d']]);
    expect(drop.onRemaining.get('node3')).toEqual([['drbdsetup', 'disconnect', 'gnt-d', '1'], ['drbdsetup', 'del-peer', 'gnt-d', '1']]);
  });
});
