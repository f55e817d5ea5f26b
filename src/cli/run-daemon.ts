/**
 * `gantry run`: the reconcile loop as a daemon. One key per cluster: every pass reloads
 * the manifests and recomputes the whole plan (allocation is cluster-wide), so there is
 * nothing to gain from finer keys and a lot of consistency to lose. Invalid manifests
 * are a terminal error for that pass: nothing is changed until the files are fixed.
 */
import { loadDesired } from '../desired/load.js';
import { formatLoadError } from '../desired/errors.js';
import { connectNodes, type Connections } from '../execute/connect.js';
import { reconcileOnce } from '../runtime/reconcile.js';
import { startDaemon } from '../runtime/daemon.js';
import { summary } from '../status/drift-report.js';
import { PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { DesiredState } from '../desired/model.js';

export interface RunOptions {
  files: string[];
  stateDir: string;
  logger: Logger;
  resyncMs: number;
  debounceMs: number;
  metricsPort?: number;
  once: boolean;
}

export async function runReconcileDaemon(opts: RunOptions): Promise<void> {
  const { logger } = opts;
  let conn: Connections | undefined;
  let connFor: DesiredState | undefined;

  const reconcile = async (key: string, ctx: { logger: Logger }) => {
    const { state, errors } = await loadDesired(opts.files);
    if (!state || errors.length > 0) {
      throw new PrereqError('INVALID_MANIFESTS', `manifests are invalid; nothing changed:\n${errors.map(formatLoadError).join('\n')}`);
    }
    // Reconnect when the node list changes; SSH connections are otherwise reused.
    if (!conn || !sameNodes(connFor, state)) {
      await conn?.close();
      conn = await connectNodes(state, { logger });
      connFor = state;
    }
    const res = await reconcileOnce(state, { logger: ctx.logger, ops: conn.ops, stateDir: opts.stateDir }, { apply: true, command: `run ${key}` });
    const s = summary(res.after ?? res.plan);
    ctx.logger.info({ key, planned: res.plan.actions.length, failed: res.report?.results.filter((r) => !r.ok).length ?? 0, ...s }, "reconciled");
    // Unreachable nodes or failed actions: try again soon, with the queue's backoff.
    if (res.report && !res.report.ok) throw new Error(`${res.report.results.filter((r) => !r.ok).length} actions failed`);
    if (res.plan.unreachable.length > 0) return { requeueAfterMs: 15_000 };
    return undefined;
  };

  const keysFor = async () => {
    const { state } = await loadDesired(opts.files);
    return [`Cluster/${state?.cluster.name ?? 'invalid'}`];
  };

  if (opts.once) {
    const [key] = await keysFor();
    await reconcile(key!, { logger });
    await conn?.close();
    return;
  }

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const daemon = startDaemon({
    paths: opts.files, reconcile, keysFor, watch: true, resyncMs: opts.resyncMs, debounceMs: opts.debounceMs, logger, signal: abort.signal,
    ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
  });
  const ready = await daemon.ready;
  logger.info({ files: opts.files, resyncMs: opts.resyncMs, ...ready }, 'gantry run: watching manifests');
  await daemon.stopped;
  await conn?.close();
}

function sameNodes(a: DesiredState | undefined, b: DesiredState): boolean {
  if (!a) return false;
  const key = (s: DesiredState) => JSON.stringify([...s.nodes.values()].map((n) => [n.name, n.ssh, n.role]));
  return key(a) === key(b);
}
