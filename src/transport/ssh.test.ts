import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/log.js';
import { HostKeyMismatchError, SshTransport, fingerprint, parsePinnedKey } from './ssh.js';

describe('pinned host keys', () => {
  it('given an OpenSSH public key its fingerprint matches ssh-keygen -l', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-key-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'a comment', '-f', join(dir, 'k')]);
      const pub = readFileSync(join(dir, 'k.pub'), 'utf8');
      const pinned = parsePinnedKey(pub);
      expect(pinned.type).toBe('ssh-ed25519');
      const listed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')], { encoding: 'utf8' });
      expect(listed.split(' ')[1]).toBe(fingerprint(pinned.blob));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('given something that is not a key line it refuses', () => {
    expect(() => parsePinnedKey('ssh-ed25519')).toThrow(/OpenSSH public key/);
    expect(() => parsePinnedKey('ssh-ed25519 not*base64')).toThrow(/OpenSSH public key/);
  });

  it('given a mismatch the error names node and both fingerprints and is not retryable', () => {
    const e = new HostKeyMismatchError('node1', 'SHA256:aaa', 'SHA256:bbb');
    expect(e).toMatchObject({ code: 'HOST_KEY_MISMATCH', errorClass: 'transport', retryable: false });
    expect(e.message).toContain('node1');
    expect(e.message).toContain('SHA256:aaa');
    expect(e.message).toContain('SHA256:bbb');
  });
});

/**
 * A double of ssh2's Client (the race needs one read holding the exec's success and the
 * command's exit status, which a real sshd gives only now and then, on a busy machine):
 * `exec` calls back with the channel, then emits the exit status in the same tick, as ssh2
 * does when both packets came in one read; the close follows in the same tick or later.
 */
class OneReadClient {
  constructor(private readonly closeLater: boolean) {}
  exec(_line: string, cb: (err: Error | undefined, channel: EventEmitter) => void): void {
    const channel = Object.assign(new EventEmitter(), { stderr: new EventEmitter(), end: () => undefined, close: () => undefined, signal: () => undefined });
    cb(undefined, channel);
    channel.emit('data', Buffer.from('done\n'));
    channel.emit('exit', 0);
    if (this.closeLater) setImmediate(() => channel.emit('close'));
    else channel.emit('close');
  }
}

describe('a command whose exit status arrives in the same read as the exec success', () => {
  for (const closeLater of [true, false]) {
    it(`given the close ${closeLater ? 'in a later read' : 'in the same read'} it reports the exit status and output, not a lost connection`, async () => {
      const { utils } = await import('ssh2');
      const t = new SshTransport({ node: 'n1', endpoint: { host: '127.0.0.1', hostKey: utils.generateKeyPairSync('ed25519').public }, logger: silentLogger() });
      // The transport's cached connection is the double (it never connects anywhere).
      (t as unknown as { client: Promise<unknown> }).client = Promise.resolve(new OneReadClient(closeLater));
      const results = await Promise.all(Array.from({ length: 6 }, () => t.exec(['true'], { timeoutMs: 5000 })));
      expect(results.map((r) => [r.code, r.stdout])).toEqual(Array.from({ length: 6 }, () => [0, 'done\n']));
    });
  }
});
