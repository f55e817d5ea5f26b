/**
 * Commands over the OBSERVED state (what the nodes report now, or the last snapshot):
 *   status [instances|nodes]  like gnt-instance list / gnt-node list, from a fresh probe or --cached
 *   describe instance/NAME    effective spec, live status, conditions and pending actions
 *   console NAME              the instance's serial console over ssh (or --log: its console.log tail)
 * `list` and `show` (desired-commands.ts) stay over the desired state only.
 * Row builders, the console argv and age formatting are pure and unit-tested.
 */
import { ALIVE, indexCopies } from '../plan/instance-runtime.js';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import type { DesiredInstance, DesiredNode, DesiredState } from '../desired/model.js';
import { connectNodes } from '../execute/connect.js';
import { reconcileOnce } from '../runtime/reconcile.js';
import { observeCluster } from '../observe/observe-cluster.js';
import type { ObservedInstance, ObservedNode } from '../core/observed.js';
import { statusOf } from '../plan/instance-runtime.js';
import type { ObservedCluster, PlanEntry } from '../core/plan.js';
import { describeAction } from '../status/drift-report.js';
import { DEFAULT_STATE_DIR, readLiveness, readObserved } from '../status/state-dir.js';
import { nextLiveness } from '../observe/liveness.js';
import type { ResourceStatus } from '../status/status.js';
import type { DrbdDiskFact } from '../status/drbd.js';
import { SshPool } from '../transport/pool.js';
import { quoteArg } from '../transport/quote.js';
import { createLogger, type Logger } from '../util/log.js';
import { renderTable } from './columns.js';
import { CliExit, loadOrExit } from './reconcile-commands.js';

// ---------------------------------------------------------------------------------------
// Pure: age, rows, columns

/** "45s", "3m12s", "2h05m", "3d04h": how long ago a snapshot was taken. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

/** One line saying how old a snapshot is: "observed 3m12s ago at 2024-05-01T10:00:00.000Z". */
export function describeAge(observedAt: string, now: Date): string {
  const t = Date.parse(observedAt);
  if (Number.isNaN(t)) return `observed at ${observedAt} (unparseable time)`;
  return `observed ${formatAge(now.getTime() - t)} ago at ${observedAt}`;
}

export type LiveStatus = ReturnType<typeof statusOf> | 'unknown';

export interface InstanceRow {
  name: string;
  os: string;
  pnode: string;
  snodes: string;
  status: LiveStatus;
  'be/memory': number | '';
  'be/vcpus': number | '';
  disk_template: string;
  'nic.ips': string;
  'nic.macs': string;
  'nic.networks': string;
  /** Memory of the running VM, MiB; '' when not running or not reported. */
  oper_ram: number | '';
  oper_vcpus: number | '';
  pid: number | '';
  /** Every node holding a copy (a runtime directory or a process). */
  nodes: string;
  declared: boolean;
  observed_at: string;
}

export interface NodeRow {
  name: string;
  group: string;
  role: string;
  reachable: boolean;
  /** Liveness: Ready, Unreachable, Offline, Dead (observe/liveness). */
  condition: string;
  /** When that condition began. */
  since: string;
  missed: number | '';
  mtotal: number | '';
  mfree: number | '';
  ctotal: number | '';
  /** "vg0 1024/4096" (free/size MiB), comma-separated. */
  vgs: string;
  /** Instances with a copy on the node (running or not). */
  instances: number | '';
  inst_list: string;
  running: number | '';
  kernel: string;
  observed_at: string;
  /** Why the node could not be probed, or the probe sections that failed. */
  error: string;
}

type Copy = { node: string; vm: ObservedInstance };

/** The copy that speaks for the instance: a live one, else the one on the pinned primary, else the first. */
function mainCopy(copies: readonly Copy[], primary: string | undefined): Copy | undefined {
  return copies.find((c) => ALIVE.has(c.vm.runState)) ?? copies.find((c) => c.node === primary) ?? copies[0];
}

/**
 * Status of a declared instance with no copy on any reachable node: ERROR_nodedown when
 * its pinned primary (or, unpinned, any node) could not be probed, else absent.
 */
function missingStatus(inst: DesiredInstance | undefined, observed: ObservedCluster, state: DesiredState): LiveStatus {
  const primary = inst?.placement.primary;
  const down = (n: string) => {
    const o = observed.nodes.get(n);
    return o ? !o.reachable : state.nodes.get(n)?.role !== 'offline';
  };
  if (primary) return down(primary) || state.nodes.get(primary)?.role === 'offline' ? 'ERROR_nodedown' : 'absent';
  // unpinned: it may be on a node we could not see
  const names = new Set([...observed.nodes.keys(), ...state.nodes.keys()]);
  return [...names].some(down) ? 'unknown' : 'absent';
}

/** gnt-instance list rows: every declared instance, then instances found on nodes but not declared. */
export function instanceRows(state: DesiredState, observed: ObservedCluster): InstanceRow[] {
  const copies = indexCopies(observed);
  const names = new Set([...state.instances.keys(), ...copies.keys()]);
  return [...names].sort((a, b) => a.localeCompare(b)).map((name) => {
    const inst = state.instances.get(name);
    const cs = copies.get(name) ?? [];
    const c = mainCopy(cs, inst?.placement.primary);
    let status: LiveStatus = c ? statusOf(c.vm) : missingStatus(inst, observed, state);
    if (c && status === 'running' && inst?.placement.primary && c.node !== inst.placement.primary) status = 'ERROR_wrongnode';
    const metaNics = c?.vm.meta?.nics;
    const nics = metaNics && metaNics.length > 0
      ? metaNics.map((n) => ({ ip: n.ip ?? '', mac: n.mac, network: n.network ?? '' }))
      : (inst?.nics ?? []).map((n) => ({ ip: n.ip, mac: n.mac, network: n.network ?? '' }));
    const running = c !== undefined && ALIVE.has(c.vm.runState);
    return {
      name,
      os: inst?.os.name ?? c?.vm.meta?.os ?? '',
      pnode: c?.node ?? inst?.placement.primary ?? '',
      snodes: inst?.placement.secondary ?? '',
      status,
      'be/memory': inst?.beParams.memory ?? '',
      'be/vcpus': inst?.beParams.vcpus ?? '',
      disk_template: inst?.diskTemplate ?? '',
      'nic.ips': nics.map((n) => n.ip).join(','),
      'nic.macs': nics.map((n) => n.mac).join(','),
      'nic.networks': nics.map((n) => n.network).join(','),
      oper_ram: running ? (c.vm.memoryMiB ?? '') : '',
      oper_vcpus: running ? (c.vm.vcpus ?? '') : '',
      pid: running ? (c.vm.pid ?? '') : '',
      nodes: cs.map((x) => x.node).join(','),
      declared: inst !== undefined,
      observed_at: c ? observed.nodes.get(c.node)?.observedAt ?? '' : '',
    };
  });
}

/** gnt-node list rows: every declared node (offline ones are not probed), then any other node in the snapshot. */
export function nodeRows(state: DesiredState, observed: ObservedCluster): NodeRow[] {
  const names = new Set([...state.nodes.keys(), ...observed.nodes.keys()]);
  return [...names].sort((a, b) => a.localeCompare(b)).map((name) => {
    const d: DesiredNode | undefined = state.nodes.get(name);
    const o: ObservedNode | undefined = observed.nodes.get(name);
    const up = o?.reachable === true;
    const vms = up ? Object.values(o.instances).sort((a, b) => a.name.localeCompare(b.name)) : [];
    const error = !o
      ? d?.role === 'offline' ? 'offline: not probed' : 'not observed'
      : !o.reachable ? (o.error ?? 'unreachable') : o.probeErrors.join('; ');
    const live = observed.liveness?.get(name);
    return {
      name,
      group: d?.group ?? '',
      role: d?.role ?? '',
      reachable: up,
      condition: live?.condition ?? (d?.role === 'offline' ? 'Offline' : up ? 'Ready' : 'Unreachable'),
      since: live?.since ?? '',
      missed: live?.missedProbes ?? '',
      mtotal: up ? o.facts.memoryTotalMiB : '',
      mfree: up ? o.facts.memoryFreeMiB : '',
      ctotal: up ? o.facts.cpus : '',
      vgs: up ? Object.values(o.vgs).sort((a, b) => a.name.localeCompare(b.name)).map((v) => `${v.name} ${v.freeMiB}/${v.sizeMiB}`).join(',') : '',
      instances: up ? vms.length : '',
      inst_list: vms.map((v) => v.name).join(','),
      running: up ? vms.filter((v) => ALIVE.has(v.runState)).length : '',
      kernel: up ? o.facts.kernel : '',
      observed_at: o?.observedAt ?? '',
      error,
    };
  });
}

interface LiveColumn { readonly title: string; readonly doc: string }

export const LIVE_COLUMNS = {
  instances: {
    columns: {
      name: { title: 'Instance', doc: 'instance name' },
      os: { title: 'OS', doc: 'OS (desired, else the one recorded on the node)' },
      pnode: { title: 'Primary_node', doc: 'node it is found on (else the pinned primary)' },
      snodes: { title: 'Secondary_Nodes', doc: 'secondary node (drbd), as declared' },
      status: { title: 'Status', doc: 'running, ADMIN_down, USER_down, ERROR_down, ERROR_nodedown, ERROR_wrongnode, absent (declared, not found) or unknown (unpinned, some node unreachable)' },
      'be/memory': { title: 'ConfigMaxMem', doc: 'declared memory, MiB' },
      'be/vcpus': { title: 'ConfigVCPUs', doc: 'declared virtual CPUs' },
      disk_template: { title: 'Disk_template', doc: 'declared disk template' },
      'nic.ips': { title: 'NIC_IPs', doc: 'NIC IPs (recorded on the node, else declared)' },
      'nic.macs': { title: 'NIC_MACs', doc: 'NIC MACs (recorded on the node, else declared)' },
      'nic.networks': { title: 'NIC_networks', doc: 'NIC networks' },
      oper_ram: { title: 'Memory', doc: 'memory of the running VM, MiB' },
      oper_vcpus: { title: 'VCPUs', doc: 'vCPUs of the running VM' },
      pid: { title: 'PID', doc: 'QEMU process id' },
      nodes: { title: 'Nodes', doc: 'every node holding a copy' },
      declared: { title: 'Declared', doc: 'declared in the manifests' },
      observed_at: { title: 'ObservedAt', doc: 'when its node was probed' },
    } satisfies Record<keyof InstanceRow, LiveColumn>,
    defaults: ['name', 'os', 'pnode', 'snodes', 'status', 'be/memory', 'be/vcpus', 'oper_ram', 'nic.ips'],
  },
  nodes: {
    columns: {
      name: { title: 'Node', doc: 'node name' },
      group: { title: 'Group', doc: 'node group' },
      role: { title: 'Role', doc: 'declared role' },
      reachable: { title: 'Reachable', doc: 'the probe answered' },
      condition: { title: 'Condition', doc: 'Ready, Unreachable (state unknown), Offline (declared), Dead (fenced: power off confirmed)' },
      since: { title: 'Since', doc: 'when the condition began (Unreachable: the first missed probe), from the state directory\'s liveness record' },
      missed: { title: 'Missed', doc: 'probes missed in a row' },
      mtotal: { title: 'MTotal', doc: 'total memory, MiB' },
      mfree: { title: 'MFree', doc: 'free memory, MiB' },
      ctotal: { title: 'CTotal', doc: 'CPUs' },
      vgs: { title: 'VGs', doc: 'volume groups: name free/size MiB' },
      instances: { title: 'Inst', doc: 'instances with a copy on the node' },
      inst_list: { title: 'Instances', doc: 'instance names' },
      running: { title: 'Running', doc: 'instances running on the node' },
      kernel: { title: 'Kernel', doc: 'kernel release' },
      observed_at: { title: 'ObservedAt', doc: 'probe time' },
      error: { title: 'Error', doc: 'why the node is unreachable, or failed probe sections' },
    } satisfies Record<keyof NodeRow, LiveColumn>,
    defaults: ['name', 'group', 'role', 'reachable', 'condition', 'missed', 'mtotal', 'mfree', 'vgs', 'instances', 'error'],
  },
} as const;

export type LiveKind = keyof typeof LIVE_COLUMNS;
export type OutputFormat = 'table' | 'json' | 'yaml';

/** Render rows with the chosen fields; throws on an unknown field. */
export function renderRows(kind: LiveKind, rows: readonly object[], opts: { fields?: readonly string[]; headers?: boolean; output?: OutputFormat } = {}): string {
  const columns = LIVE_COLUMNS[kind].columns as Record<string, LiveColumn>;
  const fields = opts.fields && opts.fields.length > 0 ? [...opts.fields] : [...LIVE_COLUMNS[kind].defaults];
  const unknown = fields.filter((f) => !(f in columns));
  if (unknown.length) throw new CliExit(1, `unknown field(s) ${unknown.join(', ')}; fields for ${kind}: ${Object.keys(columns).join(', ')}`);
  const values = rows.map((r) => fields.map((f) => (r as Record<string, unknown>)[f]));
  const output = opts.output ?? 'table';
  if (output === 'table') {
    const cell = (v: unknown) => (typeof v === 'boolean' ? (v ? 'Y' : 'N') : String(v ?? ''));
    return renderTable(opts.headers === false ? undefined : fields.map((f) => columns[f]!.title), values.map((r) => r.map(cell)));
  }
  const objs = values.map((r) => Object.fromEntries(fields.map((f, i) => [f, r[i]])));
  return output === 'json' ? `${JSON.stringify(objs, null, 2)}\n` : stringify(objs, { lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------
// Pure: describe

function indent(text: string, by = '  '): string {
  return text.split('\n').map((l) => (l ? by + l : l)).join('\n');
}

/** The `describe instance/NAME` text: spec summary, live status, conditions, pending work. */
export function renderInstanceDescription(inst: DesiredInstance, status: ResourceStatus | undefined, entry: PlanEntry | undefined, row: InstanceRow | undefined): string {
  const out: string[] = [];
  const kv = (k: string, v: unknown) => out.push(`${`${k}:`.padEnd(16)}${String(v)}`);
  kv('Name', inst.name);
  kv('State', `${inst.state}, power ${inst.powerState}`);
  kv('OS', `${inst.os.name} (generation ${inst.os.generation})`);
  kv('Memory', `${inst.beParams.memory} MiB`);
  kv('VCPUs', inst.beParams.vcpus);
  kv('Disk template', inst.diskTemplate);
  kv('Disks', inst.disks.filter((d) => d.state === 'present').map((d) => `disk${d.index} ${d.size} MiB ${d.template}`).join(', ') || '(none)');
  kv('Placement', `primary ${inst.placement.primary ?? '(allocator)'}${inst.placement.secondary ? `, secondary ${inst.placement.secondary}` : ''}${inst.placement.group ? `, group ${inst.placement.group}` : ''}`);
  if (inst.tags.length) kv('Tags', inst.tags.join(', '));
  out.push('');
  const facts = status?.facts ?? {};
  kv('Status', row?.status ?? facts.status ?? 'unknown');
  kv('Node', row?.pnode || String(facts.node ?? '') || '-');
  if (row?.nodes && row.nodes !== row.pnode) kv('Copies on', row.nodes);
  if (row?.oper_ram !== undefined && row.oper_ram !== '') kv('Oper. memory', `${row.oper_ram} MiB`);
  if (row?.pid !== undefined && row.pid !== '') kv('PID', row.pid);
  const observedNics = Array.isArray(facts.nics) ? (facts.nics as { mac?: string; ip?: string; network?: string }[]) : undefined;
  out.push('NICs:');
  const nicRows = inst.nics.map((n, i) => {
    const o = observedNics?.[i];
    return [`nic${n.index}`, o?.network ?? n.network ?? '', n.mode, o?.mac ?? n.mac, o?.ip ?? n.ip];
  });
  out.push(nicRows.length ? indent(renderTable(['NIC', 'NETWORK', 'MODE', 'MAC', 'IP'], nicRows)).trimEnd() : '  (none)');
  const drbd = Array.isArray(facts.drbd) ? (facts.drbd as DrbdDiskFact[]) : [];
  if (drbd.length) {
    out.push('DRBD:');
    const sync = (f: DrbdDiskFact) => (f.sync ? `${f.sync.percent.toFixed(1)}%${f.sync.speedKiBps !== undefined ? ` ${(f.sync.speedKiBps / 1024).toFixed(1)} MiB/s` : ''}${f.sync.etaSec !== undefined ? ` ETA ${f.sync.etaSec}s` : ''}` : '');
    out.push(indent(renderTable(['DISK', 'NODE', 'MINOR', 'PORT', 'ROLE', 'CONNECTION', 'DISK/PEER', 'SYNC'],
      drbd.map((f) => [`disk${f.disk}`, f.node, String(f.minor), String(f.port ?? ''), f.role ?? 'unknown', f.connection ?? '', f.diskState ? `${f.diskState}/${f.peerDisk ?? '?'}` : '', sync(f)]))).trimEnd());
  }
  const ar = facts.autoRepair as { decision?: string; message?: string; last?: { type: string; result: string; last: string; attempts: number; message: string } } | undefined;
  if (ar?.decision) kv('Auto-repair', `${ar.decision}: ${ar.message ?? ''}`);
  if (ar?.last) kv('Last repair', `${ar.last.type} ${ar.last.result} at ${ar.last.last} (${ar.last.attempts} failed in a row): ${ar.last.message}`);
  out.push('Conditions:');
  const conds = status?.conditions ?? [];
  out.push(conds.length ? indent(renderTable(['TYPE', 'STATUS', 'REASON', 'MESSAGE'], conds.map((c) => [c.type, c.status, c.reason, c.message]))).trimEnd() : '  (no status: not in the plan)');
  if (entry) {
    out.push(`Plan:           ${entry.status}`);
    if (entry.diffs.length) {
      out.push('Differences:');
      for (const d of entry.diffs) out.push(`  ~ ${d.path}: ${JSON.stringify(d.observed) ?? '(none)'} -> ${JSON.stringify(d.desired) ?? '(none)'}`);
    }
    out.push('Pending actions:');
    if (entry.actions.length === 0) out.push('  (none)');
    for (const a of entry.actions) out.push(`  + ${describeAction(a)}\n      why: ${a.reason}`);
    for (const r of entry.refused) out.push(`  ! refused ${r.code}: ${r.message}`);
    for (const n of entry.notes) out.push(`  note: ${n}`);
  }
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Pure: console

export interface ConsoleEndpoint {
  host: string;
  port: number;
  user: string;
  privateKeyFile?: string;
}

/** The known_hosts line pinning the node's key; OpenSSH names non-22 ports "[host]:port". */
export function knownHostsLine(host: string, port: number, hostKey: string): string {
  const [type, b64] = hostKey.trim().split(/\s+/);
  if (!type || !b64) throw new CliExit(1, `host key of ${host} is not an OpenSSH public key line`);
  return `${port === 22 ? host : `[${host}]:${port}`} ${type} ${b64}\n`;
}

/**
 * argv of the system ssh client attaching to the instance's serial socket with socat
 * (Ctrl-] leaves). Only the pinned host key is trusted: strict checking against a
 * known_hosts file holding that one key, the global known_hosts ignored.
 * The remote words are shell-quoted because sshd hands them to the node's shell.
 */
export function consoleArgv(ep: ConsoleEndpoint, knownHostsFile: string, runDir: string, instance: string): string[] {
  const sock = `${runDir.replace(/\/+$/, '')}/${instance}/serial.sock`;
  return [
    'ssh', '-t',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    ...(ep.privateKeyFile ? ['-i', ep.privateKeyFile] : []),
    '-p', String(ep.port),
    `${ep.user}@${ep.host}`,
    'socat', quoteArg('STDIO,raw,echo=0,escape=0x1d'), quoteArg(`UNIX-CONNECT:${sock}`),
  ];
}

/** For display: quote argv elements that a shell would split. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

// ---------------------------------------------------------------------------------------
// Commands

const collect = (v: string, prev: string[] = []) => [...prev, v];

function loggerFor(cmd: Command): Logger {
  const level = (cmd.optsWithGlobals() as { logLevel?: string }).logLevel;
  // unreachable nodes are reported in the output itself: only errors go to the log by default
  return createLogger({ level: level ?? process.env.GANTRY_LOG_LEVEL ?? 'error' });
}

async function observeNow(state: DesiredState, logger: Logger, pool?: SshPool): Promise<ObservedCluster> {
  const conn = await connectNodes(state, { logger, ...(pool ? { pool } : {}) });
  try {
    return await observeCluster(state, conn.ops);
  } finally {
    await conn.close();
  }
}

const KINDS: Record<string, LiveKind> = { instances: 'instances', instance: 'instances', inst: 'instances', nodes: 'nodes', node: 'nodes' };

interface StatusOpts { file: string[]; fields?: string; headers?: boolean; output: OutputFormat; cached?: boolean; stateDir: string }

async function runStatus(what: string, opts: StatusOpts, cmd: Command): Promise<void> {
  const kind = KINDS[what];
  if (!kind) throw new CliExit(1, `cannot show the status of "${what}": use instances or nodes`);
  const fields = opts.fields?.split(',').map((f) => f.trim()).filter(Boolean);
  renderRows(kind, [], { ...(fields ? { fields } : {}) }); // reject unknown fields before probing
  const state = await loadOrExit(opts.file);
  let observed: ObservedCluster;
  if (opts.cached) {
    const snap = await readObserved(opts.stateDir);
    if (!snap) throw new CliExit(1, `no observed snapshot in ${opts.stateDir} (written by gantry plan/apply/run --state-dir); run without --cached to probe the nodes now`);
    observed = snap.observed;
    const age = `${describeAge(snap.observedAt, new Date())} (cached: ${path.join(opts.stateDir, 'observed.json')})`;
    if (opts.output === 'table' && opts.headers !== false) process.stdout.write(`# ${age}\n`);
    else process.stderr.write(`${age}\n`);
  } else {
    observed = await observeNow(state, loggerFor(cmd));
  }
  const rows = kind === 'instances' ? instanceRows(state, observed) : nodeRows(state, await withLiveness(state, observed, opts));
  process.stdout.write(renderRows(kind, rows, { ...(fields ? { fields } : {}), headers: opts.headers !== false, output: opts.output }));
}

/**
 * Node conditions for `status nodes`: the state directory's record (what `gantry run`
 * counted); with a live probe, that record advanced by this probe for display (not written).
 */
async function withLiveness(state: DesiredState, observed: ObservedCluster, opts: StatusOpts): Promise<ObservedCluster> {
  const rec = await readLiveness(opts.stateDir);
  if (opts.cached) return rec ? { ...observed, liveness: rec.nodes } : observed;
  return { ...observed, liveness: nextLiveness(rec?.nodes, [...state.nodes.values()], observed.nodes, new Date().toISOString(), state.cluster.liveness) };
}

/** `gantry describe instance/NAME` (and `gantry show instance/NAME --status`). */
export async function runDescribe(ref: string, opts: { file: string[]; output?: string }, cmd: Command): Promise<void> {
  const [rawKind, ...rest] = ref.split('/');
  const name = rest.join('/');
  if (!['instance', 'instances', 'inst', 'vm'].includes((rawKind ?? '').toLowerCase()) || !name) {
    throw new CliExit(1, `describe takes instance/NAME (got "${ref}")`);
  }
  const state = await loadOrExit(opts.file);
  const inst = state.instances.get(name);
  if (!inst) throw new CliExit(1, `Instance "${name}" not found${state.instances.size ? ` (have: ${[...state.instances.keys()].join(', ')})` : ''}`);
  const logger = loggerFor(cmd);
  const conn = await connectNodes(state, { logger });
  let res: Awaited<ReturnType<typeof reconcileOnce>>;
  try {
    res = await reconcileOnce(state, { logger, ops: conn.ops }, { apply: false });
  } finally {
    await conn.close();
  }
  const subject = `Instance/${name}`;
  const status = res.statuses.find((s) => s.subject === subject);
  const entry = res.plan.entries.find((e) => e.subject === subject);
  const row = instanceRows(state, res.observed).find((r) => r.name === name);
  if (opts.output === 'json' || opts.output === 'yaml') {
    const doc = { spec: inst, live: row, status, plan: entry };
    process.stdout.write(opts.output === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(JSON.parse(JSON.stringify(doc)) as unknown, { lineWidth: 0 }));
    return;
  }
  process.stdout.write(renderInstanceDescription(inst, status, entry, row));
}

interface ConsoleOpts { file: string[]; printCommand?: boolean; log?: boolean; lines: string }

async function runConsole(name: string, opts: ConsoleOpts, cmd: Command): Promise<void> {
  const lines = Number(opts.lines);
  if (!Number.isInteger(lines) || lines <= 0) throw new CliExit(1, `--lines must be a positive integer (got "${opts.lines}")`);
  const state = await loadOrExit(opts.file);
  const logger = loggerFor(cmd);
  const pool = new SshPool({ logger, connectTimeoutMs: 8000, commandTimeoutMs: 30_000 });
  try {
    const observed = await observeNow(state, logger, pool);
    const row = instanceRows(state, observed).find((r) => r.name === name);
    if (!row || !row.nodes) {
      const why = row ? `${row.status}${row.status === 'ERROR_nodedown' ? ` (primary ${row.pnode} unreachable)` : ''}` : 'not declared and not found on any node';
      throw new CliExit(1, `instance ${name}: no copy on any reachable node: ${why}`);
    }
    const node = state.nodes.get(row.pnode);
    if (!node) throw new CliExit(1, `instance ${name} is on ${row.pnode}, which no manifest declares: cannot reach it`);
    if (!node.ssh.hostKey) throw new CliExit(1, `node ${node.name} has no ssh.hostKey in its manifest; Gantry does not trust a host key on first use`);
    const runDir = `${node.paths.runDir.replace(/\/+$/, '')}/${name}`;

    if (opts.log) {
      const transport = pool.get({
        name: node.name,
        ssh: { host: node.ssh.host, port: node.ssh.port, user: node.ssh.user, hostKey: node.ssh.hostKey, ...(node.ssh.privateKeyFile ? { privateKeyFile: node.ssh.privateKeyFile } : {}) },
      });
      const r = await transport.exec(['tail', '-n', String(lines), `${runDir}/console.log`]);
      if (r.code !== 0) throw new CliExit(1, `${node.name}: tail ${runDir}/console.log: ${r.stderr.trim() || `exit ${r.code}`}`);
      process.stdout.write(r.stdout);
      return;
    }

    if (row.status !== 'running') process.stderr.write(`gantry: instance ${name} is ${row.status} on ${node.name}: its serial socket may not answer\n`);
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-console-'));
    const known = path.join(dir, 'known_hosts');
    await writeFile(known, knownHostsLine(node.ssh.host, node.ssh.port, node.ssh.hostKey), { mode: 0o600 });
    const argv = consoleArgv({ host: node.ssh.host, port: node.ssh.port, user: node.ssh.user, ...(node.ssh.privateKeyFile ? { privateKeyFile: node.ssh.privateKeyFile } : {}) }, known, node.paths.runDir, name);
    if (opts.printCommand) {
      // the printed command needs the pinned key: the file stays, and we say where
      process.stdout.write(`${shellQuote(argv)}\n`);
      process.stderr.write(`gantry: ${known} pins ${node.name}'s host key for this command; remove it when done (rm -r ${dir})\n`);
      return;
    }
    process.stderr.write(`Connected to ${name} on ${node.name}; press Ctrl-] to leave.\n`);
    const code = await runInherited(argv).finally(() => rm(dir, { recursive: true, force: true }));
    if (code !== 0) throw new CliExit(code ?? 1, code === 255 ? `ssh to ${node.name} failed` : '');
  } finally {
    await pool.closeAll();
  }
}

/** Run argv (no shell) on this terminal; resolves with its exit code. Ctrl-C belongs to the child. */
function runInherited(argv: readonly string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const ignore = () => {};
    process.on('SIGINT', ignore);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', shell: false });
    child.on('error', (e) => { process.off('SIGINT', ignore); reject(new CliExit(1, `cannot run ${argv[0]}: ${e.message}`)); });
    child.on('exit', (code) => { process.off('SIGINT', ignore); resolve(code); });
  });
}

function fieldHelp(): string {
  return Object.entries(LIVE_COLUMNS).map(([k, s]) => `  ${k}: ${Object.keys(s.columns).join(', ')}\n    (default: ${s.defaults.join(',')})`).join('\n');
}

export function registerLiveCommands(program: Command): void {
  program
    .command('status')
    .description('what the nodes report now (gnt-instance list / gnt-node list over the observed state); list shows the manifests')
    .argument('[what]', 'instances | nodes', 'instances')
    .requiredOption('-f, --file <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('-o, --fields <fields>', 'comma-separated fields, like gnt-instance list -o name,pnode,status')
    .option('--no-headers', 'omit the header line (and the age line of --cached)')
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .option('--cached', 'do not probe: read the last snapshot from the state directory and say how old it is')
    .option('--state-dir <dir>', 'state directory for --cached', DEFAULT_STATE_DIR)
    .addHelpText('after', `\nFields:\n${fieldHelp()}`)
    .action(async (what: string, opts: StatusOpts, cmd: Command) => runStatus(what, opts, cmd));

  program
    .command('describe')
    .description('one instance: its effective spec, live status, Kubernetes-style conditions and the actions a plan would take')
    .argument('<instance/name>', 'e.g. instance/web1')
    .requiredOption('-f, --file <path>', 'manifest file or directory (repeatable)', collect, [])
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text'))
    .action(async (ref: string, opts: { file: string[]; output?: string }, cmd: Command) => runDescribe(ref, opts, cmd));

  program
    .command('console')
    .description('attach to an instance\'s serial console over ssh (pinned host key; Ctrl-] leaves), or print its console log')
    .argument('<name>', 'instance name')
    .requiredOption('-f, --file <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('--print-command', 'print the ssh command instead of running it (like gnt-instance console --show-cmd)')
    .option('--log', 'print the tail of the instance\'s console.log instead of attaching')
    .option('--lines <n>', 'lines of console.log to print with --log', '50')
    .action(async (name: string, opts: ConsoleOpts, cmd: Command) => runConsole(name, opts, cmd));
}
