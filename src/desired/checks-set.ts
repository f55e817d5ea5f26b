/**
 * Checks across resources of a set that the schema cannot express: subnets that collide on
 * one link, a group that connects a network twice, an instance policy that contradicts
 * itself, placements next to an instance they exclude, and sizes no
 * node of the group could hold. Pure; each problem is reported once, on the resource that
 * causes it (a broken policy on its Cluster or NodeGroup, never on every instance).
 */
import ipaddr from 'ipaddr.js';
import type { IPolicy, ISpec, PathSegment } from '../api/index.js';
import type { ErrAt } from './checks.js';
import type { DesiredNode, IPolicyEff, ISpecEff } from './model.js';

/** A subnet of either family as parsed; undefined when it does not parse (reported elsewhere). */
function parseAny(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  try { return ipaddr.parseCIDR(cidr); } catch { return undefined; }
}

/** A /0 subnet: every address would be on this network, including the node's own and the internet's. */
export function checkSubnetSpan(path: PathSegment[], cidr: string | undefined, err: ErrAt): void {
  if (cidr === undefined) return;
  if (parseAny(cidr)?.[1] === 0) err(path, 'invalid-value', `subnet ${cidr} covers the whole address space: give the network its own prefix (like 10.0.0.0/24)`);
}

/** Whether two CIDRs of the same family share any address. */
export function subnetsOverlap(a: string, b: string): boolean {
  const x = parseAny(a), y = parseAny(b);
  if (!x || !y || x[0].kind() !== y[0].kind()) return false;
  const [[ax, ap], [bx, bp]] = [x, y] as [[ipaddr.IPv4, number], [ipaddr.IPv4, number]];
  return ax.match(bx, bp) || bx.match(ax, ap);
}

export interface LinkedSubnet {
  readonly name: string;
  /** The bridge, OVS switch or routing table its NICs land on. */
  readonly link: string | undefined;
  readonly subnets: readonly (string | undefined)[];
  /** Where to report (this network's subnet field), and how. */
  readonly err: ErrAt;
  readonly path: PathSegment[];
}

/**
 * Two networks on one link whose subnets overlap: their guests would answer for each other's
 * addresses. `reported` skips a pair already reported elsewhere (a group's connections that
 * keep both networks' own links were checked on the Networks).
 */
export function checkOverlaps(nets: readonly LinkedSubnet[], reported: (a: string, b: string) => boolean = () => false): void {
  for (const [j, b] of nets.entries()) {
    if (b.link === undefined) continue;
    const a = nets.slice(0, j).find((x) => x.link === b.link && !reported(x.name, b.name) && x.subnets.some((s) => b.subnets.some((t) => s !== undefined && t !== undefined && subnetsOverlap(s, t))));
    if (a) b.err(b.path, 'invalid-value', `subnet of network ${b.name} overlaps network ${a.name}'s on link ${b.link}: one link carries one address plan (give one of them another link or a disjoint subnet)`);
  }
}

/** The same network connected twice to a group (Ganeti: one connection per group and network). */
export function checkConnectedOnce(conns: readonly { network: string }[], err: ErrAt): void {
  const seen = new Map<string, number>();
  for (const [i, c] of conns.entries()) {
    const first = seen.get(c.network);
    if (first !== undefined) err(['spec', 'networks', i, 'network'], 'duplicate-name', `network ${c.network} is already connected to this group by networks[${first}]`);
    else seen.set(c.network, i);
  }
}

const SPEC_FIELDS = ['memory', 'vcpus', 'diskSize', 'diskCount', 'nicCount', 'spindleUse'] as const;

/**
 * A policy layer (Cluster or NodeGroup spec.ipolicy) whose effective min exceeds its max or
 * whose std lies outside min..max; reported on the field the layer sets. Returns false when
 * the policy is broken (instances are then not checked against it, to avoid a cascade).
 */
export function checkIPolicyLayer(layer: IPolicy | undefined, eff: IPolicyEff, err: ErrAt): boolean {
  if (!layer) return true;
  let ok = true;
  const at = (spec: 'minSpec' | 'maxSpec' | 'stdSpec', f: keyof ISpecEff, ...others: ('minSpec' | 'maxSpec' | 'stdSpec')[]): PathSegment[] => {
    const set = [spec, ...others].find((s) => (layer[s] as ISpec | undefined)?.[f] !== undefined) ?? spec;
    return ['spec', 'ipolicy', set, f];
  };
  for (const f of SPEC_FIELDS) {
    const { minSpec: lo, maxSpec: hi, stdSpec: std } = eff;
    if (lo[f] > hi[f]) { ok = false; err(at('minSpec', f, 'maxSpec'), 'invalid-value', `instance policy ${f}: min ${lo[f]} is larger than max ${hi[f]}`); continue; }
    if (std[f] < lo[f] || std[f] > hi[f]) { ok = false; err(at('stdSpec', f, 'minSpec', 'maxSpec'), 'invalid-value', `instance policy ${f}: std ${std[f]} is outside min..max (${lo[f]}..${hi[f]})`); }
  }
  return ok;
}

/** Exclusion tags per primary node: instances that share one must not share a primary (htools' iextags). */
export class ExclusionRegistry {
  private readonly taken = new Map<string, string>();
  check(instance: string, primary: string | undefined, tags: readonly string[], err: ErrAt): void {
    if (primary === undefined) return;
    for (const t of tags) {
      const other = this.taken.get(`${primary}|${t}`);
      if (other !== undefined) { err(['spec', 'placement', 'primary'], 'placement-conflict', `instance ${other} with exclusion tag ${t} is already placed on ${primary}: instances sharing an exclusion tag need different primary nodes`); return; }
    }
    for (const t of tags) this.taken.set(`${primary}|${t}`, instance);
  }
}

/**
 * Memory and vCPUs larger than any candidate node could hold. Judged only when every
 * candidate declares the figure (a node without spec.memory is unknown, never zero).
 */
export function checkFits(
  want: { memory: number; vcpus: number; memoryPath: PathSegment[]; vcpusPath: PathSegment[] },
  candidates: readonly DesiredNode[], vcpuRatio: number, where: string, err: ErrAt,
): void {
  if (candidates.length === 0) return;
  const mem = candidates.map((n) => n.memory);
  if (mem.every((m) => m !== undefined)) {
    const most = Math.max(...(mem as number[]));
    if (want.memory > most) err(want.memoryPath, 'invalid-value', `memory ${want.memory} MiB is more than any node of ${where} has (largest: ${most} MiB)`);
  }
  const cpus = candidates.map((n) => n.cpus);
  if (cpus.every((c) => c !== undefined)) {
    const most = Math.max(...(cpus as number[])) * vcpuRatio;
    if (want.vcpus > most) err(want.vcpusPath, 'invalid-value', `vcpus ${want.vcpus} is more than any node of ${where} can run (largest: ${most / vcpuRatio} CPUs x vcpuRatio ${vcpuRatio})`);
  }
}

/** An image+ OS installs by copying the OS parameter `image` onto the first disk: without it there is nothing to install. */
export function checkImageOs(os: { name: string; params?: Readonly<Record<string, unknown>> }, err: ErrAt): void {
  if (os.name.startsWith('image+') && os.params?.image === undefined) {
    err(['spec', 'os', 'name'], 'invalid-value', `OS ${os.name} installs from an image file and needs the OS parameter "image" (its path on the node, like os.params.image: /srv/gantry/images/debian-12.img)`);
  }
}
