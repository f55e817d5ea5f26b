import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lvActivateOp, lvCreateOp, lvExtendOp, lvRemoveOp, lvUntagOp, vgEnsureOp, type LvCreateParams, type LvExtendParams } from './ops.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/lvm/${f}`, import.meta.url), 'utf8');
const ok = (stdout: string) => ({ argv: ['lvm'], code: 0, stdout, stderr: '', durationMs: 1 });
const reads = () => [ok(golden('vgs.json')), ok(golden('lvs.json'))];
const O = { activation: false };
const CFG = ['--config', 'global { activation = 0 }'];
const create = (p: Partial<LvCreateParams>): LvCreateParams => ({ vg: 'gdrvcap', name: 'disk0', sizeMiB: 16, tags: ['gantry'], ...p });
const extend = (sizeMiB: number, name = 'disk1b'): LvExtendParams => ({ vg: 'gdrvcap', name, sizeMiB });

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
  it('given more stripes than the VG has PVs it refuses (Ganeti would quietly stripe less), and given enough it creates with -i', () => {
    const vgs = (pvs: number) => ok(golden('vgs.json').replace('"vg_tags":""', `"vg_tags":"", "pv_count":"${pvs}"`));
    const few = lvCreateOp(O).decide(create({ name: 'disk9', stripes: 3 }), [vgs(2), ok(golden('lvs.json'))]);
    expect(few.kind === 'refuse' && [few.error.code, few.error.message]).toEqual(['VG_TOO_FEW_PVS', 'cannot create gdrvcap/disk9 with 3 stripes: volume group gdrvcap has 2 physical volume(s)']);
    const enough = lvCreateOp(O).decide(create({ name: 'disk9', stripes: 2 }), [vgs(2), ok(golden('lvs.json'))]);
    expect(enough.kind === 'run' && enough.commands[0]!.slice(3, 7)).toEqual(['-L', '16m', '-i', '2']);
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
    const rm = (name: string) => ({ vg: 'gdrvcap', name });
    expect(lvRemoveOp(O).decide(rm('nope'), reads())).toEqual({ kind: 'noop' });
    expect(lvRemoveOp(O).decide(rm('disk0'), reads())).toEqual({ kind: 'run', commands: [['lvremove', ...CFG, '-f', '-y', 'gdrvcap/disk0']] });
  });
  it('given untag it drops only the tags the LV still carries (none left: noop), and refuses a missing LV', () => {
    const untag = (name: string, tags: string[]) => ({ vg: 'gdrvcap', name, tags });
    expect(lvUntagOp(O).decide(untag('disk0', ['inst=web1', 'gantry-drbd-minor=3']), reads())).toEqual({ kind: 'run', commands: [['lvchange', ...CFG, '--deltag', 'inst=web1', 'gdrvcap/disk0']] });
    expect(lvUntagOp(O).decide(untag('disk0', ['gantry-drbd-minor=3']), reads())).toEqual({ kind: 'noop' });
    const d = lvUntagOp(O).decide(untag('nope', ['a']), reads());
    expect(d.kind === 'refuse' && d.error.code).toBe('LV_MISSING');
  });
  it('given a VG with all its PVs it decides noop; with a clean new PV it extends without -y; a PV of another VG is refused', () => {
    const vg = (name: string, pvs: string[]) => ({ name, pvs });
    const r = (...sigs: string[]) => [ok(golden('vgs.json')), ok(golden('pvs.json')), ...sigs.map((f) => ok(golden(f)))];
    expect(vgEnsureOp(O).decide(vg('gdrvcap', ['/dev/loop0', '/dev/loop1']), r('wipefs-lvm2-member.json', 'wipefs-lvm2-member.json'))).toEqual({ kind: 'noop' });
    expect(vgEnsureOp(O).decide(vg('gdrvcap', ['/dev/loop0', '/dev/loop2']), r('wipefs-lvm2-member.json', 'wipefs-clean.json'))).toEqual({ kind: 'run', commands: [['vgextend', ...CFG, '-qq', 'gdrvcap', '/dev/loop2']] });
    const d = vgEnsureOp(O).decide(vg('newvg', ['/dev/loop1']), r('wipefs-lvm2-member.json'));
    expect(d.kind === 'refuse' && d.error.code).toBe('PV_IN_OTHER_VG');
    expect(vgEnsureOp(O).decide(vg('newvg', ['/dev/loop7']), r('wipefs-clean.json'))).toEqual({ kind: 'run', commands: [['vgcreate', ...CFG, '-qq', 'newvg', '/dev/loop7']] });
  });
  it('given a new PV with an ext4 signature (real wipefs output) it refuses, naming device and signature, and runs nothing', () => {
    const r = [ok(golden('vgs.json')), ok(golden('pvs.json')), ok(golden('wipefs-ext4.json'))];
    const d = vgEnsureOp(O).decide({ name: 'newvg', pvs: ['/dev/loop7'] }, r);
    expect(d.kind === 'refuse' && [d.error.code, d.error.message]).toEqual(['PV_HAS_SIGNATURE', expect.stringContaining('/dev/loop7 carries a ext4 signature at offset 0x438')]);
    const ext = vgEnsureOp(O).decide({ name: 'gdrvcap', pvs: ['/dev/loop0', '/dev/loop7'] }, [...r.slice(0, 2), ok(golden('wipefs-lvm2-member.json')), ok(golden('wipefs-ext4.json'))]);
    expect(ext.kind).toBe('refuse');
  });
  it('given a PV device that does not exist it refuses with wipefs\' own reason', () => {
    const fail = { argv: ['wipefs'], code: 1, stdout: '', stderr: golden('wipefs-missing.stderr.txt'), durationMs: 1 };
    const d = vgEnsureOp(O).decide({ name: 'newvg', pvs: ['/dev/nonexistent-x'] }, [ok(golden('vgs.json')), ok(golden('pvs.json')), fail]);
    expect(d.kind === 'refuse' && d.error.message).toMatch(/nonexistent-x cannot be probed.*No such file or directory/);
  });
  it('given a VG ensure it reads every declared device with wipefs --no-act, never a wiping command', () => {
    expect(vgEnsureOp(O).read({ name: 'v', pvs: ['/dev/sdb', '/dev/sdc'] }).slice(2)).toEqual([['wipefs', '--no-act', '--json', '/dev/sdb'], ['wipefs', '--no-act', '--json', '/dev/sdc']]);
  });
  it('given a failed read it refuses with the first meaningful stderr line', () => {
    const fail = { argv: ['vgs'], code: 5, stdout: '', stderr: golden('lvremove-missing.stderr.txt'), durationMs: 1 };
    const d = lvRemoveOp(O).decide({ vg: 'gdrvcap', name: 'x' }, [fail, fail]);
    expect(d.kind === 'refuse' && d.error.message).toMatch(/Failed to find logical volume/);
  });
});

describe('lvm ensures with exclusive storage (real pvs reports with lv_name)', () => {
  const vgsEx = ok('{"report":[{"vg":[{"vg_name":"gexcl","vg_size":"372.00","vg_free":"260.00","vg_extent_size":"4.00","vg_tags":"","pv_count":"3"}]}]}');
  const lvsEx = ok('{"report":[{"lv":[]}]}');
  const ex = (p: Partial<LvCreateParams>): LvCreateParams => ({ vg: 'gexcl', name: 'inst2.disk0', sizeMiB: 64, tags: ['gantry'], ...p });
  const readsEx = (pvs = 'pvs-lvs.json') => [vgsEx, lvsEx, ok(golden(pvs))];
  it('given spindles it reads pvs and creates the LV on the empty PVs it chose, striped over them', () => {
    const op = lvCreateOp(O);
    expect(op.read(ex({ spindles: 1 })).map((a) => a[0])).toEqual(['vgs', 'lvs', 'pvs']);
    expect(op.decide(ex({ spindles: 1 }), readsEx())).toEqual({ kind: 'run', commands: [
      ['lvcreate', ...CFG, '-L', '64m', '-n', 'inst2.disk0', '--addtag', 'gantry', '-y', '--wipesignatures', 'n', 'gexcl', '/dev/loop2']] });
  });
  it('given too few empty PVs it refuses and runs nothing', () => {
    const d = lvCreateOp(O).decide(ex({ spindles: 2 }), readsEx());
    expect(d.kind === 'refuse' && d.error.code).toBe('EXCL_NOT_ENOUGH_PVS');
  });
  it('given besideLv it creates the LV on the PVs of that LV (a DRBD metadata LV beside its data)', () => {
    expect(lvCreateOp(O).decide(ex({ name: 'inst1.disk0_meta2', sizeMiB: 8, besideLv: 'inst1.disk0' }), readsEx())).toEqual({ kind: 'run', commands: [
      ['lvcreate', ...CFG, '-L', '8m', '-n', 'inst1.disk0_meta2', '--addtag', 'gantry', '-y', '--wipesignatures', 'n', 'gexcl', '/dev/loop0', '/dev/loop1']] });
    const missing = lvCreateOp(O).decide(ex({ name: 'x_meta', sizeMiB: 8, besideLv: 'nope' }), readsEx());
    expect(missing.kind === 'refuse' && missing.error.code).toBe('EXCL_BESIDE_MISSING');
  });
  it('given --dry-run it shows the argv with where the PVs go, since they are chosen on the node', () => {
    expect(lvCreateOp(O).describe(ex({ spindles: 2 }))).toEqual([
      ['lvcreate', ...CFG, '-L', '64m', '-i', '2', '-n', 'inst2.disk0', '--addtag', 'gantry', '-y', '--wipesignatures', 'n', 'gexcl', '<2 empty PV(s) of gexcl, chosen when run>']]);
  });
  it('given ownPvs an extend stays on the PVs the LV holds, and refuses when they lack room', () => {
    const lvs1 = ok('{"report":[{"lv":[{"vg_name":"gexcl", "lv_name":"inst1.disk0", "lv_size":"104.00", "lv_tags":"gantry", "lv_attr":"-wi-------", "vg_extent_size":"4.00", "stripes":"2"}]}]}');
    const grow = (sizeMiB: number) => lvExtendOp(O).decide({ vg: 'gexcl', name: 'inst1.disk0', sizeMiB, ownPvs: true }, [vgsEx, lvs1, ok(golden('pvs-lvs-shared.json'))]);
    expect(grow(200)).toEqual({ kind: 'run', commands: [['lvextend', ...CFG, '-L', '200m', 'gexcl/inst1.disk0', '/dev/loop0', '/dev/loop1']] });
    const big = grow(104 + 44 + 72 + 1);
    expect(big.kind === 'refuse' && [big.error.code, big.error.message]).toEqual(['VG_NO_SPACE', 'grow gexcl/inst1.disk0 (exclusive storage): its physical volumes (/dev/loop0, /dev/loop1) have 116 MiB free, 117 MiB needed']);
  });
});

describe('lv.activate against real reports', () => {
  const dm = () => [ok(golden('vgs.json')), ok(golden('lvs-active-inactive.json'))];
  it('given an LV that reads inactive (lv_attr -wi-------, real lvs on a node with device-mapper) it runs lvchange -ay VG/LV', () => {
    expect(lvActivateOp({}).decide({ vg: 'gantry', name: 'web1.disk0_meta' }, dm())).toEqual({ kind: 'run', commands: [['lvchange', '-ay', 'gantry/web1.disk0_meta']] });
  });
  it('given an active LV it decides noop, and given a missing one it refuses', () => {
    expect(lvActivateOp({}).decide({ vg: 'gantry', name: 'web1.disk0' }, dm())).toEqual({ kind: 'noop' });
    const gone = lvActivateOp({}).decide({ vg: 'gantry', name: 'nope' }, dm());
    expect(gone.kind === 'refuse' && gone.error.code).toBe('LV_MISSING');
  });
  it('given LVM with activation disabled (no device-mapper) or a state that is neither active nor inactive it refuses, running nothing', () => {
    const off = lvActivateOp(O).decide({ vg: 'gdrvcap', name: 'disk0' }, reads());
    expect(off.kind === 'refuse' && off.error.code).toBe('LV_ACTIVATION_DISABLED');
    const unknown = lvActivateOp({}).decide({ vg: 'gdrvcap', name: 'disk0' }, reads()); // real 'X' state letter
    expect(unknown.kind === 'refuse' && unknown.error.code).toBe('LV_STATE_UNKNOWN');
  });
});
