/**
 * Load a set of manifests: a directory tree (or files) of multi-document YAML ->
 * schema validation -> cross-resource checks -> DesiredState. Every error carries
 * file, line, column and field path; all of them are reported, not just the first.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { API_VERSION, isKind, validateDocument } from '../api/index.js';
import { buildDesired, type ManifestResource, type Origin, type ResourceDoc } from './build.js';
import { formatLoadError, formatPath, type LoadError } from './errors.js';
import type { DesiredState } from './model.js';
import { errorAt, locate, type DocSource } from './source.js';

export { formatLoadError, type LoadError };
export type { DocSource };

const YAML_EXT = /\.ya?ml$/i;

/** Every YAML file under the paths, sorted, directories walked recursively (dot-entries skipped). */
export async function collectFiles(paths: readonly string[]): Promise<{ files: string[]; errors: LoadError[] }> {
  const files: string[] = [];
  const errors: LoadError[] = [];
  const walk = async (p: string, top: boolean): Promise<void> => {
    let st;
    try { st = await stat(p); } catch (e) {
      errors.push({ file: p, line: 1, column: 1, path: '', code: 'io', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
      return;
    }
    if (st.isDirectory()) {
      const entries = (await readdir(p)).filter((n) => !n.startsWith('.') && n !== 'node_modules').sort();
      for (const n of entries) await walk(join(p, n), false);
    } else if (top || YAML_EXT.test(p)) {
      files.push(p);
    }
  };
  for (const p of paths) await walk(p, true);
  return { files: [...new Set(files)], errors };
}

function originOf(src: DocSource): Origin {
  const start = locate(src, []);
  return {
    file: src.file,
    line: start.line,
    error: (path, code, message, anchor) => errorAt(src, path, code, message, anchor),
  };
}

/** Parse one file's text into schema-valid resources (errors for the rest). */
export function parseManifestText(file: string, text: string): { resources: ManifestResource[]; errors: LoadError[]; failed: Set<string> } {
  const failed = new Set<string>();
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const resources: ManifestResource[] = [];
  const errors: LoadError[] = [];
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    // an EmptyStream: nothing in the file
    return { resources, errors, failed };
  }
  for (const [index, doc] of list.entries()) {
    const src: DocSource = { file, index, doc, lineCounter };
    if (doc.errors.length) {
      // the broken document may be the Cluster: then "no Cluster" would be noise
      const kindGuess = /^kind:[ \t]*["']?([A-Za-z]+)/m.exec(text.slice(doc.range[0], doc.range[2]))?.[1];
      if (kindGuess) failed.add(`${kindGuess}/*`);
      for (const e of doc.errors) {
        const lp = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        errors.push({ file, line: lp.line, column: lp.col, path: '', code: 'yaml-syntax', message: e.message.split('\n')[0]! });
      }
      continue;
    }
    if (doc.contents === null) continue; // empty document (a trailing ---)
    let obj: unknown;
    try { obj = doc.toJS({ maxAliasCount: 100 }); } catch (e) {
      // yaml throws on an alias that expands too far (a "billion laughs" document)
      failed.add('*/*');
      const msg = (e as Error).message;
      errors.push(errorAt(src, [], 'yaml-syntax', /excessive alias/i.test(msg) ? `refused: its aliases expand too far (more than 100 alias uses per node, a resource exhaustion attack or a mistake): ${msg}` : msg));
      continue;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      failed.add('*/*');
      errors.push(errorAt(src, [], 'not-a-resource', 'a manifest document must be a mapping with apiVersion, kind, metadata and spec'));
      continue;
    }
    const o = obj as Record<string, unknown>;
    if (o.apiVersion !== API_VERSION) {
      errors.push(errorAt(src, o.apiVersion === undefined ? ['apiVersion'] : ['apiVersion'], 'unknown-api-version',
        o.apiVersion === undefined ? `missing apiVersion (want ${API_VERSION})` : `unknown apiVersion ${JSON.stringify(o.apiVersion)} (want ${API_VERSION})`, o.apiVersion === undefined ? 'parent' : 'value'));
      continue;
    }
    if (!isKind(o.kind)) {
      errors.push(errorAt(src, ['kind'], 'unknown-kind', o.kind === undefined ? 'missing kind' : `unknown kind ${JSON.stringify(o.kind)} (known: Cluster, NodeGroup, Node, Network, Instance)`, o.kind === undefined ? 'parent' : 'value'));
      continue;
    }
    // status is written by gantry, never read from files
    delete o.status;
    const issues = validateDocument(o.kind, o);
    if (issues.length) {
      const name = (o.metadata as { name?: unknown } | undefined)?.name;
      failed.add(`${o.kind}/${typeof name === 'string' ? name : ''}`);
      failed.add(`${o.kind}/*`);
      for (const i of issues) errors.push(errorAt(src, i.path, i.code, i.message, i.at));
      continue;
    }
    const body = o as unknown as ResourceDoc;
    resources.push({ kind: o.kind, name: body.metadata.name, body, origin: originOf(src) });
  }
  return { resources, errors, failed };
}

type ParsedFile = ReturnType<typeof parseManifestText>;

/**
 * Parsed files by path, reused while a file's text is unchanged: a long-running loader
 * (the daemon's pass, the remote API's view) re-reads every file but parses only the ones
 * that changed. YAML parsing is most of a load (about 0.7 ms a document), so at 40,000
 * instances this turns a reload after a one-file change from tens of seconds into the
 * cross-resource checks alone. Parsed resources are shared between loads: nothing may
 * mutate them (buildDesired and the planner do not; a test freezes them to check).
 */
export class ParseCache {
  private readonly byFile = new Map<string, { text: string; parsed: ParsedFile }>();
  hits = 0;
  misses = 0;

  parse(file: string, text: string): ParsedFile {
    const got = this.byFile.get(file);
    if (got !== undefined && got.text === text) {
      this.hits++;
      return got.parsed;
    }
    this.misses++;
    const parsed = parseManifestText(file, text);
    this.byFile.set(file, { text, parsed });
    return parsed;
  }

  /** Forget the files that are no longer part of the set. */
  retain(files: ReadonlySet<string>): void {
    for (const f of this.byFile.keys()) if (!files.has(f)) this.byFile.delete(f);
  }

  get size(): number {
    return this.byFile.size;
  }
}

/**
 * Load one set of manifests. `state` is present only when there are no errors.
 * Paths may be files or directories (walked recursively for *.yaml / *.yml).
 */
export async function loadDesired(paths: string[], overrides?: ReadonlyMap<string, string>, cache?: ParseCache): Promise<{ state?: DesiredState; errors: LoadError[] }> {
  const { state, errors } = await loadSet(paths, overrides, cache);
  return state ? { state, errors } : { errors };
}

/**
 * loadDesired plus the resources as written (for `gantry show` without --effective).
 * `overrides` (file -> text) replaces what is on disk, and adds files that are not there
 * yet: a change is validated as a whole set before any file is written (the remote API).
 * With a `cache`, files whose text is unchanged since the last load are not parsed again.
 */
export async function loadSet(paths: string[], overrides?: ReadonlyMap<string, string>, cache?: ParseCache): Promise<{ state?: DesiredState; errors: LoadError[]; resources: ManifestResource[] }> {
  const collected = await collectFiles(paths);
  const errors = collected.errors;
  const files = overrides ? [...new Set([...collected.files, ...overrides.keys()])] : collected.files;
  const resources: ManifestResource[] = [];
  const failed = new Set<string>();
  for (const f of files) {
    let text: string;
    try { text = overrides?.get(f) ?? await readFile(f, 'utf8'); } catch (e) {
      errors.push({ file: f, line: 1, column: 1, path: '', code: 'io', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
      continue;
    }
    const parsed = cache ? cache.parse(f, text) : parseManifestText(f, text);
    resources.push(...parsed.resources);
    errors.push(...parsed.errors);
    for (const k of parsed.failed) failed.add(k);
  }
  // override-only texts are not kept: the next load reads the files as they are on disk
  if (cache) cache.retain(new Set(collected.files));
  if (files.length === 0 && errors.length === 0) {
    errors.push({ file: paths.join(' ') || '.', line: 1, column: 1, path: '', code: 'missing-cluster', message: 'no YAML manifests found' });
  }
  const setOrigin: Origin | undefined = files[0] !== undefined
    ? { file: files[0], line: 1, error: (path, code, message) => ({ file: files[0]!, line: 1, column: 1, path: formatPath(path), message, code }) }
    : undefined;
  // cross-resource checks run even when some documents failed, so one pass shows everything;
  // a missing Cluster is only reported when no Cluster document failed to parse
  const built = buildDesired(resources, setOrigin, failed);
  const clusterFailed = failed.has('Cluster/*') || failed.has('*/*') || files.length === 0;
  for (const e of built.errors) if (!(e.code === 'missing-cluster' && clusterFailed)) errors.push(e);
  errors.sort((a, b) => (a.file === b.file ? a.line - b.line || a.column - b.column : a.file < b.file ? -1 : 1));
  return errors.length ? { errors, resources } : { state: built.state!, errors, resources };
}
