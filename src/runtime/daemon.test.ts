import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/log.js';
import type { Reconcile } from './controller.js';
import { startDaemon, runDaemon, type DaemonOptions } from './daemon.js';
import { FakeClock } from './fake-clock.js';
import type { WatchFactory, WatchHandlers } from './watcher.js';

/** A watcher the test fires by hand. */
function stubWatcher(): { factory: WatchFactory; fire: (path: string) => void; closed: () => boolean } {
  let handlers: WatchHandlers | undefined;
  let closed = false;
  const factory: WatchFactory = (_paths, h) => {
    handlers = h;
    return { ready: Promise.resolve(), close: async () => void (closed = true) };
  };
  return { factory, fire: (p) => handlers?.onChange(p), closed: () => closed };
}

function baseOptions(over: Partial<DaemonOptions> & { signal: AbortSignal }): DaemonOptions & { calls: string[]; listings: () => number } {
  let listings = 0;
  const calls: string[] = [];
  const reconcile: Reconcile = async (key) => {
    calls.push(key);
  };
  return {
    paths: ['/nonexistent'],
    reconcile,
    keysFor: async () => {
      listings++;
      return ['cluster', 'Node/n1', 'Node/n2'];
    },
    watch: true,
    logger: silentLogger(),
    clock: new FakeClock(),
    ...over,
    calls,
    listings: () => listings,
  };
}

describe('daemon', () => {
  it('given a burst of file events, it lists and enqueues the keys once after the quiet period', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const w = stubWatcher();
    const opts = baseOptions({ signal: ac.signal, clock, watchFactory: w.factory, debounceMs: 500, resyncMs: 0 });
    const d = startDaemon(opts);
    await d.ready;
    await clock.tick();
    expect(opts.listings()).toBe(1); // the start-up pass
    expect(opts.calls).toEqual(['cluster', 'Node/n1', 'Node/n2']);
    for (let i = 0; i < 25; i++) {
      w.fire(`/m/node${i}.yaml`);
      await clock.advance(100);
    }
    // The last event came at +2400 ms and the clock stands at +2500: 400 ms of quiet remain.
    expect(opts.listings()).toBe(1);
    await clock.advance(399);
    expect(opts.listings()).toBe(1);
    await clock.advance(1);
    expect(opts.listings()).toBe(2);
    expect(opts.calls).toHaveLength(6);
    ac.abort();
    await d.stopped;
  });

  it('given events that never pause, it still enqueues within the maximum wait', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const w = stubWatcher();
    const opts = baseOptions({ signal: ac.signal, clock, watchFactory: w.factory, debounceMs: 500, resyncMs: 0 });
    const d = startDaemon(opts);
    await clock.tick();
    for (let i = 0; i < 60; i++) {
      w.fire('/m/busy.yaml');
      await clock.advance(200);
    }
    // 12 s of events every 200 ms: the 5 s cap (10 x debounce) forces at least two passes.
    expect(opts.listings()).toBeGreaterThanOrEqual(3);
    ac.abort();
    await d.stopped;
  });

  it('given a resync period, it enqueues every key each period without file events', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const opts = baseOptions({ signal: ac.signal, clock, watch: false, resyncMs: 60_000 });
    const d = startDaemon(opts);
    await clock.tick();
    expect(opts.listings()).toBe(1);
    await clock.advance(59_999);
    expect(opts.listings()).toBe(1);
    await clock.advance(1);
    expect(opts.listings()).toBe(2);
    await clock.advance(120_000);
    expect(opts.listings()).toBe(4);
    expect(opts.calls.filter((k) => k === 'Node/n1')).toHaveLength(4);
    ac.abort();
    await d.stopped;
  });

  it('given keysFor fails (a manifest mid-edit), it keeps running and recovers on the next resync', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    let fail = true;
    const opts = baseOptions({ signal: ac.signal, clock, watch: false, resyncMs: 1_000 });
    const d = startDaemon({
      ...opts,
      keysFor: async () => {
        if (fail) throw new Error('bad yaml');
        return ['cluster'];
      },
    });
    await clock.tick();
    expect(opts.calls).toEqual([]);
    fail = false;
    await clock.advance(1_000);
    expect(opts.calls).toEqual(['cluster']);
    ac.abort();
    await d.stopped;
  });

  it('given an abort, it closes the watcher, clears its timers and drains the queued keys', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const w = stubWatcher();
    const opts = baseOptions({ signal: ac.signal, clock, watchFactory: w.factory, resyncMs: 60_000 });
    const run = runDaemon(opts);
    w.fire('/m/a.yaml'); // arms the debounce timer
    ac.abort();
    await run;
    expect(w.closed()).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
    expect(opts.calls).toEqual(['cluster', 'Node/n1', 'Node/n2']);
  });

  it('given reconcile results and a metrics port, it serves counters and the queue depth on 127.0.0.1', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const opts = baseOptions({ signal: ac.signal, clock, watch: false, resyncMs: 0, metricsPort: 0 });
    const d = startDaemon({
      ...opts,
      reconcile: async (key) => {
        if (key === 'Node/n2') throw new Error('flaky');
      },
    });
    const { metricsPort } = await d.ready;
    await clock.tick();
    const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(body).toMatch(/gantry_reconcile_total\{result="success"\} 2/);
    expect(body).toMatch(/gantry_reconcile_total\{result="error"\} 1/);
    expect(body).toMatch(/gantry_reconcile_duration_seconds_count\{result="success"\} 2/);
    expect(body).toMatch(/gantry_workqueue_depth 0/);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
    ac.abort();
    await d.stopped;
  });

  it('given real files written in a burst under chokidar, it enqueues once for the burst', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gantry-daemon-'));
    const ac = new AbortController();
    try {
      // Real clock and watcher: the one test that needs real (short) time.
      const opts = baseOptions({ signal: ac.signal, clock: undefined, paths: [dir], resyncMs: 0, debounceMs: 300 });
      const d = startDaemon(opts);
      await d.ready;
      await waitFor(() => opts.listings() === 1);
      for (let i = 0; i < 10; i++) await writeFile(join(dir, `n${i}.yaml`), `kind: Node\nname: n${i}\n`);
      await writeFile(join(dir, 'notes.txt'), 'ignored');
      await waitFor(() => opts.listings() >= 2);
      await new Promise((r) => setTimeout(r, 600));
      expect(opts.listings()).toBe(2);
      ac.abort();
      await d.stopped;
    } finally {
      ac.abort();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
