/**
 * Issue 11 item 2 on the real lab: a guest on a routed, dual-stack network (Ganeti's mode
 * "routed": a tap with no bridge, host routes for the guest's IPv4 and EUI-64 IPv6 address
 * to its tap, proxy ARP/NDP and forwarding) boots under QEMU (TCG) on a namespace node and
 * pings its IPv4 and IPv6 gateways, which the node holds on a profile bridge. Then routing
 * removed and added by hand on the node is drift: shown in the plan, repaired by its own
 * actions, and the node reaches the guest again.
 */
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { killGuests, labPasses } from '../helpers/passes.js';
import { ensureLabGuest } from '../../src/lab/guest/index.js';

const skip = await labSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const GW = '198.18.250.1';
const GW6 = '2001:2:0:fa::1';

describe.skipIf(skip)('given a 1-node lab and a guest on a routed dual-stack network', () => {
  const lab = useLab({ nodes: 1, manifestsDir: path.join(tmpdir(), `gantry-routed-nodes-${process.pid}`) });
  // A private guest build: the guest's /init must be this tree's (IPv6, ping), whatever other runs publish.
  const guestCache = `/var/lib/gantry-lab/test-routed-${process.pid}`;
  let m: ManifestSet;

  const { pass, converge } = labPasses(() => m.load());
  const consoleOf = async () => readFile(path.join(lab.up.record.stateDir, 'node1', 'run', 'rt1', 'console.log'), 'utf8').catch(() => '');
  const waitConsole = async (re: RegExp, ms = 180_000): Promise<string> => {
    const until = Date.now() + ms;
    for (;;) {
      const text = await consoleOf();
      if (re.test(text)) return text;
      if (Date.now() > until) throw new Error(`console of rt1 never matched ${re}: ...${text.slice(-400)}`);
      await sleep(1000);
    }
  };
  const onNode = async (...argv: string[]) => lab.exec('node1', argv);

  beforeAll(async () => {
    const guest = ensureLabGuest({ cacheDir: guestCache });
    m = await labManifests(lab, { files: ['cluster.yaml'] });
    await m.edit('cluster.yaml', ([c]) => {
      c!.spec.hvParams.kvm.kernelPath = guest.kernelPath;
      c!.spec.hvParams.kvm.initrdPath = guest.initrdPath;
      c!.spec.osSearchPath = [path.dirname(guest.osDir)];
    });
    await m.write('group.yaml', [{
      apiVersion: 'gantry.dev/v1alpha1', kind: 'NodeGroup', metadata: { name: 'default' },
      // The node is the routed network's gateway: it holds both gateway addresses on a portless bridge.
      spec: { nodeProfile: { bridges: [{ name: 'grt0', addresses: [`${GW}/24`, `${GW6}/64`] }] } },
    }]);
    await m.write('networks.yaml', [{
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Network', metadata: { name: 'pub' },
      spec: { mode: 'routed', subnet: '198.18.250.0/24', gateway: GW, subnet6: '2001:2:0:fa::/64', gateway6: GW6 },
    }]);
    await m.write('instances.yaml', [{
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'rt1' },
      spec: {
        os: { name: 'busybox+default', params: { ping: `${GW} ${GW6}` } }, diskTemplate: 'sharedfile', disks: [{ size: '16M' }],
        nics: [{ network: 'pub', ip: 'pool' }], placement: { primary: 'node1' },
      },
    }]);
  }, 180_000);
  afterAll(async () => {
    if (m) await killGuests(await m.load()).catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent')));
    await pass(true).catch(() => undefined);
    await m?.cleanup();
    await rm(guestCache, { recursive: true, force: true });
  });

  it('the plan sets forwarding through the node profile, then the guest boots routed and pings its IPv4 and IPv6 gateways', async () => {
    const r = await converge();
    const node1 = r.plan.actions.filter((a) => a.node === 'node1').map((a) => (a.verb === 'sysctl.set' ? `${a.verb} ${a.key}=${a.value}` : a.verb));
    expect(node1).toEqual(expect.arrayContaining(['sysctl.set net.ipv4.ip_forward=1', 'sysctl.set net.ipv6.conf.all.forwarding=1', 'bridge.ensure', 'instance.install', 'instance.start']));
    const start = r.plan.actions.find((a) => a.verb === 'instance.start');
    expect(start?.verb === 'instance.start' && start.launch.nics[0]).toMatchObject({ mode: 'routed', link: '', routed: { proxyNdp: [GW6] } });
    const text = await waitConsole(new RegExp(`ping ${GW6.replace(/\./g, '\\.')} \\w+`));
    const ip = /gantry-guest rt1 ip (198\.18\.250\.\d+)\/24/.exec(text)?.[1];
    const ip6 = /gantry-guest rt1 ip6 (2001:2:0:fa:[0-9a-f:]+)\/64/.exec(text)?.[1];
    expect(ip).toBeDefined();
    expect(ip6).toMatch(/ff:fe/); // EUI-64 of the NIC's MAC
    expect(text).toContain(`gantry-guest rt1 ping ${GW} ok`);
    expect(text).toContain(`gantry-guest rt1 ping ${GW6} ok`);
    // On the node: the tap has no master, and carries the host routes and the proxy entry.
    const routes = await onNode('ip', '-j', 'route', 'show', 'dev', 't-rt1-0', 'proto', 'static');
    expect(JSON.parse(routes.stdout)).toEqual([expect.objectContaining({ dst: ip })]);
    const proxies = await onNode('ip', '-j', '-6', 'neigh', 'show', 'proxy', 'dev', 't-rt1-0');
    expect(JSON.parse(proxies.stdout)).toEqual([expect.objectContaining({ dst: GW6 })]);
    expect((await onNode('busybox', 'ping', '-c', '2', '-W', '3', ip!)).code).toBe(0);
  });

  it('given its host route and proxy NDP entry deleted by hand and a stray route added, the plan shows it and repairs exactly that', async () => {
    const ip = /gantry-guest rt1 ip (198\.18\.250\.\d+)\//.exec(await consoleOf())![1]!;
    expect((await onNode('ip', 'route', 'del', `${ip}/32`, 'dev', 't-rt1-0')).code).toBe(0);
    expect((await onNode('ip', '-6', 'neigh', 'del', 'proxy', GW6, 'dev', 't-rt1-0')).code).toBe(0);
    expect((await onNode('ip', 'route', 'add', '198.18.250.99/32', 'dev', 't-rt1-0', 'proto', 'static')).code).toBe(0);
    expect((await onNode('busybox', 'ping', '-c', '1', '-W', '2', ip)).code).not.toBe(0);

    const drift = await pass(false);
    expect(drift.plan.actions.map((a) => (a.verb === 'nic.routed.remove' ? `${a.verb} ${a.kind} ${a.address}` : a.verb))).toEqual(['nic.routed.ensure', 'nic.routed.remove route 198.18.250.99']);
    const entry = drift.plan.entries.find((e) => e.subject === 'Instance/rt1')!;
    expect(entry.diffs.map((d) => d.path)).toEqual(expect.arrayContaining(['routes[t-rt1-0]', 'proxyNdp[t-rt1-0]', 'routes[t-rt1-0]@node1']));

    await converge();
    expect((await onNode('busybox', 'ping', '-c', '2', '-W', '3', ip)).code).toBe(0);
    const routes = JSON.parse((await onNode('ip', '-j', 'route', 'show', 'dev', 't-rt1-0', 'proto', 'static')).stdout) as { dst: string }[];
    expect(routes.map((x) => x.dst)).toEqual([ip]);
  });

  it('given the network\'s link set to routing table 100 (Ganeti\'s routed link), the guest restarts routed through that table and reaches its gateways again', async () => {
    const ip = /gantry-guest rt1 ip (198\.18\.250\.\d+)\//.exec(await consoleOf())![1]!;
    // The admin's part, as with Ganeti: traffic to the network looks up its table.
    expect((await onNode('ip', 'rule', 'add', 'to', '198.18.250.0/24', 'lookup', '100')).code).toBe(0);
    expect((await onNode('ip', '-6', 'rule', 'add', 'to', '2001:2:0:fa::/64', 'lookup', '100')).code).toBe(0);
    await m.edit('networks.yaml', ([n]) => (n!.spec.link = '100'));
    const r = await converge();
    expect(r.plan.actions.map((a) => (a.verb === 'nic.routed.remove' ? `${a.verb} ${a.kind} ${a.table ?? 'main'}` : a.verb))).toEqual([
      'instance.stop', 'instance.start', 'nic.routed.remove route main', 'nic.routed.remove route main',
    ]);
    const pings = (t: string, gw: string) => t.split(`gantry-guest rt1 ping ${gw} ok`).length - 1;
    const text = await waitConsole(new RegExp(`(ping ${GW6} \\w+[^]*){2}`));
    expect(pings(text, GW)).toBe(2);
    expect(pings(text, GW6)).toBe(2);
    const inTable = JSON.parse((await onNode('ip', '-j', 'route', 'show', 'table', '100', 'dev', 't-rt1-0')).stdout) as { dst: string }[];
    expect(inTable.map((x) => x.dst)).toContain(ip);
    expect(JSON.parse((await onNode('ip', '-j', 'route', 'show', 'dev', 't-rt1-0', 'proto', 'static')).stdout)).toEqual([]);
    const rules = JSON.parse((await onNode('ip', '-j', 'rule', 'show', 'iif', 't-rt1-0')).stdout) as { table: string }[];
    expect(rules.map((x) => x.table)).toEqual(['100']);
    expect((await onNode('busybox', 'ping', '-c', '2', '-W', '3', ip)).code).toBe(0);
    // Another start on the same tap reads the rule first: `ip rule add` would add a duplicate.
    await m.edit('instances.yaml', ([d]) => (d!.spec.restartGeneration = 1));
    expect((await converge()).plan.actions.map((a) => a.verb)).toEqual(['instance.stop', 'instance.start']);
    const after = JSON.parse((await onNode('ip', '-j', 'rule', 'show', 'iif', 't-rt1-0')).stdout) as { table: string }[];
    expect(after.map((x) => x.table)).toEqual(['100']);
  });
});
