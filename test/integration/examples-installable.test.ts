/**
 * Every example set is not only valid but installable: a plan over nodes that are reachable
 * and hold nothing of Gantry's yet (no LV, file, bridge or instance; only the volume groups
 * their profiles declare, empty, so the allocator knows their size) refuses nothing. examples/lab has no
 * Node manifests (`gantry lab up` writes them): it gets three generated the same way.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseManifestText, loadSet } from '../../src/desired/load.js';
import { buildDesired } from '../../src/desired/build.js';
import { formatLoadError } from '../../src/desired/errors.js';
import { renderNodeManifests } from '../../src/lab/manifests.js';
import { toPlanInput } from '../../src/plan/from-desired.js';
import { plan } from '../../src/plan/plan.js';
import { allocatorFor } from '../../src/execute/allocate.js';
import { emptyObservedNode } from '../../src/core/observed.js';
import type { DesiredState } from '../../src/desired/model.js';

const EXAMPLES = fileURLToPath(new URL('../../examples', import.meta.url));
const SETS = readdirSync(EXAMPLES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl lab';

async function withLabNodes(dir: string): Promise<DesiredState> {
  const set = await loadSet([dir]);
  expect(set.errors.map(formatLoadError)).toEqual([]);
  if (set.state!.nodes.size > 0) return set.state!;
  const vg = set.state!.cluster.storage.volumeGroup;
  const nodes = renderNodeManifests([1, 2, 3].map((i) => ({
    name: `node${i}`, group: 'default', address: `198.18.0.${i + 10}`, secondaryAddress: `198.19.0.${i + 10}`, role: 'regular' as const,
    hostKey: HOST_KEY, privateKeyFile: '/var/lib/gantry-lab/id_ed25519', ovsdbSocket: `/var/lib/gantry-lab/node${i}/ovs/db.sock`,
    nodeDir: `/var/lib/gantry-lab/node${i}`, vgName: vg, loopDevice: `/dev/loop${i}`,
  })));
  const parsed = parseManifestText('lab-nodes.yaml', nodes);
  const built = buildDesired([...set.resources, ...parsed.resources]);
  expect(built.errors.map(formatLoadError)).toEqual([]);
  return built.state!;
}

describe('examples', () => {
  it.each(SETS)('given examples/%s over empty reachable nodes, the plan refuses nothing and plans work for every instance', async (name) => {
    const state = await withLabNodes(`${EXAMPLES}/${name}`);
    const observed = { nodes: new Map([...state.nodes.keys()].map((n) => [n, {
      ...emptyObservedNode(n, '2026-01-01T00:00:00Z'),
      facts: { hostname: n, kernel: '6.1', cpus: 16, memoryTotalMiB: 262144, memoryFreeMiB: 260000 },
      vgs: Object.fromEntries(state.nodes.get(n)!.profile.volumeGroups.map((vg) => [vg.name, { name: vg.name, sizeMiB: 4 << 20, freeMiB: 4 << 20, pvs: vg.pvs }])),
    }])) };
    const p = plan(toPlanInput(state), observed, { allocator: allocatorFor(state) });
    expect(p.refused.map((r) => `${r.subject}: ${r.code}: ${r.message}`)).toEqual([]);
    // every instance gets work in this first pass (DRBD ones install in a later pass, once their devices are up)
    const worked = new Set(p.actions.map((a) => a.subject));
    const wanted = [...state.instances.values()].filter((i) => i.state === 'present').map((i) => `Instance/${i.name}`);
    expect(wanted.filter((w) => !worked.has(w))).toEqual([]);
  });
});
