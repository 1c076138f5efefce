// What the Salesforce sandbox records of every change, on the shared write log (sandbox-kit): the witness
// for "owner, task and cadence written exactly once" and the benchmarks' API-effect counts.
import { WriteLog as SharedWriteLog } from '../sandbox-kit/write-log.js';

export type SfWriteKind = 'record.created' | 'record.updated' | 'owner.set' | 'cadence.enrolled';

/** The app through the API, the seeded org, the lead generator, the admin API. */
export type SfWriteSource = 'api' | 'seed' | 'generator' | 'admin';

export interface SfWriteRecord {
  seq: number;
  orgId: string;
  kind: SfWriteKind;
  /** The sObject written (Lead, Task...); for `cadence.enrolled` the target's. */
  sobject: string;
  objectId: string;
  at: number;
  source: SfWriteSource;
  details: Record<string, string>;
}

export class SfWriteLog extends SharedWriteLog<SfWriteRecord> {}

/** The app's effects on each lead or contact of an org: owners set, tasks created, cadence enrollments. */
export interface TargetEffects {
  owners: Map<string, SfWriteRecord[]>;
  tasks: Map<string, SfWriteRecord[]>;
  cadences: Map<string, SfWriteRecord[]>;
  /** Routing notes: Tasks too, told apart by the subject the connector gives them. */
  notes: Map<string, SfWriteRecord[]>;
}

/** The subject of the Task that carries a routing note (the Salesforce connector's NOTE_SUBJECT). */
const NOTE_SUBJECT = 'lead-router: routing decision';

export function targetEffects(log: SfWriteLog, orgId: string): TargetEffects {
  const effects: TargetEffects = {
    owners: new Map(),
    tasks: new Map(),
    cadences: new Map(),
    notes: new Map(),
  };
  const add = (m: Map<string, SfWriteRecord[]>, key: string, w: SfWriteRecord): void => {
    const list = m.get(key);
    if (list === undefined) m.set(key, [w]);
    else list.push(w);
  };
  for (const w of log.list({ orgId, source: 'api' })) {
    if (w.kind === 'owner.set' && w.details['by'] === 'request') add(effects.owners, w.objectId, w);
    else if (w.kind === 'cadence.enrolled') add(effects.cadences, w.objectId, w);
    else if (w.kind === 'record.created' && w.sobject === 'Task' && w.details['WhoId'] !== undefined)
      add(w.details['Subject'] === NOTE_SUBJECT ? effects.notes : effects.tasks, w.details['WhoId'], w);
  }
  return effects;
}
