import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';
import { launchFor } from './instance-runtime.js';
import { allocateNics } from './nics.js';
import { emptyObservedNode, type ObservedInstance, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanInstanceRuntime, PlanNode } from '../core/plan.js';

const node = (name: string): PlanNode => ({
  name, group: 'g', role: 'regular', secondaryAddress: `198.19.0.${name === 'n1' ? 11 : 12}`, runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} },
});

const runtime = (over: Partial<PlanInstanceRuntime> = {}): PlanInstanceRuntime => ({
  uuid: '11111111-2222-3333-4444-555555555555', os: { name: 'busybox+default', params: {}, generation: 1 }, powerState: 'running', restartGeneration: 0,
  accel: 'tcg', bootOrder: ['disk'], diskBus: 'virtio', vnc: false, vncBindAddress: '127.0.0.1',
  nics: [{ index: 0, network: 'lan', mode: 'bridged', link: 'br0', trunks: [], ip: 'pool', mac: 'auto', model: 'virtio' }],
  migration: { mode: 'live', bandwidthMiBps: 100, downtimeMs: 300 }, restartErrorDown: true, stopTimeoutS: 30, ...over,
});

const inst = (over: Partial<PlanInstance> = {}, rt: Partial<PlanInstanceRuntime> = {}): PlanInstance => ({
  name: 'vm1', state: 'present', deleteDisks: false, diskTemplate: 'sharedfile', primary: 'n1', memoryMiB: 256, vcpus: 1,
  disks: [{ index: 0, sizeMiB: 64, template: 'sharedfile', vg: 'vg', metaVg: 'vg', state: 'present' }], tags: [], runtime: runtime(rt), ...over,
});

const input = (i: PlanInstance): PlanInput => ({
  cluster: { name: 'lab', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [] },
  nodes: [node('n1'), node('n2')],
  networks: [{ name: 'lan', subnet: '198.18.10.0/24', gateway: '198.18.10.1', reserved: ['198.18.10.2-198.18.10.9'] }],
  instances: [i],
});

const disk = { '/srv/shared/vm1.disk0.img': { path: '/srv/shared/vm1.disk0.img', format: 'raw', virtualSizeMiB: 64 } };

/** Observed cluster where vm1 runs on `on` exactly as `desired` says, with `vm` overrides. */
function observedWith(desired: PlanInstance, on: string | undefined, vm: Partial<ObservedInstance> = {}, metaOver: Record<string, unknown> = {}): ObservedCluster {
  const empty = (n: string): ObservedNode => ({ ...emptyObservedNode(n, 't'), files: disk });
  const nodes = new Map([['n1', empty('n1')], ['n2', empty('n2')]]);
  if (on) {
    const inp = input(desired);
    const alloc = allocateNics(inp, { nodes: new Map([['n1', emptyObservedNode('n1', 't')], ['n2', emptyObservedNode('n2', 't')]]) }).nics.get('vm1')!;
    const launch = launchFor(desired, desired.primary!, undefined, alloc, inp, new Map(inp.nodes.map((n) => [n.name, n])));
    const o: ObservedInstance = {
      name: 'vm1', runState: 'running', guestShutdown: false, runtime: { specHash: 'x' },
      meta: { version: 1, instance: 'vm1', uuid: desired.runtime!.uuid, os: 'busybox+default', osGeneration: 1, restartGeneration: 0, nics: alloc, launch: launch as unknown as Record<string, unknown>, ...metaOver },
      ...vm,
    };
    nodes.set(on, { ...nodes.get(on)!, instances: { vm1: o } });
  }
  return { nodes };
}

const verbs = (i: PlanInstance, o: ObservedCluster) => plan(input(i), o).actions.map((a) => `${a.node}:${a.verb}`);

describe('instance runtime planning', () => {
  it('given a new instance it creates the disk, installs the OS then starts it, with an IP from the pool', () => {
    const bare: ObservedCluster = { nodes: new Map([['n1', emptyObservedNode('n1', 't')], ['n2', emptyObservedNode('n2', 't')]]) };
    const p = plan(input(inst()), bare);
    expect(p.actions.map((a) => a.verb)).toEqual(['file.create', 'instance.install', 'instance.start']);
    const install = p.actions[1]!;
    expect(install.verb === 'instance.install' && install.nicInfo[0]?.ip).toBe('198.18.10.10');
    expect(install.verb === 'instance.install' && install.record.nics[0]?.mac).toMatch(/^aa:00:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
  });

  it('given existing disks but no instance record anywhere it refuses to run the installer over them', () => {
    const p = plan(input(inst()), observedWith(inst(), undefined));
    expect(p.refused.map((r) => r.code)).toEqual(['DISKS_WITHOUT_RECORD']);
    expect(p.actions).toEqual([]);
  });

  it('given an install that failed midway (record without the target generation) it retries the install', () => {
    const p = plan(input(inst()), observedWith(inst(), 'n1', { runState: 'stopped', runtime: undefined }, { osGeneration: 0 }));
    expect(p.actions.map((a) => a.verb)).toEqual(['instance.install', 'instance.start']);
  });

  it('given a running instance matching the spec it plans nothing', () => {
    expect(verbs(inst(), observedWith(inst(), 'n1'))).toEqual([]);
  });

  it('given more memory in the manifest it plans the restart and names the field', () => {
    const p = plan(input(inst({ memoryMiB: 512 })), observedWith(inst(), 'n1'));
    expect(p.actions.map((a) => a.verb)).toEqual(['instance.stop', 'instance.start']);
    expect(p.entries.find((e) => e.subject === 'Instance/vm1')!.diffs).toContainEqual({ path: 'beParams.memory', desired: 512, observed: 256 });
    expect(p.actions[0]!.reason).toMatch(/beParams.memory changed; the change needs a restart/);
  });

  it('given a guest that powered itself off it stays USER_down', () => {
    const p = plan(input(inst()), observedWith(inst(), 'n1', { runState: 'shutdown', guestShutdown: true }));
    expect(p.actions).toEqual([]);
    expect(p.entries.find((e) => e.subject === 'Instance/vm1')!.notes.join('\n')).toMatch(/USER_down/);
  });

  it('given a crashed qemu (not stopped by Gantry) it restarts it', () => {
    expect(verbs(inst(), observedWith(inst(), 'n1', { runState: 'stopped' }))).toEqual(['n1:instance.start']);
  });

  it('given a crashed qemu and a watcher that must not restart, it only notes ERROR_down', () => {
    const i = inst({}, { restartErrorDown: false });
    expect(verbs(i, observedWith(i, 'n1', { runState: 'stopped' }))).toEqual([]);
  });

  it('given powerState stopped it stops a running VM and leaves an admin-stopped one alone', () => {
    const i = inst({}, { powerState: 'stopped' });
    expect(verbs(i, observedWith(inst(), 'n1'))).toEqual(['n1:instance.stop']);
    expect(verbs(i, observedWith(inst(), 'n1', { runState: 'stopped', adminStopped: true }))).toEqual([]);
  });

  it('given an admin-stopped VM and powerState running it starts it', () => {
    expect(verbs(inst(), observedWith(inst(), 'n1', { runState: 'stopped', adminStopped: true }))).toEqual(['n1:instance.start']);
  });

  it('given an OS generation bump it stops, reinstalls and starts', () => {
    const i = inst({}, { os: { name: 'busybox+default', params: {}, generation: 2 } });
    expect(verbs(i, observedWith(inst(), 'n1'))).toEqual(['n1:instance.stop', 'n1:instance.install', 'n1:instance.start']);
  });

  it('given a restartGeneration bump it power-cycles', () => {
    const i = inst({}, { restartGeneration: 1 });
    expect(verbs(i, observedWith(inst(), 'n1'))).toEqual(['n1:instance.stop', 'n1:instance.start']);
  });

  it('given a sharedfile VM running on n1 and primary n2 it live-migrates over the replication network', () => {
    const p = plan(input(inst({ primary: 'n2' })), observedWith(inst(), 'n1'));
    expect(p.actions).toMatchObject([{ verb: 'instance.migrate', node: 'n1', peer: 'n2', peerAddress: '198.19.0.12', bandwidthMiBps: 100 }]);
    expect(p.waves.flat()).toHaveLength(1);
  });

  it('given a sharedfile VM running on n1, primary n2 and powerState stopped, it stops it on n1 and neither migrates nor starts it (a failover)', () => {
    expect(verbs(inst({ primary: 'n2' }, { powerState: 'stopped' }), observedWith(inst(), 'n1'))).toEqual(['n1:instance.stop']);
  });

  it('given a plain VM running on n1 and primary n2 it refuses the move and says why', () => {
    const d = [{ index: 0, sizeMiB: 64, template: 'plain' as const, vg: 'vg', metaVg: 'vg', state: 'present' as const }];
    const i = inst({ primary: 'n2', diskTemplate: 'plain', disks: d });
    const p = plan(input(i), observedWith(inst(), 'n1'));
    expect(p.refused.map((r) => r.code)).toContain('MIGRATION_NEEDS_SHARED_STORAGE');
    expect(p.actions.filter((a) => a.verb.startsWith('instance.'))).toEqual([]);
  });

  it('given state absent it removes the VM runtime on every node that has it', () => {
    expect(verbs(inst({ state: 'absent' }), observedWith(inst(), 'n1'))).toEqual(['n1:instance.remove']);
  });

  it('given a recorded IP it keeps it even when the pool would now give another', () => {
    const o = observedWith(inst(), 'n1', {}, { nics: [{ mac: 'aa:00:00:00:00:01', ip: '198.18.10.77', network: 'lan' }] });
    const a = allocateNics(input(inst()), o);
    expect(a.nics.get('vm1')).toEqual([{ mac: 'aa:00:00:00:00:01', ip: '198.18.10.77', network: 'lan' }]);
  });
});
