/**
 * Runs commands on this machine with child_process.spawn (argv, never a shell). With
 * `netns` set, every command runs through `ip netns exec NS`, which is how lab tests
 * reach a namespaced node without ssh.
 */
import { spawn } from 'node:child_process';
import type { ExecOptions, ExecResult, Transport } from './transport.js';
import { TransportError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { exportEnv } from './quote.js';

export interface LocalTransportOptions {
  logger: Logger;
  /** Name used in logs and errors; defaults to the netns or "localhost". */
  node?: string;
  /** Run each command inside this network namespace. */
  netns?: string;
  /** Default per-command timeout when the caller gives none. */
  commandTimeoutMs?: number;
}

export class LocalTransport implements Transport {
  readonly node: string;
  private readonly log: Logger;
  private readonly netns: string | undefined;
  private readonly defaultTimeoutMs: number | undefined;

  constructor(opts: LocalTransportOptions) {
    this.netns = opts.netns;
    this.node = opts.node ?? opts.netns ?? 'localhost';
    this.log = opts.logger.child({ node: this.node, transport: 'local' });
    this.defaultTimeoutMs = opts.commandTimeoutMs;
  }

  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new TypeError('an empty argv cannot be run');
    exportEnv(opts.env); // validates the variable names the same way the ssh transport does
    const full = this.netns ? ['ip', 'netns', 'exec', this.netns, ...argv] : [...argv];
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    this.log.debug({ cmd: argv[0], args: argv.length }, 'exec');
    const started = Date.now();

    return new Promise((resolve, reject) => {
      const child = spawn(full[0]!, full.slice(1), {
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      let spawnError: NodeJS.ErrnoException | undefined;
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              child.kill('SIGKILL');
            }, timeoutMs);

      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.stdin.on('error', () => undefined); // the command may exit without reading stdin
      child.on('error', (e: NodeJS.ErrnoException) => {
        spawnError = e;
      });
      child.on('close', (code) => {
        if (timer) clearTimeout(timer);
        const durationMs = Date.now() - started;
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (timedOut) {
          reject(
            new TransportError('COMMAND_TIMEOUT', `${argv[0]} on ${this.node} did not finish within ${timeoutMs} ms and was killed`, {
              node: this.node,
              cmd: argv[0],
              timeoutMs,
              stdout,
              stderr,
            }),
          );
          return;
        }
        if (spawnError) {
          // Same answer a shell gives for a missing command, so callers see one behaviour
          // whichever transport they use.
          const notFound = spawnError.code === 'ENOENT';
          resolve({ argv, code: notFound ? 127 : 126, stdout, stderr: `${argv[0]}: ${spawnError.message}\n`, durationMs });
          return;
        }
        resolve({ argv, code, stdout, stderr, durationMs });
      });
      child.stdin.end(opts.stdin ?? '');
    });
  }

  /** Runs the commands one after another; one deadline covers the whole batch. */
  async execBatch(commands: readonly (readonly string[])[], opts: Omit<ExecOptions, 'stdin'> = {}): Promise<ExecResult[]> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const results: ExecResult[] = [];
    for (const argv of commands) {
      const left = deadline === undefined ? undefined : Math.max(1, deadline - Date.now());
      results.push(await this.exec(argv, { ...opts, ...(left === undefined ? {} : { timeoutMs: left }) }));
    }
    return results;
  }

  async close(): Promise<void> {
    // Nothing held open between commands.
  }
}
