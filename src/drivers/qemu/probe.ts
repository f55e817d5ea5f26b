/**
 * Observe every instance under a run root with one command: a small POSIX sh loop (data
 * passed as positional arguments, never interpolated) prints, per run dir, a framed
 * record: pid + liveness, the adminStopped marker, runtime.json, and, for a live qemu,
 * the replies of one QMP exchange. The parser turns that into ObservedInstance values.
 */
import type { InstanceMeta, ObservedDrive, ObservedInstance, ObservedRunState } from '../../core/observed.js';
import {
  buildQmpStdin,
  parseCpusFast,
  parseMemorySummary,
  parseQmpReplies,
  parseQueryBlock,
  parseQueryStatus,
  qmp,
  type QmpBlockDevice,
  type QmpCommand,
  type QmpEvent,
} from './qmp.js';
import { assertInstanceName, parseRuntimeRecord } from './spec.js';

const MARK = '@@gantry-qemu';

/**
 * $1 = run root, $2 = QMP stdin ('' = skip QMP), $3.. = instance names (none = all dirs).
 * A pid counts as alive only if /proc says it is not a zombie and its command line names
 * this run dir's monitor socket, so a recycled pid is never taken for our qemu.
 */
export const PROBE_SCRIPT = `root=$1; q=$2; shift 2
tck=$(getconf CLK_TCK 2>/dev/null)
if [ $# -eq 0 ]; then set -- "$root"/*; else
  for n in "$@"; do shift; set -- "$@" "$root/$n"; done; fi
for d in "$@"; do
  [ -e "$d/runtime.json" ] || [ -e "$d/pid" ] || [ -e "$d/gantry.json" ] || continue
  printf '\\n${MARK} instance %s\\n' "\${d##*/}"
  pid=$(tr -cd 0-9 <"$d/pid" 2>/dev/null)
  alive=0
  if [ -n "$pid" ] && grep -qaF -- "$d/qmp.sock" "/proc/$pid/cmdline" 2>/dev/null; then
    st=$(cat "/proc/$pid/stat" 2>/dev/null); st=\${st##*) }
    case "\${st%% *}" in Z|X|'') ;; *) alive=1 ;; esac
  fi
  printf '${MARK} pid %s %s\\n' "\${pid:-none}" "$alive"
  if [ "$alive" = 1 ]; then printf '${MARK} cpu %s %s\\n' "\${tck:-100}" "$st"; fi
  if [ -e "$d/adminStopped" ]; then printf '${MARK} adminStopped\\n'; fi
  printf '${MARK} runtime\\n'; cat "$d/runtime.json" 2>/dev/null; printf '\\n'
  if [ -e "$d/gantry.json" ]; then printf '${MARK} meta\\n'; cat "$d/gantry.json" 2>/dev/null; printf '\\n'; fi
  if [ "$alive" = 1 ] && [ -n "$q" ]; then
    printf '${MARK} qmp\\n'; printf '%s' "$q" | socat -t 2 - "UNIX-CONNECT:$d/qmp.sock" 2>&1; printf '\\n'
  fi
  printf '${MARK} end\\n'
done
exit 0`;

/** The QMP exchange the probe runs against each live instance. */
export const PROBE_QMP: readonly QmpCommand[] = [qmp.queryStatus(), qmp.queryCpusFast(), qmp.queryMemorySizeSummary(), qmp.queryBlock()];

export function normaliseRunRoot(runRoot: string): string {
  return runRoot.length > 1 ? runRoot.replace(/\/+$/, '') : runRoot;
}

/** argv of the probe for `instances` (default: every run dir) under runRoot. */
export function probeInstancesArgv(runRoot: string, opts: { instances?: readonly string[]; qmp?: boolean } = {}): string[] {
  for (const n of opts.instances ?? []) assertInstanceName(n);
  const q = opts.qmp === false ? '' : buildQmpStdin(PROBE_QMP);
  return ['sh', '-c', PROBE_SCRIPT, 'gantry-qemu-probe', normaliseRunRoot(runRoot), q, ...(opts.instances ?? [])];
}

/** Commands to add to a node's batched probe (one). Parse its stdout with parseInstances. */
export function probeInstancesCommands(runRoot: string): string[][] {
  return [probeInstancesArgv(runRoot)];
}

/** One run dir as the probe saw it, before mapping to ObservedInstance. */
export interface ProbedRunDir {
  name: string;
  pid?: number;
  alive: boolean;
  /** user + system CPU seconds of the live pid (/proc/PID/stat utime + stime over CLK_TCK). */
  cpuSeconds?: number;
  adminStopped: boolean;
  runtimeText: string;
  metaText?: string;
  qmpText?: string;
}

export function parseProbeFrames(stdout: string): ProbedRunDir[] {
  const out: ProbedRunDir[] = [];
  let cur: ProbedRunDir | undefined;
  let section: 'runtime' | 'meta' | 'qmp' | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(`${MARK} `)) {
      const [kind, ...args] = line.slice(MARK.length + 1).split(' ');
      section = undefined;
      if (kind === 'instance') {
        cur = { name: args.join(' '), alive: false, adminStopped: false, runtimeText: '' };
        out.push(cur);
      } else if (!cur) {
        continue;
      } else if (kind === 'pid') {
        const pid = Number(args[0]);
        if (Number.isInteger(pid) && pid > 0) cur.pid = pid;
        cur.alive = args[1] === '1';
      } else if (kind === 'cpu') {
        const cpu = parseProcStatCpu(Number(args[0]), args.slice(1).join(' '));
        if (cpu !== undefined) cur.cpuSeconds = cpu;
      } else if (kind === 'adminStopped') {
        cur.adminStopped = true;
      } else if (kind === 'runtime' || kind === 'meta' || kind === 'qmp') {
        section = kind;
        if (kind === 'qmp') cur.qmpText = '';
        if (kind === 'meta') cur.metaText = '';
      } else if (kind === 'end') {
        cur = undefined;
      }
      continue;
    }
    if (!cur || !section) continue;
    if (section === 'runtime') cur.runtimeText += line;
    else if (section === 'meta') cur.metaText += line + '\n';
    else cur.qmpText += line + '\n';
  }
  return out;
}

/**
 * CPU seconds (utime + stime) from /proc/PID/stat after the command name: `st` starts at
 * field 3 (state), so utime (field 14) and stime (field 15) are its 12th and 13th words.
 */
export function parseProcStatCpu(ticksPerSecond: number, st: string): number | undefined {
  const f = st.trim().split(/\s+/);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!(ticksPerSecond > 0) || !Number.isInteger(utime) || !Number.isInteger(stime) || f.length < 13) return undefined;
  return (utime + stime) / ticksPerSecond;
}

/** QEMU runstate -> Gantry's ObservedRunState. */
export function mapRunState(qemuStatus: string): ObservedRunState {
  switch (qemuStatus) {
    case 'running': return 'running';
    case 'shutdown': return 'shutdown';
    case 'paused': case 'suspended': case 'io-error': case 'watchdog': case 'prelaunch': case 'debug': return 'paused';
    case 'inmigrate': return 'inmigrate';
    case 'postmigrate': case 'finish-migrate': return 'postmigrate';
    case 'internal-error': case 'guest-panicked': return 'crashed';
    default: return 'unknown';
  }
}

export interface ParsedInstance extends ObservedInstance {
  /** QMP events seen during the probe (SHUTDOWN, STOP...), for the event log. */
  readonly events?: readonly QmpEvent[];
}

/** RUNDIR/gantry.json (written by the executor) -> InstanceMeta, when well-formed. */
export function parseInstanceMeta(text: string | undefined): InstanceMeta | undefined {
  if (!text?.trim()) return undefined;
  try {
    const v = JSON.parse(text) as Partial<InstanceMeta>;
    if (v && v.version === 1 && typeof v.instance === 'string') return v as InstanceMeta;
  } catch {
    /* unreadable: reported as absent */
  }
  return undefined;
}

/**
 * The probe's stdout -> instances keyed by name. A dead qemu with a runtime record is
 * 'stopped'; `adminStopped` says whether Gantry stopped it (ADMIN_down) or it died on
 * its own (ERROR_down). A live qemu whose monitor does not answer is 'unknown'.
 */
export function parseInstances(stdout: string): Record<string, ParsedInstance> {
  const out: Record<string, ParsedInstance> = {};
  for (const f of parseProbeFrames(stdout)) {
    const record = parseRuntimeRecord(f.runtimeText);
    const runtime: Record<string, unknown> | undefined = record
      ? { ...record }
      : f.runtimeText ? { unreadable: f.runtimeText.slice(0, 200) } : undefined;
    const meta = parseInstanceMeta(f.metaText);
    const common = {
      name: f.name,
      adminStopped: f.adminStopped,
      ...(runtime ? { runtime } : {}),
      ...(meta ? { meta } : {}),
    };
    if (!f.alive) {
      out[f.name] = { ...common, runState: 'stopped', guestShutdown: false };
      continue;
    }
    const ex = f.qmpText !== undefined ? parseQmpReplies(f.qmpText, PROBE_QMP) : undefined;
    const get = (execute: string): unknown => {
      const r = ex?.replies.find((x) => x.execute === execute);
      return r && r.ok ? r.value : undefined;
    };
    const statusValue = get('query-status');
    const runState = statusValue !== undefined ? mapRunState(parseQueryStatus(statusValue).status) : 'unknown';
    const vcpus = get('query-cpus-fast');
    const memoryMiB = parseMemorySummary(get('query-memory-size-summary'));
    const block = get('query-block');
    const drives = block !== undefined ? drivesOf(parseQueryBlock(block)) : undefined;
    out[f.name] = {
      ...common,
      ...(f.pid !== undefined ? { pid: f.pid } : {}),
      ...(f.cpuSeconds !== undefined ? { cpuSeconds: f.cpuSeconds } : {}),
      runState,
      // With -no-shutdown, runstate "shutdown" only arises from a guest poweroff that
      // Gantry did not follow with quit: the guest turned itself off (USER_down).
      guestShutdown: runState === 'shutdown',
      ...(vcpus !== undefined ? { vcpus: parseCpusFast(vcpus) } : {}),
      ...(memoryMiB !== undefined ? { memoryMiB } : {}),
      ...(drives ? { drives } : {}),
      ...(ex && ex.events.length ? { events: ex.events } : {}),
    };
  }
  return out;
}

/** query-block -> the drives with media and the size their guest sees. */
export function drivesOf(devices: readonly QmpBlockDevice[]): ObservedDrive[] {
  return devices.filter((d) => d.file !== undefined && d.virtualSizeBytes !== undefined)
    .map((d) => ({ drive: d.device, path: d.file!, sizeMiB: Math.floor(d.virtualSizeBytes! / MIB) }));
}

const MIB = 1024 * 1024;

/** True when Gantry stopped this instance (the adminStopped marker exists). */
export function isAdminStopped(inst: ObservedInstance): boolean {
  return inst.adminStopped === true;
}
