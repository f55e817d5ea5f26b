/**
 * The thin runner for DRBD 9 over a Transport: each ensure reads the node first
 * (`drbdsetup events2 --now --statistics`, `drbdsetup show`, `status --json`, dump-md),
 * decides with plan9.ts and runs only the missing steps. Unknown is not absent: a failed
 * read stops the ensure with an error.
 *
 * DRBD 9 cannot run on this machine: this runner is exercised against sim/drbd9-double.ts
 * (a test double), never against a real DRBD 9 module.
 */
import type { Transport } from '../../transport/transport.js';
import { ExecError, PrereqError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { firstLine } from '../facts/shared.js';
import { dumpMdCmd as dumpMd84Cmd, wipeMetaCmd } from './cmd84.js';
import { metaState } from './plan84.js';
import * as c from './cmd9.js';
import { redact, runAll, type EnsureResult, type WaitOptions } from './ops.js';
import { parseEvents2 } from './parse-events2.js';
import { parseDrbdShow, type ShowResource } from './parse-show.js';
import { parseStatusJson } from './parse-status-json.js';
import { dropPeer9Cmds, dualPrimary9Of, failover9Decision, migrationReady9Problem, initialSync9Decision, metaState9, planUp9, promote9Decision, sync9Done, type Drbd9Spec, type Up9Step } from './plan9.js';
import { isConnected, type DrbdDevice, type DrbdSnapshot } from './state.js';

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function readFailed(node: string, argv: readonly string[], code: number | null, text: string): ExecError {
  return new ExecError('DRBD_READ_FAILED', `${node}: ${redact(argv).join(' ')} exited ${code}: ${firstLine(text)}`, { node });
}

export async function readEvents9(t: Transport): Promise<DrbdSnapshot> {
  const argv = c.events2NowCmd();
  const r = await t.exec(argv);
  if (r.code !== 0) throw readFailed(t.node, argv, r.code, r.stderr || r.stdout);
  return parseEvents2(r.stdout);
}

async function readShow9(t: Transport, resource: string): Promise<ShowResource | undefined> {
  const argv = c.showCmd(resource);
  const r = await t.exec(argv);
  if (r.code !== 0) throw readFailed(t.node, argv, r.code, r.stderr || r.stdout);
  return parseDrbdShow(r.stdout).find((x) => x.name === resource);
}

async function device9(t: Transport, minor: number): Promise<DrbdDevice | undefined> {
  return (await readEvents9(t)).devices.find((d) => d.minor === minor);
}

/** Metadata v09 for `maxPeers` peers on a meta LV that has none (zeroed first); existing metadata (v09, or 8.4's v08) is never overwritten. */
export async function ensureMetadata9(t: Transport, minor: number, metaDev: string, maxPeers: number, log?: Logger): Promise<EnsureResult<'wipe' | 'create-md'>> {
  if ((await readEvents9(t)).devices.some((d) => d.minor === minor)) return { ran: [], steps: [] };
  const argv = c.dumpMdCmd(minor, metaDev);
  const r = await t.exec(argv);
  const state = metaState9(r.code, `${r.stdout}\n${r.stderr}`);
  if (state === 'present') return { ran: [], steps: [] };
  if (state === 'unknown') throw readFailed(t.node, argv, r.code, r.stderr || r.stdout);
  // No v09 metadata: it may still hold 8.4's v08 (a node upgraded to 9): never wiped.
  const old = await t.exec(dumpMd84Cmd(minor, metaDev));
  const v08 = metaState(old.code, `${old.stdout}\n${old.stderr}`);
  if (v08 === 'present') throw new PrereqError('DRBD_META_V08', `${t.node}: ${metaDev} holds DRBD 8.4 (v08) metadata: not overwritten. Convert it by hand (drbdadm create-md offers the v08 -> v09 conversion) or remove the disk explicitly`, { node: t.node, metaDev });
  if (v08 === 'unknown') throw readFailed(t.node, dumpMd84Cmd(minor, metaDev), old.code, old.stderr || old.stdout);
  return { ran: await runAll(t, [wipeMetaCmd(metaDev), c.createMdCmd(minor, metaDev, maxPeers)], log), steps: ['wipe', 'create-md'] };
}

/** Bring the resource up, or add the peers it lacks (new replicas); a no-op when all is there. */
export async function ensureUp9(t: Transport, spec: Drbd9Spec, log?: Logger): Promise<EnsureResult<Up9Step>> {
  const events = await readEvents9(t);
  const cfg = (events.resources ?? []).includes(spec.resource) ? await readShow9(t, spec.resource) : undefined;
  const d = planUp9(spec, events, cfg);
  if (d.kind === 'refuse') throw d.error;
  return { ran: await runAll(t, d.commands, log), steps: d.steps };
}

async function waitFor(t: Transport, minor: number, w: WaitOptions, done: (d: DrbdDevice | undefined) => boolean): Promise<DrbdDevice | undefined> {
  const sleep = w.sleep ?? realSleep;
  const step = w.intervalMs ?? 1000;
  for (let waited = 0; ; waited += step) {
    const dev = await device9(t, minor);
    if (done(dev) || waited >= w.timeoutMs) return dev;
    await sleep(step);
  }
}

/** primary --force for the initial sync, once every peer connected (all Inconsistent). */
export async function startInitialSync9(t: Transport, resource: string, minor: number, w: WaitOptions, log?: Logger): Promise<EnsureResult<'force-primary'>> {
  const dev = await waitFor(t, minor, w, (d) => d !== undefined && d.peers.length > 0 && d.peers.every(isConnected));
  const dec = initialSync9Decision(resource, dev);
  if (dec === 'done') return { ran: [], steps: [] };
  if (dec !== 'force') throw dec;
  return { ran: await runAll(t, [c.forcePrimaryForInitialSyncCmd(resource)], log), steps: ['force-primary'] };
}

/** Promote once allowed (quorum, or a connected peer without quorum); a refusal naming what was seen when the wait runs out. */
export async function ensurePrimary9(t: Transport, resource: string, minor: number, quorumOn: boolean, w: WaitOptions, log?: Logger): Promise<EnsureResult<'primary'>> {
  const dev = await waitFor(t, minor, w, (d) => promote9Decision(resource, d, quorumOn) !== 'wait');
  const dec = promote9Decision(resource, dev, quorumOn);
  if (dec === 'done') return { ran: [], steps: [] };
  if (dec === 'wait') {
    if (!dev) throw new ExecError('DRBD_NOT_UP', `${t.node}: ${resource} is not configured: nothing to promote`, { node: t.node, resource });
    const why = quorumOn ? `quorum ${dev.quorum === true ? 'yes' : 'no'}` : 'no peer connected';
    throw new ExecError(quorumOn && dev.quorum !== true ? 'DRBD_NO_QUORUM' : 'DRBD_PEER_MISSING', `${t.node}: not promoting ${resource} within ${Math.round(w.timeoutMs / 1000)} s (disk ${dev.disk ?? '?'}, ${why}); this side may hold stale data`, { node: t.node, resource });
  }
  return { ran: await runAll(t, [c.primaryCmd(resource)], log), steps: ['primary'] };
}

export async function ensureFailoverPrimary9(t: Transport, resource: string, minor: number, fromNodeId: number | undefined, force: boolean, quorumOn: boolean, log?: Logger): Promise<EnsureResult<'primary' | 'force-primary'>> {
  const d = failover9Decision(resource, await device9(t, minor), fromNodeId, force, quorumOn);
  if (d === 'done') return { ran: [], steps: [] };
  if (!('argv' in d)) throw d;
  return { ran: await runAll(t, [d.argv], log), steps: [d.argv.includes('--force') ? 'force-primary' : 'primary'] };
}

export async function ensureSecondary9(t: Transport, resource: string, minor: number, log?: Logger): Promise<EnsureResult<'secondary'>> {
  const dev = await device9(t, minor);
  if (!dev || dev.role !== 'Primary') return { ran: [], steps: [] };
  return { ran: await runAll(t, [c.secondaryCmd(resource)], log), steps: ['secondary'] };
}

export async function ensureResized9(t: Transport, minor: number, sizeMiB: number, log?: Logger): Promise<EnsureResult<'resize'>> {
  const dev = await device9(t, minor);
  if (!dev) throw new ExecError('DRBD_NOT_UP', `${t.node}: minor ${minor} is not configured: nothing to resize`, { node: t.node, minor });
  if (dev.sizeKiB !== undefined && dev.sizeKiB >= sizeMiB * 1024) return { ran: [], steps: [] };
  return { ran: await runAll(t, [c.resizeCmd(minor, sizeMiB)], log), steps: ['resize'] };
}

/** A replica leaves: this node disconnects from and forgets node id `peerNodeId` (no-op when it has no such peer). */
export async function ensurePeerDropped9(t: Transport, resource: string, peerNodeId: number, log?: Logger): Promise<EnsureResult<'disconnect' | 'del-peer'>> {
  const events = await readEvents9(t);
  if (!(events.resources ?? []).includes(resource)) throw new ExecError('DRBD_NOT_UP', `${t.node}: DRBD resource ${resource} is not up: no peer to drop`, { node: t.node, resource });
  const cmds = dropPeer9Cmds(resource, await readShow9(t, resource), peerNodeId);
  return { ran: await runAll(t, cmds, log), steps: cmds.map((x) => (x[1] === 'disconnect' ? 'disconnect' : 'del-peer')) };
}

/** Wait until the peer `peerNodeId` (every peer when undefined) is UpToDate here (status --json, with the progress in the error when time runs out). */
export async function waitForSync9(t: Transport, resource: string, minor: number, peerNodeId: number | undefined, w: WaitOptions): Promise<EnsureResult<never>> {
  const sleep = w.sleep ?? realSleep;
  const step = w.intervalMs ?? 2000;
  for (let waited = 0; ; waited += step) {
    const argv = c.statusJsonCmd(resource);
    const r = await t.exec(argv);
    if (r.code !== 0) throw readFailed(t.node, argv, r.code, r.stderr || r.stdout);
    const dev = parseStatusJson(r.stdout).devices.find((d) => d.minor === minor);
    if (!dev) throw new ExecError('DRBD_NOT_UP', `${t.node}: minor ${minor} is not configured: no resync to wait for`, { node: t.node, minor });
    if (sync9Done(dev, peerNodeId)) return { ran: [], steps: [] };
    if (waited >= w.timeoutMs) {
      const p = dev.peers.find((x) => peerNodeId === undefined || x.nodeId === peerNodeId);
      const progress = p?.sync ? `, ${p.sync.percent.toFixed(1)}% done` : '';
      throw new ExecError('DRBD_SYNC_PENDING', `${t.node}: ${resource} is not in sync with node id ${peerNodeId ?? 'all'} after ${Math.round(w.timeoutMs / 1000)} s (disk ${dev.disk ?? '?'}, peer ${p?.replication ?? p?.connection ?? 'none'} ${p?.disk ?? ''}${progress}); the next pass waits again`, { node: t.node, minor });
    }
    await sleep(step);
  }
}

/** Read-only check before a live migration, toward the peer `peerNodeId` (throws DRBD_MIGRATION_NOT_READY). */
export async function checkMigrationReady9(t: Transport, minor: number, peerNodeId: number): Promise<void> {
  const problem = migrationReady9Problem(await device9(t, minor), peerNodeId);
  if (problem !== undefined) throw new PrereqError('DRBD_MIGRATION_NOT_READY', `${t.node}: minor ${minor} is not ready for a live migration: it needs Connected and UpToDate/UpToDate toward node id ${peerNodeId} (now ${problem})`, { node: t.node, minor });
}

/** Set or clear allow-two-primaries on this node's connection to `peerNodeId`, when it differs (net-options, no reconnect). */
export async function ensureDualPrimary9(t: Transport, resource: string, peerNodeId: number, allow: boolean, log?: Logger): Promise<EnsureResult<'dual-primary'>> {
  const now = dualPrimary9Of(await readShow9(t, resource), peerNodeId);
  if (now === undefined) throw new PrereqError('DRBD_NOT_CONNECTED', `${t.node}: ${resource} has no peer with node id ${peerNodeId}: allow-two-primaries needs that connection`, { node: t.node, resource });
  if (now === allow) return { ran: [], steps: [] };
  return { ran: await runAll(t, [c.allowTwoPrimariesCmd(resource, peerNodeId, allow)], log), steps: ['dual-primary'] };
}

/** Live migration, on the destination: promote beside the Primary source, only ready and with allow-two-primaries set here. */
export async function ensureMigrationPrimary9(t: Transport, resource: string, minor: number, peerNodeId: number, log?: Logger): Promise<EnsureResult<'primary'>> {
  const dev = await device9(t, minor);
  if (dev?.role === 'Primary') return { ran: [], steps: [] };
  const problem = migrationReady9Problem(dev, peerNodeId);
  if (problem !== undefined) throw new PrereqError('DRBD_MIGRATION_NOT_READY', `${t.node}: not promoting ${resource} for a live migration (now ${problem})`, { node: t.node, resource });
  const peerPrimary = dev!.peers.some((p) => p.nodeId === peerNodeId && p.role === 'Primary');
  if (peerPrimary && dualPrimary9Of(await readShow9(t, resource), peerNodeId) !== true) throw new PrereqError('DRBD_NO_DUAL_PRIMARY', `${t.node}: not promoting ${resource}: the peer is Primary and allow-two-primaries is not set on this connection`, { node: t.node, resource });
  return { ran: await runAll(t, [c.primaryCmd(resource)], log), steps: ['primary'] };
}
