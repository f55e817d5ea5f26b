/**
 * Manifest loading benchmark (`npm run bench:load`): a cluster of `--instances` Instance
 * manifests (test/helpers/rapi-sim.ts's generator: plain disks, pinned, tags), written
 * `--per-file` to a file, plus its Cluster, Network and `--nodes` Node manifests, loaded by
 * the real loader (YAML parse, schema validation, cross-resource checks). Phases:
 *   cold      loadDesired without a cache (what `gantry validate|plan|apply` does once);
 *   warm      loadDesired again with a ParseCache filled by a first load and nothing changed
 *             (what each pass of `gantry run` and each view of `gantry serve` then does);
 *   one edit  one instance file rewritten (a memory change), then a cached load.
 *
 *   npm run bench:load -- [--instances 40000] [--nodes 200] [--per-file 100] [--runs 3]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterYaml, instancesYaml, nodesYaml } from '../test/helpers/rapi-sim.js';
import { loadDesired, ParseCache } from '../src/desired/load.js';
import { numberFlag } from './flags.js';

const INSTANCES = numberFlag('instances', 40_000);
const NODES = numberFlag('nodes', 200);
const PER_FILE = numberFlag('per-file', 100);
const RUNS = numberFlag('runs', 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(f: () => Promise<{ errors: readonly unknown[] }>): Promise<number> {
  const t0 = performance.now();
  const r = await f();
  if (r.errors.length) throw new Error(`the generated manifests do not load: ${JSON.stringify(r.errors.slice(0, 3))}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-load-bench-'));
  try {
    await writeFile(path.join(dir, 'cluster.yaml'), clusterYaml());
    await writeFile(path.join(dir, 'nodes.yaml'), nodesYaml(NODES));
    // the generator numbers instances from 1; each file holds its own slice of names
    const all = instancesYaml(INSTANCES, NODES).split(/(?=^# instance )/m);
    await mkdir(path.join(dir, 'instances'));
    const files: string[] = [];
    for (let i = 0; i < all.length; i += PER_FILE) {
      const f = path.join(dir, 'instances', `i${String(i / PER_FILE).padStart(5, '0')}.yaml`);
      files.push(f);
      await writeFile(f, all.slice(i, i + PER_FILE).join(''));
    }
    const cold: number[] = [];
    const warm: number[] = [];
    const edit: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      cold.push(await timed(() => loadDesired([dir])));
      const cache = new ParseCache();
      await loadDesired([dir], undefined, cache);
      warm.push(await timed(() => loadDesired([dir], undefined, cache)));
      const f = files[r % files.length]!;
      const text = all.slice((r % files.length) * PER_FILE, (r % files.length + 1) * PER_FILE).join('');
      await writeFile(f, text.replace(/memory: (\d+)M/, (_m, n: string) => `memory: ${Number(n) * 2}M`));
      edit.push(await timed(() => loadDesired([dir], undefined, cache)));
      await writeFile(f, text);
    }
    const fmt = (xs: number[]) => `${Math.round(median(xs))} ms (${xs.map((x) => Math.round(x)).join(', ')})`;
    console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}; load ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
    console.log(`${INSTANCES} instances in ${files.length} files, ${NODES} nodes; median of ${RUNS}`);
    console.log(`| cold load (no cache) | ${fmt(cold)} |`);
    console.log(`| warm reload, nothing changed | ${fmt(warm)} |`);
    console.log(`| reload after one file changed | ${fmt(edit)} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
