import { afterEach, describe, expect, it } from 'vitest';
import type { ObservedInstance } from '../../core/observed.js';
import { diskRemovals, truthOf, uniqueVncDisplays, type Truth } from './invariants.js';
import { Scenario } from './scenario.js';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

const displayOf = (vm: ObservedInstance) => (vm.meta?.launch as { vncDisplay?: number } | undefined)?.vncDisplay;

describe('the VNC display invariant', () => {
  it('given three VNC instances converged on one node, each launch records its own display and the check finds nothing; a forged clash is found', async () => {
    sc = await Scenario.create({ nodes: ['n1', 'n2'] });
    for (let i = 0; i < 3; i++) sc.world.addInstance({ diskTemplate: 'sharedfile', placement: { primary: 'n1' }, powerState: 'running', hvParams: { vncBindAddress: '127.0.0.1' } });
    await sc.converge();
    const truth = truthOf(sc.sim);
    const vms = [...truth.n1!.instances];
    const displays = vms.map(displayOf);
    expect(displays).toHaveLength(3);
    expect(displays.every((d) => typeof d === 'number')).toBe(true);
    expect(new Set(displays).size).toBe(3);
    expect(uniqueVncDisplays(truth)).toEqual([]);

    const forged = vms.map((vm, i) => (i === 2 ? { ...vm, meta: { ...vm.meta, launch: { ...(vm.meta?.launch as object), vncDisplay: displays[0] } } } : vm));
    const clash: Truth = { ...truth, n1: { ...truth.n1!, instances: forged as ObservedInstance[] } };
    expect(uniqueVncDisplays(clash)).toEqual([{ invariant: 'unique-vnc-display', detail: `${vms[0]!.name} and ${vms[2]!.name} share VNC display ${displays[0]} on n1` }]);
  });
});

describe('no implicit disk removal', () => {
  const ref = (key: string, instance = 'db1'): [string, { key: string; instance: string }] => [key, { key, instance }];
  const never = () => false;

  it('given a DRBD replica removed from n2 while the same LV of the instance is on two other nodes (a secondary replacement), it is no finding; with one copy left, it is', () => {
    const before = new Map([ref('n1:vg0/db1.disk0'), ref('n2:vg0/db1.disk0'), ref('n3:vg0/db1.disk0')]);
    expect(diskRemovals(before, new Map([ref('n1:vg0/db1.disk0'), ref('n3:vg0/db1.disk0')]), never)).toEqual([]);
    const lost = diskRemovals(new Map([ref('n1:vg0/db1.disk0'), ref('n2:vg0/db1.disk0')]), new Map([ref('n1:vg0/db1.disk0')]), never);
    expect(lost.map((f) => f.invariant)).toEqual(['no-implicit-disk-removal']);
    // Another instance's LV of the same name elsewhere does not count.
    expect(diskRemovals(before, new Map([ref('n1:vg0/db1.disk0'), ref('n3:vg0/db1.disk0', 'other')]), never)).toHaveLength(1);
  });
});
