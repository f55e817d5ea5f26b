import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostKeyMismatchError, fingerprint, parsePinnedKey } from './ssh.js';

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
