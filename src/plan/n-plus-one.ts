/**
 * N+1 memory redundancy (Ganeti's rule), pure. If any single node fails, the instances that
 * would fail over from it must fit the free memory of where they go:
 *  - an instance with a secondary (DRBD) restarts on its secondary: for each pair (failed
 *    node F, secondary S), the memory of F's instances whose secondary is S fits S's free memory
 *    (htools' rMem: the per-peer maximum);
 *  - an instance that restarts anywhere (sharedfile, diskless) needs room on the other usable
 *    nodes of F's node group (Ganeti checks N+1 per group; instances fail over within it):
 *    F's such instances fit what those nodes have left;
 *  - an instance whose disks live only on its node (plain, file) cannot fail over and counts
 *    for nothing but the memory it uses.
 * Free memory = a node's total minus the declared memory of the instances running on it.
 * One computation for `gantry verify` (status/verify) and the reconcile planner (plan/plan).
 */

import type { ObservedCluster, PlanInput, PlanInstance } from '../core/plan.js';

/** A node as N+1 sees it: its total memory and whether it can take failed-over instances. */
export interface N1Node {
  readonly totalMiB: number;
  /** Observed and neither drained nor offline. */
  readonly usable: boolean;
  /** Its node group: instances that restart anywhere go to the other nodes of the group. */
  readonly group?: string;
}

/** An instance running (or planned to run) on `node`. */
export interface N1Instance {
  readonly instance: string;
  readonly node: string;
  readonly memoryMiB: number;
  /** Where it goes if its node fails: its secondary (DRBD), anywhere (sharedfile, diskless; the default), or nowhere (plain, file). */
  readonly failover?: { readonly to: string } | 'anywhere' | 'none';
}

export interface N1Layout {
  readonly nodes: ReadonlyMap<string, N1Node>;
  readonly running: readonly N1Instance[];
}

/** One way the layout breaks N+1. */
export interface N1Shortfall {
  /** The node whose failure is considered. */
  readonly failed: string;
  /** The secondary that would have to start them; absent: any other usable node of its group. */
  readonly target?: string;
  /** The failed node's group, when the layout names groups. */
  readonly group?: string;
  readonly neededMiB: number;
  readonly freeMiB: number;
  /** The instances that would fail over, sorted. */
  readonly instances: readonly string[];
  /** Global: enough free memory in sum, but this instance fits no single node (after the larger ones were placed). */
  readonly unplaced?: { readonly instance: string; readonly memoryMiB: number; readonly largestFreeMiB: number };
}

/** Every shortfall of a layout: pairs first (by failed node, then target), then the global ones. */
export function nPlusOneShortfalls(layout: N1Layout): N1Shortfall[] {
  const used = new Map<string, number>();
  for (const r of layout.running) used.set(r.node, (used.get(r.node) ?? 0) + r.memoryMiB);
  const free = (n: string) => Math.max(0, (layout.nodes.get(n)?.totalMiB ?? 0) - (used.get(n) ?? 0));
  const usable = [...layout.nodes].filter(([, v]) => v.usable).map(([n]) => n).sort();
  const usableSet = new Set(usable);
  // failed node -> target -> instances; failed node -> instances that restart anywhere
  const pairs = new Map<string, Map<string, N1Instance[]>>();
  const anywhere = new Map<string, N1Instance[]>();
  for (const r of layout.running) {
    const f = r.failover ?? 'anywhere';
    if (f === 'none') continue;
    if (f === 'anywhere') {
      let l = anywhere.get(r.node);
      if (!l) anywhere.set(r.node, (l = []));
      l.push(r);
    } else {
      let m = pairs.get(r.node);
      if (!m) pairs.set(r.node, (m = new Map()));
      let l = m.get(f.to);
      if (!l) m.set(f.to, (l = []));
      l.push(r);
    }
  }
  const sum = (l: readonly N1Instance[]) => l.reduce((s, r) => s + r.memoryMiB, 0);
  const names = (l: readonly N1Instance[]) => l.map((r) => r.instance).sort();
  const out: N1Shortfall[] = [];
  for (const failed of usable) {
    const byTarget = pairs.get(failed);
    const taken = new Map<string, number>();
    for (const target of [...(byTarget?.keys() ?? [])].sort()) {
      const l = byTarget!.get(target)!;
      const need = sum(l);
      const room = usableSet.has(target) ? free(target) : 0;
      taken.set(target, Math.min(need, room));
      if (need > room) out.push({ failed, target, neededMiB: need, freeMiB: room, instances: names(l) });
    }
    const l = anywhere.get(failed);
    if (!l || l.length === 0) continue;
    const need = sum(l);
    const group = layout.nodes.get(failed)?.group;
    const left = usable.filter((n) => n !== failed && layout.nodes.get(n)?.group === group).map((n) => ({ node: n, free: free(n) - (taken.get(n) ?? 0) }));
    const room = left.reduce((s, n) => s + n.free, 0);
    const g = group !== undefined ? { group } : {};
    if (need > room) {
      out.push({ failed, ...g, neededMiB: need, freeMiB: room, instances: names(l) });
      continue;
    }
    // Enough in sum; each instance must still fit one node: largest first, onto the node with the most left.
    for (const r of [...l].sort((a, b) => b.memoryMiB - a.memoryMiB || a.instance.localeCompare(b.instance))) {
      const best = left.reduce<{ node: string; free: number } | undefined>((m, n) => (m === undefined || n.free > m.free ? n : m), undefined);
      if (best === undefined || best.free < r.memoryMiB) {
        out.push({ failed, ...g, neededMiB: need, freeMiB: room, instances: names(l), unplaced: { instance: r.instance, memoryMiB: r.memoryMiB, largestFreeMiB: best?.free ?? 0 } });
        break;
      }
      best.free -= r.memoryMiB;
    }
  }
  return out;
}

/** The shortfall in a sysadmin's words, with the numbers. */
export function describeShortfall(s: N1Shortfall): string {
  const short = s.neededMiB - s.freeMiB;
  if (s.target !== undefined) {
    return `if ${s.failed} fails, its secondary ${s.target} must start ${s.instances.join(', ')}: they need ${s.neededMiB} MiB, ${s.target} has ${s.freeMiB} MiB free (${short} MiB short)`;
  }
  const others = s.group !== undefined ? `the other usable nodes of group ${s.group}` : 'the other usable nodes';
  if (s.unplaced) {
    return `its running instances need ${s.neededMiB} MiB and ${others} have ${s.freeMiB} MiB free, but no node has room for ${s.unplaced.instance} (${s.unplaced.memoryMiB} MiB; at most ${s.unplaced.largestFreeMiB} MiB free on one node once the larger ones are placed)`;
  }
  return `its running instances need ${s.neededMiB} MiB; ${others} have ${s.freeMiB} MiB free (${short} MiB short)`;
}

/** The node a shortfall is about: the secondary that lacks memory, or the node whose instances have nowhere to go. */
export function shortfallNode(s: N1Shortfall): string {
  return s.target ?? s.failed;
}

export function shortfallKey(s: N1Shortfall): string {
  return `${s.failed}>${s.target ?? '*'}`;
}

/** How N+1 is enforced on moves the manifests ask for (Cluster spec.nPlusOne.mode). */
export type NPlusOneMode = 'refuse' | 'warn' | 'off';

/** An instance placed by the manifests on a node where it is not running now (a migration, or a pinned new one). */
export interface N1Move {
  readonly instance: string;
  /** Where it runs now (absent: not running anywhere). */
  readonly from?: string;
  readonly to: string;
  readonly secondary?: string;
}

/**
 * The shortfalls a set of moves brings: those of `after` that `before` does not have (or has
 * with a smaller deficit), each with the moves that feed it: a move onto the failed node (it
 * adds to what must go elsewhere), onto the target or as a new pair to it (it takes the target's
 * room), or, for a global shortfall, a start from nowhere on another node (it takes their room).
 */
export function shortfallsOfMoves(before: readonly N1Shortfall[], after: readonly N1Shortfall[], moves: readonly N1Move[]): { shortfall: N1Shortfall; moves: N1Move[] }[] {
  const out: { shortfall: N1Shortfall; moves: N1Move[] }[] = [];
  forEachFeedingMove(before, after, moves, (shortfall, m) => {
    if (out.at(-1)?.shortfall !== shortfall) out.push({ shortfall, moves: [] });
    out.at(-1)!.moves.push(m);
  });
  return out;
}

/**
 * shortfallsOfMoves without building its lists: `fn` gets each (new shortfall, feeding move),
 * shortfall by shortfall. A first start of a whole cluster makes every start feed every global
 * shortfall (nodes x instances pairs): callers keep what they need of them, never all.
 */
export function forEachFeedingMove(before: readonly N1Shortfall[], after: readonly N1Shortfall[], moves: readonly N1Move[], fn: (s: N1Shortfall, m: N1Move) => void): void {
  const deficit = new Map(before.map((s) => [shortfallKey(s), s.neededMiB - s.freeMiB]));
  const byTo = new Map<string, N1Move[]>();
  const order = new Map<N1Move, number>();
  moves.forEach((m, i) => {
    order.set(m, i);
    const l = byTo.get(m.to);
    if (l) l.push(m);
    else byTo.set(m.to, [m]);
  });
  for (const s of after) {
    const prev = deficit.get(shortfallKey(s));
    if (prev !== undefined && s.neededMiB - s.freeMiB <= prev) continue;
    if (s.target !== undefined) {
      // Onto the failed node with this secondary, or onto the target itself (in the moves' order).
      const onto = [...(byTo.get(s.failed) ?? []).filter((m) => m.secondary === s.target), ...(s.target !== s.failed ? byTo.get(s.target) ?? [] : [])];
      for (const m of onto.sort((a, b) => order.get(a)! - order.get(b)!)) fn(s, m);
    } else {
      for (const m of moves) if (m.to === s.failed || (m.from === undefined && m.to !== s.failed)) fn(s, m);
    }
  }
}

/** Where an instance goes if its node fails, from its present disks' templates (diskless: no disks). */
export function n1Failover(templates: readonly string[], secondary: string | undefined): N1Instance['failover'] {
  if (templates.includes('drbd')) return secondary !== undefined ? { to: secondary } : 'none';
  return templates.every((t) => t === 'sharedfile' || t === 'diskless') ? 'anywhere' : 'none';
}

const MAX_MESSAGES = 4;

/** What the planner knows of an instance for N+1: where it runs now and where the plan puts it. */
export interface N1PlanInstance {
  readonly inst: PlanInstance;
  /** Where it runs now (observed). */
  readonly running?: string;
  /** The plan's placement (absent: the plan does not place it: refused, waiting). */
  readonly placed?: { readonly primary: string; readonly secondary?: string };
  /** The manifests name this primary and the plan moves or starts it there (not a failover, not a drain). */
  readonly manifestMove: boolean;
}

/**
 * N+1 for the reconcile planner (Cluster spec.nPlusOne.mode): the layout now (observed) and
 * after the plan; each shortfall the plan's manifest moves bring is a refusal (mode refuse)
 * or a note (mode warn) on each move that feeds it. Instances the plan does not place stay
 * where they run. Node memory: PlanNode.memoryMiB, else the observed total.
 */
export function planNPlusOne(input: PlanInput, observed: ObservedCluster, all: readonly N1PlanInstance[], gone: ReadonlySet<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const mode = input.cluster.nPlusOne ?? 'warn';
  if (mode === 'off') return out;
  const moves: N1Move[] = all.filter((i) => i.manifestMove && i.placed).map((i) => ({
    instance: i.inst.name, to: i.placed!.primary, ...(i.running !== undefined ? { from: i.running } : {}), ...(i.placed!.secondary !== undefined ? { secondary: i.placed!.secondary } : {}),
  }));
  if (moves.length === 0) return out;
  const nodes = new Map(input.nodes.map((n) => {
    const o = observed.nodes.get(n.name);
    return [n.name, { totalMiB: n.memoryMiB ?? o?.facts.memoryTotalMiB ?? 0, usable: o?.reachable === true && n.role !== 'drained' && n.role !== 'offline' && !gone.has(n.name), group: n.group }] as const;
  }));
  const templates = (inst: PlanInstance) => inst.disks.filter((d) => d.state === 'present').map((d) => d.template);
  const before: N1Instance[] = [];
  const after: N1Instance[] = [];
  for (const i of all) {
    const tpl = templates(i.inst);
    if (i.running !== undefined) before.push({ instance: i.inst.name, node: i.running, memoryMiB: i.inst.memoryMiB, failover: n1Failover(tpl, i.inst.secondary ?? (i.inst.primary !== i.running ? i.inst.primary : undefined)) });
    if (i.placed && i.inst.runtime?.powerState === 'running') after.push({ instance: i.inst.name, node: i.placed.primary, memoryMiB: i.inst.memoryMiB, failover: n1Failover(tpl, i.placed.secondary) });
    else if (!i.placed && i.running !== undefined) after.push(before[before.length - 1]!);
  }
  // A tight cluster can blame one start for many nodes' shortfalls: say the first few and how many more
  // (only those few are ever written: a first start of 40,000 instances would otherwise build millions of lines).
  const counts = new Map<string, number>();
  forEachFeedingMove(nPlusOneShortfalls({ nodes, running: before }), nPlusOneShortfalls({ nodes, running: after }), moves, (shortfall, m) => {
    const n = (counts.get(m.instance) ?? 0) + 1;
    counts.set(m.instance, n);
    if (n > MAX_MESSAGES) return;
    const l = out.get(m.instance) ?? [];
    l.push(`placing ${m.instance} on ${m.to} breaks N+1 memory redundancy on ${shortfallNode(shortfall)}: ${describeShortfall(shortfall)}`);
    out.set(m.instance, l);
  });
  for (const [name, l] of out) {
    const n = counts.get(name)!;
    if (n > MAX_MESSAGES) out.set(name, [...l.slice(0, MAX_MESSAGES - 1), `and ${n - MAX_MESSAGES + 1} more N+1 shortfalls (gantry verify lists them)`]);
  }
  return out;
}
