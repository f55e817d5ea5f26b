import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fileCreateOp, fileGrowOp, fileRemoveOp } from './ops.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/file/${f}`, import.meta.url), 'utf8');
const info = () => [{ argv: ['qemu-img'], code: 0, stdout: golden('info-qcow2.json'), stderr: '', durationMs: 1 }];
const missing = () => [{ argv: ['qemu-img'], code: 1, stdout: '', stderr: golden('info-missing.stderr.txt'), durationMs: 1 }];
const base = { node: 'n1', subject: 'Instance/web1', reason: 'r', path: '/srv/disks/web1.disk1' };

describe('file disk ensures against real qemu-img output', () => {
  it('given a missing image it makes the directory and creates it', () => {
    expect(fileCreateOp.decide({ verb: 'file.create', ...base, sizeMiB: 96, format: 'qcow2' }, missing())).toEqual({ kind: 'run', commands: [
      ['mkdir', '-p', '--', '/srv/disks'], ['qemu-img', 'create', '-q', '-f', 'qcow2', '/srv/disks/web1.disk1', '96M']] });
  });
  it('given an existing image of the same format it never recreates it (qemu-img create overwrites)', () => {
    expect(fileCreateOp.decide({ verb: 'file.create', ...base, sizeMiB: 96, format: 'qcow2' }, info())).toEqual({ kind: 'noop' });
    const d = fileCreateOp.decide({ verb: 'file.create', ...base, sizeMiB: 96, format: 'raw' }, info());
    expect(d.kind === 'refuse' && d.error.code).toBe('FILE_FORMAT_MISMATCH');
  });
  it('given grow to a bigger size it resizes with the probed format; same size is noop; smaller is refused', () => {
    expect(fileGrowOp.decide({ verb: 'file.grow', ...base, sizeMiB: 128 }, info())).toEqual({ kind: 'run', commands: [['qemu-img', 'resize', '-q', '-f', 'qcow2', '/srv/disks/web1.disk1', '128M']] });
    expect(fileGrowOp.decide({ verb: 'file.grow', ...base, sizeMiB: 96 }, info())).toEqual({ kind: 'noop' });
    const d = fileGrowOp.decide({ verb: 'file.grow', ...base, sizeMiB: 10 }, info());
    expect(d.kind === 'refuse' && [d.error.code, d.error.errorClass]).toEqual(['FILE_SHRINK_REFUSED', 'terminal']);
  });
  it('given remove of a missing image it is noop, of a present one it rm -f', () => {
    expect(fileRemoveOp.decide({ verb: 'file.remove', ...base }, missing())).toEqual({ kind: 'noop' });
    expect(fileRemoveOp.decide({ verb: 'file.remove', ...base }, info())).toEqual({ kind: 'run', commands: [['rm', '-f', '--', '/srv/disks/web1.disk1']] });
  });
});
