import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { SimCluster } from '../sim/index.js';
import { silentLogger } from '../util/log.js';
import { reconcileOnce, type ReconcileResult } from './reconcile.js';

const MANIFESTS = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledHypervisors: [kvm]
  enabledDiskTemplates: [plain]
  storage: {volumeGroup: vg0}
  nodeProfile: {volumeGroups: [{name: vg0, pvs: [/dev/sdb]}]}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 198.18.0.1}
---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec: {os: {name: none}, diskTemplate: plain, disks: [{size: 1G}], placement: {primary: n1}}
`;

let dir: string;
let state: DesiredState;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gantry-reconcile-'));
  await mkdir(path.join(dir, 'manifests'));
  await writeFile(path.join(dir, 'manifests', 'c.yaml'), MANIFESTS);
  const loaded = await loadDesired([path.join(dir, 'manifests')]);
  expect(loaded.errors).toEqual([]);
  state = loaded.state!;
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('reconcileOnce and the state directory (persist: job log, summary, then state)', () => {
  it('given a state directory that refuses status.json, it writes the job log, lets the caller print its summary, and only then reports the state error', async () => {
    const stateDir = path.join(dir, 'state');
    await mkdir(path.join(stateDir, 'status.json', 'in-the-way'), { recursive: true }); // a directory where the file goes
    const seen: string[] = [];
    let atSummary: { observedWritten: boolean; jobFile?: string } | undefined;
    const res = await reconcileOnce(state, { logger: silentLogger(), ops: new SimCluster(['n1']).nodes, stateDir }, {
      apply: true,
      beforeStateWrite: (r: ReconcileResult) => {
        seen.push('summary');
        atSummary = { observedWritten: existsSync(path.join(stateDir, 'observed.json')), ...(r.jobFile ? { jobFile: r.jobFile } : {}) };
      },
    });
    expect(seen).toEqual(['summary']);
    expect(res.report?.ok).toBe(true);
    expect(atSummary?.observedWritten).toBe(false);
    expect(atSummary?.jobFile).toBe(res.jobFile);
    const job = JSON.parse(await readFile(res.jobFile!, 'utf8')) as { report: { results: unknown[] } };
    expect(job.report.results).toHaveLength(4);
    expect(res.stateError).toMatchObject({ code: 'STATE_DIR_UNWRITABLE', path: path.join(stateDir, 'status.json') });
  });

  it('given a state directory whose jobs/ cannot be written, the job record goes to stderr as JSON and status is still written', async () => {
    const stateDir = path.join(dir, 'state');
    await mkdir(stateDir);
    await writeFile(path.join(stateDir, 'jobs'), 'a file where the directory goes');
    const lines: string[] = [];
    const res = await reconcileOnce(state, { logger: silentLogger(), ops: new SimCluster(['n1']).nodes, stateDir, stderr: (l) => lines.push(l) }, { apply: true });
    expect(res.jobFile).toBeUndefined();
    expect(res.jobLogError?.code).toBe('STATE_DIR_UNWRITABLE');
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!) as { jobLogNotWritten: string; job: { command: string; report: { results: { ok: boolean }[] } } };
    expect(doc.jobLogNotWritten).toMatch(/jobs/);
    expect(doc.job.report.results.map((r) => r.ok)).toEqual([true, true, true, true]);
    expect(existsSync(path.join(stateDir, 'status.json'))).toBe(true);
  });

  it('given a job log retention of one file, the second pass with changes leaves only its own job', async () => {
    const stateDir = path.join(dir, 'state');
    const sim = new SimCluster(['n1']);
    const deps = { logger: silentLogger(), ops: sim.nodes, stateDir, jobLog: { keep: 1, maxAgeDays: 30 } };
    const first = await reconcileOnce(state, deps, { apply: true });
    sim.node('n1').tamper((s) => s.lvs.clear());
    await new Promise((r) => setTimeout(r, 5)); // distinct timestamps in the job file names
    const second = await reconcileOnce(state, deps, { apply: true });
    expect(second.report?.results.length).toBeGreaterThan(0);
    expect(await readdir(path.join(stateDir, 'jobs'))).toEqual([path.basename(second.jobFile!)]);
    expect(first.jobFile).not.toBe(second.jobFile);
  });
});
