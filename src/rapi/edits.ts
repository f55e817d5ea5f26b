/**
 * Manifest edits for the remote API's writes, pure: a file's text in, the new text out,
 * through yaml's Document API so comments stay. Each RAPI write is one ManifestChange:
 * the resource it edits (or creates) and a function from its document to the edited one.
 * Request bodies are checked here field by field: a field this server does not implement
 * is refused by name (RapiHttpError 400), never accepted and ignored.
 */
import { isMap, parseAllDocuments, stringify, type Document } from 'yaml';
import { API_VERSION } from '../api/index.js';
import type { DesiredState } from '../desired/model.js';
import { RapiHttpError } from './server.js';

export interface ManifestChange {
  /** "Instance/web1", "Node/node1" */
  readonly subject: string;
  /** One line for the job summary and the commit message, e.g. "startup instance web1". */
  readonly what: string;
  /** Ganeti's opcode for the job (OP_ID and its parameters). */
  readonly op: Record<string, unknown>;
  /** Edit the resource's document in place (absent for a new resource). */
  readonly edit?: (doc: Document.Parsed) => void;
  /** A new resource: its manifest document (as an object). */
  readonly create?: Record<string, unknown>;
  /** A check of the loaded result beyond the schema (throws the 400 naming the field). */
  readonly check?: (next: DesiredState) => void;
  /** A second change, written and reconciled once this one's pass left the subject in sync (failover: stop and move, then start). */
  readonly then?: ManifestChange;
  /** The resource the pass is judged on when the edit renames the subject ("Instance/new"). */
  readonly judged?: string;
}

export const bad = (field: string, message: string): RapiHttpError => new RapiHttpError(400, 'Bad Request', `${field}: ${message}`);

/** Apply an edit to the document of `kind/name` in a file's text; the other documents are kept. */
export function editDocument(text: string, kind: string, name: string, edit: (doc: Document.Parsed) => void): string {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new RapiHttpError(404, 'Not Found', `${kind} '${name}' is not in its manifest any more`);
  const doc = docs.find((d) => d.get('kind') === kind && (d.getIn(['metadata', 'name']) === name));
  if (!doc) throw new RapiHttpError(404, 'Not Found', `${kind} '${name}' is not in its manifest any more`);
  edit(doc);
  return docs.map((d) => d.toString({ lineWidth: 0 })).join('');
}

/** A new resource as a manifest file's text. */
export function newDocumentText(resource: Record<string, unknown>): string {
  return `---\n${stringify(resource, { lineWidth: 0 })}`;
}

/** Check a request body's keys: anything outside `known` is refused by name. */
export function onlyKnown(body: Record<string, unknown>, known: readonly string[], where = ''): void {
  const extra = Object.keys(body).find((k) => !known.includes(k));
  if (extra !== undefined) throw bad(`${where}${extra}`, `not supported by Gantry's remote API (supported: ${known.join(', ')})`);
}

export function asObject(body: unknown, field: string): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw bad(field, 'expected a JSON object');
  return body as Record<string, unknown>;
}

/** A boolean query argument (Ganeti: 0/1); a value that is neither is refused. */
export function flag(query: Record<string, string | string[]>, name: string): boolean {
  const v = query[name];
  if (v === undefined) return false;
  const s = Array.isArray(v) ? v.at(-1)! : v;
  if (s === '1' || s === 'true') return true;
  if (s === '0' || s === 'false' || s === '') return false;
  throw bad(name, `expected 0 or 1, got ${JSON.stringify(s)}`);
}

/** Query arguments other than these are refused by name (dry-run is refused: Gantry has `gantry plan` for that). */
export function onlyQuery(query: Record<string, string | string[]>, known: readonly string[]): void {
  const extra = Object.keys(query).find((k) => !known.includes(k) && k !== 'reason');
  if (extra !== undefined) throw bad(extra, `query argument not supported here (supported: ${[...known, 'reason'].join(', ')})`);
}

export function setPower(name: string, running: boolean, op: string): ManifestChange {
  return {
    subject: `Instance/${name}`, what: `${running ? 'startup' : 'shutdown'} instance ${name}`, op: { OP_ID: op, instance_name: name },
    edit: (doc) => doc.setIn(['spec', 'powerState'], running ? 'running' : 'stopped'),
  };
}

export function reboot(name: string, current: number): ManifestChange {
  return {
    subject: `Instance/${name}`, what: `reboot instance ${name}`, op: { OP_ID: 'OP_INSTANCE_REBOOT', instance_name: name, reboot_type: 'hard' },
    edit: (doc) => doc.setIn(['spec', 'restartGeneration'], current + 1),
  };
}

export function remove(name: string): ManifestChange {
  return {
    subject: `Instance/${name}`, what: `remove instance ${name} (its disks are kept)`, op: { OP_ID: 'OP_INSTANCE_REMOVE', instance_name: name },
    edit: (doc) => doc.setIn(['spec', 'state'], 'absent'),
  };
}

/** Move to `primary` (and, for DRBD, make the old primary the secondary). */
export function migrate(name: string, primary: string, secondary: string | undefined, op: Record<string, unknown>): ManifestChange {
  return {
    subject: `Instance/${name}`, what: `migrate instance ${name} to ${primary}`, op,
    edit: (doc) => {
      doc.setIn(['spec', 'placement', 'primary'], primary);
      if (secondary !== undefined) doc.setIn(['spec', 'placement', 'secondary'], secondary);
    },
  };
}

export function setTags(kind: 'Instance' | 'Node' | 'NodeGroup' | 'Cluster', name: string, tags: readonly string[], what: string, op: Record<string, unknown>): ManifestChange {
  return {
    subject: `${kind}/${name}`, what, op,
    edit: (doc) => {
      const spec = doc.get('spec');
      if (!isMap(spec)) doc.set('spec', doc.createNode({}));
      doc.setIn(['spec', 'tags'], doc.createNode([...tags], { flow: true }));
    },
  };
}

/**
 * Failover (Ganeti: shut down, switch to the other node, start): move with the VM stopped.
 * A stopped instance just moves; a running one is stopped and moved by a first change and
 * started by a second, each its own reconcile pass, so the move never meets a running VM (no live migration, and a DRBD pair is switched only once the VM released it).
 */
export function failover(name: string, primary: string, secondary: string | undefined, running: boolean, op: Record<string, unknown>): ManifestChange {
  const subject = `Instance/${name}`;
  const move = (doc: Document.Parsed) => {
    doc.setIn(['spec', 'placement', 'primary'], primary);
    if (secondary !== undefined) doc.setIn(['spec', 'placement', 'secondary'], secondary);
  };
  if (!running) return { subject, what: `failover instance ${name} to ${primary} (stopped)`, op, edit: move };
  // Two steps: stopped and moved (one pass stops it on the old node and, for DRBD, demotes there after
  // the stop and promotes the new primary after the demote: plan.linkRoleSwap; the old node's runtime
  // files go on the next pass), then started. A running instance whose manifest moves it is a live
  // migration request, so the start is its own step.
  return {
    subject, what: `failover instance ${name} to ${primary}: stop and move`, op, edit: (doc) => {
      doc.setIn(['spec', 'powerState'], 'stopped');
      move(doc);
    },
    then: { subject, what: `failover instance ${name} to ${primary}: start`, op, edit: (doc) => doc.setIn(['spec', 'powerState'], 'running') },
  };
}

/** Reinstall: bump spec.os.generation (the planner stops, installs, and starts when powerState is running). */
export function reinstall(name: string, generation: number, o: { os?: string; params?: Record<string, string>; start: boolean }): ManifestChange {
  return {
    subject: `Instance/${name}`, what: `reinstall instance ${name}${o.os ? ` with ${o.os}` : ''}${o.start ? '' : ' (left stopped)'}`,
    op: { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: name, ...(o.os ? { os_type: o.os } : {}), ...(o.params ? { osparams: o.params } : {}), start: o.start },
    edit: (doc) => {
      doc.setIn(['spec', 'os', 'generation'], generation + 1);
      if (o.os) doc.setIn(['spec', 'os', 'name'], o.os);
      for (const [k, v] of Object.entries(o.params ?? {})) {
        if (!isMap(doc.getIn(['spec', 'os', 'params'], true))) doc.setIn(['spec', 'os', 'params'], doc.createNode({}));
        doc.setIn(['spec', 'os', 'params', k], v);
      }
      doc.setIn(['spec', 'powerState'], o.start ? 'running' : 'stopped');
    },
  };
}

/**
 * Rename (gnt-instance rename): the document's metadata.name becomes `to` and spec.renamedFrom
 * records `from`, so the pass renames the instance's disks, tags and record on the nodes
 * (plan/rename) instead of reading a new, empty instance beside an orphaned one.
 */
export function rename(from: string, to: string, op: Record<string, unknown>): ManifestChange {
  return {
    subject: `Instance/${from}`, judged: `Instance/${to}`, what: `rename instance ${from} to ${to}`, op,
    edit: (doc) => {
      doc.setIn(['metadata', 'name'], to);
      doc.setIn(['spec', 'renamedFrom'], from);
    },
  };
}

export function setRole(name: string, role: string): ManifestChange {
  return {
    subject: `Node/${name}`, what: `set role of node ${name} to ${role}`, op: { OP_ID: 'OP_NODE_SET_PARAMS', node_name: name, role },
    edit: (doc) => doc.setIn(['spec', 'role'], role),
  };
}

export { API_VERSION };
