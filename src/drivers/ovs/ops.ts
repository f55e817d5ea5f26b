/**
 * Idempotent Open vSwitch operations: read the three tables, change only what differs
 * and only what the operation names. A port ensure adds trunks and sets the tag it is
 * given; extra trunks and a tag the manifest dropped are removed by vlansRemove, and a
 * port is moved off another bridge only when the operation names that bridge.
 */
import type { ObservedOvs } from '../../core/observed.js';
import type { ExecResult } from '../../transport/transport.js';
import { PrereqError } from '../../util/errors.js';
import { NOOP, readFailed, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { addBridgeCmd, addPortCmd, addPortTrunksCmd, delBridgeCmd, delPortCmd, listBridgesCmd, listInterfacesCmd, listPortsCmd, movePortCmd, removePortTagCmd, removePortTrunksCmd, setDatapathCmd, setInterfaceTypeCmd, setPortTagCmd, type OvsOptions } from './commands.js';
import { parseOvs } from './parse.js';

const readCmds = (o: OvsOptions): string[][] => [listBridgesCmd(o), listPortsCmd(o), listInterfacesCmd(o)];

function state(reads: readonly ExecResult[]): ObservedOvs | Decision {
  const [b, p, i] = reads;
  if (!b || !p || !i) throw new Error('ovs: expected three read results');
  for (const r of [b, p, i]) if (r.code !== 0) return { kind: 'refuse', error: readFailed(r, 'OVS_READ_FAILED') };
  return parseOvs(b.stdout, p.stdout, i.stdout);
}
const isDecision = (x: object): x is Decision => 'kind' in x;
const normType = (t: string): string => (t === '' ? 'system' : t);

/** What the OVS operations need (the executor passes its actions: only the shape matters). */
export interface OvsBridgeEnsureParams { readonly name: string; readonly datapathType: string }
export interface OvsBridgeRemoveParams { readonly name: string }
export interface OvsPortEnsureParams { readonly bridge: string; readonly port: string; readonly tag?: number; readonly trunks: readonly number[]; readonly type: string; readonly fromBridge?: string }
export interface OvsPortRemoveParams { readonly bridge: string; readonly port: string }
export interface OvsPortVlansRemoveParams { readonly bridge: string; readonly port: string; readonly trunks: readonly number[]; readonly tag?: number }

export function ovsBridgeEnsureOp(o: OvsOptions): EnsureOp<OvsBridgeEnsureParams> {
  return {
    read: () => readCmds(o),
    describe: (a) => [addBridgeCmd(a.name, a.datapathType, o)],
    decide(a, reads) {
      const s = state(reads);
      if (isDecision(s)) return s;
      const b = s.bridges[a.name];
      if (!b) return runAll([addBridgeCmd(a.name, a.datapathType, o)]);
      return b.datapathType === a.datapathType ? NOOP : runAll([setDatapathCmd(a.name, a.datapathType, o)]);
    },
  };
}

/** del-br also deletes every port of the bridge: a bridge that still has ports is refused, naming them. */
export function ovsBridgeRemoveOp(o: OvsOptions): EnsureOp<OvsBridgeRemoveParams> {
  return {
    read: () => readCmds(o),
    describe: (a) => [delBridgeCmd(a.name, o)],
    decide(a, reads) {
      const s = state(reads);
      if (isDecision(s)) return s;
      const b = s.bridges[a.name];
      if (!b) return NOOP;
      const ports = Object.keys(b.ports).sort();
      if (ports.length > 0) return { kind: 'refuse', error: new PrereqError('OVS_BRIDGE_IN_USE', `OVS bridge ${a.name} still has ports ${ports.join(', ')}: removing it would delete them too; remove them first`, { bridge: a.name }) };
      return runAll([delBridgeCmd(a.name, o)]);
    },
  };
}

export function ovsPortEnsureOp(o: OvsOptions): EnsureOp<OvsPortEnsureParams> {
  return {
    read: () => readCmds(o),
    describe: (a) => [a.fromBridge !== undefined ? movePortCmd(a.fromBridge, a, o) : addPortCmd(a, o)],
    decide(a, reads) {
      const s = state(reads);
      if (isDecision(s)) return s;
      if (!s.bridges[a.bridge]) return { kind: 'refuse', error: new PrereqError('OVS_BRIDGE_MISSING', `cannot add port ${a.port}: OVS bridge ${a.bridge} does not exist`, { bridge: a.bridge }) };
      const elsewhere = Object.values(s.bridges).find((b) => b.name !== a.bridge && b.ports[a.port]);
      if (elsewhere) {
        if (elsewhere.name === a.fromBridge) return runAll([movePortCmd(elsewhere.name, a, o)]);
        return { kind: 'refuse', error: new PrereqError('OVS_PORT_ON_OTHER_BRIDGE', `port ${a.port} is on OVS bridge ${elsewhere.name}, which the plan did not name: not moving it to ${a.bridge}`, { port: a.port, bridge: elsewhere.name }) };
      }
      const p = s.bridges[a.bridge]!.ports[a.port];
      if (!p) return runAll([addPortCmd(a, o)]);
      const cmds: string[][] = [];
      if (a.tag !== undefined && p.tag !== a.tag) cmds.push(setPortTagCmd(a.port, a.tag, o));
      const newTrunks = a.trunks.filter((t) => !p.trunks.includes(t));
      if (newTrunks.length > 0) cmds.push(addPortTrunksCmd(a.port, newTrunks, o));
      if (normType(p.type) !== normType(a.type)) cmds.push(setInterfaceTypeCmd(a.port, a.type, o));
      return runAll(cmds);
    },
  };
}

/** Remove the named trunks, and the named access tag (only while the port still has it). */
export function ovsPortVlansRemoveOp(o: OvsOptions): EnsureOp<OvsPortVlansRemoveParams> {
  return {
    read: () => readCmds(o),
    describe: (a) => [...(a.trunks.length > 0 ? [removePortTrunksCmd(a.port, a.trunks, o)] : []), ...(a.tag !== undefined ? [removePortTagCmd(a.port, a.tag, o)] : [])],
    decide(a, reads) {
      const s = state(reads);
      if (isDecision(s)) return s;
      const p = s.bridges[a.bridge]?.ports[a.port];
      if (!p) return NOOP;
      const trunks = a.trunks.filter((t) => p.trunks.includes(t));
      return runAll([
        ...(trunks.length > 0 ? [removePortTrunksCmd(a.port, trunks, o)] : []),
        ...(a.tag !== undefined && p.tag === a.tag ? [removePortTagCmd(a.port, a.tag, o)] : []),
      ]);
    },
  };
}

export function ovsPortRemoveOp(o: OvsOptions): EnsureOp<OvsPortRemoveParams> {
  return {
    read: () => readCmds(o),
    describe: (a) => [delPortCmd(a.bridge, a.port, o)],
    decide(a, reads) {
      const s = state(reads);
      if (isDecision(s)) return s;
      return s.bridges[a.bridge]?.ports[a.port] ? runAll([delPortCmd(a.bridge, a.port, o)]) : NOOP;
    },
  };
}
