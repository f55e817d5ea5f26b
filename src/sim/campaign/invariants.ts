/**
 * The safety invariants (shared/DESIGN.md), checked on the simulator's ground truth (the
 * nodes as they really are, reachable or not), never on what a controller observed.
 */
import type { Action } from '../../core/actions.js';
import type { ObservedFile, ObservedInstance, ObservedLv, ObservedNode } from '../../core/observed.js';
import type { Plan } from '../../core/plan.js';
import { drbdOfLvTags, instanceOfDiskFile, instanceOfDiskLv, instanceOfLvTags } from '../../plan/naming.js';
import type { SimCluster } from '../cluster.js';

/** Run states in which a QEMU process exists. */
const ALIVE = new Set(['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate']);

export type InvariantName =
  | 'one-running-copy' | 'unique-ip' | 'unique-mac' | 'unique-vnc-display' | 'unique-drbd-minor' | 'unique-drbd-port'
  | 'no-implicit-disk-removal' | 'action-in-plan' | 'converges' | 'controller-error'
  | 'fence-reachable' | 'fence-limit' | 'fence-while-replicating' | 'split-brain-reported';

export interface Finding {
  readonly invariant: InvariantName;
  readonly detail: string;
}

/** What the invariants read of one node, straight from the simulator's state (no copies). */
export interface TruthNode {
  readonly instances: Iterable<ObservedInstance>;
  readonly lvs: Iterable<ObservedLv>;
  readonly files: Iterable<ObservedFile>;
  /** Configured DRBD devices (absent in hand-built truths). */
  readonly drbd?: Iterable<{ readonly minor: number; readonly resource: string }>;
  /** Meta LVs ("vg/name") whose DRBD metadata records a split brain (absent in hand-built truths). */
  readonly drbdSplitBrain?: Iterable<string>;
}
export type Truth = Readonly<Record<string, TruthNode>>;

/** The ground truth of every node, reachable or not. Valid until the next action runs. */
export function truthOf(sim: SimCluster): Truth {
  const out: Record<string, TruthNode> = {};
  for (const [name, n] of sim.nodes) {
    out[name] = n.inspect((s) => ({
      instances: [...s.instances.values()],
      lvs: [...s.lvs.values()],
      files: [...s.files.values(), ...(s.shared?.files.values() ?? [])],
      drbd: [...s.drbd.values()],
      drbdSplitBrain: [...s.drbdMeta].filter(([, m]) => m.splitBrain).map(([id]) => id),
    }));
  }
  return out;
}

/** The same view of observed snapshots (for tests that build the truth by hand). */
export function truthOfSnapshots(nodes: Readonly<Record<string, ObservedNode>>): Truth {
  return Object.fromEntries(Object.entries(nodes).map(([k, o]) => [k, { instances: Object.values(o.instances), lvs: Object.values(o.lvs), files: Object.values(o.files) }]));
}

/** At most one node runs each instance (the simulator's migration is atomic, so none is in flight between actions). */
export function oneRunningCopy(truth: Truth): Finding[] {
  const running = new Map<string, string[]>();
  for (const [node, o] of Object.entries(truth)) {
    for (const vm of o.instances) {
      if (ALIVE.has(vm.runState)) running.set(vm.name, [...(running.get(vm.name) ?? []), node]);
    }
  }
  return [...running].filter(([, nodes]) => nodes.length > 1)
    .map(([name, nodes]) => ({ invariant: 'one-running-copy', detail: `${name} runs on ${nodes.join(' and ')}` }));
}

/**
 * No two instances hold the same IP or MAC, as recorded on the nodes (instance records and
 * launch specs, running or not: a stopped VM's address is still its own).
 */
export function uniqueAddresses(truth: Truth): Finding[] {
  const ips = new Map<string, Set<string>>();
  const macs = new Map<string, Set<string>>();
  const add = (m: Map<string, Set<string>>, key: string | undefined, owner: string) => {
    if (key === undefined || key === '') return;
    m.set(key, (m.get(key) ?? new Set()).add(owner));
  };
  for (const o of Object.values(truth)) {
    for (const vm of o.instances) {
      for (const nic of vm.meta?.nics ?? []) {
        add(ips, nic.ip, vm.name);
        add(macs, nic.mac, vm.name);
      }
      const launch = vm.meta?.launch as { nics?: { mac?: string }[] } | undefined;
      for (const nic of launch?.nics ?? []) add(macs, nic.mac, vm.name);
    }
  }
  const dup = (m: Map<string, Set<string>>, invariant: InvariantName, what: string): Finding[] =>
    [...m].filter(([, owners]) => owners.size > 1).map(([k, owners]) => ({ invariant, detail: `${what} ${k} is held by ${[...owners].sort().join(' and ')}` }));
  return [...dup(ips, 'unique-ip', 'IP'), ...dup(macs, 'unique-mac', 'MAC')];
}

/** No two running instances of one node share a VNC display (the planner's allocation, as recorded in each launch). */
export function uniqueVncDisplays(truth: Truth): Finding[] {
  const out: Finding[] = [];
  for (const [node, o] of Object.entries(truth)) {
    const seen = new Map<number, string>();
    for (const vm of o.instances) {
      const display = (vm.meta?.launch as { vncDisplay?: unknown } | undefined)?.vncDisplay;
      if (!ALIVE.has(vm.runState) || typeof display !== 'number') continue;
      const other = seen.get(display);
      if (other !== undefined) out.push({ invariant: 'unique-vnc-display', detail: `${other} and ${vm.name} share VNC display ${display} on ${node}` });
      seen.set(display, vm.name);
    }
  }
  return out;
}

/**
 * DRBD minors are unique per node and DRBD ports per cluster: what the LV tags record
 * (plan/naming drbdTags, written by the lvcreate that makes each disk) never gives one
 * minor on a node, or one port anywhere, to two different disks; and a configured DRBD
 * device on a node uses the minor its disk records.
 */
export function uniqueDrbdResources(truth: Truth): Finding[] {
  const out: Finding[] = [];
  const ports = new Map<number, string>();
  for (const [node, o] of Object.entries(truth)) {
    const minors = new Map<number, string>();
    for (const lv of o.lvs) {
      const inst = instanceOfLvTags(lv.tags);
      const disk = instanceOfDiskLv(lv.name);
      const rec = drbdOfLvTags(lv.tags);
      if (!inst || !disk) continue;
      const owner = `${inst} disk ${disk.index}`;
      if (rec.minor !== undefined) {
        const other = minors.get(rec.minor);
        if (other !== undefined && other !== owner) out.push({ invariant: 'unique-drbd-minor', detail: `${other} and ${owner} both record DRBD minor ${rec.minor} on ${node}` });
        minors.set(rec.minor, owner);
      }
      if (rec.port !== undefined) {
        const other = ports.get(rec.port);
        if (other !== undefined && other !== owner) out.push({ invariant: 'unique-drbd-port', detail: `${other} and ${owner} both record DRBD port ${rec.port}` });
        ports.set(rec.port, owner);
      }
    }
    for (const d of o.drbd ?? []) {
      const owner = minors.get(d.minor);
      if (owner === undefined) out.push({ invariant: 'unique-drbd-minor', detail: `DRBD minor ${d.minor} (${d.resource}) is configured on ${node} but no disk records it` });
    }
  }
  return out;
}

/** Where a disk lives: an LV on a node, a file on a node, or a file on shared storage. */
export interface DiskRef {
  readonly key: string;
  readonly instance: string;
}

/** Every instance disk on the nodes (LVs by their ownership tag, images by their name), shared files once. */
export function disksOf(truth: Truth, sharedDirs: readonly string[]): Map<string, DiskRef> {
  const out = new Map<string, DiskRef>();
  const shared = (p: string) => sharedDirs.some((d) => p.startsWith(`${d}/`));
  for (const [node, o] of Object.entries(truth)) {
    for (const lv of o.lvs) {
      const instance = instanceOfLvTags(lv.tags);
      if (instance !== undefined) out.set(`${node}:${lv.vg}/${lv.name}`, { key: `${node}:${lv.vg}/${lv.name}`, instance });
    }
    for (const f of o.files) {
      const owner = instanceOfDiskFile(f.path);
      const key = shared(f.path) ? `shared:${f.path}` : `${node}:${f.path}`;
      if (owner !== undefined) out.set(key, { key, instance: owner.instance });
    }
  }
  return out;
}

/** Whether the operator's manifests allow removing this instance's disks. */
export type RemovalAllowed = (instance: string) => boolean;

/**
 * Disks gone between two truths that the desired state did not remove. A DRBD replica
 * moved off a node (a secondary replacement: a drain, a manifest naming a new secondary)
 * is no destruction: the same LV of the same instance is still on two other nodes.
 */
export function diskRemovals(before: ReadonlyMap<string, DiskRef>, after: ReadonlyMap<string, DiskRef>, allowed: RemovalAllowed): Finding[] {
  const out: Finding[] = [];
  const copies = new Map<string, number>();
  for (const [key, d] of after) {
    const lv = key.slice(key.indexOf(':') + 1);
    if (!key.startsWith('shared:')) copies.set(`${d.instance}\0${lv}`, (copies.get(`${d.instance}\0${lv}`) ?? 0) + 1);
  }
  for (const [key, d] of before) {
    if (after.has(key) || allowed(d.instance)) continue;
    if (!key.startsWith('shared:') && (copies.get(`${d.instance}\0${key.slice(key.indexOf(':') + 1)}`) ?? 0) >= 2) continue;
    out.push({ invariant: 'no-implicit-disk-removal', detail: `disk ${key} of ${d.instance} was removed, but the manifests neither delete ${d.instance} (state: absent + deleteDisks) nor leave it undeclared with orphans.remove on` });
  }
  return out;
}

/** Every action a pass ran is one of its plan's actions (compared field by field). */
export function actionsInPlan(plan: Plan | undefined, executed: readonly Action[], who: string): Finding[] {
  const planned = new Set((plan?.actions ?? []).map((a) => JSON.stringify(a)));
  return executed.filter((a) => !planned.has(JSON.stringify(a)))
    .map((a) => ({ invariant: 'action-in-plan', detail: `${who} ran ${describeAction(a)}, which its plan does not hold` }));
}

/**
 * A DRBD split brain is never silent: every instance whose disks' metadata records one (on
 * any node) and that the manifests still declare gets a DRBD_SPLIT_BRAIN refusal in `plan`
 * (made with every node observable: the convergence passes).
 */
export function splitBrainReported(truth: Truth, plan: Plan | undefined, declared: (instance: string) => boolean): Finding[] {
  const split = new Map<string, Set<string>>();
  for (const [node, o] of Object.entries(truth)) {
    for (const id of o.drbdSplitBrain ?? []) {
      const inst = instanceOfDiskLv(id.slice(id.indexOf('/') + 1))?.instance;
      if (inst !== undefined && declared(inst)) split.set(inst, (split.get(inst) ?? new Set()).add(node));
    }
  }
  const reported = new Set((plan?.refused ?? []).filter((r) => r.code === 'DRBD_SPLIT_BRAIN').map((r) => r.subject));
  return [...split].filter(([inst]) => plan !== undefined && !reported.has(`Instance/${inst}`))
    .map(([inst, nodes]) => ({ invariant: 'split-brain-reported', detail: `${inst}: DRBD split brain on ${[...nodes].sort().join(', ')} and the plan does not report it` }));
}

/** Every invariant that holds at any instant (between two actions). */
export function instantInvariants(sim: SimCluster): Finding[] {
  const truth = truthOf(sim);
  return [...oneRunningCopy(truth), ...uniqueAddresses(truth), ...uniqueVncDisplays(truth), ...uniqueDrbdResources(truth)];
}

export function describeAction(a: Action): string {
  return `${a.verb} ${a.node} ${a.subject}`;
}
