// The HubSpot sandbox's write records on the shared write log (sandbox-kit/write-log.ts).
import { WriteLog as SharedWriteLog, type LogFilter } from '../sandbox-kit/write-log.js';
import { typeDef } from './associations.js';

export type WriteKind =
  | 'contact.created'
  | 'contact.updated'
  | 'owner.set'
  | 'team.set'
  | 'company.created'
  | 'company.updated'
  | 'task.created'
  | 'note.created'
  | 'association.created'
  | 'enrollment.created';

/** Who caused the write: the app through the API, a seeded import, the contact generator, the admin API. */
export type WriteSource = 'api' | 'import' | 'generator' | 'admin';

export interface WriteRecord {
  seq: number;
  portalId: number;
  kind: WriteKind;
  objectId: string;
  at: number;
  source: WriteSource;
  details: Record<string, string>;
}

export type WriteFilter = Pick<LogFilter<WriteRecord>, 'portalId' | 'kind' | 'objectId' | 'source'>;

/** The HubSpot sandbox's write log: the shared log of WriteRecords. */
export class WriteLog extends SharedWriteLog<WriteRecord> {}

/** The effects the app had on each contact of a portal, from the write log (the "exactly once" witness). */
export interface ContactEffects {
  owners: Map<string, WriteRecord[]>;
  /** `hubspot_team_id` changes, keyed by contact id. */
  teams: Map<string, WriteRecord[]>;
  /** Tasks associated with the contact, keyed by contact id. */
  tasks: Map<string, WriteRecord[]>;
  enrollments: Map<string, WriteRecord[]>;
  notes: Map<string, WriteRecord[]>;
}

export function contactEffects(log: WriteLog, portalId: number): ContactEffects {
  const writes = log.list({ portalId, source: 'api' });
  const taskIds = new Set<string>();
  const noteIds = new Set<string>();
  for (const w of writes) {
    if (w.kind === 'task.created') taskIds.add(w.objectId);
    else if (w.kind === 'note.created') noteIds.add(w.objectId);
  }
  const effects: ContactEffects = {
    owners: new Map(),
    teams: new Map(),
    tasks: new Map(),
    enrollments: new Map(),
    notes: new Map(),
  };
  const add = (m: Map<string, WriteRecord[]>, key: string, w: WriteRecord): void => {
    const list = m.get(key);
    if (list === undefined) m.set(key, [w]);
    else list.push(w);
  };
  for (const w of writes) {
    if (w.kind === 'owner.set') add(effects.owners, w.objectId, w);
    else if (w.kind === 'team.set') add(effects.teams, w.objectId, w);
    else if (w.kind === 'enrollment.created') add(effects.enrollments, w.objectId, w);
    else if (w.kind === 'association.created' && w.details['toType'] === 'contacts') {
      const contact = w.details['toId'] ?? '';
      // Ids are per object type (task 40001 and note 40001 both exist past 10,000 tasks): the
      // association's type says which one this is.
      const from = typeDef(Number(w.details['typeId']))?.from;
      if (from === 'tasks' && taskIds.has(w.objectId)) add(effects.tasks, contact, w);
      else if (from === 'notes' && noteIds.has(w.objectId)) add(effects.notes, contact, w);
    }
  }
  return effects;
}
