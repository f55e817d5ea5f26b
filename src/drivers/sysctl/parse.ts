/** Multi-value sysctls print tabs ("32768\t60999"): values are compared whitespace-normalised. */
export const normaliseValue = (v: string): string => v.trim().split(/\s+/).join(' ');

/** "key = value" lines from `sysctl KEY...`. */
export function parseSysctl(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(' = ');
    if (i > 0) out[line.slice(0, i).trim()] = normaliseValue(line.slice(i + 3));
    else if (/^\S+ =$/.test(line.trim())) out[line.trim().slice(0, -2)] = ''; // empty value
  }
  return out;
}

/** Keys sysctl reported as unknown ("cannot stat /proc/sys/a/b: No such file ..."). */
export function unknownKeys(stderr: string): string[] {
  return [...stderr.matchAll(/cannot stat \/proc\/sys\/(\S+): No such file/g)].map((m) => m[1]!.replace(/\//g, '.'));
}
