// The storage's public data shapes, and the schemas that JSON columns are parsed with when read back.
import type { NotificationInput } from './notifications.js';
import { z } from 'zod';
import type { CrmEvent, Directory } from '../../connectors/connector.js';
import type {
  Account,
  Action,
  AssignmentTrace,
  Decision,
  Lead,
  PoolState,
  QueueTarget,
  RepCounters,
  ResolvedDestination,
  RouteTrace,
  RoutingState,
  DecisionSla,
  SlaBreach,
  SlaStep,
  Trace,
} from '../core/types.js';

/**
 * Encrypts secrets at rest (the keyring in connectors/shared/crypto.ts); storage never sees a key.
 * `context` names the secret's owner and purpose (`tenant:<id>:oauth-token`) and is bound to the blob,
 * so a blob copied to another tenant or use does not decrypt.
 */
export interface Cipher {
  encrypt(plain: string, context: string): string;
  decrypt(blob: string, context: string): string;
  /** Sealed under the current key and format; `keys rotate` re-encrypts every other blob. */
  isCurrent(blob: string): boolean;
}

/** What `reencryptSecrets` did: tenants re-encrypted, already current, and those it could not read. */
export interface ReencryptReport {
  reencrypted: string[];
  current: number;
  failed: { tenantId: string; reason: string }[];
}

/**
 * A CRM's key (`hubspot`, `salesforce`, `sandbox`, …). Storage knows no list: any short lowercase
 * identifier is accepted, and the composition root decides which connectors exist.
 */
export type Provider = string;
export const providerSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a provider is a short lowercase identifier (a-z, 0-9, _ or -)');

export interface NewTenant {
  /** Generated when absent. */
  id?: string | undefined;
  provider: Provider;
  /** HubSpot portal id, Salesforce org id. */
  externalId: string;
  name: string;
  /** A reference (env var name, secret manager path), never the secret itself. */
  webhookSecretRef?: string | undefined;
  settings?: Record<string, unknown> | undefined;
}

/** A tenant as the app sees it. The token never leaves storage except through `getTenantToken`. */
export interface Tenant {
  id: string;
  provider: Provider;
  externalId: string;
  name: string;
  hasToken: boolean;
  webhookSecretRef: string | null;
  settings: Record<string, unknown>;
  activeRulesetVersion: string | null;
  /** When the portal uninstalled the app (its tokens are gone, its work waits); null while installed. */
  uninstalledAt: number | null;
  /** The tenant's routing is paused while its CRM account refuses our credentials; null while it routes. */
  pause: TenantPause | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * The CRM account refuses our credentials for a reason of its own policy (outside login hours, outside
 * IP ranges, a user not pre-authorized): the grant stands, the tenant's work waits unclaimed, and the
 * credentials are tried again at `checkAt`.
 */
export interface TenantPause {
  since: number;
  reason: string;
  checkAt: number;
}

/** Rows a privacy deletion removed, per table: all that is kept of it. */
export type PrivacyDeletionCounts = Record<
  'decisions' | 'actions' | 'holds' | 'slaTimers' | 'effects' | 'inbox',
  number
>;

export interface Ruleset {
  tenantId: string;
  version: string;
  name: string;
  source: string;
  status: 'draft' | 'published';
  createdBy: string | null;
  createdAt: number;
  publishedBy: string | null;
  publishedAt: number | null;
}

export type InboxState = 'pending' | 'leased' | 'done' | 'failed';

/**
 * Which of a tenant's work comes first: `live` (a new record's event, a hold that timed out) before
 * `bulk` (replayed dead letters; later backfills, reassignments and re-decisions), so a bulk job never
 * delays a new lead. Stored as a number so the claim can order by it.
 */
export const WORK_PRIORITIES = { live: 0, bulk: 1 } as const;
export type WorkPriority = keyof typeof WORK_PRIORITIES;

export interface InboxItem {
  id: number;
  tenantId: string;
  event: CrmEvent;
  priority: WorkPriority;
  state: InboxState;
  /** Claims so far, including the current one. */
  attempts: number;
  runAfter: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ClaimOptions {
  /**
   * Claim only this tenant's work. When absent, the tenant is chosen in turn among those with due work
   * (the one served longest ago first), and a batch never mixes tenants.
   */
  tenantId?: string | undefined;
  /**
   * Skip a tenant that already has this many batches in flight across the deployment (distinct holders
   * of unexpired leases), so a tenant waiting on its own CRM budget never holds every lane. One number
   * for every tenant, or the number for a tenant's provider (each CRM's budget keeps its own busy).
   */
  maxBatchesPerTenant?: number | ((provider: Provider) => number) | undefined;
  /** Who holds the lease: one holder per batch, since in-flight batches are counted by holder. */
  workerId: string;
  limit: number;
  leaseMs: number;
  now: number;
}

/** `claimed`: you act now. `mine`: this inbox row already holds it (a retry), act. `taken`: another row did. */
export type EffectClaim = 'claimed' | 'mine' | 'taken';

export type ActionStatus = 'planned' | 'done' | 'failed';

export interface PlannedAction {
  id: number;
  tenantId: string;
  leadId: string;
  decisionKey: string;
  /** Stable idempotency key of this action (pass it to the CRM as TaskCreate.key / NoteCreate.key). */
  key: string;
  kind: Action['kind'];
  action: Action;
  status: ActionStatus;
  crmId: string | null;
  /** Why it failed; for one done with nothing written, why not (a Salesforce queue's task). */
  reason: string | null;
  /**
   * When a create was last sent without its outcome being recorded (the worker died, or the CRM did not
   * answer): the CRM may hold it, so the next attempt looks for it before creating again. Null when
   * never sent, or when the last send is known not to have been applied.
   */
  sentAt: number | null;
  /** A planned action being written now: by whom, until when (null when nobody holds it). */
  leaseOwner: string | null;
  leaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface ActionClaimOptions {
  workerId: string;
  /** The claim lapses then, and another worker may take the action over. */
  leaseUntil: number;
  now: number;
  /**
   * Actions whose last send is unresolved are claimed only if it was sent at or before this time: CRM
   * search lags writes, so looking for the create too early would miss it.
   */
  sentBefore: number;
}

/** When a tenant's deferred actions of a kind are ripe to be claimed together (see claimActionsOfKind). */
export interface RipeActions {
  /** This many are waiting: a full batch. */
  fullBatch: number;
  /** The oldest was planned at or before this time: it has waited long enough, whatever else is going on. */
  overdueBefore: number;
  /** The oldest was planned at or before this time and the tenant has no inbox work due or in hand. */
  quietBefore: number;
}

export type InboxStats = Record<InboxState, number>;

/** Work waiting, in flight and dead, per tenant: what `/metrics` shows (done rows are never counted). */
export type QueueDepth = Record<Exclude<InboxState, 'done'>, number>;

/**
 * How long finished rows are kept, in ms. Rows still needed are never purged whatever their age:
 * pending and leased work, dead letters within `deadLetterMs`, claimed effect keys, decisions with a
 * planned action, an SLA timer armed and due within `decisionMs`, or an open hold.
 */
export interface RetentionPolicy {
  /** Inbox rows routed (done), counted from when they finished. */
  inboxDoneMs: number;
  /** Dead letters nobody replayed, counted from when they failed; their claimed effect keys go with them. */
  deadLetterMs: number;
  /**
   * The audit trail: decisions with their actions and SLA timers (settled, or armed but due longer ago
   * than this), finished effect keys and settled holds. At least the other two: a lead is never routed twice while its effect key or
   * decision is kept.
   */
  decisionMs: number;
}

/** Rows one `purgeExpired` call deleted, per kind; a count equal to the batch size means more may be due. */
export interface PurgeCounts {
  inbox: number;
  deadLetters: number;
  effects: number;
  decisions: number;
  holds: number;
  /** SLA steps taken (done or failed), kept as long as decisions. */
  slaSteps: number;
  /** Notifications delivered (kept as long as done inbox rows) or given up (as long as dead letters). */
  notifications: number;
  /** Per-minute CRM call counts (the Health page's recent errors), kept as long as done inbox rows. */
  crmCalls: number;
}

export interface DecisionRecord {
  id: number;
  tenantId: string;
  decisionKey: string;
  leadId: string;
  email: string | null;
  decidedAt: number;
  route: { index: number; name: string } | null;
  destination: ResolvedDestination;
  /** The rep email for a rep destination, else null. */
  owner: string | null;
  ruleSet: { name: string; version: string };
  actions: Action[];
  sla: DecisionSla | null;
  trace: Trace;
  summary: string;
}

export type HoldStateName = 'held' | 'released' | 'timed_out';

export interface Hold {
  id: number;
  tenantId: string;
  leadId: string;
  route: string;
  fields: string[];
  since: number;
  until: number;
  state: HoldStateName;
  releasedAt: number | null;
}

export type SlaState = 'armed' | 'met' | 'breached' | 'cancelled';

export interface SlaTimer {
  id: number;
  tenantId: string;
  leadId: string;
  decisionKey: string;
  owner: string | null;
  dueAt: number;
  onBreach: SlaBreach;
  state: SlaState;
  createdAt: number;
  updatedAt: number;
}

/**
 * The version of each stored rotation entry (a pool's rotation, a rep's counters); an entry that is not
 * stored yet is absent (version 0). Rotation is stored one row per entry, so a commit checks and writes
 * only the entries its decision changed.
 */
export interface StateVersions {
  pools: Record<string, number>;
  reps: Record<string, number>;
}

export interface VersionedState {
  state: RoutingState;
  /** Pass them back to `commitDecisions` / `saveRoutingState` with the decisions made from `state`. */
  versions: StateVersions;
}

/** One decision to commit; `decisionKey` names it for retries (e.g. `<leadId>:route`). */
export interface DecisionInput {
  decisionKey: string;
  decision: Decision;
  email?: string | undefined;
  summary: string;
  /** When the CRM event this decision answers happened (epoch ms), for speed-to-lead reports. */
  eventAt?: number | undefined;
  /** What it was decided on, kept so the lead can be decided again under another version. */
  inputs?: { lead: Lead; account: Account | null } | undefined;
  /** Its notification's deliveries (an assignment), recorded only if the decision is. */
  notifications?: readonly NotificationInput[] | undefined;
  /**
   * The lead decided again because the CRM refused the owner the decision before chose (its key:
   * `decisionKey` without its last `DECIDED_AGAIN`): that decision's actions not written yet fail with
   * `reason` in the same transaction, and a replay leaves them failed. Its notifications named in
   * `withdrawNotifications` (message ids) that no sender has taken yet are withdrawn with it.
   */
  decidedAgain?: { reason: string; withdrawNotifications?: readonly string[] | undefined } | undefined;
}

/**
 * What a decision's key ends with when the lead was decided again, within the same effect, because the
 * CRM refused the owner the decision under the rest of the key chose (deactivated since its users were
 * read). Decided again once more, the key takes it twice.
 */
export const DECIDED_AGAIN = '~owner-inactive';

/** The key of the decision made again after `decisionKey`'s owner was refused. */
export const decidedAgainKey = (decisionKey: string): string => `${decisionKey}${DECIDED_AGAIN}`;

/** The key of the decision that `decisionKey` was decided again after, or undefined for a first one. */
export function decidedBeforeKey(decisionKey: string): string | undefined {
  return decisionKey.endsWith(DECIDED_AGAIN) ? decisionKey.slice(0, -DECIDED_AGAIN.length) : undefined;
}

/** The key of the lead's first decision for its purpose (`<leadId>:<purpose>`), however often decided again. */
export function firstDecisionKey(decisionKey: string): string {
  const at = decisionKey.indexOf(DECIDED_AGAIN);
  return at < 0 ? decisionKey : decisionKey.slice(0, at);
}

export type CommitResult =
  | { status: 'committed'; decisionId: number; actions: PlannedAction[] }
  /**
   * A rotation entry the decision changed moved since it was loaded, or an earlier decision of the same
   * commit could not be written: nothing of it was written; load again and re-decide.
   */
  | { status: 'conflict' }
  /** This decision key was committed before (a retry after a crash): continue with its actions. */
  | { status: 'already_decided'; decision: DecisionRecord; actions: PlannedAction[] };

// ---------------------------------------------------------------------------------------------------
// Schemas for values crossing into storage and JSON read back from it.

export const crmEventSchema = z.object({
  eventId: z.string().min(1),
  subscription: z.string().min(1),
  kind: z.enum(['created', 'changed']),
  objectId: z.string().min(1),
  property: z.string().optional(),
  value: z.string().optional(),
  occurredAt: z.number().finite(),
  source: z.string().optional(),
}) satisfies z.ZodType<CrmEvent>;

/**
 * A list of numbers checked in one loop: a rep's `recent` holds up to a day of assignment times, and
 * every decision that assigns the rep carries it, so zod's per-element parsing cost a burst a quadratic
 * share of its CPU.
 */
const numberList = z.custom<number[]>(
  (v) => Array.isArray(v) && v.every((x) => typeof x === 'number' && !Number.isNaN(x)),
  {
    message: 'expected a list of numbers',
  },
);

export const repCountersSchema = z.object({
  dayKey: z.string(),
  day: z.number(),
  weekKey: z.string(),
  week: z.number(),
  recent: numberList,
  open: z.number(),
}) satisfies z.ZodType<RepCounters>;

/**
 * Weighted rotation as stored before shares were carried across changes of the eligible set: counts
 * within one eligible set (`members` is `a|b#2:1`, the emails and their weights) since it began.
 */
const legacyWeightedSchema = z.object({
  members: z.string(),
  counts: z.record(z.number()),
  total: z.number(),
});

/** What each rep of a legacy epoch was owed: its share of the epoch's leads minus the leads it got. */
function owedFromLegacy(legacy: z.infer<typeof legacyWeightedSchema>): Record<string, number> {
  const cut = legacy.members.lastIndexOf('#');
  const emails = legacy.members.slice(0, cut).split('|');
  const weights = legacy.members
    .slice(cut + 1)
    .split(':')
    .map(Number);
  const total = weights.reduce((a, b) => a + b, 0);
  // An unreadable key starts the shares afresh, as the old code did on every change of the set.
  if (cut < 0 || emails.length !== weights.length || !(total > 0)) return {};
  const owed: Record<string, number> = {};
  emails.forEach((email, i) => {
    owed[email] = (legacy.total * (weights[i] ?? 0)) / total - (legacy.counts[email] ?? 0);
  });
  return owed;
}

export const poolStateSchema = z.object({
  turn: z.number(),
  lastTurn: z.record(z.number()),
  weighted: z
    .union([
      z.object({ owed: z.record(z.number()) }),
      legacyWeightedSchema.transform((legacy) => ({ owed: owedFromLegacy(legacy) })),
    ])
    .optional(),
}) satisfies z.ZodType<PoolState, z.ZodTypeDef, unknown>;

export const routingStateSchema = z.object({
  pools: z.record(poolStateSchema),
  reps: z.record(repCountersSchema),
}) satisfies z.ZodType<RoutingState, z.ZodTypeDef, unknown>;

export const directorySchema = z.object({
  owners: z.array(
    z
      .object({
        id: z.string(),
        senderId: z.string().optional(),
        /** How directories saved before the neutral connector contract named `senderId`. */
        userId: z.string().optional(),
        email: z.string(),
        name: z.string(),
        active: z.boolean(),
        teams: z.array(z.string()),
      })
      .transform(({ userId, senderId, ...owner }) => {
        const sender = senderId ?? userId;
        return sender === undefined ? owner : { ...owner, senderId: sender };
      }),
  ),
  queues: z.record(z.string()),
  fetchedAt: z.number(),
}) satisfies z.ZodType<Directory>;

export const settingsSchema = z.record(z.unknown());
export const stringListSchema = z.array(z.string());

export const privacyCountsSchema = z.object({
  decisions: z.number(),
  actions: z.number(),
  holds: z.number(),
  slaTimers: z.number(),
  effects: z.number(),
  inbox: z.number(),
}) satisfies z.ZodType<PrivacyDeletionCounts>;

// What drives CRM writes and what explains them, read back from decisions, actions and SLA timers.

const sequenceSpecSchema = z.object({
  id: z.string().optional(),
  name: z.string().optional(),
  sender: z.string().optional(),
});

const queueTargetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('owner'), owner: z.string() }),
  z.object({ kind: z.literal('team'), team: z.string() }),
]) satisfies z.ZodType<QueueTarget>;

export const actionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('set_owner'), email: z.string() }),
  // Rows from before queues had targets have none: their write fails with that reason.
  z.object({ kind: z.literal('set_queue'), queue: z.string(), target: queueTargetSchema.optional() }),
  z.object({
    kind: z.literal('queue_task'),
    queue: z.string(),
    target: queueTargetSchema.optional(),
    subject: z.string(),
    body: z.string(),
    dueAt: z.number().finite(),
    priority: z.enum(['low', 'medium', 'high']),
  }),
  z.object({
    kind: z.literal('create_task'),
    subject: z.string(),
    body: z.string(),
    dueAt: z.number().finite(),
    priority: z.enum(['low', 'medium', 'high']),
    assignee: z.string(),
  }),
  z.object({ kind: z.literal('enroll_sequence'), sequence: sequenceSpecSchema, sender: z.string() }),
  z.object({ kind: z.literal('write_note'), text: z.string() }),
]) satisfies z.ZodType<Action>;

export const actionListSchema = z.array(actionSchema);

export const resolvedDestinationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('rep'), email: z.string() }),
  z.object({ kind: z.literal('queue'), name: z.string() }),
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('hold'), fields: z.array(z.string()), until: z.number() }),
]) satisfies z.ZodType<ResolvedDestination>;

const slaEscalationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('rep'), email: z.string() }),
  z.object({ kind: z.literal('queue'), name: z.string() }),
  z.object({ kind: z.literal('manager') }),
]);

export const slaBreachSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('remind') }),
  z.object({ kind: z.literal('reroute') }),
  z.object({ kind: z.literal('escalate'), to: slaEscalationSchema }),
]) satisfies z.ZodType<SlaBreach>;

export const slaStepSchema = z.discriminatedUnion('kind', [
  z.object({ afterMs: z.number(), kind: z.literal('remind'), via: z.enum(['task', 'notify']) }),
  z.object({ afterMs: z.number(), kind: z.literal('reroute') }),
  z.object({ afterMs: z.number(), kind: z.literal('escalate'), to: slaEscalationSchema }),
]) satisfies z.ZodType<SlaStep>;

export const decisionSlaSchema = z.object({
  firstTouchBy: z.number(),
  onBreach: slaBreachSchema,
  clock: z.enum(['wall', 'working_hours']).optional(),
  steps: z.array(slaStepSchema).optional(),
  firstTouchMs: z.number().optional(),
});

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The trace is display data read in bulk (explain, audits, every stored decision of a lead), and a rule
 * set of 200 routes makes it large: its shape is checked down to its entries, not through every
 * condition of every route, which would cost more than the read itself.
 */
export const traceSchema = z.object({
  routes: z.array(z.custom<RouteTrace>(isObject, 'expected a route trace object')),
  account: z.custom<Trace['account']>((v) => v === undefined || v === null || isObject(v)).optional(),
  assignments: z.array(z.custom<AssignmentTrace>(isObject, 'expected an assignment trace object')),
  steps: z.array(z.string()),
}) satisfies z.ZodType<Trace>;
