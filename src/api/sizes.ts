/**
 * Sizes as Ganeti's ParseUnit reads them: a bare number is MiB; units K, M, G, T, P
 * (any case, optional "i" and "B") are binary. The result is whole MiB, rounded up.
 */
const UNIT_MIB: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024, p: 1024 * 1024 * 1024 };
const SIZE = /^([0-9]+(?:\.[0-9]+)?) ?(?:([KkMmGgTtPp])(?:[Ii]?[Bb])?)?$/;

/** MiB for a size value, or undefined when it is not a size. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  const mib = Number(m[1]) * UNIT_MIB[(m[2] ?? 'm').toLowerCase()]!;
  if (!Number.isFinite(mib) || mib > Number.MAX_SAFE_INTEGER) return undefined;
  return Math.ceil(mib);
}
