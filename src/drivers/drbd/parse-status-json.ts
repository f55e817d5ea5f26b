/**
 * `drbdsetup status --json` (DRBD 9 only: against an 8.4 module, drbd-utils 9.22 execs
 * drbdsetup-84, which answers "status: unrecognized option '--json'" and exit 20;
 * see testdata/84-status-json-unsupported.txt). Shape, from drbd-utils
 * user/v9/drbdsetup.c: [ { name, node-id, role, suspended, devices: [ {volume, minor,
 * disk-state, quorum, size...} ], connections: [ {peer-node-id, name,
 * connection-state, peer-role, peer_devices: [ {volume, replication-state,
 * peer-disk-state, out-of-sync, percent-in-sync, percent-resync-done,
 * estimated-seconds-to-finish, "db1/dt1 [MiB/s]"...} ] } ] } ].
 */
import { ExecError } from '../../util/errors.js';
import { isRecord, parseJson } from '../facts/shared.js';
import { asRole, SYNCING, type DrbdDevice, type DrbdPeer, type DrbdSnapshot, type DrbdSync } from './state.js';

type Obj = Record<string, unknown>;
const str = (o: Obj, k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
const num = (o: Obj, k: string): number | undefined => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : undefined);
const list = (o: Obj, k: string): Obj[] => (Array.isArray(o[k]) ? (o[k] as unknown[]).filter(isRecord) : []);

/** "8.4 kernel" answer: drbdsetup-84 does not know --json. */
export function isJsonUnsupported(stderrOrStdout: string): boolean {
  return /unrecognized option '--json'/.test(stderrOrStdout);
}

function sync(pd: Obj): DrbdSync | undefined {
  const repl = str(pd, 'replication-state') ?? '';
  const percent = num(pd, 'percent-resync-done');
  if (!SYNCING.has(repl) || percent === undefined) return undefined;
  const eta = num(pd, 'estimated-seconds-to-finish');
  const mibps = num(pd, 'db1/dt1 [MiB/s]');
  return {
    percent,
    // 987654321 is drbdsetup's "no estimate yet" value.
    ...(eta !== undefined && eta !== 987654321 ? { etaSec: eta } : {}),
    ...(mibps !== undefined ? { speedKiBps: Math.round(mibps * 1024) } : {}),
  };
}

function peer(c: Obj, pd: Obj | undefined): DrbdPeer {
  const s = pd ? sync(pd) : undefined;
  const oos = pd ? num(pd, 'out-of-sync') : undefined;
  const id = num(c, 'peer-node-id');
  return {
    ...(id !== undefined ? { nodeId: id } : {}),
    ...(str(c, 'name') !== undefined ? { name: str(c, 'name')! } : {}),
    connection: str(c, 'connection-state') ?? 'Unknown',
    ...(pd && str(pd, 'replication-state') !== undefined ? { replication: str(pd, 'replication-state')! } : {}),
    ...(str(c, 'peer-role') !== undefined ? { role: asRole(str(c, 'peer-role'))! } : {}),
    ...(pd && str(pd, 'peer-disk-state') !== undefined ? { disk: str(pd, 'peer-disk-state')! } : {}),
    ...(oos !== undefined ? { outOfSyncKiB: oos } : {}),
    ...(s ? { sync: s } : {}),
  };
}

function devices(r: Obj): DrbdDevice[] {
  const name = str(r, 'name');
  const role = asRole(str(r, 'role'));
  return list(r, 'devices').map((d) => {
    const volume = num(d, 'volume') ?? 0;
    const minor = num(d, 'minor');
    if (minor === undefined) throw new ExecError('PARSE_FAILED', `drbdsetup status --json: device without a minor in resource ${name ?? '?'}`);
    const quorum = typeof d.quorum === 'boolean' ? d.quorum : undefined;
    return {
      minor, volume, ...(name !== undefined ? { resource: name } : {}), ...(role ? { role } : {}),
      ...(str(d, 'disk-state') !== undefined ? { disk: str(d, 'disk-state')! } : {}),
      ...(quorum !== undefined ? { quorum } : {}),
      ...(num(d, 'size') !== undefined ? { sizeKiB: num(d, 'size')! } : {}),
      peers: list(r, 'connections').map((c) => peer(c, list(c, 'peer_devices').find((pd) => num(pd, 'volume') === volume))),
    };
  });
}

export function parseStatusJson(text: string): DrbdSnapshot {
  const data = parseJson(text, 'drbdsetup status --json');
  if (!Array.isArray(data)) throw new ExecError('PARSE_FAILED', 'drbdsetup status --json: expected a list of resources');
  return { devices: data.filter(isRecord).flatMap(devices).sort((a, b) => a.minor - b.minor) };
}
