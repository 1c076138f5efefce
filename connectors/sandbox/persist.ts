// The sandbox CRM's data kept in a file, so a restarted demo continues where it stopped: the same
// contacts, owners, sequences and write log, no contact or event id used twice, and the webhooks it had
// not delivered sent again (as HubSpot retries them).
//
// The file is a journal. Every change is appended as one JSON line (writeSync on a file opened for
// appending) before the API call that made it answers, so even a kill -9 loses nothing the app was told
// — the kernel holds the bytes; only a power cut could lose the last lines. Nothing is rewritten while
// running, so a change costs one short write, whatever the portal's size. At open the journal is
// replayed and compacted into one snapshot line. Only `npm start` passes a file: tests and benchmarks
// keep the sandbox in memory and never touch the disk.
import { closeSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import type { PortalOp, PortalSnapshot } from './store.js';
import type { WebhookEvent } from './webhooks.js';
import type { WriteRecord } from './write-log.js';

export interface SandboxState {
  portals: PortalSnapshot[];
  writes: WriteRecord[];
  nextEventId: number;
  /** Events queued for delivery and never answered 2xx (nor given up on). */
  undelivered: WebhookEvent[];
}

export type JournalLine =
  | { t: 'snapshot'; state: SandboxState }
  | { t: 'portal'; portalId: number }
  | { t: 'change'; portalId: number; change: PortalOp }
  | { t: 'write'; record: WriteRecord }
  | { t: 'writesCleared' }
  | { t: 'queued'; event: WebhookEvent }
  | { t: 'settled'; eventIds: number[] };

const LINE_TYPES = new Set(['snapshot', 'portal', 'change', 'write', 'writesCleared', 'queued', 'settled']);

export class SandboxDataError extends Error {
  override readonly name = 'SandboxDataError';
}

/** Reads a journal's lines; a missing file is an empty journal. A torn last line (a crash mid-write) is dropped. */
export function readJournal(file: string): JournalLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const raw = text.split('\n');
  const lines: JournalLine[] = [];
  for (const [i, line] of raw.entries()) {
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      if (i === raw.length - 1) break;
      throw new SandboxDataError(
        `the sandbox CRM's data file ${file} is damaged at line ${i + 1} (npm run demo:reset starts afresh)`,
      );
    }
    const t = (parsed as { t?: unknown } | null)?.t;
    if (typeof t !== 'string' || !LINE_TYPES.has(t)) {
      throw new SandboxDataError(
        `the sandbox CRM's data file ${file} has an unknown entry at line ${i + 1} (npm run demo:reset starts afresh)`,
      );
    }
    lines.push(parsed as JournalLine);
  }
  return lines;
}

/** Appends changes to the journal file; `compact` replaces its content by one snapshot. */
export class SandboxJournal {
  private fd: number | undefined;

  constructor(private readonly file: string) {}

  /** Writes the snapshot to a new file and swaps it in, then appends to it. */
  compact(state: SandboxState): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ t: 'snapshot', state } satisfies JournalLine) + '\n');
    renameSync(tmp, this.file);
    this.close();
    this.fd = openSync(this.file, 'a');
  }

  append(line: JournalLine): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, JSON.stringify(line) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
