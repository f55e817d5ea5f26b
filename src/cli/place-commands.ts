/**
 * `gantry balance`, `gantry capacity`, `gantry iallocator`: the placement engine
 * (src/place) on htools text files and IAllocator requests, so its answers can be
 * compared with hbal, hspace and hail. File reads and writes live here; the
 * engine is pure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Command, Option } from 'commander';
import { formatLoadError } from '../desired/errors.js';
import type { loadSet } from '../desired/load.js';
import type { PlacementEdit } from './manifest-edits.js';
import { clusterFromDesired, nodeFactsFromObserved, type NodeFacts } from '../place/from-desired.js';
import {
  answerRequestText, balance, balanceGroups, capacity, machineReadable, parseSpec, parseText, serializeText,
  type BalanceOptions, type BalanceResult, type CapacityResult, type DiskTemplate, type PlaceCluster,
  DISK_TEMPLATES,
} from '../place/index.js';

export interface PlaceIo {
  out(text: string): void;
  err(text: string): void;
  readFile(path: string): string;
  writeFile(path: string, text: string): void;
  readStdin(): string;
  now(): number;
  loadManifests(paths: string[]): ReturnType<typeof loadSet>;
}

export const placeProcessIo: PlaceIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  readFile: (p) => readFileSync(p, 'utf8'),
  writeFile: (p, t) => writeFileSync(p, t),
  readStdin: () => readFileSync(0, 'utf8'),
  now: () => performance.now(),
  // yaml and the validators load only for the commands that read manifests (not iallocator)
  loadManifests: async (paths) => (await import('../desired/load.js')).loadSet(paths),
};

class CliError extends Error {}

// ---------------------------------------------------------------- parallel balancing
interface WorkerJob {
  readonly gantryPlaceWorker: true;
  readonly text: string;
  readonly groups: readonly string[];
  readonly opts: BalanceOptions;
}

if (!isMainThread && (workerData as Partial<WorkerJob> | null)?.gantryPlaceWorker) {
  const job = workerData as WorkerJob;
  const opts: BalanceOptions = { ...job.opts, ...(job.opts.timeLimitMs !== undefined ? { now: () => performance.now() } : {}) };
  const r = balanceGroups(parseText(job.text), job.groups, opts);
  parentPort!.postMessage(r);
}

/** Where tsx's loader API lives (workers must register it to run TypeScript). */
function tsxApiUrl(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    // some runners (vitest) lack import.meta.resolve: take the ESM twin of the CJS entry
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  }
}

/**
 * Balances the groups of an htools text cluster on `jobs` worker threads (groups
 * are independent). Same result as `balance`; functions in `opts` are dropped.
 */
export async function balanceParallel(text: string, opts: BalanceOptions, jobs: number): Promise<BalanceResult> {
  const cluster = parseText(text);
  const groups = cluster.groups.filter((g) => opts.group === undefined || opts.group === g.name || opts.group === g.uuid);
  if (jobs <= 1 || groups.length <= 1) return balance(cluster, opts);
  // biggest groups first, each to the least loaded worker
  const byGroup = new Map<string, number>();
  const groupOfNode = new Map(cluster.nodes.map((n) => [n.name, n.group]));
  for (const i of cluster.instances) {
    const g = groupOfNode.get(i.pNode)!;
    byGroup.set(g, (byGroup.get(g) ?? 0) + 1);
  }
  const buckets = Array.from({ length: Math.min(jobs, groups.length) }, () => ({ load: 0, groups: [] as string[] }));
  for (const g of [...groups].sort((a, b) => (byGroup.get(b.uuid) ?? 0) - (byGroup.get(a.uuid) ?? 0))) {
    const b = buckets.reduce((x, y) => (y.load < x.load ? y : x));
    b.groups.push(g.name);
    b.load += byGroup.get(g.uuid) ?? 0;
  }
  const { now: _n, onMove: _o, ...plain } = opts;
  void _n; void _o;
  const api = tsxApiUrl();
  const boot = `(async () => { const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(import.meta.url)}); })().catch((e) => { console.error(e); process.exit(1); });`;
  const parts = await Promise.all(buckets.map((b) => new Promise<BalanceResult>((resolve, reject) => {
    const w = new Worker(boot, { eval: true, workerData: { gantryPlaceWorker: true, text, groups: b.groups, opts: plain } satisfies WorkerJob });
    w.once('message', (m: BalanceResult) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`balance worker exited with ${code}`)); });
  })));
  // merge: every node and instance comes from the worker that owned its group
  const owner = new Map<string, number>();
  buckets.forEach((b, k) => { for (const g of b.groups) owner.set(cluster.groups.find((x) => x.name === g)!.uuid, k); });
  const nodes = cluster.nodes.map((n, k) => { const o = owner.get(n.group); return o === undefined ? n : parts[o]!.cluster.nodes[k]!; });
  const instances = cluster.instances.map((inst, k) => {
    const o = owner.get(groupOfNode.get(inst.pNode)!);
    return o === undefined ? inst : parts[o]!.cluster.instances[k]!;
  });
  const order = new Map(cluster.groups.map((g, k) => [g.name, k]));
  const outGroups = parts.flatMap((p) => p.groups).sort((a, b) => order.get(a.group)! - order.get(b.group)!);
  return { cluster: { ...cluster, nodes, instances }, groups: outGroups, moves: outGroups.flatMap((g) => g.moves) };
}

function loadText(io: PlaceIo, path: string): PlaceCluster {
  let text: string;
  try {
    text = path === '-' ? io.readStdin() : io.readFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseText(text);
  } catch (e) {
    throw new CliError(`failed to load data from ${path}: ${(e as Error).message}`);
  }
}

function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new CliError(`${name}: not a number: ${v}`);
    return n;
  };
}

interface BalanceFlags {
  textData?: string;
  write?: string;
  group?: string;
  maxLength?: number;
  minGain?: number;
  minGainLimit?: number;
  minScore?: number;
  ignoreSoftErrors?: boolean;
  evacMode?: boolean;
  diskMoves?: boolean;
  instanceMoves?: boolean;
  restrictedMigration?: boolean;
  excludeInstances?: string;
  exclusionTags?: string;
  strategy?: 'lazy' | 'rounds' | 'steepest';
  timeLimit?: number;
  printCommands?: boolean;
  json?: boolean;
  quiet?: boolean;
  file?: string[];
  nodeFacts?: string;
  live?: boolean;
  cached?: boolean;
  stateDir?: string;
  apply?: boolean;
  jobs?: number;
}

export function formatBalance(r: BalanceResult, printCommands: boolean): string {
  const lines: string[] = [];
  for (const g of r.groups) {
    lines.push(`Group ${g.group}: initial score ${g.initialScore.toFixed(8)}`);
    g.moves.forEach((m, i) => {
      const from = `${m.from.primary}:${m.from.secondary ?? ''}`;
      const to = `${m.to.primary}:${m.to.secondary ?? ''}`;
      lines.push(`  ${String(i + 1).padStart(4)}. ${m.instance} ${from} => ${to} ${m.score.toFixed(8)} a=${m.notation} wave=${m.wave + 1}`);
    });
    lines.push(g.moves.length
      ? `Group ${g.group}: score improved from ${g.initialScore.toFixed(8)} to ${g.finalScore.toFixed(8)} in ${g.moves.length} moves, ${g.waves} waves${g.converged ? '' : ' (stopped before convergence)'}`
      : `Group ${g.group}: no improving move (score ${g.finalScore.toFixed(8)})`);
    if (printCommands && g.moves.length) {
      lines.push('Commands to run to reach the above solution:');
      let wave = -1;
      for (const m of g.moves) {
        if (m.wave !== wave) {
          wave = m.wave;
          lines.push(`  echo jobset ${wave + 1}, ${g.moves.filter((x) => x.wave === wave).length} jobs`);
        }
        lines.push(`    echo job ${m.instance}`);
        for (const c of m.commands) lines.push(`    ${c}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

function balanceOptions(io: PlaceIo, f: BalanceFlags): BalanceOptions {
  return {
    ...(f.group !== undefined ? { group: f.group } : {}),
    ...(f.maxLength !== undefined && f.maxLength >= 0 ? { maxMoves: f.maxLength } : {}),
    minGain: f.minGain ?? 0.01,
    minGainLimit: f.minGainLimit ?? 0.1,
    ...(f.minScore !== undefined ? { minScore: f.minScore } : {}),
    ignoreSoftErrors: f.ignoreSoftErrors ?? false,
    evacMode: f.evacMode ?? false,
    noDiskMoves: f.diskMoves === false,
    noInstanceMoves: f.instanceMoves === false,
    restrictedMigration: f.restrictedMigration ?? false,
    excludeInstances: (f.excludeInstances ?? '').split(',').filter(Boolean),
    exclusionTags: (f.exclusionTags ?? '').split(',').filter(Boolean),
    strategy: f.strategy ?? 'rounds',
    ...(f.timeLimit !== undefined ? { timeLimitMs: f.timeLimit * 1000, now: io.now } : {}),
  };
}

async function runBalance(io: PlaceIo, f: BalanceFlags): Promise<number> {
  if (!f.textData) throw new CliError('balance needs -t FILE (htools text data) or -f PATH (manifests)');
  const c = loadText(io, f.textData);
  const opts = balanceOptions(io, f);
  if (f.group !== undefined && !c.groups.some((g) => g.name === f.group || g.uuid === f.group)) {
    throw new CliError(`unknown group '${f.group}'`);
  }
  const jobs = f.jobs ?? Math.min(availableParallelism(), c.groups.length);
  const r = jobs > 1 && c.groups.length > 1
    ? await balanceParallel(serializeText(c), opts, jobs)
    : balance(c, opts);
  if (f.json) io.out(`${JSON.stringify({ groups: r.groups }, null, 2)}\n`);
  else if (!f.quiet) io.out(formatBalance(r, f.printCommands ?? false));
  if (f.write) {
    io.writeFile(f.write, serializeText(r.cluster));
    if (!f.json && !f.quiet) io.out(`The cluster state after balancing has been written to ${f.write}\n`);
  }
  return 0;
}

async function runBalanceManifests(io: PlaceIo, f: BalanceFlags): Promise<number> {
  const paths = f.file ?? [];
  const { state, errors } = await io.loadManifests(paths);
  if (!state) {
    for (const e of errors) io.err(`${formatLoadError(e)}\n`);
    throw new CliError(`cannot balance: ${errors.length} error(s) in the manifests`);
  }
  let facts: Record<string, NodeFacts> = {};
  if (f.live || f.cached) {
    facts = await observedNodeFacts(state, f);
  } else if (f.nodeFacts) {
    try {
      facts = JSON.parse(io.readFile(f.nodeFacts)) as Record<string, NodeFacts>;
    } catch (e) {
      throw new CliError(`cannot read node facts ${f.nodeFacts}: ${(e as Error).message}`);
    }
  }
  const { cluster, unplaced, skipped } = clusterFromDesired(state, facts);
  for (const s of skipped) io.err(`gantry: ${s.kind}/${s.name} left out: ${s.reason}\n`);
  const r = balance(cluster, balanceOptions(io, f));
  // net effect per instance: where it is at the end
  const before = new Map(cluster.instances.map((i) => [i.name, i]));
  const edits = new Map<string, PlacementEdit>();
  for (const i of r.cluster.instances) {
    const b = before.get(i.name);
    if (!b || (b.pNode === i.pNode && b.sNode === i.sNode)) continue;
    edits.set(i.name, { primary: i.pNode, ...(i.sNode !== null ? { secondary: i.sNode } : {}) });
  }
  if (f.json) io.out(`${JSON.stringify({ groups: r.groups, unplaced, edits: Object.fromEntries(edits) }, null, 2)}\n`);
  else if (!f.quiet) io.out(formatBalance(r, f.printCommands ?? false));
  if (unplaced.length && !f.quiet && !f.json) io.out(`Not balanced (no placement in the manifests): ${unplaced.join(', ')}\n`);
  const byFile = new Map<string, Map<string, PlacementEdit>>();
  for (const [name, e] of edits) {
    const src = state.sources.get(`Instance/${name}`);
    if (!src) continue;
    const m = byFile.get(src.file) ?? new Map<string, PlacementEdit>();
    m.set(name, e);
    byFile.set(src.file, m);
  }
  const { applyPlacementEdits, unifiedDiff } = await import('./manifest-edits.js');
  for (const [file, m] of [...byFile].sort((a, b) => a[0].localeCompare(b[0]))) {
    const old = io.readFile(file);
    const next = applyPlacementEdits(old, m);
    if (f.apply) {
      io.writeFile(file, next);
      if (!f.quiet && !f.json) io.out(`updated ${file} (${m.size} instance(s))\n`);
    } else if (!f.json) io.out(unifiedDiff(file, old, next));
  }
  if (!f.apply && edits.size > 0 && !f.quiet && !f.json) io.out('Review the diff above, then run again with --apply (or apply it and commit).\n');
  return 0;
}

interface CapacityFlags {
  textData?: string;
  machineReadable?: boolean;
  standardAlloc?: string;
  tieredAlloc?: string;
  diskTemplate?: DiskTemplate;
  capacityChecks?: boolean;
  maxLength?: number;
  json?: boolean;
}

export function formatCapacity(r: CapacityResult): string {
  const lines: string[] = [];
  lines.push(`Cluster: ${r.cluster.nodes} nodes, ${r.cluster.mem} MiB memory, ${r.cluster.dsk} MiB disk, ${r.cluster.cpu} CPUs`);
  lines.push(`Initial: ${r.initial.instances} instances, score ${r.initial.score.toFixed(8)}`);
  if (r.error) lines.push(`Error: ${r.error}`);
  if (r.tiered) {
    const t = r.tiered;
    lines.push(`Tiered allocation (${t.diskTemplate}): ${t.allocated} more instances`);
    for (const x of t.tiers) lines.push(`  ${x.count} x mem ${x.spec.memoryMiB} MiB, disk ${x.spec.diskMiB} MiB, ${x.spec.vcpus} vCPUs`);
  }
  if (r.standard) {
    const s = r.standard;
    lines.push(`Standard allocation (${s.diskTemplate}, mem ${s.spec.memoryMiB} MiB, disk ${s.spec.diskMiB} MiB, ${s.spec.vcpus} vCPUs): ${s.allocated} more instances`);
    const why = Object.entries(s.fails).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
    lines.push(`  stopped because: ${s.reason}${why ? ` (failures: ${why})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

function runCapacity(io: PlaceIo, f: CapacityFlags): number {
  if (!f.textData) throw new CliError('capacity needs -t FILE (htools text data)');
  const c = loadText(io, f.textData);
  const su = c.ipolicy.std.spindleUse;
  let standard, tiered;
  try {
    standard = f.standardAlloc ? parseSpec(f.standardAlloc, su) : undefined;
    tiered = f.tieredAlloc ? parseSpec(f.tieredAlloc, c.ipolicy.minMax[0]?.max.spindleUse ?? su) : undefined;
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const r = capacity(c, {
    ...(standard ? { standard } : {}), ...(tiered ? { tiered } : {}),
    ...(f.diskTemplate ? { diskTemplate: f.diskTemplate } : {}),
    capacity: f.capacityChecks !== false,
    ...(f.maxLength !== undefined && f.maxLength >= 0 ? { maxAllocations: f.maxLength } : {}),
  });
  if (f.json) io.out(`${JSON.stringify(r, null, 2)}\n`);
  else if (f.machineReadable) io.out(machineReadable(r));
  else io.out(formatCapacity(r));
  return r.error ? 1 : 0;
}

function runIallocator(io: PlaceIo, path: string): number {
  let text: string;
  try {
    text = path === '-' ? io.readStdin() : io.readFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  io.out(`${answerRequestText(text)}\n`);
  return 0;
}

function wrap(io: PlaceIo, fn: () => number): void {
  try {
    const code = fn();
    if (code !== 0) process.exitCode = code;
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`gantry: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

async function wrapAsync(io: PlaceIo, fn: () => Promise<number>): Promise<void> {
  try {
    const code = await fn();
    if (code !== 0) process.exitCode = code;
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`gantry: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

/** Adds `balance`, `capacity` and `iallocator` to the gantry program. */
export function registerPlaceCommands(program: Command, io: PlaceIo = placeProcessIo): void {
  program
    .command('balance')
    .description('propose (and write) instance moves that balance the cluster, like hbal')
    .option('-t, --text-data <file>', 'htools text data file (as read by hbal -t)')
    .option('-f, --file <path>', 'manifest directory or file (manifest mode; repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--node-facts <file>', 'manifest mode: JSON {node: {memoryMiB, freeMemoryMiB, diskMiB, freeDiskMiB, cpus}} of observed sizes')
    .option('--live', 'manifest mode: observe the nodes now (SSH) for their memory, CPUs and volume group sizes')
    .option('--cached', 'manifest mode: take node sizes from the last observation in --state-dir')
    .option('--state-dir <dir>', 'with --cached: the state directory', '/var/lib/gantry')
    .option('--apply', 'manifest mode: write the new placements into the manifests instead of printing a diff')
    .option('--write <file>', 'write the balanced cluster in htools text format (like hbal --save-cluster)')
    .option('-G, --group <name>', 'only balance this node group (name or UUID); default every group')
    .option('-l, --max-length <n>', 'at most this many moves per group', num('--max-length'))
    .option('-g, --min-gain <delta>', 'below --min-gain-limit, stop when a move gains less than this (default 0.01)', num('--min-gain'))
    .option('--min-gain-limit <score>', 'score under which --min-gain applies (default 0.1)', num('--min-gain-limit'))
    .option('-e, --min-score <score>', 'stop when the score is at or below this (default 1e-9)', num('--min-score'))
    .option('--ignore-soft-errors', 'ignore soft restrictions (N+1, vCPU ratio, tags) when moving')
    .option('-E, --evac-mode', 'only move instances off offline/drained nodes')
    .option('--no-disk-moves', 'only failovers (no secondary changes)')
    .option('--no-instance-moves', 'only secondary changes (no failovers)')
    .option('--restricted-migration', 'no replace-primary moves')
    .option('--exclude-instances <list>', 'comma-separated instances never moved')
    .option('--exclusion-tags <list>', 'comma-separated extra exclusion tag prefixes')
    .addOption(new Option('--strategy <s>', 'search: rounds (best moves on disjoint nodes per round), steepest (exactly hbal), lazy (fastest)')
      .choices(['rounds', 'steepest', 'lazy']).default('rounds'))
    .option('--time-limit <seconds>', 'stop searching after this many seconds', num('--time-limit'))
    .option('-C, --print-commands', 'print the Ganeti commands, grouped in parallel jobsets')
    .option('--json', 'print the moves as JSON')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText('after', '\nExamples:\n  gantry balance -t cluster.data\n  gantry balance -t cluster.data --write balanced.data -C\n  gantry balance -f manifests/ --node-facts facts.json          # prints a diff of spec.placement\n  gantry balance -f manifests/ --node-facts facts.json --apply\n  gantry balance -f manifests/ --live                            # node sizes observed over SSH\n')
    .option('-j, --jobs <n>', 'balance groups on this many threads (default: one per core, at most one per group)', num('--jobs'))
    .action(async (f: BalanceFlags) => {
      if (f.file && f.file.length > 0 && !f.textData) await wrapAsync(io, () => runBalanceManifests(io, f));
      else await wrapAsync(io, () => runBalance(io, f));
    });

  program
    .command('capacity')
    .description('how many more instances of a spec fit, and why it stops (like hspace)')
    .option('-t, --text-data <file>', 'htools text data file')
    .option('--machine-readable', "print hspace's HTS_* keys")
    .option('--standard-alloc <spec>', "standard spec 'disk,ram,cpu[,spindles]' (default: the policy's std spec)")
    .option('--tiered-alloc <spec>', "tiered start spec 'disk,ram,cpu[,spindles]' (default: the policy's max spec)")
    .addOption(new Option('--disk-template <t>', "disk template (default: the policy's first)").choices([...DISK_TEMPLATES]))
    .option('--no-capacity-checks', 'do not require global N+1 redundancy after each allocation')
    .option('-l, --max-length <n>', 'at most this many allocations per mode', num('--max-length'))
    .option('--json', 'print the full result as JSON')
    .addHelpText('after', "\nExamples:\n  gantry capacity -t cluster.data --machine-readable\n  gantry capacity -t cluster.data --standard-alloc=10240,2048,2\n")
    .action((f: CapacityFlags) => wrap(io, () => runCapacity(io, f)));

  program
    .command('iallocator')
    .description("answer a Ganeti IAllocator request (allocate, relocate, node-evacuate, change-group, multi-allocate), like hail")
    .argument('<request>', 'request JSON file, or - for stdin')
    .addHelpText('after', '\nInstall as an external allocator: a wrapper script running `gantry iallocator "$1"` in\n/usr/lib/ganeti/iallocators, then gnt-instance add -I <name> ...\n')
    .action((path: string) => wrap(io, () => runIallocator(io, path)));
}

/** Node sizes from the nodes themselves (live, over SSH) or from the last observation. */
async function observedNodeFacts(state: import('../desired/model.js').DesiredState, f: BalanceFlags): Promise<Record<string, NodeFacts>> {
  let observed: import('../core/plan.js').ObservedCluster;
  if (f.cached) {
    const { readObserved } = await import('../status/state-dir.js');
    const snap = await readObserved(f.stateDir ?? '/var/lib/gantry');
    if (!snap) throw new CliError(`no observation in ${f.stateDir ?? '/var/lib/gantry'}: run gantry plan/apply first, or use --live`);
    observed = snap.observed;
  } else {
    const { connectNodes } = await import('../execute/connect.js');
    const { observeCluster } = await import('../observe/observe-cluster.js');
    const { createLogger } = await import('../util/log.js');
    const conn = await connectNodes(state, { logger: createLogger({ level: process.env.GANTRY_LOG_LEVEL ?? 'warn' }) });
    try {
      observed = await observeCluster(state, conn.ops);
    } finally {
      await conn.close();
    }
  }
  return nodeFactsFromObserved(state, observed);
}
