import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../transport/transport.js';
import {
  canonicalIp, hostRouteAddArgv, parseTapRules, tapRuleAddArgv, hostRouteDelArgv, parseTapConf, parseTapEntries, planRoutedTap, proxyNdpAddArgv, proxyNdpDelArgv,
  routedEntryRemoveOp, routedTapDiffs, routedTapEnsureOp, staticRoutesArgv, tapConfArgv, tapSysctls, type RoutedTapParams,
} from './route.js';

const golden = (f: string): string => readFileSync(new URL(`./testdata/${f}`, import.meta.url), 'utf8');
const ok = (argv: string[], stdout: string): ExecResult => ({ argv, code: 0, stdout, stderr: '', durationMs: 1 });

const web1: RoutedTapParams = { tap: 't-web1-0', addresses: ['198.18.40.10', '2001:2:0:40:a800:ff:fe00:1'], proxyNdp: ['2001:2:0:40::1'] };

describe('routed tap argv builders', () => {
  it('given IPv4 and IPv6 addresses, it builds host routes and proxy NDP entries with iproute2', () => {
    expect(hostRouteAddArgv('t-web1-0', '198.18.40.10')).toEqual(['ip', '-4', 'route', 'replace', '198.18.40.10/32', 'dev', 't-web1-0', 'proto', 'static']);
    expect(hostRouteAddArgv('t-web1-0', '2001:2:0:40:0:0:0:10')).toEqual(['ip', '-6', 'route', 'replace', '2001:2:0:40::10/128', 'dev', 't-web1-0', 'proto', 'static']);
    expect(hostRouteDelArgv('t-web1-0', '198.18.40.10')).toEqual(['ip', '-4', 'route', 'del', '198.18.40.10/32', 'dev', 't-web1-0', 'proto', 'static']);
    expect(proxyNdpAddArgv('t-web1-0', '2001:2:0:40::1')).toEqual(['ip', '-6', 'neigh', 'replace', 'proxy', '2001:2:0:40::1', 'dev', 't-web1-0']);
    expect(proxyNdpDelArgv('t-web1-0', '2001:2:0:40::1')).toEqual(['ip', '-6', 'neigh', 'del', 'proxy', '2001:2:0:40::1', 'dev', 't-web1-0']);
  });

  it('given a bad name or address, it refuses to build the argv', () => {
    expect(() => hostRouteAddArgv('-t', '198.18.40.10')).toThrow(/interface/);
    expect(() => hostRouteAddArgv('t-web1-0', '198.18.40.300')).toThrow(/invalid IP address/);
    expect(() => proxyNdpAddArgv('t-web1-0', '198.18.40.1')).toThrow(/IPv6/);
  });

  it('given a dual-stack tap, it asks for proxy ARP, proxy NDP and forwarding on that tap only', () => {
    expect(tapSysctls(web1)).toEqual({
      'net.ipv4.conf.t-web1-0.proxy_arp': '1', 'net.ipv4.conf.t-web1-0.forwarding': '1',
      'net.ipv6.conf.t-web1-0.proxy_ndp': '1', 'net.ipv6.conf.t-web1-0.forwarding': '1',
    });
    expect(Object.keys(tapSysctls({ tap: 't-a-0', addresses: ['198.18.40.2'], proxyNdp: [] }))).toEqual(['net.ipv4.conf.t-a-0.proxy_arp', 'net.ipv4.conf.t-a-0.forwarding']);
  });
});

describe('routed tap parsers (real ip -j and sysctl output)', () => {
  it('given static routes of two taps, it returns host entries with canonical addresses', () => {
    expect(parseTapEntries(golden('ip-4-route-show-proto-static.json'))).toEqual([
      { dst: '198.18.40.10', dev: 't-web1-0' }, { dst: '198.18.40.11', dev: 't-db1-0' },
    ]);
    expect(parseTapEntries(golden('ip-6-route-show-proto-static.json'))).toEqual([{ dst: '2001:2:0:40:a800:ff:fe00:1', dev: 't-web1-0' }]);
    expect(parseTapEntries(golden('ip-6-neigh-show-proxy.json'))).toEqual([
      { dst: '2001:2:0:40::1', dev: 't-db1-0' }, { dst: '2001:2:0:40::1', dev: 't-web1-0' },
    ]);
  });

  it('given output filtered by dev (which leaves the device out), it fills the device in', () => {
    expect(parseTapEntries(golden('ip-4-route-show-proto-static-dev.json'), 't-web1-0')).toEqual([{ dst: '198.18.40.10', dev: 't-web1-0' }]);
    expect(parseTapEntries(golden('ip-6-neigh-show-proxy-dev.json'), 't-web1-0')).toEqual([{ dst: '2001:2:0:40::1', dev: 't-web1-0' }]);
    expect(parseTapEntries('[]')).toEqual([]);
    expect(parseTapEntries('[{"dst":"198.18.0.0/24","dev":"x"},{"dst":"default","dev":"y"}]')).toEqual([]);
  });

  it('given sysctl -r output over the conf trees, it maps every tap key to its value', () => {
    const conf = parseTapConf(golden('sysctl-tap-conf.txt'));
    expect(conf['net.ipv4.conf.t-web1-0.proxy_arp']).toBe('1');
    expect(conf['net.ipv6.conf.t-db1-0.proxy_ndp']).toBe('0');
    expect(Object.keys(conf)).toHaveLength(8);
    // Only the two conf trees, not sysctl -a's whole /proc/sys (seconds on a TCG VM node).
    expect(tapConfArgv()).toEqual(['sysctl', '-r', '^net\\.ipv[46]\\.conf\\.t[-x][^.]*\\.(proxy_arp|proxy_ndp|forwarding)$', 'net.ipv4.conf', 'net.ipv6.conf']);
    expect(staticRoutesArgv('-6', 't-web1-0')).toEqual(['ip', '-j', '-6', 'route', 'show', 'table', 'all', 'proto', 'static', 'dev', 't-web1-0']);
  });
});

describe('routing tables (Ganeti: the link of a routed NIC)', () => {
  it('given routes in table 100 and rules per family (real ip -j output), it parses table and rule', () => {
    expect(parseTapEntries(golden('ip-4-route-show-table-all-proto-static.json'))).toEqual([
      { dst: '198.18.40.10', dev: 't-web1-0', table: '100' }, { dst: '198.18.40.11', dev: 't-db1-0' },
    ]);
    expect(parseTapEntries(golden('ip-6-route-show-table-all-proto-static.json'))).toEqual([{ dst: '2001:2:0:40::10', dev: 't-web1-0', table: '100' }]);
    expect(parseTapRules(golden('ip-4-rule-show.json'), 4)).toEqual([{ family: 4, iif: 't-web1-0', table: '100' }]);
    expect(parseTapRules(golden('ip-6-rule-show.json'), 6)).toEqual([{ family: 6, iif: 't-web1-0', table: '100' }]);
    expect(parseTapRules(golden('ip-4-rule-show-iif.json'), 4)).toHaveLength(1);
  });

  it('given a table, it adds the missing rule (ip rule add would duplicate one) and routes into the table', () => {
    const p: RoutedTapParams = { tap: 't-web1-0', addresses: ['198.18.40.10', '2001:2:0:40::10'], proxyNdp: [], table: '100' };
    const o = {
      routes: [...parseTapEntries(golden('ip-4-route-show-table-all-proto-static.json')), ...parseTapEntries(golden('ip-6-route-show-table-all-proto-static.json'))],
      proxies: [], rules: parseTapRules(golden('ip-4-rule-show.json'), 4), sysctls: parseTapConf(golden('sysctl-tap-conf.txt')),
    };
    expect(planRoutedTap(p, o)).toEqual([['ip', '-6', 'rule', 'add', 'iif', 't-web1-0', 'table', '100']]);
    expect(hostRouteAddArgv('t-web1-0', '198.18.40.10', '100').slice(-2)).toEqual(['table', '100']);
    expect(() => tapRuleAddArgv('t-web1-0', 4, '-x')).toThrow(/routing table/);
    expect(routedEntryRemoveOp.describe({ tap: 't-web1-0', kind: 'rule', family: 6, table: '100' })).toEqual([['ip', '-6', 'rule', 'del', 'iif', 't-web1-0', 'table', '100']]);
  });
});

describe('planRoutedTap', () => {
  const observedAll = {
    routes: [...parseTapEntries(golden('ip-4-route-show-proto-static.json')), ...parseTapEntries(golden('ip-6-route-show-proto-static.json'))],
    proxies: parseTapEntries(golden('ip-6-neigh-show-proxy.json')),
    sysctls: parseTapConf(golden('sysctl-tap-conf.txt')),
  };

  it('given the captured node, it plans nothing for the tap that is set up and everything missing for the other', () => {
    expect(planRoutedTap(web1, observedAll)).toEqual([]);
    expect(routedTapDiffs(web1, observedAll)).toEqual([]);
    const db1: RoutedTapParams = { tap: 't-db1-0', addresses: ['198.18.40.11', '2001:2:0:40::11'], proxyNdp: ['2001:2:0:40::1'] };
    expect(planRoutedTap(db1, observedAll)).toEqual([
      ['sysctl', '-w', 'net.ipv4.conf.t-db1-0.proxy_arp=1', 'net.ipv4.conf.t-db1-0.forwarding=1', 'net.ipv6.conf.t-db1-0.proxy_ndp=1', 'net.ipv6.conf.t-db1-0.forwarding=1'],
      hostRouteAddArgv('t-db1-0', '2001:2:0:40::11'),
    ]);
    expect(routedTapDiffs(db1, observedAll).map((d) => d.path)).toEqual([
      'routes[t-db1-0]', 'sysctls.net.ipv4.conf.t-db1-0.proxy_arp', 'sysctls.net.ipv4.conf.t-db1-0.forwarding', 'sysctls.net.ipv6.conf.t-db1-0.proxy_ndp', 'sysctls.net.ipv6.conf.t-db1-0.forwarding',
    ]);
  });

  it('given nothing observed, it asserts everything (what a VM start runs)', () => {
    expect(planRoutedTap(web1)).toEqual([
      ['sysctl', '-w', 'net.ipv4.conf.t-web1-0.proxy_arp=1', 'net.ipv4.conf.t-web1-0.forwarding=1', 'net.ipv6.conf.t-web1-0.proxy_ndp=1', 'net.ipv6.conf.t-web1-0.forwarding=1'],
      hostRouteAddArgv('t-web1-0', '198.18.40.10'), hostRouteAddArgv('t-web1-0', '2001:2:0:40:a800:ff:fe00:1'), proxyNdpAddArgv('t-web1-0', '2001:2:0:40::1'),
    ]);
  });
});

describe('routed tap operations', () => {
  const reads = (tap: string, r4: string, r6: string, px: string, sc: string): ExecResult[] =>
    [ok(staticRoutesArgv('-4', tap), r4), ok(staticRoutesArgv('-6', tap), r6), ok(['ip'], px), ok(tapConfArgv(), sc), ok(['ip'], '[]'), ok(['ip'], '[]')];

  it('given a tap already routed, the ensure is a no-op; with a route deleted by hand, it re-adds only that', () => {
    const sc = golden('sysctl-tap-conf.txt');
    const full = reads('t-web1-0', golden('ip-4-route-show-proto-static-dev.json'), '[{"dst":"2001:2:0:40:a800:ff:fe00:1","metric":1024}]', golden('ip-6-neigh-show-proxy-dev.json'), sc);
    expect(routedTapEnsureOp.decide(web1, full)).toEqual({ kind: 'noop' });
    const lost = reads('t-web1-0', '[]', '[{"dst":"2001:2:0:40:a800:ff:fe00:1","metric":1024}]', golden('ip-6-neigh-show-proxy-dev.json'), sc);
    expect(routedTapEnsureOp.decide(web1, lost)).toEqual({ kind: 'run', commands: [hostRouteAddArgv('t-web1-0', '198.18.40.10')] });
  });

  it('given a missing tap, the ensure refuses and the removal has nothing to do', () => {
    const gone: ExecResult[] = [{ argv: ['ip'], code: 1, stdout: '', stderr: 'Cannot find device "t-web1-0"\n', durationMs: 1 }, ok(['ip'], '[]'), ok(['ip'], '[]'), ok(['sysctl'], ''), ok(['ip'], '[]'), ok(['ip'], '[]')];
    const d = routedTapEnsureOp.decide(web1, gone);
    expect(d.kind === 'refuse' && d.error.code).toBe('TAP_NOT_FOUND');
    expect(routedEntryRemoveOp.decide({ tap: 't-web1-0', kind: 'route', address: '198.18.40.10' }, gone)).toEqual({ kind: 'noop' });
  });

  it('given a stale route or proxy entry, the removal deletes exactly it', () => {
    const r = reads('t-web1-0', golden('ip-4-route-show-proto-static-dev.json'), '[]', golden('ip-6-neigh-show-proxy-dev.json'), '');
    expect(routedEntryRemoveOp.decide({ tap: 't-web1-0', kind: 'route', address: '198.18.40.10' }, r)).toEqual({ kind: 'run', commands: [hostRouteDelArgv('t-web1-0', '198.18.40.10')] });
    expect(routedEntryRemoveOp.decide({ tap: 't-web1-0', kind: 'proxy', address: '2001:2:0:40:0::1' }, r)).toEqual({ kind: 'run', commands: [proxyNdpDelArgv('t-web1-0', '2001:2:0:40::1')] });
    expect(routedEntryRemoveOp.decide({ tap: 't-web1-0', kind: 'route', address: '198.18.40.99' }, r)).toEqual({ kind: 'noop' });
    expect(canonicalIp('2001:0002:0000:0040:0000:0000:0000:0001')).toBe('2001:2:0:40::1');
  });
});
