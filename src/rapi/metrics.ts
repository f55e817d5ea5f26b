/**
 * Prometheus metrics of the remote API server (GET /metrics), computed at scrape time
 * from the snapshot the read endpoints serve (manifests + the state directory's last
 * observation) and the job queue: a scrape never reaches a node. Per node: memory, disk,
 * instances, reachable; per instance: status, CPU seconds, memory, NIC rx/tx bytes (as the
 * observe pass read them: /proc/PID/stat of its QEMU, its taps' counters); per pass: when
 * the observation was made; per job: its status and duration. What was not observed has
 * no sample (unknown is not zero).
 */
import { Gauge, Registry } from 'prom-client';
import type { ObservedCluster } from '../core/plan.js';
import type { ObservedInstance, ObservedNode } from '../core/observed.js';
import type { DesiredState } from '../desired/model.js';
import { tapName } from '../drivers/tap/tap.js';
import type { Job, JobQueue } from './jobs.js';
import type { RapiModel } from './view.js';

/** What a scrape reads: the current snapshot of the server's source. */
export interface MetricsSnapshot {
  readonly state: DesiredState;
  readonly observed?: ObservedCluster;
  /** ISO time of the observation (observed.json's observedAt). */
  readonly observedAt?: string;
  readonly model: RapiModel;
}

const MIB = 1024 * 1024;

/** The taps of an instance's NICs on a node: the names its runtime record started QEMU with, else the deterministic names. */
export function instanceTaps(vm: ObservedInstance, nicCount: number): string[] {
  const spec = vm.runtime?.spec as { nics?: { tap?: unknown }[] } | undefined;
  const recorded = Array.isArray(spec?.nics) ? spec.nics.map((n) => (typeof n.tap === 'string' ? n.tap : undefined)) : [];
  return Array.from({ length: Math.max(nicCount, recorded.length) }, (_, i) => recorded[i] ?? tapName(vm.name, i));
}

/** The node an instance's live (or last seen) copy is on, and that copy. */
function liveCopy(observed: ObservedCluster | undefined, node: string, name: string): { node: ObservedNode; vm: ObservedInstance } | undefined {
  const o = observed?.nodes.get(node);
  const vm = o?.reachable ? o.instances[name] : undefined;
  return o && vm ? { node: o, vm } : undefined;
}

const seconds = (ts: [number, number] | null): number | undefined => (ts ? ts[0] + ts[1] / 1e6 : undefined);

/**
 * A registry whose gauges are filled from `snapshot()` and `jobs` on every scrape. `extra`
 * registries (the daemon's reconcile metrics under `gantry run --serve`) are served with it.
 */
export function createRapiMetrics(o: { snapshot: () => Promise<MetricsSnapshot>; jobs: JobQueue; now?: () => number }): Registry {
  const registry = new Registry();
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const nodeReachable = g('gantry_node_reachable', '1 when the last observation reached the node, 0 when it did not.', ['node']);
  const nodeMem = g('gantry_node_memory_bytes', 'Node memory (placement model, as /2/nodes mtotal/mfree/mnode): total, free, node (used by the host).', ['node', 'kind']);
  const nodeDisk = g('gantry_node_disk_bytes', 'Node disk for instances (as /2/nodes dtotal/dfree): total, free.', ['node', 'kind']);
  const nodeInst = g('gantry_node_instances', 'Instances with this node as primary or secondary.', ['node', 'role']);
  const instStatus = g('gantry_instance_status', "1 for the instance's Ganeti status (running, ADMIN_down, ERROR_down, ...), on its primary node.", ['instance', 'node', 'status']);
  const instUp = g('gantry_instance_up', '1 when the instance runs (oper_state).', ['instance', 'node']);
  const instCpu = g('gantry_instance_cpu_seconds', 'CPU time its QEMU process used (user + system, /proc/PID/stat) at the last observation; only grows while it runs.', ['instance', 'node']);
  const instMem = g('gantry_instance_memory_bytes', 'Memory the running guest has (QMP query-memory-size-summary).', ['instance', 'node']);
  const nicRx = g('gantry_instance_nic_rx_bytes', "Bytes the NIC's tap received from the guest (the host side's rx counter) at the last observation.", ['instance', 'node', 'nic', 'tap']);
  const nicTx = g('gantry_instance_nic_tx_bytes', "Bytes the NIC's tap sent to the guest (the host side's tx counter) at the last observation.", ['instance', 'node', 'nic', 'tap']);
  const observedAt = g('gantry_observation_timestamp_seconds', 'When the reconcile pass that wrote the observation the server shows observed the nodes.', []);
  const observedAge = g('gantry_observation_age_seconds', 'Seconds since that observation.', []);
  const jobCount = g('gantry_rapi_jobs', 'Remote API jobs the server remembers, by status and opcode.', ['status', 'op']);
  const jobSeconds = g('gantry_rapi_job_duration_seconds', 'Wall time of each finished remote API job (start to end), by id.', ['id', 'op', 'status']);
  const all = [nodeReachable, nodeMem, nodeDisk, nodeInst, instStatus, instUp, instCpu, instMem, nicRx, nicTx, observedAt, observedAge, jobCount, jobSeconds];

  const fill = async (): Promise<void> => {
    for (const m of all) m.reset();
    const s = await o.snapshot();
    for (const n of s.model.nodes) {
      const node = n.name as string;
      const reach = s.observed?.nodes.get(node)?.reachable;
      if (reach !== undefined) nodeReachable.set({ node }, reach ? 1 : 0);
      for (const [kind, key] of [['total', 'mtotal'], ['free', 'mfree'], ['node', 'mnode']] as const) if (typeof n[key] === 'number') nodeMem.set({ node, kind }, (n[key] as number) * MIB);
      for (const [kind, key] of [['total', 'dtotal'], ['free', 'dfree']] as const) if (typeof n[key] === 'number') nodeDisk.set({ node, kind }, (n[key] as number) * MIB);
      nodeInst.set({ node, role: 'primary' }, n.pinst_cnt as number);
      nodeInst.set({ node, role: 'secondary' }, n.sinst_cnt as number);
    }
    for (const i of s.model.instances) {
      const instance = i.name as string;
      const node = i.pnode as string;
      instStatus.set({ instance, node, status: i.status as string }, 1);
      instUp.set({ instance, node }, i.oper_state ? 1 : 0);
      if (typeof i.oper_ram === 'number') instMem.set({ instance, node }, i.oper_ram * MIB);
      const copy = liveCopy(s.observed, node, instance);
      if (!copy) continue;
      if (copy.vm.cpuSeconds !== undefined) instCpu.set({ instance, node }, copy.vm.cpuSeconds);
      const nics = s.state.instances.get(instance)?.nics.length ?? 0;
      instanceTaps(copy.vm, nics).forEach((tap, k) => {
        const t = copy.node.taps[tap];
        const labels = { instance, node, nic: String(k), tap };
        if (t?.rxBytes !== undefined) nicRx.set(labels, t.rxBytes);
        if (t?.txBytes !== undefined) nicTx.set(labels, t.txBytes);
      });
    }
    if (s.observedAt) {
      const at = Date.parse(s.observedAt) / 1000;
      if (Number.isFinite(at)) {
        observedAt.set(at);
        observedAge.set(Math.max(0, (o.now ?? Date.now)() / 1000 - at));
      }
    }
    const counts = new Map<string, { status: string; op: string; n: number }>();
    for (const j of o.jobs.list()) {
      const op = String(j.op.OP_ID ?? 'unknown');
      const k = `${j.status}\0${op}`;
      const c = counts.get(k) ?? { status: j.status, op, n: 0 };
      c.n++;
      counts.set(k, c);
      const d = duration(j);
      if (d !== undefined) jobSeconds.set({ id: String(j.id), op, status: j.status }, d);
    }
    for (const c of counts.values()) jobCount.set({ status: c.status, op: c.op }, c.n);
  };
  // one fill per scrape, before prom-client reads the gauges
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => { await fill(); return metrics(); };
  return registry;
}

function duration(j: Job): number | undefined {
  const a = seconds(j.startTs);
  const b = seconds(j.endTs);
  return a !== undefined && b !== undefined ? Math.max(0, b - a) : undefined;
}
