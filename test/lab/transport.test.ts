import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labSkipReason, useLab } from '../helpers/rig.js';
import { SshTransport } from '../../src/transport/ssh.js';

const skip = await labSkipReason();

describe.skipIf(skip)('given a 3-node lab, the ssh transport', () => {
  const lab = useLab({ nodes: 3 });

  it('runs hostname on each node and gets that node name back', async () => {
    const names = await Promise.all(['node1', 'node2', 'node3'].map(async (n) => (await lab.transport(n).exec(['hostname'])).stdout.trim()));
    expect(names).toEqual(['node1', 'node2', 'node3']);
  });

  it('runs a batch in one channel and returns separate results with their exit codes', async () => {
    const rs = await lab.transport('node1').execBatch([
      ['sh', '-c', 'echo one; echo warn >&2'],
      ['sh', '-c', 'exit 7'],
      ['hostname'],
    ]);
    expect(rs.map((r) => [r.code, r.stdout, r.stderr])).toEqual([
      [0, 'one\n', 'warn\n'],
      [7, '', ''],
      [0, 'node1\n', ''],
    ]);
    expect(rs.map((r) => r.argv[0])).toEqual(['sh', 'sh', 'hostname']);
  });

  it('passes hostile arguments, env values and stdin through the remote shell unchanged', async () => {
    const hostile = ['; rm -rf /', '$(touch /tmp/gantry-pwned)', '`id`', 'a\nb', "it's", '', '"\\'];
    const t = lab.transport('node2');
    const r = await t.exec(['printf', '%s\\0', ...hostile]);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(hostile);
    const e = await t.exec(['sh', '-c', 'printf "%s" "$GANTRY_T"; cat'], { env: { GANTRY_T: "x'$(y)" }, stdin: 'from stdin' });
    expect(e.stdout).toBe("x'$(y)from stdin");
    expect((await t.exec(['test', '-e', '/tmp/gantry-pwned'])).code).toBe(1);
  });

  it('reports a missing command as exit 127, not as a transport error', async () => {
    const r = await lab.transport('node1').exec(['/nonexistent/gantry-tool']);
    expect(r.code).toBe(127);
  });

  it('runs more commands at once than the channel limit, all on one connection', async () => {
    const t = lab.transport('node3');
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => t.exec(['sh', '-c', `sleep 0.2; echo ${i}`])));
    expect(rs.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
  });

  it('refuses a wrong pinned host key with HOST_KEY_MISMATCH naming both fingerprints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-wrongkey-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
      const wrong = readFileSync(join(dir, 'k.pub'), 'utf8');
      const expected = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1];
      const realFp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: lab.node('node1').ssh.hostKey, encoding: 'utf8' }).split(' ')[1];
      const t = new SshTransport({ node: 'node1', endpoint: { ...lab.node('node1').ssh, hostKey: wrong }, logger: lab.logger });
      const err = await t.exec(['touch', '/tmp/gantry-should-not-exist']).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'HOST_KEY_MISMATCH', retryable: false });
      expect((err as Error).message).toContain('node1');
      expect((err as Error).message).toContain(expected);
      expect((err as Error).message).toContain(realFp);
      expect((await lab.transport('node1').exec(['test', '-e', '/tmp/gantry-should-not-exist'])).code).toBe(1);
      await t.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kills a command that outlives its timeout and says COMMAND_TIMEOUT', async () => {
    const t = lab.transport('node2');
    const started = Date.now();
    await expect(t.exec(['sleep', '31.25'], { timeoutMs: 500 })).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(3000);
    // The KILL reached the command itself: it is gone from the node.
    await new Promise((r) => setTimeout(r, 200));
    const ps = await t.exec(['ps', '-eo', 'args']);
    expect(ps.stdout).not.toContain('sleep 31.25');
    // and the connection is still usable
    expect((await t.exec(['true'])).code).toBe(0);
  });

  it('given a stopped sshd it fails UNREACHABLE within the connect timeout, and reconnects once sshd is back', async () => {
    const pooled = lab.transport('node3');
    expect((await pooled.exec(['hostname'])).stdout.trim()).toBe('node3');
    const pid = await lab.stopNode('node3');
    expect(pid).toBeGreaterThan(1);
    try {
      const fresh = new SshTransport({ node: 'node3', endpoint: lab.node('node3').ssh, logger: lab.logger, connectTimeoutMs: 3000 });
      const started = Date.now();
      await expect(fresh.exec(['hostname'])).rejects.toMatchObject({ code: 'UNREACHABLE', errorClass: 'transport' });
      expect(Date.now() - started).toBeLessThan(3000);
      await fresh.close();
      // The pooled connection was dropped with the node; it fails the same way.
      await expect(pooled.exec(['hostname'])).rejects.toMatchObject({ errorClass: 'transport' });
    } finally {
      await lab.startNode('node3');
    }
    expect((await pooled.exec(['hostname'])).stdout.trim()).toBe('node3');
  });

  it('reaches a node through its namespace with the local transport', async () => {
    const r = await lab.local('node2').exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(r.stdout).toContain(`${lab.node('node2').address}/24`);
  });
});
