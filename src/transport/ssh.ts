/**
 * The ssh transport: one ssh2 connection per node, opened lazily, pinned to the node's
 * host key, reopened after a drop. Each exec is one channel; at most `maxChannels` run
 * at once (sshd refuses sessions beyond MaxSessions, default 10).
 */
import { createHash, randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { resolveIdentity } from './identity.js';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { ExecOptions, ExecResult, Transport } from './transport.js';
import { TransportError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { buildBatchScript, buildExecLine, parseBatchOutput, remoteTimeout } from './quote.js';

/** Extra time the client waits past a timeout for the node's own kill to be reported. */
const TIMEOUT_GRACE_MS = 3000;

/** How to reach a node: the `ssh` block of a Node manifest. */
export interface SshEndpoint {
  host: string;
  port?: number;
  user?: string;
  /** Pinned public host key in OpenSSH format: "ssh-ed25519 AAAA... [comment]". */
  hostKey: string;
  privateKeyFile?: string;
  /** The key itself, when it does not come from a file. */
  privateKey?: string | Buffer;
}

export interface SshTransportOptions {
  node: string;
  endpoint: SshEndpoint;
  logger: Logger;
  connectTimeoutMs?: number;
  /** Default per-command timeout when the caller gives none. */
  commandTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Concurrent channels on the one connection. */
  maxChannels?: number;
}

/** A host key mismatch: retrying will not help, a human must check the node. */
export class HostKeyMismatchError extends TransportError {
  constructor(node: string, expected: string, offered: string) {
    super(
      'HOST_KEY_MISMATCH',
      `host key of ${node} does not match the pinned key: expected ${expected}, offered ${offered}; refusing to connect`,
      { node, expected, offered },
    );
  }
  override get retryable(): boolean {
    return false;
  }
}

export interface PinnedKey {
  type: string;
  blob: Buffer;
}

/** Parse "type base64 [comment]" into the key type and the raw key blob. */
export function parsePinnedKey(openssh: string): PinnedKey {
  const [type, b64] = openssh.trim().split(/\s+/);
  if (!type || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new TypeError('host key must be an OpenSSH public key line: "<type> <base64> [comment]"');
  }
  return { type, blob: Buffer.from(b64, 'base64') };
}

/** OpenSSH's SHA256 fingerprint of a raw key blob: "SHA256:" + unpadded base64. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Host key algorithms to offer for a pinned key type, so the server shows that key. */
function hostKeyAlgorithms(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/** A counting semaphore: a FIFO of waiters for a free channel slot. */
class Slots {
  private used = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async acquire(): Promise<void> {
    if (this.used < this.max) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.used--;
  }
}

interface ChannelOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Send a signal request on a session channel. ssh2's public `signal()` stays silent once
 * we sent EOF (we always close stdin), but RFC 4254 allows the request after EOF, so
 * this goes to the protocol layer directly. (sshd ignores it for root sessions, hence
 * the node-side `timeout`; it still helps for other users.)
 */
function sendSignal(channel: ClientChannel, name: string): void {
  const c = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
  };
  const protocol = c._client?._protocol;
  if (c.outgoing && (c.outgoing.state === 'open' || c.outgoing.state === 'eof') && typeof protocol?.signal === 'function') {
    protocol.signal(c.outgoing.id, name);
  } else {
    channel.signal(name);
  }
}

export class SshTransport implements Transport {
  readonly node: string;
  private readonly endpoint: SshEndpoint;
  private readonly log: Logger;
  private readonly pinned: PinnedKey;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number | undefined;
  private readonly keepaliveIntervalMs: number;
  private readonly keepaliveCountMax: number;
  private readonly slots: Slots;
  private client: Promise<Client> | undefined;
  private closed = false;

  constructor(opts: SshTransportOptions) {
    this.node = opts.node;
    this.endpoint = opts.endpoint;
    this.log = opts.logger.child({ node: opts.node, transport: 'ssh' });
    this.pinned = parsePinnedKey(opts.endpoint.hostKey);
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.commandTimeoutMs = opts.commandTimeoutMs;
    this.keepaliveIntervalMs = opts.keepaliveIntervalMs ?? 15_000;
    this.keepaliveCountMax = opts.keepaliveCountMax ?? 3;
    this.slots = new Slots(opts.maxChannels ?? 4);
  }

  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    const line = buildExecLine(argv, opts.env, timeoutMs);
    this.log.debug({ cmd: argv[0], args: argv.length }, 'exec');
    const started = Date.now();
    const out = await this.run(line, opts.stdin, timeoutMs, argv[0]!);
    return { argv, code: out.code, stdout: out.stdout, stderr: out.stderr, durationMs: Date.now() - started };
  }

  /** One channel runs `sh -s`; the framed script arrives on stdin (see quote.ts). */
  async execBatch(commands: readonly (readonly string[])[], opts: Omit<ExecOptions, 'stdin'> = {}): Promise<ExecResult[]> {
    if (commands.length === 0) return [];
    const marker = randomBytes(16).toString('hex');
    const script = buildBatchScript(commands, marker, opts.env);
    this.log.debug({ cmds: commands.map((c) => c[0]), count: commands.length }, 'execBatch');
    const started = Date.now();
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    const out = await this.run(`exec ${remoteTimeout(timeoutMs)}sh -s`, script, timeoutMs, 'batch');
    const durationMs = Date.now() - started;
    return parseBatchOutput(out.stdout, out.stderr, marker, commands.length).map((p, i) => ({
      argv: commands[i]!,
      code: p.code,
      stdout: p.stdout,
      stderr: p.stderr,
      durationMs,
    }));
  }

  /**
   * Drop the current connection at once (its commands in flight fail) and connect anew on
   * the next command: for a peer that vanished without closing TCP, which keepalives would
   * only notice after keepaliveIntervalMs x keepaliveCountMax.
   */
  async reset(): Promise<void> {
    const pending = this.client;
    this.client = undefined;
    const client = await pending?.catch(() => undefined);
    client?.destroy();
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.client;
    this.client = undefined;
    if (!pending) return;
    const client = await pending.catch(() => undefined);
    client?.end();
  }

  private async run(line: string, stdin: string | Buffer | undefined, timeoutMs: number | undefined, what: string): Promise<ChannelOutcome> {
    if (this.closed) throw new TransportError('CLOSED', `transport to ${this.node} is closed`, { node: this.node });
    await this.slots.acquire();
    let outcome: { done: Promise<ChannelOutcome> };
    try {
      outcome = await this.openChannel(line, (channel) => {
        // The slot stays taken until the channel really closes (a killed command may take a
        // moment), so we never exceed sshd's MaxSessions.
        channel.once('close', () => this.slots.release());
        return { done: this.drive(channel, stdin, timeoutMs, what) };
      });
    } catch (err) {
      this.slots.release();
      throw err;
    }
    return outcome.done;
  }

  /**
   * Open an exec channel and `attach` to it at once, inside ssh2's callback: a command that
   * ends at once may have its exit status and close in the same read as the exec's success,
   * and ssh2 emits them right after this callback, before any await resumes (listeners
   * attached later missed the exit: "connection lost" for a command that had completed).
   * If the cached connection turns out dead, reconnect once.
   */
  private async openChannel<T>(line: string, attach: (channel: ClientChannel) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.connection();
      try {
        return await new Promise<T>((resolve, reject) => {
          client.exec(line, (err, channel) => (err ? reject(err) : resolve(attach(channel))));
        });
      } catch (err) {
        // Nothing ran yet, so trying again on a fresh connection is safe.
        this.dropConnection(client);
        if (attempt >= 1) {
          throw new TransportError('CHANNEL_FAILED', `could not open a channel to ${this.node}: ${(err as Error).message}`, { node: this.node }, { cause: err });
        }
        this.log.info({ err: (err as Error).message }, 'channel open failed; reconnecting');
      }
    }
  }

  private drive(channel: ClientChannel, stdin: string | Buffer | undefined, timeoutMs: number | undefined, what: string): Promise<ChannelOutcome> {
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let exit: { code: number | null } | undefined;
      let timedOut = false;
      const started = Date.now();
      const timeoutError = (stdout: string, stderr: string) =>
        new TransportError('COMMAND_TIMEOUT', `${what} on ${this.node} did not finish within ${timeoutMs} ms; it was killed`, {
          node: this.node,
          cmd: what,
          timeoutMs,
          stdout,
          stderr,
        });
      // The node kills the command itself (see remoteTimeout); this timer only covers a
      // node that stops answering altogether.
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              sendSignal(channel, 'KILL');
              channel.close();
              reject(timeoutError(Buffer.concat(out).toString('utf8'), Buffer.concat(err).toString('utf8')));
            }, timeoutMs + TIMEOUT_GRACE_MS);
      channel.on('data', (b: Buffer) => out.push(b));
      channel.stderr.on('data', (b: Buffer) => err.push(b));
      channel.on('exit', (code: number | null) => {
        exit = { code: typeof code === 'number' ? code : null };
      });
      channel.on('close', () => {
        if (timer) clearTimeout(timer);
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (timedOut) {
          return; // already rejected
        } else if (!exit) {
          reject(new TransportError('CONNECTION_LOST', `connection to ${this.node} was lost while ${what} ran; it may or may not have completed`, { node: this.node, cmd: what }));
        } else if (timeoutMs !== undefined && (exit.code === 124 || exit.code === 137) && Date.now() - started >= timeoutMs) {
          reject(timeoutError(stdout, stderr));
        } else {
          resolve({ code: exit.code, stdout, stderr });
        }
      });
      channel.end(stdin ?? '');
    });
  }

  private connection(): Promise<Client> {
    this.client ??= this.connect();
    return this.client;
  }

  private dropConnection(client: Client): void {
    client.end();
    this.client = undefined;
  }

  private async connect(): Promise<Client> {
    const { host, port = 22, user = 'root' } = this.endpoint;
    let privateKey: string | Buffer | undefined = this.endpoint.privateKey;
    let agent: string | undefined;
    if (privateKey === undefined) {
      try {
        const id = await resolveIdentity(this.endpoint.privateKeyFile, this.node, { home: homedir(), ...(process.env.SSH_AUTH_SOCK ? { agentSocket: process.env.SSH_AUTH_SOCK } : {}) });
        privateKey = id.privateKey;
        agent = id.agent;
      } catch (err) {
        this.client = undefined;
        throw err;
      }
    }
    const expected = fingerprint(this.pinned.blob);
    let offered: string | undefined;
    const config: ConnectConfig = {
      host,
      port,
      username: user,
      readyTimeout: this.connectTimeoutMs,
      keepaliveInterval: this.keepaliveIntervalMs,
      keepaliveCountMax: this.keepaliveCountMax,
      algorithms: { serverHostKey: hostKeyAlgorithms(this.pinned.type) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
      hostVerifier: (key: Buffer) => {
        if (key.equals(this.pinned.blob)) return true;
        offered = fingerprint(key);
        return false;
      },
      ...(privateKey === undefined ? {} : { privateKey }),
      ...(agent === undefined ? {} : { agent }),
    };

    const client = new Client();
    const started = Date.now();
    return new Promise<Client>((resolve, reject) => {
      let ready = false;
      client.on('ready', () => {
        ready = true;
        this.log.debug({ host, port, ms: Date.now() - started }, 'connected');
        resolve(client);
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (ready) {
          this.log.warn({ err: err.message }, 'ssh connection error');
          return;
        }
        if (this.client) this.client = undefined;
        reject(this.connectError(err, offered, expected, host, port));
      });
      client.on('close', () => {
        if (!ready) {
          if (this.client) this.client = undefined;
          reject(new TransportError('UNREACHABLE', `connection to ${this.node} (${host}:${port}) closed during the handshake`, { node: this.node, host, port }));
          return;
        }
        this.log.debug('connection closed');
        // Only forget this connection if it is still the current one.
        void this.client?.then((c) => {
          if (c === client) this.client = undefined;
        });
      });
      client.connect(config);
    });
  }

  private connectError(err: Error & { level?: string; code?: string }, offered: string | undefined, expected: string, host: string, port: number): TransportError {
    const details = { node: this.node, host, port };
    if (offered) return new HostKeyMismatchError(this.node, expected, offered);
    if (err.level === 'client-timeout') {
      return new TransportError('CONNECT_TIMEOUT', `no ssh handshake with ${this.node} (${host}:${port}) within ${this.connectTimeoutMs} ms`, details, { cause: err });
    }
    if (err.level === 'client-authentication') {
      return new TransportError('AUTH_FAILED', `${this.node} (${host}:${port}) refused our ssh key`, details, { cause: err });
    }
    return new TransportError('UNREACHABLE', `cannot reach ${this.node} at ${host}:${port}: ${err.code ?? err.message}`, details, { cause: err });
  }
}
