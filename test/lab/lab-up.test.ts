/**
 * README's main job, end to end through the CLI: `gantry lab up --nodes 3 --manifests DIR
 * -f examples/lab --apply` (what `npm run lab` runs) builds the nodes, applies examples/lab
 * with their Node manifests and prints the drift report, which must be empty; the guests
 * boot; `gantry lab down` removes it all. Only what running beside other labs needs
 * differs from README's command: this file's own prefix, subnets and Gantry state
 * directory, and examples/lab's shared directory pointed into this lab's state directory
 * (the one line of cluster.yaml that names the default lab's). Real namespaces, sshd,
 * OVS, LVM, QEMU (TCG) and the gantry CLI as a user runs it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { claimSubnetIndex, labSkipReason } from '../helpers/rig.js';
import { EXAMPLES_LAB } from '../helpers/manifests.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/gantry.js');
const skip = await labSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The gantry CLI: exit code and output, never a throw for a non-zero exit. */
async function gantry(args: string[], timeoutMs = 280_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 32 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

describe.skipIf(skip)('given the gantry CLI and examples/lab', () => {
  const prefix = `gu${process.pid.toString(36).slice(-5)}`;
  let release = (): void => {};
  let tmp = '';

  afterAll(async () => {
    if (!process.env.GANTRY_LAB_KEEP) await gantry(['lab', 'down', '--prefix', prefix], 120_000);
    release();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('`lab up --nodes 3 -f examples/lab --apply` exits 0 with an empty drift report, the three guests boot, and `lab down` removes the lab', async () => {
    await gantry(['lab', 'down', '--prefix', prefix], 120_000); // a lab left by a crashed run of this prefix
    const claim = claimSubnetIndex(process.pid + 31);
    release = claim.release;
    tmp = await mkdtemp(path.join(tmpdir(), 'gantry-lab-up-'));
    const examples = path.join(tmp, 'examples');
    const manifests = path.join(tmp, 'manifests');
    const stateDir = path.join(tmp, 'state');
    await run('mkdir', ['-p', examples, manifests]);
    for (const f of (await readdir(EXAMPLES_LAB)).filter((x) => x.endsWith('.yaml'))) {
      const text = await readFile(path.join(EXAMPLES_LAB, f), 'utf8');
      await writeFile(path.join(examples, f), text.replaceAll('/var/lib/gantry-lab/shared', `/var/lib/${prefix}-lab/shared`));
    }
    expect(await readFile(path.join(examples, 'cluster.yaml'), 'utf8')).toContain(`sharedFileStorageDir: /var/lib/${prefix}-lab/shared`);

    const t0 = Date.now();
    const up = await gantry(['lab', 'up', '--prefix', prefix, '--nodes', '3', '--manifests', manifests, '--mgmt-subnet', `198.18.${claim.x}.0/24`, '--repl-subnet', `198.19.${claim.x}.0/24`,
      '--no-install', '-f', examples, '--apply', '--apply-state-dir', stateDir]);
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[lab-up] lab up --nodes 3 -f examples/lab --apply: exit ${up.code} in ${seconds.toFixed(1)} s`);
    expect(up.stderr).not.toMatch(/LAB_NO_APPLY/);
    expect(up.code, up.stderr.slice(-3000)).toBe(0);
    expect(up.stdout).toMatch(/Applied \d+ actions \(0 failed\)/);
    expect(up.stdout).toMatch(/Drift report after apply:\s*\nNo changes\. The nodes match the desired state\./);
    // the apply's record went to this test's state directory, not /var/lib/gantry
    expect((await readdir(path.join(stateDir, 'jobs'))).length).toBeGreaterThan(0);

    // The three guests that run boot (side by side): each prints "gantry-guest NAME booted" on its serial console.
    const files = ['-f', examples, '-f', manifests];
    const t1 = Date.now();
    const consoles = await Promise.all(['web1', 'web2', 'db1'].map(async (name) => {
      let log = '';
      for (let t = 0; t < 60 && !log.includes(`gantry-guest ${name} booted`); t++) {
        if (t > 0) await sleep(2000);
        log = (await gantry(['console', name, ...files, '--log', '--lines', '200'], 60_000)).stdout;
      }
      return [name, log] as const;
    }));
    console.log(`[lab-up] guests booted ${((Date.now() - t1) / 1000).toFixed(1)} s after lab up returned`);
    for (const [name, log] of consoles) expect(log, `${name}'s console`).toContain(`gantry-guest ${name} booted`);
    expect(consoles[0]![1]).toContain('gantry-guest web1 message hello from web1');

    // Still nothing to do once they run (exit 0 with --detailed-exitcode: no drift).
    const plan = await gantry(['plan', '--detailed-exitcode', '--state-dir', stateDir, ...files], 120_000);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain('No changes.');

    const down = await gantry(['lab', 'down', '--prefix', prefix], 120_000);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/removed 3 namespaces/);
    const { stdout: netns } = await run('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(netns.split('\n').filter((l) => l.startsWith(`${prefix}-`))).toEqual([]);
  });
});
