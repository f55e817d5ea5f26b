/**
 * Automatic failover (DESIGN.md, "Failure model and high availability"). Pure. An
 * instance whose node is Dead (fenced: power off confirmed) or Offline (declared), and
 * that wants failover (Cluster or Instance spec.autoRepair.failover), leaves that node:
 * DRBD instances are promoted on their secondary when it is UpToDate (plan/drbd.ts,
 * planFailoverPromotion; drbdSurvivor below); sharedfile (and diskless) instances start on the manifest's primary when it is alive,
 * else on the allocator's choice (hail: N+1 and exclusion tags); plain and file instances
 * are lost until their node returns (their only disk is there). Once an instance has
 * failed over, the state directory's record (failovers.json) keeps it on its new node
 * while the manifest still names the old one, and marks any copy left on the old node
 * stale (stopped before anything else there).
 */
import type { FailoverRecord, ObservedCluster, PlanInput, PlanInstance } from '../core/plan.js';
import type { ObservedDrbdDevice, ObservedInstance, ObservedNode } from '../core/observed.js';
import type { InstanceLocation, NodeLvFacts } from './locate.js';
import { drbdPeerConnected } from './drbd.js';
import { ALIVE } from './instance-runtime.js';

/** Nodes whose instances may be failed over: Dead (confirmed) or Offline (declared). */
export function goneNodes(input: PlanInput, observed: ObservedCluster): Set<string> {
  const out = new Set<string>();
  for (const n of input.nodes) {
    const c = observed.liveness?.get(n.name)?.condition;
    if (n.role === 'offline' || c === 'Dead' || c === 'Offline') out.add(n.name);
  }
  return out;
}

/**
 * The gone node an instance must leave: every unobservable node holding it is gone.
 * Undefined when it waits for no node, or for one that is merely Unreachable.
 */
export function goneHome(loc: InstanceLocation | undefined, gone: ReadonlySet<string>): string | undefined {
  if (!loc || loc.waitsFor.size === 0) return undefined;
  const waits = [...loc.waitsFor].sort();
  if (!waits.every((n) => gone.has(n))) return undefined;
  return loc.running !== undefined && gone.has(loc.running) ? loc.running : waits[0];
}

/**
 * DRBD: the node a failover from `gone` promotes, i.e. the other node of the pair.
 * null when `gone` is not the instance's primary (a gone secondary is waited for; the
 * primary keeps running degraded); undefined when the pair has no other node. The
 * primary is the failover record's new node, else where it was last seen running, else
 * the manifest's. The survivor holds a replica: when the nodes holding the instance are
 * known, a node of the manifest that holds none of it (its disks moved off it, e.g. by a
 * drain's secondary replacement, while the manifest still names it) is never the one
 * promoted: a failover there would make empty LVs and promote nothing (campaign seed 9).
 */
export function drbdSurvivor(inst: PlanInstance, loc: InstanceLocation | undefined, gone: string, record: FailoverRecord | undefined, goneSet: ReadonlyMap<string, unknown>): string | null | undefined {
  const recorded = record && record.from === inst.primary && !goneSet.has(record.to) ? record.to : undefined;
  const current = recorded ?? loc?.running ?? inst.primary;
  if (current !== undefined && current !== gone) return null;
  const pair = [inst.primary, inst.secondary, ...[...(loc?.nodes ?? [])].sort()].filter((n): n is string => n !== undefined);
  const holds = (n: string) => loc === undefined || loc.nodes.size === 0 || loc.nodes.has(n);
  return pair.find((n) => n !== gone && !goneSet.has(n) && holds(n));
}

/** Instances whose disks are all reachable from any node (sharedfile) or absent (diskless). */
export function failsOverByRestart(inst: PlanInstance): boolean {
  return inst.disks.filter((d) => d.state === 'present').every((d) => d.template === 'sharedfile' || d.template === 'diskless');
}

/** The copy last seen on the gone node, as stopped: its record (OS generation, MACs) carries over; its process is gone with the node. */
export function staleCopy(observed: ObservedCluster, node: string, instance: string): { node: string; vm: ObservedInstance } | undefined {
  const vm = observed.lastKnown?.get(node)?.instances[instance];
  if (!vm) return undefined;
  const { pid: _pid, ...rest } = vm;
  return { node, vm: { ...rest, runState: 'stopped' } };
}

/** Records to keep: the instance is still declared present, and its manifest names no primary or still the old one. */
export function keepFailoverRecords(input: PlanInput, records: ReadonlyMap<string, FailoverRecord>): Map<string, FailoverRecord> {
  const byName = new Map(input.instances.map((i) => [i.name, i]));
  const out = new Map<string, FailoverRecord>();
  for (const [name, r] of records) {
    const i = byName.get(name);
    if (i && i.state === 'present' && (i.primary === undefined || i.primary === r.from)) out.set(name, r);
  }
  return out;
}

/** One DRBD device of an instance's disk as a node reports it now (LV tags name the minor). */
export interface DrbdSide {
  readonly disk: number;
  readonly port: number | undefined;
  /** undefined: no device is up for the recorded minor. */
  readonly dev: ObservedDrbdDevice | undefined;
}

/**
 * Where each DRBD instance's devices are, from the nodes observed now (never from a stale
 * snapshot): instance -> node -> its disks' devices, by the minor its data LVs record.
 */
export function drbdSidesByInstance(facts: readonly NodeLvFacts[]): Map<string, Map<string, DrbdSide[]>> {
  const out = new Map<string, Map<string, DrbdSide[]>>();
  for (const { node, obs, stale, lvs } of facts) {
    if (stale || obs.drbd === undefined) continue;
    for (const f of lvs) {
      if (!f.inst || f.minor === undefined) continue;
      const d = f.disk; // instanceOfDiskLv of its name (read for every LV recording a minor)
      if (!d || d.meta || d.instance !== f.inst) continue;
      const dev = obs.drbd.devices[String(f.minor)];
      const up = dev && (dev.disk !== undefined || dev.peer !== undefined || dev.role !== undefined) ? dev : undefined;
      let byNode = out.get(f.inst);
      if (!byNode) out.set(f.inst, (byNode = new Map()));
      const list = byNode.get(node);
      if (list) list.push({ disk: d.index, port: f.port, dev: up });
      else byNode.set(node, [{ disk: d.index, port: f.port, dev: up }]);
    }
  }
  return out;
}

/**
 * The copy a failover leaves behind on the node it left: the instance's runtime directory
 * (its record, kept on persistent storage through the crash or power-off) with no process.
 * A live migration removes the source's runtime directory, so a node the instance never ran
 * on, or moved away from, holds none: a manifest naming such a node is a move still to come
 * (a stale destination waits for its resync), never a failover the state directory lost.
 */
export function leftBehindCopy(obs: ObservedNode | undefined, instance: string): ObservedInstance | undefined {
  const vm = obs?.instances[instance];
  return vm !== undefined && !ALIVE.has(vm.runState) ? vm : undefined;
}

/** The nodes where a device of the instance is Primary now, in name order. */
export function drbdPrimaries(sides: ReadonlyMap<string, readonly DrbdSide[]> | undefined): string[] {
  const out: string[] = [];
  if (sides === undefined) return out;
  for (const [n, l] of sides) {
    for (const s of l) {
      if (s.dev?.role !== 'Primary') continue;
      out.push(n);
      break;
    }
  }
  return out.length > 1 ? out.sort() : out;
}

/**
 * Why a node's replica is the stale side of its pair (not every device up, connected and
 * UpToDate), or undefined when it is a healthy secondary.
 */
export function drbdStaleness(sides: readonly DrbdSide[] | undefined): string | undefined {
  if (!sides || sides.length === 0) return 'has no DRBD device for it';
  const bad = sides.filter((s) => !(s.dev && s.dev.disk === 'UpToDate' && s.dev.peer !== undefined && drbdPeerConnected(s.dev)));
  if (bad.length === 0) return undefined;
  return bad.map((s) => `disk ${s.disk} ${s.dev ? `${s.dev.peer?.connection ?? 'StandAlone'}, ${s.dev.disk ?? 'unknown'}` : 'down'}`).join('; ');
}

/**
 * The node a DRBD instance's secondary is on, from observation: among the nodes holding its
 * volumes (not the primary), one whose device is connected first, then one recording the
 * primary's DRBD port, then by name.
 */
export function observedDrbdSecondary(primary: string, candidates: Iterable<string>, sides: ReadonlyMap<string, readonly DrbdSide[]> | undefined): string | undefined {
  const ports = new Set((sides?.get(primary) ?? []).map((s) => s.port).filter((p) => p !== undefined));
  const rank = (n: string): number => {
    const l = sides?.get(n) ?? [];
    if (l.some((s) => s.dev !== undefined && drbdPeerConnected(s.dev))) return 0;
    if (l.some((s) => s.port !== undefined && ports.has(s.port))) return 1;
    return 2;
  };
  return [...candidates].filter((n) => n !== primary).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))[0];
}
/** What `gantry failover write-back` does with one failover record. */
export interface WriteBackDecision {
  readonly instance: string;
  readonly from: string;
  readonly to: string;
  /** edit: the manifest's placement gets `primary` (and `secondary`); agrees: it already names the new node; skip: left alone, with why. */
  readonly decision: 'edit' | 'agrees' | 'skip';
  readonly primary?: string;
  readonly secondary?: string;
  readonly reason: string;
}

/**
 * Failover write-back: the manifest of each failed-over instance gets its new primary
 * (a DRBD pair's roles swapped: the old primary becomes the secondary) when it still names
 * the old one. An instance no longer declared, placed by the allocator (no primary in its
 * manifest: pinning it would change its meaning) or moved elsewhere by hand is left alone.
 */
export function writeBackDecisions(input: PlanInput, records: ReadonlyMap<string, FailoverRecord>): WriteBackDecision[] {
  const byName = new Map(input.instances.map((i) => [i.name, i]));
  const out: WriteBackDecision[] = [];
  for (const r of [...records.values()].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0))) {
    const base = { instance: r.instance, from: r.from, to: r.to };
    const i = byName.get(r.instance);
    if (!i || i.state !== 'present') { out.push({ ...base, decision: 'skip', reason: 'no longer declared present in the manifests' }); continue; }
    if (i.primary === r.to) { out.push({ ...base, decision: 'agrees', reason: `the manifest already names ${r.to}` }); continue; }
    if (i.primary === undefined) { out.push({ ...base, decision: 'skip', reason: `its manifest names no placement.primary (the allocator places it): nothing to write; it stays on ${r.to}` }); continue; }
    if (i.primary !== r.from) { out.push({ ...base, decision: 'skip', reason: `its manifest names ${i.primary}, neither ${r.from} nor ${r.to}: a human moved it; left alone` }); continue; }
    const swap = i.diskTemplate === 'drbd' && i.secondary === r.to;
    out.push({ ...base, decision: 'edit', primary: r.to, ...(swap ? { secondary: r.from } : {}), reason: swap ? `placement.primary ${r.from} -> ${r.to}, placement.secondary ${r.to} -> ${r.from} (the DRBD pair's roles swapped)` : `placement.primary ${r.from} -> ${r.to}` });
  }
  return out;
}
