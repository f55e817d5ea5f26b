import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reconcileOnce, withFloor } from './reconcile.js';
import { loadDesired } from '../desired/load.js';
import { SimCluster } from '../sim/index.js';
import { silentLogger } from '../util/log.js';
import { readObserved, writeObserved } from '../status/state-dir.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster } from '../core/plan.js';

const good = (name: string, at: string): ObservedNode => ({
  ...emptyObservedNode(name, at),
  instances: { web2: { name: 'web2', pid: 1, runState: 'running', guestShutdown: false } },
});
const down = (name: string, at: string): ObservedNode => emptyObservedNode(name, at, 'connect ECONNREFUSED');

describe('the floor: the last observation of nodes that cannot be observed now', () => {
  it('given node1 observed at t1 and unreachable at t2, the floor keeps its t1 snapshot', () => {
    const t1: ObservedCluster = { nodes: new Map([['node1', good('node1', 't1')], ['node2', good('node2', 't1')]]) };
    const t2 = withFloor({ nodes: new Map([['node1', down('node1', 't2')], ['node2', emptyObservedNode('node2', 't2')]]) }, t1, ['node1', 'node2']);
    expect(t2.lastKnown).toEqual(new Map([['node1', good('node1', 't1')]]));
    expect(t2.nodes.get('node1')?.reachable).toBe(false);
  });

  it('given node1 still unreachable at t3, the t1 snapshot and its observedAt survive (never replaced by an empty one)', () => {
    const t2: ObservedCluster = { nodes: new Map([['node1', down('node1', 't2')]]), lastKnown: new Map([['node1', good('node1', 't1')]]) };
    const t3 = withFloor({ nodes: new Map([['node1', down('node1', 't3')]]) }, t2, ['node1']);
    expect(t3.lastKnown?.get('node1')?.observedAt).toBe('t1');
    expect(t3.lastKnown?.get('node1')?.instances.web2?.runState).toBe('running');
  });

  it('given node1 observed again, the floor drops it (the node itself is the truth); with no earlier observation there is no floor', () => {
    const t2: ObservedCluster = { nodes: new Map([['node1', down('node1', 't2')]]), lastKnown: new Map([['node1', good('node1', 't1')]]) };
    expect(withFloor({ nodes: new Map([['node1', emptyObservedNode('node1', 't3')]]) }, t2, ['node1']).lastKnown?.size).toBe(0);
    expect(withFloor({ nodes: new Map([['node1', down('node1', 't3')]]) }, undefined, ['node1']).lastKnown?.size).toBe(0);
  });

  it('given an offline node (not observed at all), its last snapshot is kept too', () => {
    const t1: ObservedCluster = { nodes: new Map([['node3', good('node3', 't1')]]) };
    expect(withFloor({ nodes: new Map() }, t1, ['node3']).lastKnown?.get('node3')?.observedAt).toBe('t1');
  });

  it('given a floor written to the state directory, reading it back returns the same snapshots', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-floor-'));
    try {
      const o: ObservedCluster = { nodes: new Map([['node1', down('node1', 't2')]]), lastKnown: new Map([['node1', good('node1', 't1')]]) };
      await writeObserved(dir, 't2', o);
      const back = await readObserved(dir);
      expect(back?.observed.nodes).toEqual(o.nodes);
      expect(back?.observed.lastKnown).toEqual(o.lastKnown);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a stray reinstall mark (simulated nodes, real manifests and state directory)', () => {
  it('given an empty web1.disk1.img.reinstall with no image beside it, the plan shows its removal under Instance/web1 and the apply removes it; then nothing to do (incremental plans checked against full ones)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-stray-mark-'));
    try {
      await mkdir(path.join(dir, 'm'));
      await writeFile(path.join(dir, 'm', 'all.yaml'), `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {enabledDiskTemplates: [file], hvParams: {kvm: {accel: tcg}}, beParams: {vcpus: 1, memory: 256M}}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 198.18.0.11}
---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec: {os: {name: none}, diskTemplate: file, disks: [{size: 64M}], placement: {primary: n1}}
`);
      const { state, errors } = await loadDesired([path.join(dir, 'm')]);
      expect(errors).toEqual([]);
      const sim = new SimCluster(['n1']);
      const incremental = { verify: true };
      const pass = () => reconcileOnce(state!, { logger: silentLogger(), ops: sim.nodes, stateDir: path.join(dir, 'state'), incremental }, { apply: true });
      for (let i = 0; i < 3 && (await pass()).plan.actions.length > 0; i++);
      const fileDir = state!.nodes.get('n1')!.paths.fileStorageDir;
      const mark = `${fileDir}/web1.disk1.img.reinstall`;
      sim.node('n1').tamper((s) => void s.files.set(mark, { path: mark, format: 'raw', virtualSizeMiB: 0 }));
      const r = await pass();
      const entry = r.plan.entries.find((e) => e.subject === 'Instance/web1');
      expect(entry?.status).toBe('drift');
      expect(entry?.diffs).toContainEqual({ path: 'disks', desired: 'no reinstall mark without its image', observed: `${mark} on n1` });
      expect(r.plan.actions.map((a) => `${a.verb} ${a.verb === 'file.remove' ? a.path : ''}`)).toEqual([`file.remove ${mark}`]);
      expect(r.report?.ok).toBe(true);
      expect(r.after?.actions).toEqual([]);
      expect(Object.keys(sim.snapshot().n1!.files)).not.toContain(mark);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
