/**
 * One SshTransport (hence one connection) per node, shared by every caller. A node whose
 * endpoint changes (new address or host key) gets a fresh transport.
 */
import type { Logger } from '../util/log.js';
import { SshTransport, type SshEndpoint } from './ssh.js';

export interface NodeSshSpec {
  name: string;
  ssh: SshEndpoint;
}

export interface SshPoolOptions {
  logger: Logger;
  /** Concurrent channels per node (sshd's MaxSessions is 10 by default). */
  maxChannelsPerNode?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  keepaliveIntervalMs?: number;
}

export class SshPool {
  private readonly transports = new Map<string, { key: string; transport: SshTransport }>();
  constructor(private readonly opts: SshPoolOptions) {}

  get(spec: NodeSshSpec): SshTransport {
    const key = endpointKey(spec.ssh);
    const held = this.transports.get(spec.name);
    if (held && held.key === key) return held.transport;
    if (held) void held.transport.close();
    const transport = new SshTransport({
      node: spec.name,
      endpoint: spec.ssh,
      logger: this.opts.logger,
      maxChannels: this.opts.maxChannelsPerNode ?? 4,
      ...(this.opts.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.opts.connectTimeoutMs }),
      ...(this.opts.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: this.opts.commandTimeoutMs }),
      ...(this.opts.keepaliveIntervalMs === undefined ? {} : { keepaliveIntervalMs: this.opts.keepaliveIntervalMs }),
    });
    this.transports.set(spec.name, { key, transport });
    return transport;
  }

  /** Drop one node's connection (SshTransport.reset); the next command reconnects. */
  async reset(name: string): Promise<void> {
    await this.transports.get(name)?.transport.reset();
  }

  async closeAll(): Promise<void> {
    const all = [...this.transports.values()];
    this.transports.clear();
    await Promise.all(all.map((t) => t.transport.close()));
  }
}

function endpointKey(e: SshEndpoint): string {
  return JSON.stringify([e.host, e.port ?? 22, e.user ?? 'root', e.hostKey.trim().split(/\s+/).slice(0, 2), e.privateKeyFile ?? '']);
}
