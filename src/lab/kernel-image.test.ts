import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pickNewestKernel } from './guest/build.js';
import { ensurePvhKernel, findXzPayload, pvhEntry } from './kernel-image.js';

/** A minimal ELF64 LE header with one PT_NOTE segment holding the given notes. */
function elfWithNotes(notes: Array<{ name: string; type: number; desc: Buffer }>): Buffer {
  const body = Buffer.concat(notes.map((n) => {
    const name = Buffer.from(n.name + '\0', 'latin1');
    const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
    const head = Buffer.alloc(12);
    head.writeUInt32LE(name.length, 0);
    head.writeUInt32LE(n.desc.length, 4);
    head.writeUInt32LE(n.type, 8);
    return Buffer.concat([head, pad(name), pad(n.desc)]);
  }));
  const elf = Buffer.alloc(64 + 56);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(elf, 0);
  elf.writeBigUInt64LE(64n, 0x20); // e_phoff
  elf.writeUInt16LE(56, 0x36); // e_phentsize
  elf.writeUInt16LE(1, 0x38); // e_phnum
  elf.writeUInt32LE(4, 64); // PT_NOTE
  elf.writeBigUInt64LE(BigInt(64 + 56), 64 + 8); // p_offset
  elf.writeBigUInt64LE(BigInt(body.length), 64 + 32); // p_filesz
  return Buffer.concat([elf, body]);
}

const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };

describe('pvhEntry', () => {
  it('given an ELF whose Xen note 18 holds an address, it returns that entry point', () => {
    const elf = elfWithNotes([{ name: 'Xen', type: 6, desc: Buffer.from('linux\0') }, { name: 'Xen', type: 18, desc: u32(0x1000ab0) }]);
    expect(pvhEntry(elf)).toBe(0x1000ab0);
  });
  it('given an ELF with Xen notes but no PVH entry, or a GNU note 18, it returns undefined', () => {
    expect(pvhEntry(elfWithNotes([{ name: 'Xen', type: 6, desc: Buffer.from('linux\0') }]))).toBeUndefined();
    expect(pvhEntry(elfWithNotes([{ name: 'GNU', type: 18, desc: u32(1) }]))).toBeUndefined();
  });
  it('given something that is not an ELF64 (a bzImage, a truncated file), it returns undefined', () => {
    expect(pvhEntry(Buffer.from('MZ\0\0 not an elf'))).toBeUndefined();
    expect(pvhEntry(elfWithNotes([{ name: 'Xen', type: 18, desc: u32(1) }]).subarray(0, 70))).toBeUndefined();
  });
});

describe('findXzPayload', () => {
  it('given bytes with an xz stream header inside, it returns where it starts', () => {
    expect(findXzPayload(Buffer.concat([Buffer.alloc(513, 1), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 9])]))).toBe(513);
    expect(findXzPayload(Buffer.alloc(100, 1))).toBeUndefined();
  });
});

// Debian's own kernel (linux-image-amd64, installed by .ci/run for the lab): real input.
const version = existsSync('/boot') ? pickNewestKernel(readdirSync('/boot')) : undefined;
const dir = mkdtempSync(join(tmpdir(), 'gantry-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!version)(`Debian's kernel ${version ?? '(none installed: skipped)'}`, () => {
  it('given its bzImage, it unpacks the xz payload once to an ELF whose PVH entry lies in the kernel image', () => {
    const out = join(dir, 'vmlinux');
    expect(ensurePvhKernel(`/boot/vmlinuz-${version}`, out)).toBe(out);
    const elf = readFileSync(out);
    const entry = pvhEntry(elf);
    expect(entry).toBeGreaterThanOrEqual(0x1000000); // Debian links the kernel at 16 MiB physical
    expect(entry).toBeLessThan(0x1000000 + elf.length);
    // A second call with the bzImage unchanged reuses the file (the stamp matches).
    writeFileSync(out, Buffer.concat([elf.subarray(0, 64), Buffer.from('marker')]));
    expect(ensurePvhKernel(`/boot/vmlinuz-${version}`, out)).toBe(out);
    expect(readFileSync(out).subarray(64).toString()).toBe('marker');
  });
  it('given a file that is not a kernel, it refuses with LAB_KERNEL_NOT_PVH and writes nothing', () => {
    const bogus = join(dir, 'bogus');
    writeFileSync(bogus, Buffer.alloc(4096, 7));
    expect(() => ensurePvhKernel(bogus, join(dir, 'bogus.elf'))).toThrow(expect.objectContaining({ code: 'LAB_KERNEL_NOT_PVH' }));
    expect(existsSync(join(dir, 'bogus.elf'))).toBe(false);
  });
});
