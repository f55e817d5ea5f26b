import type { ObservedFile } from '../../core/observed.js';
import type { ExecResult } from '../../transport/transport.js';
import { ExecError } from '../../util/errors.js';
import { isRecord, parseJson } from '../facts/shared.js';

const MIB = 1024 * 1024;

/** One `qemu-img info --output=json` object. */
export function parseInfo(text: string | unknown): ObservedFile {
  const doc = typeof text === 'string' ? parseJson(text, 'qemu-img info') : text;
  if (!isRecord(doc) || typeof doc.filename !== 'string' || typeof doc.format !== 'string' || typeof doc['virtual-size'] !== 'number') {
    throw new ExecError('PARSE_FAILED', 'qemu-img info: missing filename, format or virtual-size');
  }
  return { path: doc.filename, format: doc.format, virtualSizeMiB: Math.floor(doc['virtual-size'] / MIB) };
}

/**
 * Several pretty-printed JSON objects back to back (find -exec qemu-img info ...). Split
 * at top-level brace depth, minding strings, then parse each.
 */
export function parseInfoStream(text: string): ObservedFile[] {
  const out: ObservedFile[] = [];
  let depth = 0, start = -1, inStr = false, esc = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (esc) esc = false;
      else if (c === '\\') esc = true;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '{') { if (depth++ === 0) start = i; }
    else if (c === '}') { if (--depth === 0) out.push(parseInfo(text.slice(start, i + 1))); }
  }
  if (depth !== 0) throw new ExecError('PARSE_FAILED', 'qemu-img info stream: unbalanced JSON');
  return out;
}

/** qemu-img's "file is missing" message (info on a path that does not exist). */
export const isMissing = (stderr: string): boolean => /No such file or directory/.test(stderr);

/**
 * `stat -L -c %F -- DIR`: true for a directory, false when the path does not exist;
 * anything else (not a directory, permission denied) throws, so the probe records it as
 * an error and the directory stays unknown rather than "missing".
 */
export function parseStorageDir(r: ExecResult): boolean {
  if (r.code === 0 && r.stdout.trim() === 'directory') return true;
  if (r.code !== 0 && /No such file or directory/.test(r.stderr)) return false;
  const what = r.code === 0 ? `is a ${r.stdout.trim()}, not a directory` : `cannot be checked: ${r.stderr.trim()}`;
  throw new ExecError('STORAGE_DIR_UNKNOWN', `${r.argv[r.argv.length - 1] ?? 'storage directory'} ${what}`);
}
