/**
 * Seeded generator of IAllocator requests on exclusive-storage clusters, for
 * the parity tests against the real hail: consistent node figures (free memory,
 * disk and spindles follow from the instances placed), one to three groups,
 * policies with one or two min/max pairs, offline and drained nodes, and every
 * request type hail answers. Same seed, same requests.
 */

import { prng } from '../../util/prng.js';

type J = Record<string, unknown>;

interface Pick {
  int(lo: number, hi: number): number;
  of<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

function picker(r: () => number): Pick {
  return {
    int: (lo, hi) => lo + Math.floor(r() * (hi - lo + 1)),
    of: <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!,
    chance: (p) => r() < p,
  };
}

function spec(m: number, c: number, d: number, dc: number, n: number, s: number): J {
  return { 'memory-size': m, 'cpu-count': c, 'disk-size': d, 'disk-count': dc, 'nic-count': n, 'spindle-use': s };
}

function ipolicy(pk: Pick): J {
  const mins = [spec(128, 1, 128, 1, 1, 1), spec(512, 1, 1024, 1, 1, 1), spec(1024, 2, 10240, 1, 1, 1)];
  const pairs = pk.chance(0.3)
    ? [{ min: mins[0], max: spec(4096, 4, 20480, 4, 8, 4) }, { min: mins[2], max: spec(32768, 8, 1048576, 16, 8, 12) }]
    : [{ min: pk.of(mins.slice(0, 2)), max: spec(32768, 8, 1048576, 16, 8, 12) }];
  return {
    std: spec(1024, 1, 1024, 1, 1, 1), minmax: pairs, 'vcpu-ratio': pk.of([4.0, 4.0, 2.0]), 'spindle-ratio': 32.0,
    'disk-templates': ['drbd', 'plain', 'diskless', 'file', 'sharedfile'],
  };
}

interface NodeAcc {
  name: string; group: string; mem: number; res: number; used: number; disk: number; usedDisk: number;
  spn: number; usedSpn: number; cpus: number; excl: boolean; offline: boolean; drained: boolean;
}

interface InstAcc { name: string; dt: 'drbd' | 'plain'; mem: number; disks: number[]; spn: number; nodes: string[]; up: boolean }

function dsk(dt: string, disks: readonly number[]): number {
  return disks.reduce((a, b) => a + b, 0) + (dt === 'drbd' ? 128 * disks.length : 0);
}

function instanceJson(i: InstAcc): J {
  return {
    memory: i.mem, vcpus: 1, disk_template: i.dt, disks: i.disks.map((size) => ({ size, mode: 'rw', spindles: i.spn })),
    disk_space_total: dsk(i.dt, i.disks), nodes: i.nodes, admin_state: i.up ? 'up' : 'down', admin_state_source: 'admin',
    tags: [], nics: [], spindle_use: 1, hypervisor: 'kvm', os: 'debian',
  };
}

function newInstanceRequest(pk: Pick, name: string): J {
  const dt = pk.of(['drbd', 'drbd', 'plain'] as const);
  const disks = pk.chance(0.2) ? [pk.of([2048, 10240]), 4096] : [pk.of([1024, 10240, 51200])];
  const spn = pk.int(1, 2);
  return {
    name, memory: pk.of([512, 1024, 2048, 4096]), vcpus: pk.int(1, 2), disk_template: dt,
    disks: disks.map((size) => ({ size, mode: 'rw', spindles: spn })), disk_space_total: dsk(dt, disks),
    tags: [], nics: [], spindle_use: 1, required_nodes: dt === 'drbd' ? 2 : 1, hypervisor: 'kvm', os: 'debian',
  };
}

export interface GeneratedRequest {
  readonly name: string;
  readonly request: J;
}

/**
 * One request: `kind` picks the request type; `mixed` puts one node without
 * exclusive storage into an allocatable group (so hail uses its normal
 * allocator, not the dedicated one).
 */
export function exclRequest(seed: number, kind: 'allocate' | 'multi-allocate' | 'relocate' | 'node-evacuate' | 'change-group', mixed = false): GeneratedRequest {
  const pk = picker(prng(seed)); // the project's seeded PRNG: same seed, same requests
  const nGroups = kind === 'change-group' ? 2 : pk.of([1, 1, 1, 2]);
  const groups: Record<string, J> = {};
  for (let g = 0; g < nGroups; g++) {
    groups[`uuid-${g}`] = {
      name: g === 0 ? 'default' : `g${g}`, alloc_policy: g === 0 ? 'preferred' : pk.of(['preferred', 'last_resort', 'unallocable']),
      networks: [], tags: [], ipolicy: ipolicy(pk),
    };
  }
  const nNodes = pk.int(kind === 'allocate' ? 2 : 3, 12);
  const nodes: NodeAcc[] = [];
  for (let i = 0; i < nNodes; i++) {
    const mem = pk.of([8192, 16384, 32768]);
    nodes.push({
      name: `node${String(i + 1).padStart(2, '0')}`, group: `uuid-${i < 2 ? 0 : pk.int(0, nGroups - 1)}`, mem, res: 1024, used: 0,
      disk: pk.of([204800, 409600]), usedDisk: 0, spn: pk.int(1, 6), usedSpn: 0, cpus: pk.of([4, 8]), excl: true,
      offline: false, drained: false,
    });
  }
  if (mixed) nodes[pk.int(0, 1)]!.excl = false;
  const insts: InstAcc[] = [];
  const nInst = pk.int(0, nNodes * 2);
  for (let k = 0; k < nInst; k++) {
    const dt = pk.of(['drbd', 'drbd', 'plain'] as const);
    const disks = [pk.of([1024, 4096, 10240])];
    const spn = pk.int(1, 2);
    const p = nodes[pk.int(0, nNodes - 1)]!;
    const peers = nodes.filter((n) => n !== p && n.group === p.group);
    if (dt === 'drbd' && peers.length === 0) continue;
    const s = dt === 'drbd' ? pk.of(peers) : null;
    const mem = pk.of([512, 1024, 2048]);
    const up = pk.chance(0.85);
    const on = [p, ...(s ? [s] : [])];
    if (p.mem - p.res - p.used - (up ? mem : 0) < 512) continue;
    if (on.some((n) => n.excl && n.spn - n.usedSpn < spn)) continue;
    if (on.some((n) => n.disk - n.usedDisk < dsk(dt, disks))) continue;
    if (up) p.used += mem;
    for (const n of on) { n.usedDisk += dsk(dt, disks); if (n.excl) n.usedSpn += spn; }
    insts.push({ name: `inst${String(k + 1).padStart(2, '0')}`, dt, mem, disks, spn, nodes: on.map((n) => n.name), up });
  }
  const down = pk.int(0, 9); // 0-1: one node offline, 2-3: one node drained
  if (nNodes > 2 && down < 4) {
    const n = nodes[pk.int(2, nNodes - 1)]!;
    if (down < 2) n.offline = true;
    else n.drained = true;
  }
  const nodesJ: Record<string, J> = {};
  for (const n of nodes) {
    nodesJ[n.name] = {
      total_memory: n.mem, reserved_memory: n.res, free_memory: n.mem - n.res - n.used, total_disk: n.disk,
      free_disk: n.disk - n.usedDisk, total_cpus: n.cpus, reserved_cpus: 1, offline: n.offline, drained: n.drained,
      vm_capable: true, master_capable: true, master_candidate: true, group: n.group, tags: [],
      primary_ip: '192.0.2.1', secondary_ip: '198.51.100.1', i_pri_memory: n.used, i_pri_up_memory: n.used,
      ndparams: { spindle_count: 1, exclusive_storage: n.excl, oob_program: null },
      total_spindles: n.excl ? n.spn : 0, free_spindles: n.excl ? n.spn - n.usedSpn : 0,
    };
  }
  const instJ = Object.fromEntries(insts.map((i) => [i.name, instanceJson(i)]));
  let req: J;
  const drbd = insts.filter((i) => i.dt === 'drbd');
  switch (kind) {
    case 'allocate':
      req = { type: 'allocate', ...newInstanceRequest(pk, 'new1') };
      if (pk.chance(0.15)) req['group_name'] = 'default';
      break;
    case 'multi-allocate':
      req = { type: 'multi-allocate', instances: Array.from({ length: pk.int(2, 4) }, (_, j) => newInstanceRequest(pk, `new${j + 1}`)) };
      break;
    case 'relocate': {
      const i = drbd.length ? pk.of(drbd) : null;
      req = i
        ? { type: 'relocate', name: i.name, relocate_from: [i.nodes[1]], required_nodes: 1, disk_space_total: dsk(i.dt, i.disks) }
        : { type: 'allocate', ...newInstanceRequest(pk, 'new1') };
      break;
    }
    case 'node-evacuate': {
      const n = pk.of(nodes);
      const mode = pk.of(['all', 'primary-only', 'secondary-only']);
      const on = insts.filter((i) => (mode === 'secondary-only' ? i.nodes[1] === n.name
        : mode === 'primary-only' ? i.nodes[0] === n.name : i.nodes.includes(n.name)));
      req = { type: 'node-evacuate', instances: on.map((i) => i.name), evac_mode: mode };
      break;
    }
    case 'change-group': {
      const on = insts.filter((i) => nodes.find((n) => n.name === i.nodes[0])!.group === 'uuid-0');
      req = { type: 'change-group', instances: on.slice(0, 3).map((i) => i.name), target_groups: ['uuid-1'] };
      break;
    }
  }
  return {
    name: `${kind}${mixed ? '-mixed' : ''}-${seed}`,
    request: {
      cluster_tags: [], cluster_name: 'cluster', enabled_hypervisors: ['kvm'], ipolicy: ipolicy(pk),
      nodegroups: groups, nodes: nodesJ, instances: instJ, request: req,
    },
  };
}
