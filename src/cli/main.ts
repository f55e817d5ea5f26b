/**
 * The gantry command. Results go to stdout, errors to stderr, exit status 1 on error.
 * Command groups owned by other modules are registered when their module exists.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerDesiredCommands } from './desired-commands.js';

type Register = (program: Command) => void;

const OPTIONAL_MODULES: readonly [string, string][] = [
  ['./lab-commands.js', 'registerLabCommands'],
  ['./live-commands.js', 'registerLiveCommands'],
  ['./place-commands.js', 'registerPlaceCommands'],
  ['./reconcile-commands.js', 'registerReconcileCommands'],
];

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Build the program; optional command groups are skipped when their module is missing. */
export async function buildProgram(): Promise<Command> {
  const program = new Command('gantry')
    .description('declarative reconciler for Ganeti-style KVM clusters')
    .version(packageVersion())
    .option('--log-level <level>', 'structured log level on stderr (trace, debug, info, warn, error; default warn, or $GANTRY_LOG_LEVEL)')
    .showHelpAfterError()
    .hook('preAction', (cmd) => {
      const level = cmd.opts<{ logLevel?: string }>().logLevel;
      if (level) process.env.GANTRY_LOG_LEVEL = level;
    });
  registerDesiredCommands(program);
  for (const [specifier, fn] of OPTIONAL_MODULES) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(specifier)) as Record<string, unknown>;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // only the module itself being absent is silent; a broken import inside it is reported
      const notFound = /Cannot find (?:module|package) '([^']+)'/.exec(err.message)?.[1] ?? '';
      const base = specifier.replace(/^\.\//, 'cli/').replace(/\.js$/, '');
      const missing = (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') && /\.(js|ts)$/.test(notFound) && notFound.replace(/\.(js|ts)$/, '').endsWith(base);
      if (!missing) process.stderr.write(`gantry: ${specifier} not loaded: ${err.message.split('\n')[0]}\n`);
      continue;
    }
    const register = mod[fn];
    if (typeof register === 'function') (register as Register)(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    // A command may end with a specific exit status (plan --detailed-exitcode: 2) and no message.
    const exit = (e as { exitCode?: unknown }).exitCode;
    const message = (e as Error).message;
    if (message) process.stderr.write(`gantry: ${message}\n`);
    process.exitCode = typeof exit === 'number' ? exit : 1;
  }
}

await main(process.argv);
