/**
 * The faults of the campaign: what each does to the simulator, the state directory, the
 * manifests or a controller pass, and how it heals. Node faults last a few steps; pass
 * faults (a controller crash, a second controller, a partition that starts mid-pass)
 * strike between two actions of the next pass. `secondary-loss` takes a DRBD secondary's
 * disks away (its node dies, and the admin declares it `role: offline`, as after a failed
 * disk shelf): what harep's fix-storage repairs. `reboot-inactive-lvs` reboots a node at once
 * (its VMs die, its kernel state is lost, a new boot ID) without LVM autoactivation: its LVs
 * come up inactive, for lv.activate.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Verb } from '../../core/actions.js';
import type { Fencer, FenceRecord } from '../../core/liveness.js';
import type { Plan } from '../../core/plan.js';
import type { DesiredState } from '../../desired/model.js';
import type { SimCluster } from '../cluster.js';
import type { PassArming, PassOutcome, PassSpec } from './controller.js';
import type { World } from './world.js';
import type { Finding } from './invariants.js';

export const FAULT_KINDS = [
  'node-crash', 'sshd-loss', 'mgmt-partition', 'repl-partition', 'command-fail', 'command-hang',
  'controller-crash', 'state-lost', 'state-corrupt', 'two-controllers', 'truncated-manifests', 'bmc-failure', 'secondary-loss',
  'reboot-inactive-lvs',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Node faults that cut the controller off a node. */
const CUT_OFF: ReadonlySet<FaultKind> = new Set(['node-crash', 'sshd-loss', 'mgmt-partition', 'secondary-loss']);
/** Node faults that power the node off (the simulator's crash). */
const CRASH: ReadonlySet<FaultKind> = new Set(['node-crash', 'secondary-loss']);
const COMMAND_VERBS: readonly (Verb | '*')[] = [
  'instance.start', 'instance.stop', 'instance.install', 'instance.migrate', 'instance.remove', 'lv.create', 'file.create', 'bridge.ensure', '*',
];
const GARBAGE = '{"observedAt": "2026-01-01T00:00:00.000Z", "nodes": {"n1": {"name": "n1", "reach';

interface Active {
  readonly kind: FaultKind;
  readonly node?: string;
  readonly healAt: number;
  /** Instance files a truncated checkout keeps. */
  readonly keep?: number;
  /** secondary-loss: the fault declared the node `role: offline` (taken back when it heals, if still so). */
  readonly declared?: boolean;
}

type RunPass = (spec: Omit<PassSpec, 'afterAction'>) => Promise<PassOutcome>;

export class FaultInjector {
  private active: Active[] = [];
  private readonly injected = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** A pass fault waiting for the next pass. */
  private pending: { kind: 'controller-crash' | 'two-controllers' | 'mgmt-partition'; node?: string; healAt: number } | undefined;
  /** The full desired state of the previous step, and of the one before it (a stale checkout for controller B). */
  private previous: DesiredState | undefined;
  private previousForB: DesiredState | undefined;
  /** Nodes the controller powered off (fenced) that nobody powered on yet. */
  private readonly fenced = new Set<string>();
  /** Fences asked for, and how many the power control refused (a failing BMC). */
  private fences = { asked: 0, refused: 0 };

  constructor(
    private readonly r: () => number,
    private readonly sim: SimCluster,
    private readonly world: World,
    private readonly stateDir: string,
    private readonly kinds: readonly FaultKind[],
    private readonly log: (line: string) => void,
    /** How many steps a fault lasts, at least and at most. */
    private readonly lasts: readonly [number, number] = [1, 4],
  ) {}

  counts(): Record<FaultKind, number> {
    return { ...this.injected };
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }

  /** Inject one random fault at `step`. */
  async inject(step: number): Promise<void> {
    const kind = this.kinds[Math.floor(this.r() * this.kinds.length)]!;
    const healAt = step + this.int(this.lasts[0], this.lasts[1]);
    switch (kind) {
      case 'node-crash':
      case 'sshd-loss':
      case 'repl-partition': {
        const node = this.freeNode(kind);
        if (node === undefined) return;
        this.active.push({ kind, node, healAt });
        if (kind === 'node-crash') this.sim.node(node).crash();
        this.applyNodeFaults();
        this.count(kind, `${node}, heals at step ${healAt}`);
        return;
      }
      case 'mgmt-partition': {
        const node = this.freeNode(kind);
        if (node === undefined || this.pending !== undefined) return;
        this.pending = { kind, node, healAt };
        this.count(kind, `${node} cut off from the controller in the middle of the next pass, heals at step ${healAt}`);
        return;
      }
      case 'command-fail':
      case 'command-hang': {
        const node = this.world.shape.nodes[Math.floor(this.r() * this.world.shape.nodes.length)]!;
        const verb = COMMAND_VERBS[Math.floor(this.r() * COMMAND_VERBS.length)]!;
        const times = this.int(1, 3);
        const spec = kind === 'command-fail'
          ? { code: 'COMMAND_FAILED', retryable: this.r() < 0.5, times, message: `${verb} failed on ${node} (injected)` }
          : { code: 'COMMAND_TIMEOUT', retryable: true, times, applied: this.r() < 0.5, message: `${verb} on ${node} hung and timed out (injected)` };
        this.sim.node(node).failNext(verb, spec);
        this.active.push({ kind, node, healAt });
        this.count(kind, `${verb} on ${node} x${times}${'applied' in spec && spec.applied ? ' (the command ran)' : ''}`);
        return;
      }
      case 'controller-crash':
      case 'two-controllers':
        if (this.pending !== undefined) return;
        this.pending = { kind, healAt };
        this.count(kind, 'in the next pass');
        return;
      case 'bmc-failure': {
        // The node's out-of-band controller stops answering: a fence of it cannot be confirmed.
        const node = this.world.shape.nodes[Math.floor(this.r() * this.world.shape.nodes.length)]!;
        if (this.active.some((a) => a.kind === kind && a.node === node)) return;
        this.active.push({ kind, node, healAt });
        this.count(kind, `${node}'s power control does not answer until step ${healAt}`);
        return;
      }
      case 'state-lost':
        await rm(this.stateDir, { recursive: true, force: true });
        this.count(kind, this.stateDir);
        return;
      case 'state-corrupt':
        await mkdir(this.stateDir, { recursive: true });
        for (const f of ['observed.json', 'status.json']) await writeFile(path.join(this.stateDir, f), GARBAGE);
        this.active.push({ kind, healAt });
        this.count(kind, 'observed.json and status.json cut short');
        return;
      case 'secondary-loss': {
        const hit = this.drbdSecondary();
        if (hit === undefined) return;
        const declared = ![...this.world.roles.values()].includes('offline'); // the admin declares at most one node offline at a time
        this.active.push({ kind, node: hit.node, healAt, declared });
        this.sim.node(hit.node).crash();
        if (declared) this.world.roles.set(hit.node, 'offline');
        this.applyNodeFaults();
        this.count(kind, `${hit.node}, the DRBD secondary of ${hit.instance} (${hit.repair !== undefined ? `harep ${hit.repair} allowed` : 'no harep opt-in'}), dies${declared ? ' and is declared offline' : ''}, heals at step ${healAt}`);
        return;
      }
      case 'reboot-inactive-lvs': {
        const node = this.freeNode(kind);
        if (node === undefined || this.sim.node(node).isDown()) return;
        const n = this.sim.node(node);
        n.crash();
        n.tamper((s) => { for (const [id, lv] of s.lvs) s.lvs.set(id, { ...lv, active: false }); });
        n.boot();
        this.count(kind, `${node} rebooted, its LVs inactive`);
        return;
      }
      case 'truncated-manifests': {
        if (this.active.some((a) => a.kind === kind)) return;
        const keep = this.int(0, Math.max(0, this.world.instanceFileCount() - 1));
        this.active.push({ kind, healAt, keep });
        this.count(kind, `checkout keeps ${keep} of ${this.world.instanceFileCount()} instance files until step ${healAt}`);
        return;
      }
    }
  }

  /** The desired state controller A reads this step (a truncated checkout while that fault lasts). */
  desiredFor(world: World): DesiredState {
    const t = this.active.find((a) => a.kind === 'truncated-manifests');
    const full = world.desired();
    const seen = t ? world.desired(t.keep) : full;
    this.previousForB = this.previous ?? full;
    this.previous = full;
    return seen;
  }

  /** Arm the pending pass fault against the plan of the pass about to execute. */
  armPass(plan: Plan, runPass: RunPass): PassArming {
    const p = this.pending;
    if (p === undefined || plan.actions.length === 0) return {};
    this.pending = undefined;
    const k = Math.floor(this.r() * plan.actions.length);
    if (p.kind === 'controller-crash') {
      this.log(`controller A crashes before action ${k} of ${plan.actions.length}`);
      return { crashAfter: k };
    }
    if (p.kind === 'mgmt-partition') return { before: new Map([[k, async () => this.startPartition(p.node!, p.healAt)]]) };
    return { before: new Map([[k, async () => void (await this.secondController(runPass, `before action ${k} of A`))]]) };
  }

  /** Pass faults whose pass had nothing to run strike after it. */
  async afterPass(_a: PassOutcome, runPass: RunPass): Promise<void> {
    const p = this.pending;
    if (p === undefined) return;
    this.pending = undefined;
    if (p.kind === 'mgmt-partition') this.startPartition(p.node!, p.healAt);
    else if (p.kind === 'two-controllers') await this.secondController(runPass, 'after A (A had nothing to run)');
    // A controller crash with nothing to run is no crash.
  }

  private startPartition(node: string, healAt: number): void {
    this.active.push({ kind: 'mgmt-partition', node, healAt });
    this.applyNodeFaults();
    this.log(`management partition of ${node} starts`);
  }

  /** A second controller (an `apply` next to `run`), with the same manifests or a checkout one step old. */
  private secondController(runPass: RunPass, when: string): Promise<PassOutcome> {
    const stale = this.r() < 0.5 && this.previousForB !== undefined;
    this.log(`controller B starts ${when}${stale ? ' with the previous checkout' : ''}`);
    return runPass({ name: 'controller B', desired: stale ? this.previousForB! : this.world.desired() });
  }

  async healDue(step: number): Promise<void> {
    const due = this.active.filter((a) => a.healAt <= step);
    this.active = this.active.filter((a) => a.healAt > step);
    for (const a of due) await this.heal(a);
    this.applyNodeFaults();
  }

  async healAll(): Promise<void> {
    const all = this.active;
    this.active = [];
    this.pending = undefined;
    for (const a of all) await this.heal(a);
    for (const n of [...this.fenced]) this.powerOnIfFenced(n);
    this.applyNodeFaults();
  }

  private async heal(a: Active): Promise<void> {
    if (CRASH.has(a.kind) && !this.active.some((x) => CRASH.has(x.kind) && x.node === a.node)) this.sim.node(a.node!).boot();
    if (a.declared && this.world.roles.get(a.node!) === 'offline') this.world.roles.delete(a.node!);
    if (a.node !== undefined && CUT_OFF.has(a.kind)) this.powerOnIfFenced(a.node);
    if ((a.kind === 'command-fail' || a.kind === 'command-hang') && !this.active.some((x) => x.node === a.node && (x.kind === 'command-fail' || x.kind === 'command-hang'))) {
      this.sim.node(a.node!).clearFaults();
    }
    if (a.kind === 'state-corrupt') {
      // The operator removes what the controller could not read (a controller that rewrote them healed it already).
      for (const f of ['observed.json', 'status.json']) {
        const p = path.join(this.stateDir, f);
        const text = await readFile(p, 'utf8').catch(() => undefined);
        if (text === GARBAGE) await rm(p, { force: true });
      }
    }
    this.log(`healed ${a.kind}${a.node ? ` on ${a.node}` : ''}`);
  }

  /** The admin repairs a fenced node and powers it on, once what cut it off is gone. */
  private powerOnIfFenced(node: string): void {
    if (!this.fenced.has(node) || this.active.some((x) => x.node === node && CUT_OFF.has(x.kind))) return;
    this.fenced.delete(node);
    this.sim.node(node).boot();
    this.log(`${node} (fenced) powered on again`);
  }

  /** Fences asked for and refused so far. */
  fenceCounts(): { asked: number; refused: number } {
    return { ...this.fences };
  }

  /**
   * The controller's power control. It powers the node off (the simulator's crash: every VM
   * dies) and confirms, unless a bmc-failure fault holds it; and it checks, at the moment of
   * power-off, the fencing invariants on the ground truth: the node was cut off from the
   * controller (a reachable node is never fenced), no other node of its group is still
   * powered off by a fence (one per group at once), and no DRBD peer is connected to it (a
   * node alive on the replication network is not dead).
   */
  fencer(report: (found: readonly Finding[]) => void, groupOf: (node: string) => string = () => 'default'): Fencer {
    return {
      fence: async (node: string, now: () => Date): Promise<FenceRecord> => {
        this.fences.asked++;
        const n = this.sim.node(node);
        const found: Finding[] = [];
        if (!n.isDown() && !this.active.some((a) => a.node === node && CUT_OFF.has(a.kind))) {
          found.push({ invariant: 'fence-reachable', detail: `${node} was fenced while nothing cut it off from the controller` });
        }
        const others = [...this.fenced].filter((x) => x !== node && groupOf(x) === groupOf(node) && this.sim.node(x).isDown());
        if (others.length > 0) found.push({ invariant: 'fence-limit', detail: `${node} was fenced while ${others.join(', ')} of its group is still powered off by a fence` });
        const peers = n.isDown() ? [] : n.drbdConnectedPeers();
        if (peers.length > 0) found.push({ invariant: 'fence-while-replicating', detail: `${node} was fenced while its DRBD peers ${peers.join(', ')} were connected to it` });
        report(found);
        if (this.active.some((a) => a.kind === 'bmc-failure' && a.node === node)) {
          this.fences.refused++;
          this.log(`fence of ${node} fails: its power control does not answer`);
          throw new Error(`power-off ${node}: the BMC does not answer (injected)`);
        }
        if (!n.isDown()) n.crash();
        this.fenced.add(node);
        this.log(`${node} fenced (powered off)`);
        return { at: now().toISOString(), verbs: ['power-off', 'power-status'], powered: false };
      },
    };
  }

  /** Reachability and replication of every node from the active faults. */
  private applyNodeFaults(): void {
    for (const n of this.world.shape.nodes) {
      const on = (k: FaultKind) => this.active.some((a) => a.node === n && a.kind === k);
      this.sim.node(n).setUnreachable(on('sshd-loss') || on('mgmt-partition'));
      this.sim.node(n).setReplicationDown(on('repl-partition'));
    }
  }

  /**
   * A node that holds the DRBD secondary of a declared instance (its meta LV there, its VM
   * or its Primary device on the other node), not cut off already, with two other nodes left
   * in reach (its primary, and room for a new secondary); undefined when there is none.
   */
  private drbdSecondary(): { node: string; instance: string; repair: string | undefined } | undefined {
    const nodes = this.world.shape.nodes;
    const cut = new Set(this.active.filter((a) => CUT_OFF.has(a.kind)).map((a) => a.node));
    if (this.pending?.node !== undefined) cut.add(this.pending.node);
    if (cut.size >= nodes.length - 2) return undefined; // the primary and one more node stay in reach (room for a new secondary)
    const hits: { node: string; instance: string; repair: string | undefined }[] = [];
    for (const doc of this.world.instances.values()) {
      const repair = doc.spec.autoRepair?.repair;
      if (doc.spec.diskTemplate !== 'drbd' || doc.spec.state === 'absent') continue;
      const name = doc.metadata.name;
      const holders = nodes.filter((n) => this.sim.node(n).inspect((s) => [...s.lvs.values()].some((l) => l.name === `${name}.disk0_meta`)));
      const primary = holders.filter((n) => this.sim.node(n).inspect((s) => s.instances.get(name)?.runState === 'running' || [...s.drbd.values()].some((d) => d.role === 'Primary' && d.dataLv.endsWith(`/${name}.disk0`))));
      if (holders.length !== 2 || primary.length !== 1) continue;
      const secondary = holders.find((n) => n !== primary[0])!;
      if (!cut.has(secondary) && !cut.has(primary[0]) && !this.sim.node(secondary).isDown()) hits.push({ node: secondary, instance: name, repair });
    }
    // An instance allowed a harep repair first (fix-storage is what this fault is for); else any.
    const pool = hits.some((h) => h.repair !== undefined) ? hits.filter((h) => h.repair !== undefined) : hits;
    return pool.length === 0 ? undefined : pool[Math.floor(this.r() * pool.length)];
  }

  /** A node this fault may strike: not already struck by it, and at least one node stays in reach. */
  private freeNode(kind: FaultKind): string | undefined {
    const nodes = this.world.shape.nodes;
    const cut = new Set(this.active.filter((a) => CUT_OFF.has(a.kind)).map((a) => a.node));
    if (this.pending?.node !== undefined) cut.add(this.pending.node);
    const candidates = nodes.filter((n) => !this.active.some((a) => a.kind === kind && a.node === n) && !(CUT_OFF.has(kind) && cut.has(n)));
    if (candidates.length === 0 || (CUT_OFF.has(kind) && cut.size >= nodes.length - 1)) return undefined;
    return candidates[Math.floor(this.r() * candidates.length)];
  }

  private count(kind: FaultKind, what: string): void {
    this.injected[kind]++;
    this.log(`fault ${kind}: ${what}`);
  }
}
