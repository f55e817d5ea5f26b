/**
 * gantry check verify|balance|freemem|ippool|nodes|jobs|watcher: monitoring checks for
 * Nagios/Icinga (GRNET's check_ganeti_* set). One line on stdout with perfdata, exit status
 * 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. By default a check reads the manifests and the
 * last observation in the state directory (written by every `gantry run`/`apply` pass), so
 * it costs no SSH; an observation older than --max-age is UNKNOWN. --live observes the
 * nodes over SSH now (as `gantry verify` does). Anything that keeps a check from judging
 * (manifests that do not load, no observation, a bad threshold) is UNKNOWN, never OK.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ObservedCluster, Plan } from '../core/plan.js';
import type { DesiredState } from '../desired/model.js';
import { loadDesired } from '../desired/load.js';
import { formatLoadError } from '../desired/errors.js';
import {
  CHECK_STATUS, checkBalance, checkFreemem, checkIpPool, checkJobs, checkNodes, checkVerify, checkWatcher, ipPools, parseRange, renderCheck, unknown,
  type CheckResult, type JobRecord, type Thresholds,
} from '../status/checks.js';
import { DEFAULT_STATE_DIR, readFailovers, readObserved, readStatus, readWatcherPause, readWatcherRestarts } from '../status/state-dir.js';
import { memoryView, nPlusOne, verifyCluster } from '../status/verify.js';

export const CHECKS = ['verify', 'balance', 'freemem', 'ippool', 'nodes', 'jobs', 'watcher'] as const;
export type CheckName = (typeof CHECKS)[number];

/** Default thresholds (Nagios ranges) and what they apply to, per check. */
export const CHECK_DEFAULTS: Record<CheckName, { warn?: string; crit?: string; on: string }> = {
  verify: { warn: undefined, crit: '0', on: 'the number of errors (any warning finding is WARNING)' },
  balance: { warn: '1', crit: '3', on: "the cluster score (hbal's; tune to your cluster)" },
  freemem: { warn: '20:', crit: '10:', on: 'the lowest free memory of a usable node, in % (any memory N+1 shortfall is WARNING)' },
  ippool: { warn: '20:', crit: '10:', on: 'the lowest share of free addresses in a network pool, in %' },
  nodes: { warn: undefined, crit: '0', on: 'the number of nodes down (declared, not offline, not observed)' },
  jobs: { warn: '0', crit: undefined, on: 'the number of remote API jobs failed within --since (a job queued or running longer than --stuck is CRITICAL)' },
  watcher: { warn: '900', crit: '3600', on: 'the seconds since the last reconcile pass recorded in the state directory (a pause in force, or an instance the watcher gave up on, is WARNING)' },
};

export interface CheckOpts {
  readonly file: string[];
  readonly stateDir: string;
  readonly warning?: string;
  readonly critical?: string;
  readonly live?: boolean;
  readonly maxAge: string;
  readonly since: string;
  readonly stuck: string;
  /** seconds since the epoch (tests) */
  readonly now?: number;
}

class CheckUnknown extends Error {}

function thresholds(name: CheckName, o: CheckOpts): Thresholds {
  const d = CHECK_DEFAULTS[name];
  const w = o.warning ?? d.warn;
  const c = o.critical ?? d.crit;
  try {
    return { ...(w !== undefined && w !== '' ? { warn: parseRange(w) } : {}), ...(c !== undefined && c !== '' ? { crit: parseRange(c) } : {}) };
  } catch (e) {
    throw new CheckUnknown((e as Error).message);
  }
}

function seconds(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new CheckUnknown(`${flag} ${JSON.stringify(v)} is not a number of seconds`);
  return n;
}

async function manifests(o: CheckOpts): Promise<DesiredState> {
  if (o.file.length === 0) throw new CheckUnknown('no manifests: pass -f PATH');
  const { state, errors } = await loadDesired(o.file);
  if (!state) throw new CheckUnknown(`the manifests do not load: ${errors.length ? formatLoadError(errors[0]!) : 'no resources'}`);
  return state;
}

/** The observation the check judges: live over SSH, or the state directory's last one (not older than --max-age). */
async function observation(state: DesiredState, o: CheckOpts, now: number): Promise<ObservedCluster> {
  if (o.live) {
    const { connectNodes } = await import('../execute/connect.js');
    const { observeCluster } = await import('../observe/observe-cluster.js');
    const { createLogger } = await import('../util/log.js');
    const conn = await connectNodes(state, { logger: createLogger({ level: process.env.GANTRY_LOG_LEVEL ?? 'warn' }) });
    try {
      return await observeCluster(state, conn.ops);
    } finally {
      await conn.close();
    }
  }
  const snap = await readObserved(o.stateDir);
  if (!snap) throw new CheckUnknown(`no observation in ${o.stateDir}: run gantry run/apply, or pass --live`);
  const age = now - Date.parse(snap.observedAt) / 1000;
  const maxAge = seconds(o.maxAge, '--max-age');
  if (!(age <= maxAge)) throw new CheckUnknown(`the last observation in ${o.stateDir} is ${Math.round(age)} s old (${snap.observedAt}), over --max-age ${maxAge}: is gantry run running? (or pass --live)`);
  return snap.observed;
}

/** The plan a pass would make now: a dry pass over SSH with --live, else the planner over the last observation. */
async function planOf(state: DesiredState, o: CheckOpts, now: number): Promise<{ plan: Plan; observed: ObservedCluster }> {
  if (o.live) {
    const { connectNodes } = await import('../execute/connect.js');
    const { reconcileOnce } = await import('../runtime/reconcile.js');
    const { createLogger } = await import('../util/log.js');
    const logger = createLogger({ level: process.env.GANTRY_LOG_LEVEL ?? 'warn' });
    const conn = await connectNodes(state, { logger });
    try {
      const res = await reconcileOnce(state, { logger, ops: conn.ops, floorDir: o.stateDir }, { apply: false });
      return { plan: res.plan, observed: res.observed };
    } finally {
      await conn.close();
    }
  }
  const observed = await observation(state, o, now);
  const { plan } = await import('../plan/plan.js');
  const { toPlanInput } = await import('../plan/from-desired.js');
  const { keepFailoverRecords } = await import('../plan/failover.js');
  const { allocatorFor } = await import('../execute/allocate.js');
  const base = toPlanInput(state);
  const records = keepFailoverRecords(base, await readFailovers(o.stateDir));
  const input = { ...base, ...(records.size > 0 ? { failovers: records } : {}), now: new Date(now * 1000).toISOString() };
  return { plan: plan(input, observed, { allocator: allocatorFor(state) }), observed };
}

/** The remote API's jobs as `gantry serve` saved them (STATE_DIR/rapi/jobs.json); none when it never ran. */
async function rapiJobs(stateDir: string): Promise<JobRecord[]> {
  const file = path.join(stateDir, 'rapi', 'jobs.json');
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => { if (e.code === 'ENOENT') return undefined; throw new CheckUnknown(`${file}: ${e.message}`); });
  if (text === undefined) return [];
  let doc: { jobs?: unknown };
  try {
    doc = JSON.parse(text) as { jobs?: unknown };
  } catch (e) {
    throw new CheckUnknown(`${file} is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc.jobs)) throw new CheckUnknown(`${file}: no jobs list`);
  return (doc.jobs as { id: number; summary: string; status: string; receivedTs: [number, number]; endTs: [number, number] | null }[])
    .map((j) => ({ id: j.id, summary: j.summary, status: j.status, received: j.receivedTs[0], ...(j.endTs ? { ended: j.endTs[0] } : {}) }));
}

/** Run one check; whatever keeps it from judging is its UNKNOWN. */
export async function runCheck(name: CheckName, o: CheckOpts): Promise<CheckResult> {
  const now = o.now ?? Date.now() / 1000;
  try {
    const t = thresholds(name, o);
    switch (name) {
      case 'verify': {
        const state = await manifests(o);
        const { plan, observed } = await planOf(state, o, now);
        return checkVerify(verifyCluster(plan, observed, memoryView(state, observed)), { errors: t, warnings: { warn: parseRange('0') } });
      }
      case 'balance': {
        const state = await manifests(o);
        const observed = await observation(state, o, now);
        const { balance } = await import('../place/index.js');
        const { clusterFromDesired, nodeFactsFromObserved } = await import('../place/from-desired.js');
        const r = balance(clusterFromDesired(state, nodeFactsFromObserved(state, observed)).cluster, {});
        return checkBalance(r.groups.map((g) => ({ name: g.group, score: g.initialScore, moves: g.moves.length })), t);
      }
      case 'freemem': {
        const state = await manifests(o);
        const observed = await observation(state, o, now);
        const n1 = nPlusOne(memoryView(state, observed));
        return checkFreemem(state, observed, t, { shortfalls: n1.length, ...(n1[0] ? { first: `${n1[0].subject}: ${n1[0].message}` } : {}), thresholds: { warn: parseRange('0') } });
      }
      case 'ippool':
        return checkIpPool(ipPools(await manifests(o)), t);
      case 'nodes': {
        const state = await manifests(o);
        return checkNodes(state, await observation(state, o, now), t);
      }
      case 'jobs':
        return checkJobs(await rapiJobs(o.stateDir), now, { sinceS: seconds(o.since, '--since'), stuckS: seconds(o.stuck, '--stuck'), failed: t });
      case 'watcher': {
        const fail = (f: string) => (e: Error) => { throw new CheckUnknown(`${path.join(o.stateDir, f)}: ${e.message}`); };
        const status = await readStatus(o.stateDir).catch(fail('status.json'));
        const pause = await readWatcherPause(o.stateDir).catch(fail('watcher-pause.json'));
        const restarts = await readWatcherRestarts(o.stateDir).catch(fail('watcher.json'));
        // who was given up on needs the cap (Cluster spec.watcher.maxRestarts): only with -f
        const max = o.file.length ? (await manifests(o)).cluster.watcher.maxRestarts : undefined;
        const givenUp = max === undefined ? [] : [...restarts].filter(([, r]) => r.attempts >= max).map(([n]) => n).sort();
        return checkWatcher({ ...(status ? { lastPassAt: status.updatedAt } : {}), ...(pause ? { pause } : {}), givenUp, restarting: [...restarts.values()].filter((r) => r.attempts > 0).length }, now, t);
      }
    }
  } catch (e) {
    if (e instanceof CheckUnknown) return unknown(name, e.message);
    return unknown(name, `check failed: ${(e as Error).message}`);
  }
}

/** Ends the command with the check's status and nothing on stderr. */
class CheckExit extends Error {
  constructor(readonly exitCode: number) {
    super('');
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerCheckCommands(program: Command): void {
  const check = program.command('check')
    .description('monitoring checks for Nagios/Icinga (as GRNET\'s check_ganeti_*): one line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN');
  const what: Record<CheckName, string> = {
    verify: 'gnt-cluster verify as a check: nodes down, instances on the wrong node, degraded DRBD, memory N+1 (errors), orphans (warnings)',
    balance: "the cluster score hbal would start from, and how many moves would balance it",
    freemem: 'free memory of the usable nodes, and memory N+1 redundancy',
    ippool: 'free addresses in each network\'s IPv4 pool',
    nodes: 'nodes down, drained and offline',
    jobs: 'remote API jobs (gantry serve) failed recently or stuck',
    watcher: 'gnt-cluster watcher info as a check: paused or not, instances given up on, the age of the last reconcile pass',
  };
  for (const name of CHECKS) {
    const d = CHECK_DEFAULTS[name];
    check.command(name)
      .description(what[name])
      .option('-f, --file <path>', 'manifest file or directory (repeatable)', collect, [])
      .option('--state-dir <dir>', 'state directory (last observation, status, remote API jobs)', DEFAULT_STATE_DIR)
      .option('-w, --warning <range>', `WARNING threshold, a Nagios range on ${d.on} (default ${d.warn ?? 'none'})`)
      .option('-c, --critical <range>', `CRITICAL threshold, a Nagios range (default ${d.crit ?? 'none'})`)
      .option('--live', 'observe the nodes over SSH now instead of reading the last observation')
      .option('--max-age <seconds>', 'oldest last observation judged; older is UNKNOWN', '900')
      .option('--since <seconds>', 'jobs: count failures this recent', '3600')
      .option('--stuck <seconds>', 'jobs: a job queued or running longer is CRITICAL', '1800')
      .addHelpText('after', '\nExit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the check could not judge).\nRanges: N alerts outside 0..N, N: below N, ~:N above N, N:M outside N..M, @N:M inside.\n')
      .action(async (opts: CheckOpts) => {
        const r = await runCheck(name, opts);
        process.stdout.write(`${renderCheck(r)}\n`);
        if (r.status !== CHECK_STATUS.OK) throw new CheckExit(r.status);
      });
  }
}
