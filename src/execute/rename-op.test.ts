import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { InstanceRename } from '../core/actions.js';
import { instanceRenameOp, parseExisting } from './rename-op.js';

const golden = (f: string) => readFileSync(new URL(`../drivers/testdata/${f}`, import.meta.url), 'utf8');
const res = (code: number, stdout: string, stderr = '') => ({ argv: ['x'], code, stdout, stderr, durationMs: 1 });
const CFG = ['--config', 'global { activation = 0 }'];
/** The real lvs report (lvm/lvs.json: disk0 tagged gantry,inst=web1; disk1b untagged) with its LVs named as an instance's disks. */
const lvs = (names: [string, string][]) => {
  let text = golden('lvm/lvs.json');
  for (const [from, to] of names) text = text.replace(`"lv_name":"${from}"`, `"lv_name":"${to}"`);
  return res(0, text.replace('gantry,inst=web1', 'gantry,gantry-inst=web1'));
};
const ls = res(2, golden('file/ls-existing.stdout.txt'), golden('file/ls-existing.stderr.txt'));
const action = (over: Partial<InstanceRename> = {}): InstanceRename => ({
  verb: 'instance.rename', node: 'n1', subject: 'Instance/web2', reason: 't', from: 'web1', to: 'web2',
  lvs: [{ vg: 'gdrvcap', from: 'web1.disk0', to: 'web2.disk0' }], files: [], ...over,
});
const op = instanceRenameOp({ activation: false });

describe('instance.rename on a shell node', () => {
  it('given the LV under its old name, it detaches the DRBD minor, renames the LV and swaps its instance tag in one lvchange', () => {
    const a = action({ drbdDetach: [3] });
    expect(op.read(a)).toEqual([['lvs', ...CFG, '--reportformat', 'json', '--units', 'm', '--nosuffix', '-o', 'vg_name,lv_name,lv_size,lv_tags,lv_attr,vg_extent_size,stripes', '-S', 'vg_name=gdrvcap']]);
    expect(op.decide(a, [lvs([['disk0', 'web1.disk0']])])).toEqual({ kind: 'run', commands: [
      ['drbdsetup', 'detach', '3'],
      ['lvrename', ...CFG, 'gdrvcap', 'web1.disk0', 'web2.disk0'],
      ['lvchange', ...CFG, '--deltag', 'gantry-inst=web1', '--addtag', 'gantry-inst=web2', 'gdrvcap/web2.disk0'],
    ] });
  });

  it('given the LV renamed but still tagged with the old name (a rename cut short), it only swaps the tag, and nothing when both are done', () => {
    expect(op.decide(action({ drbdDetach: [3] }), [lvs([['disk0', 'web2.disk0']])])).toEqual({ kind: 'run', commands: [
      ['lvchange', ...CFG, '--deltag', 'gantry-inst=web1', '--addtag', 'gantry-inst=web2', 'gdrvcap/web2.disk0'],
    ] });
    const done = res(0, lvs([['disk0', 'web2.disk0']]).stdout.replace('gantry-inst=web1', 'gantry-inst=web2'));
    expect(op.decide(action(), [done])).toEqual({ kind: 'noop' });
  });

  it('given LVs of both names, or of neither, it refuses and runs nothing', () => {
    const both = op.decide(action(), [lvs([['disk0', 'web1.disk0'], ['disk1b', 'web2.disk0']])]);
    expect(both.kind === 'refuse' && [both.error.code, both.error.errorClass]).toEqual(['RENAME_CONFLICT', 'prereq']);
    const none = op.decide(action(), [lvs([])]);
    expect(none.kind === 'refuse' && none.error.code).toBe('RENAME_SOURCE_MISSING');
  });

  it('given image files and the instance directory, it moves those not moved yet with mv -n -T, reading them with one ls (real output, one missing)', () => {
    const a = action({ lvs: [], files: [{ from: '/srv/gantry/a.disk0.img', to: '/srv/gantry/b.disk0.img' }], runDir: '/srv/gantry/run', from: 'a', to: 'b' });
    expect(op.read(a)).toEqual([['ls', '-1d', '--', '/srv/gantry/a.disk0.img', '/srv/gantry/b.disk0.img', '/srv/gantry/run/a', '/srv/gantry/run/b']]);
    expect(op.decide(a, [ls])).toEqual({ kind: 'run', commands: [
      ['mv', '-n', '-T', '--', '/srv/gantry/a.disk0.img', '/srv/gantry/b.disk0.img'],
      ['mv', '-n', '-T', '--', '/srv/gantry/run/a', '/srv/gantry/run/b'],
    ] });
    expect(op.describe(a)).toEqual([
      ['mv', '-n', '-T', '--', '/srv/gantry/a.disk0.img', '/srv/gantry/b.disk0.img'],
      ['mv', '-n', '-T', '--', '/srv/gantry/run/a', '/srv/gantry/run/b'],
    ]);
    // already moved (read as a rename b -> a: every target exists, no source does): nothing runs
    const moved = op.decide({ ...a, files: [{ from: '/srv/gantry/b.disk0.img', to: '/srv/gantry/a.disk0.img' }], from: 'b', to: 'a' }, [ls]);
    expect(moved).toEqual({ kind: 'noop' });
  });

  it('given ls failing for another reason than a missing path, it refuses with the read error', () => {
    expect(parseExisting(res(2, '', "ls: cannot access '/x': Permission denied\n"))).toBeUndefined();
    expect(parseExisting(ls)).toEqual(new Set(['/srv/gantry/a.disk0.img', '/srv/gantry/run/a']));
    const d = op.decide(action({ lvs: [], files: [{ from: '/x/a.disk0.img', to: '/x/b.disk0.img' }] }), [res(2, '', "ls: cannot access '/x/a.disk0.img': Permission denied\n")]);
    expect(d.kind === 'refuse' && d.error.code).toBe('RENAME_READ_FAILED');
  });
});
