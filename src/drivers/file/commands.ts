/**
 * Pure argv builders for file / sharedfile disk images (qemu-img). `-U` (force-share)
 * lets us read an image a running QEMU holds locked.
 */
import { PrereqError } from '../../util/errors.js';
import { checkName, checkPath, checkSizeMiB } from '../facts/shared.js';

export type ImageFormat = 'raw' | 'qcow2';
function checkFormat(f: string): ImageFormat {
  if (f !== 'raw' && f !== 'qcow2') throw new PrereqError('INVALID_NAME', `unsupported image format ${JSON.stringify(f)}: raw or qcow2`);
  return f;
}

export function parentDir(path: string): string {
  return checkPath(path).replace(/\/[^/]+$/, '') || '/';
}

/** What a path is ("directory", "regular file"...), following links; fails when it is missing. */
export const pathTypeCmd = (path: string): string[] => ['stat', '-L', '-c', '%F', '--', checkPath(path)];
export const imgCreateCmd = (path: string, format: ImageFormat, sizeMiB: number): string[] =>
  ['qemu-img', 'create', '-q', '-f', checkFormat(format), checkPath(path), `${checkSizeMiB(sizeMiB)}M`];
/**
 * Grow only: without --shrink qemu-img refuses to make an image smaller. Always `-f`
 * with the declared format: qemu-img never guesses the format of a guest-written image.
 */
export const imgResizeCmd = (path: string, format: ImageFormat, sizeMiB: number): string[] =>
  ['qemu-img', 'resize', '-q', '-f', checkFormat(format), checkPath(path), `${checkSizeMiB(sizeMiB)}M`];
/**
 * Probes the format: its answer is only compared with the declared format (a raw disk a
 * guest wrote a qcow2 header into reads as qcow2, and is then refused, never used).
 */
export const imgInfoCmd = (path: string): string[] => ['qemu-img', 'info', '-U', '--output=json', checkPath(path)];
/** Rename a file or directory, never over an existing one (-n; -T: `to` is the new name, never a directory to move into). */
export const mvNoClobberCmd = (from: string, to: string): string[] => ['mv', '-n', '-T', '--', checkPath(from), checkPath(to)];
/** Which of `paths` exist (one per line on stdout; a missing one only makes ls exit 2). */
export const existingCmd = (paths: readonly string[]): string[] => ['ls', '-1d', '--', ...paths.map(checkPath)];
export const rmCmd = (path: string): string[] => ['rm', '-f', '--', checkPath(path)];
/** An empty file (a reinstall's mark: qemu-img info reads it as a raw image of 0 bytes). */
export const touchCmd = (path: string): string[] => ['touch', '--', checkPath(path)];

/**
 * List the images of one directory in one command: find runs `qemu-img info` per file
 * and the outputs are concatenated JSON objects (see parseInfoStream). A file qemu-img
 * cannot read is skipped by find, not fatal. `namePattern` is a find -name glob, or
 * several (any of them matches).
 */
export function listImagesCmd(dir: string, namePattern: string | readonly string[] = '*'): string[] {
  const patterns = typeof namePattern === 'string' ? [namePattern] : [...namePattern];
  if (patterns.length === 0) throw new Error('listImagesCmd: no name pattern');
  for (const p of patterns) if (p !== '*') checkName('file pattern', p.replace(/\*/g, 'x'));
  const names = patterns.length === 1 ? ['-name', patterns[0]!] : ['(', ...patterns.flatMap((p, i) => [...(i > 0 ? ['-o'] : []), '-name', p]), ')'];
  return ['find', checkPath(dir), '-maxdepth', '1', '-type', 'f', ...names, '-exec', 'qemu-img', 'info', '-U', '--output=json', '{}', ';'];
}
