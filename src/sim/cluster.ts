import type { ActionResult, ObserveRequest } from '../core/node-ops.js';
import type { ObservedNode } from '../core/observed.js';
import type { Action } from '../core/actions.js';
import { SimNodeOps, type SimNodeInit, type SimOptions } from './node.js';
import type { SimSharedStorage } from './state.js';

export interface SimClusterOptions extends Omit<SimOptions, 'peers' | 'shared'> {
  /** Directories every node sees (shared storage for sharedfile disks): one file written on any node is there on all. */
  readonly sharedDirs?: readonly string[];
}

/** A set of simulated nodes sharing one clock and latency model, and optionally shared storage. */
export class SimCluster {
  readonly nodes: ReadonlyMap<string, SimNodeOps>;
  /** The shared storage, when sharedDirs were given. */
  readonly shared: SimSharedStorage | undefined;

  constructor(nodes: readonly (SimNodeInit | string)[], opts: SimClusterOptions = {}) {
    const { sharedDirs, ...nodeOpts } = opts;
    this.shared = sharedDirs !== undefined && sharedDirs.length > 0 ? { dirs: [...sharedDirs], files: new Map() } : undefined;
    const m = new Map<string, SimNodeOps>();
    for (const n of nodes) {
      const init = typeof n === 'string' ? { name: n } : n;
      if (m.has(init.name)) throw new Error(`SimCluster: duplicate node ${init.name}`);
      m.set(init.name, new SimNodeOps(init, { ...nodeOpts, peers: (name) => m.get(name), ...(this.shared ? { shared: this.shared } : {}) }));
    }
    this.nodes = m;
  }

  node(name: string): SimNodeOps {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`SimCluster: no node ${name}`);
    return n;
  }

  /** Observe every node concurrently, as the executor would. */
  async observe(req: ObserveRequest): Promise<{ nodes: ReadonlyMap<string, ObservedNode> }> {
    const entries = await Promise.all([...this.nodes].map(async ([name, n]) => [name, await n.observe(req)] as const));
    return { nodes: new Map(entries) };
  }

  /** Run an action on the node it names; an unknown node is a non-retryable failure. */
  async run(action: Action): Promise<ActionResult> {
    const n = this.nodes.get(action.node);
    if (n === undefined) {
      return { action, ok: false, unchanged: true, commands: [], durationMs: 0, error: { code: 'UNKNOWN_NODE', message: `no simulated node ${action.node}`, retryable: false } };
    }
    return n.run(action);
  }

  /** The true state of every node, by name in sorted order (for assertions). */
  snapshot(): Record<string, ObservedNode> {
    const out: Record<string, ObservedNode> = {};
    for (const name of [...this.nodes.keys()].sort()) out[name] = this.node(name).snapshot();
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.close()));
  }
}
