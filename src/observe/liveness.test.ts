import { describe, expect, it } from 'vitest';
import { emptyObservedNode } from '../core/observed.js';
import { DEFAULT_LIVENESS, type NodeLiveness } from '../core/liveness.js';
import { confirmDead, describeLiveness, nextLiveness, nextNodeLiveness, withMissedProbes } from './liveness.js';

const T = (s: number) => new Date(Date.UTC(2026, 10, 28, 12, 0, s)).toISOString();
const up = (n: string, at: string) => emptyObservedNode(n, at);
const down = (n: string, at: string) => emptyObservedNode(n, at, 'connect ECONNREFUSED');
const node = { name: 'node1', role: 'regular' };

/** Passes at the given seconds, node1 down in each; returns the condition after each. */
function missAt(seconds: number[], start?: NodeLiveness): NodeLiveness[] {
  const out: NodeLiveness[] = [];
  let prev = start;
  for (const s of seconds) out.push((prev = nextNodeLiveness(prev, node, down('node1', T(s)), T(s), DEFAULT_LIVENESS)));
  return out;
}

describe('node liveness (pure)', () => {
  it('given a node that answers, it is Ready with no missed probe and its last-seen time', () => {
    const l = nextNodeLiveness(undefined, node, up('node1', T(0)), T(0), DEFAULT_LIVENESS);
    expect(l).toEqual({ node: 'node1', condition: 'Ready', since: T(0), missedProbes: 0, lastSeen: T(0) });
  });

  it('given three missed probes within 10 s, it stays in its grace; the grace ends only at 3 probes and 10 s both', () => {
    const ready = nextNodeLiveness(undefined, node, up('node1', T(0)), T(0), DEFAULT_LIVENESS);
    const [a, b, c, d] = missAt([1, 3, 5, 11], ready);
    expect([a, b, c, d].map((l) => [l!.condition, l!.missedProbes, l!.graceOver])).toEqual([
      ['Unreachable', 1, false], ['Unreachable', 2, false], ['Unreachable', 3, false], ['Unreachable', 4, true],
    ]);
    expect(d!.since).toBe(T(1));
    expect(d!.lastSeen).toBe(T(0));
    expect(d!.error).toBe('connect ECONNREFUSED');
  });

  it('given two missed probes 60 s apart, the grace is not over (it needs 3 probes)', () => {
    expect(missAt([0, 60]).at(-1)!.graceOver).toBe(false);
  });

  it('given an unreachable node that answers again, it is Ready and its count starts over', () => {
    const [, b] = missAt([0, 5]);
    const back = nextNodeLiveness(b, node, up('node1', T(9)), T(9), DEFAULT_LIVENESS);
    expect(back).toMatchObject({ condition: 'Ready', missedProbes: 0, since: T(9) });
    expect(nextNodeLiveness(back, node, down('node1', T(12)), T(12), DEFAULT_LIVENESS)).toMatchObject({ condition: 'Unreachable', missedProbes: 1, since: T(12) });
  });

  it('given role offline, it is Offline whatever the probe says, and never counts missed probes', () => {
    const l = nextNodeLiveness(undefined, { name: 'node1', role: 'offline' }, undefined, T(0), DEFAULT_LIVENESS);
    expect(l).toEqual({ node: 'node1', condition: 'Offline', since: T(0), missedProbes: 0 });
    expect(nextNodeLiveness(l, { name: 'node1', role: 'offline' }, undefined, T(30), DEFAULT_LIVENESS).since).toBe(T(0));
  });

  it('given role offline and its read-only probe answering once, it stays Offline and remembers that it answered in this Offline spell (not after it is back)', () => {
    const off = { name: 'node1', role: 'offline' };
    const a = nextNodeLiveness(undefined, off, up('node1', T(0)), T(0), DEFAULT_LIVENESS);
    expect(a).toEqual({ node: 'node1', condition: 'Offline', since: T(0), missedProbes: 0, lastSeen: T(0), answeredOffline: true });
    const b = nextNodeLiveness(a, off, down('node1', T(30)), T(30), DEFAULT_LIVENESS);
    expect(b).toEqual({ node: 'node1', condition: 'Offline', since: T(0), missedProbes: 0, lastSeen: T(0), answeredOffline: true });
    const back = nextNodeLiveness(b, node, up('node1', T(60)), T(60), DEFAULT_LIVENESS);
    expect(back.answeredOffline).toBeUndefined();
    expect(nextNodeLiveness(back, off, undefined, T(90), DEFAULT_LIVENESS).answeredOffline).toBeUndefined();
  });

  it('given power off confirmed, an unreachable node is Dead and stays Dead while unreachable; a Ready node is never made Dead', () => {
    const u = missAt([0, 5, 10]).at(-1)!;
    const dead = confirmDead(u, { at: T(11), verbs: ['power-off', 'power-status'], powered: false });
    expect(dead).toMatchObject({ condition: 'Dead', since: T(11), fence: { powered: false } });
    expect(nextNodeLiveness(dead, node, down('node1', T(20)), T(20), DEFAULT_LIVENESS)).toMatchObject({ condition: 'Dead', since: T(11), missedProbes: 4 });
    expect(nextNodeLiveness(dead, node, up('node1', T(30)), T(30), DEFAULT_LIVENESS).condition).toBe('Ready');
    const ready = nextNodeLiveness(undefined, node, up('node1', T(0)), T(0), DEFAULT_LIVENESS);
    expect(confirmDead(ready, { at: T(1), verbs: ['power-off'], powered: false })).toBe(ready);
    expect(confirmDead(u, { at: T(11), verbs: ['power-off', 'power-status'], powered: true })).toBe(u);
  });

  it('given several nodes, every declared node gets a condition, in name order', () => {
    const m = nextLiveness(undefined, [{ name: 'b', role: 'regular' }, { name: 'a', role: 'regular' }], new Map([['a', up('a', T(0))]]), T(0), DEFAULT_LIVENESS);
    expect([...m.keys()]).toEqual(['a', 'b']);
    expect(m.get('b')).toMatchObject({ condition: 'Unreachable', error: 'not observed' });
  });

  it('given each condition, the description says what it is and how it was decided', () => {
    const [, b] = missAt([0, 5]);
    expect(describeLiveness(b!, DEFAULT_LIVENESS)).toBe(`Unreachable since ${T(0)}, 2 missed probes (in its grace: 3 probes over 10 s)`);
    expect(describeLiveness(confirmDead(missAt([0, 5, 10]).at(-1)!, { at: T(11), verbs: ['power-off', 'power-status'], powered: false })))
      .toBe(`Dead since ${T(11)}: its out-of-band program confirmed power off (power-off, power-status)`);
  });
});

describe('missed probes between passes (the heartbeat\'s)', () => {
  const miss = (s: number) => ({ at: T(s), error: 'no TCP answer' });
  const ready = nextNodeLiveness(undefined, node, up('node1', T(0)), T(0), DEFAULT_LIVENESS);

  it('given a Ready node and three heartbeat misses (out of order), it is Unreachable since the first, with 3 missed probes; the grace is still not over before 10 s', () => {
    const m = withMissedProbes(new Map([['node1', ready]]), [node], new Map([['node1', [miss(6), miss(2), miss(4)]]]), DEFAULT_LIVENESS)!;
    expect(m.get('node1')).toMatchObject({ condition: 'Unreachable', since: T(2), missedProbes: 3, graceOver: false, lastSeen: T(0), error: 'no TCP answer' });
    // the pass's own failed probe at 12 s: 4 probes over 10 s
    const next = nextNodeLiveness(m.get('node1'), node, down('node1', T(12)), T(12), DEFAULT_LIVENESS);
    expect(next).toMatchObject({ condition: 'Unreachable', since: T(2), missedProbes: 4, graceOver: true });
  });

  it('given misses not later than the node\'s last answer, they are stale and change nothing', () => {
    const seen = nextNodeLiveness(ready, node, up('node1', T(5)), T(5), DEFAULT_LIVENESS);
    const m = withMissedProbes(new Map([['node1', seen]]), [node], new Map([['node1', [miss(3), miss(5)]]]), DEFAULT_LIVENESS)!;
    expect(m.get('node1')).toEqual(seen);
  });

  it('given an offline node\'s misses, or none at all, nothing changes; a node never seen becomes Unreachable', () => {
    const off = nextNodeLiveness(undefined, { name: 'node2', role: 'offline' }, undefined, T(0), DEFAULT_LIVENESS);
    const prev = new Map([['node1', ready], ['node2', off]]);
    expect(withMissedProbes(prev, [node, { name: 'node2', role: 'offline' }], new Map([['node2', [miss(3)]]]), DEFAULT_LIVENESS)).toEqual(prev);
    expect(withMissedProbes(prev, [node], new Map(), DEFAULT_LIVENESS)).toEqual(prev);
    expect(withMissedProbes(undefined, [node], new Map([['node1', [miss(1)]]]), DEFAULT_LIVENESS)?.get('node1')).toMatchObject({ condition: 'Unreachable', since: T(1), missedProbes: 1 });
  });

  it('given a node answering again in a pass after heartbeat misses, it is Ready and its count starts over', () => {
    const m = withMissedProbes(new Map([['node1', ready]]), [node], new Map([['node1', [miss(2), miss(4)]]]), DEFAULT_LIVENESS)!;
    expect(nextNodeLiveness(m.get('node1'), node, up('node1', T(5)), T(5), DEFAULT_LIVENESS)).toMatchObject({ condition: 'Ready', missedProbes: 0, since: T(5) });
  });
});
