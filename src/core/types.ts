// The routing core's vocabulary. Everything here is plain data: the core is pure and deterministic,
// time is passed in as epoch milliseconds, and every outer layer (rule loading, connectors, storage)
// speaks these types.

/** A value of a CRM field as the core sees it after normalization. */
export type FieldValue = string | number | boolean | null;

/**
 * A lead field's value: a scalar, or the values of a field its CRM types as multi-value (a HubSpot
 * checkbox property, a Salesforce multi-select picklist). The connector, which knows the field's type,
 * gives the array; the core never splits a string.
 */
export type LeadValue = FieldValue | readonly string[];

/** One provider-neutral lead (a HubSpot contact, a Salesforce lead or contact, a CSV row). */
export interface Lead {
  /** The CRM record id, or the row id in a file. */
  id: string;
  email?: string | undefined;
  /** Registrable domain of the email (public suffix list), lower case. */
  emailDomain?: string | undefined;
  firstName?: string | undefined;
  lastName?: string | undefined;
  title?: string | undefined;
  company?: string | undefined;
  /** Registrable domain of the website, lower case, `www.` and subdomains stripped. */
  websiteDomain?: string | undefined;
  /** ISO 3166-1 alpha-2. */
  country?: string | undefined;
  /** Region code without the country prefix (US "CA", CA "ON", AU "NSW") when known, else the raw value. */
  state?: string | undefined;
  postalCode?: string | undefined;
  city?: string | undefined;
  employees?: number | undefined;
  annualRevenue?: number | undefined;
  industry?: string | undefined;
  leadSource?: string | undefined;
  form?: string | undefined;
  productInterest?: string | undefined;
  demoRequested?: boolean | undefined;
  score?: number | undefined;
  /** The current owner, as a rep email (connectors translate CRM owner ids). */
  owner?: string | undefined;
  /** When the lead was created in the CRM (epoch ms). */
  createdAt?: number | undefined;
  /**
   * The CRM lead this record was converted from (a Salesforce Contact made by Convert): it was routed as
   * that lead. Set by the connector; absent for a record that entered the CRM itself.
   */
  convertedFrom?: string | undefined;
  /** Every other CRM field by its CRM name. */
  fields: Record<string, LeadValue>;
}

/** The normalized field names a rule can refer to directly; anything else is looked up in `fields`. */
export const LEAD_FIELDS = [
  'id',
  'email',
  'emailDomain',
  'firstName',
  'lastName',
  'title',
  'company',
  'websiteDomain',
  'country',
  'state',
  'postalCode',
  'city',
  'employees',
  'annualRevenue',
  'industry',
  'leadSource',
  'form',
  'productInterest',
  'demoRequested',
  'score',
  'owner',
  'createdAt',
] as const satisfies readonly (keyof Lead)[];
export type LeadField = (typeof LEAD_FIELDS)[number];

// ---------------------------------------------------------------------------------------------------
// Team

/** Minutes since local midnight; `end` is exclusive. Days are ISO weekdays 1 (Mon) … 7 (Sun). */
export interface WorkingHours {
  days: number[];
  start: number;
  end: number;
}

/**
 * An absence in the rep's local time. Each end is a date `YYYY-MM-DD` or a minute `YYYY-MM-DDTHH:MM`:
 * a date as `from` starts at its midnight, a date as `to` covers its whole day, and a minute as `to` is
 * the first minute the rep is back.
 */
export interface DateRange {
  from: string;
  to: string;
}

export interface Rep {
  /** Reps are named by email; connectors resolve CRM ids later. Lower case. */
  email: string;
  name?: string | undefined;
  /** IANA time zone. */
  timezone: string;
  /** Empty means always available. Several entries allow split shifts. */
  hours: WorkingHours[];
  outOfOffice: DateRange[];
  weight: number;
  caps: { perDay?: number | undefined; perWeek?: number | undefined };
  /** False when the rep is deactivated (in the team file or in the CRM directory). */
  active: boolean;
  /** Why an inactive rep is inactive, when it is not the team file's `active: false`. */
  inactiveReason?: string | undefined;
  /** The rep's manager (an email), from the team file or the CRM's user record: where `escalate: manager` goes. */
  manager?: string | undefined;
}

/**
 * Where a queue's leads land in the CRM, so none is left unowned. CRM-neutral: each connector maps it.
 * - `owner`: an owner record, by email or CRM id: the lead's owner is set to it (a HubSpot owner, such
 *   as one of type QUEUE; a Salesforce Queue as `OwnerId`).
 * - `team`: a team, by CRM id or name: the lead's team is set and a task naming the team is created
 *   (HubSpot `hubspot_team_id`).
 */
export type QueueTarget = { kind: 'owner'; owner: string } | { kind: 'team'; team: string };

export interface Queue {
  name: string;
  target: QueueTarget;
}

export interface Team {
  reps: Record<string, Rep>;
  queues: Record<string, Queue>;
  /** A rep deactivated in the CRM has their open leads routed again automatically (opt-in). */
  reassignDeactivated?: boolean | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Rule set

export interface PostalRange {
  from: string;
  to: string;
}

/** All the keys given in one clause must match; a territory matches when any clause does. */
export interface TerritoryClause {
  country?: string[] | undefined;
  state?: string[] | undefined;
  postalPrefix?: string[] | undefined;
  postalRange?: PostalRange[] | undefined;
  city?: string[] | undefined;
}

export interface Territory {
  name: string;
  clauses: TerritoryClause[];
}

export type Strategy = 'round_robin' | 'weighted' | 'least_loaded';

export interface Pool {
  name: string;
  members: string[];
  strategy: Strategy;
  /** For least_loaded: count assignments in this trailing window (ms); absent means open leads. */
  loadWindowMs?: number | undefined;
  /** Skip reps outside their working hours (default true). */
  respectHours: boolean;
  fallback: Destination;
  /** Notification channels told about this pool's leads. */
  notify?: string[] | undefined;
}

export type CompareOp =
  | 'eq'
  | 'neq'
  | 'in'
  | 'not_in'
  | 'contains'
  | 'starts_with'
  | 'ends_with'
  | 'regex'
  | 'gt'
  | 'gte'
  | 'lt'
  | 'lte'
  | 'between'
  | 'exists'
  | 'missing';

/** A regular expression compiled at load time by the rule loader with a linear-time engine. */
export interface SafePattern {
  source: string;
  test(value: string): boolean;
}

export type Condition =
  | { kind: 'always' }
  | { kind: 'all'; of: Condition[] }
  | { kind: 'any'; of: Condition[] }
  | { kind: 'not'; of: Condition }
  | { kind: 'compare'; field: string; op: 'exists' | 'missing' }
  | {
      kind: 'compare';
      field: string;
      op: 'eq' | 'neq' | 'contains' | 'starts_with' | 'ends_with';
      value: FieldValue;
      caseSensitive: boolean;
    }
  | { kind: 'compare'; field: string; op: 'in' | 'not_in'; values: FieldValue[]; caseSensitive: boolean }
  | { kind: 'compare'; field: string; op: 'gt' | 'gte' | 'lt' | 'lte'; value: number }
  | { kind: 'compare'; field: string; op: 'between'; min: number; max: number }
  | { kind: 'compare'; field: string; op: 'regex'; pattern: SafePattern }
  | { kind: 'territory'; name: string }
  | { kind: 'account_matched'; value: boolean }
  | { kind: 'account_owner_active'; value: boolean }
  | { kind: 'free_mail'; value: boolean }
  /** True when at least one member of the pool (or the rep) is within working hours now. */
  | { kind: 'within_hours'; pool?: string | undefined; rep?: string | undefined };

export type Destination =
  | { kind: 'rep'; email: string }
  | { kind: 'pool'; name: string }
  | { kind: 'queue'; name: string }
  | { kind: 'account_owner'; fallback: Destination }
  | { kind: 'existing_owner'; fallback: Destination }
  | { kind: 'none' }
  /**
   * Hold for enrichment: the route applies only while one of `fields` is missing. When the lead was
   * already held by this route for `timeoutMs`, it goes to `then`.
   */
  | { kind: 'hold'; fields: string[]; timeoutMs: number; then: Destination };

export interface TaskSpec {
  /** Templates with `{{field}}` placeholders (lead fields, plus `owner`, `route`, `reason`). */
  subject: string;
  body?: string | undefined;
  dueInMs: number;
  priority: 'low' | 'medium' | 'high';
}

export interface SequenceSpec {
  id?: string | undefined;
  name?: string | undefined;
  /** Who sends when there is no owner (an automated path); otherwise the new owner sends. */
  sender?: string | undefined;
}

export type SlaBreach = { kind: 'remind' } | { kind: 'reroute' } | { kind: 'escalate'; to: SlaEscalation };

/** Who an SLA escalation hands the lead to: a named rep, a queue, or the owner's manager. */
export type SlaEscalation =
  { kind: 'rep'; email: string } | { kind: 'queue'; name: string } | { kind: 'manager' };

/**
 * One step of an SLA's breach policy, taken when the lead is still untouched `afterMs` after its owner
 * was written, counted on the SLA's clock. Steps run in order; each runs at most once.
 */
export type SlaStep =
  | { afterMs: number; kind: 'remind'; via: 'task' | 'notify' }
  | { afterMs: number; kind: 'reroute' }
  | { afterMs: number; kind: 'escalate'; to: SlaEscalation };

/** Wall time, or only the owner's working time (paused outside hours and while out of office). */
export type SlaClock = 'wall' | 'working_hours';

export interface SlaSpec {
  firstTouchMs: number;
  /** The first step's action (what `on_breach` names); kept for the stored timers that predate steps. */
  onBreach: SlaBreach;
  /** Default wall. */
  clock?: SlaClock | undefined;
  /** In increasing `afterMs`; absent: `onBreach` at `firstTouchMs` (see `slaSteps`). */
  steps?: SlaStep[] | undefined;
}

/** What counts as the first touch of a lead, read from the CRM (each connector maps these). */
export type TouchSignal = 'activity' | 'contacted' | 'status' | 'task_completed';
export const TOUCH_SIGNALS: readonly TouchSignal[] = ['activity', 'contacted', 'status', 'task_completed'];
export const DEFAULT_TOUCH_SIGNALS: readonly TouchSignal[] = ['activity', 'contacted'];

export interface RouteActions {
  task?: TaskSpec | undefined;
  sequence?: SequenceSpec | undefined;
  /** Write the decision's explanation into the CRM as a note. */
  note: boolean;
}

export interface Route {
  name: string;
  /** Position in the file (0-based), for traces. */
  index: number;
  when: Condition;
  assign: Destination;
  actions: RouteActions;
  sla?: SlaSpec | undefined;
  /** Notification channels told about this route's leads. */
  notify?: string[] | undefined;
}

export interface RuleSet {
  name: string;
  /** Content hash of the source, so every decision names the exact rules it used. */
  version: string;
  territories: Record<string, Territory>;
  pools: Record<string, Pool>;
  routes: Route[];
  fallback: Destination;
  /** A team given inline in the rule file; a separate team file takes precedence. */
  team?: Team | undefined;
  /** Actions applied when the fallback is used. */
  fallbackActions: RouteActions;
  /** What counts as a first touch for this rule set's SLAs (default: DEFAULT_TOUCH_SIGNALS). */
  touch?: TouchSignal[] | undefined;
  /** Notification channels by name; routes and pools name the ones told about their leads. */
  notifications?: Record<string, NotifyChannel> | undefined;
}

export type NotifyEvent = 'assignment' | 'reminder' | 'reroute' | 'escalation' | 'dead_letter';
export const NOTIFY_EVENTS: readonly NotifyEvent[] = [
  'assignment',
  'reminder',
  'reroute',
  'escalation',
  'dead_letter',
];

/**
 * Where notifications go. Secrets never sit in the rule file: a Slack incoming-webhook URL and a
 * webhook's signing secret are named by the environment variable that holds them.
 */
export interface NotifyChannel {
  name: string;
  /** The events it is told about (default: all). */
  on: NotifyEvent[];
  slack?: { urlEnv: string } | undefined;
  /** A generic webhook signed per Standard Webhooks. */
  webhook?: { url: string; secretEnv: string } | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Accounts

export interface Account {
  id: string;
  name: string;
  domains: string[];
  /** Owner as rep email. */
  owner?: string | undefined;
  /** Lifecycle: customers win tie-breaks over prospects. */
  type?: 'customer' | 'partner' | 'prospect' | 'other' | undefined;
  contacts?: number | undefined;
}

export interface AccountMatch {
  account: Account;
  by: 'email_domain' | 'website_domain' | 'company_name';
  /** 1 for a domain match, the token similarity for a name match. */
  score: number;
  /** How many accounts were candidates at the deciding step. */
  candidates: number;
  /** The tie-break that decided among several candidates, if there were several. */
  tieBreak?: string | undefined;
}

/** Finds the account of a lead; implemented by the in-memory index and by connector lookups. */
export interface AccountMatcher {
  match(lead: Lead): AccountMatch | null;
}

// ---------------------------------------------------------------------------------------------------
// State that routing reads and writes back (applied atomically by storage)

export interface RepCounters {
  /** Local day (rep's time zone) the `day` count belongs to, `YYYY-MM-DD`. */
  dayKey: string;
  day: number;
  /** Local ISO week, `YYYY-Www`. */
  weekKey: string;
  week: number;
  /** Assignment times kept for least-loaded windows (trimmed to the longest window). */
  recent: number[];
  /** Leads currently open with this rep (maintained by the outer layers). */
  open: number;
}

/** Per-pool rotation state. Strategies read only their own part. */
export interface PoolState {
  /** Global turn counter of this pool. */
  turn: number;
  /** Round robin: the turn at which each rep was last assigned. */
  lastTurn: Record<string, number>;
  /**
   * Weighted: per rep, the share of leads accrued while eligible minus the leads given (negative when
   * ahead). Carried across changes of the eligible set; the values sum to zero.
   */
  weighted?: { owed: Record<string, number> } | undefined;
}

export interface RoutingState {
  pools: Record<string, PoolState>;
  reps: Record<string, RepCounters>;
}

/**
 * Only the entries a decision changed (a pool's rotation, the chosen rep's counters). Copying the whole
 * state per decision would cost more than the decision itself; storage applies these atomically.
 */
export type RoutingStateChanges = RoutingState;

/** The lead's earlier hold, if it is being decided again. */
export interface HoldState {
  route: string;
  since: number;
}

export interface DecisionContext {
  team: Team;
  state: RoutingState;
  accounts?: AccountMatcher | undefined;
  /** Free-mail domains (gmail.com …); the core has a default list. */
  isFreeMail?: ((domain: string) => boolean) | undefined;
  hold?: HoldState | undefined;
  /** Reps who already had this lead (SLA re-route): never chosen again. */
  excludeReps?: string[] | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Decision and trace

export type SkipReason =
  | 'inactive'
  | 'unknown_rep'
  | 'out_of_office'
  | 'outside_hours'
  | 'capped_day'
  | 'capped_week'
  | 'already_had';

export interface CandidateTrace {
  email: string;
  skipped?: SkipReason | undefined;
  /** Human detail: "out of office 2026-12-23..2027-01-02", "25/25 today". */
  detail?: string | undefined;
}

export interface AssignmentTrace {
  pool: string;
  strategy: Strategy;
  candidates: CandidateTrace[];
  chosen?: string | undefined;
  /** How the winner was chosen: "next in weighted rotation (2:1)", "least loaded (3 open)". */
  reason: string;
  /** True when nobody was eligible and the pool's fallback was used. */
  fellBack: boolean;
}

export interface ConditionTrace {
  /** Readable form of the condition: `country in [DE, AT, CH]`. */
  text: string;
  result: boolean;
  /** The lead values the condition looked at. */
  values?: Record<string, LeadValue | undefined> | undefined;
  children?: ConditionTrace[] | undefined;
}

export interface RouteTrace {
  index: number;
  name: string;
  matched: boolean;
  condition: ConditionTrace;
  /** Why a matching route was passed over anyway (hold not needed). */
  note?: string | undefined;
}

export interface Trace {
  routes: RouteTrace[];
  account?:
    | (Omit<AccountMatch, 'account'> & { accountId: string; accountName: string; owner?: string | undefined })
    | null
    | undefined;
  assignments: AssignmentTrace[];
  /** Each step of destination resolution: "account owner inactive → fallback pool emea-ae". */
  steps: string[];
}

export type ResolvedDestination =
  | { kind: 'rep'; email: string }
  | { kind: 'queue'; name: string }
  | { kind: 'none' }
  | { kind: 'hold'; fields: string[]; until: number };

/** Why a decision used a fallback destination (counted in metrics by reason). */
export type FallbackReason =
  | 'no_route_matched'
  | 'hold_timed_out'
  | 'pool_nobody_eligible'
  | 'unknown_pool'
  | 'rep_unavailable'
  | 'no_account_matched'
  | 'account_has_no_owner'
  | 'account_owner_unavailable'
  | 'lead_has_no_owner'
  | 'existing_owner_unavailable'
  | 'fallback_chain_too_long';

export type Action =
  | { kind: 'set_owner'; email: string }
  /**
   * The queue's CRM write: the owner or team its target names. `target` is absent only when the team
   * had none for the queue at decision time; the write then fails with that reason, it is never skipped.
   */
  | { kind: 'set_queue'; queue: string; target?: QueueTarget | undefined }
  | {
      kind: 'create_task';
      subject: string;
      body: string;
      dueAt: number;
      priority: 'low' | 'medium' | 'high';
      assignee: string;
    }
  /**
   * A task for a queue's lead: assigned to the queue's owner (owner target), or naming the queue's team
   * (team target: its due time is the route's task or SLA).
   */
  | {
      kind: 'queue_task';
      queue: string;
      target?: QueueTarget | undefined;
      subject: string;
      body: string;
      dueAt: number;
      priority: 'low' | 'medium' | 'high';
    }
  | { kind: 'enroll_sequence'; sequence: SequenceSpec; sender: string }
  | { kind: 'write_note'; text: string };

/** A decision's SLA: its deadline, and the policy its timer follows from the owner write. */
export interface DecisionSla {
  firstTouchBy: number;
  onBreach: SlaBreach;
  clock?: SlaClock | undefined;
  steps?: SlaStep[] | undefined;
  firstTouchMs?: number | undefined;
}

export interface Decision {
  leadId: string;
  ruleSet: { name: string; version: string };
  decidedAt: number;
  /** The route that decided, or null for the rule set's fallback. */
  route: { index: number; name: string } | null;
  destination: ResolvedDestination;
  actions: Action[];
  sla?: DecisionSla | undefined;
  trace: Trace;
  /** The state entries this decision changed; apply them with `applyStateChanges`. */
  stateChanges: RoutingStateChanges;
  /** Each fallback taken on the way to the destination, in order; absent when none was. */
  fallbacks?: FallbackReason[] | undefined;
}
