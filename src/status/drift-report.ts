/**
 * The drift report: one entry per resource, what differs, the actions and why.
 * Rendered as a terminal table, JSON (for tools), or Markdown (for a pull-request comment).
 * Pure formatting: no I/O.
 */
import type { Action } from '../core/actions.js';
import type { NodeWait, Plan, PlanEntry } from '../core/plan.js';

export type ReportFormat = 'table' | 'json' | 'markdown';

const SECRET_KEY = /(password|secret|token|passphrase|privatekey)/i;

/** Values whose key looks secret are masked, like Flux's drift diffs. */
export function maskSecrets(v: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key)) return '*****';
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskSecrets(x, k)]));
  return v;
}

const show = (v: unknown, key = ''): string => {
  const m = maskSecrets(v, key);
  if (m === null || m === undefined) return '(none)';
  return typeof m === 'string' ? m : JSON.stringify(m);
};

/** Object-valued fields summarised for one line; bulky internals (records, run dirs) left out. */
function summariseField(k: string, v: unknown): string | undefined {
  if (k === 'record' || k === 'nicInfo' || k === 'runDir' || k === 'peerRunDir') return undefined;
  if (k === 'os' && v && typeof v === 'object') return (v as { name: string }).name;
  if (k === 'launch' && v && typeof v === 'object') {
    const l = v as { memoryMiB: number; vcpus: number; disks: unknown[]; nics: unknown[] };
    return `${l.memoryMiB}M/${l.vcpus}cpu/${l.disks.length}disk/${l.nics.length}nic`;
  }
  if (k === 'drbd' && Array.isArray(v)) {
    // A DRBD live migration's disks: "disk0:resource0@198.19.0.11:11000->resource0@198.19.0.12:11000".
    const end = (s: { resource: string; local: { host: string; port: number } }) => `${s.resource}@${s.local.host}:${s.local.port}`;
    return (v as { index: number; source: Parameters<typeof end>[0]; target: Parameters<typeof end>[0] }[]).map((d) => `disk${d.index}:${end(d.source)}->${end(d.target)}`).join(',');
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) return JSON.stringify(v);
  return Array.isArray(v) ? v.map((x: unknown) => (x && typeof x === 'object' ? JSON.stringify(x) : String(x))).join(',') : String(v);
}

export function describeAction(a: Action): string {
  const { verb, node, subject: _s, reason: _r, ...rest } = a as Action & Record<string, unknown>;
  const args = Object.entries(rest)
    .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => [k, summariseField(k, v)] as const)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${verb} @${node}${args ? ' ' + args : ''}`;
}

export function summary(plan: Plan): { inSync: number; drift: number; refused: number; unreachable: number; actions: number; orphans: number } {
  const count = (s: PlanEntry['status']) => plan.entries.filter((e) => e.status === s).length;
  return { inSync: count('in-sync'), drift: count('drift'), refused: count('refused'), unreachable: count('unreachable'), actions: plan.actions.length, orphans: plan.orphans.length };
}

/** "waits for node1: unreachable (connect ECONNREFUSED) since 2026-...: Instance/web2, Instance/web3". */
export function describeNodeWait(w: NodeWait): string {
  const since = w.since ? ` since ${w.since}` : ' (no earlier observation kept: anything seen nowhere else may be there)';
  return `waits for ${w.node}: ${w.why}${since}: ${w.subjects.length > 0 ? w.subjects.join(', ') : 'nothing of it is needed now'}`;
}

/** Nodes that hold back a resource, or whose past is unknown (the JSON output has them all). */
const shownWaits = (plan: Plan): readonly NodeWait[] => (plan.waits ?? []).filter((w) => w.subjects.length > 0 || w.since === undefined);

export function renderPlan(plan: Plan, format: ReportFormat, opts: { showInSync?: boolean } = {}): string {
  if (format === 'json') return JSON.stringify(maskSecrets({ summary: summary(plan), ...plan }), null, 2) + '\n';
  const entries = plan.entries.filter((e) => opts.showInSync || e.status !== 'in-sync');
  const s = summary(plan);
  const headline = `${s.drift} drifted, ${s.refused} refused, ${s.unreachable} unreachable, ${s.inSync} in sync; ${s.actions} actions; ${s.orphans} orphans`;
  if (format === 'markdown') return renderMarkdown(plan, entries, headline);
  const out: string[] = [];
  if (entries.length === 0 && plan.orphans.length === 0) out.push('No changes. The nodes match the desired state.');
  for (const e of entries) {
    out.push(`${e.subject}  [${e.status}]`);
    for (const d of e.diffs) out.push(`  ~ ${d.path}: ${show(d.observed, d.path)} -> ${show(d.desired, d.path)}`);
    for (const a of e.actions) out.push(`  + ${describeAction(a)}\n      why: ${a.reason}`);
    for (const r of e.refused) out.push(`  ! refused ${r.code}: ${r.message}`);
    for (const n of e.notes) out.push(`  # ${n}`);
  }
  if (plan.fencing && plan.fencing.length > 0) {
    out.push('Fencing (nodes unreachable past their grace):');
    for (const f of plan.fencing) out.push(`  ${f.fence ? '! fence' : '~ hold '} ${f.node}: ${f.reason}`);
  }
  if (plan.failovers && plan.failovers.length > 0) {
    out.push('Failover (instances of Dead or offline nodes):');
    for (const f of plan.failovers) out.push(`  ${f.to ? `> ${f.instance}: ${f.from} -> ${f.to}` : `x ${f.instance} on ${f.from}: ${f.lost ?? 'lost'}`}${f.detected ? `; detected ${f.detected}` : ''}${f.fenced ? `, fenced ${f.fenced}` : ''}`);
  }
  if (plan.watcher && (plan.watcher.pausedUntil !== undefined || plan.watcher.decisions.length > 0)) {
    out.push(`Watcher (ERROR_down instances)${plan.watcher.pausedUntil !== undefined ? `: paused until ${plan.watcher.pausedUntil}` : ''}:`);
    for (const d of plan.watcher.decisions) out.push(`  ${d.decision === 'restart' ? '>' : d.decision === 'gave-up' ? '!' : '~'} ${d.instance} on ${d.node}: ${d.decision} (${d.attempts}/${d.max} restarts)${d.next ? `, next ${d.next}` : ''}`);
  }
  if (plan.autoRepair && plan.autoRepair.length > 0) {
    out.push('Auto-repair (harep: ganeti:watcher:autorepair tags, spec.autoRepair.repair):');
    for (const d of plan.autoRepair) out.push(`  ${d.decision === 'repair' ? '>' : d.decision === 'gave-up' ? '!' : '~'} ${d.instance}: ${d.needed} ${d.decision}${d.dataLoss && d.decision === 'repair' ? ' (DATA LOSS)' : ''} (${d.attempts}/${d.max} failed tries): ${d.message}`);
  }
  const waits = shownWaits(plan);
  if (waits.length > 0) {
    out.push('Waiting for nodes that cannot be observed (unknown is not absent: nothing of theirs is moved, re-created or started elsewhere):');
    for (const w of waits) out.push(`  ~ ${describeNodeWait(w)}`);
  }
  if (plan.orphans.length > 0) {
    out.push('Orphans (on nodes, in no manifest):');
    for (const o of plan.orphans) out.push(`  ? ${o.kind} ${o.id} on ${o.node}${o.removed ? '  (will be removed: orphans.remove is on)' : o.kept ? `  (kept: ${o.kept})` : '  (kept; set Cluster spec.orphans.remove to remove)'}`);
  }
  out.push(`Summary: ${headline}`);
  return out.join('\n') + '\n';
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function renderMarkdown(plan: Plan, entries: readonly PlanEntry[], headline: string): string {
  const out: string[] = ['### Gantry plan', '', `**${headline}**`, ''];
  if (entries.length > 0) {
    out.push('| Resource | Status | Changes | Actions |', '|---|---|---|---|');
    for (const e of entries) {
      const changes = e.diffs.map((d) => `\`${d.path}\`: ${mdEscape(show(d.observed, d.path))} → ${mdEscape(show(d.desired, d.path))}`)
        .concat(e.refused.map((r) => `⛔ ${r.code}: ${mdEscape(r.message)}`)).join('<br>');
      const acts = e.actions.map((a) => `\`${mdEscape(describeAction(a))}\` — ${mdEscape(a.reason)}`).join('<br>');
      out.push(`| \`${mdEscape(e.subject)}\` | ${e.status} | ${changes || '—'} | ${acts || '—'} |`);
    }
    out.push('');
  } else {
    out.push('No changes. The nodes match the desired state.', '');
  }
  for (const f of plan.fencing ?? []) out.push(`- ${f.fence ? '⚡ fence' : '✋ hold'} ${f.node}: ${mdEscape(f.reason)}`);
  for (const w of shownWaits(plan)) out.push(`- ⏳ ${mdEscape(describeNodeWait(w))}`);
  if (shownWaits(plan).length > 0) out.push('');
  if (plan.orphans.length > 0) {
    out.push('<details><summary>Orphans</summary>', '');
    for (const o of plan.orphans) out.push(`- ${o.kind} \`${o.id}\` on ${o.node}${o.removed ? ' (will be removed)' : ''}`);
    out.push('', '</details>', '');
  }
  return out.join('\n');
}
