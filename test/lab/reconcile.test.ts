/**
 * Issue 3 on the real lab: node profiles (bridge, OVS VLAN bridge, VXLAN, VG, sysctl)
 * and plain + sharedfile disks converge over real SSH; drift made by hand is shown and
 * repaired; a wrong host key, a dead node and a failing command are reported and lose
 * nothing. Real sshd, iproute2, Open vSwitch (userspace) and LVM (metadata mode).
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labManifests, type ManifestSet } from '../helpers/manifests.js';
import { labPasses } from '../helpers/passes.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/gantry.js');
const skip = await labSkipReason();

const diskOnly = [
  { apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'archive1' }, spec: { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '256M' }], powerState: 'stopped', placement: { primary: 'node2' } } },
  { apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'share1' }, spec: { os: { name: 'none' }, diskTemplate: 'sharedfile', disks: [{ size: '64M' }], powerState: 'stopped', placement: { primary: 'node3' } } },
];

describe.skipIf(skip)('given a 3-node lab and the lab manifests with disk-only instances', () => {
  const manifestsDir = path.join(tmpdir(), `gantry-lab-nodes-${process.pid}`);
  const lab = useLab({ nodes: 3, manifestsDir });
  let m: ManifestSet;

  const { pass } = labPasses(() => m.load());
  const gantry = (...args: string[]) => run(process.execPath, [BIN, ...args], { encoding: 'utf8' }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

  beforeAll(async () => {
    m = await labManifests(lab, { files: ['cluster.yaml', 'group.yaml', 'networks.yaml'] });
    await m.write('instances.yaml', diskOnly);
  });
  afterAll(async () => m?.cleanup());

  it('apply converges the profiles and disks, and a second plan has nothing to do', async () => {
    const first = await pass(true);
    expect(first.plan.actions.length).toBeGreaterThan(10);
    expect(first.report?.results.filter((r) => !r.ok)).toEqual([]);
    expect(first.after?.actions).toEqual([]);
    const lvs = await lab.transport('node2').exec(['lvs', '--noheadings', '-o', 'lv_name,lv_tags', 'gantry']);
    expect(lvs.stdout).toMatch(/archive1\.disk0\s+gantry,gantry-inst=archive1/);
    const br = await lab.transport('node1').exec(['ip', '-j', '-d', 'link', 'show', 'vx-lab']);
    expect(JSON.parse(br.stdout)[0].master).toBe('br-lab');
    const again = await pass(false);
    expect(again.plan.actions).toEqual([]);
  });

  it('the gantry CLI agrees: plan --detailed-exitcode exits 0 and apply --dry-run has nothing to run', async () => {
    const p = await gantry('plan', '-f', m.dir, '--detailed-exitcode');
    expect(p.stderr).toBe('');
    expect(p.stdout).toContain('No changes');
    expect(p.code).toBe(0);
    const d = await gantry('apply', '-f', m.dir, '--dry-run');
    expect(d.code).toBe(0);
    expect(d.stdout).toContain('No changes');
  });

  it('apply --dry-run prints the exact commands and changes nothing', async () => {
    await m.edit('group.yaml', ([g]) => g!.spec.nodeProfile.bridges.push({ name: 'br-dry' }));
    const d = await gantry('apply', '-f', m.dir, '--dry-run');
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^ip link add name br-dry type bridge$/m);
    const link = await lab.local('node1').exec(['ip', 'link', 'show', 'br-dry']);
    expect(link.code).not.toBe(0);
    await m.edit('group.yaml', ([g]) => g!.spec.nodeProfile.bridges.pop());
  });

  it('drift made by hand (bridge deleted, OVS tag changed, LV removed) is reported and repaired', async () => {
    await lab.local('node1').exec(['ip', 'link', 'del', 'br-lab']);
    const sock = lab.node('node2').ovsdbSocket;
    await lab.local('node2').exec(['ovs-vsctl', `--db=unix:${sock}`, 'set', 'port', 'vlan10', 'tag=20']);
    const rm = await lab.transport('node2').exec(['lvremove', '-y', 'gantry/archive1.disk0']);
    expect(rm.code).toBe(0);

    const p = await gantry('plan', '-f', m.dir, '--detailed-exitcode', '-o', 'json');
    expect(p.code).toBe(2);
    const report = JSON.parse(p.stdout) as { entries: { subject: string; diffs: { path: string }[] }[] };
    const paths = (s: string) => report.entries.find((e) => e.subject === s)?.diffs.map((d) => d.path) ?? [];
    expect(paths('Node/node1')).toContain('profile.bridges[br-lab]');
    expect(paths('Node/node2')).toContain('profile.ovsBridges[ovs-lab].ports[vlan10].tag');
    expect(paths('Instance/archive1')).toContain('disks[0].data');

    const a = await gantry('apply', '-f', m.dir, '--yes', '--state-dir', await mkdtemp(path.join(tmpdir(), 'gantry-state-')));
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/After apply: 0 drifted, 0 refused, 0 unreachable/);
    expect((await pass(false)).plan.actions).toEqual([]);
  });

  it('a grown disk in the manifest grows the LV and the sharedfile image; a shrink is refused', async () => {
    await m.edit('instances.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'archive1')!.spec.disks[0].size = '320M';
      docs.find((d) => d.metadata.name === 'share1')!.spec.disks[0].size = '96M';
    });
    const r = await pass(true);
    expect(r.plan.actions.map((a) => a.verb).sort()).toEqual(['file.grow', 'lv.extend']);
    expect(r.after?.actions).toEqual([]);
    const lv = await lab.transport('node2').exec(['lvs', '--noheadings', '--units', 'm', '--nosuffix', '-o', 'lv_size', 'gantry/archive1.disk0']);
    expect(Number(lv.stdout.trim())).toBe(320);
    await m.edit('instances.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'archive1')!.spec.disks[0].size = '256M';
    });
    const shrink = await pass(true);
    expect(shrink.plan.refused.map((x) => x.code)).toEqual(['REFUSED_SHRINK']);
    expect(shrink.plan.actions).toEqual([]);
    await m.edit('instances.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'archive1')!.spec.disks[0].size = '320M';
    });
  });

  it('a command that fails midway is reported, the rest is applied, and a rerun converges', async () => {
    await m.edit('instances.yaml', (docs) => {
      docs.push({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'big1' }, spec: { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '64M' }, { size: '500G' }], powerState: 'stopped', placement: { primary: 'node1' } } });
      docs.push({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Instance', metadata: { name: 'small1' }, spec: { os: { name: 'none' }, diskTemplate: 'plain', disks: [{ size: '32M' }], powerState: 'stopped', placement: { primary: 'node3' } } });
    });
    const r = await pass(true);
    const failed = r.report!.results.filter((x) => !x.ok);
    expect(failed.map((f) => `${f.action.subject} ${f.error?.code}`)).toEqual(['Instance/big1 VG_NO_SPACE']);
    expect(r.report!.skipped.map((s) => s.action.verb)).toContain('instance.install');
    // The other instance and big1's first disk were created all the same.
    expect(r.after!.entries.find((e) => e.subject === 'Instance/small1')?.status).toBe('in-sync');
    const lvs = await lab.transport('node1').exec(['lvs', '--noheadings', '-o', 'lv_name', 'gantry']);
    expect(lvs.stdout).toContain('big1.disk0');

    await m.edit('instances.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'big1')!.spec.disks[1].size = '128M';
    });
    const fixed = await pass(true);
    expect(fixed.report?.ok).toBe(true);
    expect(fixed.after?.actions).toEqual([]);
  });

  it('a wrong pinned host key is refused with a clear error and nothing on that node changes', async () => {
    const good = lab.node('node3').ssh.hostKey;
    await m.edit('nodes.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'node3')!.spec.ssh.hostKey = lab.node('node1').ssh.hostKey;
    });
    const p = await gantry('plan', '-f', m.dir);
    expect(p.stdout).toMatch(/Node\/node3\s+\[unreachable\]/);
    expect(p.stdout).toMatch(/host key/i);
    await m.edit('nodes.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'node3')!.spec.ssh.hostKey = good;
    });
  });

  it('a dead node is reported and the others still converge; when it returns a rerun converges it', async () => {
    await lab.stopNode('node3');
    await lab.local('node1').exec(['sysctl', '-w', 'net.ipv4.ip_forward=0']);
    const r = await pass(true);
    expect(r.plan.unreachable).toEqual(['node3']);
    expect(r.report?.results.every((x) => x.ok && x.action.node !== 'node3')).toBe(true);
    expect(r.after?.entries.find((e) => e.subject === 'Node/node1')?.status).toBe('in-sync');
    await lab.startNode('node3');
    const back = await pass(true);
    expect(back.plan.unreachable).toEqual([]);
    expect(back.after?.actions ?? back.plan.actions).toEqual([]);
  });

  it('gantry run repairs hand-made drift on resync, follows manifest edits, ignores invalid manifests, and stops on SIGTERM', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-run-'));
    const child = spawn(process.execPath, [BIN, 'run', '-f', m.dir, '--resync', '2', '--debounce', '200', '--state-dir', stateDir, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (what: string, check: () => Promise<boolean>, ms = 45_000) => {
      const end = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > end) throw new Error(`gantry run never got to: ${what}\n${log.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    const hasLink = async (node: string, name: string) => (await lab.local(node).exec(['ip', 'link', 'show', name])).code === 0;
    try {
      await until('first pass', async () => log.includes('reconciled'));
      await lab.local('node2').exec(['ip', 'link', 'del', 'br-lab']);
      await until('br-lab repaired on node2', () => hasLink('node2', 'br-lab'));

      await m.edit('group.yaml', ([g]) => g!.spec.nodeProfile.bridges.push({ name: 'br-run' }));
      await until('br-run created on node3', () => hasLink('node3', 'br-run'));

      const good = await import('node:fs/promises').then((fs) => fs.readFile(path.join(m.dir, 'group.yaml'), 'utf8'));
      await writeFile(path.join(m.dir, 'group.yaml'), good.replace('br-run', 'br run; rm -rf /'));
      await until('invalid manifests reported', async () => /INVALID_MANIFESTS|is not a valid|must match/.test(log));
      expect(await hasLink('node3', 'br-run')).toBe(true);
      await writeFile(path.join(m.dir, 'group.yaml'), good);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    await m.edit('group.yaml', ([g]) => {
      g!.spec.nodeProfile.bridges = g!.spec.nodeProfile.bridges.filter((b: { name: string }) => b.name !== 'br-run');
    });
  });
});
