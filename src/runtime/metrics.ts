import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReconcileReport } from './controller.js';
import { NODE_CONDITIONS, type NodeLiveness } from '../core/liveness.js';

/**
 * Runtime metrics on a registry of our own (never prom-client's global one), so several
 * daemons or tests in one process do not collide on metric names.
 */
export interface RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'result'>;
  readonly reconcileDuration: Histogram<'result'>;
  readonly queueDepth: Gauge;
  /** 1 for each node's current condition, 0 for the others (Ready, Unreachable, Offline, Dead). */
  readonly nodeCondition: Gauge<'node' | 'condition'>;
  readonly nodeMissedProbes: Gauge<'node'>;
  observe(r: ReconcileReport): void;
  observeLiveness(liveness: ReadonlyMap<string, NodeLiveness>): void;
}

export function createRuntimeMetrics(registry: Registry = new Registry()): RuntimeMetrics {
  const reconcileTotal = new Counter({
    name: 'gantry_reconcile_total',
    help: 'Reconciles by result (success, requeue_after, error, terminal).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const reconcileDuration = new Histogram({
    name: 'gantry_reconcile_duration_seconds',
    help: 'Wall time of one reconcile.',
    labelNames: ['result'] as const,
    // From a no-op pass to a long disk creation on a slow node.
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'gantry_workqueue_depth',
    help: 'Keys ready and waiting for a worker.',
    registers: [registry],
  });
  const nodeCondition = new Gauge({
    name: 'gantry_node_condition',
    help: 'Node liveness: 1 for the node\'s condition in the last pass (Ready, Unreachable, Offline, Dead), 0 for the others.',
    labelNames: ['node', 'condition'] as const,
    registers: [registry],
  });
  const nodeMissedProbes = new Gauge({
    name: 'gantry_node_missed_probes',
    help: 'Probes a node missed in a row (0 when it answered).',
    labelNames: ['node'] as const,
    registers: [registry],
  });
  return {
    registry,
    reconcileTotal,
    reconcileDuration,
    queueDepth,
    nodeCondition,
    nodeMissedProbes,
    observeLiveness(liveness) {
      // Nodes no longer declared drop out of the metrics.
      nodeCondition.reset();
      nodeMissedProbes.reset();
      for (const l of liveness.values()) {
        for (const c of NODE_CONDITIONS) nodeCondition.set({ node: l.node, condition: c }, l.condition === c ? 1 : 0);
        nodeMissedProbes.set({ node: l.node }, l.missedProbes);
      }
    },
    observe(r) {
      reconcileTotal.inc({ result: r.result });
      reconcileDuration.observe({ result: r.result }, r.durationMs / 1000);
    },
  };
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serve `GET /metrics` on 127.0.0.1 only: metrics name nodes and instances. Port 0 picks one. */
export async function startMetricsServer(registry: Registry, port: number, host = '127.0.0.1'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
