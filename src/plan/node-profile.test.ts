import { describe, expect, it } from 'vitest';
import { planNodeProfile } from './node-profile.js';
import { buildWaves } from './waves.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { PlanNode, PlanNodeProfile } from '../core/plan.js';
import type { Action } from '../core/actions.js';

const MGMT = '198.18.5.11';
const REPL = '198.19.5.11';

const node = (profile: Partial<PlanNodeProfile>): PlanNode => ({
  name: 'n1', group: 'default', role: 'regular', address: MGMT, secondaryAddress: REPL, runDir: '/run/n1', fileStorageDir: '/srv/n1',
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {}, ...profile },
});
const observed = (extra: Partial<ObservedNode>): ObservedNode => ({ ...emptyObservedNode('n1', '2026-01-01T00:00:00Z'), ...extra });
const br = (addresses: string[], mtu = 1500) => ({ name: 'br0', up: true, vlanFiltering: false, mtu, ports: [], addresses });
const removals = (actions: readonly Action[]) => actions.filter((a) => a.verb.endsWith('.remove'));

describe('planNodeProfile: bridge addresses', () => {
  it('given an MTU repair on a bridge with an extra address it plans the MTU change and a separate, reasoned address removal after it', () => {
    const p = planNodeProfile(node({ bridges: [{ name: 'br0', vlanFiltering: false, mtu: 9000, addresses: ['198.18.9.1/24'], ports: [] }] }),
      observed({ bridges: { br0: br(['198.18.9.1/24', '198.18.77.5/24']) } }));
    expect(p.diffs.map((d) => d.path)).toEqual(['profile.bridges[br0].mtu', 'profile.bridges[br0].addresses']);
    expect(p.actions.map((a) => a.verb)).toEqual(['bridge.ensure', 'bridge.address.remove']);
    expect(p.actions[1]).toMatchObject({ bridge: 'br0', address: '198.18.77.5/24', reason: 'bridge br0: address 198.18.77.5/24 is not in the manifest' });
    const waves = buildWaves(p.actions).map((w) => w.map((a) => a.verb));
    expect(waves).toEqual([['bridge.ensure'], ['bridge.address.remove']]);
  });
  it('given the management and replication addresses on a managed bridge it never plans their removal and says so', () => {
    const p = planNodeProfile(node({ bridges: [{ name: 'br0', vlanFiltering: false, mtu: 9000, addresses: [], ports: [] }] }),
      observed({ bridges: { br0: br([`${MGMT}/24`, `${REPL}/24`, 'fd00::5/64']) } }));
    const removed = removals(p.actions).map((a) => (a as { address?: string }).address);
    expect(removed).toEqual(['fd00::5/64']);
    expect(p.notes).toEqual([
      `bridge br0 holds ${MGMT}/24, not in the manifest: kept, it is this node's management address`,
      `bridge br0 holds ${REPL}/24, not in the manifest: kept, it is this node's replication address`,
    ]);
  });
  it('given a bridge whose addresses match it plans nothing', () => {
    const p = planNodeProfile(node({ bridges: [{ name: 'br0', vlanFiltering: false, addresses: ['198.18.9.1/24'], ports: [] }] }), observed({ bridges: { br0: br(['198.18.9.1/24']) } }));
    expect([p.diffs, p.actions, p.notes]).toEqual([[], [], []]);
  });
  it('given a missing address it plans an ensure that adds it and removes nothing', () => {
    const p = planNodeProfile(node({ bridges: [{ name: 'br0', vlanFiltering: false, addresses: ['198.18.9.1/24'], ports: [] }] }), observed({ bridges: { br0: br([]) } }));
    expect(p.actions.map((a) => a.verb)).toEqual(['bridge.ensure']);
    expect(p.actions[0]!.reason).toBe('bridge br0: addresses 198.18.9.1/24 missing');
  });
});

describe('planNodeProfile: OVS ports', () => {
  const ovsNode = (port: { tag?: number; trunks: number[] }) => node({ ovsBridges: [{ name: 'obr0', datapathType: 'netdev', ports: [{ name: 'p1', type: 'internal', ...port }] }] });
  const ovsObs = (port: { tag?: number; trunks: number[] }, bridge = 'obr0') => observed({
    ovs: { bridges: { obr0: { name: 'obr0', datapathType: 'netdev', ports: bridge === 'obr0' ? { p1: { name: 'p1', type: 'internal', ...port } } : {} }, obr1: { name: 'obr1', datapathType: 'netdev', ports: bridge === 'obr1' ? { p1: { name: 'p1', type: 'internal', ...port } } : {} } } },
  });
  it('given extra trunks and a new one it adds with the ensure and removes the extras with their own action', () => {
    const p = planNodeProfile(ovsNode({ trunks: [10, 40] }), ovsObs({ trunks: [10, 20, 30] }));
    expect(p.actions).toMatchObject([
      { verb: 'ovs.port.ensure', trunks: [10, 40], reason: 'OVS port obr0/p1: trunks 40 added' },
      { verb: 'ovs.port.vlans.remove', trunks: [20, 30], reason: 'OVS port obr0/p1: trunks 20,30 not in the manifest' },
    ]);
    expect(p.diffs.map((d) => d.path)).toEqual(['profile.ovsBridges[obr0].ports[p1].trunks']);
  });
  it('given a tag the manifest dropped it plans only its removal, naming the VLAN', () => {
    const p = planNodeProfile(ovsNode({ trunks: [] }), ovsObs({ tag: 10, trunks: [] }));
    expect(p.actions).toMatchObject([{ verb: 'ovs.port.vlans.remove', trunks: [], tag: 10, reason: 'OVS port obr0/p1: access tag 10 not in the manifest' }]);
  });
  it('given the port on another bridge it shows the move and names that bridge in the ensure', () => {
    const p = planNodeProfile(ovsNode({ trunks: [] }), ovsObs({ trunks: [] }, 'obr1'));
    expect(p.diffs).toEqual([{ path: 'profile.ovsBridges[obr0].ports[p1].bridge', desired: 'obr0', observed: 'obr1' }]);
    expect(p.actions).toMatchObject([{ verb: 'ovs.port.ensure', fromBridge: 'obr1', reason: 'OVS port obr0/p1: moved off OVS bridge obr1' }]);
  });
});

describe('planNodeProfile: VXLAN', () => {
  const vx = { name: 'vx0', vni: 100, dstPort: 4789, remote: '198.18.201.2', bridge: 'br0' };
  const have = { name: 'vx0', vni: 100, dstPort: 4789, remote: '198.18.201.2', master: 'br0', up: true };
  it('given a new VNI it plans a recreate and says it drops FDB entries', () => {
    const p = planNodeProfile(node({ vxlans: [{ ...vx, vni: 101 }] }), observed({ vxlans: { vx0: have } }));
    expect(p.actions).toMatchObject([{ verb: 'vxlan.ensure', recreate: true, reason: 'vxlan vx0: vni 100 -> 101 (recreated: ip link del + add, which drops its FDB entries (not read: unknown))' }]);
  });
  it('given static FDB entries on a VXLAN that must be recreated it shows each entry the recreate drops', () => {
    const fdb = [{ mac: '00:00:00:00:00:00', dst: '198.18.250.2' }];
    const p = planNodeProfile(node({ vxlans: [{ ...vx, vni: 101 }] }), observed({ vxlans: { vx0: { ...have, fdb } } }));
    expect(p.diffs).toContainEqual({ path: 'profile.vxlans[vx0].fdb', desired: [], observed: fdb });
    expect(p.actions[0]!.reason).toBe('vxlan vx0: vni 100 -> 101 (recreated: ip link del + add, which drops its static FDB entries 00:00:00:00:00:00 dst 198.18.250.2)');
  });
  it('given only a new master it plans an in-place ensure without recreate', () => {
    const p = planNodeProfile(node({ vxlans: [{ ...vx, bridge: 'br1' }] }), observed({ vxlans: { vx0: have } }));
    expect(p.actions).toHaveLength(1);
    expect(p.actions[0]).not.toHaveProperty('recreate');
  });
  it('given a remote set on the node but not in the manifest it shows it and plans the recreate the driver needs', () => {
    const p = planNodeProfile(node({ vxlans: [{ name: 'vx0', vni: 100, dstPort: 4789, bridge: 'br0' }] }), observed({ vxlans: { vx0: have } }));
    expect(p.diffs).toEqual([{ path: 'profile.vxlans[vx0].remote', desired: null, observed: '198.18.201.2' }]);
    expect(p.actions[0]).toMatchObject({ recreate: true });
  });
});
