import { describe, expect, it } from 'vitest';
import { actionError, commandFailure, ExecError, PrereqError, TerminalError, TransportError } from './errors.js';

describe('the retry rule', () => {
  it('given a command that exited non-zero, it is a deterministic COMMAND_FAILED that is not retried', () => {
    expect(commandFailure(['/srv/os/debootstrap/create', '--x'], 1, 'E: no space left\n')).toEqual({
      code: 'COMMAND_FAILED', message: '/srv/os/debootstrap/create --x exited 1: E: no space left', retryable: false,
    });
  });

  it('given a command that failed on lock contention, it is declared transient (LOCK_CONTENDED) and retried', () => {
    expect(commandFailure(['lvcreate', '-n', 'x'], 5, '  Unable to obtain global lock.\n')).toMatchObject({ code: 'LOCK_CONTENDED', retryable: true });
    expect(commandFailure(['iptables', '-A'], 4, 'Another app is currently holding the xtables lock. Perhaps you want to use the -w option?')).toMatchObject({ retryable: true });
  });

  it('given an ExecError (an OS installer, a QEMU start), it is not retried unless declared transient', () => {
    expect(actionError(new ExecError('OS_SCRIPT_FAILED', 'create script failed (exit 1)')).retryable).toBe(false);
    expect(actionError(new ExecError('QEMU_START_FAILED', 'qemu exited 1')).retryable).toBe(false);
    expect(actionError(new ExecError('X', 'busy', {}, { transient: true })).retryable).toBe(true);
    expect(actionError(new ExecError('QMP_UNREACHABLE', 'socket not there yet')).retryable).toBe(true);
  });

  it('given a transport error it is retried; prereq, terminal and non-Gantry errors are not', () => {
    expect(actionError(new TransportError('UNREACHABLE', 'no route')).retryable).toBe(true);
    expect(actionError(new PrereqError('BAD', 'no')).retryable).toBe(false);
    expect(actionError(new TerminalError('SHRINK', 'no')).retryable).toBe(false);
    expect(actionError(new TypeError('bug'))).toEqual({ code: 'INTERNAL', message: 'bug', retryable: false });
  });
});

describe('the reconcile loop rule (permanent)', () => {
  it('given a failed command, a later pass may help; given a prereq, terminal or host-key error, none can', () => {
    expect(new ExecError('COMMAND_FAILED', 'x').permanent).toBe(false);
    expect(new TransportError('UNREACHABLE', 'x').permanent).toBe(false);
    expect(new PrereqError('INVALID_MANIFESTS', 'x').permanent).toBe(true);
    expect(new TerminalError('REFUSED_SHRINK', 'x').permanent).toBe(true);
  });
});
