import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StateFileCorruptError, StateLockedError } from '../util/errors.js';
import { silentLogger } from '../util/log.js';
import { acquireStateLock, lockPath, readHolder } from './state-lock.js';

const HOLDER = path.join(import.meta.dirname, 'testdata', 'lock-holder.ts');
const ROOT = path.resolve(import.meta.dirname, '../..');

let dir: string;
const children: ChildProcess[] = [];
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-lock-')); });
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Start the lock-holder script as a real second process; resolves its output lines as they come. */
function holder(waitMs: number, holdMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, dir, String(waitMs), String(holdMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const line = async (re: RegExp): Promise<string> => {
    for (let i = 0; i < 1_600; i++) { // tsx start-up is slow on a loaded machine
      const m = out.split('\n').find((l) => re.test(l));
      if (m) return m;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no line ${re} from lock-holder; stdout=${out} stderr=${err}`);
  };
  return { child, line, exited, out: () => out, err: () => err };
}

function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

const logLines = () => {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c))); cb(); } }));
  return { logger, lines };
};

describe('the state directory lock (two real processes)', { timeout: 60_000 }, () => {
  it('given another process holding the lock, a second apply exits at once naming the holder: pid, command, since, host', async () => {
    const a = holder(0, -1);
    await a.line(/^locked$/);
    const err = await acquireStateLock({ stateDir: dir, command: 'apply', logger: silentLogger() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StateLockedError);
    const e = err as StateLockedError;
    expect(e.holder).toMatchObject({ pid: a.child.pid, command: 'lock-holder test', host: hostname() });
    expect(Date.parse(e.holder.since)).toBeLessThanOrEqual(Date.now());
    expect(e.message).toContain(`pid ${a.child.pid} (lock-holder test) on ${hostname()} since ${e.holder.since}`);
  });

  it('given a holder that finishes, a second process waiting with a timeout gets the lock after it', async () => {
    const first = await acquireStateLock({ stateDir: dir, command: 'apply', logger: silentLogger() });
    const b = holder(10_000, 0);
    await vi.waitFor(() => expect(b.err()).toMatch(/locked by another gantry; waiting/), { timeout: 40_000, interval: 25 });
    expect(b.out()).toBe('');
    await first.release();
    await b.line(/^locked$/);
    expect(await b.exited).toBe(0);
  });

  it('given a holder that keeps it past the timeout, the waiter gives up naming the holder', async () => {
    await acquireStateLock({ stateDir: dir, command: 'run', logger: silentLogger() });
    const b = holder(300, 0);
    expect(await b.line(/^refused/)).toMatch(new RegExp(`held by pid ${process.pid} \\(run\\).*gave up after waiting`));
    expect(await b.exited).toBe(3);
  });

  it('given a holder killed with SIGKILL, its stale lock is taken over with a log line', async () => {
    const a = holder(0, -1);
    await a.line(/^locked$/);
    a.child.kill('SIGKILL');
    await a.exited;
    const { logger, lines } = logLines();
    const lock = await acquireStateLock({ stateDir: dir, command: 'apply', logger });
    expect(lock.holder.pid).toBe(process.pid);
    expect(lines.find((l) => /taking it over/.test(l.msg))).toMatchObject({ stale: { pid: a.child.pid, command: 'lock-holder test' } });
    expect((await readHolder(lockPath(dir)))?.token).toBe(lock.holder.token);
  });

  it('given a stale lock and two processes racing for it, exactly one gets it', async () => {
    await writeFile(lockPath(dir), JSON.stringify({ pid: deadPid(), command: 'apply', since: '2026-01-01T00:00:00Z', host: hostname(), token: 'dead' }));
    const racers = [holder(0, -1), holder(0, -1), holder(0, -1)]; // winners hold until killed: a slow start cannot see a released lock
    const outcomes = await Promise.all(racers.map((r) => r.line(/^(locked|refused)/)));
    expect(outcomes.filter((o) => o === 'locked')).toHaveLength(1);
    expect(outcomes.filter((o) => o.startsWith('refused'))).toHaveLength(2);
  });

  it('given a lock held from another host, it is never presumed dead', async () => {
    await writeFile(lockPath(dir), JSON.stringify({ pid: deadPid(), command: 'run', since: '2026-01-01T00:00:00Z', host: 'elsewhere.example', token: 't' }));
    const err = await acquireStateLock({ stateDir: dir, command: 'apply', logger: silentLogger() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StateLockedError);
    expect((err as StateLockedError).holder.host).toBe('elsewhere.example');
  });

  it('given a corrupt lock file, it is reported corrupt with its path, not taken over or ignored', async () => {
    await writeFile(lockPath(dir), '{"pid": 12');
    const err = await acquireStateLock({ stateDir: dir, command: 'apply', logger: silentLogger() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StateFileCorruptError);
    expect((err as StateFileCorruptError).path).toBe(lockPath(dir));
    expect(await readFile(lockPath(dir), 'utf8')).toBe('{"pid": 12');
  });

  it('given a release, only the holder\'s own lock is removed', async () => {
    const lock = await acquireStateLock({ stateDir: dir, command: 'apply', logger: silentLogger() });
    await writeFile(lockPath(dir), JSON.stringify({ ...lock.holder, token: 'someone-else' }));
    await lock.release();
    expect((await readHolder(lockPath(dir)))?.token).toBe('someone-else');
  });
});
