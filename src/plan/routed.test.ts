import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { routedTapIndex } from './routed.js';
import { emptyObservedNode, type ObservedInstance, type ObservedNode, type ObservedRouting } from '../core/observed.js';
import type { InstanceInstall, InstanceStart, NicRoutedEnsure } from '../core/actions.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanInstanceRuntime, PlanNic, PlanNode } from '../core/plan.js';

const node = (name: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});
const routedNic: PlanNic = { index: 0, network: 'pub', mode: 'routed', link: '', trunks: [], ip: 'pool', mac: 'aa:00:00:00:00:01', model: 'virtio' };
const runtime = (nics: PlanNic[]): PlanInstanceRuntime => ({
  uuid: 'u', os: { name: 'busybox', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0, accel: 'tcg',
  bootOrder: ['disk'], diskBus: 'virtio', vnc: false, vncBindAddress: '127.0.0.1', nics,
  migration: { mode: 'live', bandwidthMiBps: 32, downtimeMs: 30 }, restartErrorDown: true, stopTimeoutS: 30,
});
const inst = (over: Partial<PlanInstance> = {}): PlanInstance => ({
  name: 'gw1', state: 'present', deleteDisks: false, diskTemplate: 'diskless', primary: 'n1', memoryMiB: 128, vcpus: 1,
  disks: [], tags: [],
  runtime: runtime([routedNic]), ...over,
});
const input = (instances: PlanInstance[], subnet6 = true): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  networks: [{ name: 'pub', subnet: '198.18.40.0/24', gateway: '198.18.40.1', reserved: [], ...(subnet6 ? { subnet6: '2001:2:0:40::/64', gateway6: '2001:2:0:40::1' } : {}) }],
  nodes: [node('n1'), node('n2')], instances,
});
const IP6 = '2001:2:0:40:a800:ff:fe00:1';
/** gw1 running on `where`, installed, with its record (MAC and pool IP) and a tap. */
function running(where: string, routing: ObservedRouting, launch?: unknown): ObservedNode {
  const vm: ObservedInstance = {
    name: 'gw1', runState: 'running', guestShutdown: false, runtime: {},
    meta: { version: 1, instance: 'gw1', uuid: 'u', os: 'busybox', osGeneration: 1, restartGeneration: 0, nics: [{ mac: 'aa:00:00:00:00:01', ip: '198.18.40.2', network: 'pub' }], ...(launch ? { launch: launch as Record<string, unknown> } : {}) },
  };
  return { ...emptyObservedNode(where, 't'), instances: { gw1: vm }, taps: { 't-gw1-0': { name: 't-gw1-0', up: true } }, routing };
}
const fullRouting: ObservedRouting = {
  routes: [{ dst: '198.18.40.2', dev: 't-gw1-0' }, { dst: IP6, dev: 't-gw1-0' }],
  proxies: [{ dst: '2001:2:0:40::1', dev: 't-gw1-0' }],
  rules: [],
  tapSysctls: { 'net.ipv4.conf.t-gw1-0.proxy_arp': '1', 'net.ipv4.conf.t-gw1-0.forwarding': '1', 'net.ipv6.conf.t-gw1-0.proxy_ndp': '1', 'net.ipv6.conf.t-gw1-0.forwarding': '1' },
};
const bare = (n: string): ObservedNode => ({ ...emptyObservedNode(n, 't'), routing: { routes: [], proxies: [], rules: [], tapSysctls: {} } });
const cluster = (...nodes: ObservedNode[]): ObservedCluster => ({ nodes: new Map(nodes.map((n) => [n.name, n])) });

describe('routed NICs in the plan', () => {
  it('given a new routed instance, it installs with the IPv4, EUI-64 IPv6 and gateways, and starts it with its routes and proxy NDP', () => {
    const p = plan(input([inst()]), cluster(bare('n1'), bare('n2')));
    expect(p.refused).toEqual([]);
    const install = p.actions.find((a): a is InstanceInstall => a.verb === 'instance.install')!;
    expect(install.nicInfo).toEqual([{ ip: '198.18.40.2', ip6: IP6, network: 'pub', subnet: '198.18.40.0/24', gateway: '198.18.40.1', subnet6: '2001:2:0:40::/64', gateway6: '2001:2:0:40::1' }]);
    const start = p.actions.find((a): a is InstanceStart => a.verb === 'instance.start')!;
    expect(start.launch.nics[0]).toMatchObject({ mode: 'routed', link: '', routed: { addresses: ['198.18.40.2', IP6], proxyNdp: ['2001:2:0:40::1'] } });
    expect(start.record.nics[0]).toEqual({ mac: 'aa:00:00:00:00:01', ip: '198.18.40.2', ip6: IP6, network: 'pub' });
    expect(p.actions.filter((a) => a.verb.startsWith('nic.routed'))).toEqual([]);
  });

  it('given it runs with its routing in place, it plans nothing', () => {
    const first = plan(input([inst()]), cluster(bare('n1'), bare('n2')));
    const launch = first.actions.find((a): a is InstanceStart => a.verb === 'instance.start')!.launch;
    const p = plan(input([inst()]), cluster(running('n1', fullRouting, launch), bare('n2')));
    expect(p.actions).toEqual([]);
  });

  it('given a host route and proxy ARP removed by hand, it shows the drift and re-asserts them with one action', () => {
    const first = plan(input([inst()]), cluster(bare('n1'), bare('n2')));
    const launch = first.actions.find((a): a is InstanceStart => a.verb === 'instance.start')!.launch;
    const lost: ObservedRouting = { ...fullRouting, routes: [fullRouting.routes[1]!], tapSysctls: { ...fullRouting.tapSysctls, 'net.ipv4.conf.t-gw1-0.proxy_arp': '0' } };
    const p = plan(input([inst()]), cluster(running('n1', lost, launch), bare('n2')));
    expect(p.actions).toHaveLength(1);
    const a = p.actions[0] as NicRoutedEnsure;
    expect(a).toMatchObject({ verb: 'nic.routed.ensure', node: 'n1', tap: 't-gw1-0', addresses: ['198.18.40.2', IP6], proxyNdp: ['2001:2:0:40::1'] });
    expect(a.reason).toMatch(/routes\[t-gw1-0\].*proxy_arp/);
    expect(p.entries.find((e) => e.subject === 'Instance/gw1')!.diffs.map((d) => d.path)).toEqual(['routes[t-gw1-0]', 'sysctls.net.ipv4.conf.t-gw1-0.proxy_arp']);
  });

  it('given an extra route on its tap and its old routes on a node it left, it removes each by its own action', () => {
    const first = plan(input([inst()]), cluster(bare('n1'), bare('n2')));
    const launch = first.actions.find((a): a is InstanceStart => a.verb === 'instance.start')!.launch;
    const extra: ObservedRouting = { ...fullRouting, routes: [...fullRouting.routes, { dst: '198.18.40.77', dev: 't-gw1-0' }, { dst: '198.18.40.78', dev: 'eth0' }] };
    const left: ObservedNode = { ...bare('n2'), routing: { routes: [{ dst: '198.18.40.2', dev: 't-gw1-0' }], proxies: [{ dst: '2001:2:0:40::1', dev: 't-gw1-0' }], rules: [], tapSysctls: {} } };
    const p = plan(input([inst()]), cluster(running('n1', extra, launch), left));
    expect(p.actions.map((a) => a.verb === 'nic.routed.remove' ? `${a.node} ${a.kind} ${a.address}` : a.verb).sort()).toEqual([
      'n1 route 198.18.40.77', 'n2 proxy 2001:2:0:40::1', 'n2 route 198.18.40.2',
    ]);
  });

  it('given stale entries on its tap on two nodes it left among five, the per-plan tap index lists just those two and the plan removes them in node order', () => {
    const first = plan(input([inst()]), cluster(bare('n1'), bare('n2')));
    const launch = first.actions.find((a): a is InstanceStart => a.verb === 'instance.start')!.launch;
    const stale = (n: string, dst: string): ObservedNode => ({ ...bare(n), routing: { routes: [{ dst, dev: 't-gw1-0' }], proxies: [], rules: [{ family: 4, iif: 't-gw1-0', table: '100' }], tapSysctls: {} } });
    const other: ObservedNode = { ...bare('n4'), routing: { routes: [{ dst: '198.18.40.9', dev: 't-other-0' }], proxies: [], rules: [], tapSysctls: {} } };
    // observed.nodes order (not name order) is the order actions come in, as when every node was walked
    const obs = cluster(stale('n5', '198.18.40.5'), running('n1', fullRouting, launch), bare('n2'), other, stale('n3', '198.18.40.3'));
    const index = routedTapIndex(obs);
    expect(index.nodesWith.get('t-gw1-0')).toEqual(['n5', 'n1', 'n3']);
    expect(index.nodesWith.get('t-other-0')).toEqual(['n4']);
    const p = plan({ ...input([inst()]), nodes: ['n1', 'n2', 'n3', 'n4', 'n5'].map(node) }, obs);
    expect(p.actions.map((a) => (a.verb === 'nic.routed.remove' ? `${a.node} ${a.kind} ${a.address ?? a.table}` : a.verb))).toEqual([
      'n5 route 198.18.40.5', 'n5 rule 100', 'n3 route 198.18.40.3', 'n3 rule 100',
    ]);
  });

  it('given a node whose routing could not be read, it plans no routing change there (unknown is not absent)', () => {
    const first = plan(input([inst()]), cluster(bare('n1'), bare('n2')));
    const launch = first.actions.find((a): a is InstanceStart => a.verb === 'instance.start')!.launch;
    const { routing: _unread, ...unread } = running('n1', fullRouting, launch);
    expect(plan(input([inst()]), cluster(unread, bare('n2'))).actions).toEqual([]);
  });

  it('given a routed NIC whose link names a routing table, it routes into that table with a rule per family, and moves main-table routes there', () => {
    const tabled = inst({ runtime: runtime([{ ...routedNic, link: 'dmz' }]) });
    const first = plan(input([tabled]), cluster(bare('n1'), bare('n2')));
    expect(first.refused).toEqual([]);
    const launch = first.actions.find((a): a is InstanceStart => a.verb === 'instance.start')!.launch;
    expect(launch.nics[0]!.routed).toEqual({ addresses: ['198.18.40.2', IP6], proxyNdp: ['2001:2:0:40::1'], table: 'dmz' });
    // Running with the routes still in main (say, from before the table was set) and no rules.
    const p = plan(input([tabled]), cluster(running('n1', fullRouting, launch), bare('n2')));
    const ensure = p.actions.find((a): a is NicRoutedEnsure => a.verb === 'nic.routed.ensure')!;
    expect(ensure).toMatchObject({ tap: 't-gw1-0', table: 'dmz' });
    expect(ensure.reason).toMatch(/routes\[t-gw1-0\] \(table dmz\), rules\[t-gw1-0\]\.ipv4, rules\[t-gw1-0\]\.ipv6/);
    expect(p.actions.filter((a) => a.verb === 'nic.routed.remove').map((a) => a.verb === 'nic.routed.remove' && `${a.kind} ${a.address} ${a.table ?? 'main'}`)).toEqual([
      'route 198.18.40.2 main', `route ${IP6} main`,
    ]);
    // In place: nothing to do; a rule to another table is removed.
    const inTable: ObservedRouting = {
      ...fullRouting, routes: fullRouting.routes.map((r) => ({ ...r, table: 'dmz' })),
      rules: [{ family: 4, iif: 't-gw1-0', table: 'dmz' }, { family: 6, iif: 't-gw1-0', table: 'dmz' }, { family: 4, iif: 't-gw1-0', table: 'old' }],
    };
    const q = plan(input([tabled]), cluster(running('n1', inTable, launch), bare('n2')));
    expect(q.actions).toMatchObject([{ verb: 'nic.routed.remove', kind: 'rule', family: 4, table: 'old' }]);
  });

  it('given a routed NIC with no IPv4 and no subnet6, it refuses the instance with ROUTED_NIC_NO_ADDRESS', () => {
    const p = plan(input([inst({ runtime: runtime([{ ...routedNic, ip: 'none' }]) })], false), cluster(bare('n1'), bare('n2')));
    expect(p.actions).toEqual([]);
    expect(p.refused).toMatchObject([{ subject: 'Instance/gw1', code: 'ROUTED_NIC_NO_ADDRESS' }]);
  });
});
