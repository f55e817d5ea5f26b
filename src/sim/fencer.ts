/**
 * The simulator's out-of-band power control: power-off crashes the simulated node (every
 * VM process dies, nothing reaches it), power-status reads whether it is down. It answers
 * like a real program would: a node that is not simulated cannot be fenced.
 */
import type { Fencer, FenceRecord } from '../core/liveness.js';
import type { SimCluster } from './cluster.js';

export class SimFencer implements Fencer {
  /** Nodes power-off was asked for, in order. */
  readonly calls: string[] = [];
  constructor(private readonly cluster: SimCluster, private readonly opts: { readonly failFor?: ReadonlySet<string> } = {}) {}

  fence(node: string, now: () => Date): Promise<FenceRecord> {
    this.calls.push(node);
    if (this.opts.failFor?.has(node)) return Promise.reject(new Error(`power-off ${node}: the simulated BMC does not answer`));
    const n = this.cluster.node(node);
    if (!n.isDown()) n.crash();
    return Promise.resolve({ at: now().toISOString(), verbs: ['power-off', 'power-status'], powered: !n.isDown() });
  }
}
