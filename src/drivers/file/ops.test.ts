import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fileCreateOp, fileGrowOp, fileRemoveOp } from './ops.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/file/${f}`, import.meta.url), 'utf8');
const res = (code: number, stdout: string, stderr = '') => ({ argv: ['x'], code, stdout, stderr, durationMs: 1 });
const info = () => [res(0, golden('info-qcow2.json'))];
const missing = () => res(1, '', golden('info-missing.stderr.txt'));
const dir = () => res(0, golden('stat-dir.txt'));
const noDir = () => res(1, '', golden('stat-missing.stderr.txt'));
const base = { path: '/srv/disks/web1.disk1' };

describe('file disk ensures against real qemu-img and stat output', () => {
  it('given a missing image in an existing storage directory it creates it and makes no directory', () => {
    expect(fileCreateOp.read({ ...base, sizeMiB: 96, format: 'qcow2' })).toEqual([
      ['qemu-img', 'info', '-U', '--output=json', '/srv/disks/web1.disk1'], ['stat', '-L', '-c', '%F', '--', '/srv/disks']]);
    expect(fileCreateOp.decide({ ...base, sizeMiB: 96, format: 'qcow2' }, [missing(), dir()])).toEqual({ kind: 'run', commands: [
      ['qemu-img', 'create', '-q', '-f', 'qcow2', '/srv/disks/web1.disk1', '96M']] });
  });
  it('given a reinstall\'s mark it touches the empty mark file before creating the image, and never when the image exists', () => {
    const a = { ...base, sizeMiB: 96, format: 'qcow2' as const, mark: '/srv/disks/web1.disk1.reinstall' };
    expect(fileCreateOp.decide(a, [missing(), dir()])).toEqual({ kind: 'run', commands: [
      ['touch', '--', '/srv/disks/web1.disk1.reinstall'], ['qemu-img', 'create', '-q', '-f', 'qcow2', '/srv/disks/web1.disk1', '96M']] });
    expect(fileCreateOp.decide(a, [...info(), dir()])).toEqual({ kind: 'noop' });
  });
  it('given a missing storage directory it refuses, naming it, and runs nothing (no mkdir -p)', () => {
    const d = fileCreateOp.decide({ ...base, sizeMiB: 96, format: 'raw' }, [missing(), noDir()]);
    expect(d.kind === 'refuse' && [d.error.code, d.error.message]).toEqual(['FILE_STORAGE_DIR_MISSING', expect.stringContaining('/srv/disks does not exist')]);
    expect(fileCreateOp.describe({ ...base, sizeMiB: 96, format: 'raw' }).flat()).not.toContain('mkdir');
  });
  it('given a storage path that is a file it refuses', () => {
    const d = fileCreateOp.decide({ ...base, sizeMiB: 96, format: 'raw' }, [missing(), res(0, golden('stat-file.txt'))]);
    expect(d.kind === 'refuse' && d.error.code).toBe('FILE_STORAGE_DIR_NOT_DIR');
  });
  it('given an existing image of the same format it never recreates it (qemu-img create overwrites)', () => {
    expect(fileCreateOp.decide({ ...base, sizeMiB: 96, format: 'qcow2' }, [...info(), dir()])).toEqual({ kind: 'noop' });
    const d = fileCreateOp.decide({ ...base, sizeMiB: 96, format: 'raw' }, [...info(), dir()]);
    expect(d.kind === 'refuse' && d.error.code).toBe('FILE_FORMAT_MISMATCH');
  });
  it('given grow with the declared format it resizes with -f of that format; same size is noop; smaller is refused', () => {
    expect(fileGrowOp.decide({ ...base, sizeMiB: 128, format: 'qcow2' }, info())).toEqual({ kind: 'run', commands: [['qemu-img', 'resize', '-q', '-f', 'qcow2', '/srv/disks/web1.disk1', '128M']] });
    expect(fileGrowOp.decide({ ...base, sizeMiB: 96, format: 'qcow2' }, info())).toEqual({ kind: 'noop' });
    const d = fileGrowOp.decide({ ...base, sizeMiB: 10, format: 'qcow2' }, info());
    expect(d.kind === 'refuse' && [d.error.code, d.error.errorClass]).toEqual(['FILE_SHRINK_REFUSED', 'terminal']);
  });
  it('given a raw disk that probes as qcow2 (a guest wrote a header) it refuses to grow it instead of trusting the probe', () => {
    const d = fileGrowOp.decide({ ...base, sizeMiB: 128 }, info());
    expect(d.kind === 'refuse' && [d.error.code, d.error.message]).toEqual(['FILE_FORMAT_MISMATCH', expect.stringContaining('reads as qcow2, declared raw')]);
    expect(fileGrowOp.describe({ ...base, sizeMiB: 128 })).toEqual([['qemu-img', 'resize', '-q', '-f', 'raw', '/srv/disks/web1.disk1', '128M']]);
  });
  it('given remove of a missing image it is noop, of a present one it rm -f', () => {
    expect(fileRemoveOp.decide(base, [missing()])).toEqual({ kind: 'noop' });
    expect(fileRemoveOp.decide(base, info())).toEqual({ kind: 'run', commands: [['rm', '-f', '--', '/srv/disks/web1.disk1']] });
  });
});
