/**
 * The htools text format (Ganeti Backend/Text.hs), as read by `hbal -t`,
 * `hspace -t`, `hinfo -t` and written by `hbal --save-cluster`.
 *
 * Sections separated by one empty line: groups, nodes, instances, cluster tags,
 * instance policies. Fields are '|' separated; optional trailing fields take
 * Ganeti's defaults. Pure: strings in, values out.
 */
import {
  type AllocPolicy, type DiskTemplate, type InstanceStatus, type IPolicy, type ISpec,
  type PlaceCluster, type PlaceGroup, type PlaceInstance, type PlaceNode,
  DEFAULT_IPOLICY, DISK_TEMPLATES, INSTANCE_STATUSES,
} from './types.js';

export class TextFormatError extends Error {
  override readonly name = 'TextFormatError';
}

function num(owner: string, s: string): number {
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) throw new TextFormatError(`Cannot parse '${s}' for ${owner}`);
  return v;
}

function commaSplit(s: string): string[] {
  return s === '' ? [] : s.split(',');
}

function splitSections(lines: string[]): string[][] {
  const out: string[][] = [[]];
  for (const l of lines) {
    if (l === '') out.push([]);
    else out[out.length - 1]!.push(l);
  }
  return out;
}

function parseISpec(owner: string, s: string): ISpec {
  const f = commaSplit(s);
  if (f.length < 6) throw new TextFormatError(`Invalid ispec data for ${owner}: ${s}`);
  return {
    memorySize: num(`${owner}/memsize`, f[0]!), cpuCount: num(`${owner}/cpucount`, f[1]!),
    diskSize: num(`${owner}/disksize`, f[2]!), diskCount: num(`${owner}/diskcount`, f[3]!),
    nicCount: num(`${owner}/niccount`, f[4]!), spindleUse: num(`${owner}/spindleuse`, f[5]!),
  };
}

function parseTemplate(s: string): DiskTemplate {
  if ((DISK_TEMPLATES as readonly string[]).includes(s)) return s as DiskTemplate;
  throw new TextFormatError(`Invalid disk template '${s}'`);
}

function parseIPolicy(line: string): [string, IPolicy] {
  const f = line.split('|');
  if (f.length < 6) throw new TextFormatError(`Invalid ipolicy data: '${line}'`);
  const owner = f[0]!;
  const specs = f[2]!.split(';');
  if (specs.length % 2 !== 0) throw new TextFormatError(`Odd number of min/max specs for ${owner}`);
  const minMax: { min: ISpec; max: ISpec }[] = [];
  for (let i = 0; i < specs.length; i += 2) {
    minMax.push({ min: parseISpec(`${owner}/minspec`, specs[i]!), max: parseISpec(`${owner}/maxspec`, specs[i + 1]!) });
  }
  return [owner, {
    std: parseISpec(`${owner}/stdspec`, f[1]!), minMax,
    diskTemplates: commaSplit(f[3]!).map(parseTemplate),
    vcpuRatio: num(`${owner}/vcpu_ratio`, f[4]!), spindleRatio: num(`${owner}/spindle_ratio`, f[5]!),
  }];
}

/** Parses htools text data into a PlaceCluster. Throws TextFormatError on bad input. */
export function parseText(data: string): PlaceCluster {
  const lines = data.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const secs = splitSections(lines);
  if (secs.length < 4) {
    throw new TextFormatError(`Invalid format of the input file: ${secs.length} sections instead of 4 or more`);
  }
  const [glines, nlines, ilines, ctags, pollines] = [secs[0]!, secs[1]!, secs[2]!, secs[3]!, secs[4] ?? []];
  const groupsRaw = glines.map((l) => {
    const f = l.split('|');
    if (f.length < 4) throw new TextFormatError(`Invalid/incomplete group data: '${l}'`);
    const apol = f[2]!;
    if (apol !== 'preferred' && apol !== 'last_resort' && apol !== 'unallocable') {
      throw new TextFormatError(`Invalid alloc policy '${apol}'`);
    }
    return { name: f[0]!, uuid: f[1]!, allocPolicy: apol as AllocPolicy, tags: commaSplit(f[3]!), networks: commaSplit(f[4] ?? '') };
  });
  const uuids = new Set(groupsRaw.map((g) => g.uuid));
  const nodes: PlaceNode[] = nlines.map((l) => {
    const f = l.split('|');
    if (f.length < 9) throw new TextFormatError(`Invalid/incomplete node data: '${l}'`);
    const [name, tm, nm, fm, td, fd, tc, fo, gu] = f as [string, string, string, string, string, string, string, string, string];
    if (!uuids.has(gu)) throw new TextFormatError(`Unknown group '${gu}' for node ${name}`);
    const spindles = f[9] ?? '1';
    const tags = commaSplit(f[10] ?? '');
    const excl = f[11] ?? 'N';
    if (excl !== 'Y' && excl !== 'N') throw new TextFormatError(`Invalid exclusive_storage value for node '${name}': ${excl}`);
    const unknown = [tm, nm, fm, td, fd, tc].includes('?');
    if (unknown) {
      return {
        name, group: gu, tMem: 0, nMem: 0, fMem: 0, tDsk: 0, fDsk: 0, tCpu: 0, nCpu: 0, cpuSpeed: 1,
        offline: true, master: false, tSpindles: 0, fSpindles: 0, exclStorage: false, tags,
      };
    }
    return {
      name, group: gu, tMem: num(name, tm), nMem: num(name, nm), fMem: num(name, fm), tDsk: num(name, td),
      fDsk: num(name, fd), tCpu: num(name, tc), nCpu: num(name, f[13] ?? '1'), cpuSpeed: num(name, f[14] ?? '1.0'),
      offline: fo === 'Y', master: fo === 'M', tSpindles: num(name, spindles), fSpindles: num(name, f[12] ?? '0'),
      exclStorage: excl === 'Y', tags,
    };
  });
  const nodeNames = new Set(nodes.map((n) => n.name));
  const instances: PlaceInstance[] = ilines.map((l) => {
    const f = l.split('|');
    if (f.length < 10) throw new TextFormatError(`Invalid/incomplete instance data: '${l}'`);
    const [name, mem, dsk, vcpus, status, ab, pnode, snode, dt, tags] =
      f as [string, string, string, string, string, string, string, string, string, string];
    if (!nodeNames.has(pnode)) throw new TextFormatError(`Unknown node '${pnode}' for instance ${name}`);
    if (snode !== '' && !nodeNames.has(snode)) throw new TextFormatError(`Unknown node '${snode}' for instance ${name}`);
    if (!(INSTANCE_STATUSES as readonly string[]).includes(status)) {
      throw new TextFormatError(`Invalid instance status '${status}' for instance ${name}`);
    }
    if (ab !== 'Y' && ab !== 'N') throw new TextFormatError(`Invalid auto_balance value '${ab}' for instance ${name}`);
    const template = parseTemplate(dt);
    if (template === 'drbd' && snode === pnode) {
      throw new TextFormatError(`Instance ${name} has same primary and secondary node - ${pnode}`);
    }
    const sp = f[11] ?? '-';
    const dsize = num(name, dsk);
    return {
      name, mem: num(name, mem), dsk: dsize, disks: [dsize], vcpus: num(name, vcpus), status: status as InstanceStatus,
      autoBalance: ab === 'Y', pNode: pnode, sNode: snode === '' ? null : snode, diskTemplate: template,
      tags: commaSplit(tags), spindleUse: num(name, f[10] ?? '1'), spindles: sp === '-' ? null : num(name, sp), nics: [],
    };
  });
  let cpol: IPolicy = DEFAULT_IPOLICY;
  const gpol = new Map<string, IPolicy>();
  for (const l of pollines) {
    const [owner, pol] = parseIPolicy(l);
    if (owner === '') cpol = pol;
    else {
      if (!groupsRaw.some((g) => g.name === owner)) throw new TextFormatError(`Unknown group '${owner}' in ipolicy`);
      gpol.set(owner, pol);
    }
  }
  const groups: PlaceGroup[] = groupsRaw.map((g) => ({ ...g, ipolicy: gpol.get(g.name) ?? DEFAULT_IPOLICY }));
  return { groups, nodes, instances, clusterTags: ctags, ipolicy: cpol };
}

function fmtSpec(s: ISpec): string {
  return [s.memorySize, s.cpuCount, s.diskSize, s.diskCount, s.nicCount, s.spindleUse].join(',');
}

function fmtRatio(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

function fmtPolicy(owner: string, p: IPolicy): string {
  return [
    owner, fmtSpec(p.std), p.minMax.flatMap((m) => [fmtSpec(m.min), fmtSpec(m.max)]).join(';'),
    p.diskTemplates.join(','), fmtRatio(p.vcpuRatio), fmtRatio(p.spindleRatio),
  ].join('|');
}

/** Serialises a cluster in the htools text format (as `hbal --save-cluster` does). */
export function serializeText(c: PlaceCluster): string {
  const byUuid = new Map(c.groups.map((g) => [g.uuid, g]));
  const g = c.groups.map((x) => `${x.name}|${x.uuid}|${x.allocPolicy}|${x.tags.join(',')}|${x.networks.join(',')}\n`).join('');
  const n = c.nodes.map((x) => [
    x.name, Math.round(x.tMem), x.nMem, Math.round(x.fMem), Math.round(x.tDsk), Math.round(x.fDsk), Math.round(x.tCpu),
    x.offline ? 'Y' : x.master ? 'M' : 'N', byUuid.get(x.group)?.uuid ?? x.group, x.tSpindles, x.tags.join(','),
    x.exclStorage ? 'Y' : 'N', x.fSpindles, x.nCpu, x.cpuSpeed.toFixed(6).replace(/0+$/, '').replace(/\.$/, '.0'),
  ].join('|') + '\n').join('');
  const i = c.instances.map((x) => [
    x.name, x.mem, x.dsk, x.vcpus, x.status, x.autoBalance ? 'Y' : 'N', x.pNode, x.sNode ?? '', x.diskTemplate,
    x.tags.join(','), x.spindleUse, x.spindles === null ? '-' : x.spindles, 'N',
  ].join('|') + '\n').join('');
  const tags = c.clusterTags.map((t) => `${t}\n`).join('');
  const pol = [fmtPolicy('', c.ipolicy), ...c.groups.map((x) => fmtPolicy(x.name, x.ipolicy))].join('\n') + '\n';
  return [g, n, i, tags, pol].join('\n');
}
