/**
 * Planner benchmark (`npm run bench:plan`): a 700-node, 20-group, 40,000-instance cluster
 * (see gen-desired.ts). Measures wall time, heap and peak RSS for: building the desired
 * input, building the matching observed state, planning the converged case (must be an
 * empty plan), planning a drifted case (~5 % of observed objects missing or different),
 * applying that drifted plan to the simulator wave by wave, and re-planning (must be empty
 * again: the simulator and the planner agree on what "converged" means).
 *
 *   npm run bench:plan -- [--nodes 700] [--groups 20] [--instances 40000] [--seed 1]
 *                         [--drift 0.05] [--runs 3] [--no-apply] [--json]
 *
 * Peak RSS is the process high-water mark (getrusage maxrss), so it is cumulative: the
 * value after a phase is the peak of everything up to and including that phase. The
 * bench re-executes itself with --expose-gc so a full GC runs before each phase and heap
 * figures are not polluted by garbage from the previous one.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Action } from '../src/plan/actions.js';
import { plan, type ObservedCluster, type Plan } from '../src/plan/plan.js';
import { SimCluster, initFromObserved } from '../src/sim/index.js';
import { drift, genDesired, genObserved, type GenSpec } from './gen-desired.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined && process.env.GANTRY_BENCH_CHILD === undefined) {
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GANTRY_BENCH_CHILD: '1' },
  });
  process.exit(r.status ?? 1);
}

const argv = process.argv.slice(2);
const num = (k: string, d: number): number => {
  const i = argv.indexOf(`--${k}`);
  const v = i >= 0 ? Number(argv[i + 1]) : d;
  if (!Number.isFinite(v)) throw new Error(`--${k} needs a number`);
  return v;
};
const flag = (k: string): boolean => argv.includes(`--${k}`);

const spec: GenSpec = { seed: num('seed', 1), nodes: num('nodes', 700), groups: num('groups', 20), instances: num('instances', 40_000) };
const driftFraction = num('drift', 0.05);
const runs = Math.max(1, num('runs', 3));

interface Row {
  phase: string;
  wallMs: number;
  /** For repeated phases: every run's wall time. */
  runsMs?: number[];
  heapUsedMiB: number;
  heapDeltaMiB: number;
  rssMiB: number;
  peakRssMiB: number;
  note?: string;
}
const rows: Row[] = [];
const mib = (b: number): number => Math.round((b / 1_048_576) * 10) / 10;

/** Run `fn` `times` times (GC before each), record the median wall time, return the last result. */
function measure<T>(phase: string, fn: () => T, times = 1, note?: (r: T) => string): T {
  const walls: number[] = [];
  let result: T | undefined;
  let heapBefore = 0;
  for (let i = 0; i < times; i++) {
    result = undefined; // let the previous run's result be collected
    gc?.();
    heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    result = fn();
    walls.push(performance.now() - t0);
  }
  const m = process.memoryUsage();
  const sorted = [...walls].sort((a, b) => a - b);
  rows.push({
    phase,
    wallMs: Math.round(sorted[Math.floor(sorted.length / 2)]!),
    ...(times > 1 ? { runsMs: walls.map(Math.round) } : {}),
    heapUsedMiB: mib(m.heapUsed),
    heapDeltaMiB: mib(m.heapUsed - heapBefore),
    rssMiB: mib(m.rss),
    peakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
    ...(note ? { note: note(result as T) } : {}),
  });
  return result as T;
}

async function measureAsync<T>(phase: string, fn: () => Promise<T>, note?: (r: T) => string): Promise<T> {
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const result = await fn();
  const wall = performance.now() - t0;
  const m = process.memoryUsage();
  rows.push({
    phase, wallMs: Math.round(wall), heapUsedMiB: mib(m.heapUsed), heapDeltaMiB: mib(m.heapUsed - heapBefore),
    rssMiB: mib(m.rss), peakRssMiB: mib(process.resourceUsage().maxRSS * 1024), ...(note ? { note: note(result) } : {}),
  });
  return result;
}

const countBy = (actions: readonly Action[]): string =>
  Object.entries(actions.reduce<Record<string, number>>((acc, a) => ((acc[a.verb] = (acc[a.verb] ?? 0) + 1), acc), {}))
    .sort(([a], [b]) => a.localeCompare(b)).map(([v, n]) => `${v}=${n}`).join(' ');
const planNote = (p: Plan): string => `${p.actions.length} actions in ${p.waves.length} waves, ${p.refused.length} refused, ${p.entries.length} entries${p.actions.length ? `; ${countBy(p.actions)}` : ''}`;

const input = measure('build desired (PlanInput)', () => genDesired(spec), 1, (i) => `${i.nodes.length} nodes, ${i.instances.length} instances`);
const observed = measure('build observed (converged)', () => genObserved(input), 1, (o) => {
  let lvs = 0;
  let files = 0;
  for (const n of o.nodes.values()) {
    lvs += Object.keys(n.lvs).length;
    files += Object.keys(n.files).length;
  }
  return `${o.nodes.size} nodes, ${lvs} LVs, ${files} files`;
});
const converged = measure('plan converged', () => plan(input, observed), runs, planNote);
const drifted = measure('drift observed', () => drift(observed, driftFraction, spec.seed), 1, (d) => `${d.objects} objects: ${d.missing} missing, ${d.different} different`);
const driftPlan = measure('plan drifted', () => plan(input, drifted.observed), runs, planNote);

let replan: Plan | undefined;
if (!flag('no-apply')) {
  const pv = 8 * 1024 * 1024;
  const sim = measure('load simulator from drifted', () =>
    new SimCluster([...drifted.observed.nodes.values()].map((o) => initFromObserved(o, { '/dev/sdb': pv, '/dev/sdc': pv }))), 1, (c) => `${c.nodes.size} nodes`);
  await measureAsync('apply drifted plan on simulator', async () => {
    let failed = 0;
    for (const wave of driftPlan.waves) {
      const results = await Promise.all(wave.map((a) => sim.run(a)));
      failed += results.filter((r) => !r.ok).length;
    }
    return failed;
  }, (failed) => `${driftPlan.actions.length} actions, ${failed} failed`);
  const req = {
    sysctls: [...new Set(input.nodes.flatMap((n) => Object.keys(n.profile.sysctls)))],
    fileDirs: [input.cluster.sharedFileStorageDir],
  };
  const after = await measureAsync('observe simulator', () => sim.observe(req), (o: ObservedCluster) => `${o.nodes.size} nodes`);
  replan = measure('re-plan after apply', () => plan(input, after), 1, planNote);
}

const machine = {
  cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};
const checks = {
  convergedPlanEmpty: converged.actions.length === 0 && converged.refused.length === 0,
  driftedPlanNonEmpty: driftPlan.actions.length > 0,
  ...(replan ? { replanAfterApplyEmpty: replan.actions.length === 0 && replan.refused.length === 0 } : {}),
};

if (flag('json')) {
  console.log(JSON.stringify({ spec, driftFraction, runs, machine, rows, checks }, null, 2));
} else {
  console.log(`bench:plan  ${JSON.stringify(spec)} drift=${driftFraction} runs=${runs}`);
  console.log(`machine     ${machine.cpus}, ${machine.memGiB} GiB, Node ${machine.node}, ${machine.platform}\n`);
  console.log('| phase | wall ms (median) | heap used MiB | heap Δ MiB | RSS MiB | peak RSS MiB | notes |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(`| ${r.phase} | ${r.wallMs}${r.runsMs ? ` (${r.runsMs.join(', ')})` : ''} | ${r.heapUsedMiB} | ${r.heapDeltaMiB} | ${r.rssMiB} | ${r.peakRssMiB} | ${r.note ?? ''} |`);
  }
  console.log(`\nchecks: ${JSON.stringify(checks)}`);
}
if (!Object.values(checks).every(Boolean)) process.exitCode = 1;
