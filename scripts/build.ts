/**
 * Builds dist/: the CLI bundled by esbuild, so a start reads a few files instead of
 * hundreds and compiles no TypeScript. Run by `npm ci` (prepare) and `npm run build`.
 *
 *  - src/cli/main.ts is the entry; each command group's module (a literal import() in
 *    src/cli/program.ts) becomes its own chunk, loaded only when its command runs.
 *  - Pure-JS packages on the start-up path (BUNDLED) are bundled; every other package
 *    stays an import of node_modules (native code, workers, or not needed at start).
 *  - src/api/validators.ts is replaced by a loader of ajv standalone code generated here
 *    from the same schemas and options (dist/cli/validators.cjs, with V8's code cache
 *    beside it: src/util/cached-cjs.ts), so `gantry validate` compiles no schema at start.
 *  - dist/build-stamp.json records every input (bin/build-stamp.js): bin/gantry.js runs
 *    dist/ only while they are unchanged, and otherwise the sources through tsx.
 *
 * `npm run build -- --meta` also writes dist/meta.json, esbuild's account of the bundle.
 *
 * The new dist/ is written beside the old one and renamed into place, stamp included, so
 * a gantry started meanwhile sees the old build, no build, or the new one, never half.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform, type Plugin } from 'esbuild';
// CommonJS: the default import is module.exports, which also carries .default
import standaloneCode from 'ajv/dist/standalone/index.js';
import { createAjv } from '../src/api/ajv.js';
import { DOC_SCHEMAS, KINDS } from '../src/api/kinds.js';
import { codeCacheFile, loadCjs } from '../src/util/cached-cjs.js';
import { parseAllDocuments } from 'yaml';
import { STAMP_FILE, STAMP_VERSION, fingerprint } from '../bin/build-stamp.js';

/** Packages bundled into dist/ (with what they import); the rest load from node_modules. */
export const BUNDLED = ['commander', 'yaml', '@sinclair/typebox', 'ipaddr.js', 'ajv'];

const ROOT = path.resolve(fileURLToPath(import.meta.url), '../..');

/**
 * Inputs besides the bundle's own sources: this script, and the installed packages as
 * npm records them (one file each, rather than every bundled package file at each start).
 */
const EXTRA_INPUTS = ['scripts/build.ts', 'package-lock.json', 'node_modules/.package-lock.json'];

/** The file in dist/cli/ holding the standalone validators, loaded at the first validation. */
export const VALIDATORS_FILE = 'validators.cjs';

/**
 * CommonJS module of ajv standalone code: one validate function per kind, exported under
 * the kind's name, compiled with the options of createAjv.
 */
export function standaloneValidatorsCjs(): string {
  const ajv = createAjv({ code: { source: true } });
  for (const k of KINDS) ajv.addSchema(DOC_SCHEMAS[k] as object, k);
  return standaloneCode.default(ajv, Object.fromEntries(KINDS.map((k) => [k, k])));
}

/**
 * The dist/ replacement of src/api/validators.ts: the same kindValidators(), running the
 * standalone code (with its code cache) only when first called, so commands that
 * validate nothing never parse it.
 */
function validatorsModule(): string {
  return [
    "import { fileURLToPath } from 'node:url';",
    "import { loadCjs, readCodeCache } from '../util/cached-cjs.js';",
    `const KINDS = ${JSON.stringify(KINDS)};`,
    'let compiled;',
    'export function kindValidators() {',
    '  if (!compiled) {',
    `    const file = fileURLToPath(new URL('./${VALIDATORS_FILE}', import.meta.url));`,
    '    const m = loadCjs(file, readCodeCache(file)).exports;',
    '    compiled = new Map(KINDS.map((k) => [k, m[k]]));',
    '  }',
    '  return compiled;',
    '}',
    '',
  ].join('\n');
}

/**
 * Write the standalone validators and their code cache, made after validating every
 * example document (so the functions compiled on first use are in the cache too).
 */
async function writeValidators(root: string, file: string): Promise<void> {
  const { code } = await transform(standaloneValidatorsCjs(), { minify: true, format: 'cjs', target: 'node20' });
  writeFileSync(file, code);
  const { exports, script } = loadCjs(file);
  const examples = path.join(root, 'examples');
  const yamls = existsSync(examples) ? readdirSync(examples, { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f)) : [];
  for (const f of yamls) {
    for (const d of parseAllDocuments(readFileSync(path.join(examples, f), 'utf8'))) {
      const doc = d.toJS() as { kind?: unknown } | null;
      const validate = typeof doc?.kind === 'string' ? exports[doc.kind] : undefined;
      if (typeof validate === 'function') validate(doc);
    }
  }
  writeFileSync(codeCacheFile(file), script.createCachedData());
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Our imports of packages not in BUNDLED stay imports; packages' own imports are bundled. */
function externals(root: string): Plugin {
  const src = path.join(root, 'src') + path.sep;
  return {
    name: 'gantry-externals',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (!args.importer.startsWith(src) && !args.importer.startsWith(path.join(root, 'scripts'))) return undefined;
        return BUNDLED.includes(packageName(args.path)) ? undefined : { path: args.path, external: true };
      });
    },
  };
}

function standaloneValidators(root: string): Plugin {
  const target = path.join(root, 'src/api/validators.ts');
  return {
    name: 'gantry-standalone-validators',
    setup(b) {
      b.onLoad({ filter: /[\\/]validators\.ts$/ }, (args) => {
        if (args.path !== target) return undefined;
        return { contents: validatorsModule(), loader: 'js', resolveDir: path.dirname(target) };
      });
    },
  };
}

export interface BuildResult {
  readonly outDir: string;
  readonly inputs: number;
  readonly bytes: number;
}

/** Build `root`/dist (root: a checkout with node_modules). */
export async function buildDist(root: string = ROOT, opts: { meta?: boolean } = {}): Promise<BuildResult> {
  const outDir = path.join(root, 'dist');
  const tmp = path.join(root, `dist.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: { 'cli/main': 'src/cli/main.ts' },
      outdir: tmp,
      // chunks beside main.js: import.meta.url-relative paths (../../package.json) hold
      chunkNames: 'cli/[name]-[hash]',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'linked',
      minifyWhitespace: true,
      minifySyntax: true,
      metafile: true,
      logLevel: 'warning',
      // bundled CommonJS packages require() node's built-ins
      banner: { js: "import { createRequire as __gantryCreateRequire } from 'node:module'; const require = __gantryCreateRequire(import.meta.url);" },
      plugins: [externals(root), standaloneValidators(root)],
    });
    const sources = Object.keys(result.metafile.inputs).filter((p) => !p.split(/[\\/]/).includes('node_modules'));
    await writeValidators(root, path.join(tmp, 'cli', VALIDATORS_FILE));
    const inputs = [...new Set([...sources, ...EXTRA_INPUTS])]
      .filter((p) => existsSync(path.join(root, p)))
      .sort();
    const stamp = { version: STAMP_VERSION, builtAt: new Date().toISOString(), inputs: inputs.map((p) => fingerprint(root, p)) };
    writeFileSync(path.join(tmp, path.relative('dist', STAMP_FILE)), `${JSON.stringify(stamp, null, 1)}\n`);
    // esbuild's record of what went into each output (esbuild.github.io/analyze reads it)
    if (opts.meta) writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(result.metafile));
    const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
    const old = `${outDir}.old-${process.pid}`;
    if (existsSync(outDir)) renameSync(outDir, old);
    renameSync(tmp, outDir);
    rmSync(old, { recursive: true, force: true });
    return { outDir, inputs: inputs.length, bytes };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const r = await buildDist(ROOT, { meta: process.argv.includes('--meta') });
  process.stdout.write(`gantry: built ${path.relative(process.cwd(), r.outDir) || r.outDir}/ from ${r.inputs} inputs (${Math.round(r.bytes / 1024)} KiB) in ${Math.round(performance.now() - t0)} ms\n`);
}
