// The one boundary between lead-router and a CRM. A connector turns one CRM into normalized events,
// leads, accounts and a directory, and applies actions; its `profile` states the facts about its CRM
// that generic code needs (names, batch sizes, rate budget, lookup lag, field names), so nothing outside
// a connector's own folder names a CRM. Connectors import only the core's types.
import type { Account, Lead, LeadField, TouchSignal } from '../src/core/types.js';

/**
 * A CRM's key ('hubspot', 'salesforce', …): chosen by its connector, registered by the composition root,
 * stored with each tenant. The set is open: generic code never lists the CRMs it may meet.
 */
export type CrmProvider = string;

/** One rate-limit budget of a CRM: how many calls may start per interval, and how they are spaced. */
export interface BucketSpec {
  /** Requests allowed per interval. */
  reservoir: number;
  intervalMs: number;
  maxConcurrent?: number;
  /** Spacing between request starts; smooths bursts. */
  minTimeMs?: number;
}

/**
 * What a connector says about its CRM, for generic code: the worker groups and paces its work by it,
 * the limiter is built from its buckets, failure reasons name its records, rules are checked against
 * its field names. Plain data and pure functions, so it can be read before any call is made.
 */
export interface ConnectorProfile {
  /** The CRM's name in reasons and logs ("HubSpot"). */
  readonly crmName: string;
  /** What the CRM calls the account that installs the app, one tenant ("portal", "org"). */
  readonly accountNoun: string;
  /**
   * An id as an operator may type it, in the form the CRM answers and the app stores (Salesforce shows
   * 15-character ids in Setup and record URLs; its API answers the 18-character form).
   */
  readonly storedId: (id: string) => string;
  /**
   * What the CRM calls the record with this id: "contact" for HubSpot; Salesforce routes Leads and
   * Contacts, told apart by the id.
   */
  readonly recordNoun: (leadId: string) => string;
  /** Items per call that the batch methods below send; the worker gathers its work in these sizes. */
  readonly batchSizes: {
    readonly readLeads: number;
    readonly accountDomains: number;
    readonly owners: number;
    readonly tasks: number;
    readonly notes: number;
    readonly enrollments: number;
  };
  /**
   * The CRM's rate budgets by bucket name. The per-tenant limiter is built from these; the connector
   * schedules every call it makes in one of them.
   */
  readonly buckets: Readonly<Record<string, BucketSpec>>;
  /**
   * Batches of one tenant worth having in flight at once, across the deployment: as many as its rate
   * budget keeps busy. More would only wait on that budget while another tenant's lead waits for a lane.
   */
  readonly batchesInFlight: number;
  /**
   * How long after a create the lookups (findTasks, findNotes, findEnrollment) can be trusted to show it:
   * a create whose outcome is unknown is looked for no sooner, or it could be missed and made twice.
   */
  readonly lookupLagMs: number;
  /** The CRM property (field API name) that feeds each standard lead field the CRM has one for. */
  readonly leadFieldProperties: Readonly<Partial<Record<LeadField, string>>>;
  /** The CRM's pulled event stream (Salesforce's Change Data Capture); absent for a CRM that pushes. */
  readonly pulledStream?:
    | {
        /**
         * Its channels, each read by one process per tenant: the streams the health checks expect a
         * reader on.
         */
        readonly channels: readonly string[];
        /** What the account's admin makes sure of in the CRM for the stream to be readable. */
        readonly setupCheck: string;
      }
    | undefined;
  /**
   * How the CRM's custom field names end, when they all end alike (Salesforce `__c`): a rule field so
   * named is one of the CRM's own, read by that name. Such a CRM gives a lead field it has no standard
   * field for (`leadFieldProperties`) no value: its snake_case name cannot be a custom field there.
   */
  readonly customFieldSuffix?: string | undefined;
  /**
   * How every standard field name of the CRM is spelt, when a name alone can tell (Salesforce: letters
   * and digits, no underscore): any other name that is not a custom one (`customFieldSuffix`) is no
   * field of the CRM's (HubSpot's `hs_lead_status` on Salesforce). `spelt` says how, for the warning.
   * Absent: any name may be a field.
   */
  readonly standardFieldName?: { readonly pattern: RegExp; readonly spelt: string } | undefined;
  /**
   * What a team file's queue can land on: a team (`{ team: … }`) only in a CRM with teams a record is
   * given to; a CRM without takes an owner (`{ owner: … }`), which `owner` describes in its words for the
   * error that asks for one. There the directory's queues are owners of records; `queuesOwnTasks` says
   * whether they can own a task too (a Salesforce queue cannot: Task is not an object queues take).
   */
  readonly queueTargets:
    | { readonly teams: true }
    | { readonly teams: false; readonly owner: string; readonly queuesOwnTasks: boolean };
  /**
   * A note body as the CRM gives it back, as plain text: a CRM that stores notes as rich text answers
   * `<p>a &amp; b</p>` for the `a & b` we sent. Whitespace need not be normalized.
   */
  readonly noteText: (stored: string) => string;
}

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
      /**
       * For `rate_limited`: the CRM's allowance for a long period (a day) is spent, so waiting out a rate
       * window will not help; the work is parked for the longest backoff instead.
       */
      quotaExhausted?: boolean | undefined;
      /** A write was sent and no answer came back: the CRM may or may not have applied it. */
      outcomeUnknown?: boolean | undefined;
      /**
       * The write named an owner or user the CRM has deactivated since the directory was read: the
       * directory is out of date (read it again before deciding more leads).
       */
      ownerInactive?: boolean | undefined;
    } = {},
  ) {
    super(message);
  }
}

/** A CRM event, normalized: one new or changed record. */
export interface CrmEvent {
  /** The CRM's id for the event (a delivery's event id, a stream's replay id); not always unique. */
  eventId: string;
  /** Subscription or channel the event came through, in the connector's own words. */
  subscription: string;
  kind: 'created' | 'changed';
  objectId: string;
  /** For property changes: the property and its new value. */
  property?: string | undefined;
  value?: string | undefined;
  /** Epoch ms. */
  occurredAt: number;
  /**
   * Who made the change, opaque to generic code: the connector's intake reads it to drop the echoes of
   * lead-router's own writes.
   */
  source?: string | undefined;
}

export interface DirectoryOwner {
  /** The CRM id that goes in the owner field. */
  id: string;
  /**
   * The id the CRM needs to enroll a lead in a sequence or cadence sent by this owner (HubSpot: the
   * user id, which is not the owner id; a CRM whose owners are its users: `id` again). Absent: this
   * owner cannot send.
   */
  senderId?: string | undefined;
  email: string;
  name: string;
  active: boolean;
  teams: string[];
  /**
   * The user's IANA time zone when the CRM keeps one (Salesforce `TimeZoneSidKey`): a rep the team file
   * does not list is scheduled in it rather than in UTC.
   */
  timezone?: string | undefined;
  /** The CRM id of this owner's manager, when the CRM records one (Salesforce `User.ManagerId`). */
  managerId?: string | undefined;
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
  /** Idempotency key recorded by the pipeline; connectors may pass it to the CRM when supported. */
  key: string;
  /** Absent for a team's task: the task names the team in its subject instead. */
  ownerId?: string | undefined;
  subject: string;
  body: string;
  /** Epoch ms. */
  dueAt: number;
  priority: 'low' | 'medium' | 'high';
}

export interface SequenceEnrollment {
  leadId: string;
  /** Idempotency key recorded by the pipeline; connectors may pass it to the CRM when supported. */
  key: string;
  sequenceId: string;
  /** The sender's `DirectoryOwner.senderId`. */
  senderId: string;
  senderEmail: string;
}

export interface NoteCreate {
  leadId: string;
  /** Idempotency key recorded by the pipeline; connectors may pass it to the CRM when supported. */
  key: string;
  ownerId?: string | undefined;
  text: string;
}

/**
 * What is already on a lead in the CRM, read back when a create's outcome is unknown (the worker died
 * after the CRM accepted it): the worker adopts a match instead of creating a second one.
 */
export interface ExistingTask {
  id: string;
  subject: string;
  /** Due time, epoch ms. */
  dueAt: number;
  ownerId?: string | undefined;
}

export interface ExistingNote {
  id: string;
  body: string;
  /** When the note was written, epoch ms. */
  at: number;
}

export interface ExistingEnrollment {
  id?: string | undefined;
  sequenceId: string;
}

/**
 * Which existing records a bulk job (backfill, reassign) pages through. Every field narrows; none means
 * every lead the CRM holds.
 */
export interface LeadListQuery {
  /** Only records created at or after this time (epoch ms). */
  since?: number | undefined;
  /** Only records without an owner. */
  unowned?: boolean | undefined;
  /** Only records owned by this rep (email; the connector resolves the CRM owner, active or not). */
  owner?: string | undefined;
  /** The connector's cursor from the previous page; absent for the first page. */
  after?: string | undefined;
}

export interface LeadListPage {
  /** The records of this page, in the connector's stable order. */
  ids: string[];
  /** The cursor of the next page; absent on the last page. Opaque: stored and handed back as it is. */
  after?: string | undefined;
  /** Records still to come after this page, when the CRM says (for progress and ETA). */
  remaining?: number | undefined;
}

/** One lead an SLA check asks about. */
export interface TouchQuery {
  leadId: string;
  /** Touches at or after this time count (epoch ms): when the current owner was written. */
  since: number;
  /** The CRM id of the task routing created for the owner, for the `task_completed` signal. */
  taskId?: string | undefined;
}

/** What the CRM shows about one lead for its SLA. */
export interface TouchState {
  /** The current owner's CRM id (HubSpot owner id, Salesforce user or queue id); absent when unowned. */
  ownerId?: string | undefined;
  /** The earliest touch at or after `since` among the signals asked for, if any (epoch ms). */
  touchedAt?: number | undefined;
  signal?: TouchSignal | undefined;
}

/** Per-item outcome of a batch call: the CRM id created, or the error for that item. */
export type ItemResult = { ok: true; id?: string | undefined } | { ok: false; error: CrmError };

/** The fields a CRM account's routed records have, as the account itself lists them. */
/**
 * How long an account's schema (its fields, Salesforce's Task statuses) is reused: an admin's new custom
 * field or renamed status reaches the app within the hour, for a few calls an hour.
 */
export const DEFAULT_SCHEMA_TTL_MS = 60 * 60_000;

export interface AccountFields {
  /** The records they were read from, in the CRM's words ("Lead or Contact"). */
  readonly objects: string;
  /** Lower-cased field name → the field's own name. */
  readonly names: ReadonlyMap<string, string>;
  /**
   * Lower-cased names of the fields that reach the rules as lists, each value compared on its own
   * (HubSpot's multiple checkboxes, Salesforce's multi-select picklists; not one that feeds a lead field).
   */
  readonly multiValued: ReadonlySet<string>;
}

export interface CrmConnector {
  readonly provider: CrmProvider;
  readonly profile: ConnectorProfile;
  /**
   * Reads leads in as few calls as the CRM allows; missing ids are absent from the result. `properties`
   * are CRM property names (see `profile.leadFieldProperties`) read besides the connector's standard ones.
   */
  readLeads(ids: string[], properties: string[]): Promise<Map<string, Lead>>;
  /** Finds accounts by registrable domain, batched. */
  findAccountsByDomain(domains: string[]): Promise<Map<string, Account[]>>;
  directory(): Promise<Directory>;
  setOwners(writes: OwnerWrite[]): Promise<ItemResult[]>;
  /** Puts leads in CRM teams or queues; a CRM without them answers `invalid` per item. */
  setTeams(writes: TeamWrite[]): Promise<ItemResult[]>;
  createTasks(tasks: TaskCreate[]): Promise<ItemResult[]>;
  /** One result per enrollment, in order; sent `profile.batchSizes.enrollments` per call at most. */
  enroll(enrollments: SequenceEnrollment[]): Promise<ItemResult[]>;
  /** Sequences or cadences by id and name, so rules can name them. */
  sequences(): Promise<{ id: string; name: string }[]>;
  writeNotes(notes: NoteCreate[]): Promise<ItemResult[]>;
  /**
   * The tasks associated with each lead (every page), for many leads in as few calls as the CRM allows:
   * a batch of creates whose answers were lost is looked for together. Leads with none are absent.
   * Throws CrmError like readLeads.
   */
  findTasks(leadIds: string[]): Promise<Map<string, ExistingTask[]>>;
  /** The notes associated with each lead, as `findTasks`. */
  findNotes(leadIds: string[]): Promise<Map<string, ExistingNote[]>>;
  /** The lead's current sequence enrollment, or undefined when it has none. */
  findEnrollment(leadId: string): Promise<ExistingEnrollment | undefined>;
  /**
   * One page of existing records (for backfill and reassign), in an order that paging can resume from
   * a stored cursor after a crash. A connector must get past its CRM's cap on one query's results
   * (HubSpot search: 10,000). The Salesforce connector implements it with SOQL
   * keyset paging (`WHERE Id > :after ORDER BY Id`), through the quoting helper.
   */
  listLeads(query: LeadListQuery): Promise<LeadListPage>;
  /**
   * SLA checks, batched: for many leads in as few calls as the CRM allows (a search of recently touched
   * records, never one call per lead), each lead's current owner and its first touch at or after its
   * `since` among `signals`. Leads the CRM no longer has are absent. Throws CrmError like readLeads.
   * HubSpot: a contacts search per 100 leads. Salesforce: the records, their Tasks and their Events,
   * three SOQL queries per chunk of ids (sfconn: a `status` from LeadHistory Field = 'Status' would be
   * exacter than "the owner edited the record").
   */
  touchedLeads(queries: TouchQuery[], signals: readonly TouchSignal[]): Promise<Map<string, TouchState>>;
  checkConnection(): Promise<{ ok: true } | { ok: false; error: CrmError }>;
  /**
   * Reads together what the connector reads once and reuses, and would otherwise read one after another
   * on first use by `leadIds`' batch (Salesforce: the describes of their objects and of Task). Cheap once
   * read. A failure is not kept: the call that needs the answer reads it again.
   */
  prepare?(leadIds: string[]): Promise<void>;
  /**
   * The fields the account's routed records have (Salesforce: Lead and Contact describe), so rules can
   * be checked against this account's fields; null when the CRM would not list them. Absent where any
   * name may be a field.
   */
  accountFields?(): Promise<AccountFields | null>;
}
