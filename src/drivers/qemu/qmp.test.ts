import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildQmpStdin,
  parseBalloon,
  parseCpusFast,
  parseMemorySummary,
  parseQmpReplies,
  parseQueryBlock,
  parseQueryMigrate,
  parseQueryStatus,
  qmp,
  qmpArgv,
  replyValue,
  QmpError,
} from './qmp.js';
import { drivesOf } from './probe.js';

const golden = (f: string): string => readFileSync(new URL(`./testdata/${f}`, import.meta.url), 'utf8');

describe('QMP builders', () => {
  it('given commands, it negotiates capabilities first and writes one JSON object per line', () => {
    const stdin = buildQmpStdin([qmp.queryStatus(), qmp.migrateSetParameters({ maxBandwidthBytes: 33554432.7, downtimeLimitMs: 300 })]);
    expect(stdin.split('\n')).toEqual([
      '{"execute":"qmp_capabilities"}',
      '{"execute":"query-status"}',
      '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":33554432,"downtime-limit":300}}',
      '',
    ]);
    expect(qmpArgv('/run/g/web1')).toEqual(['socat', '-t', '2', '-', 'UNIX-CONNECT:/run/g/web1/qmp.sock']);
    expect(qmp.migrate('tcp:198.18.200.2:4444')).toEqual({ execute: 'migrate', arguments: { uri: 'tcp:198.18.200.2:4444' } });
  });
});

describe('parseQmpReplies (real QEMU 7.2 output)', () => {
  it('given the probe exchange, it skips the greeting and pairs replies with commands, errors included', () => {
    const cmds = [qmp.queryStatus(), qmp.queryCpusFast(), qmp.queryMemorySizeSummary(), qmp.queryBlock(), qmp.queryBalloon()];
    const ex = parseQmpReplies(golden('probe-running.jsonl'), cmds);
    expect(ex.version).toBe('7.2.22');
    expect(ex.unanswered).toEqual([]);
    expect(parseQueryStatus(replyValue('web1', ex, 'query-status'))).toEqual({ status: 'running', running: true });
    expect(parseCpusFast(replyValue('web1', ex, 'query-cpus-fast'))).toBe(1);
    expect(parseMemorySummary(replyValue('web1', ex, 'query-memory-size-summary'))).toBe(128);
    expect(parseQueryBlock(replyValue('web1', ex, 'query-block'))[0]).toEqual({ device: 'disk0', file: '/tmp/qt/disk.raw', format: 'raw', readOnly: false, virtualSizeBytes: 16777216 });
    expect(drivesOf(parseQueryBlock(replyValue('web1', ex, 'query-block')))).toEqual([{ drive: 'disk0', path: '/tmp/qt/disk.raw', sizeMiB: 16 }]);
    expect(() => replyValue('web1', ex, 'query-balloon')).toThrow(QmpError);
    expect(parseBalloon({ actual: 268435456 })).toBe(256);
  });

  it('given system_powerdown and quit, it reports the POWERDOWN and SHUTDOWN events', () => {
    const p = parseQmpReplies(golden('system-powerdown.jsonl'), [qmp.systemPowerdown()]);
    expect(p.replies).toEqual([{ ok: true, execute: 'system_powerdown', value: {} }]);
    expect(p.events.map((e) => e.event)).toEqual(['POWERDOWN']);
    const q = parseQmpReplies(golden('quit.jsonl'), [qmp.quit()]);
    expect(q.events[0]).toMatchObject({ event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' } });
    expect(q.events[0]?.time).toBeGreaterThan(1.7e9);
  });

  it('given a guest that powered off under -no-shutdown, query-status says shutdown', () => {
    const ex = parseQmpReplies(golden('status-after-powerdown.jsonl'), [qmp.queryStatus()]);
    expect(parseQueryStatus(replyValue('x', ex, 'query-status')).status).toBe('shutdown');
    for (const [f, s] of [['status-inmigrate.jsonl', 'inmigrate'], ['status-postmigrate.jsonl', 'postmigrate']] as const) {
      expect(parseQueryStatus(replyValue('x', parseQmpReplies(golden(f), [qmp.queryStatus()]), 'query-status')).status).toBe(s);
    }
  });

  it('given a connection cut short, the missing replies are listed as unanswered', () => {
    const ex = parseQmpReplies(golden('quit.jsonl').split('\n').slice(0, 2).join('\n') + '\n{"return": {"trunc', [qmp.quit(), qmp.queryStatus()]);
    expect(ex.unanswered).toEqual(['quit', 'query-status']);
  });

  it('given an unknown command, the error reply carries its class and description', () => {
    const ex = parseQmpReplies(golden('migrate-cancel-and-error.jsonl'), [qmp.migrateCancel(), { execute: 'bogus-command' }]);
    expect(ex.replies[1]).toEqual({ ok: false, execute: 'bogus-command', errorClass: 'CommandNotFound', desc: 'The command bogus-command has not been found' });
    expect(() => replyValue('web1', ex, 'bogus-command')).toThrow(/CommandNotFound/);
  });
});

describe('parseQueryMigrate (real QEMU 7.2 output)', () => {
  const one = (f: string, cmds = [qmp.queryMigrate()]) => parseQueryMigrate(replyValue('x', parseQmpReplies(golden(f), cmds), 'query-migrate'));

  it('given setup, active, completed and failed migrations, it reports status and RAM progress', () => {
    expect(one('migrate-start.jsonl', [qmp.migrateSetParameters({}), qmp.migrate('tcp:127.0.0.1:4444'), qmp.queryMigrate()])).toMatchObject({ status: 'setup', progress: 0 });
    const active = one('query-migrate-active.jsonl');
    expect(active).toMatchObject({ status: 'active', transferredBytes: 13430424, totalBytes: 151855104, remainingBytes: 130043904 });
    expect(active.progress).toBeCloseTo(0.1436, 3);
    expect(one('query-migrate-completed.jsonl')).toMatchObject({ status: 'completed', progress: 1, downtimeMs: 10, totalTimeMs: 2322 });
    expect(one('query-migrate-failed.jsonl')).toMatchObject({ status: 'failed', error: "Failed to connect to '127.0.0.1:4999': Connection refused" });
  });
});
