/**
 * Deterministic (seeded) generator of unbalanced Ganeti clusters in the htools
 * text format, for `npm run bench:place`.
 *
 * Shape: `groups` node groups of `nodesPerGroup` nodes; `instances` instances
 * spread over the groups, mostly DRBD, a few plain; a fifth of each group's
 * nodes are new and empty, the rest are loaded with a skewed random placement
 * (what a cluster looks like after hardware was added). Node memory and disk are
 * sized so the group is about half full. Some instances carry exclusion tags.
 *
 *   npx tsx bench/gen-cluster.ts --seed 1 --groups 1 --nodes 30 --instances 900 > c.data
 */
import { prng as rng } from './prng.js';

export { rng };

export interface GenSpec {
  readonly seed: number;
  readonly groups: number;
  readonly nodesPerGroup: number;
  readonly instances: number;
  /** Fraction of DRBD instances (rest plain). Default 0.9. */
  readonly drbdRatio?: number;
  /** Fraction of instances with an exclusion tag. Default 0.1. */
  readonly exclRatio?: number;
}


function pick<T>(r: () => number, xs: readonly T[], ws: readonly number[]): T {
  const tot = ws.reduce((a, b) => a + b, 0);
  let x = r() * tot;
  for (let i = 0; i < xs.length; i++) {
    x -= ws[i]!;
    if (x <= 0) return xs[i]!;
  }
  return xs[xs.length - 1]!;
}

const POLICY = '128,1,1024,1,1,1|128,1,1024,1,1,1;65536,16,1048576,16,8,12|drbd,plain,diskless,file,sharedfile,blockdev,rbd,ext|4.0|32.0';

export function generateCluster(spec: GenSpec): string {
  const r = rng(spec.seed);
  const drbdRatio = spec.drbdRatio ?? 0.9;
  const exclRatio = spec.exclRatio ?? 0.1;
  const groupLines: string[] = [];
  const nodeLines: string[] = [];
  const instLines: string[] = [];
  const policyLines: string[] = [`|${POLICY}`];
  let instNo = 0;
  for (let g = 0; g < spec.groups; g++) {
    const gname = `group-${String(g + 1).padStart(2, '0')}`;
    const guuid = `uuid-${gname}`;
    groupLines.push(`${gname}|${guuid}|preferred||`);
    policyLines.push(`${gname}|${POLICY}`);
    const nInst = Math.floor(spec.instances / spec.groups) + (g < spec.instances % spec.groups ? 1 : 0);
    const N = spec.nodesPerGroup;
    interface I { name: string; mem: number; dsk: number; vcpus: number; drbd: boolean; tags: string; status: string }
    const insts: I[] = [];
    for (let i = 0; i < nInst; i++) {
      const mem = pick(r, [512, 1024, 2048, 4096, 8192, 16384], [2, 4, 4, 3, 2, 1]);
      const dsk = pick(r, [10240, 20480, 51200, 102400, 204800], [3, 4, 3, 2, 1]);
      const vcpus = pick(r, [1, 2, 4, 8], [4, 4, 2, 1]);
      const drbd = r() < drbdRatio;
      const tags = r() < exclRatio ? `service:svc${Math.floor(r() * 25)}` : '';
      const status = r() < 0.97 ? 'running' : 'ADMIN_down';
      insts.push({ name: `inst-${String(++instNo).padStart(5, '0')}`, mem, dsk, vcpus, drbd, tags, status });
    }
    const memTot = insts.reduce((a, x) => a + x.mem, 0);
    const dskTot = insts.reduce((a, x) => a + x.dsk * (x.drbd ? 2 : 1), 0);
    // about half full on average, but the loaded 80% of nodes carry everything
    const nodeMem = Math.max(65536, Math.ceil((memTot / N / 0.5) / 16384) * 16384);
    const nodeDsk = Math.max(1048576, Math.ceil((dskTot / N / 0.5) / 262144) * 262144);
    const nodeMemOf = (n: number): number => (n % 3 === 2 ? nodeMem * 1.5 : nodeMem);
    const loaded = Math.max(2, Math.ceil(N * 0.8));
    const weight = Array.from({ length: N }, (_, n) => (n < loaded ? 0.3 + r() * r() * 3 : 0));
    const usedMem = new Array<number>(N).fill(0);
    const usedDsk = new Array<number>(N).fill(0);
    const nodeNames = Array.from({ length: N }, (_, n) => `node-${String(g + 1).padStart(2, '0')}-${String(n + 1).padStart(3, '0')}`);
    const placed: string[] = [];
    for (const x of insts) {
      let p = -1;
      for (let tries = 0; tries < 50 && p < 0; tries++) {
        const c = pick(r, [...Array(N).keys()], weight);
        if (usedMem[c]! + x.mem < nodeMemOf(c) * 0.9 && usedDsk[c]! + x.dsk < nodeDsk * 0.95) p = c;
      }
      if (p < 0) {
        p = usedMem.indexOf(Math.min(...usedMem.slice(0, loaded)));
      }
      let s = -1;
      if (x.drbd) {
        for (let tries = 0; tries < 50 && s < 0; tries++) {
          const c = pick(r, [...Array(N).keys()], weight);
          if (c !== p && usedDsk[c]! + x.dsk < nodeDsk * 0.95) s = c;
        }
        if (s < 0) s = (p + 1) % loaded;
        usedDsk[s]! += x.dsk;
      }
      if (x.status === 'running') usedMem[p]! += x.mem;
      usedDsk[p]! += x.dsk;
      placed.push(`${x.name}|${x.mem}|${x.dsk}|${x.vcpus}|${x.status}|Y|${nodeNames[p]}|${s >= 0 ? nodeNames[s] : ''}|${x.drbd ? 'drbd' : 'plain'}|${x.tags}|1`);
    }
    for (let n = 0; n < N; n++) {
      const tmem = nodeMemOf(n);
      const nmem = 4096;
      const fmem = tmem - nmem - usedMem[n]!;
      nodeLines.push(`${nodeNames[n]}|${tmem}|${nmem}|${fmem}|${nodeDsk}|${nodeDsk - usedDsk[n]!}|48|N|${guuid}|12||N|0|1|1.0`);
    }
    instLines.push(...placed);
  }
  return [
    groupLines.join('\n') + '\n',
    nodeLines.join('\n') + '\n',
    instLines.join('\n') + '\n',
    'htools:iextags:service\n',
    policyLines.join('\n') + '\n',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k: string, d: number): number => {
    const i = process.argv.indexOf(`--${k}`);
    return i >= 0 ? Number(process.argv[i + 1]) : d;
  };
  process.stdout.write(generateCluster({
    seed: arg('seed', 1), groups: arg('groups', 1), nodesPerGroup: arg('nodes', 10), instances: arg('instances', 150),
  }));
}
