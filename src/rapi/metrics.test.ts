import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ObservedCluster } from '../core/plan.js';
import type { ObservedNode } from '../core/observed.js';
import { loadDesired } from '../desired/load.js';
import { parseLinks, tapsFrom } from '../drivers/bridge/parse.js';
import { parseInstances } from '../drivers/qemu/probe.js';
import { JobQueue } from './jobs.js';
import { createRapiMetrics, instanceTaps } from './metrics.js';
import { buildModel } from './view.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MANIFESTS = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {enabledDiskTemplates: [plain], storage: {volumeGroup: vg0}}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 198.18.1.1}
---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec:
  os: {name: none}
  diskTemplate: plain
  disks: [{size: 1G}]
  beParams: {memory: 128M}
  nics: [{mode: bridged, link: gtbr0, ip: none}]
  placement: {primary: n1}
`;

const golden = (rel: string) => readFileSync(new URL(rel, import.meta.url), 'utf8');

describe('remote API metrics from an observation (real probe and ip -s output)', () => {
  it('given a live instance whose runtime record names its tap, it reports CPU seconds and the tap counters; nothing for what was not read', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-metrics-'));
    try {
      await writeFile(path.join(dir, 'm.yaml'), MANIFESTS);
      const state = (await loadDesired([dir])).state!;
      // the real probe output of a busy process (2.7 s) and the real `ip -s -j -d link` of a tap gtt0 (rx 180 bytes)
      const vm = parseInstances(golden('../drivers/qemu/testdata/probe-cpu-busy.txt')).web1!;
      const withTap = { ...vm, runtime: { ...vm.runtime, spec: { nics: [{ tap: 'gtt0' }] } } };
      expect(instanceTaps(withTap, 1)).toEqual(['gtt0']);
      expect(instanceTaps(vm, 2)).toEqual(['t-web1-0', 't-web1-1']);
      const node = {
        name: 'n1', reachable: true, observedAt: '2026-11-29T05:00:00Z', facts: { hostname: 'n1', kernel: '6.1', cpus: 2, memoryTotalMiB: 4096, memoryFreeMiB: 2048 },
        vgs: {}, lvs: {}, bridges: {}, vxlans: {}, sysctls: {}, files: {}, probeErrors: [],
        instances: { web1: withTap }, taps: tapsFrom(parseLinks(golden('../drivers/testdata/bridge/ip-s-d-link-tap.json'))),
      } as ObservedNode;
      const observed: ObservedCluster = { nodes: new Map([['n1', node]]) };
      const model = buildModel({ state, observed });
      const registry = createRapiMetrics({ snapshot: async () => ({ state, observed, observedAt: '2026-11-29T05:00:00Z', model }), jobs: new JobQueue(), now: () => Date.parse('2026-11-29T05:00:30Z') });
      const text = await registry.metrics();
      expect(text).toContain('gantry_instance_cpu_seconds{instance="web1",node="n1"} 2.7');
      expect(text).toContain('gantry_instance_nic_rx_bytes{instance="web1",node="n1",nic="0",tap="gtt0"} 180');
      expect(text).toContain('gantry_instance_nic_tx_bytes{instance="web1",node="n1",nic="0",tap="gtt0"} 0');
      expect(text).toContain('gantry_node_reachable{node="n1"} 1');
      expect(text).toContain('gantry_observation_age_seconds 30');
      // the pid is alive but QMP was not asked: no memory sample (unknown), not 0
      expect(text).not.toMatch(/^gantry_instance_memory_bytes\{/m);
      // a second scrape of a node now unreachable: its instance has no CPU or NIC samples any more
      const down: ObservedCluster = { nodes: new Map([['n1', { ...node, reachable: false }]]) };
      const r2 = createRapiMetrics({ snapshot: async () => ({ state, observed: down, model: buildModel({ state, observed: down }) }), jobs: new JobQueue() });
      const t2 = await r2.metrics();
      expect(t2).toContain('gantry_node_reachable{node="n1"} 0');
      expect(t2).not.toMatch(/^gantry_instance_cpu_seconds\{/m);
      expect(t2).toMatch(/^gantry_instance_status\{instance="web1",node="n1",status="ERROR_nodedown"\} 1/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
