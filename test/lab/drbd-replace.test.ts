/**
 * Secondary replacement (Ganeti's replace-disks -n) on real DRBD 8.4: three lab nodes that
 * are QEMU VMs with Debian's 6.1 kernel DRBD module. examples/lab-drbd's data1 pinned to
 * node1 (primary) / node2; a pattern written through node1's /dev/drbd0; the manifest then
 * names node3 as secondary. Apply passes replace node2 by node3: node3 ends Connected
 * UpToDate/UpToDate beside node1, node2 holds no LV and no resource of data1 any more, the
 * data LVs of node1 and node3 have the same checksum and node3's holds the pattern.
 * Then node1 is drained (issue 10 item 8, `role: drained` in its Node manifest): apply
 * passes move the stopped data1's primary to node3 (primary swap) and replace its
 * secondary on node1 by node2 (change-secondary), so node1 ends with no DRBD resource and
 * no LV of data1; node3 Primary, node2 Secondary, Connected UpToDate/UpToDate, the pattern
 * intact on both data LVs.
 * In the normal suite since the probe needs fewer commands on a TCG VM node: 276 s alone
 * on the idle machine (three VM nodes booted in parallel).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { failures, labPasses } from '../helpers/passes.js';
import { loadDesired } from '../../src/desired/load.js';
import { formatLoadError } from '../../src/desired/errors.js';

const skip = await labSkipReason();
const STEP_MS = 2_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EXAMPLE = path.resolve(import.meta.dirname, '../../examples/lab-drbd');

describe.skipIf(skip)('given three VM nodes running the kernel DRBD 8.4 module and examples/lab-drbd', () => {
  const lab = useLab({ vmNodes: 3, manifestsDir: path.join(tmpdir(), `gantry-drbdrep-nodes-${process.pid}`), commandTimeoutMs: 180_000 });
  let dir = '';
  let stateDir = '';
  const [P, OLD, NEW] = ['node1', 'node2', 'node3'];

  const place = async (secondary: string) => {
    const docs = parseAllDocuments(await readFile(path.join(EXAMPLE, 'instances.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
    docs[0]!.spec.placement = { primary: P, secondary };
    await writeFile(path.join(dir, 'instances.yaml'), docs.map((d) => `---\n${stringify(d)}`).join(''));
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-drbdrep-'));
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-drbdrep-state-'));
    await copyFile(path.join(EXAMPLE, 'cluster.yaml'), path.join(dir, 'cluster.yaml'));
    await writeFile(path.join(dir, 'nodes.yaml'), await readFile(lab.up.manifestFile!, 'utf8'));
    await place(OLD);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  const { pass } = labPasses(async () => {
    const { state, errors } = await loadDesired([dir]);
    if (!state || errors.length) throw new Error(errors.map(formatLoadError).join('\n'));
    return state;
  }, { stateDir: () => stateDir });
  const procDrbd = async (node: string) => (await lab.exec(node, ['cat', '/proc/drbd'])).stdout;
  const untilProc = async (node: string, re: RegExp, ms = 900_000): Promise<string> => {
    const until = Date.now() + ms;
    for (;;) {
      const text = await procDrbd(node);
      if (re.test(text)) return text;
      if (Date.now() > until) throw new Error(`/proc/drbd on ${node} never matched ${re}:\n${text}`);
      await sleep(2000);
    }
  };
  const HEALTHY_P = /cs:Connected ro:Primary\/Secondary ds:UpToDate\/UpToDate/;
  const HEALTHY_S = /cs:Connected ro:Secondary\/Primary ds:UpToDate\/UpToDate/;
  const drain = async (node: string) => {
    const docs = parseAllDocuments(await readFile(lab.up.manifestFile!, 'utf8')).map((d) => d.toJS() as Record<string, any>);
    docs.find((d) => d.metadata?.name === node)!.spec.role = 'drained';
    await writeFile(path.join(dir, 'nodes.yaml'), docs.map((d) => `---\n${stringify(d)}`).join(''));
  };
  const sum = async (node: string) => (await lab.exec(node, ['sh', '-c', 'dd if=/dev/gantry/data1.disk0 bs=1M count=64 iflag=direct 2>/dev/null | md5sum'])).stdout.split(' ')[0];

  it('given a pair node1/node2 with a pattern written through node1, naming node3 as secondary replaces node2 by node3: node3 UpToDate with the same data, node2 emptied', async () => {
    for (const until = Date.now() + 900_000; (await pass(false)).plan.unreachable.length > 0;) {
      if (Date.now() > until) throw new Error('the VM nodes were never all observable');
      await sleep(5000);
    }
    expect(failures(await pass(true))).toEqual([]);
    await untilProc(P, HEALTHY_P);
    await untilProc(OLD, HEALTHY_S);
    const pattern = `gantry-drbdrep-pattern-${process.pid}-${Date.now()}`;
    const w = await lab.exec(P, ['sh', '-c', `printf '%s' '${pattern}' | dd of=/dev/drbd0 bs=512 count=1 conv=sync,fsync oflag=direct 2>&1`]);
    expect(w.code, w.stdout).toBe(0);

    await place(NEW);
    const shown = await pass(false);
    const entry = shown.plan.entries.find((e) => e.subject === 'Instance/data1')!;
    const verbs = entry.actions.map((a) => `${a.verb}@${a.node}`);
    expect(verbs).toEqual(expect.arrayContaining([`drbd.create-md@${NEW}`, `drbd.disconnect@${P}`, `drbd.up@${NEW}`, `drbd.up@${P}`, `drbd.wait-sync@${P}`, `drbd.down@${OLD}`, `lv.remove@${OLD}`]));
    expect(verbs.some((v) => v.startsWith('drbd.initial-sync'))).toBe(false);
    expect(entry.notes.join('\n')).toMatch(/redundancy gap/);

    const t0 = Date.now();
    for (const until = Date.now() + 1_800_000; ;) {
      const r = await pass(true);
      expect(failures(r).filter((f) => !/DRBD_SYNC_PENDING/.test(f))).toEqual([]);
      if ((await pass(false)).plan.actions.length === 0) break;
      if (Date.now() > until) throw new Error('the replacement did not converge within 30 min');
    }
    console.log(`[drbd-replace] secondary ${OLD} -> ${NEW} of a 64 MiB disk, applied to converged: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await untilProc(P, HEALTHY_P, 60_000);
    await untilProc(NEW, HEALTHY_S, 60_000);
    expect((await lab.exec(OLD, ['lvs', '--noheadings', '-o', 'lv_name', 'gantry'])).stdout).not.toMatch(/data1/);
    expect(await procDrbd(OLD)).not.toMatch(/cs:/);
    const [a, b] = [await sum(P), await sum(NEW)];
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toBe(a);
    const head = await lab.exec(NEW, ['sh', '-c', 'dd if=/dev/gantry/data1.disk0 bs=512 count=1 iflag=direct 2>/dev/null | tr -d "\\000"']);
    expect(head.stdout).toBe(pattern);
  }, STEP_MS);

  it('given node1 (the primary) then drained, apply passes move the primary to node3 and replace the secondary on node1 by node2: node1 holds nothing of data1, one Primary, the pattern intact', async () => {
    const pattern = (await lab.exec(NEW, ['sh', '-c', 'dd if=/dev/gantry/data1.disk0 bs=512 count=1 iflag=direct 2>/dev/null | tr -d "\\000"'])).stdout;
    expect(pattern).toMatch(/^gantry-drbdrep-pattern-/);
    await drain(P);
    const shown = await pass(false);
    const entry = shown.plan.entries.find((e) => e.subject === 'Instance/data1')!;
    expect(entry.notes.join('\n')).toMatch(new RegExp(`drain: ${P} is drained; data1 moves to its DRBD secondary ${NEW}`));
    expect(entry.actions.map((a) => `${a.verb}@${a.node}`)).toEqual(expect.arrayContaining([`drbd.secondary@${P}`, `drbd.primary@${NEW}`]));
    const t0 = Date.now();
    const verbs: string[] = [];
    for (const until = Date.now() + 1_800_000; ;) {
      const r = await pass(true);
      expect(failures(r).filter((f) => !/DRBD_SYNC_PENDING/.test(f))).toEqual([]);
      verbs.push(...r.plan.actions.map((a) => `${a.verb}@${a.node}`));
      expect(verbs.filter((v) => v.startsWith('drbd.initial-sync') || v.startsWith('drbd.force'))).toEqual([]);
      if ((await pass(false)).plan.actions.length === 0) break;
      if (Date.now() > until) throw new Error('the drain did not converge within 30 min');
    }
    console.log(`[drbd-drain] ${P} drained (data1 primary ${P} -> ${NEW}, secondary ${P} -> ${OLD}), applied to converged: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${verbs.length} actions`);
    expect(verbs).toEqual(expect.arrayContaining([`drbd.primary@${NEW}`, `drbd.down@${P}`, `lv.remove@${P}`, `drbd.up@${OLD}`]));
    await untilProc(NEW, HEALTHY_P, 60_000);
    await untilProc(OLD, HEALTHY_S, 60_000);
    expect((await lab.exec(P, ['lvs', '--noheadings', '-o', 'lv_name', 'gantry'])).stdout).not.toMatch(/data1/);
    expect(await procDrbd(P)).not.toMatch(/cs:/);
    const roles = await Promise.all([P, OLD, NEW].map(async (n) => /ro:Primary/.test(await procDrbd(n))));
    expect(roles).toEqual([false, false, true]);
    const [a, b] = [await sum(NEW), await sum(OLD)];
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toBe(a);
    const head = await lab.exec(OLD, ['sh', '-c', 'dd if=/dev/gantry/data1.disk0 bs=512 count=1 iflag=direct 2>/dev/null | tr -d "\\000"']);
    expect(head.stdout).toBe(pattern);
  }, STEP_MS);
});
