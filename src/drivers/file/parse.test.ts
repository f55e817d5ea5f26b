import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isMissing, parseInfo, parseInfoStream } from './parse.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/file/${f}`, import.meta.url), 'utf8');

describe('qemu-img info parsers (real qemu-img 7.2 output)', () => {
  it('given one qcow2 info object it reads path, format and virtual size in MiB', () => {
    expect(parseInfo(golden('info-qcow2.json'))).toEqual({ path: 'disks/web1.disk1', format: 'qcow2', virtualSizeMiB: 96 });
  });
  it('given find -exec output with several objects it parses each', () => {
    expect(parseInfoStream(golden('find-exec-info.json'))).toEqual([
      { path: '/tmp/gdrvcap/disks/web1.disk1', format: 'qcow2', virtualSizeMiB: 96 },
      { path: '/tmp/gdrvcap/disks/web1.disk0', format: 'raw', virtualSizeMiB: 48 },
    ]);
  });
  it('given an empty directory listing it returns nothing and given truncated JSON it throws', () => {
    expect(parseInfoStream('')).toEqual([]);
    // A reinstall's mark (an empty file beside its image, real find + qemu-img info 7.2) reads as a raw image of 0 MiB.
    expect(parseInfoStream(golden('find-exec-info-reinstall-mark.json'))).toEqual([
      expect.objectContaining({ path: '/srv/gantry/disks/web1.disk0.img.reinstall', format: 'raw', virtualSizeMiB: 0 }),
      expect.objectContaining({ path: '/srv/gantry/disks/web1.disk0.img', format: 'raw', virtualSizeMiB: 8 }),
    ]);
    expect(() => parseInfoStream('{ "filename": "/a", ')).toThrow(/unbalanced/);
  });
  it('given braces inside strings it still splits objects correctly', () => {
    const two = '{"filename":"/d/a{b","format":"raw","virtual-size":1048576}{"filename":"/d/c}\\"","format":"raw","virtual-size":0}';
    expect(parseInfoStream(two).map((f) => f.path)).toEqual(['/d/a{b', '/d/c}"']);
  });
  it('given the real error for a missing image it recognises "missing"', () => {
    expect(isMissing(golden('info-missing.stderr.txt'))).toBe(true);
    expect(isMissing('qemu-img: Could not open: Permission denied')).toBe(false);
  });
});
