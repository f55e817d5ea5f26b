import { describe, expect, it } from 'vitest';
import type { ExecResult, Transport } from '../transport/transport.js';
import type { Action } from '../core/actions.js';
import { ShellNodeOps } from './shell-node-ops.js';
import { createLogger } from '../util/log.js';
import { golden } from '../drivers/drbd/testdata/golden.js';

/**
 * A REPLAY DOUBLE of a node (DRBD cannot run on this host): `drbdsetup events2 --now`
 * answers with states captured from real DRBD 8.4.11 (drivers/drbd/testdata/v84), one
 * answer per read in turn; every other command succeeds and is recorded. The real run is
 * the VM lab test (test/lab/drbd.test.ts).
 */
class ReplayNode implements Transport {
  readonly node = 'n1';
  readonly ran: string[][] = [];
  constructor(private readonly states: string[], private readonly show = '') {}
  async exec(argv: readonly string[]): Promise<ExecResult> {
    const key = argv.join(' ');
    const ok = (stdout: string): ExecResult => ({ argv, code: 0, stdout, stderr: '', durationMs: 1 });
    if (key === 'drbdsetup events2 --now all') return ok(golden(`v84/events2-${this.states.length > 1 ? this.states.shift()! : this.states[0]!}.txt`));
    if (argv[1] === 'show') return ok(this.show);
    if (argv[0] === 'cat') return ok('/sbin/drbdadm\n'); // the module's default usermode_helper
    this.ran.push([...argv]);
    return ok('');
  }
  async execBatch(cmds: readonly (readonly string[])[]): Promise<ExecResult[]> { const out: ExecResult[] = []; for (const c of cmds) out.push(await this.exec(c)); return out; }
  async close(): Promise<void> {}
}

const logger = createLogger({ level: 'silent' });
const opsOn = (t: ReplayNode) => new ShellNodeOps({ node: 'n1', transport: t, logger, drbdWait: { sleep: async () => {}, intervalMs: 1000 } });
const base = { node: 'n1', subject: 'Instance/db1', reason: 'test', resource: 'resource0', minor: 0 } as const;
const up: Action = {
  ...base, verb: 'drbd.up', dataDev: '/dev/vg0/db1.disk0', metaDev: '/dev/vg0/db1.disk0_meta', sizeMiB: 1024,
  local: { host: '198.18.1.1', port: 11000 }, peer: { host: '198.18.1.2', port: 11000 }, peerNode: 'n2', protocol: 'C',
  resync: { kind: 'fixed', rateKiB: 30720 }, barriers: { noDiskFlushes: true }, usermodeHelper: '/bin/true',
};

describe('drbd.* actions on a node (replay double of real 8.4.11 states)', () => {
  it('given nothing configured, drbd.up runs the 8.4 bring-up in Ganeti\'s order with the plan\'s sync and barrier options', async () => {
    const t = new ReplayNode(['down']);
    const r = await opsOn(t).run(up);
    expect(r).toMatchObject({ ok: true, unchanged: false });
    expect(t.ran.shift()).toEqual(['tee', '/sys/module/drbd/parameters/usermode_helper']);
    expect(t.ran.map((a) => a.slice(0, 2).join(' '))).toEqual(['drbdsetup new-resource', 'drbdsetup new-minor', 'drbdmeta /dev/drbd0', 'drbdsetup attach', 'drbdsetup disk-options', 'drbdsetup connect']);
    expect(t.ran[3]).toEqual(['drbdsetup', 'attach', '0', '/dev/vg0/db1.disk0', '/dev/vg0/db1.disk0_meta', 'flexible', '--on-io-error=detach', '--size', '1024m', '--disk-flushes=no']);
    expect(t.ran[4]).toEqual(['drbdsetup', 'disk-options', '0', '--resync-rate', '30720k']);
    expect(t.ran[5]).toEqual(expect.arrayContaining(['ipv4:198.18.1.1:11000', 'ipv4:198.18.1.2:11000', '--protocol', 'C']));
  });

  it('given the peer connecting only on the second read, drbd.primary waits for it and then promotes', async () => {
    const t = new ReplayNode(['attached', 'attached', 'uptodate']);
    // resource0 is Primary in the uptodate capture: use its Secondary twin's answer by minor 1
    const r = await opsOn(t).run({ ...base, verb: 'drbd.primary', resource: 'resource1', minor: 1, waitS: 10 });
    expect(r).toMatchObject({ ok: true, unchanged: false });
    expect(t.ran).toEqual([['drbdsetup', 'primary', '1']]);
  });

  it('given a peer that never connects, drbd.primary promotes nothing and fails DRBD_PEER_MISSING', async () => {
    const t = new ReplayNode(['attached']);
    const r = await opsOn(t).run({ ...base, verb: 'drbd.primary', waitS: 3 });
    expect(r).toMatchObject({ ok: false, error: { code: 'DRBD_PEER_MISSING' } });
    expect(r.error!.message).toMatch(/may hold stale data/);
    expect(t.ran).toEqual([]);
  });

  it('given an UpToDate pair, drbd.initial-sync forces nothing; given both Inconsistent and connected, it forces the primary once', async () => {
    const done = new ReplayNode(['uptodate']);
    expect(await opsOn(done).run({ ...base, verb: 'drbd.initial-sync', waitS: 5 })).toMatchObject({ ok: true, unchanged: true });
    expect(done.ran).toEqual([]);
    const fresh = new ReplayNode(['connected-inconsistent']);
    expect(await opsOn(fresh).run({ ...base, verb: 'drbd.initial-sync', waitS: 5 })).toMatchObject({ ok: true, unchanged: false });
    expect(fresh.ran).toEqual([['drbdsetup', 'primary', '0', '--force']]);
  });

  it('given a resource that is down, drbd.down runs nothing; given it up, it runs drbdsetup down', async () => {
    const gone = new ReplayNode(['down']);
    expect(await opsOn(gone).run({ ...base, verb: 'drbd.down' })).toMatchObject({ ok: true, unchanged: true });
    const live = new ReplayNode(['uptodate']);
    await opsOn(live).run({ ...base, verb: 'drbd.down' });
    expect(live.ran).toEqual([['drbdsetup', 'down', 'resource0']]);
  });

  it('describes the exact argv for --dry-run', () => {
    expect(opsOn(new ReplayNode(['down'])).describe({ ...base, verb: 'drbd.resize', sizeMiB: 2048 })).toEqual([['drbdsetup', 'resize', '0', '--size', '2048m']]);
  });

  it('given a secondary replacement on a node linked to its old peer (real show and events2), drbd.disconnect drops exactly that link; linked to the new peer it runs nothing', async () => {
    const show = golden('v84/show-uptodate.txt');
    const disconnect: Action = { ...base, verb: 'drbd.disconnect', local: { host: '127.0.0.1', port: 7788 }, keep: { host: '127.0.0.3', port: 7788 }, from: ['n2'] };
    const t = new ReplayNode(['uptodate'], show);
    expect(await opsOn(t).run(disconnect)).toMatchObject({ ok: true, unchanged: false });
    expect(t.ran).toEqual([['drbdsetup', 'disconnect', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789']]);
    const same = new ReplayNode(['uptodate'], show);
    expect(await opsOn(same).run({ ...disconnect, keep: { host: '127.0.0.2', port: 7789 } })).toMatchObject({ ok: true, unchanged: true });
    expect(same.ran).toEqual([]);
    expect(opsOn(same).describe(disconnect)).toEqual([['drbdsetup', 'show', 'resource0'], ['drbdsetup', 'disconnect', 'ipv4:127.0.0.1:7788', '<the peer drbdsetup show names, unless the link is ipv4:127.0.0.1:7788 -> ipv4:127.0.0.3:7788>']]);
  });

  it('given drbd.wait-sync, it returns once the pair is UpToDate/UpToDate (real), and fails DRBD_SYNC_PENDING while the resync runs past its time (real syncing state)', async () => {
    const wait: Action = { ...base, verb: 'drbd.wait-sync', peerNode: 'n2', waitS: 2 };
    expect(await opsOn(new ReplayNode(['syncing', 'uptodate'])).run(wait)).toMatchObject({ ok: true });
    const r = await opsOn(new ReplayNode(['syncing'])).run(wait);
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('DRBD_SYNC_PENDING');
  });

  // The shows are captured from the VM lab (DRBD 8.4.11): node1's link during the live-migration role switch, and a single-primary pair.
  it('given allow-two-primaries left on the link (real show), drbd.single-primary clears it with net-options; given it already cleared (the same show without that line, as 8.4 prints a single-primary link), it runs nothing', async () => {
    const clear: Action = { ...base, verb: 'drbd.single-primary', local: { host: '198.19.233.11', port: 11000 }, remote: { host: '198.19.233.12', port: 11000 } };
    const t = new ReplayNode(['uptodate'], golden('v84/show-dual-primary.txt'));
    expect(await opsOn(t).run(clear)).toMatchObject({ ok: true, unchanged: false });
    expect(t.ran).toEqual([['drbdsetup', 'net-options', 'ipv4:198.19.233.11:11000', 'ipv4:198.19.233.12:11000', '--allow-two-primaries=no']]);
    const done = new ReplayNode(['uptodate'], golden('v84/show-dual-primary.txt').replace(/^\s*allow-two-primaries.*\n/m, ''));
    expect(await opsOn(done).run(clear)).toMatchObject({ ok: true, unchanged: true });
    expect(done.ran).toEqual([]);
    expect(opsOn(done).describe(clear)).toEqual([['drbdsetup', 'show', 'resource0'], ['drbdsetup', 'net-options', 'ipv4:198.19.233.11:11000', 'ipv4:198.19.233.12:11000', '--allow-two-primaries=no']]);
    const elsewhere = new ReplayNode(['uptodate'], golden('v84/show-uptodate.txt'));
    expect((await opsOn(elsewhere).run(clear)).error?.code).toBe('DRBD_NET_MISMATCH');
  });
});
