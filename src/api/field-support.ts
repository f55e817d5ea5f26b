/**
 * Fields the schema accepts but this release cannot honour: setting one is a validation
 * error that names the field and says why (safety invariant 5: refuse what cannot work,
 * never accept and ignore). Keys are leaf names from leaves.ts ("hvParams.useChroot" for a
 * shared block wherever it appears, "Kind.spec.x" otherwise, "Kind:block.x" for a block
 * leaf refused in one kind only). Whoever implements a field deletes its entry here and
 * lists its consumer in every-leaf.test.ts.
 */
import { schemaLeaves, setPaths } from './leaves.js';
import type { Kind } from './kinds.js';
import type { SchemaIssue } from './validate.js';

export interface RefusedField {
  /** Why, in a sysadmin's words. */
  readonly reason: string;
  /** The issue whose work will implement it, when another piece of work owns it. */
  readonly owner?: string;
  /** Refused only for these values (others work). */
  readonly values?: readonly unknown[];
}

const HA = 'issue 10 (high availability)';

export const REFUSED_FIELDS: Readonly<Record<string, RefusedField>> = {
  'NodeGroup:diskParams.sharedfile.dir': { reason: 'the sharedfile directory is one for the whole cluster (every node must see the same files to migrate): set it in the Cluster\'s diskParams.sharedfile.dir or storage.sharedFileStorageDir' },
  'Cluster.spec.autoRepair.enabled': { reason: 'nothing reads it: automatic failover is spec.autoRepair.failover (and the Instance\'s), auto-repair is the Instance\'s spec.autoRepair.repair or the tags ganeti:watcher:autorepair:TYPE on the cluster, a node group or an instance; set those instead', owner: HA },
  'Instance.spec.os.resetParamsOnReinstall': { reason: 'Gantry always installs with exactly the manifest\'s os.params (there are no stored or cluster-level OS parameters to reset): remove the field' },
};

/** The refusal for a leaf of a kind, if any. */
export function refusalFor(kind: Kind, key: string): RefusedField | undefined {
  return REFUSED_FIELDS[`${kind}:${key}`] ?? REFUSED_FIELDS[key];
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** One issue per refused field set in a (schema-valid) document. */
export function refusedFieldIssues(kind: Kind, doc: unknown): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  for (const leaf of schemaLeaves(kind)) {
    const r = refusalFor(kind, leaf.key);
    if (!r) continue;
    for (const path of setPaths(doc, leaf.path)) {
      const value = valueAt(doc, path);
      if (r.values && !r.values.includes(value)) continue;
      const field = path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
      out.push({
        path, at: 'key', code: 'unsupported-field',
        message: `field ${field}${r.values ? ` = ${show(value)}` : ''} is not supported yet: ${r.reason}${r.owner ? ` (pending ${r.owner})` : ''}`,
      });
    }
  }
  return out;
}

function valueAt(doc: unknown, path: readonly (string | number)[]): unknown {
  let v = doc;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}
