/**
 * The incremental planner's memory (plan/plan.ts planIncremental): each instance's part of
 * the previous plan, reused when nothing it read has changed. Pure data passed in and
 * returned, never module state.
 *
 * How "nothing it read has changed" is known: while an instance is planned, every
 * cluster-wide input it can reach is a tracked map or set (observed nodes, their last
 * snapshots and conditions, node specs, where instances are, NIC allocations, failover and
 * repair records, ...). Each lookup notes (map, key); iterating a map or asking its size
 * notes (map, '*'), the whole map. After the instance is planned, each noted read gets a
 * fingerprint of what it read: a node's whole observed snapshot (a digest of all of it
 * but the probe time), a record as JSON, a whole map as the digest of all its entries. The
 * next pass reuses the instance's part when its spec and every fingerprint are the same
 * (a dynamic dependency record, like a build system's). So a key covers whatever the code
 * read, not what we think it reads; a read that misses the trackers would be a bug, and
 * the fault campaign compares the incremental plan with the full one at every step.
 *
 * Parts that depend on the order instances are planned in (a new DRBD minor or port, a
 * new VNC display, the allocator, N+1 at promotion) or on the clock (watcher backoff,
 * auto-repair, a recovered failover) are never reused: they are planned every pass.
 */
import { createHash } from 'node:crypto';
import type { ObservedNode } from '../core/observed.js';
import type { Action, DrbdMigrationDisk } from '../core/actions.js';
import type { AutoRepairDecision, FailoverRecord, FieldDiff, ObservedCluster, PlannedFailover, PlanInput, PlanInstance, Refusal, WatcherDecision } from '../core/plan.js';
import { knownSnapshots, nodeLvFacts, type BlindNode, type InstanceLocation, type NodeLvFacts } from './locate.js';
import type { DrbdDiskAlloc, DrbdRecords } from './drbd-alloc.js';
import type { DrbdSide } from './failover.js';
import type { Placement } from './plan.js';

/** What one instance's planning read, as it goes: (map id, key) pairs; '*' = the whole map. */
export class ReadRecorder {
  private deps: Map<string, Set<string>> | undefined;
  private paused = 0;

  /** Start recording one instance's reads (undefined: record nothing, as the full plan does). */
  begin(on: boolean): void {
    this.deps = on ? new Map() : undefined;
  }

  end(): Map<string, Set<string>> | undefined {
    const d = this.deps;
    this.deps = undefined;
    return d;
  }

  note(id: string, key: string): void {
    if (this.deps === undefined || this.paused > 0) return;
    let s = this.deps.get(id);
    if (!s) this.deps.set(id, (s = new Set()));
    s.add(key);
  }

  /** Build a per-pass index without charging its reads to the instance that asked first (each lookup in it is noted instead). */
  unnoted<T>(fn: () => T): T {
    this.paused++;
    try {
      return fn();
    } finally {
      this.paused--;
    }
  }
}

/** A read-only map whose lookups and iterations are noted under `id`. */
export class TrackedMap<K extends string, V> implements ReadonlyMap<K, V> {
  constructor(readonly id: string, readonly inner: ReadonlyMap<K, V>, private readonly rec: ReadRecorder) {}
  get(key: K): V | undefined {
    this.rec.note(this.id, key);
    return this.inner.get(key);
  }
  has(key: K): boolean {
    this.rec.note(this.id, key);
    return this.inner.has(key);
  }
  get size(): number {
    this.rec.note(this.id, '*');
    return this.inner.size;
  }
  forEach(cb: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    this.rec.note(this.id, '*');
    this.inner.forEach((v, k) => cb(v, k, this));
  }
  entries(): MapIterator<[K, V]> {
    this.rec.note(this.id, '*');
    return this.inner.entries();
  }
  keys(): MapIterator<K> {
    this.rec.note(this.id, '*');
    return this.inner.keys();
  }
  values(): MapIterator<V> {
    this.rec.note(this.id, '*');
    return this.inner.values();
  }
  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
}

/** A read-only set whose lookups and iterations are noted under `id`. */
export class TrackedSet<K extends string> implements ReadonlySet<K> {
  constructor(readonly id: string, readonly inner: ReadonlySet<K>, private readonly rec: ReadRecorder) {}
  has(key: K): boolean {
    this.rec.note(this.id, key);
    return this.inner.has(key);
  }
  get size(): number {
    this.rec.note(this.id, '*');
    return this.inner.size;
  }
  forEach(cb: (value: K, key: K, set: ReadonlySet<K>) => void): void {
    this.rec.note(this.id, '*');
    this.inner.forEach((v) => cb(v, v, this));
  }
  entries(): SetIterator<[K, K]> {
    this.rec.note(this.id, '*');
    return this.inner.entries();
  }
  keys(): SetIterator<K> {
    return this.values();
  }
  values(): SetIterator<K> {
    this.rec.note(this.id, '*');
    return this.inner.values();
  }
  [Symbol.iterator](): SetIterator<K> {
    return this.values();
  }
}

/** A DRBD allocation an instance's part made (replayed and checked when the part is reused). */
export interface DrbdCall {
  readonly index: number;
  readonly nodes: readonly string[];
  readonly minors: readonly [string, number][];
  readonly port: number;
}

/** One instance's part of a plan: everything its planning added to the plan and to the pass's shared state. */
export interface InstanceSlice {
  entry?: { subject: string; diffs: FieldDiff[]; actions: Action[]; refs: Refusal[]; notes: string[]; unreachable: boolean };
  readonly waits: [node: string, subject: string][];
  readonly failovers: PlannedFailover[];
  readonly recovered: FailoverRecord[];
  readonly autoRepair: AutoRepairDecision[];
  readonly watcher: WatcherDecision[];
  placement?: Placement;
  manifestMove?: boolean;
  drbdAllocs?: Map<number, DrbdDiskAlloc>;
  readonly drbdCalls: DrbdCall[];
  readonly vncCalls: [node: string, display: number | undefined][];
  /** Why this part may not be reused (order- or clock-dependent); undefined: reusable. */
  uncacheable?: string;
  /** Unused here: DRBD live-migration disks are inside the entry's actions. */
  readonly migrations?: DrbdMigrationDisk[];
}

export function emptySlice(): InstanceSlice {
  return { waits: [], failovers: [], recovered: [], autoRepair: [], watcher: [], drbdCalls: [], vncCalls: [] };
}

/** A reusable instance part with the fingerprints of what it read. */
export interface CachedInstance {
  readonly spec: PlanInstance;
  readonly specKey: string;
  readonly reads: readonly (readonly [id: string, key: string, fingerprint: string])[];
  readonly slice: InstanceSlice;
}

/** The incremental planner's memory between passes. */
export interface PlanCache {
  /** Fingerprint of the cluster-wide inputs every instance reads (cluster spec, networks, node list): a change plans everything again. */
  readonly global: string;
  readonly instances: ReadonlyMap<string, CachedInstance>;
  /** Each node's last observed snapshot and its digest (a snapshot object seen again is not hashed again). */
  readonly digests: NodeDigests;
  /** The instances' names in input order and the indexes that put them in name order. */
  readonly order: { readonly names: readonly string[]; readonly sorted: readonly number[] };
  /** Each observed node's LV facts (plan/locate), by the digest of the snapshot they were read from. */
  readonly lvFacts: ReadonlyMap<string, { readonly digest: string; readonly facts: NodeLvFacts }>;
  /** The whole-map fingerprint of each map in WHOLE_CHECKED, in the pass this cache came from. */
  readonly wholes: ReadonlyMap<string, string>;
  /** What the DRBD allocator read from every LV and device, under drbdRecordsKey. */
  readonly drbdRecords?: DrbdRecords;
  /** drbdRecordsKey's digest of each observed node's part, kept while its snapshot is the same. */
  readonly drbdKeyParts?: ReadonlyMap<string, string>;
  /** The per-instance maps of the cache's pass (where instances are, their VM copies, DRBD sides, NICs): the next pass checks only the keys whose value changed (changedKeys). */
  readonly derived?: DerivedMaps;
}

/** The whole-cluster steps' per-instance answers that nearly every instance reads, by the id its reads are noted under. */
export interface DerivedMaps {
  readonly located: ReadonlyMap<string, InstanceLocation>;
  readonly copies: ReadonlyMap<string, readonly { readonly node: string }[]>;
  readonly sides: ReadonlyMap<string, ReadonlyMap<string, readonly DrbdSide[]>>;
  readonly nics: ReadonlyMap<string, unknown>;
}

/** Same location as locationText writes it (nodes and waits in their order, running, DRBD primary). */
function sameLocation(a: InstanceLocation, b: InstanceLocation): boolean {
  return a.running === b.running && a.drbdPrimary === b.drbdPrimary && sameOrder(a.nodes, b.nodes) && sameOrder(a.waitsFor, b.waitsFor);
}

function sameOrder(a: Iterable<string> & { readonly size: number }, b: Iterable<string> & { readonly size: number }): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  const ib = b[Symbol.iterator]();
  for (const x of a) if (ib.next().value !== x) return false;
  return true;
}

/** Same VM copies' nodes, in order (what the 'copies' fingerprint writes). */
function sameCopies(a: readonly { readonly node: string }[], b: readonly { readonly node: string }[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.node !== b[i]!.node) return false;
  return true;
}

/** Same DRBD sides as the 'sides' fingerprint writes them: per node in order, each disk, port and device minor. */
function sameSides(a: ReadonlyMap<string, readonly DrbdSide[]>, b: ReadonlyMap<string, readonly DrbdSide[]>): boolean {
  if (a.size !== b.size) return false;
  const ib = b.entries();
  for (const [node, la] of a) {
    const [nb, lb] = ib.next().value as [string, readonly DrbdSide[]];
    if (nb !== node || la.length !== lb.length) return false;
    for (let i = 0; i < la.length; i++) {
      const x = la[i]!;
      const y = lb[i]!;
      if (x.disk !== y.disk || x.port !== y.port || x.dev?.minor !== y.dev?.minor || (x.dev === undefined) !== (y.dev === undefined)) return false;
    }
  }
  return true;
}

const SAME: { readonly [K in keyof DerivedMaps]: (a: never, b: never) => boolean } = { located: sameLocation, copies: sameCopies, sides: sameSides, nics: sameJson };

/**
 * The keys of each derived map whose value may read differently now than in `prev` (the
 * cache's pass): a key added, removed, or whose value compares different (never equal
 * where its fingerprint would differ). Every cached part matched its reads in that pass,
 * so a read of any other key needs no fingerprint. Undefined for a map not kept in `prev`.
 */
export function changedKeys(prev: DerivedMaps | undefined, now: DerivedMaps): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (prev === undefined) return out;
  for (const id of Object.keys(SAME) as (keyof DerivedMaps)[]) {
    const same = SAME[id] as (a: unknown, b: unknown) => boolean;
    const before = prev[id] as ReadonlyMap<string, unknown>;
    const after = now[id] as ReadonlyMap<string, unknown>;
    const dirty = new Set<string>();
    let kept = 0;
    // forEach: no [key, value] pair allocated per entry.
    after.forEach((v, k) => {
      const was = before.get(k);
      if (was === undefined) {
        if (v !== undefined) dirty.add(k);
        return;
      }
      kept++;
      if (v === undefined || (was !== v && !same(was, v))) dirty.add(k);
    });
    // A key gone since: every key of `before` not counted above.
    if (kept !== before.size) for (const k of before.keys()) if (!after.has(k)) dirty.add(k);
    out.set(id, dirty);
  }
  return out;
}

/**
 * Everything the DRBD allocator reads (plan/drbd-alloc), per known snapshot in order: the
 * node, its snapshot's digest (its LVs and the rest, devices apart: a stale snapshot is
 * digested here) and each device's minor and resource. The same key, the same records.
 * Each node's part is digested apart, and kept (`parts`) while the node's snapshot is the
 * same as in the cache's pass: a pass digests the parts of the nodes that changed.
 */
export function drbdRecordsKey(facts: readonly NodeLvFacts[], digests: NodeDigests, parts?: { readonly prev: ReadonlyMap<string, string> | undefined; readonly next: Map<string, string> }): string {
  let k = '';
  for (const f of facts) {
    const d = f.stale ? undefined : digests.get(f.node);
    const live = d !== undefined && d.obs === f.obs;
    // A node observed now whose snapshot (devices included) is the same as in the cache's pass: its part is the same.
    let part = live && d.same ? parts?.prev?.get(f.node) : undefined;
    if (part === undefined) {
      let t = `${f.node}|${live ? d.digest : observedNodeDigest(f.obs)}|`;
      const devices = f.obs.drbd?.devices;
      if (devices === undefined) t += '-';
      else for (const dev of Object.values(devices)) t += `${dev.minor}:${dev.resource === undefined ? '\u0000' : dev.resource},`;
      part = digestOf(t);
    }
    if (live) parts?.next.set(f.node, part);
    // A stale snapshot's part is written as its live one was (the allocator reads both alike): a node that died keeps the key.
    k += `${f.node}|${part}\n`;
  }
  return digestOf(k);
}

/** Maps compared whole every pass (small, or read by many instances): while one is the same as in the cache's pass, its reads are not checked one by one. */
export const WHOLE_CHECKED = ['spec', 'failovers', 'repairs', 'restarts', 'bootIds', 'superseded', 'nicErrors', 'gone', 'rebooted', 'evacs', 'secondaryEvacs', 'fixEvacs', 'drainLater'] as const;

/** Each observed node's snapshot, its digest, and whether it is the same (sameSnapshot) as in the pass the cache came from. */
export type NodeDigests = ReadonlyMap<string, { readonly obs: ObservedNode; readonly digest: string; readonly same: boolean }>;

/**
 * The digest of every observed node's snapshot, reusing the previous pass's when the snapshot
 * has the same content (sameSnapshot: a daemon pass observes every node anew, so a snapshot
 * is a new object; comparing it with the last one costs half of hashing its JSON, and makes
 * no garbage).
 */
export function digestNodes(observed: ObservedCluster, prev: PlanCache | undefined): NodeDigests {
  const out = new Map<string, { obs: ObservedNode; digest: string; same: boolean }>();
  for (const [node, obs] of observed.nodes) {
    const was = prev?.digests.get(node);
    const same = was !== undefined && sameSnapshot(was.obs, obs);
    out.set(node, { obs, digest: same ? was.digest : observedNodeDigest(obs), same });
  }
  return out;
}

/** Two snapshots whose JSON but the probe time is the same text (observedNodeDigest's input): sameJson of every other field, in the same key order. */
export function sameSnapshot(a: ObservedNode, b: ObservedNode): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || (k !== 'observedAt' && !sameJson((a as unknown as Record<string, unknown>)[k], (b as unknown as Record<string, unknown>)[k]))) return false;
  }
  return true;
}

/**
 * True only when JSON.stringify gives the same text for both: plain objects (same keys in
 * the same order) and arrays of strings, finite numbers, booleans and null. Anything else
 * (a Map, a Date, undefined, NaN: what JSON would drop or rewrite) counts as different,
 * unless it is the very same value: never equal where the JSON differs, at worst a digest
 * computed that could have been reused.
 */
export function sameJson(x: unknown, y: unknown): boolean {
  if (x === y) return x === null || typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'object';
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameJson(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(y) || Object.getPrototypeOf(x) !== Object.prototype || Object.getPrototypeOf(y) !== Object.prototype) return false;
  const kx = Object.keys(x);
  const ky = Object.keys(y);
  if (kx.length !== ky.length) return false;
  for (let i = 0; i < kx.length; i++) {
    const k = kx[i]!;
    if (k !== ky[i] || !sameJson((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** plan/locate lvFacts, each observed node's read again only when its snapshot's digest changed (the tags of 144,000 LVs are a fifth of a full plan). */
export function lvFactsReusing(observed: ObservedCluster, digests: NodeDigests, prev: PlanCache | undefined): { facts: NodeLvFacts[]; byNode: Map<string, { digest: string; facts: NodeLvFacts }> } {
  const facts: NodeLvFacts[] = [];
  const byNode = new Map<string, { digest: string; facts: NodeLvFacts }>();
  for (const snap of knownSnapshots(observed)) {
    const digest = snap.stale ? undefined : digests.get(snap.node)?.digest;
    if (digest === undefined) {
      facts.push(nodeLvFacts(snap));
      continue;
    }
    const was = prev?.lvFacts.get(snap.node);
    // Same digest, same LVs: the facts are kept (their LV objects are the earlier snapshot's, equal in content), with this snapshot as their node's.
    const f = was?.digest === digest ? { ...was.facts, obs: snap.obs } : nodeLvFacts(snap);
    facts.push(f);
    byNode.set(snap.node, { digest, facts: f });
  }
  return { facts, byNode };
}

/** How a pass used the cache. */
export interface PlanCacheStats {
  readonly reused: number;
  readonly planned: number;
  /** Why instances were planned again: no entry, spec changed, a read changed (by map id), not reusable (by reason). */
  readonly why: Readonly<Record<string, number>>;
  readonly full: boolean;
}

export const digestOf = (text: string): string => createHash('sha1').update(text).digest('base64');

/** JSON with Maps and Sets as arrays (sorted for sets). */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? [...x] : x instanceof Set ? [...x].sort() : x)) ?? 'undefined';
}

/**
 * A node's observed snapshot, all of it but the probe time (which changes every pass and
 * which the instance plans do not read) and its DRBD devices: an instance's planning reads
 * a device by its minor through TrackedNodes, noted as ('dev', "node\0minor"), so a peer
 * that lost its connection replans the instances whose device changed, not every instance
 * on that node.
 */
export function observedNodeDigest(obs: ObservedNode): string {
  return digestOf(JSON.stringify({ ...obs, observedAt: '', ...(obs.drbd ? { drbd: { ...obs.drbd, devices: {} } } : {}) }));
}

/** The key of a DRBD device read: "node\0minor" ('*' for all of the node's devices). */
export const devKey = (node: string, minor: string): string => `${node}\0${minor}`;

/**
 * The observed nodes as an instance's planning sees them: a node looked up is a view whose
 * DRBD devices note each minor read (and '*' when they are listed); the view is made once
 * per node and pass. Iterating the map gives the snapshots themselves (a whole-map read).
 */
export class TrackedNodes extends TrackedMap<string, ObservedNode> {
  private readonly views = new Map<string, ObservedNode>();
  constructor(inner: ReadonlyMap<string, ObservedNode>, private readonly recorder: ReadRecorder) {
    super('obs', inner, recorder);
  }
  override get(key: string): ObservedNode | undefined {
    const obs = super.get(key);
    if (obs?.drbd === undefined) return obs;
    let v = this.views.get(key);
    if (v === undefined) this.views.set(key, (v = { ...obs, drbd: { ...obs.drbd, devices: trackedDevices(key, obs.drbd.devices, this.recorder) } }));
    return v;
  }
}

function trackedDevices<T extends object>(node: string, devices: T, rec: ReadRecorder): T {
  const one = (p: string | symbol) => void (typeof p === 'string' && rec.note('dev', devKey(node, p)));
  return new Proxy(devices, {
    get: (t, p) => (one(p), Reflect.get(t, p)),
    has: (t, p) => (one(p), Reflect.has(t, p)),
    getOwnPropertyDescriptor: (t, p) => (one(p), Reflect.getOwnPropertyDescriptor(t, p)),
    ownKeys: (t) => (rec.note('dev', devKey(node, '*')), Reflect.ownKeys(t)),
  });
}

/** The inputs an instance's reads are fingerprinted against, in this pass. */
export interface FingerprintSources {
  readonly input: PlanInput;
  readonly observed: ObservedCluster;
  readonly blind: ReadonlyMap<string, BlindNode>;
  readonly located: ReadonlyMap<string, InstanceLocation>;
  /** Every other tracked map or set, by the id its reads are noted under (JSON of the value read is its fingerprint). */
  readonly map: (id: string) => ReadonlyMap<string, unknown> | ReadonlySet<string> | undefined;
  /** The disk indexes' answers (plan/disks diskIndexFingerprint). */
  readonly disks: (id: string, key: string) => string;
}

/** Maps keyed by node: many instances read the same key. */
const PER_NODE = new Set(['obs', 'dev', 'last', 'offline', 'live', 'spec', 'blind', 'gone', 'rebooted', 'tapOrder']);

let never = 0;
/** A fingerprint no other read equals: what a read of the clock or of the whole instance list gets (planned again every pass). */
const unique = (): string => `\u0000never ${never++}`;

/** Fingerprints of what instances read in this pass (node digests computed once per pass, reusing the previous pass's for a snapshot seen again). */
export class Fingerprints {
  private readonly memo = new Map<string, Map<string, string>>();
  private specsByName: Map<string, unknown> | undefined;
  /** The maps of WHOLE_CHECKED whose whole fingerprint is the same as in the cache's pass. */
  private readonly unchanged = new Set<string>();
  /** Per derived map (changedKeys): the only keys whose reads may have changed since the cache's pass. */
  private changed: ReadonlyMap<string, ReadonlySet<string>> = new Map();

  constructor(private readonly src: FingerprintSources, private readonly digests: NodeDigests) {}

  /** The whole fingerprint of each map of WHOLE_CHECKED now, noting which are the same as in `prev` (the cache's pass: every cached part matched them then). */
  wholes(prev: ReadonlyMap<string, string> | undefined): Map<string, string> {
    const out = new Map<string, string>();
    for (const id of WHOLE_CHECKED) {
      const f = this.of(id, '*');
      out.set(id, f);
      if (prev?.get(id) === f) this.unchanged.add(id);
    }
    return out;
  }

  /** The keys of the derived maps that changed since the cache's pass (changedKeys(cache.derived, now)): reads of other keys are not fingerprinted again. */
  since(changed: ReadonlyMap<string, ReadonlySet<string>>): void {
    this.changed = changed;
  }

  /** The cluster-wide inputs every instance may read: cluster spec, networks, the watcher pause, the nodes out of sight with no known past. */
  global(): string {
    const { input, blind } = this.src;
    return digestOf(stableJson([
      input.cluster, input.networks, input.watcher?.pausedUntil ?? null,
      [...blind.values()].filter((b) => !b.last).map((b) => `${b.node}: ${b.why}`),
    ]));
  }

  /** The noted reads with their fingerprints now (a VM copy's node counts as read: the copy is part of that node's snapshot). */
  fingerprint(reads: ReadonlyMap<string, ReadonlySet<string>>): [string, string, string][] {
    const out: [string, string, string][] = [];
    const obs = new Set(reads.get('obs') ?? []);
    for (const key of reads.get('copies') ?? []) for (const c of (this.src.map('copies') as ReadonlyMap<string, readonly { node: string }[]>).get(key) ?? []) obs.add(c.node);
    const devs = new Set(reads.get('dev') ?? []);
    for (const key of reads.get('sides') ?? []) {
      for (const [node, list] of (this.src.map('sides') as ReadonlyMap<string, ReadonlyMap<string, readonly DrbdSide[]>>).get(key) ?? []) for (const d of list) {
        if (d.dev === undefined) continue;
        // The device as its node lists it (keyed by its minor); were it listed under another key, all of that node's devices count as read.
        const listed = this.src.observed.nodes.get(node)?.drbd?.devices[String(d.dev.minor)] === d.dev;
        devs.add(devKey(node, listed ? String(d.dev.minor) : '*'));
      }
    }
    for (const key of devs) out.push(['dev', key, this.of('dev', key)]);
    for (const [id, keys] of reads) {
      if (id === 'obs' || id === 'dev') continue;
      for (const key of keys) out.push([id, key, this.of(id, key)]);
    }
    for (const key of obs) out.push(['obs', key, this.of('obs', key)]);
    return out;
  }

  /**
   * The id of the first read whose fingerprint changed, or undefined when none did. Every
   * cached part matched what it read in the pass the cache came from (it was planned or
   * checked then), so a read of a node whose snapshot is the same as in that pass (its
   * digest and each of its DRBD devices), or of a map whose whole fingerprint is (wholes()),
   * or of a derived map's key whose value is (since()), is not fingerprinted again.
   */
  staleRead(reads: CachedInstance['reads']): string | undefined {
    for (const [id, key, f] of reads) {
      if (id === 'obs' ? this.digests.get(key)?.same === true : id === 'dev' ? this.devNodeSame(key) : this.unchanged.has(id)) continue;
      const changed = key === '*' ? undefined : this.changed.get(id);
      if (changed !== undefined && !changed.has(key)) continue;
      if (this.of(id, key) !== f) return id;
    }
    return undefined;
  }

  /** A DRBD device read ("node\0minor") of a node whose snapshot is the same as in the last pass (keys are one per device: nothing to memoize). */
  private devNodeSame(key: string): boolean {
    return this.digests.get(key.slice(0, key.indexOf('\0')))?.same === true;
  }

  /** What reading `key` of map `id` gives now ('*': the whole map). Per-node reads are shared by many instances: computed once per pass. */
  of(id: string, key: string): string {
    if (id === 'now' || id === 'instances') return unique();
    if (id.startsWith('disks.')) return this.src.disks(id, key);
    if (key !== '*' && !PER_NODE.has(id)) return this.one(id, key);
    let m = this.memo.get(id);
    if (!m) this.memo.set(id, (m = new Map()));
    let f = m.get(key);
    if (f === undefined) m.set(key, (f = key === '*' ? this.whole(id) : this.one(id, key)));
    return f;
  }

  private specs(): Map<string, unknown> {
    return (this.specsByName ??= new Map(this.src.input.nodes.map((n) => [n.name, n])));
  }

  private whole(id: string): string {
    const { observed, input } = this.src;
    const keys = id === 'last' ? [...observed.lastKnown?.keys() ?? []] : id === 'spec' ? input.nodes.map((n) => n.name) : undefined;
    if (id === 'obs') return digestOf([...observed.nodes.keys()].map((n) => `${n}=${this.of('obs', n)} ${this.of('dev', devKey(n, '*'))}`).join('\n'));
    if (keys) return digestOf(keys.map((n) => `${n}=${this.of(id, n)}`).join('\n'));
    if (id === 'live') return digestOf(stableJson(observed.liveness ?? null));
    if (id === 'offline') return digestOf(stableJson(observed.offlineAnswers ?? null));
    if (id === 'blind') return [...this.src.blind.keys()].map((n) => this.of('blind', n)).join('\n');
    if (id === 'located') return digestOf([...this.src.located].map(([n, l]) => `${n}=${locationText(l)}`).join('\n'));
    const m = this.src.map(id);
    return m === undefined ? unique() : digestOf(stableJson(m));
  }

  private one(id: string, key: string): string {
    const { observed } = this.src;
    switch (id) {
      case 'obs':
        return this.digests.get(key)?.digest ?? '-';
      case 'last': {
        const o = observed.lastKnown?.get(key);
        return o ? digestOf(JSON.stringify(o)) : '-';
      }
      case 'offline': {
        // An offline node's read-only probe (plan/offline-migrate), all of it.
        const o = observed.offlineAnswers?.get(key);
        return o ? digestOf(JSON.stringify(o)) : '-';
      }
      case 'live':
        return JSON.stringify(observed.liveness?.get(key) ?? null);
      case 'spec':
        // A node's spec is read by many instances: its digest is compared, not a kilobyte of JSON each time.
        return digestOf(JSON.stringify(this.specs().get(key) ?? null));
      case 'blind': {
        const b = this.src.blind.get(key);
        return b ? `${b.why}|${b.last ? this.of('last', key) : ''}` : '-';
      }
      case 'located': {
        const l = this.src.located.get(key);
        return l ? locationText(l) : '-';
      }
      case 'copies':
        // Where its VM records are (their content is in those nodes' snapshots, read with them: see fingerprint()).
        return ((this.src.map('copies') as ReadonlyMap<string, readonly { node: string }[]>).get(key) ?? []).map((c) => c.node).join(',');
      case 'dev': {
        // One DRBD device of a node as it is now ('*': all of them), whatever the node's other facts.
        const at = key.indexOf('\0');
        const devices = observed.nodes.get(key.slice(0, at))?.drbd?.devices;
        const minor = key.slice(at + 1);
        return minor === '*' ? digestOf(JSON.stringify(devices ?? null)) : JSON.stringify(devices?.[minor] ?? null);
      }
      case 'sides': {
        // Where its LVs record DRBD minors: each node's disks, ports and device minors (what each device says is read with it: see fingerprint()).
        const sides = (this.src.map('sides') as ReadonlyMap<string, ReadonlyMap<string, readonly DrbdSide[]>>).get(key);
        if (!sides) return '-';
        let t = '';
        for (const [node, list] of sides) {
          t += `${node}:`;
          for (const d of list) t += `${d.disk}/${d.port ?? ''}/${d.dev === undefined ? '-' : d.dev.minor},`;
          t += ';';
        }
        return t;
      }
      default: {
        const m = this.src.map(id);
        if (m === undefined) return unique();
        if (!('get' in m)) return m.has(key) ? '1' : '0';
        // Records, allocations, answers: plain JSON data.
        const v = m.get(key);
        return v === undefined ? 'null' : JSON.stringify(v);
      }
    }
  }
}

/** Everything an InstanceLocation says, as text. */
function locationText(l: InstanceLocation): string {
  let t = '';
  for (const n of l.nodes) t += `${n},`;
  t += `|${l.running ?? ''}|${l.drbdPrimary ?? ''}|`;
  for (const n of l.waitsFor) t += `${n},`;
  return t;
}
