import { describe, expect, it } from 'vitest';
import type { Action, InstanceLaunch, InstanceRecord } from '../core/actions.js';
import type { ExecResult, Transport } from '../transport/transport.js';
import { silentLogger } from '../util/log.js';
import { afterFailedMigration, InstanceOps } from './instance-ops.js';

/** One running copy after a failed live migration: which side's qemu is stopped, from both sides' run states. */
describe('afterFailedMigration', () => {
  it('given the source still runs and the destination has an incoming qemu, it stops the destination', () => {
    expect(afterFailedMigration('running', 'inmigrate')).toMatchObject({ kill: 'destination' });
    expect(afterFailedMigration('paused', 'paused')).toMatchObject({ kill: 'destination' });
    expect(afterFailedMigration('running', 'running')).toMatchObject({ kill: 'destination' });
  });

  it('given the source still runs and nothing on the destination, it stops nothing', () => {
    expect(afterFailedMigration('running', 'stopped')).toEqual({ outcome: 'the guest still runs on the source only' });
  });

  it('given the switchover happened (source postmigrate, destination running), it stops the paused source', () => {
    expect(afterFailedMigration('postmigrate', 'running')).toMatchObject({ kill: 'source' });
  });

  it('given the source is gone and the destination runs, it stops nothing', () => {
    expect(afterFailedMigration('stopped', 'running')).toEqual({ outcome: 'the guest runs on the destination only' });
  });

  it('given neither side runs the guest, it resumes nothing and says so', () => {
    const r = afterFailedMigration('postmigrate', 'inmigrate');
    expect(r.kill).toBeUndefined();
    expect(r.outcome).toMatch(/runs on neither node/);
  });
});

/** A transport double that records every argv and answers from `answer` (exit 0, no output by default). */
function recording(node: string, answer: (argv: readonly string[]) => Partial<ExecResult> = () => ({})): Transport & { ran: string[][] } {
  const ran: string[][] = [];
  const exec = async (argv: readonly string[]): Promise<ExecResult> => {
    ran.push([...argv]);
    return { argv, code: 0, stdout: '', stderr: '', durationMs: 0, ...answer(argv) };
  };
  return { node, ran, exec, execBatch: async (cmds) => Promise.all(cmds.map(exec)), close: async () => undefined };
}

describe('instance.migrate before anything moves', () => {
  const launch: InstanceLaunch = { name: 'web1', uuid: '3f2c1a7e-8b4d-4c2a-9e6f-1d2b3c4d5e6f', memoryMiB: 128, vcpus: 1, accel: 'tcg', bootOrder: ['disk'], disks: [{ path: '/dev/vg0/web1.disk0', format: 'raw', bus: 'virtio' }], nics: [], vnc: false, vncBindAddress: '127.0.0.1' };
  const record: InstanceRecord = { uuid: '3f2c1a7e-8b4d-4c2a-9e6f-1d2b3c4d5e6f', os: 'none', osGeneration: 1, restartGeneration: 0, nics: [], launch };
  const migrate: Action = {
    verb: 'instance.migrate', node: 'n1', subject: 'Instance/web1', reason: 't', name: 'web1', runDir: '/run/gantry', peer: 'n2', peerAddress: '198.19.0.2',
    peerRunDir: '/run/gantry', launch, record, bandwidthMiBps: 100, downtimeMs: 300,
  };

  it('given the destination cannot make the instance\'s run directory, it fails naming the node, the directory and mkdir\'s message, and writes and migrates nothing', async () => {
    const dst = recording('n2', (argv) => (argv[0] === 'mkdir' ? { code: 1, stderr: "mkdir: cannot create directory '/run/gantry/web1': Read-only file system\n" } : {}));
    const src = recording('n1');
    const peer = new InstanceOps({ node: 'n2', transport: dst, logger: silentLogger(), runRoot: '/run/gantry', osSearchPath: [], peer: () => undefined });
    const source = new InstanceOps({ node: 'n1', transport: src, logger: silentLogger(), runRoot: '/run/gantry', osSearchPath: [], peer: (n) => (n === 'n2' ? peer : undefined) });
    const r = await source.run(migrate);
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ code: 'MIGRATION_RUNDIR' });
    expect(r.error?.message).toMatch(/\/run\/gantry\/web1 on n2 \(mkdir exited 1: mkdir: cannot create directory '\/run\/gantry\/web1': Read-only file system\); nothing was moved/);
    expect(dst.ran).toEqual([['mkdir', '-p', '/run/gantry/web1']]);
    expect(src.ran).toEqual([]);
  });
});
