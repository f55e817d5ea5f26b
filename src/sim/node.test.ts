import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Action } from '../core/actions.js';
import { FakeClock } from '../runtime/fake-clock.js';
import { SimNodeOps } from './node.js';

const N = 'n1';
const base = { node: N, subject: 'Node/n1', reason: 'test' } as const;
const REQ = { sysctls: ['net.ipv4.ip_forward'], fileDirs: ['/srv/gantry/file'] };

/** One action per verb, in an order where each one's parents come first. */
const ENSURES: readonly Action[] = [
  { ...base, verb: 'bridge.ensure', name: 'br0', vlanFiltering: true, mtu: 9000, addresses: ['198.18.0.1/24'], ports: ['eth1'] },
  { ...base, verb: 'ovs.bridge.ensure', name: 'ovsbr0', datapathType: 'netdev' },
  { ...base, verb: 'ovs.port.ensure', bridge: 'ovsbr0', port: 'eth2', trunks: [10, 20], type: '' },
  { ...base, verb: 'vxlan.ensure', name: 'vx100', vni: 100, local: '198.18.0.1', dstPort: 4789, master: 'br0' },
  { ...base, verb: 'sysctl.set', key: 'net.ipv4.ip_forward', value: '1' },
  { ...base, verb: 'vg.ensure', name: 'xenvg', pvs: ['/dev/sdb'] },
  { ...base, verb: 'lv.create', vg: 'xenvg', name: 'web1.disk0', sizeMiB: 10_240, tags: ['gantry'] },
  { ...base, verb: 'lv.extend', vg: 'xenvg', name: 'web1.disk0', sizeMiB: 20_480 },
  { ...base, verb: 'file.create', path: '/srv/gantry/file/web2.disk0', sizeMiB: 4_096, format: 'qcow2' },
  { ...base, verb: 'file.grow', path: '/srv/gantry/file/web2.disk0', sizeMiB: 8_192 },
];

const REMOVES: readonly Action[] = [
  { ...base, verb: 'file.remove', path: '/srv/gantry/file/web2.disk0' },
  { ...base, verb: 'lv.remove', vg: 'xenvg', name: 'web1.disk0' },
  { ...base, verb: 'vxlan.remove', name: 'vx100' },
  { ...base, verb: 'ovs.port.remove', bridge: 'ovsbr0', port: 'eth2' },
  { ...base, verb: 'ovs.bridge.remove', name: 'ovsbr0' },
  { ...base, verb: 'bridge.remove', name: 'br0' },
];

const lvCreate = (name: string, sizeMiB: number): Action => ({ ...base, verb: 'lv.create', vg: 'xenvg', name, sizeMiB, tags: [] });

async function nodeWithVg(): Promise<SimNodeOps> {
  const sim = new SimNodeOps({ name: N, blockDevices: { '/dev/sdb': 100_000, '/dev/sdc': 50_000 } });
  await sim.run({ ...base, verb: 'vg.ensure', name: 'xenvg', pvs: ['/dev/sdb'] });
  return sim;
}

describe('SimNodeOps verbs', () => {
  it.each(ENSURES.map((a, i) => [a.verb, i] as const))('given %s applied twice, it changes the node once and then reports unchanged', async (_verb, i) => {
    const sim = new SimNodeOps({ name: N });
    for (const a of ENSURES.slice(0, i)) expect((await sim.run(a)).ok).toBe(true);
    const first = await sim.run(ENSURES[i]!);
    const after = sim.snapshot();
    const second = await sim.run(ENSURES[i]!);
    expect(first).toMatchObject({ ok: true, unchanged: false });
    expect(first.commands[0]?.slice(0, 2)).toEqual(['sim', ENSURES[i]!.verb]);
    expect(second).toMatchObject({ ok: true, unchanged: true, commands: [] });
    expect({ ...sim.snapshot(), observedAt: '' }).toEqual({ ...after, observedAt: '' });
  });

  it.each(REMOVES.map((a) => [a.verb, a] as const))('given %s of an existing object, it removes it; of a missing one, it is unchanged', async (_verb, remove) => {
    const sim = new SimNodeOps({ name: N });
    for (const a of ENSURES) await sim.run(a);
    expect(await sim.run(remove)).toMatchObject({ ok: true, unchanged: false });
    expect(await sim.run(remove)).toMatchObject({ ok: true, unchanged: true });
  });

  it('given the full profile, it observes what was applied, filtered like the real probe', async () => {
    const sim = new SimNodeOps({ name: N, blockDevices: { '/dev/sdb': 100_000 } });
    for (const a of ENSURES) await sim.run(a);
    sim.tamper((s) => {
      s.sysctls.set('kernel.panic', '10');
      s.files.set('/elsewhere/x.img', { path: '/elsewhere/x.img', format: 'raw', virtualSizeMiB: 1 });
    });
    const o = await sim.observe(REQ);
    expect(o.reachable).toBe(true);
    expect(o.vgs.xenvg).toEqual({ name: 'xenvg', sizeMiB: 100_000, freeMiB: 100_000 - 20_480, pvs: ['/dev/sdb'] });
    expect(o.lvs['xenvg/web1.disk0']).toEqual({ vg: 'xenvg', name: 'web1.disk0', sizeMiB: 20_480, tags: ['gantry'], active: true }); // lvcreate activates it
    expect(o.bridges.br0).toMatchObject({ up: true, vlanFiltering: true, mtu: 9000 });
    expect(o.ovs?.bridges.ovsbr0?.ports.eth2).toEqual({ name: 'eth2', trunks: [10, 20], type: '' });
    expect(o.vxlans.vx100).toEqual({ name: 'vx100', vni: 100, local: '198.18.0.1', dstPort: 4789, master: 'br0', up: true });
    expect(o.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(Object.keys(o.files)).toEqual(['/srv/gantry/file/web2.disk0']);
    expect(Object.isFrozen(o.lvs)).toBe(true);
  });

  it('given a differing bridge, it updates it in place and keeps unlisted fields and addresses (like the real driver)', async () => {
    const sim = new SimNodeOps({ name: N });
    await sim.run(ENSURES[0]!);
    const before = sim.snapshot().bridges.br0!.addresses;
    const r = await sim.run({ ...base, verb: 'bridge.ensure', name: 'br0', vlanFiltering: false, addresses: [], ports: ['eth1'] });
    expect(r).toMatchObject({ ok: true, unchanged: false });
    expect(sim.snapshot().bridges.br0).toMatchObject({ vlanFiltering: false, mtu: 9000, addresses: before });
    await sim.run({ ...base, verb: 'bridge.address.remove', bridge: 'br0', address: before[0]! });
    expect(sim.snapshot().bridges.br0!.addresses).toEqual(before.slice(1));
  });

  it('given bridge.remove, it releases the VXLAN enslaved to it', async () => {
    const sim = new SimNodeOps({ name: N });
    for (const a of ENSURES.slice(0, 4)) await sim.run(a);
    await sim.run({ ...base, verb: 'bridge.remove', name: 'br0' });
    expect(sim.snapshot().vxlans.vx100?.master).toBeUndefined();
    expect('master' in (sim.snapshot().vxlans.vx100 ?? {})).toBe(false);
  });

  it('given lv.extend to a smaller size, it refuses with REFUSED_SHRINK, not retryable, and leaves the LV', async () => {
    const sim = await nodeWithVg();
    await sim.run(lvCreate('d0', 10_240));
    const r = await sim.run({ ...base, verb: 'lv.extend', vg: 'xenvg', name: 'd0', sizeMiB: 5_120 });
    expect(r).toMatchObject({ ok: false, unchanged: true, error: { code: 'REFUSED_SHRINK', retryable: false } });
    expect(sim.snapshot().lvs['xenvg/d0']?.sizeMiB).toBe(10_240);
  });

  it('given file.grow to a smaller size, it refuses with REFUSED_SHRINK', async () => {
    const sim = new SimNodeOps({ name: N });
    await sim.run(ENSURES[8]!);
    const r = await sim.run({ ...base, verb: 'file.grow', path: '/srv/gantry/file/web2.disk0', sizeMiB: 1 });
    expect(r.error).toMatchObject({ code: 'REFUSED_SHRINK', retryable: false });
  });

  it('given a VG without room, lv.create fails INSUFFICIENT_SPACE; after vg.ensure adds a PV it succeeds', async () => {
    const sim = await nodeWithVg();
    expect((await sim.run(lvCreate('big', 120_000))).error).toMatchObject({ code: 'INSUFFICIENT_SPACE', retryable: false });
    expect(await sim.run({ ...base, verb: 'vg.ensure', name: 'xenvg', pvs: ['/dev/sdb', '/dev/sdc'] })).toMatchObject({ ok: true, unchanged: false });
    expect((await sim.run(lvCreate('big', 120_000))).ok).toBe(true);
    expect(sim.snapshot().vgs.xenvg?.freeMiB).toBe(30_000);
  });

  it('given an LV that exists with another size, lv.create refuses instead of resizing', async () => {
    const sim = await nodeWithVg();
    await sim.run(lvCreate('d0', 1_024));
    expect((await sim.run(lvCreate('d0', 2_048))).error?.code).toBe('LV_SIZE_MISMATCH');
  });

  it('given missing parents, children fail without an in-pass retry (ordering is wrong: the next pass re-observes)', async () => {
    const sim = new SimNodeOps({ name: N });
    const results = await Promise.all([
      sim.run(lvCreate('d0', 1)),
      sim.run(ENSURES[2]!),
      sim.run(ENSURES[3]!),
      sim.run({ ...base, verb: 'lv.extend', vg: 'xenvg', name: 'nope', sizeMiB: 2 }),
    ]);
    expect(results.map((r) => [r.error?.code, r.error?.retryable])).toEqual([
      ['VG_NOT_FOUND', false], ['OVS_BRIDGE_NOT_FOUND', false], ['MASTER_NOT_FOUND', false], ['LV_NOT_FOUND', false],
    ]);
  });

  it('given PVs that are absent or taken, vg.ensure refuses without changing anything', async () => {
    const sim = await nodeWithVg();
    expect((await sim.run({ ...base, verb: 'vg.ensure', name: 'other', pvs: ['/dev/sdb'] })).error?.code).toBe('PV_IN_USE');
    expect((await sim.run({ ...base, verb: 'vg.ensure', name: 'other', pvs: ['/dev/sdc', '/dev/nvme9'] })).error?.code).toBe('PV_NOT_FOUND');
    expect(Object.keys(sim.snapshot().vgs)).toEqual(['xenvg']);
  });

  it('given a node without Open vSwitch, OVS verbs fail OVS_NOT_RUNNING and observe has no ovs', async () => {
    const sim = new SimNodeOps({ name: N, ovs: false });
    expect((await sim.run(ENSURES[1]!)).error?.code).toBe('OVS_NOT_RUNNING');
    expect((await sim.observe(REQ)).ovs).toBeUndefined();
  });

  it('given a verb the simulator does not know, it returns an UNKNOWN_VERB result instead of throwing', async () => {
    const sim = new SimNodeOps({ name: N });
    const r = await sim.run({ ...base, verb: 'instance.teleport', name: 'web1' } as unknown as Action);
    expect(r).toMatchObject({ ok: false, unchanged: true, error: { code: 'UNKNOWN_VERB', retryable: false } });
    expect(r.error?.message).toContain('instance.teleport');
  });

  it('given an action addressed to another node, it refuses it', async () => {
    const sim = new SimNodeOps({ name: N });
    expect((await sim.run({ ...ENSURES[4]!, node: 'n2' })).error?.code).toBe('WRONG_NODE');
  });

  it('given describe, it returns one pseudo-argv with the verb and fields in declaration order', () => {
    const sim = new SimNodeOps({ name: N });
    expect(sim.describe(lvCreate('d0', 512))).toEqual([['sim', 'lv.create', 'vg=xenvg', 'name=d0', 'sizeMiB=512', 'tags=[]']]);
  });

  it('given any sequence of actions, an action that just succeeded is unchanged when repeated', async () => {
    const all = [...ENSURES, ...REMOVES, { ...base, verb: 'vg.ensure', name: 'xenvg', pvs: ['/dev/sdb', '/dev/sdc'] } as Action];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...all), { maxLength: 30 }), async (seq) => {
        const sim = new SimNodeOps({ name: N });
        for (const a of seq) {
          const first = await sim.run(a);
          if (!first.ok) continue;
          const again = await sim.run(a);
          expect(again).toMatchObject({ ok: true, unchanged: true });
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('SimNodeOps faults', () => {
  it('given failNext on a verb with times 2, it fails the next two such actions without changing the node, then succeeds', async () => {
    const sim = await nodeWithVg();
    sim.failNext('lv.create', { code: 'LVCREATE_FAILED', retryable: true, times: 2 });
    expect((await sim.run(ENSURES[4]!)).ok).toBe(true); // other verbs are unaffected
    const r1 = await sim.run(lvCreate('d0', 1));
    const r2 = await sim.run(lvCreate('d0', 1));
    expect([r1.error, r2.error]).toEqual([
      { code: 'LVCREATE_FAILED', message: 'injected fault on lv.create', retryable: true },
      { code: 'LVCREATE_FAILED', message: 'injected fault on lv.create', retryable: true },
    ]);
    expect(sim.snapshot().lvs).toEqual({});
    expect((await sim.run(lvCreate('d0', 1))).ok).toBe(true);
  });

  it("given failNext('*'), it fails whatever verb comes next, once", async () => {
    const sim = new SimNodeOps({ name: N });
    sim.failNext('*', { code: 'BOOM', retryable: false, message: 'disk on fire' });
    expect((await sim.run(ENSURES[4]!)).error).toEqual({ code: 'BOOM', message: 'disk on fire', retryable: false });
    expect((await sim.run(ENSURES[4]!)).ok).toBe(true);
  });

  it('given an unreachable node, observe reports reachable=false and run fails retryably; recovery restores both', async () => {
    const sim = new SimNodeOps({ name: N });
    await sim.run(ENSURES[4]!);
    sim.setUnreachable(true);
    const o = await sim.observe(REQ);
    expect(o).toMatchObject({ reachable: false, sysctls: {} });
    expect(o.error).toMatch(/No route to host/);
    expect((await sim.run(ENSURES[0]!)).error).toMatchObject({ code: 'UNREACHABLE', retryable: true });
    sim.setUnreachable(false);
    expect((await sim.observe(REQ)).sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect((await sim.run(ENSURES[0]!)).ok).toBe(true);
  });

  it('given latency on a fake clock, run completes only when virtual time has passed and reports it', async () => {
    const clock = new FakeClock(1_700_000_000_000);
    const sim = new SimNodeOps({ name: N }, { clock, latencyMs: (a) => (a.verb === 'sysctl.set' ? 250 : 0) });
    let done = false;
    const p = sim.run(ENSURES[4]!).then((r) => ((done = true), r));
    await clock.advance(249);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    expect((await p).durationMs).toBe(250);
    expect(sim.history()).toHaveLength(1);
  });
});
