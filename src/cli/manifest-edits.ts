/**
 * Edits of Instance manifests written by `gantry balance -f`: the new spec.placement
 * values spliced into the YAML text (comments and layout kept), and the diff shown before
 * --apply. A module of its own so that commands without manifests never load yaml.
 */
import { isScalar, parseAllDocuments } from 'yaml';

/** One edit of an Instance manifest's spec.placement. */
export interface PlacementEdit {
  readonly primary: string;
  readonly secondary?: string;
}

/**
 * Rewrites spec.placement of the named Instance documents in a manifest file,
 * touching only the changed values when they are already written (comments and
 * layout kept); documents without those keys are re-serialised.
 */
export function applyPlacementEdits(text: string, edits: ReadonlyMap<string, PlacementEdit>): string {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return text;
  const splices: [number, number, string][] = [];
  let reserialise = false;
  for (const doc of docs) {
    if (doc.get('kind') !== 'Instance') continue;
    const name = doc.getIn(['metadata', 'name']);
    if (typeof name !== 'string') continue;
    const e = edits.get(name);
    if (!e) continue;
    const p = doc.getIn(['spec', 'placement', 'primary'], true);
    const sNode = doc.getIn(['spec', 'placement', 'secondary'], true);
    const pOk = isScalar(p) && p.range !== undefined && p.range !== null;
    const sOk = e.secondary === undefined || (isScalar(sNode) && sNode.range !== undefined && sNode.range !== null);
    if (pOk && sOk) {
      splices.push([p.range![0], p.range![1], e.primary]);
      if (e.secondary !== undefined && isScalar(sNode)) splices.push([sNode.range![0], sNode.range![1], e.secondary]);
    } else {
      doc.setIn(['spec', 'placement', 'primary'], e.primary);
      if (e.secondary !== undefined) doc.setIn(['spec', 'placement', 'secondary'], e.secondary);
      reserialise = true;
    }
  }
  if (reserialise) return docs.map((d) => d.toString({ lineWidth: 0 })).join('');
  let out = text;
  for (const [a, b, v] of splices.sort((x, y) => y[0] - x[0])) out = out.slice(0, a) + v + out.slice(b);
  return out;
}

/** A unified diff of two texts (small files: plain LCS over lines). */
export function unifiedDiff(path: string, a: string, b: string, context = 2): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const ops: { t: ' ' | '-' | '+'; s: string; i: number; j: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { ops.push({ t: ' ', s: x[i]!, i, j }); i++; j++; }
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) { ops.push({ t: '-', s: x[i]!, i, j }); i++; }
    else { ops.push({ t: '+', s: y[j]!, i, j }); j++; }
  }
  const out = [`--- a/${path}`, `+++ b/${path}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]!.t === ' ') { k++; continue; }
    const start = Math.max(0, k - context);
    let end = k;
    while (end < ops.length) {
      if (ops[end]!.t !== ' ') { end++; continue; }
      let run = 0;
      while (end + run < ops.length && ops[end + run]!.t === ' ') run++;
      if (end + run >= ops.length || run > 2 * context) { end = Math.min(ops.length, end + context); break; }
      end += run;
    }
    const hunk = ops.slice(start, end);
    const a0 = hunk[0]!.i;
    const b0 = hunk[0]!.j;
    const aLen = hunk.filter((o) => o.t !== '+').length;
    const bLen = hunk.filter((o) => o.t !== '-').length;
    out.push(`@@ -${a0 + 1},${aLen} +${b0 + 1},${bLen} @@`);
    for (const o of hunk) out.push(`${o.t}${o.s}`);
    k = end;
  }
  return out.join('\n') + '\n';
}
