/**
 * Host-side helpers for the lab: run a command (optionally in a namespace) and fail
 * loudly, find tools, and handle processes strictly by the PIDs in our pid files.
 */
import { access, readFile, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { connect } from 'node:net';
import { ExecError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { LocalTransport } from '../transport/local.js';
import type { ExecResult } from '../transport/transport.js';

export interface RunOptions {
  netns?: string;
  env?: Record<string, string>;
  allowFail?: boolean;
  timeoutMs?: number;
}

export class HostRunner {
  private readonly host: LocalTransport;
  constructor(private readonly log: Logger) {
    this.host = new LocalTransport({ logger: log, node: 'lab-host', commandTimeoutMs: 120_000 });
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    const t = opts.netns ? new LocalTransport({ logger: this.log, netns: opts.netns, commandTimeoutMs: 120_000 }) : this.host;
    const r = await t.exec(argv, { ...(opts.env ? { env: opts.env } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
    if (r.code !== 0 && !opts.allowFail) {
      throw new ExecError('LAB_COMMAND_FAILED', `${argv.join(' ')}${opts.netns ? ` (in ${opts.netns})` : ''} exited ${r.code}: ${r.stderr.trim().slice(0, 500)}`, {
        argv,
        code: r.code,
        stderr: r.stderr,
      });
    }
    return r;
  }
}

const SYSTEM_PATHS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a tool, searching PATH and the sbin directories. */
export async function findTool(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SYSTEM_PATHS];
  for (const dir of dirs) {
    const p = `${dir}/${name}`;
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function readPid(file: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a live (not zombie) process whose command line contains `mark`
 * (a path unique to this lab node), so a recycled PID is never mistaken for ours.
 */
export async function isOurs(pid: number, mark: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
    return cmdline.includes(mark);
  } catch {
    return false;
  }
}

async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** TERM, wait, then KILL one PID. Returns once it is gone (or a zombie). */
export async function stopPid(pid: number, log: Logger, what: string, graceMs = 3000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await alive(pid))) return;
    await sleep(50);
  }
  log.warn({ pid, what }, 'did not stop on TERM; sending KILL');
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 40 && (await alive(pid)); i++) await sleep(50);
}

/** Stop the process in `pidFile` if it is still ours (see isOurs). */
export async function stopPidFile(pidFile: string, mark: string, log: Logger, what: string): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  if (pid === undefined || !(await isOurs(pid, mark))) return undefined;
  await stopPid(pid, log, what);
  return pid;
}

/** Direct children of a PID (from /proc/<pid>/stat's ppid field). */
export async function childrenOf(ppid: number): Promise<number[]> {
  const kids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) kids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return kids;
}

/** Wait until a TCP port accepts connections (from the root namespace). */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port, timeout: 500 });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
