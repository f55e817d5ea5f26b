/**
 * Status in Kubernetes conventions (conditions with type/status/reason/message) for each
 * resource, derived from the plan, the apply results and the observed snapshot. Pure.
 */
import type { ExecuteReport } from '../execute/executor.js';
import type { ObservedCluster, Plan } from '../core/plan.js';
import { statusOf } from '../plan/instance-runtime.js';
import { describeLiveness } from '../observe/liveness.js';
import { describeDrbdFact, drbdFactsByInstance, drbdHealthy, type DrbdDiskFact } from './drbd.js';

export interface Condition {
  type: 'Ready' | 'Synced' | 'Degraded' | 'Reachable' | 'NeedsHuman' | 'SplitBrain';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface ResourceStatus {
  subject: string;
  conditions: Condition[];
  facts: Record<string, unknown>;
}

const cond = (type: Condition['type'], ok: boolean | undefined, reason: string, message: string, at: string): Condition => ({
  type, status: ok === undefined ? 'Unknown' : ok ? 'True' : 'False', reason, message, lastTransitionTime: at,
});

/**
 * `plan` is the plan that was applied (or only shown), `report` its execution (absent
 * for plan-only), `after` an optional re-plan after apply: Synced means that re-plan is empty.
 */
export function deriveStatus(plan: Plan, observed: ObservedCluster, at: string, report?: ExecuteReport, after?: Plan): ResourceStatus[] {
  const failedBySubject = new Map<string, string>();
  for (const r of report?.results ?? []) if (!r.ok) failedBySubject.set(r.action.subject, `${r.action.verb} on ${r.action.node}: ${r.error?.message ?? 'failed'}`);
  const finalEntries = new Map((after ?? plan).entries.map((e) => [e.subject, e]));
  let drbd: Map<string, DrbdDiskFact[]> | undefined;
  return plan.entries.map((e) => {
    const final = finalEntries.get(e.subject) ?? e;
    const failed = failedBySubject.get(e.subject);
    const synced = final.status === 'in-sync';
    const conditions: Condition[] = [
      cond('Synced', final.status === 'unreachable' ? undefined : synced,
        synced ? 'InSync' : failed ? 'ApplyFailed' : final.status === 'refused' ? 'Refused' : final.status === 'unreachable' ? 'NodeUnreachable' : 'Drift',
        failed ?? (final.refused[0]?.message ?? (synced ? 'node matches the desired state' : `${final.diffs.length} differences, ${final.actions.length} actions pending`)), at),
    ];
    const facts: Record<string, unknown> = {};
    if (e.subject.startsWith('Node/')) {
      const n = observed.nodes.get(e.subject.slice(5));
      conditions.push(cond('Reachable', n?.reachable, n?.reachable ? 'Probed' : 'Unreachable', n?.error ?? 'probe answered', at));
      const live = observed.liveness?.get(e.subject.slice(5));
      if (live) {
        conditions.push(cond('Ready', live.condition === 'Ready', live.condition, describeLiveness(live), live.since));
        facts.liveness = live;
      }
      if (n?.reachable) {
        facts.memoryTotalMiB = n.facts.memoryTotalMiB;
        facts.memoryFreeMiB = n.facts.memoryFreeMiB;
        facts.cpus = n.facts.cpus;
        facts.vgs = Object.fromEntries(Object.values(n.vgs).map((v) => [v.name, { sizeMiB: v.sizeMiB, freeMiB: v.freeMiB }]));
        facts.instances = Object.keys(n.instances).sort();
      }
    }
    if (e.subject.startsWith('Instance/')) {
      const name = e.subject.slice(9);
      for (const [node, o] of observed.nodes) {
        const vm = o.instances[name];
        if (!vm) continue;
        const st = statusOf(vm);
        if (facts.status === undefined || st === 'running') {
          facts.status = st;
          facts.node = node;
          if (vm.meta) facts.nics = vm.meta.nics;
        }
      }
      facts.status ??= 'not created';
      conditions.push(cond('Ready', facts.status === 'running', String(facts.status), `instance is ${String(facts.status)}${facts.node ? ` on ${String(facts.node)}` : ''}`, at));
    }
    const disks = e.subject.startsWith('Instance/') ? (drbd ??= drbdFactsByInstance(observed)).get(e.subject.slice(9)) : undefined;
    if (disks) {
      facts.drbd = disks;
      const bad = disks.filter((f) => !drbdHealthy(f));
      const syncing = bad.filter((f) => f.sync);
      if (bad.length > 0) conditions.push(cond('Degraded', true, syncing.length === bad.length ? 'DrbdSyncing' : 'DrbdDegraded', bad.map(describeDrbdFact).join('; '), at));
    }
    conditions.push(cond('Degraded', failed !== undefined || final.status === 'refused' || final.status === 'unreachable', failed ? 'ApplyFailed' : final.status, failed ?? '', at));
    // A DRBD split brain: held (nothing promoted or started on it) until a human picks the survivor.
    const sb = final.refused.filter((r) => r.code === 'DRBD_SPLIT_BRAIN');
    if (sb.length > 0) conditions.push(cond('SplitBrain', true, 'DrbdSplitBrain', sb.map((r) => r.message).join('\n'), at));
    return { subject: e.subject, conditions, facts };
  });
}
