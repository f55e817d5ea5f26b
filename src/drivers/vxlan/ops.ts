/**
 * Idempotent VXLAN ensure. The kernel cannot change a VXLAN's id/addresses/port in
 * place, so a mismatch needs the link deleted and re-added, which also drops its FDB
 * entries and its bridge membership: that happens only when the operation says
 * `recreate` (the plan shows it), and is refused otherwise.
 */
import { PrereqError } from '../../util/errors.js';
import { NOOP, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { linkDelCmd, linkMasterCmd, linksCmd, linkUpCmd } from '../bridge/commands.js';
import { readLinks } from '../bridge/ops.js';
import { vxlanAddCmd, type VxlanSpec } from './commands.js';
import { vxlansFrom } from './parse.js';

/** What the VXLAN operations need (the executor passes its actions: only the shape matters). */
export interface VxlanEnsureParams extends VxlanSpec { readonly master?: string; readonly recreate?: boolean }
export interface VxlanRemoveParams { readonly name: string }

function createCommands(a: VxlanEnsureParams): string[][] {
  return [vxlanAddCmd(a), a.master !== undefined ? linkMasterCmd(a.name, a.master) : linkUpCmd(a.name)];
}

export const vxlanEnsureOp: EnsureOp<VxlanEnsureParams> = {
  read: () => [linksCmd()],
  describe: (a) => [...(a.recreate === true ? [linkDelCmd(a.name)] : []), ...createCommands(a)],
  decide(a, reads): Decision {
    const s = readLinks(reads);
    if ('kind' in s) return s;
    const link = s.links.find((l) => l.name === a.name);
    if (!link) return runAll(createCommands(a));
    if (link.kind !== 'vxlan') return { kind: 'refuse', error: new PrereqError('NAME_IN_USE', `${a.name} exists but is a ${link.kind || 'plain'} link, not a vxlan`, { name: a.name }) };
    const v = vxlansFrom([link])[a.name]!;
    const same = v.vni === a.vni && v.local === a.local && v.remote === a.remote && v.group === a.group && v.dstPort === a.dstPort && v.dev === a.dev;
    if (!same) {
      if (a.recreate === true) return runAll([linkDelCmd(a.name), ...createCommands(a)]);
      return { kind: 'refuse', error: new PrereqError('VXLAN_RECREATE_NOT_PLANNED', `vxlan ${a.name} differs in id, endpoints, port or device, which only a delete and re-add changes; the plan did not say recreate`, { name: a.name }) };
    }
    if (a.master !== undefined && (v.master !== a.master || !v.up)) return runAll([linkMasterCmd(a.name, a.master)]);
    return v.up ? NOOP : runAll([linkUpCmd(a.name)]);
  },
};

export const vxlanRemoveOp: EnsureOp<VxlanRemoveParams> = {
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
