/**
 * Small helpers every driver shares: name checks for argv elements, the shape of an
 * idempotent ensure, and tolerant JSON reading. (They live here because the drivers/
 * root is not owned by the drivers task; move to src/drivers/ when convenient.)
 */
import type { ExecResult } from '../../transport/transport.js';
import { ExecError, PrereqError, type GantryError } from '../../util/errors.js';

const NAME = /^[A-Za-z0-9_.:+-]+$/;

/**
 * Names are validated by the schema first; builders check again because an argv element
 * that starts with '-' or holds odd characters would change what the tool does.
 */
export function checkName(kind: string, value: string): string {
  if (!NAME.test(value) || value.startsWith('-') || value === '.' || value === '..') {
    throw new PrereqError('INVALID_NAME', `invalid ${kind} name ${JSON.stringify(value)}: use only [A-Za-z0-9_.:+-], not starting with '-'`);
  }
  return value;
}

/** Network interface names: the kernel limit is 15 bytes (IFNAMSIZ - 1). */
export function checkIfName(value: string): string {
  checkName('interface', value);
  if (value.length > 15 || value.includes(':')) {
    throw new PrereqError('INVALID_NAME', `invalid interface name ${JSON.stringify(value)}: at most 15 characters, no ':'`);
  }
  return value;
}

/** Absolute paths whose every component is a valid name (no '..', no empty parts). */
export function checkPath(value: string): string {
  if (!value.startsWith('/') || value.length < 2) {
    throw new PrereqError('INVALID_PATH', `invalid path ${JSON.stringify(value)}: must be absolute`);
  }
  for (const part of value.slice(1).split('/')) checkName('path component', part);
  return value;
}

export function checkSizeMiB(sizeMiB: number): number {
  if (!Number.isSafeInteger(sizeMiB) || sizeMiB <= 0) {
    throw new PrereqError('INVALID_SIZE', `invalid size ${sizeMiB} MiB: must be a positive integer`);
  }
  return sizeMiB;
}

/** What an ensure decided after reading the node: nothing to do, commands, or a refusal. */
export type Decision =
  | { readonly kind: 'noop' }
  | { readonly kind: 'run'; readonly commands: string[][] }
  | { readonly kind: 'refuse'; readonly error: GantryError };

export const NOOP: Decision = { kind: 'noop' };
export function runAll(commands: string[][]): Decision {
  return commands.length === 0 ? NOOP : { kind: 'run', commands };
}

/**
 * One driver operation as three pure pieces: the read-only commands that show the
 * current state, the decision made from their results, and the commands to show for a
 * dry run (what runs when nothing exists yet).
 */
export interface EnsureOp<A> {
  read(action: A): string[][];
  decide(action: A, reads: readonly ExecResult[]): Decision;
  describe(action: A): string[][];
}

/** A failed read becomes an ExecError that says which command and why. */
export function readFailed(r: ExecResult, code = 'READ_FAILED'): GantryError {
  return new ExecError(code, `${r.argv.join(' ')} exited ${r.code}: ${firstLine(r.stderr)}`);
}

export function firstLine(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0 && !/^WARNING: Activation disabled/.test(l));
  return line ?? '(no output)';
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ExecError('PARSE_FAILED', `cannot parse ${what} output as JSON: ${(e as Error).message}`);
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
