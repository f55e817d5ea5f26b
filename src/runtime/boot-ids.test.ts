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

  it('given a node whose re-activation failed in the pass, its old boot ID stays recorded so the next pass still sees the reboot', () => {
    const n = (id: string) => ({ ...emptyObservedNode('n2', 't'), reachable: true, facts: { ...emptyObservedNode('n2', 't').facts, bootId: id } });
    const observed = { nodes: new Map([['n2', n('new')]]) };
    const failed = { results: [{ action: { verb: 'drbd.up', node: 'n2', subject: 'Instance/vm0', reason: 'r' } as never, ok: false, unchanged: false, commands: [], durationMs: 1 }], skipped: [], ok: false, durationMs: 1 };
    expect(nextBootIds(new Map([['n2', 'old']]), observed, failed).get('n2')).toBe('old');
    expect(nextBootIds(new Map([['n2', 'old']]), observed, { results: [], skipped: [], ok: true, durationMs: 1 }).get('n2')).toBe('new');
    expect(nextBootIds(new Map(), observed, failed).get('n2')).toBe('new');
  });
});
