import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { livenessPassDelayMs, quickProbeOps, startHeartbeat, tcpAnswers } from './heartbeat.js';
import { SimCluster } from '../sim/index.js';
import type { NodeLiveness } from '../core/liveness.js';
import type { NodeOps } from '../core/node-ops.js';

describe('the liveness heartbeat', () => {
  it('given a node that stops answering and answers again, it reports each change once and nothing while nothing changes', async () => {
    const clock = new FakeClock(0);
    let up = true;
    const changes: string[] = [];
    const hb = startHeartbeat({
      intervalMs: 5000, clock, targets: () => [{ node: 'node1', host: '198.18.0.11', port: 22 }],
      check: () => Promise.resolve(up), onChange: (n, ok) => changes.push(`${n} ${ok}`),
    });
    await clock.advance(10_000);
    expect(changes).toEqual([]);
    up = false;
    await clock.advance(5000);
    await clock.advance(10_000);
    up = true;
    await clock.advance(5000);
    hb.stop();
    expect(changes).toEqual(['node1 false', 'node1 true']);
  });

  it('given a listening port on loopback it answers; a closed one does not', async () => {
    const srv = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    expect(await tcpAnswers('127.0.0.1', port, 2000)).toBe(true);
    await new Promise<void>((r) => srv.close(() => r()));
    expect(await tcpAnswers('127.0.0.1', port, 2000)).toBe(false);
  });
});

describe('the heartbeat\'s fast cadence for a silent node', () => {
  it('given a node that stops answering, it is checked every 2 s instead of every 5 s, each silent check is a miss with its time, and it is reported failing; answering again, back to every 5 s', async () => {
    const clock = new FakeClock(0);
    let up = true;
    const checks: number[] = [];
    const misses: string[] = [];
    const hb = startHeartbeat({
      intervalMs: 5000, clock, targets: () => [{ node: 'node1', host: '198.18.0.11', port: 22 }, { node: 'node2', host: '198.18.0.12', port: 22 }],
      check: (t) => {
        if (t.node === 'node1') checks.push(clock.now());
        return Promise.resolve(t.node === 'node2' || up);
      },
      onChange: () => undefined, onMiss: (n, at) => misses.push(`${n}@${at}`),
    });
    await clock.advance(5000);
    expect(hb.failing('node1')).toBe(false);
    up = false;
    await clock.advance(5000);
    await clock.advance(6000);
    expect(hb.failing('node1')).toBe(true);
    expect(hb.failing('node2')).toBe(false);
    expect(hb.failing('node9')).toBeUndefined();
    expect(misses).toEqual(['node1@10000', 'node1@12000', 'node1@14000', 'node1@16000']);
    up = true;
    await clock.advance(2000);
    await clock.advance(10_000);
    hb.stop();
    expect(checks).toEqual([0, 5000, 10_000, 12_000, 14_000, 16_000, 18_000, 23_000, 28_000]);
    expect(misses).toHaveLength(4);
  });

  it('given a fast interval longer than the interval, the interval wins', async () => {
    const clock = new FakeClock(0);
    const checks: number[] = [];
    const hb = startHeartbeat({
      intervalMs: 1000, fastIntervalMs: 2000, clock, targets: () => [{ node: 'node1', host: '198.18.0.11', port: 22 }],
      check: () => { checks.push(clock.now()); return Promise.resolve(false); }, onChange: () => undefined,
    });
    await clock.advance(3000);
    hb.stop();
    expect(checks).toEqual([0, 1000, 2000, 3000]);
  });
});

/** Counts the observations that reached the simulated node (a test double of the SSH probe). */
function counting(ops: ReadonlyMap<string, NodeOps>): { ops: Map<string, NodeOps>; calls: string[] } {
  const calls: string[] = [];
  const out = new Map<string, NodeOps>();
  for (const [n, o] of ops) out.set(n, { node: o.node, describe: (a) => o.describe(a), run: (a) => o.run(a), close: () => o.close(), observe: (r) => { calls.push(n); return o.observe(r); } });
  return { ops: out, calls };
}

describe('quick probes of a silent node', () => {
  const req = { sysctls: [], fileDirs: [], instanceRunDir: '/run/gantry' };

  it('given a node the heartbeat found silent and its SSH port closed (loopback), the pass reports it unreachable after one TCP connect, without an SSH probe; a node not silent is observed as usual', async () => {
    const srv = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const sim = new SimCluster(['n1', 'n2']);
    const inner = counting(sim.nodes);
    const ops = quickProbeOps(inner.ops, { failing: (n) => n === 'n1', target: (n) => ({ node: n, host: '127.0.0.1', port }), clock: new FakeClock(Date.parse('2026-11-29T12:00:00Z')) });
    const o1 = await ops.get('n1')!.observe(req);
    expect(o1).toMatchObject({ reachable: false, observedAt: '2026-11-29T12:00:00.000Z', error: expect.stringMatching(/no answer on its SSH port 127\.0\.0\.1:\d+ within 1000 ms/) });
    const o2 = await ops.get('n2')!.observe(req);
    expect(o2.reachable).toBe(true);
    expect(inner.calls).toEqual(['n2']);
  });

  it('given a silent node whose SSH port answers again, it is observed through SSH (the TCP answer alone proves nothing)', async () => {
    const srv = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const sim = new SimCluster(['n1']);
    sim.node('n1').setUnreachable(true);
    const inner = counting(sim.nodes);
    const ops = quickProbeOps(inner.ops, { failing: () => true, target: (n) => ({ node: n, host: '127.0.0.1', port }), clock: new FakeClock(0) });
    const o1 = await ops.get('n1')!.observe(req);
    await new Promise<void>((r) => srv.close(() => r()));
    expect(inner.calls).toEqual(['n1']);
    expect(o1.reachable).toBe(false);
  });
});

describe('when the daemon passes again while a node is Unreachable', () => {
  const policy = { missedProbes: 3, graceSeconds: 10 };
  const t0 = Date.parse('2026-11-29T12:00:00.000Z');
  const un = (sinceMs: number, extra: Partial<NodeLiveness> = {}): NodeLiveness => ({ node: 'n1', condition: 'Unreachable', since: new Date(sinceMs).toISOString(), missedProbes: 2, graceOver: false, ...extra });

  it('given no node Unreachable, no liveness pass is due', () => {
    expect(livenessPassDelayMs([{ node: 'n1', condition: 'Ready', since: new Date(t0).toISOString(), missedProbes: 0 }], policy, t0, 5000)).toBeUndefined();
  });

  it('given a node early in its grace, every half probe interval; given its grace time ends sooner, right after it ends', () => {
    expect(livenessPassDelayMs([un(t0)], policy, t0 + 1000, 5000)).toBe(2500);
    expect(livenessPassDelayMs([un(t0)], policy, t0 + 8800, 5000)).toBe(1210);
  });

  it('given a node past its grace time (fenced or not) or without enough probes yet, every half probe interval, at least 1 s', () => {
    expect(livenessPassDelayMs([un(t0, { graceOver: true })], policy, t0 + 20_000, 5000)).toBe(2500);
    expect(livenessPassDelayMs([un(t0)], policy, t0 + 12_000, 5000)).toBe(2500);
    expect(livenessPassDelayMs([un(t0)], policy, t0 + 12_000, 1000)).toBe(1000);
  });

  it('given two nodes, the sooner of the two', () => {
    expect(livenessPassDelayMs([un(t0, { graceOver: true }), { ...un(t0 - 9500), node: 'n2' }], policy, t0, 5000)).toBe(510);
  });
});
