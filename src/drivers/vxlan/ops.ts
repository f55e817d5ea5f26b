/**
 * Idempotent VXLAN ensure. The kernel cannot change a VXLAN's id/addresses/port in
 * place, so a mismatch recreates the link (a net device, no data is lost).
 */
import type { VxlanEnsure, VxlanRemove } from '../../core/actions.js';
import { PrereqError } from '../../util/errors.js';
import { NOOP, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { linkDelCmd, linkMasterCmd, linksCmd, linkUpCmd } from '../bridge/commands.js';
import { readLinks } from '../bridge/ops.js';
import { vxlanAddCmd } from './commands.js';
import { vxlansFrom } from './parse.js';

function createCommands(a: VxlanEnsure): string[][] {
  return [vxlanAddCmd(a), a.master !== undefined ? linkMasterCmd(a.name, a.master) : linkUpCmd(a.name)];
}

export const vxlanEnsureOp: EnsureOp<VxlanEnsure> = {
  read: () => [linksCmd()],
  describe: createCommands,
  decide(a, reads): Decision {
    const s = readLinks(reads);
    if ('kind' in s) return s;
    const link = s.links.find((l) => l.name === a.name);
    if (!link) return runAll(createCommands(a));
    if (link.kind !== 'vxlan') return { kind: 'refuse', error: new PrereqError('NAME_IN_USE', `${a.name} exists but is a ${link.kind || 'plain'} link, not a vxlan`, { name: a.name }) };
    const v = vxlansFrom([link])[a.name]!;
    const same = v.vni === a.vni && v.local === a.local && v.remote === a.remote && v.group === a.group && v.dstPort === a.dstPort && v.dev === a.dev;
    if (!same) return runAll([linkDelCmd(a.name), ...createCommands(a)]);
    if (a.master !== undefined && (v.master !== a.master || !v.up)) return runAll([linkMasterCmd(a.name, a.master)]);
    return v.up ? NOOP : runAll([linkUpCmd(a.name)]);
  },
};

export const vxlanRemoveOp: EnsureOp<VxlanRemove> = {
  read: () => [linksCmd()],
  describe: (a) => [linkDelCmd(a.name)],
  decide(a, reads) {
    const s = readLinks(reads);
    if ('kind' in s) return s;
    const link = s.links.find((l) => l.name === a.name);
    if (!link) return NOOP;
    if (link.kind !== 'vxlan') return { kind: 'refuse', error: new PrereqError('NAME_IN_USE', `${a.name} is a ${link.kind || 'plain'} link, not a vxlan: not removing it`, { name: a.name }) };
    return runAll([linkDelCmd(a.name)]);
  },
};
