import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBootId, parseLine, parseMeminfo, parseNproc } from './parse.js';
import { checkIfName, checkName, checkPath } from './shared.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/facts/${f}`, import.meta.url), 'utf8');

describe('facts parsers', () => {
  it('given real /proc/meminfo it reports total and available MiB rounded down', () => {
    const m = parseMeminfo(golden('proc-meminfo.txt'));
    expect(m.totalMiB).toBe(Math.floor(24684092 / 1024));
    expect(m.freeMiB).toBe(Math.floor(24353640 / 1024));
  });
  it('given meminfo without MemAvailable it adds free, buffers and cache', () => {
    expect(parseMeminfo('MemTotal: 2048 kB\nMemFree: 1024 kB\nBuffers: 512 kB\nCached: 512 kB\n')).toEqual({ totalMiB: 2, freeMiB: 2 });
  });
  it('given text without MemTotal it throws a parse error', () => {
    expect(() => parseMeminfo('garbage')).toThrow(/MemTotal/);
  });
  it('given real hostname, uname -r and nproc output it reads them', () => {
    expect(parseLine(golden('hostname.txt'), 'hostname')).toBe('vm');
    expect(parseLine(golden('uname-r.txt'), 'uname')).toBe('6.18.44-fc-v657');
    expect(parseNproc(golden('nproc.txt'))).toBe(2);
    expect(() => parseNproc('zero\n')).toThrow();
  });
  it('given this machine\'s /proc/sys/kernel/random/boot_id it reads the UUID, and given anything else it throws', () => {
    expect(parseBootId(golden('boot_id.txt'))).toBe(golden('boot_id.txt').trim());
    expect(parseBootId(golden('boot_id.txt'))).toMatch(/^[0-9a-f-]{36}$/);
    expect(() => parseBootId('cat: /proc/sys/kernel/random/boot_id: No such file\n')).toThrow(/not a UUID/);
  });
});

describe('name checks', () => {
  it('given safe names it returns them and given unsafe ones it throws', () => {
    expect(checkName('lv', 'web1.disk0_data')).toBe('web1.disk0_data');
    for (const bad of ['', '-rf', 'a b', 'a/b', 'a;b', '..', 'x$(y)']) expect(() => checkName('lv', bad)).toThrow(/invalid lv name/);
  });
  it('given interface names it enforces the 15-byte kernel limit', () => {
    expect(checkIfName('br-cap')).toBe('br-cap');
    expect(() => checkIfName('a-very-long-bridge0')).toThrow();
    expect(() => checkIfName('eth0:1')).toThrow();
  });
  it('given paths it accepts absolute clean paths only', () => {
    expect(checkPath('/srv/ganeti/file-storage/web1.disk0')).toBe('/srv/ganeti/file-storage/web1.disk0');
    for (const bad of ['rel/x', '/a/../b', '/a//b', '/a/b c', '/']) expect(() => checkPath(bad)).toThrow();
  });
});
