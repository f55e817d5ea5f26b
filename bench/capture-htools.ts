/**
 * Captures what the real htools (ganeti-htools-3.0) say about the shared samples
 * into src/place/testdata/htools-samples.json, the fixture the placement tests
 * compare against: per group hbal's initial and final score, hspace's
 * machine-readable keys, hail's answer per IAllocator request.
 *
 *   npx tsx bench/capture-htools.ts [SAMPLES_DIR]
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BIN = '/usr/lib/ganeti/3.0/usr/bin';
const HAIL = '/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail';
const dir = process.argv[2] ?? '/work/shared/ganeti/htools';
const out = new URL('../src/place/testdata/htools-samples.json', import.meta.url);

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
}

function groupsOf(text: string): string[] {
  const first = text.split('\n\n')[0] ?? '';
  return first.split('\n').filter(Boolean).map((l) => l.split('|')[0]!);
}

const version = run(`${BIN}/hbal`, ['--version']).trim();
const data: Record<string, unknown> = {};
for (const f of readdirSync(dir).filter((x) => x.endsWith('.data')).sort()) {
  const path = join(dir, f);
  const groups: Record<string, { initial: number | null; final: number | null; moves: number }> = {};
  for (const g of groupsOf(readFileSync(path, 'utf8'))) {
    const o = run(`${BIN}/hbal`, ['-t', path, '-G', g]);
    const ini = /Initial score: ([0-9.]+)/.exec(o);
    const fin = /Cluster score improved from [0-9.]+ to ([0-9.]+)/.exec(o);
    const moves = [...o.matchAll(/^\s+\d+\. /gm)].length;
    groups[g] = { initial: ini ? Number(ini[1]) : null, final: fin ? Number(fin[1]) : ini ? Number(ini[1]) : null, moves };
  }
  const hs = run(`${BIN}/hspace`, ['-t', path, '--machine-readable']);
  const keys: Record<string, string> = {};
  for (const l of hs.split('\n')) {
    const m = /^(HTS_[A-Z0-9_]+)=(.*)$/.exec(l);
    if (m) keys[m[1]!] = m[2]!;
  }
  data[f] = { hbal: groups, hspace: keys };
}
const hail: Record<string, unknown> = {};
for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
  const o = run(HAIL, [join(dir, f)]);
  const line = o.split('\n').find((l) => l.startsWith('{'));
  hail[f] = line ? JSON.parse(line) : { error: o.trim() };
}
writeFileSync(out, `${JSON.stringify({ tool: version, capturedFrom: dir, data, hail }, null, 2)}\n`);
process.stdout.write(`wrote ${out.pathname}\n`);
