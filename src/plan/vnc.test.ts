import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { VncAllocator } from './vnc.js';
import { launchFor } from './instance-runtime.js';
import { emptyObservedNode, type ObservedInstance } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import type { InstanceLaunch } from '../core/actions.js';

const node = (name: string): PlanNode => ({
  name, group: 'g', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});

const inst = (name: string, primary = 'n1'): PlanInstance => ({
  name, state: 'present', deleteDisks: false, diskTemplate: 'diskless', primary, memoryMiB: 64, vcpus: 1, disks: [], tags: [],
  runtime: {
    uuid: `uuid-${name}`, os: { name: 'none', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0, accel: 'tcg',
    bootOrder: ['network'], diskBus: 'virtio', vnc: true, vncBindAddress: '127.0.0.1', nics: [],
    migration: { mode: 'live', bandwidthMiBps: 100, downtimeMs: 300 }, restartErrorDown: true, stopTimeoutS: 30,
  },
});

const input = (instances: PlanInstance[]): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  nodes: [node('n1'), node('n2')], networks: [], instances,
});

/** A running copy whose record (or, before records held displays, only its runtime spec) has `display`. */
const copy = (name: string, display: number, where: 'meta' | 'runtime' = 'meta'): ObservedInstance => {
  const i = input([inst(name)]);
  const { vncDisplay: _, ...launch } = launchFor(inst(name), 'n1', undefined, [], i, new Map(i.nodes.map((n) => [n.name, n])), display);
  return {
    name, pid: 1, runState: 'running', guestShutdown: false,
    runtime: { specHash: 'x', ...(where === 'runtime' ? { spec: { vncDisplay: display } } : {}) },
    meta: { version: 1, instance: name, uuid: `uuid-${name}`, os: 'none', osGeneration: 1, restartGeneration: 0, nics: [], launch: where === 'meta' ? { ...launch, vncDisplay: display } : launch },
  };
};

const cluster = (n1: Record<string, ObservedInstance>, n2: Record<string, ObservedInstance> = {}): ObservedCluster => ({
  nodes: new Map([['n1', { ...emptyObservedNode('n1', 't'), instances: n1 }], ['n2', { ...emptyObservedNode('n2', 't'), instances: n2 }]]),
});

const launchOf = (p: ReturnType<typeof plan>, name: string): InstanceLaunch | undefined => {
  const a = p.actions.find((x) => x.subject === `Instance/${name}` && (x.verb === 'instance.install' || x.verb === 'instance.start'));
  return a && (a.verb === 'instance.install' || a.verb === 'instance.start') ? a.launch : undefined;
};

describe('VNC displays', () => {
  it('given many new instances on one node it gives each its own display, recorded in the launch (no hash collisions)', () => {
    const names = Array.from({ length: 60 }, (_, i) => `vm${i}`);
    const p = plan(input(names.map((n) => inst(n))), cluster({}));
    const displays = names.map((n) => launchOf(p, n)?.vncDisplay);
    expect(displays.every((d) => typeof d === 'number' && d >= 100)).toBe(true);
    expect(new Set(displays).size).toBe(names.length);
    const start = p.actions.find((a) => a.verb === 'instance.start' && a.subject === 'Instance/vm0');
    expect(start?.verb === 'instance.start' && start.record.launch.vncDisplay).toBe(displays[0]);
  });

  it('given a display recorded on the node it keeps it and plans no restart', () => {
    const p = plan(input([inst('a')]), cluster({ a: copy('a', 345) }));
    expect(p.actions).toEqual([]);
  });

  it('given a VM started before displays were recorded it adopts the display it runs with, without a restart', () => {
    const p = plan(input([inst('a')]), cluster({ a: copy('a', 777, 'runtime') }));
    expect(p.actions).toEqual([]);
  });

  it('given two VMs on one node recorded with the same display it keeps the first and moves the other (restart), naming the field', () => {
    const p = plan(input([inst('a'), inst('b')]), cluster({ a: copy('a', 345), b: copy('b', 345) }));
    expect(p.actions.filter((x) => x.subject === 'Instance/a')).toEqual([]);
    expect(p.actions.filter((x) => x.subject === 'Instance/b').map((x) => x.verb)).toEqual(['instance.stop', 'instance.start']);
    expect(launchOf(p, 'b')?.vncDisplay).not.toBe(345);
    expect(p.entries.find((e) => e.subject === 'Instance/b')?.diffs).toContainEqual({ path: 'launch.vncDisplay', desired: launchOf(p, 'b')?.vncDisplay, observed: 345 });
  });

  it('given a display held on a node only known from its last snapshot, a new instance does not take it', () => {
    const o: ObservedCluster = {
      nodes: new Map([['n1', emptyObservedNode('n1', 't')], ['n2', emptyObservedNode('n2', 't', 'connect timeout')]]),
      lastKnown: new Map([['n2', { ...emptyObservedNode('n2', 'then'), instances: { old: copy('old', 100) } }]]),
    };
    const v = new VncAllocator(o);
    expect(v.displayFor('new1', 'n1')).toBe(101);
    expect(v.displayFor('new2', 'n2')).toBe(102);
  });
});
