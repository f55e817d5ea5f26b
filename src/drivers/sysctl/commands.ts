/** Pure argv builders for sysctl. Keys are read by name so output lines carry the key. */
import { PrereqError } from '../../util/errors.js';

// dotted names; '/' stands for a '.' inside an interface name (net.ipv4.conf.eth0/10.rp_filter)
const KEY = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_/:+@-]+)+$/;

export function checkSysctlKey(key: string): string {
  if (!KEY.test(key) || key.includes('..') || key.split('.').some((p) => p.startsWith('-'))) {
    throw new PrereqError('INVALID_NAME', `invalid sysctl key ${JSON.stringify(key)}`);
  }
  return key;
}

export function checkSysctlValue(value: string): string {
  if (/[\n\r\0]/.test(value) || value.length > 4096) throw new PrereqError('INVALID_NAME', `invalid sysctl value ${JSON.stringify(value)}`);
  return value;
}

/** `sysctl KEY...` prints "key = value" lines; an unknown key goes to stderr, the rest still print. */
export const sysctlReadCmd = (keys: readonly string[]): string[] => ['sysctl', ...keys.map(checkSysctlKey)];
export const sysctlWriteCmd = (key: string, value: string): string[] => ['sysctl', '-w', `${checkSysctlKey(key)}=${checkSysctlValue(value)}`];
