/**
 * Issue 10 item 6 on the real lab: the watcher gives up after its cap. A sharedfile VM
 * (busybox, TCG) on a namespace node; its QEMU is killed by PID six times. Each of the
 * first five kills is followed by an applying pass that restarts it (restart N of 5, the
 * count kept in the state directory); after the sixth the pass plans no restart, the
 * instance's status carries NeedsHuman (WatcherGaveUp) and the VM stays down. Bumping
 * spec.restartGeneration starts it again. Real sshd in a namespace, real QEMU, state dir.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { alive, failures, killGuests, labPasses } from '../helpers/passes.js';
import { readWatcherRestarts } from '../../src/status/state-dir.js';

const skip = await labSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('given a 1-node lab with a sharedfile VM and the watcher at its default cap (5) without backoff', () => {
  const lab = useLab({ nodes: 1, manifestsDir: path.join(tmpdir(), `gantry-ha-watcher-nodes-${process.pid}`) });
  let m: ManifestSet;
  let stateDir: string;
  const { pass, converge } = labPasses(() => m.load(), { stateDir: () => stateDir });
  const pid = async () => {
    const runDir = (await m.load()).nodes.get('node1')!.paths.runDir;
    return Number((await readFile(path.join(runDir, 'wd1', 'pid'), 'utf8').catch(() => '0')).trim());
  };
  /** SIGKILL the guest's QEMU (a process this test's lab started, by its PID) and wait until it is gone. */
  const kill = async () => {
    const p = await pid();
    expect(alive(p)).toBe(true);
    process.kill(p, 'SIGKILL');
    for (let i = 0; i < 50 && alive(p); i++) await sleep(100);
    expect(alive(p)).toBe(false);
  };

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-ha-watcher-state-'));
    m = await labManifests(lab, { files: ['cluster.yaml', 'group.yaml', 'networks.yaml'] });
    await m.edit('cluster.yaml', ([c]) => { c!.spec.watcher = { backoffSeconds: 0 }; });
    await m.write('instances.yaml', [{
      apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'wd1' },
      spec: { os: { name: 'busybox+default' }, diskTemplate: 'sharedfile', disks: [{ size: '64M' }], nics: [{ network: 'lab-net', ip: 'pool' }], placement: { primary: 'node1' } },
    }]);
    await converge();
  });

  afterAll(async () => {
    if (m) await killGuests(await m.load()).catch(() => undefined);
    await m?.edit('instances.yaml', (docs) => docs.forEach((d) => (d.spec.state = 'absent')));
    await pass(true).catch(() => undefined);
    await m?.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('a guest killed 6 times is restarted 5 times, then the watcher gives up and asks for a human; a restartGeneration bump starts it', async () => {
    for (let n = 1; n <= 5; n++) {
      await kill();
      const r = await pass(true);
      expect(failures(r)).toEqual([]);
      expect(r.plan.actions.map((a) => `${a.verb} ${a.reason}`)).toEqual([`instance.start the VM is not running and Gantry did not stop it (ERROR_down): restart ${n} of 5, like ganeti-watcher`]);
      expect(alive(await pid())).toBe(true);
      expect((await readWatcherRestarts(stateDir)).get('wd1')?.attempts).toBe(n);
    }
    await kill();
    const gaveUp = await pass(true);
    expect(gaveUp.plan.actions).toEqual([]);
    expect(gaveUp.plan.watcher?.decisions).toEqual([expect.objectContaining({ instance: 'wd1', node: 'node1', decision: 'gave-up', attempts: 5, max: 5 })]);
    const st = gaveUp.statuses.find((s) => s.subject === 'Instance/wd1')!;
    expect(st.conditions).toContainEqual(expect.objectContaining({ type: 'NeedsHuman', status: 'True', reason: 'WatcherGaveUp' }));
    expect(st.facts.status).toBe('ERROR_down');
    await sleep(1000);
    expect(alive(await pid())).toBe(false);
    expect((await pass(true)).plan.actions).toEqual([]);

    await m.edit('instances.yaml', ([d]) => { d!.spec.restartGeneration = 1; });
    const manual = await pass(true);
    expect(failures(manual)).toEqual([]);
    expect(manual.plan.watcher?.decisions[0]).toMatchObject({ decision: 'restart', manual: true });
    expect(alive(await pid())).toBe(true);
    expect((await readWatcherRestarts(stateDir)).get('wd1')?.attempts).toBe(0);
  });
});
