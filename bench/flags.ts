/** Command-line options of the benchmarks: `--name VALUE`. */

/** A numeric option, or `def` when absent; a value that is not a number stops the bench. */
export function numberFlag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const raw = process.argv[i + 1];
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n)) {
    console.error(`--${name} needs a number, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}
