/**
 * A simulator-backed cluster for remote API tests: manifests written to a temp dir
 * (nodes, plain instances pinned unevenly so a balancer has work), applied with
 * reconcileOnce on SimCluster nodes (the real planner and executor; SIMULATED nodes),
 * so the state directory holds a real observation for the server to read.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDesired } from '../../src/desired/load.js';
import { formatLoadError } from '../../src/desired/errors.js';
import type { DesiredState } from '../../src/desired/model.js';
import { reconcileOnce } from '../../src/runtime/reconcile.js';
import { SimCluster } from '../../src/sim/index.js';
import { silentLogger } from '../../src/util/log.js';

export interface SimRapiCluster {
  readonly dir: string;
  readonly manifests: string;
  readonly stateDir: string;
  readonly sim: SimCluster;
  /** Reload the manifests and run one apply pass on the simulated nodes. */
  apply(): Promise<DesiredState>;
  cleanup(): Promise<void>;
}

export const SHARED_DIR = '/srv/gantry-shared';

const doc = (kind: string, name: string, spec: string) => `---\napiVersion: gantry.dev/v1alpha1\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: ${spec}\n`;

/** With `shared`: sharedfile disks on a directory every simulated node sees, and live migration. */
export function clusterYaml(shared = false): string {
  const templates = shared ? '[plain, sharedfile]' : '[plain]';
  const storage = shared ? `{volumeGroup: vg0, sharedFileStorageDir: ${SHARED_DIR}}, migration: {mode: live}` : '{volumeGroup: vg0}';
  return `# the simulated cluster\n${doc('Cluster', 'sim', `{enabledHypervisors: [kvm], enabledDiskTemplates: ${templates}, storage: ${storage}, nodeProfile: {volumeGroups: [{name: vg0, pvs: [/dev/sdb]}]${shared ? ', bridges: [{name: br0}]' : ''}}}`)}`
    + doc('Network', 'net1', '{subnet: 198.18.64.0/24, gateway: 198.18.64.1, mode: bridged, link: br0}');
}

export function nodesYaml(nodes: number): string {
  return Array.from({ length: nodes }, (_, i) => doc('Node', `node${i + 1}`, `{address: 198.18.1.${i + 1}, role: ${i === 0 ? 'master-candidate' : 'regular'}}`)).join('');
}

/** Instance i on node (i mod 2^k)-ish: the first node gets the most, so the cluster is unbalanced. */
export function instancesYaml(instances: number, nodes: number): string {
  return Array.from({ length: instances }, (_, i) => {
    const node = (i % 3 === 0 ? 0 : i % nodes) + 1;
    const mem = [128, 256, 512][i % 3];
    return `# instance ${i}\n` + doc('Instance', `vm${i + 1}`, `\n  os: {name: none}\n  diskTemplate: plain\n  disks: [{size: ${1 + (i % 4)}G}]\n  beParams: {memory: ${mem}M, vcpus: ${1 + (i % 2)}}\n  placement: {primary: node${node}}\n  tags: ["team:${i % 2 ? 'a' : 'b'}"]`);
  }).join('');
}

/** A running sharedfile instance on node1 (with `shared`): one that can fail over and migrate. */
export function sharedInstanceYaml(): string {
  return '# shared storage\n' + doc('Instance', 'sf1', '\n  os: {name: none}\n  diskTemplate: sharedfile\n  disks: [{size: 1G}]\n  beParams: {memory: 128M}\n  placement: {primary: node1}');
}

export async function simRapiCluster(opts: { nodes: number; instances: number; shared?: boolean }): Promise<SimRapiCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-rapi-'));
  const manifests = path.join(dir, 'manifests');
  const stateDir = path.join(dir, 'state');
  await mkdir(manifests);
  await writeFile(path.join(manifests, 'cluster.yaml'), clusterYaml(opts.shared));
  if (opts.shared) await writeFile(path.join(manifests, 'shared.yaml'), sharedInstanceYaml());
  await writeFile(path.join(manifests, 'nodes.yaml'), nodesYaml(opts.nodes));
  await writeFile(path.join(manifests, 'instances.yaml'), instancesYaml(opts.instances, opts.nodes));
  const sim = new SimCluster(Array.from({ length: opts.nodes }, (_, i) => `node${i + 1}`), opts.shared ? { sharedDirs: [SHARED_DIR] } : {});
  const c: SimRapiCluster = {
    dir, manifests, stateDir, sim,
    async apply() {
      const { state, errors } = await loadDesired([manifests]);
      if (!state) throw new Error(errors.map(formatLoadError).join('\n'));
      const res = await reconcileOnce(state, { logger: silentLogger(), ops: sim.nodes, stateDir }, { apply: true, command: 'test' });
      const failed = res.report?.results.filter((r) => !r.ok) ?? [];
      if (failed.length) throw new Error(`simulated apply failed: ${failed.map((f) => `${f.action.verb} ${f.action.subject}: ${f.error?.message}`).join('; ')}`);
      return state;
    },
    async cleanup() {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await c.apply();
  return c;
}
