/**
 * The incremental planner's passes alone (bench:plan measures them among every other
 * phase): the default 700-node / 40,000-instance cluster of bench/gen-desired.ts, the
 * daemon's next pass after a converged one (every node observed again as new snapshot
 * objects with the same content) and the pass after a node went offline (from the pass
 * before, with it alive), each beside the full plan; the load average before each run.
 *
 *   node --expose-gc --import tsx bench/replan.bench.ts [--runs 5]
 */
import { execSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { ObservedCluster, PlanInput } from '../src/core/plan.js';
import { makeAllocator } from '../src/plan/allocate.js';
import { plan, planIncremental, type PlanOptions } from '../src/plan/plan.js';
import { deadNode, genDesired, genObserved } from './gen-desired.js';

const at = process.argv.indexOf('--runs');
const runs = at > 0 ? Number(process.argv[at + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs needs a positive integer');
const gc = (globalThis as { gc?: () => void }).gc;

const input = genDesired({ seed: 1, nodes: 700, groups: 20, instances: 40_000, runtime: false });
const observed = genObserved(input);
const reobserve = (o: ObservedCluster): ObservedCluster => ({ ...o, nodes: new Map([...o.nodes].map(([k, v]) => [k, structuredClone(v)])) });
const allocator: PlanOptions['allocator'] = (i, o, located) => makeAllocator(i, o, { groups: [...new Set(i.nodes.map((n) => n.group))].map((name) => ({ name, allocPolicy: 'preferred' as const })), volumeGroup: 'xenvg' }, located);

function run(label: string, fn: () => unknown): void {
  gc?.();
  const load = execSync('uptime').toString().trim().replace(/.*load average: /, '');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = fn() as { stats?: { reused: number; planned: number } };
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const parts = r.stats ? `, ${r.stats.planned} of ${r.stats.reused + r.stats.planned} parts planned` : '';
  console.log(`${label}: ${Math.round(wall)} ms wall, ${Math.round((c.user + c.system) / 1000)} ms CPU${parts} (load ${load})`);
}

const first = planIncremental(input, observed, undefined);
for (let i = 0; i < runs; i++) {
  const next = reobserve(observed);
  run('replan converged (incremental)', () => planIncremental(input, next, first.cache));
}
run('plan converged (full)', () => plan(input, observed));

const dead = deadNode(input, observed);
const role = input.nodes.find((n) => n.name === dead.node)!.role;
const before: PlanInput = { ...dead.input, nodes: dead.input.nodes.map((n) => (n.name === dead.node ? { ...n, role } : n)) };
const beforeObs: ObservedCluster = { ...observed, nodes: new Map([...observed.nodes].map(([k, v]) => [k, k === dead.node ? v : { ...v, files: dead.observed.nodes.get(k)!.files }])) };
const alive = planIncremental(before, beforeObs, undefined, { allocator });
for (let i = 0; i < runs; i++) run('replan dead node (incremental)', () => planIncremental(dead.input, dead.observed, alive.cache, { allocator }));
run('plan dead node (full)', () => plan(dead.input, dead.observed, { allocator }));
