/**
 * Where a value came from: a parsed YAML document and the LineCounter of its file, so
 * any field path maps back to file:line:col.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { PathSegment } from '../api/index.js';
import { formatPath, type LoadError, type LoadErrorCode } from './errors.js';

export interface DocSource {
  readonly file: string;
  /** index of the document in its file (0-based) */
  readonly index: number;
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
}

export type Anchor = 'key' | 'value' | 'parent';

export interface Position { line: number; column: number }

function pos(src: DocSource, offset: number): Position {
  const p = src.lineCounter.linePos(offset);
  return { line: p.line, column: p.col };
}

/** The position of a path in a document: the key, the value, or the key of the enclosing object. */
export function locate(src: DocSource, path: readonly PathSegment[], anchor: Anchor = 'value'): Position {
  const contents = src.doc.contents as Node | null;
  const start = contents?.range?.[0] ?? 0;
  let node: unknown = contents;
  let keyNode: Node | undefined;
  let best: Position = pos(src, start);
  const want = anchor === 'parent' ? path.slice(0, -1) : path;
  for (const seg of want) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && (isScalar(it.key) ? String(it.key.value) : String(it.key)) === String(seg));
      if (!pair) return best;
      keyNode = pair.key as Node;
      node = pair.value;
      const keyPos = keyNode?.range ? pos(src, keyNode.range[0]) : best;
      const valPos = (node as Node | null)?.range ? pos(src, (node as Node).range![0]) : keyPos;
      best = anchor === 'value' ? valPos : keyPos;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item?.range) return best;
      keyNode = undefined;
      node = item;
      best = pos(src, item.range[0]);
    } else {
      return best;
    }
  }
  return best;
}

export function errorAt(src: DocSource, path: readonly PathSegment[], code: LoadErrorCode, message: string, anchor: Anchor = 'value'): LoadError {
  const p = locate(src, path, anchor);
  return { file: src.file, line: p.line, column: p.column, path: formatPath(path), message, code };
}
