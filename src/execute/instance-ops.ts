/**
 * The instance verbs (install, start, stop, remove, migrate) on one node, over the QEMU
 * driver, the OS interface and the tap driver. ShellNodeOps delegates instance.* here.
 * Every operation is an idempotent ensure: starting a running VM, stopping a stopped
 * one or removing a missing one changes nothing.
 */
import { createHash } from 'node:crypto';
import type { Action, InstanceLaunch, InstanceRecord } from '../core/actions.js';
import { buildQemuArgv, QemuDriver, runFile, type LaunchInput, type QemuLaunchSpec } from '../drivers/qemu/index.js';
import { tapName, removeTap, type TapLink } from '../drivers/tap/tap.js';
import { buildOsEnv, osRunArgv, parseOsName, runOsScript, writeImage, imageWriteArgv } from '../drivers/os/os.js';
import type { Transport } from '../transport/transport.js';
import { actionError, ExecError, PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ActionResult, NodeOps } from '../core/node-ops.js';

export interface InstanceOpsOptions {
  readonly node: string;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly runRoot: string;
  readonly ovsdbSocket?: string;
  /** Directories holding OS definitions (<dir>/<provider>/create ...). */
  readonly osSearchPath: readonly string[];
  /** The instance driver of another node (migration destination). */
  readonly peer: (node: string) => InstanceOps | undefined;
}

/** The TCP port an incoming migration listens on: stable per instance, in 60000-64999. */
export function migrationPort(instance: string): number {
  return 60000 + (createHash('sha256').update(instance).digest().readUInt16BE(0) % 5000);
}

export class InstanceOps implements Pick<NodeOps, 'describe' | 'run'> {
  readonly qemu: QemuDriver;
  constructor(readonly o: InstanceOpsOptions) {
    this.qemu = new QemuDriver({ transport: o.transport, runRoot: o.runRoot, logger: o.logger });
  }

  /** The launch spec for this node: taps and where they plug in, from the plan's launch. */
  launchInput(l: InstanceLaunch, ovsdbSocket = this.o.ovsdbSocket): LaunchInput {
    return {
      name: l.name, uuid: l.uuid, memoryMiB: l.memoryMiB, vcpus: l.vcpus, accel: l.accel,
      ...(l.machineType !== undefined ? { machineType: l.machineType } : {}),
      ...(l.cpuType !== undefined ? { cpuType: l.cpuType } : {}),
      ...(l.kernelPath !== undefined ? { kernelPath: l.kernelPath } : {}),
      ...(l.initrdPath !== undefined ? { initrdPath: l.initrdPath } : {}),
      ...(l.kernelArgs !== undefined ? { kernelArgs: l.kernelArgs } : {}),
      bootOrder: [...l.bootOrder],
      disks: l.disks.map((d) => ({ path: d.path, format: d.format, bus: d.bus, cache: 'none' as const })),
      nics: l.nics.map((n, i) => ({ tap: tapName(l.name, i), mac: n.mac, model: n.model, link: tapLink(n, ovsdbSocket) })),
      ...(l.vnc ? { vncDisplay: 100 + (createHash('sha256').update(l.name).digest().readUInt16BE(0) % 1000), vncBindAddress: l.vncBindAddress } : {}),
    };
  }

  private spec(l: InstanceLaunch): QemuLaunchSpec {
    return this.qemu.specFor(this.launchInput(l));
  }

  async osDir(osName: string): Promise<string> {
    const { name } = parseOsName(osName);
    for (const dir of this.o.osSearchPath) {
      const r = await this.o.transport.exec(['test', '-x', `${dir}/${name}/create`]);
      if (r.code === 0) return `${dir}/${name}`;
    }
    throw new PrereqError('OS_NOT_FOUND', `OS ${name} is not installed on ${this.o.node} (searched ${this.o.osSearchPath.join(', ')})`);
  }

  describe(a: Action): readonly (readonly string[])[] {
    switch (a.verb) {
      case 'instance.install': {
        const { name } = parseOsName(a.os.name);
        if (name === 'none') return [];
        if (name === 'image') return [imageWriteArgv({ image: a.os.params.image ?? '(os param image)', disk: a.launch.disks[0]?.path ?? '', targetExists: true })];
        return [osRunArgv({ osDir: `${this.o.osSearchPath[0] ?? '/srv/gantry/os'}/${name}`, script: 'create', env: {}, logPath: runFile(this.qemu.runDir(a.name), 'osLog') })];
      }
      case 'instance.start':
        return [buildQemuArgv(this.spec(a.launch))];
      case 'instance.stop':
        return [['qmp', a.name, 'system_powerdown'], ['qmp', a.name, 'quit']];
      case 'instance.remove':
        return [['rm', '-rf', '--', this.qemu.runDir(a.name)], ...Array.from({ length: a.nicCount }, (_, i) => ['ip', 'link', 'del', tapName(a.name, i)])];
      case 'instance.migrate':
        return [['qmp', a.name, 'migrate', `tcp:${a.peerAddress}:${migrationPort(a.name)}`]];
      default:
        return [];
    }
  }

  async run(a: Action): Promise<ActionResult> {
    const t0 = Date.now();
    const done = (unchanged: boolean): ActionResult => ({ action: a, ok: true, unchanged, commands: unchanged ? [] : this.describe(a), durationMs: Date.now() - t0 });
    try {
      switch (a.verb) {
        case 'instance.install':
          await this.install(a.name, a.os, a.launch, a.record, a.nicInfo);
          return done(false);
        case 'instance.start': {
          const r = await this.qemu.start(this.launchInput(a.launch));
          if (r.restartNeeded) throw new PrereqError('RESTART_NEEDED', `instance ${a.name} runs with another spec on ${this.o.node}; it must be stopped first`);
          await this.writeRecord(a.name, a.record);
          return done(!r.changed);
        }
        case 'instance.stop': {
          const r = await this.qemu.stop(a.name, { timeoutMs: a.timeoutS * 1000 });
          return done(!r.changed);
        }
        case 'instance.remove': {
          const cur = await this.qemu.inspect(a.name, false);
          if (cur && cur.runState !== 'stopped') await this.qemu.stop(a.name, { timeoutMs: 30_000 });
          for (let i = 0; i < a.nicCount; i++) await removeTap(this.o.transport, tapName(a.name, i), this.o.ovsdbSocket);
          if (!cur) return done(true);
          await this.qemu.remove(a.name);
          return done(false);
        }
        case 'instance.migrate': {
          const peer = this.o.peer(a.peer);
          if (!peer) throw new PrereqError('NO_PEER', `no connection to migration destination ${a.peer}`);
          await peer.qemu.transport.exec(['mkdir', '-p', peer.qemu.runDir(a.name)]);
          await peer.writeRecord(a.name, a.record);
          const res = await this.qemu.migrate(a.name, {
            destination: peer.qemu, address: a.peerAddress, port: migrationPort(a.name),
            maxBandwidthBytes: a.bandwidthMiBps * 1024 * 1024, downtimeLimitMs: a.downtimeMs,
            onProgress: (p) => this.o.logger.info({ instance: a.name, ...p }, 'migration progress'),
          });
          this.o.logger.info({ instance: a.name, from: this.o.node, to: a.peer, ...res }, 'migration completed');
          return done(false);
        }
        default:
          throw new ExecError('UNSUPPORTED_VERB', `${a.verb} is not an instance verb`);
      }
    } catch (e) {
      return { action: a, ok: false, unchanged: false, commands: this.describe(a), durationMs: Date.now() - t0, error: actionError(e) };
    }
  }

  private async install(name: string, os: { name: string; params: Readonly<Record<string, string>> }, launch: InstanceLaunch, record: InstanceRecord, nicInfo: readonly { ip?: string; network?: string; subnet?: string; gateway?: string }[]): Promise<void> {
    const dir = this.qemu.runDir(name);
    const mk = await this.o.transport.exec(['mkdir', '-p', dir]);
    if (mk.code !== 0) throw new ExecError('INSTALL_FAILED', `cannot create ${dir} on ${this.o.node}: ${mk.stderr.trim()}`);
    // A record before the installer runs: if it fails, the next pass finds the instance
    // mid-install and retries, instead of finding disks with no record (which it refuses).
    await this.writeRecord(name, { ...record, osGeneration: Math.max(0, record.osGeneration - 1) });
    const ref = parseOsName(os.name);
    if (ref.name === 'none') {
      // No OS: the disks stay empty (data volumes, or a guest installed by other means).
    } else if (ref.name === 'image') {
      const image = os.params.image;
      if (!image) throw new PrereqError('OS_IMAGE_MISSING', `instance ${name}: OS image+... needs the OS parameter "image" (path of the image file on the node)`);
      const disk = launch.disks[0]?.path;
      if (!disk) throw new PrereqError('OS_NO_DISK', `instance ${name} has no disk to write the image to`);
      await writeImage(this.o.transport, { image, disk, targetExists: true });
    } else {
      const osDir = await this.osDir(os.name);
      const env = buildOsEnv({
        os: ref, instance: name, hypervisor: 'kvm', params: os.params,
        disks: launch.disks.map((d) => ({ path: d.path, access: 'rw' as const, frontendType: d.bus === 'virtio' ? 'paravirtual' : d.bus })),
        nics: launch.nics.map((n, i) => ({
          mac: n.mac, mode: n.mode, link: n.link, ...(n.vlan !== undefined ? { vlan: n.vlan } : {}),
          ...(nicInfo[i]?.ip ? { ip: nicInfo[i]!.ip! } : {}),
          ...(nicInfo[i]?.network ? { network: { name: nicInfo[i]!.network!, ...(nicInfo[i]!.subnet ? { subnet: nicInfo[i]!.subnet! } : {}), ...(nicInfo[i]!.gateway ? { gateway: nicInfo[i]!.gateway! } : {}) } } : {}),
        })),
      });
      await runOsScript(this.o.transport, { osDir, script: 'create', env, logPath: runFile(dir, 'osLog'), timeoutMs: 30 * 60_000 });
    }
    // Recorded only after the install succeeded: a failed install is retried next pass.
    await this.writeRecord(name, record);
  }

  async writeRecord(name: string, record: InstanceRecord): Promise<void> {
    const meta = { version: 1, instance: name, ...record };
    await this.qemu.writeFile(`${this.qemu.runDir(name)}/gantry.json`, JSON.stringify(meta) + '\n', name);
  }
}

function tapLink(n: InstanceLaunch['nics'][number], ovsdbSocket: string | undefined): TapLink {
  if (n.mode === 'routed') return { mode: 'routed' };
  if (n.mode === 'openvswitch') {
    if (!ovsdbSocket) return { mode: 'openvswitch', bridge: n.link, dbSocket: '/var/run/openvswitch/db.sock', ...(n.vlan !== undefined ? { tag: n.vlan } : {}), ...(n.trunks.length ? { trunks: [...n.trunks] } : {}) };
    return { mode: 'openvswitch', bridge: n.link, dbSocket: ovsdbSocket, ...(n.vlan !== undefined ? { tag: n.vlan } : {}), ...(n.trunks.length ? { trunks: [...n.trunks] } : {}) };
  }
  return { mode: 'bridged', bridge: n.link };
}
