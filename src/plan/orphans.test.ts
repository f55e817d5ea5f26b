import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { DesiredSummary, ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import { instanceLvTag, MANAGED_LV_TAG } from './naming.js';

const node = (name: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const keepInst = (name: string): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'plain', primary: 'n1', memoryMiB: 128, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 64, template: 'plain', vg: 'vg0', metaVg: 'vg0', state: 'present' }], tags: [],
});
const lv = (name: string, owner: string, tags = [MANAGED_LV_TAG, instanceLvTag(owner)]) => ({ vg: 'vg0', name, sizeMiB: 64, tags });
const baseline = (instances: number, nodes = 2): DesiredSummary => ({ instances, nodes, at: '2026-11-27T00:00:00Z' });

const NOW = '2026-11-28T12:00:00.000Z';
/** Grace 0 unless a test sets it: the other guards are tested on their own; the grace has its own tests. */
function input(declared: number, opts: { remove?: boolean; pct?: number; graceMinutes?: number; lastApplied?: DesiredSummary; extra?: PlanInstance[] } = {}): PlanInput {
  return {
    now: NOW,
    cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: opts.remove ?? true, exclusionTags: [], orphanGraceMinutes: opts.graceMinutes ?? 0, ...(opts.pct !== undefined ? { orphanMaxPercentPerPass: opts.pct } : {}) },
    nodes: [node('n1'), node('n2')], networks: [],
    instances: [...Array.from({ length: declared }, (_, i) => keepInst(`keep${i}`)), ...(opts.extra ?? [])],
    ...(opts.lastApplied ? { lastApplied: opts.lastApplied } : {}),
  };
}

/** n1 holds `declared` disks of declared instances and `orphaned` disks of instances no manifest has. */
function cluster(declared: number, orphaned: number, extra: Partial<ObservedNode> = {}): ObservedCluster {
  const lvs: Record<string, ReturnType<typeof lv>> = {};
  for (let i = 0; i < declared; i++) lvs[`vg0/keep${i}.disk0`] = lv(`keep${i}.disk0`, `keep${i}`);
  for (let i = 0; i < orphaned; i++) lvs[`vg0/old${String(i).padStart(2, '0')}.disk0`] = lv(`old${String(i).padStart(2, '0')}.disk0`, `old${String(i).padStart(2, '0')}`);
  const n1 = { ...emptyObservedNode('n1', 't'), lvs: { ...lvs, ...(extra.lvs ?? {}) }, files: extra.files ?? {}, instances: extra.instances ?? {} };
  return { nodes: new Map([['n1', n1], ['n2', emptyObservedNode('n2', 't')]]) };
}
const removedIds = (p: ReturnType<typeof plan>) => p.actions.map((a) => (a.verb === 'lv.remove' ? `${a.vg}/${a.name}` : a.verb === 'file.remove' ? a.path : a.verb));

describe('orphan removal', () => {
  it('given orphans and removal off, it reports them and removes nothing', () => {
    const p = plan(input(5, { remove: false, lastApplied: baseline(5) }), cluster(5, 3));
    expect(p.actions).toEqual([]);
    expect(p.orphans.filter((o) => o.kind === 'lv').map((o) => o.removed)).toEqual([false, false, false]);
  });

  it('given 15 orphans among 20 Gantry LVs on a node, it removes at most 10 % (2) in one pass and says the rest wait', () => {
    const p = plan(input(5, { lastApplied: baseline(5) }), cluster(5, 15));
    expect(removedIds(p)).toEqual(['vg0/old00.disk0', 'vg0/old01.disk0']);
    const waiting = p.orphans.filter((o) => !o.removed && o.kind === 'lv');
    expect(waiting).toHaveLength(13);
    expect(waiting[0]!.kept).toMatch(/waits for a later pass: at most 10 % of n1's 20 Gantry objects/);
    expect(p.entries.find((e) => e.subject === 'Cluster/c')?.notes.join()).toMatch(/2 removed this pass, 13 wait/);
  });

  it('given spec.orphans.maxPercentPerPass 50, it removes half of the node\'s Gantry objects at most', () => {
    expect(plan(input(5, { pct: 50, lastApplied: baseline(5) }), cluster(5, 15)).actions).toHaveLength(10);
    expect(plan(input(5, { pct: 0, lastApplied: baseline(5) }), cluster(5, 15)).actions).toHaveLength(0);
  });

  it('given manifests that shrank from 40 instances to 3, it refuses every orphan removal with MANIFESTS_TRUNCATED and the numbers', () => {
    const p = plan(input(3, { lastApplied: baseline(40) }), cluster(3, 2));
    expect(p.actions).toEqual([]);
    expect(p.refused).toMatchObject([{ subject: 'Cluster/c', code: 'MANIFESTS_TRUNCATED' }]);
    expect(p.refused[0]!.message).toMatch(/declare 3 instances and 2 nodes; the last apply \(2026-11-27T00:00:00Z\) declared 40 instances and 2 nodes/);
    expect(p.entries.find((e) => e.subject === 'Cluster/c')?.status).toBe('refused');
    expect(p.orphans.filter((o) => o.kind === 'lv').every((o) => !o.removed && /truncated/.test(o.kept ?? ''))).toBe(true);
  });

  it('given manifests that lost half their nodes, it refuses too; a shrink to exactly half is allowed', () => {
    expect(plan({ ...input(4, { lastApplied: baseline(4, 5) }) }, cluster(4, 1)).refused.map((r) => r.code)).toEqual(['MANIFESTS_TRUNCATED']);
    expect(plan(input(5, { lastApplied: baseline(10) }), cluster(5, 1)).refused).toEqual([]);
  });

  it('given truncated manifests, an explicit state: absent deletion still happens (only orphan removal is refused)', () => {
    const gone: PlanInstance = { ...keepInst('bye'), state: 'absent', deleteDisks: true };
    const p = plan(input(1, { lastApplied: baseline(40), extra: [gone] }), cluster(1, 2, { lvs: { 'vg0/bye.disk0': lv('bye.disk0', 'bye') } }));
    expect(removedIds(p)).toEqual(['vg0/bye.disk0']);
    expect(p.refused.map((r) => r.code)).toEqual(['MANIFESTS_TRUNCATED']);
  });

  it('given no record of the last apply, it removes nothing yet and says why', () => {
    const p = plan(input(5), cluster(5, 1));
    expect(p.actions).toEqual([]);
    expect(p.orphans.find((o) => o.kind === 'lv')?.kept).toMatch(/no record of the last applied desired state/);
  });

  it('given objects without Gantry\'s full mark, it reports them and never removes them', () => {
    const obs = cluster(5, 0, {
      lvs: {
        'vg0/x.disk0': lv('x.disk0', 'x', [instanceLvTag('x')]), // no "gantry" tag
        'vg0/data': lv('data', 'y'), // tagged, but not a name Gantry makes
      },
      files: { '/srv/n1/z.disk0.img': { path: '/srv/n1/z.disk0.img', format: 'raw', virtualSizeMiB: 64 } }, // no record of z names it
    });
    const p = plan(input(5, { pct: 100, lastApplied: baseline(5) }), obs);
    expect(p.actions).toEqual([]);
    expect(p.orphans.filter((o) => o.kind !== 'instance').map((o) => `${o.id}: ${o.kept}`).sort()).toEqual([
      '/srv/n1/z.disk0.img: no ownership mark: no instance record of z names this path',
      'vg0/data: no ownership mark: its name is not one Gantry makes for y',
      'vg0/x.disk0: no ownership mark: no "gantry" tag',
    ]);
  });

  it('given an orphan file its stopped instance record names, it removes it; while the VM runs, it keeps it', () => {
    const f = '/srv/n1/z.disk0.img';
    const vm = (runState: 'stopped' | 'running') => ({ z: { name: 'z', runState, guestShutdown: false, meta: { version: 1 as const, instance: 'z', uuid: 'u', os: 'none', osGeneration: 1, restartGeneration: 0, nics: [], launch: { disks: [{ path: f, format: 'raw', bus: 'virtio' }] } } } });
    const files = { [f]: { path: f, format: 'raw', virtualSizeMiB: 64 } };
    const stopped = plan(input(5, { pct: 100, lastApplied: baseline(5) }), cluster(5, 0, { files, instances: vm('stopped') }));
    expect(removedIds(stopped)).toEqual([f]);
    const running = plan(input(5, { pct: 100, lastApplied: baseline(5) }), cluster(5, 0, { files, instances: vm('running') }));
    expect(running.actions).toEqual([]);
    expect(running.orphans.find((o) => o.id === f)?.kept).toBe('instance z runs on n1');
  });

  it('given a shared orphan image and an unreachable node, it waits (the image may be in use there)', () => {
    const f = '/srv/shared/s.disk0.img';
    const meta = { version: 1 as const, instance: 's', uuid: 'u', os: 'none', osGeneration: 1, restartGeneration: 0, nics: [], launch: { disks: [{ path: f, format: 'raw', bus: 'virtio' }] } };
    const n1 = { ...emptyObservedNode('n1', 't'), files: { [f]: { path: f, format: 'raw', virtualSizeMiB: 64 } }, instances: { s: { name: 's', runState: 'stopped' as const, guestShutdown: false, meta } } };
    const p = plan(input(0, { pct: 100, lastApplied: baseline(0) }), { nodes: new Map([['n1', n1], ['n2', emptyObservedNode('n2', 't', 'connect timeout')]]) });
    expect(p.actions).toEqual([]);
    expect(p.orphans.find((o) => o.id === f)?.kept).toMatch(/n2 not observed/);
  });
});

describe('orphan grace (spec.orphans.graceMinutes)', () => {
  const since = (minutesAgo: number) => new Date(Date.parse(NOW) - minutesAgo * 60_000).toISOString();

  it('given an instance first found undeclared in this pass, it removes nothing and records since when', () => {
    const p = plan(input(5, { pct: 100, graceMinutes: 60, lastApplied: baseline(5) }), cluster(5, 2));
    expect(p.actions).toEqual([]);
    expect(p.orphans.filter((o) => o.kind === 'lv').map((o) => o.kept)).toEqual([expect.stringMatching(/first found undeclared in this pass: removed only once no manifest has declared it for 60 minutes .*60 to go/), expect.any(String)]);
    expect(p.orphanSince).toEqual({ old00: NOW, old01: NOW });
  });

  it('given an orphan undeclared for 59 minutes, it waits and keeps the first time; at 60 minutes it removes it', () => {
    const early = plan(input(5, { pct: 100, graceMinutes: 60, lastApplied: { ...baseline(5), orphanSince: { old00: since(59) } } }), cluster(5, 1));
    expect(early.actions).toEqual([]);
    expect(early.orphans.find((o) => o.kind === 'lv')?.kept).toMatch(/undeclared since .*1 to go/);
    expect(early.orphanSince).toEqual({ old00: since(59) });
    const due = plan(input(5, { pct: 100, graceMinutes: 60, lastApplied: { ...baseline(5), orphanSince: { old00: since(60) } } }), cluster(5, 1));
    expect(removedIds(due)).toEqual(['vg0/old00.disk0']);
  });

  it('given an instance declared again, its record is dropped so a later loss starts the grace over', () => {
    const back = { ...keepInst('old00') };
    const p = plan(input(5, { pct: 100, graceMinutes: 60, lastApplied: { ...baseline(6), orphanSince: { old00: since(30) } }, extra: [back] }), cluster(5, 1));
    expect(p.actions).toEqual([]);
    expect(p.orphanSince).toEqual({});
  });

  it('given objects without the ownership mark, it records no time for them (they are never removed)', () => {
    const p = plan(input(5, { pct: 100, graceMinutes: 0, lastApplied: baseline(5) }), cluster(5, 0, { lvs: { 'vg0/x.disk0': lv('x.disk0', 'x', [instanceLvTag('x')]) } }));
    expect(p.actions).toEqual([]);
    expect(p.orphanSince).toEqual({});
  });
});

describe('orphan settings from the manifests', () => {
  it('given spec.orphans.maxPercentPerPass in a Cluster manifest, the planner uses it (and 10 when unset)', async () => {
    const { parseManifestText } = await import('../desired/load.js');
    const { buildDesired } = await import('../desired/build.js');
    const { toPlanInput } = await import('./from-desired.js');
    const yaml = (orphans: string) => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: { name: c }
spec: { enabledDiskTemplates: [plain], orphans: ${orphans} }
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: { name: n1 }
spec: { address: 192.0.2.1 }
`;
    const inputOf = (orphans: string) => toPlanInput(buildDesired(parseManifestText('c.yaml', yaml(orphans)).resources).state!);
    expect(inputOf('{ remove: true, maxPercentPerPass: 25 }').cluster).toMatchObject({ removeOrphans: true, orphanMaxPercentPerPass: 25 });
    expect(inputOf('{ remove: true }').cluster).toMatchObject({ orphanMaxPercentPerPass: 10, orphanGraceMinutes: 60 });
    const obs = cluster(0, 8);
    const withPct = { ...inputOf('{ remove: true, maxPercentPerPass: 25, graceMinutes: 0 }'), lastApplied: baseline(0, 1), now: NOW };
    expect(plan(withPct, { nodes: new Map([['n1', obs.nodes.get('n1')!]]) }).actions).toHaveLength(2);
  });
});
