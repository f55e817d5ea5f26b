/** Idempotent Open vSwitch operations: read the three tables, change only what differs. */
import type { OvsBridgeEnsure, OvsBridgeRemove, OvsPortEnsure, OvsPortRemove } from '../../core/actions.js';
import type { ObservedOvs } from '../../core/observed.js';
import type { ExecResult } from '../../transport/transport.js';
import { PrereqError } from '../../util/errors.js';
import { NOOP, readFailed, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { addBridgeCmd, addPortCmd, delBridgeCmd, delPortCmd, listBridgesCmd, listInterfacesCmd, listPortsCmd, movePortCmd, setDatapathCmd, setInterfaceTypeCmd, setPortTagCmd, setPortTrunksCmd, type OvsOptions } from './commands.js';
import { parseOvs } from './parse.js';

const readCmds = (o: OvsOptions): string[][] => [listBridgesCmd(o), listPortsCmd(o), listInterfacesCmd(o)];

function state(reads: readonly ExecResult[]): ObservedOvs | Decision {
  const [b, p, i] = reads;
  if (!b || !p || !i) throw new Error('ovs: expected three read results');
  for (const r of [b, p, i]) if (r.code !== 0) return { kind: 'refuse', error: readFailed(r, 'OVS_READ_FAILED') };
  return parseOvs(b.stdout, p.stdout, i.stdout);
}
const isDecision = (x: object): x is Decision => 'kind' in x;
const sameTrunks = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && [...a].sort((x, y) => x - y).every((v, i) => v === [...b].sort((x, y) => x - y)[i]);
const normType = (t: string): string => (t === '' ? 'system' : t);

export function ovsBridgeEnsureOp(o: OvsOptions): EnsureOp<OvsBridgeEnsure> {
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

export function ovsBridgeRemoveOp(o: OvsOptions): EnsureOp<OvsBridgeRemove> {
  return {
    read: () => readCmds(o),
    describe: (a) => [delBridgeCmd(a.name, o)],
    decide(a, reads) {
      const s = state(reads);
      if (isDecision(s)) return s;
      return s.bridges[a.name] ? runAll([delBridgeCmd(a.name, o)]) : NOOP;
    },
  };
}

export function ovsPortEnsureOp(o: OvsOptions): EnsureOp<OvsPortEnsure> {
  return {
    read: () => readCmds(o),
    describe: (a) => [addPortCmd(a, o)],
    decide(a, reads) {
      const s = state(reads);
      if (isDecision(s)) return s;
      if (!s.bridges[a.bridge]) return { kind: 'refuse', error: new PrereqError('OVS_BRIDGE_MISSING', `cannot add port ${a.port}: OVS bridge ${a.bridge} does not exist`, { bridge: a.bridge }) };
      const elsewhere = Object.values(s.bridges).find((b) => b.name !== a.bridge && b.ports[a.port]);
      if (elsewhere) return runAll([movePortCmd(elsewhere.name, a, o)]);
      const p = s.bridges[a.bridge]!.ports[a.port];
      if (!p) return runAll([addPortCmd(a, o)]);
      const cmds: string[][] = [];
      if (p.tag !== a.tag) cmds.push(setPortTagCmd(a.port, a.tag, o));
      if (!sameTrunks(p.trunks, a.trunks)) cmds.push(setPortTrunksCmd(a.port, a.trunks, o));
      if (normType(p.type) !== normType(a.type)) cmds.push(setInterfaceTypeCmd(a.port, a.type, o));
      return runAll(cmds);
    },
  };
}

export function ovsPortRemoveOp(o: OvsOptions): EnsureOp<OvsPortRemove> {
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
