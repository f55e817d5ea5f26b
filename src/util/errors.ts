/**
 * Typed errors, in the spirit of Ganeti's lib/errors.py: a prerequisite failure (the
 * desired state or the cluster cannot allow this; nothing was changed), an execution
 * failure (a command failed on a node; retrying may help), and terminal failures that
 * no retry will fix. Every error has a stable code and a message a sysadmin can act on.
 */
export type ErrorClass = 'prereq' | 'exec' | 'transport' | 'terminal';

export class GantryError extends Error {
  readonly code: string;
  readonly errorClass: ErrorClass;
  readonly details: Record<string, unknown>;
  constructor(errorClass: ErrorClass, code: string, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.errorClass = errorClass;
    this.details = details;
  }
  /** Whether the runner should retry the work that raised this. */
  get retryable(): boolean {
    return this.errorClass === 'exec' || this.errorClass === 'transport';
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
  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('exec', code, message, details, options);
  }
}

/** The node could not be reached, or refused us (host key mismatch, auth, timeout). */
export class TransportError extends GantryError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('transport', code, message, details, options);
  }
}

/** Retrying will not help (e.g. a host key mismatch, a refused shrink). */
export class TerminalError extends GantryError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super('terminal', code, message, details);
  }
}
