/**
 * `npm run bench:place`: Gantry's placement engine against the real htools
 * (ganeti-htools-3.0) in one run, on the shared samples and on generated
 * clusters, and writes the table into bench/README.md ("Placement (bench:place)").
 *
 * Balance: hbal -t IN -G GROUP -S OUT (timeout --hbal-timeout, default 600 s) vs
 * Gantry's balancer; Gantry's written file is re-scored by hbal itself
 * (hbal -t OURS -G GROUP -l 0 prints the initial score). Capacity: hspace vs
 * `capacity`. IAllocator: hail vs `answerRequestText` on the sample requests.
 *
 *   npm run bench:place                                   everything (about 45 minutes)
 *   npm run bench:place -- --only samples,small,mid       a subset
 *   npm run bench:place -- --hbal-timeout 60 --no-readme  quicker, print only
 *
 * Cases: samples, small (10 nodes/150 inst), mid (30/900), large (46/3400),
 * huge (20 groups x 35 nodes, 40,000 instances; hbal runs on one group only).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { answerRequestText, balance, capacity, machineReadable, parseText, serializeText } from '../src/place/index.js';
import { balanceParallel } from '../src/cli/place-commands.js';
import { generateCluster } from './gen-cluster.js';

const BIN = '/usr/lib/ganeti/3.0/usr/bin';
const HAIL = '/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail';
const SAMPLES = process.env.GANTRY_HTOOLS_SAMPLES ?? '/work/shared/ganeti/htools';

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : def;
}
const ONLY = new Set(flag('only', 'samples,small,mid,large,huge').split(','));
const HBAL_TIMEOUT = Number(flag('hbal-timeout', '600'));
const OUT = flag('out-dir', '/tmp/gantry-bench-place');
const WRITE_README = !process.argv.includes('--no-readme');
const JOBS = Number(flag('jobs', String(cpus().length)));
mkdirSync(OUT, { recursive: true });

function log(s: string): void { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`); }

interface Run { out: string; ms: number; timedOut: boolean }
function run(cmd: string, args: string[], timeoutS = HBAL_TIMEOUT): Run {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 1 << 28, killSignal: 'SIGTERM' });
  return { out: `${r.stdout ?? ''}${r.stderr ?? ''}`, ms: performance.now() - t0, timedOut: r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' };
}

/** hbal's last printed score: the final line, or the last move line when it was stopped. */
function hbalScores(out: string): { initial: number | null; final: number | null; moves: number } {
  const ini = /Initial score: ([0-9.]+)/.exec(out);
  const fin = /Cluster score improved from [0-9.]+ to ([0-9.]+)/.exec(out);
  const moves = [...out.matchAll(/^\s+\d+\.\s+\S+\s+\S+\s+=>\s+\S+\s+([0-9.]+)/gm)];
  const last = moves.length ? Number(moves[moves.length - 1]![1]) : null;
  const initial = ini ? Number(ini[1]) : null;
  return { initial, final: fin ? Number(fin[1]) : last ?? initial, moves: moves.length };
}

function rescore(file: string, group: string): number | null {
  return hbalScores(run(`${BIN}/hbal`, ['-t', file, '-G', group, '-l', '0'], 300).out).initial;
}

interface BalanceRow {
  name: string; shape: string; group: string; hbalScore: number | null; hbalMs: number; hbalMoves: number; hbalTimedOut: boolean;
  gantryScore: number | null; gantryClaimed: number; gantryMs: number; gantryMoves: number; waves: number;
  reachMs: number | null; hbalInitial: number | null;
}
const balanceRows: BalanceRow[] = [];
const capRows: { name: string; hspace: string; gantry: string; hsMs: number; gMs: number; tHs: string; tG: string }[] = [];
const hailRows: { name: string; hail: string; gantry: string; same: boolean; hailMs: number; gMs: number }[] = [];

async function benchBalance(name: string, file: string, groups: string[], hbalGroups: Set<string>): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const cluster = parseText(text);
  const shape = `${cluster.groups.length}g/${cluster.nodes.length}n/${cluster.instances.length}i`;
  const hbal = new Map<string, { s: ReturnType<typeof hbalScores>; r: Run }>();
  for (const g of groups) {
    if (!hbalGroups.has(g)) continue;
    log(`${name}: hbal -G ${g} (timeout ${HBAL_TIMEOUT}s)`);
    const r = run(`${BIN}/hbal`, ['-t', file, '-G', g, '-S', join(OUT, `${name}-${g}-hbal`)]);
    hbal.set(g, { s: hbalScores(r.out), r });
  }
  log(`${name}: gantry balance`);
  const reach = new Map<string, number>();
  const t0 = performance.now();
  const bopts = {
    minGain: 0.01, minGainLimit: 0.1, strategy: 'rounds' as const,
    onMove: (m: { group: string; score: number }) => {
      const target = hbal.get(m.group)?.s.final;
      if (target !== undefined && target !== null && !reach.has(m.group) && m.score <= target) reach.set(m.group, performance.now() - t0);
    },
  };
  // big multi-group clusters: groups on one worker thread per core (time includes starting the workers)
  const res = cluster.groups.length > 1 && JOBS > 1 && cluster.instances.length >= 5000 ? await balanceParallel(text, bopts, JOBS) : balance(cluster, bopts);
  const out = join(OUT, `${name}-gantry.data`);
  writeFileSync(out, serializeText(res.cluster));
  const gantryMs = performance.now() - t0;
  for (const g of res.groups) {
    const h = hbal.get(g.group);
    const score = rescore(out, g.group);
    balanceRows.push({
      name, shape, group: g.group, hbalInitial: h?.s.initial ?? null, hbalScore: h?.s.final ?? null, hbalMs: h?.r.ms ?? NaN,
      hbalMoves: h?.s.moves ?? 0, hbalTimedOut: h?.r.timedOut ?? false, gantryScore: score, gantryClaimed: g.finalScore,
      gantryMs: res.groups.length === 1 ? gantryMs : NaN, gantryMoves: g.moves.length, waves: g.waves,
      reachMs: h && h.s.moves > 0 ? (g.initialScore <= (h.s.final ?? -1) ? 0 : reach.get(g.group) ?? null) : null,
    });
  }
  if (res.groups.length > 1) balanceRows.push({
    name, shape, group: `all ${res.groups.length} groups`, hbalInitial: null, hbalScore: null, hbalMs: NaN, hbalMoves: 0, hbalTimedOut: false,
    gantryScore: null, gantryClaimed: res.groups.reduce((a, g) => a + g.finalScore, 0), gantryMs,
    gantryMoves: res.moves.length, waves: res.groups.reduce((a, g) => a + g.waves, 0), reachMs: null,
  });
}

function benchCapacity(name: string, file: string): void {
  const hs = run(`${BIN}/hspace`, ['-t', file, '--machine-readable'], 600);
  const keys = (s: string) => Object.fromEntries(s.split('\n').filter((l) => l.startsWith('HTS_')).map((l) => l.split(/=(.*)/s).slice(0, 2)));
  const t0 = performance.now();
  const mr = machineReadable(capacity(parseText(readFileSync(file, 'utf8'))));
  const gMs = performance.now() - t0;
  const a = keys(hs.out) as Record<string, string>;
  const b = keys(mr) as Record<string, string>;
  capRows.push({
    name, hspace: `${a.HTS_ALLOC_INSTANCES ?? '-'} ${a.HTS_ALLOC_FAIL_REASON ?? ''}`, gantry: `${b.HTS_ALLOC_INSTANCES ?? '-'} ${b.HTS_ALLOC_FAIL_REASON ?? ''}`,
    hsMs: hs.ms, gMs, tHs: a.HTS_TSPEC ?? '', tG: b.HTS_TSPEC ?? '',
  });
}

function groupNames(file: string): string[] {
  return (readFileSync(file, 'utf8').split('\n\n')[0] ?? '').split('\n').filter(Boolean).map((l) => l.split('|')[0]!);
}

// ------------------------------------------------------------------ cases
// warm the JIT first, as a long-running reconciler would be (not timed)
{
  const warm = parseText(generateCluster({ seed: 99, groups: 1, nodesPerGroup: 6, instances: 60 }));
  for (let k = 0; k < 3; k++) {
    balance(warm, { strategy: 'rounds' });
    capacity(warm, { maxAllocations: 20 });
    serializeText(warm);
  }
}
if (ONLY.has('samples') && existsSync(SAMPLES)) {
  for (const f of readdirSync(SAMPLES).filter((x) => x.endsWith('.data')).sort()) {
    const file = join(SAMPLES, f);
    let c;
    try { c = parseText(readFileSync(file, 'utf8')); } catch { continue; }
    if (c.instances.length > 0 && c.nodes.some((n) => !n.offline)) {
      const gs = groupNames(file);
      await benchBalance(f.replace(/\.data$/, ''), file, gs, new Set(gs));
    }
    benchCapacity(f.replace(/\.data$/, ''), file);
  }
  for (const f of readdirSync(SAMPLES).filter((x) => x.endsWith('.json')).sort()) {
    const file = join(SAMPLES, f);
    const h = run(HAIL, [file], 120);
    const t0 = performance.now();
    const g = answerRequestText(readFileSync(file, 'utf8'));
    const gMs = performance.now() - t0;
    const hl = h.out.split('\n').find((l) => l.startsWith('{')) ?? '{}';
    const a = JSON.parse(hl) as { success?: boolean; result?: unknown };
    const b = JSON.parse(g) as { success?: boolean; result?: unknown };
    hailRows.push({
      name: f.replace(/\.json$/, ''), hail: `${a.success} ${JSON.stringify(a.result)}`, gantry: `${b.success} ${JSON.stringify(b.result)}`,
      same: a.success === b.success && JSON.stringify(a.result) === JSON.stringify(b.result), hailMs: h.ms, gMs,
    });
  }
}

const GEN: [string, Parameters<typeof generateCluster>[0], boolean][] = [
  ['small', { seed: 1, groups: 1, nodesPerGroup: 10, instances: 150 }, true],
  ['mid', { seed: 2, groups: 1, nodesPerGroup: 30, instances: 900 }, true],
  ['large', { seed: 3, groups: 1, nodesPerGroup: 46, instances: 3400 }, true],
  ['huge', { seed: 4, groups: 20, nodesPerGroup: 35, instances: 40000 }, true],
];
for (const [name, spec] of GEN) {
  if (!ONLY.has(name)) continue;
  const file = join(OUT, `gen-${name}.data`);
  writeFileSync(file, generateCluster(spec));
  const gs = groupNames(file);
  await benchBalance(`gen-${name}`, file, gs, new Set(name === 'huge' ? [gs[0]!] : gs));
  if (name === 'small') benchCapacity(`gen-${name}`, file);
}

// ------------------------------------------------------------------ report
const f8 = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : x.toFixed(8));
const sec = (ms: number | null) => (ms === null || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`);
const ratio = (a: number | null, b: number | null, d = 3) => (a === null || b === null || Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '-' : (a / b).toFixed(d));
const lines: string[] = [];
lines.push('## Placement (bench:place)', '');
lines.push(`Measured ${new Date().toISOString().slice(0, 10)} on this machine (Debian 12, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB), ganeti-htools 3.0.2,`);
lines.push(`with \`npm run bench:place${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (hbal timeout ${HBAL_TIMEOUT} s; Gantry strategy \`rounds\`, one thread per group up to ${JOBS} threads on multi-group clusters).`);
lines.push('"hbal score" is the last score hbal printed (its final score, or where it was when stopped); "Gantry score" is Gantry\'s written');
lines.push('file re-scored by hbal itself (`hbal -t FILE -G GROUP -l 0`). Ratios are Gantry / hbal: score ratio <= 1 means Gantry is no worse.');
lines.push('hbal times are whole runs of the binary; Gantry times are the engine in-process after a warm-up (parse, balance, write; Node start-up of about 0.5 s excluded).');
lines.push('The last column is when Gantry first reached the score hbal ended with (stopped or final).', '');
lines.push('| case | shape | group | hbal score | hbal time | hbal moves | Gantry score | Gantry time | Gantry moves (waves) | score ratio | time ratio | Gantry reaches hbal\'s score |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of balanceRows) {
  lines.push(`| ${r.name} | ${r.shape} | ${r.group} | ${f8(r.hbalScore)}${r.hbalTimedOut ? ' (stopped)' : ''} | ${sec(r.hbalMs)} | ${r.hbalMoves} | ${r.gantryScore === null ? `${f8(r.gantryClaimed)} (claimed)` : f8(r.gantryScore)} | ${sec(r.gantryMs)} | ${r.gantryMoves} (${r.waves}) | ${ratio(r.gantryScore, r.hbalScore)} | ${ratio(r.gantryMs, r.hbalMs)} | ${sec(r.reachMs)} |`);
}
if (capRows.length) {
  lines.push('', 'Capacity, standard allocation (`hspace -t FILE --machine-readable` vs `gantry capacity`): instances allocated and the reason it stops; tiered specs.', '');
  lines.push('| case | hspace | Gantry | hspace time | Gantry time | hspace tiered | Gantry tiered |', '|---|---|---|---|---|---|---|');
  for (const r of capRows) lines.push(`| ${r.name} | ${r.hspace} | ${r.gantry} | ${sec(r.hsMs)} | ${sec(r.gMs)} | ${r.tHs} | ${r.tG} |`);
}
if (hailRows.length) {
  lines.push('', 'IAllocator (`hail REQUEST` vs `gantry iallocator REQUEST`): success and result.', '');
  lines.push('| request | hail | Gantry | same | hail time | Gantry time |', '|---|---|---|---|---|---|');
  for (const r of hailRows) lines.push(`| ${r.name} | ${r.hail} | ${r.gantry} | ${r.same ? 'yes' : 'NO'} | ${sec(r.hailMs)} | ${sec(r.gMs)} |`);
}
lines.push('', 'Notes:', '');
lines.push('* Scores match hbal to 8 decimals (the same 20 weighted components as Ganeti 3.0.2\'s cluster metric); tests in');
lines.push('  `src/place/*.test.ts` compare against values captured from these binaries (`bench/capture-htools.ts`).');
lines.push('* Gantry writes the reported free memory of each node as it is after the moves (hbal --save-cluster keeps the old');
lines.push('  value, so its own written file re-scores slightly differently from the score it printed).');
lines.push('* Tiered capacity: Gantry keeps shrinking along every failing resource until something fits again; hspace stops');
lines.push('  earlier on some clusters, so Gantry may report more tiered instances (standard mode matches hspace exactly).');
lines.push('* A hbal score marked "(stopped)" is where hbal was when the timeout killed it, not its final score.', '');
const section = lines.join('\n');
process.stdout.write(`${section}\n`);
if (WRITE_README) {
  const path = new URL('./README.md', import.meta.url);
  const cur = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n\n';
  const start = cur.indexOf('## Placement (bench:place)');
  let next: string;
  if (start < 0) next = `${cur.replace(/\n*$/, '\n\n')}${section}`;
  else {
    const rest = cur.slice(start + 1);
    const end = rest.search(/\n## /);
    next = cur.slice(0, start) + section + (end < 0 ? '' : rest.slice(end + 1).replace(/^/, '\n'));
  }
  writeFileSync(path, next);
  log('wrote bench/README.md');
}
