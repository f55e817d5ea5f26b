import { describe, expect, it } from 'vitest';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import { drbdMigrateTarget, lastSeenRunningOnOffline, migratable, offlineHoldNote, offlineMigrateDecision, stillRunsOnOffline, withOfflineSource } from './offline-migrate.js';
import type { RuntimeHooks } from './instance-runtime.js';

const node = (name: string, role: PlanNode['role'] = 'regular'): PlanNode => ({
  name, group: 'default', role, runDir: '/r', fileStorageDir: '/f', profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const inst = (name: string, template: PlanInstance['diskTemplate'], extra: Partial<PlanInstance> = {}): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: template, memoryMiB: 512, vcpus: 1, tags: [], primary: 'n1',
  disks: [{ index: 0, sizeMiB: 1024, template, vg: 'vg', metaVg: 'vg', state: 'present' }], ...extra,
});
const input = (instances: PlanInstance[]): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/s', removeOrphans: false, exclusionTags: [], autoRepair: { maxAttempts: 3, tags: [], groupTags: new Map() } },
  networks: [], nodes: [node('n1', 'offline'), node('n2')], instances,
});
const probe = (runState: string, reachable = true): ObservedNode => ({
  ...emptyObservedNode('n1', '2026-01-01T00:00:00Z', reachable ? undefined : 'No route to host'),
  reachable,
  instances: { vm0: { name: 'vm0', runState } as ObservedNode['instances'][string] },
});
const cluster = (n1?: ObservedNode): ObservedCluster => ({ nodes: new Map([['n2', emptyObservedNode('n2', '2026-01-01T00:00:00Z')]]), ...(n1 ? { offlineAnswers: new Map([['n1', n1]]) } : {}) });

describe('an instance still running on an offline node', () => {
  it('given the offline node answered and runs it, it is found; stopped there, not answering, or not probed, it is not', () => {
    expect(stillRunsOnOffline(cluster(probe('running')), 'n1', 'vm0')?.runState).toBe('running');
    expect(stillRunsOnOffline(cluster(probe('stopped')), 'n1', 'vm0')).toBeUndefined();
    expect(stillRunsOnOffline(cluster(probe('running', false)), 'n1', 'vm0')).toBeUndefined();
    expect(stillRunsOnOffline(cluster(), 'n1', 'vm0')).toBeUndefined();
    expect(stillRunsOnOffline(cluster(probe('running')), 'n1', 'other')).toBeUndefined();
  });

  it('given the offline node silent now, its copy counts as running (unknown) only when it answered running it after its declaration; not when it answers now, nor from a snapshot older than the declaration', () => {
    const live = (answered: boolean) => new Map([['n1', { node: 'n1', condition: 'Offline' as const, since: '2026-01-01T00:00:00Z', missedProbes: 0, ...(answered ? { answeredOffline: true as const } : {}) }]]);
    const silent = (answered: boolean, runState = 'running'): ObservedCluster => ({ ...cluster(), lastKnown: new Map([['n1', probe(runState)]]), liveness: live(answered) });
    expect(lastSeenRunningOnOffline(silent(true), 'n1', 'vm0')?.runState).toBe('running');
    expect(lastSeenRunningOnOffline(silent(false), 'n1', 'vm0')).toBeUndefined();
    expect(lastSeenRunningOnOffline(silent(true, 'stopped'), 'n1', 'vm0')).toBeUndefined();
    expect(lastSeenRunningOnOffline({ ...silent(true), offlineAnswers: new Map([['n1', probe('running')]]) }, 'n1', 'vm0')).toBeUndefined();
  });

  it('given migrate allowed, a sharedfile one and a DRBD one are repaired, a plain one is unavailable (its disks only there); without any opt-in there is no decision and the note names the ways out', () => {
    const web = inst('vm0', 'sharedfile', { repair: 'migrate' });
    const db = inst('vm0', 'drbd', { repair: 'reinstall', secondary: 'n2' });
    expect(offlineMigrateDecision(input([web]), web, 'n1')).toMatchObject({ needed: 'migrate', decision: 'repair', scope: 'instance' });
    expect(offlineMigrateDecision(input([db]), db, 'n1')).toMatchObject({ needed: 'migrate', decision: 'repair' });
    const pl = inst('vm0', 'plain', { repair: 'migrate' });
    const d = offlineMigrateDecision(input([pl]), pl, 'n1');
    expect(d).toMatchObject({ needed: 'migrate', decision: 'unavailable' });
    expect(d?.message).toContain('its plain disks exist only on n1: nothing else can run it');
    const plain = inst('vm0', 'sharedfile');
    expect(offlineMigrateDecision(input([plain]), plain, 'n1')).toBeUndefined();
    expect(offlineHoldNote(plain, 'n1', probe('running').instances.vm0!, undefined)).toBe('n1 is offline (declared) but still answers and runs vm0 (running): a failover would start a second running copy, so none is made; it stays there until it stops, its node is drained instead (role: drained moves it live), or harep\'s migrate is allowed (ganeti:watcher:autorepair:migrate or spec.autoRepair.repair: migrate)');
    expect(migratable(db)).toBe(true);
    expect(migratable(pl)).toBe(false);
    expect(migratable(inst('m', 'drbd', { disks: [{ index: 0, sizeMiB: 1, template: 'drbd', vg: 'vg', metaVg: 'vg', state: 'present' }, { index: 1, sizeMiB: 1, template: 'plain', vg: 'vg', metaVg: 'vg', state: 'present' }] }))).toBe(false);
    expect(migratable(inst('d', 'diskless'))).toBe(true);
  });

  it('given a DRBD instance on the offline node, it moves to the manifest\'s secondary, or the single other node holding it; never a guess among several', () => {
    expect(drbdMigrateTarget(inst('d', 'drbd', { secondary: 'n2' }), 'n1', [])).toBe('n2');
    expect(drbdMigrateTarget(inst('d', 'drbd', { primary: 'n2', secondary: 'n1' }), 'n1', [])).toBe('n2');
    expect(drbdMigrateTarget(inst('d', 'drbd'), 'n1', ['n1', 'n3'])).toBe('n3');
    expect(drbdMigrateTarget(inst('d', 'drbd'), 'n1', ['n2', 'n3'])).toBeUndefined();
    expect(drbdMigrateTarget(inst('d', 'drbd'), 'n1', undefined)).toBeUndefined();
  });

  it('given only fix-storage allowed, migrate is not allowed and says how to allow it', () => {
    const web = inst('vm0', 'sharedfile', { repair: 'fix-storage' });
    expect(offlineMigrateDecision(input([web]), web, 'n1')).toMatchObject({ decision: 'not-allowed', allowed: 'fix-storage' });
  });

  it('given a migration planned off it, the source is the offline node\'s probe and its copy, the rest unchanged', () => {
    const o = cluster(probe('running'));
    const hooks = { copies: new Map([['x', []]]) } as unknown as RuntimeHooks;
    const vm = probe('running').instances.vm0!;
    const v = withOfflineSource(o, hooks, 'n1', 'vm0', vm);
    expect([...v.observed.nodes.keys()].sort()).toEqual(['n1', 'n2']);
    expect(v.hooks.copies.get('vm0')).toEqual([{ node: 'n1', vm }]);
    expect(v.hooks.copies.get('x')).toEqual([]);
    expect(o.nodes.has('n1')).toBe(false);
  });
});
