/**
 * Build the NodeOps for every node of the desired state: one pooled SSH connection per
 * node (pinned host key), the shell drivers, and the instance verbs delegated to the
 * QEMU/OS drivers. A node without a pinned host key is refused, not trusted on first use.
 */
import type { DesiredNode, DesiredState } from '../desired/model.js';
import { SshPool } from '../transport/pool.js';
import type { Transport } from '../transport/transport.js';
import { ExecError, TerminalError } from '../util/errors.js';
import { parseInstances, probeInstancesCommands } from '../drivers/qemu/index.js';
import type { Logger } from '../util/log.js';
import { InstanceOps } from './instance-ops.js';
import type { NodeOps } from '../core/node-ops.js';
import { emptyObservedNode } from '../core/observed.js';
import { ShellNodeOps } from './shell-node-ops.js';

export interface Connections {
  readonly ops: ReadonlyMap<string, NodeOps>;
  /** Drop a node's connection so the next probe connects anew (the liveness heartbeat saw it stop answering). */
  reset(node: string): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_OS_SEARCH_PATH = ['/srv/gantry/os', '/usr/share/gantry/os'];

/** NodeOps for one node over any transport (SSH in production, local in tests). */
export function nodeOpsFor(node: DesiredNode, transport: Transport, logger: Logger, osSearchPath: readonly string[], peers: Map<string, InstanceOps>): NodeOps {
  const inst = new InstanceOps({
    node: node.name, transport, logger, runRoot: node.paths.runDir, osSearchPath,
    ...(node.ovsdbSocket !== undefined ? { ovsdbSocket: node.ovsdbSocket } : {}),
    peer: (n) => peers.get(n),
  });
  peers.set(node.name, inst);
  return new ShellNodeOps({
    node: node.name, transport, logger,
    ...(node.ovsdbSocket !== undefined ? { ovsdbSocket: node.ovsdbSocket } : {}),
    // Disk images and a reinstall's mark beside one (plan/reinstall: without it a half-made reinstall is not recognised).
    fileNamePattern: ['*.disk*.img', '*.disk*.img.reinstall'],
    delegate: inst,
    // QEMU instances are observed in the same batch as everything else: one round trip.
    extraProbe: () => ({
      commands: probeInstancesCommands(node.paths.runDir),
      parse: ([r]) => {
        if (!r || r.code !== 0) throw new ExecError('QEMU_PROBE_FAILED', `instance probe on ${node.name} failed: ${r?.stderr.trim() ?? 'no result'}`);
        return { instances: parseInstances(r.stdout) };
      },
    }),
  });
}

/** A node we must not talk to: every observe says why, every action fails the same way. */
class RefusedNodeOps implements NodeOps {
  constructor(readonly node: string, private readonly why: TerminalError) {}
  async observe() {
    return emptyObservedNode(this.node, new Date().toISOString(), this.why.message);
  }
  describe() { return []; }
  async run(action: Parameters<NodeOps['run']>[0]) {
    return { action, ok: false, unchanged: false, commands: [], durationMs: 0, error: { code: this.why.code, message: this.why.message, retryable: false } };
  }
  async close() {}
}

export async function connectNodes(state: DesiredState, opts: { logger: Logger; pool?: SshPool; osSearchPath?: readonly string[]; connectTimeoutMs?: number }): Promise<Connections> {
  const pool = opts.pool ?? new SshPool({ logger: opts.logger, connectTimeoutMs: opts.connectTimeoutMs ?? 8000, commandTimeoutMs: 120_000 });
  const ops = new Map<string, NodeOps>();
  const peers = new Map<string, InstanceOps>();
  const osSearchPath = opts.osSearchPath ?? state.cluster.osSearchPath;
  // Offline nodes too: each pass probes them read-only (one that still answers may still run guests).
  for (const n of state.nodes.values()) {
    if (!n.ssh.hostKey) {
      ops.set(n.name, new RefusedNodeOps(n.name, new TerminalError('HOST_KEY_NOT_PINNED', `node ${n.name} has no ssh.hostKey in its manifest; Gantry does not trust a host key on first use (get it with: ssh-keyscan -t ed25519 ${n.ssh.host})`)));
      continue;
    }
    const transport = pool.get({
      name: n.name,
      ssh: { host: n.ssh.host, port: n.ssh.port, user: n.ssh.user, hostKey: n.ssh.hostKey, ...(n.ssh.privateKeyFile ? { privateKeyFile: n.ssh.privateKeyFile } : {}) },
    });
    ops.set(n.name, nodeOpsFor(n, transport, opts.logger, osSearchPath, peers));
  }
  return { ops, reset: (node) => pool.reset(node), close: () => (opts.pool ? Promise.resolve() : pool.closeAll()) };
}
