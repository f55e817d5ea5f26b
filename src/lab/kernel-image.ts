/**
 * The lab boots Debian's kernel as an uncompressed PVH ELF instead of the bzImage.
 *
 * Under QEMU TCG most of a bzImage boot is the real-mode stub unpacking the kernel's xz
 * payload (about 6 s of 16 s on an idle host here; far more nested or under load). QEMU
 * boots an ELF kernel with a PVH entry note (Debian builds CONFIG_PVH=y) directly, so the
 * lab unpacks the payload once into its cache and boots that. Pure helpers find the
 * payload and the PVH note; `ensurePvhKernel` writes the cached ELF (local I/O only: lab/
 * runs on the machine hosting the lab).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** The xz stream header: FD '7' 'z' 'X' 'Z' 00. */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point QEMU's PVH loader jumps to. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** Offset of the xz payload in a bzImage; undefined when the kernel is not xz-compressed. */
export function findXzPayload(image: Buffer): number | undefined {
  const at = image.indexOf(XZ_MAGIC);
  return at < 0 ? undefined : at;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** The notes of one PT_NOTE segment: name (without NUL), type, descriptor. */
function* notes(elf: Buffer, offset: number, size: number): Generator<{ name: string; type: number; desc: Buffer }> {
  let at = offset;
  const end = Math.min(offset + size, elf.length);
  while (at + 12 <= end) {
    const namesz = elf.readUInt32LE(at);
    const descsz = elf.readUInt32LE(at + 4);
    const type = elf.readUInt32LE(at + 8);
    const nameAt = at + 12;
    const descAt = nameAt + align4(namesz);
    if (descAt + descsz > end) return;
    yield { name: elf.toString('latin1', nameAt, nameAt + Math.max(0, namesz - 1)), type, desc: elf.subarray(descAt, descAt + descsz) };
    at = descAt + align4(descsz);
  }
}

/**
 * The PVH entry point of a little-endian ELF64 kernel (its Xen PHYS32_ENTRY note), or
 * undefined when the file is not such an ELF or has no PVH note (QEMU could not boot it).
 */
export function pvhEntry(elf: Buffer): number | undefined {
  if (elf.length < 64 || !elf.subarray(0, 4).equals(ELF_MAGIC)) return undefined;
  if (elf[4] !== 2 || elf[5] !== 1) return undefined; // ELFCLASS64, little endian
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== PT_NOTE) continue;
    const offset = Number(elf.readBigUInt64LE(ph + 8));
    const size = Number(elf.readBigUInt64LE(ph + 32));
    for (const n of notes(elf, offset, size)) {
      if (n.name === 'Xen' && n.type === XEN_ELFNOTE_PHYS32_ENTRY && n.desc.length >= 4) return n.desc.readUInt32LE(0);
    }
  }
  return undefined;
}

/** `xz -dc --single-stream`: stops at the end of the payload, ignoring the bzImage's tail. */
export const unxzArgv = (): string[] => ['xz', '-dc', '--single-stream'];

/**
 * The bzImage's kernel as a PVH ELF at `outFile`, rebuilt when the bzImage changes. Refused
 * (LAB_KERNEL_NOT_PVH) for a kernel without an xz payload that unpacks to an ELF with a PVH
 * entry: Debian's amd64 kernels have both.
 */
export function ensurePvhKernel(bzImage: string, outFile: string, log?: Logger): string {
  const st = statSync(bzImage);
  const stamp = `${bzImage}:${st.size}:${st.mtimeMs}\n`;
  const stampFile = `${outFile}.stamp`;
  if (existsSync(outFile) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return outFile;
  const image = readFileSync(bzImage);
  const at = findXzPayload(image);
  let elf: Buffer | undefined;
  if (at !== undefined) {
    try {
      const [cmd, ...args] = unxzArgv();
      elf = execFileSync(cmd!, args, { input: image.subarray(at), maxBuffer: 512 * 1024 * 1024, stdio: ['pipe', 'pipe', 'ignore'] });
    } catch {
      elf = undefined;
    }
  }
  if (!elf || pvhEntry(elf) === undefined) {
    throw new PrereqError('LAB_KERNEL_NOT_PVH', `${bzImage}: no xz payload that unpacks to an ELF kernel with a PVH entry note (the lab boots Debian's linux-image-amd64 kernels that way)`, { kernel: bzImage });
  }
  log?.info({ kernel: bzImage, elf: outFile }, 'unpacked the kernel to a PVH ELF');
  mkdirSync(dirname(outFile), { recursive: true });
  const tmp = `${outFile}.tmp-${process.pid}`;
  writeFileSync(tmp, elf);
  renameSync(tmp, outFile); // atomic: a booting guest never reads half a kernel
  writeFileSync(stampFile, stamp);
  return outFile;
}
