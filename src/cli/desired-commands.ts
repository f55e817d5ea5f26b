/**
 * `gantry validate`, `gantry show`, `gantry list`: read-only commands over the desired
 * state in manifest files. Results go to stdout, errors to stderr; exit 1 on any error.
 */
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { discoverSets } from '../desired/sets.js';
import { formatLoadError, loadSet } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import type { Kind } from '../api/index.js';
import { LISTS, renderTable, type ListKind } from './columns.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

const collect = (v: string, prev: string[] = []) => [...prev, v];

const KIND_ALIASES: Record<string, Kind> = {
  cluster: 'Cluster', clusters: 'Cluster',
  group: 'NodeGroup', groups: 'NodeGroup', nodegroup: 'NodeGroup', nodegroups: 'NodeGroup', ng: 'NodeGroup',
  node: 'Node', nodes: 'Node',
  network: 'Network', networks: 'Network', net: 'Network',
  instance: 'Instance', instances: 'Instance', inst: 'Instance', vm: 'Instance',
};

type Format = 'table' | 'json' | 'yaml';

function dump(value: unknown, format: 'json' | 'yaml'): string {
  const plainValue = JSON.parse(JSON.stringify(value, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v))) as unknown;
  return format === 'json' ? `${JSON.stringify(plainValue, null, 2)}\n` : stringify(plainValue, { lineWidth: 0 });
}

/** validate: every set under the paths; 0 when all are valid. */
export async function runValidate(paths: string[], opts: { quiet?: boolean }, io: CliIo = processIo): Promise<number> {
  const sets = await discoverSets(paths);
  let failed = 0;
  for (const set of sets) {
    const { state, errors } = await loadSet(set.paths);
    if (errors.length) {
      failed++;
      for (const e of errors) io.err(`${formatLoadError(e)}\n`);
      io.err(`${set.name}: ${errors.length} error${errors.length === 1 ? '' : 's'}\n`);
    } else if (state && !opts.quiet) {
      io.out(`${set.name}: valid (cluster ${state.cluster.name}: ${state.groups.size} groups, ${state.nodes.size} nodes, ${state.networks.size} networks, ${state.instances.size} instances)\n`);
    }
  }
  return failed ? 1 : 0;
}

/** Load exactly one set for show/list, or report why not. */
async function loadOne(paths: string[], io: CliIo) {
  const sets = await discoverSets(paths);
  if (sets.length !== 1) {
    io.err(`${paths.join(' ')} holds ${sets.length} manifest sets (${sets.map((s) => s.name).join(', ')}): pass one with -f\n`);
    return undefined;
  }
  const loaded = await loadSet(sets[0]!.paths);
  if (!loaded.state) {
    for (const e of loaded.errors) io.err(`${formatLoadError(e)}\n`);
    io.err(`${sets[0]!.name}: ${loaded.errors.length} error(s); fix them first (gantry validate)\n`);
    return undefined;
  }
  return { state: loaded.state, resources: loaded.resources };
}

function effectiveOf(state: DesiredState, kind: Kind, name: string): unknown {
  switch (kind) {
    case 'Cluster': return state.cluster.name === name ? state.cluster : undefined;
    case 'NodeGroup': return state.groups.get(name);
    case 'Node': return state.nodes.get(name);
    case 'Network': return state.networks.get(name);
    case 'Instance': return state.instances.get(name);
  }
}

export async function runShow(ref: string, opts: { file: string[]; effective?: boolean; output?: string }, io: CliIo = processIo): Promise<number> {
  const [rawKind, ...rest] = ref.split('/');
  const kind = KIND_ALIASES[(rawKind ?? '').toLowerCase()];
  if (!kind) {
    io.err(`unknown kind "${rawKind}" in "${ref}": use cluster, group, node, network or instance (e.g. instance/web1)\n`);
    return 1;
  }
  const format = opts.output === 'json' ? 'json' : 'yaml';
  const loaded = await loadOne(opts.file, io);
  if (!loaded) return 1;
  const name = rest.join('/') || (kind === 'Cluster' ? loaded.state.cluster.name : '');
  if (!name) { io.err(`give a name: ${rawKind}/NAME\n`); return 1; }
  const resource = loaded.resources.find((r) => r.kind === kind && r.name === name);
  const effective = effectiveOf(loaded.state, kind, name);
  if (!effective) {
    const names = loaded.resources.filter((r) => r.kind === kind).map((r) => r.name);
    io.err(`${kind} "${name}" not found${names.length ? ` (have: ${names.join(', ')})` : ''}\n`);
    return 1;
  }
  if (opts.effective) {
    io.out(dump(effective, format));
  } else if (resource) {
    io.out(dump(resource.body, format));
  } else {
    // the implicit "default" group has no manifest
    io.out(dump(effective, format));
  }
  return 0;
}

export async function runList(what: string, opts: { file: string[]; fields?: string; headers?: boolean; output?: string }, io: CliIo = processIo): Promise<number> {
  const key = (what === 'nodegroups' ? 'groups' : what) as ListKind;
  const spec = LISTS[key];
  if (!spec) { io.err(`cannot list "${what}": use nodes, instances, networks or groups\n`); return 1; }
  const columns = spec.columns as Record<string, { title: string; get: (i: never, s: DesiredState) => unknown }>;
  const fields = opts.fields ? opts.fields.split(',').map((f) => f.trim()).filter(Boolean) : [...spec.defaults];
  const unknownFields = fields.filter((f) => !(f in columns));
  if (unknownFields.length) {
    io.err(`unknown field(s) ${unknownFields.join(', ')}; fields for ${key}: ${Object.keys(columns).join(', ')}\n`);
    return 1;
  }
  const format = (opts.output ?? 'table') as Format;
  if (!['table', 'json', 'yaml'].includes(format)) { io.err(`unknown output format "${opts.output}": table, json or yaml\n`); return 1; }
  const loaded = await loadOne(opts.file, io);
  if (!loaded) return 1;
  const items = (spec.items(loaded.state) as { name: string }[]).sort((a, b) => a.name.localeCompare(b.name));
  const values = items.map((it) => fields.map((f) => columns[f]!.get(it as never, loaded.state)));
  if (format === 'table') {
    const cell = (v: unknown) => (typeof v === 'boolean' ? (v ? 'Y' : 'N') : String(v ?? ''));
    io.out(renderTable(opts.headers === false ? undefined : fields.map((f) => columns[f]!.title), values.map((r) => r.map(cell))));
  } else {
    io.out(dump(values.map((r) => Object.fromEntries(fields.map((f, i) => [f, r[i]]))), format));
  }
  return 0;
}

function fieldHelp(): string {
  return Object.entries(LISTS).map(([k, s]) => `  ${k}: ${Object.keys(s.columns).join(', ')}\n    (default: ${s.defaults.join(',')})`).join('\n');
}

export function registerDesiredCommands(program: Command, io: CliIo = processIo): void {
  program
    .command('validate')
    .description('check manifests: YAML syntax, schemas, references between resources; lists every error as file:line:col: path: message')
    .requiredOption('-f, --file <path>', 'manifest file or directory (repeatable); a directory with no YAML of its own validates each subdirectory as a separate set', collect)
    .option('-q, --quiet', 'print nothing for valid sets')
    .addHelpText('after', '\nExit status: 0 when every set is valid, 1 otherwise.')
    .action(async (opts: { file: string[]; quiet?: boolean }) => {
      process.exitCode = await runValidate(opts.file, opts, io);
    });

  program
    .command('show')
    .description('print one resource as written, or with --effective as filled (defaults and cluster -> group -> instance inheritance applied, sizes in MiB)')
    .argument('<kind/name>', 'e.g. instance/web1, node/node1, group/rack-a, network/lan, cluster')
    .option('-f, --file <path>', 'manifest file or directory (repeatable)', collect)
    .option('--effective', 'print the filled spec')
    .option('--status', 'instances: also observe the nodes and print live status, conditions and pending actions (as gantry describe)')
    .addOption(new Option('--output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action(async (ref: string, opts: { file?: string[]; effective?: boolean; output?: string; status?: boolean }, cmd: Command) => {
      if (opts.status) {
        const { runDescribe } = await import('./live-commands.js');
        await runDescribe(ref, { file: opts.file ?? ['.'], ...(cmd.getOptionValueSource('output') === 'cli' && opts.output ? { output: opts.output } : {}) }, cmd);
        return;
      }
      process.exitCode = await runShow(ref, { ...opts, file: opts.file ?? ['.'] }, io);
    });

  program
    .command('list')
    .description('list nodes, instances, networks or groups of the desired state, with gnt-*-style fields')
    .argument('<what>', 'nodes | instances | networks | groups')
    .option('-f, --file <path>', 'manifest file or directory (repeatable)', collect)
    .option('-o, --fields <fields>', 'comma-separated fields, like gnt-instance list -o name,pnode,snodes')
    .option('--no-headers', 'omit the header line')
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .addHelpText('after', `\nFields:\n${fieldHelp()}`)
    .action(async (what: string, opts: { file?: string[]; fields?: string; headers?: boolean; output?: string }) => {
      process.exitCode = await runList(what, { ...opts, file: opts.file ?? ['.'] }, io);
    });
}
