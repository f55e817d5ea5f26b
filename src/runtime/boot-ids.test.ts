import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scenario } from '../sim/campaign/scenario.js';
import { emptyObservedNode } from '../core/observed.js';
import { nextBootIds } from './reconcile.js';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

const bootIds = async (s: Scenario) => (JSON.parse(await readFile(path.join(s.stateDir, 'boot-ids.json'), 'utf8')) as { nodes: Record<string, string> }).nodes;

describe('disk re-activation after a node reboot (simulated nodes, real state directory)', () => {
  it('given the secondary of a DRBD instance rebooted (boot ID changed), the pass says so and brings its DRBD device up again with that reason; the new boot ID is recorded and the next pass plans nothing', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2'], drbd: true });
    sc.world.addInstance({ diskTemplate: 'drbd', disks: [{ size: '64M' }], placement: { primary: 'n1', secondary: 'n2' }, powerState: 'running' });
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    const before = await bootIds(sc);
    expect(Object.keys(before).sort()).toEqual(['n1', 'n2']);
    sc.sim.node('n2').crash();
    sc.sim.node('n2').boot();
    const o = await sc.pass();
    const node = o.plan!.entries.find((e) => e.subject === 'Node/n2')!;
    expect(node.notes.join('\n')).toContain(`node rebooted (boot id changed ${before.n2} -> `);
    const up = o.plan!.actions.find((a) => a.verb === 'drbd.up' && a.node === 'n2');
    expect(up?.reason).toMatch(/^node rebooted \(boot id changed\): re-activate vm0's disk 0 on n2: DRBD resource\d+ up again on its LVs as secondary and reconnected to n1/);
    expect(o.results.every((r) => r.ok)).toBe(true);
    const after = await bootIds(sc);
    expect(after.n2).not.toBe(before.n2);
    expect(after.n1).toBe(before.n1);
    const again = await sc.pass();
    expect(again.plan?.actions ?? []).toEqual([]);
    expect(again.plan!.entries.find((e) => e.subject === 'Node/n2')!.notes.join('\n')).not.toContain('rebooted');
    expect(sc.runningOn('vm0')).toEqual(['n1']);
  });

  it('given the secondary of a DRBD instance rebooted without LVM autoactivation (its LVs inactive), the plan shows lv.activate of its data and meta LVs before drbd.up, and applying it reconnects the pair', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2'], drbd: true });
    sc.world.addInstance({ diskTemplate: 'drbd', disks: [{ size: '64M' }], placement: { primary: 'n1', secondary: 'n2' }, powerState: 'running' });
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    sc.sim.node('n2').crash();
    sc.sim.node('n2').tamper((s) => { for (const [id, lv] of s.lvs) s.lvs.set(id, { ...lv, active: false }); });
    sc.sim.node('n2').boot();
    const o = await sc.pass();
    // The reboot also lost the node's sysctls and bridges (Node/n2 actions); drbd.create-md finds its metadata and writes nothing.
    const onN2 = o.plan!.actions.filter((a) => a.node === 'n2' && a.subject === 'Instance/vm0').map((a) => a.verb === 'lv.activate' ? `${a.verb} ${a.name}` : a.verb);
    expect(onN2).toEqual(['lv.activate vm0.disk0', 'lv.activate vm0.disk0_meta', 'drbd.create-md', 'drbd.up']);
    expect(o.plan!.actions.find((a) => a.verb === 'lv.activate')?.reason).toBe('disk 0 secondary data LV vg0/vm0.disk0 on n2 is inactive (lvchange -an, or a boot without LVM autoactivation): DRBD needs it to attach');
    expect(o.plan!.entries.find((e) => e.subject === 'Instance/vm0')!.diffs).toContainEqual({ path: 'disks[0].secondary.data.active', desired: true, observed: false });
    expect(o.results.every((r) => r.ok)).toBe(true);
    expect(sc.sim.node('n2').snapshot().lvs['vg0/vm0.disk0']?.active).toBe(true);
    expect((await sc.pass()).plan?.actions ?? []).toEqual([]);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
  });

  it('given a running plain instance whose node rebooted without LVM autoactivation, it activates the LV before starting the instance (one copy); a stopped instance\'s inactive LV and an LV whose state is unknown are left alone', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2'] });
    sc.world.addInstance({ diskTemplate: 'plain', disks: [{ size: '64M' }], placement: { primary: 'n1' }, powerState: 'running' });
    sc.world.addInstance({ diskTemplate: 'plain', disks: [{ size: '64M' }], placement: { primary: 'n1' }, powerState: 'stopped' });
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    sc.sim.node('n1').crash();
    sc.sim.node('n1').tamper((s) => { for (const [id, lv] of s.lvs) s.lvs.set(id, { ...lv, active: false }); });
    sc.sim.node('n1').boot();
    const o = await sc.pass();
    expect(o.plan!.actions.filter((a) => a.subject !== 'Node/n1').map((a) => `${a.verb} ${a.subject}`)).toEqual(['lv.activate Instance/vm0', 'instance.start Instance/vm0']);
    expect(o.results.every((r) => r.ok)).toBe(true);
    expect(sc.runningOn('vm0')).toEqual(['n1']);
    expect(sc.sim.node('n1').snapshot().lvs['vg0/vm1.disk0']?.active).toBe(false);
    expect((await sc.pass()).plan?.actions ?? []).toEqual([]);
    // Unknown (lv_attr 'X': LVM without device-mapper) is not inactive: nothing is planned on a guess.
    sc.sim.node('n1').tamper((s) => { const { active: _a, ...lv } = s.lvs.get('vg0/vm0.disk0')!; s.lvs.set('vg0/vm0.disk0', lv); });
    expect((await sc.pass()).plan?.actions ?? []).toEqual([]);
  });

  it('given a stopped plain instance whose LV came up inactive after a reboot, a reinstall (OS generation bump) activates the LV before the OS install writes to it', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2'] });
    const doc = sc.world.addInstance({ os: { name: 'debootstrap' }, diskTemplate: 'plain', disks: [{ size: '64M' }], placement: { primary: 'n1' }, powerState: 'stopped' });
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]);
    sc.sim.node('n1').crash();
    sc.sim.node('n1').tamper((s) => { for (const [id, lv] of s.lvs) s.lvs.set(id, { ...lv, active: false }); });
    sc.sim.node('n1').boot();
    expect((await sc.converge()).plan?.actions ?? []).toEqual([]); // stopped: its LV is left inactive
    expect(sc.sim.node('n1').snapshot().lvs['vg0/vm0.disk0']?.active).toBe(false);
    doc.spec.os = { ...doc.spec.os, generation: 2 };
    const o = await sc.pass();
    const entry = o.plan!.entries.find((e) => e.subject === 'Instance/vm0')!;
    expect(entry.actions.map((a) => a.verb)).toEqual(['lv.activate', 'instance.install']);
    expect(entry.actions[0]!.reason).toContain('the OS install writes to it');
    expect(o.results.every((r) => r.ok)).toBe(true);
    expect((await sc.pass()).plan?.actions ?? []).toEqual([]);
  });

  it('given a node whose re-activation failed in the pass, its old boot ID stays recorded so the next pass still sees the reboot', () => {
    const n = (id: string) => ({ ...emptyObservedNode('n2', 't'), reachable: true, facts: { ...emptyObservedNode('n2', 't').facts, bootId: id } });
    const observed = { nodes: new Map([['n2', n('new')]]) };
    const failed = { results: [{ action: { verb: 'drbd.up', node: 'n2', subject: 'Instance/vm0', reason: 'r' } as never, ok: false, unchanged: false, commands: [], durationMs: 1 }], skipped: [], ok: false, durationMs: 1 };
    expect(nextBootIds(new Map([['n2', 'old']]), observed, failed).get('n2')).toBe('old');
    expect(nextBootIds(new Map([['n2', 'old']]), observed, { results: [], skipped: [], ok: true, durationMs: 1 }).get('n2')).toBe('new');
    expect(nextBootIds(new Map(), observed, failed).get('n2')).toBe('new');
  });
});
