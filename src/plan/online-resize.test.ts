import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Action } from '../core/actions.js';
import type { ObservedInstance } from '../core/observed.js';
import { loadDesired } from '../desired/load.js';
import { reconcileOnce } from '../runtime/reconcile.js';
import { SimCluster } from '../sim/index.js';
import { silentLogger } from '../util/log.js';
import { planOnlineResize, type WantedDrive } from './online-resize.js';

const IMG = '/srv/gantry/shared/web1.disk0';
const LV = '/dev/vg0/web1.disk1';
const wanted: WantedDrive[] = [
  { index: 0, path: IMG, sizeMiB: 2048, file: true },
  { index: 1, path: LV, sizeMiB: 512, file: false },
];
const grow: Action = { verb: 'file.grow', node: 'n1', subject: 'Instance/web1', path: IMG, sizeMiB: 2048, format: 'raw', reason: 'disk 0 grows' };
const extend: Action = { verb: 'lv.extend', node: 'n1', subject: 'Instance/web1', vg: 'vg0', name: 'web1.disk1', sizeMiB: 512, reason: 'disk 1 grows' };
const vm = (runState: ObservedInstance['runState'], drives?: ObservedInstance['drives']): ObservedInstance => ({ name: 'web1', runState, guestShutdown: false, ...(drives ? { drives } : {}) });
const runDir = (n: string) => `/run/${n}`;

describe('growing the disks of a running instance (pure)', () => {
  it('given a running QEMU with both disks open smaller, it drops the qemu-img grow of the image it holds and resizes both drives through QEMU', () => {
    const r = planOnlineResize('web1', wanted, [grow, extend], [{ node: 'n1', vm: vm('running', [
      { drive: 'disk0', path: IMG, sizeMiB: 1024 }, { drive: 'disk1', path: LV, sizeMiB: 256 },
    ]) }], runDir);
    expect(r.actions).toEqual([extend]);
    expect(r.resizes.map((a) => [a.node, a.drive, a.path, a.sizeMiB, a.runDir])).toEqual([['n1', 'disk0', IMG, 2048, '/run/n1'], ['n1', 'disk1', LV, 512, '/run/n1']]);
    expect(r.resizes[0]!.reason).toMatch(/grows from 1024 to 2048 MiB while web1 runs on n1: QEMU grows the image/);
    expect(r.notes).toEqual([]);
  });

  it('given the drives already at the size (a pass cut off after the resize), it plans nothing more and no qemu-img on the held image', () => {
    const r = planOnlineResize('web1', wanted, [grow], [{ node: 'n1', vm: vm('running', [
      { drive: 'disk0', path: IMG, sizeMiB: 2048 }, { drive: 'disk1', path: LV, sizeMiB: 512 },
    ]) }], runDir);
    expect(r).toEqual({ actions: [], resizes: [], notes: [] });
  });

  it('given the LV grown but QEMU not told (cut off in between), it resizes the drive with no device action planned', () => {
    const r = planOnlineResize('web1', wanted, [], [{ node: 'n1', vm: vm('running', [{ drive: 'disk1', path: LV, sizeMiB: 256 }]) }], runDir);
    expect(r.resizes.map((a) => a.drive)).toEqual(['disk1']);
  });

  it('given a running QEMU whose drives were not read, it holds the image grow with a note instead of running qemu-img on a locked image', () => {
    const r = planOnlineResize('web1', wanted, [grow, extend], [{ node: 'n2', vm: vm('running') }], runDir);
    expect(r.actions).toEqual([extend]);
    expect(r.resizes).toEqual([]);
    expect(r.notes).toEqual([expect.stringMatching(/disk 0 .* grows through QEMU once its drive sizes on n2 can be read/)]);
  });

  it('given no live copy (stopped), it leaves the grows to qemu-img and lvextend', () => {
    const r = planOnlineResize('web1', wanted, [grow, extend], [{ node: 'n1', vm: vm('stopped') }], runDir);
    expect(r).toEqual({ actions: [grow, extend], resizes: [], notes: [] });
  });
});

const SHARED = '/srv/gantry/shared';
const manifest = (size0: string, size1: string) => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [sharedfile, plain]
  hvParams: {kvm: {accel: tcg}}
  beParams: {vcpus: 1, memory: 256M}
  storage: {volumeGroup: vg0, sharedFileStorageDir: ${SHARED}}
  nodeProfile: {volumeGroups: [{name: vg0, pvs: [/dev/sdb]}]}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 198.18.0.11}
---
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec:
  os: {name: none}
  diskTemplate: sharedfile
  placement: {primary: n1}
  disks: [{size: ${size0}}, {size: ${size1}, template: plain}]
`;

describe('growing the disks of a running instance (simulated node, real planner)', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-grow-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('given a running instance whose image and LV grow in the manifest, the plan grows the LV, then QEMU grows the image and is told of the LV; the instance keeps running and a re-plan is empty', async () => {
    const s = new SimCluster([{ name: 'n1', blockDevices: { '/dev/sdb': 65_536 }, ovs: false }], { sharedDirs: [SHARED] });
    const load = async (a: string, b: string) => {
      await mkdir(path.join(dir, 'm'), { recursive: true });
      await writeFile(path.join(dir, 'm', 'all.yaml'), manifest(a, b));
      const { state, errors } = await loadDesired([path.join(dir, 'm')]);
      expect(errors).toEqual([]);
      return state!;
    };
    const pass = async (state: Awaited<ReturnType<typeof load>>, apply: boolean) =>
      reconcileOnce(state, { logger: silentLogger(), ops: s.nodes, stateDir: path.join(dir, 'state') }, { apply });
    const small = await load('1G', '256M');
    for (let i = 0; i < 5 && (await pass(small, true)).plan.actions.length > 0; i++);
    expect(s.snapshot().n1?.instances.web1?.drives).toEqual([
      { drive: 'disk0', path: `${SHARED}/web1.disk0.img`, sizeMiB: 1024 }, { drive: 'disk1', path: '/dev/vg0/web1.disk1', sizeMiB: 256 },
    ]);

    const big = await load('2G', '512M');
    const dry = await pass(big, false);
    expect(dry.plan.actions.map((a) => `${a.verb} ${'drive' in a ? a.drive : ''}`.trim())).toEqual(['lv.extend', 'instance.block-resize disk0', 'instance.block-resize disk1']);
    const applied = await pass(big, true);
    expect(applied.report?.results.map((r) => [r.action.verb, r.ok])).toEqual([['lv.extend', true], ['instance.block-resize', true], ['instance.block-resize', true]]);
    const n1 = s.snapshot().n1!;
    expect(n1.instances.web1?.runState).toBe('running');
    expect(n1.instances.web1?.drives?.map((d) => d.sizeMiB)).toEqual([2048, 512]);
    expect((await pass(big, false)).plan.actions).toEqual([]);
  });
});
