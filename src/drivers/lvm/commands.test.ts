import { describe, expect, it } from 'vitest';
import { lvAddTagsCmd, lvCreateCmd, lvDelTagsCmd, lvExtendCmd, lvRemoveCmd, lvRenameCmd, lvsCmd, lvsOfVgCmd, vgCreateCmd, vgExtendCmd, vgsCmd } from './commands.js';

const OFF = { activation: false } as const;
const CFG = ['--config', 'global { activation = 0 }'];

describe('lvm argv builders', () => {
  it('given activation false it adds the config as two argv elements after the subcommand', () => {
    expect(vgsCmd(OFF)).toEqual(['vgs', ...CFG, '--reportformat', 'json', '--units', 'm', '--nosuffix', '-o', 'vg_name,vg_size,vg_free,vg_extent_size,vg_tags,pv_count']);
    expect(lvsCmd()).toEqual(['lvs', '--reportformat', 'json', '--units', 'm', '--nosuffix', '-o', 'vg_name,lv_name,lv_size,lv_tags,lv_attr,vg_extent_size,stripes']);
    expect(lvsOfVgCmd('xenvg', OFF).slice(-2)).toEqual(['-S', 'vg_name=xenvg']);
  });
  it('given an LV with tags it builds lvcreate with one --addtag per tag', () => {
    expect(lvCreateCmd('xenvg', 'web1.disk0', 1024, ['gantry', 'inst=web1'], OFF)).toEqual(
      ['lvcreate', ...CFG, '-L', '1024m', '-n', 'web1.disk0', '--addtag', 'gantry', '--addtag', 'inst=web1', '-y', '--wipesignatures', 'n', 'xenvg']);
  });
  it('given stripes it adds -i N (and nothing for one stripe), and refuses a count LVM cannot take', () => {
    expect(lvCreateCmd('xenvg', 'd0', 1024, [], OFF, 3)).toEqual(['lvcreate', ...CFG, '-L', '1024m', '-i', '3', '-n', 'd0', '-y', '--wipesignatures', 'n', 'xenvg']);
    expect(lvCreateCmd('xenvg', 'd0', 1024, [], OFF, 1)).not.toContain('-i');
    expect(() => lvCreateCmd('xenvg', 'd0', 1024, [], OFF, 0)).toThrow(/stripe count 0/);
  });
  it('given PVs (exclusive storage) it puts them after the VG, on lvcreate and lvextend, and refuses one that could be read as an option', () => {
    expect(lvCreateCmd('xenvg', 'd0', 1024, [], OFF, 2, ['/dev/sdb', '/dev/sdc']).slice(-5)).toEqual(['--wipesignatures', 'n', 'xenvg', '/dev/sdb', '/dev/sdc']);
    expect(lvExtendCmd('xenvg', 'd0', 2048, {}, ['/dev/sdb'])).toEqual(['lvextend', '-L', '2048m', 'xenvg/d0', '/dev/sdb']);
    expect(() => lvCreateCmd('xenvg', 'd0', 1024, [], OFF, 1, ['-ff'])).toThrow();
  });
  it('given extend, rename, tag and remove it addresses the LV as vg/lv', () => {
    expect(lvExtendCmd('xenvg', 'd0', 2048)).toEqual(['lvextend', '-L', '2048m', 'xenvg/d0']);
    expect(lvRenameCmd('xenvg', 'd0', 'd1')).toEqual(['lvrename', 'xenvg', 'd0', 'd1']);
    expect(lvRemoveCmd('xenvg', 'd0')).toEqual(['lvremove', '-f', '-y', 'xenvg/d0']);
    expect(lvAddTagsCmd('xenvg', 'd0', ['a'])).toEqual(['lvchange', '--addtag', 'a', 'xenvg/d0']);
    expect(lvDelTagsCmd('xenvg', 'd0', ['a', 'b=1'])).toEqual(['lvchange', '--deltag', 'a', '--deltag', 'b=1', 'xenvg/d0']);
  });
  it('given PVs it builds vgcreate and vgextend that answer no to every prompt: never -y, -ff or --force', () => {
    expect(vgCreateCmd('xenvg', ['/dev/loop0', '/dev/loop1'], OFF)).toEqual(['vgcreate', ...CFG, '-qq', 'xenvg', '/dev/loop0', '/dev/loop1']);
    expect(vgExtendCmd('xenvg', ['/dev/sdb'])).toEqual(['vgextend', '-qq', 'xenvg', '/dev/sdb']);
    for (const argv of [vgCreateCmd('v', ['/dev/a']), vgExtendCmd('v', ['/dev/a'])]) {
      expect(argv.filter((a) => ['-y', '--yes', '-f', '-ff', '--force'].includes(a))).toEqual([]);
    }
  });
  it('given unsafe names, sizes or tags it throws instead of building', () => {
    expect(() => lvCreateCmd('xenvg', '-rf', 1, [])).toThrow(/invalid lv name/);
    expect(() => lvCreateCmd('xen vg', 'a', 1, [])).toThrow(/invalid vg name/);
    expect(() => lvCreateCmd('xenvg', 'a:b', 1, [])).toThrow(/cannot hold ':'/);
    expect(() => lvCreateCmd('xenvg', 'a', 0, [])).toThrow(/invalid size/);
    expect(() => lvCreateCmd('xenvg', 'a', 1.5, [])).toThrow(/invalid size/);
    expect(() => lvCreateCmd('xenvg', 'a', 1, ['x y'])).toThrow(/invalid LVM tag/);
    expect(() => vgCreateCmd('xenvg', [])).toThrow(/no physical volumes/);
    expect(() => vgCreateCmd('xenvg', ['../dev/sda'])).toThrow(/must be absolute/);
  });
});
