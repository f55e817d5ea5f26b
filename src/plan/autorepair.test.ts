import { describe, expect, it } from 'vitest';
import { instancePolicy, nextRepairRecords, repairDecision, scopePolicy } from './autorepair.js';
import type { AutoRepairDecision, PlanInput, PlanInstance, PlanNode, RepairRecord } from '../core/plan.js';

const NOW = '2026-11-28T12:00:00.000Z';
const nowS = Date.parse(NOW) / 1000;
const T = (t: string) => `ganeti:watcher:autorepair:${t}`;
const node = (name: string, group: string): PlanNode => ({ name, group, role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`, profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [], sysctls: {} } });
const inst = (name: string, tags: string[] = [], extra: Partial<PlanInstance> = {}): PlanInstance => ({ name, state: 'present', deleteDisks: false, diskTemplate: 'sharedfile', primary: 'n1', memoryMiB: 128, vcpus: 1, tags, disks: [], ...extra });
const input = (clusterTags: string[], groupTags: Record<string, string[]> = {}, repairs?: Map<string, RepairRecord>): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [], autoRepair: { maxAttempts: 3, tags: clusterTags, groupTags: new Map(Object.entries(groupTags)) } },
  nodes: [node('n1', 'g1'), node('n2', 'g2')], networks: [], instances: [], now: NOW, ...(repairs ? { repairs } : {}),
});
const can = () => undefined;

describe('auto-repair policy (harep tags)', () => {
  it('given several types on one object, the least invasive wins; unknown types are ignored; no tag says nothing', () => {
    expect(scopePolicy([T('reinstall'), T('failover'), 'other'], undefined)).toEqual({ suspended: false, allowed: 'failover' });
    expect(scopePolicy([T('reinstall')], undefined, 'migrate')).toEqual({ suspended: false, allowed: 'migrate' });
    expect(scopePolicy([T('everything')], undefined)).toBeUndefined();
    expect(scopePolicy([], undefined)).toBeUndefined();
  });

  it('given suspend tags, a bare one (or one with an empty time) suspends for good, a future time until then, a past one not at all', () => {
    const now = Date.parse(NOW);
    expect(scopePolicy([T('failover'), T('suspend')], now)).toEqual({ suspended: true });
    expect(scopePolicy([T('suspend:')], now)).toEqual({ suspended: true });
    expect(scopePolicy([T('failover'), T(`suspend:${nowS + 60}`), T(`suspend:${nowS + 3600}`)], now)).toEqual({ suspended: true, until: new Date((nowS + 3600) * 1000).toISOString() });
    expect(scopePolicy([T('failover'), T(`suspend:${nowS - 60}`)], now)).toEqual({ suspended: false, allowed: 'failover' });
  });

  it("given harep's own example (I1 tagged failover, the cluster fix-storage and reinstall), I1 may fail over and I2 only fix storage; a node group's tags override the cluster's, the instance's override both", () => {
    const i = input([T('fix-storage'), T('reinstall')], { g2: [T('reinstall')] });
    expect(instancePolicy(i, inst('I1', [T('failover')]))).toEqual({ policy: { suspended: false, allowed: 'failover' }, scope: 'instance' });
    expect(instancePolicy(i, inst('I2'))).toEqual({ policy: { suspended: false, allowed: 'fix-storage' }, scope: 'cluster' });
    expect(instancePolicy(i, inst('I3', [], { primary: 'n2' }))).toEqual({ policy: { suspended: false, allowed: 'reinstall' }, scope: 'group' });
    expect(instancePolicy(i, inst('I4', [], { repair: 'migrate' }))).toEqual({ policy: { suspended: false, allowed: 'migrate' }, scope: 'instance' });
    // A suspend on the node group holds what the cluster enabled.
    expect(instancePolicy(input([T('failover')], { g1: [T('suspend')] }), inst('I5')).policy).toEqual({ suspended: true });
    expect(instancePolicy(input([]), inst('I6'))).toEqual({});
  });
});

describe('auto-repair decisions', () => {
  const why = 'n1 is Dead (power off confirmed)';
  it('given an instance that needs failover, it is made when allowed, refused below, held while suspended, and nothing is said without a policy', () => {
    expect(repairDecision(input([T('failover')]), inst('a'), 'failover', 'n1', why, can)).toMatchObject({ decision: 'repair', allowed: 'failover', scope: 'cluster', attempts: 0, max: 3, message: `${why}: failover (allowed up to failover by the cluster's tags), try 1 of 3` });
    expect(repairDecision(input([T('migrate')]), inst('a'), 'failover', 'n1', why, can)).toMatchObject({ decision: 'not-allowed', message: expect.stringMatching(/needs failover; the cluster's tags allow only up to migrate/) });
    expect(repairDecision(input([T('failover'), T('suspend')]), inst('a'), 'failover', 'n1', why, can)).toMatchObject({ decision: 'suspended' });
    expect(repairDecision(input([]), inst('a'), 'failover', 'n1', why, can)).toBeUndefined();
  });

  it('given a repair Gantry cannot make, it is unavailable with the reason; a reinstall is marked as data loss', () => {
    const d = repairDecision(input([T('reinstall')]), inst('a', [], { diskTemplate: 'plain' }), 'reinstall', 'n1', why, (t) => (t === 'reinstall' ? 'not yet' : undefined));
    expect(d).toMatchObject({ decision: 'unavailable', dataLoss: true, message: `${why}: needs reinstall, allowed, but not yet` });
  });

  it('given maxAttempts failures of the same repair in a row, it gives up and says so; a success resets the count; an instance that needs no repair any more starts over', () => {
    const failed = (attempts: number): RepairRecord => ({ type: 'failover', attempts, last: NOW, result: 'failure', message: 'instance.start on n2: E: no' });
    const gave = repairDecision(input([T('failover')], {}, new Map([['a', failed(3)]])), inst('a'), 'failover', 'n1', why, can);
    expect(gave).toMatchObject({ decision: 'gave-up', attempts: 3, message: expect.stringMatching(/failover failed 3 times in a row \(Cluster spec.autoRepair.maxAttempts 3; last: instance.start on n2: E: no\): auto-repair gave up/) });
    const d = repairDecision(input([T('failover')], {}, new Map([['a', failed(1)]])), inst('a'), 'failover', 'n1', why, can) as AutoRepairDecision;
    expect(d).toMatchObject({ decision: 'repair', attempts: 1 });
    const declared = new Set(['a', 'b']);
    const fail = nextRepairRecords(new Map([['a', failed(1)]]), [d], () => ({ result: 'failure', message: 'again' }), declared, 'T2');
    expect(fail.get('a')).toEqual({ type: 'failover', attempts: 2, last: 'T2', result: 'failure', message: 'again' });
    const ok = nextRepairRecords(fail, [d], () => ({ result: 'success', message: 'failover: n1 -> n2' }), declared, 'T3');
    expect(ok.get('a')).toEqual({ type: 'failover', attempts: 0, last: 'T3', result: 'success', message: 'failover: n1 -> n2' });
    expect(nextRepairRecords(fail, [d], () => undefined, declared, 'T3').get('a')).toEqual(fail.get('a')); // not finished: not counted
    expect(nextRepairRecords(fail, [], () => undefined, declared, 'T4').get('a')).toMatchObject({ attempts: 0, result: 'failure' });
    expect(nextRepairRecords(fail, [], () => undefined, new Set(['b']), 'T4').size).toBe(0); // undeclared: dropped
  });
});
