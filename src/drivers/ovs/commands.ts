/**
 * Pure argv builders for Open vSwitch (ovs-vsctl). Every command names the database
 * socket when the node declares one (lab nodes run a private ovsdb-server), and has a
 * timeout so a dead ovsdb-server fails instead of hanging the batch.
 */
import { PrereqError } from '../../util/errors.js';
import { checkIfName, checkName, checkPath } from '../facts/shared.js';

export interface OvsOptions {
  /** Path of the ovsdb unix socket; default: ovs-vsctl's own default. */
  readonly ovsdbSocket?: string;
  readonly timeoutSec?: number;
}

function vsctl(opts: OvsOptions, args: string[]): string[] {
  return ['ovs-vsctl', ...(opts.ovsdbSocket !== undefined ? [`--db=unix:${checkPath(opts.ovsdbSocket)}`] : []), `--timeout=${opts.timeoutSec ?? 10}`, ...args];
}

function checkVlan(v: number): string {
  if (!Number.isSafeInteger(v) || v < 0 || v > 4095) throw new PrereqError('INVALID_NAME', `invalid VLAN ${v}: 0..4095`);
  return String(v);
}

export const listBridgesCmd = (o: OvsOptions = {}): string[] => vsctl(o, ['--format=json', '--', '--columns=name,ports,datapath_type', 'list', 'Bridge']);
export const listPortsCmd = (o: OvsOptions = {}): string[] => vsctl(o, ['--format=json', '--', '--columns=_uuid,name,tag,trunks,interfaces', 'list', 'Port']);
export const listInterfacesCmd = (o: OvsOptions = {}): string[] => vsctl(o, ['--format=json', '--', '--columns=_uuid,name,type', 'list', 'Interface']);
/**
 * The three lists above in one ovs-vsctl (one process, one database snapshot): the node
 * probe's read. It prints one JSON table per line, in this order (parseOvsListAll).
 */
export const listAllCmd = (o: OvsOptions = {}): string[] => vsctl(o, [
  '--format=json',
  '--', '--columns=name,ports,datapath_type', 'list', 'Bridge',
  '--', '--columns=_uuid,name,tag,trunks,interfaces', 'list', 'Port',
  '--', '--columns=_uuid,name,type', 'list', 'Interface',
]);

/** One transaction: create if missing, then set the datapath (netdev where there is no kernel module). */
export function addBridgeCmd(name: string, datapathType: string, o: OvsOptions = {}): string[] {
  const b = checkIfName(name);
  return vsctl(o, ['--', '--may-exist', 'add-br', b, '--', 'set', 'bridge', b, `datapath_type=${checkName('datapath type', datapathType)}`]);
}
export const setDatapathCmd = (name: string, datapathType: string, o: OvsOptions = {}): string[] =>
  vsctl(o, ['set', 'bridge', checkIfName(name), `datapath_type=${checkName('datapath type', datapathType)}`]);
export const delBridgeCmd = (name: string, o: OvsOptions = {}): string[] => vsctl(o, ['--if-exists', 'del-br', checkIfName(name)]);

export interface PortSpec { readonly bridge: string; readonly port: string; readonly tag?: number; readonly trunks: readonly number[]; readonly type: string }

/** Column settings for a new port: only what is set (a new port has no tag and no trunks). */
function portColumns(s: PortSpec): string[] {
  const p = checkIfName(s.port);
  return [
    ...(s.tag !== undefined ? ['--', 'set', 'port', p, `tag=${checkVlan(s.tag)}`] : []),
    ...(s.trunks.length > 0 ? ['--', 'set', 'port', p, `trunks=${s.trunks.map(checkVlan).join(',')}`] : []),
  ];
}
const isSystem = (type: string): boolean => type === '' || type === 'system';

/**
 * Add a port that does not exist. No `--may-exist`: if the port appeared since the read,
 * the transaction fails instead of rewriting a port the plan did not look at.
 */
export function addPortCmd(s: PortSpec, o: OvsOptions = {}): string[] {
  const p = checkIfName(s.port);
  return vsctl(o, [
    '--', 'add-port', checkIfName(s.bridge), p,
    ...portColumns(s),
    ...(isSystem(s.type) ? [] : ['--', 'set', 'interface', p, `type=${checkName('interface type', s.type)}`]),
  ]);
}
/** Move a port off the bridge the plan named: delete and add in one transaction. */
export function movePortCmd(from: string, s: PortSpec, o: OvsOptions = {}): string[] {
  const add = addPortCmd(s, o);
  const at = add.indexOf('--');
  return [...add.slice(0, at), '--', 'del-port', checkIfName(from), checkIfName(s.port), ...add.slice(at)];
}
/** Add trunk VLANs to a port's set (the ones it has stay). */
export const addPortTrunksCmd = (port: string, trunks: readonly number[], o: OvsOptions = {}): string[] =>
  vsctl(o, ['add', 'port', checkIfName(port), 'trunks', ...trunks.map(checkVlan)]);
/** Remove exactly these trunk VLANs from a port's set. */
export const removePortTrunksCmd = (port: string, trunks: readonly number[], o: OvsOptions = {}): string[] =>
  vsctl(o, ['remove', 'port', checkIfName(port), 'trunks', ...trunks.map(checkVlan)]);
/** Clear the access tag only if it still holds this VLAN (`remove` of a value absent is a no-op). */
export const removePortTagCmd = (port: string, tag: number, o: OvsOptions = {}): string[] =>
  vsctl(o, ['remove', 'port', checkIfName(port), 'tag', checkVlan(tag)]);
/** Set the access tag (changing it to the VLAN the plan names). */
export const setPortTagCmd = (port: string, tag: number, o: OvsOptions = {}): string[] =>
  vsctl(o, ['set', 'port', checkIfName(port), `tag=${checkVlan(tag)}`]);
export const setInterfaceTypeCmd = (port: string, type: string, o: OvsOptions = {}): string[] =>
  vsctl(o, ['set', 'interface', checkIfName(port), `type=${isSystem(type) ? 'system' : checkName('interface type', type)}`]);
export const delPortCmd = (bridge: string, port: string, o: OvsOptions = {}): string[] => vsctl(o, ['--if-exists', 'del-port', checkIfName(bridge), checkIfName(port)]);
