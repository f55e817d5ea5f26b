/**
 * The watcher (Ganeti's ganeti-watcher), pure: what to do with an instance found ERROR_down
 * (its VM is not running and Gantry did not stop it). Restart it, at most maxRestarts
 * times, waiting backoffSeconds before the second try and twice as long before each next;
 * after the cap, no more restarts: the plan and the instance's status ask for a human, who
 * bumps spec.restartGeneration to try again (the count starts over). While the watcher is
 * paused (`gantry watcher pause`) nothing is restarted and the plan says why. The counts
 * live in the state directory (runtime/restarts updates them after each apply).
 */
import { DEFAULT_WATCHER, type PlanInput, type WatcherDecision } from '../core/plan.js';

/** Wait before restart number `attempts + 1` (0 for the first). */
export function backoffMs(attempts: number, backoffSeconds: number): number {
  if (attempts <= 0) return 0;
  return backoffSeconds * 1000 * Math.min(16, 2 ** (attempts - 1));
}

export function watcherPaused(input: PlanInput): string | undefined {
  const until = input.watcher?.pausedUntil;
  if (until === undefined || input.now === undefined) return until;
  return Date.parse(until) > Date.parse(input.now) ? until : undefined;
}

/**
 * The decision for one ERROR_down instance on `node`. `manual`: its restartGeneration was
 * bumped past the crashed copy's (a human asked for a start: allowed whatever the count).
 */
export function watcherDecision(input: PlanInput, instance: string, node: string, restartErrorDown: boolean, manual: boolean): WatcherDecision {
  const policy = input.cluster.watcher ?? DEFAULT_WATCHER;
  const prev = input.watcher?.restarts.get(instance);
  const attempts = prev?.attempts ?? 0;
  const base = { instance, node, attempts, max: policy.maxRestarts };
  if (manual) return { ...base, decision: 'restart', manual: true, message: `ERROR_down: restartGeneration bumped: start ${instance} (the watcher's count starts over)` };
  if (!restartErrorDown) return { ...base, decision: 'disabled', message: 'ERROR_down: the cluster watcher policy says not to restart crashed VMs (spec.watcher.restartErrorDown: false)' };
  const paused = watcherPaused(input);
  if (paused !== undefined) return { ...base, decision: 'paused', next: paused, message: `ERROR_down: the watcher is paused until ${paused} (gantry watcher resume): not restarted` };
  if (attempts >= policy.maxRestarts) {
    return { ...base, decision: 'gave-up', message: `ERROR_down after ${attempts} restarts (spec.watcher.maxRestarts ${policy.maxRestarts}): the watcher gave up; a human must look at ${instance} on ${node}, then bump spec.restartGeneration to start it again` };
  }
  const wait = backoffMs(attempts, policy.backoffSeconds);
  if (prev && input.now !== undefined && wait > 0) {
    const next = Date.parse(prev.last) + wait;
    if (Date.parse(input.now) < next) {
      const at = new Date(next).toISOString();
      return { ...base, decision: 'backoff', next: at, message: `ERROR_down: restart ${attempts + 1} of ${policy.maxRestarts} waits until ${at} (backoff ${wait / 1000} s after restart ${attempts})` };
    }
  }
  return { ...base, decision: 'restart', message: `the VM is not running and Gantry did not stop it (ERROR_down): restart ${attempts + 1} of ${policy.maxRestarts}, like ganeti-watcher` };
}
