/**
 * The fault campaign's world: a small seeded cluster written as manifests (one file per
 * instance, like a Git checkout), the operator's edits to them between passes, and the
 * desired state a controller reads from them, whole or truncated mid-checkout.
 * Manifests go through the real parser and builder (desired/), so the campaign runs what
 * `gantry run` runs.
 */
import { stringify } from 'yaml';
import { buildDesired, type ManifestResource } from '../../desired/build.js';
import { formatLoadError } from '../../desired/errors.js';
import { parseManifestText } from '../../desired/load.js';
import type { DesiredState } from '../../desired/model.js';

export const SHARED_DIR = '/srv/gantry/shared';
export const FILE_DIR = '/srv/gantry/file';
export const VG = 'vg0';
export const PV = '/dev/sdb';

type Doc = Record<string, unknown>;

/** An Instance manifest as the campaign edits it (a plain object, written to YAML). */
export interface InstanceDoc {
  apiVersion: string;
  kind: 'Instance';
  metadata: { name: string };
  spec: {
    os: { name: string; generation?: number };
    diskTemplate: 'plain' | 'file' | 'sharedfile' | 'drbd';
    disks: { size: string }[];
    nics: { network: string; ip: string }[];
    placement?: { primary?: string; secondary?: string };
    powerState: 'running' | 'stopped';
    restartGeneration?: number;
    hvParams?: { vncBindAddress?: string };
    state?: 'present' | 'absent';
    deleteDisks?: boolean;
    tags?: string[];
    autoRepair?: { repair?: 'fix-storage' | 'migrate' | 'failover' | 'reinstall' };
  };
}

export interface WorldShape {
  readonly nodes: readonly string[];
  readonly removeOrphans: boolean;
  readonly drbd: boolean;
  readonly migration: 'live' | 'non-live';
  /** Cluster autoRepair.failover with an out-of-band program on every node: the controller fences and fails over. */
  readonly failover: boolean;
}

const REPAIR_KINDS = ['fix-storage', 'migrate', 'failover', 'reinstall'] as const;
const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/**
 * The manifests of one campaign: the operator's truth. `instanceFiles` are in checkout
 * order; a truncated checkout is a prefix of them.
 */
export class World {
  readonly shape: WorldShape;
  readonly instances = new Map<string, InstanceDoc>();
  /** Node spec.role by node (drained, offline); unset nodes are regular. */
  readonly roles = new Map<string, 'drained' | 'offline'>();
  private nextInstance = 0;
  private readonly parsed = new Map<string, ManifestResource[]>();
  /** Desired states by checkout content: the same files build the same state (the planner never mutates it). */
  private readonly built = new Map<string, DesiredState>();

  /**
   * `count` instances are generated (default 4-8, seeded); tests pass 0 and add their own.
   * `repairR`: a second seeded stream that gives about 4 in 10 new instances (7 in 10 DRBD ones) a harep type
   * (spec.autoRepair.repair: fix-storage, migrate, failover or reinstall), apart from `r` so
   * the rest of the world draws as it did without it.
   */
  constructor(private readonly r: () => number, shape?: Partial<WorldShape>, count?: number, private readonly repairR?: () => number) {
    const nodes = Array.from({ length: shape?.nodes?.length ?? int(r, 3, 4) }, (_, i) => shape?.nodes?.[i] ?? `n${i + 1}`);
    this.shape = {
      nodes,
      removeOrphans: shape?.removeOrphans ?? r() < 0.5,
      drbd: shape?.drbd ?? r() < 0.5, // half the worlds model DRBD (secondary-loss and fix-storage need it)
      migration: shape?.migration ?? (r() < 0.8 ? 'live' : 'non-live'),
      failover: shape?.failover ?? r() < 0.5,
    };
    const n = count ?? int(r, 4, 8);
    for (let i = 0; i < n; i++) this.addInstance();
  }

  /** A new instance, pinned to a node or left to the allocator; `spec` overrides what the seed chose. */
  addInstance(spec?: Partial<InstanceDoc['spec']>): InstanceDoc {
    const r = this.r;
    const templates: InstanceDoc['spec']['diskTemplate'][] = ['sharedfile', 'sharedfile', 'file', 'plain', ...(this.shape.drbd ? ['drbd' as const] : [])];
    const diskTemplate = pick(r, templates);
    const name = `vm${this.nextInstance++}`;
    const primary = r() < 0.5 ? pick(r, this.shape.nodes) : undefined;
    const doc: InstanceDoc = {
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name },
      spec: {
        os: { name: 'debootstrap+default' },
        diskTemplate,
        disks: Array.from({ length: r() < 0.25 ? 2 : 1 }, () => ({ size: `${int(r, 1, 4) * 64}M` })),
        nics: [{ network: 'net1', ip: 'pool' }],
        ...(primary !== undefined ? { placement: { primary } } : {}),
        powerState: r() < 0.85 ? 'running' : 'stopped',
        ...(r() < 0.5 ? { hvParams: { vncBindAddress: '127.0.0.1' } } : {}), // half of them get a VNC display the invariants check
      },
    };
    const rr = this.repairR;
    // DRBD instances more often (7 in 10): secondary-loss faults then meet harep's fix-storage.
    if (rr !== undefined && rr() < (diskTemplate === 'drbd' ? 0.7 : 0.4)) doc.spec.autoRepair = { repair: pick(rr, REPAIR_KINDS) };
    if (spec !== undefined) {
      doc.spec = { ...doc.spec, ...spec };
      if (spec.placement === undefined && 'placement' in spec) delete doc.spec.placement;
    }
    this.instances.set(name, doc);
    return doc;
  }

  /**
   * Whether the operator allowed an instance's disks to go: it is declared absent with
   * deleteDisks, or it is no longer declared at all and the cluster opted in to orphan removal.
   */
  removalAllowed(instance: string): boolean {
    const d = this.instances.get(instance);
    if (d === undefined) return this.shape.removeOrphans;
    return d.spec.state === 'absent' && d.spec.deleteDisks === true;
  }

  /** How many instance files a full checkout has. */
  instanceFileCount(): number {
    return this.instances.size;
  }

  /** Checkout order: the fixed files, then one file per instance. */
  files(): [string, string][] {
    return [
      ['cluster.yaml', yamlOf([this.clusterDoc()])],
      ['group.yaml', yamlOf([this.groupDoc()])],
      ['networks.yaml', yamlOf([this.networkDoc()])],
      ['nodes.yaml', yamlOf(this.shape.nodes.map((n, i) => this.nodeDoc(n, i)))],
      ...[...this.instances.values()].map((d): [string, string] => [`instances/${d.metadata.name}.yaml`, yamlOf([d as unknown as Doc])]),
    ];
  }

  /** The desired state of the whole set, or of the first `keepInstanceFiles` instance files (a checkout cut short). */
  desired(keepInstanceFiles?: number): DesiredState {
    const all = this.files();
    const files = keepInstanceFiles === undefined ? all : all.slice(0, 4 + keepInstanceFiles);
    const key = files.map(([f, t]) => `${f}\0${t}`).join('\0');
    const cached = this.built.get(key);
    if (cached !== undefined) return cached;
    const resources: ManifestResource[] = [];
    for (const [file, text] of files) resources.push(...this.parse(file, text));
    const built = buildDesired(resources);
    if (!built.state) throw new Error(`campaign manifests are invalid:\n${built.errors.map(formatLoadError).join('\n')}`);
    if (this.built.size > 64) this.built.clear();
    this.built.set(key, built.state);
    return built.state;
  }

  private parse(file: string, text: string): ManifestResource[] {
    const key = `${file}\0${text}`;
    let got = this.parsed.get(key);
    if (got === undefined) {
      const p = parseManifestText(file, text);
      if (p.errors.length > 0) throw new Error(`campaign manifest ${file} is invalid:\n${p.errors.map(formatLoadError).join('\n')}`);
      got = p.resources;
      this.parsed.set(key, got);
    }
    return got;
  }

  private clusterDoc(): Doc {
    return {
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Cluster', metadata: { name: 'campaign' },
      spec: {
        enabledHypervisors: ['kvm'],
        enabledDiskTemplates: ['sharedfile', 'file', 'plain', 'diskless', ...(this.shape.drbd ? ['drbd'] : [])],
        hvParams: { kvm: { accel: 'tcg' } },
        beParams: { vcpus: 1, memory: '256M' },
        storage: { volumeGroup: VG, fileStorageDir: FILE_DIR, sharedFileStorageDir: SHARED_DIR },
        migration: { mode: this.shape.migration, bandwidthMiBps: 100, downtimeMs: 300 },
        ipolicy: {
          minSpec: { memory: '64M', vcpus: 1, diskSize: '16M', diskCount: 0, nicCount: 0 },
          stdSpec: { memory: '256M', vcpus: 1, diskSize: '64M', diskCount: 1, nicCount: 1 },
        },
        watcher: { restartErrorDown: true, maxRestarts: 5, backoffSeconds: 10, healthySeconds: 300 },
        ...(this.shape.failover ? { autoRepair: { failover: true } } : {}),
        orphans: { remove: this.shape.removeOrphans },
        macPrefix: 'aa:00:18',
      },
    };
  }

  private groupDoc(): Doc {
    return {
      apiVersion: 'gantry.dev/v1alpha1', kind: 'NodeGroup', metadata: { name: 'default' },
      spec: {
        allocPolicy: 'preferred',
        nodeProfile: {
          bridges: [{ name: 'br0' }],
          volumeGroups: [{ name: VG, pvs: [PV] }],
          sysctls: { 'net.ipv4.ip_forward': '1' },
        },
      },
    };
  }

  private networkDoc(): Doc {
    // A small pool (46 addresses) so allocation really competes for addresses.
    return {
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Network', metadata: { name: 'net1' },
      spec: { mode: 'bridged', link: 'br0', subnet: '198.18.200.0/26', gateway: '198.18.200.1', reservedIps: ['198.18.200.2-198.18.200.17'] },
    };
  }

  private nodeDoc(name: string, i: number): Doc {
    return {
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Node', metadata: { name },
      spec: {
        address: `198.18.0.${10 + i}`, secondaryAddress: `198.19.0.${10 + i}`, paths: { runDir: '/var/lib/gantry/instances', fileStorageDir: FILE_DIR },
        ...(this.roles.has(name) ? { role: this.roles.get(name) } : {}),
        // The campaign's controller fences through its own power control (faults.ts); the program is what the planner requires.
        ...(this.shape.failover ? { oob: { program: ['/usr/local/sbin/bmc-power'] } } : {}),
      },
    };
  }
}

const yamlCache = new Map<string, string>();

/** YAML of the documents; the campaign writes the same documents every pass, so texts are cached by content. */
function yamlOf(docs: readonly Doc[]): string {
  const key = JSON.stringify(docs);
  let text = yamlCache.get(key);
  if (text === undefined) {
    text = docs.map((d) => `---\n${stringify(d, { lineWidth: 0 })}`).join('');
    if (yamlCache.size > 10_000) yamlCache.clear();
    yamlCache.set(key, text);
  }
  return text;
}
