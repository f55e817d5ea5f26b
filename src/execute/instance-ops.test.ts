import { describe, expect, it } from 'vitest';
import { afterFailedMigration } from './instance-ops.js';

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
