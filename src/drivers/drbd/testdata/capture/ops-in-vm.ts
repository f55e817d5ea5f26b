/**
 * Run the 8.4 runner (ops.ts) for real inside the one-VM capture rig (boot-vm.sh), on
 * two resources linked over loopback, and print what each ensure did as JSON lines:
 * create, bring-up, initial sync, a second pass that must do nothing, and hand-made
 * drift (down, disconnect, detach) that must be repaired. Inside the VM:
 *   cd /work/wt/drbd-driver && node_modules/.bin/tsx src/drivers/drbd/testdata/capture/ops-in-vm.ts
 */
import { LocalTransport } from '../../../../transport/local.js';
import { silentLogger } from '../../../../util/log.js';
import * as ops from '../../ops.js';
import type { Drbd84Spec } from '../../plan84.js';

const t = new LocalTransport({ logger: silentLogger(), node: 'capture-vm', commandTimeoutMs: 120_000 });
const resync = { kind: 'fixed', rateKiB: 65536 } as const;
const A: Drbd84Spec = { resource: 'resource0', minor: 0, dataDev: '/dev/vda', metaDev: '/dev/vdb', sizeMiB: 240, resync,
  net: { local: { host: '127.0.0.1', port: 7788 }, peer: { host: '127.0.0.2', port: 7789 }, auth: { hmac: 'md5', secret: 'lab-secret-1' } } };
const B: Drbd84Spec = { ...A, resource: 'resource1', minor: 1, dataDev: '/dev/vdc', metaDev: '/dev/vdd',
  net: { ...A.net, local: A.net.peer, peer: A.net.local } };

async function step(name: string, f: () => Promise<{ steps: readonly string[] }>): Promise<void> {
  const start = Date.now();
  try {
    const r = await f();
    console.log(JSON.stringify({ name, ok: true, ms: Date.now() - start, ...r }));
  } catch (e) {
    const err = e as { code?: string; message: string };
    console.log(JSON.stringify({ name, ok: false, ms: Date.now() - start, code: err.code, message: err.message }));
  }
}
async function waitUpToDate(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const s = await ops.readEvents(t);
    if (s.devices.length === 2 && s.devices.every((d) => d.disk === 'UpToDate' && d.peers[0]?.disk === 'UpToDate')) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error('not UpToDate after 120 s');
}
const sh = async (argv: string[]): Promise<{ steps: string[] }> => ({ steps: [`${argv.join(' ')} -> ${(await t.exec(argv)).code}`] });

await step('metadata A', () => ops.ensureMetadata(t, A));
await step('metadata B', () => ops.ensureMetadata(t, B));
await step('metadata A again (kept)', () => ops.ensureMetadata(t, A));
await step('up A', () => ops.ensureUp(t, A));
await step('up B', () => ops.ensureUp(t, B));
await new Promise((r) => setTimeout(r, 3000));
await step('initial sync on 0', () => ops.startInitialSync(t, 0));
await step('initial sync on 1 (already syncing: nothing)', () => ops.startInitialSync(t, 1));
await step('wait UpToDate', async () => { await waitUpToDate(); return { steps: [] }; });
await step('up A again (nothing)', () => ops.ensureUp(t, A));
await step('up B again (nothing)', () => ops.ensureUp(t, B));
await step('drift: secondary 0, down resource1', async () => { await sh(['drbdsetup', 'secondary', '0']); return sh(['drbdsetup', 'down', 'resource1']); });
await step('repair B', () => ops.ensureUp(t, B));
await step('metadata B after down (kept)', () => ops.ensureMetadata(t, B));
await step('drift: disconnect A', () => sh(['drbdsetup', 'disconnect', 'ipv4:127.0.0.1:7788', 'ipv4:127.0.0.2:7789']));
await step('repair A (connect)', () => ops.ensureUp(t, A));
await step('wait UpToDate', async () => { await waitUpToDate(); return { steps: [] }; });
await step('drift: detach A', () => sh(['drbdsetup', 'detach', '0']));
await step('repair A (attach)', () => ops.ensureUp(t, A));
await step('wrong peer for B (refused)', () => ops.ensureUp(t, { ...B, net: { ...B.net, peer: { host: '127.0.0.1', port: 7790 } } }));
await step('wrong disk for A (refused)', () => ops.ensureUp(t, { ...A, dataDev: '/dev/vdc' }));
await step('wait UpToDate', async () => { await waitUpToDate(); return { steps: [] }; });
await step('events2 after repairs', async () => ({ steps: (await ops.readEvents(t)).devices.map((d) => `${d.minor} ${d.role} ${d.disk} ${d.peers[0]?.connection} ${d.peers[0]?.disk}`) }));
await step('down A', () => ops.ensureDown(t, 'resource0'));
await step('down A again (nothing)', () => ops.ensureDown(t, 'resource0'));
await step('down B', () => ops.ensureDown(t, 'resource1'));
