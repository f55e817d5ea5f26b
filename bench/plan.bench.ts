/**
 * Planner benchmark (`npm run bench:plan`): a 700-node, 20-group, 40,000-instance cluster
 * (see gen-desired.ts). Measures wall time, heap and peak RSS for: building the desired
 * input, building the matching observed state, planning the converged case (must be an
 * empty plan), planning a drifted case (~5 % of observed objects missing or different),
 * applying that drifted plan to the simulator wave by wave, and re-planning (must be empty
 * again: the simulator and the planner agree on what "converged" means).
 *
 *   npm run bench:plan -- [--nodes 700] [--groups 20] [--instances 40000] [--seed 1]
 *                         [--drift 0.05] [--runs 3] [--runtime] [--no-apply] [--json]
 *                         [--expect-hashes converged=H,dead=H,drifted=H]
 *
 * The incremental planner (plan/plan-cache, what `gantry run` uses) has its own phases:
 * its first pass (a full plan that records what each instance read), "replan converged
 * (incremental)" (the next pass: every node observed again as new snapshot objects with the
 * same content) and "replan dead node (incremental)" (after a pass with the node alive).
 * Their plans must hash to the full plans' (check incrementalEqualsFull).
 *
 * Each plan's hash (sha256 of its JSON, first 16 hex digits) is printed; `--expect-hashes
 * converged=H,dead=H,drifted=H` fails the run when one differs (a speedup must not change
 * any plan: bench/README.md lists the hashes of the default cluster). Without --runtime
 * only: with it the observed state comes from the simulator, whose observation times
 * (the wall clock) show in the dead node's notes, so that hash changes from run to run.
 *
 * --runtime gives every instance a QEMU spec with two NICs (one from a Network's IP
 * pool). The converged observed state then comes from the simulator: plan against the
 * disks-and-profile state, apply every install/start, observe.
 *
 * Peak RSS is the process high-water mark (getrusage maxrss), so it is cumulative: the
 * value after a phase is the peak of everything up to and including that phase. The
 * bench re-executes itself with --expose-gc so a full GC runs before each phase and heap
 * figures are not polluted by garbage from the previous one.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ActionResult, ObserveRequest } from '../src/core/node-ops.js';
import type { Action } from '../src/core/actions.js';
import type { PlanInput } from '../src/core/plan.js';
import { plan, planIncremental, type IncrementalPlan, type ObservedCluster, type Plan, type PlanOptions } from '../src/plan/plan.js';
import { SimCluster, initFromObserved } from '../src/sim/index.js';
import { makeAllocator } from '../src/plan/allocate.js';
import { deadNode, drift, genDesired, genObserved, simDrbdSeed, type DeadNodeCase, type GenSpec } from './gen-desired.js';

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

const spec: GenSpec = { seed: num('seed', 1), nodes: num('nodes', 700), groups: num('groups', 20), instances: num('instances', 40_000), runtime: flag('runtime') };
const driftFraction = num('drift', 0.05);
const runs = Math.max(1, num('runs', 3));

interface Row {
  phase: string;
  wallMs: number;
  /** For repeated phases: every run's wall time. */
  runsMs?: number[];
  /** CPU time (user + system) of the median run: wall minus this is waiting (a shared machine). */
  cpuMs: number;
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
  const cpus: number[] = [];
  let result: T | undefined;
  let heapBefore = 0;
  for (let i = 0; i < times; i++) {
    result = undefined; // let the previous run's result be collected
    gc?.();
    heapBefore = process.memoryUsage().heapUsed;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    result = fn();
    walls.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
  }
  const m = process.memoryUsage();
  const median = [...walls.keys()].sort((a, b) => walls[a]! - walls[b]!)[Math.floor(walls.length / 2)]!;
  rows.push({
    phase,
    wallMs: Math.round(walls[median]!),
    cpuMs: Math.round(cpus[median]!),
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
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const m = process.memoryUsage();
  rows.push({
    phase, wallMs: Math.round(wall), cpuMs: Math.round((c.user + c.system) / 1000), heapUsedMiB: mib(m.heapUsed), heapDeltaMiB: mib(m.heapUsed - heapBefore),
    rssMiB: mib(m.rss), peakRssMiB: mib(process.resourceUsage().maxRSS * 1024), ...(note ? { note: note(result) } : {}),
  });
  return result;
}

const templates = (is: readonly { diskTemplate: string }[]): string =>
  Object.entries(is.reduce<Record<string, number>>((acc, i) => ((acc[i.diskTemplate] = (acc[i.diskTemplate] ?? 0) + 1), acc), {})).sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${t}=${n}`).join(' ');

/**
 * The dead node's plan: each instance whose primary it was has exactly one failover (to a
 * live node, or lost with its reason) or a refusal (without --runtime a sharedfile
 * instance has no VM, so nothing of it was on the node and it has nothing to replan); one that moves gets one instance.start
 * (when it has a runtime and should run), on its new node; a DRBD one a promotion there of
 * each disk; none gets a new (empty) disk; nothing is done on the dead node.
 */
function deadCheck(c: DeadNodeCase, p: Plan): { ok: boolean; note: string } {
  const bad: string[] = [];
  const moved: Record<string, number> = {};
  let lost = 0;
  let refusedOnly = 0;
  let idle = 0;
  const last = c.observed.lastKnown?.get(c.node);
  let starts = 0;
  const byInst = new Map<string, NonNullable<Plan['failovers']>[number][]>();
  for (const f of p.failovers ?? []) byInst.set(f.instance, [...(byInst.get(f.instance) ?? []), f]);
  for (const inst of c.instances) {
    const subject = `Instance/${inst.name}`;
    const fo = byInst.get(inst.name) ?? [];
    const own = p.actions.filter((a) => a.subject === subject);
    const st = own.filter((a) => a.verb === 'instance.start');
    starts += st.length;
    if (fo.length === 0) {
      if (p.refused.some((r) => r.subject === subject)) refusedOnly++;
      // Without --runtime a sharedfile instance has no VM and no node-local disk: nothing of it was on the node.
      else if (inst.diskTemplate === 'sharedfile' && inst.runtime === undefined && last?.instances[inst.name] === undefined) idle++;
      else bad.push(`${inst.name}: no failover and no refusal`);
      continue;
    }
    if (fo.length > 1) bad.push(`${inst.name}: ${fo.length} failovers`);
    const f = fo[0]!;
    if (f.to === undefined) {
      if (!f.lost) bad.push(`${inst.name}: lost without a reason`);
      else lost++;
      if (st.length > 0) bad.push(`${inst.name}: lost but started`);
      continue;
    }
    moved[inst.diskTemplate] = (moved[inst.diskTemplate] ?? 0) + 1;
    if (f.to === c.node) bad.push(`${inst.name}: failed over to the dead node`);
    const shouldStart = inst.runtime?.powerState === 'running';
    if (shouldStart ? st.length !== 1 || st[0]!.node !== f.to : st.length > 0) bad.push(`${inst.name}: ${st.length} starts (${st.map((a) => a.node).join(', ')}), want ${shouldStart ? `one on ${f.to}` : 'none'}`);
    const made = own.filter((a) => a.verb === 'lv.create' || a.verb === 'file.create');
    if (made.length > 0) bad.push(`${inst.name}: failed over onto ${made.length} new disk(s) (${made[0]!.verb} on ${made[0]!.node})`);
    if (inst.diskTemplate === 'drbd') {
      const promotions = own.filter((a) => a.verb === 'drbd.primary' && a.node === f.to).length;
      const disks = inst.disks.filter((d) => d.state === 'present' && d.template === 'drbd').length;
      if (promotions !== disks) bad.push(`${inst.name}: ${promotions} promotions on ${f.to} for ${disks} DRBD disks`);
    }
  }
  const onDead = p.actions.filter((a) => 'node' in a && a.node === c.node).length;
  if (onDead > 0) bad.push(`${onDead} actions on the dead node`);
  const ok = bad.length === 0;
  const movedText = Object.entries(moved).sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${t}=${n}`).join(' ');
  return { ok, note: `failed over: ${movedText || 'none'}; lost: ${lost}; refused: ${refusedOnly}; nothing there (sharedfile, no VM): ${idle}; starts: ${starts}${ok ? '' : `; CHECK FAILED: ${bad.slice(0, 3).join('; ')}${bad.length > 3 ? `; ${bad.length - 3} more` : ''}`}` };
}

const countBy = (actions: readonly Action[]): string =>
  Object.entries(actions.reduce<Record<string, number>>((acc, a) => ((acc[a.verb] = (acc[a.verb] ?? 0) + 1), acc), {}))
    .sort(([a], [b]) => a.localeCompare(b)).map(([v, n]) => `${v}=${n}`).join(' ');
const planNote = (p: Plan): string => `${p.actions.length} actions in ${p.waves.length} waves, ${p.refused.length} refused, ${p.entries.length} entries${p.actions.length ? `; ${countBy(p.actions)}` : ''}`;

const PV_MIB = 8 * 1024 * 1024;
const blockDevices = { '/dev/sdb': PV_MIB, '/dev/sdc': PV_MIB };
const simFrom = (o: ObservedCluster): SimCluster => {
  const drbd = simDrbdSeed(input, o);
  return new SimCluster([...o.nodes.values()].map((n) => initFromObserved(n, blockDevices, drbd.get(n.name))));
};
const req = (i: PlanInput): ObserveRequest => ({
  sysctls: [...new Set(i.nodes.flatMap((n) => Object.keys(n.profile.sysctls)))],
  fileDirs: [i.cluster.sharedFileStorageDir],
  drbd: i.instances.some((x) => x.diskTemplate === 'drbd'),
});

/** Apply a plan wave by wave (actions of a wave concurrently); returns the failures. */
async function applyPlan(sim: SimCluster, p: Plan): Promise<ActionResult[]> {
  const failed: ActionResult[] = [];
  for (const wave of p.waves) for (const r of await Promise.all(wave.map((a) => sim.run(a)))) if (!r.ok) failed.push(r);
  return failed;
}
const failNote = (p: Plan) => (failed: ActionResult[]): string =>
  `${p.actions.length} actions, ${failed.length} failed${failed.length ? ` (first: ${failed[0]!.action.verb} ${failed[0]!.error?.code}: ${failed[0]!.error?.message})` : ''}`;

const input = measure('build desired (PlanInput)', () => genDesired(spec), 1, (i) => `${i.nodes.length} nodes, ${i.instances.length} instances (${i.instances.filter((x) => x.diskTemplate === 'drbd').length} DRBD)${spec.runtime ? ' with QEMU runtime' : ''}`);
// With --runtime the starting point is nodes with their profile but no instance yet: the
// first plan creates the disks, installs and starts (the planner refuses to install over
// disks that exist without an instance record, so "disks but no VMs" is not a start state).
const base = measure(spec.runtime ? 'build observed (profile only, no instances yet)' : 'build observed (converged)', () => genObserved(spec.runtime ? { ...input, instances: [] } : input), 1, (o) => {
  let lvs = 0;
  let files = 0;
  let drbd = 0;
  for (const n of o.nodes.values()) {
    lvs += Object.keys(n.lvs).length;
    files += Object.keys(n.files).length;
    drbd += Object.keys(n.drbd?.devices ?? {}).length;
  }
  return `${o.nodes.size} nodes, ${lvs} LVs, ${files} files, ${drbd} DRBD devices`;
});

let observed = base;
if (spec.runtime) {
  const first = measure('plan first start (disks + install + start)', () => plan(input, base), 1, planNote);
  const sim0 = measure('load simulator', () => simFrom(base), 1, (c) => `${c.nodes.size} nodes`);
  await measureAsync('apply first start on simulator', () => applyPlan(sim0, first), failNote(first));
  observed = await measureAsync('observe simulator (converged)', () => sim0.observe(req(input)), (o) => {
    let vms = 0;
    for (const n of o.nodes.values()) vms += Object.keys(n.instances).length;
    return `${o.nodes.size} nodes, ${vms} VMs`;
  });
}
const converged = measure('plan converged', () => plan(input, observed), runs, planNote);
// The daemon (`gantry run`) plans incrementally (plan/plan-cache): its first pass is a full
// plan that records what each instance read; each later pass reuses the instances whose
// reads did not change. Its next observation is new snapshot objects with the same content
// (each node's digest is computed again, as in the daemon).
const incNote = (r: IncrementalPlan): string => `${planNote(r.plan)}; instances reused ${r.stats.reused}, planned ${r.stats.planned}${Object.keys(r.stats.why).length ? ` (${Object.entries(r.stats.why).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`;
const reobserve = (o: ObservedCluster): ObservedCluster => ({ ...o, nodes: new Map([...o.nodes].map(([k, v]) => [k, structuredClone(v)])) });
const firstPass = measure('plan converged (incremental, first pass: full, reads recorded)', () => planIncremental(input, observed, undefined), 1, incNote);
const nextObserved = reobserve(observed);
const replanConverged = measure('replan converged (incremental)', () => planIncremental(input, nextObserved, firstPass.cache), runs, incNote);
// A dead node (issue 10 item 9): one node declared offline with failover on; its instances
// are replanned (DRBD promoted on the secondary, sharedfile on the allocator's node, plain lost).
const dead = measure('declare a node offline (failover on)', () => deadNode(input, observed), 1, (c) => `${c.node}: primary of ${c.instances.length} instances (${templates(c.instances)})`);
const allocator: PlanOptions['allocator'] = (i, o, located) => makeAllocator(i, o, { groups: [...new Set(i.nodes.map((n) => n.group))].map((name) => ({ name, allocPolicy: 'preferred' as const })), volumeGroup: 'xenvg' }, located);
const deadPlan = measure('plan dead node (failover)', () => plan(dead.input, dead.observed, { allocator }), runs, (p) => `${planNote(p)}; ${deadCheck(dead, p).note}`);
// The pass before the death, as the daemon planned it: the same cluster with the node alive
// (the survivors already list the shared images, as a real probe of the shared directory does).
const aliveRole = input.nodes.find((n) => n.name === dead.node)!.role;
const beforeDeath: PlanInput = { ...dead.input, nodes: dead.input.nodes.map((n) => (n.name === dead.node ? { ...n, role: aliveRole } : n)) };
const beforeDeathObs: ObservedCluster = { ...observed, nodes: new Map([...observed.nodes].map(([k, v]) => [k, k === dead.node ? v : { ...v, files: dead.observed.nodes.get(k)!.files }])) };
const alivePass = planIncremental(beforeDeath, beforeDeathObs, undefined, { allocator });
const replanDead = measure('replan dead node (incremental)', () => planIncremental(dead.input, dead.observed, alivePass.cache, { allocator }), runs, (r) => `${incNote(r)}; ${deadCheck(dead, r.plan).note}`);
const drifted = measure('drift observed', () => drift(observed, driftFraction, spec.seed), 1, (d) => `${d.objects} objects: ${d.missing} missing, ${d.different} different`);
const driftPlan = measure('plan drifted', () => plan(input, drifted.observed), runs, planNote);

let replan: Plan | undefined;
if (!flag('no-apply')) {
  const sim = measure('load simulator from drifted', () => simFrom(drifted.observed), 1, (c) => `${c.nodes.size} nodes`);
  await measureAsync('apply drifted plan on simulator', () => applyPlan(sim, driftPlan), failNote(driftPlan));
  const after = await measureAsync('observe simulator', () => sim.observe(req(input)), (o: ObservedCluster) => `${o.nodes.size} nodes`);
  replan = measure('re-plan after apply', () => plan(input, after), 1, planNote);
}

const machine = {
  cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};
const planHash = (p: Plan): string => createHash('sha256').update(JSON.stringify(p)).digest('hex').slice(0, 16);
const hashes: Record<string, string> = { converged: planHash(converged), dead: planHash(deadPlan), drifted: planHash(driftPlan), ...(replan ? { replan: planHash(replan) } : {}) };
// The incremental plans must be the full plans (same JSON).
const incrementalHashes = { firstPass: planHash(firstPass.plan), replanConverged: planHash(replanConverged.plan), replanDead: planHash(replanDead.plan) };
const expectArg = argv.indexOf('--expect-hashes');
const expected = expectArg >= 0 ? Object.fromEntries((argv[expectArg + 1] ?? '').split(',').map((kv) => kv.split('=') as [string, string])) : undefined;
const checks = {
  convergedPlanEmpty: converged.actions.length === 0 && converged.refused.length === 0,
  driftedPlanNonEmpty: driftPlan.actions.length > 0,
  deadNodeReplanned: deadCheck(dead, deadPlan).ok,
  incrementalEqualsFull: incrementalHashes.firstPass === hashes.converged && incrementalHashes.replanConverged === hashes.converged && incrementalHashes.replanDead === hashes.dead,
  ...(expected ? { plansAsExpected: Object.entries(expected).every(([k, h]) => hashes[k] === h) } : {}),
  ...(replan ? { replanAfterApplyEmpty: replan.actions.length === 0 && replan.refused.length === 0 } : {}),
};

if (flag('json')) {
  console.log(JSON.stringify({ spec, driftFraction, runs, machine, rows, hashes, incrementalHashes, checks }, null, 2));
} else {
  console.log(`bench:plan  ${JSON.stringify(spec)} drift=${driftFraction} runs=${runs}`);
  console.log(`machine     ${machine.cpus}, ${machine.memGiB} GiB, Node ${machine.node}, ${machine.platform}\n`);
  console.log('| phase | wall ms (median) | CPU ms | heap used MiB | heap Δ MiB | RSS MiB | peak RSS MiB | notes |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(`| ${r.phase} | ${r.wallMs}${r.runsMs ? ` (${r.runsMs.join(', ')})` : ''} | ${r.cpuMs} | ${r.heapUsedMiB} | ${r.heapDeltaMiB} | ${r.rssMiB} | ${r.peakRssMiB} | ${r.note ?? ''} |`);
  }
  console.log(`\nplan hashes: ${Object.entries(hashes).map(([k, h]) => `${k}=${h}`).join(',')}`);
  console.log(`incremental plan hashes: ${Object.entries(incrementalHashes).map(([k, h]) => `${k}=${h}`).join(',')}`);
  console.log(`checks: ${JSON.stringify(checks)}`);
}
if (!Object.values(checks).every(Boolean)) process.exitCode = 1;
