/**
 * Idempotent Linux bridge operations. Read the links and addresses, then change only
 * what differs, and only what the operation names: ensure adds and never removes. Ports
 * not listed stay enslaved (instance taps join bridges at VM start); addresses not listed
 * stay too: removing one is its own operation (addressRemove), which the plan shows.
 */
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

/** What a bridge ensure needs (the executor passes its action: only the shape matters). */
export interface BridgeEnsureParams { readonly name: string; readonly vlanFiltering: boolean; readonly mtu?: number; readonly addresses: readonly string[]; readonly ports: readonly string[] }
export interface BridgeRemoveParams { readonly name: string }
export interface BridgeAddressRemoveParams { readonly bridge: string; readonly address: string }

function createCommands(a: BridgeEnsureParams): string[][] {
  return [
    bridgeAddCmd(a.name, a.vlanFiltering),
    ...(a.mtu !== undefined ? [linkMtuCmd(a.name, a.mtu)] : []),
    ...a.addresses.map((c) => addrAddCmd(c, a.name)),
    ...a.ports.map((p) => linkMasterCmd(p, a.name)),
    linkUpCmd(a.name),
  ];
}

export const bridgeEnsureOp: EnsureOp<BridgeEnsureParams> = {
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
    for (const c of a.addresses) if (!b.addresses.includes(c)) cmds.push(addrAddCmd(c, a.name));
    for (const p of a.ports) if (byName.get(p)?.master !== a.name || !byName.get(p)?.up) cmds.push(linkMasterCmd(p, a.name));
    if (!b.up) cmds.push(linkUpCmd(a.name));
    return runAll(cmds);
  },
};

/**
 * Deleting a bridge also drops its addresses and releases its ports, which the action
 * does not name: a bridge that still has either is refused, naming them.
 */
export const bridgeRemoveOp: EnsureOp<BridgeRemoveParams> = {
  read: () => [linksCmd(), addrsCmd()],
  describe: (a) => [linkDelCmd(a.name)],
  decide(a, reads) {
    const s = readLinks(reads);
    if (isDecision(s)) return s;
    const link = s.links.find((l) => l.name === a.name);
    if (!link) return NOOP;
    if (link.kind !== 'bridge') return { kind: 'refuse', error: new PrereqError('NAME_IN_USE', `${a.name} is a ${link.kind || 'plain'} link, not a bridge: not removing it`, { name: a.name }) };
    const b = bridgesFrom(s.links, s.addrs)[a.name]!;
    if (b.ports.length > 0 || b.addresses.length > 0) {
      const held = [...(b.ports.length ? [`ports ${b.ports.join(', ')}`] : []), ...(b.addresses.length ? [`addresses ${b.addresses.join(', ')}`] : [])];
      return { kind: 'refuse', error: new PrereqError('BRIDGE_IN_USE', `bridge ${a.name} still has ${held.join(' and ')}: removing it would drop them too; remove them first`, { name: a.name }) };
    }
    return runAll([linkDelCmd(a.name)]);
  },
};

/** Remove exactly one address from one bridge; an address already gone is a noop. */
export const bridgeAddressRemoveOp: EnsureOp<BridgeAddressRemoveParams> = {
  read: () => [linksCmd(), addrsCmd()],
  describe: (a) => [addrDelCmd(a.address, a.bridge)],
  decide(a, reads) {
    const s = readLinks(reads);
    if (isDecision(s)) return s;
    const link = s.links.find((l) => l.name === a.bridge);
    if (link && link.kind !== 'bridge') return { kind: 'refuse', error: new PrereqError('NAME_IN_USE', `${a.bridge} is a ${link.kind || 'plain'} link, not a bridge: not touching its addresses`, { name: a.bridge }) };
    return (s.addrs.get(a.bridge) ?? []).includes(a.address) ? runAll([addrDelCmd(a.address, a.bridge)]) : NOOP;
  },
};
