/**
 * Pure MAC allocation, like Ganeti's GenerateMAC with a network's mac_prefix, but
 * deterministic: the same (cluster seed, instance, nic index) always yields the same
 * address, so a lost state directory re-derives rather than re-randomises. Collisions
 * with addresses already in use are resolved by re-hashing with an attempt counter.
 */
import { createHash } from 'node:crypto';
import { PrereqError } from '../util/errors.js';

const PREFIX = /^[0-9a-f]{2}(:[0-9a-f]{2}){0,4}$/;

export interface MacRequest {
  /** Network MAC prefix, 1..5 octets, e.g. "aa:00:00". */
  prefix: string;
  /** Cluster-wide seed (e.g. the cluster UUID), so two clusters do not derive the same MACs. */
  seed: string;
  instance: string;
  nicIndex: number;
  /** Addresses already allocated: an array (any case), or a Set of lowercase addresses,
   *  used as is so a caller allocating thousands of NICs does not copy it per NIC. */
  used?: ReadonlySet<string> | readonly string[];
  /** Give up after this many re-hashes (default 4096). */
  maxAttempts?: number;
}

export function normaliseMac(mac: string): string {
  return mac.trim().toLowerCase();
}

export function validateMacPrefix(prefix: string): string {
  const p = normaliseMac(prefix);
  if (!PREFIX.test(p)) throw new PrereqError('MAC_BAD_PREFIX', `MAC prefix ${JSON.stringify(prefix)} must be 1 to 5 hex octets like "aa:00:00"`);
  // The first octet's low bit marks multicast: a NIC address must be unicast.
  if (parseInt(p.slice(0, 2), 16) & 1) throw new PrereqError('MAC_BAD_PREFIX', `MAC prefix ${prefix} is a multicast prefix`);
  return p;
}

export function generateMac(req: MacRequest): string {
  const prefix = validateMacPrefix(req.prefix);
  const prefixOctets = prefix.split(':').length;
  const used = req.used instanceof Set ? req.used : new Set([...(req.used ?? [])].map(normaliseMac));
  const max = req.maxAttempts ?? 4096;
  for (let attempt = 0; attempt < max; attempt++) {
    const digest = createHash('sha256').update(`${req.seed}\0${req.instance}\0${req.nicIndex}\0${attempt}`).digest();
    const tail = [...digest.subarray(0, 6 - prefixOctets)].map((b) => b.toString(16).padStart(2, '0'));
    const mac = [prefix, ...tail].join(':');
    if (!used.has(mac)) return mac;
  }
  throw new PrereqError('MAC_POOL_EXHAUSTED', `no free MAC under prefix ${prefix} for ${req.instance} nic ${req.nicIndex} after ${max} attempts`, {
    prefix,
    instance: req.instance,
  });
}
