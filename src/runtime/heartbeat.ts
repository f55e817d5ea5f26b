/**
 * A cheap liveness heartbeat between full passes: each node's SSH port gets a TCP connect
 * (no login, nothing run), every `intervalMs` while every node answers, and every
 * `fastIntervalMs` while some node does not. When a node that answered stops answering,
 * or one that did not answers again, `onChange` is called: the daemon then runs a full
 * pass at once, so a dead node is noticed within an interval instead of a resync period.
 * Every check that gets no answer is also reported to `onMiss`: the daemon counts it as a
 * missed probe in the next pass (observe/liveness withMissedProbes), so the grace's
 * missed probes accrue every few seconds instead of one per pass. The heartbeat decides
 * nothing: an answer makes nothing Ready (only a pass's observation does), and the grace,
 * the fencing and the failover are the passes' (observe/liveness, plan/failover).
 */
import { connect } from 'node:net';
import type { LivenessPolicy, NodeLiveness } from '../core/liveness.js';
import type { NodeOps } from '../core/node-ops.js';
import { emptyObservedNode } from '../core/observed.js';
import type { Clock, TimerHandle } from './clock.js';

export interface HeartbeatTarget {
  readonly node: string;
  readonly host: string;
  readonly port: number;
}

/** Whether a TCP connection to host:port opens within timeoutMs. */
export function tcpAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** The TCP connect timeout of a heartbeat check (default): a LAN peer's kernel answers a SYN in well under a second, even when its sshd is busy. */
export const HEARTBEAT_TIMEOUT_MS = 1000;
/** How often a node that did not answer is checked again (default). */
export const HEARTBEAT_FAST_INTERVAL_MS = 2000;

export interface HeartbeatOptions {
  readonly targets: () => readonly HeartbeatTarget[];
  /** Period while every node answers. */
  readonly intervalMs: number;
  /** Period while some node does not answer (default HEARTBEAT_FAST_INTERVAL_MS, never more than intervalMs). */
  readonly fastIntervalMs?: number;
  /** TCP connect timeout of one check (default HEARTBEAT_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  readonly clock: Clock;
  readonly onChange: (node: string, answers: boolean) => void;
  /** Each check that got no answer, with the clock's time it gave up. */
  readonly onMiss?: (node: string, at: number) => void;
  readonly check?: (t: HeartbeatTarget) => Promise<boolean>;
}

export interface Heartbeat {
  /** Whether the node's last check went unanswered (undefined: not checked yet). */
  failing(node: string): boolean | undefined;
  stop(): void;
}

/** Start beating. */
export function startHeartbeat(o: HeartbeatOptions): Heartbeat {
  const last = new Map<string, boolean>();
  const timeoutMs = o.timeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  const check = o.check ?? ((t: HeartbeatTarget) => tcpAnswers(t.host, t.port, timeoutMs));
  const fast = Math.min(o.fastIntervalMs ?? HEARTBEAT_FAST_INTERVAL_MS, o.intervalMs);
  let timer: TimerHandle | undefined;
  let stopped = false;
  const beat = async () => {
    const results = await Promise.all(o.targets().map(async (t) => [t.node, await check(t), o.clock.now()] as const));
    for (const [node, ok, at] of results) {
      const before = last.get(node);
      last.set(node, ok);
      if (stopped) continue;
      if (!ok) o.onMiss?.(node, at);
      if (before !== undefined && before !== ok) o.onChange(node, ok);
    }
    const someoneSilent = results.some(([, ok]) => !ok);
    if (!stopped) timer = o.clock.setTimeout(() => void beat(), someoneSilent ? fast : o.intervalMs);
  };
  void beat();
  return {
    failing: (node) => {
      const ok = last.get(node);
      return ok === undefined ? undefined : !ok;
    },
    stop: () => {
      stopped = true;
      if (timer !== undefined) o.clock.clearTimeout(timer);
    },
  };
}

/**
 * NodeOps whose observe, for a node the heartbeat last found silent, first checks its SSH
 * port with one TCP connect and, when that gets no answer either, reports the node
 * unreachable at once instead of waiting out an SSH handshake timeout (several seconds)
 * against a node that does not even open a connection. A node whose port answers is
 * observed as usual. Actions are never touched.
 */
export function quickProbeOps(
  ops: ReadonlyMap<string, NodeOps>,
  o: { readonly failing: (node: string) => boolean | undefined; readonly target: (node: string) => HeartbeatTarget | undefined; readonly clock: Clock; readonly timeoutMs?: number; readonly check?: (t: HeartbeatTarget) => Promise<boolean> },
): Map<string, NodeOps> {
  const timeoutMs = o.timeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  const check = o.check ?? ((t: HeartbeatTarget) => tcpAnswers(t.host, t.port, timeoutMs));
  const out = new Map<string, NodeOps>();
  for (const [name, inner] of ops) {
    out.set(name, {
      node: inner.node,
      describe: (a) => inner.describe(a),
      run: (a) => inner.run(a),
      close: () => inner.close(),
      observe: async (req) => {
        const t = o.failing(name) === true ? o.target(name) : undefined;
        if (t && !(await check(t))) {
          return emptyObservedNode(name, new Date(o.clock.now()).toISOString(), `no answer on its SSH port ${t.host}:${t.port} within ${timeoutMs} ms (TCP connect; the heartbeat found it silent too)`);
        }
        return inner.observe(req);
      },
    });
  }
  return out;
}

/**
 * When the daemon's next pass should run while some node is Unreachable: every half
 * probe interval (at least 1 s) as before, but the pass that can end a node's grace runs
 * as soon as the grace time is over, not at the next tick after it. Undefined when no node
 * is Unreachable.
 */
export function livenessPassDelayMs(liveness: Iterable<NodeLiveness>, policy: LivenessPolicy, nowMs: number, probeMs: number): number | undefined {
  const tick = Math.max(1000, Math.round(probeMs / 2));
  let delay: number | undefined;
  for (const l of liveness) {
    if (l.condition !== 'Unreachable') continue;
    const untilOver = Date.parse(l.since) + policy.graceSeconds * 1000 - nowMs;
    const d = !l.graceOver && untilOver > 0 ? Math.min(tick, untilOver + 10) : tick;
    delay = delay === undefined ? d : Math.min(delay, d);
  }
  return delay;
}
