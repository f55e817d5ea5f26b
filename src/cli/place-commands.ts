/**
 * `gantry balance`, `gantry capacity`, `gantry iallocator`: the placement engine
 * (src/place) on htools text files and IAllocator requests, so its answers can be
 * compared with hbal, hspace and hail. File reads and writes live here; the
 * engine is pure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  answerRequestText, balance, capacity, machineReadable, parseSpec, parseText, serializeText,
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
}

export const placeProcessIo: PlaceIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  readFile: (p) => readFileSync(p, 'utf8'),
  writeFile: (p, t) => writeFileSync(p, t),
  readStdin: () => readFileSync(0, 'utf8'),
  now: () => performance.now(),
};

class CliError extends Error {}

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
  file?: string;
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

function runBalance(io: PlaceIo, f: BalanceFlags): number {
  if (!f.textData) {
    throw new CliError(f.file
      ? 'balance -f: manifest mode is not available yet (src/place/from-desired.ts); use -t with an htools text file'
      : 'balance needs -t FILE (htools text data)');
  }
  const c = loadText(io, f.textData);
  const opts: BalanceOptions = {
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
  if (f.group !== undefined && !c.groups.some((g) => g.name === f.group || g.uuid === f.group)) {
    throw new CliError(`unknown group '${f.group}'`);
  }
  const r = balance(c, opts);
  if (f.json) io.out(`${JSON.stringify({ groups: r.groups }, null, 2)}\n`);
  else if (!f.quiet) io.out(formatBalance(r, f.printCommands ?? false));
  if (f.write) {
    io.writeFile(f.write, serializeText(r.cluster));
    if (!f.json && !f.quiet) io.out(`The cluster state after balancing has been written to ${f.write}\n`);
  }
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

/** Adds `balance`, `capacity` and `iallocator` to the gantry program. */
export function registerPlaceCommands(program: Command, io: PlaceIo = placeProcessIo): void {
  program
    .command('balance')
    .description('propose (and write) instance moves that balance the cluster, like hbal')
    .option('-t, --text-data <file>', 'htools text data file (as read by hbal -t)')
    .option('-f, --file <path>', 'manifest directory or file (manifest mode; not available yet)')
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
    .addHelpText('after', '\nExamples:\n  gantry balance -t cluster.data\n  gantry balance -t cluster.data --write balanced.data -C\n')
    .action((f: BalanceFlags) => wrap(io, () => runBalance(io, f)));

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
