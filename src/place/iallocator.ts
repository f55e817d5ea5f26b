/**
 * Ganeti's IAllocator protocol (what `hail` speaks): a JSON request describing
 * the cluster plus one request (allocate, allocate-secondary, multi-allocate,
 * relocate, node-evacuate, change-group) in; a JSON answer
 * {success, info, result} out. Pure: strings/values in and out.
 */
import { allocateInstance, describeFails } from './allocate.js';
import { allocateDedicated, isDedicated } from './dedicated.js';
import { ClusterState } from './state.js';
import { policyViolation } from './policy.js';
import {
  type DiskTemplate, type FailCounts, type FailReason, type InstanceStatus, type IPolicy, type ISpec,
  type PlaceCluster, type PlaceGroup, type PlaceInstance, type PlaceNode,
  DEFAULT_IPOLICY, DISK_TEMPLATES, emptyFailCounts,
} from './types.js';

type J = Record<string, unknown>;

export class IAllocatorError extends Error {
  override readonly name = 'IAllocatorError';
}

export interface IAllocatorAnswer {
  readonly success: boolean;
  readonly info: string;
  readonly result: unknown;
}

function obj(x: unknown, what: string): J {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new IAllocatorError(`${what}: expected an object`);
  return x as J;
}
function num(o: J, k: string, what: string, def?: number): number {
  const v = o[k];
  if (v === undefined || v === null) {
    if (def !== undefined) return def;
    throw new IAllocatorError(`${what}: missing '${k}'`);
  }
  if (typeof v !== 'number') throw new IAllocatorError(`${what}: '${k}' is not a number`);
  return v;
}
function str(o: J, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new IAllocatorError(`${what}: missing or invalid '${k}'`);
  return v;
}
function strs(o: J, k: string): string[] {
  const v = o[k];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
function bool(o: J, k: string, def: boolean): boolean {
  const v = o[k];
  return typeof v === 'boolean' ? v : def;
}

function template(s: string): DiskTemplate {
  if ((DISK_TEMPLATES as readonly string[]).includes(s)) return s as DiskTemplate;
  throw new IAllocatorError(`invalid disk template '${s}'`);
}

function ispec(x: unknown, def: ISpec): ISpec {
  if (typeof x !== 'object' || x === null) return def;
  const o = x as J;
  return {
    memorySize: num(o, 'memory-size', 'ispec', def.memorySize), cpuCount: num(o, 'cpu-count', 'ispec', def.cpuCount),
    diskSize: num(o, 'disk-size', 'ispec', def.diskSize), diskCount: num(o, 'disk-count', 'ispec', def.diskCount),
    nicCount: num(o, 'nic-count', 'ispec', def.nicCount), spindleUse: num(o, 'spindle-use', 'ispec', def.spindleUse),
  };
}

function ipolicy(x: unknown, def: IPolicy): IPolicy {
  if (typeof x !== 'object' || x === null) return def;
  const o = x as J;
  const mm = Array.isArray(o['minmax']) ? (o['minmax'] as unknown[]).map((m) => {
    const mo = obj(m, 'minmax');
    return { min: ispec(mo['min'], def.minMax[0]!.min), max: ispec(mo['max'], def.minMax[0]!.max) };
  }) : def.minMax;
  return {
    minMax: mm, std: ispec(o['std'], def.std),
    diskTemplates: Array.isArray(o['disk-templates']) ? strs(o, 'disk-templates').map(template) : def.diskTemplates,
    vcpuRatio: num(o, 'vcpu-ratio', 'ipolicy', def.vcpuRatio), spindleRatio: num(o, 'spindle-ratio', 'ipolicy', def.spindleRatio),
  };
}

function adminState(s: unknown): InstanceStatus {
  if (s === 'up') return 'running';
  if (s === 'offline') return 'ADMIN_offline';
  return 'ADMIN_down';
}

function diskSizes(o: J): number[] {
  const d = o['disks'];
  if (!Array.isArray(d)) return [];
  return d.map((x) => num(obj(x, 'disk'), 'size', 'disk'));
}

function nics(o: J): { network: string | null }[] {
  const n = o['nics'];
  if (!Array.isArray(n)) return [];
  return n.map((x) => {
    const no = obj(x, 'nic');
    const net = no['network'];
    return { network: typeof net === 'string' ? net : null };
  });
}

/** Memory (MiB) htools assumes a KVM node's OS uses (hail/hbal --static-kvm-node-memory default). */
export const STATIC_KVM_NODE_MEMORY = 4096;

/** Builds the cluster described by an IAllocator request. */
export function clusterFromRequest(req: J): PlaceCluster {
  const cpol = ipolicy(req['ipolicy'], DEFAULT_IPOLICY);
  const ng = obj(req['nodegroups'] ?? {}, 'nodegroups');
  const groups: PlaceGroup[] = Object.entries(ng).map(([uuid, g]) => {
    const go = obj(g, `group ${uuid}`);
    const ap = go['alloc_policy'];
    return {
      name: typeof go['name'] === 'string' ? go['name'] : uuid, uuid,
      allocPolicy: ap === 'last_resort' || ap === 'unallocable' ? ap : 'preferred',
      tags: strs(go, 'tags'), networks: strs(go, 'networks'), ipolicy: ipolicy(go['ipolicy'], cpol),
    };
  });
  const nodesJ = obj(req['nodes'] ?? {}, 'nodes');
  // hail reads the nodes' memory as KVM nodes when KVM is the first enabled hypervisor:
  // the node OS is then taken to use a fixed amount (htools --static-kvm-node-memory,
  // default 4096 MiB), whatever `reserved_memory` says
  const hvs = strs(req, 'enabled_hypervisors');
  const kvm = hvs[0] === 'kvm';
  const nodes: PlaceNode[] = Object.entries(nodesJ).map(([name, n]) => {
    const no = obj(n, `node ${name}`);
    const offline = bool(no, 'offline', false);
    const drained = bool(no, 'drained', false);
    const vmCapable = bool(no, 'vm_capable', true);
    const live = !offline && vmCapable;
    const ndp = typeof no['ndparams'] === 'object' && no['ndparams'] !== null ? no['ndparams'] as J : {};
    const excl = bool(ndp, 'exclusive_storage', false);
    const lv = (k: string): number => (live ? num(no, k, `node ${name}`, 0) : 0);
    return {
      name, group: str(no, 'group', `node ${name}`), tMem: lv('total_memory'),
      nMem: kvm ? STATIC_KVM_NODE_MEMORY : lv('reserved_memory'),
      fMem: lv('free_memory'), tDsk: lv('total_disk'), fDsk: lv('free_disk'), tCpu: lv('total_cpus'),
      nCpu: live ? num(no, 'reserved_cpus', `node ${name}`, 1) : 0, cpuSpeed: num(ndp, 'cpu_speed', 'ndparams', 1),
      offline: !live || drained, master: false,
      tSpindles: excl ? lv('total_spindles') : num(ndp, 'spindle_count', 'ndparams', 1),
      fSpindles: lv('free_spindles'), exclStorage: excl, tags: strs(no, 'tags'),
    };
  });
  const instJ = obj(req['instances'] ?? {}, 'instances');
  const instances: PlaceInstance[] = Object.entries(instJ).map(([name, i]) => instanceFromJson(name, obj(i, `instance ${name}`)));
  return { groups, nodes, instances, clusterTags: strs(req, 'cluster_tags'), ipolicy: cpol };
}

function instanceFromJson(name: string, io: J, placed = true): PlaceInstance {
  const dt = template(str(io, 'disk_template', `instance ${name}`));
  const disks = diskSizes(io);
  const nodesL = strs(io, 'nodes');
  const sp = Array.isArray(io['disks'])
    ? (io['disks'] as unknown[]).map((d) => (d as J)['spindles']).every((x) => typeof x === 'number')
      ? (io['disks'] as J[]).reduce((a, d) => a + (d['spindles'] as number), 0) : null
    : null;
  return {
    name, mem: num(io, 'memory', `instance ${name}`), vcpus: num(io, 'vcpus', `instance ${name}`),
    dsk: num(io, 'disk_space_total', `instance ${name}`, disks.reduce((a, b) => a + b, 0)), disks,
    status: adminState(io['admin_state']), autoBalance: bool(io, 'auto_balance', true),
    pNode: placed ? nodesL[0] ?? '' : '', sNode: placed && nodesL.length > 1 ? nodesL[1]! : null,
    diskTemplate: dt, tags: strs(io, 'tags'), spindleUse: num(io, 'spindle_use', `instance ${name}`, 1),
    spindles: sp, nics: nics(io),
  };
}

function fail(info: string, result: unknown = []): IAllocatorAnswer {
  return { success: false, info: `Request failed: ${info}`, result };
}

/** Answers an IAllocator request given as parsed JSON. Never throws for request-level failures. */
export function answerRequest(input: unknown): IAllocatorAnswer {
  let c: PlaceCluster;
  let req: J;
  try {
    const top = obj(input, 'request data');
    req = obj(top['request'], 'request');
    c = clusterFromRequest(top);
  } catch (e) {
    return fail((e as Error).message);
  }
  let st: ClusterState;
  try {
    st = new ClusterState(c);
  } catch (e) {
    return fail((e as Error).message);
  }
  const type = req['type'];
  try {
    switch (type) {
      case 'allocate': return doAllocate(st, req);
      case 'multi-allocate': return doMultiAllocate(st, req);
      case 'allocate-secondary': return doAllocateSecondary(st, req);
      case 'relocate': return doRelocate(st, req);
      case 'node-evacuate': return doEvacuate(st, req, 'evac');
      case 'change-group': return doEvacuate(st, req, 'change-group');
      default: return fail(`unknown request type '${String(type)}'`);
    }
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** Text in, text out: what `gantry iallocator` prints. */
export function answerRequestText(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return JSON.stringify(fail(`invalid JSON: ${(e as Error).message}`));
  }
  return JSON.stringify(answerRequest(parsed));
}

function prefixes(st: ClusterState): string[] {
  return st.src.clusterTags.filter((t) => t.startsWith('htools:iextags:')).map((t) => t.slice('htools:iextags:'.length)).filter((p) => p !== '');
}

function newInstance(st: ClusterState, r: J): number {
  const name = str(r, 'name', 'request');
  const inst = instanceFromJson(name, { ...r, admin_state: 'up' }, false);
  return st.addInstance(inst, prefixes(st));
}

/** The group an allocation request names (`group_name`), if any. */
function groupName(r: J): string | undefined {
  const g = r['group_name'];
  return typeof g === 'string' ? g : undefined;
}

function nodeNames(st: ClusterState, p: number, s: number): string[] {
  return [st.nodes[p]!.name, ...(s >= 0 ? [st.nodes[s]!.name] : [])];
}

function doAllocate(st: ClusterState, r: J): IAllocatorAnswer {
  const ii = newInstance(st, r);
  const group = groupName(r);
  if (isDedicated(st, group)) {
    // hail on a dedicated (exclusive-storage) cluster: lost-allocations metric, no global N+1
    const out = allocateDedicated(st, ii, { pairs: st.insts[ii]!.dt === 'drbd', ...(group !== undefined ? { groupName: group } : {}) });
    if (!out.ok) return fail(out.messages.join(', '));
    const nodes = nodeNames(st, out.p, out.s);
    return { success: true, info: `Request successful: ${out.messages.join(', ')}`, result: nodes };
  }
  const gdx = group === undefined ? undefined : st.groups.filter((g) => g.name === group).map((g) => g.gdx);
  const out = allocateInstance(st, ii, { capacity: true, ...(gdx ? { groups: gdx } : {}) });
  if (!out.ok) return fail(out.messages.join(', '));
  const nodes = nodeNames(st, out.p, out.s);
  return {
    success: true,
    info: `Request successful: ${group === undefined ? `Selected group: ${st.groups[out.gdx]!.name}, ` : ''}${out.messages.join(', ')} for node(s) ${nodes.join('/')}`,
    result: nodes,
  };
}

function doMultiAllocate(st: ClusterState, r: J): IAllocatorAnswer {
  const list = (Array.isArray(r['instances']) ? r['instances'] as unknown[] : []).map((x) => obj(x, 'instance request'));
  // like hail, the group named at the top of the request applies to every instance
  const group = groupName(r);
  const ok: [string, string[]][] = [];
  const failed: string[] = [];
  if (isDedicated(st, group)) {
    // Dedicated.runDedicatedAllocation: each instance sees the previous ones, and once one is
    // placed the next ones only see its group (hail carries on with that group's node list);
    // one that cannot be placed fails the whole request
    let only: number[] | undefined;
    for (const xo of list) {
      const ii = newInstance(st, xo);
      const out = allocateDedicated(st, ii, {
        pairs: st.insts[ii]!.dt === 'drbd', ...(group !== undefined ? { groupName: group } : {}), ...(only ? { onlyGroups: only } : {}),
      });
      if (!out.ok) return fail(out.messages.join(', '));
      only = [out.gdx];
      ok.push([st.insts[ii]!.name, nodeNames(st, out.p, out.s)]);
    }
    return { success: true, info: `Request successful: 0 instances failed to allocate and ${ok.length} were allocated successfully`, result: [ok, failed] };
  }
  const gdx = group === undefined ? undefined : st.groups.filter((g) => g.name === group).map((g) => g.gdx);
  // Cluster.allocList: as in hail, an instance that fits nowhere fails the whole request
  for (const xo of list) {
    const ii = newInstance(st, xo);
    const out = allocateInstance(st, ii, { capacity: true, ...(gdx ? { groups: gdx } : {}) });
    if (!out.ok) return fail(out.messages.join(', '));
    ok.push([st.insts[ii]!.name, nodeNames(st, out.p, out.s)]);
  }
  return { success: true, info: `Request successful: 0 instances failed to allocate and ${ok.length} were allocated successfully`, result: [ok, failed] };
}

function findInstance(st: ClusterState, name: string): number {
  const i = st.insts.findIndex((x) => x.name === name);
  if (i < 0) throw new IAllocatorError(`Unknown instance '${name}'`);
  return i;
}

/** Best new secondary for a DRBD instance, not on `exclude`; applies it. */
function bestSecondary(st: ClusterState, ii: number, exclude: ReadonlySet<number>): { t: number; fails: FailCounts } {
  const p = st.pNode[ii]!;
  const s = st.sNode[ii]!;
  const gdx = st.nodes[p]!.gdx;
  const fails = emptyFailCounts();
  let best = -1;
  let bestScore = Infinity;
  for (const t of st.groups[gdx]!.nodes) {
    if (t === p || t === s || exclude.has(t) || st.nodes[t]!.offline) continue;
    st.begin();
    const r = s >= 0 ? st.applyMove(ii, 'replaceSecondary', t, false) : addSecondaryTo(st, ii, t);
    if (r) { fails[r]++; st.rollback(); continue; }
    st.rescoreTouched();
    const sc = st.groupScore(gdx);
    st.rollback();
    if (sc <= bestScore) { bestScore = sc; best = t; }
  }
  return { t: best, fails };
}

function addSecondaryTo(st: ClusterState, ii: number, t: number): FailReason | null {
  const inst = st.insts[ii]!;
  const p = st.pNode[ii]!;
  const drbd: PlaceInstance = { ...inst.src, diskTemplate: 'drbd' };
  const pol = policyViolation(drbd, st.nodes[t]!.ipolicy, st.excl[t] === 1);
  if (pol) return pol;
  // a plain instance being converted: reserve disk and memory as a DRBD secondary would
  const fake = { ...inst, dt: 'drbd' as const, mirror: 'internal' as const };
  return st.addSec(t, fake, p, false);
}

function doAllocateSecondary(st: ClusterState, r: J): IAllocatorAnswer {
  const ii = findInstance(st, str(r, 'name', 'request'));
  const { t, fails } = bestSecondary(st, ii, new Set());
  if (t < 0) return fail(`No valid allocation solutions, failure reasons: ${describeFails(fails)}`);
  return { success: true, info: 'Request successful', result: st.nodes[t]!.name };
}

function doRelocate(st: ClusterState, r: J): IAllocatorAnswer {
  const ii = findInstance(st, str(r, 'name', 'request'));
  const inst = st.insts[ii]!;
  if (inst.dt !== 'drbd') return fail(`Instance ${inst.name} has a non-DRBD disk template, relocation not supported`);
  const from = new Set(strs(r, 'relocate_from').map((n) => st.nodeByName.get(n)).filter((x): x is number => x !== undefined));
  const { t, fails } = bestSecondary(st, ii, from);
  if (t < 0) return fail(`No valid allocation solutions, failure reasons: ${describeFails(fails)}`);
  return { success: true, info: 'Request successful: success', result: [st.nodes[t]!.name] };
}

export type EvacMode = 'primary-only' | 'secondary-only' | 'all';

export interface EvacuationResult {
  readonly moved: [string, string, string[]][];
  readonly failed: [string, string][];
  readonly jobs: unknown[][];
}

function doEvacuate(st: ClusterState, r: J, kind: 'evac' | 'change-group'): IAllocatorAnswer {
  const names = strs(r, 'instances');
  const mode: EvacMode = kind === 'change-group' ? 'all'
    : r['evac_mode'] === 'primary-only' || r['evac_mode'] === 'secondary-only' ? r['evac_mode'] : 'all';
  const result = evacuateInstances(st, names, mode, kind, strs(r, 'target_groups'));
  return { success: true, info: 'Request successful', result };
}

/**
 * Node evacuation (kind 'evac': primaries failed over / secondaries replaced /
 * both, away from the instances' current nodes) or change-group (re-allocation
 * into one of `targetGroups`, default any other group). Mutates `st`.
 */
export function evacuateInstances(
  st: ClusterState, names: readonly string[], mode: EvacMode, kind: 'evac' | 'change-group', targetGroupKeys: readonly string[] = [],
): EvacuationResult {
  const idx = names.map((n) => findInstance(st, n));
  const excluded = new Set<number>();
  for (const ii of idx) {
    const p = st.pNode[ii]!;
    const s = st.sNode[ii]!;
    if (kind === 'change-group') continue;
    if (mode !== 'secondary-only') excluded.add(p);
    if (mode !== 'primary-only' && s >= 0) excluded.add(s);
  }
  const targetGroups = kind === 'change-group'
    ? targetGroupKeys.map((u) => st.groupByUuid.get(u) ?? st.groups.findIndex((g) => g.name === u)).filter((x) => x >= 0)
    : [];
  const moved: [string, string, string[]][] = [];
  const failed: [string, string][] = [];
  const jobs: unknown[][] = [];
  for (const ii of idx) {
    const inst = st.insts[ii]!;
    const p = st.pNode[ii]!;
    const s = st.sNode[ii]!;
    const before = [p, s];
    let err: string | null = null;
    if (kind === 'change-group') {
      const cur = st.nodes[p]!.gdx;
      const groups = (targetGroups.length ? targetGroups : st.groups.map((g) => g.gdx)).filter((g) => g !== cur);
      err = reallocate(st, ii, { groups });
    } else if (inst.mirror === 'none') {
      err = `Instances of type ${inst.dt} cannot be relocated`;
    } else if (inst.mirror === 'external') {
      err = mode === 'secondary-only' ? `Instances of type ${inst.dt} have no secondary` : failoverAny(st, ii, excluded);
    } else if (mode === 'primary-only') {
      st.begin();
      const rr = st.applyMove(ii, 'failover', -1, false);
      if (rr) { st.rollback(); err = `Failover failed: ${rr}`; } else { st.rescoreTouched(); st.commit(); }
    } else if (mode === 'secondary-only') {
      const { t, fails } = bestSecondary(st, ii, excluded);
      if (t < 0) err = `No valid secondary: ${describeFails(fails)}`;
      else { st.begin(); st.applyMove(ii, 'replaceSecondary', t, false); st.rescoreTouched(); st.commit(); }
    } else {
      err = evacDrbdAll(st, ii, st.nodes[p]!.gdx, excluded);
    }
    if (err) { failed.push([inst.name, err]); continue; }
    const np = st.pNode[ii]!;
    const ns = st.sNode[ii]!;
    const nodes = [st.nodes[np]!.name, ...(ns >= 0 ? [st.nodes[ns]!.name] : [])];
    moved.push([inst.name, st.groups[st.nodes[np]!.gdx]!.name, nodes]);
    jobs.push(opcodesFor(inst.name, before, [np, ns], st));
  }
  for (const g of st.groups) st.recomputeGroup(g.gdx);
  return { moved, failed, jobs };
}

/**
 * Evacuation of a DRBD instance off both its nodes (htools evacDrbdAllInner): for every
 * (new primary, new secondary) pair of the group, replace the secondary with the new
 * primary, fail over, replace the secondary with the new secondary, each step with the
 * usual checks; the pair with the lowest group score wins (the later one on a tie).
 */
function evacDrbdAll(st: ClusterState, ii: number, gdx: number, excluded: ReadonlySet<number>): string | null {
  const avail = st.groups[gdx]!.nodes.filter((t) => !excluded.has(t) && !st.nodes[t]!.offline && t !== st.pNode[ii]);
  let best: [number, number] | null = null;
  let bestScore = Infinity;
  let lastErr = 'no nodes available';
  for (const tp of avail) {
    for (const ts of avail) {
      if (tp === ts) continue;
      st.begin();
      const e = drbdAllSteps(st, ii, tp, ts);
      if (e !== null) {
        st.rollback();
        if (best === null) lastErr = `Allocation failed: ${e}`;
        continue;
      }
      st.rescoreTouched();
      const sc = st.groupScore(gdx);
      st.rollback();
      if (best === null || !(bestScore < sc)) { best = [tp, ts]; bestScore = sc; }
    }
  }
  if (best === null) return `Can't find any good nodes for relocation: ${lastErr}`;
  st.begin();
  drbdAllSteps(st, ii, best[0], best[1]);
  st.rescoreTouched();
  st.commit();
  return null;
}

function drbdAllSteps(st: ClusterState, ii: number, tp: number, ts: number): string | null {
  let r: FailReason | null;
  if (st.nodes[st.pNode[ii]!]!.offline) {
    r = st.applyMove(ii, 'failover', -1, false);
    if (r) return `Failing over to the secondary: ${r}`;
  }
  r = st.applyMove(ii, 'replaceSecondary', tp, false);
  if (r) return `Changing secondary to new primary: ${r}`;
  r = st.applyMove(ii, 'failover', -1, false);
  if (r) return `Failing over to new primary: ${r}`;
  r = st.applyMove(ii, 'replaceSecondary', ts, false);
  if (r) return `Changing secondary to final secondary: ${r}`;
  return null;
}

function failoverAny(st: ClusterState, ii: number, excluded: ReadonlySet<number>): string | null {
  const p = st.pNode[ii]!;
  const gdx = st.nodes[p]!.gdx;
  let best = -1;
  let bestScore = Infinity;
  for (const t of st.groups[gdx]!.nodes) {
    if (t === p || excluded.has(t) || st.nodes[t]!.offline) continue;
    st.begin();
    const r = st.applyMove(ii, 'failoverToAny', t, false);
    if (r === null) { st.rescoreTouched(); const sc = st.groupScore(gdx); if (sc <= bestScore) { bestScore = sc; best = t; } }
    st.rollback();
  }
  if (best < 0) return 'No valid target node';
  st.begin(); st.applyMove(ii, 'failoverToAny', best, false); st.rescoreTouched(); st.commit();
  return null;
}

/** Takes the instance off its nodes and allocates it again within the given groups/nodes. */
function reallocate(st: ClusterState, ii: number, o: { groups: number[]; excludeNodes?: number[] }): string | null {
  const p = st.pNode[ii]!;
  const s = st.sNode[ii]!;
  const gOld = st.nodes[p]!.gdx;
  st.begin();
  st.unplace(ii);
  st.rescoreTouched();
  st.commit();
  st.recomputeGroup(gOld);
  const out = allocateInstance(st, ii, { capacity: false, groups: o.groups, excludeNodes: o.excludeNodes ?? [] });
  if (out.ok) return null;
  // put it back where it was
  st.begin();
  const inst = st.insts[ii]!;
  const loc = st.locScoreOf(p, s);
  st.addPri(p, inst, true, loc);
  if (s >= 0) st.addSec(s, inst, p, true, true);
  st.setInst(ii, p, s, loc);
  st.rescoreTouched();
  st.commit();
  return `No valid allocation solutions, failure reasons: ${describeFails(out.fails)}`;
}

function opcodesFor(name: string, before: number[], after: number[], st: ClusterState): unknown[] {
  const [p0, s0] = before as [number, number];
  const [p1, s1] = after as [number, number];
  const ops: unknown[] = [];
  const nm = (i: number): string => st.nodes[i]!.name;
  if (p1 === s0 && s1 === p0) return [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: name, cleanup: false }];
  if (p1 === p0 && s1 !== s0 && s1 >= 0) {
    return [{ OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name: name, mode: 'replace_new_secondary', remote_node: nm(s1) }];
  }
  if (s0 < 0 || s1 < 0) return [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: name, target_node: nm(p1), cleanup: false }];
  // general case: new secondary = new primary, migrate, then new secondary
  if (p1 !== s0) ops.push({ OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name: name, mode: 'replace_new_secondary', remote_node: nm(p1) });
  ops.push({ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: name, cleanup: false });
  ops.push({ OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name: name, mode: 'replace_new_secondary', remote_node: nm(s1) });
  return ops;
}

export type { FailReason };
