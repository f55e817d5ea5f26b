/**
 * A hand-written campaign scenario: the campaign's world (manifests, simulated nodes with
 * shared storage, a real temporary state directory) driven step by step, for the
 * regression tests of the bugs the campaign found.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Plan } from '../../core/plan.js';
import type { DesiredState } from '../../desired/model.js';
import { FakeClock } from '../../runtime/fake-clock.js';
import { silentLogger } from '../../util/log.js';
import { prng } from '../../util/prng.js';
import { SimCluster } from '../cluster.js';
import { SimFencer } from '../fencer.js';
import { runPass, type PassArming, type PassEnv, type PassOutcome } from './controller.js';
import { instantInvariants, type Finding } from './invariants.js';
import { SHARED_DIR, World, type WorldShape } from './world.js';

const BASE_TIME = Date.UTC(2026, 0, 1);

export class Scenario {
  readonly world: World;
  readonly sim: SimCluster;
  private step = 0;
  private readonly env: PassEnv;

  private constructor(world: World, stateDir: string) {
    this.world = world;
    this.sim = new SimCluster(world.shape.nodes.map((name) => ({ name, blockDevices: { '/dev/sdb': 65_536 }, ovs: false })), { clock: new FakeClock(BASE_TIME), sharedDirs: [SHARED_DIR] });
    // A failover world fences through the simulator's power control, as the campaign's controller does.
    this.env = { sim: this.sim, stateDir, logger: silentLogger(), now: () => new Date(BASE_TIME + this.step * 60_000), ...(world.shape.failover ? { fencer: new SimFencer(this.sim) } : {}) };
  }

  /** A world with the given shape and no instances yet (add them with world.addInstance). */
  static async create(shape: Partial<WorldShape> & { nodes: readonly string[] }, seed = 1): Promise<Scenario> {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-scenario-'));
    return new Scenario(new World(prng(seed), { removeOrphans: false, drbd: false, migration: 'live', failover: false, ...shape }, 0), stateDir);
  }

  get stateDir(): string {
    return this.env.stateDir;
  }

  /** One apply pass of a controller reading `desired` (default: the whole manifest set). */
  async pass(opts: { name?: string; desired?: DesiredState; arm?: (p: Plan) => PassArming; afterAction?: () => void } = {}): Promise<PassOutcome> {
    this.step++;
    return runPass(this.env, {
      name: opts.name ?? 'controller', desired: opts.desired ?? this.world.desired(),
      ...(opts.arm ? { arm: opts.arm } : {}), ...(opts.afterAction ? { afterAction: opts.afterAction } : {}),
    });
  }

  /** Passes until the plan is empty (at most `max`); the last outcome. */
  async converge(max = 6): Promise<PassOutcome> {
    let o = await this.pass();
    for (let i = 1; i < max && (o.plan?.actions.length ?? 0) > 0; i++) o = await this.pass();
    return o;
  }

  /** Violations of the instant invariants on the ground truth now. */
  findings(): Finding[] {
    return instantInvariants(this.sim);
  }

  /** The node that runs `instance` now, if any. */
  runningOn(instance: string): string[] {
    return Object.entries(this.sim.snapshot()).filter(([, o]) => ['running', 'paused'].includes(o.instances[instance]?.runState ?? '')).map(([n]) => n);
  }

  async cleanup(): Promise<void> {
    await this.sim.close();
    await rm(this.env.stateDir, { recursive: true, force: true });
  }
}
