import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { LvExtend, SysctlSet } from '../core/actions.js';
import type { ExecResult, Transport } from '../transport/transport.js';
import { TransportError } from '../util/errors.js';
import { silentLogger } from '../util/log.js';
import { ShellNodeOps } from './shell-node-ops.js';
import { executePlan } from './executor.js';

const g = (f: string) => readFileSync(new URL(`../drivers/testdata/${f}`, import.meta.url), 'utf8');

/** A transport that answers from a function and records what ran. */
function fake(answer: (argv: readonly string[]) => Partial<ExecResult>, opts: { unreachable?: boolean } = {}) {
  const execs: string[][] = [];
  const batches: string[][][] = [];
  const res = (argv: readonly string[]): ExecResult => ({ argv, code: 0, stdout: '', stderr: '', durationMs: 1, ...answer(argv) });
  const t: Transport = {
    node: 'n1',
    async exec(argv) { execs.push([...argv]); return res(argv); },
    async execBatch(cmds) {
      if (opts.unreachable) throw new TransportError('UNREACHABLE', 'ssh: connect ECONNREFUSED 198.18.0.9:22');
      batches.push(cmds.map((c) => [...c]));
      return cmds.map(res);
    },
    async close() {},
  };
  return { t, execs, batches };
}
const base = { node: 'n1', subject: 'Node/n1', reason: 'r' };
const sysctl = (value: string): SysctlSet => ({ verb: 'sysctl.set', ...base, key: 'net.ipv4.ip_forward', value });
const sysctlAnswer = (argv: readonly string[]) => (argv.includes('-w') ? {} : { stdout: 'net.ipv4.ip_forward = 0\n' });

describe('ShellNodeOps', () => {
  it('given a node it observes in exactly one execBatch', async () => {
    const f = fake((argv) => (argv[0] === 'hostname' ? { stdout: 'n1\n' } : { code: 1, stderr: 'nope' }));
    const ops = new ShellNodeOps({ node: 'n1', transport: f.t, logger: silentLogger(), now: () => 0 });
    const n = await ops.observe({ sysctls: [], fileDirs: [] });
    expect(f.batches).toHaveLength(1);
    expect(f.execs).toHaveLength(0);
    expect(n).toMatchObject({ reachable: true, observedAt: '1970-01-01T00:00:00.000Z', facts: { hostname: 'n1' } });
    expect(n.probeErrors.length).toBeGreaterThan(0);
  });

  it('given an extra probe it runs in the same batch and its sections land in the snapshot', async () => {
    const f = fake((argv) => (argv[0] === 'qemu-probe' ? { stdout: 'vm1' } : {}));
    const ops = new ShellNodeOps({
      node: 'n1', transport: f.t, logger: silentLogger(),
      extraProbe: () => ({
        commands: [['qemu-probe']],
        parse: ([r]) => ({ instances: { [r!.stdout]: { name: r!.stdout, runState: 'running' as const, guestShutdown: false } } }),
      }),
    });
    const n = await ops.observe({ sysctls: [], fileDirs: [] });
    expect(f.batches).toHaveLength(1);
    expect(f.batches[0]!.at(-1)).toEqual(['qemu-probe']);
    expect(Object.keys(n.instances)).toEqual(['vm1']);
  });

  it('given an extra probe that cannot be parsed it treats the node as unobservable rather than empty', async () => {
    const f = fake(() => ({}));
    const ops = new ShellNodeOps({
      node: 'n1', transport: f.t, logger: silentLogger(),
      extraProbe: () => ({ commands: [['qemu-probe']], parse: () => { throw new Error('instance probe failed'); } }),
    });
    const n = await ops.observe({ sysctls: [], fileDirs: [] });
    expect(n).toMatchObject({ reachable: false, error: 'instance probe failed' });
  });

  it('given an unreachable node it returns reachable=false with the transport error', async () => {
    const ops = new ShellNodeOps({ node: 'n1', transport: fake(() => ({}), { unreachable: true }).t, logger: silentLogger() });
    const n = await ops.observe({ sysctls: [], fileDirs: [] });
    expect(n).toMatchObject({ reachable: false, error: 'ssh: connect ECONNREFUSED 198.18.0.9:22' });
  });

  it('given the node already as desired it reads, runs nothing and reports unchanged', async () => {
    const f = fake(sysctlAnswer);
    const r = await new ShellNodeOps({ node: 'n1', transport: f.t, logger: silentLogger() }).run(sysctl('0'));
    expect(r).toMatchObject({ ok: true, unchanged: true, commands: [] });
    expect(f.execs).toEqual([]);
  });

  it('given a difference it runs the write and logs one structured line without values', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c))); cb(); } }));
    const f = fake(sysctlAnswer);
    const ops = new ShellNodeOps({ node: 'n1', transport: f.t, logger });
    const r = await ops.run(sysctl('1'));
    expect(r).toMatchObject({ ok: true, unchanged: false, commands: [['sysctl', '-w', 'net.ipv4.ip_forward=1']] });
    expect(ops.describe(sysctl('1'))).toEqual([['sysctl', '-w', 'net.ipv4.ip_forward=1']]);
    const line = lines.find((l) => l.msg === 'action')!;
    expect(line).toMatchObject({ verb: 'sysctl.set', node: 'n1', subject: 'Node/n1', ok: true });
    expect(typeof line.durationMs).toBe('number');
    expect(JSON.stringify(line)).not.toContain('ip_forward=1');
  });

  it('given a failing write it returns COMMAND_FAILED, not retryable (a deterministic failure), instead of throwing', async () => {
    const f = fake((argv) => (argv.includes('-w') ? { code: 255, stderr: 'sysctl: permission denied on key "net.ipv4.ip_forward"\n' } : sysctlAnswer(argv)));
    const r = await new ShellNodeOps({ node: 'n1', transport: f.t, logger: silentLogger() }).run(sysctl('1'));
    expect(r.ok).toBe(false);
    expect(r.error).toEqual({ code: 'COMMAND_FAILED', message: 'sysctl -w exited 255: sysctl: permission denied on key "net.ipv4.ip_forward"', retryable: false });
  });

  it('given a command that fails deterministically, the executor runs it once and fails fast', async () => {
    const f = fake((argv) => (argv.includes('-w') ? { code: 1, stderr: 'sysctl: cannot stat /proc/sys/net/ipv4/ip_forward\n' } : sysctlAnswer(argv)));
    const ops = new Map([['n1', new ShellNodeOps({ node: 'n1', transport: f.t, logger: silentLogger() })]]);
    const delays: number[] = [];
    const a = sysctl('1');
    const report = await executePlan({ entries: [], actions: [a], waves: [[a]], refused: [], orphans: [], unreachable: [] }, ops, {
      logger: silentLogger(), retries: 2, retryDelay: async (n) => { delays.push(n); },
    });
    expect(report.results.map((r) => r.error?.code)).toEqual(['COMMAND_FAILED']);
    expect(f.execs.filter((argv) => argv.includes('-w'))).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('given a command that failed only because another process held a lock, it is declared transient and retried', async () => {
    let calls = 0;
    const f = fake((argv) => (argv.includes('-w') && calls++ === 0 ? { code: 5, stderr: '  Unable to obtain global lock.\n' } : sysctlAnswer(argv)));
    const ops = new Map([['n1', new ShellNodeOps({ node: 'n1', transport: f.t, logger: silentLogger() })]]);
    const a = sysctl('1');
    const report = await executePlan({ entries: [], actions: [a], waves: [[a]], refused: [], orphans: [], unreachable: [] }, ops, {
      logger: silentLogger(), retries: 2, retryDelay: async () => undefined,
    });
    expect(report.ok).toBe(true);
    expect(f.execs.filter((argv) => argv.includes('-w'))).toHaveLength(2);
  });

  it('given a shrink it refuses with a terminal, non-retryable error and runs nothing', async () => {
    const f = fake((argv) => ({ stdout: argv[0] === 'vgs' ? g('lvm/vgs.json') : g('lvm/lvs.json') }));
    const a: LvExtend = { verb: 'lv.extend', ...base, vg: 'gdrvcap', name: 'disk1b', sizeMiB: 8 };
    const r = await new ShellNodeOps({ node: 'n1', transport: f.t, logger: silentLogger(), lvmActivation: false }).run(a);
    expect(r).toMatchObject({ ok: false, unchanged: true, error: { code: 'LV_SHRINK_REFUSED', retryable: false } });
    expect(f.batches[0]![0]).toContain('global { activation = 0 }');
    expect(f.execs).toEqual([]);
  });

  it('given an invalid name it returns a prereq error, and given an unreachable node a retryable one', async () => {
    const ops = new ShellNodeOps({ node: 'n1', transport: fake(sysctlAnswer).t, logger: silentLogger() });
    const bad = await ops.run({ ...sysctl('1'), key: '-p' });
    expect(bad.error).toMatchObject({ code: 'INVALID_NAME', retryable: false });
    const down = await new ShellNodeOps({ node: 'n1', transport: fake(() => ({}), { unreachable: true }).t, logger: silentLogger() }).run(sysctl('1'));
    expect(down.error).toMatchObject({ code: 'UNREACHABLE', retryable: true });
  });

  it('given a verb it has no driver for it uses the delegate, or refuses without one', async () => {
    const inst = { verb: 'instance.stop', ...base, name: 'web1', runDir: '/run/gantry', timeoutS: 10 } as const;
    const none = await new ShellNodeOps({ node: 'n1', transport: fake(() => ({})).t, logger: silentLogger() }).run(inst);
    expect(none.error).toMatchObject({ code: 'UNSUPPORTED_VERB', retryable: false });
    const delegate = { describe: () => [['echo']], run: async () => ({ action: inst, ok: true, unchanged: true, commands: [], durationMs: 0 }) };
    const ops = new ShellNodeOps({ node: 'n1', transport: fake(() => ({})).t, logger: silentLogger(), delegate });
    expect((await ops.run(inst)).ok).toBe(true);
    expect(ops.describe(inst)).toEqual([['echo']]);
  });
});
