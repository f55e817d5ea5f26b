import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Controller } from './controller.js';
import { FakeClock } from './fake-clock.js';
import { WorkQueue } from './workqueue.js';
import { silentLogger } from '../util/log.js';

type Op = { kind: 'add'; key: string } | { kind: 'addAfter'; key: string; ms: number } | { kind: 'tick'; ms: number } | { kind: 'finish'; slot: number };

const keyArb = fc.constantFrom('cluster', 'Node/n1', 'Node/n2', 'Instance/web1');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), key: keyArb }),
  fc.record({ kind: fc.constant('addAfter' as const), key: keyArb, ms: fc.integer({ min: 1, max: 5_000 }) }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
  fc.record({ kind: fc.constant('finish' as const), slot: fc.nat(3) }),
);

describe('WorkQueue properties', () => {
  it('given any interleaving of adds, delays and completions, it never runs a key twice at once and runs every key added after its last run started', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 1, max: 3 }), async (ops, workers) => {
        const clock = new FakeClock();
        const q = new WorkQueue({ clock });
        const active = new Set<string>();
        const pending: { key: string; finish: () => void }[] = [];
        /** Per key: time of the last add that must be followed by a run, and of the last run start. */
        const lastAdd = new Map<string, number>();
        const lastStart = new Map<string, number>();
        let seq = 0;
        const ctl = new Controller({
          queue: q, workers, clock, logger: silentLogger(),
          reconcile: (key) => {
            expect(active.has(key)).toBe(false);
            active.add(key);
            lastStart.set(key, ++seq);
            return new Promise<void>((resolve) => pending.push({ key, finish: () => { active.delete(key); resolve(); } }));
          },
        });
        ctl.start();
        for (const op of ops) {
          if (op.kind === 'add') {
            lastAdd.set(op.key, ++seq);
            q.add(op.key);
          } else if (op.kind === 'addAfter') {
            q.addAfter(op.key, op.ms);
          } else if (op.kind === 'tick') {
            await clock.advance(op.ms);
          } else {
            pending.splice(op.slot % Math.max(1, pending.length), 1)[0]?.finish();
          }
          await clock.tick();
        }
        // Let everything run out: finish whatever is running until the queue is idle.
        for (let guard = 0; guard < 1_000 && (pending.length > 0 || q.len() > 0 || q.delayed() > 0); guard++) {
          pending.shift()?.finish();
          await clock.advance(5_000);
        }
        for (const [key, at] of lastAdd) expect(lastStart.get(key) ?? 0).toBeGreaterThan(at);
        await ctl.stop();
        expect(active.size).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});
