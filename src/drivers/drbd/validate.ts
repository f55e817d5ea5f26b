/**
 * Checks for every value that reaches a DRBD argv: resource names, minors, node ids,
 * ports, addresses, device paths, rates. A value that fails throws a PrereqError with a
 * DRBD_* code before anything runs; builders never pass an unchecked value.
 */
import { PrereqError } from '../../util/errors.js';
import { checkPath } from '../facts/shared.js';
import { checkIp } from '../bridge/commands.js';

/** DRBD's minor space is 20 bits (MINORMASK in drbd.h). */
export const MAX_MINOR = 1048575;

export function checkMinor(minor: number): string {
  if (!Number.isSafeInteger(minor) || minor < 0 || minor > MAX_MINOR) {
    throw new PrereqError('DRBD_INVALID_MINOR', `invalid DRBD minor ${minor}: an integer 0..${MAX_MINOR}`, { minor });
  }
  return String(minor);
}

export function checkPort(port: number): string {
  if (!Number.isSafeInteger(port) || port < 1 || port > 65535) {
    throw new PrereqError('DRBD_INVALID_PORT', `invalid DRBD port ${port}: an integer 1..65535`, { port });
  }
  return String(port);
}

/** DRBD 9 node ids are 0..31 (DRBD_NODE_ID_MAX). */
export function checkNodeId(id: number): string {
  if (!Number.isSafeInteger(id) || id < 0 || id > 31) throw new PrereqError('DRBD_INVALID_NODE_ID', `invalid DRBD node id ${id}: an integer 0..31`, { nodeId: id });
  return String(id);
}

export function checkVolume(volume: number): string {
  if (!Number.isSafeInteger(volume) || volume < 0 || volume > 65535) throw new PrereqError('DRBD_INVALID_VOLUME', `invalid DRBD volume ${volume}: an integer 0..65535`, { volume });
  return String(volume);
}

const RESOURCE = /^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,62}$/;
export function checkResource(name: string): string {
  if (!RESOURCE.test(name) || name === 'all') {
    throw new PrereqError('DRBD_INVALID_NAME', `invalid DRBD resource name ${JSON.stringify(name)}: 1-63 of [A-Za-z0-9_.+-], not starting with '-', not "all"`, { name });
  }
  return name;
}

/** Absolute block device paths (LVs, /dev/drbdN); the code is DRBD_INVALID_PATH. */
export function checkDevice(path: string): string {
  try {
    return checkPath(path);
  } catch (e) {
    throw new PrereqError('DRBD_INVALID_PATH', `invalid DRBD backing device ${JSON.stringify(path)}: ${(e as Error).message}`, { path });
  }
}

/** A positive integer (KiB/s, MiB, tenths of seconds...); `what` names the option. */
export function checkCount(what: string, value: number, min = 1): string {
  if (!Number.isSafeInteger(value) || value < min) throw new PrereqError('DRBD_INVALID_OPTION', `invalid DRBD ${what} ${value}: an integer >= ${min}`, { option: what, value });
  return String(value);
}

export interface Endpoint { readonly host: string; readonly port: number }

function family(host: string): 'ipv4' | 'ipv6' {
  try {
    checkIp(host);
  } catch {
    throw new PrereqError('DRBD_INVALID_ADDRESS', `invalid DRBD address ${JSON.stringify(host)}: an IPv4 or IPv6 address`, { host });
  }
  return host.includes(':') ? 'ipv6' : 'ipv4';
}

/** "ipv4:A:P" or "ipv6:[A]:P", the address syntax of drbdsetup 8.4 and 9. */
export function endpointArg(e: Endpoint): string {
  const f = family(e.host);
  return f === 'ipv6' ? `ipv6:[${e.host}]:${checkPort(e.port)}` : `ipv4:${e.host}:${checkPort(e.port)}`;
}

/** Both ends of a link: same family, not the same address and port (Ganeti checks both). */
export function linkArgs(local: Endpoint, peer: Endpoint): [string, string] {
  if (family(local.host) !== family(peer.host)) {
    throw new PrereqError('DRBD_INVALID_ADDRESS', `cannot connect ${local.host} to ${peer.host}: the two ends of a DRBD link must be the same address family`, { local: local.host, peer: peer.host });
  }
  if (local.host === peer.host && local.port === peer.port) {
    throw new PrereqError('DRBD_INVALID_ADDRESS', `a DRBD link cannot have the same local and peer endpoint ${local.host}:${local.port}`, { local: local.host, port: local.port });
  }
  return [endpointArg(local), endpointArg(peer)];
}
