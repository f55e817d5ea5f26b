/**
 * Node liveness (DESIGN.md, "Failure model and high availability"): what each declared
 * node is in a pass. Ready: its probe answered. Unreachable: it did not, since when and
 * how many probes in a row; its state is unknown (safety invariant 1) and nothing follows
 * from that alone. Offline: an admin declared it down (Node spec.role). Dead: Gantry
 * confirmed it: its out-of-band program powered it off and reports power off.
 */
export type NodeCondition = 'Ready' | 'Unreachable' | 'Offline' | 'Dead';

export const NODE_CONDITIONS: readonly NodeCondition[] = ['Ready', 'Unreachable', 'Offline', 'Dead'];

/** What the out-of-band program said when Gantry fenced a node. */
export interface FenceRecord {
  /** ISO time the program confirmed power off. */
  readonly at: string;
  /** The verbs run, in order, e.g. ["power-off", "power-status"]. */
  readonly verbs: readonly string[];
  /** power-status after power-off: false = confirmed off. */
  readonly powered: boolean;
}

export interface NodeLiveness {
  readonly node: string;
  readonly condition: NodeCondition;
  /** ISO time this condition began (for Unreachable: the first missed probe of this outage). */
  readonly since: string;
  /** Probes missed in a row (0 when Ready or Offline). */
  readonly missedProbes: number;
  /** When its probe last answered, if ever seen. */
  readonly lastSeen?: string;
  /** Unreachable or Dead: the last probe error. */
  readonly error?: string;
  /** Unreachable: missedProbes and the grace time are both reached (fencing may follow). */
  readonly graceOver?: boolean;
  /** Dead: when it was first found unreachable (its first missed probe). */
  readonly detected?: string;
  /** Dead: how it was confirmed. */
  readonly fence?: FenceRecord;
  /** Offline: its read-only probe answered at least once since it was declared offline (its last snapshot is from after the declaration). */
  readonly answeredOffline?: true;
}

/** Nothing follows from an outage shorter than both (Cluster spec.liveness). */
export interface LivenessPolicy {
  readonly missedProbes: number;
  readonly graceSeconds: number;
}

export const DEFAULT_LIVENESS: LivenessPolicy = { missedProbes: 3, graceSeconds: 10 };

/** Powers a node off through its out-of-band program and confirms it (execute/fence, sim/fencer). */
export interface Fencer {
  /** Resolves with the confirmation; rejects when power off cannot be confirmed. */
  fence(node: string, now: () => Date): Promise<FenceRecord>;
}
