/**
 * /proc/drbd of DRBD 8.4 (and 8.3, same layout) into the common snapshot. Per minor:
 *
 *    5: cs:SyncSource ro:Secondary/Secondary ds:UpToDate/Inconsistent C r---n-
 *       ns:716992 nr:0 dw:0 dr:719432 al:0 bm:43 lo:0 pe:33 ua:18 ap:0 ep:1 wo:f oos:335744
 *          [============>.......] sync'ed: 68.5% (335744/1048576)K
 *          finish: 0:00:05 speed: 64,800 (64,800) K/sec
 *
 * 8.4's cs mixes connection and replication states; they are split the DRBD 9 way
 * (Connected + SyncSource), so callers read both versions alike. DRBD 9's /proc/drbd
 * has only the version line: its devices come from status --json or events2.
 */
import { parseProcDrbdHeader, type DrbdVersion } from './version.js';
import { asRole, type DrbdDevice, type DrbdPeer, type DrbdSync } from './state.js';

/** cs values that are replication states of a Connected link. */
const REPLICATION = new Set(['SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT', 'StartingSyncS', 'StartingSyncT', 'WFBitMapS', 'WFBitMapT', 'WFSyncUUID', 'VerifyS', 'VerifyT', 'Ahead', 'Behind']);

export interface ProcDrbd { readonly version?: DrbdVersion; readonly devices: readonly DrbdDevice[] }

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
interface Building { dev: Mutable<DrbdDevice>; peer?: Mutable<DrbdPeer>; sync?: Mutable<DrbdSync> }

const HEAD = /^\s*(\d+): cs:(\S+)(?:\s+(?:ro|st):(\S+)\/(\S+)\s+ds:(\S+)\/(\S+)(?:\s+([ABC])\b)?)?/;
const num = (s: string): number => Number(s.replace(/,/g, ''));

function startMinor(m: RegExpExecArray): Building {
  const cs = m[2]!;
  const dev: Mutable<DrbdDevice> = { minor: Number(m[1]), peers: [] };
  if (cs === 'Unconfigured') return { dev: { ...dev, unconfigured: true } };
  if (m[3] === undefined) return { dev };
  Object.assign(dev, { role: asRole(m[3]), disk: m[5] });
  if (m[7] !== undefined) dev.protocol = m[7];
  const peer: Mutable<DrbdPeer> = REPLICATION.has(cs) ? { connection: 'Connected', replication: cs } : { connection: cs, ...(cs === 'Connected' ? { replication: 'Established' } : {}) };
  Object.assign(peer, { role: asRole(m[4]), disk: m[6] });
  dev.peers = [peer];
  return { dev, peer };
}

function detail(b: Building, line: string): void {
  const oos = /\boos:(\d+)/.exec(line);
  if (oos && b.peer) b.peer.outOfSyncKiB = Number(oos[1]);
  const synced = /sync'ed:\s*([\d.]+)% \((\d+)\/(\d+)\)([KM])/.exec(line);
  if (synced) b.sync = { percent: Number(synced[1]), remainingKiB: Number(synced[2]) * (synced[4] === 'M' ? 1024 : 1) };
  const finish = /finish: (\d+):(\d+):(\d+) speed: ([\d,]+)/.exec(line);
  if (finish && b.sync) Object.assign(b.sync, { etaSec: num(finish[1]!) * 3600 + num(finish[2]!) * 60 + num(finish[3]!), speedKiBps: num(finish[4]!) });
}

function finish(b: Building | undefined, out: DrbdDevice[]): void {
  if (!b) return;
  if (b.sync && b.peer) b.peer.sync = b.sync;
  out.push(b.dev);
}

export function parseProcDrbd(text: string): ProcDrbd {
  const header = parseProcDrbdHeader(text);
  const devices: DrbdDevice[] = [];
  let cur: Building | undefined;
  for (const line of text.split('\n')) {
    const m = HEAD.exec(line);
    if (m) {
      finish(cur, devices);
      cur = startMinor(m);
    } else if (cur) detail(cur, line);
  }
  finish(cur, devices);
  return { ...(header ? { version: header.version } : {}), devices };
}
