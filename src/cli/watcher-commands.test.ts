import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from './program.js';
import { parseDuration } from './watcher-commands.js';
import { readWatcherPause, writeWatcherRestarts } from '../status/state-dir.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-watcher-cli-')); });
afterEach(async () => { vi.restoreAllMocks(); await rm(dir, { recursive: true, force: true }); });

/** Run `gantry ARGS` through the real program (the watcher group loads lazily); stdout captured. */
async function gantry(...args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  const program = await buildProgram(args);
  program.exitOverride();
  try {
    await program.parseAsync(['node', 'gantry', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}

describe('gantry watcher', () => {
  it('given durations like Ganeti\'s, it reads them; anything else is not a duration', () => {
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('45')).toBe(45_000);
    expect(parseDuration('1 hour')).toBeUndefined();
    expect(parseDuration('-1h')).toBeUndefined();
  });

  it('given pause 1h, the state directory holds its end, status shows it; resume ends it; a bad duration is an error', async () => {
    const before = Date.now();
    const paused = await gantry('watcher', 'pause', '1h', '--state-dir', dir);
    const p = (await readWatcherPause(dir))!;
    expect(Date.parse(p.until) - Date.parse(p.since)).toBe(3_600_000);
    expect(Date.parse(p.since)).toBeGreaterThanOrEqual(before - 1000);
    expect(paused).toBe(`watcher paused until ${p.until}\n`);
    await writeWatcherRestarts(dir, p.since, new Map([['web1', { attempts: 2, last: p.since }]]));
    expect(await gantry('watcher', 'status', '--state-dir', dir)).toBe(`watcher paused until ${p.until} (since ${p.since})\nrestart counts:\n  web1: 2 restarts, last ${p.since}\n`);
    expect(JSON.parse(await gantry('watcher', 'status', '--state-dir', dir, '-o', 'json'))).toEqual({ paused: true, pause: p, restarts: { web1: { attempts: 2, last: p.since } } });
    expect(await gantry('watcher', 'resume', '--state-dir', dir)).toBe('watcher resumed\n');
    expect(await readWatcherPause(dir)).toBeUndefined();
    expect(await gantry('watcher', 'resume', '--state-dir', dir)).toBe('watcher was not paused\n');
    expect((await gantry('watcher', 'status', '--state-dir', dir)).split('\n')[0]).toBe('watcher running');
    await expect(gantry('watcher', 'pause', 'soon', '--state-dir', dir)).rejects.toThrow(/"soon" is not a duration/);
  });
});
