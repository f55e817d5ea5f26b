/**
 * `gantry check ...`: monitoring checks for Nagios/Icinga, as GRNET's check_ganeti_* run
 * them, pure. Each check turns figures into one result: a status (0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN), one line of text and perfdata, printed as
 *   GANTRY NAME STATUS - text | 'label'=value[uom];warn;crit;min;max ...
 * Thresholds are Nagios ranges (monitoring-plugins' guidelines): "10" alerts outside 0..10,
 * "10:" below 10, "~:10" above 10, "10:20" outside 10..20, "@10:20" inside it.
 */
import type { ObservedCluster } from '../core/plan.js';
import type { DesiredState } from '../desired/model.js';
import type { VerifyFinding } from './verify.js';

export const CHECK_STATUS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type CheckStatus = (typeof CHECK_STATUS)[keyof typeof CHECK_STATUS];
const STATUS_NAME = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface Perf {
  readonly label: string;
  readonly value: number;
  readonly uom?: '' | '%' | 's' | 'MB';
  readonly warn?: string;
  readonly crit?: string;
  readonly min?: number;
  readonly max?: number;
}

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly text: string;
  readonly perf: readonly Perf[];
}

/** A Nagios threshold range. */
export interface Range {
  readonly text: string;
  readonly low: number;
  readonly high: number;
  /** "@": alert inside the range instead of outside. */
  readonly inside: boolean;
}

export class ThresholdError extends Error {}

export function parseRange(text: string): Range {
  const t = text.trim();
  const inside = t.startsWith('@');
  const body = inside ? t.slice(1) : t;
  const num = (s: string, dflt: number): number => {
    if (s === '') return dflt;
    if (s === '~') return -Infinity;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new ThresholdError(`threshold ${JSON.stringify(text)}: ${JSON.stringify(s)} is not a number`);
    return n;
  };
  const [a, b, ...rest] = body.split(':');
  if (rest.length > 0 || body === '') throw new ThresholdError(`threshold ${JSON.stringify(text)} is not a Nagios range (N, N:, ~:N, N:M, @N:M)`);
  const range = b === undefined ? { low: 0, high: num(a!, NaN) } : { low: num(a!, 0), high: num(b, Infinity) };
  if (Number.isNaN(range.high)) throw new ThresholdError(`threshold ${JSON.stringify(text)} is empty`);
  if (range.low > range.high) throw new ThresholdError(`threshold ${JSON.stringify(text)}: start above end`);
  return { text: t, ...range, inside };
}

/** Whether a value alerts against a range. */
export function alerts(r: Range | undefined, v: number): boolean {
  if (!r) return false;
  const within = v >= r.low && v <= r.high;
  return r.inside ? within : !within;
}

export interface Thresholds {
  readonly warn?: Range;
  readonly crit?: Range;
}

/** CRITICAL when the value alerts against crit, else WARNING against warn, else OK. */
export function judge(t: Thresholds, v: number): CheckStatus {
  if (alerts(t.crit, v)) return CHECK_STATUS.CRITICAL;
  return alerts(t.warn, v) ? CHECK_STATUS.WARNING : CHECK_STATUS.OK;
}

const worst = (...s: CheckStatus[]): CheckStatus => (s.includes(CHECK_STATUS.CRITICAL) ? CHECK_STATUS.CRITICAL : Math.max(...s.filter((x) => x !== CHECK_STATUS.UNKNOWN), 0) as CheckStatus);

function fmtNum(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
}

/** Perfdata label, quoted as the guidelines ask when it has anything but [A-Za-z0-9_.-]. */
function label(l: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(l) ? l : `'${l.replace(/'/g, "''")}'`;
}

/** The one output line. */
export function renderCheck(r: CheckResult): string {
  const perf = r.perf.map((p) => `${label(p.label)}=${fmtNum(p.value)}${p.uom ?? ''};${p.warn ?? ''};${p.crit ?? ''};${p.min !== undefined ? fmtNum(p.min) : ''};${p.max !== undefined ? fmtNum(p.max) : ''}`.replace(/;+$/, ''));
  const text = r.text.replace(/[|\n]/g, ' ');
  return `GANTRY ${r.name.toUpperCase()} ${STATUS_NAME[r.status]} - ${text}${perf.length ? ` | ${perf.join(' ')}` : ''}`;
}

export function unknown(name: string, text: string): CheckResult {
  return { name, status: CHECK_STATUS.UNKNOWN, text, perf: [] };
}

const pct = (part: number, whole: number) => (whole > 0 ? Math.round((1000 * part) / whole) / 10 : 0);

/** verify: errors against crit, warnings against warn (defaults: any error CRITICAL, any warning WARNING). */
export function checkVerify(findings: readonly VerifyFinding[], t: { errors: Thresholds; warnings: Thresholds }): CheckResult {
  const errors = findings.filter((f) => f.severity === 'error');
  const warnings = findings.filter((f) => f.severity === 'warning');
  const status = worst(judge(t.errors, errors.length), judge(t.warnings, warnings.length));
  const first = errors[0] ?? warnings[0];
  const text = findings.length === 0 ? 'no problems found'
    : `${errors.length} error(s), ${warnings.length} warning(s); first: ${first!.check} ${first!.subject}: ${first!.message}`;
  return {
    name: 'verify', status, text,
    perf: [
      { label: 'errors', value: errors.length, warn: t.errors.warn?.text, crit: t.errors.crit?.text, min: 0 },
      { label: 'warnings', value: warnings.length, warn: t.warnings.warn?.text, crit: t.warnings.crit?.text, min: 0 },
    ],
  };
}

/** balance: the cluster score (hbal's) against the thresholds; the moves hbal would make are reported. */
export function checkBalance(groups: readonly { name: string; score: number; moves: number }[], t: Thresholds): CheckResult {
  if (groups.length === 0) return unknown('balance', 'no node group to score');
  const status = worst(...groups.map((g) => judge(t, g.score)));
  const bad = groups.filter((g) => judge(t, g.score) !== CHECK_STATUS.OK);
  const many = groups.length > 1;
  const text = (bad.length ? bad : groups).map((g) => `${many ? `group ${g.name}: ` : ''}score ${fmtNum(g.score)}, ${g.moves} move(s) would balance it`).join('; ');
  return {
    name: 'balance', status, text,
    perf: groups.flatMap((g) => [
      { label: many ? `score_${g.name}` : 'score', value: g.score, warn: t.warn?.text, crit: t.crit?.text, min: 0 },
      { label: many ? `moves_${g.name}` : 'moves', value: g.moves, min: 0 },
    ]),
  };
}

/** freemem: each usable node's free memory in % of its total (the lowest against the thresholds), and memory N+1 shortfalls. */
export function checkFreemem(state: DesiredState, observed: ObservedCluster, t: Thresholds, n1: { shortfalls: number; first?: string; thresholds: Thresholds }): CheckResult {
  const nodes = [...state.nodes.values()].filter((n) => n.role !== 'offline' && n.role !== 'drained').map((n) => ({ name: n.name, o: observed.nodes.get(n.name) }))
    .filter((n) => n.o?.reachable && n.o.facts.memoryTotalMiB > 0)
    .map((n) => ({ name: n.name, free: n.o!.facts.memoryFreeMiB, total: n.o!.facts.memoryTotalMiB, pct: pct(n.o!.facts.memoryFreeMiB, n.o!.facts.memoryTotalMiB) }))
    .sort((a, b) => a.pct - b.pct || a.name.localeCompare(b.name));
  if (nodes.length === 0) return unknown('freemem', 'no usable node was observed');
  const low = nodes[0]!;
  const status = worst(judge(t, low.pct), judge(n1.thresholds, n1.shortfalls));
  const text = `lowest free memory ${low.pct}% on ${low.name} (${low.free} of ${low.total} MiB)${n1.shortfalls ? `; N+1: ${n1.shortfalls} shortfall(s), first: ${n1.first}` : '; N+1 ok'}`;
  return {
    name: 'freemem', status, text,
    perf: [
      { label: 'free_min', value: low.pct, uom: '%', warn: t.warn?.text, crit: t.crit?.text, min: 0, max: 100 },
      { label: 'n1_shortfalls', value: n1.shortfalls, warn: n1.thresholds.warn?.text, crit: n1.thresholds.crit?.text, min: 0 },
      ...nodes.map((n) => ({ label: `free_${n.name}`, value: n.free, uom: 'MB' as const, min: 0, max: n.total })),
    ],
  };
}

function usableAddresses(cidr: string): number {
  const prefix = Number(cidr.split('/')[1]);
  const size = 2 ** (32 - prefix);
  return prefix >= 31 ? size : size - 2;
}

/** The IPv4 pool of each network: usable addresses less the reserved ones and the gateway, less the NICs of present instances on it. */
export function ipPools(state: DesiredState): { name: string; total: number; used: number; free: number }[] {
  return [...state.networks.values()].map((net) => {
    const total = usableAddresses(net.subnet) - net.reservedIps.length - (net.gateway ? 1 : 0);
    const used = [...state.instances.values()].filter((i) => i.state === 'present')
      .reduce((a, i) => a + i.nics.filter((n) => n.network === net.name && n.ip !== 'none').length, 0);
    return { name: net.name, total, used, free: Math.max(0, total - used) };
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** ippool: each network's free addresses in % of its pool (the lowest against the thresholds). */
export function checkIpPool(pools: ReturnType<typeof ipPools>, t: Thresholds): CheckResult {
  if (pools.length === 0) return unknown('ippool', 'no network is declared');
  const rows = pools.map((p) => ({ ...p, pct: pct(p.free, p.total) })).sort((a, b) => a.pct - b.pct || a.name.localeCompare(b.name));
  const low = rows[0]!;
  return {
    name: 'ippool', status: judge(t, low.pct),
    text: `lowest pool ${low.name}: ${low.free} of ${low.total} addresses free (${low.pct}%)${rows.length > 1 ? `; ${rows.length} networks` : ''}`,
    perf: [
      { label: 'free_min', value: low.pct, uom: '%', warn: t.warn?.text, crit: t.crit?.text, min: 0, max: 100 },
      ...rows.map((p) => ({ label: `free_${p.name}`, value: p.free, min: 0, max: p.total })),
    ],
  };
}

/** nodes: declared nodes not offline that could not be observed (down) against the thresholds; drained and offline counted. */
export function checkNodes(state: DesiredState, observed: ObservedCluster, t: Thresholds): CheckResult {
  const all = [...state.nodes.values()];
  const offline = all.filter((n) => n.role === 'offline');
  const drained = all.filter((n) => n.role === 'drained');
  const down = all.filter((n) => n.role !== 'offline' && !observed.nodes.get(n.name)?.reachable).map((n) => n.name).sort();
  const status = judge(t, down.length);
  const text = `${all.length - offline.length - down.length} of ${all.length} node(s) up${down.length ? `; down: ${down.join(', ')}` : ''}${drained.length ? `; drained: ${drained.map((n) => n.name).join(', ')}` : ''}${offline.length ? `; offline: ${offline.map((n) => n.name).join(', ')}` : ''}`;
  return {
    name: 'nodes', status, text,
    perf: [
      { label: 'down', value: down.length, warn: t.warn?.text, crit: t.crit?.text, min: 0, max: all.length },
      { label: 'up', value: all.length - offline.length - down.length, min: 0, max: all.length },
      { label: 'drained', value: drained.length, min: 0, max: all.length },
      { label: 'offline', value: offline.length, min: 0, max: all.length },
    ],
  };
}

export interface JobRecord {
  readonly id: number;
  readonly summary: string;
  readonly status: string;
  /** seconds since the epoch */
  readonly received: number;
  readonly ended?: number;
}

/** jobs: remote API jobs that failed in the last `sinceS` seconds (warn/crit) and jobs queued or running longer than `stuckS` (CRITICAL). */
export function checkJobs(jobs: readonly JobRecord[], now: number, o: { sinceS: number; stuckS: number; failed: Thresholds }): CheckResult {
  const failed = jobs.filter((j) => j.status === 'error' && (j.ended ?? j.received) >= now - o.sinceS).sort((a, b) => b.id - a.id);
  const pending = jobs.filter((j) => j.status === 'queued' || j.status === 'running');
  const stuck = pending.filter((j) => now - j.received > o.stuckS).sort((a, b) => a.id - b.id);
  const status = worst(judge(o.failed, failed.length), stuck.length ? CHECK_STATUS.CRITICAL : CHECK_STATUS.OK);
  const parts = [`${failed.length} failed in the last ${Math.round(o.sinceS / 60)} min`, `${pending.length} queued or running`];
  if (stuck.length) parts.push(`stuck over ${Math.round(o.stuckS / 60)} min: job ${stuck[0]!.id} (${stuck[0]!.summary})`);
  if (failed.length) parts.push(`last failed: job ${failed[0]!.id} (${failed[0]!.summary})`);
  return {
    name: 'jobs', status, text: parts.join('; '),
    perf: [
      { label: 'failed', value: failed.length, warn: o.failed.warn?.text, crit: o.failed.crit?.text, min: 0 },
      { label: 'pending', value: pending.length, min: 0 },
      { label: 'stuck', value: stuck.length, crit: '0', min: 0 },
    ],
  };
}

/**
 * watcher (gnt-cluster watcher info as a check): a pause in force is WARNING (saying until
 * when), instances the watcher gave up on (restarted maxRestarts times) are WARNING by name,
 * and the age of the last reconcile pass recorded (the watcher's work runs in `gantry run`'s
 * passes) is judged by the thresholds. No pass and no watcher file: UNKNOWN "no watcher state".
 */
export function checkWatcher(w: { lastPassAt?: string; pause?: { until: string; since: string }; givenUp: readonly string[]; restarting: number }, now: number, t: Thresholds): CheckResult {
  if (w.lastPassAt === undefined) return unknown('watcher', 'no watcher state: no reconcile pass is recorded in the state directory');
  const at = Date.parse(w.lastPassAt);
  if (Number.isNaN(at)) return unknown('watcher', `no watcher state: the last pass time ${JSON.stringify(w.lastPassAt)} is not a date`);
  const age = Math.max(0, Math.round(now - at / 1000));
  const paused = w.pause !== undefined && Date.parse(w.pause.until) / 1000 > now;
  const status = worst(judge(t, age), paused || w.givenUp.length > 0 ? CHECK_STATUS.WARNING : CHECK_STATUS.OK);
  const parts = [
    ...(paused ? [`paused until ${w.pause!.until} (since ${w.pause!.since})`] : []),
    ...(w.givenUp.length ? [`gave up restarting: ${w.givenUp.join(', ')}`] : []),
    `last reconcile pass ${age} s ago (${w.lastPassAt})`,
  ];
  return {
    name: 'watcher', status, text: parts.join('; '),
    perf: [
      { label: 'last_pass_age', value: age, uom: 's', warn: t.warn?.text, crit: t.crit?.text, min: 0 },
      { label: 'paused', value: paused ? 1 : 0, min: 0, max: 1 },
      { label: 'restarting', value: w.restarting, min: 0 },
      { label: 'given_up', value: w.givenUp.length, warn: '0', min: 0 },
    ],
  };
}
