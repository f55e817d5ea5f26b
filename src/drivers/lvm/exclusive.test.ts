import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chooseEmptyPvs, freeOn, isEmptyPv, pvsOfLv } from './exclusive.js';
import { parsePvs, type PvRow } from './parse.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/lvm/${f}`, import.meta.url), 'utf8');
// Real lvm2 2.03.16 `pvs -o pv_name,vg_name,pv_size,pv_free,pv_attr,lv_name`: gexcl on three 124 MiB PVs,
// inst1.disk0 striped over loop0+loop1 and its _meta on loop0 (pvs-lvs.json); then inst2.disk0 also on loop0 (pvs-lvs-shared.json).
const one = parsePvs(golden('pvs-lvs.json'));
const shared = parsePvs(golden('pvs-lvs-shared.json'));
const err = (c: ReturnType<typeof chooseEmptyPvs>) => ('error' in c ? [c.error.code, c.error.message] : c.pvs);

describe('exclusive storage PV choice (pure, on real pvs output)', () => {
  it('given a VG where one PV is empty it takes that one for one spindle', () => {
    expect(chooseEmptyPvs(one, 'gexcl', 'inst2.disk0', 1, 64)).toEqual({ pvs: ['/dev/loop2'] });
    expect(one.map(isEmptyPv)).toEqual([false, false, true]);
  });
  it('given more spindles than empty PVs it refuses, naming the empty PVs and what holds the others', () => {
    expect(err(chooseEmptyPvs(one, 'gexcl', 'inst2.disk0', 2, 64))).toEqual(['EXCL_NOT_ENOUGH_PVS',
      'cannot create gexcl/inst2.disk0 with exclusive storage: it needs 2 empty physical volume(s) of its own (its spindles), volume group gexcl has 1 (/dev/loop2); in use: /dev/loop0 (holds inst1.disk0, inst1.disk0_meta); /dev/loop1 (holds inst1.disk0)']);
  });
  it('given a disk bigger than its spindles hold it refuses and asks for more spindles; the DRBD metadata reserve counts', () => {
    expect(err(chooseEmptyPvs(one, 'gexcl', 'inst2.disk0', 1, 125))).toEqual(['EXCL_PVS_TOO_SMALL',
      'cannot create gexcl/inst2.disk0 with exclusive storage: 1 spindle(s) hold 1 x 124 MiB, the disk needs 125 MiB: give the disk more spindles']);
    expect(err(chooseEmptyPvs(one, 'gexcl', 'inst2.disk0', 1, 120, 8))).toEqual(['EXCL_PVS_TOO_SMALL',
      'cannot create gexcl/inst2.disk0 with exclusive storage: 1 spindle(s) hold 1 x 124 MiB, the disk needs 128 MiB (with 8 MiB of DRBD metadata): give the disk more spindles']);
    expect(chooseEmptyPvs(one, 'gexcl', 'inst2.disk0', 1, 116, 8)).toEqual({ pvs: ['/dev/loop2'] });
  });
  it('given several empty PVs it takes the most free first, then by name, and never one of another VG or not allocatable', () => {
    const pv = (name: string, vg: string, free: number, attr = 'a--'): PvRow => ({ name, vg, sizeMiB: 200, freeMiB: free, attr, lvs: [] });
    const pvs = [pv('/dev/sdd', 'xenvg', 100), pv('/dev/sdb', 'xenvg', 200), pv('/dev/sdc', 'xenvg', 200), pv('/dev/sde', 'other', 200), pv('/dev/sdf', 'xenvg', 200, 'u--')];
    expect(chooseEmptyPvs(pvs, 'xenvg', 'd', 2, 300)).toEqual({ pvs: ['/dev/sdb', '/dev/sdc'] });
    // Striped over all of them: the smallest chosen PV bounds each stripe.
    expect(err(chooseEmptyPvs(pvs, 'xenvg', 'd', 3, 301))[0]).toBe('EXCL_PVS_TOO_SMALL');
    expect(chooseEmptyPvs(pvs, 'xenvg', 'd', 3, 300)).toEqual({ pvs: ['/dev/sdb', '/dev/sdc', '/dev/sdd'] });
  });
  it('given the LVs on each PV it finds the PVs of an LV and their free space', () => {
    expect(pvsOfLv(shared, 'gexcl', 'inst1.disk0')).toEqual(['/dev/loop0', '/dev/loop1']);
    expect(pvsOfLv(shared, 'gexcl', 'inst2.disk0')).toEqual(['/dev/loop0']);
    expect(pvsOfLv(shared, 'other', 'inst2.disk0')).toEqual([]);
    expect(freeOn(shared, ['/dev/loop0', '/dev/loop1'])).toBe(44 + 72);
  });
  it('given a report without the lv_name column it cannot tell an empty PV and says so', () => {
    expect(() => chooseEmptyPvs(parsePvs(golden('pvs.json')), 'gdrvcap', 'd', 1, 8)).toThrow(/no lv_name column/);
  });
});
