import { describe, expect, it } from 'vitest';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanCluster, PlanInstance, PlanNode } from '../core/plan.js';
import { halfMadeOn, halfMadeReinstall, leftoverReinstallMarks, reinstallUntags, strayReinstallMarks } from './reinstall.js';

const node = (name: string, role: PlanNode['role'] = 'regular'): PlanNode => ({
  name, group: 'default', role, runDir: '/r', fileStorageDir: '/f', profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const nodes = new Map([node('n1', 'offline'), node('n2'), node('n3'), node('n4', 'drained')].map((n) => [n.name, n]));
const cluster: PlanCluster = { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/s', removeOrphans: false, exclusionTags: [] };
const vm0: PlanInstance = {
  name: 'vm0', state: 'present', deleteDisks: false, diskTemplate: 'plain', memoryMiB: 512, vcpus: 1, tags: [], primary: 'n1',
  disks: [0, 1].map((index) => ({ index, sizeMiB: 64, template: 'plain' as const, vg: 'vg0', metaVg: 'vg0', state: 'present' as const })),
};
const withLvs = (name: string, lvs: Record<string, string[]>, reachable = true): ObservedNode => ({
  ...emptyObservedNode(name, '2026-01-01T00:00:00Z', reachable ? undefined : 'down'), reachable,
  lvs: Object.fromEntries(Object.entries(lvs).map(([lv, tags]) => [`vg0/${lv}`, { vg: 'vg0', name: lv, sizeMiB: 64, tags } as ObservedNode['lvs'][string]])),
});
const mark = ['gantry', 'gantry-inst=vm0', 'gantry-reinstall'];
const plain = ['gantry', 'gantry-inst=vm0'];

describe('a reinstall cut short', () => {
  it('given a usable observed node whose LVs of the instance all carry the reinstall mark, the reinstall resumes there; untagged, drained, gone or unreachable nodes are not taken', () => {
    const o = (n3: ObservedNode): ObservedCluster => ({ nodes: new Map([['n2', withLvs('n2', {})], ['n3', n3], ['n4', withLvs('n4', { 'vm0.disk0': mark })]]) });
    expect(halfMadeReinstall(vm0, nodes, cluster, o(withLvs('n3', { 'vm0.disk0': mark })), new Set(['n1']))).toBe('n3');
    expect(halfMadeReinstall(vm0, nodes, cluster, o(withLvs('n3', { 'vm0.disk0': mark, 'vm0.disk1': plain })), new Set(['n1']))).toBeUndefined();
    expect(halfMadeReinstall(vm0, nodes, cluster, o(withLvs('n3', { 'vm0.disk0': plain })), new Set(['n1']))).toBeUndefined();
    expect(halfMadeReinstall(vm0, nodes, cluster, o(withLvs('n3', { 'vm0.disk0': mark }, false)), new Set(['n1']))).toBeUndefined();
    expect(halfMadeReinstall(vm0, nodes, cluster, o(withLvs('n3', { 'vm0.disk0': mark })), new Set(['n1', 'n3']))).toBeUndefined();
    expect(halfMadeOn(vm0, 'n2', nodes, cluster, o(withLvs('n3', {})))).toBe(false);
  });

  it('given the install planned, the mark is dropped from the LVs created in this pass and those marked, only after the install; with a record there and no install, a leftover mark is dropped at once; without a record it stays', () => {
    const o: ObservedCluster = { nodes: new Map([['n3', withLvs('n3', { 'vm0.disk0': mark })]]) };
    const create = { verb: 'lv.create' as const, node: 'n3', subject: 'Instance/vm0', vg: 'vg0', name: 'vm0.disk1', sizeMiB: 64, tags: mark, reason: 'r' };
    const install = { verb: 'instance.install', node: 'n3', subject: 'Instance/vm0', name: 'vm0' } as unknown as Parameters<typeof reinstallUntags>[6];
    const u = reinstallUntags(vm0, 'n3', nodes, cluster, o, [create], install);
    expect(u.map((a) => (a.verb === 'lv.untag' ? `${a.vg}/${a.name}:${a.tags.join()}` : a.verb))).toEqual(['vg0/vm0.disk0:gantry-reinstall', 'vg0/vm0.disk1:gantry-reinstall']);
    expect(u.every((a) => a.after?.length === 1 && a.after[0]!.startsWith('instance.install@n3'))).toBe(true);
    expect(leftoverReinstallMarks(vm0, 'n3', nodes, cluster, o, true).map((a) => [a.verb === 'lv.untag' ? a.name : a.path, a.after])).toEqual([['vm0.disk0', undefined]]);
    expect(leftoverReinstallMarks(vm0, 'n3', nodes, cluster, o, false)).toEqual([]);
  });

  const fvm = { ...vm0, diskTemplate: 'file' as const, disks: [0, 1].map((index) => ({ index, sizeMiB: 64, template: 'file' as const, vg: 'vg0', metaVg: 'vg0', state: 'present' as const })) };
  const withFiles = (name: string, files: string[]): ObservedNode => ({
    ...emptyObservedNode(name, '2026-01-01T00:00:00Z'), reachable: true,
    files: Object.fromEntries(files.map((f) => [`/f/${f}`, { path: `/f/${f}`, format: 'raw' as const, virtualSizeMiB: f.endsWith('.reinstall') ? 0 : 64 }])),
  });
  it('given file disks, an image with its mark file beside it is half-made (resumed there), an image without one is not; the marks made or found are removed after the install', () => {
    const o = (n3: ObservedNode): ObservedCluster => ({ nodes: new Map([['n2', withFiles('n2', [])], ['n3', n3]]) });
    expect(halfMadeReinstall(fvm, nodes, cluster, o(withFiles('n3', ['vm0.disk0.img', 'vm0.disk0.img.reinstall'])), new Set(['n1']))).toBe('n3');
    // Cut after the mark, before its image: nothing to resume (no disk there), a fresh reinstall then makes the image.
    expect(halfMadeReinstall(fvm, nodes, cluster, o(withFiles('n3', ['vm0.disk0.img.reinstall'])), new Set(['n1']))).toBeUndefined();
    expect(halfMadeReinstall(fvm, nodes, cluster, o(withFiles('n3', ['vm0.disk0.img', 'vm0.disk0.img.reinstall', 'vm0.disk1.img'])), new Set(['n1']))).toBeUndefined();
    expect(halfMadeReinstall(fvm, nodes, cluster, o(withFiles('n3', ['vm0.disk0.img'])), new Set(['n1']))).toBeUndefined();
    const obs = o(withFiles('n3', ['vm0.disk0.img', 'vm0.disk0.img.reinstall']));
    const create = { verb: 'file.create' as const, node: 'n3', subject: 'Instance/vm0', path: '/f/vm0.disk1.img', sizeMiB: 64, format: 'raw' as const, mark: '/f/vm0.disk1.img.reinstall', reason: 'r' };
    const install = { verb: 'instance.install', node: 'n3', subject: 'Instance/vm0', name: 'vm0' } as unknown as Parameters<typeof reinstallUntags>[6];
    const u = reinstallUntags(fvm, 'n3', nodes, cluster, obs, [create], install);
    expect(u.map((a) => (a.verb === 'file.remove' ? a.path : a.verb))).toEqual(['/f/vm0.disk0.img.reinstall', '/f/vm0.disk1.img.reinstall']);
    expect(u.every((a) => a.after?.[0]?.startsWith('instance.install@n3'))).toBe(true);
    expect(leftoverReinstallMarks(fvm, 'n3', nodes, cluster, obs, true).map((a) => (a.verb === 'file.remove' ? a.path : a.verb))).toEqual(['/f/vm0.disk0.img.reinstall']);
  });

  it('given a mark with no image beside it (a pass cut between the two), the plan removes it; never a mark whose image exists, one this plan makes or removes, a non-empty file, another instance\'s or an undeclared one\'s, nor one seen only on an unreachable node', () => {
    const shared = (f: string) => ({ path: `/s/${f}`, format: 'raw' as const, virtualSizeMiB: 0 });
    const n2 = withFiles('n2', ['vm0.disk1.img.reinstall', 'vm0.disk0.img', 'vm0.disk0.img.reinstall', 'gone.disk0.img.reinstall']);
    const n3: ObservedNode = { ...withFiles('n3', ['vm0.disk1.img.reinstall']), files: { ...withFiles('n3', ['vm0.disk1.img.reinstall']).files, '/s/vm0.disk2.img.reinstall': shared('vm0.disk2.img.reinstall') } };
    const big: ObservedNode = { ...withFiles('n4', []), files: { '/f/vm0.disk1.img.reinstall': { path: '/f/vm0.disk1.img.reinstall', format: 'raw', virtualSizeMiB: 1 } } };
    const down: ObservedNode = { ...withFiles('n1', ['vm0.disk1.img.reinstall']), reachable: false };
    const obs: ObservedCluster = { nodes: new Map([['n1', down], ['n2', n2], ['n3', n3], ['n4', big]]) };
    const fvm3 = { ...fvm, disks: [...fvm.disks, { ...fvm.disks[0]!, index: 2 }] };
    const got = strayReinstallMarks([fvm3], nodes, cluster, obs, []);
    expect(got.map((a) => `${a.node}:${a.path}`)).toEqual(['n2:/f/vm0.disk1.img.reinstall', 'n3:/f/vm0.disk1.img.reinstall', 'n3:/s/vm0.disk2.img.reinstall']);
    expect(got[0]).toMatchObject({ verb: 'file.remove', subject: 'Instance/vm0', reason: expect.stringMatching(/no image beside it .*\/f\/vm0\.disk1\.img/) });
    // a resumed file.create makes that mark now; a shared image seen by any node keeps its mark
    const create = { verb: 'file.create' as const, node: 'n2', subject: 'Instance/vm0', path: '/f/vm0.disk1.img', sizeMiB: 64, format: 'raw' as const, mark: '/f/vm0.disk1.img.reinstall', reason: 'r' };
    const withImage: ObservedCluster = { nodes: new Map([...obs.nodes, ['n4', { ...big, files: { '/s/vm0.disk2.img': { path: '/s/vm0.disk2.img', format: 'raw', virtualSizeMiB: 64 } } }]]) };
    expect(strayReinstallMarks([fvm3], nodes, cluster, withImage, [create]).map((a) => `${a.node}:${a.path}`)).toEqual(['n3:/f/vm0.disk1.img.reinstall']);
    // absent instances' marks are their deletion's business
    expect(strayReinstallMarks([{ ...fvm3, state: 'absent' }], nodes, cluster, obs, [])).toEqual([]);
  });
});

