import { describe, expect, it } from 'vitest';
import type { ExecOptions, ExecResult, Transport } from '../../transport/transport.js';
import { silentLogger } from '../../util/log.js';
import { QemuDriver, type LaunchInput } from './driver.js';
import { buildRuntimeRecord } from './spec.js';

/** A node with one simulated qemu, driven only by the argv the driver sends. */
class FakeNode implements Transport {
  readonly node = 'fake';
  alive = false;
  status = 'running';
  ignoresPowerButton = false;
  /** Presses the guest misses before it answers one (a guest still booting has no ACPI handler yet). */
  missesPresses = 0;
  presses = 0;
  files = new Map<string, string>();
  log: string[][] = [];

  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.log.push([...argv]);
    const ok = (stdout = ''): ExecResult => ({ argv, code: 0, stdout, stderr: '', durationMs: 1 });
    if (argv[0] === 'sh' && argv[3] === 'gantry-qemu-probe') {
      const dir = `${argv[4]}/web1`;
      if (!this.alive && !this.files.has(`${dir}/runtime.json`)) return ok('');
      let out = `@@gantry-qemu instance web1\n@@gantry-qemu pid ${this.alive ? 4242 : 'none'} ${this.alive ? 1 : 0}\n`;
      if (this.files.has(`${dir}/adminStopped`)) out += '@@gantry-qemu adminStopped\n';
      out += `@@gantry-qemu runtime\n${this.files.get(`${dir}/runtime.json`) ?? ''}\n`;
      if (this.alive && argv[5]) out += `@@gantry-qemu qmp\n${this.qmp(String(argv[5]))}`;
      return ok(out + '@@gantry-qemu end\n');
    }
    if (argv[0] === 'socat') return ok(this.qmp(String(opts.stdin)));
    if (argv[0] === 'cat' && this.files.has(argv[1]!)) return ok(this.files.get(argv[1]!));
    if (argv[0] === 'sh' && argv[3] === 'gantry-write') this.files.set(argv[4]!, String(opts.stdin));
    if (argv[0] === 'rm') for (const p of argv.slice(2)) this.files.delete(p);
    if (argv[0] === 'qemu-system-x86_64') this.alive = true;
    if (argv[0] === 'kill') this.alive = false;
    return ok();
  }

  private qmp(stdin: string): string {
    const lines = ['{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": []}}'];
    for (const l of stdin.trim().split('\n')) {
      const cmd = (JSON.parse(l) as { execute: string }).execute;
      if (cmd === 'query-status') lines.push(JSON.stringify({ return: { status: this.status, running: this.status === 'running' } }));
      else if (cmd === 'query-cpus-fast') lines.push('{"return": [{"cpu-index": 0}]}');
      else if (cmd === 'query-memory-size-summary') lines.push('{"return": {"base-memory": 134217728}}');
      else {
        if (cmd === 'system_powerdown' && ++this.presses > this.missesPresses && !this.ignoresPowerButton) this.status = 'shutdown';
        if (cmd === 'quit') this.alive = false;
        lines.push('{"return": {}}');
      }
    }
    return lines.join('\n') + '\n';
  }

  async execBatch(commands: readonly (readonly string[])[]): Promise<ExecResult[]> {
    return Promise.all(commands.map((c) => this.exec(c)));
  }
  async close(): Promise<void> {}
}

const spec: LaunchInput = {
  name: 'web1',
  uuid: '6f1c9a52-6a43-4f63-9a4e-0c5d1d0a1b01',
  memoryMiB: 128,
  vcpus: 1,
  accel: 'tcg',
  kernelPath: '/boot/vmlinuz',
  disks: [],
  nics: [],
};

function driverOn(node: FakeNode): QemuDriver {
  return new QemuDriver({ transport: node, runRoot: '/run/g/', logger: silentLogger(), sleep: async () => {}, now: () => new Date('2026-01-01T00:00:00Z') });
}

describe('QemuDriver (simulated node)', () => {
  it('given a stopped instance, start writes runtime.json, spawns qemu and clears the admin marker', async () => {
    const node = new FakeNode();
    node.files.set('/run/g/web1/adminStopped', 'x');
    const res = await driverOn(node).start(spec);
    expect(res).toEqual({ changed: true, pid: 4242 });
    expect(JSON.parse(node.files.get('/run/g/web1/runtime.json')!)).toMatchObject({ instance: 'web1', startedAt: '2026-01-01T00:00:00.000Z' });
    expect(node.files.has('/run/g/web1/adminStopped')).toBe(false);
    expect(node.log.find((a) => a[0] === 'qemu-system-x86_64')).toContain('-daemonize');
  });

  it('given a running instance, start is unchanged and says whether the spec drifted', async () => {
    const node = new FakeNode();
    node.alive = true;
    node.files.set('/run/g/web1/runtime.json', JSON.stringify(buildRuntimeRecord({ ...spec, runDir: '/run/g/web1' }, 't')));
    const d = driverOn(node);
    expect(await d.start(spec)).toEqual({ changed: false, pid: 4242, restartNeeded: false });
    expect(await d.start({ ...spec, memoryMiB: 256 })).toMatchObject({ changed: false, restartNeeded: true });
    expect(node.log.some((a) => a[0] === 'qemu-system-x86_64')).toBe(false);
  });

  it('given a running guest, stop powers down over ACPI, quits qemu and leaves the admin marker', async () => {
    const node = new FakeNode();
    node.alive = true;
    node.files.set('/run/g/web1/runtime.json', '{}');
    const res = await driverOn(node).stop('web1');
    expect(res).toEqual({ changed: true, graceful: true });
    expect(node.alive).toBe(false);
    expect(node.files.get('/run/g/web1/adminStopped')).toBe('2026-01-01T00:00:00.000Z\n');
    const qmpSent = node.log.filter((a) => a[0] === 'socat').length;
    expect(qmpSent).toBe(2); // system_powerdown, quit
  });

  it('given a guest that ignores the power button, stop times out and quits anyway (not graceful)', async () => {
    const node = new FakeNode();
    node.alive = true;
    node.ignoresPowerButton = true;
    node.files.set('/run/g/web1/runtime.json', '{}');
    const res = await driverOn(node).stop('web1', { timeoutMs: 0 });
    expect(res).toEqual({ changed: true, graceful: false });
    expect(node.alive).toBe(false);
  });

  it('given a guest that misses the first press (still booting), stop presses the power button again every 5 s and the guest powers off gracefully', async () => {
    const node = new FakeNode();
    node.alive = true;
    node.missesPresses = 2;
    node.files.set('/run/g/web1/runtime.json', '{}');
    // A virtual clock: each poll's sleep advances it.
    let t = Date.parse('2026-01-01T00:00:00Z');
    const pressedAt: number[] = [];
    const d = new QemuDriver({ transport: node, runRoot: '/run/g/', logger: silentLogger(), sleep: async (ms) => { t += ms; }, now: () => new Date(t) });
    const exec = node.exec.bind(node);
    node.exec = async (argv, opts) => {
      if (argv[0] === 'socat' && String(opts?.stdin).includes('system_powerdown')) pressedAt.push(t);
      return exec(argv, opts);
    };
    const res = await d.stop('web1', { timeoutMs: 60_000 });
    expect(res).toEqual({ changed: true, graceful: true });
    expect(node.presses).toBe(3);
    expect(pressedAt.map((x) => x - pressedAt[0]!)).toEqual([0, 5000, 10_000]);
    expect(node.alive).toBe(false);
  });

  // VM lab (test/lab/drbd-replace.test.ts, a drain): the destination got the source's /dev/drbd0, data1's device there: "Wrong medium type".
  it('given a DRBD disk whose destination minor differs, the destination qemu opens the destination path, the source keeps its own', async () => {
    const src = new FakeNode();
    const dst = new FakeNode();
    const withDisk: LaunchInput = { ...spec, disks: [{ path: '/dev/drbd0', format: 'raw', bus: 'virtio', cache: 'none' }] };
    await driverOn(src).start(withDisk);
    const qemuOf = (n: FakeNode) => n.log.find((a) => a[0] === 'qemu-system-x86_64')!.join(' ');
    await driverOn(src).migrate('web1', { destination: driverOn(dst), address: '198.18.200.2', port: 4444, timeoutMs: 1, destinationDiskPaths: new Map([['/dev/drbd0', '/dev/drbd1']]) }).catch(() => undefined); // the fake has no migration to run: only the launch matters here
    expect(qemuOf(dst)).toMatch(/file=\/dev\/drbd1,/);
    expect(qemuOf(dst)).not.toMatch(/drbd0/);
    expect(qemuOf(src)).toMatch(/file=\/dev\/drbd0,/);
  });

  it('given a migration to the same node state where the source is down, it refuses before touching anything', async () => {
    const node = new FakeNode();
    const d = driverOn(node);
    await expect(d.migrate('web1', { destination: d, address: '198.18.200.2', port: 4444 })).rejects.toMatchObject({ code: 'MIGRATION_SOURCE_DOWN', errorClass: 'prereq' });
    expect(node.log.every((a) => a[0] === 'sh')).toBe(true);
  });
});
