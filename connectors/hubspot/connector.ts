// HubSpot behind the CrmConnector interface, on the real @hubspot/api-client used as a typed HTTP layer:
// its own limiter and retry are off (no `limiterOptions`, `numberOfApiCallRetries: 0`); every call goes
// through our per-portal limiter (shared/limiter.ts) and our retry policy (shared/retry.ts).
import { Client } from '@hubspot/api-client';
import { getDomain } from 'tldts';
import { leadFieldForColumn, toLead, type FieldMap } from '../../src/core/normalize.js';
import type { Account, Lead, TouchSignal } from '../../src/core/types.js';
import {
  CrmError,
  DEFAULT_SCHEMA_TTL_MS,
  type AccountFields,
  type ConnectorProfile,
  type CrmConnector,
  type Directory,
  type DirectoryOwner,
  type ExistingEnrollment,
  type ExistingNote,
  type ExistingTask,
  type ItemResult,
  type LeadListPage,
  type LeadListQuery,
  type NoteCreate,
  type OwnerWrite,
  type SequenceEnrollment,
  type TaskCreate,
  type TeamWrite,
  type TouchQuery,
  type TouchState,
} from '../connector.js';
import type { PortalLimiter } from '../shared/limiter.js';
import { withRetry, type RetryPolicy } from '../shared/retry.js';
import { SingleFlightCache } from '../shared/single-flight.js';
import { z } from 'zod';
import {
  classifyHubSpotError,
  crmErrorFromResponse,
  crmErrorFromThrown,
  DEFAULT_WINDOWS,
  HubSpotCrmError,
  lostWriteAnswer,
  outcomeUnknown,
  timeoutError,
  type RateWindows,
} from './errors.js';
import {
  BATCH_SIZE,
  CONTACT_FIELD_MAP,
  DOMAINS_PER_SEARCH,
  HUBSPOT_PROFILE,
  type HubSpotBucket,
} from './profile.js';

// 200 body of a sequence enrollment (hubspot.md §6): `{ id, toEmail, enrolledAt, updatedAt }`.
const enrollResponseSchema = z.object({ id: z.union([z.string(), z.number()]).optional() }).passthrough();

// The client's ResponseContext as its middleware `post` hook sees it.
const responseContextSchema = z.object({
  httpStatusCode: z.number().int(),
  headers: z.record(z.string()),
  body: z.object({ text: z.function() }).passthrough(),
});

/** How long one HubSpot call may take before it is abandoned (a hung connection holds a limiter slot). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * How long a token read before a call queued is used when its slot comes: the token manager refreshes
 * five minutes ahead of expiry, so a minute-old read is still valid.
 */
const TOKEN_REUSE_MS = 60_000;

/** Search pages hold at most 200 results and a query reaches at most 10,000 (§4.3). */
export const SEARCH_PAGE_SIZE = 200;
export const SEARCH_MAX_RESULTS = 10_000;

/** Sequence enrollment is not wrapped by the client 13.5 (§6). */
export const SEQUENCE_ENROLL_PATH = '/automation/v4/sequences/enrollments';
/** Lists sequences; `userId` is required (hubspot.md §6). Also not wrapped by the client 13.5. */
export const SEQUENCES_PATH = '/automation/v4/sequences';
/** Page size for the sequences list. */
export const SEQUENCES_PAGE_SIZE = 100;

// 200 body of the sequences list (hubspot.md §6): `{ total, results: [{ id, name, … }], paging? }`.
const sequencesPageSchema = z.object({
  results: z.array(z.object({ id: z.union([z.string(), z.number()]).transform(String), name: z.string() })),
  paging: z.object({ next: z.object({ after: z.string() }).optional() }).optional(),
});

/**
 * Search pseudo-property for records associated with one contact: `associations.{objectType}`, singular
 * (CRM search guide, "Search through associations": https://developers.hubspot.com/docs/api/crm/search).
 */
export const CONTACT_ASSOCIATION_PROPERTY = 'associations.contact';
export const TASK_LOOKUP_PROPERTIES = ['hs_task_subject', 'hs_timestamp', 'hubspot_owner_id'];
export const NOTE_LOOKUP_PROPERTIES = ['hs_note_body', 'hs_timestamp'];
/** `GET …/contact/{contactId}`: the contact's enrollment (hubspot.md §6); not wrapped by the client 13.5. */
export const CONTACT_ENROLLMENT_PATH = '/automation/v4/sequences/enrollments/contact';

// 200 body of the enrollment by contact (hubspot.md §6): `{ id, sequenceId, sequenceName, toEmail, … }`.
const contactEnrollmentSchema = z
  .object({
    id: z.union([z.string(), z.number()]).transform(String).optional(),
    sequenceId: z.union([z.string(), z.number()]).transform(String),
  })
  .passthrough();

// HUBSPOT_DEFINED association type ids (§4.5; the client's AssociationTypes enum agrees).
export const TASK_TO_CONTACT = 204;
export const NOTE_TO_CONTACT = 202;

export const DEFAULT_LEAD_PROPERTIES = Object.keys(CONTACT_FIELD_MAP);

/**
 * Contact properties each first-touch signal reads: `notes_last_contacted` is "last call, email or
 * meeting logged", `hs_last_sales_activity_timestamp` the last sales activity, `hs_lead_status` the lead
 * status. A completed routing task is read from the task itself.
 */
export const TOUCH_PROPERTIES: Record<TouchSignal, string[]> = {
  activity: ['hs_last_sales_activity_timestamp'],
  contacted: ['notes_last_contacted'],
  status: ['hs_lead_status'],
  task_completed: [],
};

const COMPANY_PROPERTIES = [
  'name',
  'domain',
  'hs_additional_domains',
  'hubspot_owner_id',
  'lifecyclestage',
  'num_associated_contacts',
];

// CRM answers as the client hands them over (its models, deserialized from HubSpot's JSON), parsed at the
// edge: an answer of another shape is a classified error that says what was expected, never a TypeError
// deep in the pipeline. Only the fields the connector reads are required.
const hubSpotObjectSchema = z
  .object({
    id: z.string(),
    properties: z.record(z.string().nullable().optional()),
    createdAt: z.union([z.date(), z.string()]).optional(),
    objectWriteTraceId: z.string().optional(),
  })
  .passthrough();
export type HubSpotObject = z.infer<typeof hubSpotObjectSchema>;

const batchErrorSchema = z
  .object({
    category: z.string().optional(),
    message: z.string().optional(),
    context: z.record(z.array(z.string()).optional()).optional(),
  })
  .passthrough();
type BatchError = z.infer<typeof batchErrorSchema>;

const pagingSchema = z.object({ next: z.object({ after: z.string() }).optional() }).optional();

/** `{ results, errors? }` of the batch read, update and create endpoints (hubspot.md §4.4). */
const batchResponseSchema = z.object({
  results: z.array(hubSpotObjectSchema),
  errors: z.array(batchErrorSchema).optional(),
});
type BatchResponse = z.infer<typeof batchResponseSchema>;

/**
 * Properties v3's `GET /crm/v3/properties/contacts`: `{ results: [{ name, type, fieldType, … }] }`, no
 * paging (https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties).
 */
const propertySchema = z
  .object({ name: z.string().min(1), type: z.string().optional(), fieldType: z.string().optional() })
  .passthrough();
const propertiesSchema = z.object({ results: z.array(propertySchema) });

/**
 * A multiple-checkbox property: data type `enumeration` shown as `checkbox` (a single yes/no is
 * `booleancheckbox`). Its value is the options checked, joined by `;`.
 */
function isMultipleCheckbox(property: Pick<z.infer<typeof propertySchema>, 'type' | 'fieldType'>): boolean {
  return property.type === 'enumeration' && property.fieldType === 'checkbox';
}

/**
 * The portal refuses to list its contact properties: the install lacks crm.schemas.contacts.read, which
 * only a reinstall grants, so the refusal holds for the schema TTL; anything else may pass sooner.
 */
function isPropertiesRefusal(err: CrmError): boolean {
  return err.kind === 'auth' && err.details.status === 403;
}

/** The portal's contact properties, as the connector uses them. */
interface ContactProperties {
  fields: AccountFields;
  /** Names of the multiple-checkbox properties. */
  checkboxes: ReadonlySet<string>;
}

/**
 * How long the portal's properties are not asked for again after asking failed for a reason that may pass
 * (a 5xx, a timeout, a 429): soon enough to split checkboxes again, rarely enough not to spend the budget.
 */
const PROPERTIES_RETRY_MS = 60_000;

/** Associations v4 (§4.5): the batch read's `{ results: [{ from, to, paging? }] }` (the client names `from` `_from`). */
const associatedSchema = z.object({ toObjectId: z.union([z.number(), z.string()]) }).passthrough();
const associationsBatchSchema = z.object({
  results: z.array(
    z
      .object({ _from: z.object({ id: z.string() }), to: z.array(associatedSchema), paging: pagingSchema })
      .passthrough(),
  ),
});

/**
 * A batch read asked `propertiesWithHistory` (the CRM objects batch read,
 * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/get-objects): per
 * property, its values with when each was set (the client's `ValueWithTimestamp`: `value`, `timestamp`,
 * `sourceType`, …; the client hands `timestamp` over as a Date).
 */
const historyEntrySchema = z
  .object({ value: z.string().nullable().optional(), timestamp: z.union([z.date(), z.string()]) })
  .passthrough();
export type HistoryEntry = z.infer<typeof historyEntrySchema>;
const historyBatchSchema = z.object({
  results: z.array(
    hubSpotObjectSchema.extend({ propertiesWithHistory: z.record(z.array(historyEntrySchema)).optional() }),
  ),
});

/**
 * When a property's value first changed at or after `since`, from its history: the entries in time order
 * (HubSpot lists them newest first; not relied on), each compared with the value before it. A value set
 * again unchanged is no change; a history that begins after `since` begins with a change.
 */
export function firstChangeSince(history: readonly HistoryEntry[], since: number): number | undefined {
  const entries = history
    .map((h) => ({ value: h.value ?? '', at: toEpoch(h.timestamp) }))
    .filter((h): h is { value: string; at: number } => h.at !== undefined)
    .sort((a, b) => a.at - b.at);
  let before: string | undefined;
  for (const h of entries) {
    if (h.at >= since && h.value !== before) return h.at;
    before = h.value;
  }
  return undefined;
}

/** `{ results, paging? }` of a CRM search (§4.3). */
const searchPageSchema = z.object({ results: z.array(hubSpotObjectSchema), paging: pagingSchema });
const countedPageSchema = searchPageSchema.extend({ total: z.number().int().nonnegative().optional() });

/** `{ results, paging? }` of the owners list (§3). */
const ownersPageSchema = z.object({
  results: z.array(
    z
      .object({
        id: z.string(),
        email: z.string().optional(),
        firstName: z.string().optional(),
        lastName: z.string().optional(),
        userId: z.number().nullable().optional(),
        userIdIncludingInactive: z.number().nullable().optional(),
        type: z.unknown(),
        archived: z.boolean().optional(),
        teams: z.array(z.object({ id: z.string(), name: z.string() }).passthrough()).optional(),
      })
      .passthrough(),
  ),
  paging: pagingSchema,
});

/** What a parse failure says the answer should have been, by schema. */
const EXPECTED = new Map<z.ZodTypeAny, string>([
  [batchResponseSchema, '{ results: [{ id, properties }], errors? }'],
  [searchPageSchema, '{ results: [{ id, properties }], paging? }'],
  [historyBatchSchema, '{ results: [{ id, properties, propertiesWithHistory? }] }'],
  [ownersPageSchema, '{ results: [{ id, email, teams? }], paging? }'],
]);

/** A CRM answer through its schema, or an `invalid` CrmError naming the call and the shape expected. */
function parseAnswer<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, answer: unknown, call: string): T {
  const parsed = schema.safeParse(answer);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(the answer)'}: ${i.message}`);
  const expected = EXPECTED.get(schema);
  throw new CrmError(
    'invalid',
    `HubSpot ${call} answer not understood (${issues.join('; ')})${expected === undefined ? '' : `; expected ${expected}`}`,
  );
}

/** What a contact becomes before normalization: its id, creation time and raw property strings. */
export interface RawContactRecord {
  id: string;
  createdAt?: number | undefined;
  properties: Record<string, string | null>;
}

function toEpoch(value: string | Date | null | undefined): number | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (/^\d+$/.test(value)) return Number(value);
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

function toNumber(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

export function contactToRawRecord(obj: HubSpotObject): RawContactRecord {
  const properties: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(obj.properties)) properties[k] = v ?? null;
  return { id: obj.id, createdAt: toEpoch(properties['createdate']) ?? toEpoch(obj.createdAt), properties };
}

function domainOf(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  return getDomain(value.trim().toLowerCase()) ?? undefined;
}

/** A multiple-checkbox property's value: its options joined by `;`. */
export function splitCheckboxValues(value: string): string[] {
  return value
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** CONTACT_FIELD_MAP as the normalizer's field map: HubSpot names are not all in its alias table. */
const CONTACT_LEAD_FIELDS: FieldMap = { ...CONTACT_FIELD_MAP, hs_object_id: 'id' };

/**
 * A property that feeds one normalized lead field, by the map or by the normalizer's own names (a custom
 * `product_interest`): it stays one value, as Salesforce's multi-selects that feed one do. Split, the
 * normalizer would drop the list and the field with it.
 */
function feedsLeadField(name: string): boolean {
  return Object.hasOwn(CONTACT_LEAD_FIELDS, name) || leadFieldForColumn(name) !== undefined;
}

/**
 * A contact as a Lead through the core's normalizer (country/state codes, domains, lenient numbers);
 * the only HubSpot-specific step is turning the owner id into the owner's email.
 */
export function rawRecordToLead(
  raw: RawContactRecord,
  ownerEmailById: (ownerId: string) => string | undefined,
  multiValue: readonly string[] = [],
): Lead {
  const record: Record<string, unknown> = { ...raw.properties, hs_object_id: raw.id };
  for (const name of multiValue) {
    const value = record[name];
    // A mapped property feeds one normalized field and stays a single value.
    if (typeof value === 'string' && !feedsLeadField(name)) record[name] = splitCheckboxValues(value);
  }
  const ownerId = raw.properties['hubspot_owner_id'];
  // An owner id the directory does not know stays out of `owner` (a rep email); it is kept in fields.
  const ownerEmail = ownerId === null || ownerId === undefined ? undefined : ownerEmailById(ownerId.trim());
  if (ownerEmail !== undefined) record['hubspot_owner_id'] = ownerEmail;
  const fieldMap: FieldMap =
    ownerEmail === undefined ? { ...CONTACT_LEAD_FIELDS, hubspot_owner_id: null } : CONTACT_LEAD_FIELDS;
  if (raw.createdAt !== undefined) record['createdate'] = raw.createdAt;
  return { ...toLead(record, fieldMap), id: raw.id };
}

function lifecycleToType(stage: string | null | undefined): Account['type'] {
  switch (stage) {
    case 'customer':
    case 'evangelist':
      return 'customer';
    case undefined:
    case null:
    case '':
      return undefined;
    default:
      return stage === 'other' ? 'other' : 'prospect';
  }
}

export function companyToAccount(
  obj: HubSpotObject,
  ownerEmailById: (ownerId: string) => string | undefined,
): Account {
  const p = obj.properties;
  const domains = [p['domain'], ...(p['hs_additional_domains'] ?? '').split(';')]
    .map((d) => domainOf(d))
    .filter((d): d is string => d !== undefined);
  const ownerId = p['hubspot_owner_id'];
  return {
    id: obj.id,
    name: p['name'] ?? '',
    domains: [...new Set(domains)],
    owner: ownerId ? ownerEmailById(ownerId) : undefined,
    type: lifecycleToType(p['lifecyclestage']),
    contacts: toNumber(p['num_associated_contacts']),
  };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** One item error inside a 207 answer, classified like a whole-response error. */
function itemError(e: BatchError): CrmError {
  const category = e.category ?? '';
  const message = e.message ?? 'HubSpot rejected this item';
  if (category === 'OBJECT_NOT_FOUND') return new CrmError('not_found', message, { code: category });
  if (category === 'RATE_LIMITS') return new CrmError('rate_limited', message, { code: category });
  return new CrmError('invalid', message, { code: category || undefined });
}

/**
 * The per-call options every generated API of the client takes: each API module declares its own
 * context classes, so the middleware is generic over the context it passes through unchanged.
 */
interface CallOptions {
  middleware: { pre<C>(ctx: C): Promise<C>; post<C>(ctx: C): Promise<C> }[];
  middlewareMergeStrategy: 'append';
}

export interface HubSpotConnectorOptions {
  portalId: string;
  /** A fixed token, or a function (TokenManager.accessToken bound to the portal) asked before each call. */
  accessToken: string | (() => Promise<string>);
  /** Told the token HubSpot answered 401 to (TokenManager.drop), so the function does not hand it out again. */
  tokenRefused?: ((accessToken: string) => void) | undefined;
  /** `https://api.hubapi.com` by default; the sandbox's `http://127.0.0.1:PORT` in tests/dev. */
  basePath?: string;
  limiter: PortalLimiter;
  retry?: Partial<RetryPolicy>;
  windows?: RateWindows;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Contact property that receives OwnerWrite.reason (e.g. `lead_router_reason`); omitted when unset. */
  reasonProperty?: string;
  /** How long a fetched directory is reused to translate owner ids in readLeads/findAccounts. */
  directoryTtlMs?: number;
  /** How long the portal's contact properties are reused (DEFAULT_SCHEMA_TTL_MS). */
  schemaTtlMs?: number;
  /** Per-request timeout in ms, token refresh included (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /**
   * HubSpot user id the sequences list is read as (the endpoint requires one). Default: the first
   * active owner with a user id in the directory.
   */
  sequencesUserId?: string;
  /** What the connector says about HubSpot; HUBSPOT_PROFILE unless the rate budget is tuned. */
  profile?: ConnectorProfile;
  /**
   * Contact properties to read as multiple checkboxes besides the ones the portal's properties say are
   * (the operator's names, for portals that do not grant crm.schemas.contacts.read): HubSpot joins their
   * values with `;`, and rules see them as lists of values. Others are single values.
   */
  multiValueProperties?: readonly string[] | undefined;
  /**
   * Where the connector says what it decides on its own (a portal whose contact properties it cannot
   * read, a search cut at HubSpot's cap), once per cause; fields carry no lead data and never a token.
   */
  log?: { warn(message: string, meta?: Record<string, unknown>): unknown } | undefined;
}

export class HubSpotConnector implements CrmConnector {
  readonly provider = 'hubspot';
  readonly profile: ConnectorProfile;
  private client: { token: string; client: Client } | undefined;
  private cachedDirectory: Directory | undefined;
  private directoryFetch: Promise<Directory> | undefined;
  private readonly now: () => number;
  private readonly schemaTtlMs: number;
  /** The portal's contact properties, read again after `schemaTtlMs`. */
  private readonly properties: SingleFlightCache<'contacts', ContactProperties>;
  /** Why asking for the properties last failed, answered again until `until` (epoch ms) without asking. */
  private propertiesFailure: { error: CrmError; until: number } | undefined;
  /** What readLeads was last told it loses without the portal's properties (said once, until they come). */
  private propertiesLossSaid: 'refused' | 'failed' | undefined;
  /** Whether a companies search was cut at SEARCH_MAX_RESULTS (said once). */
  private searchCapSaid = false;

  constructor(private readonly opts: HubSpotConnectorOptions) {
    this.now = opts.now ?? Date.now;
    this.profile = opts.profile ?? HUBSPOT_PROFILE;
    this.schemaTtlMs = opts.schemaTtlMs ?? DEFAULT_SCHEMA_TTL_MS;
    this.properties = new SingleFlightCache({ now: this.now, ttlMs: this.schemaTtlMs });
  }

  /** The client on the current token, and that token. */
  private async hubspot(): Promise<{ token: string; client: Client }> {
    const token =
      typeof this.opts.accessToken === 'string' ? this.opts.accessToken : await this.opts.accessToken();
    if (this.client?.token === token) return this.client;
    // No limiterOptions → the client installs no limiter; 0 retries → no retry decorator (§7.2/7.3).
    const config: ConstructorParameters<typeof Client>[0] = {
      accessToken: token,
      numberOfApiCallRetries: 0,
    };
    if (this.opts.basePath !== undefined) config.basePath = this.opts.basePath;
    this.client = { token, client: new Client(config) };
    return this.client;
  }

  /**
   * Classifies non-2xx answers from the raw response, before the generated code parses them: its
   * ApiException drops `policyName` (the body is deserialized into its `Error` model), and a 5xx with a
   * non-JSON body makes it throw a bare "Cannot parse content" Error with no status at all.
   */
  private async classifyResponse<C>(ctx: C): Promise<C> {
    const parsed = responseContextSchema.safeParse(ctx);
    if (!parsed.success) return ctx;
    const { httpStatusCode: status, headers, body } = parsed.data;
    if (status >= 200 && status <= 299) return ctx;
    const text = await (body as { text(): Promise<string> }).text().catch(() => '');
    throw classifyHubSpotError(status, text, headers, {
      windows: this.opts.windows ?? DEFAULT_WINDOWS,
      now: this.now(),
    });
  }

  /**
   * Per-call options carrying our classifying middleware. It must be passed per call: in 13.5 the
   * generated ObservableAPI applies only call-time middleware (`allMiddleware` starts empty), so
   * `new Client({ middleware })` is silently ignored.
   */
  private mw(): CallOptions {
    return {
      middleware: [{ pre: (ctx) => Promise.resolve(ctx), post: (ctx) => this.classifyResponse(ctx) }],
      middlewareMergeStrategy: 'append',
    };
  }

  /**
   * Every HubSpot call: limiter bucket → client → classify → retry policy, each attempt under the
   * timeout. `write`: 'idempotent' (sending twice is harmless) or 'create' (a timed-out create is not
   * sent again here: its outcome is unknown and the caller checks before creating again). `once`: a
   * transient failure is not retried here (a read its caller can do without).
   */
  private call<T>(
    bucket: HubSpotBucket,
    fn: (client: Client) => Promise<T>,
    { write, once = false }: { write?: 'idempotent' | 'create'; once?: boolean } = {},
  ): Promise<T> {
    const windows = this.opts.windows ?? DEFAULT_WINDOWS;
    const timeoutMs = this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // The per-request timeout; `sent` says whether a write had gone out when it struck.
    const underTimeout = async <V>(work: (markSent: () => void) => Promise<V>): Promise<V> => {
      let sent = false;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError(timeoutMs, write !== undefined && sent)), timeoutMs);
      });
      try {
        // A late answer or failure of the abandoned attempt is settled into the race and dropped.
        return await Promise.race([work(() => (sent = true)), deadline]);
      } finally {
        clearTimeout(timer);
      }
    };
    // The token is read (from memory, else a database query, or a refresh) before the call waits for its
    // slot, not in it: a read inside the slot would send the call late, out of its place in the portal's
    // window. The slot's timer frees it at the deadline; the client takes no signal, so an abandoned
    // request runs on until the server or the socket ends it.
    const run = async (): Promise<T> => {
      const readAt = Date.now();
      const early = await underTimeout(() => this.hubspot());
      return this.opts.limiter.schedule(bucket, () =>
        underTimeout(async (markSent) => {
          // Tokens are handed out with minutes of life left; one read long before the slot is read again.
          const used = Date.now() - readAt > TOKEN_REUSE_MS ? await this.hubspot() : early;
          markSent();
          try {
            return await fn(used.client);
          } catch (err) {
            const crm = crmErrorFromThrown(err, { windows, now: this.now() });
            // HubSpot refused the token: the next call reads the stored one, not the one held in memory.
            if (crm?.details.status === 401) this.opts.tokenRefused?.(used.token);
            // A sent write that got no HTTP answer (reset, hang-up) may have been applied.
            throw write === undefined || crm === null ? err : lostWriteAnswer(crm);
          }
        }),
      );
    };
    const retryOpts: Parameters<typeof withRetry>[1] = {
      classify: (err) => crmErrorFromThrown(err, { windows, now: this.now() }),
      // A 429 closes the portal's window for every lane and process, not only for this call.
      pausePortal: (windowMs) => this.opts.limiter.pause(bucket, windowMs),
    };
    if (write === 'create') retryOpts.mayRetry = (err) => !outcomeUnknown(err);
    if (once) retryOpts.mayRetry = () => false;
    if (this.opts.retry !== undefined) retryOpts.policy = this.opts.retry;
    if (this.opts.sleep !== undefined) retryOpts.sleep = this.opts.sleep;
    return withRetry(run, retryOpts);
  }

  private async ownerEmails(): Promise<(id: string) => string | undefined> {
    const ttl = this.opts.directoryTtlMs ?? 5 * 60_000;
    if (this.cachedDirectory === undefined || this.now() - this.cachedDirectory.fetchedAt > ttl) {
      await this.directory();
    }
    const byId = new Map((this.cachedDirectory?.owners ?? []).map((o) => [o.id, o.email]));
    return (id) => byId.get(id);
  }

  async readLeads(ids: string[], properties: string[]): Promise<Map<string, Lead>> {
    const out = new Map<string, Lead>();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return out;
    const props = [...new Set([...DEFAULT_LEAD_PROPERTIES, ...properties])];
    const [ownerEmail, multiValue] = await Promise.all([this.ownerEmails(), this.multiValueOf(props)]);
    for (const part of chunk(unique, BATCH_SIZE)) {
      const res = parseAnswer(
        batchResponseSchema,
        await this.call('general', (c) =>
          c.crm.contacts.batchApi.read(
            { inputs: part.map((id) => ({ id })), properties: props, propertiesWithHistory: [] },
            undefined,
            this.mw(),
          ),
        ),
        'contacts batch read',
      );
      // Missing ids come back as OBJECT_NOT_FOUND errors in a 207: they are simply absent here.
      for (const obj of res.results)
        out.set(obj.id, rawRecordToLead(contactToRawRecord(obj), ownerEmail, multiValue));
    }
    return out;
  }

  /**
   * Which of the properties read are multiple checkboxes: the operator's names, and those the portal's
   * properties say are. The portal is asked (once, within the schema TTL) only when a property read may
   * be one it has not named. Asking must not fail or hold up routing, since it is not the lead's
   * failure: one attempt, and when it fails the last answer (or the operator's names alone) is used;
   * the failure is remembered (see contactProperties).
   */
  private async multiValueOf(read: readonly string[]): Promise<readonly string[]> {
    const named = this.opts.multiValueProperties ?? [];
    // A mapped property feeds one normalized field and is never split.
    const open = read.filter((p) => !feedsLeadField(p) && !named.includes(p));
    if (open.length === 0) return named;
    let checkboxes = this.properties.peek('contacts')?.checkboxes;
    try {
      checkboxes = (await this.contactProperties({ once: true })).checkboxes;
    } catch (err) {
      if (!(err instanceof CrmError)) throw err;
      // With an earlier answer nothing is lost: its checkboxes are used until the next one.
      if (checkboxes === undefined) this.sayPropertiesLost(err);
    }
    return checkboxes === undefined ? named : [...named, ...open.filter((p) => checkboxes.has(p))];
  }

  /**
   * Tells the operator, once per cause, that rules see only HUBSPOT_MULTI_VALUE_PROPERTIES as lists: a
   * checkbox property's `eq`/`in` rules then never match it as a list, with nothing else to show it.
   */
  private sayPropertiesLost(err: CrmError): void {
    const cause = isPropertiesRefusal(err) ? 'refused' : 'failed';
    // A refusal after passing failures is said too; a passing failure after a refusal adds nothing.
    if (this.propertiesLossSaid === cause || this.propertiesLossSaid === 'refused') return;
    this.propertiesLossSaid = cause;
    const meta = {
      error: err.message,
      multiValueProperties: this.opts.multiValueProperties ?? [],
      askAgainInMs: Math.max(0, (this.propertiesFailure?.until ?? 0) - this.now()),
    };
    this.opts.log?.warn(
      cause === 'refused'
        ? "HubSpot portal refuses to list its contact properties: its multiple-checkbox properties are not known, so only HUBSPOT_MULTI_VALUE_PROPERTIES are lists in rules (a checkbox's eq/in rules never match one of its values); reinstall the app granting crm.schemas.contacts.read"
        : "HubSpot portal's contact properties could not be read: until they are, its multiple-checkbox properties are not known and only HUBSPOT_MULTI_VALUE_PROPERTIES are lists in rules",
      meta,
    );
  }

  async findAccountsByDomain(domains: string[]): Promise<Map<string, Account[]>> {
    const wanted = [...new Set(domains.map((d) => d.trim().toLowerCase()).filter((d) => d !== ''))];
    const out = new Map<string, Account[]>();
    if (wanted.length === 0) return out;
    const ownerEmail = await this.ownerEmails();
    for (const part of chunk(wanted, DOMAINS_PER_SEARCH)) {
      const set = new Set(part);
      let after: string | undefined;
      let seen = 0;
      do {
        const request = {
          filterGroups: [{ filters: [{ propertyName: 'domain', operator: 'IN', values: part }] }],
          properties: COMPANY_PROPERTIES,
          limit: SEARCH_PAGE_SIZE,
          sorts: [],
          ...(after === undefined ? {} : { after }),
        };
        const page = parseAnswer(
          searchPageSchema,
          await this.call('search', (c) =>
            c.crm.companies.searchApi.doSearch(
              request as Parameters<typeof c.crm.companies.searchApi.doSearch>[0],
              this.mw(),
            ),
          ),
          'companies search',
        );
        for (const obj of page.results) {
          const account = companyToAccount(obj, ownerEmail);
          for (const d of account.domains) {
            if (!set.has(d)) continue;
            const list = out.get(d) ?? [];
            if (!list.some((a) => a.id === account.id)) list.push(account);
            out.set(d, list);
          }
        }
        seen += page.results.length;
        after = page.paging?.next?.after;
        // Past 10,000 results HubSpot answers 400: stop rather than fail the whole lookup.
      } while (after !== undefined && seen < SEARCH_MAX_RESULTS);
      if (after !== undefined && !this.searchCapSaid) {
        this.searchCapSaid = true;
        this.opts.log?.warn(
          `HubSpot companies search stopped at ${SEARCH_MAX_RESULTS} results (HubSpot's cap for one search): companies past them are not matched to leads by domain`,
          { domains: part.length },
        );
      }
    }
    return out;
  }

  /**
   * Contacts in `hs_object_id` order, a page of 200 per search. Each page is a new query for ids above
   * the cursor (keyset paging), so no query ever pages toward search's 10,000-result cap, and ties in
   * `createdate` cannot drop or repeat a record at a window's edge.
   */
  async listLeads(query: LeadListQuery): Promise<LeadListPage> {
    const filters: { propertyName: string; operator: string; value?: string; values?: string[] }[] = [];
    if (query.since !== undefined)
      filters.push({ propertyName: 'createdate', operator: 'GTE', value: String(query.since) });
    if (query.unowned === true)
      filters.push({ propertyName: 'hubspot_owner_id', operator: 'NOT_HAS_PROPERTY' });
    if (query.owner !== undefined) {
      const wanted = query.owner.trim().toLowerCase();
      // A deactivated rep's owner record is archived but still owns records: the directory lists both.
      const ids = (await this.directory()).owners.filter((o) => o.email === wanted).map((o) => o.id);
      if (ids.length === 0) return { ids: [] };
      filters.push({ propertyName: 'hubspot_owner_id', operator: 'IN', values: ids });
    }
    if (query.after !== undefined) {
      if (!/^\d+$/.test(query.after))
        throw new CrmError('invalid', `"${query.after}" is not a contact cursor`);
      filters.push({ propertyName: 'hs_object_id', operator: 'GT', value: query.after });
    }
    const request = {
      filterGroups: filters.length === 0 ? [] : [{ filters }],
      sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
      properties: ['hs_object_id'],
      limit: SEARCH_PAGE_SIZE,
    };
    const page = parseAnswer(
      countedPageSchema,
      await this.call('search', (c) =>
        c.crm.contacts.searchApi.doSearch(
          request as unknown as Parameters<typeof c.crm.contacts.searchApi.doSearch>[0],
          this.mw(),
        ),
      ),
      'contacts search',
    );
    const ids = page.results.map((r) => r.id);
    const last = ids.at(-1);
    const remaining = page.total === undefined ? undefined : Math.max(0, page.total - ids.length);
    // A short page, or nothing beyond it, is the end; the next page starts above the last id.
    return last === undefined || ids.length < SEARCH_PAGE_SIZE || remaining === 0
      ? { ids, remaining: 0 }
      : { ids, after: last, remaining };
  }

  /**
   * The owners (active, then archived) and teams. Callers that ask while a read is in flight share it:
   * lanes starting together would otherwise each page through the owners.
   */
  directory(): Promise<Directory> {
    this.directoryFetch ??= this.fetchDirectory().finally(() => {
      this.directoryFetch = undefined;
    });
    return this.directoryFetch;
  }

  private async fetchDirectory(): Promise<Directory> {
    const owners = new Map<string, DirectoryOwner>();
    const queues: Record<string, string> = {};
    // Active owners first, then archived ones (deactivated users) so routing can skip them.
    for (const archived of [false, true]) {
      let after: string | undefined;
      do {
        const page = parseAnswer(
          ownersPageSchema,
          await this.call('general', (c) =>
            c.crm.owners.ownersApi.getPage(undefined, after, 100, archived, this.mw()),
          ),
          'owners list',
        );
        for (const o of page.results) {
          for (const t of o.teams ?? []) queues[t.name] = t.id;
          if (owners.has(o.id) || String(o.type) !== 'PERSON' || !o.email) continue;
          // Sequences are sent as a HubSpot user, whose id is not the owner id (§6).
          const userId = o.userId ?? o.userIdIncludingInactive;
          owners.set(o.id, {
            id: o.id,
            senderId: userId === undefined || userId === null ? undefined : String(userId),
            email: o.email.toLowerCase(),
            name: [o.firstName, o.lastName].filter((s) => s !== undefined && s !== '').join(' ') || o.email,
            active: !archived && !o.archived,
            teams: (o.teams ?? []).map((t) => t.name),
          });
        }
        after = page.paging?.next?.after;
      } while (after !== undefined);
    }
    const directory: Directory = { owners: [...owners.values()], queues, fetchedAt: this.now() };
    this.cachedDirectory = directory;
    return directory;
  }

  async setOwners(writes: OwnerWrite[]): Promise<ItemResult[]> {
    return this.updateContacts(
      writes.map((w) => {
        const properties: Record<string, string> = { hubspot_owner_id: w.ownerId };
        if (this.opts.reasonProperty !== undefined && w.reason !== undefined)
          properties[this.opts.reasonProperty] = w.reason;
        return { leadId: w.leadId, properties };
      }),
    );
  }

  /** The contact's HubSpot team (`hubspot_team_id`, a team id as the owners API lists it). */
  async setTeams(writes: TeamWrite[]): Promise<ItemResult[]> {
    return this.updateContacts(
      writes.map((w) => ({ leadId: w.leadId, properties: { hubspot_team_id: w.teamId } })),
    );
  }

  /** Batch property updates; setting the same values twice changes nothing, so they may be re-sent. */
  private async updateContacts(
    writes: { leadId: string; properties: Record<string, string> }[],
  ): Promise<ItemResult[]> {
    const results: ItemResult[] = new Array<ItemResult>(writes.length);
    const keysOf = (i: number): string[] => [writes[i]!.leadId];
    const send = async (part: number[]): Promise<BatchOutcome> => {
      const inputs = part.map((i) => ({ id: writes[i]!.leadId, properties: writes[i]!.properties }));
      const res = await this.batch(async () =>
        parseAnswer(
          batchResponseSchema,
          await this.call(
            'general',
            (c) => c.crm.contacts.batchApi.update({ inputs }, this.mw()),
            // Setting the same values twice changes nothing: safe to send again after a timeout.
            { write: 'idempotent' },
          ),
          'contacts batch update',
        ),
      );
      if (!res.ok) return res;
      const done = new Set(res.value.results.map((r) => r.id));
      return {
        ok: true,
        results: part.map((i): ItemResult => {
          const id = writes[i]!.leadId;
          return done.has(id) ? { ok: true, id } : { ok: false, error: errorFor(res.value, [id]) };
        }),
      };
    };
    // A batch may not name one id twice: later writes to the same contact go in a later batch.
    for (const group of uniqueIdGroups(writes.map((w) => w.leadId))) {
      for (const part of chunk(group, BATCH_SIZE)) await attributed(part, keysOf, send, results);
    }
    return results;
  }

  async createTasks(tasks: TaskCreate[]): Promise<ItemResult[]> {
    return this.createEngagements(tasks, (t) => ({
      properties: {
        hs_timestamp: new Date(t.dueAt).toISOString(),
        hs_task_subject: t.subject,
        hs_task_body: t.body,
        hs_task_priority: t.priority.toUpperCase(),
        hs_task_status: 'NOT_STARTED',
        hs_task_type: 'TODO',
        // A team's task has no owner: it names the team instead.
        ...(t.ownerId === undefined ? {} : { hubspot_owner_id: t.ownerId }),
      },
      associationTypeId: TASK_TO_CONTACT,
      object: 'tasks',
    }));
  }

  async writeNotes(notes: NoteCreate[]): Promise<ItemResult[]> {
    return this.createEngagements(notes, (n) => {
      const properties: Record<string, string> = {
        hs_timestamp: new Date(this.now()).toISOString(),
        hs_note_body: n.text,
      };
      if (n.ownerId !== undefined) properties['hubspot_owner_id'] = n.ownerId;
      return { properties, associationTypeId: NOTE_TO_CONTACT, object: 'notes' };
    });
  }

  private async createEngagements<T extends { leadId: string; key: string }>(
    items: T[],
    build: (item: T) => {
      properties: Record<string, string>;
      associationTypeId: number;
      object: 'tasks' | 'notes';
    },
  ): Promise<ItemResult[]> {
    const results: ItemResult[] = new Array<ItemResult>(items.length);
    let object: 'tasks' | 'notes' = 'tasks';
    const inputs = items.map((item) => {
      const b = build(item);
      object = b.object;
      return {
        properties: b.properties,
        // Echoed back on each result, so results map to inputs without trusting their order.
        objectWriteTraceId: item.key,
        associations: [
          {
            to: { id: item.leadId },
            types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: b.associationTypeId }],
          },
        ],
      };
    });
    const keysOf = (i: number): string[] => [items[i]!.key, items[i]!.leadId];
    const send = async (part: number[]): Promise<BatchOutcome> => {
      const body = { inputs: part.map((i) => inputs[i]!) };
      const res = await this.batch(async () =>
        parseAnswer(
          batchResponseSchema,
          await this.call(
            'general',
            (c) =>
              object === 'tasks'
                ? c.crm.objects.tasks.batchApi.create(
                    body as unknown as Parameters<typeof c.crm.objects.tasks.batchApi.create>[0],
                    this.mw(),
                  )
                : c.crm.objects.notes.batchApi.create(
                    body as unknown as Parameters<typeof c.crm.objects.notes.batchApi.create>[0],
                    this.mw(),
                  ),
            { write: 'create' },
          ),
          `${object} batch create`,
        ),
      );
      if (!res.ok) return res;
      const byTrace = new Map(
        res.value.results.filter((r) => r.objectWriteTraceId).map((r) => [r.objectWriteTraceId, r.id]),
      );
      const untraced = res.value.results.filter((r) => !r.objectWriteTraceId);
      // Without trace ids (older answers) order is the only link, and only safe when nothing failed.
      const byOrder = untraced.length === part.length && (res.value.errors ?? []).length === 0;
      return {
        ok: true,
        results: part.map((i, n): ItemResult => {
          const key = items[i]!.key;
          const id = byTrace.get(key) ?? (byOrder ? untraced[n]?.id : undefined);
          return id !== undefined ? { ok: true, id } : { ok: false, error: errorFor(res.value, keysOf(i)) };
        }),
      };
    };
    for (const part of chunk(
      items.map((_, i) => i),
      BATCH_SIZE,
    ))
      await attributed(part, keysOf, send, results);
    return results;
  }

  /** One call per enrollment: HubSpot has no batch enrollment (§6). */
  async enroll(enrollments: SequenceEnrollment[]): Promise<ItemResult[]> {
    const results: ItemResult[] = [];
    for (const e of enrollments) results.push(await this.enrollOne(e));
    return results;
  }

  private async enrollOne(e: SequenceEnrollment): Promise<ItemResult> {
    const windows = this.opts.windows ?? DEFAULT_WINDOWS;
    const res = await this.batch(() =>
      this.call(
        'general',
        async (c) => {
          // apiRequest never throws on 4xx/5xx: check the status and classify ourselves (§6, §7.2).
          const response = await c.apiRequest({
            method: 'POST',
            path: SEQUENCE_ENROLL_PATH,
            qs: { userId: e.senderId },
            body: { sequenceId: e.sequenceId, contactId: e.leadId, senderEmail: e.senderEmail },
          });
          if (response.status < 200 || response.status > 299)
            throw await crmErrorFromResponse(response, { windows, now: this.now() });
          const parsed = enrollResponseSchema.safeParse((await response.json()) as unknown);
          return parsed.success && parsed.data.id !== undefined ? String(parsed.data.id) : undefined;
        },
        // Enrolled twice, HubSpot answers "already enrolled": a timed-out enrollment is not resent here.
        { write: 'create' },
      ),
    );
    if (!res.ok) return res;
    return res.value !== undefined ? { ok: true, id: res.value } : { ok: true };
  }

  async sequences(): Promise<{ id: string; name: string }[]> {
    const userId = this.opts.sequencesUserId ?? (await this.anyActiveUserId());
    const windows = this.opts.windows ?? DEFAULT_WINDOWS;
    const out: { id: string; name: string }[] = [];
    let after: string | undefined;
    do {
      const qs: Record<string, string> = { userId, limit: String(SEQUENCES_PAGE_SIZE) };
      if (after !== undefined) qs['after'] = after;
      const page = await this.call('general', async (c) => {
        // apiRequest never throws on 4xx/5xx: check the status and classify ourselves (§6, §7.2).
        const response = await c.apiRequest({ method: 'GET', path: SEQUENCES_PATH, qs });
        if (response.status < 200 || response.status > 299)
          throw await crmErrorFromResponse(response, { windows, now: this.now() });
        const parsed = sequencesPageSchema.safeParse((await response.json()) as unknown);
        if (!parsed.success)
          throw new CrmError('invalid', `HubSpot sequences answer not understood: ${parsed.error.message}`);
        return parsed.data;
      });
      out.push(...page.results);
      after = page.paging?.next?.after;
    } while (after !== undefined);
    return out;
  }

  async findTasks(leadIds: string[]): Promise<Map<string, ExistingTask[]>> {
    return this.associatedWithContacts('tasks', leadIds, TASK_LOOKUP_PROPERTIES, (obj) => {
      const dueAt = toEpoch(obj.properties['hs_timestamp']);
      // hs_timestamp is required on create (§5), so a task without one is not one we made.
      if (dueAt === undefined) return undefined;
      const ownerId = obj.properties['hubspot_owner_id'];
      const task: ExistingTask = { id: obj.id, subject: obj.properties['hs_task_subject'] ?? '', dueAt };
      if (ownerId !== null && ownerId !== undefined && ownerId !== '') task.ownerId = ownerId;
      return task;
    });
  }

  async findNotes(leadIds: string[]): Promise<Map<string, ExistingNote[]>> {
    return this.associatedWithContacts('notes', leadIds, NOTE_LOOKUP_PROPERTIES, (obj) => {
      const at = toEpoch(obj.properties['hs_timestamp']);
      // As for tasks: hs_timestamp is required on create, and writeNotes always sets it.
      return at === undefined ? undefined : { id: obj.id, body: obj.properties['hs_note_body'] ?? '', at };
    });
  }

  /**
   * The tasks or notes associated with each contact, by contact: the associations batch read (§4.5) names
   * them for 100 contacts a call (a long list in pages, each asked for again with its `after`), then a
   * batch read per 100 records gives their properties, all from the 110/10 s budget. A contact the
   * associations answer leaves out (an error in a 207; how HubSpot answers for a contact with none is
   * unconfirmed) is searched for on its own, as search results do not name their contact: a contact is
   * never taken to have none unless an answer says so. Contacts with nothing `read` keeps are absent.
   */
  private async associatedWithContacts<T>(
    object: 'tasks' | 'notes',
    leadIds: string[],
    properties: string[],
    read: (obj: HubSpotObject) => T | undefined,
  ): Promise<Map<string, T[]>> {
    const idsByContact = new Map<string, string[]>();
    const unanswered: string[] = [];
    for (const part of chunk([...new Set(leadIds)], BATCH_SIZE)) {
      // A contact with more than a page of them (500) is asked again with the `after` its row gave.
      let inputs: { id: string; after?: string }[] = part.map((id) => ({ id }));
      while (inputs.length > 0) {
        const asked = inputs;
        const res = parseAnswer(
          associationsBatchSchema,
          await this.call('general', (c) =>
            c.crm.associations.v4.batchApi.getPage('contacts', object, { inputs: asked }, this.mw()),
          ),
          `contacts → ${object} associations batch read`,
        );
        const answered = new Map(res.results.map((r) => [r._from.id, r]));
        inputs = [];
        for (const { id: contactId } of asked) {
          const r = answered.get(contactId);
          if (r === undefined) {
            // Left out (now or on a later page): searched for whole, below.
            idsByContact.delete(contactId);
            unanswered.push(contactId);
            continue;
          }
          idsByContact.set(contactId, [
            ...(idsByContact.get(contactId) ?? []),
            ...r.to.map((t) => String(t.toObjectId)),
          ]);
          const after = r.paging?.next?.after;
          if (after !== undefined) inputs.push({ id: contactId, after });
        }
      }
    }
    const records = new Map<string, HubSpotObject>();
    for (const part of chunk([...new Set([...idsByContact.values()].flat())], BATCH_SIZE)) {
      const read = { inputs: part.map((id) => ({ id })), properties, propertiesWithHistory: [] };
      const res = parseAnswer(
        batchResponseSchema,
        await this.call('general', (c) =>
          object === 'tasks'
            ? c.crm.objects.tasks.batchApi.read(read, undefined, this.mw())
            : c.crm.objects.notes.batchApi.read(read, undefined, this.mw()),
        ),
        `${object} batch read`,
      );
      // One deleted since the associations were read is missing (an error in a 207): not there.
      for (const obj of res.results) records.set(obj.id, obj);
    }
    const out = new Map<string, T[]>();
    const keep = (contactId: string, objects: HubSpotObject[]) => {
      const items = objects.flatMap((obj) => read(obj) ?? []);
      if (items.length > 0) out.set(contactId, items);
    };
    for (const [contactId, ids] of idsByContact)
      keep(
        contactId,
        ids.flatMap((id) => records.get(id) ?? []),
      );
    for (const contactId of unanswered)
      keep(contactId, await this.searchByContact(object, contactId, properties));
    return out;
  }

  /**
   * Every task or note associated with the contact, through the search bucket (5/s, apart from the
   * 110/10 s budget). Search lags writes by "a few moments" (§4.3); these reads run on a retry after an
   * expired lease (a minute by default), well after the write they look for.
   */
  private async searchByContact(
    object: 'tasks' | 'notes',
    leadId: string,
    properties: string[],
  ): Promise<HubSpotObject[]> {
    const byId = new Map<string, HubSpotObject>();
    let after: string | undefined;
    do {
      const request = {
        filterGroups: [
          { filters: [{ propertyName: CONTACT_ASSOCIATION_PROPERTY, operator: 'EQ', value: leadId }] },
        ],
        properties,
        limit: SEARCH_PAGE_SIZE,
        ...(after === undefined ? {} : { after }),
      };
      const page = parseAnswer(
        searchPageSchema,
        await this.call('search', (c) =>
          object === 'tasks'
            ? c.crm.objects.tasks.searchApi.doSearch(
                request as Parameters<typeof c.crm.objects.tasks.searchApi.doSearch>[0],
                this.mw(),
              )
            : c.crm.objects.notes.searchApi.doSearch(
                request as Parameters<typeof c.crm.objects.notes.searchApi.doSearch>[0],
                this.mw(),
              ),
        ),
        `${object} search`,
      );
      // Offset paging can repeat a record when one is created meanwhile: keep each id once.
      for (const obj of page.results) byId.set(obj.id, obj);
      after = page.paging?.next?.after;
      // Past 10,000 results HubSpot answers 400; no contact holds that many of our tasks or notes.
    } while (after !== undefined && byId.size < SEARCH_MAX_RESULTS);
    return [...byId.values()];
  }

  async findEnrollment(leadId: string): Promise<ExistingEnrollment | undefined> {
    const windows = this.opts.windows ?? DEFAULT_WINDOWS;
    return this.call('general', async (c) => {
      // apiRequest never throws on 4xx/5xx: check the status and classify ourselves (§6, §7.2).
      const response = await c.apiRequest({
        method: 'GET',
        path: `${CONTACT_ENROLLMENT_PATH}/${encodeURIComponent(leadId)}`,
      });
      // A contact in no sequence: 404 (the exact answer is UNCONFIRMED; an empty 2xx reads the same).
      if (response.status === 404) {
        await response.text().catch(() => '');
        return undefined;
      }
      if (response.status < 200 || response.status > 299)
        throw await crmErrorFromResponse(response, { windows, now: this.now() });
      const text = await response.text();
      if (text.trim() === '') return undefined;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new CrmError('invalid', 'HubSpot enrollment answer is not JSON', { status: response.status });
      }
      if (json === null || (typeof json === 'object' && Object.keys(json).length === 0)) return undefined;
      const parsed = contactEnrollmentSchema.safeParse(json);
      if (!parsed.success)
        throw new CrmError('invalid', `HubSpot enrollment answer not understood: ${parsed.error.message}`, {
          status: response.status,
        });
      const { id, sequenceId } = parsed.data;
      return id === undefined ? { sequenceId } : { id, sequenceId };
    });
  }

  private async anyActiveUserId(): Promise<string> {
    await this.ownerEmails();
    const owner = this.cachedDirectory?.owners.find((o) => o.active && o.senderId !== undefined);
    if (owner?.senderId === undefined)
      throw new CrmError('invalid', 'no active HubSpot user to list sequences as (set sequencesUserId)');
    return owner.senderId;
  }

  /**
   * One contacts search per 100 leads (`hs_object_id IN …`, the search bucket, apart from the 110/10 s
   * budget): each lead's owner and the touch properties the signals name; with `status`, one contacts
   * batch read with `hs_lead_status`'s history per 100 leads whose status is past `NEW` (only those
   * have a change to date); with `task_completed`, one tasks batch read per 100 routing tasks. Search
   * lags writes by moments (§4.3); SLA checks run minutes after the owner write.
   */
  async touchedLeads(
    queries: TouchQuery[],
    signals: readonly TouchSignal[],
  ): Promise<Map<string, TouchState>> {
    const out = new Map<string, TouchState>();
    const byLead = new Map(queries.map((q) => [q.leadId, q]));
    const toDate: TouchQuery[] = [];
    const props = [...new Set(['hubspot_owner_id', ...signals.flatMap((s) => TOUCH_PROPERTIES[s])])];
    const seen = (state: TouchState, at: number | undefined, since: number, signal: TouchSignal): void => {
      if (at === undefined || at < since) return;
      if (state.touchedAt === undefined || at < state.touchedAt) {
        state.touchedAt = at;
        state.signal = signal;
      }
    };
    for (const part of chunk([...byLead.keys()], BATCH_SIZE)) {
      const request = {
        filterGroups: [{ filters: [{ propertyName: 'hs_object_id', operator: 'IN', values: part }] }],
        properties: props,
        limit: BATCH_SIZE,
        sorts: [],
      };
      const page = parseAnswer(
        searchPageSchema,
        await this.call('search', (c) =>
          c.crm.contacts.searchApi.doSearch(
            request as Parameters<typeof c.crm.contacts.searchApi.doSearch>[0],
            this.mw(),
          ),
        ),
        'contacts search',
      );
      for (const obj of page.results) {
        const q = byLead.get(obj.id);
        if (q === undefined) continue;
        const p = obj.properties;
        const state: TouchState = {};
        const owner = p['hubspot_owner_id'];
        if (owner !== null && owner !== undefined && owner !== '') state.ownerId = owner;
        for (const signal of signals) {
          if (signal === 'activity')
            seen(state, toEpoch(p['hs_last_sales_activity_timestamp']), q.since, signal);
          if (signal === 'contacted') seen(state, toEpoch(p['notes_last_contacted']), q.since, signal);
          // Search gives no change time: a status past HubSpot's default "NEW" is dated by its history.
          if (signal === 'status') {
            const status = p['hs_lead_status'];
            if (status !== null && status !== undefined && status !== '' && status !== 'NEW') toDate.push(q);
          }
        }
        out.set(obj.id, state);
      }
    }
    for (const part of chunk(toDate, BATCH_SIZE)) {
      const res = parseAnswer(
        historyBatchSchema,
        await this.call('general', (c) =>
          c.crm.contacts.batchApi.read(
            {
              inputs: part.map((q) => ({ id: q.leadId })),
              properties: [],
              propertiesWithHistory: ['hs_lead_status'],
            },
            undefined,
            this.mw(),
          ),
        ),
        'contacts batch read (lead status history)',
      );
      // A contact deleted since the search is missing (an error in a 207): no touch seen this time.
      const history = new Map(
        res.results.map((c) => [c.id, c.propertiesWithHistory?.['hs_lead_status'] ?? []]),
      );
      for (const q of part) {
        const state = out.get(q.leadId);
        const entries = history.get(q.leadId);
        if (state === undefined || entries === undefined) continue;
        seen(state, firstChangeSince(entries, q.since), q.since, 'status');
      }
    }
    if (signals.includes('task_completed')) {
      const tasks = queries.filter((q) => q.taskId !== undefined && out.has(q.leadId));
      for (const part of chunk(tasks, BATCH_SIZE)) {
        const res = parseAnswer(
          batchResponseSchema,
          await this.call('general', (c) =>
            c.crm.objects.tasks.batchApi.read(
              {
                inputs: part.map((q) => ({ id: q.taskId ?? '' })),
                properties: ['hs_task_status', 'hs_task_completion_date', 'hs_lastmodifieddate'],
                propertiesWithHistory: [],
              },
              undefined,
              this.mw(),
            ),
          ),
          'tasks batch read',
        );
        const byTask = new Map(res.results.map((t) => [t.id, t.properties]));
        for (const q of part) {
          const p = byTask.get(q.taskId ?? '');
          const state = out.get(q.leadId);
          if (p === undefined || state === undefined || p['hs_task_status'] !== 'COMPLETED') continue;
          const at = toEpoch(p['hs_task_completion_date']) ?? toEpoch(p['hs_lastmodifieddate']) ?? this.now();
          seen(state, at, q.since, 'task_completed');
        }
      }
    }
    return out;
  }

  /**
   * The portal's contact properties (its custom ones too), so a rule naming one it lacks is told. Needs
   * the optional scope crm.schemas.contacts.read: without it the call fails as HubSpot's missing-scope
   * refusal, which names the scope and says to reinstall.
   */
  async accountFields(): Promise<AccountFields> {
    return (await this.contactProperties()).fields;
  }

  /**
   * The portal's contact properties, shared by accountFields and readLeads; `once`: see `call`. A failure
   * is answered again from memory, without asking: a refusal for the schema TTL (only a reinstall grants
   * the scope; `grantChanged` then ends it), any other for PROPERTIES_RETRY_MS.
   */
  private contactProperties(how: { once?: boolean } = {}): Promise<ContactProperties> {
    return this.properties.get('contacts', async () => {
      const failed = this.propertiesFailure;
      if (failed !== undefined && this.now() < failed.until) throw failed.error;
      let answer: z.infer<typeof propertiesSchema>;
      try {
        answer = parseAnswer(
          propertiesSchema,
          await this.call(
            'general',
            (c) => c.crm.properties.coreApi.getAll('contacts', false, undefined, this.mw()),
            how,
          ),
          'contact properties',
        );
      } catch (err) {
        if (err instanceof CrmError) {
          const forMs = isPropertiesRefusal(err) ? this.schemaTtlMs : PROPERTIES_RETRY_MS;
          this.propertiesFailure = { error: err, until: this.now() + forMs };
        }
        throw err;
      }
      this.propertiesFailure = undefined;
      this.propertiesLossSaid = undefined;
      return {
        fields: {
          objects: 'contacts',
          names: new Map(answer.results.map((p) => [p.name.toLowerCase(), p.name])),
          // What readLeads splits: the operator's names and the portal's multiple checkboxes.
          multiValued: new Set(
            [
              ...(this.opts.multiValueProperties ?? []),
              ...answer.results.filter(isMultipleCheckbox).map((p) => p.name),
            ]
              .filter((name) => !feedsLeadField(name))
              .map((name) => name.toLowerCase()),
          ),
        },
        checkboxes: new Set(answer.results.filter(isMultipleCheckbox).map((p) => p.name)),
      };
    });
  }

  /**
   * The portal's grant changed (the app was installed again, perhaps granting a scope): what it refused
   * is asked again at the next need instead of answered from memory.
   */
  grantChanged(): void {
    this.propertiesFailure = undefined;
  }

  async checkConnection(): Promise<{ ok: true } | { ok: false; error: CrmError }> {
    const res = await this.batch(() =>
      this.call('general', (c) => c.crm.owners.ownersApi.getPage(undefined, undefined, 1, false, this.mw())),
    );
    return res.ok ? { ok: true } : res;
  }

  /** Runs a call whose CrmError belongs to the items (batch writes), not to the caller. */
  private async batch<T>(
    fn: () => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; error: CrmError }> {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      if (err instanceof CrmError) return { ok: false, error: err };
      throw err;
    }
  }
}

/** A batch call's answer: one result per input, or one error that refused the whole batch. */
type BatchOutcome = { ok: true; results: ItemResult[] } | { ok: false; error: CrmError };

/**
 * Kinds of a whole-batch refusal that may belong to some inputs only (an invalid owner id, a missing
 * contact). Rate limits and transient errors were retried as a whole already; auth and a DAILY limit
 * refuse every input alike, so splitting would only spend calls.
 */
function mayBeSomeInputs(error: CrmError): boolean {
  return error.kind === 'invalid' || error.kind === 'not_found';
}

/**
 * Sends `part` (input indexes) and writes each input's result. When HubSpot refuses the whole batch
 * (batch writes are all-or-nothing) for what may be some inputs only, the refusal is attributed: the
 * inputs its context names fail with the message naming them and the rest is sent again; if it names
 * none, each half is sent on its own, recursively. So one bad input fails alone, at the cost of at most
 * 2·log2(n) more calls for it; a batch that succeeds costs the one call it always did.
 */
async function attributed(
  part: number[],
  keysOf: (i: number) => string[],
  send: (part: number[]) => Promise<BatchOutcome>,
  results: ItemResult[],
): Promise<void> {
  const res = await send(part);
  if (res.ok) {
    part.forEach((i, n) => (results[i] = res.results[n]!));
    return;
  }
  const { error } = res;
  if (part.length === 1 || !mayBeSomeInputs(error)) {
    for (const i of part) results[i] = res;
    return;
  }
  const named = error instanceof HubSpotCrmError ? error.named : new Map<string, string>();
  const refused = new Set(part.filter((i) => keysOf(i).some((k) => named.has(k))));
  if (refused.size > 0) {
    for (const i of refused) {
      const message = keysOf(i)
        .map((k) => named.get(k))
        .find((m) => m !== undefined);
      results[i] = {
        ok: false,
        error: new HubSpotCrmError(error.kind, message ?? error.message, error.details),
      };
    }
    const rest = part.filter((i) => !refused.has(i));
    if (rest.length > 0) await attributed(rest, keysOf, send, results);
    return;
  }
  const half = Math.ceil(part.length / 2);
  await attributed(part.slice(0, half), keysOf, send, results);
  await attributed(part.slice(half), keysOf, send, results);
}

/** Groups indexes so that no group holds the same id twice, keeping the order of writes per id. */
function uniqueIdGroups(ids: string[]): number[][] {
  const groups: number[][] = [];
  const seen: Array<Set<string>> = [];
  ids.forEach((id, i) => {
    let g = 0;
    while (seen[g]?.has(id)) g++;
    (groups[g] ??= []).push(i);
    (seen[g] ??= new Set()).add(id);
  });
  return groups;
}

/** The 207 error naming one of `keys` in its context (ids / objectWriteTraceId), else a generic one. */
function errorFor(res: BatchResponse, keys: string[]): CrmError {
  for (const e of res.errors ?? []) {
    const named = Object.values(e.context ?? {}).some((vals) => (vals ?? []).some((v) => keys.includes(v)));
    if (named) return itemError(e);
  }
  // A single error for the whole partial batch (no context) applies to every item without a result.
  const only =
    res.errors?.length === 1 && Object.keys(res.errors[0]?.context ?? {}).length === 0
      ? res.errors[0]
      : undefined;
  if (only !== undefined) return itemError(only);
  return new CrmError('invalid', 'HubSpot returned no result for this item', {});
}
