import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLinks } from '../bridge/parse.js';
import { vxlanAddCmd } from './commands.js';
import { vxlanEnsureOp, vxlanRemoveOp, type VxlanEnsureParams } from './ops.js';
import { parseFdb, vxlansFrom } from './parse.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/${f}`, import.meta.url), 'utf8');
const ok = (stdout: string) => ({ argv: ['ip'], code: 0, stdout, stderr: '', durationMs: 1 });
const ensure = (p: Partial<VxlanEnsureParams>): VxlanEnsureParams => ({
  name: 'vx-cap', vni: 100, local: '198.18.201.1', remote: '198.18.201.2', dstPort: 4789, dev: 'und-a', master: 'br-cap', ...p,
});

describe('vxlan driver (real iproute2 6.1 output)', () => {
  it('given the real "type vxlan" listing it reads vni, endpoints, port, dev and master', () => {
    expect(vxlansFrom(parseLinks(golden('vxlan/ip-d-link-vxlan.json')))).toEqual({
      'vx-cap': { name: 'vx-cap', vni: 100, local: '198.18.201.1', remote: '198.18.201.2', dstPort: 4789, dev: 'und-a', master: 'br-cap', up: true },
      'vx-grp': { name: 'vx-grp', vni: 200, group: '239.1.1.1', dstPort: 4789, dev: 'und-a', up: false },
    });
  });
  it('given real "bridge -j fdb show" it keeps static remote entries of each VXLAN, not learned ones nor the default remote entry', () => {
    const fdb = parseFdb(golden('vxlan/bridge-fdb-show.json'));
    expect(fdb.every((e) => e.dst !== '')).toBe(true);
    const v = vxlansFrom(parseLinks(golden('vxlan/ip-d-link-vxlan-fdb.json')), fdb);
    expect(v['vx-cap']?.fdb).toEqual([
      { mac: '52:54:00:12:34:56', dst: '198.18.250.4' }, { mac: '00:00:00:00:00:00', dst: '198.18.250.2' }, { mac: '00:00:00:00:00:00', dst: '198.18.250.3' },
    ]);
    expect(v['vx-rem']).toMatchObject({ remote: '198.18.250.9', fdb: [] });
  });
  it('given a spec it builds ip link add type vxlan in iproute2 order', () => {
    expect(vxlanAddCmd({ name: 'vx0', vni: 100, local: '198.18.0.1', remote: '198.18.0.2', dstPort: 4789, dev: 'eth0' })).toEqual(
      ['ip', 'link', 'add', 'name', 'vx0', 'type', 'vxlan', 'id', '100', 'local', '198.18.0.1', 'remote', '198.18.0.2', 'dstport', '4789', 'dev', 'eth0']);
    expect(() => vxlanAddCmd({ name: 'vx0', vni: 1 << 24, dstPort: 4789 })).toThrow(/VNI/);
    expect(() => vxlanAddCmd({ name: 'vx0', vni: 1, remote: '198.18.0.2', group: '239.1.1.1', dstPort: 4789 })).toThrow(/exclusive/);
    expect(() => vxlanAddCmd({ name: 'vx0', vni: 1, remote: 'evil host', dstPort: 4789 })).toThrow(/invalid IP/);
  });
  it('given the link as desired it decides noop; given a new VNI and recreate it recreates', () => {
    const r = [ok(golden('bridge/ip-d-link.json'))];
    expect(vxlanEnsureOp.decide(ensure({}), r)).toEqual({ kind: 'noop' });
    const d = vxlanEnsureOp.decide(ensure({ vni: 101, recreate: true }), r);
    expect(d.kind === 'run' && d.commands.map((c) => c.slice(0, 3))).toEqual([['ip', 'link', 'del'], ['ip', 'link', 'add'], ['ip', 'link', 'set']]);
  });
  it('given a new VNI without recreate it refuses instead of deleting the link', () => {
    const d = vxlanEnsureOp.decide(ensure({ vni: 101 }), [ok(golden('bridge/ip-d-link.json'))]);
    expect(d.kind === 'refuse' && d.error.code).toBe('VXLAN_RECREATE_NOT_PLANNED');
  });
  it('given recreate it describes the delete before the add', () => {
    expect(vxlanEnsureOp.describe(ensure({ recreate: true })).map((c) => c.slice(0, 3))).toEqual([['ip', 'link', 'del'], ['ip', 'link', 'add'], ['ip', 'link', 'set']]);
  });
  it('given a down vxlan without master it brings it up, and given remove of a missing one it is noop', () => {
    const r = [ok(golden('bridge/ip-d-link.json'))];
    const d = vxlanEnsureOp.decide(ensure({ name: 'vx-grp', vni: 200, local: undefined, remote: undefined, group: '239.1.1.1', master: undefined }), r);
    expect(d).toEqual({ kind: 'run', commands: [['ip', 'link', 'set', 'dev', 'vx-grp', 'up']] });
    expect(vxlanRemoveOp.decide({ name: 'vx-none' }, r)).toEqual({ kind: 'noop' });
  });
});
