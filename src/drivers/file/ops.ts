/**
 * Idempotent file-disk operations. `qemu-img create` silently overwrites an existing
 * image, so create always reads first and never runs on an existing path. The storage
 * directory is never created: a missing one (an unmounted disk, a typo) is refused, so
 * images never land on the root filesystem. qemu-img is always told the declared format.
 */
import type { ExecResult } from '../../transport/transport.js';
import type { ObservedFile } from '../../core/observed.js';
import { ExecError, PrereqError, TerminalError } from '../../util/errors.js';
import { firstLine, NOOP, readFailed, runAll, type Decision, type EnsureOp } from '../facts/shared.js';
import { imgCreateCmd, imgInfoCmd, imgResizeCmd, parentDir, pathTypeCmd, rmCmd, touchCmd, type ImageFormat } from './commands.js';
import { isMissing, parseInfo } from './parse.js';

/** What the file operations need (the executor passes its actions: only the shape matters). */
export interface FileCreateParams { readonly path: string; readonly sizeMiB: number; readonly format: ImageFormat; readonly mark?: string }
/** `format` is the declared one (default raw, what create makes); never probed. */
export interface FileGrowParams { readonly path: string; readonly sizeMiB: number; readonly format?: ImageFormat }
export interface FileRemoveParams { readonly path: string }

function current(reads: readonly ExecResult[]): ObservedFile | null | Decision {
  const r = reads[0];
  if (!r) throw new Error('file: expected one read result');
  if (r.code === 0) return parseInfo(r.stdout);
  if (isMissing(r.stderr)) return null;
  return { kind: 'refuse', error: readFailed(r, 'FILE_READ_FAILED') };
}
const isDecision = (x: ObservedFile | null | Decision): x is Decision => x !== null && 'kind' in x;

function formatMismatch(path: string, probed: string, declared: ImageFormat): Decision {
  return { kind: 'refuse', error: new PrereqError('FILE_FORMAT_MISMATCH', `${path} reads as ${probed}, declared ${declared}: refusing to touch it (convert or remove it explicitly)`, { path, probed, declared }) };
}

function grow(path: string, f: ObservedFile, format: ImageFormat, sizeMiB: number): Decision {
  if (f.format !== format) return formatMismatch(path, f.format, format);
  if (f.virtualSizeMiB === sizeMiB) return NOOP;
  if (f.virtualSizeMiB > sizeMiB) {
    return { kind: 'refuse', error: new TerminalError('FILE_SHRINK_REFUSED', `refusing to shrink ${path} from ${f.virtualSizeMiB} MiB to ${sizeMiB} MiB: shrinking loses data`, { path }) };
  }
  return runAll([imgResizeCmd(path, format, sizeMiB)]);
}

/** The image's directory must already be a directory; undefined when it is. */
export function storageDirRefusal(dir: string, r: ExecResult | undefined): Decision | undefined {
  if (!r) throw new Error('file: expected the storage directory read result');
  if (r.code === 0 && r.stdout.trim() === 'directory') return undefined;
  if (r.code === 0) return { kind: 'refuse', error: new PrereqError('FILE_STORAGE_DIR_NOT_DIR', `storage directory ${dir} is a ${r.stdout.trim()}, not a directory`, { dir }) };
  if (/No such file or directory/.test(r.stderr)) {
    return { kind: 'refuse', error: new PrereqError('FILE_STORAGE_DIR_MISSING', `storage directory ${dir} does not exist: Gantry never creates it (an unmounted or mistyped directory would fill the root filesystem); create or mount it`, { dir }) };
  }
  return { kind: 'refuse', error: new ExecError('FILE_READ_FAILED', `cannot check storage directory ${dir}: ${firstLine(r.stderr)}`, { dir }) };
}

/** A reinstall's mark, made before the image (a pass cut between the two leaves the mark alone: resumable, never an unmarked image). */
const markFirst = (a: FileCreateParams): string[][] => (a.mark !== undefined ? [touchCmd(a.mark)] : []);

export const fileCreateOp: EnsureOp<FileCreateParams> = {
  read: (a) => [imgInfoCmd(a.path), pathTypeCmd(parentDir(a.path))],
  describe: (a) => [...markFirst(a), imgCreateCmd(a.path, a.format, a.sizeMiB)],
  decide(a, reads) {
    const f = current(reads);
    if (isDecision(f)) return f;
    if (f === null) return storageDirRefusal(parentDir(a.path), reads[1]) ?? runAll([...markFirst(a), imgCreateCmd(a.path, a.format, a.sizeMiB)]);
    if (f.format !== a.format) return formatMismatch(a.path, f.format, a.format);
    // Exists already (rerun): bigger than asked is fine for a create, smaller is grown.
    return f.virtualSizeMiB >= a.sizeMiB ? NOOP : grow(a.path, f, a.format, a.sizeMiB);
  },
};

export const fileGrowOp: EnsureOp<FileGrowParams> = {
  read: (a) => [imgInfoCmd(a.path)],
  describe: (a) => [imgResizeCmd(a.path, a.format ?? 'raw', a.sizeMiB)],
  decide(a, reads) {
    const f = current(reads);
    if (isDecision(f)) return f;
    if (f === null) return { kind: 'refuse', error: new PrereqError('FILE_MISSING', `cannot grow ${a.path}: it does not exist`, { path: a.path }) };
    return grow(a.path, f, a.format ?? 'raw', a.sizeMiB);
  },
};

export const fileRemoveOp: EnsureOp<FileRemoveParams> = {
  read: (a) => [imgInfoCmd(a.path)],
  describe: (a) => [rmCmd(a.path)],
  decide(a, reads) {
    const f = current(reads);
    if (isDecision(f)) return f;
    return f === null ? NOOP : runAll([rmCmd(a.path)]);
  },
};
