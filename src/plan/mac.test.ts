import { describe, expect, it } from 'vitest';
import { generateMac, validateMacPrefix } from './mac.js';

describe('generateMac', () => {
  const req = { prefix: 'AA:00:00', seed: 'cluster-uuid-1', instance: 'web1', nicIndex: 0 };

  it('given the same inputs, it returns the same unicast address under the prefix', () => {
    const mac = generateMac(req);
    expect(mac).toMatch(/^aa:00:00(:[0-9a-f]{2}){3}$/);
    expect(generateMac(req)).toBe(mac);
    expect(generateMac({ ...req, nicIndex: 1 })).not.toBe(mac);
    expect(generateMac({ ...req, seed: 'cluster-uuid-2' })).not.toBe(mac);
  });

  it('given the derived address is taken, it re-hashes to the next free one, deterministically', () => {
    const first = generateMac(req);
    const second = generateMac({ ...req, used: [first.toUpperCase()] });
    expect(second).not.toBe(first);
    expect(generateMac({ ...req, used: new Set([first]) })).toBe(second);
  });

  it('given a one-address pool that is used, it fails with a reason', () => {
    const used = new Set<string>();
    const prefix = 'aa:00:00:00:00';
    for (let b = 0; b < 256; b++) used.add(`${prefix}:${b.toString(16).padStart(2, '0')}`);
    expect(() => generateMac({ ...req, prefix, used, maxAttempts: 64 })).toThrow(/no free MAC/);
  });

  it('given a bad or multicast prefix, it refuses', () => {
    expect(() => validateMacPrefix('zz:00')).toThrow(/hex octets/);
    expect(() => validateMacPrefix('01:00:5e')).toThrow(/multicast/);
    expect(validateMacPrefix('52:54:00')).toBe('52:54:00');
  });
});
