import { describe, expect, it } from 'vitest';
import { alerts, CHECK_STATUS, checkBalance, checkIpPool, checkJobs, checkVerify, checkWatcher, judge, parseRange, renderCheck, ThresholdError } from './checks.js';

describe('Nagios threshold ranges', () => {
  it('given N, N:, ~:N, N:M and @N:M, it alerts as the monitoring-plugins guidelines say', () => {
    const cases: [string, number, boolean][] = [
      ['10', 10, false], ['10', 11, true], ['10', -1, true],
      ['10:', 9, true], ['10:', 10, false], ['10:', 1e9, false],
      ['~:10', -1e9, false], ['~:10', 11, true],
      ['10:20', 9, true], ['10:20', 15, false], ['10:20', 21, true],
      ['@10:20', 15, true], ['@10:20', 21, false],
    ];
    for (const [r, v, want] of cases) expect([r, v, alerts(parseRange(r), v)]).toEqual([r, v, want]);
  });

  it('given a range that is not one, it throws ThresholdError naming it', () => {
    for (const bad of ['', 'x', '1:2:3', '20:10', '@']) expect(() => parseRange(bad)).toThrow(ThresholdError);
  });

  it('given warn and crit, critical wins over warning', () => {
    const t = { warn: parseRange('20:'), crit: parseRange('10:') };
    expect([judge(t, 50), judge(t, 15), judge(t, 5)]).toEqual([CHECK_STATUS.OK, CHECK_STATUS.WARNING, CHECK_STATUS.CRITICAL]);
  });
});

describe('check output', () => {
  it('given a result, it prints one line: GANTRY NAME STATUS - text | perfdata with warn;crit;min;max, quoting odd labels and dropping trailing empty fields', () => {
    const line = renderCheck({ name: 'ippool', status: CHECK_STATUS.WARNING, text: 'a | b', perf: [{ label: 'free_min', value: 12.5, uom: '%', warn: '20:', crit: '10:', min: 0, max: 100 }, { label: "free net'1", value: 3 }] });
    expect(line).toBe("GANTRY IPPOOL WARNING - a   b | free_min=12.5%;20:;10:;0;100 'free net''1'=3");
  });
});

describe('checks over figures', () => {
  it('given verify findings, errors are CRITICAL, warnings only WARNING, none OK, with counts as perfdata', () => {
    const t = { errors: { crit: parseRange('0') }, warnings: { warn: parseRange('0') } };
    const err = checkVerify([{ severity: 'error', check: 'node-down', subject: 'Node/n2', message: 'unreachable' }, { severity: 'warning', check: 'orphan', subject: 'Node/n1', message: 'lv x' }], t);
    expect(renderCheck(err)).toBe('GANTRY VERIFY CRITICAL - 1 error(s), 1 warning(s); first: node-down Node/n2: unreachable | errors=1;;0;0 warnings=1;0;;0');
    expect(checkVerify([{ severity: 'warning', check: 'orphan', subject: 'Node/n1', message: 'lv x' }], t).status).toBe(CHECK_STATUS.WARNING);
    expect(checkVerify([], t).status).toBe(CHECK_STATUS.OK);
  });

  it('given group scores, the worst group decides and each group gets its perfdata', () => {
    const r = checkBalance([{ name: 'a', score: 0.4, moves: 0 }, { name: 'b', score: 4.2, moves: 3 }], { warn: parseRange('1'), crit: parseRange('3') });
    expect(r.status).toBe(CHECK_STATUS.CRITICAL);
    expect(r.text).toBe('group b: score 4.2, 3 move(s) would balance it');
    expect(r.perf.map((p) => p.label)).toEqual(['score_a', 'moves_a', 'score_b', 'moves_b']);
  });

  it('given pools, the lowest free share is judged', () => {
    const r = checkIpPool([{ name: 'big', total: 250, used: 10, free: 240 }, { name: 'small', total: 20, used: 19, free: 1 }], { warn: parseRange('20:'), crit: parseRange('10:') });
    expect(r.status).toBe(CHECK_STATUS.CRITICAL);
    expect(r.text).toMatch(/^lowest pool small: 1 of 20 addresses free \(5%\)/);
    expect(checkIpPool([], {}).status).toBe(CHECK_STATUS.UNKNOWN);
  });

  it('given jobs, a recent failure warns, an old one does not, a job running too long is CRITICAL', () => {
    const now = 100_000;
    const o = { sinceS: 3600, stuckS: 1800, failed: { warn: parseRange('0') } };
    expect(checkJobs([{ id: 1, summary: 'x', status: 'error', received: now - 7200, ended: now - 7100 }], now, o).status).toBe(CHECK_STATUS.OK);
    expect(checkJobs([{ id: 2, summary: 'OP_INSTANCE_STARTUP(web1)', status: 'error', received: now - 60, ended: now - 30 }], now, o)).toMatchObject({ status: CHECK_STATUS.WARNING, text: expect.stringMatching(/last failed: job 2 \(OP_INSTANCE_STARTUP\(web1\)\)/) });
    expect(checkJobs([{ id: 3, summary: 'y', status: 'running', received: now - 4000 }], now, o).status).toBe(CHECK_STATUS.CRITICAL);
  });

  it('given no recorded pass the watcher check is UNKNOWN "no watcher state"; a stale pass, a pause in force, an instance given up on warn', () => {
    const t = { warn: parseRange('900'), crit: parseRange('3600') };
    expect(checkWatcher({ givenUp: [], restarting: 0 }, 0, t)).toMatchObject({ status: CHECK_STATUS.UNKNOWN, text: expect.stringMatching(/^no watcher state/) });
    const at = '2026-01-01T00:00:00.000Z';
    const now = Date.parse(at) / 1000;
    const w = { lastPassAt: at, givenUp: [] as string[], restarting: 0 };
    expect(checkWatcher(w, now + 60, t).status).toBe(CHECK_STATUS.OK);
    expect(checkWatcher(w, now + 1000, t).status).toBe(CHECK_STATUS.WARNING);
    expect(checkWatcher(w, now + 4000, t).status).toBe(CHECK_STATUS.CRITICAL);
    const paused = checkWatcher({ ...w, pause: { until: '2026-01-01T01:00:00.000Z', since: at } }, now + 60, t);
    expect(renderCheck(paused)).toBe('GANTRY WATCHER WARNING - paused until 2026-01-01T01:00:00.000Z (since 2026-01-01T00:00:00.000Z); last reconcile pass 60 s ago (2026-01-01T00:00:00.000Z) | last_pass_age=60s;900;3600;0 paused=1;;;0;1 restarting=0;;;0 given_up=0;0;;0');
    expect(checkWatcher({ ...w, pause: { until: at, since: at } }, now + 60, t).status).toBe(CHECK_STATUS.OK); // expired
    expect(checkWatcher({ ...w, givenUp: ['web1'], restarting: 1 }, now + 60, t)).toMatchObject({ status: CHECK_STATUS.WARNING, text: expect.stringMatching(/^gave up restarting: web1;/) });
  });
});
