/**
 * gantry verify (Ganeti's gnt-cluster verify), pure: one report of what is wrong with the
 * cluster as observed now, from a dry pass's plan and observation. Errors: nodes that
 * could not be observed, instances running on another node than the manifests name, DRBD
 * disks not UpToDate on both sides, DRBD split brains (held for a human), nodes whose running instances no other node has the
 * memory for (N+1 for memory, plan/n-plus-one). Warnings: orphans, a paused watcher, instances
 * the watcher gave up on, instances that need a repair auto-repair does not make (plan/autorepair).
 */
import type { ObservedCluster, Plan } from '../core/plan.js';
import type { DesiredState } from '../desired/model.js';
import { describeShortfall, n1Failover, nPlusOneShortfalls, shortfallNode, type N1Instance, type N1Layout } from '../plan/n-plus-one.js';

export type VerifySeverity = 'error' | 'warning';

export interface VerifyFinding {
  readonly severity: VerifySeverity;
  readonly check: 'node-down' | 'wrong-node' | 'degraded-disk' | 'split-brain' | 'n-plus-one' | 'orphan' | 'watcher' | 'auto-repair';
  readonly subject: string;
  readonly message: string;
}

/** The memory view N+1 needs: each usable node's total, each running instance's MiB, node and failover target (plan/n-plus-one). */
export type MemoryView = N1Layout;

/** Exit statuses of `gantry verify`. */
export const VERIFY_EXIT = { ok: 0, errors: 1, warnings: 2 } as const;

export function verifyCluster(plan: Plan, observed: ObservedCluster, mem: MemoryView): VerifyFinding[] {
  return [...nodesDown(plan), ...wrongNodes(plan), ...degradedDisks(observed), ...splitBrains(plan), ...nPlusOne(mem), ...orphans(plan), ...watcher(plan), ...autoRepair(plan)];
}

/** DRBD split brains the plan holds (plan/drbd: DRBD_SPLIT_BRAIN, with each side's data and the manual recovery). */
function splitBrains(plan: Plan): VerifyFinding[] {
  return plan.entries.flatMap((e) => e.refused).filter((r) => r.code === 'DRBD_SPLIT_BRAIN').map((r) => ({ severity: 'error', check: 'split-brain', subject: r.subject, message: r.message }));
}

const ALIVE = new Set(['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate']);

/** Node memory (observed total) and the declared memory of each instance alive on a node, with where it would fail over to. */
export function memoryView(state: DesiredState, observed: ObservedCluster): MemoryView {
  const nodes = new Map([...state.nodes.values()].map((n) => {
    const o = observed.nodes.get(n.name);
    return [n.name, { totalMiB: o?.facts.memoryTotalMiB ?? 0, usable: o?.reachable === true && n.role !== 'drained' && n.role !== 'offline', group: n.group }] as const;
  }));
  const running = [...observed.nodes].flatMap(([node, o]) => Object.values(o.instances)
    .filter((vm) => ALIVE.has(vm.runState) && state.instances.has(vm.name))
    .map((vm): N1Instance => {
      const i = state.instances.get(vm.name)!;
      const secondary = [i.placement.primary, i.placement.secondary].find((n) => n !== undefined && n !== node);
      return { instance: vm.name, node, memoryMiB: i.beParams.memory, failover: n1Failover(i.disks.filter((d) => d.state === 'present').map((d) => d.template), secondary) };
    }));
  return { nodes, running };
}

function nodesDown(plan: Plan): VerifyFinding[] {
  return plan.unreachable.map((n) => {
    const why = plan.entries.find((e) => e.subject === `Node/${n}`)?.notes[0] ?? 'not observed';
    return { severity: 'error', check: 'node-down', subject: `Node/${n}`, message: why };
  });
}

function wrongNodes(plan: Plan): VerifyFinding[] {
  return plan.entries.flatMap((e) => e.diffs.filter((d) => d.path === 'placement.primary').map((d): VerifyFinding => ({
    severity: 'error', check: 'wrong-node', subject: e.subject, message: `runs on ${String(d.observed)}, the manifests place it on ${String(d.desired)}`,
  })));
}

function degradedDisks(observed: ObservedCluster): VerifyFinding[] {
  const out: VerifyFinding[] = [];
  for (const [node, o] of [...observed.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    for (const dev of Object.values(o.drbd?.devices ?? {})) {
      const bad = [dev.disk !== 'UpToDate' ? `local disk ${dev.disk ?? 'unknown'}` : '', dev.peer && dev.peer.disk !== 'UpToDate' ? `peer disk ${dev.peer.disk ?? 'unknown'} (${dev.peer.connection})` : '', !dev.peer ? 'no peer' : '']
        .filter((x) => x !== '');
      if (bad.length > 0) out.push({ severity: 'error', check: 'degraded-disk', subject: `Node/${node}`, message: `DRBD minor ${dev.minor}${dev.resource ? ` (${dev.resource})` : ''}: ${bad.join(', ')}` });
    }
  }
  return out;
}

/** N+1 for memory (plan/n-plus-one): per DRBD pair and global for instances that restart anywhere, with the numbers. */
export function nPlusOne(mem: MemoryView): VerifyFinding[] {
  return nPlusOneShortfalls(mem).map((s) => ({ severity: 'error', check: 'n-plus-one', subject: `Node/${shortfallNode(s)}`, message: describeShortfall(s) }));
}

/** Warnings: a paused watcher (gnt-cluster verify does the same), and instances it gave up on. */
function watcher(plan: Plan): VerifyFinding[] {
  const out: VerifyFinding[] = [];
  if (plan.watcher?.pausedUntil !== undefined) out.push({ severity: 'warning', check: 'watcher', subject: 'Cluster', message: `the watcher is paused until ${plan.watcher.pausedUntil}: crashed (ERROR_down) instances are not restarted (gantry watcher resume)` });
  for (const d of plan.watcher?.decisions ?? []) if (d.decision === 'gave-up') out.push({ severity: 'warning', check: 'watcher', subject: `Instance/${d.instance}`, message: d.message });
  return out;
}

/** Warnings: instances that need a repair auto-repair does not make (not allowed, suspended, unavailable, given up). */
function autoRepair(plan: Plan): VerifyFinding[] {
  return (plan.autoRepair ?? []).filter((d) => d.decision !== 'repair').map((d) => ({ severity: 'warning', check: 'auto-repair', subject: `Instance/${d.instance}`, message: d.message }));
}

function orphans(plan: Plan): VerifyFinding[] {
  return plan.orphans.map((o) => ({ severity: 'warning', check: 'orphan', subject: `Node/${o.node}`, message: `${o.kind} ${o.id} is declared by no manifest${o.kept ? ` (kept: ${o.kept})` : ''}` }));
}

/** The exit status: 1 with any error, 2 with warnings only, 0 when clean. */
export function verifyExit(findings: readonly VerifyFinding[]): number {
  if (findings.some((f) => f.severity === 'error')) return VERIFY_EXIT.errors;
  return findings.length > 0 ? VERIFY_EXIT.warnings : VERIFY_EXIT.ok;
}

export function renderVerify(findings: readonly VerifyFinding[]): string {
  if (findings.length === 0) return 'verify: no problems found\n';
  const lines = findings.map((f) => `${f.severity.toUpperCase().padEnd(7)} ${f.check.padEnd(13)} ${f.subject}: ${f.message}`);
  const errors = findings.filter((f) => f.severity === 'error').length;
  return `${lines.join('\n')}\nverify: ${errors} error(s), ${findings.length - errors} warning(s)\n`;
}
