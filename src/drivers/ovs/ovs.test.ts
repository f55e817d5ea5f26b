import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addBridgeCmd, addPortCmd, addPortTrunksCmd, delBridgeCmd, delPortCmd, listAllCmd, listBridgesCmd, movePortCmd, removePortTagCmd, removePortTrunksCmd, setPortTagCmd } from './commands.js';
import { ovsBridgeEnsureOp, ovsBridgeRemoveOp, ovsPortEnsureOp, ovsPortRemoveOp, ovsPortVlansRemoveOp, type OvsPortEnsureParams } from './ops.js';
import { decodeValue, isNoServer, parseOvs, parseOvsListAll, parseTable } from './parse.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/ovs/${f}`, import.meta.url), 'utf8');
const ok = (stdout: string) => ({ argv: ['ovs-vsctl'], code: 0, stdout, stderr: '', durationMs: 1 });
const reads = () => [ok(golden('list-bridge.json')), ok(golden('list-port.json')), ok(golden('list-interface.json'))];
const O = { ovsdbSocket: '/run/gantry/ovs/db.sock' };
const DB = ['ovs-vsctl', '--db=unix:/run/gantry/ovs/db.sock', '--timeout=10'];
const port = (p: Partial<OvsPortEnsureParams>): OvsPortEnsureParams => ({ bridge: 'obr0', port: 'p-access', trunks: [], type: 'internal', ...p });

describe('ovsdb JSON decoding (real ovs-vsctl 3.1 output)', () => {
  it('given set, uuid, map and bare atoms it decodes each', () => {
    expect(decodeValue(['set', [10, 20]])).toEqual([10, 20]);
    expect(decodeValue(['uuid', 'abc'])).toEqual({ uuid: 'abc' });
    expect(decodeValue(['map', [['key', '100'], ['remote_ip', '198.18.201.2']]])).toEqual({ key: '100', remote_ip: '198.18.201.2' });
    expect(decodeValue(42)).toBe(42);
  });
  it('given the real Interface table it decodes the options map', () => {
    const vx = parseTable(golden('list-interface.json')).find((r) => r.name === 'vx0');
    expect(vx?.type).toBe('vxlan');
  });
  it('given the probe\'s one ovs-vsctl listing all three tables (real output), it joins them as three reads would, and a cut-short listing is a parse error', () => {
    const argv = listAllCmd({ ovsdbSocket: '/run/openvswitch/db.sock' });
    expect(argv.filter((a) => a === 'list')).toHaveLength(3);
    expect(argv.slice(0, 3)).toEqual(['ovs-vsctl', '--db=unix:/run/openvswitch/db.sock', '--timeout=10']);
    const text = golden('list-all.json');
    const [b, p, i] = text.split('\n');
    expect(parseOvsListAll(text)).toEqual(parseOvs(b!, p!, i!));
    expect(parseOvsListAll(text).bridges.obr0!.ports).toEqual({
      'p-access': { name: 'p-access', tag: 10, trunks: [], type: 'internal' },
      'p-trunk': { name: 'p-trunk', trunks: [20, 30], type: 'system' }, // OVSDB's empty type is a system port
    });
    expect(() => parseOvsListAll(`${b}\n${p}\n`)).toThrow(/2 tables, want 3/);
  });
  it('given the real Bridge/Port/Interface tables it joins ports with tag, trunks and type', () => {
    const ovs = parseOvs(golden('list-bridge.json'), golden('list-port.json'), golden('list-interface.json'));
    expect(Object.keys(ovs.bridges).sort()).toEqual(['obr0', 'obr1']);
    expect(ovs.bridges.obr0!.datapathType).toBe('netdev');
    expect(ovs.bridges.obr0!.ports).toEqual({
      'p-access': { name: 'p-access', tag: 10, trunks: [], type: 'internal' },
      'p-trunk': { name: 'p-trunk', trunks: [10, 20, 30], type: 'internal' },
      'veth-b': { name: 'veth-b', trunks: [], type: 'system' },
      vx0: { name: 'vx0', trunks: [], type: 'vxlan' },
    });
    // a one-element set is a bare atom in OVSDB JSON
    expect(ovs.bridges.obr1!.ports['p-one']).toEqual({ name: 'p-one', trunks: [42], type: 'internal' });
  });
  it('given the real "no server" error it recognises OVS as absent', () => {
    expect(isNoServer(golden('no-server.stderr.txt'))).toBe(true);
  });
});

describe('ovs argv builders', () => {
  it('given a socket it always passes --db and a timeout', () => {
    expect(listBridgesCmd(O)).toEqual([...DB, '--format=json', '--', '--columns=name,ports,datapath_type', 'list', 'Bridge']);
    expect(listBridgesCmd()[1]).toBe('--timeout=10');
  });
  it('given a bridge it creates it with its datapath in one transaction', () => {
    expect(addBridgeCmd('obr0', 'netdev', O)).toEqual([...DB, '--', '--may-exist', 'add-br', 'obr0', '--', 'set', 'bridge', 'obr0', 'datapath_type=netdev']);
    expect(delBridgeCmd('obr0', O)).toEqual([...DB, '--if-exists', 'del-br', 'obr0']);
  });
  it('given a new port it adds it without --may-exist and sets only the columns it names', () => {
    expect(addPortCmd({ bridge: 'obr0', port: 'p1', tag: 10, trunks: [], type: 'internal' })).toEqual(['ovs-vsctl', '--timeout=10',
      '--', 'add-port', 'obr0', 'p1', '--', 'set', 'port', 'p1', 'tag=10', '--', 'set', 'interface', 'p1', 'type=internal']);
    expect(addPortCmd({ bridge: 'obr0', port: 'eth1', trunks: [10, 20], type: 'system' }).slice(2)).toEqual(
      ['--', 'add-port', 'obr0', 'eth1', '--', 'set', 'port', 'eth1', 'trunks=10,20']);
    expect(delPortCmd('obr0', 'p1').slice(2)).toEqual(['--if-exists', 'del-port', 'obr0', 'p1']);
    expect(movePortCmd('obr1', { bridge: 'obr0', port: 'p1', trunks: [], type: 'system' }).slice(2, 7)).toEqual(['--', 'del-port', 'obr1', 'p1', '--']);
  });
  it('given VLAN changes it adds or removes exactly the named values (never clears a column)', () => {
    expect(setPortTagCmd('p1', 20).slice(2)).toEqual(['set', 'port', 'p1', 'tag=20']);
    expect(addPortTrunksCmd('p1', [40, 50]).slice(2)).toEqual(['add', 'port', 'p1', 'trunks', '40', '50']);
    expect(removePortTrunksCmd('p1', [10, 20]).slice(2)).toEqual(['remove', 'port', 'p1', 'trunks', '10', '20']);
    expect(removePortTagCmd('p1', 10).slice(2)).toEqual(['remove', 'port', 'p1', 'tag', '10']);
  });
  it('given the real table after "add trunks 40 50, remove trunks 10 20, remove tag 10" it reads what those commands left', () => {
    const ovs = parseOvs(golden('list-bridge.json'), golden('list-port-after-remove.json'), golden('list-interface.json'));
    expect(Object.keys(ovs.bridges).length).toBeGreaterThan(0);
    const rows = parseTable(golden('list-port-after-remove.json'));
    expect(rows.find((r) => r.name === 'p1')).toMatchObject({ tag: [], trunks: [30, 40, 50] });
  });
  it('given bad names or VLANs it throws', () => {
    expect(() => addBridgeCmd('br;x', 'netdev')).toThrow();
    expect(() => addPortCmd({ bridge: 'obr0', port: 'p', tag: 4096, trunks: [], type: '' })).toThrow(/invalid VLAN/);
    expect(() => listBridgesCmd({ ovsdbSocket: 'rel/db.sock' })).toThrow(/absolute/);
  });
});

describe('ovs ensures against the real tables', () => {
  it('given the bridge already exists with netdev it decides noop, and given system it sets the datapath', () => {
    expect(ovsBridgeEnsureOp(O).decide({ name: 'obr0', datapathType: 'netdev' }, reads())).toEqual({ kind: 'noop' });
    const d = ovsBridgeEnsureOp(O).decide({ name: 'obr0', datapathType: 'system' }, reads());
    expect(d).toEqual({ kind: 'run', commands: [[...DB, 'set', 'bridge', 'obr0', 'datapath_type=system']] });
  });
  it('given a port matching tag, trunks and type it decides noop', () => {
    expect(ovsPortEnsureOp(O).decide(port({ tag: 10 }), reads())).toEqual({ kind: 'noop' });
    expect(ovsPortEnsureOp(O).decide(port({ port: 'p-trunk', trunks: [30, 20, 10] }), reads())).toEqual({ kind: 'noop' });
  });
  it('given a port with a different tag it changes only the tag', () => {
    expect(ovsPortEnsureOp(O).decide(port({ tag: 20 }), reads())).toEqual({ kind: 'run', commands: [[...DB, 'set', 'port', 'p-access', 'tag=20']] });
  });
  it('given a tagged port and no tag in the ensure it leaves the tag alone (removing it is vlans.remove)', () => {
    expect(ovsPortEnsureOp(O).decide(port({}), reads())).toEqual({ kind: 'noop' });
  });
  it('given a port with extra trunks it never removes them, and adds only the missing ones', () => {
    expect(ovsPortEnsureOp(O).decide(port({ port: 'p-trunk', trunks: [10] }), reads())).toEqual({ kind: 'noop' });
    expect(ovsPortEnsureOp(O).decide(port({ port: 'p-trunk', trunks: [10, 40] }), reads())).toEqual({ kind: 'run', commands: [[...DB, 'add', 'port', 'p-trunk', 'trunks', '40']] });
  });
  it('given vlans.remove it removes only the named trunks and tag that are still there', () => {
    expect(ovsPortVlansRemoveOp(O).decide({ bridge: 'obr0', port: 'p-trunk', trunks: [20, 99] }, reads())).toEqual({ kind: 'run', commands: [[...DB, 'remove', 'port', 'p-trunk', 'trunks', '20']] });
    expect(ovsPortVlansRemoveOp(O).decide({ bridge: 'obr0', port: 'p-access', trunks: [], tag: 10 }, reads())).toEqual({ kind: 'run', commands: [[...DB, 'remove', 'port', 'p-access', 'tag', '10']] });
    expect(ovsPortVlansRemoveOp(O).decide({ bridge: 'obr0', port: 'p-access', trunks: [], tag: 11 }, reads())).toEqual({ kind: 'noop' });
  });
  it('given a port on the bridge the ensure names as fromBridge it moves it in one transaction', () => {
    const d = ovsPortEnsureOp(O).decide(port({ bridge: 'obr0', port: 'p-one', trunks: [42], fromBridge: 'obr1' }), reads());
    expect(d.kind === 'run' && d.commands[0]!.slice(3, 7)).toEqual(['--', 'del-port', 'obr1', 'p-one']);
  });
  it('given a port on another bridge the ensure does not name it refuses instead of moving it', () => {
    const d = ovsPortEnsureOp(O).decide(port({ bridge: 'obr0', port: 'p-one', trunks: [42] }), reads());
    expect(d.kind === 'refuse' && d.error.code).toBe('OVS_PORT_ON_OTHER_BRIDGE');
  });
  it('given remove of a bridge that still has ports it refuses, naming them', () => {
    const d = ovsBridgeRemoveOp(O).decide({ name: 'obr0' }, reads());
    expect(d.kind === 'refuse' && [d.error.code, d.error.message]).toEqual(['OVS_BRIDGE_IN_USE', expect.stringContaining('p-access, p-trunk, veth-b, vx0')]);
  });
  it('given a missing bridge it refuses, and given a missing port remove it decides noop', () => {
    const d = ovsPortEnsureOp(O).decide(port({ bridge: 'nobr' }), reads());
    expect(d.kind === 'refuse' && d.error.code).toBe('OVS_BRIDGE_MISSING');
    expect(ovsPortRemoveOp(O).decide({ bridge: 'obr0', port: 'gone' }, reads())).toEqual({ kind: 'noop' });
  });
  it('given ovsdb is unreachable it refuses with a read error', () => {
    const fail = { argv: ['ovs-vsctl'], code: 1, stdout: '', stderr: golden('no-server.stderr.txt'), durationMs: 1 };
    const d = ovsPortRemoveOp(O).decide({ bridge: 'obr0', port: 'x' }, [fail, fail, fail]);
    expect(d.kind === 'refuse' && d.error.code).toBe('OVS_READ_FAILED');
  });
});
