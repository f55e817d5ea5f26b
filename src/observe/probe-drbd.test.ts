import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../transport/transport.js';
import { observedDrbd, parseProbe, probeCommands } from './probe.js';
import { parseEvents2 } from '../drivers/drbd/parse-events2.js';
import { parseProcDrbd } from '../drivers/drbd/parse-proc.js';
import { withProcProgress } from '../drivers/drbd/state.js';
import { golden } from '../drivers/drbd/testdata/golden.js';

const snap = (name: string) => observedDrbd(withProcProgress(parseEvents2(golden(`v84/events2-${name}.txt`)), parseProcDrbd(golden(`v84/proc-${name}.txt`)).devices));

describe('DRBD in the node probe (real 8.4.11 captures)', () => {
  it('given a resync, it reports role, disk, peer and the sync percent, speed and ETA /proc/drbd printed', () => {
    expect(snap('syncing').devices['0']).toEqual({
      minor: 0, resource: 'resource0', role: 'Primary', disk: 'UpToDate',
      peer: { connection: 'Connected', replication: 'SyncSource', role: 'Secondary', disk: 'Inconsistent', sync: { percent: 31.2, speedKiBps: 17664, etaSec: 9 } },
    });
  });

  it('given a detached minor and a disconnect, it reports Diskless and StandAlone', () => {
    expect(snap('detached').devices['1']).toMatchObject({ disk: 'Diskless', peer: { connection: 'StandAlone' } });
    expect(snap('split-brain').devices['0']).toMatchObject({ disk: 'UpToDate', peer: { connection: 'StandAlone', role: 'Unknown' } });
  });

  it('given DRBD asked for, it reads events2, /proc/drbd and drbdsetup show in the same batch; a failed read leaves drbd unknown (undefined) with a probe error, never empty', () => {
    const req = { sysctls: [], fileDirs: [], drbd: true };
    const cmds = probeCommands(req);
    expect(cmds.slice(-3)).toEqual([['drbdsetup', 'events2', '--now', 'all'], ['cat', '/proc/drbd'], ['drbdsetup', 'show']]);
    const ok = (argv: readonly string[], stdout = ''): ExecResult => ({ argv, code: 0, stdout, stderr: '', durationMs: 1 });
    const results = cmds.map((c) => ok(c));
    results[results.length - 3] = ok(cmds[cmds.length - 3]!, golden('v84/events2-uptodate.txt'));
    results[results.length - 2] = ok(cmds[cmds.length - 2]!, golden('v84/proc-uptodate.txt'));
    results[results.length - 1] = ok(cmds[cmds.length - 1]!, golden('v84/show-uptodate.txt'));
    expect(Object.keys(parseProbe('n1', req, results, 't').drbd!.devices)).toEqual(['0', '1']);
    expect(parseProbe('n1', req, results, 't').drbd!.version).toBe('8.4.11');
    const v9 = [...results];
    v9[v9.length - 2] = ok(cmds[cmds.length - 2]!, golden('v9/proc-drbd.txt'));
    expect(parseProbe('n1', req, v9, 't').drbd!.version).toBe('9.2.8');
    results[results.length - 2] = { argv: ['cat', '/proc/drbd'], code: 1, stdout: '', stderr: 'cat: /proc/drbd: No such file or directory', durationMs: 1 };
    const failed = parseProbe('n1', req, results, 't');
    expect(failed.drbd).toBeUndefined();
    expect(failed.probeErrors.join('\n')).toMatch(/drbdEvents: cat exited 1/);
    expect(probeCommands({ sysctls: [], fileDirs: [] }).flat()).not.toContain('events2');
  });

  // Captured from the VM lab, DRBD 8.4.11: both ends during the live-migration role switch.
  it('given the real show of a link with allow-two-primaries set (VM lab), the device reports it; the single-primary pair reports false; a failed show leaves it unknown and the rest stands', () => {
    const req = { sysctls: [], fileDirs: [], drbd: true };
    const cmds = probeCommands(req);
    const at = (events: string, proc: string, show: ExecResult['stdout'], showCode = 0): ExecResult[] => cmds.map((argv, i) => {
      const k = i - (cmds.length - 3);
      const stdout = k === 0 ? golden(`v84/events2-${events}.txt`) : k === 1 ? golden(`v84/proc-${proc}.txt`) : k === 2 ? show : '';
      return { argv, code: k === 2 ? showCode : 0, stdout, stderr: k === 2 && showCode ? 'drbdsetup: exec failed' : '', durationMs: 1 };
    });
    expect(parseProbe('n2', req, at('dual-primary-peer', 'dual-primary-peer', golden('v84/show-dual-primary-peer.txt')), 't').drbd!.devices['0'])
      .toMatchObject({ role: 'Primary', allowTwoPrimaries: true, peer: { connection: 'Connected', role: 'Primary', disk: 'UpToDate' } });
    expect(Object.values(parseProbe('n1', req, at('uptodate', 'uptodate', golden('v84/show-uptodate.txt')), 't').drbd!.devices).map((d) => d.allowTwoPrimaries)).toEqual([false, false]);
    // the sync options show prints per minor (non-defaults only), for the planner's drift check
    expect(Object.values(parseProbe('n1', req, at('uptodate', 'uptodate', golden('v84/show-uptodate.txt')), 't').drbd!.devices).map((d) => d.diskOptions?.['resync-rate'])).toEqual([undefined, '8192k']);
    const failed = parseProbe('n1', req, at('uptodate', 'uptodate', '', 1), 't');
    expect(Object.values(failed.drbd!.devices).map((d) => [d.role, d.allowTwoPrimaries, d.diskOptions])).toEqual([['Primary', undefined, undefined], ['Secondary', undefined, undefined]]);
    expect(failed.probeErrors.join('\n')).toMatch(/drbdShow: drbdsetup exited 1/);
  });
});
