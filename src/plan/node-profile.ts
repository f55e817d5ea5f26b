/**
 * Node profile drift (the salt/puppet replacement): bridges, OVS bridges and ports,
 * VXLANs, volume groups and sysctls a node must have. Pure: (desired, observed) -> diffs
 * and actions. Ensures are idempotent, so re-planning after a partial apply is safe; they
 * only add and set, and every removal is an action of its own that the plan shows.
 */
import type { Action } from '../core/actions.js';
import type { FieldDiff, PlanNode, PlanNodeProfile } from '../core/plan.js';
import type { ObservedNode } from '../core/observed.js';

export interface ProfilePlan {
  readonly diffs: FieldDiff[];
  readonly actions: Action[];
  /** What the plan shows but will not change (a management address on a managed bridge). */
  readonly notes: string[];
}

type Bridge = PlanNodeProfile['bridges'][number];
type OvsBridge = PlanNodeProfile['ovsBridges'][number];
type Vxlan = PlanNodeProfile['vxlans'][number];

const sameSet = (a: readonly (string | number)[], b: readonly (string | number)[]): boolean =>
  a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');

const missingFrom = <T>(want: readonly T[], have: readonly T[]): T[] => want.filter((x) => !have.includes(x));

/** The IP of a CIDR ("198.18.5.1/24" -> "198.18.5.1"). */
const ipOf = (cidr: string): string => cidr.replace(/\/\d+$/, '');

/**
 * Ensures only add and set what they name; whatever the manifest does not list (an extra
 * address, trunk or access tag) is drift, shown as a diff, and removed by its own action
 * with its own reason. A node's management and replication addresses are never removed.
 */
export function planNodeProfile(node: PlanNode, obs: ObservedNode): ProfilePlan {
  const out: ProfilePlan = { diffs: [], actions: [], notes: [] };
  const ctx = { node, obs, out, subject: `Node/${node.name}` };
  planSysctls(ctx);
  planVolumeGroups(ctx);
  for (const br of node.profile.bridges) planBridge(ctx, br);
  for (const vx of node.profile.vxlans) planVxlan(ctx, vx);
  if (!obs.ovs && node.profile.ovsBridges.length > 0) {
    out.diffs.push({ path: 'profile.ovsBridges', desired: 'Open vSwitch running', observed: 'no ovsdb answered' });
  }
  for (const ob of node.profile.ovsBridges) planOvsBridge(ctx, ob);
  return out;
}

interface Ctx { readonly node: PlanNode; readonly obs: ObservedNode; readonly out: ProfilePlan; readonly subject: string }

function planSysctls({ node, obs, out, subject }: Ctx): void {
  for (const [key, value] of Object.entries(node.profile.sysctls).sort(([a], [b]) => a.localeCompare(b))) {
    const have = obs.sysctls[key];
    if (have === undefined || normaliseSysctl(have) !== normaliseSysctl(value)) {
      out.diffs.push({ path: `profile.sysctls.${key}`, desired: value, observed: have ?? null });
      out.actions.push({ verb: 'sysctl.set', node: node.name, subject, key, value, reason: `sysctl ${key} is ${have ?? 'unset'}, want ${value}` });
    }
  }
}

function planVolumeGroups({ node, obs, out, subject }: Ctx): void {
  for (const vg of node.profile.volumeGroups) {
    const have = obs.vgs[vg.name];
    if (!have) {
      out.diffs.push({ path: `profile.volumeGroups[${vg.name}]`, desired: { pvs: vg.pvs }, observed: null });
      out.actions.push({ verb: 'vg.ensure', node: node.name, subject, name: vg.name, pvs: vg.pvs, reason: `volume group ${vg.name} is missing` });
      continue;
    }
    const missingPvs = missingFrom(vg.pvs, have.pvs);
    if (missingPvs.length > 0) {
      out.diffs.push({ path: `profile.volumeGroups[${vg.name}].pvs`, desired: vg.pvs, observed: have.pvs });
      out.actions.push({ verb: 'vg.ensure', node: node.name, subject, name: vg.name, pvs: vg.pvs, reason: `volume group ${vg.name} lacks PVs ${missingPvs.join(', ')}` });
    }
  }
}

function planBridge(ctx: Ctx, br: Bridge): void {
  const { node, obs, out, subject } = ctx;
  const have = obs.bridges[br.name];
  const at = `profile.bridges[${br.name}]`;
  const why: string[] = [];
  if (!have) {
    out.diffs.push({ path: at, desired: br, observed: null });
    why.push('missing');
  } else {
    if (have.vlanFiltering !== br.vlanFiltering) {
      out.diffs.push({ path: `${at}.vlanFiltering`, desired: br.vlanFiltering, observed: have.vlanFiltering });
      why.push(`vlan_filtering ${have.vlanFiltering ? 1 : 0} -> ${br.vlanFiltering ? 1 : 0}`);
    }
    if (br.mtu !== undefined && have.mtu !== br.mtu) {
      out.diffs.push({ path: `${at}.mtu`, desired: br.mtu, observed: have.mtu });
      why.push(`mtu ${have.mtu} -> ${br.mtu}`);
    }
    if (!have.up) {
      out.diffs.push({ path: `${at}.up`, desired: true, observed: false });
      why.push('down');
    }
    const addrs = missingFrom(br.addresses, have.addresses);
    if (addrs.length > 0) why.push(`addresses ${addrs.join(', ')} missing`);
    const ports = missingFrom(br.ports, have.ports);
    if (ports.length > 0) {
      out.diffs.push({ path: `${at}.ports`, desired: br.ports, observed: have.ports });
      why.push(`ports ${ports.join(', ')} not enslaved`);
    }
  }
  if (why.length > 0) {
    out.actions.push({
      verb: 'bridge.ensure', node: node.name, subject, name: br.name, vlanFiltering: br.vlanFiltering,
      ...(br.mtu !== undefined ? { mtu: br.mtu } : {}), addresses: br.addresses, ports: br.ports,
      reason: `bridge ${br.name}: ${why.join('; ')}`,
    });
  }
  if (have) planBridgeAddresses(ctx, br, have.addresses);
}

/** One diff for the address list; one removal per extra address, never a management one. */
function planBridgeAddresses({ node, out, subject }: Ctx, br: Bridge, have: readonly string[]): void {
  if (sameSet(br.addresses, have)) return;
  out.diffs.push({ path: `profile.bridges[${br.name}].addresses`, desired: br.addresses, observed: have });
  const mgmt = new Set([node.address, node.secondaryAddress].filter((a): a is string => a !== undefined));
  for (const extra of have.filter((c) => !br.addresses.includes(c))) {
    if (mgmt.has(ipOf(extra))) {
      out.notes.push(`bridge ${br.name} holds ${extra}, not in the manifest: kept, it is this node's ${ipOf(extra) === node.address ? 'management' : 'replication'} address`);
      continue;
    }
    out.actions.push({ verb: 'bridge.address.remove', node: node.name, subject, bridge: br.name, address: extra, reason: `bridge ${br.name}: address ${extra} is not in the manifest` });
  }
}

/** Fields the kernel cannot change in place: a difference recreates the link. */
const VXLAN_FIXED = ['vni', 'dstPort', 'local', 'remote', 'group', 'dev'] as const;

function planVxlan({ node, obs, out, subject }: Ctx, vx: Vxlan): void {
  const have = obs.vxlans[vx.name];
  const at = `profile.vxlans[${vx.name}]`;
  const why: string[] = [];
  let recreate = false;
  if (!have) {
    out.diffs.push({ path: at, desired: vx, observed: null });
    why.push('missing');
  } else {
    for (const f of VXLAN_FIXED) {
      if (vx[f] !== have[f]) {
        out.diffs.push({ path: `${at}.${f}`, desired: vx[f] ?? null, observed: have[f] ?? null });
        why.push(`${f} ${String(have[f] ?? 'unset')} -> ${String(vx[f] ?? 'unset')}`);
        recreate = true;
      }
    }
    if (vx.bridge !== undefined && vx.bridge !== have.master) {
      out.diffs.push({ path: `${at}.bridge`, desired: vx.bridge, observed: have.master ?? null });
      why.push(`bridge ${have.master ?? 'unset'} -> ${vx.bridge}`);
    }
    if (!have.up) {
      out.diffs.push({ path: `${at}.up`, desired: true, observed: false });
      why.push('down');
    }
  }
  if (why.length === 0) return;
  const dropped = recreate ? droppedFdb(have!) : '';
  if (recreate && have?.fdb && have.fdb.length > 0) out.diffs.push({ path: `${at}.fdb`, desired: [], observed: have.fdb });
  out.actions.push({
    verb: 'vxlan.ensure', node: node.name, subject, name: vx.name, vni: vx.vni, dstPort: vx.dstPort,
    ...(vx.local !== undefined ? { local: vx.local } : {}), ...(vx.remote !== undefined ? { remote: vx.remote } : {}),
    ...(vx.group !== undefined ? { group: vx.group } : {}), ...(vx.dev !== undefined ? { dev: vx.dev } : {}),
    ...(vx.bridge !== undefined ? { master: vx.bridge } : {}), ...(recreate ? { recreate: true } : {}),
    reason: `vxlan ${vx.name}: ${why.join('; ')}${recreate ? ` (recreated: ip link del + add, which drops ${dropped})` : ''}`,
  });
}

/** What a recreate loses: the link's static FDB entries, named. */
function droppedFdb(have: ObservedNode['vxlans'][string]): string {
  if (!have.fdb) return 'its FDB entries (not read: unknown)';
  if (have.fdb.length === 0) return 'no static FDB entry';
  return `its static FDB entries ${have.fdb.map((e) => `${e.mac} dst ${e.dst}`).join(', ')}`;
}

function planOvsBridge(ctx: Ctx, ob: OvsBridge): void {
  const { node, obs, out, subject } = ctx;
  const haveBr = obs.ovs?.bridges[ob.name];
  if (!haveBr || normaliseDatapath(haveBr.datapathType) !== normaliseDatapath(ob.datapathType)) {
    out.diffs.push({ path: `profile.ovsBridges[${ob.name}]`, desired: { datapathType: ob.datapathType }, observed: haveBr ? { datapathType: haveBr.datapathType } : null });
    out.actions.push({
      verb: 'ovs.bridge.ensure', node: node.name, subject, name: ob.name, datapathType: ob.datapathType,
      reason: haveBr ? `OVS bridge ${ob.name}: datapath ${haveBr.datapathType || 'system'} -> ${ob.datapathType}` : `OVS bridge ${ob.name} is missing`,
    });
  }
  for (const port of ob.ports) planOvsPort(ctx, ob, port);
}

function planOvsPort({ node, obs, out, subject }: Ctx, ob: OvsBridge, port: OvsBridge['ports'][number]): void {
  const at = `profile.ovsBridges[${ob.name}].ports[${port.name}]`;
  const have = obs.ovs?.bridges[ob.name]?.ports[port.name];
  const elsewhere = have ? undefined : Object.values(obs.ovs?.bridges ?? {}).find((b) => b.name !== ob.name && b.ports[port.name]);
  const why: string[] = [];
  const removeTrunks: number[] = [];
  let removeTag: number | undefined;
  if (elsewhere) {
    out.diffs.push({ path: `${at}.bridge`, desired: ob.name, observed: elsewhere.name });
    why.push(`moved off OVS bridge ${elsewhere.name}`);
  } else if (!have) {
    out.diffs.push({ path: at, desired: port, observed: null });
    why.push('missing');
  } else {
    if (have.tag !== port.tag) {
      out.diffs.push({ path: `${at}.tag`, desired: port.tag ?? null, observed: have.tag ?? null });
      if (port.tag !== undefined) why.push(`tag ${have.tag ?? 'none'} -> ${port.tag}`);
      else removeTag = have.tag;
    }
    if (!sameSet(have.trunks, port.trunks)) {
      out.diffs.push({ path: `${at}.trunks`, desired: port.trunks, observed: have.trunks });
      const add = missingFrom(port.trunks, have.trunks);
      if (add.length > 0) why.push(`trunks ${add.join(',')} added`);
      removeTrunks.push(...missingFrom(have.trunks, port.trunks));
    }
    if (normaliseOvsType(have.type) !== normaliseOvsType(port.type)) {
      out.diffs.push({ path: `${at}.type`, desired: port.type, observed: have.type });
      why.push(`type ${have.type || 'system'} -> ${port.type}`);
    }
  }
  if (why.length > 0) {
    out.actions.push({
      verb: 'ovs.port.ensure', node: node.name, subject, bridge: ob.name, port: port.name,
      ...(port.tag !== undefined ? { tag: port.tag } : {}), trunks: port.trunks, type: port.type,
      ...(elsewhere ? { fromBridge: elsewhere.name } : {}),
      reason: `OVS port ${ob.name}/${port.name}: ${why.join('; ')}`,
    });
  }
  if (removeTrunks.length > 0 || removeTag !== undefined) {
    const what = [...(removeTrunks.length > 0 ? [`trunks ${removeTrunks.join(',')}`] : []), ...(removeTag !== undefined ? [`access tag ${removeTag}`] : [])];
    out.actions.push({
      verb: 'ovs.port.vlans.remove', node: node.name, subject, bridge: ob.name, port: port.name, trunks: removeTrunks,
      ...(removeTag !== undefined ? { tag: removeTag } : {}),
      reason: `OVS port ${ob.name}/${port.name}: ${what.join(' and ')} not in the manifest`,
    });
  }
}

/** The kernel prints multi-value sysctls with tabs; compare on single spaces. */
function normaliseSysctl(v: string): string {
  return v.trim().split(/\s+/).join(' ');
}

/** ovsdb reports an unset datapath_type as "", which means "system". */
function normaliseDatapath(t: string): string {
  return t === '' ? 'system' : t;
}

function normaliseOvsType(t: string): string {
  return t === '' ? 'system' : t;
}
