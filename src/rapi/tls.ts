/**
 * The server's TLS key and certificate: the operator's (--tls-cert/--tls-key), or a
 * self-signed one made on first start with openssl (argv, no shell) and kept in the state
 * directory, so clients that pin it keep working across restarts.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

const run = promisify(execFile);

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  /** True when this call made the certificate. */
  readonly created: boolean;
}

/** openssl argv for a self-signed P-256 certificate valid ten years. */
export function selfSignedArgv(keyFile: string, certFile: string, commonName: string): string[] {
  return [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '3650',
    '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${commonName}`,
    '-addext', `subjectAltName=DNS:${commonName},DNS:localhost,IP:127.0.0.1`,
  ];
}

async function readPair(certFile: string, keyFile: string): Promise<{ cert: string; key: string } | undefined> {
  try {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The operator's pair; a missing or unreadable file is an error naming it. */
export async function loadTls(certFile: string, keyFile: string): Promise<TlsMaterial> {
  const pair = await readPair(certFile, keyFile).catch((e: Error) => { throw new PrereqError('TLS_UNREADABLE', `cannot read ${certFile} / ${keyFile}: ${e.message}`); });
  if (!pair) throw new PrereqError('TLS_UNREADABLE', `--tls-cert ${certFile} or --tls-key ${keyFile} does not exist`, { certFile, keyFile });
  return { ...pair, certFile, created: false };
}

/** STATE_DIR/rapi/server.{pem,key}: read when there, made with openssl when not. */
export async function ensureSelfSigned(stateDir: string, logger: Logger, commonName = hostname()): Promise<TlsMaterial> {
  const dir = path.join(stateDir, 'rapi');
  const certFile = path.join(dir, 'server.pem');
  const keyFile = path.join(dir, 'server.key');
  const have = await readPair(certFile, keyFile);
  if (have) return { ...have, certFile, created: false };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmpKey = `${keyFile}.tmp-${process.pid}`;
  const tmpCert = `${certFile}.tmp-${process.pid}`;
  try {
    await run('openssl', selfSignedArgv(tmpKey, tmpCert, commonName), { timeout: 60_000 });
  } catch (e) {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
    throw new PrereqError('TLS_CERT_FAILED', `openssl could not make a self-signed certificate in ${dir}: ${(e as Error).message.split('\n')[0]}`, { dir });
  }
  await rename(tmpKey, keyFile);
  await rename(tmpCert, certFile);
  logger.info({ certFile }, 'made a self-signed TLS certificate for the remote API');
  const made = (await readPair(certFile, keyFile))!;
  return { ...made, certFile, created: true };
}
