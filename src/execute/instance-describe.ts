/**
 * What `--dry-run` prints for the instance verbs: the real argv each step of
 * InstanceOps.run executes, in order, as if nothing existed yet (run reads first and may
 * run fewer). A command fed on stdin shows it after `<<<` (QMP: the JSON it sends);
 * commands that run on another node (migration destination) start with `@node`.
 */
import type { Action, InstanceLaunch, InstanceRecord, NicInfo } from '../core/actions.js';
import { buildOsEnv, declaredImageFormat, imageInfoArgv, imageWriteArgv, osRunArgv, parseOsName, type OsEnvInput } from '../drivers/os/os.js';
import { buildQemuArgv, buildRuntimeRecord, describeQmp, qmp, runFile, tcpUri, withStdin, writeFileArgv, type QemuDriver, type QemuLaunchSpec } from '../drivers/qemu/index.js';
import { describeDrbdMigration } from './drbd-migration.js';
import { ovsDelPortArgv, planTap, tapDelArgv, tapName } from '../drivers/tap/tap.js';

/** What the describer needs of the node's InstanceOps. */
export interface DescribeContext {
  readonly qemu: QemuDriver;
  readonly osSearchPath: readonly string[];
  readonly ovsdbSocket?: string;
  spec(l: InstanceLaunch): QemuLaunchSpec;
  peer(node: string): DescribeContext | undefined;
  migrationPort(instance: string): number;
}

type InstanceAction = Extract<Action, { verb: `instance.${string}` }>;

/** The OS environment install passes to the OS create script (Ganeti OS API 20). */
export function installEnv(name: string, os: { name: string; params: Readonly<Record<string, string>> }, launch: InstanceLaunch, nicInfo: readonly NicInfo[], diskNames?: readonly (string | null)[]): Record<string, string> {
  const input: OsEnvInput = {
    os: parseOsName(os.name), instance: name, hypervisor: 'kvm', params: os.params,
    disks: launch.disks.map((d, i) => ({ path: d.path, access: d.readOnly ? 'ro' as const : 'rw' as const, frontendType: d.bus === 'virtio' ? 'paravirtual' : d.bus, ...(diskNames?.[i] ? { name: diskNames[i]! } : {}) })),
    nics: launch.nics.map((n, i) => ({
      mac: n.mac, mode: n.mode, ...(n.link ? { link: n.link } : {}), ...(n.vlan !== undefined ? { vlan: n.vlan } : {}), ...(nicInfo[i]?.name ? { name: nicInfo[i]!.name! } : {}),
      ...osNicAddressing(nicInfo[i]),
    })),
  };
  return buildOsEnv(input);
}

/** A NIC's addresses and network, as the OS environment names them. */
function osNicAddressing(info: NicInfo | undefined): Pick<OsEnvInput['nics'][number], 'ip' | 'ip6' | 'network'> {
  if (!info) return {};
  const net = info.network === undefined ? undefined : {
    name: info.network,
    ...(info.subnet ? { subnet: info.subnet } : {}), ...(info.gateway ? { gateway: info.gateway } : {}),
    ...(info.subnet6 ? { subnet6: info.subnet6 } : {}), ...(info.gateway6 ? { gateway6: info.gateway6 } : {}),
  };
  return { ...(info.ip ? { ip: info.ip } : {}), ...(info.ip6 ? { ip6: info.ip6 } : {}), ...(net ? { network: net } : {}) };
}

const recordJson = (name: string, record: InstanceRecord): string => JSON.stringify({ version: 1, instance: name, ...record });

function describeInstall(c: DescribeContext, a: InstanceAction & { verb: 'instance.install' }): string[][] {
  const dir = c.qemu.runDir(a.name);
  const meta = runFile(dir, 'meta');
  const out: string[][] = [['mkdir', '-p', dir], withStdin(writeFileArgv(meta), recordJson(a.name, { ...a.record, osGeneration: Math.max(0, a.record.osGeneration - 1) }))];
  const { name } = parseOsName(a.os.name);
  if (name === 'image') {
    const w = { image: a.os.params.image ?? '/(os parameter image is missing)', disk: a.launch.disks[0]?.path ?? '/(no disk)', sourceFormat: declaredImageFormat(a.os.params), targetExists: true, targetFormat: a.launch.disks[0]?.format ?? 'raw' };
    out.push(imageInfoArgv(w.image), imageWriteArgv(w));
  } else if (name !== 'none') {
    const env = installEnv(a.name, a.os, a.launch, a.nicInfo, a.diskNames);
    const osDir = `${c.osSearchPath[0] ?? '/srv/gantry/os'}/${name}`;
    out.push(['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...osRunArgv({ osDir, script: 'create', env, logPath: runFile(dir, 'osLog') })]);
  }
  out.push(withStdin(writeFileArgv(meta), recordJson(a.name, a.record)));
  return out;
}

/** What QemuDriver.start runs for a stopped instance (plus incoming for a migration). */
function describeStart(c: DescribeContext, spec: QemuLaunchSpec, incoming?: { address: string; port: number }): string[][] {
  const dir = spec.runDir;
  const uri = incoming ? tcpUri(incoming.address, incoming.port) : undefined;
  return [
    ['mkdir', '-p', dir],
    ['rm', '-f', runFile(dir, 'adminStopped'), runFile(dir, 'pid'), runFile(dir, 'qmp'), runFile(dir, 'serial')],
    withStdin(writeFileArgv(runFile(dir, 'runtime')), JSON.stringify(buildRuntimeRecord(spec, '<start time>', uri))),
    ...spec.nics.flatMap((n) => (n.link ? planTap(n.tap, n.link, undefined) : [])),
    buildQemuArgv(spec, undefined, incoming ? { incoming } : {}),
  ];
}

function describeStop(c: DescribeContext, name: string): string[][] {
  const dir = c.qemu.runDir(name);
  return [describeQmp(dir, [qmp.systemPowerdown()]), describeQmp(dir, [qmp.quit()]), withStdin(writeFileArgv(runFile(dir, 'adminStopped')), '<stop time>')];
}

function describeMigrate(c: DescribeContext, a: InstanceAction & { verb: 'instance.migrate' }): string[][] {
  const peer = c.peer(a.peer);
  const at = (argv: string[]): string[] => [`@${a.peer}`, ...argv];
  const port = c.migrationPort(a.name);
  const dir = c.qemu.runDir(a.name);
  const params = qmp.migrateSetParameters({ maxBandwidthBytes: a.bandwidthMiBps * 1024 * 1024, downtimeLimitMs: a.downtimeMs });
  const dest = peer ? describeStart(peer, peer.spec(a.launch), { address: a.peerAddress, port }) : [[`(no connection to ${a.peer})`]];
  const drbd = a.drbd?.length ? describeDrbdMigration(a.drbd, a.node, a.peer) : { before: [], after: [] };
  return [
    ...drbd.before,
    at(['mkdir', '-p', peer?.qemu.runDir(a.name) ?? a.peerRunDir]),
    at(withStdin(writeFileArgv(runFile(peer?.qemu.runDir(a.name) ?? a.peerRunDir, 'meta')), recordJson(a.name, a.record))),
    ...dest.map(at),
    describeQmp(dir, [params, qmp.migrate(tcpUri(a.peerAddress, port))]),
    describeQmp(dir, [qmp.queryMigrate()]),
    describeQmp(dir, [qmp.quit()]),
    ['rm', '-rf', '--', dir],
    ...drbd.after,
  ];
}

function describeRemove(c: DescribeContext, a: InstanceAction & { verb: 'instance.remove' }): string[][] {
  const taps = Array.from({ length: a.nicCount }, (_, i) => tapName(a.name, i));
  return [
    ...describeStop(c, a.name).slice(0, 2),
    ...taps.flatMap((t) => [...(c.ovsdbSocket ? [ovsDelPortArgv(c.ovsdbSocket, t)] : []), tapDelArgv(t)]),
    ['rm', '-rf', '--', c.qemu.runDir(a.name)],
  ];
}

export function describeInstanceAction(c: DescribeContext, a: Action): string[][] {
  switch (a.verb) {
    case 'instance.install': return describeInstall(c, a);
    case 'instance.start': return [...describeStart(c, c.spec(a.launch)), withStdin(writeFileArgv(runFile(c.qemu.runDir(a.name), 'meta')), recordJson(a.name, a.record))];
    case 'instance.stop': return describeStop(c, a.name);
    case 'instance.remove': return describeRemove(c, a);
    case 'instance.migrate': return describeMigrate(c, a);
    case 'instance.block-resize': {
      const dir = c.qemu.runDir(a.name);
      return [describeQmp(dir, [qmp.queryBlock()]), describeQmp(dir, [qmp.blockResize(a.drive, a.sizeMiB * 1024 * 1024)])];
    }
    default: return [];
  }
}
