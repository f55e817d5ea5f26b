import { describe, expect, it } from 'vitest';
import { diskLvName, diskMetaLvName, instanceOfDiskLv } from './naming.js';

/** The pattern instanceOfDiskLv implements by hand (the names diskLvName and diskMetaLvName make). */
const LV_RE = /^(.+)\.disk(\d+)(_meta)?$/;
const byPattern = (name: string) => {
  const m = LV_RE.exec(name);
  return m ? { instance: m[1]!, index: Number(m[2]), meta: m[3] !== undefined } : undefined;
};

describe('LV names made for a disk (naming.instanceOfDiskLv)', () => {
  it('given the names Gantry makes, it reads back the instance, the index and the meta flag', () => {
    expect(instanceOfDiskLv(diskLvName('web1', 0))).toEqual({ instance: 'web1', index: 0, meta: false });
    expect(instanceOfDiskLv(diskMetaLvName('db.disk1', 12))).toEqual({ instance: 'db.disk1', index: 12, meta: true });
    expect(instanceOfDiskLv('web1.disk')).toBeUndefined();
    expect(instanceOfDiskLv('.disk0')).toBeUndefined();
  });

  it('given 20,000 seeded random names built from the pattern\'s pieces, it answers as the pattern does', () => {
    const pieces = ['a', 'web1', '.', '.disk', 'disk', '0', '7', '12', '_meta', '_', 'meta', '\n', '\u2028', '-', '.disk0'];
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 20_000; i++) {
      let name = '';
      const n = 1 + Math.floor(next() * 6);
      for (let k = 0; k < n; k++) name += pieces[Math.floor(next() * pieces.length)];
      expect(instanceOfDiskLv(name), JSON.stringify(name)).toEqual(byPattern(name));
    }
  });
});
