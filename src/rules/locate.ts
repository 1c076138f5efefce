// Maps a field path back to the YAML node it came from, for file:line:col in diagnostics.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { PathSegment } from './diagnostics.js';

export interface Position {
  line: number;
  column: number;
}

/**
 * The position of the node at `path` (or of its key when `atKey`). When the path does not exist
 * (a missing key) the deepest existing node is used, so the user still lands near the problem.
 */
export function locate(
  doc: Document,
  lines: LineCounter,
  path: readonly PathSegment[],
  atKey: boolean,
): Position {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  let best: unknown = node;
  for (const seg of path) {
    keyNode = undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (pair === undefined) break;
      keyNode = pair.key;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node === undefined) break;
    } else break;
    best = atKey && keyNode !== undefined ? keyNode : node;
    // A key with an empty value (`assign:`) has a null scalar without a useful range; use the key.
    if (isScalar(node) && node.value === null && keyNode !== undefined) best = keyNode;
  }
  const range = (best as Node | undefined)?.range;
  const offset = range?.[0] ?? 0;
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}
