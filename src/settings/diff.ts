// A line diff of two texts (longest common subsequence), for "draft against published". Rule files are
// small; past a size where the table would be large, the diff is all of one then all of the other.

const MAX_CELLS = 4_000_000;

/** Unified-style lines: ' ' kept, '-' only in `before`, '+' only in `after`. */
export function lineDiff(before: string, after: string): string[] {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  // Common head and tail are kept as is: most edits touch a few lines in the middle.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const middle: string[] = [];
  if ((x.length + 1) * (y.length + 1) > MAX_CELLS) {
    middle.push(...x.map((l) => `-${l}`), ...y.map((l) => `+${l}`));
  } else {
    const cols = y.length + 1;
    const lcs = new Uint32Array((x.length + 1) * cols);
    for (let i = x.length - 1; i >= 0; i--)
      for (let j = y.length - 1; j >= 0; j--)
        lcs[i * cols + j] =
          x[i] === y[j]
            ? (lcs[(i + 1) * cols + j + 1] ?? 0) + 1
            : Math.max(lcs[(i + 1) * cols + j] ?? 0, lcs[i * cols + j + 1] ?? 0);
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
      if (i < x.length && j < y.length && x[i] === y[j]) {
        middle.push(` ${x[i]}`);
        i++;
        j++;
      } else if (
        j < y.length &&
        (i === x.length || (lcs[i * cols + j + 1] ?? 0) >= (lcs[(i + 1) * cols + j] ?? 0))
      ) {
        middle.push(`+${y[j]}`);
        j++;
      } else {
        middle.push(`-${x[i]}`);
        i++;
      }
    }
  }
  return [
    ...a.slice(0, head).map((l) => ` ${l}`),
    ...middle,
    ...a.slice(a.length - tail).map((l) => ` ${l}`),
  ];
}
