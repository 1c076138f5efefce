// The one boundary between lead-router and a CRM. A connector turns one CRM into normalized events,
// leads, accounts and a directory, and applies actions. Connectors import only the core's types.
import type { Account, Lead } from '../src/core/types.js';

/** The closed set of expected failures; one retry policy acts on them. */
export type CrmErrorKind = 'rate_limited' | 'transient' | 'auth' | 'not_found' | 'invalid';

export class CrmError extends Error {
  override readonly name = 'CrmError';
  constructor(
    readonly kind: CrmErrorKind,
    message: string,
    readonly details: {
      status?: number | undefined;
      /** Milliseconds to wait before the next try, from Retry-After or the provider's window. */
      retryAfterMs?: number | undefined;
      /** Provider's own category or policy (HubSpot `policyName`, `category`; Salesforce `errorCode`). */
      code?: string | undefined;
      /** True when waiting will not help today (HubSpot DAILY limit). */
      daily?: boolean | undefined;
      /** A write was sent and no answer came back: the CRM may or may not have applied it. */
      outcomeUnknown?: boolean | undefined;
    } = {},
  ) {
    super(message);
  }
}

/** A CRM event, normalized: one new or changed record. */
export interface CrmEvent {
  /** Provider event id (HubSpot eventId, Salesforce replay id). Not guaranteed unique by providers. */
  eventId: string;
  /** Subscription or channel the event came through (`contact.creation`, `contact.propertyChange`). */
  subscription: string;
  kind: 'created' | 'changed';
  objectId: string;
  /** For property changes: the property and its new value. */
  property?: string | undefined;
  value?: string | undefined;
  occurredAt: number;
  /** The source of the change (HubSpot changeSource/sourceId) to drop echoes of our own writes. */
  source?: string | undefined;
}

export interface DirectoryOwner {
  /** The CRM id that goes in the owner field (HubSpot owner id, Salesforce user id). */
  id: string;
  /** HubSpot user id (distinct from the owner id), needed for sequence enrollment. */
  userId?: string | undefined;
  email: string;
  name: string;
  active: boolean;
  teams: string[];
}

export interface Directory {
  owners: DirectoryOwner[];
  /** Teams or queues by name → CRM id. */
  queues: Record<string, string>;
  fetchedAt: number;
}

/** A lead-router action as applied to one CRM record; ids are CRM ids, already resolved. */
export interface OwnerWrite {
  leadId: string;
  ownerId: string;
  /** Optional routing-reason property value written alongside the owner. */
  reason?: string | undefined;
}

/** A lead put in a CRM team (a queue whose target is a team). */
export interface TeamWrite {
  leadId: string;
  teamId: string;
}

export interface TaskCreate {
  leadId: string;
  /** Absent for a team's task: the task names the team in its subject instead. */
  ownerId?: string | undefined;
  subject: string;
  body: string;
  dueAt: number;
  priority: 'low' | 'medium' | 'high';
  /** Idempotency key recorded by the pipeline; connectors may pass it to the CRM when supported. */
  key: string;
}

export interface SequenceEnrollment {
  leadId: string;
  sequenceId: string;
  /** HubSpot user id of the sender (the new owner). */
  senderUserId: string;
  senderEmail: string;
}

export interface NoteCreate {
  leadId: string;
  ownerId?: string | undefined;
  text: string;
  key: string;
}

/**
 * What is already on a lead in the CRM, read back when a create's outcome is unknown (the worker died
 * after the CRM accepted it): the worker adopts a match instead of creating a second one.
 */
export interface ExistingTask {
  id: string;
  subject: string;
  /** Due time in epoch ms (HubSpot `hs_timestamp`). */
  dueAt: number;
  ownerId?: string | undefined;
}

export interface ExistingNote {
  id: string;
  body: string;
  /** Epoch ms (HubSpot `hs_timestamp`). */
  at: number;
}

export interface ExistingEnrollment {
  id?: string | undefined;
  sequenceId: string;
}

/** Per-item outcome of a batch call: the CRM id created, or the error for that item. */
export type ItemResult = { ok: true; id?: string | undefined } | { ok: false; error: CrmError };

export interface CrmConnector {
  readonly provider: 'hubspot' | 'salesforce' | 'sandbox';
  /** Reads leads in as few calls as the CRM allows; missing ids are absent from the result. */
  readLeads(ids: string[], properties: string[]): Promise<Map<string, Lead>>;
  /** Finds accounts by registrable domain, batched. */
  findAccountsByDomain(domains: string[]): Promise<Map<string, Account[]>>;
  directory(): Promise<Directory>;
  setOwners(writes: OwnerWrite[]): Promise<ItemResult[]>;
  /** Puts leads in CRM teams (HubSpot `hubspot_team_id`); a CRM without teams answers `invalid`. */
  setTeams(writes: TeamWrite[]): Promise<ItemResult[]>;
  createTasks(tasks: TaskCreate[]): Promise<ItemResult[]>;
  enroll(enrollment: SequenceEnrollment): Promise<ItemResult>;
  /** Sequences or cadences by id and name, so rules can name them. */
  sequences(): Promise<{ id: string; name: string }[]>;
  writeNotes(notes: NoteCreate[]): Promise<ItemResult[]>;
  /** Tasks associated with the lead (every page); throws CrmError like readLeads. */
  findTasks(leadId: string): Promise<ExistingTask[]>;
  /** Notes associated with the lead (every page); throws CrmError like readLeads. */
  findNotes(leadId: string): Promise<ExistingNote[]>;
  /** The lead's current sequence enrollment, or undefined when it has none. */
  findEnrollment(leadId: string): Promise<ExistingEnrollment | undefined>;
  /** Whether the lead was touched (call, email, meeting, task completed) since a time, for SLAs. */
  touchedSince(leadId: string, since: number): Promise<boolean>;
  checkConnection(): Promise<{ ok: true } | { ok: false; error: CrmError }>;
}
