/**
 * Real QEMU (TCG) end to end: build the lab guest, install it with the busybox OS
 * definition, run it through QemuDriver, observe it, stop/kill/power it off, and
 * live-migrate it between two network namespaces over a veth pair.
 * Needs root, qemu-system-x86_64, socat and busybox-static; skipped otherwise.
 * Traffic stays in namespaces this file creates (198.18.200.0/24, 198.18.201.0/24).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuDriver, MigrationError, type LaunchInput, type MigrationInfo } from '../../src/drivers/qemu/index.js';
import { runFile } from '../../src/drivers/qemu/spec.js';
import { imgCreateCmd, imgInfoCmd, imgResizeCmd } from '../../src/drivers/file/commands.js';
import { writeImage } from '../../src/drivers/os/os.js';
import { buildOsEnv, checkOsRequest, parseOsName, readOsDefinition, runOsScript } from '../../src/drivers/os/index.js';
import { tapName } from '../../src/drivers/tap/index.js';
import { generateMac } from '../../src/plan/mac.js';
import { ensureLabGuest, type LabGuest } from '../../src/lab/guest/index.js';
import { LocalTransport } from '../../src/transport/local.js';
import { silentLogger } from '../../src/util/log.js';

function have(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const missing = [
  process.getuid?.() === 0 ? undefined : 'root',
  ...['qemu-system-x86_64', 'qemu-img', 'socat', 'ip'].map((b) => (have(b) ? undefined : b)),
  existsSync('/bin/busybox') ? undefined : 'busybox-static',
].filter(Boolean);
if (missing.length) console.warn(`qemu-real: skipped, missing: ${missing.join(', ')}`);

const NS_A = 'gqemu-a';
const NS_B = 'gqemu-b';
const BRIDGE = 'gqbr0';
const ROOT = `/tmp/gantry-qemu-it-${process.pid}`;
const logger = silentLogger();

function sh(...argv: string[]): void {
  execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
}
function shQuiet(...argv: string[]): void {
  try {
    sh(...argv);
  } catch {
    /* cleanup of something that may not exist */
  }
}

/** Read a serial console unix socket until `re` matches (or time out). */
function readSerialUntil(path: string, re: RegExp, timeoutMs: number): Promise<{ text: string; firstAt: Map<string, number> }> {
  return new Promise((resolve, reject) => {
    const firstAt = new Map<string, number>();
    let text = '';
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`serial console: no ${re} within ${timeoutMs} ms; got: ${text.slice(-500)}`));
    }, timeoutMs);
    sock.on('data', (b: Buffer) => {
      text += b.toString('utf8');
      for (const m of ['booted', 'tick']) if (!firstAt.has(m) && text.includes(m)) firstAt.set(m, Date.now());
      if (re.test(text)) {
        clearTimeout(timer);
        sock.destroy();
        resolve({ text, firstAt });
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function ticks(consoleLog: string): number[] {
  return [...consoleLog.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill 0; it is gone for our purposes.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe.skipIf(missing.length > 0)('qemu driver on real QEMU (TCG)', () => {
  let guest: LabGuest;
  const nodeA = new LocalTransport({ logger, netns: NS_A, node: 'node-a' });
  const nodeB = new LocalTransport({ logger, netns: NS_B, node: 'node-b' });
  const driverA = new QemuDriver({ transport: nodeA, runRoot: `${ROOT}/node-a/run`, logger });
  const driverB = new QemuDriver({ transport: nodeB, runRoot: `${ROOT}/node-b/run`, logger });
  const seed = 'qemu-real-test';

  function launch(name: string, uuid: string, disk: string, withNic: boolean): LaunchInput {
    return {
      name,
      uuid,
      memoryMiB: 128,
      vcpus: 1,
      accel: 'tcg',
      kernelPath: guest.kernelPath,
      initrdPath: guest.initrdPath,
      kernelArgs: guest.kernelArgs,
      disks: [{ path: disk, format: 'raw', bus: 'virtio', cache: 'writeback' }],
      nics: withNic
        ? [{ tap: tapName(name, 0), mac: generateMac({ prefix: 'aa:00:00', seed, instance: name, nicIndex: 0 }), model: 'virtio', link: { mode: 'bridged', bridge: BRIDGE } }]
        : [],
    };
  }

  async function install(name: string, disk: string, params: Record<string, string>, ip?: string): Promise<void> {
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, '16M']);
    const os = parseOsName('busybox+default');
    const def = await readOsDefinition(nodeA, guest.osDir);
    const variant = checkOsRequest(def, os, params);
    const env = buildOsEnv({
      os: { name: os.name, ...(variant ? { variant } : {}) },
      instance: `${name}.lab`,
      disks: [{ path: disk }],
      nics: ip
        ? [{ mac: generateMac({ prefix: 'aa:00:00', seed, instance: name, nicIndex: 0 }), ip, mode: 'bridged', link: BRIDGE, network: { name: 'lab', subnet: '198.18.201.0/24', gateway: '198.18.201.1' } }]
        : [],
      params,
    });
    const out = await runOsScript(nodeA, { osDir: guest.osDir, script: 'create', env, logPath: `${driverA.runDir(name)}/os.log` });
    expect(out).toContain('wrote guest header');
  }

  beforeAll(() => {
    guest = ensureLabGuest({ logger });
    rmSync(ROOT, { recursive: true, force: true });
    mkdirSync(`${ROOT}/disks`, { recursive: true });
    for (const ns of [NS_A, NS_B]) shQuiet('ip', 'netns', 'del', ns);
    sh('ip', 'netns', 'add', NS_A);
    sh('ip', 'netns', 'add', NS_B);
    sh('ip', 'link', 'add', 'gq-va', 'netns', NS_A, 'type', 'veth', 'peer', 'name', 'gq-vb', 'netns', NS_B);
    for (const [ns, dev, addr] of [[NS_A, 'gq-va', '198.18.200.1/24'], [NS_B, 'gq-vb', '198.18.200.2/24']] as const) {
      sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
      sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', dev);
      sh('ip', '-n', ns, 'link', 'set', dev, 'up');
      // The guest's LAN: one bridge per node, same gateway address (only one is live at a time).
      sh('ip', '-n', ns, 'link', 'add', BRIDGE, 'type', 'bridge');
      sh('ip', '-n', ns, 'addr', 'add', '198.18.201.1/24', 'dev', BRIDGE);
      sh('ip', '-n', ns, 'link', 'set', BRIDGE, 'up');
    }
  }, 120_000);

  afterAll(async () => {
    // Stop only what this file started: every run dir's qemu, by the pid its probe verified.
    for (const d of [driverA, driverB]) {
      const seen = await d.observe().catch(() => ({}));
      for (const name of Object.keys(seen)) await d.kill(name, { markAdminStopped: false }).catch(() => undefined);
    }
    for (const ns of [NS_A, NS_B]) shQuiet('ip', 'netns', 'del', ns);
    rmSync(ROOT, { recursive: true, force: true });
  }, 60_000);

  const vm1Disk = `${ROOT}/disks/vm1.raw`;
  const vm1Uuid = '6f1c9a52-6a43-4f63-9a4e-0c5d1d0a1b01';

  it('given a fresh disk and the busybox OS, it installs, boots and ticks on the serial socket', async () => {
    await install('vm1', vm1Disk, { message: 'hello from gantry' }, '198.18.201.10');
    const t0 = Date.now();
    const res = await driverA.start(launch('vm1', vm1Uuid, vm1Disk, true));
    expect(res.changed).toBe(true);
    const serial = await readSerialUntil(runFile(driverA.runDir('vm1'), 'serial'), /tick \d+/, 60_000);
    const bootMs = (serial.firstAt.get('booted') ?? Date.now()) - t0;
    console.info(`qemu-real: vm1 booted in ${bootMs} ms (TCG)`);
    expect(serial.text).toContain('gantry-guest vm1 booted');
    expect(serial.text).toContain('hello from gantry');

    const seen = await driverA.observe();
    expect(seen.vm1).toMatchObject({ runState: 'running', guestShutdown: false, vcpus: 1, memoryMiB: 128, adminStopped: false });
    expect(seen.vm1?.pid).toBeGreaterThan(1);
    expect(seen.vm1?.runtime).toMatchObject({ instance: 'vm1', version: 1 });

    // Starting again is an unchanged ensure.
    expect((await driverA.start(launch('vm1', vm1Uuid, vm1Disk, true))).changed).toBe(false);

    // The NIC works: the guest answers on the bridge of node A.
    const ping = await until('ping', 30_000, async () => {
      const r = await nodeA.exec(['busybox', 'ping', '-c', '1', '-W', '2', '198.18.201.10']);
      return r.code === 0 ? r : undefined;
    });
    expect(ping.stdout).toContain('1 packets received');
  }, 120_000);

  it('given a running guest, stop powers it off through ACPI and marks it admin-stopped', async () => {
    const pid = (await driverA.observe()).vm1!.pid!;
    const res = await driverA.stop('vm1', { timeoutMs: 30_000 });
    expect(res).toEqual({ changed: true, graceful: true });
    expect(alive(pid)).toBe(false);
    const vm1 = (await driverA.observe()).vm1;
    expect(vm1).toMatchObject({ runState: 'stopped', adminStopped: true, guestShutdown: false });
    expect(readFileSync(`${driverA.runDir('vm1')}/console.log`, 'utf8')).toContain('powerdown-request');
    // Stopping a stopped instance changes nothing.
    expect((await driverA.stop('vm1')).changed).toBe(false);
  }, 120_000);

  it('given an admin-stopped guest, start boots it again and clears the marker', async () => {
    await driverA.start(launch('vm1', vm1Uuid, vm1Disk, true));
    const vm1 = (await driverA.observe()).vm1;
    expect(vm1).toMatchObject({ runState: 'running', adminStopped: false });
  }, 120_000);

  it('given qemu killed behind Gantry\'s back, it is observed stopped without the admin marker', async () => {
    const pid = (await driverA.observe()).vm1!.pid!;
    process.kill(pid, 'SIGKILL');
    await until('qemu to die', 10_000, async () => (alive(pid) ? undefined : true));
    const vm1 = (await driverA.observe()).vm1;
    expect(vm1).toMatchObject({ runState: 'stopped', adminStopped: false });
    expect(vm1?.runtime).toMatchObject({ instance: 'vm1' }); // ERROR_down: a runtime record, no marker
  }, 60_000);

  it('given useChroot, qemu runs chrooted into the empty chroot of its run directory, boots and stops; a chroot holding a file refuses the start', async () => {
    const disk = `${ROOT}/disks/vmc.raw`;
    await install('vmc', disk, { message: 'chrooted' });
    const input = { ...launch('vmc', '6f1c9a52-6a43-4f63-9a4e-0c5d1d0a1b0c', disk, false), chroot: true };
    const chroot = runFile(driverA.runDir('vmc'), 'chroot');
    mkdirSync(chroot, { recursive: true });
    writeFileSync(`${chroot}/leftover`, 'x');
    await expect(driverA.start(input)).rejects.toMatchObject({ code: 'QEMU_CHROOT_NOT_EMPTY' });
    expect((await driverA.observe()).vmc?.runState ?? 'stopped').toBe('stopped');
    rmSync(`${chroot}/leftover`);
    await driverA.start(input);
    const serial = await readSerialUntil(runFile(driverA.runDir('vmc'), 'serial'), /tick \d+/, 60_000);
    expect(serial.text).toContain('chrooted');
    const pid = (await driverA.observe()).vmc!.pid!;
    // the kernel's view of the process root: the chroot directory, not /
    expect(readlinkSync(`/proc/${pid}/root`)).toBe(chroot);
    expect(await driverA.stop('vmc', { timeoutMs: 30_000 })).toEqual({ changed: true, graceful: true });
    expect(alive(pid)).toBe(false);
  }, 120_000);

  it('given a qcow2 disk, it is created, installed from an image through qemu-img convert -O qcow2, grown, boots as qcow2 and live-migrates to node B', async () => {
    const image = `${ROOT}/disks/vmq-image.raw`;
    const disk = `${ROOT}/disks/vmq.qcow2`; // one path both nodes see, as a sharedfile disk
    await install('vmq', image, { message: 'from a qcow2 disk' });
    const run = async (argv: string[]) => { const r = await nodeA.exec(argv); expect(r.stderr).toBe(''); expect(r.code).toBe(0); return r.stdout; };
    await run(imgCreateCmd(disk, 'qcow2', 16));
    await writeImage(nodeA, { image, disk, sourceFormat: 'raw', targetExists: true, targetFormat: 'qcow2' });
    await run(imgResizeCmd(disk, 'qcow2', 32));
    const info = JSON.parse(await run(imgInfoCmd(disk))) as { format: string; 'virtual-size': number };
    expect([info.format, info['virtual-size']]).toEqual(['qcow2', 32 * 1024 * 1024]);
    const input = launch('vmq', '6f1c9a52-6a43-4f63-9a4e-0c5d1d0a1b0d', disk, false);
    const qcow = { ...input, disks: [{ ...input.disks[0]!, format: 'qcow2' as const, cache: 'none' as const }] };
    await driverA.start(qcow);
    const serial = await readSerialUntil(runFile(driverA.runDir('vmq'), 'serial'), /tick \d+/, 60_000);
    expect(serial.text).toContain('from a qcow2 disk');
    const result = await driverA.migrate('vmq', { destination: driverB, address: '198.18.200.2', port: 4445, maxBandwidthBytes: 256 * 1024 * 1024, downtimeLimitMs: 300, timeoutMs: 120_000 });
    expect(result.transferredBytes).toBeGreaterThan(0);
    expect((await driverB.observe()).vmq).toMatchObject({ runState: 'running' });
    const onB = await readSerialUntil(runFile(driverB.runDir('vmq'), 'serial'), /tick \d+/, 30_000);
    expect(onB.text).not.toContain('booted');
    await driverB.kill('vmq', { markAdminStopped: false });
  }, 180_000);

  it('given a running guest with a raw and a qcow2 image, qemu-img cannot grow them (QEMU holds the lock) but block_resize through QMP does; the probe reads the sizes; the same size is no change, a smaller one is refused', async () => {
    const raw = `${ROOT}/disks/vmr.raw`;
    const qcow = `${ROOT}/disks/vmr.qcow2`;
    await install('vmr', raw, { message: 'online resize' });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow, '8M']);
    const input = launch('vmr', '6f1c9a52-6a43-4f63-9a4e-0c5d1d0a1b0e', raw, false);
    await driverA.start({ ...input, disks: [{ ...input.disks[0]!, cache: 'none' }, { path: qcow, format: 'qcow2', bus: 'virtio', cache: 'none' }] });
    expect((await driverA.observe()).vmr?.drives).toEqual([{ drive: 'disk0', path: raw, sizeMiB: 16 }, { drive: 'disk1', path: qcow, sizeMiB: 8 }]);
    // What the plan used to run for a running instance: refused by QEMU's image lock.
    const locked = await nodeA.exec(imgResizeCmd(qcow, 'qcow2', 24));
    expect([locked.code, locked.stderr]).toEqual([1, expect.stringMatching(/lock/)]);
    expect(await driverA.blockResize('vmr', 'disk0', raw, 32 * 1024 * 1024)).toEqual({ changed: true, fromBytes: 16 * 1024 * 1024 });
    expect(await driverA.blockResize('vmr', 'disk1', qcow, 24 * 1024 * 1024)).toEqual({ changed: true, fromBytes: 8 * 1024 * 1024 });
    expect(await driverA.blockResize('vmr', 'disk1', qcow, 24 * 1024 * 1024)).toEqual({ changed: false, fromBytes: 24 * 1024 * 1024 });
    await expect(driverA.blockResize('vmr', 'disk1', qcow, 16 * 1024 * 1024)).rejects.toMatchObject({ code: 'REFUSED_SHRINK' });
    await expect(driverA.blockResize('vmr', 'disk1', raw, 64 * 1024 * 1024)).rejects.toMatchObject({ code: 'QMP_DRIVE_MISMATCH' });
    expect((await driverA.observe()).vmr?.drives).toEqual([{ drive: 'disk0', path: raw, sizeMiB: 32 }, { drive: 'disk1', path: qcow, sizeMiB: 24 }]);
    expect(statSync(raw).size).toBe(32 * 1024 * 1024);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', qcow], { encoding: 'utf8' })) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(24 * 1024 * 1024);
    await driverA.kill('vmr', { markAdminStopped: false });
  }, 120_000);

  it('given poweroff_after=3, the guest powers itself off and qemu stays in runstate shutdown', async () => {
    const disk = `${ROOT}/disks/vm2.raw`;
    await install('vm2', disk, { poweroff_after: '3' });
    await driverA.start(launch('vm2', '6f1c9a52-6a43-4f63-9a4e-0c5d1d0a1b02', disk, false));
    const vm2 = await until('guest poweroff', 60_000, async () => {
      const i = (await driverA.observe()).vm2;
      return i?.runState === 'shutdown' ? i : undefined;
    });
    expect(vm2).toMatchObject({ runState: 'shutdown', guestShutdown: true, adminStopped: false });
    expect(ticks(readFileSync(`${driverA.runDir('vm2')}/console.log`, 'utf8'))).toEqual([1, 2, 3]);
    const stopped = await driverA.stop('vm2');
    expect(stopped.changed).toBe(true);
    expect((await driverA.observe()).vm2).toMatchObject({ runState: 'stopped', adminStopped: true });
  }, 120_000);

  it('given a running guest on node A, it live-migrates to node B over the veth and keeps counting', async () => {
    const logA = `${driverA.runDir('vm1')}/console.log`;
    // console.log appends across boots: count only this boot (counted before it starts).
    const before = (existsSync(logA) ? readFileSync(logA, 'utf8') : '').split('booted').length;
    await driverA.start(launch('vm1', vm1Uuid, vm1Disk, true));
    await until('ticks on A', 60_000, async () => {
      const boots = readFileSync(logA, 'utf8').split('booted');
      // This boot's line first: until then the last segment is the previous boot's ticks.
      return boots.length > before && ticks(boots[boots.length - 1]!).length >= 3 ? true : undefined;
    });
    const sourcePid = (await driverA.observe()).vm1!.pid!;
    // The source run dir (and its console log) is removed by the migration: read it first.
    const lastOnA = Math.max(...ticks(readFileSync(logA, 'utf8').split('booted').pop()!));
    const progress: MigrationInfo[] = [];
    const t0 = Date.now();
    const result = await driverA.migrate('vm1', {
      destination: driverB,
      address: '198.18.200.2',
      port: 4444,
      maxBandwidthBytes: 256 * 1024 * 1024,
      downtimeLimitMs: 300,
      timeoutMs: 120_000,
      onProgress: (i) => progress.push(i),
    });
    console.info(`qemu-real: migration took ${Date.now() - t0} ms (qemu downtime ${result.downtimeMs} ms, ${result.transferredBytes} bytes)`);

    expect(progress.at(-1)?.status).toBe('completed');
    expect(result.transferredBytes).toBeGreaterThan(0);
    expect(alive(sourcePid)).toBe(false);
    expect((await driverA.observe()).vm1).toBeUndefined(); // the source run dir is gone
    expect((await driverB.observe()).vm1).toMatchObject({ runState: 'running', adminStopped: false });
    expect((await driverB.readRuntime('vm1'))?.incoming).toBeUndefined();

    // Same guest, same memory: the counter continues on B instead of rebooting.
    const serial = await readSerialUntil(runFile(driverB.runDir('vm1'), 'serial'), /tick \d+/, 30_000);
    const onB = ticks(serial.text);
    expect(serial.text).not.toContain('booted');
    expect(onB[0]).toBeGreaterThanOrEqual(lastOnA);
    // ...and its NIC now answers on node B's bridge.
    const ping = await until('ping on B', 30_000, async () => {
      const r = await nodeB.exec(['busybox', 'ping', '-c', '1', '-W', '2', '198.18.201.10']);
      return r.code === 0 ? r : undefined;
    });
    expect(ping.stdout).toContain('1 packets received');
  }, 180_000);

  it('given a migration that cannot finish in time, it cancels, removes the destination and leaves the source running', async () => {
    const before = (await driverB.observe()).vm1!;
    const err = await driverB
      .migrate('vm1', { destination: driverA, address: '198.18.200.1', port: 4445, maxBandwidthBytes: 1024 * 1024, timeoutMs: 1000 })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).code).toBe('MIGRATION_TIMEOUT');
    const afterB = (await driverB.observe()).vm1;
    expect(afterB).toMatchObject({ runState: 'running', pid: before.pid });
    expect((await driverA.observe()).vm1).toBeUndefined();
    const log = readFileSync(`${driverB.runDir('vm1')}/console.log`, 'utf8');
    const n = Math.max(...ticks(log));
    await until('B keeps ticking', 10_000, async () => (Math.max(...ticks(readFileSync(`${driverB.runDir('vm1')}/console.log`, 'utf8'))) > n ? true : undefined));
  }, 120_000);
});
