/** Sizes: parsed in api/sizes.ts (the schema checks them there too); formatted here. */
export { parseSize } from '../api/sizes.js';

/** Human form of a MiB count, like gnt-* list --units h: 512M, 10.0G, 1.0T. */
export function formatMiB(mib: number): string {
  if (mib < 1024) return `${mib}M`;
  if (mib < 1024 * 1024) return `${(mib / 1024).toFixed(1)}G`;
  return `${(mib / 1024 / 1024).toFixed(1)}T`;
}
