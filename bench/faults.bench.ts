/**
 * The long fault campaign (src/sim/campaign): seeds x steps of the real reconcile loop on
 * the simulator under injected faults, checking the safety invariants after every step.
 *
 *   npm run bench:faults -- --seeds 500 --steps 200            # seeds 1..500
 *   npm run bench:faults -- --seed 17 --steps 200 --trace      # replay one seed, step by step
 *   npm run bench:faults -- --seeds 50 --steps 100 --first 1000 --json out.json
 *   npm run bench:faults -- --seeds 100 --steps 100 --failover   # every world fences and fails over; faults last 2-8 steps
 *   npm run bench:faults -- --seeds 20 --steps 60 --full-plan    # full plans only (default: incremental, compared with the full plan every pass)
 *
 * Exit code 1 when any invariant was violated.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { FAULT_KINDS, runCampaign, summarize, type CampaignResult, type FaultKind } from '../src/sim/campaign/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string, d: number): number => {
  const v = arg(name);
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, not ${v}`);
  return n;
};

const one = arg('seed');
const steps = num('steps', 200);
const seeds = one !== undefined ? [num('seed', 1)] : Array.from({ length: num('seeds', 100) }, (_, i) => num('first', 1) + i);
const kinds = arg('kinds')?.split(',').map((k) => {
  if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown fault kind ${k} (known: ${FAULT_KINDS.join(', ')})`);
  return k as FaultKind;
});
const trace = process.argv.includes('--trace');
// Failover worlds: Cluster autoRepair.failover and power control on every node; faults outlast the liveness grace.
const failover = process.argv.includes('--failover') ? { shape: { failover: true }, faultSteps: [2, 8] as const } : {};

// The controller plans incrementally as `gantry run` does, each plan compared with the full one (a difference is a violation).
const incremental = !process.argv.includes('--full-plan');

const started = process.hrtime.bigint();
const results: CampaignResult[] = [];
for (const seed of seeds) {
  const res = await runCampaign({ seed, steps, trace, incremental, ...(kinds ? { kinds } : {}), ...failover });
  results.push(res);
  if (trace) console.log(res.trace.join('\n'));
  for (const v of res.violations) {
    console.log(`VIOLATION seed ${v.seed} step ${v.step} ${v.invariant}: ${v.detail}`);
    for (const a of v.actions) console.log(`    ${a}`);
  }
  if (!trace && seeds.length > 1 && results.length % 25 === 0) process.stderr.write(`  ${results.length}/${seeds.length} seeds\n`);
}
const secs = Number(process.hrtime.bigint() - started) / 1e9;
const s = summarize(results);
const byInvariant: Record<string, number> = {};
for (const v of s.violations) byInvariant[v.invariant] = (byInvariant[v.invariant] ?? 0) + 1;
const violatingSeeds = [...new Set(s.violations.map((v) => v.seed))];

console.log(`\nfault campaign: ${s.seeds} seeds (${seeds[0]}..${seeds.at(-1)}) x ${steps} steps = ${s.steps} steps, ${s.passes} passes, ${s.actions} actions in ${secs.toFixed(1)} s`);
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} CPUs), node ${process.version}`);
console.log(`planner: ${incremental ? `incremental, each plan compared with the full plan; instance parts reused ${s.planParts.reused}, planned ${s.planParts.planned}` : 'full plans only (--full-plan)'}`);
console.log(`faults: ${FAULT_KINDS.map((k) => `${k} ${s.faults[k]}`).join(', ')}`);
console.log(`operator edits: ${Object.entries(s.edits).map(([k, n]) => `${k} ${n}`).join(', ')}`);
console.log(`failover worlds: ${s.failoverWorlds}; fences asked ${s.fences.asked} (refused by the power control ${s.fences.refused}); instances failed over ${s.failovers}`);
console.log(`auto-repairs (harep) planned in passes that ran: ${Object.entries(s.repairs).map(([k, n]) => `${k} ${n}`).join(', ')}`);
console.log(`violations: ${s.violations.length}${s.violations.length ? ` (${Object.entries(byInvariant).map(([k, n]) => `${k} ${n}`).join(', ')}) in ${violatingSeeds.length} seeds` : ''}; not converged: ${s.notConverged} seeds`);
if (violatingSeeds.length) console.log(`replay one: npm run bench:faults -- --seed ${violatingSeeds[0]} --steps ${steps} --trace`);

const out = arg('json');
if (out !== undefined) await writeFile(out, JSON.stringify({ steps, seconds: secs, summary: s }, null, 2) + '\n');
process.exitCode = s.violations.length > 0 ? 1 : 0;
