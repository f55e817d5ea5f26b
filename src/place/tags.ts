/**
 * htools tag conventions, read from cluster tags:
 *   htools:iextags:PFX          instance tags starting with PFX exclude each other on a primary
 *   htools:nlocation:P          node tags "P:x" are location (common failure domain) tags
 *   htools:desiredlocation:P    instance tags "P:x" name the locations an instance wants
 *   htools:migration:P          node tags "P:x" restrict live migration
 *   htools:allowmigration:A::B  a node tagged B may receive instances from A nodes
 */

export const EX_TAGS_PREFIX = 'htools:iextags:';
const LOCATION_PREFIX = 'htools:nlocation:';
const DESIRED_LOCATION_PREFIX = 'htools:desiredlocation:';
const MIGRATION_PREFIX = 'htools:migration:';
const ALLOW_MIGRATION_PREFIX = 'htools:allowmigration:';

function stripped(prefix: string, ctags: readonly string[]): string[] {
  const out: string[] = [];
  for (const t of ctags) if (t.startsWith(prefix)) out.push(t.slice(prefix.length));
  return out;
}

/** htools' getTags: object tags that start with "P:" for a P named by a cluster tag. */
function getTags(prefix: string, ctags: readonly string[], otags: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const p of stripped(prefix, ctags)) {
    for (const t of otags) if (t.startsWith(`${p}:`)) out.add(t);
  }
  return out;
}

/** Exclusion-tag prefixes from cluster tags plus any given explicitly. */
export function exclusionPrefixes(ctags: readonly string[], extra: readonly string[] = []): string[] {
  return [...extra, ...stripped(EX_TAGS_PREFIX, ctags).filter((p) => p.length > 0)];
}

export function exclusionTags(prefixes: readonly string[], itags: readonly string[]): string[] {
  return itags.filter((t) => prefixes.some((p) => t.startsWith(p)));
}

export function locationTags(ctags: readonly string[], ntags: readonly string[]): Set<string> {
  return getTags(LOCATION_PREFIX, ctags, ntags);
}

export function desiredLocationTags(ctags: readonly string[], itags: readonly string[]): Set<string> {
  return getTags(DESIRED_LOCATION_PREFIX, ctags, itags);
}

export function migrationTags(ctags: readonly string[], ntags: readonly string[]): Set<string> {
  return getTags(MIGRATION_PREFIX, ctags, ntags);
}

export function recvMigrationTags(ctags: readonly string[], ntags: readonly string[]): Set<string> {
  const pairs: [string, string][] = [];
  for (const s of stripped(ALLOW_MIGRATION_PREFIX, ctags)) {
    const i = s.indexOf('::');
    if (i < 0) continue;
    const src = s.slice(0, i);
    const dst = s.slice(i + 2);
    if (dst.includes('::')) continue;
    pairs.push([src, dst]);
  }
  const out = new Set<string>();
  for (const tag of migrationTags(ctags, ntags)) {
    out.add(tag);
    for (const [src, dst] of pairs) if (dst === tag) out.add(src);
  }
  return out;
}
