/**
 * Node profile drift (the salt/puppet replacement): bridges, OVS bridges and ports,
 * VXLANs, volume groups and sysctls a node must have. Pure: (desired, observed) -> diffs
 * and ensure actions. Ensures are idempotent, so re-planning after a partial apply is safe.
 */
import type { Action } from '../core/actions.js';
import type { FieldDiff, PlanNode } from '../core/plan.js';
import type { ObservedNode } from '../core/observed.js';

export interface ProfilePlan {
  readonly diffs: FieldDiff[];
  readonly actions: Action[];
}

const sameSet = (a: readonly (string | number)[], b: readonly (string | number)[]): boolean =>
  a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');

const missingFrom = <T>(want: readonly T[], have: readonly T[]): T[] => want.filter((x) => !have.includes(x));

export function planNodeProfile(node: PlanNode, obs: ObservedNode): ProfilePlan {
  const diffs: FieldDiff[] = [];
  const actions: Action[] = [];
  const subject = `Node/${node.name}`;
  const p = node.profile;

  for (const [key, value] of Object.entries(p.sysctls).sort(([a], [b]) => a.localeCompare(b))) {
    const have = obs.sysctls[key];
    if (have === undefined || normaliseSysctl(have) !== normaliseSysctl(value)) {
      diffs.push({ path: `profile.sysctls.${key}`, desired: value, observed: have ?? null });
      actions.push({ verb: 'sysctl.set', node: node.name, subject, key, value, reason: `sysctl ${key} is ${have ?? 'unset'}, want ${value}` });
    }
  }

  for (const vg of p.volumeGroups) {
    const have = obs.vgs[vg.name];
    if (!have) {
      diffs.push({ path: `profile.volumeGroups[${vg.name}]`, desired: { pvs: vg.pvs }, observed: null });
      actions.push({ verb: 'vg.ensure', node: node.name, subject, name: vg.name, pvs: vg.pvs, reason: `volume group ${vg.name} is missing` });
      continue;
    }
    const missingPvs = missingFrom(vg.pvs, have.pvs);
    if (missingPvs.length > 0) {
      diffs.push({ path: `profile.volumeGroups[${vg.name}].pvs`, desired: vg.pvs, observed: have.pvs });
      actions.push({ verb: 'vg.ensure', node: node.name, subject, name: vg.name, pvs: vg.pvs, reason: `volume group ${vg.name} lacks PVs ${missingPvs.join(', ')}` });
    }
  }

  for (const br of p.bridges) {
    const have = obs.bridges[br.name];
    const why: string[] = [];
    if (!have) {
      diffs.push({ path: `profile.bridges[${br.name}]`, desired: br, observed: null });
      why.push('missing');
    } else {
      if (have.vlanFiltering !== br.vlanFiltering) {
        diffs.push({ path: `profile.bridges[${br.name}].vlanFiltering`, desired: br.vlanFiltering, observed: have.vlanFiltering });
        why.push(`vlan_filtering ${have.vlanFiltering ? 1 : 0} -> ${br.vlanFiltering ? 1 : 0}`);
      }
      if (br.mtu !== undefined && have.mtu !== br.mtu) {
        diffs.push({ path: `profile.bridges[${br.name}].mtu`, desired: br.mtu, observed: have.mtu });
        why.push(`mtu ${have.mtu} -> ${br.mtu}`);
      }
      if (!have.up) {
        diffs.push({ path: `profile.bridges[${br.name}].up`, desired: true, observed: false });
        why.push('down');
      }
      const addrs = missingFrom(br.addresses, have.addresses);
      if (addrs.length > 0) {
        diffs.push({ path: `profile.bridges[${br.name}].addresses`, desired: br.addresses, observed: have.addresses });
        why.push(`addresses ${addrs.join(', ')} missing`);
      }
      const ports = missingFrom(br.ports, have.ports);
      if (ports.length > 0) {
        diffs.push({ path: `profile.bridges[${br.name}].ports`, desired: br.ports, observed: have.ports });
        why.push(`ports ${ports.join(', ')} not enslaved`);
      }
    }
    if (why.length > 0) {
      actions.push({
        verb: 'bridge.ensure', node: node.name, subject, name: br.name, vlanFiltering: br.vlanFiltering,
        ...(br.mtu !== undefined ? { mtu: br.mtu } : {}), addresses: br.addresses, ports: br.ports,
        reason: `bridge ${br.name}: ${why.join('; ')}`,
      });
    }
  }

  for (const vx of p.vxlans) {
    const have = obs.vxlans[vx.name];
    const why: string[] = [];
    if (!have) {
      diffs.push({ path: `profile.vxlans[${vx.name}]`, desired: vx, observed: null });
      why.push('missing');
    } else {
      const fields: [string, unknown, unknown][] = [
        ['vni', vx.vni, have.vni], ['dstPort', vx.dstPort, have.dstPort], ['local', vx.local, have.local],
        ['remote', vx.remote, have.remote], ['group', vx.group, have.group], ['dev', vx.dev, have.dev],
        ['bridge', vx.bridge, have.master],
      ];
      for (const [f, want, got] of fields) {
        if (want !== undefined && want !== got) {
          diffs.push({ path: `profile.vxlans[${vx.name}].${f}`, desired: want, observed: got ?? null });
          why.push(`${f} ${String(got ?? 'unset')} -> ${String(want)}`);
        }
      }
      if (!have.up) {
        diffs.push({ path: `profile.vxlans[${vx.name}].up`, desired: true, observed: false });
        why.push('down');
      }
    }
    if (why.length > 0) {
      actions.push({
        verb: 'vxlan.ensure', node: node.name, subject, name: vx.name, vni: vx.vni, dstPort: vx.dstPort,
        ...(vx.local !== undefined ? { local: vx.local } : {}), ...(vx.remote !== undefined ? { remote: vx.remote } : {}),
        ...(vx.group !== undefined ? { group: vx.group } : {}), ...(vx.dev !== undefined ? { dev: vx.dev } : {}),
        ...(vx.bridge !== undefined ? { master: vx.bridge } : {}),
        reason: `vxlan ${vx.name}: ${why.join('; ')}`,
      });
    }
  }

  for (const ob of p.ovsBridges) {
    const haveBr = obs.ovs?.bridges[ob.name];
    if (!obs.ovs && p.ovsBridges.length > 0 && ob === p.ovsBridges[0]) {
      diffs.push({ path: 'profile.ovsBridges', desired: 'Open vSwitch running', observed: 'no ovsdb answered' });
    }
    if (!haveBr || normaliseDatapath(haveBr.datapathType) !== normaliseDatapath(ob.datapathType)) {
      diffs.push({ path: `profile.ovsBridges[${ob.name}]`, desired: { datapathType: ob.datapathType }, observed: haveBr ? { datapathType: haveBr.datapathType } : null });
      actions.push({
        verb: 'ovs.bridge.ensure', node: node.name, subject, name: ob.name, datapathType: ob.datapathType,
        reason: haveBr ? `OVS bridge ${ob.name}: datapath ${haveBr.datapathType || 'system'} -> ${ob.datapathType}` : `OVS bridge ${ob.name} is missing`,
      });
    }
    for (const port of ob.ports) {
      const have = haveBr?.ports[port.name];
      const why: string[] = [];
      if (!have) {
        diffs.push({ path: `profile.ovsBridges[${ob.name}].ports[${port.name}]`, desired: port, observed: null });
        why.push('missing');
      } else {
        if (have.tag !== port.tag) {
          diffs.push({ path: `profile.ovsBridges[${ob.name}].ports[${port.name}].tag`, desired: port.tag ?? null, observed: have.tag ?? null });
          why.push(`tag ${have.tag ?? 'none'} -> ${port.tag ?? 'none'}`);
        }
        if (!sameSet(have.trunks, port.trunks)) {
          diffs.push({ path: `profile.ovsBridges[${ob.name}].ports[${port.name}].trunks`, desired: port.trunks, observed: have.trunks });
          why.push(`trunks [${have.trunks.join(',')}] -> [${port.trunks.join(',')}]`);
        }
        if (normaliseOvsType(have.type) !== normaliseOvsType(port.type)) {
          diffs.push({ path: `profile.ovsBridges[${ob.name}].ports[${port.name}].type`, desired: port.type, observed: have.type });
          why.push(`type ${have.type || 'system'} -> ${port.type}`);
        }
      }
      if (why.length > 0) {
        actions.push({
          verb: 'ovs.port.ensure', node: node.name, subject, bridge: ob.name, port: port.name,
          ...(port.tag !== undefined ? { tag: port.tag } : {}), trunks: port.trunks, type: port.type,
          reason: `OVS port ${ob.name}/${port.name}: ${why.join('; ')}`,
        });
      }
    }
  }
  return { diffs, actions };
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
