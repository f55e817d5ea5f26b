import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import { SimCluster } from '../sim/index.js';
import { readLiveness } from '../status/state-dir.js';
import { StateFileCorruptError } from '../util/errors.js';
import { silentLogger } from '../util/log.js';
import { reconcileOnce } from './reconcile.js';
import { renderPlan } from '../status/drift-report.js';

const MANIFESTS = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [plain]
  storage: {volumeGroup: vg0}
  liveness: {missedProbes: 2, graceSeconds: 5}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 198.18.0.1}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n2}
spec: {address: 198.18.0.2}
`;

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-liveness-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('liveness across passes (simulated nodes, real state directory)', () => {
  it('given n2 unreachable for three passes, the state directory counts its missed probes, Cluster spec.liveness sets the grace, and the drift report and status say so', async () => {
    await mkdir(path.join(dir, 'm'));
    await writeFile(path.join(dir, 'm', 'c.yaml'), MANIFESTS);
    const { state } = await loadDesired([path.join(dir, 'm')]);
    const sim = new SimCluster(['n1', 'n2']);
    const stateDir = path.join(dir, 'state');
    let clock = Date.parse('2026-11-28T12:00:00.000Z');
    const pass = () => reconcileOnce(state!, { logger: silentLogger(), ops: sim.nodes, stateDir, now: () => new Date(clock) }, { apply: true });
    await pass();
    expect((await readLiveness(stateDir))?.nodes.get('n2')).toMatchObject({ condition: 'Ready', missedProbes: 0 });
    sim.node('n2').setUnreachable(true);
    clock += 1000;
    const first = await pass();
    expect(first.observed.liveness?.get('n2')).toMatchObject({ condition: 'Unreachable', missedProbes: 1, graceOver: false });
    expect(renderPlan(first.plan, 'table')).toContain('Unreachable since 2026-11-28T12:00:01.000Z, 1 missed probe (in its grace: 2 probes over 5 s)');
    clock += 6000;
    const second = await pass();
    const rec = await readLiveness(stateDir);
    expect(rec?.nodes.get('n2')).toMatchObject({ condition: 'Unreachable', missedProbes: 2, graceOver: true, since: '2026-11-28T12:00:01.000Z', lastSeen: '2026-11-28T12:00:00.000Z' });
    expect(rec?.nodes.get('n1')).toMatchObject({ condition: 'Ready' });
    const n2 = second.statuses.find((s) => s.subject === 'Node/n2');
    expect(n2?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Unreachable' });
  });

  it('given a damaged liveness.json, the pass fails naming the file instead of starting the count over', async () => {
    await mkdir(path.join(dir, 'm'));
    await writeFile(path.join(dir, 'm', 'c.yaml'), MANIFESTS);
    const { state } = await loadDesired([path.join(dir, 'm')]);
    const stateDir = path.join(dir, 'state');
    await mkdir(stateDir);
    await writeFile(path.join(stateDir, 'liveness.json'), JSON.stringify({ updatedAt: 'x', nodes: { n2: { node: 'n2', condition: 'Asleep', since: 'x', missedProbes: 1 } } }));
    const err = await reconcileOnce(state!, { logger: silentLogger(), ops: new SimCluster(['n1', 'n2']).nodes, stateDir }, { apply: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateFileCorruptError);
    expect(String((err as Error).message)).toMatch(/liveness\.json.*nodes\.n2\.condition/);
  });
});
