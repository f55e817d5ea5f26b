import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import { SimCluster } from '../sim/index.js';
import type { DesiredState } from '../desired/model.js';
import { readDesiredSummary, writeDesiredSummary } from '../status/state-dir.js';
import { silentLogger } from '../util/log.js';
import { reconcileOnce } from './reconcile.js';

const manifests = (removeOrphans: boolean) => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [plain]
  storage: {volumeGroup: vg0}
  orphans: {remove: ${removeOrphans}}
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
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-summary-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

async function applyWith(removeOrphans: boolean, stateDir: string) {
  await mkdir(path.join(dir, 'm'), { recursive: true });
  await writeFile(path.join(dir, 'm', 'c.yaml'), manifests(removeOrphans));
  const loaded = await loadDesired([path.join(dir, 'm')]);
  expect(loaded.errors).toEqual([]);
  return reconcileOnce(loaded.state!, { logger: silentLogger(), ops: new SimCluster(['n1']).nodes, stateDir }, { apply: true });
}

describe('the last applied desired summary (simulated node: the state directory is real)', () => {
  it('given an apply, it records the declared instances and nodes as the baseline', async () => {
    const stateDir = path.join(dir, 'state');
    await applyWith(false, stateDir);
    expect(await readDesiredSummary(stateDir)).toMatchObject({ instances: 1, nodes: 1 });
  });

  it('given manifests that look truncated with orphan removal on, it refuses and keeps the old baseline; with removal off it records the new size', async () => {
    const stateDir = path.join(dir, 'state');
    await writeDesiredSummary(stateDir, { instances: 10, nodes: 1, at: '2026-11-27T00:00:00.000Z' });
    const res = await applyWith(true, stateDir);
    expect(res.plan.refused.map((r) => r.code)).toContain('MANIFESTS_TRUNCATED');
    expect(await readDesiredSummary(stateDir)).toMatchObject({ instances: 10 });
    await applyWith(false, stateDir);
    expect(await readDesiredSummary(stateDir)).toMatchObject({ instances: 1, nodes: 1 });
  });

  it('given a stopped instance whose manifest went away with orphan removal on, it keeps its disk through the grace, records since when, and removes it after', async () => {
    const stateDir = path.join(dir, 'state');
    const web2 = `---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web2}
spec: {os: {name: none}, diskTemplate: plain, disks: [{size: 1G}], placement: {primary: n1}, powerState: stopped}
`;
    const load = async (withWeb2: boolean): Promise<DesiredState> => {
      await mkdir(path.join(dir, 'm'), { recursive: true });
      await writeFile(path.join(dir, 'm', 'c.yaml'), manifests(true) + (withWeb2 ? web2 : ''));
      const loaded = await loadDesired([path.join(dir, 'm')]);
      expect(loaded.errors).toEqual([]);
      return loaded.state!;
    };
    const sim = new SimCluster(['n1']);
    const t0 = Date.parse('2026-11-28T10:00:00.000Z');
    const pass = async (withWeb2: boolean, minutes: number) => reconcileOnce(await load(withWeb2), { logger: silentLogger(), ops: sim.nodes, stateDir, now: () => new Date(t0 + minutes * 60_000) }, { apply: true });
    const web2Lvs = () => Object.keys(sim.node('n1').snapshot().lvs).filter((k) => k.includes('web2'));
    await pass(true, 0);
    expect(web2Lvs()).toHaveLength(1);
    await pass(false, 1); // web2.yaml gone: first found undeclared now
    expect((await readDesiredSummary(stateDir))?.orphanSince).toEqual({ web2: '2026-11-28T10:01:00.000Z' });
    const kept = await pass(false, 40);
    expect(kept.plan.orphans.find((o) => o.id.includes('web2'))?.kept).toMatch(/undeclared since 2026-11-28T10:01:00.000Z/);
    expect(web2Lvs()).toHaveLength(1);
    await pass(true, 45); // back in time: the record goes, and a later loss starts over
    expect((await readDesiredSummary(stateDir))?.orphanSince).toBeUndefined();
    await pass(false, 50);
    await pass(false, 109);
    expect(web2Lvs()).toHaveLength(1);
    const removed = await pass(false, 111);
    expect(removed.plan.actions.map((a) => a.verb)).toEqual(['lv.remove']);
    expect(web2Lvs()).toEqual([]);
  });
});
