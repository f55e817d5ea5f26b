import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { bootSectorImage, parseBootSectorTicks } from './bootsector.js';

describe('bootSectorImage', () => {
  it('given a marker, it builds a boot sector with the BIOS signature and the marker in sector 1', () => {
    const img = bootSectorImage('before-move');
    expect(img.length).toBe(1024);
    expect(img.subarray(510, 512)).toEqual(Buffer.from([0x55, 0xaa]));
    expect(img.subarray(512, 528).toString('latin1')).toBe('before-move     ');
    expect(img.subarray(528).every((b) => b === 0)).toBe(true);
  });
  it('given a marker that is empty, longer than 16 bytes or not printable ASCII, it refuses it', () => {
    for (const bad of ['', 'x'.repeat(17), 'tab\there', 'é']) expect(() => bootSectorImage(bad)).toThrow(RangeError);
  });
});

const qemuMissing = await promisify(execFile)('qemu-system-x86_64', ['--version']).then(() => false, () => true);
const dir = mkdtempSync(join(tmpdir(), 'gantry-bootsector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(qemuMissing)('the boot-sector guest under QEMU (TCG, real qemu-system-x86_64)', () => {
  it('given its image as a virtio disk, SeaBIOS boots it and it prints a tick a second with the marker read from the disk', async () => {
    const disk = join(dir, 'disk.img');
    const log = join(dir, 'serial.log');
    writeFileSync(disk, Buffer.concat([bootSectorImage('real-qemu-run'), Buffer.alloc(1024 * 1024)]));
    writeFileSync(log, '');
    const qemu = spawn('qemu-system-x86_64', ['-machine', 'pc,accel=tcg', '-m', '32', '-display', 'none', '-no-user-config', '-nodefaults',
      '-drive', `file=${disk},if=virtio,format=raw`, '-serial', `file:${log}`], { stdio: 'ignore' });
    try {
      let ticks: ReturnType<typeof parseBootSectorTicks> = [];
      for (const until = Date.now() + 60_000; ticks.length < 3 && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 250));
        ticks = parseBootSectorTicks(readFileSync(log, 'latin1'));
      }
      expect(ticks.length).toBeGreaterThanOrEqual(3);
      expect(ticks.map((t) => t.tick)).toEqual(ticks.map((_, i) => i));
      expect(new Set(ticks.map((t) => t.marker))).toEqual(new Set(['real-qemu-run']));
    } finally {
      qemu.kill('SIGKILL');
    }
  }, 90_000);
});
