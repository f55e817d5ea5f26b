/**
 * The lab guest's configuration header: a few `key=value` text lines at offset 0 of the
 * guest's first disk, written by the lab OS `create` script and read by the guest's
 * /init. A text header (not a filesystem) keeps both sides tiny POSIX sh.
 */
export const GUEST_HEADER_MAGIC = 'gantry-guest-config v1';
export const GUEST_HEADER_END = 'end';
/** Bytes reserved for the header; the rest of the block is zero padding. */
export const GUEST_HEADER_BYTES = 4096;

export interface GuestConfig {
  hostname: string;
  /** CIDR, e.g. "198.18.201.10/24". */
  ip?: string;
  gateway?: string;
  /** IPv6 CIDR, e.g. "2001:2:0:40:a800:ff:fe00:1/64". */
  ip6?: string;
  gateway6?: string;
  /** Addresses the guest pings once after booting, printing "ping ADDR ok|failed". */
  ping?: string;
  /** Power off (guest-initiated) after this many ticks. */
  poweroffAfter?: number;
  message?: string;
}

const KEYS: Record<string, keyof GuestConfig> = {
  hostname: 'hostname',
  ip: 'ip',
  gateway: 'gateway',
  ip6: 'ip6',
  gateway6: 'gateway6',
  ping: 'ping',
  poweroff_after: 'poweroffAfter',
  message: 'message',
};

/** The header bytes a disk should start with (for tests and TS-side installs). */
export function renderGuestHeader(cfg: GuestConfig): string {
  const lines = [GUEST_HEADER_MAGIC, `hostname=${oneLine(cfg.hostname)}`];
  if (cfg.ip) lines.push(`ip=${oneLine(cfg.ip)}`);
  if (cfg.gateway) lines.push(`gateway=${oneLine(cfg.gateway)}`);
  if (cfg.ip6) lines.push(`ip6=${oneLine(cfg.ip6)}`);
  if (cfg.gateway6) lines.push(`gateway6=${oneLine(cfg.gateway6)}`);
  if (cfg.ping) lines.push(`ping=${oneLine(cfg.ping)}`);
  if (cfg.poweroffAfter !== undefined) lines.push(`poweroff_after=${Math.trunc(cfg.poweroffAfter)}`);
  if (cfg.message) lines.push(`message=${oneLine(cfg.message)}`);
  lines.push(GUEST_HEADER_END);
  const text = lines.join('\n') + '\n';
  if (Buffer.byteLength(text) > GUEST_HEADER_BYTES) throw new RangeError('guest header exceeds 4096 bytes');
  return text;
}

/** Read a header back (what the guest's /init does, in TS). Undefined when absent. */
export function parseGuestHeader(raw: string | Buffer): GuestConfig | undefined {
  const text = (typeof raw === 'string' ? raw : raw.subarray(0, GUEST_HEADER_BYTES).toString('utf8')).replace(/\0+$/s, '');
  const lines = text.split('\n');
  if (lines[0] !== GUEST_HEADER_MAGIC) return undefined;
  const cfg: Partial<GuestConfig> = {};
  for (const line of lines.slice(1)) {
    if (line === GUEST_HEADER_END) break;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = KEYS[line.slice(0, eq)];
    const value = line.slice(eq + 1);
    if (key === 'poweroffAfter') cfg.poweroffAfter = Number(value);
    else if (key) cfg[key] = value;
  }
  return cfg.hostname ? (cfg as GuestConfig) : undefined;
}

function oneLine(v: string): string {
  return v.replace(/[\r\n\0]/g, ' ');
}
