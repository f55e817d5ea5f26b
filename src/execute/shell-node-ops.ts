/**
 * NodeOps over a Transport: the drivers' pure builders and parsers plus the only I/O.
 * observe = one execBatch of the probe; run = read (one execBatch), decide (pure), then
 * the mutating commands one by one, stopping at the first failure. Command failures
 * come back as ActionResult errors, never as throws.
 */
import { instanceRenameOp } from './rename-op.js';
import type { Action } from '../core/actions.js';
import type { Transport, ExecResult } from '../transport/transport.js';
import type { Logger } from '../util/log.js';
import type { ObservedNode } from '../core/observed.js';
import { emptyObservedNode } from '../core/observed.js';
import { parseProbe, probeCommands, type ExtraSections, type ProbeOptions } from '../observe/probe.js';
import { actionError, commandFailure, ExecError } from '../util/errors.js';
import type { ActionResult, NodeOps, ObserveRequest } from '../core/node-ops.js';
import { firstLine, type Decision, type EnsureOp } from '../drivers/facts/shared.js';
import { lvActivateOp, lvCreateOp, lvExtendOp, lvRemoveOp, lvUntagOp, vgEnsureOp } from '../drivers/lvm/ops.js';
import { fileCreateOp, fileGrowOp, fileRemoveOp } from '../drivers/file/ops.js';
import { bridgeAddressRemoveOp, bridgeEnsureOp, bridgeRemoveOp } from '../drivers/bridge/ops.js';
import { vxlanEnsureOp, vxlanRemoveOp } from '../drivers/vxlan/ops.js';
import { ovsBridgeEnsureOp, ovsBridgeRemoveOp, ovsPortEnsureOp, ovsPortRemoveOp, ovsPortVlansRemoveOp } from '../drivers/ovs/ops.js';
import { sysctlSetOp } from '../drivers/sysctl/ops.js';
import { routedEntryRemoveOp, routedTapEnsureOp } from '../drivers/route/route.js';
import { redact } from '../drivers/drbd/ops.js';
import { describeDrbd, isDrbdAction, runDrbd, type DrbdAction } from './drbd-actions.js';

export interface ShellNodeOpsOptions {
  readonly node: string;
  readonly transport: Transport;
  readonly logger: Logger;
  /** False: LVM runs with `activation = 0` (no device-mapper on the node). Default true. */
  readonly lvmActivation?: boolean;
  /** ovsdb socket of this node's Open vSwitch (ObserveRequest.ovsdbSocket wins in observe). */
  readonly ovsdbSocket?: string;
  /** find -name glob(s) for disk images in ObserveRequest.fileDirs (default every file). */
  readonly fileNamePattern?: string | readonly string[];
  /**
   * Sections other drivers observe, run in the same batch as the probe (one round trip):
   * their commands are appended to the batch and `parse` gets their results.
   */
  readonly extraProbe?: (req: ObserveRequest) => { commands: string[][]; parse: (results: readonly ExecResult[]) => ExtraSections };
  /**
   * Runs the verbs these drivers do not own (instance.* belongs to drivers/qemu), so one
   * NodeOps serves the executor.
   */
  readonly delegate?: Pick<NodeOps, 'describe' | 'run'>;
  /** How drbd.primary / drbd.initial-sync poll for the peer (tests inject the sleep). */
  readonly drbdWait?: { readonly sleep?: (ms: number) => Promise<void>; readonly intervalMs?: number };
  /** Injected clock, for observedAt and durations. */
  readonly now?: () => number;
}

export class ShellNodeOps implements NodeOps {
  readonly node: string;
  private readonly t: Transport;
  private readonly log: Logger;
  private readonly o: ShellNodeOpsOptions;
  private readonly now: () => number;

  constructor(opts: ShellNodeOpsOptions) {
    this.node = opts.node;
    this.t = opts.transport;
    this.log = opts.logger.child({ node: opts.node, component: 'shell-node-ops' });
    this.o = opts;
    this.now = opts.now ?? Date.now;
  }

  private probeOptions(): ProbeOptions {
    return {
      ...(this.o.lvmActivation !== undefined ? { lvmActivation: this.o.lvmActivation } : {}),
      ...(this.o.ovsdbSocket !== undefined ? { ovsdbSocket: this.o.ovsdbSocket } : {}),
      ...(this.o.fileNamePattern !== undefined ? { fileNamePattern: this.o.fileNamePattern } : {}),
    };
  }

  async observe(req: ObserveRequest): Promise<ObservedNode> {
    const at = new Date(this.now()).toISOString();
    const opts = this.probeOptions();
    let results: ExecResult[];
    const base = probeCommands(req, opts);
    const more = this.o.extraProbe?.(req);
    try {
      results = await this.t.execBatch([...base, ...(more?.commands ?? [])]);
    } catch (e) {
      // Only the transport rejects (unreachable, host key, timeout): the node is unreachable.
      const msg = e instanceof Error ? e.message : String(e);
      this.log.warn({ err: msg }, 'observe failed: node unreachable');
      return emptyObservedNode(this.node, at, msg);
    }
    const probed = results.slice(0, base.length);
    let fromBatch: ExtraSections = {};
    if (more) {
      try {
        fromBatch = more.parse(results.slice(base.length));
      } catch (e) {
        // Without its instances a node must not be planned at all: an empty instance list
        // would read as "no VM runs here" and start duplicates. Treat it as unobservable.
        const msg = e instanceof Error ? e.message : String(e);
        this.log.warn({ err: msg }, 'observe: instance probe failed; node treated as unreachable');
        return emptyObservedNode(this.node, at, msg);
      }
    }
    const observed = parseProbe(this.node, req, probed, at, opts, fromBatch);
    if (observed.probeErrors.length > 0) this.log.info({ probeErrors: observed.probeErrors }, 'observe: some sections failed');
    return observed;
  }

  /** Write commands as if nothing existed yet; `run` reads first and may run fewer. */
  describe(action: Action): readonly (readonly string[])[] {
    if (isDrbdAction(action)) return describeDrbd(action).map(redact);
    const op = opFor(action, this.o);
    if (op) return op.describe();
    return this.o.delegate ? this.o.delegate.describe(action) : [];
  }

  async run(action: Action): Promise<ActionResult> {
    if (isDrbdAction(action)) return this.runDrbd(action);
    if (!opFor(action, this.o) && this.o.delegate) return this.o.delegate.run(action);
    const started = this.now();
    const ran: string[][] = [];
    let result: Omit<ActionResult, 'durationMs'>;
    try {
      const op = opFor(action, this.o);
      if (!op) throw new ExecError('UNSUPPORTED_VERB', `${action.verb} has no shell driver on ${this.node} and no delegate was configured`);
      const decision = op.decide(await this.t.execBatch(op.read()));
      if (decision.kind === 'noop') result = { action, ok: true, unchanged: true, commands: [] };
      else if (decision.kind === 'refuse') result = { action, ok: false, unchanged: true, commands: [], error: errorOf(decision.error) };
      else {
        let failure: ActionResult['error'];
        for (const argv of decision.commands) {
          ran.push(argv);
          const r = await this.t.exec(argv);
          if (r.code !== 0) {
            failure = commandFailure(argv, r.code, r.stderr, firstLine(r.stderr));
            break;
          }
        }
        result = { action, ok: failure === undefined, unchanged: false, commands: ran, ...(failure ? { error: failure } : {}) };
      }
    } catch (e) {
      // Builders throw on invalid names (prereq), the transport on unreachable nodes.
      result = { action, ok: false, unchanged: ran.length === 0, commands: ran, error: errorOf(e) };
    }
    const durationMs = this.now() - started;
    this.log.info({ verb: action.verb, node: this.node, subject: action.subject, ok: result.ok, unchanged: result.unchanged, durationMs, ...(result.error ? { code: result.error.code } : {}) }, 'action');
    return { ...result, durationMs };
  }

  /** drbd.* actions: the DRBD runner reads, decides and runs in several steps (waits for the peer). */
  private async runDrbd(action: DrbdAction): Promise<ActionResult> {
    const started = this.now();
    let result: Omit<ActionResult, 'durationMs'>;
    try {
      const r = await runDrbd(this.t, action, this.log, this.o.drbdWait ?? {});
      result = { action, ok: true, unchanged: r.ran.length === 0, commands: r.ran };
    } catch (e) {
      const ran = (e as { details?: { ran?: string[][] } }).details?.ran ?? [];
      result = { action, ok: false, unchanged: ran.length === 0, commands: ran, error: errorOf(e) };
    }
    const durationMs = this.now() - started;
    this.log.info({ verb: action.verb, node: this.node, subject: action.subject, ok: result.ok, unchanged: result.unchanged, durationMs, ...(result.error ? { code: result.error.code } : {}) }, 'action');
    return { ...result, durationMs };
  }

  async close(): Promise<void> {
    await this.t.close();
  }
}

/** The retry rule lives in util/errors.ts (actionError, commandFailure). */
const errorOf = actionError;

/** A driver operation bound to its action's parameters. */
interface BoundOp {
  read(): string[][];
  decide(reads: readonly ExecResult[]): Decision;
  describe(): string[][];
}

/** Drivers define their own parameter types; an action is passed as them by its shape. */
function bind<P>(op: EnsureOp<P>, params: P): BoundOp {
  return { read: () => op.read(params), decide: (reads) => op.decide(params, reads), describe: () => op.describe(params) };
}

/** The one switch from verb to driver operation; undefined for verbs owned elsewhere. */
function opFor(action: Action, o: ShellNodeOpsOptions): BoundOp | undefined {
  const lvm = { activation: o.lvmActivation !== false };
  const ovs = o.ovsdbSocket !== undefined ? { ovsdbSocket: o.ovsdbSocket } : {};
  switch (action.verb) {
    case 'bridge.ensure': return bind(bridgeEnsureOp, action);
    case 'bridge.remove': return bind(bridgeRemoveOp, action);
    case 'bridge.address.remove': return bind(bridgeAddressRemoveOp, action);
    case 'ovs.bridge.ensure': return bind(ovsBridgeEnsureOp(ovs), action);
    case 'ovs.bridge.remove': return bind(ovsBridgeRemoveOp(ovs), action);
    case 'ovs.port.ensure': return bind(ovsPortEnsureOp(ovs), action);
    case 'ovs.port.remove': return bind(ovsPortRemoveOp(ovs), action);
    case 'ovs.port.vlans.remove': return bind(ovsPortVlansRemoveOp(ovs), action);
    case 'vxlan.ensure': return bind(vxlanEnsureOp, action);
    case 'vxlan.remove': return bind(vxlanRemoveOp, action);
    case 'sysctl.set': return bind(sysctlSetOp, action);
    case 'nic.routed.ensure': return bind(routedTapEnsureOp, action);
    case 'nic.routed.remove': return bind(routedEntryRemoveOp, action);
    case 'vg.ensure': return bind(vgEnsureOp(lvm), action);
    case 'lv.create': return bind(lvCreateOp(lvm), action);
    case 'lv.extend': return bind(lvExtendOp(lvm), action);
    case 'lv.activate': return bind(lvActivateOp(lvm), action);
    case 'lv.remove': return bind(lvRemoveOp(lvm), action);
    case 'lv.untag': return bind(lvUntagOp(lvm), action);
    case 'file.create': return bind(fileCreateOp, action);
    case 'file.grow': return bind(fileGrowOp, action);
    case 'file.remove': return bind(fileRemoveOp, action);
    case 'instance.rename': return bind(instanceRenameOp(lvm), action);
    default: return undefined;
  }
}
