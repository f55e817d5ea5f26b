import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { WorkQueue } from './workqueue.js';

const noJitter = { random: () => 0 };

function newQueue(clock = new FakeClock()): { q: WorkQueue; clock: FakeClock } {
  return { q: new WorkQueue({ clock, backoff: noJitter }), clock };
}

describe('WorkQueue', () => {
  it('given a key added three times while pending, it is handed out once', async () => {
    const { q } = newQueue();
    q.add('Node/n1');
    q.add('Node/n1');
    q.add('Instance/web1');
    q.add('Node/n1');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('Node/n1');
    expect(await q.get()).toBe('Instance/web1');
    expect(q.len()).toBe(0);
  });

  it('given a key being processed, it does not hand it out again until done', async () => {
    const { q } = newQueue();
    q.add('k');
    expect(await q.get()).toBe('k');
    q.add('k');
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done('k');
    await Promise.resolve();
    expect(second).toBe('k');
  });

  it('given a key re-added several times while processing, it re-queues it exactly once after done', async () => {
    const { q } = newQueue();
    q.add('k');
    await q.get();
    q.add('k');
    q.add('k');
    q.done('k');
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('k');
    q.done('k');
    expect(q.len()).toBe(0);
  });

  it('given a key not re-added while processing, done does not re-queue it', async () => {
    const { q } = newQueue();
    q.add('k');
    await q.get();
    q.done('k');
    expect(q.len()).toBe(0);
    expect(q.inFlight()).toBe(0);
  });

  it('given addAfter, it adds the key only when the delay has passed', async () => {
    const { q, clock } = newQueue();
    q.addAfter('k', 5_000);
    expect(q.len()).toBe(0);
    expect(q.delayed()).toBe(1);
    await clock.advance(4_999);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
    expect(q.delayed()).toBe(0);
  });

  it('given two delayed adds of one key, it fires once at the earlier time', async () => {
    const { q, clock } = newQueue();
    q.addAfter('k', 10_000);
    q.addAfter('k', 3_000);
    q.addAfter('k', 8_000);
    await clock.advance(3_000);
    expect(q.len()).toBe(1);
    await q.get();
    q.done('k');
    await clock.advance(20_000);
    expect(q.len()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('given repeated addRateLimited, it waits 1, 2, 4 s and forget resets to 1 s', async () => {
    const { q, clock } = newQueue();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      delays.push(q.addRateLimited('k'));
      await clock.advance(delays[i]! - 1);
      expect(q.len()).toBe(0);
      await clock.advance(1);
      expect(q.len()).toBe(1);
      await q.get();
      q.done('k');
    }
    expect(delays).toEqual([1_000, 2_000, 4_000]);
    expect(q.numRequeues('k')).toBe(3);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    expect(q.addRateLimited('k')).toBe(1_000);
  });

  it('given a blocked get, it resolves as soon as a key is added', async () => {
    const { q } = newQueue();
    const p = q.get();
    q.add('late');
    expect(await p).toBe('late');
    expect(q.inFlight()).toBe(1);
  });

  it('given shutdown with queued and in-flight keys, it hands out the queued ones and resolves after the last done', async () => {
    const { q, clock } = newQueue();
    q.add('a');
    q.add('b');
    q.addAfter('c', 1_000);
    expect(await q.get()).toBe('a');
    let drained = false;
    void q.shutdown().then(() => (drained = true));
    q.add('d'); // refused: shutting down
    expect(clock.pendingTimers()).toBe(0); // delayed add dropped
    expect(await q.get()).toBe('b');
    q.done('a');
    await clock.tick();
    expect(drained).toBe(false);
    q.done('b');
    await clock.tick();
    expect(drained).toBe(true);
    expect(await q.get()).toBeUndefined();
  });

  it('given shutdown while workers wait on an empty queue, it releases them with undefined', async () => {
    const { q } = newQueue();
    const waiting = [q.get(), q.get()];
    await q.shutdown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
  });
});
