import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue, jobJson } from './jobs.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-jobs-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('remote API jobs across a restart', () => {
  it('given finished jobs saved by one server, the next one shows them with their ids, results and log, and counts on', async () => {
    const file = path.join(dir, 'a', 'jobs.json');
    const q1 = await JobQueue.open(file);
    const ok = q1.submit({ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web1' }, 'INSTANCE_STARTUP(web1)', 'admin', async (ctx) => { ctx.log('wrote web1.yaml'); return null; });
    const bad = q1.submit({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web2' }, 'INSTANCE_SHUTDOWN(web2)', 'admin', async () => { throw new Error('web2: out of sync'); });
    await q1.idle();
    await q1.flushed();
    const q2 = await JobQueue.open(file);
    expect(jobJson(q2.get(ok)!)).toEqual(jobJson(q1.get(ok)!));
    expect(q2.get(bad)!.status).toBe('error');
    expect(q2.get(bad)!.result).toEqual(['OpExecError', ['web2: out of sync']]);
    expect(q2.submit({ OP_ID: 'OP_TEST' }, 'TEST', 'admin', async () => null)).toBe(bad + 1);
    await q2.idle();
    await q2.flushed();
    expect((await readFile(file, 'utf8')).length).toBeGreaterThan(0);
  });

  it('given a job the restart interrupted, it is reported as an error saying so, never as running', async () => {
    const file = path.join(dir, 'b', 'jobs.json');
    const q1 = await JobQueue.open(file);
    let release!: () => void;
    const id = q1.submit({ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web1' }, 'INSTANCE_STARTUP(web1)', 'admin', () => new Promise((r) => { release = () => r(null); }));
    await new Promise((r) => setTimeout(r, 50));
    expect(q1.get(id)!.status).toBe('running');
    await q1.flushed();
    const q2 = await JobQueue.open(file); // the first server "died" with the job running
    const j = q2.get(id)!;
    expect(j.status).toBe('error');
    expect(j.result).toEqual(['OpExecError', [expect.stringMatching(/restarted before this job finished/)]]);
    expect(j.log.at(-1)![3]).toMatch(/^error: gantry serve restarted/);
    release();
    await q1.idle();
  });
});
