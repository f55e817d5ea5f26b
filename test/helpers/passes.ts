/**
 * Reconcile passes over real lab nodes, shared by the lab tests: connect to the nodes the
 * manifests declare, run one pass, close the connections. `converge` applies and expects
 * every action to succeed and the re-plan to be empty.
 */
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Test cleanup, before the pass that removes a file's instances: SIGKILL the QEMU of every
 * instance in the nodes' run dirs (processes this file's lab started: the PIDs in their pid
 * files, checked against their command line, which names the run dir). A guest still booting
 * ignores the power button, and the removal would wait out the 30 s shutdown timeout for it.
 * The graceful stop is what instances and ha-watcher test; the cleanup need not wait for it.
 */
export async function killGuests(state: DesiredState): Promise<number[]> {
  const killed: number[] = [];
  for (const node of state.nodes.values()) {
    const root = node.paths.runDir;
    for (const inst of await readdir(root).catch(() => [] as string[])) {
      const dir = path.join(root, inst);
      const pid = Number((await readFile(path.join(dir, 'pid'), 'utf8').catch(() => '0')).trim());
      if (!alive(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!cmdline.includes(dir)) continue;
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    }
  }
  for (let i = 0; i < 50 && killed.some(alive); i++) await sleep(100);
  return killed;
}
