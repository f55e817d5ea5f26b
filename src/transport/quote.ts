/**
 * POSIX shell quoting, and the framing that lets several commands share one ssh channel.
 * Everything here is pure: the ssh transport is the only place a command line reaches a
 * shell, and it builds that line only through these functions.
 */
import { TransportError } from '../util/errors.js';

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Quote one argument so that any POSIX shell reads it back byte for byte. */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) throw new TypeError('a command argument cannot contain a NUL byte');
  if (SAFE_WORD.test(arg)) return arg;
  // Inside single quotes nothing is special except the closing quote itself.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quote an argv array into one shell command line. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('an empty argv cannot be run');
  return argv.map(quoteArg).join(' ');
}

/** `export NAME='value'; ` for each variable, after checking the names. */
export function exportEnv(env: Readonly<Record<string, string>> | undefined): string {
  if (!env) return '';
  return Object.entries(env)
    .map(([name, value]) => {
      if (!ENV_NAME.test(name)) throw new TypeError(`invalid environment variable name: ${JSON.stringify(name)}`);
      return `export ${name}=${quoteArg(value)}; `;
    })
    .join('');
}

/**
 * Wrap a command in coreutils `timeout`: sshd refuses signal requests for root sessions
 * ("session signalling requires privilege separation"), so a timeout has to be enforced
 * on the node. `timeout` runs the command in its own process group and kills the whole
 * group: TERM at the deadline, KILL one second later. Exit 124/137 then means timed out.
 */
export function remoteTimeout(timeoutMs: number | undefined): string {
  if (timeoutMs === undefined) return '';
  if (!(timeoutMs > 0)) throw new TypeError('timeoutMs must be positive');
  return `timeout -k 1 ${(timeoutMs / 1000).toFixed(3)} `;
}

/**
 * The line sent for a single ssh exec. `exec` makes the command (or its `timeout`
 * wrapper) the direct child of sshd, with no shell left in between.
 */
export function buildExecLine(argv: readonly string[], env?: Readonly<Record<string, string>>, timeoutMs?: number): string {
  return `${exportEnv(env)}exec ${remoteTimeout(timeoutMs)}${quoteArgv(argv)}`;
}

// ---- batch framing ---------------------------------------------------------------------

/**
 * A POSIX sh script (fed to `sh -s` on stdin, so the marker never appears in a process
 * list a command could print) that runs each command in turn. On stdout each command's
 * output sits between `M B i\n` and `\nM E i rc\n`; on stderr between `M B i\n` and
 * `\nM E i\n`. Each command runs in a subshell with stdin from /dev/null so it can
 * neither read the rest of the script nor end it (`exit`, `cd` ...).
 */
export function buildBatchScript(
  commands: readonly (readonly string[])[],
  marker: string,
  env?: Readonly<Record<string, string>>,
): string {
  if (!/^[A-Za-z0-9]{16,}$/.test(marker)) throw new TypeError('batch marker must be at least 16 alphanumerics');
  const lines = [exportEnv(env), `m=${marker}`];
  commands.forEach((argv, i) => {
    lines.push(
      `printf '%s B %d\\n' "$m" ${i}; printf '%s B %d\\n' "$m" ${i} >&2`,
      `( exec ${quoteArgv(argv)} ) </dev/null`,
      `r=$?; printf '\\n%s E %d %d\\n' "$m" ${i} "$r"; printf '\\n%s E %d\\n' "$m" ${i} >&2`,
    );
  });
  return lines.join('\n') + '\n';
}

export interface BatchPart {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Split the framed output of `buildBatchScript` back into one part per command.
 * Throws a TransportError (BATCH_INCOMPLETE) when a frame is missing, which means the
 * script was cut short (connection lost, shell killed).
 */
export function parseBatchOutput(stdout: string, stderr: string, marker: string, count: number): BatchPart[] {
  const parts: BatchPart[] = [];
  let outPos = 0;
  let errPos = 0;
  for (let i = 0; i < count; i++) {
    const out = readFrame(stdout, outPos, marker, i, true);
    const err = readFrame(stderr, errPos, marker, i, false);
    if (!out || !err) {
      throw new TransportError('BATCH_INCOMPLETE', `batch output ends before command ${i + 1} of ${count} finished`, {
        completed: i,
        count,
      });
    }
    parts.push({ code: out.code ?? -1, stdout: out.body, stderr: err.body });
    outPos = out.next;
    errPos = err.next;
  }
  return parts;
}

function readFrame(
  text: string,
  from: number,
  marker: string,
  index: number,
  withCode: boolean,
): { body: string; code: number | undefined; next: number } | undefined {
  const begin = `${marker} B ${index}\n`;
  const start = text.indexOf(begin, from);
  if (start < 0) return undefined;
  const bodyStart = start + begin.length;
  const endTag = `\n${marker} E ${index}`;
  const end = text.indexOf(endTag, bodyStart);
  if (end < 0) return undefined;
  const lineEnd = text.indexOf('\n', end + endTag.length);
  if (lineEnd < 0) return undefined;
  const rest = text.slice(end + endTag.length, lineEnd).trim();
  let code: number | undefined;
  if (withCode) {
    if (!/^\d+$/.test(rest)) return undefined;
    code = Number(rest);
  }
  return { body: text.slice(bodyStart, end), code, next: lineEnd + 1 };
}
