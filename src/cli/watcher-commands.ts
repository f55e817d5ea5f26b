/**
 * gantry watcher pause DURATION | resume | status (gnt-cluster watcher pause/continue/info):
 * the pause lives in the state directory (watcher-pause.json) with its expiry, so `gantry
 * run` reads it at every pass; while it holds, no ERROR_down instance is restarted and the
 * plan says why. `status` also lists the restart counts the watcher keeps (watcher.json).
 */
import type { Command } from 'commander';
import { clearWatcherPause, DEFAULT_STATE_DIR, readWatcherPause, readWatcherRestarts, writeWatcherPause } from '../status/state-dir.js';

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "1h", "30m", "90s", "2d", "1h30m" or plain seconds -> milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  if (!/^(\d+[smhd])+$/.test(t)) return undefined;
  let s = 0;
  for (const m of t.matchAll(/(\d+)([smhd])/g)) s += Number(m[1]) * UNITS[m[2]!]!;
  return s * 1000;
}

interface Opts { stateDir: string; output?: string }

export function registerWatcherCommands(program: Command, now: () => Date = () => new Date()): void {
  const w = program.command('watcher').description('pause, resume or show the watcher (restarts of ERROR_down instances), like gnt-cluster watcher');
  const common = (c: Command) => c.option('--state-dir <dir>', 'the state directory gantry run uses', DEFAULT_STATE_DIR);

  common(w.command('pause <duration>'))
    .description('no ERROR_down restart until DURATION from now (1h, 30m, 90s, 2d, 1h30m; plain seconds); the plan says why; gantry verify warns')
    .action(async (duration: string, opts: Opts) => {
      const ms = parseDuration(duration);
      if (ms === undefined || ms <= 0) throw new Error(`watcher pause: "${duration}" is not a duration (like 1h, 30m, 90s, 2d, 1h30m)`);
      const since = now();
      const until = new Date(since.getTime() + ms).toISOString();
      await writeWatcherPause(opts.stateDir, { until, since: since.toISOString() });
      process.stdout.write(`watcher paused until ${until}\n`);
    });

  common(w.command('resume'))
    .description('end a pause now')
    .action(async (opts: Opts) => {
      const had = await clearWatcherPause(opts.stateDir);
      process.stdout.write(had ? 'watcher resumed\n' : 'watcher was not paused\n');
    });

  common(w.command('status'))
    .description('whether the watcher is paused (until when), and the restart counts it keeps')
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (opts: Opts) => {
      const pause = await readWatcherPause(opts.stateDir);
      const t = now().getTime();
      const paused = pause !== undefined && Date.parse(pause.until) > t;
      const restarts = [...(await readWatcherRestarts(opts.stateDir))].sort(([a], [b]) => a.localeCompare(b));
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify({ paused, ...(pause ? { pause } : {}), restarts: Object.fromEntries(restarts) }, null, 2)}\n`);
        return;
      }
      const head = paused ? `watcher paused until ${pause!.until} (since ${pause!.since})` : pause ? `watcher running (a pause ended at ${pause.until})` : 'watcher running';
      const lines = restarts.map(([name, r]) => `  ${name}: ${r.attempts} restarts, last ${r.last}`);
      process.stdout.write(`${head}\n${lines.length > 0 ? `restart counts:\n${lines.join('\n')}\n` : ''}`);
    });
}
