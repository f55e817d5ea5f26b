/**
 * Instance runtime drift: install, power state, restarts and live migration, from the
 * desired spec and what QEMU reports on the nodes. Pure. Statuses use Ganeti's names:
 * running, ADMIN_down (stopped by Gantry), USER_down (the guest powered itself off: not
 * restarted), ERROR_down (crashed: restarted unless the cluster says no), ERROR_nodedown.
 */
import { watcherDecision } from './watcher.js';
import { actionKey, type Action, type DrbdMigrationDisk, type InstanceLaunch, type InstanceRecord } from '../core/actions.js';
import { volumesOf } from './disks.js';
import type { NicAllocation } from './nics.js';
import type { Placement } from './plan.js';
import type { FieldDiff, ObservedCluster, PlanCluster, PlanDisk, PlanInput, PlanInstance, PlanNode, Refusal, WatcherDecision } from '../core/plan.js';
import type { ObservedInstance } from '../core/observed.js';
import { recordedVncDisplay, VncAllocator } from './vnc.js';
import { nicInfoOf, routedNicRouting } from './routed.js';
import { drbdDevicePath } from './naming.js';

export type InstanceStatus = 'running' | 'ADMIN_down' | 'USER_down' | 'ERROR_down' | 'ERROR_nodedown' | 'ERROR_wrongnode' | 'absent';

export interface RuntimeHooks {
  /** NIC allocations (MACs, IPs) for every instance, from plan/nics. */
  readonly nics: ReadonlyMap<string, readonly NicAllocation[]>;
  readonly nicErrors: ReadonlyMap<string, Omit<Refusal, 'subject'>>;
  /** VNC displays (plan/vnc), asked in instance-name order. */
  readonly vnc: Pick<VncAllocator, 'displayFor'>;
  /** Built once per plan: nodes by name, and every observed copy of each instance. */
  readonly nodes: ReadonlyMap<string, PlanNode>;
  readonly copies: ReadonlyMap<string, readonly { node: string; vm: ObservedInstance }[]>;
  /** The DRBD minor of disk `index` of `instance` on `node` (plan/drbd-alloc), for the VM's disk path. */
  readonly drbdMinor?: (instance: string, index: number, node: string) => number | undefined;
  /** Instances whose disks all existed before this pass (observed, not planned). */
  readonly disksExist: (inst: PlanInstance, primary: string, secondary: string | undefined) => boolean;
  /** Instance -> the node it failed over from: a copy still running there is stale (stopped, never a second copy). */
  readonly superseded?: ReadonlyMap<string, string>;
}

/** Index every observed instance copy by name, nodes in name order. Linear in the cluster. */
export function indexCopies(observed: ObservedCluster): Map<string, { node: string; vm: ObservedInstance }[]> {
  const out = new Map<string, { node: string; vm: ObservedInstance }[]>();
  for (const [node, obs] of [...observed.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    if (!obs.reachable) continue;
    for (const vm of Object.values(obs.instances)) {
      let l = out.get(vm.name);
      if (!l) out.set(vm.name, (l = []));
      l.push({ node, vm });
    }
  }
  return out;
}

export interface RuntimePlan {
  diffs: FieldDiff[];
  actions: Action[];
  refused: Refusal[];
  notes: string[];
  status?: InstanceStatus;
  /** ERROR_down: what the watcher does (plan/watcher). */
  watcher?: WatcherDecision;
}

/** Run states in which a qemu process exists (the guest may be powered off inside it). */
export const ALIVE: ReadonlySet<string> = new Set(['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate']);

/** Run states in which the guest may be running: alive, or a live qemu whose monitor did not answer. */
export const MAY_RUN: ReadonlySet<string> = new Set([...ALIVE, 'unknown']);

/** Ganeti's status of one observed copy. */
export function statusOf(vm: ObservedInstance): InstanceStatus {
  if (vm.runState === 'shutdown' || vm.guestShutdown) return 'USER_down';
  if (ALIVE.has(vm.runState)) return 'running';
  if (vm.adminStopped || !vm.runtime) return 'ADMIN_down';
  return 'ERROR_down';
}

/** The device or image QEMU opens for a disk on `primary` ('' when it has none yet: a DRBD disk without a minor, diskless). */
export function diskDevice(
  inst: PlanInstance, d: PlanDisk, primary: string, secondary: string | undefined, nodes: ReadonlyMap<string, PlanNode>, cluster: PlanCluster,
  drbdMinor?: (index: number) => number | undefined,
): { path: string; format: 'raw' | 'qcow2' } {
  const v = volumesOf(inst, d, primary, secondary, nodes, cluster).find((x) => x.node === primary && !x.role.includes('meta'));
  const minor = d.template === 'drbd' ? drbdMinor?.(d.index) : undefined;
  const path = d.template === 'drbd' ? (minor !== undefined ? drbdDevicePath(minor) : '') : v?.kind === 'lv' ? `/dev/${v.vg}/${v.name}` : v?.kind === 'file' ? v.path : '';
  return { path, format: v?.kind === 'file' ? v.format : 'raw' };
}

export function launchFor(
  inst: PlanInstance, primary: string, secondary: string | undefined, nics: readonly NicAllocation[], input: PlanInput, nodes: ReadonlyMap<string, PlanNode>, vncDisplay?: number,
  drbdMinor?: (index: number) => number | undefined,
): InstanceLaunch {
  const rt = inst.runtime!;
  const disks = inst.disks.filter((d) => d.state === 'present').map((d) => {
    const { path, format } = diskDevice(inst, d, primary, secondary, nodes, input.cluster, drbdMinor);
    return { path, format, bus: rt.diskBus, ...(d.readOnly ? { readOnly: true as const } : {}) };
  }).filter((d) => d.path !== '');
  return {
    name: inst.name, uuid: rt.uuid, memoryMiB: inst.memoryMiB, vcpus: inst.vcpus, accel: rt.accel,
    ...(rt.machineType !== undefined ? { machineType: rt.machineType } : {}),
    ...(rt.cpuType !== undefined ? { cpuType: rt.cpuType } : {}),
    ...(rt.kernelPath !== undefined ? { kernelPath: rt.kernelPath } : {}),
    ...(rt.initrdPath !== undefined ? { initrdPath: rt.initrdPath } : {}),
    ...(rt.kernelArgs !== undefined ? { kernelArgs: rt.kernelArgs } : {}),
    bootOrder: rt.bootOrder, disks,
    ...(rt.diskCache !== undefined ? { diskCache: rt.diskCache } : {}),
    ...(rt.usbMouse !== undefined ? { usbMouse: rt.usbMouse } : {}),
    ...(rt.noReboot ? { noReboot: true as const } : {}),
    ...(rt.chroot ? { chroot: true as const } : {}),
    ...(rt.cdromImagePath !== undefined ? { cdromImagePath: rt.cdromImagePath } : {}),
    nics: rt.nics.map((n, i) => {
      const routed = routedNicRouting(n, nics[i], input.networks.find((x) => x.name === n.network));
      return { mac: nics[i]?.mac ?? '', model: n.model, mode: n.mode, link: n.link, ...(n.vlan !== undefined ? { vlan: n.vlan } : {}), trunks: n.trunks, ...(routed ? { routed } : {}) };
    }),
    vnc: rt.vnc, vncBindAddress: rt.vncBindAddress,
    ...(rt.vnc && vncDisplay !== undefined ? { vncDisplay } : {}),
  };
}

/** The launch description a copy runs with: its record's, with the display it runs on when the record predates recorded displays. */
function runningLaunch(vm: ObservedInstance | undefined): Readonly<Record<string, unknown>> | undefined {
  const l = vm?.meta?.launch;
  if (!l || l.vncDisplay !== undefined || l.vnc !== true) return l;
  const d = recordedVncDisplay(vm);
  return d === undefined ? l : { ...l, vncDisplay: d };
}

/** Fields of two launch descriptions that differ, named for the report. */
export function launchDiffs(want: InstanceLaunch, have: Readonly<Record<string, unknown>> | undefined): FieldDiff[] {
  if (!have) return [];
  const out: FieldDiff[] = [];
  const keys = new Set([...Object.keys(want), ...Object.keys(have)]);
  for (const k of [...keys].sort()) {
    const a = (want as unknown as Record<string, unknown>)[k];
    const b = have[k];
    if (a === b) continue; // the same value serialises the same: no JSON for equal scalars (most fields, every instance, every plan)
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path: k === 'memoryMiB' ? 'beParams.memory' : k === 'vcpus' ? 'beParams.vcpus' : `launch.${k}`, desired: a ?? null, observed: b ?? null });
  }
  return out;
}

/** Disk names for the OS scripts, in launch order (present disks); absent when no disk is named. */
function diskNames(inst: PlanInstance): { diskNames?: (string | null)[] } {
  const present = inst.disks.filter((d) => d.state === 'present' && d.template !== 'diskless');
  return present.some((d) => d.name !== undefined) ? { diskNames: present.map((d) => d.name ?? null) } : {};
}

const drbdOnly = (inst: PlanInstance) => inst.disks.some((d) => d.state === 'present' && d.template === 'drbd') && inst.disks.filter((d) => d.state === 'present').every((d) => d.template === 'drbd' || d.template === 'diskless');
const sharedStorage = (inst: PlanInstance) => inst.disks.filter((d) => d.state === 'present').every((d) => d.template === 'sharedfile' || d.template === 'diskless');

/** The launch a migrating VM gets on the destination: each DRBD disk opens the destination's minor. */
function onTarget(l: InstanceLaunch, disks: readonly DrbdMigrationDisk[]): InstanceLaunch {
  const map = new Map(disks.map((d) => [drbdDevicePath(d.source.minor), drbdDevicePath(d.target.minor)]));
  return { ...l, disks: l.disks.map((d) => (map.has(d.path) ? { ...d, path: map.get(d.path)! } : d)) };
}

/**
 * `drbdMigration`: a DRBD live migration is ready (plan/drbd checked both sides Connected
 * and UpToDate this pass): each disk's source and target for instance.migrate.
 */
export function planInstanceRuntime(
  inst: PlanInstance, placement: Placement | undefined, input: PlanInput, observed: ObservedCluster, hooks?: RuntimeHooks, drbdMigration?: readonly DrbdMigrationDisk[],
): RuntimePlan {
  const out: RuntimePlan = { diffs: [], actions: [], refused: [], notes: [] };
  if (!inst.runtime) return out;
  const rt = inst.runtime;
  const subject = `Instance/${inst.name}`;
  const nodes = hooks?.nodes ?? new Map(input.nodes.map((n) => [n.name, n]));
  // hooks.copies indexes every copy: an instance not in it has none (re-indexing the cluster for each new instance was O(instances x nodes)).
  const allCopies = (hooks ? hooks.copies : indexCopies(observed)).get(inst.name) ?? [];
  const remove = (node: string, reason: string): Action => {
    const n = nodes.get(node);
    return { verb: 'instance.remove', node, subject, name: inst.name, runDir: runDirOf(n), nicCount: rt.nics.length, ...(n?.ovsdbSocket ? { ovsdbSocket: n.ovsdbSocket } : {}), reason };
  };

  if (inst.state === 'absent') {
    out.status = 'absent';
    for (const c of allCopies) {
      out.diffs.push({ path: 'state', desired: 'absent', observed: `${statusOf(c.vm)} on ${c.node}` });
      out.actions.push(remove(c.node, 'instance state is absent: stop the VM and remove its runtime files'));
    }
    return out;
  }
  if (!placement) return out;
  const { primary, secondary } = placement;
  const pNode = nodes.get(primary)!;
  const pObs = observed.nodes.get(primary);
  if (!pObs?.reachable) {
    out.status = 'ERROR_nodedown';
    out.notes.push(`primary ${primary} is unreachable (ERROR_nodedown)`);
    return out;
  }
  const nicErr = hooks?.nicErrors.get(inst.name);
  if (nicErr) {
    out.refused.push({ subject, ...nicErr });
    return out;
  }
  const nicAlloc = hooks?.nics.get(inst.name) ?? [];
  const vncDisplay = rt.vnc ? (hooks?.vnc ?? new VncAllocator(observed)).displayFor(inst.name, primary) : undefined;
  if (rt.vnc && vncDisplay === undefined) {
    out.refused.push({ subject, code: 'VNC_EXHAUSTED', message: `no free VNC display left for ${inst.name} on ${primary}` });
    return out;
  }
  const launch = launchFor(inst, primary, secondary, nicAlloc, input, nodes, vncDisplay, (index) => hooks?.drbdMinor?.(inst.name, index, primary));
  const record = (osGeneration: number): InstanceRecord => ({ uuid: rt.uuid, os: rt.os.name, osGeneration, restartGeneration: rt.restartGeneration, nics: nicAlloc, launch });
  // A copy left running on the node it failed over from is stale: stopped first, before anything else of it there.
  const oldNode = hooks?.superseded?.get(inst.name);
  const staleRun = oldNode !== undefined && oldNode !== primary ? allCopies.find((c) => c.node === oldNode && MAY_RUN.has(c.vm.runState)) : undefined;
  if (staleRun) {
    out.actions.push({ verb: 'instance.stop', node: staleRun.node, subject, name: inst.name, runDir: runDirOf(nodes.get(staleRun.node)), timeoutS: rt.stopTimeoutS, reason: `stale copy: ${inst.name} failed over from ${staleRun.node} to ${primary}; the returning node's copy is stopped before anything else` });
  }
  const copies = staleRun ? allCopies.filter((c) => c !== staleRun) : allCopies;
  const here = copies.find((c) => c.node === primary);
  // One running copy: every copy elsewhere that may run (a live qemu, or one whose monitor did not answer).
  const mayRunElsewhere = copies.filter((c) => c.node !== primary && MAY_RUN.has(c.vm.runState));
  if (mayRunElsewhere.length > 1 || (mayRunElsewhere.length === 1 && here !== undefined && MAY_RUN.has(here.vm.runState))) {
    const where = [...(here && MAY_RUN.has(here.vm.runState) ? [here] : []), ...mayRunElsewhere].map((c) => `${c.node} (${c.vm.runState})`).join(', ');
    out.status = 'ERROR_wrongnode';
    out.refused.push({ subject, code: 'RUNNING_TWICE', message: `${inst.name} may run on more than one node: ${where}. Gantry will not choose which copy to stop; stop the wrong ones by hand.` });
    return out;
  }
  const elsewhereAlive = mayRunElsewhere[0];
  const installedGen = Math.max(0, ...copies.map((c) => c.vm.meta?.osGeneration ?? 0));
  const start = (reason: string, gen = installedGen): Action => ({ verb: 'instance.start', node: primary, subject, name: inst.name, runDir: pNode.runDir, launch, record: record(gen), ...(pNode.ovsdbSocket ? { ovsdbSocket: pNode.ovsdbSocket } : {}), reason });
  const stop = (node: string, reason: string): Action => ({ verb: 'instance.stop', node, subject, name: inst.name, runDir: runDirOf(nodes.get(node)), timeoutS: rt.stopTimeoutS, reason });

  // Stale runtime dirs on other nodes (after a migration or a failover): no data there.
  // A stopped instance moved (a DRBD role swap) with no copy on its new primary keeps its record (OS generation, MACs)
  // where it is until it starts there: removing it would read as never installed (a reinstall, or a refusal).
  const keepRecord = here === undefined && rt.powerState !== 'running' ? copies.find((c) => c.node !== primary && c.vm.meta !== undefined && !MAY_RUN.has(c.vm.runState)) : undefined;
  if (keepRecord) out.notes.push(`its instance record stays on ${keepRecord.node} (stopped) until ${inst.name} starts on ${primary}`);
  for (const c of copies) {
    if (c.node === primary || c === elsewhereAlive || c === keepRecord || !observed.nodes.get(c.node)?.reachable) continue;
    out.actions.push(remove(c.node, `stale runtime files on ${c.node}; the instance belongs on ${primary}`));
  }

  // ---- running on the wrong node: migrate (shared storage) or refuse ----
  if (elsewhereAlive) {
    const from = elsewhereAlive.node;
    out.status = 'ERROR_wrongnode';
    out.diffs.push({ path: 'placement.primary', desired: primary, observed: from });
    if (!observed.nodes.get(from)?.reachable) return out;
    // DRBD moved to the other node of its pair: a live migration through dual-primary (plan/drbd checked both sides),
    // or, not live-migrated (wanted stopped, or migration mode non-live), Ganeti's failover: stop here, the DRBD plan
    // demotes this side and promotes the new primary, start there.
    const swap = drbdOnly(inst) && secondary === from;
    if (!sharedStorage(inst) && !swap) {
      out.refused.push({ subject, code: 'MIGRATION_NEEDS_SHARED_STORAGE', message: `${inst.name} runs on ${from} but the manifest places it on ${primary}; its ${inst.diskTemplate} disks are not reachable from ${primary}. Only sharedfile instances, and DRBD instances moving to their secondary (primary and secondary swapped), migrate.` });
      return out;
    }
    // A VM the manifest wants stopped is stopped and moved, never live-migrated (a failover).
    if (rt.migration.mode !== 'live' || statusOf(elsewhereAlive.vm) !== 'running' || rt.powerState !== 'running') {
      const halt = stop(from, `move ${from} -> ${primary} without live migration: stop on ${from}`);
      out.actions.push(halt);
      // Started on the new node only after the old copy's stop succeeded (executor: `after`).
      if (rt.powerState === 'running') out.actions.push({ ...start(`move ${from} -> ${primary}: start on ${primary} once it is stopped on ${from}`), after: [actionKey(halt)] });
      return out;
    }
    const peerAddress = pNode.secondaryAddress;
    if (!peerAddress) {
      out.refused.push({ subject, code: 'NO_SECONDARY_ADDRESS', message: `node ${primary} has no secondaryAddress to receive the migration` });
      return out;
    }
    // DRBD: only once plan/drbd found both sides Connected and UpToDate (its refusal says why not).
    if (swap && !drbdMigration) return out;
    // The destination must run the machine the source runs; spec changes restart it later.
    const sourceLaunch = (elsewhereAlive.vm.meta?.launch as unknown as InstanceLaunch | undefined) ?? launch;
    const running = swap ? onTarget(sourceLaunch, drbdMigration!) : sourceLaunch;
    out.actions.push({
      verb: 'instance.migrate', node: from, peer: primary, peerAddress, subject, name: inst.name,
      runDir: runDirOf(nodes.get(from)), peerRunDir: pNode.runDir, launch: running,
      record: { ...record(installedGen), launch: running },
      bandwidthMiBps: rt.migration.bandwidthMiBps, downtimeMs: rt.migration.downtimeMs,
      ...(pNode.ovsdbSocket ? { peerOvsdbSocket: pNode.ovsdbSocket } : {}),
      ...(swap ? { drbd: drbdMigration! } : {}),
      reason: swap
        ? `placement.primary changed ${from} -> ${primary} (DRBD secondary): live migration through dual-primary: ` +
          `check both sides Connected and UpToDate/UpToDate, allow-two-primaries on ${from} and ${primary}, promote ${drbdMigration!.map((d) => d.target.resource).join(', ')} on ${primary}, ` +
          `QEMU migrates (incoming paused on ${primary} until the switchover), demote ${drbdMigration!.map((d) => d.source.resource).join(', ')} on ${from}, clear allow-two-primaries. ` +
          `On a failure before the switchover: ${primary} demoted, allow-two-primaries cleared, the VM stays on ${from}`
        : `placement.primary changed ${from} -> ${primary}: live-migrate over the replication network`,
    });
    return out;
  }

  const status = here ? statusOf(here.vm) : undefined;
  out.status = status ?? 'ADMIN_down';

  // ---- reinstall (OS generation bump) or first install ----
  if (installedGen < rt.os.generation) {
    // Never run an OS installer over data Gantry has no record of installing: a lost
    // record (a wiped instance directory) must not turn into a reinstall of live disks.
    if (copies.length === 0 && rt.os.name !== 'none' && hooks?.disksExist(inst, primary, secondary)) {
      out.refused.push({
        subject, code: 'DISKS_WITHOUT_RECORD',
        message: `the disks of ${inst.name} already exist but no node has its instance record (${pNode.runDir}/${inst.name}/gantry.json); Gantry will not run the OS installer over existing data. Restore the record, or set spec.os.name to "none" to adopt the disks as they are.`,
      });
      return out;
    }
    out.diffs.push({ path: 'os.generation', desired: rt.os.generation, observed: installedGen || null });
    if (status === 'running' || status === 'USER_down') out.actions.push(stop(primary, `reinstall: OS generation ${installedGen} -> ${rt.os.generation} needs the VM stopped`));
    const netOf = (name?: string) => input.networks.find((n) => n.name === name);
    out.actions.push({
      verb: 'instance.install', node: primary, subject, name: inst.name, runDir: pNode.runDir,
      os: { name: rt.os.name, params: rt.os.params }, launch, record: record(rt.os.generation),
      nicInfo: nicAlloc.map((n, i) => ({ ...nicInfoOf(n, netOf(n.network)), ...(rt.nics[i]?.name !== undefined ? { name: rt.nics[i]!.name } : {}) })),
      ...diskNames(inst),
      reason: installedGen === 0 ? `install OS ${rt.os.name}` : `reinstall OS ${rt.os.name}: generation ${installedGen} -> ${rt.os.generation}`,
    });
    if (rt.powerState === 'running') out.actions.push(start('start after install', rt.os.generation));
    return out;
  }

  // ---- power state ----
  if (rt.powerState === 'stopped') {
    if (status === 'running' || status === 'USER_down') {
      out.diffs.push({ path: 'powerState', desired: 'stopped', observed: status });
      out.actions.push(stop(primary, 'powerState is stopped'));
    }
    return out;
  }
  const have = here?.vm.meta;
  const restartBump = (have?.restartGeneration ?? 0) < rt.restartGeneration;
  switch (status) {
    case undefined:
    case 'ADMIN_down':
      out.diffs.push({ path: 'powerState', desired: 'running', observed: status ?? 'not started' });
      out.actions.push(start(status ? 'powerState is running; the VM is stopped (ADMIN_down)' : 'powerState is running; the VM was never started'));
      return out;
    case 'ERROR_down': {
      out.diffs.push({ path: 'powerState', desired: 'running', observed: 'ERROR_down' });
      if (restartBump) out.diffs.push({ path: 'restartGeneration', desired: rt.restartGeneration, observed: have?.restartGeneration ?? 0 });
      const w = watcherDecision(input, inst.name, primary, rt.restartErrorDown, restartBump);
      out.watcher = w;
      if (w.decision === 'restart') out.actions.push(start(w.message));
      else out.notes.push(w.message);
      return out;
    }
    case 'USER_down':
      if (restartBump) {
        out.diffs.push({ path: 'restartGeneration', desired: rt.restartGeneration, observed: have?.restartGeneration ?? 0 });
        out.actions.push(stop(primary, 'restartGeneration bumped: power-cycle'), start('restartGeneration bumped: power-cycle'));
      } else {
        out.notes.push('the guest powered itself off (USER_down): not restarted; bump restartGeneration to start it');
      }
      return out;
    case 'running': {
      const diffs = launchDiffs(launch, runningLaunch(here?.vm));
      if (diffs.length > 0 || restartBump) {
        out.diffs.push(...diffs);
        if (restartBump) out.diffs.push({ path: 'restartGeneration', desired: rt.restartGeneration, observed: have?.restartGeneration ?? 0 });
        const why = restartBump ? 'restartGeneration bumped' : `${diffs.map((d) => d.path).join(', ')} changed; the change needs a restart`;
        out.actions.push(stop(primary, `${why}: stop`), start(`${why}: start`));
      }
      return out;
    }
    default:
      return out;
  }
}

/** A node's instance run root (drivers/qemu appends the instance name). */
export function runDirOf(n: PlanNode | undefined): string {
  return n?.runDir ?? '/var/lib/gantry/instances';
}
