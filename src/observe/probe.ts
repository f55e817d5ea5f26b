/**
 * Observe a whole node in one round trip: `probeCommands` lists every read-only
 * command (one Transport.execBatch), `parseProbe` turns the results into an
 * ObservedNode. Both are pure. A section whose command fails is recorded in
 * `probeErrors` and left empty (or undefined, for OVS); it never throws.
 * Instances (QEMU) are filled by the qemu driver; pass them via `extraSections`.
 */
import type { ExecResult } from '../transport/transport.js';
import type { ObserveRequest } from '../core/node-ops.js';
import type { NodeFacts, ObservedDrbd, ObservedDrbdDevice, ObservedFile, ObservedNode, ObservedOvs } from '../core/observed.js';
import { emptyObservedNode } from '../core/observed.js';
import { bootIdCmd, hostnameCmd, kernelCmd, meminfoCmd, nprocCmd } from '../drivers/facts/commands.js';
import { parseBootId, parseLine, parseMeminfo, parseNproc } from '../drivers/facts/parse.js';
import { lvsCmd, pvsWithVgsCmd } from '../drivers/lvm/commands.js';
import { lvActiveOf, parseLvs, parsePvs, parseVgsOfPvs } from '../drivers/lvm/parse.js';
import { addrsCmd, fdbCmd, linksStatsCmd } from '../drivers/bridge/commands.js';
import { bridgesFrom, parseAddrs, parseLinks, tapsFrom } from '../drivers/bridge/parse.js';
import { parseFdb, vxlansFrom } from '../drivers/vxlan/parse.js';
import { listAllCmd } from '../drivers/ovs/commands.js';
import { parseOvsListAll } from '../drivers/ovs/parse.js';
import { sysctlReadCmd } from '../drivers/sysctl/commands.js';
import { parseSysctl, unknownKeys } from '../drivers/sysctl/parse.js';
import { listImagesCmd, pathTypeCmd } from '../drivers/file/commands.js';
import { parseInfoStream, parseStorageDir } from '../drivers/file/parse.js';
import { firstLine } from '../drivers/facts/shared.js';
import { parseTapConf, parseTapEntries, parseTapRules, proxyNeighArgv, rulesArgv, staticRoutesArgv, tapConfArgv } from '../drivers/route/route.js';
import { events2NowCmd, procDrbdCmd, showAllCmd } from '../drivers/drbd/cmd84.js';
import { parseEvents2 } from '../drivers/drbd/parse-events2.js';
import { parseProcDrbd, type ProcDrbd } from '../drivers/drbd/parse-proc.js';
import { versionString } from '../drivers/drbd/version.js';
import { parseDrbdShow, type ShowResource } from '../drivers/drbd/parse-show.js';
import { withProcProgress, withStatusProgress, type DrbdSnapshot, type DrbdSync } from '../drivers/drbd/state.js';
import { statusJsonCmd as statusJson9Cmd } from '../drivers/drbd/cmd9.js';
import { parseStatusJson } from '../drivers/drbd/parse-status-json.js';

export interface ProbeOptions {
  /** False runs LVM with activation disabled (lab nodes without device-mapper). */
  readonly lvmActivation?: boolean;
  /** ovsdb socket when the request does not name one. */
  readonly ovsdbSocket?: string;
  /** find -name glob(s) for disk images in `fileDirs` (default: every regular file). */
  readonly fileNamePattern?: string | readonly string[];
}

type Section = 'hostname' | 'bootId' | 'kernel' | 'nproc' | 'meminfo' | 'lvs' | 'pvs' | 'links' | 'addrs' | 'fdb' | 'ovs' | 'sysctl' | `file:${string}` | `dir:${string}`
  | 'drbdStatus9' | 'drbdEvents' | 'drbdProc' | 'drbdShow' | 'routes4' | 'routes6' | 'proxies' | 'tapConf' | 'rules4' | 'rules6';

/** The fixed order of sections for a request; results come back in this order. */
function layout(req: ObserveRequest, opts: ProbeOptions): { section: Section; argv: string[] }[] {
  const lvm = { activation: opts.lvmActivation !== false };
  const socket = req.ovsdbSocket ?? opts.ovsdbSocket;
  const ovs = socket !== undefined ? { ovsdbSocket: socket } : {};
  return [
    { section: 'hostname', argv: hostnameCmd() },
    { section: 'kernel', argv: kernelCmd() },
    { section: 'bootId', argv: bootIdCmd() },
    { section: 'nproc', argv: nprocCmd() },
    { section: 'meminfo', argv: meminfoCmd() },
    { section: 'lvs', argv: lvsCmd(lvm) },
    // PVs and VGs in one LVM process (the VG columns on every PV row).
    { section: 'pvs', argv: pvsWithVgsCmd(lvm) },
    { section: 'links', argv: linksStatsCmd() },
    { section: 'addrs', argv: addrsCmd() },
    { section: 'fdb', argv: fdbCmd() },
    // Bridge, Port and Interface in one ovs-vsctl: one process (seconds each on a TCG VM node), one snapshot.
    { section: 'ovs', argv: listAllCmd(ovs) },
    ...(req.sysctls.length > 0 ? [{ section: 'sysctl' as const, argv: sysctlReadCmd(req.sysctls) }] : []),
    ...req.fileDirs.map((d) => ({ section: `file:${d}` as const, argv: listImagesCmd(d, opts.fileNamePattern) })),
    ...req.fileDirs.map((d) => ({ section: `dir:${d}` as const, argv: pathTypeCmd(d) })),
    // Routed NICs (drivers/route): host routes, proxy NDP entries, the taps' routing sysctls.
    { section: 'routes4', argv: staticRoutesArgv('-4') },
    { section: 'routes6', argv: staticRoutesArgv('-6') },
    { section: 'proxies', argv: proxyNeighArgv() },
    { section: 'tapConf', argv: tapConfArgv() },
    { section: 'rules4', argv: rulesArgv('-4') },
    { section: 'rules6', argv: rulesArgv('-6') },
    // DRBD 9's resync progress (status --json; an 8.4 node answers "unrecognized option '--json'", exit 20: tolerated), then the 8.4 and 9 reads.
    ...(req.drbd ? [{ section: 'drbdStatus9' as const, argv: statusJson9Cmd() }, { section: 'drbdEvents' as const, argv: events2NowCmd() }, { section: 'drbdProc' as const, argv: procDrbdCmd() }, { section: 'drbdShow' as const, argv: showAllCmd() }] : []),
  ];
}

export function probeCommands(req: ObserveRequest, opts: ProbeOptions = {}): string[][] {
  return layout(req, opts).map((s) => s.argv);
}

/** Extra sections another driver adds to the snapshot (e.g. QEMU instances). */
export type ExtraSections = Partial<Pick<ObservedNode, 'instances'>>;

export function parseProbe(node: string, req: ObserveRequest, results: readonly ExecResult[], observedAt: string, opts: ProbeOptions = {}, extraSections: ExtraSections = {}): ObservedNode {
  const plan = layout(req, opts);
  const errors: string[] = [];
  const by = new Map<Section, ExecResult>();
  plan.forEach((p, i) => {
    const r = results[i];
    if (r) by.set(p.section, r);
    else errors.push(`${p.section}: no result`);
  });

  /** Parse one section; a non-zero exit or a parse error becomes a probe error. */
  function section<T>(names: Section[], parse: (...r: ExecResult[]) => T, tolerate = false): T | undefined {
    const rs = names.map((n) => by.get(n));
    if (rs.some((r) => r === undefined)) return undefined;
    const failed = rs.find((r) => r!.code !== 0);
    if (failed && !tolerate) {
      errors.push(`${names[0]}: ${failed.argv[0]} exited ${failed.code}: ${firstLine(failed.stderr)}`);
      return undefined;
    }
    try {
      return parse(...(rs as ExecResult[]));
    } catch (e) {
      errors.push(`${names[0]}: ${(e as Error).message}`);
      return undefined;
    }
  }

  const base = emptyObservedNode(node, observedAt);
  const mem = section(['meminfo'], (r) => parseMeminfo(r.stdout));
  const facts: NodeFacts = {
    hostname: section(['hostname'], (r) => parseLine(r.stdout, 'hostname')) ?? '',
    kernel: section(['kernel'], (r) => parseLine(r.stdout, 'uname -r')) ?? '',
    cpus: section(['nproc'], (r) => parseNproc(r.stdout)) ?? 0,
    memoryTotalMiB: mem?.totalMiB ?? 0,
    memoryFreeMiB: mem?.freeMiB ?? 0,
  };
  const bootId = section(['bootId'], (r) => parseBootId(r.stdout));
  if (bootId) Object.assign(facts, { bootId });

  const pvRead = section(['pvs'], (r) => ({ pvs: parsePvs(r.stdout), vgs: parseVgsOfPvs(r.stdout) }));
  const pvs = pvRead?.pvs ?? [];
  const vgs = Object.fromEntries((pvRead?.vgs ?? []).map((v) => [v.name, {
    name: v.name, sizeMiB: v.sizeMiB, freeMiB: v.freeMiB, pvs: pvs.filter((p) => p.vg === v.name).map((p) => p.name),
  }]));
  const lvs = Object.fromEntries((section(['lvs'], (r) => parseLvs(r.stdout)) ?? []).map((l) => [`${l.vg}/${l.name}`, {
    vg: l.vg, name: l.name, sizeMiB: l.sizeMiB, tags: l.tags, ...(l.stripes !== undefined ? { stripes: l.stripes } : {}),
    ...activeField(l.attr),
    ...(pvs.some((p) => p.lvs !== undefined) ? { pvs: pvs.filter((p) => p.vg === l.vg && (p.lvs ?? []).includes(l.name)).map((p) => p.name) } : {}),
  }]));

  const links = section(['links'], (r) => parseLinks(r.stdout));
  const addrs = section(['addrs'], (r) => parseAddrs(r.stdout)) ?? new Map<string, string[]>();
  const fdb = section(['fdb'], (r) => parseFdb(r.stdout));

  const ovs: ObservedOvs | undefined = section(['ovs'], (r) => parseOvsListAll(r.stdout));

  // sysctl exits non-zero when one key is unknown but still prints the others.
  const sysctls = section(['sysctl'], (r) => {
    const unknown = unknownKeys(r.stderr);
    for (const k of unknown) errors.push(`sysctl: ${k}: no such key on this kernel`);
    if (r.code !== 0 && unknown.length === 0) errors.push(`sysctl: exited ${r.code}: ${firstLine(r.stderr)}`);
    return parseSysctl(r.stdout);
  }, true) ?? {};

  const files: Record<string, ObservedFile> = {};
  for (const dir of req.fileDirs) {
    // A missing directory is an error, not "no disks": an unmounted shared dir must not look empty.
    for (const f of section([`file:${dir}`], (r) => parseInfoStream(r.stdout)) ?? []) files[f.path] = f;
  }

  // Whether each storage root exists: the planner refuses to put an image in a missing one.
  const storageDirs: Record<string, boolean> = {};
  for (const dir of req.fileDirs) {
    const exists = section([`dir:${dir}`], (r) => parseStorageDir(r), true);
    if (exists !== undefined) storageDirs[dir] = exists;
  }

  // All or nothing: a partial read would make present entries look missing.
  const routing = section(['routes4', 'routes6', 'proxies', 'tapConf', 'rules4', 'rules6'], (r4, r6, px, sc, u4, u6) => ({
    routes: [...parseTapEntries(r4.stdout), ...parseTapEntries(r6.stdout)],
    proxies: parseTapEntries(px.stdout),
    rules: [...parseTapRules(u4.stdout, 4), ...parseTapRules(u6.stdout, 6)],
    tapSysctls: parseTapConf(sc.stdout),
  }));
  // Unknown is not absent: a failed DRBD read leaves `drbd` undefined, never "no devices".
  // drbdsetup show only adds allow-two-primaries: when it fails, that stays unknown (undefined) and the rest stands.
  const show = req.drbd ? section(['drbdShow'], (r) => parseDrbdShow(r.stdout)) : undefined;
  const status9 = req.drbd ? section(['drbdStatus9'], (r) => (r.code === 0 ? parseStatusJson(r.stdout) : undefined), true) : undefined;
  const drbd = req.drbd ? section(['drbdEvents', 'drbdProc'], (ev, proc) => drbdWithVersion(ev.stdout, parseProcDrbd(proc.stdout), show, status9)) : undefined;

  return {
    ...base,
    ...(drbd ? { drbd } : {}),
    facts,
    vgs,
    lvs,
    bridges: links ? bridgesFrom(links, addrs) : {},
    ...(ovs ? { ovs } : {}),
    vxlans: links ? vxlansFrom(links, fdb) : {},
    sysctls,
    files,
    storageDirs,
    instances: extraSections.instances ?? {},
    taps: links ? tapsFrom(links) : {},
    ...(routing ? { routing } : {}),
    probeErrors: errors,
  };
}

/** The observed `active` of an LV: present only when lv_attr tells (unknown is left out, never guessed). */
function activeField(attr: string): { active?: boolean } {
  const active = lvActiveOf(attr);
  return active === undefined ? {} : { active };
}

/** The probe's DRBD sections (events2 --now, /proc/drbd, drbdsetup show; on 9 status --json) as the node's ObservedDrbd. */
export function observedDrbdFromReads(events2: string, procDrbd: string, show: string | undefined, statusJson?: string): ObservedDrbd {
  return drbdWithVersion(events2, parseProcDrbd(procDrbd), show !== undefined ? parseDrbdShow(show) : undefined, statusJson !== undefined ? parseStatusJson(statusJson) : undefined);
}

function drbdWithVersion(events2: string, proc: ProcDrbd, show: readonly ShowResource[] | undefined, status9?: DrbdSnapshot): ObservedDrbd {
  const v9 = proc.version?.major === 9;
  const events = v9 ? (status9 ? withStatusProgress(parseEvents2(events2), status9) : parseEvents2(events2)) : withProcProgress(parseEvents2(events2), proc.devices);
  const drbd = observedDrbd(events, show, v9);
  return proc.version ? { ...drbd, version: versionString(proc.version) } : drbd;
}

/**
 * The driver's DRBD snapshot as the planner's vocabulary: devices by minor, the one (8.4) peer
 * each; with `drbdsetup show` read, allow-two-primaries of each device's link (false when the
 * resource has no network config: 8.4 keeps no net options without one) and, on 8.4, the
 * link's endpoints (whom it is linked to).
 */
export function observedDrbd(snap: DrbdSnapshot, show?: readonly ShowResource[], drbd9 = false): ObservedDrbd {
  const devices: Record<string, ObservedDrbdDevice> = {};
  const diskOptions = (resource: string | undefined, minor: number): Readonly<Record<string, string>> | undefined => {
    if (show === undefined) return undefined;
    return show.find((r) => r.name === resource)?.volumes.find((v) => v.minor === minor)?.diskOptions ?? {};
  };
  const netOptions = (resource: string | undefined): Readonly<Record<string, string>> | undefined =>
    show?.find((r) => r.name === resource)?.connections[0]?.net;
  const dual = (resource: string | undefined): boolean | undefined => {
    if (show === undefined) return undefined;
    const conn = show.find((r) => r.name === resource)?.connections[0];
    return conn?.net['allow-two-primaries'] === 'yes';
  };
  const nodeIdOf = (resource: string | undefined): number | undefined => show?.find((r) => r.name === resource)?.nodeId;
  // 8.4 only: one link per resource (DRBD 9's connections are per peer: pairView).
  const linkOf = (resource: string | undefined): ObservedDrbdDevice['link'] => {
    const conn = drbd9 ? undefined : show?.find((r) => r.name === resource)?.connections[0];
    return conn?.local && conn.remote ? { local: { host: conn.local.host, port: conn.local.port }, remote: { host: conn.remote.host, port: conn.remote.port } } : undefined;
  };
  const sync = (s: DrbdSync | undefined) => (s ? { sync: { percent: s.percent, ...(s.speedKiBps !== undefined ? { speedKiBps: s.speedKiBps } : {}), ...(s.etaSec !== undefined ? { etaSec: s.etaSec } : {}) } } : {});
  for (const d of snap.devices) {
    if (d.unconfigured) continue;
    const p = d.peers[0];
    // DRBD 9: every peer (8.4's events2 shows peer-node-id 0 for its one peer: not a DRBD 9 node id), this side's node id and quorum.
    const v9 = drbd9 && d.peers.every((x) => x.nodeId !== undefined);
    const nodeId = drbd9 ? nodeIdOf(d.resource) : undefined;
    const allowTwoPrimaries = dual(d.resource);
    const opts = diskOptions(d.resource, d.minor);
    const net = netOptions(d.resource);
    const link = linkOf(d.resource);
    devices[String(d.minor)] = {
      minor: d.minor,
      ...(d.resource !== undefined ? { resource: d.resource } : {}),
      ...(d.role !== undefined ? { role: d.role } : {}),
      ...(d.disk !== undefined ? { disk: d.disk } : {}),
      ...(d.sizeKiB !== undefined ? { sizeMiB: Math.floor(d.sizeKiB / 1024) } : {}),
      ...(allowTwoPrimaries !== undefined ? { allowTwoPrimaries } : {}),
      ...(opts !== undefined ? { diskOptions: opts } : {}),
      ...(net !== undefined ? { netOptions: net } : {}),
      ...(link !== undefined ? { link } : {}),
      ...(nodeId !== undefined ? { nodeId } : {}),
      ...(d.quorum !== undefined ? { quorum: d.quorum } : {}),
      ...(v9 ? { peers: d.peers.map((x) => ({
        nodeId: x.nodeId!, ...(x.name !== undefined ? { name: x.name } : {}), connection: x.connection,
        ...(x.replication !== undefined ? { replication: x.replication } : {}), ...(x.role !== undefined ? { role: x.role } : {}), ...(x.disk !== undefined ? { disk: x.disk } : {}), ...sync(x.sync),
      })) } : {}),
      ...(p ? { peer: {
        connection: p.connection,
        ...(p.replication !== undefined ? { replication: p.replication } : {}),
        ...(p.role !== undefined ? { role: p.role } : {}),
        ...(p.disk !== undefined ? { disk: p.disk } : {}),
        ...(p.sync ? { sync: { percent: p.sync.percent, ...(p.sync.speedKiBps !== undefined ? { speedKiBps: p.sync.speedKiBps } : {}), ...(p.sync.etaSec !== undefined ? { etaSec: p.sync.etaSec } : {}) } } : {}),
      } } : {}),
    };
  }
  return { devices };
}
