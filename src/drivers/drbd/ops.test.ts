import { describe, expect, it } from 'vitest';
import type { ExecResult, Transport } from '../../transport/transport.js';
import { ensureDown, ensureMetadata, ensureUp, redact, startInitialSync } from './ops.js';
import type { Drbd84Spec } from './plan84.js';
import { golden } from './testdata/golden.js';

/**
 * A REPLAY DOUBLE of a node: DRBD cannot run on this host (no kernel module), so reads
 * answer with outputs captured from real DRBD 8.4.11 (testdata/v84) and every other
 * command succeeds and is recorded. The real runs are test/lab/drbd-driver.test.ts and
 * testdata/capture/ops-in-vm.ts.
 */
class ReplayNode implements Transport {
  readonly node = 'replay';
  readonly ran: string[][] = [];
  constructor(private readonly answers: Record<string, Partial<ExecResult>>, private readonly failing: string[] = []) {}
  async exec(argv: readonly string[]): Promise<ExecResult> {
    const key = argv.join(' ');
    const a = this.answers[key];
    if (!a) this.ran.push([...argv]);
    const code = this.failing.includes(argv[1] ?? '') ? 10 : 0;
    return { argv, code, stdout: '', stderr: code ? 'failed on purpose' : '', durationMs: 1, ...a };
  }
  async execBatch(cmds: readonly (readonly string[])[]): Promise<ExecResult[]> { return Promise.all(cmds.map((c) => this.exec(c))); }
  async close(): Promise<void> {}
}

const A: Drbd84Spec = { resource: 'resource0', minor: 0, dataDev: '/dev/vda', metaDev: '/dev/vdb', resync: { kind: 'fixed', rateKiB: 8192 },
  net: { local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 }, auth: { hmac: 'md5', secret: 'lab-secret-1' } } };
const EV = 'drbdsetup events2 --now all';
const node = (name: string, more: Record<string, Partial<ExecResult>> = {}, failing: string[] = []) => new ReplayNode({
  [EV]: { stdout: golden(`v84/events2-${name}.txt`) }, 'drbdsetup show resource0': { stdout: golden(`v84/show-${name}.txt`) }, ...more }, failing);

describe('DRBD 8.4 runner over a transport (replay double of real 8.4.11 states)', () => {
  it('given an attached, StandAlone resource, it runs disk-options then connect, and returns them with the secret redacted', async () => {
    const t = node('attached');
    const r = await ensureUp(t, A);
    expect(r.steps).toEqual(['sync-options', 'connect']);
    expect(t.ran.map((x) => x[1])).toEqual(['disk-options', 'connect']);
    expect(t.ran[1]).toContain('lab-secret-1');
    expect(JSON.stringify(r.ran)).not.toContain('lab-secret-1');
    expect(r.ran[1]?.slice(-2)).toEqual(['--shared-secret', '[redacted]']);
  });

  it('given nothing configured, it brings everything up in order; given a failing step, it stops there with the steps that ran', async () => {
    const t = node('down');
    expect((await ensureUp(t, A)).steps).toEqual(['new-resource', 'new-minor', 'attach', 'sync-options', 'connect']);
    const failing = node('down', {}, ['attach']);
    await expect(ensureUp(failing, A)).rejects.toMatchObject({ code: 'DRBD_COMMAND_FAILED', details: { ran: [['drbdsetup', 'new-resource', 'resource0'], ['drbdsetup', 'new-minor', 'resource0', '0', '0'], expect.any(Array), expect.any(Array)] } });
    expect(failing.ran.map((x) => x[1])).toEqual(['new-resource', 'new-minor', '/dev/drbd0', 'attach']);
  });

  it('given events2 cannot be read, it runs nothing (unknown is not absent)', async () => {
    const t = new ReplayNode({ [EV]: { code: 20, stderr: 'open(/var/lock/drbd-147-0): No such file or directory' } });
    await expect(ensureUp(t, A)).rejects.toMatchObject({ code: 'DRBD_READ_FAILED' });
    await expect(ensureDown(t, 'resource0')).rejects.toMatchObject({ code: 'DRBD_READ_FAILED' });
    expect(t.ran).toEqual([]);
  });

  it('given metadata on the meta LV (real dump-md), it keeps it; given none, it wipes and creates', async () => {
    const dump = 'drbdmeta /dev/drbd0 v08 /dev/vdb flex-external dump-md';
    const present = node('down', { [dump]: { stdout: golden('v84/dump-md-fresh.txt') } });
    expect(await ensureMetadata(present, A)).toEqual({ ran: [], steps: [] });
    const none = node('down', { [dump]: { code: 1, stderr: golden('v84/dump-md-none.txt') } });
    expect((await ensureMetadata(none, A)).steps).toEqual(['wipe', 'create-md']);
    expect(none.ran.map((x) => x[0])).toEqual(['dd', 'drbdmeta']);
    const inUse = node('uptodate');
    expect((await ensureMetadata(inUse, A)).steps).toEqual([]);
    expect(inUse.ran).toEqual([]);
  });

  it('given a connected Inconsistent pair, it forces primary once; given a sync running, it does nothing', async () => {
    const t = node('connected-inconsistent');
    expect((await startInitialSync(t, 0)).ran).toEqual([['drbdsetup', 'primary', '0', '--force']]);
    const syncing = node('syncing');
    expect((await startInitialSync(syncing, 0)).ran).toEqual([]);
    await expect(startInitialSync(node('attached'), 0)).rejects.toMatchObject({ code: 'DRBD_FORCE_REFUSED' });
  });

  it('given redact, only the value after --shared-secret changes', () => {
    expect(redact(['a', '--shared-secret', 'x', 'y'])).toEqual(['a', '--shared-secret', '[redacted]', 'y']);
  });
});

describe('readState (replay double)', () => {
  it('given events2 and /proc/drbd from the real resync, it returns named devices with progress; a failed read throws', async () => {
    const { readState } = await import('./ops.js');
    const t = new ReplayNode({ [EV]: { stdout: golden('v84/events2-syncing.txt') }, 'cat /proc/drbd': { stdout: golden('v84/proc-syncing.txt') } });
    expect((await readState(t)).devices[1]?.peers[0]?.sync).toEqual({ percent: 31.2, remainingKiB: 175104, etaSec: 9, speedKiBps: 17664 });
    await expect(readState(new ReplayNode({ [EV]: { stdout: '' }, 'cat /proc/drbd': { code: 1, stderr: 'No such file or directory' } }))).rejects.toMatchObject({ code: 'DRBD_READ_FAILED' });
  });
});
