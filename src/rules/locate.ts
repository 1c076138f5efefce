// Maps a field path back to the YAML node it came from, for file:line:col in diagnostics.
import {
  isMap,
  isScalar,
  isSeq,
  type Document,
  type LineCounter,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import type { PathSegment } from './diagnostics.js';

export interface Position {
  line: number;
  column: number;
}

// Pairs by key per mapping, built on first use: a file with thousands of errors in one mapping would
// otherwise scan that mapping once per error.
const pairsByKey = new WeakMap<YAMLMap, Map<string, Pair>>();

function pairAt(map: YAMLMap, key: PathSegment): Pair | undefined {
  let index = pairsByKey.get(map);
  if (index === undefined) {
    index = new Map();
    for (const p of map.items) {
      const k = String(isScalar(p.key) ? p.key.value : p.key);
      if (!index.has(k)) index.set(k, p);
    }
    pairsByKey.set(map, index);
  }
  return index.get(String(key));
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
      const pair = pairAt(node, seg);
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
