/**
 * Which manifest sets a list of paths names. The rule (also in the README):
 * a path that is a file, or a directory holding YAML files of its own, is one set
 * (its whole tree); a directory with no YAML of its own is a collection, and each of
 * its immediate subdirectories is a separate set (so `validate -f examples/` checks
 * examples/campus and examples/lab independently). Several paths that are each one
 * set are merged into one set, as `-f a.yaml -f b.yaml` means one cluster.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface ManifestSet {
  /** a name for messages: the path(s) */
  readonly name: string;
  readonly paths: string[];
}

const YAML_EXT = /\.ya?ml$/i;

async function isDir(p: string): Promise<boolean> {
  try { return (await stat(p)).isDirectory(); } catch { return false; }
}

export async function discoverSets(paths: readonly string[]): Promise<ManifestSet[]> {
  const single: string[] = [];
  const collections: ManifestSet[] = [];
  for (const p of paths) {
    if (!(await isDir(p))) { single.push(p); continue; }
    const entries = (await readdir(p, { withFileTypes: true })).filter((e) => !e.name.startsWith('.') && e.name !== 'node_modules');
    const ownYaml = entries.some((e) => e.isFile() && YAML_EXT.test(e.name));
    const subdirs = entries.filter((e) => e.isDirectory()).map((e) => join(p, e.name)).sort();
    if (ownYaml || subdirs.length === 0) single.push(p);
    else for (const d of subdirs) collections.push({ name: d, paths: [d] });
  }
  const out: ManifestSet[] = [];
  if (single.length) out.push({ name: single.join(', '), paths: single });
  return [...out, ...collections];
}
