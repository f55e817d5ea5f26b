import { describe, expect, it } from 'vitest';
import { SimCluster } from './cluster.js';

describe('SimCluster', () => {
  it('given node names and facts, it builds one node each and snapshots them in name order', () => {
    const c = new SimCluster(['n2', { name: 'n1', facts: { cpus: 4 } }]);
    const snap = c.snapshot();
    expect(Object.keys(snap)).toEqual(['n1', 'n2']);
    expect(snap.n1?.facts).toMatchObject({ hostname: 'n1', cpus: 4 });
    expect(snap.n2?.facts.cpus).toBe(16);
  });

  it('given actions, it routes them to their node and refuses unknown nodes', async () => {
    const c = new SimCluster(['n1', 'n2']);
    const ok = await c.run({ node: 'n2', subject: 'Node/n2', reason: 'r', verb: 'sysctl.set', key: 'vm.swappiness', value: '1' });
    const bad = await c.run({ node: 'n9', subject: 'Node/n9', reason: 'r', verb: 'sysctl.set', key: 'vm.swappiness', value: '1' });
    expect(ok.ok).toBe(true);
    expect(bad.error).toMatchObject({ code: 'UNKNOWN_NODE', retryable: false });
    expect(c.snapshot().n2?.sysctls).toEqual({ 'vm.swappiness': '1' });
    expect(c.snapshot().n1?.sysctls).toEqual({});
  });

  it('given one unreachable node, observe still returns every node', async () => {
    const c = new SimCluster(['n1', 'n2']);
    c.node('n1').setUnreachable(true);
    const o = await c.observe({ sysctls: [], fileDirs: [] });
    expect([...o.nodes.values()].map((n) => [n.name, n.reachable])).toEqual([['n1', false], ['n2', true]]);
  });

  it('given a duplicate node name, it refuses to build', () => {
    expect(() => new SimCluster(['n1', 'n1'])).toThrow(/duplicate/);
  });
});
