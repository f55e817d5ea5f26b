import { describe, expect, it } from 'vitest';
import { describeAction, maskSecrets, renderPlan } from './drift-report.js';
import type { Plan } from '../core/plan.js';

const plan: Plan = {
  entries: [
    { subject: 'Node/n1', status: 'drift', diffs: [{ path: 'profile.bridges[br0]', desired: { name: 'br0' }, observed: null }], actions: [{ verb: 'bridge.ensure', node: 'n1', subject: 'Node/n1', name: 'br0', vlanFiltering: true, addresses: [], ports: ['eth1'], reason: 'bridge br0: missing' }], refused: [], notes: [] },
    { subject: 'Instance/web|1', status: 'refused', diffs: [], actions: [], refused: [{ subject: 'Instance/web|1', code: 'REFUSED_SHRINK', message: 'never shrunk' }], notes: [] },
    { subject: 'Node/n2', status: 'in-sync', diffs: [], actions: [], refused: [], notes: [] },
  ],
  actions: [], waves: [], refused: [], orphans: [{ node: 'n1', kind: 'lv', id: 'vg/old.disk0', removed: false }], unreachable: [],
};

describe('renderPlan', () => {
  it('given a drifted plan the table names each resource, the diff, the action and why', () => {
    const t = renderPlan(plan, 'table');
    expect(t).toContain('Node/n1  [drift]');
    expect(t).toContain('~ profile.bridges[br0]: (none) -> {"name":"br0"}');
    expect(t).toContain('+ bridge.ensure @n1 name=br0 vlanFiltering=true ports=eth1');
    expect(t).toContain('why: bridge br0: missing');
    expect(t).toContain('! refused REFUSED_SHRINK');
    expect(t).not.toContain('Node/n2');
    expect(t).toContain('? lv vg/old.disk0 on n1');
  });

  it('given markdown it escapes table pipes and lists orphans', () => {
    const md = renderPlan(plan, 'markdown');
    expect(md).toContain('| `Instance/web\\|1` | refused |');
    expect(md).toContain('<summary>Orphans</summary>');
  });

  it('given json it round-trips with a summary', () => {
    const j = JSON.parse(renderPlan(plan, 'json'));
    expect(j.summary).toMatchObject({ drift: 1, refused: 1, inSync: 1, orphans: 1 });
  });

  it('given secret-looking keys it masks them', () => {
    expect(maskSecrets({ ssh: { password: 'x', user: 'root' }, token: 'y' })).toEqual({ ssh: { password: '*****', user: 'root' }, token: '*****' });
  });

  it('given resources waiting for an unreachable node, the table says which wait for which node and since when', () => {
    const waiting: Plan = { ...plan, waits: [{ node: 'node1', why: 'unreachable (connect ECONNREFUSED)', since: '2026-11-28T03:00:00.000Z', subjects: ['Instance/web2'] }] };
    expect(renderPlan(waiting, 'table')).toContain('~ waits for node1: unreachable (connect ECONNREFUSED) since 2026-11-28T03:00:00.000Z: Instance/web2');
    expect(renderPlan(waiting, 'markdown')).toContain('waits for node1: unreachable (connect ECONNREFUSED) since 2026-11-28T03:00:00.000Z: Instance/web2');
    const lost: Plan = { ...plan, waits: [{ node: 'node1', why: 'offline', subjects: ['Instance/new1'] }] };
    expect(renderPlan(lost, 'table')).toMatch(/waits for node1: offline \(no earlier observation kept: anything seen nowhere else may be there\): Instance\/new1/);
  });

  it('given an action that must follow another, the plan shows the dependency', () => {
    const a = { verb: 'instance.start', node: 'n2', subject: 'Instance/vm', name: 'vm', runDir: '/run', launch: { memoryMiB: 64, vcpus: 1, disks: [], nics: [] }, record: {}, reason: 'move', after: ['instance.stop@n1 Instance/vm'] };
    expect(describeAction(a as never)).toContain('after=instance.stop@n1 Instance/vm');
  });

  it('given a DRBD live migration, the action line names each disk\'s resource and link ends (not [object Object])', () => {
    const side = (host: string) => ({ resource: 'resource0', minor: 0, local: { host, port: 11000 }, peer: { host: host === 'a' ? 'b' : 'a', port: 11000 } });
    const a = { verb: 'instance.migrate', node: 'n1', subject: 'Instance/vm', name: 'vm', peer: 'n2', reason: 'move', drbd: [{ index: 0, source: side('a'), target: side('b') }], tags: [{ k: 1 }] };
    const line = describeAction(a as never);
    expect(line).toContain('drbd=disk0:resource0@a:11000->resource0@b:11000');
    expect(line).toContain('tags={"k":1}');
    expect(line).not.toContain('[object Object]');
  });
});
