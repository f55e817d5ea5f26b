import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lvActiveOf, parseGanetiLvsLine, parseLvs, parsePvs, parseVgs, parseVgsOfPvs } from './parse.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/lvm/${f}`, import.meta.url), 'utf8');
const GANETI_LVS = '/work/shared/ganeti/outputs/lvs_lv.txt';

describe('lvm report parsers (real lvm2 2.03.16 output)', () => {
  it('given pvs with the VG columns (the probe\'s one LVM read), it yields each VG once, as vgs would, and the PVs with their LVs', () => {
    const text = golden('pvs-vgs.json');
    expect(parseVgsOfPvs(text)).toEqual([{ name: 'gltcap', sizeMiB: 248, freeMiB: 120, extentMiB: 4, tags: ['gantry'], pvCount: 2 }]);
    expect(parsePvs(text)).toEqual([
      { name: '/dev/loop3', vg: 'gltcap', sizeMiB: 124, freeMiB: 108, attr: 'a--', lvs: ['disk0'] },
      { name: '/dev/loop4', vg: 'gltcap', sizeMiB: 124, freeMiB: 12, attr: 'a--', lvs: ['disk1'] },
    ]);
    // an orphan PV (no VG) names no VG; no VGs at all is none, not an error
    expect(parseVgsOfPvs('{"report":[{"pv":[{"pv_name":"/dev/vdb","vg_name":"","pv_size":"10.00","pv_free":"10.00","pv_attr":"---","lv_name":""}]}]}')).toEqual([]);
    expect(parseVgsOfPvs('')).toEqual([]);
  });
  it('given real vgs JSON it reads sizes in whole MiB and the extent size', () => {
    expect(parseVgs(golden('vgs.json'))).toEqual([{ name: 'gdrvcap', sizeMiB: 248, freeMiB: 208, extentMiB: 4, tags: [] }]);
  });
  it('given real lvs JSON it reads tags as a list and empty tags as none', () => {
    const lvs = parseLvs(golden('lvs.json'));
    expect(lvs).toHaveLength(2);
    expect(lvs[0]).toMatchObject({ vg: 'gdrvcap', name: 'disk0', sizeMiB: 16, tags: ['gantry', 'inst=web1'], attr: '-wi-XX----' });
    expect(lvs[1]).toMatchObject({ name: 'disk1b', sizeMiB: 24, tags: [] });
  });
  it('given real lvs JSON from a node with device-mapper (one LV active, one after lvchange -an) it reads each attr and its state', () => {
    const lvs = parseLvs(golden('lvs-active-inactive.json'));
    expect(lvs.map((l) => [l.name, l.attr, lvActiveOf(l.attr)])).toEqual([['web1.disk0', '-wi-a-----', true], ['web1.disk0_meta', '-wi-------', false]]);
  });
  it('given lv_attr from LVM with activation disabled (X), another state letter or a short attr it reads the state as unknown, never inactive', () => {
    expect(lvActiveOf(parseLvs(golden('lvs.json'))[0]!.attr)).toBeUndefined();
    expect(lvActiveOf('-wi-s-----')).toBeUndefined();
    expect(lvActiveOf('-wi-d-----')).toBeUndefined();
    expect(lvActiveOf('-wi')).toBeUndefined();
    expect(lvActiveOf('')).toBeUndefined();
  });
  it('given real pvs JSON it maps each PV to its VG', () => {
    expect(parsePvs(golden('pvs.json'))).toEqual([
      { name: '/dev/loop0', vg: 'gdrvcap', sizeMiB: 124, freeMiB: 84 },
      { name: '/dev/loop1', vg: 'gdrvcap', sizeMiB: 124, freeMiB: 124 },
    ]);
  });
  it('given real pvs JSON with lv_name (one row per PV and LV, and one for free space) it folds the rows into one per PV with its LVs', () => {
    expect(parsePvs(golden('pvs-lvs-shared.json'))).toEqual([
      { name: '/dev/loop0', vg: 'gexcl', sizeMiB: 124, freeMiB: 44, attr: 'a--', lvs: ['inst1.disk0', 'inst1.disk0_meta', 'inst2.disk0'] },
      { name: '/dev/loop1', vg: 'gexcl', sizeMiB: 124, freeMiB: 72, attr: 'a--', lvs: ['inst1.disk0'] },
      { name: '/dev/loop2', vg: 'gexcl', sizeMiB: 124, freeMiB: 124, attr: 'a--', lvs: [] },
    ]);
  });
  it('given an empty report or no output it returns no rows', () => {
    expect(parseVgs(golden('vgs-empty.json'))).toEqual([]);
    expect(parseLvs('')).toEqual([]);
  });
  it('given non-JSON it throws a parse error', () => {
    expect(() => parseVgs('  Volume group "x" not found')).toThrow(/cannot parse vgs/);
  });
  it.skipIf(!existsSync(GANETI_LVS))(`given Ganeti's lvs text (${GANETI_LVS}; skipped when absent) it reads name, size, tags and vg`, () => {
    const lines = readFileSync(GANETI_LVS, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const lv = parseGanetiLvsLine(lines[0]!);
    expect(lv).toEqual({ name: 'df9ff3f6-a833-48ff-8bd5-bff2eaeab759.disk0_data', attr: '-wi-ao', sizeBytes: 1073741824, tags: ['originstname+instance1.example.com'], vg: 'xenvg' });
    expect(parseGanetiLvsLine(lines[1]!).sizeBytes).toBe(134217728);
  });
});
