/**
 * Whether dist/ was built from the files as they are now. The build (scripts/build.ts)
 * records each input of the bundle (path, size, mtime, sha256) in dist/build-stamp.json;
 * bin/gantry.js checks them at every start: same size and mtime is taken as unchanged,
 * otherwise the content hash decides (a touch or a checkout that keeps the content keeps
 * the build; any other change, or a removed input, makes it stale).
 * Plain JavaScript: it runs before anything could compile TypeScript.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// node:crypto costs milliseconds to load: only when an input's size or mtime differs
const requireBuiltin = createRequire(import.meta.url);

export const STAMP_FILE = 'dist/build-stamp.json';
export const STAMP_VERSION = 1;

/**
 * @typedef {{ path: string, size: number, mtimeMs: number, sha256: string }} StampInput
 * @typedef {{ version: number, builtAt: string, inputs: StampInput[] }} Stamp
 * @typedef {{ fresh: true } | { fresh: false, reason: string | null }} Verdict
 *   reason null: there is no build at all (nothing stale to warn about)
 */

/** @param {string} file */
function sha256(file) {
  const { createHash } = /** @type {typeof import('node:crypto')} */ (requireBuiltin('node:crypto'));
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * @param {string} root checkout directory
 * @param {string} rel input path relative to root
 * @returns {StampInput}
 */
export function fingerprint(root, rel) {
  const file = path.join(root, rel);
  const st = statSync(file);
  return { path: rel, size: st.size, mtimeMs: st.mtimeMs, sha256: sha256(file) };
}

/**
 * @param {string} root
 * @param {StampInput} input
 * @returns {string | null} why this input differs from the build, or null
 */
function changed(root, input) {
  const file = path.join(root, input.path);
  let st;
  try {
    st = statSync(file);
  } catch {
    return `${input.path} was removed`;
  }
  if (st.size === input.size && st.mtimeMs === input.mtimeMs) return null;
  return st.size === input.size && sha256(file) === input.sha256 ? null : `${input.path} changed`;
}

/**
 * @param {string} root checkout directory (holds dist/ and src/)
 * @returns {Verdict}
 */
export function checkBuild(root) {
  /** @type {Stamp} */
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(path.join(root, STAMP_FILE), 'utf8'));
  } catch (e) {
    const err = /** @type {NodeJS.ErrnoException} */ (e);
    if (err.code !== 'ENOENT') return { fresh: false, reason: `${STAMP_FILE} is unreadable (${err.message})` };
    return existsSync(path.join(root, 'dist')) ? { fresh: false, reason: `dist/ has no ${path.basename(STAMP_FILE)}` } : { fresh: false, reason: null };
  }
  if (stamp.version !== STAMP_VERSION || !Array.isArray(stamp.inputs)) return { fresh: false, reason: `${STAMP_FILE} is of another format` };
  for (const input of stamp.inputs) {
    const why = changed(root, input);
    if (why) return { fresh: false, reason: `${why} since dist/ was built` };
  }
  return { fresh: true };
}
