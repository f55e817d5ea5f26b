/**
 * Observe every node of the desired state in parallel, each with one batched probe.
 * A node that cannot be reached yields an unreachable snapshot; it never fails the rest.
 * Offline nodes are probed too, apart (offlineAnswers): only whether they still run guests.
 */
import type { DesiredNode, DesiredState } from '../desired/model.js';
import type { NodeOps, ObserveRequest } from '../core/node-ops.js';
import { emptyObservedNode, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster } from '../core/plan.js';
import { effectiveNodeSysctls } from '../desired/routed.js';

export function observeRequestFor(node: DesiredNode, state: DesiredState): ObserveRequest {
  const dirs = new Set([node.paths.fileStorageDir, node.paths.sharedFileStorageDir, state.cluster.storage.sharedFileStorageDir]);
  return {
    sysctls: Object.keys(effectiveNodeSysctls(node, state)).sort(),
    fileDirs: [...dirs].sort(),
    instanceRunDir: node.paths.runDir,
    ...(usesDrbd(state) ? { drbd: true } : {}),
    ...(node.ovsdbSocket !== undefined ? { ovsdbSocket: node.ovsdbSocket } : {}),
  };
}

/**
 * DRBD is read on every node once the cluster enables the drbd template or any instance has
 * a DRBD disk (nodes of clusters without DRBD are not asked). Not only from the instances:
 * a checkout cut short that lost every DRBD instance must not stop the reads the fencing
 * guard relies on (a peer still connected to a suspect node).
 */
export function usesDrbd(state: DesiredState): boolean {
  if (state.cluster.enabledDiskTemplates.includes('drbd')) return true;
  for (const i of state.instances.values()) if (i.disks.some((d) => d.template === 'drbd')) return true;
  return false;
}

export async function observeCluster(state: DesiredState, ops: ReadonlyMap<string, NodeOps>, now: () => Date = () => new Date()): Promise<ObservedCluster> {
  const nodes = new Map<string, ObservedNode>();
  const offline = new Map<string, ObservedNode>();
  await Promise.all(
    [...state.nodes.values()].map(async (n) => {
      if (n.role === 'offline') {
        // Declared down: probed read-only, best effort, never counted as observed. One that
        // answers may still run guests: they are not failed over (plan/offline-migrate).
        const o = ops.get(n.name);
        if (!o) return;
        try {
          const got = await o.observe(observeRequestFor(n, state));
          if (got.reachable) offline.set(n.name, got);
        } catch { /* an offline node that does not answer is what its role says */ }
        return;
      }
      const o = ops.get(n.name);
      if (!o) {
        nodes.set(n.name, emptyObservedNode(n.name, now().toISOString(), 'no connection configured'));
        return;
      }
      try {
        nodes.set(n.name, await o.observe(observeRequestFor(n, state)));
      } catch (e) {
        nodes.set(n.name, emptyObservedNode(n.name, now().toISOString(), e instanceof Error ? e.message : String(e)));
      }
    }),
  );
  return { nodes: new Map([...nodes].sort(([a], [b]) => a.localeCompare(b))), ...(offline.size > 0 ? { offlineAnswers: new Map([...offline].sort(([a], [b]) => a.localeCompare(b))) } : {}) };
}
