import { describe, expect, it } from 'vitest';
import { LocalTransport } from './local.js';
import { silentLogger } from '../util/log.js';

const t = new LocalTransport({ logger: silentLogger() });

describe('LocalTransport', () => {
  it('given argv it runs without a shell and keeps stdout, stderr and the exit code apart', async () => {
    const r = await t.exec(['sh', '-c', 'echo "$1"; echo err >&2; exit 4', 'sh', '$(not expanded); x']);
    expect(r).toMatchObject({ code: 4, stdout: '$(not expanded); x\n', stderr: 'err\n' });
  });

  it('given stdin and env the command sees both', async () => {
    const r = await t.exec(['sh', '-c', 'cat; printf "%s" "$GANTRY_X"'], { stdin: 'in\n', env: { GANTRY_X: 'v' } });
    expect(r.stdout).toBe('in\nv');
  });

  it('given a missing command it answers 127 like a shell does', async () => {
    const r = await t.exec(['/nonexistent/gantry-cmd']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/ENOENT/);
  });

  it('given a command that outlives its timeout it kills it and rejects with COMMAND_TIMEOUT', async () => {
    const started = Date.now();
    await expect(t.exec(['sleep', '5'], { timeoutMs: 200 })).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT', errorClass: 'transport' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('given a batch it returns one result per command in order, failures included', async () => {
    const rs = await t.execBatch([['echo', 'a'], ['false'], ['sh', '-c', 'echo b >&2']]);
    expect(rs.map((r) => [r.code, r.stdout, r.stderr])).toEqual([[0, 'a\n', ''], [1, '', ''], [0, '', 'b\n']]);
  });

  it('given a bad env name it refuses before running anything', async () => {
    await expect(t.exec(['true'], { env: { 'X;Y': '1' } })).rejects.toThrow(/invalid environment/);
  });
});
