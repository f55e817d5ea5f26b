import { describe, expect, it } from 'vitest';
import { backoffMs, watcherDecision } from './watcher.js';
import { plan } from './plan.js';
import { emptyObservedNode, type ObservedInstance } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanInstanceRuntime, PlanNode, WatcherState } from '../core/plan.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const node = (name: string): PlanNode => ({ name, group: 'g', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`, profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} } });
const runtime: PlanInstanceRuntime = {
  uuid: '11111111-2222-3333-4444-555555555555', os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0,
  accel: 'tcg', bootOrder: ['disk'], diskBus: 'virtio', vnc: false, vncBindAddress: '127.0.0.1', nics: [],
  migration: { mode: 'live', bandwidthMiBps: 100, downtimeMs: 300 }, restartErrorDown: true, stopTimeoutS: 30,
};
const vm1: PlanInstance = {
  name: 'vm1', state: 'present', deleteDisks: false, diskTemplate: 'diskless', primary: 'n1', memoryMiB: 128, vcpus: 1, tags: [], disks: [], runtime,
};
const input = (now: number, watcher?: WatcherState, inst: PlanInstance = vm1): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [], watcher: { maxRestarts: 3, backoffSeconds: 10, healthySeconds: 300 } },
  nodes: [node('n1')], networks: [], instances: [inst], now: at(now), ...(watcher ? { watcher } : {}),
});
/** vm1 crashed on n1: its record is there, no process, and Gantry did not stop it. */
const crashed = (restartGeneration = 0): ObservedCluster => {
  const vm: ObservedInstance = { name: 'vm1', runState: 'stopped', guestShutdown: false, runtime: { specHash: 'x' }, meta: { version: 1, instance: 'vm1', uuid: runtime.uuid, os: 'none', osGeneration: 1, restartGeneration, nics: [], launch: {} } };
  return { nodes: new Map([['n1', { ...emptyObservedNode('n1', 't'), instances: { vm1: vm } }]]) };
};
const counts = (attempts: number, last: number, pausedUntil?: number): WatcherState => ({
  restarts: new Map(attempts > 0 ? [['vm1', { attempts, last: at(last) }]] : []), ...(pausedUntil !== undefined ? { pausedUntil: at(pausedUntil) } : {}),
});
const starts = (p: ReturnType<typeof plan>) => p.actions.filter((a) => a.verb === 'instance.start').length;

describe('the watcher (ERROR_down restarts)', () => {
  it('given the backoff base, each wait doubles from the second restart on and stops growing at 16 times', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 9].map((n) => backoffMs(n, 10) / 1000)).toEqual([0, 10, 20, 40, 80, 160, 160, 160]);
  });

  it('given a crashed instance with no count, it plans restart 1 of the cap at once', () => {
    const p = plan(input(0), crashed());
    expect(starts(p)).toBe(1);
    expect(p.watcher?.decisions).toEqual([expect.objectContaining({ instance: 'vm1', node: 'n1', decision: 'restart', attempts: 0, max: 3 })]);
    expect(p.actions[0]!.reason).toBe('the VM is not running and Gantry did not stop it (ERROR_down): restart 1 of 3, like ganeti-watcher');
  });

  it('given a restart 5 s ago, it waits out the backoff (no start, the plan says until when), then restarts', () => {
    const early = plan(input(5, counts(1, 0)), crashed());
    expect(starts(early)).toBe(0);
    expect(early.watcher?.decisions[0]).toMatchObject({ decision: 'backoff', attempts: 1, next: at(10) });
    expect(early.entries.find((e) => e.subject === 'Instance/vm1')!.notes).toContain(`ERROR_down: restart 2 of 3 waits until ${at(10)} (backoff 10 s after restart 1)`);
    expect(starts(plan(input(10, counts(1, 0)), crashed()))).toBe(1);
    // the third waits twice as long
    expect(plan(input(30, counts(2, 15)), crashed()).watcher?.decisions[0]).toMatchObject({ decision: 'backoff', next: at(35) });
  });

  it('given the cap reached, it plans no restart, however long ago, and asks for a human', () => {
    const p = plan(input(10_000, counts(3, 0)), crashed());
    expect(starts(p)).toBe(0);
    const d = p.watcher!.decisions[0]!;
    expect(d.decision).toBe('gave-up');
    expect(d.message).toBe('ERROR_down after 3 restarts (spec.watcher.maxRestarts 3): the watcher gave up; a human must look at vm1 on n1, then bump spec.restartGeneration to start it again');
    expect(p.entries.find((e) => e.subject === 'Instance/vm1')!.notes).toContain(d.message);
  });

  it('given restartGeneration bumped past the crashed copy\'s, a human asked: it starts whatever the count', () => {
    const p = plan(input(10_000, counts(3, 9_999), { ...vm1, runtime: { ...runtime, restartGeneration: 1 } }), crashed(0));
    expect(starts(p)).toBe(1);
    expect(p.watcher!.decisions[0]).toMatchObject({ decision: 'restart', manual: true });
  });

  it('given the watcher paused, nothing is restarted and the plan says until when; an expired pause is no pause', () => {
    const p = plan(input(0, counts(0, 0, 3600)), crashed());
    expect(starts(p)).toBe(0);
    expect(p.watcher).toEqual({ pausedUntil: at(3600), decisions: [expect.objectContaining({ decision: 'paused', next: at(3600) })] });
    expect(p.entries.find((e) => e.subject === 'Instance/vm1')!.notes).toContain(`ERROR_down: the watcher is paused until ${at(3600)} (gantry watcher resume): not restarted`);
    const over = plan(input(3601, counts(0, 0, 3600)), crashed());
    expect(starts(over)).toBe(1);
    expect(over.watcher?.pausedUntil).toBeUndefined();
  });

  it('given restartErrorDown off, it is a note and no decision counts', () => {
    expect(watcherDecision(input(0), 'vm1', 'n1', false, false)).toMatchObject({ decision: 'disabled' });
    expect(starts(plan(input(0), crashed()))).toBe(1);
  });

  it('given a guest that powered itself off (USER_down), the watcher leaves it alone', () => {
    const o = crashed();
    const n1 = o.nodes.get('n1')!;
    (o.nodes as Map<string, typeof n1>).set('n1', { ...n1, instances: { vm1: { ...n1.instances.vm1!, guestShutdown: true } } });
    const p = plan(input(0), o);
    expect(starts(p)).toBe(0);
    expect(p.watcher).toBeUndefined();
  });
});
