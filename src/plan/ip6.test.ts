import { describe, expect, it } from 'vitest';
import { eui64Address } from './ip6.js';

describe('eui64Address', () => {
  it('given a MAC and a /64, it flips the universal/local bit and puts ff:fe in the middle (RFC 4291)', () => {
    // The kernel derives the same identifier for this MAC: fe80::a800:ff:fe00:1 (checked with `ip -6 addr` on a veth).
    expect(eui64Address('2001:2:0:40::/64', 'aa:00:00:00:00:01')).toBe('2001:2:0:40:a800:ff:fe00:1');
    expect(eui64Address('2001:db8::/48', '52:54:00:12:34:56')).toBe('2001:db8::5054:ff:fe12:3456');
  });

  it('given a subnet longer than /64 or a bad MAC, it refuses', () => {
    expect(() => eui64Address('2001:2::/96', 'aa:00:00:00:00:01')).toThrow(/longer than \/64/);
    expect(() => eui64Address('2001:2::/64', 'aa:00:00:00:01')).toThrow(/not a MAC/);
  });
});
