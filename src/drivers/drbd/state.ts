/**
 * The typed snapshot every DRBD parser produces, whatever it read (/proc/drbd, events2,
 * status --json): one entry per local device (minor), with its peers. Unknown is kept
 * unknown: a field a source does not carry stays undefined, never guessed.
 */
export type DrbdRole = 'Primary' | 'Secondary' | 'Unknown';

export interface DrbdSync {
  /** Resync done, percent (0..100), as /proc/drbd's "sync'ed:" or events2's "done:". */
  readonly percent: number;
  readonly speedKiBps?: number;
  readonly etaSec?: number;
  /** KiB still to sync. */
  readonly remainingKiB?: number;
}

export interface DrbdPeer {
  /** DRBD 9 only. */
  readonly nodeId?: number;
  readonly name?: string;
  /** Connection state: Connected, StandAlone, WFConnection (8.4), Connecting (9), ... */
  readonly connection: string;
  /** Replication state: Established, SyncSource, SyncTarget, PausedSyncS, ... (8.4: cs when not plain Connected) */
  readonly replication?: string;
  readonly role?: DrbdRole;
  readonly disk?: string;
  readonly outOfSyncKiB?: number;
  readonly sync?: DrbdSync;
}

export interface DrbdDevice {
  readonly minor: number;
  /** Absent from /proc/drbd (8.4 prints minors only). */
  readonly resource?: string;
  readonly volume?: number;
  readonly role?: DrbdRole;
  /** Local disk: UpToDate, Inconsistent, Diskless, Outdated, Failed, ... */
  readonly disk?: string;
  readonly protocol?: string;
  readonly quorum?: boolean;
  readonly sizeKiB?: number;
  /** True for a minor /proc/drbd lists as "cs:Unconfigured". */
  readonly unconfigured?: boolean;
  readonly peers: readonly DrbdPeer[];
}

export interface DrbdSnapshot {
  readonly devices: readonly DrbdDevice[];
  /** Resource names, including those without devices (events2 only). */
  readonly resources?: readonly string[];
  /** events2 "call helper ... helper:split-brain" lines seen (names of resources). */
  readonly splitBrainHelpers?: readonly string[];
}

export function asRole(s: string | undefined): DrbdRole | undefined {
  if (s === undefined) return undefined;
  return s === 'Primary' || s === 'Secondary' ? s : 'Unknown';
}

/** Replication states that mean a resync is running or paused. */
export const SYNCING = new Set(['SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT', 'StartingSyncS', 'StartingSyncT', 'WFBitMapS', 'WFBitMapT', 'WFSyncUUID']);

export const isConnected = (p: DrbdPeer): boolean => p.connection === 'Connected' || SYNCING.has(p.connection) || p.connection === 'VerifyS' || p.connection === 'VerifyT';
export const isHealthy = (d: DrbdDevice): boolean =>
  d.disk === 'UpToDate' && d.peers.length > 0 && d.peers.every((p) => isConnected(p) && p.disk === 'UpToDate' && !SYNCING.has(p.replication ?? p.connection));

export interface SplitBrainIndicators {
  readonly suspected: boolean;
  readonly reasons: readonly string[];
}

/**
 * What points to a split brain, from state alone. DRBD 8.4 drops to StandAlone when it
 * detects one and the after-sb policies refuse to resolve it; an admin's disconnect
 * looks the same in /proc/drbd, so a StandAlone device whose network config is still
 * wanted (`expectConnected`) is only "suspected"; the kernel log or events2's
 * split-brain helper call is the proof. Never a reason to discard data by itself.
 */
export function splitBrainIndicators(d: DrbdDevice, opts: { expectConnected: boolean; helperSeen?: boolean }): SplitBrainIndicators {
  const reasons: string[] = [];
  if (opts.helperSeen) reasons.push('DRBD called its split-brain helper for this resource');
  const standalone = d.peers.length === 0 || d.peers.every((p) => p.connection === 'StandAlone');
  if (opts.expectConnected && standalone && d.disk === 'UpToDate') reasons.push('StandAlone with UpToDate data although its peer is configured: DRBD drops to StandAlone when it finds a split brain it may not resolve');
  if (d.role === 'Primary' && d.peers.some((p) => p.role === 'Primary') && d.peers.some((p) => !isConnected(p))) reasons.push('both sides Primary while not connected');
  return { suspected: reasons.length > 0, reasons };
}

/**
 * 8.4's events2 --now names resources but carries no resync progress or out-of-sync
 * counts; /proc/drbd has those but no names. Join them by minor (peer 0: 8.4 has one).
 */
export function withProcProgress(events: DrbdSnapshot, proc: readonly DrbdDevice[]): DrbdSnapshot {
  const byMinor = new Map(proc.map((d) => [d.minor, d]));
  const devices = events.devices.map((d) => {
    const p = byMinor.get(d.minor)?.peers[0];
    const [first, ...rest] = d.peers;
    if (!p || !first) return { ...d, ...(byMinor.get(d.minor)?.protocol ? { protocol: byMinor.get(d.minor)!.protocol! } : {}) };
    const merged: DrbdPeer = { ...first, ...(p.outOfSyncKiB !== undefined ? { outOfSyncKiB: p.outOfSyncKiB } : {}), ...(p.sync ? { sync: p.sync } : {}) };
    return { ...d, ...(byMinor.get(d.minor)?.protocol ? { protocol: byMinor.get(d.minor)!.protocol! } : {}), peers: [merged, ...rest] };
  });
  return { ...events, devices };
}

/**
 * DRBD 9: events2 --now (without --statistics) carries no resync progress; `status --json`
 * does. Join its per-peer progress and out-of-sync into the events2 snapshot by minor and
 * peer node id (events2 stays the source of every state).
 */
export function withStatusProgress(events: DrbdSnapshot, status: DrbdSnapshot): DrbdSnapshot {
  const byMinor = new Map(status.devices.map((d) => [d.minor, d]));
  const devices = events.devices.map((d) => {
    const st = byMinor.get(d.minor);
    if (!st) return d;
    const peers = d.peers.map((p) => {
      const q = st.peers.find((x) => x.nodeId !== undefined && x.nodeId === p.nodeId);
      if (!q) return p;
      return { ...p, ...(q.outOfSyncKiB !== undefined ? { outOfSyncKiB: q.outOfSyncKiB } : {}), ...(q.sync && !p.sync ? { sync: q.sync } : {}) };
    });
    return { ...d, peers };
  });
  return { ...events, devices };
}
