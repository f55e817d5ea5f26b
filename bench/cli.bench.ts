/**
 * `npm run bench:cli`: start-up of the gantry command, as whole processes, beside
 * `node -e 0` (the floor of any Node.js program) and hail (Ganeti's IAllocator, a native
 * binary): wall time (median, p90) and CPU time (user + system, median) over --runs runs
 * each, after one unmeasured warm-up run. Writes the table into bench/README.md under
 * "CLI start-up (bench:cli)" unless --no-readme.
 *
 *   npm run bench:cli                        build dist/ first if stale, 20 runs each
 *   npm run bench:cli -- --runs 50 --no-readme
 *   npm run bench:cli -- --source            also the TypeScript sources through tsx
 *
 * CPU time comes from bash's `times` around each run (a few ms of bash included); on a
 * machine shared with other work it is the steadier figure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import path from 'node:path';
import { checkBuild } from '../bin/build-stamp.js';
import { buildDist } from '../scripts/build.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const HAIL = ['/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail', '/usr/lib/ganeti/3.0/usr/bin/hail'].find((p) => existsSync(p));
// the shared htools samples (never copied into the repo), beside the clone or at /work/shared
const SAMPLES = [process.env.GANTRY_HTOOLS_SAMPLES, path.resolve(ROOT, '../shared/ganeti/htools'), '/work/shared/ganeti/htools']
  .find((d): d is string => d !== undefined && existsSync(d)) ?? '/work/shared/ganeti/htools';
const REQUEST = path.join(SAMPLES, 'hail-alloc-drbd.json');

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const RUNS = Number(flag('runs', '20'));
const WRITE_README = !process.argv.includes('--no-readme');
const SOURCE = process.argv.includes('--source');

interface Case { readonly name: string; readonly argv: readonly string[]; readonly env?: Record<string, string>; readonly target?: number }

interface Result { readonly c: Case; readonly wall: number[]; readonly cpu: number[] }

const gantry = (...args: string[]): string[] => [process.execPath, 'bin/gantry.js', ...args];

function cases(): Case[] {
  const list: Case[] = [
    { name: '`node -e 0`', argv: [process.execPath, '-e', '0'] },
    { name: '`gantry --version`', argv: gantry('--version'), target: 200 },
    { name: '`gantry validate -f examples/lab`', argv: gantry('validate', '-f', 'examples/lab'), target: 400 },
    { name: '`gantry iallocator hail-alloc-drbd.json`', argv: gantry('iallocator', REQUEST), target: 300 },
  ];
  if (HAIL) list.push({ name: '`hail hail-alloc-drbd.json`', argv: [HAIL, REQUEST] });
  if (SOURCE) {
    const env = { GANTRY_FROM_SOURCE: '1' };
    list.push(
      { name: '`gantry --version` (sources, tsx)', argv: gantry('--version'), env },
      { name: '`gantry validate -f examples/lab` (sources, tsx)', argv: gantry('validate', '-f', 'examples/lab'), env },
      { name: '`gantry iallocator hail-alloc-drbd.json` (sources, tsx)', argv: gantry('iallocator', REQUEST), env },
    );
  }
  return list;
}

/** One run: wall ms measured here, CPU ms of the child from bash's `times`. */
function runOnce(c: Case): { wall: number; cpu: number } {
  const script = '"$@" >/dev/null 2>/tmp/gantry-bench-cli.err; s=$?; times; exit $s';
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', script, 'bench', ...c.argv], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GANTRY_FROM_SOURCE: '', ...c.env } });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${c.argv.join(' ')} exited ${r.status}: ${readFileSync('/tmp/gantry-bench-cli.err', 'utf8')}`);
  // `times` prints the shell's own times, then its children's: "0m0.120s 0m0.016s"
  const children = r.stdout.trim().split('\n').at(-1)!;
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wall, cpu: (secs[0]! + secs[1]!) * 1000 };
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
}

async function main(): Promise<void> {
  const verdict = checkBuild(ROOT);
  if (!verdict.fresh) {
    process.stderr.write(`bench:cli: building dist/ (${verdict.reason ?? 'none yet'})\n`);
    await buildDist(ROOT);
  }
  if (!existsSync(REQUEST)) throw new Error(`no IAllocator sample at ${REQUEST} (set GANTRY_HTOOLS_SAMPLES)`);
  const loadBefore = loadAverage();
  const results: Result[] = [];
  for (const c of cases()) {
    runOnce(c); // warm the page cache
    const wall: number[] = [];
    const cpu: number[] = [];
    // interleaving would spread load changes evenly; consecutive runs keep each figure's spread honest
    for (let i = 0; i < RUNS; i++) {
      const r = runOnce(c);
      wall.push(r.wall);
      cpu.push(r.cpu);
    }
    results.push({ c, wall, cpu });
    process.stderr.write(`${c.name}: median ${Math.round(quantile(wall, 0.5))} ms\n`);
  }
  const loadAfter = loadAverage();
  const rows = results.map(({ c, wall, cpu }) => {
    const med = quantile(wall, 0.5);
    const target = c.target === undefined ? '' : `${c.target} ${med <= c.target ? '(met)' : '(missed)'}`;
    return `| ${c.name} | ${Math.round(med)} | ${Math.round(quantile(wall, 0.9))} | ${Math.round(Math.min(...wall))} | ${Math.round(quantile(cpu, 0.5))} | ${target} |`;
  });
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const table = [
    `Measured with \`npm run bench:cli${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}, commit ${commit}:`,
    `${cpus().length} vCPU (${cpus()[0]?.model.trim() ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, kernel ${release()};`,
    `${RUNS} runs per command after one warm-up; load average ${loadBefore} before and ${loadAfter} after.`,
    '',
    '| command | wall ms median | wall ms p90 | wall ms min | CPU ms median | target ms |',
    '|---|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  if (WRITE_README) writeReadme(table);
}

const HEADING = '## CLI start-up (bench:cli)';
const INTRO = `\`bench/cli.bench.ts\` starts the gantry command as a whole process, the way Ganeti runs
an IAllocator (one process per request) and monitoring runs checks: \`bin/gantry.js\` runs
the bundle in dist/ (\`npm run build\`, also run by \`npm ci\`), built from the sources as
they are (a stale build is not run: the sources run through tsx instead, with a warning).
Beside it: \`node -e 0\`, the floor for any Node.js program, and hail (ganeti-htools-3.0)
on the same request, the shared sample \`hail-alloc-drbd.json\`. Wall time is what a
caller waits; CPU time (user + system, from bash's \`times\`) is steadier on a shared machine.`;

function writeReadme(table: string): void {
  const file = path.join(ROOT, 'bench/README.md');
  const text = readFileSync(file, 'utf8');
  const section = `${HEADING}\n\n${INTRO}\n\n${table}\n`;
  const at = text.indexOf(HEADING);
  if (at < 0) {
    writeFileSync(file, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf('\n## ', at + HEADING.length);
  writeFileSync(file, `${text.slice(0, at)}${section}${next < 0 ? '' : text.slice(next)}`);
}

await main();
