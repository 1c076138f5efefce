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
import { JournalFile, readJournalLines, SandboxDataError } from '../sandbox-kit/journal.js';
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

export { SandboxDataError };

/** Reads a journal's lines; a missing file is an empty journal. A torn last line (a crash mid-write) is dropped. */
export function readJournal(file: string): JournalLine[] {
  return readJournalLines<JournalLine>(file, LINE_TYPES, "the sandbox CRM's data file");
}

/** Appends changes to the journal file; `compact` replaces its content by one snapshot. */
export class SandboxJournal extends JournalFile<JournalLine, SandboxState> {
  constructor(file: string) {
    super(file, (state) => ({ t: 'snapshot', state }));
  }
}
