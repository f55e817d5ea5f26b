/**
 * Reconcile passes over real lab nodes, shared by the lab tests: connect to the nodes the
 * manifests declare, run one pass, close the connections. `converge` applies and expects
 * every action to succeed and the re-plan to be empty.
 */
import { access } from 'node:fs/promises';
import { expect } from 'vitest';
import type { DesiredState } from '../../src/desired/model.js';
import { connectNodes } from '../../src/execute/connect.js';
import { fencerFor } from '../../src/execute/fence.js';
import { reconcileOnce, type ReconcileResult } from '../../src/runtime/reconcile.js';
import { silentLogger } from '../../src/util/log.js';

/** The failed actions of a pass, as "verb@node: message". */
export const failures = (r: ReconcileResult): string[] =>
  r.report?.results.filter((x) => !x.ok).map((x) => `${x.action.verb}@${x.action.node}: ${x.error?.message}`) ?? [];

/** `fence`: apply passes fence through each Node's out-of-band program, as `gantry apply` and `gantry run` do. */
export function labPasses(load: () => Promise<DesiredState>, opts: { stateDir?: () => string; fence?: boolean } = {}) {
  const logger = silentLogger();
  const pass = async (apply: boolean): Promise<ReconcileResult> => {
    const state = await load();
    const conn = await connectNodes(state, { logger });
    try {
      return await reconcileOnce(state, { logger, ops: conn.ops, ...(opts.stateDir ? { stateDir: opts.stateDir() } : {}), ...(opts.fence ? { fencer: fencerFor(state, logger) } : {}) }, { apply });
    } finally {
      await conn.close();
    }
  };
  const converge = async (): Promise<ReconcileResult> => {
    const r = await pass(true);
    expect(failures(r)).toEqual([]);
    expect(r.after?.actions ?? r.plan.actions).toEqual([]);
    return r;
  };
  return { pass, converge };
}

export const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Whether a process we started still lives (signal 0 to its PID). */
export function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
