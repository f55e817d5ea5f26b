import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverSets } from './sets.js';

let dir = '';
afterEach(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function tree(files: string[]): string {
  dir = mkdtempSync(join(tmpdir(), 'gantry-sets-'));
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), '');
  }
  return dir;
}

describe('discoverSets', () => {
  it('given a directory with no YAML of its own, it makes each immediate subdirectory a set', async () => {
    const root = tree(['a/cluster.yaml', 'b/sub/nodes.yaml', 'README.md']);
    expect((await discoverSets([root])).map((s) => s.paths)).toEqual([[join(root, 'a')], [join(root, 'b')]]);
  });

  it('given a directory holding YAML files, it makes the whole tree one set', async () => {
    const root = tree(['cluster.yaml', 'instances/web.yaml']);
    expect((await discoverSets([root])).map((s) => s.paths)).toEqual([[root]]);
  });

  it('given several files, it merges them into one set', async () => {
    const root = tree(['x.yaml', 'y.yaml']);
    const sets = await discoverSets([join(root, 'x.yaml'), join(root, 'y.yaml')]);
    expect(sets).toHaveLength(1);
    expect(sets[0]!.paths).toHaveLength(2);
  });
});
