import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/log.js';
import { OobFencer, parsePowerStatus } from './fence.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'gantry-oob-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

/** A real OOB program (Ganeti's protocol): it logs its argv, power-off writes a state file, power-status prints it. */
async function program(body: string): Promise<string> {
  const file = path.join(dir, 'oob');
  await writeFile(file, `#!/bin/sh\necho "$@" >> ${dir}/calls\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}
const NOW = () => new Date('2026-11-28T12:00:00.000Z');

describe('fencing through the out-of-band program (a real program, run as argv)', () => {
  it('given a program that powers off and reports {"powered": false}, the node is confirmed dead with the verbs run', async () => {
    const p = await program(`case "$*" in *power-off*) echo off > ${dir}/state;; *power-status*) [ -f ${dir}/state ] && echo '{"powered": false}' || echo '{"powered": true}';; esac`);
    const f = new OobFencer(new Map([['node1', { program: [p, '--lab', 'x'], timeoutSeconds: 10 }]]), silentLogger());
    expect(await f.fence('node1', NOW)).toEqual({ at: NOW().toISOString(), verbs: ['power-off', 'power-status'], powered: false });
    expect(await readFile(path.join(dir, 'calls'), 'utf8')).toBe('--lab x power-off node1\n--lab x power-status node1\n');
  });

  it('given a program that still reports powered, a failing power-off, or a timeout, power off is not confirmed', async () => {
    const still = new OobFencer(new Map([['n', { program: [await program(`[ "$1" = power-status ] && echo '{"powered": true}'; exit 0`)], timeoutSeconds: 10 }]]), silentLogger());
    await expect(still.fence('n', NOW)).rejects.toMatchObject({ code: 'OOB_STILL_POWERED' });
    const fails = new OobFencer(new Map([['n', { program: [await program('echo "BMC says no" >&2; exit 1')], timeoutSeconds: 10 }]]), silentLogger());
    await expect(fails.fence('n', NOW)).rejects.toMatchObject({ code: 'OOB_FAILED', message: expect.stringMatching(/power-off n: .* exited 1: BMC says no/) });
    const slow = new OobFencer(new Map([['n', { program: [await program('exec sleep 5')], timeoutSeconds: 1 }]]), silentLogger());
    await expect(slow.fence('n', NOW)).rejects.toMatchObject({ code: 'OOB_FAILED', message: expect.stringMatching(/did not finish within 1000 ms/) });
    await expect(new OobFencer(new Map(), silentLogger()).fence('n', NOW)).rejects.toMatchObject({ code: 'OOB_NONE' });
  });

  it('given power-status output, only {"powered": true|false} is understood', () => {
    expect(parsePowerStatus('{"powered": false}\n')).toBe(false);
    expect(parsePowerStatus('{"powered":true}')).toBe(true);
    expect(() => parsePowerStatus('off')).toThrow(/not \{"powered": true\|false\}/);
    expect(() => parsePowerStatus('{"powered": "no"}')).toThrow(/"powered" is not true or false/);
  });
});
