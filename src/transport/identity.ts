/**
 * Which private key the controller offers a node: the Node's ssh.privateKeyFile, or else
 * the controller user's own default keys, in the order ssh(1) tries them
 * (~/.ssh/id_ed25519, id_ecdsa, id_rsa), plus the ssh-agent when SSH_AUTH_SOCK is set.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TransportError } from '../util/errors.js';

export const DEFAULT_IDENTITY_FILES = ['id_ed25519', 'id_ecdsa', 'id_rsa'] as const;

export interface Identity {
  /** The key read, and where from. */
  readonly privateKey?: Buffer;
  readonly file?: string;
  /** ssh-agent socket to ask as well. */
  readonly agent?: string;
}

export interface IdentityEnv {
  readonly home?: string;
  readonly agentSocket?: string;
  readonly read?: (file: string) => Promise<Buffer>;
}

/** The key for one node; a named file that cannot be read is an error (never a silent fallback). */
export async function resolveIdentity(privateKeyFile: string | undefined, node: string, env: IdentityEnv): Promise<Identity> {
  const read = env.read ?? ((f: string) => readFile(f));
  const agent = env.agentSocket ? { agent: env.agentSocket } : {};
  if (privateKeyFile) {
    try {
      return { privateKey: await read(privateKeyFile), file: privateKeyFile, ...agent };
    } catch (err) {
      throw new TransportError('PRIVATE_KEY_UNREADABLE', `cannot read the ssh private key ${privateKeyFile}: ${(err as Error).message}`, { node }, { cause: err });
    }
  }
  for (const name of env.home ? DEFAULT_IDENTITY_FILES : []) {
    const file = join(env.home!, '.ssh', name);
    try {
      return { privateKey: await read(file), file, ...agent };
    } catch {
      // not there: try the next, as ssh(1) does
    }
  }
  if (env.agentSocket) return agent;
  const tried = env.home ? DEFAULT_IDENTITY_FILES.map((n) => join(env.home!, '.ssh', n)).join(', ') : 'no home directory';
  throw new TransportError('NO_PRIVATE_KEY', `no ssh key for node ${node}: its Node sets no ssh.privateKeyFile, the controller has none of ${tried}, and no ssh-agent (SSH_AUTH_SOCK)`, { node });
}
