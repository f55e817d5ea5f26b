/**
 * instance.rename on a node (core/actions InstanceRename): read which LVs, files and
 * instance directories of the old and the new name exist, then run only the steps not done
 * yet: lvrename and the gantry-inst tag swap per LV, a no-clobber mv per image file and for
 * the instance directory. An object of the new name already in the way is refused (nothing
 * is overwritten); one of neither name is an error the next pass re-plans from observation.
 */
import path from 'node:path';
import type { InstanceRename } from '../core/actions.js';
import type { ExecResult } from '../transport/transport.js';
import { ExecError, PrereqError } from '../util/errors.js';
import { detachCmd } from '../drivers/drbd/cmd84.js';
import { existingCmd, mvNoClobberCmd } from '../drivers/file/commands.js';
import { readFailed, runAll, type Decision, type EnsureOp } from '../drivers/facts/shared.js';
import { lvRenameCmd, lvsOfVgCmd, lvSwapTagCmd, type LvmOptions } from '../drivers/lvm/commands.js';
import { parseLvs, type LvRow } from '../drivers/lvm/parse.js';
import { instanceLvTag } from '../plan/naming.js';

const vgsOf = (a: InstanceRename): string[] => [...new Set(a.lvs.map((l) => l.vg))].sort();
const dirPair = (a: InstanceRename): { from: string; to: string } | undefined =>
  a.runDir === undefined ? undefined : { from: path.posix.join(a.runDir, a.from), to: path.posix.join(a.runDir, a.to) };
const movesOf = (a: InstanceRename): { from: string; to: string }[] => {
  const d = dirPair(a);
  return [...a.files, ...(d ? [d] : [])];
};

/** The paths `ls -1d` printed (a missing one is only a message on stderr); undefined when ls failed otherwise. */
export function parseExisting(r: ExecResult): Set<string> | undefined {
  const other = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.includes('No such file or directory'));
  if (r.code !== 0 && (r.code !== 2 || other.length > 0)) return undefined;
  return new Set(r.stdout.split('\n').filter((l) => l !== ''));
}

export function instanceRenameOp(opts: LvmOptions): EnsureOp<InstanceRename> {
  const oldTag = (a: InstanceRename) => instanceLvTag(a.from);
  const newTag = (a: InstanceRename) => instanceLvTag(a.to);
  return {
    read: (a) => {
      const moves = movesOf(a);
      return [...vgsOf(a).map((vg) => lvsOfVgCmd(vg, opts)), ...(moves.length > 0 ? [existingCmd(moves.flatMap((m) => [m.from, m.to]))] : [])];
    },
    describe: (a) => [
      ...(a.drbdDetach ?? []).map(detachCmd),
      ...a.lvs.flatMap((l) => [...(l.from !== l.to ? [lvRenameCmd(l.vg, l.from, l.to, opts)] : []), lvSwapTagCmd(l.vg, l.to, oldTag(a), newTag(a), opts)]),
      ...movesOf(a).map((m) => mvNoClobberCmd(m.from, m.to)),
    ],
    decide(a, reads): Decision {
      const vgs = vgsOf(a);
      const rows = new Map<string, LvRow>();
      for (const [i, vg] of vgs.entries()) {
        const r = reads[i]!;
        if (r.code !== 0) return { kind: 'refuse', error: readFailed(r, 'LVM_READ_FAILED') };
        for (const lv of parseLvs(r.stdout)) if (lv.vg === vg) rows.set(`${vg}/${lv.name}`, lv);
      }
      const commands: string[][] = [];
      let renames = 0;
      for (const l of a.lvs) {
        const src = rows.get(`${l.vg}/${l.from}`);
        const dst = l.from === l.to ? src : rows.get(`${l.vg}/${l.to}`);
        if (src && dst && src !== dst) return { kind: 'refuse', error: new PrereqError('RENAME_CONFLICT', `both ${l.vg}/${l.from} and ${l.vg}/${l.to} exist: nothing is renamed over an existing LV`, { vg: l.vg, from: l.from, to: l.to }) };
        const lv = dst ?? src;
        if (!lv) return { kind: 'refuse', error: new ExecError('RENAME_SOURCE_MISSING', `neither ${l.vg}/${l.from} nor ${l.vg}/${l.to} exists any more: the next pass plans from what it finds`, { vg: l.vg, from: l.from }) };
        if (!dst) {
          commands.push(lvRenameCmd(l.vg, l.from, l.to, opts));
          renames++;
        }
        if (lv.tags.includes(oldTag(a)) || !lv.tags.includes(newTag(a))) commands.push(lvSwapTagCmd(l.vg, l.to, oldTag(a), newTag(a), opts));
      }
      const moves = movesOf(a);
      if (moves.length > 0) {
        const r = reads[vgs.length]!;
        const have = parseExisting(r);
        if (!have) return { kind: 'refuse', error: readFailed(r, 'RENAME_READ_FAILED') };
        for (const m of moves) {
          if (have.has(m.from) && have.has(m.to)) return { kind: 'refuse', error: new PrereqError('RENAME_CONFLICT', `both ${m.from} and ${m.to} exist: nothing is moved over an existing file or directory`, { from: m.from, to: m.to }) };
          if (have.has(m.to)) continue;
          if (!have.has(m.from)) return { kind: 'refuse', error: new ExecError('RENAME_SOURCE_MISSING', `neither ${m.from} nor ${m.to} exists any more: the next pass plans from what it finds`, { from: m.from }) };
          commands.push(mvNoClobberCmd(m.from, m.to));
        }
      }
      // DRBD devices let go of the LVs before they move (only while some LV still has its old name)
      return runAll([...(renames > 0 ? (a.drbdDetach ?? []).map(detachCmd) : []), ...commands]);
    },
  };
}
