/**
 * The gantry program. Results go to stdout, errors to stderr, exit status 1 on error.
 *
 * Start-up is kept short (Ganeti runs an IAllocator as one process per request, monitoring
 * runs checks every minute): a command group's module, with everything it imports, is
 * loaded only when one of its commands is named on the command line. Without a command
 * (`--version`, `--help`) nothing is loaded and the top-level help is drawn from the light
 * descriptors in GROUPS; program.test.ts keeps them equal to what the modules register.
 * A word no descriptor knows loads every group, so a command added to a module works (and
 * commander can suggest the closest name) before its descriptor is written.
 */
import { readFileSync } from 'node:fs';
import { Command, Help } from 'commander';

export type Register = (program: Command) => void;

/** A top-level command as the top-level help shows it, without loading its module. */
export interface CommandDescriptor {
  readonly name: string;
  /** usage term in the help list, e.g. `show [options] <kind/name>` */
  readonly term: string;
  readonly summary: string;
}

export interface CommandGroup {
  readonly module: string;
  readonly load: () => Promise<Register>;
  readonly commands: readonly CommandDescriptor[];
}

const cmd = (name: string, term: string, summary: string): CommandDescriptor => ({ name, term, summary });

/** Every command group, in help order. Literal import() calls let the build split them. */
export const GROUPS: readonly CommandGroup[] = [
  {
    module: './desired-commands.js',
    load: async () => (await import('./desired-commands.js')).registerDesiredCommands,
    commands: [
      cmd('validate', 'validate [options]', 'check manifests: YAML syntax, schemas, references between resources; lists every error as file:line:col: path: message'),
      cmd('show', 'show [options] <kind/name>', 'print one resource as written, or with --effective as filled (defaults and cluster -> group -> instance inheritance applied, sizes in MiB)'),
      cmd('list', 'list [options] <what>', 'list nodes, instances, networks or groups of the desired state, with gnt-*-style fields'),
    ],
  },
  {
    module: './lab-commands.js',
    load: async () => (await import('./lab-commands.js')).registerLabCommands,
    commands: [
      cmd('lab', 'lab', 'one-machine lab: namespaced nodes with sshd, Open vSwitch and a loop-device VG (needs root)'),
    ],
  },
  {
    module: './live-commands.js',
    load: async () => (await import('./live-commands.js')).registerLiveCommands,
    commands: [
      cmd('status', 'status [options] [what]', 'what the nodes report now (gnt-instance list / gnt-node list over the observed state); list shows the manifests'),
      cmd('describe', 'describe [options] <instance/name>', 'one instance: its effective spec, live status, Kubernetes-style conditions and the actions a plan would take'),
      cmd('console', 'console [options] <name>', "attach to an instance's serial console over ssh (pinned host key; Ctrl-] leaves), or print its console log"),
    ],
  },
  {
    module: './place-commands.js',
    load: async () => (await import('./place-commands.js')).registerPlaceCommands,
    commands: [
      cmd('balance', 'balance [options]', 'propose (and write) instance moves that balance the cluster, like hbal'),
      cmd('capacity', 'capacity [options]', 'how many more instances of a spec fit, and why it stops (like hspace)'),
      cmd('iallocator', 'iallocator <request>', 'answer a Ganeti IAllocator request (allocate, relocate, node-evacuate, change-group, multi-allocate), like hail'),
    ],
  },
  {
    module: './reconcile-commands.js',
    load: async () => (await import('./reconcile-commands.js')).registerReconcileCommands,
    commands: [
      cmd('plan', 'plan [options]', 'observe the nodes and print the drift report: what differs from the manifests, the actions that would fix it, and why'),
      cmd('verify', 'verify [options]', 'gnt-cluster verify: observe the nodes and report nodes down, instances on the wrong node, degraded DRBD disks, memory N+1 and orphans; changes nothing'),
      cmd('apply', 'apply [options]', 'make the nodes match the manifests: plan, confirm, run the actions in waves over disjoint nodes, re-plan. Holds the state directory lock throughout (not with --dry-run)'),
      cmd('run', 'run [options]', 'run the reconcile loop as a daemon: watch the manifests, resync periodically, repair drift. Holds the state directory lock for its whole life (file mode); with --kubernetes the Lease is the lock'),
    ],
  },
  {
    module: './check-commands.js',
    load: async () => (await import('./check-commands.js')).registerCheckCommands,
    commands: [
      cmd('check', 'check', "monitoring checks for Nagios/Icinga (as GRNET's check_ganeti_*): one line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"),
    ],
  },
  {
    module: './watcher-commands.js',
    load: async () => (await import('./watcher-commands.js')).registerWatcherCommands,
    commands: [
      cmd('watcher', 'watcher', 'pause, resume or show the watcher (restarts of ERROR_down instances), like gnt-cluster watcher'),
    ],
  },
  {
    module: './failover-commands.js',
    load: async () => (await import('./failover-commands.js')).registerFailoverCommands,
    commands: [
      cmd('failover', 'failover', 'after automatic failovers: write the new primaries back into the manifests'),
    ],
  },
  {
    module: './serve-commands.js',
    load: async () => (await import('./serve-commands.js')).registerServeCommands,
    commands: [
      cmd('serve', 'serve [options]', 'serve the Ganeti-compatible remote API (RAPI v2) over HTTPS: ganetimgr, Ganeti Web Manager, htools -m and the RAPI checks keep working'),
    ],
  },
];

/** Global options that take a value (their value is not a command word). */
const VALUED_GLOBALS = new Set(['--log-level']);

/**
 * The command named by user arguments (argv without node and script): the first word that
 * is not a global option or its value; for `help X`, X. Undefined when none is named.
 */
export function commandWord(args: readonly string[]): string | undefined {
  const words: string[] = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    const a = args[i]!;
    if (a === '--') { words.push(...args.slice(i + 1, i + 3)); break; }
    if (VALUED_GLOBALS.has(a)) { i++; continue; }
    if (a.startsWith('-')) { if (words.length) break; continue; }
    words.push(a);
    if (a !== 'help') break;
  }
  return words[0] === 'help' ? words[1] : words[0];
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function baseProgram(): Command {
  return new Command('gantry')
    .description('declarative reconciler for Ganeti-style KVM clusters')
    .version(packageVersion())
    .option('--log-level <level>', 'structured log level on stderr (trace, debug, info, warn, error; default warn, or $GANTRY_LOG_LEVEL)')
    .showHelpAfterError()
    .hook('preAction', (c) => {
      const level = c.opts<{ logLevel?: string }>().logLevel;
      if (level) process.env.GANTRY_LOG_LEVEL = level;
    });
}

/** Top-level entries for help only: each names a command without loading its module. */
function addDescriptors(program: Command, groups: readonly CommandGroup[]): void {
  const terms = new Map<string, string>();
  for (const d of groups.flatMap((g) => g.commands)) {
    terms.set(d.name, d.term);
    program.command(d.name).description(d.summary).action(() => {
      throw new Error(`internal: command ${d.name} was not loaded`);
    });
  }
  const base = new Help();
  program.configureHelp({ subcommandTerm: (c) => terms.get(c.name()) ?? base.subcommandTerm(c) });
}

/**
 * Build the program for these user arguments: the named command's group registered in
 * full; every group when the word is unknown; descriptors only when no command is named.
 */
export async function buildProgram(args: readonly string[], groups: readonly CommandGroup[] = GROUPS): Promise<Command> {
  const program = baseProgram();
  const word = commandWord(args);
  if (word === undefined) {
    addDescriptors(program, groups);
    return program;
  }
  const named = groups.filter((g) => g.commands.some((d) => d.name === word));
  for (const g of named.length ? named : groups) (await g.load())(program);
  return program;
}

/**
 * Make sure `name` is registered on a program built for another command (`lab up --apply`
 * runs apply and plan): loads the group that registers it, once.
 */
export async function ensureCommand(program: Command, name: string, groups: readonly CommandGroup[] = GROUPS): Promise<boolean> {
  if (program.commands.some((c) => c.name() === name)) return true;
  const group = groups.find((g) => g.commands.some((d) => d.name === name));
  if (!group) return false;
  (await group.load())(program);
  return program.commands.some((c) => c.name() === name);
}

export async function main(argv: string[]): Promise<void> {
  try {
    const program = await buildProgram(argv.slice(2));
    await program.parseAsync(argv);
  } catch (e) {
    // A command may end with a specific exit status (plan --detailed-exitcode: 2) and no message.
    const exit = (e as { exitCode?: unknown }).exitCode;
    const message = (e as Error).message;
    if (message) process.stderr.write(`gantry: ${message}\n`);
    process.exitCode = typeof exit === 'number' ? exit : 1;
  }
}
