import type { ObservedNode } from './observed.js';
import type { Action } from './actions.js';

/** What the executor needs from the node side when it observes. */
export interface ObserveRequest {
  /** Sysctl keys the desired state mentions (only these are read). */
  readonly sysctls: readonly string[];
  /** Directories holding file/sharedfile disks to list. */
  readonly fileDirs: readonly string[];
  /** Instance run directory root (drivers/qemu). */
  readonly instanceRunDir?: string;
  /** Read DRBD state (the desired state has DRBD disks); default false: nodes without the module are not asked. */
  readonly drbd?: boolean;
  /** ovsdb socket for this node's Open vSwitch, when it has one. */
  readonly ovsdbSocket?: string;
}

export interface ActionResult {
  readonly action: Action;
  readonly ok: boolean;
  /** True when the action found the node already as desired and ran nothing that changes it. */
  readonly unchanged: boolean;
  /** The commands that ran (or, in dry-run, would run). */
  readonly commands: readonly (readonly string[])[];
  readonly error?: { readonly code: string; readonly message: string; readonly retryable: boolean };
  readonly durationMs: number;
  /** ISO time the executor saw it end (its clock; absent where no executor ran it). */
  readonly finishedAt?: string;
}

/**
 * Everything that touches a node goes through this interface, so the same plans run on
 * real nodes over SSH (ShellNodeOps), on the local machine, and on the simulator.
 */
export interface NodeOps {
  readonly node: string;
  observe(req: ObserveRequest): Promise<ObservedNode>;
  /** The exact commands `run` would execute, for --dry-run. */
  describe(action: Action): readonly (readonly string[])[];
  run(action: Action): Promise<ActionResult>;
  close(): Promise<void>;
}
