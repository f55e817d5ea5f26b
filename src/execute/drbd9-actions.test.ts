import { describe, expect, it } from 'vitest';
import type { Action, DrbdMigrationDisk } from '../core/actions.js';
import { emptyObservedNode, type ObservedLv, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanInput, PlanInstance, PlanNode } from '../core/plan.js';
import { events2NowCmd, procDrbdCmd, showAllCmd } from '../drivers/drbd/cmd84.js';
import { statusJsonCmd } from '../drivers/drbd/cmd9.js';
import { observedDrbdFromReads } from '../observe/probe.js';
import { plan, planIncremental } from '../plan/plan.js';
import type { PlanCache } from '../plan/plan-cache.js';
import { Drbd9Double } from '../sim/drbd9-double.js';
import { createLogger } from '../util/log.js';
import { ShellNodeOps } from './shell-node-ops.js';
import { executePlan } from './executor.js';
import { migrateWithDualPrimary } from './drbd-migration.js';
import { parseDrbdShow } from '../drivers/drbd/parse-show.js';
import type { ActionResult, NodeOps } from '../core/node-ops.js';

/**
 * The planner and the DRBD 9 executor (drbd-actions -> drivers/drbd/ops9) against
 * Drbd9Double, A TEST DOUBLE of DRBD 9 (the out-of-tree module cannot run on this machine;
 * nothing here ran on a real DRBD 9). Each pass: observe (the probe's own DRBD parsing of
 * the double's events2 / proc / show answers), plan, run the drbd.* actions through
 * ShellNodeOps over the double's transports. LVs are a ledger kept by this test (lv.create
 * adds, lv.remove drops: LVM itself is tested elsewhere); instance actions are not run.
 */
const logger = createLogger({ level: 'silent' });
const NODES = ['n1', 'n2', 'n3'];
const node = (name: string, ip: string): PlanNode => ({
  name, group: 'default', role: 'regular', runDir: `/run/${name}`, fileStorageDir: `/srv/${name}`, address: ip, secondaryAddress: ip,
  profile: { bridges: [], ovsBridges: [], vxlans: [], volumeGroups: [{ name: 'vg0', pvs: ['/dev/sdb'] }], sysctls: {} },
});
const db = (over: Partial<PlanInstance> = {}): PlanInstance => ({
  name: 'db1', state: 'present', deleteDisks: false, diskTemplate: 'drbd', primary: 'n1', secondary: 'n2', memoryMiB: 128, vcpus: 1, tags: [],
  disks: [{ index: 0, sizeMiB: 1024, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'present' }], ...over,
});
const input = (i: PlanInstance): PlanInput => ({
  cluster: { name: 'c', macPrefix: 'aa:00:00', sharedFileStorageDir: '/srv/shared', removeOrphans: false, exclusionTags: [], drbd: { portStart: 11000, portEnd: 11010, minorCount: 8 } },
  networks: [], nodes: NODES.map((n, i) => node(n, `198.18.1.${i + 1}`)), instances: [i],
});
const short = (a: Action) => `${a.verb}@${a.node}`;

class Rig {
  readonly d = new Drbd9Double(NODES, { syncStepPercent: 50 });
  readonly lvs = new Map<string, Record<string, ObservedLv>>(NODES.map((n) => [n, {}]));
  readonly ran: string[] = [];
  /** Free MiB in vg0 per node (default 90,000). */
  readonly free = new Map<string, number>();
  /** Called after each action ran (the no-gap assertions). */
  onStep: (a: Action) => void = () => {};

  observe(): ObservedCluster {
    const nodes = new Map<string, ObservedNode>();
    for (const n of NODES) {
      const t = (argv: string[]) => this.d.exec(n, argv).stdout;
      let up = true;
      try { this.d.exec(n, procDrbdCmd()); } catch { up = false; }
      const base = emptyObservedNode(n, '2026-11-29T14:00:00Z', up ? undefined : 'powered off');
      nodes.set(n, up ? { ...base, vgs: { vg0: { name: 'vg0', sizeMiB: 100_000, freeMiB: this.free.get(n) ?? 90_000, pvs: ['/dev/sdb'] } }, lvs: this.lvs.get(n)!, drbd: observedDrbdFromReads(t(events2NowCmd()), t(procDrbdCmd()), t(showAllCmd()), t(statusJsonCmd())) } : base);
    }
    return { nodes };
  }

  /** One pass: observe, plan, and the real executor (waves, `after` honoured) over NodeOps that send drbd.* to the double. */
  private cache: PlanCache | undefined;
  lastReused = 0;
  /** Passes whose incremental plan (plan/plan-cache: reuse by tracked reads) differed from the full plan. */
  readonly cacheMisses: string[] = [];

  async pass(i: PlanInstance, inp: PlanInput = input(i), extra: Partial<ObservedCluster> = {}): Promise<{ actions: string[]; failed: string[]; refused: string[] }> {
    const obs = { ...this.observe(), ...extra };
    const p = plan(inp, obs);
    // The incremental planner must see every DRBD 9 read (node ids, per-peer states, versions) as tracked: same plan.
    const inc = planIncremental(inp, obs, this.cache);
    this.cache = inc.cache;
    this.lastReused = inc.stats.reused;
    if (JSON.stringify(inc.plan) !== JSON.stringify(p)) this.cacheMisses.push(`pass ${this.cacheMisses.length}: ${p.actions.map(short).join(', ')} vs ${inc.plan.actions.map(short).join(', ')}`);
    const ops = new Map<string, NodeOps>(NODES.map((n) => [n, this.opsFor(n)]));
    const report = await executePlan(p, ops, { logger, retries: 0 });
    const failed = [...report.results.filter((r) => !r.ok).map((r) => `${short(r.action)} ${r.error?.code}: ${r.error?.message}`), ...report.skipped.map((s) => `${short(s.action)} skipped: ${s.because}`)];
    return { actions: p.actions.map(short), failed, refused: p.refused.map((r) => `${r.code}: ${r.message}`) };
  }

  private opsFor(n: string): NodeOps {
    const shell = new ShellNodeOps({ node: n, transport: this.d.transport(n), logger, drbdWait: { sleep: async () => {}, intervalMs: 1000 } });
    const done = (action: Action): ActionResult => ({ action, ok: true, unchanged: false, commands: [], durationMs: 0 });
    return {
      node: n, observe: () => Promise.reject(new Error('not used')), describe: (a) => shell.describe(a), close: async () => {},
      run: async (a) => {
        let r: ActionResult;
        if (a.verb === 'lv.create') { this.lvs.get(a.node)![`${a.vg}/${a.name}`] = { vg: a.vg, name: a.name, sizeMiB: a.sizeMiB, tags: a.tags ?? [] }; r = done(a); }
        else if (a.verb === 'lv.remove') { delete this.lvs.get(a.node)![`${a.vg}/${a.name}`]; r = done(a); }
        else if (a.verb === 'lv.extend') { const k = `${a.vg}/${a.name}`; this.lvs.get(a.node)![k] = { ...this.lvs.get(a.node)![k]!, sizeMiB: a.sizeMiB }; r = done(a); }
        else if (a.verb.startsWith('drbd.')) r = await shell.run(a);
        else return done(a); // instance actions: not modelled here
        if (r.ok) { this.ran.push(short(a)); this.onStep(a); }
        return r;
      },
    };
  }

  async converge(i: PlanInstance, passes = 4): Promise<string[]> {
    const failed: string[] = [];
    for (let k = 0; k < passes; k++) failed.push(...(await this.pass(i)).failed);
    return failed;
  }

  resourceOn(n: string): string {
    const tag = Object.values(this.lvs.get(n)!).flatMap((lv) => lv.tags).find((t) => t.startsWith('gantry-drbd-minor='));
    return `resource${tag!.split('=')[1]}`;
  }
}

describe('DRBD 9 through planner and executor, on Drbd9Double (a test double: DRBD 9 cannot run here)', () => {
  it('given two DRBD 9 nodes and a new instance, it creates v09 metadata, brings both replicas up with node ids 0/1 recorded on the LVs, syncs, promotes the primary; the next pass plans nothing', async () => {
    const rig = new Rig();
    const first = plan(input(db()), rig.observe());
    expect(first.refused).toEqual([]);
    const ups = first.actions.filter((a) => a.verb === 'drbd.up');
    expect(ups.map((a) => a.verb === 'drbd.up' && [a.node, a.v9?.nodeId, a.v9?.peers.map((p) => `${p.node}:${p.nodeId}`), a.v9?.quorum])).toEqual([['n1', 0, ['n2:1'], 'off'], ['n2', 1, ['n1:0'], 'off']]);
    expect(first.actions.filter((a) => a.verb === 'drbd.create-md').map((a) => a.verb === 'drbd.create-md' && a.maxPeers)).toEqual([3, 3]);
    expect(first.actions.filter((a) => a.verb === 'lv.create').map((a) => a.verb === 'lv.create' && a.tags?.find((t) => t.startsWith('gantry-drbd-node-id=')))).toEqual(['gantry-drbd-node-id=0', 'gantry-drbd-node-id=0', 'gantry-drbd-node-id=1', 'gantry-drbd-node-id=1']);
    expect(await rig.converge(db())).toEqual([]);
    expect(rig.ran).toEqual(expect.arrayContaining(['drbd.create-md@n1', 'drbd.up@n1', 'drbd.up@n2', 'drbd.initial-sync@n1']));
    expect(rig.d.role('n1', rig.resourceOn('n1'))).toBe('Primary');
    expect(rig.d.disk('n2', rig.resourceOn('n2'))).toBe('UpToDate');
    expect((await rig.pass(db())).actions.filter((a) => a.startsWith('drbd.'))).toEqual([]);
    await rig.pass(db());
    expect(rig.lastReused).toBe(1); // converged and observed the same again: the DRBD 9 instance's part is reused
    expect(rig.cacheMisses).toEqual([]);
  });

  it('given a meta LV that still holds DRBD 8.4 (v08) metadata (a node upgraded to 9), drbd.create-md refuses DRBD_META_V08 and wipes nothing', async () => {
    const rig = new Rig();
    rig.d.seedV08Metadata('n2', '/dev/vg0/db1.disk0_meta');
    const r = await rig.pass(db());
    expect(r.failed).toEqual([expect.stringMatching(/^drbd\.create-md@n2 DRBD_META_V08: n2: \/dev\/vg0\/db1\.disk0_meta holds DRBD 8\.4 \(v08\) metadata: not overwritten/),
      expect.stringMatching(/^drbd\.up@n2 skipped/), expect.stringMatching(/^drbd\.initial-sync@n1 skipped/)]);
    expect(rig.d.log.filter((x) => x.node === 'n2' && x.argv[0] === 'dd')).toEqual([]);
  });

  it('given the secondary taken down by hand, the plan shows it down and brings it back (attach, peer, connect); it resyncs and converges', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    rig.d.exec('n2', ['drbdsetup', 'down', rig.resourceOn('n2')]);
    const p = plan(input(db()), rig.observe());
    const up = p.actions.find((a) => a.verb === 'drbd.up')!;
    expect(short(up)).toBe('drbd.up@n2');
    expect(up.reason).toMatch(/is down on n2: bring it up again/);
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.diffs).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'disks[0].drbd.secondary', observed: 'down' })]));
    expect(await rig.converge(db(), 3)).toEqual([]);
    expect(rig.d.disk('n2', rig.resourceOn('n2'))).toBe('UpToDate');
    expect((await rig.pass(db())).actions).toEqual([]);
  });

  it('given the disk grown in the manifest, both data LVs grow, then drbd.resize on the primary (drbdsetup resize MINOR --size) takes the new size; dry-run prints the DRBD 9 bring-up argv', async () => {
    const rig = new Rig();
    const dry = plan(input(db()), rig.observe()).actions.find((a) => a.verb === 'drbd.up' && a.node === 'n2')!;
    const shell = new ShellNodeOps({ node: 'n2', transport: rig.d.transport('n2'), logger });
    expect(shell.describe(dry).map((c) => c.slice(0, 3).join(' '))).toEqual([
      'tee /sys/module/drbd/parameters/usermode_helper', 'drbdsetup new-resource resource0', 'drbdsetup resource-options resource0', 'drbdsetup new-minor resource0',
      'drbdsetup new-peer resource0', 'drbdsetup new-path resource0', 'drbdsetup peer-device-options resource0', 'drbdmeta 0 v09', 'drbdsetup attach 0', 'drbdsetup connect resource0']);
    expect(await rig.converge(db())).toEqual([]);
    const grown = db({ disks: [{ index: 0, sizeMiB: 2048, template: 'drbd', vg: 'vg0', metaVg: 'vg0', state: 'present' }] });
    const p = plan(input(grown), rig.observe());
    const resize = p.actions.find((a) => a.verb === 'drbd.resize');
    expect(resize).toMatchObject({ node: 'n1', sizeMiB: 2048, v9: true });
    expect(p.actions.filter((a) => a.verb === 'lv.extend').map(short)).toEqual(['lv.extend@n1', 'lv.extend@n2']);
    expect((await rig.pass(grown)).failed).toEqual([]);
    const size = JSON.parse(rig.d.exec('n1', ['drbdsetup', 'status', '--json', rig.resourceOn('n1')]).stdout)[0].devices[0].size;
    expect(size).toBe(2048 * 1024);
  });

  it('given both sides Primary while cut apart, the plan refuses DRBD_SPLIT_BRAIN and runs nothing on the disk', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    rig.d.cutLink('n1', 'n2');
    rig.d.exec('n2', ['drbdsetup', 'primary', rig.resourceOn('n2')]);
    const p = plan(input(db()), rig.observe());
    expect(p.refused.map((r) => r.code)).toEqual(['DRBD_SPLIT_BRAIN']);
    expect(p.actions.filter((a) => a.verb.startsWith('drbd.'))).toEqual([]);
  });

  it('given the new secondary without room in its volume group, the DRBD 9 replacement is refused (DRBD_REPLACE_NO_SPACE) and nothing of it is planned', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    rig.free.set('n3', 100);
    const p = plan(input(db({ secondary: 'n3' })), rig.observe());
    expect(p.refused.map((r) => r.code)).toEqual(['DRBD_REPLACE_NO_SPACE']);
    expect(p.actions.filter((a) => a.node === 'n3' || a.verb.startsWith('drbd.'))).toEqual([]);
  });

  it('given the manifest moving the secondary n2 -> n3, n3 joins as a third replica (node id 2), syncs, and only then n2 leaves: never fewer than two UpToDate replicas', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    const moved = db({ secondary: 'n3' });
    const p = plan(input(moved), rig.observe());
    expect(p.refused).toEqual([]);
    expect(p.actions.map(short)).toEqual(['lv.create@n3', 'lv.create@n3', 'drbd.create-md@n3', 'drbd.up@n1', 'drbd.up@n3', 'drbd.wait-sync@n1', 'drbd.disconnect@n1', 'drbd.down@n2', 'lv.remove@n2', 'lv.remove@n2']);
    const up1 = p.actions.find((a) => a.verb === 'drbd.up' && a.node === 'n1');
    expect(up1?.verb === 'drbd.up' && up1.v9?.peers.map((x) => `${x.node}:${x.nodeId}`)).toEqual(['n3:2']);
    const drop = p.actions.find((a) => a.verb === 'drbd.disconnect');
    expect(drop?.verb === 'drbd.disconnect' && drop.v9).toEqual({ peerNodeId: 1 });
    expect(p.entries.find((e) => e.subject === 'Instance/db1')!.notes.join('\n')).toMatch(/no redundancy gap: n3 joins disk 0 as one more replica \(node id 2\)/);
    const counts: string[] = [];
    rig.onStep = (a) => {
      const n = rig.d.upToDateReplicas().length;
      counts.push(`${short(a)}:${n}`);
      expect(n, `after ${short(a)}`).toBeGreaterThanOrEqual(2);
    };
    rig.ran.length = 0;
    expect((await rig.pass(moved)).failed).toEqual([]); // one pass does it all, in order
    expect((await rig.pass(moved)).actions).toEqual([]);
    expect(counts.length).toBeGreaterThan(5);
    expect(rig.ran).toEqual(['lv.create@n3', 'lv.create@n3', 'drbd.create-md@n3', 'drbd.up@n1', 'drbd.up@n3', 'drbd.wait-sync@n1', 'drbd.disconnect@n1', 'drbd.down@n2', 'lv.remove@n2', 'lv.remove@n2']);
    expect(rig.d.disk('n3', rig.resourceOn('n3'))).toBe('UpToDate');
    expect(rig.d.peerIds('n1', rig.resourceOn('n1'))).toEqual([2]);
    expect(rig.d.upToDateReplicas().map((r) => r.node)).toEqual(['n1', 'n3']);
    expect(Object.keys(rig.lvs.get('n2')!)).toEqual([]);
    expect((await rig.pass(moved)).actions).toEqual([]);
    expect(rig.cacheMisses).toEqual([]);
  });
});

describe('DRBD 9 failover planned and executed, on Drbd9Double (a test double: DRBD 9 cannot run here)', () => {
  it('given a pair (quorum off) whose primary is powered off and confirmed Dead (fenced), the plan promotes the UpToDate secondary naming the old primary\'s node id, and the executor does it', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    const before = rig.observe();
    rig.d.powerOff('n1');
    const base = input(db());
    const inp: PlanInput = { ...base, cluster: { ...base.cluster, failover: true }, nodes: base.nodes.map((n) => ({ ...n, fenceable: true })) };
    const dead = { node: 'n1', condition: 'Dead' as const, since: '2026-11-29T14:00:10Z', missedProbes: 4, detected: '2026-11-29T14:00:00Z', fence: { at: '2026-11-29T14:00:09Z', verbs: ['power-off', 'power-status'], powered: false } };
    const extra = { lastKnown: new Map([['n1', before.nodes.get('n1')!]]), liveness: new Map([['n1', dead]]) };
    const p = plan(inp, { ...rig.observe(), ...extra });
    expect(p.refused).toEqual([]);
    const promote = p.actions.find((a) => a.verb === 'drbd.primary');
    expect(promote).toMatchObject({ node: 'n2', failover: { from: 'n1', force: false, fromNodeId: 0 }, v9: { quorum: false } });
    expect((await rig.pass(db(), inp, extra)).failed).toEqual([]);
    expect(rig.d.role('n2', rig.resourceOn('n2'))).toBe('Primary');
  });
});

describe('DRBD 9 failover through the executor, on Drbd9Double (a test double: DRBD 9 cannot run here)', () => {
  const ip = (n: string) => `198.18.1.${NODES.indexOf(n) + 1}`;
  const ids: Record<string, number> = { n1: 0, n2: 1, n3: 2 };
  const up = (n: string, members: string[], quorum: 'off' | 'majority'): Action => ({
    verb: 'drbd.up', node: n, subject: 'Instance/db1', reason: 'test', resource: 'resource0', minor: 0, dataDev: '/dev/vg0/db1.disk0', metaDev: '/dev/vg0/db1.disk0_meta',
    sizeMiB: 1024, local: { host: ip(n), port: 11000 }, peer: { host: ip(members.find((m) => m !== n)!), port: 11000 }, peerNode: members.find((m) => m !== n)!, protocol: 'C',
    resync: { kind: 'fixed', rateKiB: 61440 }, barriers: {}, usermodeHelper: '/bin/true',
    v9: { nodeId: ids[n]!, maxPeers: 3, quorum, onNoQuorum: 'io-error', peers: members.filter((m) => m !== n).map((m) => ({ node: m, nodeId: ids[m]!, local: { host: ip(n), port: 11000 }, peer: { host: ip(m), port: 11000 } })) },
  });
  const failover = (n: string, quorum: boolean): Action => ({ verb: 'drbd.primary', node: n, subject: 'Instance/db1', reason: 'test', resource: 'resource0', minor: 0, waitS: 0, failover: { from: 'n1', force: false, fromNodeId: 0 }, v9: { quorum } });
  async function replicas(members: string[], quorum: 'off' | 'majority') {
    const d = new Drbd9Double(NODES, { syncStepPercent: 100 });
    const ops = (n: string) => new ShellNodeOps({ node: n, transport: d.transport(n), logger, drbdWait: { sleep: async () => {}, intervalMs: 1000 } });
    for (const n of members) expect((await ops(n).run({ verb: 'drbd.create-md', node: n, subject: 'Instance/db1', reason: 'test', minor: 0, metaDev: '/dev/vg0/db1.disk0_meta', maxPeers: 3 })).ok).toBe(true);
    for (const n of members) expect((await ops(n).run(up(n, members, quorum))).ok).toBe(true);
    expect(await ops('n1').run({ verb: 'drbd.initial-sync', node: 'n1', subject: 'Instance/db1', reason: 'test', resource: 'resource0', minor: 0, waitS: 10, v9: true })).toMatchObject({ ok: true, unchanged: false });
    d.finishSyncs();
    expect(d.upToDateReplicas()).toHaveLength(members.length);
    return { d, ops };
  }

  it('given three replicas with quorum majority and the primary powered off, the survivor with quorum is promoted (no fencing needed); cut off alone it is refused DRBD_NO_QUORUM', async () => {
    const { d, ops } = await replicas(['n1', 'n2', 'n3'], 'majority');
    d.cutLink('n2', 'n3');
    d.powerOff('n1');
    const alone = await ops('n2').run(failover('n2', true));
    expect(alone).toMatchObject({ ok: false, error: { code: 'DRBD_NO_QUORUM' } });
    expect(d.role('n2', 'resource0')).toBe('Secondary');
    d.cutLink('n2', 'n3', false);
    expect(await ops('n2').run(failover('n2', true))).toMatchObject({ ok: true, unchanged: false });
    expect(d.role('n2', 'resource0')).toBe('Primary');
    expect(d.write('n2', 'resource0')).toBe('ok');
    // The third replica cannot become a second primary.
    expect(await ops('n3').run(failover('n3', true))).toMatchObject({ ok: false, error: { code: 'DRBD_FAILOVER_HELD' } });
  });

  it('given a pair (quorum off) whose primary still reaches the secondary, failover is refused DRBD_FAILOVER_HELD; powered off, the UpToDate secondary is promoted', async () => {
    const { d, ops } = await replicas(['n1', 'n2'], 'off');
    expect(await ops('n2').run(failover('n2', false))).toMatchObject({ ok: false, error: { code: 'DRBD_FAILOVER_HELD' } });
    d.powerOff('n1');
    expect(await ops('n2').run(failover('n2', false))).toMatchObject({ ok: true, unchanged: false });
    expect(d.role('n2', 'resource0')).toBe('Primary');
  });
});

describe('DRBD 9 live migration\'s DRBD half and dual-primary cleanup, on Drbd9Double (a test double: DRBD 9 cannot run here)', () => {
  const sides = (rig: Rig): DrbdMigrationDisk => ({
    index: 0,
    source: { resource: rig.resourceOn('n1'), minor: 0, local: { host: '198.18.1.1', port: 11000 }, peer: { host: '198.18.1.2', port: 11000 }, v9: { peerNodeId: 1 } },
    target: { resource: rig.resourceOn('n2'), minor: 0, local: { host: '198.18.1.2', port: 11000 }, peer: { host: '198.18.1.1', port: 11000 }, v9: { peerNodeId: 0 } },
  });
  const dual = (rig: Rig, n: string) => parseDrbdShow(rig.d.exec(n, ['drbdsetup', 'show']).stdout)[0]!.connections[0]!.net['allow-two-primaries'] === 'yes';

  it('given a Connected UpToDate pair, the migration sets allow-two-primaries per connection on both ends, promotes the destination beside the source, and after the (stand-in) QEMU move demotes the source and clears it', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    const seen: string[] = [];
    const r = await migrateWithDualPrimary([sides(rig)], {
      source: rig.d.transport('n1'), target: rig.d.transport('n2'), log: logger, guestWhere: async () => 'target',
      move: async () => { seen.push(`${rig.d.role('n1', rig.resourceOn('n1'))}/${rig.d.role('n2', rig.resourceOn('n2'))} ${dual(rig, 'n1')}/${dual(rig, 'n2')}`); },
    });
    expect(seen).toEqual(['Primary/Primary true/true']);
    expect(r.ran.map((x) => x.slice(0, 3).join(' '))).toEqual(['@n1 drbdsetup net-options', '@n2 drbdsetup net-options', '@n2 drbdsetup primary', '@n1 drbdsetup secondary', '@n1 drbdsetup net-options', '@n2 drbdsetup net-options']);
    expect([rig.d.role('n1', rig.resourceOn('n1')), rig.d.role('n2', rig.resourceOn('n2')), dual(rig, 'n1'), dual(rig, 'n2')]).toEqual(['Secondary', 'Primary', false, false]);
  });

  it('given the move failing with the guest still on the source, the disks are put back: the destination demoted, allow-two-primaries cleared', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    const err = await migrateWithDualPrimary([sides(rig)], { source: rig.d.transport('n1'), target: rig.d.transport('n2'), log: logger, guestWhere: async () => 'source', move: async () => { throw new Error('qemu: migration failed'); } }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/disks reverted: n2 demoted, allow-two-primaries cleared; the guest stays on n1/);
    expect([rig.d.role('n1', rig.resourceOn('n1')), rig.d.role('n2', rig.resourceOn('n2')), dual(rig, 'n1'), dual(rig, 'n2')]).toEqual(['Primary', 'Secondary', false, false]);
  });

  it('given allow-two-primaries left set on a connection (a migration that never finished), the plan clears it per connection (drbd.single-primary) and the next plan is empty', async () => {
    const rig = new Rig();
    expect(await rig.converge(db())).toEqual([]);
    rig.d.exec('n2', ['drbdsetup', 'net-options', rig.resourceOn('n2'), '0', '--allow-two-primaries=yes']);
    const p = plan(input(db()), rig.observe());
    expect(p.actions.map((a) => a.verb === 'drbd.single-primary' && [a.node, a.v9])).toEqual([['n2', { peerNodeId: 0 }]]);
    expect((await rig.pass(db())).failed).toEqual([]);
    expect(dual(rig, 'n2')).toBe(false);
    expect((await rig.pass(db())).actions).toEqual([]);
  });
});
