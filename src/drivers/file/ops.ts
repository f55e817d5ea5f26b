/**
 * Idempotent file-disk operations. `qemu-img create` silently overwrites an existing
 * image, so create always reads first and never runs on an existing path.
 */
import type { FileCreate, FileGrow, FileRemove } from '../../core/actions.js';
import type { ExecResult } from '../../transport/transport.js';
import type { ObservedFile } from '../../core/observed.js';
import { PrereqError, TerminalError } from '../../util/errors.js';
import { NOOP, readFailed, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { imgCreateCmd, imgInfoCmd, imgResizeCmd, mkdirCmd, parentDir, rmCmd, type ImageFormat } from './commands.js';
import { isMissing, parseInfo } from './parse.js';

function current(reads: readonly ExecResult[]): ObservedFile | null | Decision {
  const r = reads[0];
  if (!r) throw new Error('file: expected one read result');
  if (r.code === 0) return parseInfo(r.stdout);
  if (isMissing(r.stderr)) return null;
  return { kind: 'refuse', error: readFailed(r, 'FILE_READ_FAILED') };
}
const isDecision = (x: ObservedFile | null | Decision): x is Decision => x !== null && 'kind' in x;

function grow(path: string, f: ObservedFile, sizeMiB: number): Decision {
  if (f.virtualSizeMiB === sizeMiB) return NOOP;
  if (f.virtualSizeMiB > sizeMiB) {
    return { kind: 'refuse', error: new TerminalError('FILE_SHRINK_REFUSED', `refusing to shrink ${path} from ${f.virtualSizeMiB} MiB to ${sizeMiB} MiB: shrinking loses data`, { path }) };
  }
  return runAll([imgResizeCmd(path, f.format as ImageFormat, sizeMiB)]);
}

export const fileCreateOp: EnsureOp<FileCreate> = {
  read: (a) => [imgInfoCmd(a.path)],
  describe: (a) => [mkdirCmd(parentDir(a.path)), imgCreateCmd(a.path, a.format, a.sizeMiB)],
  decide(a, reads) {
    const f = current(reads);
    if (isDecision(f)) return f;
    if (f === null) return runAll([mkdirCmd(parentDir(a.path)), imgCreateCmd(a.path, a.format, a.sizeMiB)]);
    if (f.format !== a.format) {
      return { kind: 'refuse', error: new PrereqError('FILE_FORMAT_MISMATCH', `${a.path} exists as ${f.format}, want ${a.format}: convert or remove it explicitly`, { path: a.path }) };
    }
    // Exists already (rerun): bigger than asked is fine for a create, smaller is grown.
    return f.virtualSizeMiB >= a.sizeMiB ? NOOP : grow(a.path, f, a.sizeMiB);
  },
};

export const fileGrowOp: EnsureOp<FileGrow> = {
  read: (a) => [imgInfoCmd(a.path)],
  describe: (a) => [imgResizeCmd(a.path, undefined, a.sizeMiB)],
  decide(a, reads) {
    const f = current(reads);
    if (isDecision(f)) return f;
    if (f === null) return { kind: 'refuse', error: new PrereqError('FILE_MISSING', `cannot grow ${a.path}: it does not exist`, { path: a.path }) };
    return grow(a.path, f, a.sizeMiB);
  },
};

export const fileRemoveOp: EnsureOp<FileRemove> = {
  read: (a) => [imgInfoCmd(a.path)],
  describe: (a) => [rmCmd(a.path)],
  decide(a, reads) {
    const f = current(reads);
    if (isDecision(f)) return f;
    return f === null ? NOOP : runAll([rmCmd(a.path)]);
  },
};
