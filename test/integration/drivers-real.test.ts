/**
 * Every shell driver action, for real, inside a network namespace this test creates:
 * Linux bridge + VXLAN + sysctl in the netns, a private ovsdb-server/ovs-vswitchd
 * (userspace datapath), LVM on loop devices with activation disabled, qemu-img images
 * in a temp dir. Run, observe, run again (unchanged), remove, remove again (unchanged).
 * Skips when not root or a tool is missing. Cleans up by PID and by name.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../../src/core/actions.js';
import { ShellNodeOps } from '../../src/execute/shell-node-ops.js';
import { LocalTransport } from '../../src/transport/local.js';
import { silentLogger } from '../../src/util/log.js';

const TOOLS = ['ip', 'ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'lvcreate', 'qemu-img', 'losetup', 'sysctl'];
const which = (t: string) => { try { execFileSync('which', [t], { stdio: 'ignore' }); return true; } catch { return false; } };
const missing = TOOLS.filter((t) => !which(t));
const isRoot = process.getuid?.() === 0;
const skipReason = !isRoot ? 'not root' : missing.length > 0 ? `missing tools: ${missing.join(', ')}` : !existsSync('/dev/loop-control') ? 'no loop devices' : '';
if (skipReason) console.warn(`drivers-real: skipped (${skipReason})`);

const id = process.pid % 100000;
const NS = `gdrv-it${id}`;
const VG = `gdrvit${id}`;
const LVMCFG = ['--config', 'global { activation = 0 }'];
const sh = (argv: string[], env?: NodeJS.ProcessEnv) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
const quiet = (argv: string[]) => { try { sh(argv); } catch { /* cleanup best effort */ } };

let dir = '';
const loops: string[] = [];
let ops: ShellNodeOps;

function startOvs(): void {
  const env = { OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir, OVS_SYSCONFDIR: dir };
  sh(['ovsdb-tool', 'create', join(dir, 'conf.db'), '/usr/share/openvswitch/vswitch.ovsschema']);
  sh(['ip', 'netns', 'exec', NS, 'ovsdb-server', `--remote=punix:${join(dir, 'db.sock')}`, `--pidfile=${join(dir, 'ovsdb-server.pid')}`,
    `--unixctl=${join(dir, 'ovsdb-server.ctl')}`, `--log-file=${join(dir, 'ovsdb-server.log')}`, '--detach', join(dir, 'conf.db')], env);
  sh(['ovs-vsctl', `--db=unix:${join(dir, 'db.sock')}`, '--no-wait', 'init']);
  sh(['ip', 'netns', 'exec', NS, 'ovs-vswitchd', `unix:${join(dir, 'db.sock')}`, `--pidfile=${join(dir, 'ovs-vswitchd.pid')}`,
    `--unixctl=${join(dir, 'ovs-vswitchd.ctl')}`, `--log-file=${join(dir, 'ovs-vswitchd.log')}`, '--detach'], env);
}

function stopByPidfile(name: string): void {
  const f = join(dir, `${name}.pid`);
  if (!existsSync(f)) return;
  const pid = Number(readFileSync(f, 'utf8').trim());
  if (Number.isSafeInteger(pid) && pid > 1) { try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ } }
}

describe.skipIf(skipReason !== '')('shell drivers on real tools (netns, private OVS, loop VG)', () => {
  const base = { node: NS, subject: `Node/${NS}`, reason: 'integration test' };
  let disks = '';
  let ensures: Action[] = [];
  let removals: Action[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gdrv-it-'));
    disks = join(dir, 'disks');
    mkdirSync(disks); // the admin makes the storage root: Gantry never creates one
    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'add', 'und-a', 'type', 'veth', 'peer', 'name', 'und-b']);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'addr', 'add', '198.18.210.1/24', 'dev', 'und-a']);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'und-a', 'up']);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'add', 'p-a', 'type', 'veth', 'peer', 'name', 'p-b']);
    startOvs();
    for (const n of ['pv1', 'pv2']) {
      sh(['truncate', '-s', '64M', join(dir, `${n}.img`)]);
      loops.push(sh(['losetup', '-f', '--show', join(dir, `${n}.img`)]).trim());
    }
    ops = new ShellNodeOps({ node: NS, transport: new LocalTransport({ logger: silentLogger(), netns: NS, commandTimeoutMs: 20_000 }), logger: silentLogger(), lvmActivation: false, ovsdbSocket: join(dir, 'db.sock') });
    ensures = [
      { verb: 'bridge.ensure', ...base, name: 'br-it', vlanFiltering: false, mtu: 1450, addresses: ['198.18.211.1/24'], ports: ['p-a'] },
      { verb: 'vxlan.ensure', ...base, name: 'vx-it', vni: 4242, local: '198.18.210.1', remote: '198.18.210.2', dstPort: 4789, dev: 'und-a', master: 'br-it' },
      { verb: 'ovs.bridge.ensure', ...base, name: 'obr-it', datapathType: 'netdev' },
      { verb: 'ovs.port.ensure', ...base, bridge: 'obr-it', port: 'op1', tag: 10, trunks: [], type: 'internal' },
      { verb: 'ovs.port.ensure', ...base, bridge: 'obr-it', port: 'op2', trunks: [20, 10], type: 'internal' },
      { verb: 'sysctl.set', ...base, key: 'net.ipv4.ip_forward', value: '1' },
      { verb: 'vg.ensure', ...base, name: VG, pvs: loops },
      { verb: 'lv.create', ...base, vg: VG, name: 'web1.disk0', sizeMiB: 16, tags: ['gantry', 'inst=web1'] },
      { verb: 'lv.extend', ...base, vg: VG, name: 'web1.disk0', sizeMiB: 30 },
      { verb: 'lv.create', ...base, vg: VG, name: 'web2.disk0', sizeMiB: 16, tags: ['gantry', 'inst=web2'], stripes: 2 },
      { verb: 'file.create', ...base, path: join(disks, 'web1.disk0'), sizeMiB: 16, format: 'raw' },
      { verb: 'file.create', ...base, path: join(disks, 'web1.disk1'), sizeMiB: 16, format: 'qcow2' },
      { verb: 'file.grow', ...base, path: join(disks, 'web1.disk1'), sizeMiB: 48, format: 'qcow2' },
    ];
    removals = [
      { verb: 'lv.remove', ...base, vg: VG, name: 'web1.disk0' },
      { verb: 'lv.remove', ...base, vg: VG, name: 'web2.disk0' },
      { verb: 'file.remove', ...base, path: join(disks, 'web1.disk0') },
      { verb: 'ovs.port.remove', ...base, bridge: 'obr-it', port: 'op1' },
      { verb: 'ovs.port.remove', ...base, bridge: 'obr-it', port: 'op2' },
      { verb: 'ovs.bridge.remove', ...base, name: 'obr-it' },
      { verb: 'vxlan.remove', ...base, name: 'vx-it' },
      { verb: 'bridge.address.remove', ...base, bridge: 'br-it', address: '198.18.211.1/24' },
    ];
  }, 60_000);

  afterAll(async () => {
    await ops?.close();
    stopByPidfile('ovs-vswitchd');
    stopByPidfile('ovsdb-server');
    quiet(['ip', 'netns', 'del', NS]);
    quiet(['vgremove', ...LVMCFG, '-f', VG]);
    for (const l of loops) { quiet(['pvremove', ...LVMCFG, '-ff', '-y', l]); quiet(['losetup', '-d', l]); }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('given a bare node it applies every action, then the snapshot shows them', async () => {
    for (const a of ensures) {
      const r = await ops.run(a);
      expect({ verb: a.verb, ok: r.ok, error: r.error }).toEqual({ verb: a.verb, ok: true, error: undefined });
      expect(r.unchanged).toBe(false);
    }
    const n = await ops.observe({ sysctls: ['net.ipv4.ip_forward'], fileDirs: [disks], ovsdbSocket: join(dir, 'db.sock') });
    expect(n.reachable).toBe(true);
    expect(n.bridges['br-it']).toEqual({ name: 'br-it', up: true, vlanFiltering: false, mtu: 1450, ports: ['p-a', 'vx-it'], addresses: ['198.18.211.1/24'] });
    expect(n.vxlans['vx-it']).toEqual({ name: 'vx-it', vni: 4242, local: '198.18.210.1', remote: '198.18.210.2', dstPort: 4789, dev: 'und-a', master: 'br-it', up: true, fdb: [] });
    expect(n.ovs?.bridges['obr-it']).toEqual({ name: 'obr-it', datapathType: 'netdev', ports: {
      op1: { name: 'op1', tag: 10, trunks: [], type: 'internal' }, op2: { name: 'op2', trunks: [10, 20], type: 'internal' } } });
    expect(n.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(n.vgs[VG]?.pvs).toEqual(loops);
    expect(n.lvs[`${VG}/web1.disk0`]).toEqual({ vg: VG, name: 'web1.disk0', sizeMiB: 32, tags: ['gantry', 'inst=web1'], stripes: 1, pvs: [loops[0]] });
    // plain.stripes: lvcreate -i 2 over the VG's two PVs, read back from lvs
    expect(n.lvs[`${VG}/web2.disk0`]).toEqual({ vg: VG, name: 'web2.disk0', sizeMiB: 16, tags: ['gantry', 'inst=web2'], stripes: 2, pvs: loops });
    expect(n.files[join(disks, 'web1.disk0')]).toEqual({ path: join(disks, 'web1.disk0'), format: 'raw', virtualSizeMiB: 16 });
    expect(n.files[join(disks, 'web1.disk1')]).toEqual({ path: join(disks, 'web1.disk1'), format: 'qcow2', virtualSizeMiB: 48 });
    expect(n.probeErrors.filter((e) => !e.startsWith('lvs') && !e.startsWith('vgs') && !e.startsWith('pvs'))).toEqual([]);
  });

  it('given the node already converged it runs every action again as unchanged', async () => {
    for (const a of ensures) {
      const r = await ops.run(a);
      expect({ verb: a.verb, ok: r.ok, unchanged: r.unchanged, commands: r.commands }).toEqual({ verb: a.verb, ok: true, unchanged: true, commands: [] });
    }
  });

  it('given a shrink or a format change it refuses without touching the node', async () => {
    const shrink = await ops.run({ verb: 'lv.extend', ...base, vg: VG, name: 'web1.disk0', sizeMiB: 8 });
    expect(shrink.error).toMatchObject({ code: 'LV_SHRINK_REFUSED', retryable: false });
    const fmt = await ops.run({ verb: 'file.create', ...base, path: join(disks, 'web1.disk1'), sizeMiB: 16, format: 'raw' });
    expect(fmt.error?.code).toBe('FILE_FORMAT_MISMATCH');
  });

  it('given drift (an extra address, a changed tag) the ensures leave the address and only its own action removes it', async () => {
    sh(['ip', 'netns', 'exec', NS, 'ip', 'addr', 'add', '198.18.212.1/24', 'dev', 'br-it']);
    sh(['ovs-vsctl', `--db=unix:${join(dir, 'db.sock')}`, 'set', 'port', 'op1', 'tag=99']);
    const br = await ops.run(ensures[0]!);
    expect({ ok: br.ok, commands: br.commands }).toEqual({ ok: true, commands: [] });
    const port = await ops.run(ensures[3]!);
    expect(port.commands).toEqual([['ovs-vsctl', `--db=unix:${join(dir, 'db.sock')}`, '--timeout=10', 'set', 'port', 'op1', 'tag=10']]);
    const del = await ops.run({ verb: 'bridge.address.remove', ...base, bridge: 'br-it', address: '198.18.212.1/24' });
    expect(del.commands).toEqual([['ip', 'addr', 'del', '198.18.212.1/24', 'dev', 'br-it']]);
    const n = await ops.observe({ sysctls: [], fileDirs: [disks], ovsdbSocket: join(dir, 'db.sock') });
    expect(n.bridges['br-it']?.addresses).toEqual(['198.18.211.1/24']);
  });

  it('given lv.untag on real LVM it drops only the named tags the LV carries, and a rerun runs nothing', async () => {
    const untag: Action = { verb: 'lv.untag', ...base, vg: VG, name: 'web2.disk0', tags: ['inst=web2', 'gantry-drbd-minor=7'] };
    const r = await ops.run(untag);
    expect({ ok: r.ok, commands: r.commands }).toEqual({ ok: true, commands: [['lvchange', ...LVMCFG, '--deltag', 'inst=web2', `${VG}/web2.disk0`]] });
    expect(await ops.run(untag)).toMatchObject({ ok: true, unchanged: true, commands: [] });
    const n = await ops.observe({ sysctls: [], fileDirs: [] });
    expect(n.lvs[`${VG}/web2.disk0`]?.tags).toEqual(['gantry']);
  });

  it('given removals it removes, refuses a bridge that still holds a port, and a second pass is unchanged', async () => {
    for (const a of removals) expect(await ops.run(a)).toMatchObject({ ok: true, unchanged: false });
    for (const a of removals) expect(await ops.run(a)).toMatchObject({ ok: true, unchanged: true });
    const held = await ops.run({ verb: 'bridge.remove', ...base, name: 'br-it' });
    expect({ ok: held.ok, code: held.error?.code, commands: held.commands }).toEqual({ ok: false, code: 'BRIDGE_IN_USE', commands: [] });
    sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'p-a', 'nomaster']);
    expect(await ops.run({ verb: 'bridge.remove', ...base, name: 'br-it' })).toMatchObject({ ok: true, unchanged: false });
    const n = await ops.observe({ sysctls: [], fileDirs: [disks], ovsdbSocket: join(dir, 'db.sock') });
    expect(n.bridges['br-it']).toBeUndefined();
    expect(n.vxlans['vx-it']).toBeUndefined();
    expect(n.ovs?.bridges['obr-it']).toBeUndefined();
    expect(n.lvs[`${VG}/web1.disk0`]).toBeUndefined();
    expect(Object.keys(n.files)).toEqual([join(disks, 'web1.disk1')]);
  });
});
