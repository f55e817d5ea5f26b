import { describe, expect, it } from 'vitest';
import { SimNodeOps } from './node.js';
import { initFromObserved } from './seed.js';

describe('initFromObserved', () => {
  it('given a snapshot, it builds a node whose snapshot is the same, with its PVs as block devices', async () => {
    const a = new SimNodeOps({ name: 'n1', blockDevices: { '/dev/sdb': 4_096, '/dev/sdc': 4_096 } });
    const base = { node: 'n1', subject: 'Node/n1', reason: 't' } as const;
    await a.run({ ...base, verb: 'vg.ensure', name: 'vg0', pvs: ['/dev/sdb', '/dev/sdc'] });
    await a.run({ ...base, verb: 'lv.create', vg: 'vg0', name: 'd0', sizeMiB: 1_024, tags: ['gantry'] });
    await a.run({ ...base, verb: 'ovs.bridge.ensure', name: 'ovs0', datapathType: 'netdev' });
    await a.run({ ...base, verb: 'sysctl.set', key: 'vm.swappiness', value: '1' });
    const b = new SimNodeOps(initFromObserved(a.snapshot()));
    expect({ ...b.snapshot(), observedAt: '' }).toEqual({ ...a.snapshot(), observedAt: '' });
    expect(b.snapshot().vgs.vg0?.freeMiB).toBe(8_192 - 1_024);
  });
});
