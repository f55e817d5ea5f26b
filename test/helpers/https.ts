/** HTTPS helpers for tests of the remote API server (self-signed certificate, loopback only). */
import { request } from 'node:https';
import { createServer } from 'node:net';

/** A free TCP port on loopback (bound and released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** One HTTPS request to 127.0.0.1:port (self-signed certificate), JSON in and out; `auth` is "user:password". */
export function https(port: number, method: string, url: string, auth?: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      host: '127.0.0.1', port, method, path: url, rejectUnauthorized: false, timeout: 60_000,
      headers: { ...(auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}), ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { const t = Buffer.concat(chunks).toString(); try { resolve({ status: res.statusCode ?? 0, json: JSON.parse(t) }); } catch { resolve({ status: res.statusCode ?? 0, json: t }); } });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.end(payload);
  });
}
