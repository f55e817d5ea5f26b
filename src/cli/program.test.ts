import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, ensureCommand, commandWord, GROUPS, type CommandGroup } from './program.js';

interface Captured { out: string; err: string }

/** Make every command of the tree throw instead of exiting, and capture what it prints. */
function capture(program: Command): Captured {
  const io: Captured = { out: '', err: '' };
  const walk = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => { io.out += s; }, writeErr: (s) => { io.err += s; } });
    c.commands.forEach(walk);
  };
  walk(program);
  return io;
}

async function run(args: string[], groups?: readonly CommandGroup[]): Promise<Captured & { code: number | undefined }> {
  const program = await buildProgram(args, groups);
  const io = capture(program);
  try {
    await program.parseAsync(['node', 'gantry', ...args]);
    return { ...io, code: 0 };
  } catch (e) {
    if (e instanceof CommanderError) return { ...io, code: e.exitCode };
    throw e;
  }
}

/** Every command path of a fully loaded program, e.g. ['lab', 'up']. */
function paths(c: Command, prefix: string[] = []): string[][] {
  return c.commands.filter((s) => s.name() !== 'help').flatMap((s) => [[...prefix, s.name()], ...paths(s, [...prefix, s.name()])]);
}

async function fullProgram(): Promise<Command> {
  const program = await buildProgram(['no-such-command']); // an unknown word loads every group
  capture(program);
  return program;
}

describe('commandWord', () => {
  it('given global options before the command, it returns the first word that is not one of them or its value', () => {
    expect(commandWord(['--log-level', 'debug', 'validate', '-f', 'x'])).toBe('validate');
    expect(commandWord(['--log-level=debug', 'iallocator', 'req.json'])).toBe('iallocator');
    expect(commandWord(['lab', 'up', '--nodes', '3'])).toBe('lab');
  });

  it('given no command, it returns undefined (version and help load no module)', () => {
    expect(commandWord([])).toBeUndefined();
    expect(commandWord(['--version'])).toBeUndefined();
    expect(commandWord(['-h'])).toBeUndefined();
    expect(commandWord(['--log-level', 'validate'])).toBeUndefined();
    expect(commandWord(['help'])).toBeUndefined();
  });

  it('given help NAME, it returns NAME', () => {
    expect(commandWord(['help', 'validate'])).toBe('validate');
    expect(commandWord(['--log-level', 'info', 'help', 'plan'])).toBe('plan');
  });
});

describe('lazy command groups', () => {
  it('given the descriptors, the top-level help equals the help of the fully loaded program', async () => {
    const light = await run(['--help']);
    expect(light.code).toBe(0);
    const full = await fullProgram();
    expect(light.out).toBe(full.helpInformation());
  });

  it('given the fully loaded program, every top-level command has a descriptor in the group that registers it', async () => {
    for (const g of GROUPS) {
      const p = new Command('gantry');
      (await g.load())(p);
      expect(p.commands.map((c) => c.name()), g.module).toEqual(g.commands.map((d) => d.name));
    }
  });

  it('given a command word, only its group is loaded', async () => {
    const loaded: string[] = [];
    const spy = GROUPS.map((g) => ({ ...g, load: async () => { loaded.push(g.module); return g.load(); } }));
    await buildProgram(['validate', '-f', 'examples/lab'], spy);
    expect(loaded).toEqual(['./desired-commands.js']);
    loaded.length = 0;
    await buildProgram(['--version'], spy);
    expect(loaded).toEqual([]);
    loaded.length = 0;
    await buildProgram(['valdate'], spy);
    expect(loaded).toEqual(GROUPS.map((g) => g.module));
  });

  it('given a program built for lab, ensureCommand loads the reconcile group once so lab up --apply can run apply and plan', async () => {
    const loaded: string[] = [];
    const spy = GROUPS.map((g) => ({ ...g, load: async () => { loaded.push(g.module); return g.load(); } }));
    const program = await buildProgram(['lab', 'up', '--apply'], spy);
    expect(program.commands.map((c) => c.name())).not.toContain('apply');
    expect(await ensureCommand(program, 'apply', spy)).toBe(true);
    expect(await ensureCommand(program, 'plan', spy)).toBe(true);
    expect(loaded).toEqual(['./lab-commands.js', './reconcile-commands.js']);
    expect(program.commands.map((c) => c.name())).toEqual(expect.arrayContaining(['lab', 'apply', 'plan']));
    expect(await ensureCommand(program, 'no-such-command', spy)).toBe(false);
  });

  it('given --version, it prints the version without loading a command module', async () => {
    const r = await run(['--version'], []);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('given a misspelt command, it fails and suggests the command', async () => {
    const r = await run(['valdate']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown command 'valdate'/);
    expect(r.err).toMatch(/Did you mean validate\?/);
  });

  it('given --help on every command and subcommand, each exits 0 and prints its usage and every option', async () => {
    const all = paths(await fullProgram());
    expect(all.length).toBeGreaterThanOrEqual(GROUPS.flatMap((g) => g.commands).length);
    for (const path of all) {
      const r = await run([...path, '--help']);
      expect(r.code, path.join(' ')).toBe(0);
      expect(r.out, path.join(' ')).toContain(`Usage: gantry ${path.join(' ')}`);
      const program = await buildProgram(path);
      const cmd = path.reduce<Command>((c, name) => c.commands.find((s) => s.name() === name)!, program);
      for (const o of cmd.options) if (!o.hidden) expect(r.out, `${path.join(' ')} ${o.flags}`).toContain(o.flags);
    }
  });

  it('given --pod-name, it is refused without --kubernetes and when it is not a pod name, before anything runs', async () => {
    await expect(run(['run', '-f', 'examples/lab', '--pod-name', 'gantry-0'])).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/--pod-name needs --kubernetes/) });
    await expect(run(['run', '--kubernetes', '--pod-name', '--evil'])).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/is not a pod name/) });
  });
});
