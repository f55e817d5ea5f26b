import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/log.js';
import { ExecError, PrereqError, TerminalError, TransportError } from '../util/errors.js';
import { Controller, type Outcome, type Reconcile, type ReconcileReport } from './controller.js';
import { FakeClock } from './fake-clock.js';
import { WorkQueue } from './workqueue.js';

/** A reconcile whose calls stay pending until the test resolves or rejects them. */
function controllable(): { reconcile: Reconcile; calls: { key: string; id: string; resolve: (o?: Outcome) => void; reject: (e: unknown) => void }[] } {
  const calls: { key: string; id: string; resolve: (o?: Outcome) => void; reject: (e: unknown) => void }[] = [];
  const reconcile: Reconcile = (key, ctx) =>
    new Promise<Outcome | void>((resolve, reject) => calls.push({ key, id: ctx.id, resolve, reject }));
  return { reconcile, calls };
}

function setup(reconcile: Reconcile, workers = 2): { q: WorkQueue; clock: FakeClock; reports: ReconcileReport[]; ctl: Controller } {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, backoff: { random: () => 0 } });
  const reports: ReconcileReport[] = [];
  let n = 0;
  const ctl = new Controller({ queue: q, reconcile, logger: silentLogger(), workers, clock, newId: () => `r${++n}`, onReport: (r) => reports.push(r) });
  ctl.start();
  return { q, clock, reports, ctl };
}

describe('Controller', () => {
  it('given a key re-added while its reconcile runs, it never runs the key twice at once and runs it again after', async () => {
    let running = 0;
    let maxRunning = 0;
    const { reconcile, calls } = controllable();
    const wrapped: Reconcile = async (key, ctx) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        return await reconcile(key, ctx);
      } finally {
        running--;
      }
    };
    const { q, clock } = setup(wrapped, 4);
    q.add('Node/n1');
    await clock.tick();
    q.add('Node/n1');
    q.add('Node/n1');
    await clock.tick();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve();
    await clock.tick();
    expect(calls).toHaveLength(2);
    expect(maxRunning).toBe(1);
    calls[1]!.resolve();
    await clock.tick();
    expect(calls).toHaveLength(2);
  });

  it('given distinct keys and two workers, it reconciles two at a time with distinct ids', async () => {
    const { reconcile, calls } = controllable();
    const { q, clock } = setup(reconcile, 2);
    q.add('a');
    q.add('b');
    q.add('c');
    await clock.tick();
    expect(calls.map((c) => c.key)).toEqual(['a', 'b']);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    calls[0]!.resolve();
    await clock.tick();
    expect(calls.map((c) => c.key)).toEqual(['a', 'b', 'c']);
  });

  it('given retryable failures, it retries with doubling backoff and success forgets the backoff', async () => {
    const { reconcile, calls } = controllable();
    const { q, clock, reports } = setup(reconcile, 1);
    q.add('k');
    await clock.tick();
    calls[0]!.reject(new TransportError('SSH_TIMEOUT', 'timed out'));
    await clock.tick();
    expect(reports[0]).toMatchObject({ result: 'error', retryInMs: 1_000 });
    await clock.advance(1_000);
    expect(calls).toHaveLength(2);
    calls[1]!.reject(new Error('plain errors are retryable too'));
    await clock.tick();
    expect(reports[1]).toMatchObject({ result: 'error', retryInMs: 2_000 });
    await clock.advance(1_999);
    expect(calls).toHaveLength(2);
    await clock.advance(1);
    expect(calls).toHaveLength(3);
    calls[2]!.resolve();
    await clock.tick();
    expect(reports[2]).toMatchObject({ result: 'success' });
    expect(q.numRequeues('k')).toBe(0);
  });

  it('given a non-retryable GantryError, it reports terminal and does not retry', async () => {
    const { reconcile, calls } = controllable();
    const { q, clock, reports } = setup(reconcile, 1);
    q.add('Instance/web1');
    q.add('Instance/web2');
    await clock.tick();
    calls[0]!.reject(new TerminalError('REFUSED_SHRINK', 'disk 0 would shrink'));
    await clock.tick();
    calls[1]!.reject(new PrereqError('NO_CAPACITY', 'no node fits'));
    await clock.advance(600_000);
    expect(calls).toHaveLength(2);
    expect(reports.map((r) => r.result)).toEqual(['terminal', 'terminal']);
    expect(q.delayed()).toBe(0);
    expect((reports[0]!.error as TerminalError).code).toBe('REFUSED_SHRINK');
  });

  it('given requeueAfterMs, it looks at the key again after that delay with no backoff', async () => {
    const { reconcile, calls } = controllable();
    const { q, clock, reports } = setup(reconcile, 1);
    q.add('k');
    await clock.tick();
    calls[0]!.reject(new ExecError('LVCREATE_FAILED', 'x'));
    await clock.advance(1_000);
    calls[1]!.resolve({ requeueAfterMs: 30_000 });
    await clock.tick();
    expect(reports[1]).toMatchObject({ result: 'requeue_after', retryInMs: 30_000 });
    expect(q.numRequeues('k')).toBe(0);
    await clock.advance(29_999);
    expect(calls).toHaveLength(2);
    await clock.advance(1);
    expect(calls).toHaveLength(3);
  });

  it('given stop with queued keys, it finishes them before resolving', async () => {
    const done: string[] = [];
    const { q, clock, ctl } = setup(async (key) => {
      done.push(key);
    }, 1);
    let stopped = false;
    const pending = ['a', 'b', 'c'];
    for (const k of pending) q.add(k);
    void ctl.stop().then(() => (stopped = true));
    await clock.tick();
    expect(done).toEqual(pending);
    expect(stopped).toBe(true);
  });
});
