import { describe, expect, it } from 'vitest';
import type { DrbdMigrationDisk } from '../core/actions.js';
import type { ExecResult, Transport } from '../transport/transport.js';
import { golden } from '../drivers/drbd/testdata/golden.js';
import { silentLogger } from '../util/log.js';
import { describeDrbdMigration, migrateWithDualPrimary, type GuestWhere } from './drbd-migration.js';

/**
 * A REPLAY DOUBLE of a DRBD 8.4 node (no DRBD module on this host): reads answer with
 * the outputs captured from real DRBD 8.4.11 (drivers/drbd/testdata/v84: the capture VM's
 * resource0 = minor 0 and resource1 = minor 1, linked to each other), edited as the
 * commands run would change them (a role, the allow-two-primaries line). The real run is
 * test/lab/drbd.test.ts on VM nodes.
 */
class DrbdDouble implements Transport {
  readonly ran: string[] = [];
  events: string;
  show: string;
  constructor(readonly node: string, events = golden('v84/events2-uptodate.txt')) {
    this.events = events;
    this.show = golden('v84/show-uptodate.txt');
  }
  async exec(argv: readonly string[]): Promise<ExecResult> {
    const key = argv.join(' ');
    const ok = (stdout = ''): ExecResult => ({ argv, code: 0, stdout, stderr: '', durationMs: 1 });
    if (key === 'drbdsetup events2 --now all') return ok(this.events);
    if (key.startsWith('drbdsetup show ')) return ok(this.show);
    this.ran.push(key);
    const role = (res: string, r: string) => { this.events = this.events.replace(new RegExp(`(resource name:${res} role:)\\w+`), `$1${r}`); };
    if (argv[1] === 'net-options') {
      const yes = key.endsWith('=yes');
      this.show = this.show.replace(/\n\s+allow-two-primaries\tyes;/g, '');
      if (yes) this.show = this.show.replace(/( {4}net \{\n)/g, '$1        allow-two-primaries\tyes;\n');
    }
    if (argv[1] === 'primary') role(`resource${argv[2]}`, 'Primary');
    if (argv[1] === 'secondary') role(`resource${argv[2]}`, 'Secondary');
    return ok();
  }
  async execBatch(cmds: readonly (readonly string[])[]): Promise<ExecResult[]> { return Promise.all(cmds.map((c) => this.exec(c))); }
  async close(): Promise<void> {}
}

const disk: DrbdMigrationDisk = {
  index: 0,
  source: { resource: 'resource0', minor: 0, local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 } },
  target: { resource: 'resource1', minor: 1, local: { host: '127.0.0.2', port: 7789 }, peer: { host: '127.0.0.1', port: 7788 } },
};
const log = silentLogger();
type Failure = Error & { code: string; details: { ran: string[][] } };
const failure = async (p: Promise<unknown>): Promise<Failure> => p.then(() => { throw new Error('expected a failure'); }, (x: unknown) => x as Failure);
const io = (S: DrbdDouble, T: DrbdDouble, move: () => Promise<void>, where: GuestWhere = 'source') => ({ source: S, target: T, move, guestWhere: async () => where, log });

describe('DRBD live migration in the executor (replay double of real 8.4.11 states)', () => {
  it('given both sides Connected UpToDate/UpToDate, it sets allow-two-primaries on both, promotes the destination, moves QEMU, demotes the source and clears allow-two-primaries, in that order', async () => {
    const S = new DrbdDouble('n1');
    const T = new DrbdDouble('n2');
    const order: string[] = [];
    const moved = async () => { order.push(`qemu moves (n2 ${/resource1 role:Primary/.test(T.events) ? 'Primary' : 'Secondary'})`); };
    const r = await migrateWithDualPrimary([disk], io(S, T, moved));
    expect(r.ran.map((x) => x.join(' '))).toEqual([
      '@n1 drbdsetup net-options ipv4:127.0.0.1:7788 ipv4:127.0.0.2:7789 --allow-two-primaries=yes',
      '@n2 drbdsetup net-options ipv4:127.0.0.2:7789 ipv4:127.0.0.1:7788 --allow-two-primaries=yes',
      '@n2 drbdsetup primary 1',
      '@n1 drbdsetup secondary 0',
      '@n1 drbdsetup net-options ipv4:127.0.0.1:7788 ipv4:127.0.0.2:7789 --allow-two-primaries=no',
      '@n2 drbdsetup net-options ipv4:127.0.0.2:7789 ipv4:127.0.0.1:7788 --allow-two-primaries=no',
    ]);
    expect(order).toEqual(['qemu moves (n2 Primary)']);
    // what --dry-run shows is the same sequence (plus the reads)
    const d = describeDrbdMigration([disk], 'n1', 'n2');
    expect([...d.before, ...d.after].map((x) => x.join(' ')).filter((x) => !x.includes('events2'))).toEqual(r.ran.map((x) => x.join(' ')));
  });

  it('given the QEMU migration failing with the guest still on the source, it demotes the destination and clears allow-two-primaries, and the error says so', async () => {
    const S = new DrbdDouble('n1');
    const T = new DrbdDouble('n2');
    const fail = async () => { throw new Error('migration failed: Connection refused'); };
    const e = await failure(migrateWithDualPrimary([disk], io(S, T, fail, 'source')));
    expect(e).toMatchObject({ code: 'MIGRATION_FAILED' });
    expect(e.message).toMatch(/Connection refused; disks reverted: n2 demoted, allow-two-primaries cleared; the guest stays on n1/);
    expect(T.ran).toEqual([
      'drbdsetup net-options ipv4:127.0.0.2:7789 ipv4:127.0.0.1:7788 --allow-two-primaries=yes', 'drbdsetup primary 1',
      'drbdsetup secondary 1', 'drbdsetup net-options ipv4:127.0.0.2:7789 ipv4:127.0.0.1:7788 --allow-two-primaries=no',
    ]);
    expect(S.ran).toEqual(['drbdsetup net-options ipv4:127.0.0.1:7788 ipv4:127.0.0.2:7789 --allow-two-primaries=yes', 'drbdsetup net-options ipv4:127.0.0.1:7788 ipv4:127.0.0.2:7789 --allow-two-primaries=no']);
    expect(/resource0 role:Primary/.test(S.events) && /resource1 role:Secondary/.test(T.events)).toBe(true);
  });

  it('given the QEMU step failing after the guest switched to the destination, it finishes forward: the source is demoted, never the destination', async () => {
    const S = new DrbdDouble('n1');
    const T = new DrbdDouble('n2');
    const e = await failure(migrateWithDualPrimary([disk], io(S, T, async () => { throw new Error('query-migrate timed out'); }, 'target')));
    expect(e.message).toMatch(/the guest runs on n2: n1 demoted/);
    expect(S.ran).toContain('drbdsetup secondary 0');
    expect(T.ran).not.toContain('drbdsetup secondary 1');
  });

  it('given the destination resyncing (real capture), it changes nothing and says which state blocks it', async () => {
    const S = new DrbdDouble('n1');
    const T = new DrbdDouble('n2', golden('v84/events2-syncing.txt'));
    let moved = false;
    const e = await failure(migrateWithDualPrimary([disk], io(S, T, async () => { moved = true; })));
    expect(e.code).toBe('DRBD_MIGRATION_NOT_READY');
    expect(e.message).toMatch(/n2: minor 1 is not ready for a live migration: .*Inconsistent, SyncTarget/);
    expect(moved).toBe(false);
    expect([...S.ran, ...T.ran]).toEqual([]);
  });
});
