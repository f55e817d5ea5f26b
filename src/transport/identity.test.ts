import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveIdentity } from './identity.js';

let home: string;
beforeEach(async () => { home = await mkdtemp(join(tmpdir(), 'gantry-id-')); await mkdir(join(home, '.ssh')); });
afterEach(async () => { await rm(home, { recursive: true, force: true }); });

describe('ssh identity', () => {
  it('given ssh.privateKeyFile, it reads that file and no default key', async () => {
    await writeFile(join(home, 'node.key'), 'NODE KEY');
    await writeFile(join(home, '.ssh', 'id_ed25519'), 'DEFAULT KEY');
    const id = await resolveIdentity(join(home, 'node.key'), 'n1', { home });
    expect(id.file).toBe(join(home, 'node.key'));
    expect(id.privateKey?.toString()).toBe('NODE KEY');
  });

  it('given ssh.privateKeyFile that cannot be read, it fails PRIVATE_KEY_UNREADABLE instead of falling back to a default key', async () => {
    await writeFile(join(home, '.ssh', 'id_ed25519'), 'DEFAULT KEY');
    await expect(resolveIdentity(join(home, 'missing.key'), 'n1', { home })).rejects.toMatchObject({ code: 'PRIVATE_KEY_UNREADABLE' });
  });

  it('given no ssh.privateKeyFile, it takes the controller\'s first default key in ssh\'s order (id_ed25519, id_ecdsa, id_rsa)', async () => {
    await writeFile(join(home, '.ssh', 'id_rsa'), 'RSA KEY');
    expect((await resolveIdentity(undefined, 'n1', { home })).file).toBe(join(home, '.ssh', 'id_rsa'));
    await writeFile(join(home, '.ssh', 'id_ecdsa'), 'ECDSA KEY');
    expect((await resolveIdentity(undefined, 'n1', { home })).privateKey?.toString()).toBe('ECDSA KEY');
  });

  it('given no key anywhere but an ssh-agent, it uses the agent; without one it fails naming the files it tried', async () => {
    expect(await resolveIdentity(undefined, 'n1', { home, agentSocket: '/tmp/agent.sock' })).toEqual({ agent: '/tmp/agent.sock' });
    await expect(resolveIdentity(undefined, 'n1', { home })).rejects.toThrow(/no ssh key for node n1: .*id_ed25519.*id_rsa.*SSH_AUTH_SOCK/);
  });
});
