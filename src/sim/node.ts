import type { ActionResult, NodeOps, ObserveRequest } from '../core/node-ops.js';
import { emptyObservedNode, type NodeFacts, type ObservedBridge, type ObservedFile, type ObservedInstance, type ObservedLv, type ObservedNode, type ObservedOvsBridge, type ObservedTap, type ObservedVxlan } from '../core/observed.js';
import type { Action, Verb } from '../core/actions.js';
import { sleep, systemClock, type Clock } from '../runtime/clock.js';
import { GantryError } from '../util/errors.js';
import { handlerFor } from './apply.js';
import { connectedPeers, observeDrbd, type DrbdCtx, type SimDrbdDevice, type SimDrbdMeta } from './drbd.js';
import { FaultPlan, type FaultSpec } from './faults.js';
import { defaultFacts, simBootId, toObserved, type SimNodeState, type SimSharedStorage, type SimVg } from './state.js';

/** What a simulated node starts with. Everything but the name is optional. */
export interface SimNodeInit {
  readonly name: string;
  readonly facts?: Partial<NodeFacts>;
  /** Block devices usable as PVs and their sizes (MiB). Default: /dev/sdb, /dev/sdc of 1 TiB. */
  readonly blockDevices?: Readonly<Record<string, number>>;
  /** Whether the node runs Open vSwitch. Default true. */
  readonly ovs?: boolean;
  /** Objects present at start (hand-made state, leftovers, a previous apply). */
  readonly seed?: {
    readonly vgs?: readonly SimVg[];
    readonly lvs?: readonly ObservedLv[];
    readonly bridges?: readonly ObservedBridge[];
    readonly ovsBridges?: readonly ObservedOvsBridge[];
    readonly vxlans?: readonly ObservedVxlan[];
    readonly sysctls?: Readonly<Record<string, string>>;
    readonly files?: readonly ObservedFile[];
    readonly instances?: readonly ObservedInstance[];
    readonly taps?: readonly ObservedTap[];
    /** DRBD devices up and the metadata on meta LVs ("vg/lv" -> its state). */
    readonly drbd?: SimDrbdSeed;
  };
}

export interface SimDrbdSeed {
  readonly devices: SimDrbdDevice[];
  readonly meta: Record<string, SimDrbdMeta>;
}

export interface SimOptions {
  readonly clock?: Clock;
  /** Virtual time each run() takes, on `clock`. Default 0. */
  readonly latencyMs?: number | ((action: Action) => number);
  /** Virtual time each observe() takes, on `clock`. Default 0. */
  readonly observeLatencyMs?: number;
  /** Other nodes, for node-to-node verbs (instance.migrate). SimCluster sets this. */
  readonly peers?: (name: string) => SimNodeOps | undefined;
  /** Shared storage this node mounts (SimCluster passes one object to every node). */
  readonly shared?: SimSharedStorage;
}

/** Run states in which a QEMU process exists (as plan/instance-runtime counts them). */
const ALIVE_STATES = new Set(['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate']);

const DEFAULT_BLOCK_DEVICES = { '/dev/sdb': 1_048_576, '/dev/sdc': 1_048_576 };

function stateFrom(init: SimNodeInit, shared: SimSharedStorage | undefined): SimNodeState {
  const seed = init.seed ?? {};
  const byName = <T extends { name: string }>(xs: readonly T[] | undefined): Map<string, T> => new Map((xs ?? []).map((x) => [x.name, structuredClone(x)]));
  return {
    facts: { ...defaultFacts(init.name), ...init.facts },
    blockDevices: new Map(Object.entries(init.blockDevices ?? DEFAULT_BLOCK_DEVICES)),
    vgs: byName(seed.vgs),
    lvs: new Map((seed.lvs ?? []).map((lv) => [`${lv.vg}/${lv.name}`, structuredClone(lv)])),
    bridges: byName(seed.bridges),
    ovs: init.ovs === false ? undefined : byName(seed.ovsBridges),
    vxlans: byName(seed.vxlans),
    sysctls: new Map(Object.entries(seed.sysctls ?? {})),
    files: new Map((seed.files ?? []).map((f) => [f.path, { ...f }])),
    instances: byName(seed.instances),
    taps: byName(seed.taps),
    drbd: new Map((seed.drbd?.devices ?? []).map((d) => [d.minor, structuredClone(d)])),
    drbdMeta: new Map(Object.entries(seed.drbd?.meta ?? {}).map(([k, m]) => [k, { ...m }])),
    ...(shared !== undefined ? { shared } : {}),
  };
}

/**
 * An in-memory node that applies Actions with the drivers' idempotent-ensure semantics,
 * for scale and failure tests of the planner, executor and runtime. Faults are injected
 * per verb; reachability and latency are switches; time comes from the injected clock.
 */
export class SimNodeOps implements NodeOps {
  readonly node: string;
  private readonly state: SimNodeState;
  private readonly clock: Clock;
  private readonly latency: (action: Action) => number;
  private readonly observeLatencyMs: number;
  private readonly faults = new FaultPlan();
  private unreachable = false;
  private replicationDown = false;
  private down = false;
  /** Boots since the simulation started (crash() then boot()). */
  private boots = 0;
  private closed = false;
  private readonly log: ActionResult[] = [];
  private readonly peers: (name: string) => SimNodeOps | undefined;
  private pid = 1000;

  constructor(init: SimNodeInit, opts: SimOptions = {}) {
    this.node = init.name;
    this.state = stateFrom(init, opts.shared);
    this.clock = opts.clock ?? systemClock;
    const l = opts.latencyMs ?? 0;
    this.latency = typeof l === 'function' ? l : () => l;
    this.observeLatencyMs = opts.observeLatencyMs ?? 0;
    this.peers = opts.peers ?? (() => undefined);
  }

  async observe(req: ObserveRequest): Promise<ObservedNode> {
    await sleep(this.clock, this.observeLatencyMs);
    const at = new Date(this.clock.now()).toISOString();
    if (this.unreachable || this.down) return emptyObservedNode(this.node, at, `ssh: connect to ${this.node} port 22: No route to host (simulated)`);
    return toObserved(this.node, this.state, at, req, req.drbd ? observeDrbd(this.state, this.drbdCtx()) : undefined);
  }

  /** The peer view DRBD has: a peer node's state while the replication path to it works. */
  private drbdCtx(): DrbdCtx {
    return { peer: (name) => (this.replicationDown || this.down ? undefined : this.peers(name)?.reachableForReplication()) };
  }

  /** Pseudo-argv: the verb and the action's own fields, in a stable order. */
  describe(action: Action): readonly (readonly string[])[] {
    const args = Object.entries(action)
      .filter(([k, v]) => !['verb', 'node', 'subject', 'reason'].includes(k) && v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    return [['sim', action.verb, ...args]];
  }

  async run(action: Action): Promise<ActionResult> {
    const started = this.clock.now();
    await sleep(this.clock, Math.max(0, this.latency(action)));
    const result = this.apply(action, started);
    this.log.push(result);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Fail the next `times` actions whose verb matches (or any verb, with '*'); the node is not changed. */
  failNext(verb: Verb | '*', spec: FaultSpec): void {
    this.faults.add(verb, spec);
  }

  /** Disarm every fault failNext armed that has not fired yet. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** The management path (SSH) to the node fails; the node and its VMs keep running. */
  setUnreachable(unreachable: boolean): void {
    this.unreachable = unreachable;
  }

  /** The replication network to the node fails: node-to-node verbs (migration) to or from it fail. */
  setReplicationDown(down: boolean): void {
    this.replicationDown = down;
  }

  /**
   * The node loses power: every VM process dies (its record and disks stay, so it reads
   * ERROR_down after boot), non-persistent kernel state (bridges, taps, VXLANs, sysctls)
   * is gone, and nothing reaches the node until boot().
   */
  crash(): void {
    const s = this.state;
    for (const [name, vm] of s.instances) {
      if (!ALIVE_STATES.has(vm.runState)) continue;
      const { pid: _pid, ...rest } = vm;
      s.instances.set(name, { ...rest, runState: 'stopped', guestShutdown: false, adminStopped: false });
    }
    s.taps.clear();
    s.drbd.clear();
    s.bridges.clear();
    s.vxlans.clear();
    s.sysctls.clear();
    this.down = true;
  }

  /** Power the node back on after crash(): reachable again, VMs still dead. */
  boot(): void {
    this.down = false;
    // A new boot: the kernel picks a new /proc/sys/kernel/random/boot_id.
    this.boots++;
    this.state.facts = { ...this.state.facts, bootId: simBootId(this.node, this.boots) };
  }

  /** Peers whose DRBD devices are connected to this node's over the replication network now. */
  drbdConnectedPeers(): string[] {
    return connectedPeers(this.state, this.drbdCtx());
  }

  /** Whether the node is powered off by crash(). */
  isDown(): boolean {
    return this.down;
  }

  /** Change the node behind Gantry's back (hand-made drift, a reboot that lost sysctls). */
  tamper(fn: (s: SimNodeState) => void): void {
    fn(this.state);
  }

  /** The node as it really is, ignoring reachability and probe filters (for assertions). */
  snapshot(): ObservedNode {
    return toObserved(this.node, this.state, new Date(this.clock.now()).toISOString());
  }

  /**
   * Read the live state without copying it (for invariant checks after every action,
   * where snapshot() would copy and freeze the whole node each time). `fn` must not
   * mutate it or keep references past the call.
   */
  inspect<T>(fn: (s: Readonly<SimNodeState>) => T): T {
    return fn(this.state);
  }

  /** Every result run() returned, in order. */
  history(): readonly ActionResult[] {
    return this.log;
  }

  /** The state DRBD on a peer sees over the replication network: not while down or cut off (SSH loss does not matter). */
  private reachableForReplication(): SimNodeState | undefined {
    return this.down || this.replicationDown ? undefined : this.state;
  }

  /** The live state for a peer's node-to-node verb; undefined while unreachable, down, cut off from replication or closed. */
  private reachableState(): SimNodeState | undefined {
    return this.unreachable || this.down || this.replicationDown || this.closed ? undefined : this.state;
  }

  private apply(action: Action, started: number): ActionResult {
    const fail = (code: string, message: string, retryable: boolean): ActionResult => ({
      action, ok: false, unchanged: true, commands: [], error: { code, message, retryable }, durationMs: this.clock.now() - started,
    });
    if (this.closed) return fail('CLOSED', `NodeOps for ${this.node} is closed`, false);
    if (action.node !== this.node) return fail('WRONG_NODE', `action for ${action.node} sent to ${this.node}`, false);
    if (this.unreachable || this.down) return fail('UNREACHABLE', `ssh: connect to ${this.node} port 22: No route to host (simulated)`, true);
    const handler = handlerFor(action.verb);
    if (handler === undefined) return fail('UNKNOWN_VERB', `the simulator does not implement verb "${action.verb}"`, false);
    const fault = this.faults.take(action.verb);
    if (fault !== undefined && fault.applied !== true) return fail(fault.code, fault.message ?? `injected fault on ${action.verb}`, fault.retryable);
    try {
      const changed = handler(this.state, action, {
        peer: (name) => (action.verb.startsWith('drbd.') ? this.drbdCtx().peer(name) : this.replicationDown ? undefined : this.peers(name)?.reachableState()),
        nextPid: () => ++this.pid,
      });
      if (fault !== undefined) return fail(fault.code, fault.message ?? `injected fault on ${action.verb} (the command ran)`, fault.retryable);
      return { action, ok: true, unchanged: !changed, commands: changed ? this.describe(action) : [], durationMs: this.clock.now() - started };
    } catch (err) {
      if (err instanceof GantryError) return fault !== undefined ? fail(fault.code, fault.message ?? err.message, fault.retryable) : fail(err.code, err.message, err.retryable);
      throw err; // a bug in the simulator, not a simulated failure
    }
  }
}
