/**
 * Ganeti's RAPI users file (lib/rapi/users.py, doc/rapi.rst "Users and passwords"): one
 * user a line, `NAME PASSWORD [OPTIONS]`, `#` comments; the password is plain text,
 * `{CLEARTEXT}text`, or `{HA1}hex` = md5("NAME:Ganeti Remote API:PASSWORD"); options are
 * a comma-separated list of `read` and `write` (write implies read). A line that cannot
 * be read is an error naming the file and line, never a user silently dropped.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PrereqError } from '../util/errors.js';

export const RAPI_REALM = 'Ganeti Remote API';

export type Access = 'read' | 'write';

export interface RapiUser {
  readonly name: string;
  /** `{HA1}hex` or the clear-text password. */
  readonly password: string;
  readonly access: ReadonlySet<Access>;
}

export type UsersFile = ReadonlyMap<string, RapiUser>;

const OPTIONS: ReadonlySet<string> = new Set(['read', 'write']);

/** Parse a users file's text; `file` names it in errors (USERS_FILE_INVALID with line and field). */
export function parseUsers(text: string, file: string): UsersFile {
  const users = new Map<string, RapiUser>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (field: string, message: string) => new PrereqError('USERS_FILE_INVALID', `${file}:${i + 1}: ${field}: ${message}`, { file, line: i + 1, field });
    const [name, password, options, ...rest] = line.split(/\s+/);
    if (password === undefined) throw fail('password', `user ${JSON.stringify(name)} has no password`);
    if (rest.length > 0) throw fail('options', `unexpected ${JSON.stringify(rest.join(' '))} after the options (options are one comma-separated word)`);
    const opts = options === undefined ? [] : options.split(',').filter((o) => o !== '');
    const bad = opts.find((o) => !OPTIONS.has(o.toLowerCase()));
    if (bad !== undefined) throw fail('options', `unknown option ${JSON.stringify(bad)} (known: read, write)`);
    if (/^\{HA1\}/i.test(password) && !/^\{HA1\}[0-9a-f]{32}$/i.test(password)) throw fail('password', '{HA1} must be followed by 32 hex digits');
    if (users.has(name!)) throw fail('name', `user ${JSON.stringify(name)} is listed twice`);
    const access = new Set<Access>(['read']);
    if (opts.some((o) => o.toLowerCase() === 'write')) access.add('write');
    users.set(name!, { name: name!, password: password.replace(/^\{CLEARTEXT\}/i, ''), access });
  });
  return users;
}

export async function loadUsers(file: string): Promise<UsersFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new PrereqError('USERS_FILE_INVALID', `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  return parseUsers(text, file);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** HA1 as Ganeti stores it: md5("user:realm:password") in hex. */
export function ha1(user: string, password: string, realm = RAPI_REALM): string {
  return createHash('md5').update(`${user}:${realm}:${password}`).digest('hex');
}

/** The user these credentials name, when the password matches; undefined otherwise. */
export function checkPassword(users: UsersFile, name: string, password: string): RapiUser | undefined {
  const u = users.get(name);
  if (!u) return undefined;
  const m = /^\{HA1\}([0-9a-f]{32})$/i.exec(u.password);
  const ok = m ? sameText(ha1(name, password), m[1]!.toLowerCase()) : sameText(password, u.password);
  return ok ? u : undefined;
}

/** Credentials of an `Authorization: Basic ...` header, or undefined when it is absent or not Basic. */
export function parseBasicAuth(header: string | undefined): { name: string; password: string } | undefined {
  const m = header === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { name: text.slice(0, colon), password: text.slice(colon + 1) };
}
