import { describe, expect, it } from 'vitest';
import { parseManifestText } from './load.js';
import { buildDesired } from './build.js';
import { formatLoadError } from './errors.js';

const CLUSTER = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: { name: c1 }
spec:
  enabledDiskTemplates: [drbd, plain, file, sharedfile]
  hvParams: { kvm: { cpuType: host, machineType: q35, kernelArgs: "ro console=ttyS0" } }
  beParams: { vcpus: 2, memory: 512M }
  nicParams: { mode: bridged, link: br0 }
  storage: { volumeGroup: vg0 }
  exclusionTags: ["service:"]
  nodeProfile:
    bridges: [{ name: br0, ports: [eth0] }]
    sysctls: { net.ipv4.ip_forward: 1 }
`;
const GROUP = `apiVersion: gantry.dev/v1alpha1
kind: NodeGroup
metadata: { name: g1 }
spec:
  hvParams: { kvm: { cpuType: Skylake-Server } }
  diskParams: { plain: { vg: fast } }
  networks: [{ network: vlan42, link: ovsbr1 }]
  nodeProfile:
    bridges: [{ name: br0, mtu: 9000 }]
    ovsBridges: [{ name: ovsbr1, datapathType: netdev }]
`;
const node = (name: string, addr: string, extra = '') => `apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: { name: ${name} }
spec:
  group: g1
  address: ${addr}
${extra}`;
const NET = `apiVersion: gantry.dev/v1alpha1
kind: Network
metadata: { name: vlan42 }
spec: { subnet: 10.42.0.0/24, mode: openvswitch, link: ovsbr0, vlan: 42 }
`;
const INST = `apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: { name: web1 }
spec:
  os: { name: debootstrap+default, params: { filesystem: ext4, swap: 512 } }
  diskTemplate: drbd
  hvParams: { machineType: pc }
  beParams: { memory: 2G }
  disks:
    - { size: 10G }
    - { size: 20g, template: plain }
    - { size: 1T, template: file }
  nics: [{ network: vlan42 }]
  placement: { primary: n1 }
  tags: ["service:web", "owner:alice"]
status: { primary: whatever }
`;

function build(...docs: string[]) {
  const { resources, errors } = parseManifestText('m.yaml', docs.join('---\n'));
  const built = buildDesired(resources);
  return { ...built, errors: [...errors, ...built.errors] };
}

describe('buildDesired', () => {
  const all = [CLUSTER, GROUP, node('n1', '192.0.2.1', '  profile: { sysctls: { vm.swappiness: 10 } }\n'), node('n2', '192.0.2.2'), NET, INST];

  it('given cluster, group and instance hv params, it fills them cluster -> group -> instance', () => {
    const { state, errors } = build(...all);
    expect(errors.map(formatLoadError)).toEqual([]);
    const i = state!.instances.get('web1')!;
    expect(i.hvParams.cpuType).toBe('Skylake-Server');
    expect(i.hvParams.machineType).toBe('pc');
    expect(i.hvParams.kernelArgs).toBe('ro console=ttyS0');
    expect(i.hvParams.nicType).toBe('paravirtual');
    expect(i.beParams).toEqual({ vcpus: 2, memory: 2048, autoBalance: true, spindleUse: 1 });
    expect(i.os.params).toEqual({ filesystem: 'ext4', swap: '512' });
    expect(i.placement.group).toBe('g1');
  });

  it('given per-disk templates, it resolves each disk backend, VG and directory', () => {
    const i = build(...all).state!.instances.get('web1')!;
    expect(i.disks.map((d) => [d.template, d.size, d.vg, d.metaVg, d.dir])).toEqual([
      ['drbd', 10240, 'vg0', 'vg0', undefined],
      ['plain', 20480, 'fast', undefined, undefined],
      ['file', 1048576, undefined, undefined, '/srv/ganeti/file-storage'],
    ]);
    expect(i.needsSecondary).toBe(true);
  });

  it('given a NIC on a network connected with a group link, it takes the group connection over the network', () => {
    const nic = build(...all).state!.instances.get('web1')!.nics[0]!;
    expect(nic).toMatchObject({ network: 'vlan42', mode: 'openvswitch', link: 'ovsbr1', vlan: 42, ip: 'pool', mac: 'auto' });
  });

  it('given profiles at cluster, group and node, it merges lists by name and sysctls by key', () => {
    const n1 = build(...all).state!.nodes.get('n1')!;
    expect(n1.profile.bridges).toEqual([{ name: 'br0', vlanFiltering: false, mtu: 9000, addresses: [], ports: ['eth0'] }]);
    expect(n1.profile.ovsBridges).toEqual([{ name: 'ovsbr1', datapathType: 'netdev', ports: [] }]);
    expect(n1.profile.sysctls).toEqual({ 'net.ipv4.ip_forward': '1', 'vm.swappiness': '10' });
    expect(n1.secondaryAddress).toBe('192.0.2.1');
    expect(n1.ssh).toEqual({ host: '192.0.2.1', port: 22, user: 'root' });
  });

  it('given exclusion tag prefixes, it lists the matching instance tags', () => {
    expect(build(...all).state!.instances.get('web1')!.exclusionTags).toEqual(['service:web']);
  });

  it('given nodes with no group, it implies a "default" group filled from the cluster', () => {
    const { state, errors } = build(CLUSTER, node('n1', '192.0.2.1').replace('  group: g1\n', ''));
    expect(errors).toEqual([]);
    expect(state!.groups.get('default')).toMatchObject({ implicit: true, allocPolicy: 'preferred' });
    expect(state!.nodes.get('n1')!.group).toBe('default');
  });

  it('given several independent mistakes, it reports all of them with positions', () => {
    const broken = INST.replace('primary: n1', 'primary: n9').replace('template: plain', 'template: diskless');
    const { errors } = build(CLUSTER.replace('drbd, plain, file, sharedfile', 'drbd, plain, file'), GROUP, node('n1', '192.0.2.1'), node('n2', '192.0.2.1'), NET, broken);
    const codes = errors.map((e) => e.code).sort();
    expect(codes).toEqual(expect.arrayContaining(['duplicate-address', 'template-not-enabled', 'unknown-reference', 'invalid-value']));
    for (const e of errors) expect(e.line).toBeGreaterThan(0);
  });

  it('given a Cluster that names no templates, it enables every template this release runs (drbd first, as Ganeti) and accepts a drbd instance with its diskParams', () => {
    const bare = CLUSTER.replace('  enabledDiskTemplates: [drbd, plain, file, sharedfile]\n', '');
    const ok = build(bare, GROUP, node('n1', '192.0.2.1'), node('n2', '192.0.2.2'), NET, INST);
    expect(ok.errors).toEqual([]);
    expect(ok.state!.cluster.enabledDiskTemplates).toEqual(['drbd', 'plain', 'file', 'sharedfile', 'diskless']);
    const d = [...ok.state!.instances.values()][0]!.disks[0]!;
    expect(d).toMatchObject({ template: 'drbd', metaSize: 128, drbdSync: { protocol: 'C', resyncRateKiB: 61440, dynamicResync: false, diskBarriers: 'n' } });
  });

  it('given sysctls, it allows the usual net/vm/fs.inotify tuning, refuses kernel.* (dotted or slashed) and lets the Cluster allow more', () => {
    const prof = (keys: string) => node('n1', '192.0.2.1', `  profile: { sysctls: { ${keys} } }\n`);
    const ok = build(CLUSTER, GROUP, prof('net.ipv4.conf.br0.rp_filter: 1, net.bridge.bridge-nf-call-iptables: 0, vm.dirty_ratio: 5, fs.inotify.max_user_watches: 65536'), NET);
    expect(ok.errors).toEqual([]);
    const bad = build(CLUSTER, GROUP, prof('kernel.core_pattern: "|/bin/sh", kernel/modprobe: /tmp/x, kernel.panic: 10, vm.dirty: 1'), NET);
    expect(bad.errors.filter((e) => e.code === 'sysctl-not-allowed').map((e) => e.path)).toEqual([
      'spec.profile.sysctls["kernel.core_pattern"]', 'spec.profile.sysctls["kernel/modprobe"]', 'spec.profile.sysctls["kernel.panic"]', 'spec.profile.sysctls["vm.dirty"]',
    ]);
    const extended = build(CLUSTER.replace('  exclusionTags:', '  nodeSysctlAllow: [kernel.panic, "kernel.sched_*"]\n  exclusionTags:'), GROUP, prof('kernel.panic: 10, kernel.sched_autogroup_enabled: 0, kernel.modprobe: /tmp/x'), NET);
    expect(extended.errors.map((e) => e.path)).toEqual(['spec.profile.sysctls["kernel.modprobe"]']);
  });

  it('given status in a manifest, it ignores it and records the source line', () => {
    const { state } = build(...all);
    expect(state!.sources.get('Instance/web1')).toEqual({ file: 'm.yaml', line: expect.any(Number) });
    expect(state!.sources.get('Cluster/c1')).toEqual({ file: 'm.yaml', line: 1 });
  });
});

describe('Node spec.oob (the out-of-band power program)', () => {
  const text = (program: string) => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec:
  address: 198.18.0.1
  oob: {program: [${program}, --lab]}
`;
  it('given a relative program, it is refused naming the file, line and field; an absolute one is kept with the default timeout', async () => {
    const { parseManifestText } = await import('./load.js');
    const bad = parseManifestText('nodes.yaml', text('bmc-power'));
    const errs = buildDesired(bad.resources).errors;
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ file: 'nodes.yaml', line: 11, code: 'invalid-value' });
    expect(errs[0]!.message).toMatch(/"bmc-power"/);
    const good = buildDesired(parseManifestText('nodes.yaml', text('/usr/local/sbin/bmc-power')).resources);
    expect(good.state?.nodes.get('n1')?.oob).toEqual({ program: ['/usr/local/sbin/bmc-power', '--lab'], timeoutSeconds: 60 });
  });
});
