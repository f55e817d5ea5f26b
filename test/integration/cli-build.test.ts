/**
 * The built CLI (scripts/build.ts -> dist/) and the rule that keeps a stale build from
 * running (bin/build-stamp.js). Each test works on a copy of the checkout in a temporary
 * directory, so the real dist/ is never touched. Its node_modules is a farm of links to
 * the real packages, without tsx at first: a fresh dist/ must run without it.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist, VALIDATORS_FILE } from '../../scripts/build.js';
import { loadCjs, readCodeCache } from '../../src/util/cached-cjs.js';
import { isKind, refusedFieldIssues, sizeRangeIssues, translateErrors, validateDocument, type Kind } from '../../src/api/index.js';
import type { ValidateFunction } from 'ajv';

const REPO = path.resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** The request of place-commands.test.ts: two nodes, one plain instance to place. */
const REQUEST = {
  nodegroups: { u: { name: 'default', alloc_policy: 'preferred', networks: [] } },
  nodes: {
    n1: { total_memory: 4096, reserved_memory: 0, free_memory: 4096, total_disk: 10240, free_disk: 10240, total_cpus: 4, group: 'u', offline: false, drained: false, ndparams: {} },
    n2: { total_memory: 2048, reserved_memory: 0, free_memory: 2048, total_disk: 10240, free_disk: 10240, total_cpus: 4, group: 'u', offline: false, drained: false, ndparams: {} },
  },
  instances: {}, cluster_tags: [],
  request: { type: 'allocate', name: 'x', memory: 512, vcpus: 1, disk_template: 'plain', disks: [{ size: 1024 }], disk_space_total: 1024 },
};

let root: string;

/** Link the real packages into root/node_modules: `names`, or all but `without`. */
function linkPackages(opts: { names?: string[]; without?: string[] }): void {
  const real = path.join(REPO, 'node_modules');
  mkdirSync(path.join(root, 'node_modules'), { recursive: true });
  for (const name of opts.names ?? readdirSync(real)) {
    if (opts.without?.includes(name) || name === '.bin' || name === '.package-lock.json') continue;
    symlinkSync(path.join(real, name), path.join(root, 'node_modules', name));
  }
}

function gantry(...args: string[]) {
  return spawnSync(process.execPath, [path.join(root, 'bin/gantry.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, GANTRY_FROM_SOURCE: '' } });
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'gantry-build-'));
  for (const p of ['bin', 'src', 'scripts', 'examples', 'package.json', 'package-lock.json']) {
    cpSync(path.join(REPO, p), path.join(root, p), { recursive: true, preserveTimestamps: true });
  }
  writeFileSync(path.join(root, 'request.json'), JSON.stringify(REQUEST));
  linkPackages({ without: ['tsx'] });
  cpSync(path.join(REPO, 'node_modules/.package-lock.json'), path.join(root, 'node_modules/.package-lock.json'));
  await buildDist(root);
}, 120_000);

afterAll(() => { if (root) rmSync(root, { recursive: true, force: true }); });

describe('the built CLI', () => {
  it('given a fresh build and no tsx installed, --version prints the package version and nothing on stderr', () => {
    const r = gantry('--version');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('given a fresh build, validate of examples/lab and an invalid manifest exit 0 and 1 with the same messages as the sources', () => {
    const good = gantry('validate', '-f', 'examples/lab');
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/^examples\/lab: valid \(cluster lab:/);
    cpSync(path.join(REPO, 'test/fixtures/invalid/bad-size.yaml'), path.join(root, 'bad-size.yaml'));
    const bad = gantry('validate', '-f', 'bad-size.yaml');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('bad-size.yaml:12:13: spec.disks[1].size: "10X" is not a size');
  });

  it('given a fresh build, iallocator answers a request file', () => {
    const r = gantry('iallocator', 'request.json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ success: true, result: ['n1'] });
  });

  it('given a fresh build, --help of each top-level command exits 0 with its usage', () => {
    for (const name of ['validate', 'show', 'list', 'lab', 'status', 'describe', 'console', 'balance', 'capacity', 'iallocator', 'plan', 'apply', 'run']) {
      const r = gantry(name, '--help');
      expect(r.status, name).toBe(0);
      expect(r.stdout, name).toContain(`Usage: gantry ${name}`);
    }
  });
});

describe('the staleness rule', () => {
  const input = () => path.join(root, 'src/cli/columns.ts');

  it('given an input touched without a change of content, the build still runs', () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(input(), later, later);
    const r = gantry('--version');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('given a source changed after the build, it runs the sources through tsx and names the file on stderr', () => {
    linkPackages({ names: ['tsx'] });
    const before = statSync(input()).size;
    writeFileSync(input(), `${readFileSync(input(), 'utf8')}\n// changed after the build\n`);
    expect(statSync(input()).size).toBeGreaterThan(before);
    const r = gantry('validate', '-f', 'examples/lab');
    expect(r.stderr).toMatch(/^gantry: not running dist\/: src\/cli\/columns\.ts changed since dist\/ was built; running the TypeScript sources through tsx/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/examples\/lab: valid/);
  });

  it('given a source removed after the build, it says which', () => {
    const moved = `${input()}.away`;
    cpSync(input(), moved, { preserveTimestamps: true });
    rmSync(input());
    const r = gantry('--version');
    rmSync(moved, { force: true });
    expect(r.stderr).toMatch(/src\/cli\/columns\.ts was removed since dist\/ was built/);
  });

  it('given a rebuild, the build runs again silently; without a stamp it is refused', async () => {
    writeFileSync(input(), readFileSync(path.join(REPO, 'src/cli/columns.ts'), 'utf8'));
    await buildDist(root);
    expect(gantry('--version').stderr).toBe('');
    rmSync(path.join(root, 'dist/build-stamp.json'));
    expect(gantry('--version').stderr).toMatch(/not running dist\/: dist\/ has no build-stamp\.json/);
  }, 120_000);
});

describe('the standalone validators of the build', () => {
  it('given the built validators, V8 accepts their code cache', () => {
    const file = path.join(root, 'dist/cli', VALIDATORS_FILE);
    const cache = readCodeCache(file);
    expect(cache?.length).toBeGreaterThan(0);
    expect(loadCjs(file, cache).script.cachedDataRejected).toBe(false);
  });

  it('given every example and fixture document, and broken variants of each, they report what the compiled validators report', () => {
    const file = path.join(root, 'dist/cli', VALIDATORS_FILE);
    const built = loadCjs(file, readCodeCache(file)).exports as Record<Kind, ValidateFunction>;
    const docs = yamlFiles(['examples', 'test/fixtures'].map((d) => path.join(REPO, d)))
      // a document yaml refuses to expand (the alias-bomb fixture) never reaches a validator
      .flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).flatMap((d) => { try { return [d.toJS({ maxAliasCount: 100 }) as unknown]; } catch { return []; } }));
    let compared = 0;
    for (const doc of docs) {
      const kind = (doc as { kind?: unknown } | null)?.kind;
      if (!isKind(kind)) continue;
      for (const variant of variants(doc as Record<string, unknown>)) {
        const v = built[kind];
        // validateDocument adds the refusal of unsupported fields to a schema-valid document
        const standalone = v(variant) ? [...sizeRangeIssues(kind, variant), ...refusedFieldIssues(kind, variant)] : translateErrors(v.errors ?? []);
        expect(standalone).toEqual(validateDocument(kind, variant));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(100);
  });
});

function yamlFiles(dirs: string[]): string[] {
  return dirs.flatMap((d) => readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(d, f)))
    .filter((f) => existsSync(f));
}

/** The document itself and copies broken in common ways (unknown field, wrong types, bad name). */
function variants(doc: Record<string, unknown>): unknown[] {
  const spec = (doc.spec ?? {}) as Record<string, unknown>;
  const meta = (doc.metadata ?? {}) as Record<string, unknown>;
  return [
    doc,
    { ...doc, spec: { ...spec, bogusField: 1 } },
    { ...doc, spec: 'not a mapping' },
    { ...doc, metadata: { ...meta, name: 'Not_A_Name' } },
    { ...doc, spec: Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, typeof v === 'number' ? 'x' : typeof v === 'string' ? 42 : v])) },
  ];
}
