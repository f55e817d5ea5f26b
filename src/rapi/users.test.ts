import { describe, expect, it } from 'vitest';
import { checkPassword, ha1, parseBasicAuth, parseUsers } from './users.js';

describe('RAPI users file (Ganeti format)', () => {
  const text = [
    '# comment',
    '',
    'alice secret write',
    `bob {HA1}${ha1('bob', 'pw')} read`,
    'carol {CLEARTEXT}pass',
    'dave   spaced   read,write',
  ].join('\n');

  it('given plain, {CLEARTEXT} and {HA1} passwords, it accepts the right password and refuses a wrong one', () => {
    const users = parseUsers(text, 'users');
    expect(checkPassword(users, 'alice', 'secret')?.name).toBe('alice');
    expect(checkPassword(users, 'alice', 'Secret')).toBeUndefined();
    expect(checkPassword(users, 'bob', 'pw')?.name).toBe('bob');
    expect(checkPassword(users, 'bob', `{HA1}${ha1('bob', 'pw')}`)).toBeUndefined();
    expect(checkPassword(users, 'carol', 'pass')?.name).toBe('carol');
    expect(checkPassword(users, 'nobody', 'x')).toBeUndefined();
  });

  it('given options, it grants write only to users with write, and read to everyone', () => {
    const users = parseUsers(text, 'users');
    expect([...users.get('alice')!.access].sort()).toEqual(['read', 'write']);
    expect([...users.get('bob')!.access]).toEqual(['read']);
    expect([...users.get('carol')!.access]).toEqual(['read']);
    expect([...users.get('dave')!.access].sort()).toEqual(['read', 'write']);
  });

  it('given HA1 computed as Ganeti documents it, it matches md5("user:Ganeti Remote API:password")', () => {
    // printf 'jack:Ganeti Remote API:abc123' | md5sum
    expect(ha1('jack', 'abc123')).toBe('54c12257ee9be413f2f3182435514aae');
  });

  it('given a bad line, it names the file, the line and the field', () => {
    expect(() => parseUsers('ok pw\nlonely\n', '/etc/users')).toThrow('/etc/users:2: password: user "lonely" has no password');
    expect(() => parseUsers('a pw admin\n', 'f')).toThrow('f:1: options: unknown option "admin"');
    expect(() => parseUsers('a {HA1}xyz\n', 'f')).toThrow('f:1: password: {HA1} must be followed by 32 hex digits');
    expect(() => parseUsers('a x\na y\n', 'f')).toThrow('f:2: name: user "a" is listed twice');
  });

  it('given an Authorization header, it reads Basic credentials (passwords may hold colons) and nothing else', () => {
    const b64 = Buffer.from('alice:se:cret').toString('base64');
    expect(parseBasicAuth(`Basic ${b64}`)).toEqual({ name: 'alice', password: 'se:cret' });
    expect(parseBasicAuth('Bearer abc')).toBeUndefined();
    expect(parseBasicAuth(undefined)).toBeUndefined();
    expect(parseBasicAuth(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBeUndefined();
  });
});
