/**
 * Thin runner over a Transport: start, stop, kill, reboot and live-migrate one daemonized
 * qemu per instance. All decisions read the run dir and QMP afresh (level-triggered), so
 * every operation is an idempotent ensure: starting a running instance or stopping a
 * stopped one changes nothing.
 */
import type { Transport } from '../../transport/transport.js';
import { ExecError, PrereqError, TerminalError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { ensureTap } from '../tap/tap.js';
import { buildQemuArgv, DEFAULT_QEMU_BINARY, tcpUri, type IncomingMigration } from './argv.js';
import { normaliseRunRoot, parseInstances, probeInstancesArgv, type ParsedInstance } from './probe.js';
import {
  parseQueryBlock,
  parseQueryMigrate,
  qmp,
  qmpExec,
  replyValue,
  type MigrationInfo,
  type QmpCommand,
  type QmpExchange,
} from './qmp.js';
import { buildRuntimeRecord, parseRuntimeRecord, runDirFor, runFile, specHash, type QemuLaunchSpec, type RuntimeRecord } from './spec.js';

export interface QemuDriverOptions {
  transport: Transport;
  /** Per node: lab nodes share one filesystem, so each has its own root. */
  runRoot: string;
  logger: Logger;
  binary?: string;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** Poll interval for state changes (default 250 ms). */
  pollMs?: number;
  /** While a stop waits, the ACPI power button is pressed again this often (default 5 s). */
  powerdownRepeatMs?: number;
}

/** A launch spec whose run dir the driver fills in from its run root. */
export type LaunchInput = Omit<QemuLaunchSpec, 'runDir'> & { runDir?: string };

export interface StartResult {
  changed: boolean;
  pid?: number;
  /** A qemu already runs with a different spec hash: only a restart applies the change. */
  restartNeeded?: boolean;
}

export interface StopResult {
  changed: boolean;
  /** False when the guest ignored the ACPI power button and qemu was quit/killed. */
  graceful: boolean;
}

export interface MigrateOptions {
  destination: QemuDriver;
  /** Destination node's replication address; the destination qemu listens there. */
  address: string;
  port: number;
  /** bytes/s (QMP max-bandwidth). */
  maxBandwidthBytes?: number;
  /** ms (QMP downtime-limit). */
  downtimeLimitMs?: number;
  /** Default 10 minutes. */
  timeoutMs?: number;
  onProgress?: (info: MigrationInfo) => void;
  /**
   * Disk paths that differ on the destination (source path -> destination path): a DRBD disk
   * opens the destination node's own minor (/dev/drbdN), which need not be the source's.
   * Unlisted disks keep the source's path (shared storage).
   */
  destinationDiskPaths?: ReadonlyMap<string, string>;
}

export interface MigrationResult {
  durationMs: number;
  downtimeMs?: number;
  transferredBytes: number;
}

export type MigrationPhase = 'prepare' | 'transfer' | 'timeout' | 'switchover';

/** A live migration failed; the source keeps running and the destination was cleaned up. */
export class MigrationError extends ExecError {
  readonly phase: MigrationPhase;
  constructor(instance: string, phase: MigrationPhase, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(phase === 'timeout' ? 'MIGRATION_TIMEOUT' : 'MIGRATION_FAILED', `instance ${instance}: live migration failed (${phase}): ${message}`, { instance, phase, ...details }, { cause });
    this.phase = phase;
  }
}

/** Atomic write of stdin to `path` (the content goes on stdin, the path as a positional arg). */
export function writeFileArgv(path: string): string[] {
  return ['sh', '-c', 'cat >"$1.tmp" && mv -f "$1.tmp" "$1"', 'gantry-write', path];
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class QemuDriver {
  readonly transport: Transport;
  readonly runRoot: string;
  private readonly log: Logger;
  private readonly binary: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => Date;
  private readonly pollMs: number;
  private readonly powerdownRepeatMs: number;

  constructor(opts: QemuDriverOptions) {
    this.transport = opts.transport;
    this.runRoot = normaliseRunRoot(opts.runRoot);
    this.log = opts.logger.child({ driver: 'qemu', node: opts.transport.node });
    this.binary = opts.binary ?? DEFAULT_QEMU_BINARY;
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? (() => new Date());
    this.pollMs = opts.pollMs ?? 250;
    this.powerdownRepeatMs = opts.powerdownRepeatMs ?? 5000;
  }

  get node(): string {
    return this.transport.node;
  }

  runDir(name: string): string {
    return runDirFor(this.runRoot, name);
  }

  /** The spec with this node's run dir. */
  specFor(input: LaunchInput): QemuLaunchSpec {
    return { ...input, runDir: this.runDir(input.name) };
  }

  // ---- observation ----

  async observe(): Promise<Record<string, ParsedInstance>> {
    const r = await this.transport.exec(probeInstancesArgv(this.runRoot), { timeoutMs: 60_000 });
    if (r.code !== 0) throw new ExecError('QEMU_PROBE_FAILED', `instance probe on ${this.node} failed: ${r.stderr.trim()}`);
    return parseInstances(r.stdout);
  }

  /** One instance; `withQmp: false` only checks the process (cheap, for wait loops). */
  async inspect(name: string, withQmp = true): Promise<ParsedInstance | undefined> {
    const r = await this.transport.exec(probeInstancesArgv(this.runRoot, { instances: [name], qmp: withQmp }), { timeoutMs: 30_000 });
    if (r.code !== 0) throw new ExecError('QEMU_PROBE_FAILED', `instance probe on ${this.node} failed: ${r.stderr.trim()}`);
    return parseInstances(r.stdout)[name];
  }

  async readRuntime(name: string): Promise<RuntimeRecord | undefined> {
    const r = await this.transport.exec(['cat', runFile(this.runDir(name), 'runtime')]);
    return r.code === 0 ? parseRuntimeRecord(r.stdout) : undefined;
  }

  /** Send QMP commands to a running instance; QMP errors become QmpError on replyValue. */
  qmp(name: string, commands: readonly QmpCommand[], timeoutMs?: number): Promise<QmpExchange> {
    return qmpExec(this.transport, name, this.runDir(name), commands, timeoutMs);
  }

  // ---- operations ----

  async start(input: LaunchInput, opts: { incoming?: IncomingMigration; readyTimeoutMs?: number } = {}): Promise<StartResult> {
    const spec = this.specFor(input);
    const log = this.log.child({ instance: spec.name });
    const current = await this.inspect(spec.name);
    if (current && current.runState !== 'stopped') {
      if (current.runState === 'shutdown' && !opts.incoming) {
        // USER_down: the guest powered off inside a live qemu; start means a fresh boot.
        log.info('guest is powered off inside qemu; quitting it before a fresh start');
        await this.quitAndWait(spec.name);
      } else {
        if (opts.incoming) throw new PrereqError('QEMU_ALREADY_RUNNING', `instance ${spec.name} already runs on ${this.node}; cannot receive a migration`);
        const runningHash = (current.runtime as { specHash?: string } | undefined)?.specHash;
        return { changed: false, ...(current.pid ? { pid: current.pid } : {}), restartNeeded: runningHash !== specHash(spec) };
      }
    }
    const argv = buildQemuArgv(spec, this.binary, opts.incoming ? { incoming: opts.incoming } : {});
    const dir = spec.runDir;
    await this.must(['mkdir', '-p', dir], 'QEMU_START_FAILED', spec.name);
    if (spec.chroot) await this.emptyChroot(spec.name, runFile(dir, 'chroot'));
    // Stale files of a crashed qemu would confuse liveness checks and socket binds.
    await this.must(['rm', '-f', runFile(dir, 'adminStopped'), runFile(dir, 'pid'), runFile(dir, 'qmp'), runFile(dir, 'serial')], 'QEMU_START_FAILED', spec.name);
    const incomingUri = opts.incoming ? tcpUri(opts.incoming.address, opts.incoming.port) : undefined;
    await this.writeFile(runFile(dir, 'runtime'), JSON.stringify(buildRuntimeRecord(spec, this.now().toISOString(), incomingUri)) + '\n', spec.name);
    for (const nic of spec.nics) {
      if (nic.link) await ensureTap(this.transport, nic.tap, nic.link);
    }
    log.info({ incoming: incomingUri }, 'starting qemu');
    const r = await this.transport.exec(argv, { timeoutMs: 60_000 });
    if (r.code !== 0) {
      throw new ExecError('QEMU_START_FAILED', `instance ${spec.name} on ${this.node}: qemu exited ${r.code}: ${r.stderr.trim()}`, { instance: spec.name, argv });
    }
    const ready = await this.waitFor(spec.name, opts.readyTimeoutMs ?? 15_000, true, (i) => i !== undefined && i.runState !== 'unknown' && i.runState !== 'stopped');
    if (!ready) throw new ExecError('QEMU_START_FAILED', `instance ${spec.name} on ${this.node}: qemu started but its monitor never answered`, { instance: spec.name });
    return { changed: true, ...(ready.pid ? { pid: ready.pid } : {}) };
  }

  /** The chroot directory, created when missing; refused when it holds anything (Ganeti: "chroot dir not empty"). */
  private async emptyChroot(name: string, chroot: string): Promise<void> {
    await this.must(['mkdir', '-p', chroot], 'QEMU_START_FAILED', name);
    const r = await this.transport.exec(['find', chroot, '-mindepth', '1', '-maxdepth', '1', '-print', '-quit'], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new ExecError('QEMU_START_FAILED', `instance ${name} on ${this.node}: cannot read chroot directory ${chroot}: ${r.stderr.trim()}`, { instance: name });
    if (r.stdout.trim() !== '') throw new PrereqError('QEMU_CHROOT_NOT_EMPTY', `instance ${name} on ${this.node}: chroot directory ${chroot} is not empty (${r.stdout.trim()}): QEMU would see those files; empty it`, { instance: name, chroot });
  }

  /**
   * ACPI power-off, then quit; kill when qemu will not quit. Leaves the adminStopped marker.
   * The power button is pressed again every powerdownRepeatMs until the timeout, as Ganeti's
   * InstanceShutdown does (it retries the hypervisor's stop every 5 s): a guest that was still
   * booting at the first press (no ACPI handler yet) powers off once it is up, rather than
   * being quit hard when the timeout ends.
   */
  async stop(name: string, opts: { timeoutMs?: number } = {}): Promise<StopResult> {
    const log = this.log.child({ instance: name });
    const current = await this.inspect(name);
    if (!current || current.runState === 'stopped') {
      if (current && !current.adminStopped) await this.markAdminStopped(name);
      return { changed: false, graceful: true };
    }
    let graceful = current.runState === 'shutdown';
    if (current.runState === 'running') {
      log.info('sending ACPI power-down');
      const press = () => this.qmp(name, [qmp.systemPowerdown()]).catch((err: unknown) => log.warn({ err }, 'system_powerdown failed'));
      await press();
      let pressed = this.now().getTime();
      const again = async () => {
        if (this.now().getTime() - pressed < this.powerdownRepeatMs) return;
        log.info('guest still running; pressing the power button again');
        await press();
        pressed = this.now().getTime();
      };
      const off = await this.waitFor(name, opts.timeoutMs ?? 60_000, true, (i) => !i || i.runState === 'stopped' || i.runState === 'shutdown', again);
      graceful = off !== undefined;
      if (!graceful) log.warn('guest ignored the power button; quitting qemu');
    }
    await this.quitAndWait(name);
    await this.markAdminStopped(name);
    return { changed: true, graceful };
  }

  /**
   * Grow drive `drive` of a running instance to `sizeBytes` (QMP block_resize). Reads the
   * drive first: it must have opened `path`; the same size is no change; a smaller size is
   * refused (block_resize would truncate: disks are never shrunk).
   */
  async blockResize(name: string, drive: string, path: string, sizeBytes: number): Promise<{ changed: boolean; fromBytes: number }> {
    const devices = parseQueryBlock(replyValue(name, await this.qmp(name, [qmp.queryBlock()]), 'query-block'));
    const d = devices.find((x) => x.device === drive);
    if (!d || d.file !== path) {
      throw new PrereqError('QMP_DRIVE_MISMATCH', `instance ${name} on this node has no drive ${drive} opened on ${path} (QEMU has ${d ? `${drive} on ${d.file ?? 'nothing'}` : `no drive ${drive}`}); the next pass re-reads it`, { instance: name, drive, path });
    }
    const from = d.virtualSizeBytes ?? 0;
    if (from === sizeBytes) return { changed: false, fromBytes: from };
    if (from > sizeBytes) throw new TerminalError('REFUSED_SHRINK', `instance ${name}: drive ${drive} (${path}) is ${from} bytes; refusing to resize it to ${sizeBytes}`, { instance: name, drive, path });
    this.log.info({ instance: name, drive, path, fromBytes: from, toBytes: sizeBytes }, 'growing a disk of a running instance');
    replyValue(name, await this.qmp(name, [qmp.blockResize(drive, sizeBytes)], 60_000), 'block_resize');
    return { changed: true, fromBytes: from };
  }

  /** SIGKILL the qemu (for a hung guest). Marks the instance admin-stopped unless told otherwise. */
  async kill(name: string, opts: { markAdminStopped?: boolean } = {}): Promise<boolean> {
    const current = await this.inspect(name, false);
    let changed = false;
    if (current && current.runState !== 'stopped' && current.pid) {
      await this.transport.exec(['kill', '-KILL', String(current.pid)]);
      const gone = await this.waitFor(name, 10_000, false, (i) => !i || i.runState === 'stopped');
      if (!gone) throw new ExecError('QEMU_KILL_FAILED', `instance ${name} on ${this.node}: pid ${current.pid} survived SIGKILL`, { instance: name });
      changed = true;
    }
    if (opts.markAdminStopped !== false && current) await this.markAdminStopped(name);
    return changed;
  }

  /** Power-cycle with the recorded spec (or a new one): stop + start. */
  async reboot(name: string, opts: { spec?: LaunchInput; timeoutMs?: number } = {}): Promise<StartResult> {
    const spec = opts.spec ?? (await this.readRuntime(name))?.spec;
    if (!spec) throw new PrereqError('QEMU_NO_RUNTIME', `instance ${name} has no runtime record on ${this.node}; cannot reboot`);
    await this.stop(name, opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {});
    return this.start(spec);
  }

  /** Delete a stopped instance's run dir (runtime record, logs). */
  async remove(name: string): Promise<void> {
    const current = await this.inspect(name, false);
    if (current && current.runState !== 'stopped') throw new PrereqError('QEMU_STILL_RUNNING', `instance ${name} still runs on ${this.node}`);
    await this.must(['rm', '-rf', '--', this.runDir(name)], 'QEMU_REMOVE_FAILED', name);
  }

  /**
   * Live-migrate to `opts.destination`: start an incoming qemu there, migrate, poll with
   * progress, then quit the source and drop its run dir. On any failure the migration is
   * cancelled, the destination killed and removed, and the source left running.
   */
  async migrate(name: string, opts: MigrateOptions): Promise<MigrationResult> {
    const dest = opts.destination;
    const log = this.log.child({ instance: name, destination: dest.node });
    const started = Date.now();
    const source = await this.inspect(name);
    if (!source || source.runState === 'stopped') throw new PrereqError('MIGRATION_SOURCE_DOWN', `instance ${name} is not running on ${this.node}`);
    if (source.runState !== 'running' && source.runState !== 'paused') {
      throw new PrereqError('MIGRATION_SOURCE_STATE', `instance ${name} on ${this.node} is ${source.runState}; only a running or paused instance migrates`);
    }
    const record = await this.readRuntime(name);
    if (!record) throw new PrereqError('QEMU_NO_RUNTIME', `instance ${name} has no runtime record on ${this.node}`);
    const wasRunning = source.runState === 'running';

    const fail = async (phase: MigrationPhase, message: string, cause?: unknown): Promise<never> => {
      log.error({ phase, err: cause }, 'migration failed; rolling back');
      await this.qmp(name, [qmp.migrateCancel()]).catch(() => undefined);
      await dest.kill(name, { markAdminStopped: false }).catch(() => undefined);
      await dest.transport.exec(['rm', '-rf', '--', dest.runDir(name)]).catch(() => undefined);
      if (wasRunning) {
        const after = await this.inspect(name).catch(() => undefined);
        if (after && (after.runState === 'paused' || after.runState === 'postmigrate')) await this.qmp(name, [qmp.cont()]).catch(() => undefined);
      }
      throw new MigrationError(name, phase, message, { source: this.node, destination: dest.node }, cause);
    };

    try {
      const paths = opts.destinationDiskPaths;
      const spec = paths && paths.size > 0 ? { ...record.spec, disks: record.spec.disks.map((d) => ({ ...d, path: paths.get(d.path) ?? d.path })) } : record.spec;
      await dest.start(spec, { incoming: { address: opts.address, port: opts.port } });
    } catch (err) {
      return fail('prepare', `destination qemu did not start: ${(err as Error).message}`, err);
    }
    const uri = tcpUri(opts.address, opts.port);
    try {
      const params: QmpCommand[] = [];
      if (opts.maxBandwidthBytes !== undefined || opts.downtimeLimitMs !== undefined) {
        params.push(qmp.migrateSetParameters({
          ...(opts.maxBandwidthBytes !== undefined ? { maxBandwidthBytes: opts.maxBandwidthBytes } : {}),
          ...(opts.downtimeLimitMs !== undefined ? { downtimeLimitMs: opts.downtimeLimitMs } : {}),
        }));
      }
      const ex = await this.qmp(name, [...params, qmp.migrate(uri)]);
      for (const c of [...params, qmp.migrate(uri)]) replyValue(name, ex, c.execute);
    } catch (err) {
      return fail('prepare', (err as Error).message, err);
    }
    log.info({ uri }, 'migration started');

    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    let info: MigrationInfo;
    for (;;) {
      try {
        info = parseQueryMigrate(replyValue(name, await this.qmp(name, [qmp.queryMigrate()]), 'query-migrate'));
      } catch (err) {
        return fail('transfer', (err as Error).message, err);
      }
      opts.onProgress?.(info);
      if (info.status === 'completed') break;
      if (info.status === 'failed' || info.status === 'cancelled') return fail('transfer', info.error ?? info.status);
      if (Date.now() > deadline) return fail('timeout', `not complete after ${opts.timeoutMs ?? 600_000} ms (${Math.round(info.progress * 100)}% of RAM sent)`);
      await this.sleep(this.pollMs);
    }

    // The destination resumes by itself once it has the last pages (no -S).
    const running = await dest.waitFor(name, 30_000, true, (i) => i?.runState === 'running' || (!wasRunning && i?.runState === 'paused'));
    if (!running) {
      // Past switchover the source no longer has the latest state on disk: do not resume it blindly.
      throw new MigrationError(name, 'switchover', 'migration completed but the destination is not running', { source: this.node, destination: dest.node });
    }
    await dest.writeFile(runFile(dest.runDir(name), 'runtime'), JSON.stringify({ ...record, startedAt: this.now().toISOString() }) + '\n', name);
    await this.quitAndWait(name);
    await this.must(['rm', '-rf', '--', this.runDir(name)], 'MIGRATION_CLEANUP_FAILED', name);
    const result: MigrationResult = {
      durationMs: Date.now() - started,
      transferredBytes: info.transferredBytes,
      ...(info.downtimeMs !== undefined ? { downtimeMs: info.downtimeMs } : {}),
    };
    log.info(result, 'migration completed');
    return result;
  }

  // ---- helpers ----

  /** Poll inspect() until `done` holds; the matching observation, or undefined on timeout. `between` runs before each further poll. */
  async waitFor(name: string, timeoutMs: number, withQmp: boolean, done: (i: ParsedInstance | undefined) => boolean, between?: () => Promise<void>): Promise<ParsedInstance | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = await this.inspect(name, withQmp);
      if (done(i)) return i ?? { name, runState: 'stopped', guestShutdown: false };
      if (Date.now() > deadline) return undefined;
      await this.sleep(this.pollMs);
      await between?.();
    }
  }

  /** QMP quit (qemu exits without asking the guest), then SIGKILL if it lingers. */
  private async quitAndWait(name: string): Promise<void> {
    await this.qmp(name, [qmp.quit()]).catch((err: unknown) => this.log.warn({ instance: name, err }, 'QMP quit failed'));
    const gone = await this.waitFor(name, 10_000, false, (i) => !i || i.runState === 'stopped');
    if (!gone) await this.kill(name, { markAdminStopped: false });
  }

  private async markAdminStopped(name: string): Promise<void> {
    await this.writeFile(runFile(this.runDir(name), 'adminStopped'), this.now().toISOString() + '\n', name);
  }

  /** Atomic write through the transport (content on stdin, path as a positional arg). */
  async writeFile(path: string, content: string, instance: string): Promise<void> {
    const r = await this.transport.exec(writeFileArgv(path), { stdin: content, timeoutMs: 15_000 });
    if (r.code !== 0) throw new ExecError('QEMU_WRITE_FAILED', `instance ${instance} on ${this.node}: cannot write ${path}: ${r.stderr.trim()}`, { instance, path });
  }

  private async must(argv: string[], code: string, instance: string): Promise<void> {
    const r = await this.transport.exec(argv, { timeoutMs: 30_000 });
    if (r.code !== 0) throw new ExecError(code, `instance ${instance} on ${this.node}: ${argv.join(' ')} exited ${r.code}: ${r.stderr.trim()}`, { instance, argv });
  }
}
