import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { startHeartbeat, tcpAnswers } from './heartbeat.js';

describe('the liveness heartbeat', () => {
  it('given a node that stops answering and answers again, it reports each change once and nothing while nothing changes', async () => {
    const clock = new FakeClock(0);
    let up = true;
    const changes: string[] = [];
    const stop = startHeartbeat({
      intervalMs: 5000, clock, targets: () => [{ node: 'node1', host: '198.18.0.11', port: 22 }],
      check: () => Promise.resolve(up), onChange: (n, ok) => changes.push(`${n} ${ok}`),
    });
    await clock.advance(10_000);
    expect(changes).toEqual([]);
    up = false;
    await clock.advance(5000);
    await clock.advance(10_000);
    up = true;
    await clock.advance(5000);
    stop();
    expect(changes).toEqual(['node1 false', 'node1 true']);
  });

  it('given a listening port on loopback it answers; a closed one does not', async () => {
    const srv = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    expect(await tcpAnswers('127.0.0.1', port, 2000)).toBe(true);
    await new Promise<void>((r) => srv.close(() => r()));
    expect(await tcpAnswers('127.0.0.1', port, 2000)).toBe(false);
  });
});
