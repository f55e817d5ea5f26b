import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { labDown, labStatus, labUp, readLabRecord, type LabRecord } from '../../src/lab/index.js';

const skip = await labSkipReason();
const manifestsDir = mkdtempSync(join(tmpdir(), 'gantry-lab-manifests-'));
afterAll(() => rmSync(manifestsDir, { recursive: true, force: true }));

interface NodeDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    role: string;
    address: string;
    secondaryAddress: string;
    ssh: { host: string; port: number; user: string; hostKey: string; privateKeyFile: string };
    ovsdbSocket: string;
  };
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

describe.skipIf(skip)('given a 3-node lab', () => {
  const lab = useLab({ nodes: 3, manifestsDir });

  it('status shows every node with its namespace, sshd, OVS and VG up', async () => {
    const status = await labStatus(lab.ref);
    expect(status.recorded).toBe(true);
    expect(status.nodes.map((n) => [n.name, n.namespaceExists, n.sshdUp, n.ovsUp, n.vg?.name])).toEqual([
      ['node1', true, true, true, 'gantry'],
      ['node2', true, true, true, 'gantry'],
      ['node3', true, true, true, 'gantry'],
    ]);
  });

  it('writes Node manifests with pinned host keys that the nodes really present', () => {
    const docs = parseAllDocuments(readFileSync(join(manifestsDir, 'nodes.yaml'), 'utf8')).map((d) => d.toJS() as NodeDoc);
    expect(docs.map((d) => [d.kind, d.metadata.name, d.spec.role, d.spec.group])).toEqual([
      ['Node', 'node1', 'master-candidate', 'default'],
      ['Node', 'node2', 'regular', 'default'],
      ['Node', 'node3', 'regular', 'default'],
    ]);
    const n2 = docs[1]!;
    expect(n2.apiVersion).toBe('gantry.dev/v1alpha1');
    expect(n2.spec.address).toBe(lab.node('node2').address);
    expect(n2.spec.secondaryAddress).toMatch(/^198\.19\.\d+\.12$/);
    expect(n2.spec.ssh).toEqual({ host: n2.spec.address, port: 22, user: 'root', hostKey: lab.node('node2').ssh.hostKey, privateKeyFile: lab.up.clientKeyFile });
    expect(n2.spec.ovsdbSocket).toBe(lab.node('node2').ovsdbSocket);
    // OpenSSH's own client accepts the pinned key for this address (and only it is known).
    const knownHosts = join(manifestsDir, 'known_hosts');
    execFileSync('sh', ['-c', 'printf "%s %s\\n" "$1" "$2" > "$3"', 'sh', n2.spec.address, n2.spec.ssh.hostKey, knownHosts]);
    const out = execFileSync('ssh', ['-i', n2.spec.ssh.privateKeyFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${n2.spec.address}`, 'hostname'], { encoding: 'utf8' });
    expect(out.trim()).toBe('node2');
  });

  it('gives ssh sessions the node\'s own empty /root: the host\'s dotfiles never run on a node, and the host keeps its /root', async () => {
    const r = await lab.transport('node2').exec(['sh', '-c', 'echo "$HOME"; ls -A "$HOME"; grep -c " /root " /proc/self/mountinfo']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['/root', '1']);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('gantry-node-root');
  });

  it('runs a separate Open vSwitch per node with the userspace datapath', async () => {
    for (const name of ['node1', 'node2']) {
      const sock = `unix:${lab.node(name).ovsdbSocket}`;
      const r = await lab.transport(name).exec(['ovs-vsctl', `--db=${sock}`, 'add-br', `br-${name}`, '--', 'set', 'bridge', `br-${name}`, 'datapath_type=netdev']);
      expect(r.code, r.stderr).toBe(0);
    }
    const list1 = await lab.transport('node1').exec(['ovs-vsctl', `--db=unix:${lab.node('node1').ovsdbSocket}`, 'list-br']);
    expect(list1.stdout.trim().split('\n')).toEqual(['br-node1']);
    // sshd sets OVS_RUNDIR, so a plain ovs-vsctl finds the node's own database too.
    const list2 = await lab.transport('node2').exec(['ovs-vsctl', 'list-br']);
    expect(list2.stdout.trim().split('\n')).toEqual(['br-node2']);
    // The internal port of a netdev bridge is a tap device inside the node's namespace only.
    expect((await lab.local('node1').exec(['ip', 'link', 'show', 'br-node1'])).code).toBe(0);
    expect((await lab.local('node2').exec(['ip', 'link', 'show', 'br-node1'])).code).not.toBe(0);
  });

  it('gives each node its own VG named gantry, on its own loop device, metadata only', async () => {
    const pvs = await Promise.all(
      ['node1', 'node2', 'node3'].map(async (name) => {
        const r = await lab.transport(name).exec(['vgs', '--config', 'global { activation = 0 }', '--noheadings', '-o', 'vg_name,pv_name']);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.trim().split(/\s+/);
      }),
    );
    expect(pvs.map((p) => p[0])).toEqual(['gantry', 'gantry', 'gantry']);
    expect(pvs.map((p) => p[1])).toEqual(lab.nodes.map((n) => n.loopDevice));
    expect(new Set(pvs.map((p) => p[1])).size).toBe(3);
    const lv = await lab.transport('node1').exec(['lvcreate', '-q', '-Zn', '-L', '64m', '-n', 'probe', 'gantry']);
    expect(lv.code, lv.stderr).toBe(0);
    const lvs2 = await lab.transport('node2').exec(['lvs', '--noheadings', '-o', 'lv_name']);
    expect(lvs2.stdout.trim()).toBe('');
  });

  it('lets the nodes reach each other on both networks and sees a shared directory', async () => {
    const [n1, n3] = [lab.node('node1'), lab.node('node3')];
    // bash's /dev/tcp: no ping binary needed on the node.
    const probe = ['bash', '-c', 'exec 3<>"/dev/tcp/$1/22" && head -c 4 <&3', 'bash'];
    expect((await lab.transport('node1').exec([...probe, n3.address], { timeoutMs: 5000 })).stdout).toBe('SSH-');
    // sshd listens on the management address only: a refusal proves node3 answered on
    // the replication network (an unreachable peer gives "No route to host").
    const repl = await lab.transport('node1').exec([...probe, n3.secondaryAddress], { timeoutMs: 5000 });
    expect(repl.stderr).toContain('Connection refused');
    const file = join(lab.up.sharedDir, 'probe');
    await lab.transport('node1').exec(['sh', '-c', 'echo "$1" > "$2"', 'sh', n1.name, file]);
    expect((await lab.transport('node3').exec(['cat', file])).stdout).toBe('node1\n');
  });

  it('given up again it changes nothing: same processes, keys, addresses', async () => {
    const before = (await readLabRecord(lab.ref)) as LabRecord;
    const again = await labUp({ logger: lab.logger, prefix: lab.ref.prefix!, nodes: 3, mgmtSubnet: before.layout.mgmt.hostCidr.replace(/\.1\/24$/, '.0/24'), replSubnet: before.layout.repl.hostCidr.replace(/\.1\/24$/, '.0/24'), installMissing: false });
    expect(again.nodes.map((n) => [n.pids, n.ssh.hostKey, n.loopDevice])).toEqual(before.nodes.map((n) => [n.pids, n.ssh.hostKey, n.loopDevice]));
    const addrs = JSON.parse(ip('-j', '-n', lab.node('node1').namespace, 'addr', 'show', 'dev', 'eth0')) as { addr_info: { family: string }[] }[];
    expect(addrs[0]!.addr_info.filter((a) => a.family === 'inet')).toHaveLength(1);
    expect((await lab.transport('node1').exec(['hostname'])).stdout.trim()).toBe('node1');
  });

  it('given down it leaves no namespace, link, loop device or process behind, and down again is a no-op', async () => {
    const record = (await readLabRecord(lab.ref)) as LabRecord;
    const pids = record.nodes.flatMap((n) => [n.pids.sshd!, n.pids.ovsdbServer!, n.pids.ovsVswitchd!]);
    expect(pids.every(alive)).toBe(true);
    await lab.pool.closeAll();
    const out = await labDown(lab.ref);
    expect(out.namespaces).toHaveLength(3);

    const namespaces = ip('netns', 'list');
    const links = ip('-o', 'link', 'show');
    for (const n of record.layout.nodes) {
      expect(namespaces).not.toContain(n.namespace);
      expect(links).not.toContain(`${n.mgmtVeth}@`);
      expect(links).not.toContain(`${n.replVeth}@`);
      expect(existsSync(n.dir)).toBe(false);
    }
    for (const b of record.bridges) expect(links).not.toContain(` ${b}:`);
    const loops = execFileSync('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE'], { encoding: 'utf8' });
    expect(loops).not.toContain(record.stateDir);
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(record.layout.recordFile)).toBe(false);

    const second = await labDown(lab.ref);
    expect(second).toMatchObject({ namespaces: [], links: [], loopDevices: [], pids: [] });
  });
});
