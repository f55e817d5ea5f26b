import { describe, expect, it } from 'vitest';
import { ExponentialBackoff } from './backoff.js';

describe('ExponentialBackoff', () => {
  it('given repeated failures without jitter, it doubles from 1 s and caps at 5 min', () => {
    const b = new ExponentialBackoff({ random: () => 0 });
    const delays = Array.from({ length: 12 }, () => b.when('Node/n1'));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000]);
    expect(b.retries('Node/n1')).toBe(12);
  });

  it('given jitter, it adds at most the jitter fraction and never exceeds the cap', () => {
    const b = new ExponentialBackoff({ random: () => 0.999, jitter: 0.1 });
    expect(b.when('k')).toBe(1_100);
    for (let i = 0; i < 20; i++) expect(b.when('k')).toBeLessThanOrEqual(300_000);
  });

  it('given a thousand failures, it still returns the cap (no overflow to NaN)', () => {
    const b = new ExponentialBackoff({ random: () => 0.5 });
    let last = 0;
    for (let i = 0; i < 1_100; i++) last = b.when('k');
    expect(last).toBe(300_000);
  });

  it('given forget, it starts again from the base delay and leaves other keys alone', () => {
    const b = new ExponentialBackoff({ random: () => 0 });
    b.when('a');
    b.when('a');
    b.when('b');
    b.forget('a');
    expect(b.retries('a')).toBe(0);
    expect(b.when('a')).toBe(1_000);
    expect(b.when('b')).toBe(2_000);
  });

  it('given an inverted range, it refuses to build', () => {
    expect(() => new ExponentialBackoff({ baseMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});
