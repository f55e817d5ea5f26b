import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSysctlKey, sysctlReadCmd, sysctlWriteCmd } from './commands.js';
import { sysctlSetOp, type SysctlSetParams } from './ops.js';
import { parseSysctl, unknownKeys } from './parse.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/sysctl/${f}`, import.meta.url), 'utf8');
const res = (stdout: string, code = 0, stderr = '') => ({ argv: ['sysctl'], code, stdout, stderr, durationMs: 1 });
const act = (key: string, value: string): SysctlSetParams => ({ key, value });

describe('sysctl driver', () => {
  it('given real "sysctl KEY..." output it maps keys to whitespace-normalised values', () => {
    expect(parseSysctl(golden('sysctl.txt'))).toEqual({
      'net.ipv4.ip_forward': '0', 'net.ipv4.conf.all.forwarding': '0',
      'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_rmem': '4096 131072 33554432',
    });
  });
  it('given real output with an unknown key it keeps the known ones and names the unknown', () => {
    expect(Object.keys(parseSysctl(golden('sysctl-missing.txt')))).toEqual(['net.ipv4.ip_forward', 'net.ipv4.conf.all.forwarding']);
    expect(unknownKeys(golden('sysctl-missing.stderr.txt'))).toEqual(['net.nope.key']);
  });
  it('given keys and values it builds read and -w argv, rejecting odd keys', () => {
    expect(sysctlReadCmd(['net.ipv4.ip_forward', 'vm.swappiness'])).toEqual(['sysctl', 'net.ipv4.ip_forward', 'vm.swappiness']);
    expect(sysctlWriteCmd('net.ipv4.ip_local_port_range', '1024 65000')).toEqual(['sysctl', '-w', 'net.ipv4.ip_local_port_range=1024 65000']);
    expect(checkSysctlKey('net.ipv4.conf.eth0/10.rp_filter')).toBe('net.ipv4.conf.eth0/10.rp_filter');
    for (const bad of ['-p', 'forward', 'net..x', 'net.ipv4.-a', 'net ipv4', 'a.b=c']) expect(() => checkSysctlKey(bad)).toThrow(/invalid sysctl key/);
    expect(() => sysctlWriteCmd('vm.swappiness', '1\n2')).toThrow(/invalid sysctl value/);
  });
  it('given the live value already matches it decides noop, and given another value it writes', () => {
    expect(sysctlSetOp.decide(act('net.ipv4.ip_forward', '0'), [res(golden('sysctl.txt'))])).toEqual({ kind: 'noop' });
    expect(sysctlSetOp.decide(act('net.ipv4.ip_local_port_range', '32768   60999'), [res(golden('sysctl.txt'))])).toEqual({ kind: 'noop' });
    expect(sysctlSetOp.decide(act('net.ipv4.ip_forward', '1'), [res(golden('sysctl.txt'))])).toEqual({ kind: 'run', commands: [['sysctl', '-w', 'net.ipv4.ip_forward=1']] });
  });
  it('given an unknown key it refuses with a prereq error', () => {
    const d = sysctlSetOp.decide(act('net.nope.key', '1'), [res('', 255, golden('sysctl-missing.stderr.txt'))]);
    expect(d.kind === 'refuse' && d.error.code).toBe('SYSCTL_UNKNOWN_KEY');
  });
});
