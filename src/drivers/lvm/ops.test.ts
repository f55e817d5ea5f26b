import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LvCreate, LvExtend } from '../../core/actions.js';
import { lvCreateOp, lvExtendOp, lvRemoveOp, vgEnsureOp } from './ops.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/lvm/${f}`, import.meta.url), 'utf8');
const ok = (stdout: string) => ({ argv: ['lvm'], code: 0, stdout, stderr: '', durationMs: 1 });
const reads = () => [ok(golden('vgs.json')), ok(golden('lvs.json'))];
const base = { node: 'n1', subject: 'Instance/web1', reason: 'r' };
const O = { activation: false };
const CFG = ['--config', 'global { activation = 0 }'];
const create = (p: Partial<LvCreate>): LvCreate => ({ verb: 'lv.create', ...base, vg: 'gdrvcap', name: 'disk0', sizeMiB: 16, tags: ['gantry'], ...p });
const extend = (sizeMiB: number, name = 'disk1b'): LvExtend => ({ verb: 'lv.extend', ...base, vg: 'gdrvcap', name, sizeMiB });

describe('lvm ensures against real reports', () => {
  it('given the LV exists with its size and tags it decides noop', () => {
    expect(lvCreateOp(O).decide(create({ tags: ['gantry', 'inst=web1'] }), reads())).toEqual({ kind: 'noop' });
  });
  it('given the LV exists smaller and missing a tag it extends and tags', () => {
    expect(lvCreateOp(O).decide(create({ sizeMiB: 32, tags: ['new'] }), reads())).toEqual({ kind: 'run', commands: [
      ['lvextend', ...CFG, '-L', '32m', 'gdrvcap/disk0'], ['lvchange', ...CFG, '--addtag', 'new', 'gdrvcap/disk0']] });
  });
  it('given a missing LV it creates it, and given too little space or no VG it refuses', () => {
    const d = lvCreateOp(O).decide(create({ name: 'disk2', sizeMiB: 8 }), reads());
    expect(d.kind === 'run' && d.commands[0]!.slice(0, 3)).toEqual(['lvcreate', ...CFG]);
    const big = lvCreateOp(O).decide(create({ name: 'disk2', sizeMiB: 4096 }), reads());
    expect(big.kind === 'refuse' && [big.error.code, big.error.errorClass]).toEqual(['VG_NO_SPACE', 'prereq']);
    const novg = lvCreateOp(O).decide(create({ vg: 'other' }), reads());
    expect(novg.kind === 'refuse' && novg.error.code).toBe('VG_MISSING');
  });
  it('given extend to the current size or within one extent it decides noop', () => {
    expect(lvExtendOp(O).decide(extend(24), reads())).toEqual({ kind: 'noop' });
    expect(lvExtendOp(O).decide(extend(22), reads())).toEqual({ kind: 'noop' });
  });
  it('given extend below the current size it refuses with a terminal shrink error', () => {
    const d = lvExtendOp(O).decide(extend(8), reads());
    expect(d.kind === 'refuse' && [d.error.code, d.error.errorClass, d.error.retryable]).toEqual(['LV_SHRINK_REFUSED', 'terminal', false]);
  });
  it('given extend of a missing LV it refuses, and given a bigger size it extends', () => {
    const d = lvExtendOp(O).decide(extend(64, 'nope'), reads());
    expect(d.kind === 'refuse' && d.error.code).toBe('LV_MISSING');
    expect(lvExtendOp(O).decide(extend(64), reads())).toEqual({ kind: 'run', commands: [['lvextend', ...CFG, '-L', '64m', 'gdrvcap/disk1b']] });
  });
  it('given remove of a missing LV it decides noop, of a present one it removes', () => {
    const rm = (name: string) => ({ verb: 'lv.remove' as const, ...base, vg: 'gdrvcap', name });
    expect(lvRemoveOp(O).decide(rm('nope'), reads())).toEqual({ kind: 'noop' });
    expect(lvRemoveOp(O).decide(rm('disk0'), reads())).toEqual({ kind: 'run', commands: [['lvremove', ...CFG, '-f', '-y', 'gdrvcap/disk0']] });
  });
  it('given a VG with all its PVs it decides noop; with a new PV it extends; a PV of another VG is refused', () => {
    const vg = (name: string, pvs: string[]) => ({ verb: 'vg.ensure' as const, ...base, name, pvs });
    const r = [ok(golden('vgs.json')), ok(golden('pvs.json'))];
    expect(vgEnsureOp(O).decide(vg('gdrvcap', ['/dev/loop0', '/dev/loop1']), r)).toEqual({ kind: 'noop' });
    expect(vgEnsureOp(O).decide(vg('gdrvcap', ['/dev/loop0', '/dev/loop2']), r)).toEqual({ kind: 'run', commands: [['vgextend', ...CFG, '-y', 'gdrvcap', '/dev/loop2']] });
    const d = vgEnsureOp(O).decide(vg('newvg', ['/dev/loop1']), r);
    expect(d.kind === 'refuse' && d.error.code).toBe('PV_IN_OTHER_VG');
    expect(vgEnsureOp(O).decide(vg('newvg', ['/dev/loop7']), r)).toEqual({ kind: 'run', commands: [['vgcreate', ...CFG, '-y', 'newvg', '/dev/loop7']] });
  });
  it('given a failed read it refuses with the first meaningful stderr line', () => {
    const fail = { argv: ['vgs'], code: 5, stdout: '', stderr: golden('lvremove-missing.stderr.txt'), durationMs: 1 };
    const d = lvRemoveOp(O).decide({ verb: 'lv.remove', ...base, vg: 'gdrvcap', name: 'x' }, [fail, fail]);
    expect(d.kind === 'refuse' && d.error.message).toMatch(/Failed to find logical volume/);
  });
});
