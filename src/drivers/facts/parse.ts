import { ExecError } from '../../util/errors.js';

export interface MemInfo {
  readonly totalMiB: number;
  /** MemAvailable when the kernel reports it, else MemFree + Buffers + Cached (what Ganeti counts). */
  readonly freeMiB: number;
}

/** Parse /proc/meminfo ("Key:   123 kB" lines) into MiB, rounded down. */
export function parseMeminfo(text: string): MemInfo {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]));
  }
  const total = kb.get('MemTotal');
  if (total === undefined) throw new ExecError('PARSE_FAILED', '/proc/meminfo has no MemTotal line');
  const free = kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  return { totalMiB: Math.floor(total / 1024), freeMiB: Math.floor(free / 1024) };
}

/** First non-empty line, trimmed (hostname, uname -r). */
export function parseLine(text: string, what: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0);
  if (line === undefined) throw new ExecError('PARSE_FAILED', `${what}: empty output`);
  return line;
}

/** /proc/sys/kernel/random/boot_id: a UUID the kernel picks at every boot. */
export function parseBootId(text: string): string {
  const id = parseLine(text, 'boot_id');
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new ExecError('PARSE_FAILED', `boot_id: not a UUID: ${id}`);
  return id;
}

export function parseNproc(text: string): number {
  const n = Number(parseLine(text, 'nproc'));
  if (!Number.isSafeInteger(n) || n <= 0) throw new ExecError('PARSE_FAILED', `nproc: not a positive integer: ${text.trim()}`);
  return n;
}
