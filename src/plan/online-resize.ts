/**
 * Growing the disks of a running instance. Pure. The disk plan grows the volume (an LV,
 * a DRBD device, an image file); a guest learns the new size only from its QEMU
 * (QMP block_resize), and an image file a live QEMU holds cannot be resized by qemu-img
 * at all (QEMU keeps the image locked). So, for every live copy of the instance whose
 * QEMU has the disk open smaller than the manifest asks:
 *   - image files: the qemu-img grow is replaced by QEMU growing the image itself;
 *   - LVs and DRBD devices: QEMU is told after the device grew (a later phase).
 * Level-triggered on QEMU's own view (query-block in the probe), so a pass cut off
 * between the two steps finishes on the next one. A live copy whose drive sizes were
 * not read (unknown) gets no qemu-img grow on its image: that waits with a note.
 */
import type { Action, InstanceBlockResize } from '../core/actions.js';
import type { ObservedInstance } from '../core/observed.js';
import { ALIVE } from './instance-runtime.js';

/** One present disk as QEMU opens it on the node it runs on. */
export interface WantedDrive {
  readonly index: number;
  readonly path: string;
  readonly sizeMiB: number;
  /** An image file (grown by qemu-img when no QEMU holds it) rather than a block device. */
  readonly file: boolean;
}

export interface OnlineResize {
  /** The planned disk actions, less the image grows QEMU does instead (or that wait). */
  readonly actions: Action[];
  /** block_resize on each live copy that needs it. */
  readonly resizes: InstanceBlockResize[];
  readonly notes: string[];
}

export function planOnlineResize(
  instance: string, wanted: readonly WantedDrive[], planned: readonly Action[],
  copies: readonly { readonly node: string; readonly vm: ObservedInstance }[], runDirOf: (node: string) => string,
): OnlineResize {
  const byPath = new Map(wanted.map((w) => [w.path, w]));
  const held = new Set<string>(); // image paths a live QEMU holds: qemu-img must not touch them
  const resizes: InstanceBlockResize[] = [];
  const notes: string[] = [];
  for (const c of copies) {
    if (!ALIVE.has(c.vm.runState)) continue;
    if (c.vm.drives === undefined) {
      for (const w of wanted) {
        if (!w.file || !growsFile(planned, w.path)) continue;
        held.add(w.path);
        notes.push(`disk ${w.index} (${w.path}) grows through QEMU once its drive sizes on ${c.node} can be read: qemu-img cannot resize an image a running QEMU holds`);
      }
      continue;
    }
    for (const d of c.vm.drives) {
      const w = byPath.get(d.path);
      if (!w) continue;
      if (w.file) held.add(w.path);
      if (d.sizeMiB >= w.sizeMiB) continue;
      resizes.push({
        verb: 'instance.block-resize', node: c.node, subject: `Instance/${instance}`, name: instance, runDir: runDirOf(c.node),
        drive: d.drive, path: d.path, sizeMiB: w.sizeMiB,
        reason: w.file
          ? `disk ${w.index} grows from ${d.sizeMiB} to ${w.sizeMiB} MiB while ${instance} runs on ${c.node}: QEMU grows the image (QMP block_resize)`
          : `disk ${w.index} grows from ${d.sizeMiB} to ${w.sizeMiB} MiB while ${instance} runs on ${c.node}: QEMU is told once the device has grown (QMP block_resize)`,
      });
    }
  }
  const actions = planned.filter((a) => !(a.verb === 'file.grow' && held.has(a.path)));
  return { actions, resizes, notes };
}

const growsFile = (planned: readonly Action[], path: string): boolean => planned.some((a) => a.verb === 'file.grow' && a.path === path);
