/**
 * Drbd9Double: A TEST DOUBLE of DRBD 9 on N nodes. DRBD 9 is an out-of-tree kernel
 * module and cannot run on this machine (the 8.4 driver runs for real in the VM lab);
 * this in-memory model stands in for it, and nothing here was checked against a real
 * DRBD 9 module. It executes the drbdsetup / drbdmeta / drbdadm argv the DRBD 9 runner
 * (drivers/drbd/ops9.ts) sends, through the same Transport seam as a real node
 * (`transport(node)`), and answers the reads in DRBD 9's formats, shaped after the real
 * samples in drivers/drbd/testdata/v9 (see its README for their sources):
 *
 *   drbdsetup status --json     status-json-connected.json / status-json-syncing.json
 *   drbdsetup events2 --now     events2-sync.txt (resource, device, connection, peer-device, path lines)
 *   drbdsetup show              show-two-peers.txt (options, _this_host node-id, connection blocks)
 *   cat /proc/drbd              proc-drbd.txt (DRBD 9 prints the version header only)
 *   drbdadm --version           v84/drbdadm-version.txt's variables, with a 9.2.8 kernel code
 *
 * The rules it keeps (DRBD 9 user guide; drbd-utils' error strings):
 * * v09 metadata lives on the meta device (survives `down` and a power-off; `dd` over it
 *   erases it); attach needs it. Kernel objects (resource, minors, peers, paths) do not
 *   survive a power-off.
 * * A connection is Connected when both ends have a peer for each other's node id, a path
 *   whose ends mirror each other, both ran `connect`, both nodes are up and the link
 *   between them is not cut. Node ids must differ.
 * * Resync: a connected UpToDate side resyncs an Inconsistent or Outdated one (SyncSource /
 *   SyncTarget), `syncStepPercent` per status/events2 read on any node (0: frozen until
 *   finishSyncs()). A connected pair that is Inconsistent on both sides waits for
 *   `primary --force` (the initial sync).
 * * A Primary whose peer is not connected starts a new data generation that peer lacks;
 *   when both sides of a reconnect hold such writes, it is a split brain: both drop to
 *   StandAlone (the after-sb policies Gantry sets discard nothing), and `splitBrains` records it.
 * * Refusals, each with drbdsetup's exit code: primary without UpToDate data (11, "(-2)
 *   Need access to UpToDate data"), without quorum (11, "No quorum"), a second Primary
 *   without allow-two-primaries on both ends (11, "(-1) Multiple primaries not allowed by
 *   config"); objects that exist or do not (10); attach without metadata; resize beyond a
 *   backing device; del-peer of a connected peer; down of a Primary still in use.
 * * Quorum (resource-options --quorum): votes are this node plus its connected peers, of
 *   this node plus all its configured peers (diskless ones count: the tiebreaker). A
 *   Primary without quorum and on-no-quorum io-error fails its writes (`write`).
 */
import type { ExecOptions, ExecResult, Transport } from '../transport/transport.js';
import { TransportError } from '../util/errors.js';

type Disk = 'UpToDate' | 'Inconsistent' | 'Outdated' | 'Diskless' | 'Failed';
interface Endpoint { host: string; port: number }

interface Meta { format?: 'v08'; maxPeers: number; disk: 'UpToDate' | 'Inconsistent' | 'Outdated'; /** node ids of peers that lack writes made here */ ahead: Set<number>; alApplied: boolean }
interface Device { minor: number; volume: number; data?: string; meta?: string; sizeKiB?: number; failed?: boolean }
interface Peer {
  nodeId: number; name: string; protocol: string; allowTwoPrimaries: boolean; afterSb: Record<string, string>;
  paths: { local: Endpoint; peer: Endpoint }[]; wantConnect: boolean; connected: boolean;
  /** A resync toward or from this peer, vol 0: percent done. */
  sync?: { role: 'SyncSource' | 'SyncTarget'; percent: number };
  resync: Record<string, string>;
}
interface Resource { name: string; nodeId: number; quorum: string; onNoQuorum: string; role: 'Primary' | 'Secondary'; devices: Map<number, Device>; peers: Map<number, Peer>; opened: boolean }
interface DNode { name: string; up: boolean; resources: Map<string, Resource>; metas: Map<string, Meta>; backingKiB: Map<string, number>; helper: string }

export interface Drbd9DoubleOptions {
  /** Resync progress per status / events2 read (percent); 0 freezes resyncs until finishSyncs(). Default 50. */
  readonly syncStepPercent?: number;
  /** Size of a backing device not set with setBackingSize (KiB). Default 10 GiB. */
  readonly defaultBackingKiB?: number;
}

const ok = (argv: readonly string[], stdout = ''): ExecResult => ({ argv, code: 0, stdout, stderr: '', durationMs: 1 });
const fail = (argv: readonly string[], code: number, stderr: string): ExecResult => ({ argv, code, stdout: '', stderr: `${stderr}\n`, durationMs: 1 });

/** "ipv4:198.18.1.1:11000" / "ipv6:[fd00::1]:11000" (validate.endpointArg's syntax). */
function parseEndpoint(s: string): Endpoint | undefined {
  const m = /^ipv4:([0-9.]+):(\d+)$/.exec(s) ?? /^ipv6:\[([0-9a-fA-F:]+)\]:(\d+)$/.exec(s);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}
const same = (a: Endpoint, b: Endpoint): boolean => a.host === b.host && a.port === b.port;
const epText = (e: Endpoint): string => (e.host.includes(':') ? `ipv6 [${e.host}]:${e.port}` : `ipv4 ${e.host}:${e.port}`);
const epArg = (e: Endpoint): string => (e.host.includes(':') ? `ipv6:[${e.host}]:${e.port}` : `ipv4:${e.host}:${e.port}`);

const FLAGS = new Set(['--force', '--json', '--now', '--statistics']);
/** --key=value and --key value options after the positional words. */
function options(args: readonly string[]): { pos: string[]; opt: Record<string, string> } {
  const pos: string[] = [];
  const opt: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) { pos.push(a); continue; }
    const eq = a.indexOf('=');
    if (eq > 0) opt[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < args.length && !args[i + 1]!.startsWith('--') && !FLAGS.has(a)) opt[a.slice(2)] = args[++i]!;
    else opt[a.slice(2)] = 'yes';
  }
  return { pos, opt };
}

export class Drbd9Double {
  private readonly nodes = new Map<string, DNode>();
  private readonly cut = new Set<string>();
  private readonly step: number;
  private readonly defaultBacking: number;
  /** Every argv each node ran, in order (reads included). */
  readonly log: { node: string; argv: string[] }[] = [];
  /** Split brains found at a reconnect: "nodeA/resource nodeB/resource". */
  readonly splitBrains: string[] = [];

  constructor(names: readonly string[], o: Drbd9DoubleOptions = {}) {
    for (const name of names) this.nodes.set(name, { name, up: true, resources: new Map(), metas: new Map(), backingKiB: new Map(), helper: '/sbin/drbdadm' });
    this.step = o.syncStepPercent ?? 50;
    this.defaultBacking = o.defaultBackingKiB ?? 10 * 1024 * 1024;
  }

  // ---------- the seam ----------

  transport(node: string): Transport {
    return {
      node,
      exec: async (argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> => this.exec(node, argv, opts),
      execBatch: async (cmds: readonly (readonly string[])[]): Promise<ExecResult[]> => cmds.map((c) => this.exec(node, c)),
      close: async (): Promise<void> => {},
    };
  }

  // ---------- faults and inspection for tests ----------

  /** Power off: the node's kernel objects are gone, its metadata stays. */
  powerOff(node: string): void { const n = this.node(node); n.up = false; n.resources.clear(); this.settle(); }
  powerOn(node: string): void { this.node(node).up = true; this.settle(); }
  /** Cut (or heal) the replication link between two nodes. */
  cutLink(a: string, b: string, isCut = true): void { const k = [a, b].sort().join('|'); if (isCut) this.cut.add(k); else this.cut.delete(k); this.settle(); }
  setBackingSize(node: string, dev: string, kib: number): void { this.node(node).backingKiB.set(dev, kib); }
  /** Every running resync done now. */
  finishSyncs(): void { this.advance(100); }
  /** The backing disk of `minor` fails: DRBD detaches it (on-io-error detach). */
  failDisk(node: string, minor: number): void {
    for (const r of this.node(node).resources.values()) for (const d of r.devices.values()) if (d.minor === minor) d.failed = true;
    this.settle();
  }

  /** A write on `resource` of `node`: only a Primary with quorum (or quorum off) and UpToDate data reachable. */
  write(node: string, resource: string): 'ok' | 'io-error' | 'not-primary' {
    const r = this.node(node).resources.get(resource);
    if (!r || r.role !== 'Primary') return 'not-primary';
    if (!this.hasQuorum(node, r) && r.onNoQuorum === 'io-error') return 'io-error';
    if (!this.hasUpToDate(node, r)) return 'io-error';
    const m = this.metaOf(node, r);
    if (m) for (const p of r.peers.values()) if (!p.connected) m.ahead.add(p.nodeId);
    return 'ok';
  }

  /** Disk state of `resource`'s volume 0 on `node` ("none" when the resource is not up). */
  disk(node: string, resource: string): Disk | 'none' {
    const r = this.node(node).resources.get(resource);
    return r ? this.diskOf(node, r, r.devices.get(0)) : 'none';
  }
  role(node: string, resource: string): 'Primary' | 'Secondary' | 'none' { return this.node(node).resources.get(resource)?.role ?? 'none'; }
  /** Replicas of the data, cluster-wide: resources with minors whose disk is UpToDate, on nodes that are up. */
  upToDateReplicas(): { node: string; resource: string }[] {
    const out: { node: string; resource: string }[] = [];
    for (const n of this.nodes.values()) for (const r of n.resources.values()) if (this.diskOf(n.name, r, r.devices.get(0)) === 'UpToDate') out.push({ node: n.name, resource: r.name });
    return out;
  }
  /** Mark the resource open (a VM uses the device): `down` and `secondary` are refused while set. */
  setOpen(node: string, resource: string, open: boolean): void { const r = this.node(node).resources.get(resource); if (r) r.opened = open; }
  /** The node ids that `resource` on `node` has peers for. */
  peerIds(node: string, resource: string): number[] { return [...(this.node(node).resources.get(resource)?.peers.keys() ?? [])].sort((a, b) => a - b); }
  hasMetadata(node: string, metaDev: string): boolean { return this.node(node).metas.has(metaDev); }
  /** Put DRBD 8.4's v08 metadata on a meta device (a node upgraded from 8.4 to 9). */
  seedV08Metadata(node: string, metaDev: string): void { this.node(node).metas.set(metaDev, { format: 'v08', maxPeers: 1, disk: 'UpToDate', ahead: new Set(), alApplied: true }); }

  // ---------- command dispatch ----------

  exec(node: string, argv: readonly string[], opts?: ExecOptions): ExecResult {
    this.log.push({ node, argv: [...argv] });
    const n = this.node(node);
    if (!n.up) throw new TransportError('TRANSPORT_UNREACHABLE', `${node}: connection refused (Drbd9Double: node powered off)`, { node });
    const [cmd, sub, ...rest] = argv;
    if (cmd === 'cat' && sub === '/proc/drbd') return ok(argv, 'version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: e163b05a76254c0f51f999970e861d72bb16409a build by @buildsystem, 2024-02-26 09:17:31\nTransports (api:20): tcp (9.2.8)\n');
    if (cmd === 'cat' && sub === '/sys/module/drbd/parameters/usermode_helper') return ok(argv, `${n.helper}\n`);
    if (cmd === 'tee' && sub === '/sys/module/drbd/parameters/usermode_helper') { n.helper = String(opts?.stdin ?? '').trim(); return ok(argv); }
    if (cmd === 'drbdadm' && sub === '--version') {
      return ok(argv, 'DRBDADM_BUILDTAG=GIT-hash:\\ 0000000000000000000000000000000000000000\\ build\\ by\\ @double\nDRBDADM_API_VERSION=2\nDRBD_KERNEL_VERSION_CODE=0x090208\nDRBD_KERNEL_VERSION=9.2.8\nDRBDADM_VERSION_CODE=0x091600\nDRBDADM_VERSION=9.22.0\n');
    }
    if (cmd === 'dd') return this.dd(n, argv);
    if (cmd === 'drbdmeta') return this.drbdmeta(n, argv);
    if (cmd === 'drbdsetup' && sub !== undefined) {
      const r = this.drbdsetup(n, sub, rest, argv);
      this.settle();
      return r;
    }
    return fail(argv, 127, `Drbd9Double: ${argv.join(' ')} is not modelled (DRBD 9 commands only)`);
  }

  private dd(n: DNode, argv: readonly string[]): ExecResult {
    const of = argv.find((a) => a.startsWith('of='))?.slice(3);
    if (!of) return fail(argv, 1, 'dd: no output file');
    if (this.inUse(n, of)) return fail(argv, 1, `dd: failed to open '${of}': Device or resource busy`);
    n.metas.delete(of);
    return ok(argv);
  }

  private inUse(n: DNode, dev: string): boolean {
    for (const r of n.resources.values()) for (const d of r.devices.values()) if (d.meta === dev || d.data === dev) return true;
    return false;
  }

  private drbdmeta(n: DNode, argv: readonly string[]): ExecResult {
    const words = argv.filter((a) => a !== '--force');
    const [, , fmt, metaDev, layout, verb, maxPeers] = words;
    if ((fmt !== 'v09' && fmt !== 'v08') || layout !== 'flex-external' || metaDev === undefined) return fail(argv, 20, `Drbd9Double: unexpected drbdmeta call ${argv.join(' ')}`);
    const found = n.metas.get(metaDev);
    if (fmt === 'v08') {
      // Only reading old 8.4 metadata is modelled (the DRBD 9 runner checks for it before it creates v09 metadata).
      if (verb !== 'dump-md') return fail(argv, 20, `Drbd9Double: drbdmeta v08 ${verb} is not modelled`);
      return found?.format === 'v08' ? ok(argv, '# DRBD meta data dump\nversion "v08";\n') : fail(argv, 255, 'No valid meta data found');
    }
    if (found?.format === 'v08' && verb !== 'create-md') return fail(argv, 255, 'No valid meta data found'); // what the double answers; real drbdmeta was not checked
    const meta = found?.format === 'v08' ? undefined : found;
    switch (verb) {
      case 'create-md': {
        if (this.inUse(n, metaDev)) return fail(argv, 20, `Device '${metaDev}' is configured!`);
        if (meta && !argv.includes('--force')) return fail(argv, 20, 'Found meta data; refusing to overwrite without --force');
        const peers = Number(maxPeers ?? '1');
        if (!Number.isInteger(peers) || peers < 1 || peers > 31) return fail(argv, 20, `invalid max-peers ${maxPeers}`);
        n.metas.set(metaDev, { maxPeers: peers, disk: 'Inconsistent', ahead: new Set(), alApplied: true });
        return ok(argv, 'initializing activity log\ninitializing bitmap (32 KB) to all zero\nWriting meta data...\nNew drbd meta data block successfully created.\n');
      }
      case 'dump-md':
        if (!meta) return fail(argv, 255, `No valid meta data found`);
        return ok(argv, `# DRBD meta data dump\nversion "v09";\n\nmax-peers ${meta.maxPeers};\n# md_size_sect 262144\nla-size-sect 0;\n`);
      case 'apply-al':
        if (!meta) return fail(argv, 255, 'No valid meta data found');
        if (this.inUse(n, metaDev)) return fail(argv, 20, `Device '${metaDev}' is configured!`);
        meta.alApplied = true;
        return ok(argv);
      default: return fail(argv, 20, `Drbd9Double: drbdmeta ${verb} is not modelled`);
    }
  }

  private drbdsetup(n: DNode, sub: string, args: readonly string[], argv: readonly string[]): ExecResult {
    const { pos, opt } = options(args);
    const res = (name: string | undefined) => (name === undefined ? undefined : n.resources.get(name));
    const unknownRes = () => fail(argv, 10, `${pos[0] ?? '?'}: Failure: (158) Unknown resource`);
    const byMinor = (minor: string | undefined): { r: Resource; d: Device } | undefined => {
      for (const r of n.resources.values()) for (const d of r.devices.values()) if (String(d.minor) === minor) return { r, d };
      return undefined;
    };
    const stateFail = (r: Resource, text: string) => fail(argv, 11, `${r.name}: State change failed: ${text}`);
    switch (sub) {
      case 'status': return this.statusJson(n, pos[0] === 'all' ? undefined : pos[0], argv, opt);
      case 'events2': return this.events2(n, argv, opt.statistics !== undefined);
      case 'show': return this.show(n, pos[0], argv);
      case 'new-resource': {
        const [name, id] = pos;
        if (name === undefined || id === undefined) return fail(argv, 20, 'USAGE: new-resource {resource} {node_id}');
        if (n.resources.has(name)) return fail(argv, 10, `${name}: Failure: (174) Resource already exists`);
        n.resources.set(name, { name, nodeId: Number(id), quorum: 'off', onNoQuorum: 'suspend-io', role: 'Secondary', devices: new Map(), peers: new Map(), opened: false });
        return ok(argv);
      }
      case 'resource-options': {
        const r = res(pos[0]);
        if (!r) return unknownRes();
        if (opt.quorum !== undefined) r.quorum = opt.quorum;
        if (opt['on-no-quorum'] !== undefined) r.onNoQuorum = opt['on-no-quorum'];
        return ok(argv);
      }
      case 'new-minor': {
        const [name, minor, vol] = pos;
        const r = res(name);
        if (!r) return unknownRes();
        if (byMinor(minor) || r.devices.has(Number(vol ?? 0))) return fail(argv, 10, `${name}: Failure: (161) Minor or volume exists already (delete it first)`);
        r.devices.set(Number(vol ?? 0), { minor: Number(minor), volume: Number(vol ?? 0) });
        return ok(argv);
      }
      case 'new-peer': {
        const r = res(pos[0]);
        if (!r) return unknownRes();
        const id = Number(pos[1]);
        if (id === r.nodeId) return fail(argv, 10, `${r.name}: Failure: (162) Invalid configuration request\nadditional info from kernel:\npeer node id ${id} is this node's own id`);
        if (r.peers.has(id)) return fail(argv, 10, `${r.name}: Failure: (162) Invalid configuration request\nadditional info from kernel:\npeer connection already exists`);
        const m = this.metaOf(n.name, r);
        if (m && r.peers.size + 1 > m.maxPeers) return fail(argv, 10, `${r.name}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nnot enough spare bitmap slots (max-peers ${m.maxPeers})`);
        r.peers.set(id, {
          nodeId: id, name: opt._name ?? `peer${id}`, protocol: opt.protocol ?? 'C', allowTwoPrimaries: opt['allow-two-primaries'] === 'yes',
          afterSb: Object.fromEntries(Object.entries(opt).filter(([k]) => k.startsWith('after-sb-'))), paths: [], wantConnect: false, connected: false, resync: {},
        });
        return ok(argv);
      }
      case 'new-path': {
        const p = res(pos[0])?.peers.get(Number(pos[1]));
        if (!p) return fail(argv, 10, `${pos[0] ?? '?'}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nunknown peer`);
        const local = parseEndpoint(pos[2] ?? ''), peer = parseEndpoint(pos[3] ?? '');
        if (!local || !peer) return fail(argv, 20, `invalid address ${pos[2]} ${pos[3]}`);
        if (p.paths.some((x) => same(x.local, local) && same(x.peer, peer))) return fail(argv, 10, `${pos[0]}: Failure: (162) Invalid configuration request\nadditional info from kernel:\npath already exists`);
        p.paths.push({ local, peer });
        return ok(argv);
      }
      case 'peer-device-options': {
        const p = res(pos[0])?.peers.get(Number(pos[1]));
        if (!p) return fail(argv, 10, `${pos[0] ?? '?'}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nunknown peer`);
        Object.assign(p.resync, opt);
        return ok(argv);
      }
      case 'net-options': {
        const p = res(pos[0])?.peers.get(Number(pos[1]));
        if (!p) return fail(argv, 10, `${pos[0] ?? '?'}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nunknown peer`);
        if (opt['allow-two-primaries'] !== undefined) p.allowTwoPrimaries = opt['allow-two-primaries'] === 'yes';
        return ok(argv);
      }
      case 'attach': {
        const [minor, data, meta] = pos;
        const at = byMinor(minor);
        if (!at) return fail(argv, 10, `${minor}: Failure: (127) Device minor not allocated`);
        if (at.d.data !== undefined) return fail(argv, 10, `${minor}: Failure: (124) Device is attached to a disk (use detach first)`);
        const m = meta === undefined ? undefined : n.metas.get(meta);
        if (!m) return fail(argv, 10, `${minor}: Failure: (119) No valid meta-data signature found.\n\n\t==> Use 'drbdadm create-md res' to initialize meta-data area. <==`);
        if (!m.alApplied) return fail(argv, 10, `${minor}: Failure: (120) The activity log must be applied first (drbdmeta apply-al)`);
        const backing = n.backingKiB.get(data!) ?? this.defaultBacking;
        const want = opt.size !== undefined ? sizeKiB(opt.size) : backing;
        if (want > backing) return fail(argv, 10, `${minor}: Failure: (111) Low.dev. smaller than requested DRBD-dev. size.`);
        Object.assign(at.d, { data, meta, sizeKiB: want, failed: false });
        return ok(argv);
      }
      case 'detach': {
        const at = byMinor(pos[0]);
        if (!at) return fail(argv, 10, `${pos[0]}: Failure: (127) Device minor not allocated`);
        if (at.r.role === 'Primary' && at.r.opened && ![...at.r.peers.values()].some((p) => p.connected)) return stateFail(at.r, '(-2) Need access to UpToDate data');
        delete at.d.data; delete at.d.meta;
        return ok(argv);
      }
      case 'connect': {
        const r = res(pos[0]);
        const p = r?.peers.get(Number(pos[1]));
        if (!r || !p) return fail(argv, 10, `${pos[0] ?? '?'}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nunknown peer`);
        if (p.paths.length === 0) return fail(argv, 10, `${r.name}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nconnection has no path`);
        if (p.wantConnect) return fail(argv, 10, `${r.name}: Failure: (102) Local address(port) already in use.`);
        p.wantConnect = true;
        return ok(argv);
      }
      case 'disconnect': {
        const p = res(pos[0])?.peers.get(Number(pos[1]));
        if (!p) return fail(argv, 10, `${pos[0] ?? '?'}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nunknown peer`);
        p.wantConnect = false;
        return ok(argv);
      }
      case 'del-peer': {
        const r = res(pos[0]);
        const p = r?.peers.get(Number(pos[1]));
        if (!r || !p) return fail(argv, 10, `${pos[0] ?? '?'}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nunknown peer`);
        if (p.connected || p.wantConnect) return fail(argv, 10, `${r.name}: Failure: (162) Invalid configuration request\nadditional info from kernel:\nconnection to node id ${p.nodeId} is not StandAlone: disconnect it first`);
        r.peers.delete(p.nodeId);
        const m = this.metaOf(n.name, r);
        m?.ahead.delete(p.nodeId);
        return ok(argv);
      }
      case 'primary': {
        const r = res(pos[0]);
        if (!r) return unknownRes();
        if (r.role === 'Primary') return ok(argv);
        const other = [...r.peers.values()].find((p) => p.connected && this.peerRes(n.name, r, p)?.res.role === 'Primary');
        if (other && !(other.allowTwoPrimaries && this.peerRes(n.name, r, other)!.peer.allowTwoPrimaries)) return stateFail(r, '(-1) Multiple primaries not allowed by config');
        if (opt.force !== undefined) {
          const d = r.devices.get(0);
          const m = this.metaOf(n.name, r);
          if (!m || this.diskOf(n.name, r, d) === 'Diskless') return stateFail(r, '(-2) Need access to UpToDate data');
          for (const p of r.peers.values()) if (p.sync?.role === 'SyncTarget') return stateFail(r, '(-2) Need access to UpToDate data');
          m.disk = 'UpToDate';
          r.role = 'Primary';
          return ok(argv);
        }
        if (!this.hasUpToDate(n.name, r)) return stateFail(r, '(-2) Need access to UpToDate data');
        if (!this.hasQuorum(n.name, r)) return stateFail(r, 'No quorum');
        r.role = 'Primary';
        return ok(argv);
      }
      case 'secondary': {
        const r = res(pos[0]);
        if (!r) return unknownRes();
        if (r.opened) return stateFail(r, '(-12) Device is held open by someone');
        r.role = 'Secondary';
        return ok(argv);
      }
      case 'resize': {
        const at = byMinor(pos[0]);
        if (!at) return fail(argv, 10, `${pos[0]}: Failure: (127) Device minor not allocated`);
        if (at.d.data === undefined) return fail(argv, 10, `${pos[0]}: Failure: (138) Device does not have a disk`);
        const want = opt.size !== undefined ? sizeKiB(opt.size) : n.backingKiB.get(at.d.data) ?? this.defaultBacking;
        const limits = [n.backingKiB.get(at.d.data) ?? this.defaultBacking];
        for (const p of at.r.peers.values()) {
          const o = p.connected ? this.peerRes(n.name, at.r, p) : undefined;
          const od = o?.res.devices.get(at.d.volume);
          if (od?.data !== undefined) limits.push(this.node(o!.node).backingKiB.get(od.data) ?? this.defaultBacking);
        }
        if (want > Math.min(...limits)) return fail(argv, 10, `${pos[0]}: Failure: (131) Low.dev. smaller than requested DRBD-dev. size.`);
        at.d.sizeKiB = want;
        for (const p of at.r.peers.values()) {
          const od = p.connected ? this.peerRes(n.name, at.r, p)?.res.devices.get(at.d.volume) : undefined;
          if (od?.data !== undefined) od.sizeKiB = want;
        }
        return ok(argv);
      }
      case 'down': {
        const r = res(pos[0]);
        if (!r) return ok(argv); // drbdsetup down of an unknown resource succeeds
        if (r.opened) return stateFail(r, '(-12) Device is held open by someone');
        n.resources.delete(r.name);
        return ok(argv);
      }
      default: return fail(argv, 20, `Drbd9Double: drbdsetup ${sub} is not modelled`);
    }
  }

  // ---------- model ----------

  private node(name: string): DNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`Drbd9Double: no node ${name}`);
    return n;
  }

  private metaOf(node: string, r: Resource): Meta | undefined {
    const d = r.devices.get(0);
    return d?.meta !== undefined ? this.node(node).metas.get(d.meta) : undefined;
  }

  private diskOf(node: string, r: Resource, d: Device | undefined): Disk {
    if (!d || d.data === undefined || d.meta === undefined) return 'Diskless';
    if (d.failed) return 'Failed';
    return this.node(node).metas.get(d.meta)?.disk ?? 'Diskless';
  }

  /** The other end of a peer: the node and resource whose peer for r's node id has the mirrored path. */
  private peerRes(node: string, r: Resource, p: Peer): { node: string; res: Resource; peer: Peer } | undefined {
    for (const o of this.nodes.values()) {
      if (o.name === node || !o.up) continue;
      for (const or of o.resources.values()) {
        if (or.nodeId !== p.nodeId) continue;
        const q = or.peers.get(r.nodeId);
        if (q && q.paths.some((x) => p.paths.some((y) => same(x.local, y.peer) && same(x.peer, y.local)))) return { node: o.name, res: or, peer: q };
      }
    }
    return undefined;
  }

  private hasUpToDate(node: string, r: Resource): boolean {
    const disk = this.diskOf(node, r, r.devices.get(0));
    if (disk === 'UpToDate') return true;
    if (disk !== 'Diskless') return false;
    return [...r.peers.values()].some((p) => p.connected && this.peerDisk(node, r, p) === 'UpToDate');
  }

  private peerDisk(node: string, r: Resource, p: Peer): Disk | 'DUnknown' {
    const o = p.connected ? this.peerRes(node, r, p) : undefined;
    return o ? this.diskOf(o.node, o.res, o.res.devices.get(0)) : 'DUnknown';
  }

  hasQuorumOf(node: string, resource: string): boolean {
    const r = this.node(node).resources.get(resource);
    return r !== undefined && this.hasQuorum(node, r);
  }

  private hasQuorum(node: string, r: Resource): boolean {
    const total = 1 + r.peers.size;
    const votes = 1 + [...r.peers.values()].filter((p) => p.connected).length;
    void node;
    if (r.quorum === 'off') return true;
    if (r.quorum === 'majority') return votes * 2 > total;
    if (r.quorum === 'all') return votes === total;
    return votes >= Number(r.quorum);
  }

  /** Recompute every connection and resync after a command or a fault. */
  private settle(): void {
    for (const n of this.nodes.values()) {
      for (const r of n.resources.values()) {
        for (const p of r.peers.values()) {
          const o = this.peerRes(n.name, r, p);
          const up = n.up && p.wantConnect && o !== undefined && o.peer.wantConnect && !this.cut.has([n.name, o.node].sort().join('|'));
          if (up && !p.connected) this.handshake(n.name, r, p, o!);
          else if (!up && p.connected) { p.connected = false; delete p.sync; if (o) { o.peer.connected = false; delete o.peer.sync; } }
        }
      }
    }
    // A Primary whose peer is away starts a data generation that peer lacks.
    for (const n of this.nodes.values()) {
      for (const r of n.resources.values()) {
        const m = this.metaOf(n.name, r);
        if (r.role !== 'Primary' || !m || m.disk !== 'UpToDate') continue;
        for (const p of r.peers.values()) if (!p.connected) m.ahead.add(p.nodeId);
      }
    }
    // Resyncs between connected sides.
    for (const n of this.nodes.values()) {
      for (const r of n.resources.values()) {
        for (const p of r.peers.values()) {
          if (!p.connected || p.sync) continue;
          const o = this.peerRes(n.name, r, p)!;
          const mine = this.diskOf(n.name, r, r.devices.get(0));
          const theirs = this.diskOf(o.node, o.res, o.res.devices.get(0));
          const mm = this.metaOf(n.name, r);
          const om = this.metaOf(o.node, o.res);
          if (mine === 'UpToDate' && mm && om && (theirs === 'Inconsistent' || theirs === 'Outdated' || (theirs === 'UpToDate' && mm.ahead.has(o.res.nodeId) && o.res.role !== 'Primary'))) {
            p.sync = { role: 'SyncSource', percent: 0 };
            o.peer.sync = { role: 'SyncTarget', percent: 0 };
            om.disk = 'Inconsistent';
          }
        }
      }
    }
  }

  private handshake(node: string, r: Resource, p: Peer, o: { node: string; res: Resource; peer: Peer }): void {
    const mm = this.metaOf(node, r);
    const om = this.metaOf(o.node, o.res);
    if (mm && om && mm.ahead.has(o.res.nodeId) && om.ahead.has(r.nodeId) && mm.disk === 'UpToDate' && om.disk === 'UpToDate') {
      // Both wrote without the other: split brain; the after-sb policies refuse to pick, both go StandAlone.
      p.wantConnect = false;
      o.peer.wantConnect = false;
      this.splitBrains.push(`${node}/${r.name} ${o.node}/${o.res.name}`);
      return;
    }
    p.connected = true;
    o.peer.connected = true;
  }

  private advance(by: number): void {
    for (const n of this.nodes.values()) {
      for (const r of n.resources.values()) {
        for (const p of r.peers.values()) {
          if (p.sync?.role !== 'SyncSource') continue;
          const o = this.peerRes(n.name, r, p)!;
          p.sync.percent = Math.min(100, p.sync.percent + by);
          o.peer.sync = { role: 'SyncTarget', percent: p.sync.percent };
          if (p.sync.percent >= 100) {
            delete p.sync; delete o.peer.sync;
            const om = this.metaOf(o.node, o.res);
            if (om) om.disk = 'UpToDate';
            this.metaOf(n.name, r)?.ahead.delete(o.res.nodeId);
          }
        }
      }
    }
    this.settle();
  }

  // ---------- reads, in DRBD 9's formats ----------

  private peerView(node: string, r: Resource, p: Peer) {
    const o = p.connected ? this.peerRes(node, r, p) : undefined;
    return {
      connection: !p.wantConnect ? 'StandAlone' : p.connected ? 'Connected' : 'Connecting',
      role: o ? o.res.role : 'Unknown',
      replication: !p.connected ? 'Off' : p.sync ? p.sync.role : 'Established',
      peerDisk: o ? this.diskOf(o.node, o.res, o.res.devices.get(0)) : 'DUnknown',
    };
  }

  private statusJson(n: DNode, only: string | undefined, argv: readonly string[], opt: Record<string, string>): ExecResult {
    if (opt.json === undefined) return fail(argv, 20, 'Drbd9Double: only drbdsetup status --json is modelled');
    if (only !== undefined && !n.resources.has(only)) return fail(argv, 10, `${only}: No such resource`);
    this.advance(this.step);
    const out = [...n.resources.values()].filter((r) => only === undefined || r.name === only).sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => ({
      name: r.name, 'node-id': r.nodeId, role: r.role, suspended: false, 'write-ordering': 'flush',
      devices: [...r.devices.values()].map((d) => ({
        volume: d.volume, minor: d.minor, 'disk-state': this.diskOf(n.name, r, d), client: d.data === undefined, quorum: this.hasQuorum(n.name, r),
        ...(d.sizeKiB !== undefined ? { size: d.sizeKiB } : {}), read: 0, written: 0, 'al-writes': 0, 'bm-writes': 0, 'upper-pending': 0, 'lower-pending': 0,
      })),
      connections: [...r.peers.values()].map((p) => {
        const v = this.peerView(n.name, r, p);
        return {
          'peer-node-id': p.nodeId, name: p.name, 'connection-state': v.connection, congested: false, 'peer-role': v.role, 'ap-in-flight': 0, 'rs-in-flight': 0,
          peer_devices: [...r.devices.values()].map((d) => ({
            volume: d.volume, 'replication-state': v.replication, 'peer-disk-state': v.peerDisk, 'peer-client': v.peerDisk === 'Diskless', 'resync-suspended': 'no',
            received: 0, sent: 0, 'out-of-sync': p.sync ? Math.round(((d.sizeKiB ?? 0) * (100 - p.sync.percent)) / 100) : 0, pending: 0, unacked: 0,
            'has-sync-details': p.sync !== undefined, 'has-online-verify-details': false, 'percent-in-sync': p.sync ? p.sync.percent : 100,
            ...(p.sync ? { 'rs-total': d.sizeKiB ?? 0, want: 61440, 'db0/dt0 [MiB/s]': 60, 'db1/dt1 [MiB/s]': 60, 'estimated-seconds-to-finish': Math.round((((d.sizeKiB ?? 0) / 1024) * (100 - p.sync.percent)) / 100 / 60), 'db/dt [MiB/s]': 60, 'percent-resync-done': p.sync.percent } : {}),
          })),
        };
      }),
    }));
    return ok(argv, `${JSON.stringify(out, null, 2)}\n`);
  }

  private events2(n: DNode, argv: readonly string[], statistics: boolean): ExecResult {
    if (!argv.includes('--now')) return fail(argv, 20, 'Drbd9Double: only events2 --now is modelled');
    this.advance(this.step);
    const lines: string[] = [];
    const yn = (b: boolean) => (b ? 'yes' : 'no');
    for (const r of [...n.resources.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const mayPromote = this.hasUpToDate(n.name, r) && this.hasQuorum(n.name, r) && r.role === 'Secondary';
      lines.push(`exists resource name:${r.name} role:${r.role} suspended:no force-io-failures:no may_promote:${yn(mayPromote)} promotion_score:${mayPromote ? 10101 : 0}`);
      for (const d of r.devices.values()) {
        lines.push(`exists device name:${r.name} volume:${d.volume} minor:${d.minor} backing_dev:${d.data ?? 'none'} disk:${this.diskOf(n.name, r, d)} client:${yn(d.data === undefined)} quorum:${yn(this.hasQuorum(n.name, r))}${statistics && d.sizeKiB !== undefined ? ` size:${d.sizeKiB} read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no` : ''}`);
      }
      for (const p of r.peers.values()) {
        const v = this.peerView(n.name, r, p);
        lines.push(`exists connection name:${r.name} peer-node-id:${p.nodeId} conn-name:${p.name} connection:${v.connection} role:${v.role}`);
        for (const d of r.devices.values()) {
          const sync = p.sync && statistics ? ` done:${p.sync.percent.toFixed(2)} dbdt1:60.00 eta:${Math.round((((d.sizeKiB ?? 0) / 1024) * (100 - p.sync.percent)) / 100 / 60)}` : '';
          lines.push(`exists peer-device name:${r.name} peer-node-id:${p.nodeId} conn-name:${p.name} volume:${d.volume} replication:${v.replication} peer-disk:${v.peerDisk} peer-client:${yn(v.peerDisk === 'Diskless')} resync-suspended:no${sync}`);
        }
        for (const path of p.paths) lines.push(`exists path name:${r.name} peer-node-id:${p.nodeId} conn-name:${p.name} local:${epArg(path.local)} peer:${epArg(path.peer)} established:${yn(p.connected)}`);
      }
    }
    lines.push('exists -');
    return ok(argv, `${lines.join('\n')}\n`);
  }

  private show(n: DNode, only: string | undefined, argv: readonly string[]): ExecResult {
    if (only !== undefined && !n.resources.has(only)) return fail(argv, 10, `${only}: No such resource`);
    const out: string[] = [];
    for (const r of [...n.resources.values()].filter((x) => only === undefined || x.name === only)) {
      out.push(`resource "${r.name}" {`);
      if (r.quorum !== 'off') out.push('    options {', `        quorum          \t${r.quorum};`, `        on-no-quorum    \t${r.onNoQuorum};`, '    }');
      out.push('    _this_host {', `        node-id\t\t\t${r.nodeId};`);
      for (const d of r.devices.values()) {
        out.push(`        volume ${d.volume} {`, `            device\t\t\tminor ${d.minor};`);
        if (d.data !== undefined) out.push(`            disk\t\t\t"${d.data}";`, `            meta-disk\t\t\t"${d.meta}";`, '            disk {', '                on-io-error     \tdetach;', '            }');
        out.push('        }');
      }
      out.push('    }');
      for (const p of r.peers.values()) {
        out.push('    connection {', `        _peer_node_id ${p.nodeId};`);
        for (const path of p.paths) out.push('        path {', `            _this_host ${epText(path.local)};`, `            _remote_host ${epText(path.peer)};`, '        }');
        out.push(`        _cstate ${this.peerView(n.name, r, p).connection};`, '        net {');
        if (p.protocol !== 'C') out.push(`            protocol        \t${p.protocol};`);
        for (const [k, v] of Object.entries(p.afterSb)) if (!(k === 'after-sb-2pri' && v === 'disconnect')) out.push(`            ${k.padEnd(16)}\t${v};`);
        if (p.allowTwoPrimaries) out.push('            allow-two-primaries\tyes;');
        out.push(`            _name           \t"${p.name}";`, '        }');
        const resync = Object.entries(p.resync);
        if (resync.length > 0) {
          out.push('        volume 0 {', '            disk {');
          for (const [k, v] of resync) out.push(`                ${k.padEnd(16)}\t${v};${k.endsWith('rate') ? ' # bytes/second' : ''}`);
          out.push('            }', '        }');
        }
        out.push('    }');
      }
      out.push('}', '');
    }
    return ok(argv, out.join('\n'));
  }
}

/** drbdsetup sizes: "1024m", "491520s", plain KiB. */
function sizeKiB(s: string): number {
  const m = /^(\d+)([kKmMgGsS]?)$/.exec(s);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  switch (m[2]!.toLowerCase()) {
    case 'm': return v * 1024;
    case 'g': return v * 1024 * 1024;
    case 's': return v / 2;
    default: return v;
  }
}
