import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../transport/transport.js';
import { parseProbe, probeCommands } from './probe.js';

const g = (f: string) => readFileSync(new URL(`../drivers/testdata/${f}`, import.meta.url), 'utf8');
const ok = (argv: string[], stdout: string): ExecResult => ({ argv, code: 0, stdout, stderr: '', durationMs: 1 });
const fail = (argv: string[], code: number, stderr: string): ExecResult => ({ argv, code, stdout: '', stderr, durationMs: 1 });
const req = { sysctls: ['net.ipv4.ip_forward', 'net.nope.key'], fileDirs: ['/tmp/gdrvcap/disks'], ovsdbSocket: '/tmp/gdrvcap/ovs/db.sock' };
const AT = '2026-01-01T00:00:00.000Z';

/** Answer each probe command with the golden file captured from the same command. */
function answer(argv: string[]): ExecResult {
  const [cmd, ...rest] = argv;
  const has = (s: string) => rest.includes(s);
  if (cmd === 'hostname') return ok(argv, g('facts/hostname.txt'));
  if (cmd === 'uname') return ok(argv, g('facts/uname-r.txt'));
  if (cmd === 'nproc') return ok(argv, g('facts/nproc.txt'));
  if (cmd === 'cat' && has('/proc/sys/kernel/random/boot_id')) return ok(argv, g('facts/boot_id.txt'));
  if (cmd === 'cat') return ok(argv, g('facts/proc-meminfo.txt'));
  if (cmd === 'lvs') return ok(argv, g('lvm/lvs-gltcap.json'));
  if (cmd === 'pvs') return ok(argv, g('lvm/pvs-vgs.json'));
  if (cmd === 'ip' && has('route')) return ok(argv, g(`../route/testdata/ip-${has('-6') ? 6 : 4}-route-show-table-all-proto-static.json`));
  if (cmd === 'ip' && has('rule')) return ok(argv, g(`../route/testdata/ip-${has('-6') ? 6 : 4}-rule-show.json`));
  if (cmd === 'ip' && has('neigh')) return ok(argv, g('../route/testdata/ip-6-neigh-show-proxy.json'));
  if (cmd === 'sysctl' && has('-r')) return ok(argv, g('../route/testdata/sysctl-tap-conf.txt'));
  if (cmd === 'ip' && has('link')) return ok(argv, g('bridge/ip-d-link.json'));
  if (cmd === 'ip' && has('addr')) return ok(argv, g('bridge/ip-addr.json'));
  if (cmd === 'bridge' && has('fdb')) return ok(argv, g('vxlan/bridge-fdb-show.json'));
  if (cmd === 'ovs-vsctl' && has('Bridge') && has('Port') && has('Interface')) return ok(argv, g('ovs/list-all.json'));
  if (cmd === 'sysctl') return { argv, code: 255, stdout: 'net.ipv4.ip_forward = 0\n', stderr: g('sysctl/sysctl-missing.stderr.txt'), durationMs: 1 };
  if (cmd === 'find') return ok(argv, g('file/find-exec-info.json'));
  if (cmd === 'stat') return ok(argv, g('file/stat-dir.txt'));
  throw new Error(`unexpected ${argv.join(' ')}`);
}

describe('probe', () => {
  it('given a request it lists one batch: facts, lvm, links, ovs with --db, sysctl, one find and one stat per dir, routing', () => {
    const cmds = probeCommands(req, { lvmActivation: false });
    expect(cmds.map((c) => c[0])).toEqual(['hostname', 'uname', 'cat', 'nproc', 'cat', 'lvs', 'pvs', 'ip', 'ip', 'bridge', 'ovs-vsctl', 'sysctl', 'find', 'stat', 'ip', 'ip', 'ip', 'sysctl', 'ip', 'ip']);
    expect(cmds[13]).toEqual(['stat', '-L', '-c', '%F', '--', '/tmp/gdrvcap/disks']);
    expect(cmds[5]).toContain('global { activation = 0 }');
    expect(cmds[6]).toContain('pv_name,vg_name,pv_size,pv_free,pv_attr,lv_name,vg_size,vg_free,vg_extent_size,vg_tags,pv_count');
    expect(cmds[10]![1]).toBe('--db=unix:/tmp/gdrvcap/ovs/db.sock');
    expect(probeCommands({ sysctls: [], fileDirs: [] }).length).toBe(17);
  });

  it('given real outputs for every section it fills the whole snapshot', () => {
    const cmds = probeCommands(req, { lvmActivation: false });
    const n = parseProbe('n1', req, cmds.map(answer), AT, { lvmActivation: false });
    expect(n).toMatchObject({ name: 'n1', reachable: true, observedAt: AT, instances: {} });
    expect(n.facts).toEqual({ hostname: 'vm', kernel: '6.18.44-fc-v657', cpus: 2, memoryTotalMiB: 24105, memoryFreeMiB: 23782, bootId: g('facts/boot_id.txt').trim() });
    // VGs from pvs' VG columns (one LVM process for both)
    expect(n.vgs).toEqual({ gltcap: { name: 'gltcap', sizeMiB: 248, freeMiB: 120, pvs: ['/dev/loop3', '/dev/loop4'] } });
    expect(n.lvs['gltcap/disk0']).toEqual({ vg: 'gltcap', name: 'disk0', sizeMiB: 16, tags: ['gantry', 'inst=web1'], stripes: 1, pvs: ['/dev/loop3'] });
    expect(n.lvs['gltcap/disk1']?.pvs).toEqual(['/dev/loop4']);
    expect(n.bridges['br-cap']?.ports).toEqual(['tap-cap', 'veth-a', 'vx-cap']);
    expect(n.vxlans['vx-cap']?.vni).toBe(100);
    expect(n.taps['tap-cap']).toEqual({ name: 'tap-cap', up: true, master: 'br-cap' });
    expect(n.ovs?.bridges.obr0?.ports['p-access']?.tag).toBe(10);
    expect(n.ovs?.bridges.obr0?.ports['p-trunk']?.trunks).toEqual([20, 30]);
    expect(n.sysctls).toEqual({ 'net.ipv4.ip_forward': '0' });
    expect(Object.keys(n.files)).toEqual(['/tmp/gdrvcap/disks/web1.disk1', '/tmp/gdrvcap/disks/web1.disk0']);
    expect(n.storageDirs).toEqual({ '/tmp/gdrvcap/disks': true });
    expect(n.routing?.routes).toContainEqual({ dst: '2001:2:0:40::10', dev: 't-web1-0', table: '100' });
    expect(n.routing?.rules).toEqual([{ family: 4, iif: 't-web1-0', table: '100' }, { family: 6, iif: 't-web1-0', table: '100' }]);
    expect(n.routing?.proxies).toHaveLength(2);
    expect(n.routing?.tapSysctls['net.ipv4.conf.t-web1-0.proxy_arp']).toBe('1');
    expect(n.probeErrors).toEqual(['sysctl: net.nope.key: no such key on this kernel']);
  });

  it('given no OVS, no LVM tools and a missing disk dir it records probe errors and keeps the rest', () => {
    const cmds = probeCommands(req);
    const results = cmds.map((c) => {
      if (c[0] === 'ovs-vsctl') return fail(c, 1, g('ovs/no-server.stderr.txt'));
      if (['lvs', 'pvs'].includes(c[0]!)) return fail(c, 127, `${c[0]}: spawn ${c[0]} ENOENT\n`);
      if (c[0] === 'find') return fail(c, 1, "find: '/tmp/gdrvcap/disks': No such file or directory\n");
      if (c[0] === 'stat') return fail(c, 1, g('file/stat-missing.stderr.txt'));
      return answer(c);
    });
    const n = parseProbe('n1', req, results, AT);
    expect(n.storageDirs).toEqual({ '/tmp/gdrvcap/disks': false });
    expect(n.ovs).toBeUndefined();
    expect(n.vgs).toEqual({});
    expect(n.files).toEqual({});
    expect(n.bridges['br-cap']).toBeDefined();
    expect(n.probeErrors).toEqual(expect.arrayContaining([
      expect.stringMatching(/^ovs: ovs-vsctl exited 1: .*database connection failed/),
      expect.stringMatching(/^pvs: pvs exited 127/),
      expect.stringMatching(/^lvs: lvs exited 127/),
      expect.stringMatching(/^file:\/tmp\/gdrvcap\/disks: find exited 1: .*No such file/),
    ]));
  });

  it('given a storage path that cannot be checked it leaves the directory unknown (not missing) and says why', () => {
    const cmds = probeCommands(req);
    const results = cmds.map((c) => (c[0] === 'stat' ? fail(c, 1, "stat: cannot statx '/tmp/gdrvcap/disks': Permission denied\n") : answer(c)));
    const n = parseProbe('n1', req, results, AT);
    expect(n.storageDirs).toEqual({});
    expect(n.probeErrors).toEqual(expect.arrayContaining([expect.stringMatching(/^dir:\/tmp\/gdrvcap\/disks: .*Permission denied/)]));
  });

  it('given garbage output and missing results it reports parse errors instead of throwing', () => {
    const cmds = probeCommands({ sysctls: [], fileDirs: [] });
    const results = cmds.slice(0, 8).map((c) => (c[0] === 'ip' ? ok(c, 'not json') : answer(c)));
    const n = parseProbe('n1', { sysctls: [], fileDirs: [] }, results, AT, {}, { instances: {} });
    expect(n.bridges).toEqual({});
    expect(n.probeErrors.some((e) => e.startsWith('links: cannot parse ip link'))).toBe(true);
    expect(n.probeErrors).toContain('addrs: no result');
    expect(n.routing).toBeUndefined();
  });
});
