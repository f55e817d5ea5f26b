import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ovsAddPortArgv, ovsDelPortArgv, parseTaps, planTap, tapAddArgv, tapName, tapSetMasterArgv, MAX_IFNAME } from './tap.js';

const golden = (f: string): string => readFileSync(new URL(`./testdata/${f}`, import.meta.url), 'utf8');

describe('tapName', () => {
  it('given a short plain name, it is readable: t-<instance>-<nic>', () => {
    expect(tapName('web1', 0)).toBe('t-web1-0');
    expect(tapName('web1', 12)).toBe('t-web1-12');
  });

  it('given long or dotted names, it hashes to at most 15 chars, deterministically and distinctly', () => {
    const names = ['database-primary-01', 'database-primary-02', 'web1.example.org', 'x'.repeat(63)];
    const taps = names.flatMap((n) => [0, 1, 42].map((i) => tapName(n, i)));
    for (const t of taps) {
      expect(t.length).toBeLessThanOrEqual(MAX_IFNAME);
      expect(t).toMatch(/^tx[0-9a-f]+-\d+$/);
    }
    expect(new Set(taps).size).toBe(taps.length);
    expect(tapName('database-primary-01', 0)).toBe(tapName('database-primary-01', 0));
    expect(() => tapName('web1', 100)).toThrow(/nic index/);
  });
});

describe('tap argv builders', () => {
  it('given a tap and a bridge, it builds ip(8) argv', () => {
    expect(tapAddArgv('t-web1-0')).toEqual(['ip', 'tuntap', 'add', 'dev', 't-web1-0', 'mode', 'tap']);
    expect(tapSetMasterArgv('t-web1-0', 'br0')).toEqual(['ip', 'link', 'set', 'dev', 't-web1-0', 'master', 'br0', 'up']);
    expect(() => tapSetMasterArgv('t-web1-0', 'br0;reboot')).toThrow(/interface name/);
  });

  it('given an OVS link, it adds the port and (re)sets VLAN tag and trunks in one transaction', () => {
    expect(ovsAddPortArgv({ bridge: 'ovs0', dbSocket: '/run/n1/ovs/db.sock', tag: 100 }, 't-web1-0')).toEqual([
      'ovs-vsctl', '--db=unix:/run/n1/ovs/db.sock', '--may-exist', 'add-port', 'ovs0', 't-web1-0', '--', 'set', 'Port', 't-web1-0', 'tag=100', 'trunks=[]',
    ]);
    expect(ovsAddPortArgv({ bridge: 'ovs0', dbSocket: '/s', trunks: [10, 20] }, 'tap1').slice(-2)).toEqual(['tag=[]', 'trunks=10,20']);
    expect(() => ovsAddPortArgv({ bridge: 'ovs0', dbSocket: '/s', tag: 4096 }, 'tap1')).toThrow(/VLAN/);
    expect(ovsDelPortArgv('/s', 'tap1')).toEqual(['ovs-vsctl', '--db=unix:/s', '--if-exists', 'del-port', 'tap1']);
  });
});

describe('parseTaps (real ip -j -d output)', () => {
  it('given two taps, one on a bridge, it reports master and up', () => {
    expect(parseTaps(golden('ip-link-show-type-tun.json'))).toEqual({
      't-web1-0': { name: 't-web1-0', master: 'gbr0', up: true },
      't-web1-1': { name: 't-web1-1', up: false },
    });
    expect(Object.keys(parseTaps(golden('ip-link-show-dev-tap.json')))).toEqual(['t-web1-1']);
    expect(parseTaps('')).toEqual({});
  });
});

describe('planTap', () => {
  it('given the observed tap, it plans only what differs', () => {
    const link = { mode: 'bridged', bridge: 'br0' } as const;
    expect(planTap('tap1', link, undefined)).toEqual([tapAddArgv('tap1'), tapSetMasterArgv('tap1', 'br0')]);
    expect(planTap('tap1', link, { name: 'tap1', master: 'br0', up: true })).toEqual([]);
    expect(planTap('tap1', link, { name: 'tap1', master: 'br9', up: true })).toEqual([tapSetMasterArgv('tap1', 'br0')]);
    expect(planTap('tap1', { mode: 'routed' }, { name: 'tap1', master: 'br0', up: true })).toEqual([['ip', 'link', 'set', 'dev', 'tap1', 'nomaster']]);
  });

  it('given a routed link with addresses, it brings the tap up, then routes the addresses to it with proxy ARP/NDP', () => {
    const link = { mode: 'routed', routing: { addresses: ['198.18.40.10', '2001:2:0:40::10'], proxyNdp: ['2001:2:0:40::1'] } } as const;
    expect(planTap('t-web1-0', link, undefined)).toEqual([
      tapAddArgv('t-web1-0'), ['ip', 'link', 'set', 'dev', 't-web1-0', 'up'],
      ['sysctl', '-w', 'net.ipv4.conf.t-web1-0.proxy_arp=1', 'net.ipv4.conf.t-web1-0.forwarding=1', 'net.ipv6.conf.t-web1-0.proxy_ndp=1', 'net.ipv6.conf.t-web1-0.forwarding=1'],
      ['ip', '-4', 'route', 'replace', '198.18.40.10/32', 'dev', 't-web1-0', 'proto', 'static'],
      ['ip', '-6', 'route', 'replace', '2001:2:0:40::10/128', 'dev', 't-web1-0', 'proto', 'static'],
      ['ip', '-6', 'neigh', 'replace', 'proxy', '2001:2:0:40::1', 'dev', 't-web1-0'],
    ]);
  });

  it('given a routed link with a table whose rule survives from an earlier start, it does not add the rule again (ip rule add duplicates)', () => {
    const link = { mode: 'routed', routing: { addresses: ['198.18.40.10'], proxyNdp: [], table: '100' } } as const;
    const fresh = planTap('t-web1-0', link, { name: 't-web1-0', up: true }, { routes: [], proxies: [], rules: [], sysctls: {} });
    expect(fresh).toContainEqual(['ip', '-4', 'rule', 'add', 'iif', 't-web1-0', 'table', '100']);
    const again = planTap('t-web1-0', link, { name: 't-web1-0', up: true }, { routes: [], proxies: [], rules: [{ family: 4, iif: 't-web1-0', table: '100' }], sysctls: {} });
    expect(again.filter((c) => c.includes('rule'))).toEqual([]);
    expect(again).toContainEqual(['ip', '-4', 'route', 'replace', '198.18.40.10/32', 'dev', 't-web1-0', 'proto', 'static', 'table', '100']);
  });
});
