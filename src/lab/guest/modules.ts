/**
 * Pick the kernel modules the lab guest needs from a Debian kernel's modules.dep, in an
 * order insmod can load them (dependencies first). Pure: the caller reads the files.
 */

/** Drivers for the disk buses and NIC models the QEMU driver emits, plus the ACPI
 *  power button (system_powerdown) and evdev to read it. */
export const GUEST_MODULES = [
  'virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_scsi', 'sd_mod', 'ata_piix', 'ata_generic',
  'e1000', '8139cp', 'evdev', 'button',
] as const;

export type ModuleCompression = 'none' | 'xz' | 'zst' | 'gz';

export interface ResolvedModule {
  /** Path relative to /lib/modules/<version>. */
  readonly path: string;
  readonly name: string;
  readonly compression: ModuleCompression;
}

/** "kernel/drivers/block/virtio_blk.ko.xz" -> "virtio_blk" (dashes are underscores to modprobe). */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export function moduleCompression(path: string): ModuleCompression {
  if (path.endsWith('.ko.xz')) return 'xz';
  if (path.endsWith('.ko.zst')) return 'zst';
  if (path.endsWith('.ko.gz')) return 'gz';
  return 'none';
}

/**
 * Resolve `wanted` against modules.dep. A wanted module absent from modules.dep is built
 * into the kernel (or not available) and is returned in `missing` for the caller to check
 * against modules.builtin.
 */
export function resolveModules(modulesDep: string, wanted: readonly string[]): { order: ResolvedModule[]; missing: string[] } {
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const rest = line.slice(colon + 1).trim();
    deps.set(moduleName(path), { path, deps: rest ? rest.split(/\s+/) : [] });
  }
  const order: ResolvedModule[] = [];
  const seen = new Set<string>();
  const missing: string[] = [];
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const entry = deps.get(name);
    if (!entry) {
      missing.push(name);
      return;
    }
    // modules.dep lists the full transitive closure; the last entries are the deepest,
    // so visiting in reverse loads the bottom of the stack first.
    for (const dep of [...entry.deps].reverse()) visit(moduleName(dep));
    order.push({ path: entry.path, name, compression: moduleCompression(entry.path) });
  };
  for (const w of wanted) visit(w.replace(/-/g, '_'));
  return { order, missing };
}
