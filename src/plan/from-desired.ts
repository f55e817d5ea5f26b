/**
 * Adapt the filled desired state (src/desired) into the planner's input. Pure. This is
 * the only planner module that knows the desired model's shape.
 */
import { createHash } from 'node:crypto';
import type { DesiredInstance, DesiredState } from '../desired/model.js';
import type { PlanInput, PlanInstance, PlanNic, PlanNode } from '../core/plan.js';
import { effectiveNodeSysctls } from '../desired/routed.js';
import { autoRepairTags } from './autorepair.js';

/** A stable UUID per (cluster, instance): the same VM keeps the same SMBIOS UUID everywhere. */
export function instanceUuid(cluster: string, instance: string): string {
  const h = createHash('sha1').update(`gantry:${cluster}:${instance}`).digest('hex');
  // RFC 4122 name-based layout (version 5, variant 10xx).
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

const nicModel = (m: DesiredInstance['nics'][number]['model']): PlanNic['model'] => (m === 'paravirtual' ? 'virtio' : m);
const diskBus = (d: DesiredInstance['hvParams']['diskType']): 'virtio' | 'ide' | 'scsi' => (d === 'paravirtual' ? 'virtio' : d);

/**
 * The kernel command line of a direct kernel boot, as Ganeti's kvm hypervisor builds it:
 * kernelArgs, then root=rootPath and console=ttyS0[,serialSpeed] unless kernelArgs already
 * says root= / console=.
 */
export function kernelCommandLine(hv: DesiredInstance['hvParams']): string {
  let args = hv.kernelArgs;
  if (hv.rootPath !== undefined && !/(^| )root=/.test(args)) args = `${args} root=${hv.rootPath}`;
  if (hv.serialConsole && !/console=/.test(args)) args = `${args} console=ttyS0${hv.serialSpeed !== undefined ? `,${hv.serialSpeed}` : ''}`;
  return args.trim();
}

/** Launch settings that are absent at their defaults, so records written before them still match. */
function launchExtras(hv: DesiredInstance['hvParams']) {
  return {
    ...(hv.diskCache !== 'none' ? { diskCache: hv.diskCache } : {}),
    ...(hv.usbMouse !== undefined && hv.usbMouse !== 'none' ? { usbMouse: hv.usbMouse } : {}),
    ...(hv.rebootBehavior === 'exit' ? { noReboot: true as const } : {}),
    ...(hv.useChroot === true ? { chroot: true as const } : {}),
    ...(hv.cdromImagePath !== undefined ? { cdromImagePath: hv.cdromImagePath } : {}),
  };
}

export function toPlanInput(state: DesiredState): PlanInput {
  const c = state.cluster;
  const nodes: PlanNode[] = [...state.nodes.values()].map((n) => ({
    name: n.name,
    group: n.group,
    role: n.role,
    address: n.address,
    secondaryAddress: n.secondaryAddress,
    ...(n.ovsdbSocket !== undefined ? { ovsdbSocket: n.ovsdbSocket } : {}),
    runDir: n.paths.runDir,
    fileStorageDir: n.paths.fileStorageDir,
    profile: { ...n.profile, sysctls: effectiveNodeSysctls(n, state) },
    ...(n.oob !== undefined ? { fenceable: true } : {}),
    ...(n.memory !== undefined ? { memoryMiB: n.memory } : {}),
    ...(n.cpus !== undefined ? { cpus: n.cpus } : {}),
    ...(n.exclusiveStorage ? { exclusiveStorage: true as const } : {}),
    ...(n.spindles !== undefined ? { spindles: n.spindles } : {}),
  }));
  const instances: PlanInstance[] = [...state.instances.values()].map((i) => {
    const hv = i.hvParams;
    const nics: PlanNic[] = i.nics.map((n) => {
      const net = n.network ? state.networks.get(n.network) : undefined;
      return {
        index: n.index,
        ...(n.network !== undefined ? { network: n.network } : {}),
        mode: n.mode,
        // A routed NIC's link is a routing table (desired/build never gives it the default bridge).
        link: n.mode === 'routed' ? n.link ?? '' : n.link ?? net?.link ?? c.nicParams.link ?? '',
        ...(n.vlan !== undefined ? { vlan: n.vlan } : net?.vlan !== undefined ? { vlan: net.vlan } : {}),
        trunks: n.trunks.length > 0 ? n.trunks : net?.trunks ?? [],
        ip: n.ip,
        mac: n.mac,
        model: nicModel(n.model),
        ...(n.name !== undefined ? { name: n.name } : {}),
      };
    });
    return {
      name: i.name,
      state: i.state,
      deleteDisks: i.deleteDisks,
      ...(i.renamedFrom !== undefined ? { renamedFrom: i.renamedFrom } : {}),
      diskTemplate: i.diskTemplate,
      ...(i.placement.primary !== undefined ? { primary: i.placement.primary } : {}),
      ...(i.placement.secondary !== undefined ? { secondary: i.placement.secondary } : {}),
      ...(i.placement.group !== undefined ? { group: i.placement.group } : {}),
      memoryMiB: i.beParams.memory,
      vcpus: i.beParams.vcpus,
      disks: i.disks.map((d) => ({
        index: d.index, sizeMiB: d.size, template: d.template,
        vg: d.vg ?? c.storage.volumeGroup, metaVg: d.metaVg ?? d.vg ?? c.storage.volumeGroup, state: d.state,
        ...(d.template === 'drbd' && d.drbdSync ? { drbd: { metaSizeMiB: d.metaSize ?? c.diskParams.drbd.metaSize, ...d.drbdSync } } : {}),
        ...(d.name !== undefined ? { name: d.name } : {}), ...(d.mode === 'ro' ? { readOnly: true as const } : {}),
        ...(d.stripes !== undefined ? { stripes: d.stripes } : {}),
        ...(d.spindles !== undefined ? { spindles: d.spindles } : {}),
        ...(d.format === 'qcow2' ? { format: 'qcow2' as const } : {}),
      })),
      tags: i.tags,
      ...(i.failover !== undefined ? { failover: i.failover } : {}),
      ...(i.allowDegradedFailover ? { allowDegradedFailover: true } : {}),
      ...(i.repair !== undefined ? { repair: i.repair } : {}),
      runtime: {
        uuid: instanceUuid(c.name, i.name),
        os: { name: i.os.name, params: i.os.params, generation: i.os.generation },
        powerState: i.powerState,
        restartGeneration: i.restartGeneration,
        accel: hv.accel,
        ...(hv.machineType !== undefined ? { machineType: hv.machineType } : {}),
        ...(hv.cpuType !== undefined ? { cpuType: hv.cpuType } : {}),
        ...(hv.kernelPath !== undefined ? { kernelPath: hv.kernelPath } : {}),
        ...(hv.initrdPath !== undefined ? { initrdPath: hv.initrdPath } : {}),
        ...(hv.kernelPath !== undefined ? { kernelArgs: kernelCommandLine(hv) } : {}),
        bootOrder: [hv.bootOrder],
        diskBus: diskBus(hv.diskType),
        ...launchExtras(hv),
        vnc: hv.vncBindAddress !== undefined,
        vncBindAddress: hv.vncBindAddress ?? '127.0.0.1',
        nics,
        migration: i.migration,
        restartErrorDown: c.watcher.restartErrorDown,
        stopTimeoutS: 30,
      },
    };
  });
  return {
    cluster: {
      name: c.name,
      macPrefix: c.macPrefix,
      sharedFileStorageDir: c.diskParams.sharedfile.dir,
      removeOrphans: c.orphans.remove,
      orphanMaxPercentPerPass: c.orphans.maxPercentPerPass,
      orphanGraceMinutes: c.orphans.graceMinutes,
      exclusionTags: c.exclusionTags,
      liveness: c.liveness,
      failover: c.autoRepair.failover,
      fenceMaxPerGroup: c.autoRepair.fenceMaxPerGroup,
      drainMaxParallel: c.drain.maxParallelMoves,
      autoRepair: {
        maxAttempts: c.autoRepair.maxAttempts,
        tags: autoRepairTags(c.tags),
        groupTags: new Map([...state.groups.values()].map((g) => [g.name, autoRepairTags(g.tags)] as const).filter(([, t]) => t.length > 0)),
      },
      nPlusOne: c.nPlusOne.mode,
      watcher: { maxRestarts: c.watcher.maxRestarts, backoffSeconds: c.watcher.backoffSeconds, healthySeconds: c.watcher.healthySeconds },
      drbd: { portStart: c.drbd.portRange.start, portEnd: c.drbd.portRange.end, minorCount: c.drbd.minorCount, usermodeHelper: c.drbd.usermodeHelper },
    },
    nodes,
    instances,
    networks: [...state.networks.values()].map((n) => ({
      name: n.name, subnet: n.subnet, ...(n.gateway !== undefined ? { gateway: n.gateway } : {}),
      ...(n.subnet6 !== undefined ? { subnet6: n.subnet6 } : {}), ...(n.gateway6 !== undefined ? { gateway6: n.gateway6 } : {}),
      reserved: n.reservedIps, macPrefix: n.macPrefix,
    })),
  };
}
