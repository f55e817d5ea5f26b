import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { editDocument } from './edits.js';
import { growDiskChange, modifyInstanceChange } from './modify.js';
import { RapiHttpError } from './server.js';

const CLUSTER = `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  enabledDiskTemplates: [plain]
  storage: {volumeGroup: vg0}
  hvParams: {kvm: {kernelPath: /boot/vmlinuz}}
---
apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 198.18.1.1}
`;
const INSTANCE = `# web server, owned by team a
apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: {name: web1}
spec:
  os: {name: none}
  diskTemplate: plain
  disks: [{size: 1G}] # the root disk
  beParams: {memory: 256M}
  placement: {primary: n1}
`;

let dir: string;
let state: DesiredState;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gantry-modify-'));
  await writeFile(path.join(dir, 'cluster.yaml'), CLUSTER);
  await writeFile(path.join(dir, 'web1.yaml'), INSTANCE);
  state = (await loadDesired([dir])).state!;
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** The change applied to web1's file and the result loaded as the writes do it, then the change's own check. */
async function apply(body: unknown): Promise<{ text: string; next: DesiredState }> {
  const change = modifyInstanceChange(body, state.instances.get('web1')!);
  const text = editDocument(INSTANCE, 'Instance', 'web1', change.edit!);
  const { state: next, errors } = await loadDesired([dir], new Map([[path.join(dir, 'web1.yaml'), text]]));
  if (!next) throw new Error(errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  change.check?.(next);
  return { text, next };
}

describe('modify request -> Instance manifest edit', () => {
  it('given beparams and hvparams under Ganeti names, it writes the manifest keys, keeping comments', async () => {
    const { text, next } = await apply({ beparams: { maxmem: 512, vcpus: 4, auto_balance: false }, hvparams: { boot_order: 'network', usb_mouse: 'tablet', kvm_flag: 'disabled' } });
    expect(text).toContain('# web server, owned by team a');
    expect(text).toContain('# the root disk');
    expect(next.instances.get('web1')!.beParams).toEqual({ memory: 512, vcpus: 4, autoBalance: false, spindleUse: 1 });
    expect(next.instances.get('web1')!.hvParams).toMatchObject({ bootOrder: 'network', usbMouse: 'tablet', accel: 'tcg' });
  });

  it('given a kernel_path "" the cluster sets for every instance, it refuses hvparams.kernel_path (an instance cannot unset it)', async () => {
    const e = await apply({ hvparams: { kernel_path: '' } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RapiHttpError);
    expect((e as RapiHttpError).explain).toMatch(/^hvparams\.kernel_path: the cluster or group sets kernelPath to "\/boot\/vmlinuz"/);
  });

  it('given osparams and os_name, it writes spec.os; "default" removes a parameter again', async () => {
    const { next } = await apply({ os_name: 'debootstrap+default', osparams: { release: 'bookworm' } });
    expect(next.instances.get('web1')!.os).toMatchObject({ name: 'debootstrap+default', params: { release: 'bookworm' } });
    const change = modifyInstanceChange({ osparams: { release: 'default' } }, next.instances.get('web1')!);
    const text = editDocument(editDocument(INSTANCE, 'Instance', 'web1', modifyInstanceChange({ osparams: { release: 'bookworm', x: '1' } }, state.instances.get('web1')!).edit!), 'Instance', 'web1', change.edit!);
    expect(text).not.toContain('release');
    expect(text).toContain('x: "1"');
  });

  it('given legacy two-element disk and NIC modifications, it reads [op, params] and [index, params]', async () => {
    const { next } = await apply({ disks: [['add', { size: 128 }], [0, { mode: 'ro' }]], nics: [['add', { ip: 'none', link: 'br0', mode: 'bridged' }]] });
    const i = next.instances.get('web1')!;
    expect(i.disks.map((d) => [d.size, d.mode])).toEqual([[1024, 'ro'], [128, 'rw']]);
    expect(i.nics).toHaveLength(1);
    expect(i.nics[0]).toMatchObject({ ip: 'none', link: 'br0', mode: 'bridged' });
  });

  it('given a disk modify with a larger size, it writes the new size (whole GiB as G) and keeps the comment; a smaller one is a 400 on the size', async () => {
    const { text, next } = await apply({ disks: [['modify', 0, { size: 2048 }]] });
    expect(text).toContain('size: 2G');
    expect(text).toContain('# the root disk');
    expect(next.instances.get('web1')!.disks[0]!.size).toBe(2048);
    const e = await apply({ disks: [['modify', 0, { size: 512 }]] }).catch((x: unknown) => x);
    expect((e as RapiHttpError).explain).toMatch(/^disks\[0\]\.size: 512 MiB is smaller than disk 0 of web1 \(1024 MiB\): disks are never shrunk/);
  });
});

describe('disk grow request -> Instance manifest edit', () => {
  const grow = async (body: unknown, idx = '0') => {
    const change = growDiskChange(body, state.instances.get('web1')!, idx);
    const text = editDocument(INSTANCE, 'Instance', 'web1', change.edit!);
    const { state: next } = await loadDesired([dir], new Map([[path.join(dir, 'web1.yaml'), text]]));
    change.check?.(next!);
    return { change, text, size: next!.instances.get('web1')!.disks[0]!.size };
  };
  const refusal = (body: unknown, idx = '0') => grow(body, idx).then(() => 'accepted', (e: RapiHttpError) => e.explain);

  it('given amount, it adds it to the disk size (MiB) as Ganeti\'s OpInstanceGrowDisk does; with absolute, amount is the new size', async () => {
    const r = await grow({ amount: 100, wait_for_sync: false });
    expect(r.size).toBe(1124);
    expect(r.text).toContain('size: 1124M');
    expect(r.change.op).toMatchObject({ OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: 'web1', disk: 0, amount: 100, absolute: false });
    expect((await grow({ amount: 3072, absolute: true })).size).toBe(3072);
  });

  it('given a missing or zero amount, a shrink, an unknown disk or field, it answers 400 naming it', async () => {
    expect(await refusal({})).toMatch(/^amount: missing/);
    expect(await refusal({ amount: 0 })).toMatch(/^amount: expected more than 0/);
    expect(await refusal({ amount: 512, absolute: true })).toMatch(/^amount: 512 MiB is smaller/);
    expect(await refusal({ amount: 10 }, '1')).toMatch(/^disk: web1 has no disk 1/);
    expect(await refusal({ amount: 10, ignore_ipolicy: true })).toMatch(/^ignore_ipolicy: not supported/);
    expect(await refusal({ amount: 10, spindles: 2 })).toMatch(/^spindles: not supported/);
  });
});
