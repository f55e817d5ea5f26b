/**
 * NIC taps: deterministic names, argv builders for Linux bridge and Open vSwitch
 * attachment, a parser of `ip -j -d link show type tun`, and an idempotent ensure.
 * Gantry creates persistent taps itself (Ganeti passes qemu fds; a persistent tap gives
 * the same "qemu never runs network scripts" property without fd passing over ssh).
 */
import { createHash } from 'node:crypto';
import type { ObservedTap } from '../../core/observed.js';
import type { Transport } from '../../transport/transport.js';
import { ExecError, PrereqError } from '../../util/errors.js';
import { planRoutedTap, routedTapObservedForStart, routedTapReadsArgv, type RoutedTapObserved } from '../route/route.js';

/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME = 15;
const RAW_NAME = /^[a-z0-9][a-z0-9-]*$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * "t-<instance>-<nic>" when that fits and the instance name is plain; otherwise
 * "tx<hash>-<nic>". The two forms never collide (different second character), and the
 * raw form is injective because the nic index is the part after the last dash.
 */
export function tapName(instance: string, nicIndex: number): string {
  if (!Number.isInteger(nicIndex) || nicIndex < 0 || nicIndex > 99) throw new PrereqError('TAP_BAD_NIC_INDEX', `nic index ${nicIndex} out of 0..99`);
  const raw = `t-${instance}-${nicIndex}`;
  if (RAW_NAME.test(instance) && raw.length <= MAX_IFNAME) return raw;
  const room = MAX_IFNAME - 2 - 1 - String(nicIndex).length;
  const hash = createHash('sha256').update(instance).digest('hex').slice(0, room);
  return `tx${hash}-${nicIndex}`;
}

export function assertIfName(name: string, what = 'interface'): void {
  if (!IFNAME.test(name)) throw new PrereqError('TAP_BAD_NAME', `${what} name ${JSON.stringify(name)} is not a valid interface name`);
}

/** Where a tap is plugged. */
export type TapLink =
  | { mode: 'bridged'; bridge: string }
  | { mode: 'openvswitch'; bridge: string; dbSocket: string; tag?: number; trunks?: number[] }
  /**
   * Routed: the tap stays unattached; the guest's addresses are routed to it, with proxy
   * ARP/NDP on it (drivers/route), re-asserted at every start like Ganeti's kvm-ifup.
   */
  | { mode: 'routed'; routing?: { addresses: readonly string[]; proxyNdp: readonly string[]; table?: string } };

export function tapAddArgv(tap: string): string[] {
  assertIfName(tap, 'tap');
  return ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap'];
}

export function tapDelArgv(tap: string): string[] {
  assertIfName(tap, 'tap');
  return ['ip', 'tuntap', 'del', 'dev', tap, 'mode', 'tap'];
}

export function tapUpArgv(tap: string): string[] {
  assertIfName(tap, 'tap');
  return ['ip', 'link', 'set', 'dev', tap, 'up'];
}

export function tapSetMasterArgv(tap: string, bridge: string): string[] {
  assertIfName(tap, 'tap');
  assertIfName(bridge, 'bridge');
  return ['ip', 'link', 'set', 'dev', tap, 'master', bridge, 'up'];
}

export function tapNoMasterArgv(tap: string): string[] {
  assertIfName(tap, 'tap');
  return ['ip', 'link', 'set', 'dev', tap, 'nomaster'];
}

function vlanId(v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 4095) throw new PrereqError('TAP_BAD_VLAN', `VLAN ${v} out of 0..4095`);
  return v;
}

/**
 * Attach to an OVS bridge. `--may-exist` alone would leave an existing port's VLAN
 * settings untouched, so the same transaction also sets tag and trunks (empty = cleared).
 */
export function ovsAddPortArgv(link: { bridge: string; dbSocket: string; tag?: number; trunks?: number[] }, tap: string): string[] {
  assertIfName(tap, 'tap');
  assertIfName(link.bridge, 'bridge');
  const tag = link.tag !== undefined ? String(vlanId(link.tag)) : '[]';
  const trunks = link.trunks && link.trunks.length ? link.trunks.map(vlanId).join(',') : '[]';
  return ['ovs-vsctl', `--db=unix:${link.dbSocket}`, '--may-exist', 'add-port', link.bridge, tap,
    '--', 'set', 'Port', tap, `tag=${tag}`, `trunks=${trunks}`];
}

export function ovsDelPortArgv(dbSocket: string, tap: string): string[] {
  assertIfName(tap, 'tap');
  return ['ovs-vsctl', `--db=unix:${dbSocket}`, '--if-exists', 'del-port', tap];
}

/** Probe command: every tun/tap device with details (JSON). */
export function probeTapsArgv(): string[] {
  return ['ip', '-j', '-d', 'link', 'show', 'type', 'tun'];
}

interface IpLink {
  ifname?: string;
  flags?: string[];
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
}

/** `ip -j -d link show [type tun | dev X]` -> taps keyed by name (tun devices skipped). */
export function parseTaps(json: string): Record<string, ObservedTap> {
  const out: Record<string, ObservedTap> = {};
  const text = json.trim();
  if (!text) return out;
  for (const l of JSON.parse(text) as IpLink[]) {
    if (!l.ifname || l.linkinfo?.info_kind !== 'tun' || l.linkinfo.info_data?.type !== 'tap') continue;
    out[l.ifname] = { name: l.ifname, ...(l.master ? { master: l.master } : {}), up: (l.flags ?? []).includes('UP') };
  }
  return out;
}

/**
 * The commands that bring an observed tap (or none) to the desired link. Pure. A routed
 * link's routing is re-asserted except what `routed` (its observed routing) already shows.
 */
export function planTap(tap: string, link: TapLink, observed: ObservedTap | undefined, routed?: RoutedTapObserved): string[][] {
  const cmds: string[][] = [];
  if (!observed) cmds.push(tapAddArgv(tap));
  switch (link.mode) {
    case 'bridged':
      if (observed?.master !== link.bridge || !observed.up) cmds.push(tapSetMasterArgv(tap, link.bridge));
      break;
    case 'openvswitch':
      // OVS ports show master "ovs-system" only with the kernel datapath; always re-assert
      // (idempotent) rather than trust that.
      cmds.push(ovsAddPortArgv(link, tap));
      if (!observed?.up) cmds.push(tapUpArgv(tap));
      break;
    case 'routed':
      if (observed?.master) cmds.push(tapNoMasterArgv(tap));
      if (!observed?.up) cmds.push(tapUpArgv(tap));
      if (link.routing) cmds.push(...planRoutedTap({ tap, ...link.routing }, routed));
      break;
  }
  return cmds;
}

/** Make the tap exist, be up and be plugged as `link` says. Returns the commands run. */
export async function ensureTap(transport: Transport, tap: string, link: TapLink): Promise<string[][]> {
  assertIfName(tap, 'tap');
  const probe = await transport.exec(['ip', '-j', '-d', 'link', 'show', 'dev', tap]);
  const observed = probe.code === 0 ? parseTaps(probe.stdout)[tap] : undefined;
  // `ip rule add` adds a duplicate every time: a routed start reads what is there first.
  const routed = link.mode === 'routed' && link.routing ? routedTapObservedForStart(tap, await transport.execBatch(routedTapReadsArgv(tap))) : undefined;
  const cmds = planTap(tap, link, observed, routed);
  for (const argv of cmds) await mustRun(transport, argv, 'TAP_ENSURE_FAILED', `tap ${tap}`);
  return cmds;
}

/** Remove a tap (and its OVS port); absent is fine. */
export async function removeTap(transport: Transport, tap: string, ovsDbSocket?: string): Promise<void> {
  if (ovsDbSocket) await mustRun(transport, ovsDelPortArgv(ovsDbSocket, tap), 'TAP_REMOVE_FAILED', `tap ${tap}`);
  const probe = await transport.exec(['ip', '-j', '-d', 'link', 'show', 'dev', tap]);
  if (probe.code !== 0) return;
  await mustRun(transport, tapDelArgv(tap), 'TAP_REMOVE_FAILED', `tap ${tap}`);
}

async function mustRun(transport: Transport, argv: string[], code: string, what: string): Promise<void> {
  const r = await transport.exec(argv, { timeoutMs: 15_000 });
  if (r.code !== 0) {
    throw new ExecError(code, `${what} on ${transport.node}: ${argv.join(' ')} exited ${r.code}: ${r.stderr.trim()}`, { argv, node: transport.node });
  }
}
