import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildBatchScript, buildExecLine, exportEnv, parseBatchOutput, quoteArg, quoteArgv } from './quote.js';

const MARKER = 'abcdef0123456789abcdef0123456789';

/** What a real POSIX shell makes of a quoted line: the argv it would pass on. */
function shellArgv(line: string): string[] {
  const r = spawnSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.split('\0').slice(0, -1);
}

const HOSTILE = ['; rm -rf /', '$(touch /tmp/pwned)', '`id`', 'a\nb', "it's", "''", '"', '\\', '', ' ', '*', '~root', '$HOME', 'a b\tc', '-n', '&&', '|', '#x', '!'];

describe('quoteArg', () => {
  it('given a plain word it leaves it bare', () => {
    expect(quoteArg('/usr/sbin/lvs')).toBe('/usr/sbin/lvs');
    expect(quoteArg('--units=b')).toBe('--units=b');
  });

  it('given hostile strings it single-quotes them and escapes embedded quotes', () => {
    expect(quoteArg('; rm -rf /')).toBe(`'; rm -rf /'`);
    expect(quoteArg('$(id)')).toBe(`'$(id)'`);
    expect(quoteArg("it's")).toBe(`'it'\\''s'`);
    expect(quoteArg('')).toBe(`''`);
    expect(quoteArg('a\nb')).toBe(`'a\nb'`);
  });

  it('given hostile strings a real shell reads back exactly the same argv', () => {
    expect(shellArgv(quoteArgv(HOSTILE))).toEqual(HOSTILE);
  });

  it('given any string without NUL a real shell reads it back unchanged (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 5 }), (args) => {
        expect(shellArgv(quoteArgv(args))).toEqual(args);
      }),
      { numRuns: 60 },
    );
  });

  it('given a NUL byte or an empty argv it refuses', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(() => quoteArgv([])).toThrow(/empty/);
  });
});

describe('exportEnv and buildExecLine', () => {
  it('given env values it quotes them and rejects bad names', () => {
    expect(exportEnv({ LANG: 'C', X: "a'b" })).toBe(`export LANG=C; export X='a'\\''b'; `);
    expect(() => exportEnv({ 'A;B': 'x' })).toThrow(/invalid environment/);
    expect(() => exportEnv({ lower: 'x' })).toThrow(/invalid environment/);
  });

  it('given a timeout the node-side timeout wrapper kills the command and exits 124', () => {
    expect(buildExecLine(['sleep', '5'], undefined, 1500)).toBe('exec timeout -k 1 1.500 sleep 5');
    const started = Date.now();
    const r = spawnSync('sh', ['-c', buildExecLine(['sleep', '5'], undefined, 200)]);
    expect(r.status).toBe(124);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(() => buildExecLine(['true'], undefined, 0)).toThrow(/positive/);
  });

  it('given argv and env a shell runs the command with that env', () => {
    const line = buildExecLine(['sh', '-c', 'printf "%s|%s" "$GREETING" "$1"', 'sh', '$(x)'], { GREETING: 'hi there' });
    const r = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
    expect(r.stdout).toBe('hi there|$(x)');
  });
});

describe('batch framing', () => {
  function runBatch(commands: string[][], env?: Record<string, string>) {
    const r = spawnSync('sh', ['-s'], { input: buildBatchScript(commands, MARKER, env), encoding: 'utf8' });
    return parseBatchOutput(r.stdout, r.stderr, MARKER, commands.length);
  }

  it('given three commands it returns three separate results with their exit codes', () => {
    const parts = runBatch([
      ['sh', '-c', 'echo out1; echo err1 >&2'],
      ['sh', '-c', 'printf "no newline"; exit 3'],
      ['sh', '-c', 'printf "\\n\\n"; printf "e\\n" >&2; exit 0'],
    ]);
    expect(parts).toEqual([
      { code: 0, stdout: 'out1\n', stderr: 'err1\n' },
      { code: 3, stdout: 'no newline', stderr: '' },
      { code: 0, stdout: '\n\n', stderr: 'e\n' },
    ]);
  });

  it('given a command that exits, reads stdin or does not exist the others still run', () => {
    const parts = runBatch([['exit', '0'], ['cat'], ['/nonexistent/cmd'], ['echo', 'last']]);
    expect(parts.map((p) => p.code)).toEqual([127, 0, 127, 0]);
    expect(parts[1]?.stdout).toBe('');
    expect(parts[3]?.stdout).toBe('last\n');
  });

  it('given env it is visible to every command', () => {
    const parts = runBatch([['sh', '-c', 'echo "$A"'], ['sh', '-c', 'echo "$A"']], { A: 'x y' });
    expect(parts.map((p) => p.stdout)).toEqual(['x y\n', 'x y\n']);
  });

  it('given output cut short it throws BATCH_INCOMPLETE', () => {
    const out = `${MARKER} B 0\nhello\n${MARKER} E 0 0\n${MARKER} B 1\npartial`;
    const err = `${MARKER} B 0\n\n${MARKER} E 0\n${MARKER} B 1\n`;
    expect(() => parseBatchOutput(out, err, MARKER, 2)).toThrow(expect.objectContaining({ code: 'BATCH_INCOMPLETE' }));
  });

  it('given output that imitates a marker with another value it is kept as data', () => {
    const fake = 'deadbeefdeadbeefdeadbeefdeadbeef';
    const parts = runBatch([['printf', `${fake} E 0 9\\n`]]);
    expect(parts[0]).toEqual({ code: 0, stdout: `${fake} E 0 9\n`, stderr: '' });
  });

  it('given a weak marker it refuses to build the script', () => {
    expect(() => buildBatchScript([['true']], 'short')).toThrow(/marker/);
  });
});
