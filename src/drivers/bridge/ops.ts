/**
 * Idempotent Linux bridge operations. Read the links and addresses, then change only
 * what differs. Ports not listed are left enslaved: instance taps join bridges at VM
 * start and are not the node profile's to remove.
 */
import type { BridgeEnsure, BridgeRemove } from '../../core/actions.js';
import type { ExecResult } from '../../transport/transport.js';
import { PrereqError } from '../../util/errors.js';
import { NOOP, readFailed, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { addrAddCmd, addrDelCmd, addrsCmd, bridgeAddCmd, bridgeSetVlanFilteringCmd, linkDelCmd, linkMasterCmd, linkMtuCmd, linksCmd, linkUpCmd } from './commands.js';
import { bridgesFrom, parseAddrs, parseLinks, type Link } from './parse.js';

/** Read both listings; a failed read refuses with the command's own message. */
export function readLinks(reads: readonly ExecResult[]): { links: Link[]; addrs: Map<string, string[]> } | Decision {
  const [l, a] = reads;
  if (!l) throw new Error('bridge: expected link read result');
  if (l.code !== 0) return { kind: 'refuse', error: readFailed(l, 'LINK_READ_FAILED') };
  if (a && a.code !== 0) return { kind: 'refuse', error: readFailed(a, 'LINK_READ_FAILED') };
  return { links: parseLinks(l.stdout), addrs: a ? parseAddrs(a.stdout) : new Map() };
}
const isDecision = (x: object): x is Decision => 'kind' in x;

function createCommands(a: BridgeEnsure): string[][] {
  return [
    bridgeAddCmd(a.name, a.vlanFiltering),
    ...(a.mtu !== undefined ? [linkMtuCmd(a.name, a.mtu)] : []),
    ...a.addresses.map((c) => addrAddCmd(c, a.name)),
    ...a.ports.map((p) => linkMasterCmd(p, a.name)),
    linkUpCmd(a.name),
  ];
}

export const bridgeEnsureOp: EnsureOp<BridgeEnsure> = {
  read: () => [linksCmd(), addrsCmd()],
  describe: createCommands,
  decide(a, reads) {
    const s = readLinks(reads);
    if (isDecision(s)) return s;
    const byName = new Map(s.links.map((l) => [l.name, l]));
    const missingPorts = a.ports.filter((p) => !byName.has(p));
    if (missingPorts.length > 0) {
      return { kind: 'refuse', error: new PrereqError('BRIDGE_PORT_MISSING', `bridge ${a.name}: port(s) ${missingPorts.join(', ')} do not exist on the node`, { bridge: a.name }) };
    }
    const link = byName.get(a.name);
    if (!link) return runAll(createCommands(a));
    if (link.kind !== 'bridge') {
      return { kind: 'refuse', error: new PrereqError('NAME_IN_USE', `${a.name} exists but is a ${link.kind || 'plain'} link, not a bridge`, { name: a.name }) };
    }
    const b = bridgesFrom(s.links, s.addrs)[a.name]!;
    const cmds: string[][] = [];
    if (b.vlanFiltering !== a.vlanFiltering) cmds.push(bridgeSetVlanFilteringCmd(a.name, a.vlanFiltering));
    if (a.mtu !== undefined && b.mtu !== a.mtu) cmds.push(linkMtuCmd(a.name, a.mtu));
    for (const c of b.addresses) if (!a.addresses.includes(c)) cmds.push(addrDelCmd(c, a.name));
    for (const c of a.addresses) if (!b.addresses.includes(c)) cmds.push(addrAddCmd(c, a.name));
    for (const p of a.ports) if (byName.get(p)?.master !== a.name || !byName.get(p)?.up) cmds.push(linkMasterCmd(p, a.name));
    if (!b.up) cmds.push(linkUpCmd(a.name));
    return runAll(cmds);
  },
};

export const bridgeRemoveOp: EnsureOp<BridgeRemove> = {
  read: () => [linksCmd()],
  describe: (a) => [linkDelCmd(a.name)],
  decide(a, reads) {
    const s = readLinks(reads);
    if (isDecision(s)) return s;
    const link = s.links.find((l) => l.name === a.name);
    if (!link) return NOOP;
    if (link.kind !== 'bridge') return { kind: 'refuse', error: new PrereqError('NAME_IN_USE', `${a.name} is a ${link.kind || 'plain'} link, not a bridge: not removing it`, { name: a.name }) };
    return runAll([linkDelCmd(a.name)]);
  },
};
