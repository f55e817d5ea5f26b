import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addrAddCmd, bridgeAddCmd, checkCidr, linkMasterCmd } from './commands.js';
import { bridgeAddressRemoveOp, bridgeEnsureOp, bridgeRemoveOp, type BridgeEnsureParams } from './ops.js';
import { bridgesFrom, parseAddrs, parseLinks, parseVlans, tapsFrom } from './parse.js';

const golden = (f: string) => readFileSync(new URL(`../testdata/bridge/${f}`, import.meta.url), 'utf8');
const ok = (stdout: string) => ({ argv: ['ip'], code: 0, stdout, stderr: '', durationMs: 1 });
const reads = () => [ok(golden('ip-d-link.json')), ok(golden('ip-addr.json'))];
const ensure = (p: Partial<BridgeEnsureParams>): BridgeEnsureParams => ({
  name: 'br-cap', vlanFiltering: false, mtu: 1450,
  addresses: ['198.18.200.1/24', 'fd00:198:18::1/64'], ports: ['veth-a', 'tap-cap', 'vx-cap'], ...p,
});

describe('iproute2 parsers (real iproute2 6.1 output)', () => {
  it('given the real link and address listings it finds bridges with ports, mtu and addresses', () => {
    const b = bridgesFrom(parseLinks(golden('ip-d-link.json')), parseAddrs(golden('ip-addr.json')));
    expect(b['br-cap']).toEqual({ name: 'br-cap', up: true, vlanFiltering: false, mtu: 1450, ports: ['tap-cap', 'veth-a', 'vx-cap'], addresses: ['198.18.200.1/24', 'fd00:198:18::1/64'] });
    expect(b['br-plain']).toEqual({ name: 'br-plain', up: false, vlanFiltering: false, mtu: 1500, ports: [], addresses: [] });
  });
  it('given the "type bridge" listing it yields the same bridges without ports', () => {
    expect(Object.keys(bridgesFrom(parseLinks(golden('ip-d-link-bridge.json')), new Map())).sort()).toEqual(['br-cap', 'br-plain']);
  });
  it('given the real listing it finds tap devices and their master', () => {
    expect(tapsFrom(parseLinks(golden('ip-d-link.json')))).toEqual({ 'tap-cap': { name: 'tap-cap', up: true, master: 'br-cap' } });
  });
  it('given the real listing with counters (ip -s -j -d link show type tun), it reads each tap\'s rx and tx bytes', () => {
    // captured in a private network namespace: a tap on a bridge, three frames written to the tap's fd (rx), nothing sent to it (tx)
    expect(tapsFrom(parseLinks(golden('ip-s-d-link-tap.json')))).toEqual({ gtt0: { name: 'gtt0', up: true, master: 'gtbr0', rxBytes: 180, txBytes: 0 } });
  });
  it('given real "bridge -j vlan show" on a kernel without VLAN filtering it returns nothing', () => {
    expect(parseVlans(golden('bridge-vlan.json'))).toEqual([]);
  });
  it('given the iproute2 vlan JSON shape it reads vid, pvid and untagged', () => {
    expect(parseVlans('[{"ifname":"veth-a","vlans":[{"vlan":10,"flags":["PVID","Egress Untagged"]},{"vlan":20}]}]')).toEqual([
      { port: 'veth-a', vlans: [{ vid: 10, pvid: true, untagged: true }, { vid: 20, pvid: false, untagged: false }] }]);
  });
});

describe('bridge argv builders', () => {
  it('given vlan filtering off it omits the attribute (kernels without it reject even 0)', () => {
    expect(bridgeAddCmd('br0', false)).toEqual(['ip', 'link', 'add', 'name', 'br0', 'type', 'bridge']);
    expect(bridgeAddCmd('br0', true)).toEqual(['ip', 'link', 'add', 'name', 'br0', 'type', 'bridge', 'vlan_filtering', '1']);
  });
  it('given ports and addresses it builds master+up and addr add', () => {
    expect(linkMasterCmd('eth1', 'br0')).toEqual(['ip', 'link', 'set', 'dev', 'eth1', 'master', 'br0', 'up']);
    expect(addrAddCmd('198.18.0.1/24', 'br0')).toEqual(['ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'br0']);
  });
  it('given bad names or addresses it throws', () => {
    expect(() => bridgeAddCmd('br0;reboot', false)).toThrow();
    expect(() => checkCidr('198.18.0.300/24')).toThrow();
    expect(() => checkCidr('198.18.0.1/33')).toThrow();
    expect(checkCidr('fd00::1/64')).toBe('fd00::1/64');
  });
});

describe('bridge ensure against the real listing', () => {
  it('given the bridge exactly as desired it decides noop', () => {
    expect(bridgeEnsureOp.decide(ensure({}), reads())).toEqual({ kind: 'noop' });
  });
  it('given a missing bridge it creates, sets mtu, addresses, ports and up', () => {
    const d = bridgeEnsureOp.decide(ensure({ name: 'br-new', ports: ['und-b'], addresses: ['198.18.9.1/24'] }), reads());
    expect(d).toEqual({ kind: 'run', commands: [
      ['ip', 'link', 'add', 'name', 'br-new', 'type', 'bridge'], ['ip', 'link', 'set', 'dev', 'br-new', 'mtu', '1450'],
      ['ip', 'addr', 'add', '198.18.9.1/24', 'dev', 'br-new'], ['ip', 'link', 'set', 'dev', 'und-b', 'master', 'br-new', 'up'],
      ['ip', 'link', 'set', 'dev', 'br-new', 'up']] });
  });
  it('given an MTU repair on a bridge with an address the ensure does not list it changes the MTU and deletes no address', () => {
    const d = bridgeEnsureOp.decide(ensure({ mtu: 1500, addresses: ['198.18.200.1/24'], ports: ['veth-a'] }), reads());
    expect(d).toEqual({ kind: 'run', commands: [['ip', 'link', 'set', 'dev', 'br-cap', 'mtu', '1500']] });
  });
  it('given an ensure listing no addresses at all it never runs ip addr del', () => {
    const d = bridgeEnsureOp.decide(ensure({ mtu: 9000, addresses: [] }), reads());
    expect(d.kind === 'run' && d.commands.filter((c) => c.includes('del'))).toEqual([]);
  });
  it('given address remove it deletes exactly that address, and an address already gone is noop', () => {
    expect(bridgeAddressRemoveOp.decide({ bridge: 'br-cap', address: 'fd00:198:18::1/64' }, reads())).toEqual({ kind: 'run', commands: [['ip', 'addr', 'del', 'fd00:198:18::1/64', 'dev', 'br-cap']] });
    expect(bridgeAddressRemoveOp.decide({ bridge: 'br-cap', address: '198.18.9.9/24' }, reads())).toEqual({ kind: 'noop' });
  });
  it('given a name used by a non-bridge or a missing port it refuses', () => {
    const d1 = bridgeEnsureOp.decide(ensure({ name: 'vx-cap', ports: [] }), reads());
    expect(d1.kind === 'refuse' && d1.error.code).toBe('NAME_IN_USE');
    const d2 = bridgeEnsureOp.decide(ensure({ ports: ['eth9'] }), reads());
    expect(d2.kind === 'refuse' && d2.error.code).toBe('BRIDGE_PORT_MISSING');
  });
  it('given remove of a missing bridge it decides noop and of an empty one it deletes', () => {
    expect(bridgeRemoveOp.decide({ name: 'br-gone' }, reads())).toEqual({ kind: 'noop' });
    expect(bridgeRemoveOp.decide({ name: 'br-plain' }, reads())).toEqual({ kind: 'run', commands: [['ip', 'link', 'del', 'dev', 'br-plain']] });
  });
  it('given remove of a bridge that still has ports and addresses it refuses, naming them', () => {
    const d = bridgeRemoveOp.decide({ name: 'br-cap' }, reads());
    expect(d.kind === 'refuse' && [d.error.code, d.error.message]).toEqual(['BRIDGE_IN_USE', expect.stringContaining('ports tap-cap, veth-a, vx-cap and addresses 198.18.200.1/24')]);
  });
});
