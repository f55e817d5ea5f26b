import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HOSTNAME_RE, IFNAME_RE, validateDocument } from './index.js';

const node = (spec: Record<string, unknown>, name = 'node1') => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Node', metadata: { name }, spec });

describe('validateDocument', () => {
  it('given a valid node, it returns no issues', () => {
    expect(validateDocument('Node', node({ address: '192.0.2.1', ssh: { hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabc root@n1' } }))).toEqual([]);
  });

  it('given an unknown key, it names it, points at the key and suggests the closest field', () => {
    expect(validateDocument('Node', node({ address: '192.0.2.1', adress: 'x' }))).toEqual([
      { path: ['spec', 'adress'], at: 'key', code: 'unknown-field', message: 'unknown field "adress" (did you mean "address"?)' },
    ]);
  });

  it('given a bad size, it says it is not a size once (no int-or-string branch noise)', () => {
    const issues = validateDocument('Node', node({ address: '192.0.2.1', memory: '10X' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: ['spec', 'memory'], code: 'bad-size' });
    expect(issues[0]!.message).toMatch(/^"10X" is not a size/);
  });

  it('given interface names with shell characters or dots only, it rejects them', () => {
    const re = new RegExp(IFNAME_RE);
    for (const bad of ['.', '..', '-x', 'br0;ls', 'br 0', '$(id)', 'a234567890123456']) expect(re.test(bad), bad).toBe(false);
    for (const good of ['br0', 'eth0.42', 'ovs_br-1', 'a23456789012345']) expect(re.test(good), good).toBe(true);
  });

  it('given any string a hostname pattern accepts, it contains no shell metacharacters', () => {
    const re = new RegExp(HOSTNAME_RE);
    fc.assert(fc.property(fc.string(), (s) => {
      if (re.test(s)) expect(s).toMatch(/^[a-z0-9.-]+$/);
    }));
  });
});
