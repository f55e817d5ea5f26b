/**
 * The watcher's counts after a pass (pure): each restart the plan made for an ERROR_down
 * instance counts, whether it worked or not; a restart a human asked for (restartGeneration
 * bumped) starts the count over; an instance seen running healthySeconds after its last
 * restart, or no longer declared, loses its count. Kept in the state directory
 * (watcher.json), so a daemon restart does not give a crashing guest fresh tries.
 */
import { DEFAULT_WATCHER, type ObservedCluster, type Plan, type WatcherPolicy, type WatcherRestarts } from '../core/plan.js';
import type { ExecuteReport } from '../execute/executor.js';
import { ALIVE } from '../plan/instance-runtime.js';

export function nextRestarts(
  prev: ReadonlyMap<string, WatcherRestarts>, plan: Plan, report: ExecuteReport | undefined, observed: ObservedCluster,
  declared: ReadonlySet<string>, now: string, policy: WatcherPolicy = DEFAULT_WATCHER,
): Map<string, WatcherRestarts> {
  const next = new Map([...prev].filter(([name]) => declared.has(name)));
  const tried = new Set((report?.results ?? []).filter((r) => r.action.verb === 'instance.start').map((r) => `${r.action.subject}@${r.action.node}`));
  for (const d of plan.watcher?.decisions ?? []) {
    if (d.decision !== 'restart' || !tried.has(`Instance/${d.instance}@${d.node}`)) continue;
    next.set(d.instance, { attempts: d.manual ? 0 : d.attempts + 1, last: now });
  }
  const running = new Set<string>();
  for (const o of observed.nodes.values()) for (const vm of Object.values(o.instances)) if (ALIVE.has(vm.runState) && !vm.guestShutdown) running.add(vm.name);
  for (const [name, r] of next) {
    if (running.has(name) && Date.parse(now) - Date.parse(r.last) >= policy.healthySeconds * 1000) next.delete(name);
  }
  return next;
}

/** How long until the earliest restart the watcher holds back (backoff), if any. */
export function nextWatcherWakeMs(plan: Plan, now: number): number | undefined {
  const times = (plan.watcher?.decisions ?? []).filter((d) => d.decision === 'backoff' && d.next !== undefined).map((d) => Date.parse(d.next!) - now);
  return times.length > 0 ? Math.max(0, Math.min(...times)) : undefined;
}
