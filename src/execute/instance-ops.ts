/**
 * The instance verbs (install, start, stop, remove, migrate) on one node, over the QEMU
 * driver, the OS interface and the tap driver. ShellNodeOps delegates instance.* here.
 * Every operation is an idempotent ensure: starting a running VM, stopping a stopped
 * one or removing a missing one changes nothing.
 */
import { createHash } from 'node:crypto';
import type { Action, InstanceLaunch, InstanceRecord, NicInfo } from '../core/actions.js';
import { QemuDriver, runFile, type LaunchInput, type QemuLaunchSpec } from '../drivers/qemu/index.js';
import { tapName, removeTap, type TapLink } from '../drivers/tap/tap.js';
import { declaredImageFormat, parseOsName, runOsScript, writeImage } from '../drivers/os/os.js';
import { describeInstanceAction, installEnv, type DescribeContext } from './instance-describe.js';
import type { Transport } from '../transport/transport.js';
import { actionError, ExecError, GantryError, PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ActionResult, NodeOps } from '../core/node-ops.js';
import { migrateWithDualPrimary, type GuestWhere } from './drbd-migration.js';
import { devicePath as drbdDevicePath } from '../drivers/drbd/cmd84.js';

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
      disks: l.disks.map((d) => ({ path: d.path, format: d.format, bus: d.bus, cache: l.diskCache ?? 'none', ...(d.readOnly ? { readOnly: true } : {}) })),
      ...(l.cdromImagePath !== undefined ? { cdromImagePath: l.cdromImagePath } : {}),
      ...(l.usbMouse !== undefined ? { usbMouse: l.usbMouse } : {}),
      ...(l.noReboot ? { noReboot: true } : {}),
      ...(l.chroot ? { chroot: true } : {}),
      nics: l.nics.map((n, i) => ({ tap: tapName(l.name, i), mac: n.mac, model: n.model, link: tapLink(n, ovsdbSocket) })),
      ...(l.vnc ? { vncDisplay: vncDisplayOf(l), vncBindAddress: l.vncBindAddress } : {}),
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

  /** The real argv of every step run() takes, QMP as the JSON it sends (see instance-describe). */
  describe(a: Action): readonly (readonly string[])[] {
    return describeInstanceAction(this.describeContext(), a);
  }

  private describeContext(): DescribeContext {
    return {
      qemu: this.qemu, osSearchPath: this.o.osSearchPath, ...(this.o.ovsdbSocket !== undefined ? { ovsdbSocket: this.o.ovsdbSocket } : {}),
      spec: (l) => this.spec(l), peer: (n) => this.o.peer(n)?.describeContext(), migrationPort,
    };
  }

  async run(a: Action): Promise<ActionResult> {
    const t0 = Date.now();
    const done = (unchanged: boolean): ActionResult => ({ action: a, ok: true, unchanged, commands: unchanged ? [] : this.describe(a), durationMs: Date.now() - t0 });
    try {
      switch (a.verb) {
        case 'instance.install':
          await this.install(a.name, a.os, a.launch, a.record, a.nicInfo, a.diskNames);
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
        case 'instance.block-resize': {
          const r = await this.qemu.blockResize(a.name, a.drive, a.path, a.sizeMiB * 1024 * 1024);
          return done(!r.changed);
        }
        case 'instance.migrate': {
          const peer = this.o.peer(a.peer);
          if (!peer) throw new PrereqError('NO_PEER', `no connection to migration destination ${a.peer}`);
          const mk = await peer.qemu.transport.exec(['mkdir', '-p', peer.qemu.runDir(a.name)]);
          if (mk.code !== 0) throw new PrereqError('MIGRATION_RUNDIR', `migration of ${a.name}: cannot make its run directory ${peer.qemu.runDir(a.name)} on ${a.peer} (mkdir exited ${mk.code}: ${mk.stderr.trim() || 'no message'}); nothing was moved`);
          await peer.writeRecord(a.name, a.record);
          const move = async () => {
            const res = await this.qemu.migrate(a.name, {
              destination: peer.qemu, address: a.peerAddress, port: migrationPort(a.name),
              maxBandwidthBytes: a.bandwidthMiBps * 1024 * 1024, downtimeLimitMs: a.downtimeMs,
              // DRBD: the destination opens its own minors (the planned launch's paths), not the source's.
              ...(a.drbd?.length ? { destinationDiskPaths: new Map(a.drbd.map((d) => [drbdDevicePath(d.source.minor), drbdDevicePath(d.target.minor)])) } : {}),
              onProgress: (p) => this.o.logger.info({ instance: a.name, ...p }, 'migration progress'),
            }).catch(async (e: unknown) => {
              throw await this.settleFailedMigration(a.name, a.peer, peer, e);
            });
            this.o.logger.info({ instance: a.name, from: this.o.node, to: a.peer, ...res }, 'migration completed');
          };
          if (a.drbd?.length) {
            // Dual-primary around the QEMU migration; disks reverted on failure (execute/drbd-migration).
            await migrateWithDualPrimary(a.drbd, {
              source: this.o.transport, target: peer.o.transport, move, log: this.o.logger,
              guestWhere: async () => guestWhere(
                (await this.qemu.inspect(a.name).catch(() => undefined))?.runState ?? 'stopped',
                (await peer.qemu.inspect(a.name).catch(() => undefined))?.runState ?? 'stopped',
              ),
            });
          } else {
            await move();
          }
          return done(false);
        }
        default:
          throw new ExecError('UNSUPPORTED_VERB', `${a.verb} is not an instance verb`);
      }
    } catch (e) {
      return { action: a, ok: false, unchanged: false, commands: this.describe(a), durationMs: Date.now() - t0, error: actionError(e) };
    }
  }

  private async install(name: string, os: { name: string; params: Readonly<Record<string, string>> }, launch: InstanceLaunch, record: InstanceRecord, nicInfo: readonly NicInfo[], diskNames?: readonly (string | null)[]): Promise<void> {
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
      const disk = launch.disks[0];
      if (!disk) throw new PrereqError('OS_NO_DISK', `instance ${name} has no disk to write the image to`);
      await writeImage(this.o.transport, { image, disk: disk.path, sourceFormat: declaredImageFormat(os.params), targetExists: true, targetFormat: disk.format });
    } else {
      const osDir = await this.osDir(os.name);
      const env = installEnv(name, os, launch, nicInfo, diskNames);
      await runOsScript(this.o.transport, { osDir, script: 'create', env, logPath: runFile(dir, 'osLog'), timeoutMs: 30 * 60_000 });
    }
    // Recorded only after the install succeeded: a failed install is retried next pass.
    await this.writeRecord(name, record);
  }

  /**
   * After a failed or aborted live migration exactly one side may run: look at both, and
   * stop the copy that does not hold the guest (the destination's incoming qemu while the
   * source still runs; the source's paused husk once the destination runs). Returns the
   * error to report, its message extended with where the guest runs now.
   */
  private async settleFailedMigration(name: string, peerNode: string, peer: InstanceOps, cause: unknown): Promise<GantryError> {
    const src = (await this.qemu.inspect(name).catch(() => undefined))?.runState ?? 'stopped';
    const dst = (await peer.qemu.inspect(name).catch(() => undefined))?.runState ?? 'stopped';
    const step = afterFailedMigration(src, dst);
    const g = cause instanceof GantryError ? cause : new ExecError('MIGRATION_FAILED', cause instanceof Error ? cause.message : String(cause));
    const where = `${this.o.node} ${src}, ${peerNode} ${dst}`;
    try {
      if (step.kill === 'destination') await peer.qemu.kill(name, { markAdminStopped: false });
      if (step.kill === 'source') await this.qemu.kill(name, { markAdminStopped: true });
    } catch (e) {
      return new ExecError('MIGRATION_TWO_COPIES', `migration of ${name} ${this.o.node} -> ${peerNode} failed (${g.message}) and the copy on ${step.kill === 'source' ? this.o.node : peerNode} could not be stopped (${e instanceof Error ? e.message : String(e)}): qemu runs on both nodes (${where}); stop one by hand`);
    }
    this.o.logger.error({ instance: name, from: this.o.node, to: peerNode, source: src, destination: dst, settled: step.kill ?? 'nothing to stop' }, 'migration failed; both sides checked');
    return new GantryError(g.errorClass, g.code, `${g.message}; afterwards (${where}): ${step.outcome}`, g.details, { cause, transient: g.transient });
  }

  async writeRecord(name: string, record: InstanceRecord): Promise<void> {
    const meta = { version: 1, instance: name, ...record };
    await this.qemu.writeFile(`${this.qemu.runDir(name)}/gantry.json`, JSON.stringify(meta) + '\n', name);
  }
}

/** Where the guest runs, from the source's and the destination's run states (a paused incoming or postmigrate qemu holds no guest). */
export function guestWhere(source: string, destination: string): GuestWhere {
  if (HAS_PROCESS(source) && source !== 'postmigrate') return 'source';
  if (HAS_PROCESS(destination) && destination !== 'inmigrate') return 'target';
  return 'none';
}

/** Run states with a qemu process on the node (ObservedRunState). */
const HAS_PROCESS = (s: string) => s !== 'stopped';

/**
 * One running copy after a failed live migration, from the run state on each side: which
 * qemu to stop (if any) and what the outcome is, in words for the error message.
 */
export function afterFailedMigration(source: string, destination: string): { kill?: 'source' | 'destination'; outcome: string } {
  const sourceHasGuest = HAS_PROCESS(source) && source !== 'postmigrate';
  if (sourceHasGuest) {
    return HAS_PROCESS(destination)
      ? { kill: 'destination', outcome: 'the guest still runs on the source; the destination qemu is stopped' }
      : { outcome: 'the guest still runs on the source only' };
  }
  if (destination === 'running') {
    return source === 'postmigrate'
      ? { kill: 'source', outcome: 'the guest runs on the destination; the paused source qemu is stopped' }
      : { outcome: 'the guest runs on the destination only' };
  }
  return { outcome: 'the guest runs on neither node (the migration may have completed without the destination resuming): left for a sysadmin, nothing is resumed blindly' };
}

/** The display the planner allocated (plan/vnc); a launch with VNC on and none is refused, never guessed. */
function vncDisplayOf(l: InstanceLaunch): number {
  if (l.vncDisplay === undefined) throw new PrereqError('VNC_NO_DISPLAY', `instance ${l.name} has VNC on but its launch names no display; re-plan it`);
  return l.vncDisplay;
}

function tapLink(n: InstanceLaunch['nics'][number], ovsdbSocket: string | undefined): TapLink {
  if (n.mode === 'routed') return { mode: 'routed', ...(n.routed ? { routing: n.routed } : {}) };
  if (n.mode === 'openvswitch') {
    if (!ovsdbSocket) return { mode: 'openvswitch', bridge: n.link, dbSocket: '/var/run/openvswitch/db.sock', ...(n.vlan !== undefined ? { tag: n.vlan } : {}), ...(n.trunks.length ? { trunks: [...n.trunks] } : {}) };
    return { mode: 'openvswitch', bridge: n.link, dbSocket: ovsdbSocket, ...(n.vlan !== undefined ? { tag: n.vlan } : {}), ...(n.trunks.length ? { trunks: [...n.trunks] } : {}) };
  }
  return { mode: 'bridged', bridge: n.link };
}
