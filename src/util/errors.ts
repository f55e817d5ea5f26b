/**
 * Typed errors, in the spirit of Ganeti's lib/errors.py: a prerequisite failure (the
 * desired state or the cluster cannot allow this; nothing was changed), an execution
 * failure (a command failed on a node), a transport failure (the node could not be
 * reached), and terminal failures that no retry will fix. Every error has a stable code
 * and a message a sysadmin can act on.
 *
 * THE RETRY RULE (one place: `retryable` below, `commandFailure` and `actionError`):
 * only transport errors and failures declared transient are retried. A command that ran
 * and failed is deterministic (an OS installer that exits 1 will exit 1 again, after
 * another 30 minutes) unless its failure is declared transient: by code
 * (TRANSIENT_CODES) or by a lock-contention message (TRANSIENT_STDERR).
 */
export type ErrorClass = 'prereq' | 'exec' | 'transport' | 'terminal';

export interface GantryErrorOptions {
  readonly cause?: unknown;
  /** Declares this failure transient: a retry moments later can succeed. */
  readonly transient?: boolean;
}

/** Error codes declared transient wherever they are raised (a retry can succeed). */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'QMP_UNREACHABLE', // the monitor socket is not there yet or was busy
  'PEER_UNREACHABLE', // the other node of a two-node action could not be reached
  'LOCK_CONTENDED', // another process held a node-local lock (LVM, dpkg, xtables)
]);

/** Messages of commands that failed only because something else held a lock. */
export const TRANSIENT_STDERR: readonly RegExp[] = [
  /can't get lock|unable to obtain (global )?lock|lock .* is held|resource temporarily unavailable/i,
  /another app is currently holding the xtables lock/i,
];

export class GantryError extends Error {
  readonly code: string;
  readonly errorClass: ErrorClass;
  readonly details: Record<string, unknown>;
  readonly transient: boolean;
  constructor(errorClass: ErrorClass, code: string, message: string, details: Record<string, unknown> = {}, options?: GantryErrorOptions) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.errorClass = errorClass;
    this.details = details;
    this.transient = options?.transient ?? TRANSIENT_CODES.has(code);
  }
  /** The retry rule for an action within a pass: transport errors and declared-transient failures only. */
  get retryable(): boolean {
    return this.errorClass === 'transport' || this.transient;
  }
  /**
   * Whether no later pass can help either (the reconcile loop's rule): only a change of the
   * desired state or a human will. A failed command is not permanent: the next pass
   * re-observes and may find the node changed.
   */
  get permanent(): boolean {
    return this.errorClass === 'prereq' || this.errorClass === 'terminal' || (this.errorClass === 'transport' && !this.retryable);
  }
}

/** The desired state or the cluster forbids the change; nothing was done. */
export class PrereqError extends GantryError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super('prereq', code, message, details);
  }
}

/** A command ran on a node and failed. */
export class ExecError extends GantryError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: GantryErrorOptions) {
    super('exec', code, message, details, options);
  }
}

/** The node could not be reached, or refused us (host key mismatch, auth, timeout). */
export class TransportError extends GantryError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: GantryErrorOptions) {
    super('transport', code, message, details, options);
  }
}

/** Retrying will not help (e.g. a host key mismatch, a refused shrink). */
export class TerminalError extends GantryError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super('terminal', code, message, details);
  }
}

/** An action's failure as it travels in ActionResult.error. */
export interface ActionFailure {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

/** Any thrown value as an action failure; what is not a GantryError is a bug: not retried. */
export function actionError(e: unknown): ActionFailure {
  if (e instanceof GantryError) return { code: e.code, message: e.message, retryable: e.retryable };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), retryable: false };
}

/** A command that ran on a node and exited non-zero: deterministic unless declared transient. */
export function commandFailure(argv: readonly string[], exitCode: number | null, stderr: string, firstLine: string = stderr.trim().split('\n')[0] ?? ''): ActionFailure {
  const transient = TRANSIENT_STDERR.some((re) => re.test(stderr));
  return { code: transient ? 'LOCK_CONTENDED' : 'COMMAND_FAILED', message: `${argv.slice(0, 2).join(' ')} exited ${exitCode}: ${firstLine}`, retryable: transient };
}

/**
 * A state file exists but cannot be used (bad JSON, wrong shape): reported, never read as
 * missing, so a damaged snapshot cannot pose as "nothing was ever seen".
 */
export class StateFileCorruptError extends GantryError {
  constructor(readonly path: string, readonly problem: string, readonly position?: { line: number; column: number }) {
    super('terminal', 'STATE_FILE_CORRUPT', `state file ${path} is corrupt${position ? ` (line ${position.line}, column ${position.column})` : ''}: ${problem}; move it aside to start again from the nodes`, {
      path, problem, ...(position ? { line: position.line, column: position.column } : {}),
    });
  }
}

/** The state directory could not be read or written (permissions, full disk, not a directory). */
export class StateDirError extends GantryError {
  constructor(readonly path: string, readonly operation: string, cause: unknown) {
    super('terminal', 'STATE_DIR_UNWRITABLE', `cannot ${operation} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { path, operation }, { cause });
  }
}

/** Who holds the state directory's lock (one writer per cluster). */
export interface LockHolderInfo {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
  readonly host: string;
}

/** Another apply or run holds the state directory's lock. */
export class StateLockedError extends GantryError {
  constructor(readonly lockPath: string, readonly holder: LockHolderInfo, waitedMs: number) {
    super('terminal', 'STATE_LOCKED',
      `${lockPath} is held by pid ${holder.pid} (${holder.command}) on ${holder.host} since ${holder.since}${waitedMs > 0 ? `; gave up after waiting ${Math.round(waitedMs / 1000)} s` : ''}: one apply or run at a time per cluster (--lock-timeout SECONDS waits for it)`,
      { lockPath, ...holder });
  }
}
