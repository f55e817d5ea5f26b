/**
 * Live migration of an instance on DRBD disks, Ganeti's sequence (lib/cmdlib/
 * instance_migration.py, _ExecMigration for DRBD), each step an observed ensure of the
 * 8.4 runner (drivers/drbd/ops.ts), or of the DRBD 9 one (ops9.ts) for a side that carries
 * `v9` (allow-two-primaries set per connection, by the peer's node id):
 *
 *   1. both sides Connected, UpToDate/UpToDate, no resync (checked on the nodes, now)
 *   2. allow-two-primaries on both ends of each link (net-options, no reconnect; 8.4 passes
 *      the change to the connected peer, so the second end's ensure finds it set: checked on
 *      the VM lab, testdata v84/show-dual-primary-peer.txt)
 *   3. the destination promoted (dual primary: the source stays Primary)
 *   4. QEMU migrates (`move`: the incoming QEMU on the destination is paused until the
 *      switchover, so only one guest ever writes)
 *   5. the source demoted
 *   6. allow-two-primaries cleared on both ends
 *
 * A failure in 1-4 while the guest still runs on the source (or nowhere) reverts the
 * disks: the destination demoted, allow-two-primaries cleared; QEMU stays on the source
 * (the QEMU driver already stopped the incoming copy). If the guest ended on the
 * destination, 5-6 run instead. Either way the error is returned with what was done.
 */
import type { DrbdMigrationDisk } from '../core/actions.js';
import * as c from '../drivers/drbd/cmd84.js';
import { checkMigrationReady, ensureDualPrimary, ensureMigrationPrimary, ensureSecondary, type EnsureResult } from '../drivers/drbd/ops.js';
import * as c9 from '../drivers/drbd/cmd9.js';
import { checkMigrationReady9, ensureDualPrimary9, ensureMigrationPrimary9, ensureSecondary9 } from '../drivers/drbd/ops9.js';
import type { DrbdMigrationSide } from '../core/actions.js';
import type { Transport } from '../transport/transport.js';
import { ExecError, GantryError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** Where the guest runs after a failed QEMU step (from both nodes' run states). */
export type GuestWhere = 'source' | 'target' | 'none';

export interface DrbdMigrationIo {
  readonly source: Transport;
  readonly target: Transport;
  /** The QEMU migration (step 4); throws when it failed. */
  readonly move: () => Promise<void>;
  /** After a failure: where the guest runs now. */
  readonly guestWhere: () => Promise<GuestWhere>;
  readonly log: Logger;
}

export interface DrbdMigrationResult {
  /** The DRBD commands that ran, "@node" first, in order. */
  readonly ran: readonly string[][];
}

/** Each step on one side: the 8.4 runner, or the DRBD 9 one when the side carries `v9` (allow-two-primaries per connection). */
const side = {
  ready: (t: Transport, d: DrbdMigrationSide): Promise<void> => (d.v9 ? checkMigrationReady9(t, d.minor, d.v9.peerNodeId) : checkMigrationReady(t, d.minor)),
  dual: (t: Transport, d: DrbdMigrationSide, allow: boolean, log: Logger): Promise<EnsureResult> => (d.v9 ? ensureDualPrimary9(t, d.resource, d.v9.peerNodeId, allow, log) : ensureDualPrimary(t, d, allow, log)),
  promote: (t: Transport, d: DrbdMigrationSide, log: Logger): Promise<EnsureResult> => (d.v9 ? ensureMigrationPrimary9(t, d.resource, d.minor, d.v9.peerNodeId, log) : ensureMigrationPrimary(t, d, log)),
  demote: (t: Transport, d: DrbdMigrationSide, log: Logger): Promise<EnsureResult> => (d.v9 ? ensureSecondary9(t, d.resource, d.minor, log) : ensureSecondary(t, d.minor, log)),
};
const dualCmd = (d: DrbdMigrationSide, allow: boolean): string[] => (d.v9 ? c9.allowTwoPrimariesCmd(d.resource, d.v9.peerNodeId, allow) : c.allowTwoPrimariesCmd(d.local, d.peer, allow));

/** The DRBD half of the migration as --dry-run shows it: before QEMU moves, and after. */
export function describeDrbdMigration(disks: readonly DrbdMigrationDisk[], source: string, target: string): { before: string[][]; after: string[][] } {
  const at = (n: string, argv: string[]) => [`@${n}`, ...argv];
  return {
    before: [
      at(source, c.events2NowCmd()), at(target, c.events2NowCmd()),
      ...disks.flatMap((d) => [at(source, dualCmd(d.source, true)), at(target, dualCmd(d.target, true))]),
      ...disks.map((d) => at(target, d.target.v9 ? c9.primaryCmd(d.target.resource) : c.primaryCmd(d.target.minor))),
    ],
    after: [
      ...disks.map((d) => at(source, d.source.v9 ? c9.secondaryCmd(d.source.resource) : c.secondaryCmd(d.source.minor))),
      ...disks.flatMap((d) => [at(source, dualCmd(d.source, false)), at(target, dualCmd(d.target, false))]),
    ],
  };
}

export async function migrateWithDualPrimary(disks: readonly DrbdMigrationDisk[], io: DrbdMigrationIo): Promise<DrbdMigrationResult> {
  const ran: string[][] = [];
  const note = (t: Transport, r: EnsureResult) => ran.push(...r.ran.map((argv) => [`@${t.node}`, ...argv]));
  const { source: S, target: T, log } = io;
  const forward = async () => {
    for (const d of disks) note(S, await side.demote(S, d.source, log));
    for (const d of disks) {
      note(S, await side.dual(S, d.source, false, log));
      note(T, await side.dual(T, d.target, false, log));
    }
  };
  let moved = false;
  try {
    for (const d of disks) {
      await side.ready(S, d.source);
      await side.ready(T, d.target);
    }
    for (const d of disks) {
      note(S, await side.dual(S, d.source, true, log));
      note(T, await side.dual(T, d.target, true, log));
    }
    for (const d of disks) note(T, await side.promote(T, d.target, log));
    await io.move();
    moved = true;
    await forward();
    return { ran };
  } catch (e) {
    const cause = e instanceof GantryError ? e : new ExecError('MIGRATION_FAILED', e instanceof Error ? e.message : String(e));
    if (moved) {
      // The guest runs on the destination: only the source's demotion or the cleanup failed. Nothing to revert; the next pass finishes it.
      throw new GantryError(cause.errorClass, cause.code, `${cause.message}; the guest runs on ${T.node}: the DRBD switch is finished by the next pass (${S.node} demoted, allow-two-primaries cleared)`, { ...cause.details, ran }, { cause: e, transient: cause.transient });
    }
    const where = await io.guestWhere().catch(() => 'none' as const);
    try {
      if (where === 'target') {
        await forward();
      } else {
        for (const d of disks) note(T, await side.demote(T, d.target, log));
        for (const d of disks) {
          note(T, await side.dual(T, d.target, false, log));
          note(S, await side.dual(S, d.source, false, log));
        }
      }
    } catch (r) {
      const why = r instanceof Error ? r.message : String(r);
      log.error({ source: S.node, target: T.node, where, error: why }, 'DRBD migration: the disks could not be put back');
      throw new ExecError('MIGRATION_REVERT_FAILED', `${cause.message}; then putting the DRBD disks back failed (${why}): check the roles on ${S.node} and ${T.node} (cat /proc/drbd) before anything else`, { ran });
    }
    const done = where === 'target'
      ? `the guest runs on ${T.node}: ${S.node} demoted, allow-two-primaries cleared`
      : `disks reverted: ${T.node} demoted, allow-two-primaries cleared; the guest ${where === 'source' ? `stays on ${S.node}` : `runs on neither node (left stopped for a sysadmin)`}`;
    log.warn({ source: S.node, target: T.node, where, code: cause.code }, `DRBD migration failed: ${done}`);
    throw new GantryError(cause.errorClass, cause.code, `${cause.message}; ${done}`, { ...cause.details, ran }, { cause: e, transient: cause.transient });
  }
}
