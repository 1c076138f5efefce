// A sandbox CRM's data kept in a file as a journal: one JSON line per change, appended (writeSync on a
// file opened for appending) before the API call that made it answers, so even a kill -9 loses nothing
// the app was told; at open the lines are replayed and compacted into one snapshot line. Each CRM
// flavour states its own line types (../sandbox/persist.ts, ../sandbox-salesforce/persist.ts).
import { closeSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';

export class SandboxDataError extends Error {
  override readonly name = 'SandboxDataError';
}

/**
 * A journal's lines, each a JSON object whose `t` is one of `lineTypes`; a missing file is an empty
 * journal, a torn last line (a crash mid-write) is dropped. `what` names the file in errors ("the
 * sandbox CRM's data file").
 */
export function readJournalLines<Line>(file: string, lineTypes: ReadonlySet<string>, what: string): Line[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const raw = text.split('\n');
  const lines: Line[] = [];
  const damaged = (i: number, how: string) =>
    new SandboxDataError(`${what} ${file} ${how} at line ${i + 1} (npm run demo:reset starts afresh)`);
  for (const [i, line] of raw.entries()) {
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      if (i === raw.length - 1) break;
      throw damaged(i, 'is damaged');
    }
    const t = (parsed as { t?: unknown } | null)?.t;
    if (typeof t !== 'string' || !lineTypes.has(t)) throw damaged(i, 'has an unknown entry');
    lines.push(parsed as Line);
  }
  return lines;
}

/** Appends lines to the journal file; `compact` replaces its content by one snapshot line. */
export class JournalFile<Line, State> {
  private fd: number | undefined;

  constructor(
    private readonly file: string,
    private readonly snapshot: (state: State) => Line,
  ) {}

  /** Writes the snapshot to a new file and swaps it in, then appends to it. */
  compact(state: State): void {
    const tmp = `${this.file}.tmp`;
    // Owner-only: the records are people's names, emails and phone numbers.
    writeFileSync(tmp, JSON.stringify(this.snapshot(state)) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
    this.close();
    this.fd = openSync(this.file, 'a', 0o600);
  }

  append(line: Line): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, JSON.stringify(line) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
