// Salesforce behind the CrmConnector interface, on the real jsforce client: its Connection signs every
// request, refreshes the session on a 401 and sends our call-options client id; its `request` is our
// typed HTTP layer for the documented REST resources (query, sObject Collections, describe, invocable
// actions), with jsforce's own retries off so that every call goes through our limiter and retry
// policy (shared/retry.ts), once.
//   Query: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
//   Collections: https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html
//   Cadence action: https://developer.salesforce.com/docs/platform/api-action/guide/actions-obj-high-velocity-sales.html
import type { HttpRequest } from 'jsforce';
import { SingleFlightCache } from '../shared/single-flight.js';
import { z } from 'zod';
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
import { withRetry, type RetryPolicy } from '../shared/retry.js';
import type { SalesforceSession } from './auth.js';
import { SALESFORCE_PROFILE } from './profile.js';
import {
  classifySalesforceCode,
  crmErrorFromJsforce,
  salesforceErrorSchema,
  usageFromLimitInfo,
  type ApiUsage,
  type CallContext,
} from './errors.js';
import {
  BASE_FIELDS,
  CONVERTED_CONTACT_FIELD,
  convertedLeadsOf,
  CRM_TERRITORIES_FIELD,
  FIELD_MAPS,
  isQueueId,
  objectOfId,
  OPTIONAL_FIELDS,
  recordToAccount,
  recordToLead,
  websiteDomain,
  type RoutedObject,
} from './records.js';
import {
  isSalesforceId,
  soql,
  soqlDateTime,
  soqlId,
  soqlIdList,
  soqlLike,
  soqlClause,
  soqlJoin,
  soqlName,
  soqlNumber,
  soqlString,
  type SoqlFragment,
} from './soql.js';

/** sObject Collections take 200 records per request (salesforce.md §2.3). */
export const COLLECTION_SIZE = 200;
/**
 * Inputs per `assignTargetToSalesCadence` call. The action documents no maximum [UNCONFIRMED]; 200 keeps
 * one call per Collections-sized batch.
 */
export const ENROLL_BATCH_SIZE = 200;
/**
 * Longest query URL we build. Salesforce refuses request URIs past 16,384 bytes [UNCONFIRMED exact
 * figure]; ids are chunked so that each `IN (…)` query stays well below it once URL-encoded.
 */
export const MAX_QUERY_URL_CHARS = 12_000;
/** How long one call may take before it is abandoned (and a write's outcome becomes unknown). */
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_DIRECTORY_TTL_MS = 5 * 60_000;
/** Records per page of a bulk listing (backfill, reassign). */
export const LIST_PAGE_SIZE = 200;

export const CADENCE_ACTION_PATH = '/actions/standard/assignTargetToSalesCadence';
export const COLLECTIONS_PATH = '/composite/sobjects';

/**
 * Sent with every write of ours. `Sforce-Auto-Assign: FALSE`: else the org's active lead assignment rule
 * runs on update too and can overwrite the owner we chose (salesforce.md §0.1). `allowSave=true`: a
 * duplicate rule whose action allows the save with an alert (Salesforce's standard Lead and Contact
 * rules do, on edit) lets our owner write through, as a user clicking past the alert would; by default
 * the API refuses it (DUPLICATES_DETECTED) and a lead with a look-alike never got its owner. A rule that
 * blocks still refuses, per record. Header: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api/headers_duplicaterules.htm
 */
export const WRITE_HEADERS = {
  'Sforce-Auto-Assign': 'FALSE',
  'Sforce-Duplicate-Rule-Header': 'allowSave=true',
} as const;

/** Subject of the completed Task that carries a routing note (see writeNotes). */
export const NOTE_SUBJECT = 'lead-router: routing decision';

const PRIORITY: Record<TaskCreate['priority'], string> = { high: 'High', medium: 'Normal', low: 'Low' };
/**
 * A note's closed status guessed by name, only when the org refuses its TaskStatus query: the org's value
 * among these (Salesforce's own first), as it spells it; with none of them the org's default status is
 * left to apply (the note then reads as an open task).
 */
const CLOSED_STATUSES = ['Completed', 'Complete', 'Closed', 'Done'];
/**
 * The org's Task Status picklist values, IsClosed saying which close a task. A Task's Status holds a
 * value's API name (ApiName, the describe's picklist `value`), not its label (MasterLabel).
 * https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_taskstatus.htm
 */
export const TASK_STATUS_QUERY = 'SELECT ApiName, IsClosed, IsDefault, SortOrder FROM TaskStatus';

// Answers, parsed at the edge: only the fields the connector reads are required.
// A record is checked to be an object, not copied key by key: its fields are read where they are mapped.
const recordSchema = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  'expected a record object',
);
const queryPageSchema = z.object({
  done: z.boolean().optional(),
  totalSize: z.number().optional(),
  records: z.array(recordSchema),
  nextRecordsUrl: z.string().optional().nullable(),
});
const saveResultSchema = z
  .object({
    id: z.string().optional().nullable(),
    success: z.boolean(),
    errors: z.array(salesforceErrorSchema).optional().nullable(),
  })
  .passthrough();
const saveResultsSchema = z.array(saveResultSchema);
const actionResultsSchema = z.array(
  z
    .object({
      isSuccess: z.boolean(),
      errors: z.array(salesforceErrorSchema).optional().nullable(),
      outputValues: z.record(z.unknown()).optional().nullable(),
    })
    .passthrough(),
);
const picklistValueSchema = z
  .object({ value: z.string(), active: z.boolean().optional(), defaultValue: z.boolean().optional() })
  .passthrough();
const taskStatusSchema = z
  .object({
    ApiName: z.string(),
    IsClosed: z.boolean(),
    IsDefault: z.boolean().nullish(),
    SortOrder: z.number().nullish(),
  })
  .passthrough();
export type TaskStatusRow = z.infer<typeof taskStatusSchema>;
const describeSchema = z
  .object({
    fields: z.array(
      z
        .object({
          name: z.string(),
          type: z.string(),
          picklistValues: z.array(picklistValueSchema).nullish(),
        })
        .passthrough(),
    ),
  })
  .passthrough();

function parseAnswer<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, answer: unknown, call: string): T {
  const parsed = schema.safeParse(answer);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(the answer)'}: ${i.message}`);
  throw new CrmError('invalid', `Salesforce ${call} answer not understood (${issues.join('; ')})`);
}

type SfRecord = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function toEpoch(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  // Salesforce dateTimes: 2026-01-01T00:00:00.000+0000 (no colon in the offset).
  const t = Date.parse(v.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isNaN(t) ? undefined : t;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Groups items so that no group holds one record id twice (a collection refuses duplicate ids). */
function uniqueIdGroups<T>(items: readonly T[], idOf: (item: T) => string): T[][] {
  const groups: { ids: Set<string>; items: T[] }[] = [];
  for (const item of items) {
    const id = idOf(item);
    let g = groups.find((x) => !x.ids.has(id) && x.items.length < COLLECTION_SIZE);
    if (g === undefined) groups.push((g = { ids: new Set(), items: [] }));
    g.ids.add(id);
    g.items.push(item);
  }
  return groups.map((g) => g.items);
}

/** Ids in groups whose `IN (…)` list stays under the URL budget once encoded (18-char ids: ~25 chars). */
function idChunks(ids: readonly string[], overhead: number): string[][] {
  const perId = 26;
  const size = Math.max(1, Math.floor((MAX_QUERY_URL_CHARS - overhead) / perId));
  return chunk(ids, Math.min(size, 500));
}

/** A territory of the org's active Territory 2.0 model, with the users assigned to it. */
export interface CrmTerritory {
  id: string;
  name: string;
  developerName: string;
  parentId?: string | undefined;
  users: { userId: string; role?: string | undefined }[];
}

/** What the connector knows of an object's fields, from describe. */
interface ObjectFields {
  /** Lower-case name → API name. */
  names: Map<string, string>;
  multiSelect: Set<string>;
  /** Lower-case name of a picklist → its active values, as the org has them. */
  picklists: Map<string, string[]>;
}

/** The per-tenant limiter the connector schedules its calls through (connectors/shared/limiter.ts). */
export interface CallScheduler {
  schedule<T>(bucket: string, fn: () => Promise<T>): Promise<T>;
  pause(bucket: string, ms: number): Promise<void>;
}

export interface SalesforceConnectorOptions {
  /** The org's session, or how to get it (tokens loaded from the tenant store on first use). */
  session: SalesforceSession | (() => Promise<SalesforceSession>);
  limiter?: CallScheduler | undefined;
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  timeoutMs?: number;
  directoryTtlMs?: number;
  /** How long describes and Task statuses are reused (DEFAULT_SCHEMA_TTL_MS). */
  schemaTtlMs?: number;
  /** Lead/Contact field that receives OwnerWrite.reason (e.g. `Routing_Reason__c`); omitted when unset. */
  reasonField?: string;
  /** SALESFORCE_PROFILE unless the rate budget is tuned. */
  profile?: ConnectorProfile | undefined;
  /** Told after every call with the org's daily API usage (Sforce-Limit-Info), for pacing and metrics. */
  onUsage?: (usage: ApiUsage) => void;
  /** Where the connector says what it falls back on (a query the org refuses); fields carry no lead data. */
  log?: { warn(message: string, meta?: Record<string, unknown>): unknown } | undefined;
}

export class SalesforceConnector implements CrmConnector {
  readonly provider = 'salesforce';
  readonly profile: ConnectorProfile;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private lastUsage: ApiUsage | undefined;
  /** Objects' fields, described again after `schemaTtlMs`. */
  private readonly described: SingleFlightCache<string, ObjectFields | null>;
  /** Users, Lead queues and territories, reused for `directoryTtlMs`. */
  private readonly org: SingleFlightCache<'org', OrgDirectory>;
  /** The org's TaskStatus rows, read again after `schemaTtlMs` as the Task describe is. */
  private readonly taskStatusRows: SingleFlightCache<'TaskStatus', TaskStatusRow[] | null>;
  /** The org's refusal of its TaskStatus query is said once, not at every read. */
  private taskStatusRefusalSaid = false;

  constructor(private readonly opts: SalesforceConnectorOptions) {
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.profile = opts.profile ?? SALESFORCE_PROFILE;
    const schemaTtlMs = opts.schemaTtlMs ?? DEFAULT_SCHEMA_TTL_MS;
    this.described = new SingleFlightCache({ now: this.now, ttlMs: schemaTtlMs });
    this.taskStatusRows = new SingleFlightCache({ now: this.now, ttlMs: schemaTtlMs });
    this.org = new SingleFlightCache({
      now: this.now,
      ttlMs: opts.directoryTtlMs ?? DEFAULT_DIRECTORY_TTL_MS,
    });
  }

  private sessionPromise: Promise<SalesforceSession> | undefined;

  /** The session, got once; a failure to get it is not kept, so the next call tries again. */
  private session(): Promise<SalesforceSession> {
    const given = this.opts.session;
    if (typeof given !== 'function') return Promise.resolve(given);
    this.sessionPromise ??= given().catch((err: unknown) => {
      this.sessionPromise = undefined;
      throw err;
    });
    return this.sessionPromise;
  }

  /** The org's daily API usage as last reported (undefined before the first answer). */
  apiUsage(): ApiUsage | undefined {
    return this.lastUsage;
  }

  // -------------------------------------------------------------------------------------------------
  // Calls

  /**
   * One REST call through the limiter and the retry policy. An INVALID_SESSION_ID that jsforce did not
   * refresh by itself is refreshed once here and the call sent again; a second one is `auth`.
   */
  private async request<T>(ctx: CallContext, req: HttpRequest): Promise<unknown> {
    const { limiter } = this.opts;
    const session = await this.session();
    const send = async (): Promise<unknown> => {
      try {
        // No jsforce retries (it would resend GETs on 5xx itself); a timeout aborts the request.
        return await session.conn.request<T>(req, { timeout: this.timeoutMs, retry: { maxRetries: 0 } });
      } finally {
        const usage = usageFromLimitInfo(session.conn.limitInfo, this.now());
        if (usage !== undefined) {
          this.lastUsage = usage;
          this.opts.onUsage?.(usage);
        }
      }
    };
    let refreshed = false;
    const once = async (): Promise<unknown> => {
      try {
        return await send();
      } catch (err) {
        const crm = crmErrorFromJsforce(err, ctx);
        if (crm?.details.code !== 'INVALID_SESSION_ID' || refreshed) throw err;
        refreshed = true;
        await session.refresh();
        return send();
      }
    };
    return withRetry(
      async () => {
        const answer = limiter === undefined ? await once() : await limiter.schedule('general', once);
        // A rotated refresh token is stored before the call counts as done.
        await session.settled();
        return answer;
      },
      {
        classify: (err) => crmErrorFromJsforce(err, ctx),
        // A write that may have been applied is not sent again blindly: the pipeline looks for it first.
        mayRetry: (error) => error.details.outcomeUnknown !== true,
        ...(limiter === undefined ? {} : { pausePortal: (ms: number) => limiter.pause('general', ms) }),
        ...(this.opts.retry === undefined ? {} : { policy: this.opts.retry }),
        ...(this.opts.sleep === undefined ? {} : { sleep: this.opts.sleep }),
      },
    );
  }

  /** Every record of a SOQL query, following `nextRecordsUrl`. */
  private async query(text: string, call: string): Promise<SfRecord[]> {
    const out: SfRecord[] = [];
    let url: string | undefined = `/query?q=${encodeURIComponent(text)}`;
    while (url !== undefined) {
      const page: z.infer<typeof queryPageSchema> = parseAnswer(
        queryPageSchema,
        await this.request({ call, write: false }, { method: 'GET', url }),
        call,
      );
      out.push(...page.records);
      url = page.done === false ? (page.nextRecordsUrl ?? undefined) : undefined;
    }
    return out;
  }

  /** An object's fields (describe, reused for `schemaTtlMs`); null when describe is refused. */
  private fieldsOf(object: string): Promise<ObjectFields | null> {
    return this.described.get(object, async () => {
      try {
        const answer = parseAnswer(
          describeSchema,
          await this.request(
            { call: `${object} describe`, write: false },
            { method: 'GET', url: `/sobjects/${soqlName(object).text}/describe` },
          ),
          `${object} describe`,
        );
        const names = new Map(answer.fields.map((f) => [f.name.toLowerCase(), f.name]));
        const multiSelect = new Set(
          answer.fields.filter((f) => f.type === 'multipicklist').map((f) => f.name),
        );
        const picklists = new Map(
          answer.fields
            .filter((f) => f.type === 'picklist' && (f.picklistValues?.length ?? 0) > 0)
            .map((f) => [
              f.name.toLowerCase(),
              (f.picklistValues ?? []).filter((v) => v.active !== false).map((v) => v.value),
            ]),
        );
        return { names, multiSelect, picklists };
      } catch (err) {
        // Without describe every standard field is assumed and the optional ones left out; any other
        // failure is not kept, so the next call describes again.
        if (err instanceof CrmError && (err.kind === 'not_found' || err.kind === 'invalid')) return null;
        throw err;
      }
    });
  }

  /**
   * The org's Task statuses (TaskStatus), null when the org refuses the query (a user who cannot see the
   * object): said once. Any other failure is not kept.
   */
  private taskStatuses(): Promise<TaskStatusRow[] | null> {
    return this.taskStatusRows.get('TaskStatus', async () => {
      try {
        const rows = await this.query(TASK_STATUS_QUERY, 'TaskStatus query');
        return rows.map((r) => parseAnswer(taskStatusSchema, r, 'TaskStatus query'));
      } catch (err) {
        if (!(err instanceof CrmError && (err.kind === 'not_found' || err.kind === 'invalid'))) throw err;
        if (this.taskStatusRefusalSaid) return null;
        this.taskStatusRefusalSaid = true;
        this.opts.log?.warn(
          "Salesforce org refused its TaskStatus query: a note's closed status is guessed by name (Completed, Complete, Closed, Done)",
          { error: err.message },
        );
        return null;
      }
    });
  }

  /** Whether the object has the field: by describe, else true unless it is one of the optional ones. */
  private has(fields: ObjectFields | null, name: string): boolean {
    if (fields === null) return !OPTIONAL_FIELDS.has(name);
    const [head] = name.split('.');
    return head !== undefined && fields.names.has((name.includes('.') ? `${head}Id` : name).toLowerCase());
  }

  /**
   * Sends records through sObject Collections, 200 per call, and answers one result per record in
   * order. Salesforce answers per record (`success`, `errors[].statusCode`) and never throws for one
   * record; a whole-call failure (network, limit, session) becomes every record's result.
   */
  private async collection(
    method: 'POST' | 'PATCH',
    records: { attributes: { type: string }; id?: string; [field: string]: unknown }[],
    call: string,
  ): Promise<ItemResult[]> {
    const results: ItemResult[] = [];
    for (const part of chunk(records, COLLECTION_SIZE)) {
      try {
        const answer = parseAnswer(
          saveResultsSchema,
          await this.request(
            { call, write: true },
            {
              method,
              url: COLLECTIONS_PATH,
              body: JSON.stringify({ allOrNone: false, records: part }),
              headers: { ...WRITE_HEADERS, 'content-type': 'application/json' },
            },
          ),
          call,
        );
        part.forEach((record, i) => {
          const r = answer[i];
          if (r === undefined)
            results.push({
              ok: false,
              error: new CrmError(
                'invalid',
                `Salesforce answered no result for ${record.id ?? 'a new record'} (${call})`,
              ),
            });
          else if (r.success)
            results.push(str(r.id) === undefined ? { ok: true } : { ok: true, id: r.id as string });
          else results.push({ ok: false, error: recordError(r.errors ?? []) });
        });
      } catch (err) {
        if (!(err instanceof CrmError)) throw err;
        for (let i = 0; i < part.length; i++) results.push({ ok: false, error: err });
      }
    }
    return results;
  }

  // -------------------------------------------------------------------------------------------------
  // Reads

  /** The describes a batch of `leadIds` needs: its objects' for the read, Task's for tasks and notes. */
  async prepare(leadIds: string[]): Promise<void> {
    const objects = new Set<string>(['Task']);
    for (const id of leadIds) {
      const object = isSalesforceId(id) ? objectOfId(id) : undefined;
      if (object !== undefined) objects.add(object);
      // Contacts are read with the Lead they were converted from, if Lead has the field (readLeads).
      if (object === 'Contact') objects.add('Lead');
    }
    await Promise.all([...objects].map((object) => this.fieldsOf(object)));
  }

  async readLeads(ids: string[], properties: string[]): Promise<Map<string, Lead>> {
    const byObject: Record<RoutedObject, string[]> = { Lead: [], Contact: [] };
    // An id that is not a Lead or Contact id never reaches SOQL; it is simply not found.
    for (const id of new Set(ids)) {
      const object = isSalesforceId(id) ? objectOfId(id) : undefined;
      if (object !== undefined) byObject[object].push(id);
    }
    const directory = ids.length === 0 ? undefined : await this.orgDirectory();
    // A Territory 2.0 query per batch only when the rule set reads the territories.
    const withTerritories = properties.some((p) => p.toLowerCase() === CRM_TERRITORIES_FIELD);
    const out = new Map<string, Lead>();
    // The objects, their id chunks and a Lead's territories (keyed by the ids asked for) are independent
    // calls: sent together, a batch waits one round trip for them, not one per call.
    const readObject = async (object: RoutedObject): Promise<void> => {
      const wanted = byObject[object];
      if (wanted.length === 0 || directory === undefined) return;
      const [fields, leadFields] = await Promise.all([
        this.fieldsOf(object),
        object === 'Contact' ? this.fieldsOf('Lead') : undefined,
      ]);
      const select = this.selectFor(object, fields, properties);
      const askedAs = new Map(wanted.map((w) => [w, w]));
      const leadTerritories =
        object === 'Lead' && withTerritories ? this.territoriesOf(wanted, directory) : undefined;
      // Not left unobserved while the queries run: awaited below, after them.
      leadTerritories?.catch(() => undefined);
      const parts = idChunks(wanted, 200 + select.join(',').length * 1.2);
      // A Contact's lead, asked beside its record (one more query per chunk, not one more round trip),
      // unless describe says the org's Lead has no such field.
      const converted =
        leadFields !== undefined && this.has(leadFields, CONVERTED_CONTACT_FIELD)
          ? this.convertedLeads(parts)
          : undefined;
      converted?.catch(() => undefined);
      const records = (
        await Promise.all(
          parts.map((part) =>
            this.query(
              soql`SELECT ${select.map(soqlName)} FROM ${soqlName(object)} WHERE Id IN ${soqlIdList(part)}`,
              `${object} query`,
            ),
          ),
        )
      ).flat();
      const convertedFrom = (await converted) ?? new Map<string, string>();
      const territories = !withTerritories
        ? new Map<string, string[]>()
        : leadTerritories === undefined
          ? await this.territoriesOf(
              records.map((r) => str(r['AccountId'])).filter((x): x is string => x !== undefined),
              directory,
            )
          : await leadTerritories;
      for (const record of records) {
        const id = str(record['Id']);
        if (id === undefined) continue;
        const holder = object === 'Contact' ? str(record['AccountId']) : id;
        const lead = recordToLead(object, record, {
          multiSelect: fields?.multiSelect ?? new Set(),
          ownerEmail: (ownerId) => directory.ownerEmail.get(ownerId),
          territories: holder === undefined ? undefined : territories.get(holder),
        });
        // Requested with a 15-character id, answered with 18: keyed as the caller asked.
        const asked = askedAs.get(id) ?? askedAs.get(id.slice(0, 15)) ?? id;
        const from = convertedFrom.get(id);
        out.set(
          asked,
          from === undefined ? { ...lead, id: asked } : { ...lead, id: asked, convertedFrom: from },
        );
      }
    };
    await Promise.all([readObject('Lead'), readObject('Contact')]);
    return out;
  }

  /**
   * The lead each of these Contacts was converted from (converted Contact id → Lead id): one query per
   * chunk, side by side. An org that refuses the field (hidden from the integration user, not known to
   * describe) marks none: the Contacts are read all the same.
   */
  private async convertedLeads(parts: readonly string[][]): Promise<Map<string, string>> {
    try {
      const rows = await Promise.all(
        parts.map((part) =>
          this.query(
            soql`SELECT Id, ${soqlName(CONVERTED_CONTACT_FIELD)} FROM Lead WHERE ${soqlName(CONVERTED_CONTACT_FIELD)} IN ${soqlIdList(part)}`,
            'Lead conversion query',
          ),
        ),
      );
      return convertedLeadsOf(rows.flat());
    } catch (err) {
      if (err instanceof CrmError && (err.kind === 'invalid' || err.kind === 'not_found')) return new Map();
      throw err;
    }
  }

  /** The mapped fields the object has, the base ones, and the requested properties it has (by describe). */
  private selectFor(
    object: RoutedObject,
    fields: ObjectFields | null,
    properties: readonly string[],
  ): string[] {
    const select = new Map<string, string>();
    const add = (name: string): void => {
      if (!select.has(name.toLowerCase())) select.set(name.toLowerCase(), name);
    };
    for (const name of [...BASE_FIELDS[object], ...Object.keys(FIELD_MAPS[object])])
      if (this.has(fields, name)) add(name);
    for (const p of properties) {
      // Rule-named properties: only valid names the object has (by describe) are asked for, so one
      // Contact-only field in the rules cannot fail the Lead query.
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(p)) continue;
      const known = fields?.names.get(p.toLowerCase());
      if (known !== undefined) add(known);
      else if (fields === null && p.endsWith('__c')) add(p);
    }
    return [...select.values()];
  }

  async findAccountsByDomain(domains: string[]): Promise<Map<string, Account[]>> {
    const wanted = [...new Set(domains.map((d) => d.trim().toLowerCase()).filter((d) => d !== ''))];
    const out = new Map<string, Account[]>();
    if (wanted.length === 0) return out;
    const directory = await this.orgDirectory();
    const found = new Map<string, SfRecord>();
    // Website is free text: LIKE finds candidates, the registrable domain decides. Accounts named like
    // the domain's first label ("acme" for acme.com) come too, so the core can match by company name.
    // One query per chunk of domains, sent side by side.
    const pages = await Promise.all(
      chunk(wanted, this.profile.batchSizes.accountDomains).map((part) => {
        const conditions = part.map((d) => soqlClause`Website LIKE ${soqlLike(d, 'contains')}`);
        const labels = [...new Set(part.map((d) => d.split('.')[0] ?? '').filter((l) => l.length >= 3))];
        for (const l of labels) conditions.push(soqlClause`Name LIKE ${soqlLike(l, 'starts')}`);
        const where = soqlJoin(conditions, ' OR ');
        return this.query(
          soql`SELECT Id, Name, Website, OwnerId, Type FROM Account WHERE ${where} LIMIT 2000`,
          'Account query',
        );
      }),
    );
    for (const r of pages.flat()) if (str(r['Id']) !== undefined) found.set(r['Id'] as string, r);
    for (const record of found.values()) {
      const account = recordToAccount(record, (id) => directory.ownerEmail.get(id));
      const domain = websiteDomain(record['Website']);
      const key =
        domain !== undefined && wanted.includes(domain)
          ? domain
          : wanted.find((d) => account.name.toLowerCase().startsWith(d.split('.')[0] ?? '\0'));
      if (key === undefined) continue;
      const list = out.get(key) ?? [];
      list.push(account);
      out.set(key, list);
    }
    return out;
  }

  /**
   * The org's users and Lead queues as they are now (a User created or deactivated since shows), as
   * HubSpot's connector lists its owners: callers that can reuse a listing keep their own (the worker's
   * directory cache). What is read refreshes the copy this connector's lookups reuse.
   */
  async directory(): Promise<Directory> {
    const d = await this.org.get('org', () => this.fetchDirectory(this.now()), { usable: () => false });
    return { owners: d.owners, queues: d.queues, fetchedAt: d.fetchedAt };
  }

  /** The active Territory 2.0 model's territories with their users; empty when no model is active. */
  async territories(): Promise<CrmTerritory[]> {
    return (await this.orgDirectory()).territories;
  }

  /** Users, Lead queues and territories, fetched together and reused for `directoryTtlMs`, single-flight. */
  private orgDirectory(): Promise<OrgDirectory> {
    return this.org.get('org', () => this.fetchDirectory(this.now()));
  }

  private async fetchDirectory(now: number): Promise<OrgDirectory> {
    // Users, the Lead queues and the territories are three independent chains of queries: sent side by
    // side, the directory costs the longest chain's round trips, not all seven.
    const territoriesRead = this.fetchTerritories();
    territoriesRead.catch(() => undefined); // awaited below; a failure is thrown there
    const [users, queueIds] = await Promise.all([
      this.query(
        "SELECT Id, Name, Email, IsActive, TimeZoneSidKey, ManagerId FROM User WHERE UserType = 'Standard'",
        'User query',
      ),
      this.leadQueueIds(),
    ]);
    const owners: DirectoryOwner[] = [];
    const ownerEmail = new Map<string, string>();
    for (const u of users) {
      const id = str(u['Id']);
      const email = str(u['Email'])?.toLowerCase();
      if (id === undefined || email === undefined) continue;
      // A Salesforce user sends cadences as itself: its user id is its sender id.
      const owner: DirectoryOwner = {
        id,
        senderId: id,
        email,
        name: str(u['Name']) ?? email,
        active: u['IsActive'] === true,
        teams: [],
        timezone: str(u['TimeZoneSidKey']),
      };
      // Where `escalate: manager` goes when the team file names no manager.
      const managerId = str(u['ManagerId']);
      if (managerId !== undefined) owner.managerId = managerId;
      owners.push(owner);
      ownerEmail.set(id, email);
      ownerEmail.set(id.slice(0, 15), email);
    }
    const queues: Record<string, string> = {};
    const queueName = new Map<string, string>();
    for (const part of idChunks([...new Set(queueIds)], 200)) {
      for (const g of await this.query(
        soql`SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue' AND Id IN ${soqlIdList(part)}`,
        'Group query',
      )) {
        const id = str(g['Id']);
        if (id === undefined) continue;
        for (const name of [str(g['Name']), str(g['DeveloperName'])])
          if (name !== undefined) queues[name] ??= id;
        queueName.set(id, str(g['Name']) ?? str(g['DeveloperName']) ?? id);
      }
    }
    // Queue members (GroupMember rows whose member is a user; nested groups are not followed): each
    // user's teams are the queues it works, so a rule routing to a queue knows who is behind it.
    const ownerById = new Map(owners.map((o) => [o.id, o]));
    for (const part of idChunks([...queueName.keys()], 200)) {
      for (const m of await this.query(
        soql`SELECT GroupId, UserOrGroupId FROM GroupMember WHERE GroupId IN ${soqlIdList(part)}`,
        'GroupMember query',
      )) {
        const owner = ownerById.get(str(m['UserOrGroupId']) ?? '');
        const name = queueName.get(str(m['GroupId']) ?? '');
        if (owner !== undefined && name !== undefined && !owner.teams.includes(name)) owner.teams.push(name);
      }
    }
    return { owners, queues, ownerEmail, territories: await territoriesRead, fetchedAt: now };
  }

  /**
   * Queues that may own Leads: QueueSobject rows for Lead (their Group rows come next: two plain queries,
   * not a semi-join, so any SOQL engine that speaks the basics answers them).
   */
  private async leadQueueIds(): Promise<string[]> {
    return (
      await this.query("SELECT QueueId FROM QueueSobject WHERE SobjectType = 'Lead'", 'QueueSobject query')
    )
      .map((r) => str(r['QueueId']))
      .filter((id): id is string => id !== undefined && isSalesforceId(id));
  }

  private async fetchTerritories(): Promise<CrmTerritory[]> {
    const models = await this.query(
      "SELECT Id FROM Territory2Model WHERE State = 'Active'",
      'Territory2Model query',
    ).catch((err: unknown) => {
      // An org without Territory Management has no such object: no territories, not a failure.
      if (err instanceof CrmError && err.kind === 'invalid') return [];
      throw err;
    });
    const modelId = str(models[0]?.['Id']);
    if (modelId === undefined || !isSalesforceId(modelId)) return [];
    const rows = await this.query(
      soql`SELECT Id, Name, DeveloperName, ParentTerritory2Id FROM Territory2 WHERE Territory2ModelId = ${soqlId(modelId)}`,
      'Territory2 query',
    );
    const territories = new Map<string, CrmTerritory>();
    for (const r of rows) {
      const id = str(r['Id']);
      if (id === undefined) continue;
      territories.set(id, {
        id,
        name: str(r['Name']) ?? id,
        developerName: str(r['DeveloperName']) ?? id,
        parentId: str(r['ParentTerritory2Id']),
        users: [],
      });
    }
    const ids = [...territories.keys()].filter(isSalesforceId);
    for (const part of idChunks(ids, 200)) {
      for (const a of await this.query(
        soql`SELECT UserId, Territory2Id, RoleInTerritory2 FROM UserTerritory2Association WHERE IsActive = true AND Territory2Id IN ${soqlIdList(part)}`,
        'UserTerritory2Association query',
      )) {
        const t = territories.get(str(a['Territory2Id']) ?? '');
        const userId = str(a['UserId']);
        if (t !== undefined && userId !== undefined)
          t.users.push({ userId, role: str(a['RoleInTerritory2']) });
      }
    }
    return [...territories.values()];
  }

  /** Record id (Lead, or a Contact's Account) → names of its territories in the active model. */
  private async territoriesOf(ids: string[], directory: OrgDirectory): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (directory.territories.length === 0) return out;
    const names = new Map(directory.territories.map((t) => [t.id, t.name]));
    const wanted = [...new Set(ids.filter(isSalesforceId))];
    for (const part of idChunks(wanted, 200)) {
      for (const a of await this.query(
        soql`SELECT ObjectId, Territory2Id FROM ObjectTerritory2Association WHERE ObjectId IN ${soqlIdList(part)}`,
        'ObjectTerritory2Association query',
      )) {
        // Associations of other (planning, archived) models are not in the active model's list.
        const name = names.get(str(a['Territory2Id']) ?? '');
        const objectId = str(a['ObjectId']);
        if (name === undefined || objectId === undefined) continue;
        const list = out.get(objectId) ?? [];
        if (!list.includes(name)) list.push(name);
        out.set(objectId, list);
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------
  // Writes

  async setOwners(writes: OwnerWrite[]): Promise<ItemResult[]> {
    const results = new Array<ItemResult>(writes.length);
    const sendable: {
      i: number;
      record: { attributes: { type: string }; id: string; [f: string]: unknown };
    }[] = [];
    writes.forEach((w, i) => {
      const object = isSalesforceId(w.leadId) ? objectOfId(w.leadId) : undefined;
      if (object === undefined) {
        results[i] = refused(`${JSON.stringify(w.leadId)} is not a Salesforce Lead or Contact id`);
        return;
      }
      if (!isSalesforceId(w.ownerId)) {
        // A Lead queue named in the team file was resolved to its id before this: none has that name.
        results[i] = refused(
          `owner ${JSON.stringify(w.ownerId)} is not a Salesforce user or queue id, nor the name of one of the org's Lead queues`,
        );
        return;
      }
      // Queues own Leads, never Contacts (salesforce.md §0.9): refused here rather than by the org.
      if (object === 'Contact' && isQueueId(w.ownerId)) {
        results[i] = refused(
          `a Contact's owner must be a user; queue ${w.ownerId} cannot own Contact ${w.leadId}`,
        );
        return;
      }
      const record: { attributes: { type: string }; id: string; [f: string]: unknown } = {
        attributes: { type: object },
        id: w.leadId,
        OwnerId: w.ownerId,
      };
      if (this.opts.reasonField !== undefined && w.reason !== undefined)
        record[soqlName(this.opts.reasonField).text] = w.reason;
      sendable.push({ i, record });
    });
    for (const group of uniqueIdGroups(sendable, (s) => s.record.id.slice(0, 15))) {
      const answers = await this.collection(
        'PATCH',
        group.map((s) => s.record),
        'owner update',
      );
      group.forEach((s, n) => (results[s.i] = answers[n] as ItemResult));
    }
    return results;
  }

  /** Salesforce has no teams: a queue is an owner (`OwnerId`), so a team target is refused per item. */
  setTeams(writes: TeamWrite[]): Promise<ItemResult[]> {
    return Promise.resolve(
      writes.map(() =>
        refused('Salesforce has no teams: give the queue an owner target (a user or a Lead queue)'),
      ),
    );
  }

  async createTasks(tasks: TaskCreate[]): Promise<ItemResult[]> {
    const taskFields = await this.fieldsOf('Task');
    const reminder = this.has(taskFields, 'ReminderDateTime') && this.has(taskFields, 'IsReminderSet');
    const priority = (p: TaskCreate['priority']) => taskPicklist(taskFields, 'Priority', [PRIORITY[p]]);
    return this.createAll(
      tasks,
      (t) => ({
        attributes: { type: 'Task' },
        WhoId: t.leadId,
        ...(t.ownerId === undefined ? {} : { OwnerId: t.ownerId }),
        Subject: t.subject.slice(0, 255),
        Description: t.body.slice(0, 32_000),
        // ActivityDate is a date (time ignored); the exact due time is the reminder.
        ActivityDate: new Date(t.dueAt).toISOString().slice(0, 10),
        ...(reminder ? { ReminderDateTime: new Date(t.dueAt).toISOString(), IsReminderSet: true } : {}),
        ...priority(t.priority),
        // Left to the org's default (an open status): orgs rename "Not Started" ("Open", "New").
      }),
      'task create',
    );
  }

  /**
   * Notes are completed Tasks on the record (Subject NOTE_SUBJECT, the text in Description): one
   * Collections call for 200 of them, shown in the record's activity history, and read back by WhoId
   * with one query. A ContentNote would need a second call per batch to link it (ContentDocumentLink),
   * stores HTML, and is outside what salesforce.md confirms.
   */
  async writeNotes(notes: NoteCreate[]): Promise<ItemResult[]> {
    const [taskFields, statuses] = await Promise.all([this.fieldsOf('Task'), this.taskStatuses()]);
    // The org says which statuses close a task; only when it refuses to is one guessed by name.
    const closed =
      statuses === null
        ? taskPicklist(taskFields, 'Status', CLOSED_STATUSES)
        : picked('Status', closedTaskStatus(statuses, taskFields?.picklists.get('status')));
    const normal = taskPicklist(taskFields, 'Priority', ['Normal']);
    return this.createAll(
      notes,
      (n) => ({
        attributes: { type: 'Task' },
        WhoId: n.leadId,
        ...(n.ownerId === undefined ? {} : { OwnerId: n.ownerId }),
        Subject: NOTE_SUBJECT,
        Description: n.text.slice(0, 32_000),
        ActivityDate: new Date(this.now()).toISOString().slice(0, 10),
        ...normal,
        ...closed,
      }),
      'note create',
    );
  }

  private async createAll<T extends { leadId: string; ownerId?: string | undefined }>(
    items: T[],
    build: (item: T) => { attributes: { type: string }; [f: string]: unknown },
    call: string,
  ): Promise<ItemResult[]> {
    const results = new Array<ItemResult>(items.length);
    const sendable: { i: number; record: { attributes: { type: string }; [f: string]: unknown } }[] = [];
    items.forEach((item, i) => {
      if (!isSalesforceId(item.leadId) || objectOfId(item.leadId) === undefined)
        results[i] = refused(`${JSON.stringify(item.leadId)} is not a Salesforce Lead or Contact id`);
      else if (item.ownerId !== undefined && !isSalesforceId(item.ownerId))
        results[i] = refused(`owner ${JSON.stringify(item.ownerId)} is not a Salesforce user id`);
      else sendable.push({ i, record: build(item) });
    });
    const answers = await this.collection(
      'POST',
      sendable.map((s) => s.record),
      call,
    );
    sendable.forEach((s, n) => (results[s.i] = answers[n] as ItemResult));
    return results;
  }

  async enroll(enrollments: SequenceEnrollment[]): Promise<ItemResult[]> {
    const results = new Array<ItemResult>(enrollments.length);
    const sendable: number[] = [];
    enrollments.forEach((e, i) => {
      if (!isSalesforceId(e.leadId) || objectOfId(e.leadId) === undefined)
        results[i] = refused(`${JSON.stringify(e.leadId)} is not a Salesforce Lead or Contact id`);
      else if (!isSalesforceId(e.senderId))
        results[i] = refused(`sender ${JSON.stringify(e.senderId)} is not a Salesforce user id`);
      else sendable.push(i);
    });
    for (const part of chunk(sendable, ENROLL_BATCH_SIZE)) {
      const inputs = part.map((i) => {
        const e = enrollments[i] as SequenceEnrollment;
        return { salesCadenceNameOrId: e.sequenceId, targetId: e.leadId, userId: e.senderId };
      });
      try {
        // HTTP 200 with per-input `isSuccess`: an input's failure does not throw (salesforce.md §4).
        const answer = parseAnswer(
          actionResultsSchema,
          await this.request(
            { call: 'cadence enrollment', write: true },
            {
              method: 'POST',
              url: CADENCE_ACTION_PATH,
              body: JSON.stringify({ inputs }),
              headers: { 'content-type': 'application/json' },
            },
          ),
          'cadence enrollment',
        );
        part.forEach((i, n) => {
          const r = answer[n];
          results[i] =
            r === undefined
              ? refused('Salesforce answered no result for this cadence enrollment')
              : r.isSuccess
                ? { ok: true }
                : { ok: false, error: recordError(r.errors ?? []) };
        });
      } catch (err) {
        if (!(err instanceof CrmError)) throw err;
        for (const i of part) results[i] = { ok: false, error: err };
      }
    }
    return results;
  }

  async sequences(): Promise<{ id: string; name: string }[]> {
    const rows = await this.query('SELECT Id, Name FROM ActionCadence', 'ActionCadence query');
    return rows.flatMap((r) => {
      const id = str(r['Id']);
      const name = str(r['Name']);
      return id === undefined || name === undefined ? [] : [{ id, name }];
    });
  }

  // -------------------------------------------------------------------------------------------------
  // What is already on a record (adopt after an unknown outcome), and first touch

  async findTasks(leadIds: string[]): Promise<Map<string, ExistingTask[]>> {
    const ids = checkedLookupIds(leadIds);
    const select = ['Id', 'WhoId', 'Subject', 'ActivityDate', 'OwnerId'];
    if (this.has(await this.fieldsOf('Task'), 'ReminderDateTime')) select.push('ReminderDateTime');
    return this.tasksByWho(
      ids,
      (who) =>
        soql`SELECT ${select.map(soqlName)} FROM Task WHERE WhoId IN ${who} AND Subject != ${soqlString(NOTE_SUBJECT)}`,
      (r) => {
        const id = str(r['Id']);
        const dueAt = toEpoch(r['ReminderDateTime']) ?? toEpoch(r['ActivityDate']);
        if (id === undefined || dueAt === undefined) return undefined;
        const task: ExistingTask = { id, subject: str(r['Subject']) ?? '', dueAt };
        const ownerId = str(r['OwnerId']);
        if (ownerId !== undefined) task.ownerId = ownerId;
        return task;
      },
    );
  }

  async findNotes(leadIds: string[]): Promise<Map<string, ExistingNote[]>> {
    return this.tasksByWho(
      checkedLookupIds(leadIds),
      (who) =>
        soql`SELECT Id, WhoId, Description, CreatedDate FROM Task WHERE WhoId IN ${who} AND Subject = ${soqlString(NOTE_SUBJECT)}`,
      (r) => {
        const id = str(r['Id']);
        const at = toEpoch(r['CreatedDate']);
        return id === undefined || at === undefined
          ? undefined
          : { id, body: str(r['Description']) ?? '', at };
      },
    );
  }

  /**
   * Tasks whose WhoId is one of the leads (checked ids, see `checkedLookupIds`), by lead: one query per
   * chunk of ids, not one per lead. A row is filed under the id asked for, whether it was given in its 15-
   * or 18-character form.
   */
  private async tasksByWho<T>(
    ids: readonly string[],
    query: (who: SoqlFragment) => string,
    read: (row: SfRecord) => T | undefined,
  ): Promise<Map<string, T[]>> {
    const out = new Map<string, T[]>();
    for (const part of idChunks(ids, 200)) {
      const asked = new Map(part.map((id) => [id.slice(0, 15), id]));
      for (const r of await this.query(query(soqlIdList(part)), 'Task query')) {
        const leadId = asked.get(str(r['WhoId'])?.slice(0, 15) ?? '');
        const value = read(r);
        if (leadId === undefined || value === undefined) continue;
        out.set(leadId, [...(out.get(leadId) ?? []), value]);
      }
    }
    return out;
  }

  async findEnrollment(leadId: string): Promise<ExistingEnrollment | undefined> {
    const rows = await this.query(
      soql`SELECT Id, ActionCadenceId, State FROM ActionCadenceTracker WHERE TargetId = ${soqlIdOrRefuse(leadId)} AND State IN ('Initializing', 'Running')`,
      'ActionCadenceTracker query',
    );
    const row = rows.find((r) => str(r['ActionCadenceId']) !== undefined);
    if (row === undefined) return undefined;
    const id = str(row['Id']);
    const sequenceId = row['ActionCadenceId'] as string;
    return id === undefined ? { sequenceId } : { id, sequenceId };
  }

  /**
   * Touched since `since`: the owner edited the record (a Status change, for one), created a Task or an
   * Event on it, or completed a Task on it. Our own writes are made by the integration user, so they
   * never count (unless that user is also the owner).
   */
  /**
   * Open Leads in Id order, 200 per query: keyset paging (`Id > :after`) so a resumed job continues
   * after the last record it listed. "Unowned" is owned by a queue (every Salesforce record has an
   * owner). Tested against the Salesforce sandbox (test/contract/salesforce/list-leads.test.ts).
   */
  async listLeads(query: LeadListQuery): Promise<LeadListPage> {
    const where: SoqlFragment[] = [soqlClause`IsConverted = false`];
    if (query.since !== undefined) where.push(soqlClause`CreatedDate >= ${soqlDateTime(query.since)}`);
    if (query.unowned === true) where.push(soqlClause`Owner.Type = 'Queue'`);
    if (query.owner !== undefined) {
      const wanted = query.owner.trim().toLowerCase();
      const ids = (await this.orgDirectory()).owners.filter((o) => o.email === wanted).map((o) => o.id);
      if (ids.length === 0) return { ids: [] };
      where.push(soqlClause`OwnerId IN ${soqlIdList(ids)}`);
    }
    if (query.after !== undefined) where.push(soqlClause`Id > ${soqlId(query.after)}`);
    const records = await this.query(
      soql`SELECT Id FROM Lead WHERE ${soqlJoin(where, ' AND ')} ORDER BY Id LIMIT ${soqlNumber(LIST_PAGE_SIZE)}`,
      'Lead query',
    );
    const ids = records.flatMap((r) => str(r['Id']) ?? []);
    const last = ids.at(-1);
    return last === undefined || ids.length < LIST_PAGE_SIZE ? { ids } : { ids, after: last };
  }

  /**
   * SLA checks in three SOQL queries per chunk of ids (the record, its Tasks, its Events), never one per
   * lead. A touch is the owner's: `status` — the owner edited the record (a Status change, for one);
   * `activity` and `contacted` — a Task or Event the owner created; `task_completed` — a Task the owner
   * closed. Our own writes are made by the integration user, so they never count (unless that user is
   * also the owner). The owner is the record's OwnerId.
   */
  async touchedLeads(
    queries: TouchQuery[],
    signals: readonly TouchSignal[],
  ): Promise<Map<string, TouchState>> {
    const out = new Map<string, TouchState>();
    const since = new Map(queries.map((q) => [q.leadId, q.since]));
    const byObject: Record<'Lead' | 'Contact', string[]> = { Lead: [], Contact: [] };
    for (const id of since.keys()) {
      const object = isSalesforceId(id) ? objectOfId(id) : undefined;
      if (object !== undefined) byObject[object].push(id);
    }
    const owners = new Map<string, string>();
    const seen = (id: unknown, at: number | undefined, signal: TouchSignal): void => {
      const leadId =
        typeof id === 'string'
          ? [...since.keys()].find((k) => k.slice(0, 15) === id.slice(0, 15))
          : undefined;
      const state = leadId === undefined ? undefined : out.get(leadId);
      const from = leadId === undefined ? undefined : since.get(leadId);
      if (
        state === undefined ||
        at === undefined ||
        from === undefined ||
        at < from ||
        !signals.includes(signal)
      )
        return;
      if (state.touchedAt === undefined || at < state.touchedAt) {
        state.touchedAt = at;
        state.signal = signal;
      }
    };
    const byOwner = (leadId: unknown, userId: unknown): boolean => {
      if (typeof leadId !== 'string' || typeof userId !== 'string') return false;
      const owner = owners.get(leadId.slice(0, 15));
      return owner !== undefined && owner.slice(0, 15) === userId.slice(0, 15);
    };
    for (const object of ['Lead', 'Contact'] as const) {
      for (const part of idChunks(byObject[object], 400)) {
        const after = soqlDateTime(Math.min(...part.map((id) => since.get(id) ?? 0)));
        const records = await this.query(
          soql`SELECT Id, OwnerId, LastModifiedById, LastModifiedDate FROM ${soqlName(object)} WHERE Id IN ${soqlIdList(part)}`,
          `${object} query`,
        );
        for (const r of records) {
          const id = str(r['Id']);
          if (id === undefined) continue;
          const leadId = part.find((k) => k.slice(0, 15) === id.slice(0, 15)) ?? id;
          const owner = str(r['OwnerId']);
          const state: TouchState = {};
          if (owner !== undefined) {
            state.ownerId = owner;
            owners.set(leadId.slice(0, 15), owner);
          }
          out.set(leadId, state);
          if (byOwner(leadId, r['LastModifiedById'])) seen(leadId, toEpoch(r['LastModifiedDate']), 'status');
        }
        const tasks = await this.query(
          soql`SELECT WhoId, CreatedById, CreatedDate, LastModifiedById, LastModifiedDate, IsClosed FROM Task WHERE WhoId IN ${soqlIdList(part)} AND LastModifiedDate >= ${after}`,
          'Task query',
        );
        for (const t of tasks) {
          if (byOwner(t['WhoId'], t['CreatedById'])) {
            seen(t['WhoId'], toEpoch(t['CreatedDate']), 'activity');
            seen(t['WhoId'], toEpoch(t['CreatedDate']), 'contacted');
          }
          if (t['IsClosed'] === true && byOwner(t['WhoId'], t['LastModifiedById']))
            seen(t['WhoId'], toEpoch(t['LastModifiedDate']), 'task_completed');
        }
        const events = await this.query(
          soql`SELECT WhoId, CreatedById, CreatedDate FROM Event WHERE WhoId IN ${soqlIdList(part)} AND CreatedDate >= ${after}`,
          'Event query',
        );
        for (const e of events) {
          if (!byOwner(e['WhoId'], e['CreatedById'])) continue;
          seen(e['WhoId'], toEpoch(e['CreatedDate']), 'activity');
          seen(e['WhoId'], toEpoch(e['CreatedDate']), 'contacted');
        }
      }
    }
    return out;
  }

  async accountFields(): Promise<AccountFields | null> {
    const [lead, contact] = await Promise.all([this.fieldsOf('Lead'), this.fieldsOf('Contact')]);
    if (lead === null || contact === null) return null;
    // What recordToLead splits: an object's multi-select picklists but those its lead mapping reads.
    const multiValued = (object: RoutedObject, fields: ObjectFields): string[] =>
      [...fields.multiSelect].filter((name) => !Object.hasOwn(FIELD_MAPS[object], name));
    return {
      objects: 'Lead or Contact',
      names: new Map([...contact.names, ...lead.names]),
      multiValued: new Set(
        [...multiValued('Lead', lead), ...multiValued('Contact', contact)].map((n) => n.toLowerCase()),
      ),
    };
  }

  async checkConnection(): Promise<{ ok: true } | { ok: false; error: CrmError }> {
    try {
      await this.query('SELECT Id FROM User LIMIT 1', 'User query');
      return { ok: true };
    } catch (err) {
      if (err instanceof CrmError) return { ok: false, error: err };
      throw err;
    }
  }
}

interface OrgDirectory {
  owners: DirectoryOwner[];
  queues: Record<string, string>;
  /** User id (15 and 18 characters) → email. */
  ownerEmail: Map<string, string>;
  territories: CrmTerritory[];
  fetchedAt: number;
}

/** A lookup's ids, each once, every one checked before any call is made (`invalid` for a malformed one). */
function checkedLookupIds(ids: readonly string[]): string[] {
  const unique = [...new Set(ids)];
  for (const id of unique) soqlIdOrRefuse(id);
  return unique;
}

/** A lookup's id as a SOQL literal, or `invalid` before any call is made. */
function soqlIdOrRefuse(id: string): SoqlFragment {
  if (!isSalesforceId(id))
    throw new CrmError('invalid', `${JSON.stringify(id.slice(0, 40))} is not a Salesforce record id`);
  return soqlId(id);
}

function refused(message: string): ItemResult {
  return { ok: false, error: new CrmError('invalid', message) };
}

/**
 * A Task picklist field set to the first of `wanted` the org has (in the org's spelling), or left out
 * so the org's default applies: a value the org renamed or removed is refused for the whole record
 * (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST). Without describe, the first wanted value is sent.
 */
function taskPicklist(
  fields: ObjectFields | null,
  field: 'Priority' | 'Status',
  wanted: readonly string[],
): Record<string, string> {
  const values = fields?.picklists.get(field.toLowerCase());
  if (values === undefined) return wanted[0] === undefined ? {} : { [field]: wanted[0] };
  for (const w of wanted) {
    const found = values.find((v) => v.toLowerCase() === w.toLowerCase());
    if (found !== undefined) return { [field]: found };
  }
  return {};
}

const picked = (field: string, value: string | undefined): Record<string, string> =>
  value === undefined ? {} : { [field]: value };

/**
 * The closed status a note is written with: among the values the org marks closed (TaskStatus.IsClosed)
 * and the Task describe lists as active (when it was read), the org's default if that is closed (what
 * its own new tasks take), else the first in the org's picklist order (SortOrder, which need not be
 * sequential): the closed value a rep sees first. Undefined when none is closed: the org's default then
 * applies. Pure.
 */
export function closedTaskStatus(
  rows: readonly TaskStatusRow[],
  active?: readonly string[],
): string | undefined {
  const closed = rows
    .filter((r) => r.IsClosed && (active === undefined || active.includes(r.ApiName)))
    .map((r, i) => ({ r, i }))
    // Stable: rows without a SortOrder last, in the order the org answered them.
    .sort((a, b) => (a.r.SortOrder ?? Infinity) - (b.r.SortOrder ?? Infinity) || a.i - b.i)
    .map(({ r }) => r);
  return (closed.find((r) => r.IsDefault === true) ?? closed[0])?.ApiName;
}

/** A record's (or an action input's) errors as one CrmError: the first decides the kind, all are told. */
function recordError(errors: readonly z.infer<typeof salesforceErrorSchema>[]): CrmError {
  const first = errors[0];
  if (first === undefined) return new CrmError('invalid', 'the record was refused with no reason given');
  const code = first.statusCode ?? first.errorCode ?? 'UNKNOWN';
  const message = errors
    .map((e) => e.message ?? e.statusCode ?? e.errorCode ?? '')
    .filter((m) => m !== '')
    .join('; ');
  // A record refused on its own was not applied, whatever its code: its outcome is known.
  return classifySalesforceCode(
    code,
    code === 'DUPLICATES_DETECTED'
      ? `a duplicate rule of the org blocks saving this record (${message}): its action must allow the save, with or without an alert`
      : message,
    { fields: first.fields, write: false },
  );
}
