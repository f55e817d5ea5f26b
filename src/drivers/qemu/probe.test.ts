import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isAdminStopped, mapRunState, parseInstances, parseProcStatCpu, parseProbeFrames, probeInstancesArgv, probeInstancesCommands } from './probe.js';

const golden = readFileSync(new URL('./testdata/probe-four-instances.txt', import.meta.url), 'utf8');

describe('probe argv', () => {
  it('given a run root, it is one sh command with data only in positional arguments', () => {
    const cmds = probeInstancesCommands('/run/gantry/node1/');
    expect(cmds).toHaveLength(1);
    const argv = cmds[0]!;
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).not.toContain('/run/gantry');
    expect(argv.slice(3, 5)).toEqual(['gantry-qemu-probe', '/run/gantry/node1']);
    expect(argv[5]).toContain('{"execute":"query-status"}');
    expect(probeInstancesArgv('/r', { instances: ['web1'], qmp: false }).slice(4)).toEqual(['/r', '', 'web1']);
    expect(() => probeInstancesArgv('/r', { instances: ['$(reboot)'] })).toThrow(/valid host name/);
  });
});

describe('parseInstances (real probe output)', () => {
  const seen = parseInstances(golden);

  it('given a running guest, it reports QMP runstate, vcpus, memory, pid and the meta record', () => {
    expect(seen.web1).toMatchObject({ runState: 'running', guestShutdown: false, vcpus: 1, memoryMiB: 128, pid: 4080, adminStopped: false });
    expect(seen.web1?.runtime).toMatchObject({ instance: 'web1', specHash: '87ce98a9a6ff7342' });
    expect(seen.web1?.meta).toMatchObject({ version: 1, os: 'busybox+default', osGeneration: 1 });
  });

  it('given a guest that powered itself off, it is shutdown with guestShutdown (USER_down)', () => {
    expect(seen.off1).toMatchObject({ runState: 'shutdown', guestShutdown: true, adminStopped: false });
  });

  it('given Gantry stopped one and another was SIGKILLed, both are stopped but only one is admin-stopped', () => {
    expect(seen.db1).toMatchObject({ runState: 'stopped', adminStopped: true });
    expect(isAdminStopped(seen.db1!)).toBe(true);
    expect(seen.crash1).toMatchObject({ runState: 'stopped', adminStopped: false, guestShutdown: false });
    expect(seen.crash1?.pid).toBeUndefined();
    expect(seen.crash1?.runtime).toMatchObject({ instance: 'crash1' });
    expect(Object.keys(seen).sort()).toEqual(['crash1', 'db1', 'off1', 'web1']);
  });

  it('given a live qemu whose monitor did not answer, it is unknown; garbage runtime is kept for the report', () => {
    const out = parseInstances('@@gantry-qemu instance x\n@@gantry-qemu pid 42 1\n@@gantry-qemu runtime\n{not json\n@@gantry-qemu qmp\nsocat: connect failed\n@@gantry-qemu end\n');
    expect(out.x).toMatchObject({ runState: 'unknown', pid: 42, runtime: { unreadable: '{not json' } });
    expect(parseProbeFrames('')).toEqual([]);
  });

  it('maps every QEMU runstate family', () => {
    expect(['running', 'paused', 'shutdown', 'inmigrate', 'finish-migrate', 'guest-panicked', 'colo'].map(mapRunState)).toEqual([
      'running', 'paused', 'shutdown', 'inmigrate', 'postmigrate', 'crashed', 'unknown',
    ]);
  });
});

describe('CPU seconds from /proc/PID/stat (real probe output)', () => {
  it('given a live process that counted for 2.7 s, it reads utime + stime over CLK_TCK', () => {
    const out = parseInstances(readFileSync(new URL('./testdata/probe-cpu-busy.txt', import.meta.url), 'utf8'));
    expect(out.web1).toMatchObject({ pid: 31664, cpuSeconds: 2.7 });
  });

  it('given a short or garbled stat line, or no tick rate, it reads nothing', () => {
    expect(parseProcStatCpu(100, 'S 1 2 3')).toBeUndefined();
    expect(parseProcStatCpu(0, 'R 1 2 3 0 -1 4 132 0 0 0 267 3 0 0')).toBeUndefined();
    expect(parseProcStatCpu(250, 'R 1 2 3 0 -1 4 132 0 0 0 500 250 0 0')).toBe(3);
    expect(parseInstances(golden).web1?.cpuSeconds).toBeUndefined();
  });
});
