import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readDesiredSummary, writeDesiredSummary } from './state-dir.js';

describe('desired summary in the state directory', () => {
  const dirs: string[] = [];
  const fresh = () => { const d = mkdtempSync(path.join(tmpdir(), 'gantry-state-')); dirs.push(d); return d; };
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('given no summary yet, it reads undefined; given one written, it reads it back', async () => {
    const dir = fresh();
    expect(await readDesiredSummary(dir)).toBeUndefined();
    await writeDesiredSummary(dir, { instances: 12, nodes: 3, at: '2026-11-28T00:00:00.000Z' });
    expect(await readDesiredSummary(dir)).toEqual({ instances: 12, nodes: 3, at: '2026-11-28T00:00:00.000Z' });
  });

  it('given a corrupt summary, it reports it as corrupt with its path rather than as missing', async () => {
    const dir = fresh();
    writeFileSync(path.join(dir, 'desired-summary.json'), '{"instances": 12, "nod');
    await expect(readDesiredSummary(dir)).rejects.toThrow(/desired-summary\.json is corrupt \(not JSON/);
    writeFileSync(path.join(dir, 'desired-summary.json'), '{"instances": -1, "nodes": 3, "at": "x"}');
    await expect(readDesiredSummary(dir)).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
  });
});
