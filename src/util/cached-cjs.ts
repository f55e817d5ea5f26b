/**
 * Runs a CommonJS file with V8's code cache, for generated code too large to compile at
 * every start (the build's standalone validators). The build runs the file, exercises
 * it, and writes `script.createCachedData()` beside it as FILE.cache: taken after the run,
 * the cache also holds the functions V8 compiled lazily. A cache that V8 rejects (another
 * Node.js version or flags) or that is missing only costs the time it would have saved.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export interface LoadedCjs {
  readonly exports: Record<string, unknown>;
  readonly script: vm.Script;
}

export const codeCacheFile = (file: string): string => `${file}.cache`;

/** The code cache written beside `file`, if any. */
export function readCodeCache(file: string): Buffer | undefined {
  try {
    return readFileSync(codeCacheFile(file));
  } catch {
    return undefined;
  }
}

/** Run `file` as a CommonJS module (its require() resolves from its own directory). */
export function loadCjs(file: string, cachedData?: Buffer): LoadedCjs {
  const source = readFileSync(file, 'utf8');
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapped, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as Record<string, unknown> };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module.exports, createRequire(file), module, file, path.dirname(file));
  return { exports: module.exports, script };
}
