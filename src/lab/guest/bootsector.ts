/**
 * The lab's boot-sector guest: 512 bytes a BIOS boots from an instance's first disk. It
 * needs no kernel, so it runs where the busybox guest cannot boot in time (nested TCG, a
 * guest inside a TCG VM node: bench/README.md). Every second it writes to the serial port
 *
 *   gantry-bootsector tick 0000002A disk <first 16 bytes of the disk's sector 1>
 *
 * with a counter kept in the guest's registers and sector 1 read again through the BIOS
 * (int 13h) each time. A counter that goes on after a live migration shows the same guest
 * kept running; a marker written to sector 1 on the new node, read back by the guest, shows
 * it reads that node's disk.
 *
 * The bytes below are this source assembled by `as --32` and linked with
 * `ld -m elf_i386 -Ttext 0x7c00 --oformat binary` (GNU binutils), zero-padded to 510 bytes
 * plus the 55 AA boot signature; bootsector.test.ts boots them under QEMU.
 *
 * .code16
 * .globl _start
 * _start:
 *   cli
 *   xor %ax, %ax
 *   mov %ax, %ds
 *   mov %ax, %es
 *   mov %ax, %ss
 *   mov $0x7c00, %sp
 *   sti
 *   mov %dl, drive          # BIOS boot drive
 *   xor %ebx, %ebx          # tick counter
 * tick:
 *   mov $msg, %si
 *   call puts
 *   mov %ebx, %eax
 *   call hex32
 *   mov $sep, %si
 *   call puts
 *   # read sector 1 (LBA 1) of the boot disk to 0x8000 and print its first 16 bytes
 *   mov $0x0201, %ax        # read 1 sector
 *   mov $0x0002, %cx        # cylinder 0, sector 2
 *   xor %dh, %dh            # head 0
 *   mov drive, %dl
 *   push %ebx
 *   mov $0x8000, %bx
 *   int $0x13
 *   pop %ebx
 *   jc readerr
 *   mov $0x8000, %si
 *   mov $16, %cx
 * 1: lodsb
 *   call putc
 *   loop 1b
 *   jmp 2f
 * readerr:
 *   mov $'!', %al
 *   call putc
 * 2:
 *   mov $'\n', %al
 *   call putc
 *   inc %ebx
 *   mov $0x86, %ah          # wait CX:DX microseconds (1 s)
 *   mov $0x000f, %cx
 *   mov $0x4240, %dx
 *   int $0x15
 *   jmp tick
 * puts:
 *   lodsb
 *   test %al, %al
 *   jz 3f
 *   call putc
 *   jmp puts
 * 3: ret
 * putc:
 *   push %dx
 *   mov $0x3f8, %dx
 *   out %al, (%dx)
 *   pop %dx
 *   ret
 * hex32:
 *   mov $8, %cx
 * 4: rol $4, %eax
 *   push %eax
 *   and $0xf, %al
 *   add $'0', %al
 *   cmp $'9', %al
 *   jbe 5f
 *   add $7, %al
 * 5: call putc
 *   pop %eax
 *   loop 4b
 *   ret
 * msg: .asciz "gantry-bootsector tick "
 * sep: .asciz " disk "
 * drive: .byte 0
 * .org 510
 * .byte 0x55, 0xaa
 */

const CODE_HEX = [
  'fa31c08ed88ec08ed0bc007cfb8816af7c6631dbbe907ce849006689d8e85500bea87ce83d00b80102b9020030f68a16',
  'af7c6653bb0080cd13665b720ebe0080b91000ace82700e2faeb05b021e81e00b00ae819006643b486b90f00ba4042cd',
  '15ebb1ac84c07405e80300ebf6c352baf803ee5ac3b9080066c1c0046650240f04303c3976020407e8e3ff6658e2e9c3',
  '67616e7472792d626f6f74736563746f72207469636b2000206469736b20',
].join('');

/** Bytes of sector 1 the guest prints each tick. */
export const BOOT_SECTOR_MARKER_BYTES = 16;

/** Sector 0 (the boot sector) followed by sector 1 holding `marker` (at most 16 ASCII bytes). */
export function bootSectorImage(marker: string): Buffer {
  if (!/^[\x20-\x7e]{1,16}$/.test(marker)) throw new RangeError(`boot-sector marker must be 1-16 printable ASCII characters: ${JSON.stringify(marker)}`);
  const image = Buffer.alloc(1024);
  Buffer.from(CODE_HEX, 'hex').copy(image, 0);
  image[510] = 0x55;
  image[511] = 0xaa;
  image.write(marker.padEnd(BOOT_SECTOR_MARKER_BYTES, ' '), 512, 'latin1');
  return image;
}

/** The guest's serial lines, as parsed from a console log: tick counter and the marker it read. */
export function parseBootSectorTicks(log: string): Array<{ tick: number; marker: string }> {
  const out: Array<{ tick: number; marker: string }> = [];
  for (const m of log.matchAll(/gantry-bootsector tick ([0-9A-F]{8}) disk (.{16})/g)) out.push({ tick: parseInt(m[1]!, 16), marker: m[2]!.trimEnd() });
  return out;
}
