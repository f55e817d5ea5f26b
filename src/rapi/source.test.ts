import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterYaml, instancesYaml, nodesYaml } from '../../test/helpers/rapi-sim.js';
import { silentLogger } from '../util/log.js';
import { FileSource } from './source.js';

let dir: string;
let stamp = Date.now() / 1000;

/** Rewrites instances.yaml with n instances and moves its mtime forward (a change the stat check sees). */
async function writeInstances(n: number): Promise<void> {
  const f = path.join(dir, 'm', 'instances.yaml');
  await writeFile(f, instancesYaml(n, 3));
  stamp += 10;
  await utimes(f, stamp, stamp);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-source-'));
  await mkdir(path.join(dir, 'm'));
  await writeFile(path.join(dir, 'm', 'cluster.yaml'), clusterYaml());
  await writeFile(path.join(dir, 'm', 'nodes.yaml'), nodesYaml(3));
  await writeInstances(4);
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('the remote API view source (file mode)', () => {
  it('given a manifest changed behind its back, requests keep the last view while the new one is built, then get the new one', async () => {
    const source = new FileSource({ files: [path.join(dir, 'm')], stateDir: path.join(dir, 'state'), logger: silentLogger(), checkMs: 0 });
    const first = await source.current();
    expect(first.instances).toHaveLength(4);
    await writeInstances(5);
    expect(await source.current()).toBe(first); // the reload runs in the background
    let now = first;
    for (let i = 0; i < 600 && now.instances.length === 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await source.current();
    }
    expect(now.instances).toHaveLength(5);
  }, 90_000);

  it('given invalidate() after a write, the next request waits for the reload and sees the write', async () => {
    const source = new FileSource({ files: [path.join(dir, 'm')], stateDir: path.join(dir, 'state'), logger: silentLogger(), checkMs: 60_000 });
    expect((await source.current()).instances).toHaveLength(5);
    await writeInstances(6);
    expect((await source.current()).instances).toHaveLength(5); // checked at most every checkMs
    source.invalidate();
    expect((await source.current()).instances).toHaveLength(6);
  }, 90_000);
});
