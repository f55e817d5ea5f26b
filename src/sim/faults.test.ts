import { describe, expect, it } from 'vitest';
import type { Action, InstanceLaunch, InstanceRecord } from '../core/actions.js';
import { SimCluster } from './cluster.js';

/** The failure model the fault campaign relies on: crashes, partitions, lost results, shared storage, missing devices. */
const SHARED = '/srv/gantry/shared';
const launch = (disk: string): InstanceLaunch => ({
  name: 'web1', uuid: 'u-1', memoryMiB: 512, vcpus: 1, accel: 'tcg', bootOrder: ['disk'],
  disks: [{ path: disk, format: 'raw', bus: 'virtio' }],
  nics: [{ mac: 'aa:00:00:00:00:01', model: 'virtio', mode: 'bridged', link: 'br0', trunks: [] }],
  vnc: false, vncBindAddress: '127.0.0.1',
});
const record = (l: InstanceLaunch): InstanceRecord => ({ uuid: 'u-1', os: 'debootstrap', osGeneration: 1, restartGeneration: 0, nics: [{ mac: 'aa:00:00:00:00:01' }], launch: l });
const on = (node: string) => ({ node, subject: 'Instance/web1', reason: 't', name: 'web1', runDir: '/run/gantry' });
const start = (node: string, l: InstanceLaunch): Action => ({ ...on(node), verb: 'instance.start', launch: l, record: record(l) });
const migrate = (from: string, to: string, l: InstanceLaunch): Action => ({
  ...on(from), verb: 'instance.migrate', peer: to, peerAddress: '198.19.0.2', peerRunDir: '/run/gantry', launch: l, record: record(l), bandwidthMiBps: 100, downtimeMs: 300,
});
const bridge = (node: string): Action => ({ node, subject: `Node/${node}`, reason: 't', verb: 'bridge.ensure', name: 'br0', vlanFiltering: false, addresses: [], ports: [] });

async function twoNodes(): Promise<SimCluster> {
  const c = new SimCluster(['n1', 'n2'], { sharedDirs: [SHARED] });
  for (const n of ['n1', 'n2']) expect((await c.run(bridge(n))).ok).toBe(true);
  return c;
}

describe('simulator failure model', () => {
  it('given a launch on a /dev/drbd device, start fails DISK_NOT_FOUND and no VM runs (the simulator has no DRBD)', async () => {
    const c = await twoNodes();
    const r = await c.run(start('n1', launch('/dev/drbd/by-res/web1.disk0/0')));
    expect(r.error?.code).toBe('DISK_NOT_FOUND');
    expect(c.snapshot().n1?.instances).toEqual({});
  });

  it('given shared storage, a file created on one node is seen by every node and a VM on it migrates', async () => {
    const c = await twoNodes();
    const path = `${SHARED}/web1.disk0.img`;
    await c.run({ node: 'n1', subject: 'Instance/web1', reason: 't', verb: 'file.create', path, sizeMiB: 64, format: 'raw' });
    expect(c.snapshot().n2?.files[path]).toEqual({ path, format: 'raw', virtualSizeMiB: 64 });
    expect((await c.run(start('n1', launch(path)))).ok).toBe(true);
    expect(await c.run(migrate('n1', 'n2', launch(path)))).toMatchObject({ ok: true, unchanged: false });
    expect(c.snapshot().n2?.instances.web1?.runState).toBe('running');
    expect(c.snapshot().n1?.instances.web1).toBeUndefined();
  });

  it('given a local file path, another node does not see it and a start there fails', async () => {
    const c = await twoNodes();
    const path = '/srv/gantry/file/web1.disk0.img';
    await c.run({ node: 'n1', subject: 'Instance/web1', reason: 't', verb: 'file.create', path, sizeMiB: 64, format: 'raw' });
    expect(c.snapshot().n2?.files[path]).toBeUndefined();
    expect((await c.run(start('n2', launch(path)))).error?.code).toBe('DISK_NOT_FOUND');
  });

  it('given a crash, every VM dies (stopped, not by an admin), disks and records stay, and the node is unreachable until boot', async () => {
    const c = await twoNodes();
    const path = `${SHARED}/web1.disk0.img`;
    await c.run({ node: 'n1', subject: 'Instance/web1', reason: 't', verb: 'file.create', path, sizeMiB: 64, format: 'raw' });
    await c.run(start('n1', launch(path)));
    c.node('n1').crash();
    const req = { sysctls: [], fileDirs: [SHARED] };
    expect((await c.node('n1').observe(req)).reachable).toBe(false);
    expect((await c.run(bridge('n1'))).error).toMatchObject({ code: 'UNREACHABLE', retryable: true });
    c.node('n1').boot();
    const o = await c.node('n1').observe(req);
    expect(o.instances.web1).toMatchObject({ runState: 'stopped', adminStopped: false, meta: { uuid: 'u-1' } });
    expect(o.instances.web1?.pid).toBeUndefined();
    expect(o.bridges).toEqual({});
    expect(o.files[path]).toBeDefined();
  });

  it('given a replication partition, a migration to or from the node fails retryably and the VM stays', async () => {
    const c = await twoNodes();
    const path = `${SHARED}/web1.disk0.img`;
    await c.run({ node: 'n1', subject: 'Instance/web1', reason: 't', verb: 'file.create', path, sizeMiB: 64, format: 'raw' });
    await c.run(start('n1', launch(path)));
    c.node('n2').setReplicationDown(true);
    expect((await c.run(migrate('n1', 'n2', launch(path)))).error).toMatchObject({ code: 'PEER_UNREACHABLE', retryable: true });
    c.node('n2').setReplicationDown(false);
    c.node('n1').setReplicationDown(true);
    expect((await c.run(migrate('n1', 'n2', launch(path)))).error?.code).toBe('PEER_UNREACHABLE');
    expect(c.snapshot().n1?.instances.web1?.runState).toBe('running');
    expect(c.snapshot().n2?.instances.web1).toBeUndefined();
  });

  it('given a hang whose command ran before the timeout, the node changed but the result is the timeout', async () => {
    const c = await twoNodes();
    c.node('n1').failNext('sysctl.set', { code: 'TIMEOUT', retryable: true, applied: true });
    const r = await c.run({ node: 'n1', subject: 'Node/n1', reason: 't', verb: 'sysctl.set', key: 'vm.swappiness', value: '1' });
    expect(r).toMatchObject({ ok: false, error: { code: 'TIMEOUT', retryable: true } });
    expect(c.snapshot().n1?.sysctls['vm.swappiness']).toBe('1');
  });
});
