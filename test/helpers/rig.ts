/**
 * The shared lab rig for tests in test/lab: brings a real lab up once per test file
 * (beforeAll) and takes it down after (afterAll). Each test process gets its own prefix
 * and free subnets, so several files or engineers can run labs side by side.
 *
 *   const skip = await labSkipReason();
 *   describe.skipIf(skip)('given a 3-node lab', () => {
 *     const lab = useLab({ nodes: 3 });
 *     it('...', async () => { await lab.transport('node1').exec(['hostname']); });
 *   });
 *
 * Set GANTRY_LAB_KEEP=1 to leave the lab up after the file (for debugging).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { labDown, labExec, labPower, labStartNode, labStopNode, labUp, missingPackages, type LabNode, type LabRef, type LabUpResult, type PowerResult, type PowerVerb } from '../../src/lab/index.js';
import { LocalTransport } from '../../src/transport/local.js';
import { SshPool, type NodeSshSpec } from '../../src/transport/pool.js';
import type { SshTransport } from '../../src/transport/ssh.js';
import { createLogger, silentLogger, type Logger } from '../../src/util/log.js';

export interface UseLabOptions {
  /** Namespace nodes (default 3, or 0 when vmNodes is set). */
  nodes?: number;
  /** QEMU VM nodes (own kernel: DRBD, dm-mod), numbered after the namespace nodes. */
  vmNodes?: number;
  vmMemoryMiB?: number;
  /** PVs (sparse loop files) in each namespace node's VG (default 1) and their size. */
  pvsPerNode?: number;
  pvSizeGiB?: number;
  /** Kernel object prefix, 2-8 of [a-z0-9]; default "gt" + process id + a counter, in base 36. */
  prefix?: string;
  /** Also write nodes.yaml here. */
  manifestsDir?: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  logger?: Logger;
}

export interface LabHandle {
  /** What labUp returned (record, nodes, paths). */
  readonly up: LabUpResult;
  readonly nodes: LabNode[];
  /** Pass to labStatus / labDown / labStopNode. */
  readonly ref: LabRef;
  readonly pool: SshPool;
  readonly logger: Logger;
  node(name: string): LabNode;
  /** The spec SshPool.get() takes, built from the node's manifest fields. */
  sshSpec(name: string): NodeSshSpec;
  /** Pooled ssh transport to a node. */
  transport(name: string): SshTransport;
  /** Runs commands inside the node's network namespace without ssh. */
  local(name: string): LocalTransport;
  stopNode(name: string): Promise<number | undefined>;
  startNode(name: string): Promise<number>;
  /** `gantry lab exec`: a command on any node kind (VM: ssh with the pinned key). */
  exec(name: string, argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** `gantry lab power`. */
  power(name: string, verb: PowerVerb): Promise<PowerResult>;
}

/** Why lab tests cannot run here, or undefined when they can. Logged once when set. */
export async function labSkipReason(): Promise<string | undefined> {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = 'lab tests need root (namespaces, bridges, loop devices)';
  else {
    const missing = await missingPackages();
    if (missing.length) reason = `lab tests need these Debian packages: ${missing.join(' ')}`;
  }
  if (reason) console.warn(`[lab rig] skipping: ${reason}`);
  return reason;
}

const CLAIMS = '/run/gantry-lab-subnets';

function claimAlive(dir: string): boolean {
  try {
    const pid = Number(readFileSync(`${dir}/pid`, 'utf8'));
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists under another user; anything else: gone or never written.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A /24 index X with neither 198.18.X.0/24 nor 198.19.X.0/24 on any interface, claimed for
 * this process by an atomic mkdir, so lab test files running side by side never pick the
 * same pair. A claim whose process is gone is taken over.
 */
export function claimSubnetIndex(seed: number): { x: number; release: () => void } {
  mkdirSync(CLAIMS, { recursive: true });
  const used = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  for (let i = 0; i < 150; i++) {
    const x = 100 + ((seed + i) % 150);
    if (used.includes(` 198.18.${x}.`) || used.includes(` 198.19.${x}.`)) continue;
    const dir = `${CLAIMS}/${x}`;
    try {
      mkdirSync(dir);
    } catch {
      if (claimAlive(dir)) continue;
      rmSync(dir, { recursive: true, force: true });
      try {
        mkdirSync(dir);
      } catch {
        continue;
      }
    }
    writeFileSync(`${dir}/pid`, String(process.pid));
    return { x, release: () => rmSync(dir, { recursive: true, force: true }) };
  }
  throw new Error('no free 198.18.X.0/24 + 198.19.X.0/24 pair for a lab');
}

let labsInThisProcess = 0;

export function useLab(opts: UseLabOptions = {}): LabHandle {
  // Unique per process and per call, so parallel runs never share kernel object names.
  const prefix = opts.prefix ?? `gt${process.pid.toString(36).slice(-5)}${(labsInThisProcess++ % 36).toString(36)}`;
  const logger = opts.logger ?? (process.env.GANTRY_LAB_DEBUG ? createLogger({ level: 'debug' }) : silentLogger());
  const ref: LabRef = { logger, prefix };
  const pool = new SshPool({ logger, connectTimeoutMs: opts.connectTimeoutMs ?? 5000, ...(opts.commandTimeoutMs ? { commandTimeoutMs: opts.commandTimeoutMs } : {}) });
  let up: LabUpResult | undefined;
  let releaseSubnet = (): void => {};

  beforeAll(async () => {
    // A lab left by a crashed run of this prefix goes first.
    await labDown(ref);
    const claim = claimSubnetIndex(process.pid + labsInThisProcess * 7);
    releaseSubnet = claim.release;
    const x = claim.x;
    up = await labUp({
      logger,
      prefix,
      nodes: opts.nodes ?? (opts.vmNodes ? 0 : 3),
      ...(opts.vmNodes ? { vmNodes: opts.vmNodes } : {}),
      ...(opts.vmMemoryMiB ? { vmMemoryMiB: opts.vmMemoryMiB } : {}),
      ...(opts.pvsPerNode ? { pvsPerNode: opts.pvsPerNode } : {}),
      ...(opts.pvSizeGiB ? { pvSizeGiB: opts.pvSizeGiB } : {}),
      mgmtSubnet: `198.18.${x}.0/24`,
      replSubnet: `198.19.${x}.0/24`,
      installMissing: false,
      ...(opts.manifestsDir ? { manifestsDir: opts.manifestsDir } : {}),
    });
  });

  afterAll(async () => {
    await pool.closeAll();
    if (!process.env.GANTRY_LAB_KEEP) await labDown(ref);
    releaseSubnet();
  });

  const ready = (): LabUpResult => {
    if (!up) throw new Error('the lab is not up yet: use the handle inside tests or hooks, not at collection time');
    return up;
  };
  const node = (name: string): LabNode => {
    const n = ready().nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no lab node ${name}`);
    return n;
  };
  const sshSpec = (name: string): NodeSshSpec => ({ name, ssh: node(name).ssh });

  return {
    get up() {
      return ready();
    },
    get nodes() {
      return ready().nodes;
    },
    ref,
    pool,
    logger,
    node,
    sshSpec,
    transport: (name) => pool.get(sshSpec(name)),
    local: (name) => new LocalTransport({ logger, node: name, netns: node(name).namespace }),
    stopNode: (name) => labStopNode(ref, name),
    startNode: (name) => labStartNode(ref, name),
    exec: (name, argv) => labExec(ref, name, argv),
    power: (name, verb) => labPower(ref, name, verb),
  };
}
