import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyObservedNode } from '../core/observed.js';
import { StateFileCorruptError } from '../util/errors.js';
import { readDesiredSummary, readObserved, readStatus, rotateJobs, writeDesiredSummary, writeObserved, writeStatus } from './state-dir.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-state-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

const corrupt = async (p: Promise<unknown>): Promise<StateFileCorruptError> => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StateFileCorruptError);
  return err as StateFileCorruptError;
};

describe('state files: missing is missing, corrupt is corrupt', () => {
  it('given no observed.json, it reads as missing; given one written, it reads it back', async () => {
    expect(await readObserved(dir)).toBeUndefined();
    await writeObserved(dir, '2026-01-01T00:00:00.000Z', { nodes: new Map([['n1', emptyObservedNode('n1', '2026-01-01T00:00:00.000Z', 'down')]]) });
    const snap = await readObserved(dir);
    expect(snap?.observedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(snap?.observed.nodes.get('n1')).toMatchObject({ name: 'n1', reachable: false, error: 'down' });
  });

  it('given an observed.json cut short mid-write, it reports it corrupt with the path and the line and column', async () => {
    await writeFile(path.join(dir, 'observed.json'), '{\n  "observedAt": "2026-01-01T00:00:00Z",\n  "nodes": {"n1": {"name": "n1",\n');
    const err = await corrupt(readObserved(dir));
    expect(err.code).toBe('STATE_FILE_CORRUPT');
    expect(err.path).toBe(path.join(dir, 'observed.json'));
    expect(err.position).toEqual({ line: 4, column: 1 });
    expect(err.message).toMatch(/observed\.json is corrupt \(line 4, column 1\): not JSON/);
  });

  it('given an observed.json with a JSON syntax error inside, it names the line and column of the error', async () => {
    await writeFile(path.join(dir, 'observed.json'), '{\n  "observedAt": "x",,\n}\n');
    expect((await corrupt(readObserved(dir))).position).toEqual({ line: 2, column: 21 });
  });

  it('given an observed.json of the wrong shape, it reports what is wrong instead of an empty cluster', async () => {
    await writeFile(path.join(dir, 'observed.json'), JSON.stringify({ observedAt: '2026-01-01T00:00:00Z', nodes: { n1: { name: 'n1', reachable: 'yes' } } }));
    expect((await corrupt(readObserved(dir))).problem).toBe('nodes.n1.reachable: expected true or false');
    await writeFile(path.join(dir, 'observed.json'), JSON.stringify({ observedAt: 't', nodes: {}, lastKnown: { n1: { name: 'n2' } } }));
    expect((await corrupt(readObserved(dir))).problem).toBe('lastKnown.n1.name: expected "n1"');
    await writeFile(path.join(dir, 'observed.json'), '[]');
    expect((await corrupt(readObserved(dir))).problem).toMatch(/expected an object/);
    await writeFile(path.join(dir, 'observed.json'), '');
    expect((await corrupt(readObserved(dir))).problem).toMatch(/not JSON/);
  });

  it('given status.json missing, written, or damaged, it reads missing, the statuses, or corrupt', async () => {
    expect(await readStatus(dir)).toBeUndefined();
    await writeStatus(dir, '2026-01-01T00:00:00.000Z', [{ subject: 'Node/n1', conditions: [], facts: {} }]);
    expect((await readStatus(dir))?.resources.map((r) => r.subject)).toEqual(['Node/n1']);
    await writeFile(path.join(dir, 'status.json'), JSON.stringify({ updatedAt: 'x', resources: [{ subject: 1 }] }));
    expect((await corrupt(readStatus(dir))).problem).toBe('resources[0]: expected {subject, conditions, facts}');
  });
});

describe('job log rotation', () => {
  const job = (i: number) => `2026-01-${String(i).padStart(2, '0')}T00-00-00-000Z-100.json`;
  async function seed(n: number, now: Date): Promise<void> {
    await mkdir(path.join(dir, 'jobs'), { recursive: true });
    for (let i = 1; i <= n; i++) {
      const f = path.join(dir, 'jobs', job(i));
      await writeFile(f, '{}');
      const t = new Date(now.getTime() - (n - i) * 86_400_000); // job i is (n - i) days old
      await utimes(f, t, t);
    }
    await writeFile(path.join(dir, 'jobs', 'README'), 'not a job');
  }

  it('given more job files than the count to keep, it removes the oldest and leaves other files alone', async () => {
    const now = new Date('2026-02-01T00:00:00Z');
    await seed(6, now);
    const removed = await rotateJobs(dir, { keep: 4, maxAgeDays: 30 }, now);
    expect(removed.map((f) => path.basename(f))).toEqual([job(2), job(1)]);
    expect((await readdir(path.join(dir, 'jobs'))).sort()).toEqual([job(3), job(4), job(5), job(6), 'README']);
  });

  it('given job files older than the age limit, it removes them even under the count', async () => {
    const now = new Date('2026-02-01T00:00:00Z');
    await seed(10, now); // ages 9..0 days
    const removed = await rotateJobs(dir, { keep: 500, maxAgeDays: 7 }, now);
    expect(removed.map((f) => path.basename(f)).sort()).toEqual([job(1), job(2)]);
  });

  it('given no jobs directory, it removes nothing', async () => {
    expect(await rotateJobs(dir, { keep: 1, maxAgeDays: 1 })).toEqual([]);
  });
});

describe('desired summary in the state directory', () => {
  const dirs: string[] = [];
  const fresh = () => { const d = mkdtempSync(path.join(tmpdir(), 'gantry-state-')); dirs.push(d); return d; };
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('given no summary yet, it reads undefined; given one written, it reads it back', async () => {
    const dir = fresh();
    expect(await readDesiredSummary(dir)).toBeUndefined();
    await writeDesiredSummary(dir, { instances: 12, nodes: 3, at: '2026-11-28T00:00:00.000Z', orphanSince: { web9: '2026-11-27T23:00:00.000Z' } });
    expect(await readDesiredSummary(dir)).toEqual({ instances: 12, nodes: 3, at: '2026-11-28T00:00:00.000Z', orphanSince: { web9: '2026-11-27T23:00:00.000Z' } });
  });

  it('given a corrupt summary, it reports it as corrupt with its path rather than as missing', async () => {
    const dir = fresh();
    writeFileSync(path.join(dir, 'desired-summary.json'), '{"instances": 12, "nod');
    await expect(readDesiredSummary(dir)).rejects.toThrow(/desired-summary\.json is corrupt \(line 1, column \d+\): not JSON/);
    writeFileSync(path.join(dir, 'desired-summary.json'), '{"instances": -1, "nodes": 3, "at": "x"}');
    await expect(readDesiredSummary(dir)).rejects.toMatchObject({ code: 'STATE_FILE_CORRUPT', problem: expect.stringContaining('want {instances, nodes, at}') });
    writeFileSync(path.join(dir, 'desired-summary.json'), '{"instances": 1, "nodes": 3, "at": "2026-11-28T00:00:00.000Z", "orphanSince": {"web1": "soon"}}');
    await expect(readDesiredSummary(dir)).rejects.toMatchObject({ code: 'STATE_FILE_CORRUPT', problem: 'orphanSince.web1 is not an ISO time' });
  });
});
