import { describe, expect, it } from 'vitest';
import { mergePatch } from '../../test/helpers/kube-api-double.js';
import { mergePatchOf } from './merge-patch.js';

describe('mergePatchOf', () => {
  it('given a changed, an added and a removed key, it sets the first two and nulls the third', () => {
    const before = { powerState: 'running', tags: ['a'], os: { name: 'deb', params: { x: '1' } } };
    const after = { powerState: 'stopped', tags: ['a'], os: { name: 'deb' }, restartGeneration: 1 };
    expect(mergePatchOf(before, after)).toEqual({ powerState: 'stopped', os: { params: null }, restartGeneration: 1 });
  });

  it('given arrays that differ, it replaces the whole array (merge patch has no array diff)', () => {
    expect(mergePatchOf({ disks: [{ size: '1G' }, { size: '2G' }] }, { disks: [{ size: '1G' }] })).toEqual({ disks: [{ size: '1G' }] });
  });

  it('given equal values, it returns undefined', () => {
    expect(mergePatchOf({ a: { b: [1] } }, { a: { b: [1] } })).toBeUndefined();
  });

  it('given a null in the target, it refuses (a merge patch would delete the key instead)', () => {
    expect(() => mergePatchOf({ a: 1 }, { a: null })).toThrow(/\.a: a JSON merge patch cannot set null/);
  });

  it('given random edits, applying the patch (RFC 7386, as the API double does) gives the target', () => {
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const value = (depth: number): unknown => {
      const k = rnd(depth > 2 ? 3 : 5);
      if (k === 0) return rnd(10);
      if (k === 1) return `s${rnd(3)}`;
      if (k === 2) return [rnd(3), rnd(3)].slice(0, rnd(3));
      return Object.fromEntries(Array.from({ length: rnd(4) }, () => [`k${rnd(4)}`, value(depth + 1)]));
    };
    for (let i = 0; i < 300; i++) {
      const a = { spec: value(0) };
      const b = { spec: value(0) };
      const p = mergePatchOf(a, b);
      expect(p === undefined ? a : mergePatch(a, p)).toEqual(b);
    }
  });
});
