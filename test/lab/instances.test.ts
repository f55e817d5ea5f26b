/**
 * Issue 4 on the real lab: instances declared in YAML run as real QEMU guests (TCG) on
 * the lab nodes. Boot and serial console, stop/start/reboot/reinstall from manifest
 * edits, live migration that keeps the guest counting, a killed qemu restarted by the
 * loop, a guest that powers itself off left USER_down, and a second apply that plans
 * nothing after every step. KVM acceleration is the one thing not real here (TCG).
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { killGuests, labPasses } from '../helpers/passes.js';
import { connectNodes } from '../../src/execute/connect.js';
import { reconcileOnce, type ReconcileResult } from '../../src/runtime/reconcile.js';
import { startDaemon } from '../../src/runtime/daemon.js';
import { silentLogger } from '../../src/util/log.js';

const skip = await labSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('given a 3-node lab and the example instances placed on it', () => {
  const lab = useLab({ nodes: 3, manifestsDir: path.join(tmpdir(), `gantry-inst-nodes-${process.pid}`) });
  let m: ManifestSet;
  const logger = silentLogger();
  const placement: Record<string, string> = { web1: 'node1', web2: 'node2', db1: 'node3', archive1: 'node2' };

  const { pass, converge } = labPasses(() => m.load());
  const runDir = (node: string, inst: string) => path.join(lab.up.record.stateDir, node, 'run', inst);
  const consoleOf = async (node: string, inst: string) => readFile(path.join(runDir(node, inst), 'console.log'), 'utf8').catch(() => '');
  const waitConsole = async (node: string, inst: string, re: RegExp | ((text: string) => boolean), ms = 90_000): Promise<string> => {
    const until = Date.now() + ms;
    for (;;) {
      const text = await consoleOf(node, inst);
      if (typeof re === 'function' ? re(text) : re.test(text)) return text;
      if (Date.now() > until) throw new Error(`console of ${inst} on ${node} never matched ${re}: ...${text.slice(-300)}`);
      await sleep(500);
    }
  };
  const lastTick = (text: string, inst: string) => Math.max(0, ...[...text.matchAll(new RegExp(`gantry-guest ${inst} tick (\\d+)`, 'g'))].map((x) => Number(x[1])));
  const statusOf = (r: ReconcileResult, inst: string) => r.statuses.find((s) => s.subject === `Instance/${inst}`)?.facts.status;
  /** Plan (without applying) until the instance shows `want`, for up to a minute. */
  const untilStatus = async (inst: string, want: string): Promise<ReconcileResult> => {
    const until = Date.now() + 60_000;
    let r = await pass(false);
    while (statusOf(r, inst) !== want && Date.now() < until) {
      await sleep(1000);
      r = await pass(false);
    }
    return r;
  };
  const editInstance = (name: string, fn: (spec: Record<string, any>) => void) => m.edit('instances.yaml', (docs) => fn(docs.find((d) => d.metadata.name === name)!.spec));

  beforeAll(async () => {
    m = await labManifests(lab);
    await m.edit('instances.yaml', (docs) => {
      for (const d of docs) d.spec.placement = { primary: placement[d.metadata.name] };
    });
  });
  afterAll(async () => {
    // Stop the guests this file started (by the PIDs in their pid files) before the lab goes.
    if (m) await killGuests(await m.load()).catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent')));
    await pass(true).catch(() => undefined);
    await m?.cleanup();
  });

  it('three instances created from manifests boot and print to their serial consoles', async () => {
    const r = await converge();
    expect(r.plan.actions.filter((a) => a.verb === 'instance.start').map((a) => a.subject).sort()).toEqual(['Instance/db1', 'Instance/web1', 'Instance/web2']);
    for (const [inst, node] of [['web1', 'node1'], ['web2', 'node2'], ['db1', 'node3']] as const) {
      await waitConsole(node, inst, new RegExp(`gantry-guest ${inst} tick 2`));
    }
    // The OS install passed the pool IP to the guest through the OS interface.
    expect(await consoleOf('node1', 'web1')).toMatch(/gantry-guest web1 ip 198\.18\.100\.\d+/);
    const again = await pass(false);
    expect(again.plan.actions).toEqual([]);
    expect(statusOf(again, 'web1')).toBe('running');
    expect(statusOf(again, 'archive1')).toBe('ADMIN_down');
  });

  it('powerState stopped stops the guest (ADMIN_down) and running starts it again', async () => {
    await editInstance('web2', (s) => (s.powerState = 'stopped'));
    const stopped = await converge();
    expect(statusOf(stopped, 'web2')).toBe('ADMIN_down');
    await editInstance('web2', (s) => (s.powerState = 'running'));
    const started = await converge();
    expect(statusOf(started, 'web2')).toBe('running');
  });

  it('a restartGeneration bump power-cycles the guest: it boots again from tick 1', async () => {
    const boots = (t: string) => t.split('gantry-guest web2 booted').length - 1;
    const before = boots(await waitConsole('node2', 'web2', /gantry-guest web2 tick 2/));
    await editInstance('web2', (s) => (s.restartGeneration = 1));
    const r = await converge();
    expect(r.plan.actions.map((a) => a.verb)).toEqual(['instance.stop', 'instance.start']);
    // The console log is appended across boots: one more boot, then the count starts over.
    const text = await waitConsole('node2', 'web2', (t) => boots(t) > before && /booted[^]*tick 1\r?\n[^]*$/.test(t.slice(t.lastIndexOf('web2 booted'))));
    expect(boots(text)).toBe(before + 1);
  });

  it('an OS generation bump reinstalls: the new OS params reach the guest', async () => {
    await editInstance('db1', (s) => {
      s.os.generation = 2;
      s.os.params = { message: 'reinstalled-gen2' };
    });
    const r = await converge();
    expect(r.plan.actions.map((a) => a.verb)).toEqual(['instance.stop', 'instance.install', 'instance.start']);
    await waitConsole('node3', 'db1', /reinstalled-gen2/);
  });

  it('more memory in the manifest plans the restart it needs, and says why', async () => {
    await editInstance('web2', (s) => (s.beParams = { memory: '128M' }));
    const p = await pass(false);
    expect(p.plan.actions.map((a) => a.verb)).toEqual(['instance.stop', 'instance.start']);
    expect(p.plan.actions[0]!.reason).toMatch(/beParams.memory changed; the change needs a restart/);
    await converge();
  });

  it('changing the primary of a sharedfile instance live-migrates it and the guest keeps counting', async () => {
    const before = lastTick(await waitConsole('node1', 'web1', /tick 5/), 'web1');
    await editInstance('web1', (s) => (s.placement.primary = 'node3'));
    const r = await converge();
    expect(r.plan.actions.map((a) => `${a.verb} ${a.node}`)).toEqual(['instance.migrate node1']);
    expect(statusOf(r, 'web1')).toBe('running');
    // The destination's console continues the count: no new boot on node3 (node2 holds web2, which shares web1's exclusion tag).
    await sleep(3000);
    const dest = await consoleOf('node3', 'web1');
    expect(dest).not.toMatch(/booted/);
    expect(lastTick(dest, 'web1')).toBeGreaterThan(before);
  });

  it('a qemu killed by hand is restarted by the loop (ERROR_down -> running)', async () => {
    const pid = Number((await readFile(path.join(runDir('node3', 'db1'), 'pid'), 'utf8')).trim());
    process.kill(pid, 'SIGKILL');
    await sleep(500);
    const seen = await pass(false);
    expect(seen.plan.actions.map((a) => a.reason)).toEqual([expect.stringMatching(/ERROR_down/)]);

    const abort = new AbortController();
    const state = await m.load();
    const conn = await connectNodes(state, { logger });
    const daemon = startDaemon({
      paths: [m.dir], watch: false, resyncMs: 60_000, logger, signal: abort.signal,
      keysFor: async () => ['Cluster/lab'],
      reconcile: async () => {
        await reconcileOnce(await m.load(), { logger, ops: conn.ops }, { apply: true });
      },
    });
    try {
      expect(statusOf(await untilStatus('db1', 'running'), 'db1')).toBe('running');
    } finally {
      abort.abort();
      await daemon.stopped;
      await conn.close();
    }
    expect((await pass(false)).plan.actions).toEqual([]);
  });

  it('a guest that powers itself off stays USER_down and is not restarted', async () => {
    await editInstance('web2', (s) => {
      s.os.generation = 2;
      s.os.params = { poweroff_after: '3' };
    });
    await converge();
    await waitConsole('node2', 'web2', /tick 3/);
    const r = await untilStatus('web2', 'USER_down');
    expect(statusOf(r, 'web2')).toBe('USER_down');
    expect(r.plan.actions).toEqual([]);
    expect(r.plan.entries.find((e) => e.subject === 'Instance/web2')?.notes.join(' ')).toMatch(/USER_down/);
  });
});
