import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../transport/transport.js';
import { observedDrbd, parseProbe, probeCommands } from './probe.js';
import { Drbd9Double } from '../sim/drbd9-double.js';
import * as c9 from '../drivers/drbd/cmd9.js';
import { parseEvents2 } from '../drivers/drbd/parse-events2.js';
import { parseDrbdShow } from '../drivers/drbd/parse-show.js';
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

  it('given a DRBD 9 node (Drbd9Double, a test double: DRBD 9 cannot run here) in a resync, the probe reads per-peer states from events2, node id and quorum from show, and the progress from status --json; on 8.4 the refused status --json is no probe error', () => {
    const d = new Drbd9Double(['n1', 'n2'], { syncStepPercent: 25 });
    const A = { host: '198.18.1.1', port: 11000 }, B = { host: '198.18.1.2', port: 11000 };
    const run = (n: string, argv: string[]) => expect(d.exec(n, argv).code).toBe(0);
    for (const [n, id, self, peer, pid] of [['n1', 0, A, B, 1], ['n2', 1, B, A, 0]] as const) {
      run(n, c9.createMdCmd(0, `/dev/vg/${n}.meta`, 3));
      run(n, c9.newResourceCmd('resource0', id));
      run(n, c9.newMinorCmd('resource0', 0));
      run(n, c9.newPeerCmd('resource0', { nodeId: pid, name: n === 'n1' ? 'n2' : 'n1' }));
      run(n, c9.newPathCmd('resource0', pid, self, peer));
      run(n, c9.attach9Cmd({ minor: 0, dataDev: `/dev/vg/${n}.data`, metaDev: `/dev/vg/${n}.meta`, sizeMiB: 1024 }));
      run(n, c9.connectCmd('resource0', pid));
    }
    run('n1', c9.forcePrimaryForInitialSyncCmd('resource0'));
    const req = { sysctls: [], fileDirs: [], drbd: true };
    const cmds = probeCommands(req);
    expect(cmds.slice(-4)).toEqual([['drbdsetup', 'status', '--json', 'all'], ['drbdsetup', 'events2', '--now', 'all'], ['cat', '/proc/drbd'], ['drbdsetup', 'show']]);
    const results = cmds.map((argv, i) => (i >= cmds.length - 4 ? d.exec('n1', argv) : { argv, code: 0, stdout: '', stderr: '', durationMs: 1 }));
    const node = parseProbe('n1', req, results, 't');
    expect(node.drbd!.version).toBe('9.2.8');
    expect(node.drbd!.devices['0']).toMatchObject({ role: 'Primary', disk: 'UpToDate', nodeId: 0, quorum: true, peers: [{ nodeId: 1, name: 'n2', connection: 'Connected', replication: 'SyncSource', disk: 'Inconsistent', sync: { percent: 25, speedKiBps: 61440 } }] });
    expect(node.probeErrors.filter((e) => e.startsWith('drbd'))).toEqual([]);
    // An 8.4 node: drbdsetup-84 refuses --json (testdata/v84/status-json-unsupported.txt): tolerated, nothing else changes.
    const v84 = cmds.map((argv, i) => {
      const k = i - (cmds.length - 4);
      const stdout = k === 1 ? golden('v84/events2-uptodate.txt') : k === 2 ? golden('v84/proc-uptodate.txt') : k === 3 ? golden('v84/show-uptodate.txt') : '';
      return k === 0 ? { argv, code: 20, stdout: '', stderr: "status: unrecognized option '--json'", durationMs: 1 } : { argv, code: 0, stdout, stderr: '', durationMs: 1 };
    });
    const n84 = parseProbe('n1', req, v84, 't');
    expect(Object.keys(n84.drbd!.devices)).toEqual(['0', '1']);
    expect(n84.probeErrors.filter((e) => e.startsWith('drbd'))).toEqual([]);
  });

  // Captured in the one-VM capture (testdata README, gen-relink.ts): resource0 linked to 127.0.0.3, where nobody listens.
  it('given the real show of a device linked to another peer, each device reports its link\'s endpoints as show printed them; without show, no link (unknown)', () => {
    const show = (name: string) => observedDrbd(withProcProgress(parseEvents2(golden('v84/events2-wrong-peer.txt')), parseProcDrbd(golden('v84/proc-wrong-peer.txt')).devices), parseDrbdShow(golden(`v84/${name}.txt`)));
    const wrong = show('show-wrong-peer');
    expect(wrong.devices['0']!.link).toEqual({ local: { host: '127.0.0.1', port: 7788 }, remote: { host: '127.0.0.3', port: 7790 } });
    expect(wrong.devices['1']!.link).toEqual({ local: { host: '127.0.0.2', port: 7789 }, remote: { host: '127.0.0.1', port: 7788 } });
    expect(show('show-relinked').devices['0']!.link).toEqual({ local: { host: '127.0.0.1', port: 7788 }, remote: { host: '127.0.0.2', port: 7789 } });
    expect(snap('uptodate').devices['0']!.link).toBeUndefined();
    // no network config (StandAlone after a detach): no link
    expect(observedDrbd(parseEvents2(golden('v84/events2-detached.txt')), parseDrbdShow(golden('v84/show-detached.txt'))).devices['1']?.link).toBeUndefined();
  });
});
