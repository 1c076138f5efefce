// The Salesforce sandbox's data kept in a file, so a restarted `CRM=salesforce npm start` continues with
// the same org: its records, id counters (no record id used twice), retained change events (a stored
// replay id stays valid) and write log. As for the HubSpot sandbox (../sandbox/persist.ts), the file is
// a journal: every record saved, event published and write logged is appended as one JSON line before
// the call that made it answers, and at open the journal is replayed and compacted into one snapshot.
// A damaged file is a SandboxDataError (sandbox-kit/journal.ts). Admin knobs that change a record in
// place (a user deactivated, the assignment rule switched) and the tokens are not kept: the app
// installs again at every start.
import { JournalFile, readJournalLines } from '../sandbox-kit/journal.js';
import type { LeadAssignmentRule, SRecord } from './org.js';
import type { OrgStream, StoredEvent } from './streaming.js';
import type { SfWriteRecord } from './write-log.js';

/** One org as kept: its records by sObject, id counters, assignment rule, and demo facts if seeded. */
export interface OrgSnapshot {
  orgId: string;
  records: Record<string, SRecord[]>;
  counters: Record<string, number>;
  assignmentRule?: LeadAssignmentRule | undefined;
  demo?: { integrationUserId: string; queues: Record<string, string> } | undefined;
  stream?: Omit<OrgStream, 'gapNext'> | undefined;
}

export interface SfSandboxState {
  orgs: OrgSnapshot[];
  /** The org id factory's counters. */
  orgCounters: Record<string, number>;
  writes: SfWriteRecord[];
}

export type SfJournalLine =
  | { t: 'snapshot'; state: SfSandboxState }
  | { t: 'org'; org: OrgSnapshot }
  | { t: 'record'; orgId: string; sobject: string; record: SRecord }
  | { t: 'event'; orgId: string; event: StoredEvent }
  | { t: 'write'; record: SfWriteRecord }
  | { t: 'writesCleared' };

const LINE_TYPES = new Set(['snapshot', 'org', 'record', 'event', 'write', 'writesCleared']);

/** A journal's lines; a missing file is an empty journal, a torn last line (a crash mid-write) is dropped. */
export function readSfJournal(file: string): SfJournalLine[] {
  return readJournalLines<SfJournalLine>(file, LINE_TYPES, "the Salesforce sandbox's data file");
}

/** The state a journal's lines add up to (orgs in creation order, records as last saved). */
export function replaySfJournal(lines: readonly SfJournalLine[]): SfSandboxState {
  const orgs = new Map<string, OrgSnapshot & { byId: Map<string, Map<string, SRecord>> }>();
  let orgCounters: Record<string, number> = {};
  let writes: SfWriteRecord[] = [];
  const put = (org: OrgSnapshot): void => {
    const byId = new Map(
      Object.entries(org.records).map(([obj, list]) => [obj, new Map(list.map((r) => [String(r['Id']), r]))]),
    );
    orgs.set(org.orgId, { ...org, byId });
  };
  for (const line of lines) {
    switch (line.t) {
      case 'snapshot':
        orgs.clear();
        for (const org of line.state.orgs) put(org);
        orgCounters = { ...line.state.orgCounters };
        writes = [...line.state.writes];
        break;
      case 'org': {
        // A seeded org is written whole once seeded: it replaces what its seeding appended.
        const stream = orgs.get(line.org.orgId)?.stream;
        put({ ...line.org, stream: line.org.stream ?? stream });
        break;
      }
      case 'record': {
        const org = orgs.get(line.orgId);
        if (org === undefined) break;
        let table = org.byId.get(line.sobject);
        if (table === undefined) org.byId.set(line.sobject, (table = new Map<string, SRecord>()));
        table.set(String(line.record['Id']), line.record);
        break;
      }
      case 'event': {
        const org = orgs.get(line.orgId);
        if (org === undefined) break;
        const stream = (org.stream ??= { events: [], lastReplayId: 0, purgedThrough: 0 });
        stream.events.push(line.event);
        stream.lastReplayId = Math.max(stream.lastReplayId, line.event.replayId);
        break;
      }
      case 'write':
        writes.push(line.record);
        break;
      case 'writesCleared':
        writes = [];
        break;
      default: {
        const never: never = line;
        throw new Error(`unknown journal line ${JSON.stringify(never)}`);
      }
    }
  }
  return {
    orgs: [...orgs.values()].map(({ byId, ...org }) => ({
      ...org,
      records: Object.fromEntries([...byId].map(([obj, table]) => [obj, [...table.values()]])),
    })),
    orgCounters,
    writes,
  };
}

/** Appends to the journal file; `compact` replaces its content by one snapshot. */
export class SfSandboxJournal extends JournalFile<SfJournalLine, SfSandboxState> {
  constructor(file: string) {
    super(file, (state) => ({ t: 'snapshot', state }));
  }
}
