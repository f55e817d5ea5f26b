/**
 * No silent fields: every leaf of every kind's spec (src/api/leaves.ts) is listed here with
 * its consumer, or is refused when set (src/api/field-support.ts). A new field fails this
 * test until it is listed.
 *
 * A consumer is shown one of two ways:
 *  - `effect`: set the field on a small cluster (two nodes, a network, a placed and an
 *    unplaced instance) and the footprint changes: the planner's input, the plan over
 *    empty nodes (actions with their launch descriptions, refusals), the placement model
 *    (what hail/hbal/hspace see), the validation errors, or the `gantry list` tags column;
 *  - `test`: a named test elsewhere shows it (for what the plan does not carry: SSH
 *    endpoints, the OS search path).
 * A leaf that can only hold its default (hypervisor: kvm) is `fixed`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { allLeaves, refusalFor, refusedFieldIssues, schemaLeaves, KINDS, REFUSED_FIELDS, type Kind } from '../../src/api/index.js';
import { parseManifestText } from '../../src/desired/load.js';
import { buildDesired } from '../../src/desired/build.js';
import { formatLoadError } from '../../src/desired/errors.js';
import { toPlanInput } from '../../src/plan/from-desired.js';
import { plan } from '../../src/plan/plan.js';
import { allocatorFor } from '../../src/execute/allocate.js';
import { clusterFromDesired } from '../../src/place/from-desired.js';
import { emptyObservedNode, type ObservedNode } from '../../src/core/observed.js';
import { LISTS } from '../../src/cli/columns.js';

type Path = (string | number)[];
type Doc = { apiVersion: string; kind: Kind; metadata: { name: string }; spec: Record<string, unknown> };
/** Which document a mutation edits: "Kind/name". */
type Target = 'Cluster/c1' | 'NodeGroup/g1' | 'Node/n1' | 'Network/lan' | 'Instance/web1' | 'Instance/web2' | 'Instance/db1';

type Consumer =
  | { effect: { on: Target; set: [Path, unknown][]; with?: [Path, unknown][] } }
  | { test: string; title: string }
  | { fixed: string };

const doc = (kind: Kind, name: string, spec: Record<string, unknown>): Doc => ({ apiVersion: 'gantry.dev/v1alpha1', kind, metadata: { name }, spec });

function base(): Doc[] {
  return [
    doc('Cluster', 'c1', { enabledDiskTemplates: ['plain', 'file', 'sharedfile', 'diskless', 'drbd'], nicParams: { mode: 'bridged', link: 'br0' }, storage: { volumeGroup: 'vg0' }, hvParams: { kvm: { accel: 'tcg' } } }),
    doc('NodeGroup', 'g1', {}),
    doc('Node', 'n1', { group: 'g1', address: '192.0.2.1' }),
    doc('Node', 'n2', { group: 'g1', address: '192.0.2.2' }),
    doc('Network', 'lan', { subnet: '10.0.0.0/24', gateway: '10.0.0.1' }),
    doc('Network', 'wan', { subnet: '10.9.0.0/24', link: 'br0' }),
    doc('Instance', 'web1', { os: { name: 'image+debian', params: { image: '/srv/images/debian.img' } }, diskTemplate: 'file', disks: [{ size: '1G' }], nics: [{ network: 'lan' }], placement: { primary: 'n1' } }),
    doc('Instance', 'web2', { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '1G' }], nics: [{ network: 'lan' }] }),
    doc('Instance', 'db1', { os: { name: 'none' }, diskTemplate: 'drbd', disks: [{ size: '1G' }], placement: { primary: 'n1', secondary: 'n2' } }),
  ];
}

function setAt(obj: Record<string, unknown>, path: Path, value: unknown): void {
  let o: Record<string | number, unknown> = obj;
  path.forEach((p, i) => {
    if (i === path.length - 1) { o[p] = value; return; }
    o[p] ??= typeof path[i + 1] === 'number' ? [] : {};
    o = o[p] as Record<string | number, unknown>;
  });
}

function edit(docs: Doc[], on: Target, changes: readonly [Path, unknown][]): Doc[] {
  const out = structuredClone(docs);
  const d = out.find((x) => `${x.kind}/${x.metadata.name}` === on)!;
  for (const [p, v] of changes) setAt(d.spec, p, structuredClone(v));
  return out;
}

function observedNode(name: string): ObservedNode {
  return {
    ...emptyObservedNode(name, '2026-01-01T00:00:00Z'),
    facts: { hostname: name, kernel: '6.1', cpus: 4, memoryTotalMiB: 8192, memoryFreeMiB: 8000 },
    vgs: { vg0: { name: 'vg0', sizeMiB: 20480, freeMiB: 20480, pvs: ['/dev/loop0'] } },
  };
}

/** Everything a field can change, as one string. */
function footprint(docs: Doc[]): string {
  const text = docs.map((d) => stringify(d)).join('---\n');
  const parsed = parseManifestText('m.yaml', text);
  const built = buildDesired(parsed.resources, undefined, parsed.failed);
  const errors = [...parsed.errors, ...built.errors].map(formatLoadError);
  if (!built.state) return JSON.stringify({ errors });
  const state = built.state;
  const input = toPlanInput(state);
  const observed = { nodes: new Map(['n1', 'n2'].map((n) => [n, observedNode(n)])) };
  const p = plan(input, observed, { allocator: allocatorFor(state) });
  const facts = Object.fromEntries(['n1', 'n2'].map((n) => [n, { memoryMiB: 8192, diskMiB: 20480, cpus: 4 }]));
  const place = clusterFromDesired(state, facts);
  const tags = Object.fromEntries(Object.entries(LISTS).map(([k, l]) => [k, (l.items(state) as never[]).map((x) => (l.columns as Record<string, { get: (i: never, s: typeof state) => unknown }>).tags?.get(x, state))]));
  return JSON.stringify({ errors, input, actions: p.actions, refused: p.refused, place, tags });
}

const I = 'Instance/web1' as const;
const C = 'Cluster/c1' as const;
const G = 'NodeGroup/g1' as const;
const N = 'Node/n1' as const;
const NET = 'Network/lan' as const;
const on = (t: Target, path: Path, value: unknown, ...withs: [Path, unknown][]): Consumer => ({ effect: { on: t, set: [[path, value]], ...(withs.length ? { with: withs } : {}) } });
const kernel: [Path, unknown] = [['hvParams', 'kernelPath'], '/boot/vmlinuz'];
const ovs = (p: Path): [Path, unknown] => [p, 'openvswitch'];
const ipol = (spec: string, k: string, v: unknown) => on(C, ['ipolicy', spec, k], v, [['ipolicy'], {}]);

const CONSUMERS: Readonly<Record<string, Consumer>> = {
  'Cluster.spec.enabledHypervisors': { fixed: 'kvm is the only hypervisor, and the default' },
  'Instance.spec.hypervisor': { fixed: 'kvm is the only hypervisor, and the default' },
  'Cluster.spec.enabledDiskTemplates': on(C, ['enabledDiskTemplates'], ['plain']),
  'hvParams.accel': on(I, ['hvParams', 'accel'], 'kvm'),
  'hvParams.kernelPath': on(I, ['hvParams', 'kernelPath'], '/boot/vmlinuz'),
  'hvParams.initrdPath': on(I, ['hvParams', 'initrdPath'], '/boot/initrd.img', kernel),
  'hvParams.kernelArgs': on(I, ['hvParams', 'kernelArgs'], 'ro quiet', kernel),
  'hvParams.rootPath': on(I, ['hvParams', 'rootPath'], '/dev/vda2', kernel),
  'hvParams.bootOrder': on(I, ['hvParams', 'bootOrder'], 'network'),
  'hvParams.cdromImagePath': on(I, ['hvParams', 'cdromImagePath'], '/srv/iso/debian.iso'),
  'hvParams.machineType': on(I, ['hvParams', 'machineType'], 'q35'),
  'hvParams.cpuType': on(I, ['hvParams', 'cpuType'], 'host'),
  'hvParams.diskType': on(I, ['hvParams', 'diskType'], 'scsi'),
  'hvParams.diskCache': on(I, ['hvParams', 'diskCache'], 'writeback'),
  'hvParams.nicType': on(I, ['hvParams', 'nicType'], 'e1000'),
  'hvParams.serialConsole': on(I, ['hvParams', 'serialConsole'], false, kernel),
  'hvParams.serialSpeed': on(I, ['hvParams', 'serialSpeed'], 115200, kernel),
  'hvParams.vncBindAddress': on(I, ['hvParams', 'vncBindAddress'], '127.0.0.1'),
  'hvParams.usbMouse': on(I, ['hvParams', 'usbMouse'], 'tablet'),
  'hvParams.migrationBandwidthMiBps': on(C, ['hvParams', 'kvm', 'migrationBandwidthMiBps'], 100),
  'hvParams.migrationDowntimeMs': on(C, ['hvParams', 'kvm', 'migrationDowntimeMs'], 100),
  'hvParams.rebootBehavior': on(I, ['hvParams', 'rebootBehavior'], 'exit'),
  'hvParams.useChroot': on(I, ['hvParams', 'useChroot'], true),
  'beParams.vcpus': on(I, ['beParams', 'vcpus'], 2),
  'beParams.memory': on(I, ['beParams', 'memory'], '256M'),
  'beParams.autoBalance': on(I, ['beParams', 'autoBalance'], false),
  'beParams.spindleUse': on(I, ['beParams', 'spindleUse'], 2),
  'nicParams.mode': on(C, ['nicParams', 'mode'], 'openvswitch'),
  'nicParams.link': on(C, ['nicParams', 'link'], 'br1'),
  'nicParams.vlan': on(C, ['nicParams', 'vlan'], 10, ovs(['nicParams', 'mode'])),
  'diskParams.plain.vg': on(C, ['diskParams', 'plain', 'vg'], 'vg1'),
  'diskParams.plain.stripes': on(C, ['diskParams', 'plain', 'stripes'], 2),
  'diskParams.drbd.vg': on(C, ['diskParams', 'drbd', 'vg'], 'vg1'),
  'diskParams.drbd.metaVg': on(C, ['diskParams', 'drbd', 'metaVg'], 'vg1'),
  'diskParams.drbd.metaSize': on(C, ['diskParams', 'drbd', 'metaSize'], '256M'),
  'diskParams.drbd.resyncRateKiB': on(C, ['diskParams', 'drbd', 'resyncRateKiB'], 1024),
  'diskParams.drbd.protocol': on(C, ['diskParams', 'drbd', 'protocol'], 'A'),
  'diskParams.drbd.dynamicResync': on(C, ['diskParams', 'drbd', 'dynamicResync'], true),
  'diskParams.drbd.diskBarriers': on(C, ['diskParams', 'drbd', 'diskBarriers'], 'bf'),
  'diskParams.drbd.pingTimeoutMs': on(C, ['diskParams', 'drbd', 'pingTimeoutMs'], 5000),
  'Cluster.spec.drbd.portRange.start': on(C, ['drbd', 'portRange'], { start: 12000, end: 14999 }),
  'Cluster.spec.drbd.portRange.end': on(C, ['drbd', 'portRange'], { start: 11000, end: 12000 }),
  'Cluster.spec.drbd.minorCount': on(C, ['drbd', 'minorCount'], 16),
  'Cluster.spec.drbd.usermodeHelper': on(C, ['drbd', 'usermodeHelper'], '/usr/lib/drbd/notify.sh'),
  'Cluster.spec.autoRepair.failover': on(C, ['autoRepair', 'failover'], true),
  'Cluster.spec.autoRepair.fenceMaxPerGroup': on(C, ['autoRepair', 'fenceMaxPerGroup'], 2),
  'Cluster.spec.drain.maxParallelMoves': on(C, ['drain', 'maxParallelMoves'], 8),
  'Cluster.spec.nPlusOne.mode': on(C, ['nPlusOne', 'mode'], 'refuse'),
  'Cluster.spec.watcher.maxRestarts': on(C, ['watcher', 'maxRestarts'], 2),
  'Cluster.spec.watcher.backoffSeconds': on(C, ['watcher', 'backoffSeconds'], 60),
  'Cluster.spec.watcher.healthySeconds': on(C, ['watcher', 'healthySeconds'], 600),
  'Instance.spec.autoRepair.failover': on(I, ['autoRepair', 'failover'], true),
  'Instance.spec.autoRepair.allowDegradedFailover': on('Instance/db1', ['autoRepair', 'allowDegradedFailover'], true),
  'Instance.spec.autoRepair.repair': on(I, ['autoRepair', 'repair'], 'failover'),
  'Cluster.spec.autoRepair.maxAttempts': on(C, ['autoRepair', 'maxAttempts'], 5),
  'Node.spec.oob.program': on(N, ['oob', 'program'], ['/usr/local/sbin/bmc-power']),
  'Node.spec.oob.timeoutSeconds': { test: 'src/execute/fence.test.ts', title: 'given a program that still reports powered, a failing power-off, or a timeout, power off is not confirmed' },
  'Cluster.spec.liveness.missedProbes': on(C, ['liveness', 'missedProbes'], 5),
  'Cluster.spec.liveness.graceSeconds': on(C, ['liveness', 'graceSeconds'], 60),
  'Instance.spec.disks[].metaVg': on('Instance/db1', ['disks', 0, 'metaVg'], 'vg1'),
  'Network.spec.subnet6': on(NET, ['subnet6'], '2001:db8:1::/64'),
  'Network.spec.gateway6': on(NET, ['gateway6'], '2001:db8:1::1', [['subnet6'], '2001:db8:1::/64']),
  'diskParams.file.dir': on(C, ['diskParams', 'file', 'dir'], '/srv/files'),
  'diskParams.file.format': on(C, ['diskParams', 'file', 'format'], 'qcow2'),
  'diskParams.sharedfile.dir': on(C, ['diskParams', 'sharedfile', 'dir'], '/srv/shared2'),
  'diskParams.sharedfile.format': { test: 'src/plan/disks.test.ts', title: 'given file and sharedfile disks in qcow2, it creates, grows and launches them as qcow2' },
  'Cluster.spec.storage.volumeGroup': on(C, ['storage', 'volumeGroup'], 'vg1'),
  'Cluster.spec.storage.fileStorageDir': on(C, ['storage', 'fileStorageDir'], '/srv/files'),
  'Cluster.spec.storage.sharedFileStorageDir': on(C, ['storage', 'sharedFileStorageDir'], '/srv/shared2'),
  'migration.mode': on(C, ['migration', 'mode'], 'non-live'),
  'migration.bandwidthMiBps': on(C, ['migration', 'bandwidthMiBps'], 100),
  'migration.downtimeMs': on(C, ['migration', 'downtimeMs'], 100),
  'ipolicy.minSpec.memory': ipol('minSpec', 'memory', '64M'),
  'ipolicy.minSpec.vcpus': ipol('minSpec', 'vcpus', 2),
  'ipolicy.minSpec.diskSize': ipol('minSpec', 'diskSize', '512M'),
  'ipolicy.minSpec.diskCount': ipol('minSpec', 'diskCount', 0),
  'ipolicy.minSpec.nicCount': ipol('minSpec', 'nicCount', 0),
  'ipolicy.minSpec.spindleUse': ipol('minSpec', 'spindleUse', 0),
  'ipolicy.maxSpec.memory': ipol('maxSpec', 'memory', '16G'),
  'ipolicy.maxSpec.vcpus': ipol('maxSpec', 'vcpus', 4),
  'ipolicy.maxSpec.diskSize': ipol('maxSpec', 'diskSize', '100G'),
  'ipolicy.maxSpec.diskCount': ipol('maxSpec', 'diskCount', 4),
  'ipolicy.maxSpec.nicCount': ipol('maxSpec', 'nicCount', 4),
  'ipolicy.maxSpec.spindleUse': ipol('maxSpec', 'spindleUse', 8),
  'ipolicy.stdSpec.memory': ipol('stdSpec', 'memory', '256M'),
  'ipolicy.stdSpec.vcpus': ipol('stdSpec', 'vcpus', 2),
  'ipolicy.stdSpec.diskSize': ipol('stdSpec', 'diskSize', '2G'),
  'ipolicy.stdSpec.diskCount': ipol('stdSpec', 'diskCount', 2),
  'ipolicy.stdSpec.nicCount': ipol('stdSpec', 'nicCount', 2),
  'ipolicy.stdSpec.spindleUse': ipol('stdSpec', 'spindleUse', 2),
  'ipolicy.diskTemplates': on(C, ['ipolicy', 'diskTemplates'], ['plain', 'file']),
  'ipolicy.vcpuRatio': on(C, ['ipolicy', 'vcpuRatio'], 2),
  'ipolicy.spindleRatio': on(C, ['ipolicy', 'spindleRatio'], 16),
  'Cluster.spec.watcher.restartErrorDown': on(C, ['watcher', 'restartErrorDown'], false),
  'Cluster.spec.orphans.remove': on(C, ['orphans', 'remove'], true),
  'Cluster.spec.orphans.maxPercentPerPass': on(C, ['orphans', 'maxPercentPerPass'], 50),
  'Cluster.spec.orphans.graceMinutes': on(C, ['orphans', 'graceMinutes'], 5),
  'Cluster.spec.macPrefix': on(C, ['macPrefix'], 'aa:00:13'),
  'Cluster.spec.osSearchPath': { test: 'src/execute/instance-describe.test.ts', title: 'given a script install it prints the OS environment and the create script argv' },
  'Cluster.spec.exclusionTags': on(C, ['exclusionTags'], ['service:']),
  'Cluster.spec.tags': on(C, ['tags'], ['dept:physics']),
  'nodeProfile.bridges[].name': on(C, ['nodeProfile', 'bridges'], [{ name: 'br9' }]),
  'nodeProfile.bridges[].vlanFiltering': on(C, ['nodeProfile', 'bridges', 0, 'vlanFiltering'], true, [['nodeProfile', 'bridges'], [{ name: 'br9' }]]),
  'nodeProfile.bridges[].mtu': on(C, ['nodeProfile', 'bridges', 0, 'mtu'], 9000, [['nodeProfile', 'bridges'], [{ name: 'br9' }]]),
  'nodeProfile.bridges[].addresses': on(C, ['nodeProfile', 'bridges', 0, 'addresses'], ['10.0.0.1/24'], [['nodeProfile', 'bridges'], [{ name: 'br9' }]]),
  'nodeProfile.bridges[].ports': on(C, ['nodeProfile', 'bridges', 0, 'ports'], ['eth1'], [['nodeProfile', 'bridges'], [{ name: 'br9' }]]),
  'nodeProfile.ovsBridges[].name': on(C, ['nodeProfile', 'ovsBridges'], [{ name: 'ovs9' }]),
  'nodeProfile.ovsBridges[].datapathType': on(C, ['nodeProfile', 'ovsBridges', 0, 'datapathType'], 'netdev', [['nodeProfile', 'ovsBridges'], [{ name: 'ovs9' }]]),
  'nodeProfile.ovsBridges[].ports[].name': on(C, ['nodeProfile', 'ovsBridges', 0, 'ports'], [{ name: 'p1' }], [['nodeProfile', 'ovsBridges'], [{ name: 'ovs9' }]]),
  'nodeProfile.ovsBridges[].ports[].tag': on(C, ['nodeProfile', 'ovsBridges', 0, 'ports', 0, 'tag'], 10, [['nodeProfile', 'ovsBridges'], [{ name: 'ovs9', ports: [{ name: 'p1' }] }]]),
  'nodeProfile.ovsBridges[].ports[].trunks': on(C, ['nodeProfile', 'ovsBridges', 0, 'ports', 0, 'trunks'], [20], [['nodeProfile', 'ovsBridges'], [{ name: 'ovs9', ports: [{ name: 'p1' }] }]]),
  'nodeProfile.ovsBridges[].ports[].type': on(C, ['nodeProfile', 'ovsBridges', 0, 'ports', 0, 'type'], 'internal', [['nodeProfile', 'ovsBridges'], [{ name: 'ovs9', ports: [{ name: 'p1' }] }]]),
  'nodeProfile.vxlans[].name': on(C, ['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]),
  'nodeProfile.vxlans[].vni': on(C, ['nodeProfile', 'vxlans', 0, 'vni'], 10, [['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]]),
  'nodeProfile.vxlans[].local': on(C, ['nodeProfile', 'vxlans', 0, 'local'], '192.0.2.1', [['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]]),
  'nodeProfile.vxlans[].remote': on(C, ['nodeProfile', 'vxlans', 0, 'remote'], '192.0.2.2', [['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]]),
  'nodeProfile.vxlans[].group': on(C, ['nodeProfile', 'vxlans', 0, 'group'], '239.1.1.1', [['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]]),
  'nodeProfile.vxlans[].dstPort': on(C, ['nodeProfile', 'vxlans', 0, 'dstPort'], 4790, [['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]]),
  'nodeProfile.vxlans[].dev': on(C, ['nodeProfile', 'vxlans', 0, 'dev'], 'eth0', [['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]]),
  'nodeProfile.vxlans[].bridge': on(C, ['nodeProfile', 'vxlans', 0, 'bridge'], 'br0', [['nodeProfile', 'vxlans'], [{ name: 'vx9', vni: 9 }]]),
  'nodeProfile.volumeGroups[].name': on(C, ['nodeProfile', 'volumeGroups'], [{ name: 'vg9', pvs: ['/dev/sdb'] }]),
  'nodeProfile.volumeGroups[].pvs': on(C, ['nodeProfile', 'volumeGroups', 0, 'pvs'], ['/dev/sdc'], [['nodeProfile', 'volumeGroups'], [{ name: 'vg9', pvs: ['/dev/sdb'] }]]),
  'nodeProfile.sysctls': on(C, ['nodeProfile', 'sysctls'], { 'vm.swappiness': 10 }),
  'Cluster.spec.nodeSysctlAllow': on(C, ['nodeSysctlAllow'], ['kernel.panic'], [['nodeProfile', 'sysctls'], { 'kernel.panic': 10 }]),
  'Cluster.spec.maxDiskSize': on(C, ['maxDiskSize'], '512M'),
  'NodeGroup.spec.allocPolicy': on(G, ['allocPolicy'], 'unallocable'),
  'NodeGroup.spec.networks[].network': on(G, ['networks'], [{ network: 'lan' }]),
  'NodeGroup.spec.networks[].mode': on(G, ['networks', 0, 'mode'], 'openvswitch', [['networks'], [{ network: 'lan' }]]),
  'NodeGroup.spec.networks[].link': on(G, ['networks', 0, 'link'], 'br5', [['networks'], [{ network: 'lan' }]]),
  'NodeGroup.spec.networks[].vlan': on(G, ['networks', 0, 'vlan'], 7, [['networks'], [{ network: 'lan', mode: 'openvswitch' }]]),
  'NodeGroup.spec.tags': on(G, ['tags'], ['room:b2']),
  'Node.spec.group': on(N, ['group'], 'default'),
  'Node.spec.address': on(N, ['address'], '192.0.2.9'),
  'Node.spec.secondaryAddress': on(N, ['secondaryAddress'], '198.51.100.1'),
  'Node.spec.role': on(N, ['role'], 'drained'),
  'Node.spec.ssh.host': { test: 'src/cli/live-commands.test.ts', title: 'given a node endpoint it builds a strict ssh + socat argv' },
  'Node.spec.ssh.port': { test: 'src/cli/live-commands.test.ts', title: 'bracketing non-22 ports' },
  'Node.spec.ssh.user': { test: 'src/cli/live-commands.test.ts', title: 'given a node endpoint it builds a strict ssh + socat argv' },
  'Node.spec.ssh.hostKey': { test: 'test/lab/transport.test.ts', title: 'refuses a wrong pinned host key with HOST_KEY_MISMATCH' },
  'Node.spec.ssh.privateKeyFile': { test: 'src/transport/identity.test.ts', title: 'given ssh.privateKeyFile, it reads that file and no default key' },
  'Node.spec.ovsdbSocket': on(N, ['ovsdbSocket'], '/run/ovs9/db.sock'),
  'Node.spec.paths.runDir': on(N, ['paths', 'runDir'], '/var/lib/g2'),
  'Node.spec.paths.fileStorageDir': on(N, ['paths', 'fileStorageDir'], '/srv/n1files'),
  'Node.spec.memory': on(N, ['memory'], '4G'),
  'Node.spec.cpus': on(N, ['cpus'], 8),
  'Node.spec.spindles': on(N, ['spindles'], 4),
  'ndParams.exclusiveStorage': on(N, ['ndParams', 'exclusiveStorage'], true),
  'Node.spec.tags': on(N, ['tags'], ['hw:r650']),
  'Network.spec.subnet': on(NET, ['subnet'], '10.0.0.0/23'),
  'Network.spec.gateway': on(NET, ['gateway'], '10.0.0.254'),
  'Network.spec.mode': on(NET, ['mode'], 'openvswitch'),
  'Network.spec.link': on(NET, ['link'], 'br1'),
  'Network.spec.vlan': on(NET, ['vlan'], 5, ovs(['mode'])),
  'Network.spec.trunks': on(NET, ['trunks'], [5], ovs(['mode'])),
  'Network.spec.macPrefix': on(NET, ['macPrefix'], 'aa:00:99'),
  'Network.spec.reservedIps': on(NET, ['reservedIps'], ['10.0.0.2-10.0.0.9']),
  'Network.spec.tags': on(NET, ['tags'], ['dhcp:off']),
  'Instance.spec.os.name': on(I, ['os', 'name'], 'image+ubuntu'),
  'Instance.spec.os.params': on(I, ['os', 'params'], { image: '/srv/images/other.img' }),
  'Instance.spec.os.generation': on(I, ['os', 'generation'], 2),
  'Instance.spec.diskTemplate': on(I, ['diskTemplate'], 'plain'),
  'Instance.spec.disks[].name': on(I, ['disks', 0, 'name'], 'root'),
  'Instance.spec.disks[].size': on(I, ['disks', 0, 'size'], '2G'),
  'Instance.spec.disks[].spindles': on(I, ['disks', 0, 'spindles'], 2),
  'Instance.spec.disks[].template': on(I, ['disks', 0, 'template'], 'plain'),
  'Instance.spec.disks[].vg': on(I, ['disks', 0, 'vg'], 'vg1', [['diskTemplate'], 'plain']),
  'Instance.spec.disks[].mode': on(I, ['disks', 0, 'mode'], 'ro'),
  'Instance.spec.disks[].state': on(I, ['disks', 0, 'state'], 'absent'),
  'Instance.spec.nics[].name': on(I, ['nics', 0, 'name'], 'eth0'),
  'Instance.spec.nics[].network': on(I, ['nics', 0, 'network'], 'wan'),
  'Instance.spec.nics[].mode': on(I, ['nics', 0, 'mode'], 'openvswitch'),
  'Instance.spec.nics[].link': on(I, ['nics', 0, 'link'], 'br1'),
  'Instance.spec.nics[].vlan': on(I, ['nics', 0, 'vlan'], 3, ovs(['nics', 0, 'mode'])),
  'Instance.spec.nics[].ip': on(I, ['nics', 0, 'ip'], '10.0.0.50'),
  'Instance.spec.nics[].mac': on(I, ['nics', 0, 'mac'], 'aa:00:00:00:00:99'),
  'Instance.spec.nics[].model': on(I, ['nics', 0, 'model'], 'e1000'),
  'Instance.spec.placement.primary': on(I, ['placement', 'primary'], 'n2'),
  'Instance.spec.placement.secondary': on(I, ['placement', 'secondary'], 'n2'),
  'Instance.spec.placement.group': on('Instance/web2', ['placement', 'group'], 'g1'),
  'Instance.spec.powerState': on(I, ['powerState'], 'stopped'),
  'Instance.spec.restartGeneration': on(I, ['restartGeneration'], 1),
  'Instance.spec.state': on(I, ['state'], 'absent'),
  'Instance.spec.deleteDisks': on(I, ['deleteDisks'], true, [['state'], 'absent']),
  'Instance.spec.renamedFrom': on(I, ['renamedFrom'], 'web0'),
  'Instance.spec.tags': on(I, ['tags'], ['service:web']),
};

/** Every leaf name once, with the kind it was first seen in. */
function uniqueLeaves(): { key: string; kind: Kind; path: string }[] {
  const seen = new Map<string, { key: string; kind: Kind; path: string }>();
  for (const l of allLeaves()) if (!seen.has(l.key)) seen.set(l.key, l);
  return [...seen.values()];
}

const refusedEverywhere = (key: string) => KINDS.every((k) => !schemaLeaves(k).some((l) => l.key === key) || refusalFor(k, key) !== undefined);

describe('every leaf', () => {
  it('given every leaf of every schema, it is listed with its consumer or refused when set', () => {
    const unlisted = uniqueLeaves().filter((l) => CONSUMERS[l.key] === undefined && !refusedEverywhere(l.key)).map((l) => `${l.key} (${l.kind} ${l.path})`);
    expect(unlisted, 'leaves with no consumer and no refusal: list them in CONSUMERS or refuse them in src/api/field-support.ts').toEqual([]);
  });

  it('given the consumer list and the refusal table, it names no leaf that does not exist', () => {
    const keys = new Set(allLeaves().map((l) => l.key));
    expect(Object.keys(CONSUMERS).filter((k) => !keys.has(k))).toEqual([]);
    expect(Object.keys(REFUSED_FIELDS).map((k) => k.replace(/^[A-Za-z]+:/, '')).filter((k) => !keys.has(k))).toEqual([]);
  });

  it('given the base cluster, it validates and plans without errors (so a change in the footprint is the field\'s doing)', () => {
    const fp = JSON.parse(footprint(base())) as { errors: string[]; actions: unknown[] };
    expect(fp.errors).toEqual([]);
    expect(fp.actions.length).toBeGreaterThan(0);
  });

  const effects = Object.entries(CONSUMERS).filter((e): e is [string, Extract<Consumer, { effect: unknown }>] => 'effect' in e[1]);
  it.each(effects)('given %s set, it changes what Gantry plans, places, lists or refuses', (key, c) => {
    const before = edit(base(), c.effect.on, c.effect.with ?? []);
    const after = edit(before, c.effect.on, c.effect.set);
    const a = footprint(before);
    const b = footprint(after);
    const valid = [a, b].filter((f) => (JSON.parse(f) as { errors: string[] }).errors.length === 0);
    expect(valid.length, `${key}: the footprint with or without it must be valid`).toBeGreaterThan(0);
    expect(b, `${key} changed nothing`).not.toBe(a);
  });

  const named = Object.entries(CONSUMERS).filter((e): e is [string, Extract<Consumer, { test: string }>] => 'test' in e[1]);
  it.each(named)('given %s, the test that shows its effect exists', (_key, c) => {
    const text = readFileSync(fileURLToPath(new URL(`../../${c.test}`, import.meta.url)), 'utf8');
    expect(text).toContain(c.title);
  });

  it('given each refused field set, validation refuses it naming the field and saying "not supported yet"', () => {
    for (const kind of KINDS) {
      for (const leaf of schemaLeaves(kind)) {
        const r = refusalFor(kind, leaf.key);
        if (!r) continue;
        const d: Record<string, unknown> = {};
        const segs = leaf.path.split('.').flatMap((p) => (p.endsWith('[]') ? [p.slice(0, -2), 0] : [p]));
        setAt(d, segs, r.values?.[0] ?? 1);
        const issues = refusedFieldIssues(kind, d);
        expect(issues, `${kind} ${leaf.path}`).toHaveLength(1);
        expect(issues[0]!.message).toMatch(/^field .* is not supported yet: /);
        expect(issues[0]!.path).toEqual(segs);
      }
    }
  });
});
