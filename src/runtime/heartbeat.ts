/**
 * A cheap liveness heartbeat between full passes: every interval, each node's SSH port
 * gets a TCP connect (no login, nothing run). When a node that answered stops answering,
 * or one that did not answers again, `onChange` is called: the daemon then runs a full
 * pass at once, so a dead node is noticed within an interval instead of a resync period.
 * The heartbeat decides nothing: liveness is counted by the passes (observe/liveness).
 */
import { connect } from 'node:net';
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

export interface HeartbeatOptions {
  readonly targets: () => readonly HeartbeatTarget[];
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly onChange: (node: string, answers: boolean) => void;
  readonly check?: (t: HeartbeatTarget) => Promise<boolean>;
}

/** Start beating; returns a stop function. */
export function startHeartbeat(o: HeartbeatOptions): () => void {
  const last = new Map<string, boolean>();
  const check = o.check ?? ((t: HeartbeatTarget) => tcpAnswers(t.host, t.port, Math.max(500, Math.min(2000, o.intervalMs / 2))));
  let timer: TimerHandle | undefined;
  let stopped = false;
  const beat = async () => {
    const results = await Promise.all(o.targets().map(async (t) => [t.node, await check(t)] as const));
    for (const [node, ok] of results) {
      const before = last.get(node);
      last.set(node, ok);
      if (before !== undefined && before !== ok && !stopped) o.onChange(node, ok);
    }
    if (!stopped) timer = o.clock.setTimeout(() => void beat(), o.intervalMs);
  };
  void beat();
  return () => {
    stopped = true;
    if (timer !== undefined) o.clock.clearTimeout(timer);
  };
}
