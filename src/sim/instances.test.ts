import { describe, expect, it } from 'vitest';
import type { Action, InstanceLaunch, InstanceRecord } from '../core/actions.js';
import { SimCluster } from './cluster.js';

const launch: InstanceLaunch = {
  name: 'web1', uuid: 'u-1', memoryMiB: 512, vcpus: 1, accel: 'tcg', bootOrder: ['disk'],
  disks: [{ path: '/dev/vg0/web1.disk0', format: 'raw', bus: 'virtio' }],
  nics: [
    { mac: 'aa:00:00:00:00:01', model: 'virtio', mode: 'bridged', link: 'br0', trunks: [] },
    { mac: 'aa:00:00:00:00:02', model: 'virtio', mode: 'openvswitch', link: 'ovs0', vlan: 10, trunks: [] },
  ],
  vnc: false, vncBindAddress: '127.0.0.1',
};
const record: InstanceRecord = { uuid: 'u-1', os: 'debootstrap', osGeneration: 1, restartGeneration: 0, nics: [{ mac: 'aa:00:00:00:00:01' }], launch };
const on = (node: string) => ({ node, subject: 'Instance/web1', reason: 't', name: 'web1', runDir: '/run/gantry' });
const install = (node: string): Action => ({ ...on(node), verb: 'instance.install', os: { name: 'debootstrap', params: {} }, launch, record, nicInfo: [] });
const start = (node: string): Action => ({ ...on(node), verb: 'instance.start', launch, record });
const stop = (node: string): Action => ({ ...on(node), verb: 'instance.stop', timeoutS: 60 });
const remove = (node: string): Action => ({ ...on(node), verb: 'instance.remove', nicCount: 2 });
const migrate = (from: string, to: string): Action => ({
  ...on(from), verb: 'instance.migrate', peer: to, peerAddress: '198.19.0.2', peerRunDir: '/run/gantry', launch, record, bandwidthMiBps: 100, downtimeMs: 300,
});

/** Two nodes with the bridge, OVS bridge and the instance's disk (as shared storage would give). */
async function cluster(): Promise<SimCluster> {
  const c = new SimCluster(['n1', 'n2']);
  for (const node of ['n1', 'n2']) {
    const base = { node, subject: `Node/${node}`, reason: 't' };
    for (const a of [
      { ...base, verb: 'bridge.ensure', name: 'br0', vlanFiltering: false, addresses: [], ports: [] },
      { ...base, verb: 'ovs.bridge.ensure', name: 'ovs0', datapathType: 'netdev' },
      { ...base, verb: 'vg.ensure', name: 'vg0', pvs: ['/dev/sdb'] },
      { ...base, verb: 'lv.create', vg: 'vg0', name: 'web1.disk0', sizeMiB: 1024, tags: [] },
    ] as Action[]) expect((await c.run(a)).ok).toBe(true);
  }
  return c;
}

describe('SimNodeOps instance verbs', () => {
  it('given install, start, stop, remove each applied twice, it changes the node once per verb', async () => {
    const c = await cluster();
    for (const a of [install('n1'), start('n1'), stop('n1'), remove('n1')]) {
      expect(await c.run(a), a.verb).toMatchObject({ ok: true, unchanged: false });
      expect(await c.run(a), a.verb).toMatchObject({ ok: true, unchanged: true });
    }
    expect(c.snapshot().n1?.instances).toEqual({});
    expect(c.snapshot().n1?.taps).toEqual({});
  });

  it('given start, it records what the probe reports: running, the gantry.json record, plugged taps', async () => {
    const c = await cluster();
    await c.run(install('n1'));
    expect(c.snapshot().n1?.instances.web1).toMatchObject({ runState: 'stopped', adminStopped: true, meta: { osGeneration: 1 } });
    await c.run(start('n1'));
    const n1 = c.snapshot().n1!;
    expect(n1.instances.web1).toMatchObject({ runState: 'running', adminStopped: false, memoryMiB: 512, meta: { uuid: 'u-1', osGeneration: 1, launch } });
    expect(n1.taps['t-web1-0']).toEqual({ name: 't-web1-0', up: true, master: 'br0' });
    expect(n1.ovs?.bridges.ovs0?.ports['t-web1-1']).toMatchObject({ tag: 10 });
    await c.run(stop('n1'));
    expect(c.snapshot().n1?.instances.web1).toMatchObject({ runState: 'stopped', adminStopped: true });
    expect(c.snapshot().n1?.instances.web1?.pid).toBeUndefined();
  });

  it('given start on a VM running another launch spec, it refuses with RESTART_NEEDED (stop first)', async () => {
    const c = await cluster();
    await c.run(start('n1'));
    const bigger: Action = { ...start('n1'), launch: { ...launch, memoryMiB: 1024 } } as Action;
    expect((await c.run(bigger)).error).toMatchObject({ code: 'RESTART_NEEDED', retryable: false });
    await c.run(stop('n1'));
    expect(await c.run(bigger)).toMatchObject({ ok: true, unchanged: false });
    expect(c.snapshot().n1?.instances.web1?.memoryMiB).toBe(1024);
  });

  it('given a missing disk or bridge, start fails (not retried within the pass: the next pass re-observes) and leaves the node as it was', async () => {
    const c = new SimCluster(['n1']);
    const r = await c.run(start('n1'));
    expect(r.error).toMatchObject({ code: 'DISK_NOT_FOUND', retryable: false });
    expect(c.snapshot().n1?.instances).toEqual({});
  });

  it('given install on a running VM, it refuses until the VM is stopped', async () => {
    const c = await cluster();
    await c.run(start('n1'));
    const bumped: Action = { ...install('n1'), record: { ...record, osGeneration: 2 } } as Action;
    expect((await c.run(bumped)).error?.code).toBe('INSTANCE_RUNNING');
    await c.run(stop('n1'));
    expect((await c.run(bumped)).ok).toBe(true);
  });

  it('given migrate, it moves the running VM to the peer once; repeating it is unchanged', async () => {
    const c = await cluster();
    await c.run(install('n1'));
    await c.run(start('n1'));
    expect(await c.run(migrate('n1', 'n2'))).toMatchObject({ ok: true, unchanged: false });
    expect(c.snapshot().n1?.instances).toEqual({});
    expect(c.snapshot().n1?.taps).toEqual({});
    expect(c.snapshot().n2?.instances.web1?.runState).toBe('running');
    expect(await c.run(migrate('n1', 'n2'))).toMatchObject({ ok: true, unchanged: true });
  });

  it('given an unreachable peer, migrate fails retryably and the VM stays where it was', async () => {
    const c = await cluster();
    await c.run(start('n1'));
    c.node('n2').setUnreachable(true);
    expect((await c.run(migrate('n1', 'n2'))).error).toMatchObject({ code: 'PEER_UNREACHABLE', retryable: true });
    expect(c.snapshot().n1?.instances.web1?.runState).toBe('running');
  });
});
