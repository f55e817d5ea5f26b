import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deadNode, drift, genDesired, genObserved } from '../../bench/gen-desired.js';
import type { ObservedCluster, PlanInput } from '../core/plan.js';
import { makeAllocator } from './allocate.js';
import { lvFacts } from './locate.js';
import { plan, planIncremental, type PlanOptions } from './plan.js';
import { changedKeys, devKey, digestNodes, drbdRecordsKey, Fingerprints, observedNodeDigest, ReadRecorder, sameJson, sameSnapshot, TrackedMap, TrackedNodes, TrackedSet, type DerivedMaps, type PlanCache } from './plan-cache.js';

// The planner benchmark's generator (bench/gen-desired.ts) at a small scale: 30 % DRBD, sharedfile, plain.
const spec = { seed: 5, nodes: 24, groups: 2, instances: 480 } as const;
const hash = (p: unknown) => createHash('sha256').update(JSON.stringify(p)).digest('hex');
/** A new snapshot object per node with the same content, as the daemon's next observation gives. */
const reobserved = (o: ObservedCluster): ObservedCluster => ({ ...o, nodes: new Map([...o.nodes].map(([k, v]) => [k, structuredClone(v)])) });
const allocator: PlanOptions['allocator'] = (i, o, located) => makeAllocator(i, o, { groups: [...new Set(i.nodes.map((n) => n.group))].map((name) => ({ name, allocPolicy: 'preferred' as const })), volumeGroup: 'xenvg' }, located);

describe('planIncremental', () => {
  it('given no cache, it makes the full plan and remembers every converged instance', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const r = planIncremental(input, observed, undefined);
    expect(hash(r.plan)).toBe(hash(plan(input, observed)));
    expect(r.stats).toMatchObject({ reused: 0, planned: 480, full: true });
    expect(r.cache.instances.size).toBe(480);
  });

  it('given the same cluster observed again (new snapshot objects), it reuses every instance and makes the same plan', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const first = planIncremental(input, observed, undefined);
    const again = planIncremental(input, reobserved(observed), first.cache);
    expect(again.stats).toMatchObject({ reused: 480, planned: 0, full: false });
    expect(hash(again.plan)).toBe(hash(first.plan));
  });

  it('given a drifted observation, it replans what the drift touched and makes the full plan, with its actions', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const first = planIncremental(input, observed, undefined);
    const drifted = drift(observed, 0.02, 9).observed;
    const r = planIncremental(input, drifted, first.cache);
    const full = plan(input, drifted);
    expect(full.actions.length).toBeGreaterThan(0);
    expect(hash(r.plan)).toBe(hash(full));
    expect(r.stats.planned).toBeGreaterThan(0);
  });

  it('given a node declared offline with failover on, it replans only the instances that read that node or its DRBD peers, and makes the full plan', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const dead = deadNode(input, observed);
    // The pass before: the same cluster with the node alive (its survivors already list the shared images, as a real probe does).
    const role = input.nodes.find((n) => n.name === dead.node)!.role;
    const before: PlanInput = { ...dead.input, nodes: dead.input.nodes.map((n) => (n.name === dead.node ? { ...n, role } : n)) };
    const beforeObs: ObservedCluster = { ...observed, nodes: new Map([...observed.nodes].map(([k, v]) => [k, k === dead.node ? v : { ...v, files: dead.observed.nodes.get(k)!.files }])) };
    const first = planIncremental(before, beforeObs, undefined, { allocator });
    const r = planIncremental(dead.input, dead.observed, first.cache, { allocator });
    expect(hash(r.plan)).toBe(hash(plan(dead.input, dead.observed, { allocator })));
    expect(r.plan.failovers?.length).toBeGreaterThan(0);
    expect(r.stats.reused).toBeGreaterThan(0);
    expect(r.stats.planned).toBeLessThan(480);
    expect(r.stats.planned).toBeGreaterThanOrEqual(dead.instances.length);
  });

  it('given a failover record that appears for one instance (no records before), it replans that instance', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const first = planIncremental(input, observed, undefined);
    const inst = input.instances.find((i) => i.diskTemplate === 'sharedfile')!;
    const to = input.nodes.find((n) => n.name !== inst.primary)!.name;
    const withRecord: PlanInput = { ...input, failovers: new Map([[inst.name, { instance: inst.name, from: inst.primary!, to, started: '2026-01-01T00:00:00Z' }]]) };
    const r = planIncremental(withRecord, observed, first.cache);
    expect(r.stats.why).toMatchObject({ 'changed:failovers': 1 });
    expect(hash(r.plan)).toBe(hash(plan(withRecord, observed)));
  });

  it('given one node\'s spec changed (the node map differs as a whole), it replans the instances that read that node and only those', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const first = planIncremental(input, observed, undefined);
    const node = input.nodes[3]!.name;
    const changed: PlanInput = { ...input, nodes: input.nodes.map((n) => (n.name === node ? { ...n, memoryMiB: 1_048_576 } : n)) };
    const r = planIncremental(changed, observed, first.cache);
    expect(hash(r.plan)).toBe(hash(plan(changed, observed)));
    const readers = [...first.cache.instances.values()].filter((c) => c.reads.some(([id, key]) => id === 'spec' && (key === node || key === '*'))).length;
    expect(readers).toBeGreaterThan(0);
    expect(r.stats).toMatchObject({ planned: readers, why: { 'changed:spec': readers } });
  });

  it('given a changed cluster spec, it plans every instance again', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const first = planIncremental(input, observed, undefined);
    const changed: PlanInput = { ...input, cluster: { ...input.cluster, nPlusOne: 'off' } };
    const r = planIncremental(changed, observed, first.cache);
    expect(r.stats).toMatchObject({ reused: 0, full: true, why: { 'cluster-wide input changed': 480 } });
    expect(hash(r.plan)).toBe(hash(plan(changed, observed)));
  });
});

describe('tracked maps', () => {
  it('given lookups and an iteration while recording, it notes each key read and the whole map', () => {
    const rec = new ReadRecorder();
    const m = new TrackedMap('obs', new Map([['a', 1], ['b', 2]]), rec);
    const s = new TrackedSet('gone', new Set(['x']), rec);
    rec.begin(true);
    m.get('a');
    s.has('y');
    rec.unnoted(() => m.get('b'));
    expect([...rec.end()!].map(([id, keys]) => [id, [...keys]])).toEqual([['obs', ['a']], ['gone', ['y']]]);
    rec.begin(true);
    expect([...m.values()]).toEqual([1, 2]);
    expect(s.size).toBe(1);
    expect([...rec.end()!].map(([id, keys]) => [id, [...keys]])).toEqual([['obs', ['*']], ['gone', ['*']]]);
  });

  it('given no recording (the full plan), it notes nothing', () => {
    const rec = new ReadRecorder();
    const m = new TrackedMap('obs', new Map([['a', 1]]), rec);
    rec.begin(false);
    expect(m.get('a')).toBe(1);
    expect(rec.end()).toBeUndefined();
  });
});

describe('node digests kept across passes', () => {
  const input = genDesired({ ...spec, nodes: 4, instances: 40 });
  const obs = [...genObserved(input).nodes.values()][0]!;
  const prev = (o: typeof obs): PlanCache => ({ global: '', instances: new Map(), lvFacts: new Map(), order: { names: [], sorted: [] }, wholes: new Map(), digests: new Map([[o.name, { obs: o, digest: 'kept', same: false }]]) });
  const digestOfNew = (o: typeof obs) => digestNodes({ nodes: new Map([[o.name, o]]) } as ObservedCluster, prev(obs)).get(o.name)!.digest;

  it('given a new snapshot object with the same content and another probe time, it keeps the last digest', () => {
    expect(digestOfNew({ ...structuredClone(obs), observedAt: '2030-01-01T00:00:00Z' })).toBe('kept');
  });

  it('given a change anywhere in the snapshot (a nested field, a field added, the same keys in another order), it computes the digest again', () => {
    const lv = Object.keys(obs.lvs)[0]!;
    const changed = [
      { ...obs, lvs: { ...obs.lvs, [lv]: { ...obs.lvs[lv]!, sizeMiB: obs.lvs[lv]!.sizeMiB + 1 } } },
      { ...obs, lvs: { ...obs.lvs, [lv]: { ...obs.lvs[lv]!, tags: [...obs.lvs[lv]!.tags, 'x'] } } },
      { ...obs, probeErrors: ['lvs: timeout'] },
      { ...obs, reachable: false },
      { ...obs, lvs: Object.fromEntries(Object.entries(obs.lvs).reverse()) },
    ];
    for (const o of changed) {
      expect(sameSnapshot(obs, o)).toBe(false);
      expect(digestOfNew(o)).toBe(observedNodeDigest(o));
    }
  });

  it('given values JSON writes the same but are not the same (undefined, NaN, a Map), it calls them different: never equal where the JSON differs', () => {
    expect(sameJson({ a: 1, b: [true, null, 'x'] }, { a: 1, b: [true, null, 'x'] })).toBe(true);
    expect(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false);
    expect(sameJson({ a: undefined }, {})).toBe(false);
    expect(sameJson(NaN, NaN)).toBe(false);
    expect(sameJson(new Map([['a', 1]]), new Map([['a', 2]]))).toBe(false);
    expect(sameJson([1, 2], { 0: 1, 1: 2 })).toBe(false);
  });
});

/** The cluster with one DRBD device on one node changed (its disk detached), the rest of every snapshot as it was. */
function oneDeviceChanged(observed: ObservedCluster): { observed: ObservedCluster; node: string; minor: string } {
  const [node, obs] = [...observed.nodes].find(([, o]) => Object.keys(o.drbd?.devices ?? {}).length > 0)!;
  const minor = Object.keys(obs.drbd!.devices)[0]!;
  const devices = { ...obs.drbd!.devices, [minor]: { ...obs.drbd!.devices[minor]!, disk: 'Diskless' } };
  return { observed: { ...observed, nodes: new Map([...observed.nodes].map(([k, v]) => [k, k === node ? { ...v, drbd: { ...v.drbd!, devices } } : v])) }, node, minor };
}

describe('DRBD devices read one by one', () => {
  it('given a node looked up and one of its devices read while recording, it notes the node and that minor; listing the devices notes all of them', () => {
    const input = genDesired({ ...spec, nodes: 4, instances: 40 });
    const observed = genObserved(input);
    const [name, obs] = [...observed.nodes].find(([, o]) => Object.keys(o.drbd?.devices ?? {}).length > 0)!;
    const minor = Object.keys(obs.drbd!.devices)[0]!;
    const rec = new ReadRecorder();
    const nodes = new TrackedNodes(observed.nodes, rec);
    rec.begin(true);
    expect(nodes.get(name)!.drbd!.devices[minor]).toEqual(obs.drbd!.devices[minor]);
    expect([...rec.end()!].map(([id, keys]) => [id, [...keys]])).toEqual([['obs', [name]], ['dev', [devKey(name, minor)]]]);
    rec.begin(true);
    expect(Object.values(nodes.get(name)!.drbd!.devices)).toHaveLength(Object.keys(obs.drbd!.devices).length);
    expect(rec.end()!.get('dev')!.has(devKey(name, '*'))).toBe(true);
    const noDrbd = { ...obs, drbd: undefined };
    expect(new TrackedNodes(new Map([[name, noDrbd]]), rec).get(name)).toBe(noDrbd);
  });

  it('given one device changed on a node, the node\'s own digest stays, and that device, all of its devices and the whole node map read as changed', () => {
    const input = genDesired({ ...spec, nodes: 4, instances: 40 });
    const observed = genObserved(input);
    const changed = oneDeviceChanged(observed);
    const fp = (o: ObservedCluster) => new Fingerprints({ input, observed: o, blind: new Map(), located: new Map(), map: () => undefined, disks: () => '' }, digestNodes(o, undefined));
    const [a, b] = [fp(observed), fp(changed.observed)];
    expect(b.of('obs', changed.node)).toBe(a.of('obs', changed.node));
    for (const [id, key] of [['dev', devKey(changed.node, changed.minor)], ['dev', devKey(changed.node, '*')], ['obs', '*']]) expect(b.of(id!, key!)).not.toBe(a.of(id!, key!));
  });

  it('given one DRBD device detached from its disk, it replans only the instances that read that device, and makes the full plan', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const first = planIncremental(input, observed, undefined);
    const changed = oneDeviceChanged(observed);
    const r = planIncremental(input, reobserved(changed.observed), first.cache);
    expect(hash(r.plan)).toBe(hash(plan(input, changed.observed)));
    expect(r.plan.entries.filter((e) => e.status === 'drift')).toHaveLength(1);
    expect(r.stats.why).toEqual({ 'changed:dev': r.stats.planned });
    expect(r.stats.planned).toBeGreaterThan(0);
    expect(r.stats.planned).toBeLessThanOrEqual(2);
  });
});

describe('the DRBD allocator records key', () => {
  const input = genDesired({ ...spec, nodes: 4, instances: 40 });
  const observed = genObserved(input);
  const key = (o: ObservedCluster) => drbdRecordsKey(lvFacts(o), digestNodes(o, undefined));
  const [name, obs] = [...observed.nodes].find(([, o]) => Object.keys(o.drbd?.devices ?? {}).length > 0)!;
  const minor = Object.keys(obs.drbd!.devices)[0]!;
  const withNode = (o: typeof obs): ObservedCluster => ({ ...observed, nodes: new Map([...observed.nodes].map(([k, v]) => [k, k === name ? o : v])) });
  const withDevice = (d: object) => withNode({ ...obs, drbd: { ...obs.drbd!, devices: { ...obs.drbd!.devices, [minor]: { ...obs.drbd!.devices[minor]!, ...d } } } });

  it('given the same LVs and devices observed again, or only a device state changed, it is the same key', () => {
    expect(key(reobserved(observed))).toBe(key(observed));
    expect(key(withDevice({ disk: 'Diskless', peer: { connection: 'WFConnection', role: 'Unknown', disk: 'DUnknown' } }))).toBe(key(observed));
  });

  it('given a device\'s resource, a device added, an LV\'s tags or a node gone from sight changed, it is another key', () => {
    const lv = Object.keys(obs.lvs)[0]!;
    const changed = [
      withDevice({ resource: 'other' }),
      withNode({ ...obs, drbd: { ...obs.drbd!, devices: { ...obs.drbd!.devices, 127: { minor: 127 } } } }),
      withNode({ ...obs, lvs: { ...obs.lvs, [lv]: { ...obs.lvs[lv]!, tags: [...obs.lvs[lv]!.tags, 'gantry-drbd-minor=99'] } } }),
      { ...observed, nodes: new Map([...observed.nodes].filter(([k]) => k !== name)) },
    ];
    for (const o of changed) expect(key(o)).not.toBe(key(observed));
  });

  it('given each node\'s part kept from the last pass, it is the key computed from scratch: the same when nothing changed, another when one node\'s device or LV changed', () => {
    const first = new Map<string, string>();
    const k0 = drbdRecordsKey(lvFacts(observed), digestNodes(observed, undefined), { prev: undefined, next: first });
    expect(k0).toBe(key(observed));
    expect(first.size).toBe(observed.nodes.size);
    const prev: PlanCache = { global: '', instances: new Map(), lvFacts: new Map(), order: { names: [], sorted: [] }, wholes: new Map(), digests: digestNodes(observed, undefined) };
    const lv = Object.keys(obs.lvs)[0]!;
    for (const o of [reobserved(observed), withDevice({ resource: 'other' }), withNode({ ...obs, lvs: { ...obs.lvs, [lv]: { ...obs.lvs[lv]!, tags: [...obs.lvs[lv]!.tags, 'gantry-drbd-minor=99'] } } })]) {
      const next = new Map<string, string>();
      expect(drbdRecordsKey(lvFacts(o), digestNodes(o, prev), { prev: first, next })).toBe(key(o));
      expect(next.size).toBe(o.nodes.size);
    }
  });
});

describe('derived maps checked by changed keys', () => {
  const loc = (nodes: string[], o: { running?: string; drbdPrimary?: string; waitsFor?: string[] } = {}) => ({ nodes: new Set(nodes), waitsFor: new Set(o.waitsFor ?? []), ...(o.running ? { running: o.running } : {}), ...(o.drbdPrimary ? { drbdPrimary: o.drbdPrimary } : {}) });
  const dev = (minor: number) => ({ minor, role: 'Secondary' as const });
  const maps = (): DerivedMaps => ({
    located: new Map([['a', loc(['n1', 'n2'], { running: 'n1', drbdPrimary: 'n1' })], ['b', loc(['n2'])], ['c', loc(['n3'], { waitsFor: ['n3'] })]]),
    copies: new Map([['a', [{ node: 'n1' }]], ['b', [{ node: 'n2' }, { node: 'n3' }]]]),
    sides: new Map([['a', new Map([['n1', [{ disk: 0, port: 11000, dev: dev(0) }]], ['n2', [{ disk: 0, port: 11000, dev: undefined }]]])]]),
    nics: new Map([['a', [{ mac: 'aa:00:00:00:00:01', ip: '198.18.0.2', network: 'net' }]], ['b', []]]),
  });
  const changed = (now: DerivedMaps) => Object.fromEntries([...changedKeys(maps(), now)].map(([id, keys]) => [id, [...keys].sort()]));
  const none = { located: [], copies: [], sides: [], nics: [] };

  it('given the same maps rebuilt as new objects, no key changed; with no maps kept from the last pass, no map is narrowed', () => {
    expect(changed(maps())).toEqual(none);
    expect(changedKeys(undefined, maps()).size).toBe(0);
  });

  it('given one value changed in each way its fingerprint would show, exactly that key of that map changed', () => {
    const set = (id: keyof DerivedMaps, key: string, v: unknown) => [id, key, (m: DerivedMaps) => void (m[id] as Map<string, unknown>).set(key, v)] as const;
    const cases = [
      set('located', 'a', loc(['n1', 'n2'], { running: 'n2', drbdPrimary: 'n1' })),
      set('located', 'a', loc(['n2', 'n1'], { running: 'n1', drbdPrimary: 'n1' })),
      set('located', 'a', loc(['n1', 'n2'], { running: 'n1' })),
      set('located', 'c', loc(['n3'])),
      set('copies', 'b', [{ node: 'n3' }, { node: 'n2' }]),
      set('copies', 'a', []),
      set('sides', 'a', new Map([['n1', [{ disk: 0, port: 11001, dev: dev(0) }]], ['n2', [{ disk: 0, port: 11000, dev: undefined }]]])),
      set('sides', 'a', new Map([['n1', [{ disk: 0, port: 11000, dev: dev(1) }]], ['n2', [{ disk: 0, port: 11000, dev: undefined }]]])),
      set('sides', 'a', new Map([['n1', [{ disk: 0, port: 11000, dev: dev(0) }]], ['n2', [{ disk: 0, port: 11000, dev: dev(0) }]]])),
      set('sides', 'a', new Map([['n1', [{ disk: 0, port: 11000, dev: dev(0) }]]])),
      set('nics', 'a', [{ mac: 'aa:00:00:00:00:02', ip: '198.18.0.2', network: 'net' }]),
      // The same fields in another order: JSON writes it differently.
      set('nics', 'a', [{ ip: '198.18.0.2', mac: 'aa:00:00:00:00:01', network: 'net' }]),
    ];
    for (const [id, key, edit] of cases) {
      const now = maps();
      edit(now);
      expect(changed(now)).toEqual({ ...none, [id]: [key] });
    }
  });

  it('given a key added or removed, that key changed', () => {
    const now = maps();
    (now.located as Map<string, unknown>).delete('b');
    (now.nics as Map<string, unknown>).set('d', []);
    (now.sides as Map<string, unknown>).delete('a');
    expect(changed(now)).toEqual({ ...none, located: ['b'], nics: ['d'], sides: ['a'] });
  });

  it('given an instance\'s stopped VM record appearing on another node, the incremental plan is the full plan and only the parts reading that node or instance are planned again', () => {
    const input = genDesired(spec);
    const observed = genObserved(input);
    const first = planIncremental(input, observed, undefined);
    const inst = input.instances.find((i) => i.diskTemplate === 'plain')!;
    const node = input.nodes.find((n) => n.name !== inst.primary && n.name !== inst.secondary)!.name;
    const obs = observed.nodes.get(node)!;
    const copy: ObservedCluster = { ...observed, nodes: new Map([...observed.nodes].map(([k, v]) => [k, k === node ? { ...v, instances: { ...obs.instances, [inst.name]: { name: inst.name, runState: 'stopped' as const, guestShutdown: false } } } : v])) };
    const r = planIncremental(input, reobserved(copy), first.cache);
    expect(hash(r.plan)).toBe(hash(plan(input, copy)));
    const readers = [...first.cache.instances].filter(([n, c]) => n === inst.name || c.reads.some(([id, key]) => id === 'obs' && (key === node || key === '*'))).length;
    expect(r.stats.planned).toBe(readers);
    expect(r.stats.planned).toBeLessThan(480);
    expect(r.stats.why['changed:located'] ?? r.stats.why['changed:copies']).toBeGreaterThan(0);
  });
});
