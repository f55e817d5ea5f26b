import { describe, expect, it, vi } from 'vitest';
import type { Plan } from '../core/plan.js';
import { KubePassHub, type KubePassReport } from './kube-writes.js';

const ctx = () => { const lines: string[] = []; return { lines, log: (m: string) => lines.push(m) }; };
const plan = { entries: [] } as unknown as Plan;
const pass = (gens: Record<string, number>): Extract<KubePassReport, { plan: Plan }> => ({ generations: new Map(Object.entries(gens)), plan, failed: [] });

describe('KubePassHub', () => {
  it('given a job waiting for generation 3, it asks for a pass and resolves only with a pass built from generation 3 or later', async () => {
    const kick = vi.fn();
    const hub = new KubePassHub();
    hub.setKick(kick);
    const c = ctx();
    let got: KubePassReport | undefined;
    const waiting = hub.after('Instance/web1', 3, c).then((r) => { got = r; });
    expect(kick).toHaveBeenCalledTimes(1);
    expect(c.lines).toEqual(['waiting for the reconcile pass that reads generation 3 of Instance/web1']);
    hub.report(pass({ 'Instance/web1': 2 })); // the watch had not delivered the patch yet
    hub.report(pass({ 'Instance/web2': 9 }));
    await Promise.resolve();
    expect(got).toBeUndefined();
    const third = pass({ 'Instance/web1': 3 });
    hub.report(third);
    await waiting;
    expect(got).toBe(third);
    expect(hub.waiting).toBe(0);
  });

  it('given the process stops leading, every waiting job fails with the reason and nothing is left waiting', async () => {
    const hub = new KubePassHub();
    const a = hub.after('Instance/a', 1, ctx());
    const b = hub.after('Node/n1', 4, ctx());
    hub.abort('this replica stopped leading');
    await expect(a).rejects.toThrow('this replica stopped leading');
    await expect(b).rejects.toThrow('this replica stopped leading');
    expect(hub.waiting).toBe(0);
  });

  it('given no pass reads the generation in time, the job fails saying the change is in the custom resource', async () => {
    vi.useFakeTimers();
    try {
      const hub = new KubePassHub({ timeoutMs: 5_000 });
      const w = hub.after('Instance/a', 2, ctx());
      const failed = expect(w).rejects.toThrow(/no reconcile pass read generation 2 of Instance\/a within 5 s .*the change is in the custom resource/);
      await vi.advanceTimersByTimeAsync(5_001);
      await failed;
      expect(hub.waiting).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('given a pass that observed the nodes, it keeps that observation and tells the listeners (the view rebuilds)', () => {
    const hub = new KubePassHub({ now: () => Date.parse('2026-11-29T09:00:00Z') });
    const seen = vi.fn();
    hub.onObserved(seen);
    const observed = { nodes: new Map() } as never;
    hub.report({ ...pass({}), observed });
    expect(seen).toHaveBeenCalledTimes(1);
    expect(hub.observed).toEqual({ observed, observedAt: '2026-11-29T09:00:00.000Z' });
  });
});
