import { describe, expect, it } from 'vitest';
import { executePlan } from './executor.js';
import type { ActionResult, NodeOps } from '../core/node-ops.js';
import type { Action } from '../core/actions.js';
import { buildWaves, orderActions } from '../plan/waves.js';
import type { Plan } from '../core/plan.js';
import { silentLogger } from '../util/log.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import { plan } from '../plan/plan.js';
import type { PlanInput, PlanInstance } from '../core/plan.js';

/** A recording NodeOps double: fails the verbs it is told to, the given number of times. */
class RecordingOps implements NodeOps {
  readonly ran: string[] = [];
  constructor(readonly node: string, private failures: Map<string, { times: number; retryable: boolean }> = new Map(), private log: string[] = []) {}
  async observe() { return emptyObservedNode(this.node, 't'); }
  describe(a: Action) { return [['echo', a.verb, a.node]]; }
  async run(a: Action): Promise<ActionResult> {
    this.ran.push(a.verb);
    this.log.push(`${this.node}:${a.verb}`);
    const f = this.failures.get(a.verb);
    if (f && f.times > 0) {
      f.times--;
      return { action: a, ok: false, unchanged: false, commands: [], durationMs: 1, error: { code: 'X', message: 'boom', retryable: f.retryable } };
    }
    return { action: a, ok: true, unchanged: false, commands: this.describe(a), durationMs: 1 };
  }
  async close() {}
}

const act = (node: string, verb: 'lv.create' | 'bridge.ensure' | 'file.create', subject: string): Action =>
  verb === 'lv.create' ? { verb, node, subject, reason: 'r', vg: 'vg', name: `${subject}-lv`, sizeMiB: 1, tags: [] }
    : verb === 'file.create' ? { verb, node, subject, reason: 'r', path: `/x/${subject}`, sizeMiB: 1, format: 'raw' }
      : { verb, node, subject, reason: 'r', name: 'br0', vlanFiltering: false, addresses: [], ports: [] };

const planOf = (actions: Action[]): Plan => {
  const ordered = orderActions(actions);
  return { entries: [], actions: ordered, waves: buildWaves(ordered), refused: [], orphans: [], unreachable: [] };
};

describe('executePlan', () => {
  it('given a plan it runs phases in order on every node', async () => {
    const log: string[] = [];
    const ops = new Map([['a', new RecordingOps('a', new Map(), log)], ['b', new RecordingOps('b', new Map(), log)]]);
    const r = await executePlan(planOf([act('a', 'lv.create', 'I/x'), act('a', 'bridge.ensure', 'Node/a'), act('b', 'bridge.ensure', 'Node/b')]), ops, { logger: silentLogger() });
    expect(r.ok).toBe(true);
    expect(log.indexOf('a:bridge.ensure')).toBeLessThan(log.indexOf('a:lv.create'));
    expect(r.results).toHaveLength(3);
  });

  it('given a failing action it skips later actions of that resource on that node but runs the others', async () => {
    const failing = new RecordingOps('a', new Map([['lv.create', { times: 1, retryable: false }]]));
    const ops = new Map([['a', failing], ['b', new RecordingOps('b')]]);
    const r = await executePlan(planOf([act('a', 'lv.create', 'I/x'), act('a', 'file.create', 'I/x'), act('a', 'file.create', 'I/y'), act('b', 'lv.create', 'I/x')]), ops, { logger: silentLogger() });
    expect(r.ok).toBe(false);
    expect(r.skipped.map((s) => `${s.action.node}:${s.action.verb}:${s.action.subject}`)).toEqual(['a:file.create:I/x']);
    expect(failing.ran).toEqual(['lv.create', 'file.create']);
    expect(r.results.filter((x) => x.ok)).toHaveLength(2);
  });

  it('given a retryable failure it retries and succeeds', async () => {
    const flaky = new RecordingOps('a', new Map([['lv.create', { times: 2, retryable: true }]]));
    const r = await executePlan(planOf([act('a', 'lv.create', 'I/x')]), new Map([['a', flaky]]), { logger: silentLogger(), retries: 2, retryDelay: async () => {} });
    expect(r.ok).toBe(true);
    expect(flaky.ran).toEqual(['lv.create', 'lv.create', 'lv.create']);
  });

  it('given dry-run it runs nothing and returns the commands', async () => {
    const a = new RecordingOps('a');
    const r = await executePlan(planOf([act('a', 'lv.create', 'I/x')]), new Map([['a', a]]), { logger: silentLogger(), dryRun: true });
    expect(a.ran).toEqual([]);
    expect(r.results[0]?.commands).toEqual([['echo', 'lv.create', 'a']]);
  });
  it('given a signal aborted mid-pass (lost leadership), it runs no further action and skips the rest as cancelled', async () => {
    const ac = new AbortController();
    const a = new RecordingOps('a');
    const run = a.run.bind(a);
    a.run = async (x: Action) => {
      const r = await run(x);
      ac.abort('lost leadership');
      return r;
    };
    const r = await executePlan(planOf([act('a', 'bridge.ensure', 'Node/a'), act('a', 'lv.create', 'I/x'), act('a', 'file.create', 'I/y')]), new Map([['a', a]]), { logger: silentLogger(), signal: ac.signal });
    expect(a.ran).toEqual(['bridge.ensure']);
    expect(r.ok).toBe(false);
    expect(r.skipped.map((s) => [s.action.verb, s.because])).toEqual([['lv.create', 'cancelled: lost leadership'], ['file.create', 'cancelled: lost leadership']]);
  });

  it('given a retryable failure and a signal aborted meanwhile, it does not retry', async () => {
    const ac = new AbortController();
    const flaky = new RecordingOps('a', new Map([['lv.create', { times: 2, retryable: true }]]));
    const r = await executePlan(planOf([act('a', 'lv.create', 'I/x')]), new Map([['a', flaky]]), { logger: silentLogger(), retries: 2, signal: ac.signal, retryDelay: async () => { ac.abort('lost leadership'); } });
    expect(flaky.ran).toEqual(['lv.create']);
    expect(r.ok).toBe(false);
  });

  it('given a stop on one node that fails, a start on another node that must follow it is skipped and says why', async () => {
    const stop: Action = { verb: 'instance.stop', node: 'a', subject: 'Instance/vm', name: 'vm', runDir: '/run', timeoutS: 1, reason: 'move: stop on a' };
    const start: Action = { verb: 'instance.start', node: 'b', subject: 'Instance/vm', name: 'vm', runDir: '/run', launch: {} as never, record: {} as never, reason: 'move: start on b', after: ['instance.stop@a Instance/vm'] };
    const a = new RecordingOps('a', new Map([['instance.stop', { times: 1, retryable: false }]]));
    const b = new RecordingOps('b');
    const r = await executePlan(planOf([stop, start]), new Map([['a', a], ['b', b]]), { logger: silentLogger() });
    expect(b.ran).toEqual([]);
    expect(r.ok).toBe(false);
    expect(r.skipped).toEqual([{ action: start, because: expect.stringMatching(/must follow instance\.stop@a Instance\/vm, which failed \(X: boom\)/) }]);
  });

  it('given the dependency succeeds (or only dry-runs) the dependent action runs', async () => {
    const stop: Action = { verb: 'instance.stop', node: 'a', subject: 'Instance/vm', name: 'vm', runDir: '/run', timeoutS: 1, reason: 'r' };
    const start: Action = { verb: 'instance.start', node: 'b', subject: 'Instance/vm', name: 'vm', runDir: '/run', launch: {} as never, record: {} as never, reason: 'r', after: ['instance.stop@a Instance/vm'] };
    const b = new RecordingOps('b');
    const r = await executePlan(planOf([stop, start]), new Map([['a', new RecordingOps('a')], ['b', b]]), { logger: silentLogger() });
    expect(r.ok).toBe(true);
    expect(b.ran).toEqual(['instance.start']);
    const dry = await executePlan(planOf([stop, start]), new Map([['a', new RecordingOps('a')], ['b', new RecordingOps('b')]]), { logger: silentLogger(), dryRun: true });
    expect(dry.skipped).toEqual([]);
  });

  it('given a planned non-live move whose stop on the old node fails, the new node never starts a second copy', async () => {
    // The planner's move n1 -> n2 of a sharedfile VM without live migration, run by the real executor.
    const vm: PlanInstance = {
      name: 'vm1', state: 'present', deleteDisks: false, diskTemplate: 'sharedfile', primary: 'n2', memoryMiB: 64, vcpus: 1, tags: [],
      disks: [{ index: 0, sizeMiB: 64, template: 'sharedfile', vg: 'vg', metaVg: 'vg', state: 'present' }],
      runtime: {
        uuid: 'u', os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0, accel: 'tcg', bootOrder: ['disk'], diskBus: 'virtio',
        vnc: false, vncBindAddress: '127.0.0.1', nics: [], migration: { mode: 'non-live', bandwidthMiBps: 100, downtimeMs: 300 }, restartErrorDown: true, stopTimeoutS: 30,
      },
    };
    const input: PlanInput = {
      cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
      nodes: ['n1', 'n2'].map((name) => ({ name, group: 'g', role: 'regular' as const, runDir: '/run', fileStorageDir: '/srv', profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} } })),
      networks: [], instances: [vm],
    };
    const disk = { '/srv/shared/vm1.disk0.img': { path: '/srv/shared/vm1.disk0.img', format: 'raw', virtualSizeMiB: 64 } };
    const meta = { version: 1 as const, instance: 'vm1', uuid: 'u', os: 'none', osGeneration: 1, restartGeneration: 0, nics: [] };
    const n1: ObservedNode = { ...emptyObservedNode('n1', 't'), files: disk, instances: { vm1: { name: 'vm1', pid: 7, runState: 'running', guestShutdown: false, runtime: {}, meta } } };
    const p = plan(input, { nodes: new Map([['n1', n1], ['n2', { ...emptyObservedNode('n2', 't'), files: disk }]]) });
    expect(p.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(['instance.stop@n1', 'instance.start@n2']);
    expect(p.actions[1]!.after).toEqual(['instance.stop@n1 Instance/vm1']);

    const ops1 = new RecordingOps('n1', new Map([['instance.stop', { times: 1, retryable: false }]]));
    const ops2 = new RecordingOps('n2');
    const r = await executePlan(p, new Map([['n1', ops1], ['n2', ops2]]), { logger: silentLogger() });
    expect(ops2.ran).toEqual([]);
    expect(r.skipped.map((x) => `${x.action.verb}@${x.action.node}`)).toEqual(['instance.start@n2']);
    expect(r.skipped[0]!.because).toMatch(/which failed/);
  });

  it('given an injected clock, each result carries the time the executor saw it end (finishedAt), in run order', async () => {
    let t = Date.UTC(2026, 10, 28, 12, 0, 0);
    const ops = new Map([['n1', new RecordingOps('n1')]]);
    const r = await executePlan(planOf([act('n1', 'lv.create', 'a'), act('n1', 'file.create', 'b')]), ops, { logger: silentLogger(), now: () => new Date((t += 1000)) });
    expect(r.results.map((x) => [x.action.subject, x.finishedAt])).toEqual([['a', '2026-11-28T12:00:01.000Z'], ['b', '2026-11-28T12:00:02.000Z']]);
  });
});
