import { describe, expect, it } from 'vitest';
import { executePlan } from './executor.js';
import type { ActionResult, NodeOps } from '../core/node-ops.js';
import type { Action } from '../core/actions.js';
import { buildWaves, orderActions } from '../plan/waves.js';
import type { Plan } from '../core/plan.js';
import { silentLogger } from '../util/log.js';
import { emptyObservedNode } from '../core/observed.js';

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
});
