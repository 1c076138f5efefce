// Misaligned indentation in plain words. The YAML parser reports a key indented a space too far or too
// little with its grammar's terms ("All mapping items must start at the same column", "Nested mappings
// are not allowed in compact mappings"), at column 1 or at the line before the one to fix. This reads the
// block structure line by line, as people indent it, and names the first line that lines up with nothing.

/** A misaligned or tab-indented line: 1-based line and column of what to move, and what to do. */
export interface IndentProblem {
  line: number;
  column: number;
  message: string;
}

/** The parser's error codes that a misaligned line or a tab causes (and nothing else of ours reads). */
export const INDENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'BAD_INDENT',
  'BLOCK_AS_IMPLICIT_KEY',
  'MULTILINE_IMPLICIT_KEY',
  'MISSING_CHAR',
  'TAB_AS_INDENT',
]);

interface Level {
  column: number;
  kind: 'key' | 'item';
}

/** One line's structure: where its keys and list dashes sit, and whether it opens a nested block. */
interface Shape {
  /** The list dashes and the key that start the line, by 0-based column, outermost first. */
  parts: { column: number; kind: 'key' | 'item'; name: string }[];
  /** Ends in `key:` or `-` with nothing after it: the next deeper line is its content. */
  opens: boolean;
  /** Ends in `|` or `>`: the deeper lines after it are text. */
  blockScalar: boolean;
  /** Brackets opened on this line and not closed. */
  flowDepth: number;
}

/** The line with quoted strings blanked and a comment cut, so brackets and `:` are found in code only. */
function code(text: string): string {
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      out += ' ';
    } else if (c === '"' || c === "'") {
      quote = c;
      out += ' ';
    } else if (c === '#' && (i === 0 || /\s/.test(text.charAt(i - 1)))) break;
    else out += c;
  }
  return out;
}

/** How many brackets are open after `text`, from `depth` open before it. */
function brackets(text: string, depth: number): number {
  let open = depth;
  for (const c of code(text)) {
    if (c === '[' || c === '{') open += 1;
    else if ((c === ']' || c === '}') && open > 0) open -= 1;
  }
  return open;
}

const KEY = /^("[^"]*"|'[^']*'|[^\s"'#[\]{},&*!|>%@`-][^#]*?|-[^\s#][^#]*?)\s*:(\s|$)/;

function shapeOf(text: string, indent: number): Shape {
  const parts: Shape['parts'] = [];
  let at = indent;
  let rest = text.slice(indent);
  // `- - name: a`: each dash is a list item, the key after them a mapping inside the innermost.
  for (let m = /^-(\s+|$)/.exec(rest); m !== null; m = /^-(\s+|$)/.exec(rest)) {
    parts.push({ column: at, kind: 'item', name: '-' });
    at += m[0].length;
    rest = rest.slice(m[0].length);
  }
  const key = KEY.exec(rest);
  let value = rest;
  if (key !== null) {
    parts.push({ column: at, kind: 'key', name: (key[1] ?? '').replace(/^["']|["']$/g, '') });
    value = rest.slice(key[0].length);
  }
  const bare = code(value).trim();
  // An anchor or a tag alone is no value either: `base: &base` opens its block.
  const valueless = bare.replace(/^([&!]\S*\s*)*/, '') === '';
  return {
    parts,
    opens: parts.length > 0 && valueless,
    blockScalar: /^([&!]\S*\s+)*[|>][-+0-9]*$/.test(bare),
    flowDepth: brackets(value, 0),
  };
}

/** Of `levels` (deepest first), the nearest to `column` of `kind`, or of any kind when none is. */
function nearest(levels: Level[], kind: Level['kind'], column: number): Level | undefined {
  const closest = (ls: Level[]): Level | undefined =>
    ls.reduce<Level | undefined>(
      (best, l) =>
        best === undefined || Math.abs(l.column - column) < Math.abs(best.column - column) ? l : best,
      undefined,
    );
  return closest(levels.filter((l) => l.kind === kind)) ?? closest(levels);
}

const spaces = (n: number): string => `${n} space${n === 1 ? '' : 's'}`;

function misaligned(what: Shape['parts'][number], at: number, level: Level): string {
  const subject = what.kind === 'key' ? `"${what.name}"` : 'this list item';
  const around = level.kind === 'key' ? 'the keys around it' : 'the list items around it';
  return `${subject} is indented ${spaces(at)} but ${around} ${level.column}: line them up`;
}

/**
 * The first line at or after `fromLine` (1-based) whose key or list dash lines up with no open block and
 * opens no new one, or that is indented with a tab; undefined when the indentation is consistent (then
 * the parser's own message stands). Text the structure cannot be told from (block scalars, brackets
 * that span lines, plain text continued on the next line) is passed over.
 */
export function indentationProblem(source: string, fromLine: number): IndentProblem | undefined {
  const lines = source.split(/\r\n|\r|\n/);
  const open: Level[] = [];
  let opens = true;
  let flowDepth = 0;
  let scalarAbove: number | undefined;
  for (let n = 0; n < lines.length; n++) {
    const text = lines[n] ?? '';
    const lead = /^[ \t]*/.exec(text)?.[0] ?? '';
    const content = text.slice(lead.length);
    if (content === '' || content.startsWith('#')) continue;
    const indent = lead.length;
    if (scalarAbove !== undefined && indent > scalarAbove && !lead.includes('\t')) continue;
    scalarAbove = undefined;
    if (flowDepth > 0) {
      flowDepth = brackets(content, flowDepth);
      continue;
    }
    if (/^(---|\.\.\.)(\s|$)|^%/.test(content)) {
      open.length = 0;
      opens = true;
      continue;
    }
    const tab = lead.indexOf('\t');
    if (tab >= 0) {
      if (n + 1 < fromLine) continue;
      const key = KEY.exec(content.replace(/^(-\s+)+/, ''));
      const subject = key !== null ? `"${key[1] ?? ''}"` : 'this line';
      return {
        line: n + 1,
        column: tab + 1,
        message: `${subject} is indented with a tab, and YAML indents with spaces only: replace the tab with spaces`,
      };
    }
    const shape = shapeOf(text, indent);
    const first = shape.parts[0];
    // Plain text continued from the line above, or a value alone: nothing to line up.
    if (first === undefined) continue;
    const popped: Level[] = [];
    while ((open.at(-1)?.column ?? -1) > indent) popped.push(open.pop() as Level);
    let top = open.at(-1);
    // A list may sit at its key's own column (`routes:` then `- name: a`); a key after it ends the list.
    if (top !== undefined && top.column === indent && top.kind === 'item' && first.kind === 'key') {
      open.pop();
      top = open.at(-1);
    }
    const aligned = top !== undefined && top.column === indent;
    const child = (top === undefined || top.column < indent) && opens && popped.length === 0;
    const listUnderKey =
      aligned && top?.kind === 'key' && first.kind === 'item' && opens && popped.length === 0;
    if (!aligned && !child) {
      // Too far in: the line above left no block open. Too little: between two open blocks. Either
      // way it was meant to line up with the nearest block of its kind (keys with keys, dashes with
      // dashes), the deeper one on a tie, as the line above is in it.
      const level = nearest([...popped, ...open.slice().reverse()], first.kind, indent);
      if (level !== undefined && n + 1 >= fromLine)
        return { line: n + 1, column: indent + 1, message: misaligned(first, indent, level) };
      // Before the parser's first complaint the file parsed: this is a reading of ours to pass over.
      if (top === undefined || top.column < indent) open.push({ column: indent, kind: first.kind });
    } else if (child || listUnderKey) open.push({ column: indent, kind: first.kind });
    for (const part of shape.parts.slice(1)) open.push({ column: part.column, kind: part.kind });
    opens = shape.opens;
    flowDepth = shape.flowDepth;
    if (shape.blockScalar) scalarAbove = shape.parts.at(-1)?.column ?? indent;
  }
  return undefined;
}
