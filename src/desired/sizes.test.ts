import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatMiB, parseSize } from './sizes.js';

describe('parseSize', () => {
  it('given the units a Ganeti admin writes, it returns MiB', () => {
    expect(parseSize('512M')).toBe(512);
    expect(parseSize('10G')).toBe(10240);
    expect(parseSize('20g')).toBe(20480);
    expect(parseSize('1T')).toBe(1048576);
    expect(parseSize('512MiB')).toBe(512);
    expect(parseSize('10GiB')).toBe(10240);
    expect(parseSize('1.5G')).toBe(1536);
    expect(parseSize('2048')).toBe(2048);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('100K')).toBe(1);
  });

  it('given something that is not a size, it returns undefined', () => {
    for (const bad of ['10X', '', 'G', '-1G', '1e3', '10 GB extra', '0x10']) expect(parseSize(bad), bad).toBeUndefined();
    expect(parseSize(-1)).toBeUndefined();
    expect(parseSize(1.5)).toBeUndefined();
  });

  it('given any whole number of a unit, it scales by powers of 1024', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(['M', 1], ['G', 1024], ['t', 1024 * 1024], ['GiB', 1024]), (n, [u, f]) => {
      expect(parseSize(`${n}${u}`)).toBe(n * (f as number));
    }));
  });

  it('given MiB counts, it formats them like gnt-* --units h', () => {
    expect(formatMiB(512)).toBe('512M');
    expect(formatMiB(10240)).toBe('10.0G');
    expect(formatMiB(1048576)).toBe('1.0T');
  });
});
