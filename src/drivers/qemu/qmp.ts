/**
 * QMP without a daemon: each exchange is one short `socat` to the instance's monitor
 * socket, fed newline-delimited JSON on stdin (capabilities negotiation, then the
 * commands). QEMU answers in order, interleaving async events; socat ends when QEMU
 * closes after stdin's EOF. Builders and parsers here are pure; `qmpExec` is the runner.
 */
import type { Transport } from '../../transport/transport.js';
import { ExecError } from '../../util/errors.js';
import { runFile } from './spec.js';

export interface QmpCommand {
  execute: string;
  arguments?: Record<string, unknown>;
}

export type QmpReply =
  | { ok: true; execute: string; value: unknown }
  | { ok: false; execute: string; errorClass: string; desc: string };

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  /** Seconds since the epoch, from the event's timestamp. */
  time?: number;
}

export interface QmpExchange {
  /** QEMU version from the greeting, e.g. "7.2.22". */
  version?: string;
  /** One entry per command sent (capabilities excluded), in order; missing when QEMU never answered. */
  replies: QmpReply[];
  events: QmpEvent[];
  /** Commands that got no reply (QEMU exited, e.g. after quit, or the socket closed). */
  unanswered: string[];
}

/** Events a caller may care about; everything else (e.g. RTC_CHANGE) is dropped. */
const KEPT_EVENTS = new Set(['SHUTDOWN', 'POWERDOWN', 'STOP', 'RESUME', 'RESET', 'MIGRATION', 'GUEST_PANICKED']);

export function qmpArgv(runDir: string, socatTimeoutSec = 2): string[] {
  return ['socat', '-t', String(socatTimeoutSec), '-', `UNIX-CONNECT:${runFile(runDir, 'qmp')}`];
}

export function buildQmpStdin(commands: readonly QmpCommand[]): string {
  return [{ execute: 'qmp_capabilities' }, ...commands].map((c) => JSON.stringify(c) + '\n').join('');
}

/**
 * How a command that reads stdin is shown in a dry run: its argv, then `<<<` and what it
 * is fed. For QMP that is the JSON sent, one command per line (capabilities first).
 */
export function withStdin(argv: readonly string[], stdin: string): string[] {
  return [...argv, '<<<', stdin.replace(/\n$/, '')];
}

/** The exchange qmpExec runs, as a dry run shows it. */
export function describeQmp(runDir: string, commands: readonly QmpCommand[]): string[] {
  return withStdin(qmpArgv(runDir), buildQmpStdin(commands));
}

export function parseQmpReplies(stdout: string, commands: readonly QmpCommand[]): QmpExchange {
  const out: QmpExchange = { replies: [], events: [], unanswered: [] };
  const answers: Array<Record<string, unknown>> = [];
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(t) as Record<string, unknown>;
    } catch {
      continue; // a torn last line when the socket closed mid-write
    }
    if ('QMP' in msg) {
      const v = (msg.QMP as { version?: { qemu?: { major: number; minor: number; micro: number } } }).version?.qemu;
      if (v) out.version = `${v.major}.${v.minor}.${v.micro}`;
    } else if (typeof msg.event === 'string') {
      if (KEPT_EVENTS.has(msg.event)) {
        const ts = msg.timestamp as { seconds?: number; microseconds?: number } | undefined;
        out.events.push({
          event: msg.event,
          ...(msg.data !== undefined ? { data: msg.data as Record<string, unknown> } : {}),
          ...(ts?.seconds !== undefined ? { time: ts.seconds + (ts.microseconds ?? 0) / 1e6 } : {}),
        });
      }
    } else if ('return' in msg || 'error' in msg) {
      answers.push(msg);
    }
  }
  // The first answer belongs to qmp_capabilities.
  const rest = answers.slice(1);
  commands.forEach((cmd, i) => {
    const a = rest[i];
    if (!a) {
      out.unanswered.push(cmd.execute);
      return;
    }
    if ('error' in a) {
      const e = a.error as { class?: string; desc?: string };
      out.replies.push({ ok: false, execute: cmd.execute, errorClass: e.class ?? 'GenericError', desc: e.desc ?? '' });
    } else {
      out.replies.push({ ok: true, execute: cmd.execute, value: a.return });
    }
  });
  return out;
}

/** A QMP command answered with an error. */
export class QmpError extends ExecError {
  constructor(instance: string, execute: string, errorClass: string, desc: string) {
    super('QMP_ERROR', `instance ${instance}: QMP ${execute} failed: ${errorClass}: ${desc}`, { instance, execute, errorClass, desc });
  }
}

/** The monitor could not be reached (no qemu, stale socket, timeout). */
export class QmpUnreachableError extends ExecError {
  constructor(instance: string, detail: string) {
    super('QMP_UNREACHABLE', `instance ${instance}: cannot reach the QMP monitor: ${detail}`, { instance });
  }
}

/** Run commands over one monitor connection. Rejects when the socket is unreachable. */
export async function qmpExec(
  transport: Transport,
  instance: string,
  runDir: string,
  commands: readonly QmpCommand[],
  timeoutMs = 10_000,
): Promise<QmpExchange> {
  const res = await transport.exec(qmpArgv(runDir), { stdin: buildQmpStdin(commands), timeoutMs });
  const ex = parseQmpReplies(res.stdout, commands);
  if (res.code !== 0 && ex.replies.length === 0) {
    throw new QmpUnreachableError(instance, res.stderr.trim() || `socat exited with ${res.code}`);
  }
  if (!ex.version) throw new QmpUnreachableError(instance, 'no QMP greeting');
  return ex;
}

/** The value of the reply to `execute`, or a QmpError. */
export function replyValue(instance: string, ex: QmpExchange, execute: string): unknown {
  const r = ex.replies.find((x) => x.execute === execute);
  if (!r) throw new QmpUnreachableError(instance, `no reply to ${execute}`);
  if (!r.ok) throw new QmpError(instance, execute, r.errorClass, r.desc);
  return r.value;
}

// ---- typed views of replies ----

/** QEMU runstates we act on; others are reported as-is. */
export interface QmpStatus {
  status: string;
  running: boolean;
}

export function parseQueryStatus(v: unknown): QmpStatus {
  const o = (v ?? {}) as { status?: unknown; running?: unknown };
  return { status: typeof o.status === 'string' ? o.status : 'unknown', running: o.running === true };
}

export function parseCpusFast(v: unknown): number {
  return Array.isArray(v) ? v.length : 0;
}

/** query-memory-size-summary -> MiB of base memory. */
export function parseMemorySummary(v: unknown): number | undefined {
  const b = (v as { 'base-memory'?: unknown } | undefined)?.['base-memory'];
  return typeof b === 'number' ? Math.floor(b / (1024 * 1024)) : undefined;
}

/** query-balloon -> MiB the guest currently has (when a balloon is active). */
export function parseBalloon(v: unknown): number | undefined {
  const a = (v as { actual?: unknown } | undefined)?.actual;
  return typeof a === 'number' ? Math.floor(a / (1024 * 1024)) : undefined;
}

export interface QmpBlockDevice {
  device: string;
  file?: string;
  format?: string;
  readOnly: boolean;
  /** The size the guest sees (query-block inserted.image.virtual-size). */
  virtualSizeBytes?: number;
}

export function parseQueryBlock(v: unknown): QmpBlockDevice[] {
  if (!Array.isArray(v)) return [];
  return v.map((d: { device?: string; inserted?: { file?: string; drv?: string; ro?: boolean; image?: { 'virtual-size'?: unknown } } }) => {
    const size = d.inserted?.image?.['virtual-size'];
    return {
      device: d.device ?? '',
      ...(d.inserted?.file !== undefined ? { file: d.inserted.file } : {}),
      ...(d.inserted?.drv !== undefined ? { format: d.inserted.drv } : {}),
      readOnly: d.inserted?.ro === true,
      ...(typeof size === 'number' ? { virtualSizeBytes: size } : {}),
    };
  });
}

export type MigrationStatus = 'none' | 'setup' | 'active' | 'device' | 'pre-switchover' | 'cancelling' | 'cancelled' | 'failed' | 'completed' | string;

export interface MigrationInfo {
  status: MigrationStatus;
  /** RAM bytes sent so far. */
  transferredBytes: number;
  totalBytes: number;
  remainingBytes: number;
  /** 0..1 from RAM totals (1 once completed). */
  progress: number;
  downtimeMs?: number;
  totalTimeMs?: number;
  error?: string;
}

export function parseQueryMigrate(v: unknown): MigrationInfo {
  const o = (v ?? {}) as {
    status?: string;
    ram?: { transferred?: number; total?: number; remaining?: number };
    downtime?: number;
    'total-time'?: number;
    'error-desc'?: string;
  };
  const status = o.status ?? 'none';
  const total = o.ram?.total ?? 0;
  const remaining = o.ram?.remaining ?? 0;
  const progress = status === 'completed' ? 1 : total > 0 ? Math.min(1, Math.max(0, (total - remaining) / total)) : 0;
  return {
    status,
    transferredBytes: o.ram?.transferred ?? 0,
    totalBytes: total,
    remainingBytes: remaining,
    progress,
    ...(o.downtime !== undefined ? { downtimeMs: o.downtime } : {}),
    ...(o['total-time'] !== undefined ? { totalTimeMs: o['total-time'] } : {}),
    ...(o['error-desc'] !== undefined ? { error: o['error-desc'] } : {}),
  };
}

// ---- command builders ----

export const qmp = {
  queryStatus: (): QmpCommand => ({ execute: 'query-status' }),
  queryCpusFast: (): QmpCommand => ({ execute: 'query-cpus-fast' }),
  queryMemorySizeSummary: (): QmpCommand => ({ execute: 'query-memory-size-summary' }),
  queryBalloon: (): QmpCommand => ({ execute: 'query-balloon' }),
  queryBlock: (): QmpCommand => ({ execute: 'query-block' }),
  systemPowerdown: (): QmpCommand => ({ execute: 'system_powerdown' }),
  quit: (): QmpCommand => ({ execute: 'quit' }),
  cont: (): QmpCommand => ({ execute: 'cont' }),
  /** maxBandwidth in bytes/s, downtimeLimit in ms. */
  migrateSetParameters: (p: { maxBandwidthBytes?: number; downtimeLimitMs?: number }): QmpCommand => ({
    execute: 'migrate-set-parameters',
    arguments: {
      ...(p.maxBandwidthBytes !== undefined ? { 'max-bandwidth': Math.floor(p.maxBandwidthBytes) } : {}),
      ...(p.downtimeLimitMs !== undefined ? { 'downtime-limit': Math.floor(p.downtimeLimitMs) } : {}),
    },
  }),
  migrate: (uri: string): QmpCommand => ({ execute: 'migrate', arguments: { uri } }),
  queryMigrate: (): QmpCommand => ({ execute: 'query-migrate' }),
  migrateCancel: (): QmpCommand => ({ execute: 'migrate_cancel' }),
  /** Grow drive `device` to `sizeBytes` (QEMU resizes the image or checks the block device). */
  blockResize: (device: string, sizeBytes: number): QmpCommand => ({ execute: 'block_resize', arguments: { device, size: sizeBytes } }),
} as const;
