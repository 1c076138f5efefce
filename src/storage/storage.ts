// Durable state of the pipeline. Every transition is a compare-and-set on the row's current state (and
// lease owner), so a slow or crashed worker can never overwrite what another one did; backoff is a
// stored `run_after`, leases expire and `reapExpired` returns them. Every tenant-facing query filters
// by tenant id. Time is always an argument (`now`, epoch ms) so tests run on a fixed clock.
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Directory } from '../../connectors/connector.js';
import type {
  Action,
  Decision,
  PoolState,
  RepCounters,
  RoutingState,
  RoutingStateChanges,
} from '../core/types.js';
import { emptyChanges, hasChanges } from '../core/state.js';
import { isWriteRace, type Db, type SqlParam } from './db.js';
import { StorageError } from './errors.js';
import { insertDecisionInputsWith } from './decision-inputs.js';
import {
  actionListSchema,
  actionSchema,
  crmEventSchema,
  decisionSlaSchema,
  directorySchema,
  poolStateSchema,
  repCountersSchema,
  resolvedDestinationSchema,
  routingStateSchema,
  settingsSchema,
  slaBreachSchema,
  stringListSchema,
  traceSchema,
  type ActionClaimOptions,
  type ActionStatus,
  type Cipher,
  type ClaimOptions,
  type CommitResult,
  type DecisionInput,
  type DecisionRecord,
  type EffectClaim,
  type Hold,
  type HoldStateName,
  type InboxItem,
  type InboxState,
  type InboxStats,
  type NewTenant,
  type PlannedAction,
  type PrivacyDeletionCounts,
  privacyCountsSchema,
  type Provider,
  type PurgeCounts,
  type QueueDepth,
  type RetentionPolicy,
  type ReencryptReport,
  type Ruleset,
  type SlaState,
  type SlaTimer,
  type StateVersions,
  type Tenant,
  type VersionedState,
  type WorkPriority,
  WORK_PRIORITIES,
} from './model.js';
import type { CrmEvent } from '../../connectors/connector.js';

// Rows as the engines return them (snake_case columns). Numbers are numbers on both engines.
interface TenantRow {
  id: string;
  provider: Provider;
  external_id: string;
  name: string;
  token_blob: string | null;
  webhook_secret_ref: string | null;
  settings: string;
  active_ruleset_version: string | null;
  uninstalled_at: number | null;
  created_at: number;
  updated_at: number;
}
interface RulesetRow {
  tenant_id: string;
  version: string;
  name: string;
  source: string;
  status: 'draft' | 'published';
  created_by: string | null;
  created_at: number;
  published_by: string | null;
  published_at: number | null;
}
interface InboxRow {
  id: number;
  tenant_id: string;
  payload: string;
  priority: number;
  state: InboxState;
  attempts: number;
  run_after: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}
interface DecisionRow {
  id: number;
  tenant_id: string;
  decision_key: string;
  lead_id: string;
  email: string | null;
  decided_at: number;
  route_name: string | null;
  route_index: number | null;
  destination: string;
  owner: string | null;
  ruleset_name: string;
  ruleset_version: string;
  actions: string;
  sla: string | null;
  trace: string;
  summary: string;
}
interface ActionRow {
  id: number;
  tenant_id: string;
  lead_id: string;
  decision_key: string;
  kind: Action['kind'];
  payload: string;
  status: ActionStatus;
  crm_id: string | null;
  error: string | null;
  sent_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}
interface HoldRow {
  id: number;
  tenant_id: string;
  lead_id: string;
  route: string;
  fields: string;
  since: number;
  until: number;
  state: HoldStateName;
  released_at: number | null;
}
interface SlaRow {
  id: number;
  tenant_id: string;
  lead_id: string;
  decision_key: string;
  owner: string | null;
  due_at: number;
  on_breach: string;
  state: SlaState;
  created_at: number;
  updated_at: number;
}

/** Rows per INSERT: 10 parameters each stays far below SQLite's 32,766 and PostgreSQL's 65,535. */
const ENQUEUE_CHUNK = 500;

/** Rows per multi-row INSERT (≤ 15 parameters each) and keys per `IN (…)` list: far below both engines' limits. */
const ROW_CHUNK = 200;
const KEY_CHUNK = 500;

/** The context a tenant's OAuth token is bound to: its owner and purpose. */
const tokenContext = (tenantId: string): string => `tenant:${tenantId}:oauth-token`;

/** Tenants a claim considers in turn before giving up: enough to get past those at their cap or locked. */
const TURN_CANDIDATES = 16;

/** `?, ?, …` for an `IN (…)` list of `n` values. */
const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A rotation entry: one row of `rotation_state`. */
type EntryKind = 'pool' | 'rep';
interface Entry {
  key: string;
  kind: EntryKind;
  name: string;
  value: PoolState | RepCounters;
}

const entryKey = (kind: EntryKind, name: string): string => `${kind}:${name}`;

function entriesOf(changes: RoutingStateChanges): Entry[] {
  return [
    ...Object.entries(changes.pools).map(([name, value]): Entry => ({
      key: entryKey('pool', name),
      kind: 'pool',
      name,
      value,
    })),
    ...Object.entries(changes.reps).map(([name, value]): Entry => ({
      key: entryKey('rep', name),
      kind: 'rep',
      name,
      value,
    })),
  ];
}

/** The version an entry had when the caller loaded the state; 0 when it was not stored yet. */
function expectedVersion(expected: StateVersions, e: Entry): number {
  const versions = e.kind === 'pool' ? expected.pools : expected.reps;
  return Object.hasOwn(versions, e.name) ? (versions[e.name] ?? 0) : 0;
}

/** The rep email for a rep destination, else null. */
const ownerOf = (decision: Decision): string | null =>
  decision.destination.kind === 'rep' ? decision.destination.email : null;

const INBOX_COLUMNS =
  'id, tenant_id, payload, priority, state, attempts, run_after, lease_owner, lease_until, last_error, created_at, updated_at';

const ACTION_COLUMNS =
  'id, tenant_id, lead_id, decision_key, kind, payload, status, crm_id, error, sent_at, lease_owner, lease_until, created_at, updated_at';

/**
 * A planned action nobody holds (or whose holder's lease lapsed), and whose last unresolved send, if
 * any, is old enough to be found by a CRM search. Parameters: now, sentBefore.
 */
const CLAIMABLE_ACTION =
  "status = 'planned' AND (lease_until IS NULL OR lease_until <= ?) AND (sent_at IS NULL OR sent_at <= ?)";

/** Work of a tenant whose portal uninstalled the app waits, unclaimed, until it installs again. */
const INSTALLED_TENANT = 'tenant_id NOT IN (SELECT id FROM tenants WHERE uninstalled_at IS NOT NULL)';

/**
 * Parses and validates a JSON column; `where` names the table, column and row (`actions.payload of row
 * 17`). A failure means the row was not written by us (edited by hand, or by another version).
 */
function readJson<T>(text: string, where: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StorageError('corrupt', `${where} holds invalid JSON`, { cause: error });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(the value)'}: ${i.message}`);
    throw new StorageError('corrupt', `${where} is not what lead-router writes: ${issues.join('; ')}`);
  }
  return parsed.data;
}

function validate<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new StorageError('invalid', `${what}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  provider: r.provider,
  externalId: r.external_id,
  name: r.name,
  hasToken: r.token_blob !== null,
  webhookSecretRef: r.webhook_secret_ref,
  settings: readJson(r.settings, `tenants.settings of tenant ${r.id}`, settingsSchema),
  activeRulesetVersion: r.active_ruleset_version,
  uninstalledAt: r.uninstalled_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRuleset = (r: RulesetRow): Ruleset => ({
  tenantId: r.tenant_id,
  version: r.version,
  name: r.name,
  source: r.source,
  status: r.status,
  createdBy: r.created_by,
  createdAt: r.created_at,
  publishedBy: r.published_by,
  publishedAt: r.published_at,
});

const toInbox = (r: InboxRow): InboxItem => ({
  id: r.id,
  tenantId: r.tenant_id,
  event: readJson(r.payload, `inbox.payload of row ${r.id}`, crmEventSchema),
  priority: Number(r.priority) === WORK_PRIORITIES.bulk ? 'bulk' : 'live',
  state: r.state,
  attempts: r.attempts,
  runAfter: r.run_after,
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toDecision = (r: DecisionRow): DecisionRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  decisionKey: r.decision_key,
  leadId: r.lead_id,
  email: r.email,
  decidedAt: r.decided_at,
  route:
    r.route_name === null || r.route_index === null ? null : { index: r.route_index, name: r.route_name },
  destination: readJson(r.destination, `decisions.destination of row ${r.id}`, resolvedDestinationSchema),
  owner: r.owner,
  ruleSet: { name: r.ruleset_name, version: r.ruleset_version },
  actions: readJson(r.actions, `decisions.actions of row ${r.id}`, actionListSchema),
  sla: r.sla === null ? null : readJson(r.sla, `decisions.sla of row ${r.id}`, decisionSlaSchema),
  trace: readJson(r.trace, `decisions.trace of row ${r.id}`, traceSchema),
  summary: r.summary,
});

const toAction = (r: ActionRow): PlannedAction => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  decisionKey: r.decision_key,
  key: `lr:${r.tenant_id}:${r.lead_id}:${r.kind}:${r.decision_key}`,
  kind: r.kind,
  action: readJson(r.payload, `actions.payload of row ${r.id}`, actionSchema),
  status: r.status,
  crmId: r.crm_id,
  error: r.error,
  sentAt: r.sent_at,
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toHold = (r: HoldRow): Hold => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  route: r.route,
  fields: readJson(r.fields, `holds.fields of row ${r.id}`, stringListSchema),
  since: r.since,
  until: r.until,
  state: r.state,
  releasedAt: r.released_at,
});

const toSla = (r: SlaRow): SlaTimer => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  decisionKey: r.decision_key,
  owner: r.owner,
  dueAt: r.due_at,
  onBreach: readJson(r.on_breach, `sla_timers.on_breach of row ${r.id}`, slaBreachSchema),
  state: r.state,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Thrown inside a transaction to roll it back; never escapes this module. */
class Rollback extends Error {}

export interface StorageOptions {
  cipher?: Cipher | undefined;
}

export class Storage {
  private readonly cipher: Cipher | undefined;

  constructor(
    readonly db: Db,
    options: StorageOptions = {},
  ) {
    this.cipher = options.cipher;
  }

  get engine(): 'sqlite' | 'postgres' {
    return this.db.dialect.name;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  // -------------------------------------------------------------------------------------------------
  // Tenants

  async createTenant(input: NewTenant, now: number): Promise<Tenant> {
    const id = input.id ?? randomUUID();
    const settings = JSON.stringify(validate(settingsSchema, input.settings ?? {}, 'tenant settings'));
    const inserted = await this.db.run(
      `INSERT INTO tenants (id, provider, external_id, name, token_blob, webhook_secret_ref, settings,
         active_ruleset_version, created_at, updated_at)
       VALUES (?, ?, ?, ?, NULL, ?, ?, NULL, ?, ?) ON CONFLICT DO NOTHING`,
      [id, input.provider, input.externalId, input.name, input.webhookSecretRef, settings, now, now],
    );
    if (inserted.changes === 0) {
      throw new StorageError('invalid', `a tenant with this id or ${input.provider} account already exists`);
    }
    const tenant = await this.getTenant(id);
    if (tenant === null) throw new StorageError('corrupt', 'tenant vanished right after insert');
    return tenant;
  }

  async getTenant(id: string): Promise<Tenant | null> {
    const row = await this.db.get<TenantRow>('SELECT * FROM tenants WHERE id = ?', [id]);
    return row === undefined ? null : toTenant(row);
  }

  async findTenant(provider: Provider, externalId: string): Promise<Tenant | null> {
    const row = await this.db.get<TenantRow>('SELECT * FROM tenants WHERE provider = ? AND external_id = ?', [
      provider,
      externalId,
    ]);
    return row === undefined ? null : toTenant(row);
  }

  async listTenants(): Promise<Tenant[]> {
    return (await this.db.all<TenantRow>('SELECT * FROM tenants ORDER BY created_at, id')).map(toTenant);
  }

  async updateTenantSettings(id: string, settings: Record<string, unknown>, now: number): Promise<boolean> {
    const json = JSON.stringify(validate(settingsSchema, settings, 'tenant settings'));
    const r = await this.db.run('UPDATE tenants SET settings = ?, updated_at = ? WHERE id = ?', [
      json,
      now,
      id,
    ]);
    return r.changes === 1;
  }

  /**
   * Stores the OAuth token set (any string, usually JSON) encrypted; `null` forgets it. Storing a token
   * is an install: an uninstalled tenant is installed again (its rules and rotation were kept).
   */
  async setTenantToken(id: string, token: string | null, now: number): Promise<boolean> {
    const blob = token === null ? null : this.requireCipher().encrypt(token, tokenContext(id));
    const reinstall = token === null ? '' : ', uninstalled_at = NULL';
    const r = await this.db.run(
      `UPDATE tenants SET token_blob = ?${reinstall}, updated_at = ? WHERE id = ?`,
      [blob, now, id],
    );
    return r.changes === 1;
  }

  /**
   * The portal uninstalled the app: its tokens are deleted and its work is no longer claimed; rules,
   * rotation and history stay for a reinstall. False when the tenant does not exist or was already.
   */
  async markTenantUninstalled(id: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE tenants SET token_blob = NULL, uninstalled_at = ?, updated_at = ?
       WHERE id = ? AND uninstalled_at IS NULL`,
      [now, now, id],
    );
    return r.changes === 1;
  }

  async getTenantToken(id: string): Promise<string | null> {
    const row = await this.db.get<{ token_blob: string | null }>(
      'SELECT token_blob FROM tenants WHERE id = ?',
      [id],
    );
    if (row?.token_blob == null) return null;
    return this.requireCipher().decrypt(row.token_blob, tokenContext(id));
  }

  /**
   * Re-encrypts every stored secret not sealed under the current key and format (`lead-router keys
   * rotate`), a page of tenants at a time. Each rewrite is a compare-and-set on the blob it read, so a
   * token refreshed meanwhile (already under the current key) is left as it is. A secret that cannot be
   * read is reported and left unchanged.
   */
  async reencryptSecrets(): Promise<ReencryptReport> {
    const cipher = this.requireCipher();
    const report: ReencryptReport = { reencrypted: [], current: 0, failed: [] };
    let after = '';
    for (;;) {
      const rows = await this.db.all<{ id: string; token_blob: string }>(
        'SELECT id, token_blob FROM tenants WHERE token_blob IS NOT NULL AND id > ? ORDER BY id LIMIT ?',
        [after, KEY_CHUNK],
      );
      for (const row of rows) {
        if (cipher.isCurrent(row.token_blob)) {
          report.current += 1;
          continue;
        }
        let blob: string;
        try {
          blob = cipher.encrypt(cipher.decrypt(row.token_blob, tokenContext(row.id)), tokenContext(row.id));
        } catch (error) {
          report.failed.push({
            tenantId: row.id,
            reason: error instanceof Error ? error.message : String(error),
          });
          continue;
        }
        const r = await this.db.run('UPDATE tenants SET token_blob = ? WHERE id = ? AND token_blob = ?', [
          blob,
          row.id,
          row.token_blob,
        ]);
        if (r.changes === 1) report.reencrypted.push(row.id);
        else report.current += 1;
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < KEY_CHUNK) return report;
      after = last.id;
    }
  }

  private requireCipher(): Cipher {
    if (this.cipher === undefined) {
      throw new StorageError('config', 'no cipher configured: tokens are never stored in clear text');
    }
    return this.cipher;
  }

  // -------------------------------------------------------------------------------------------------
  // Rule sets

  /** Saves a draft; saving the same version again is a no-op (the version is the content hash). */
  async saveRulesetDraft(
    tenantId: string,
    input: { version: string; name: string; source: string; createdBy?: string | undefined },
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      `INSERT INTO rulesets (tenant_id, version, name, source, status, created_by, created_at)
       VALUES (?, ?, ?, ?, 'draft', ?, ?) ON CONFLICT DO NOTHING`,
      [tenantId, input.version, input.name, input.source, input.createdBy, now],
    );
    return r.changes === 1;
  }

  /** Publishes a saved version and makes it the tenant's active one (also to roll back to an older one). */
  async publishRuleset(
    tenantId: string,
    version: string,
    publishedBy: string,
    now: number,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `UPDATE rulesets SET status = 'published', published_by = ?, published_at = ?
         WHERE tenant_id = ? AND version = ?`,
        [publishedBy, now, tenantId, version],
      );
      if (r.changes !== 1) return false;
      await tx.run('UPDATE tenants SET active_ruleset_version = ?, updated_at = ? WHERE id = ?', [
        version,
        now,
        tenantId,
      ]);
      return true;
    });
  }

  async getRuleset(tenantId: string, version: string): Promise<Ruleset | null> {
    const row = await this.db.get<RulesetRow>('SELECT * FROM rulesets WHERE tenant_id = ? AND version = ?', [
      tenantId,
      version,
    ]);
    return row === undefined ? null : toRuleset(row);
  }

  async activeRuleset(tenantId: string): Promise<Ruleset | null> {
    const row = await this.db.get<RulesetRow>(
      `SELECT r.* FROM rulesets r JOIN tenants t ON t.id = r.tenant_id AND t.active_ruleset_version = r.version
       WHERE r.tenant_id = ?`,
      [tenantId],
    );
    return row === undefined ? null : toRuleset(row);
  }

  async listRulesets(tenantId: string): Promise<Ruleset[]> {
    return (
      await this.db.all<RulesetRow>(
        'SELECT * FROM rulesets WHERE tenant_id = ? ORDER BY created_at DESC, version',
        [tenantId],
      )
    ).map(toRuleset);
  }

  // -------------------------------------------------------------------------------------------------
  // Inbox

  /**
   * Records events in one transaction and returns how many were new. A redelivered event (same tenant,
   * subscription and event id) is a no-op. Events are validated first: one bad event changes nothing.
   * Events are `live` unless said to be `bulk`.
   */
  async enqueue(
    items: readonly { tenantId: string; event: CrmEvent; priority?: WorkPriority | undefined }[],
    now: number,
  ): Promise<number> {
    const valid = items.map((item, i) => ({
      tenantId: item.tenantId,
      event: validate<CrmEvent>(crmEventSchema, item.event, `event ${i}`),
      priority: WORK_PRIORITIES[item.priority ?? 'live'],
    }));
    if (valid.some((v) => v.priority === undefined))
      throw new StorageError('invalid', 'an event priority is live or bulk');
    if (valid.length === 0) return 0;
    // Concurrent deliveries can carry the same events in another order (HubSpot redelivers and
    // reorders): inserting in one key order makes them take the unique-index locks in one order, so
    // PostgreSQL never sees two intakes deadlock on each other.
    const key = (v: (typeof valid)[number]) =>
      `${v.tenantId}\u0000${v.event.subscription}\u0000${v.event.eventId}`;
    valid.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return this.db.transaction(async (tx) => {
      let added = 0;
      // Multi-row inserts: a 10,000-contact import is 20 statements, not 10,000 round trips.
      for (let at = 0; at < valid.length; at += ENQUEUE_CHUNK) {
        const chunk = valid.slice(at, at + ENQUEUE_CHUNK);
        const r = await tx.run(
          `INSERT INTO inbox (tenant_id, subscription, event_id, kind, object_id, payload, priority, state,
             attempts, run_after, created_at, updated_at)
           VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)").join(', ')}
           ON CONFLICT DO NOTHING`,
          chunk.flatMap(({ tenantId, event, priority }) => [
            tenantId,
            event.subscription,
            event.eventId,
            event.kind,
            event.objectId,
            JSON.stringify(event),
            priority,
            now,
            now,
            now,
          ]),
        );
        added += r.changes;
      }
      return added;
    });
  }

  /**
   * Leases up to `limit` due rows of one tenant atomically, live work before bulk, oldest first;
   * concurrent claimers never get the same row. Without `tenantId` the tenant is taken in turn among
   * those with due work — the one served longest ago first — skipping a tenant another claimer is
   * claiming for right now (PostgreSQL) and one at `maxBatchesPerTenant` batches in flight.
   */
  async claim(options: ClaimOptions): Promise<InboxItem[]> {
    const { workerId, limit, leaseMs, now, maxBatchesPerTenant: cap } = options;
    if (!Number.isInteger(limit) || limit <= 0 || !(leaseMs > 0))
      throw new StorageError('invalid', 'claim needs an integer limit > 0 and leaseMs > 0');
    if (cap !== undefined && (!Number.isInteger(cap) || cap <= 0))
      throw new StorageError('invalid', 'claim needs an integer maxBatchesPerTenant > 0');
    const lease = { workerId, limit, leaseMs, now };
    // One tenant asked for, no cap: a single statement, atomic by itself.
    if (options.tenantId !== undefined && cap === undefined)
      return this.claimOf(this.db, options.tenantId, lease);
    return this.db.transaction(async (tx) => {
      const candidates =
        options.tenantId === undefined ? await this.tenantsInTurn(tx, now) : [options.tenantId];
      for (const tenantId of candidates) {
        // The tenant's row is its turn: locked (skipping one another claimer holds), the in-flight count
        // read after the lock sees every claim committed before ours, so the cap holds across workers.
        const turn = await tx.get<{ id: string }>(
          `SELECT id FROM tenants WHERE id = ?${tx.dialect.turnLock}`,
          [tenantId],
        );
        if (turn === undefined) continue;
        if (cap !== undefined && (await this.batchesInFlight(tx, tenantId, now)) >= cap) continue;
        const items = await this.claimOf(tx, tenantId, lease);
        if (items.length === 0) continue;
        await tx.run(
          'UPDATE tenants SET work_turn = (SELECT COALESCE(MAX(work_turn), 0) + 1 FROM tenants) WHERE id = ?',
          [tenantId],
        );
        return items;
      }
      return [];
    });
  }

  /** Leases up to `limit` of the tenant's due rows, live before bulk, oldest first. */
  private async claimOf(
    db: Db,
    tenantId: string,
    lease: { workerId: string; limit: number; leaseMs: number; now: number },
  ): Promise<InboxItem[]> {
    const { workerId, limit, leaseMs, now } = lease;
    // The pick is a materialized CTE joined by UPDATE … FROM: PostgreSQL may re-run an `IN (SELECT … LIMIT)`
    // subquery and so exceed the limit; a CTE runs once. The outer `state = 'pending'` is the CAS.
    const rows = await db.all<InboxRow>(
      `WITH picked AS MATERIALIZED (
         SELECT id AS picked_id FROM inbox WHERE state = 'pending' AND tenant_id = ? AND run_after <= ?
           AND ${INSTALLED_TENANT}
         ORDER BY priority, run_after, id LIMIT ?${db.dialect.claimLock})
       UPDATE inbox SET state = 'leased', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
       FROM picked WHERE inbox.id = picked.picked_id AND inbox.state = 'pending'
       RETURNING ${INBOX_COLUMNS}`,
      [tenantId, now, limit, workerId, now + leaseMs, now],
    );
    return rows
      .map(toInbox)
      .sort(
        (a, b) =>
          WORK_PRIORITIES[a.priority] - WORK_PRIORITIES[b.priority] || a.runAfter - b.runAfter || a.id - b.id,
      );
  }

  /**
   * Tenants with due work, served longest ago first (a bounded few: the claim takes the first it can).
   * The tenants with pending rows are found by skipping from one tenant id to the next in the index,
   * so a tenant's backlog of 50,000 rows costs one index step, not a scan.
   */
  private async tenantsInTurn(tx: Db, now: number): Promise<string[]> {
    const rows = await tx.all<{ id: string }>(
      `WITH RECURSIVE busy (tenant_id) AS (
         SELECT MIN(tenant_id) FROM inbox WHERE state = 'pending'
         UNION ALL
         SELECT (SELECT MIN(i.tenant_id) FROM inbox i WHERE i.state = 'pending' AND i.tenant_id > busy.tenant_id)
         FROM busy WHERE busy.tenant_id IS NOT NULL)
       SELECT t.id FROM busy JOIN tenants t ON t.id = busy.tenant_id
       WHERE t.uninstalled_at IS NULL
         AND EXISTS (SELECT 1 FROM inbox d WHERE d.state = 'pending' AND d.tenant_id = t.id AND d.run_after <= ?)
       ORDER BY t.work_turn, t.id LIMIT ?`,
      [now, TURN_CANDIDATES],
    );
    return rows.map((r) => r.id);
  }

  /** The tenant's batches in flight: distinct holders of leases not yet expired. */
  private async batchesInFlight(tx: Db, tenantId: string, now: number): Promise<number> {
    const row = await tx.get<{ n: number | string }>(
      `SELECT COUNT(DISTINCT lease_owner) AS n FROM inbox
       WHERE state = 'leased' AND tenant_id = ? AND lease_until > ?`,
      [tenantId, now],
    );
    return Number(row?.n ?? 0);
  }

  /**
   * Extends the lease of rows `workerId` still holds to `leaseUntil` (a batch taking longer than the
   * lease, alive all the while); returns how many it extended. Rows settled or taken over are left alone.
   */
  async renewLeases(
    ids: readonly number[],
    workerId: string,
    leaseUntil: number,
    now: number,
  ): Promise<number> {
    let renewed = 0;
    for (const part of chunk([...new Set(ids)], KEY_CHUNK)) {
      const r = await this.db.run(
        `UPDATE inbox SET lease_until = ?, updated_at = ?
         WHERE id IN (${marks(part.length)}) AND state = 'leased' AND lease_owner = ? AND lease_until < ?`,
        [leaseUntil, now, ...part, workerId, leaseUntil],
      );
      renewed += r.changes;
    }
    return renewed;
  }

  /** Done: only by the lease holder of a leased row. Marks the effect keys the row claimed as done. */
  async complete(id: number, workerId: string, now: number): Promise<boolean> {
    return (await this.completeMany([id], workerId, now)).length === 1;
  }

  /** `complete` for many rows in one transaction (a batch's worth); returns the ids it completed. */
  async completeMany(ids: readonly number[], workerId: string, now: number): Promise<number[]> {
    if (ids.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const done: number[] = [];
      for (const part of chunk(ids, KEY_CHUNK)) {
        const rows = await tx.all<{ id: number }>(
          `UPDATE inbox SET state = 'done', lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE id IN (${marks(part.length)}) AND state = 'leased' AND lease_owner = ? RETURNING id`,
          [now, ...part, workerId],
        );
        const ours = rows.map((r) => r.id);
        if (ours.length === 0) continue;
        await tx.run(
          `UPDATE effects SET state = 'done', done_at = ? WHERE inbox_id IN (${marks(ours.length)}) AND state = 'claimed'`,
          [now, ...ours],
        );
        done.push(...ours);
      }
      return done;
    });
  }

  /** Back to pending, due at `runAfter` (the stored backoff). */
  async retryLater(
    id: number,
    workerId: string,
    runAfter: number,
    error: string,
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE inbox SET state = 'pending', run_after = ?, last_error = ?, lease_owner = NULL, lease_until = NULL,
         updated_at = ?
       WHERE id = ? AND state = 'leased' AND lease_owner = ?`,
      [runAfter, error, now, id, workerId],
    );
    return r.changes === 1;
  }

  /** A permanent failure, kept with a readable reason until someone replays it. */
  async deadLetter(id: number, workerId: string, reason: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE inbox SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE id = ? AND state = 'leased' AND lease_owner = ?`,
      [reason, now, id, workerId],
    );
    return r.changes === 1;
  }

  /**
   * Returns expired leases to pending (due now). With `maxAttempts`, a row whose lease expired that many
   * times (a poison event crashing its workers) becomes a dead letter instead; `deadLetteredTenants`
   * names the tenant of each (for metrics).
   */
  async reapExpired(
    now: number,
    options: { maxAttempts?: number | undefined; leasedUntil?: number | undefined } = {},
  ): Promise<{ requeued: number; deadLettered: number; deadLetteredTenants: string[] }> {
    // Leases that end by this time are taken back: `now` (expired ones), or later for a takeover.
    const until = options.leasedUntil ?? now;
    return this.db.transaction(async (tx) => {
      let deadLetteredTenants: string[] = [];
      if (options.maxAttempts !== undefined) {
        const dead = await tx.all<{ tenant_id: string }>(
          `UPDATE inbox SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE state = 'leased' AND lease_until <= ? AND attempts >= ? RETURNING tenant_id`,
          [`lease expired after ${options.maxAttempts} attempts`, now, until, options.maxAttempts],
        );
        deadLetteredTenants = dead.map((r) => r.tenant_id);
      }
      const requeued = await tx.run(
        `UPDATE inbox SET state = 'pending', run_after = ?, last_error = 'lease expired: ' || lease_owner,
           lease_owner = NULL, lease_until = NULL, updated_at = ?
         WHERE state = 'leased' AND lease_until <= ?`,
        [now, now, until],
      );
      return { requeued: requeued.changes, deadLettered: deadLetteredTenants.length, deadLetteredTenants };
    });
  }

  /**
   * Takes back every lease at once — inbox items and planned actions — instead of waiting for them to
   * expire. Only for a process that knows it is the only one working on this database (one app on its
   * SQLite file, restarted after a crash): the leases can only be its dead predecessor's.
   */
  async takeOverLeases(
    now: number,
    options: { maxAttempts?: number | undefined } = {},
  ): Promise<{ requeued: number; deadLettered: number; deadLetteredTenants: string[]; actions: number }> {
    const reaped = await this.reapExpired(now, { ...options, leasedUntil: Number.MAX_SAFE_INTEGER });
    const actions = await this.db.run(
      `UPDATE actions SET lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE status = 'planned' AND lease_until IS NOT NULL`,
      [now],
    );
    return { ...reaped, actions: actions.changes };
  }

  async getInboxItem(tenantId: string, id: number): Promise<InboxItem | null> {
    const row = await this.db.get<InboxRow>('SELECT * FROM inbox WHERE tenant_id = ? AND id = ?', [
      tenantId,
      id,
    ]);
    return row === undefined ? null : toInbox(row);
  }

  /** Row counts per state, for health and metrics. */
  async inboxStats(tenantId?: string): Promise<InboxStats> {
    const rows = await this.db.all<{ state: InboxState; n: number }>(
      tenantId === undefined
        ? 'SELECT state, COUNT(*) AS n FROM inbox GROUP BY state'
        : 'SELECT state, COUNT(*) AS n FROM inbox WHERE tenant_id = ? GROUP BY state',
      tenantId === undefined ? [] : [tenantId],
    );
    const stats: InboxStats = { pending: 0, leased: 0, done: 0, failed: 0 };
    for (const r of rows) stats[r.state] = Number(r.n);
    return stats;
  }

  /**
   * Pending, leased and failed rows per tenant (tenants with none are absent). Done rows are not
   * counted, so a scrape reads the live backlog through the state index, not every event ever received.
   */
  async queueDepth(): Promise<Map<string, QueueDepth>> {
    const rows = await this.db.all<{ tenant_id: string; state: Exclude<InboxState, 'done'>; n: number }>(
      `SELECT tenant_id, state, COUNT(*) AS n FROM inbox WHERE state IN ('pending', 'leased', 'failed')
       GROUP BY tenant_id, state`,
    );
    const depth = new Map<string, QueueDepth>();
    for (const r of rows) {
      const d = depth.get(r.tenant_id) ?? { pending: 0, leased: 0, failed: 0 };
      d[r.state] = Number(r.n);
      depth.set(r.tenant_id, d);
    }
    return depth;
  }

  /**
   * Deletes one batch (up to `limit` rows of each kind) of rows past their retention: done inbox rows,
   * dead letters never replayed (releasing the effect keys they claimed, as a replay would), finished
   * effect keys, settled holds, and decisions with their actions and SLA timers once none of them is
   * still needed. Every delete re-checks its conditions, so a row that became needed again meanwhile
   * stays. Call again while a count equals `limit`.
   */
  async purgeExpired(now: number, policy: RetentionPolicy, limit: number): Promise<PurgeCounts> {
    if (!Number.isInteger(limit) || limit <= 0)
      throw new StorageError('invalid', 'purgeExpired needs an integer limit > 0');
    const inboxBefore = now - policy.inboxDoneMs;
    const deadBefore = now - policy.deadLetterMs;
    const auditBefore = now - policy.decisionMs;
    // Every worker process purges: on PostgreSQL each takes rows no other purger holds.
    const lock = this.db.dialect.claimLock;
    // Each pick is a materialized CTE: PostgreSQL may re-run an `IN (SELECT … LIMIT)` subquery and so
    // exceed the batch; a CTE runs once. The outer condition is checked again on the rows picked.
    const inbox = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT id FROM inbox WHERE state = 'done' AND updated_at < ? ORDER BY updated_at, id LIMIT ?${lock})
       DELETE FROM inbox WHERE state = 'done' AND id IN (SELECT id FROM picked)`,
      [inboxBefore, limit],
    );
    const deadLetters = await this.db.transaction(async (tx) => {
      const dead = await tx.all<{ id: number }>(
        `WITH picked AS MATERIALIZED (
           SELECT id FROM inbox WHERE state = 'failed' AND updated_at < ? ORDER BY updated_at, id LIMIT ?${lock})
         DELETE FROM inbox WHERE state = 'failed' AND id IN (SELECT id FROM picked) RETURNING id`,
        [deadBefore, limit],
      );
      const ids = dead.map((r) => r.id);
      for (const part of chunk(ids, KEY_CHUNK))
        await tx.run(
          `DELETE FROM effects WHERE state = 'claimed' AND inbox_id IN (${marks(part.length)})`,
          part,
        );
      return ids.length;
    });
    const effects = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT tenant_id, lead_id, purpose FROM effects WHERE state = 'done' AND done_at < ? LIMIT ?${lock})
       DELETE FROM effects WHERE state = 'done'
         AND (tenant_id, lead_id, purpose) IN (SELECT tenant_id, lead_id, purpose FROM picked)`,
      [auditBefore, limit],
    );
    const holds = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT id FROM holds WHERE state IN ('released', 'timed_out') AND until < ? LIMIT ?${lock})
       DELETE FROM holds WHERE state <> 'held' AND id IN (SELECT id FROM picked)`,
      [auditBefore, limit],
    );
    const decisions = await this.purgeDecisions(auditBefore, limit);
    return { inbox: inbox.changes, deadLetters, effects: effects.changes, decisions, holds: holds.changes };
  }

  /** Decisions decided before `before` that nothing needs any more, with their actions and SLA timers. */
  private async purgeDecisions(before: number, limit: number): Promise<number> {
    // Still needed: an action to write, a first touch to watch (a timer armed and due within the
    // retention: one due longer ago than that is history nobody will act on), or a lead held for data.
    const settled = `NOT EXISTS (SELECT 1 FROM actions a WHERE a.tenant_id = d.tenant_id
         AND a.decision_key = d.decision_key AND a.status = 'planned')
       AND NOT EXISTS (SELECT 1 FROM sla_timers t WHERE t.tenant_id = d.tenant_id AND t.lead_id = d.lead_id
         AND t.decision_key = d.decision_key AND t.state = 'armed' AND t.due_at >= ?)
       AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = d.tenant_id AND h.lead_id = d.lead_id
         AND h.state = 'held')`;
    const picked = await this.db.all<{ id: number }>(
      `SELECT id FROM decisions d WHERE decided_at < ? AND ${settled} ORDER BY decided_at, id LIMIT ?`,
      [before, before, limit],
    );
    return this.db.transaction(async (tx) => {
      let purged = 0;
      for (const { id } of picked) {
        const [gone] = await tx.all<{ tenant_id: string; lead_id: string; decision_key: string }>(
          `DELETE FROM decisions WHERE id IN (SELECT id FROM decisions d WHERE id = ? AND ${settled})
           RETURNING tenant_id, lead_id, decision_key`,
          [id, before],
        );
        if (gone === undefined) continue;
        await tx.run(`DELETE FROM actions WHERE tenant_id = ? AND decision_key = ? AND status <> 'planned'`, [
          gone.tenant_id,
          gone.decision_key,
        ]);
        await tx.run(
          `DELETE FROM sla_timers WHERE tenant_id = ? AND lead_id = ? AND decision_key = ?
             AND (state <> 'armed' OR due_at < ?)`,
          [gone.tenant_id, gone.lead_id, gone.decision_key, before],
        );
        purged += 1;
      }
      return purged;
    });
  }

  async deadLetters(tenantId: string, limit = 100): Promise<InboxItem[]> {
    return (
      await this.db.all<InboxRow>(
        `SELECT * FROM inbox WHERE tenant_id = ? AND state = 'failed' ORDER BY updated_at DESC, id DESC LIMIT ?`,
        [tenantId, limit],
      )
    ).map(toInbox);
  }

  /**
   * Dead letter → pending with attempts reset, due now, as bulk work (after the tenant's new leads). The
   * effect keys it claimed but never finished are released, so the replay routes the lead once (not zero
   * times, and not twice).
   */
  async replay(tenantId: string, id: number, now: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `UPDATE inbox SET state = 'pending', priority = ?, attempts = 0, run_after = ?, last_error = NULL,
           updated_at = ?
         WHERE tenant_id = ? AND id = ? AND state = 'failed'`,
        [WORK_PRIORITIES.bulk, now, now, tenantId, id],
      );
      if (r.changes !== 1) return false;
      await tx.run(`DELETE FROM effects WHERE tenant_id = ? AND inbox_id = ? AND state = 'claimed'`, [
        tenantId,
        id,
      ]);
      // The refusal was fixed outside (a seat, a scope, a sequence): its failed actions are tried again;
      // actions already done stay done, so the lead is still routed exactly once.
      await tx.run(
        `UPDATE actions SET status = 'planned', error = NULL, updated_at = ?
         WHERE tenant_id = ? AND status = 'failed' AND lead_id = (SELECT object_id FROM inbox WHERE tenant_id = ? AND id = ?)`,
        [now, tenantId, tenantId, id],
      );
      return true;
    });
  }

  /**
   * Claims the right to act on a lead for a purpose (`route`, `reroute:2`…) before acting: the first
   * inbox row wins; the same row asking again (a retry) is told `mine`; any other row is told `taken`.
   */
  async claimEffect(
    tenantId: string,
    leadId: string,
    purpose: string,
    inboxId: number,
    now: number,
  ): Promise<EffectClaim> {
    const [claim] = await this.claimEffects(tenantId, [{ leadId, purpose, inboxId }], now);
    return claim ?? 'taken';
  }

  /**
   * `claimEffect` for a batch in one transaction, answered in order. When two entries ask for the same
   * key, the first one wins.
   */
  async claimEffects(
    tenantId: string,
    claims: readonly { leadId: string; purpose: string; inboxId: number }[],
    now: number,
  ): Promise<EffectClaim[]> {
    if (claims.length === 0) return [];
    const key = (leadId: string, purpose: string): string => JSON.stringify([leadId, purpose]);
    return this.db.transaction(async (tx) => {
      const inserted = new Set<string>();
      for (const part of chunk(claims, ROW_CHUNK)) {
        const rows = await tx.all<{ lead_id: string; purpose: string }>(
          `INSERT INTO effects (tenant_id, lead_id, purpose, inbox_id, state, claimed_at)
           VALUES ${part.map(() => "(?, ?, ?, ?, 'claimed', ?)").join(', ')}
           ON CONFLICT DO NOTHING RETURNING lead_id, purpose`,
          part.flatMap((c) => [tenantId, c.leadId, c.purpose, c.inboxId, now]),
        );
        for (const r of rows) inserted.add(key(r.lead_id, r.purpose));
      }
      const holders = new Map<string, number>();
      for (const part of chunk([...new Set(claims.map((c) => c.leadId))], KEY_CHUNK)) {
        const rows = await tx.all<{ lead_id: string; purpose: string; inbox_id: number }>(
          `SELECT lead_id, purpose, inbox_id FROM effects WHERE tenant_id = ? AND lead_id IN (${marks(part.length)})`,
          [tenantId, ...part],
        );
        for (const r of rows) holders.set(key(r.lead_id, r.purpose), r.inbox_id);
      }
      return claims.map((c): EffectClaim => {
        const k = key(c.leadId, c.purpose);
        if (holders.get(k) !== c.inboxId) return 'taken';
        // Only the first entry that inserted the key is told `claimed`; a repeat of it is `mine`.
        return inserted.delete(k) ? 'claimed' : 'mine';
      });
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Rotation state: one row per pool and per rep, each with its own version (optimistic concurrency)

  /** The tenant's rotation and each entry's version; read once per batch of decisions. */
  async loadRoutingState(tenantId: string): Promise<VersionedState> {
    const rows = await this.db.all<{ kind: EntryKind; name: string; state: string; version: number }>(
      'SELECT kind, name, state, version FROM rotation_state WHERE tenant_id = ?',
      [tenantId],
    );
    const state: RoutingState = { pools: {}, reps: {} };
    const versions: StateVersions = { pools: {}, reps: {} };
    for (const r of rows) {
      const column = `rotation_state.state of ${r.kind} ${r.name} (tenant ${tenantId})`;
      if (r.kind === 'pool') {
        state.pools[r.name] = readJson(r.state, column, poolStateSchema);
        versions.pools[r.name] = r.version;
      } else {
        state.reps[r.name] = readJson(r.state, column, repCountersSchema);
        versions.reps[r.name] = r.version;
      }
    }
    return { state, versions };
  }

  /**
   * Writes the given entries (each replaces the stored one; entries not named are left alone) if none of
   * them moved since `expected` was loaded. False means nothing was written: load again and re-decide.
   */
  async saveRoutingState(
    tenantId: string,
    changes: RoutingState,
    expected: StateVersions,
    now: number,
  ): Promise<boolean> {
    const valid = validate(routingStateSchema, changes, 'routing state');
    try {
      return await this.db.transaction(
        async (tx) => (await this.applyRotationWith(tx, tenantId, [valid], expected, now)) === 1,
      );
    } catch (error) {
      if (error instanceof Rollback || isWriteRace(error)) return false;
      throw error;
    }
  }

  /**
   * Applies rotation change sets in order inside `tx`, each a compare-and-set of the entries it names
   * against the versions the caller decided from (`expected`; a set later in the list was decided on top
   * of the earlier ones, so an entry an earlier set wrote is checked against that). Stops at the first
   * set that finds an entry moved, and returns how many sets it applied. Checking only the entries a
   * decision changed is enough: a decision always writes the pool whose turn it took and the rep it
   * chose, and the entries it only read (other reps' counters) can only have grown meanwhile, which
   * leaves its choice standing (a rep at its cap stays there; a less loaded rep stays less loaded).
   * The entries are read first in one statement, in key order and (PostgreSQL) locked, so concurrent
   * commits queue on the entries they share instead of deadlocking; then each entry is written once,
   * with its last value.
   */
  private async applyRotationWith(
    tx: Db,
    tenantId: string,
    sets: readonly RoutingStateChanges[],
    expected: StateVersions,
    now: number,
  ): Promise<number> {
    const named = new Map<string, Entry>();
    for (const set of sets) for (const e of entriesOf(set)) named.set(e.key, e);
    if (named.size === 0) return sets.length;
    const list = [...named.values()];
    const rows = await tx.all<{ kind: EntryKind; name: string; version: number }>(
      `SELECT kind, name, version FROM rotation_state
       WHERE tenant_id = ? AND (${list.map(() => '(kind = ? AND name = ?)').join(' OR ')})
       ORDER BY kind, name${tx.dialect.rowLock}`,
      [tenantId, ...list.flatMap((e) => [e.kind, e.name])],
    );
    const stored = new Map(rows.map((r) => [entryKey(r.kind, r.name), r.version]));
    const writes = new Map<string, { entry: Entry; from: number; to: number }>();
    let applied = 0;
    for (const set of sets) {
      const entries = entriesOf(set);
      const moved = entries.some(
        (e) => !writes.has(e.key) && (stored.get(e.key) ?? 0) !== expectedVersion(expected, e),
      );
      if (moved) break;
      for (const e of entries) {
        const from = stored.get(e.key) ?? 0;
        const w = writes.get(e.key) ?? { entry: e, from, to: from };
        w.entry = e;
        w.to += 1;
        writes.set(e.key, w);
      }
      applied += 1;
    }
    for (const { entry, from, to } of writes.values()) {
      const json = JSON.stringify(entry.value);
      const r =
        from === 0
          ? await tx.run(
              `INSERT INTO rotation_state (tenant_id, kind, name, state, version, updated_at)
               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
              [tenantId, entry.kind, entry.name, json, to, now],
            )
          : await tx.run(
              `UPDATE rotation_state SET state = ?, version = ?, updated_at = ?
               WHERE tenant_id = ? AND kind = ? AND name = ? AND version = ?`,
              [json, to, now, tenantId, entry.kind, entry.name, from],
            );
      // Only a new entry can get here unwritten: another commit inserted it since our read.
      if (r.changes !== 1) throw new Rollback();
    }
    return applied;
  }

  // -------------------------------------------------------------------------------------------------
  // Decisions, actions, SLA timers and holds, committed together

  /** `commitDecisions` for one decision. */
  async commitDecision(
    tenantId: string,
    input: DecisionInput,
    expected: StateVersions,
    now: number,
  ): Promise<CommitResult> {
    const [result] = await this.commitDecisions(tenantId, [input], expected, now);
    if (result === undefined) throw new StorageError('corrupt', 'commit answered nothing');
    return result;
  }

  /**
   * Commits a batch's decisions in one transaction and answers for each, in order. A decision's rotation
   * changes are a compare-and-set on the entries it changed against `expected`, the versions the batch
   * was decided from (see `applyRotationWith`). A committed decision is written with its trace, planned
   * actions and SLA timer, and places the lead's hold (a hold decision) or releases it. A key committed
   * before yields `already_decided` with its actions, and nothing is written twice. From the first
   * decision that cannot be written (its entries moved, or it changed rotation and was decided before),
   * the rest are `conflict`: they were decided on top of it and nothing of them is written.
   */
  async commitDecisions(
    tenantId: string,
    inputs: readonly DecisionInput[],
    expected: StateVersions,
    now: number,
  ): Promise<CommitResult[]> {
    if (inputs.length === 0) return [];
    // Validated before the transaction: a malformed change is a bug and changes nothing.
    const sets = inputs.map((input, i) =>
      hasChanges(input.decision.stateChanges)
        ? validate(routingStateSchema, input.decision.stateChanges, `routing state changes of decision ${i}`)
        : null,
    );
    try {
      return await this.db.transaction((tx) => this.commitWith(tx, tenantId, inputs, sets, expected, now));
    } catch (error) {
      // Lost a race with a concurrent transaction (the same decision key, a deadlock): nothing was written.
      if (error instanceof Rollback || isWriteRace(error)) return inputs.map(() => ({ status: 'conflict' }));
      throw error;
    }
  }

  private async commitWith(
    tx: Db,
    tenantId: string,
    inputs: readonly DecisionInput[],
    sets: readonly (RoutingStateChanges | null)[],
    expected: StateVersions,
    now: number,
  ): Promise<CommitResult[]> {
    const existing = new Map<string, DecisionRow>();
    for (const part of chunk([...new Set(inputs.map((i) => i.decisionKey))], KEY_CHUNK)) {
      const rows = await tx.all<DecisionRow>(
        `SELECT * FROM decisions WHERE tenant_id = ? AND decision_key IN (${marks(part.length)})`,
        [tenantId, ...part],
      );
      for (const r of rows) existing.set(r.decision_key, r);
    }
    // The decisions that may be written, in order, up to the first that cannot be although later ones
    // were decided on top of its rotation changes.
    const candidates: number[] = [];
    const keys = new Set<string>();
    for (const [i, input] of inputs.entries()) {
      const unwritable = existing.has(input.decisionKey) || keys.has(input.decisionKey);
      if (unwritable && sets[i] !== null) break;
      keys.add(input.decisionKey);
      if (!unwritable) candidates.push(i);
    }
    const applied = await this.applyRotationWith(
      tx,
      tenantId,
      candidates.map((i) => sets[i] ?? emptyChanges()),
      expected,
      now,
    );
    const committed = candidates.slice(0, applied).map((i) => ({ i, input: inputs[i]! }));

    const ids = new Map<string, number>();
    for (const part of chunk(committed, ROW_CHUNK)) {
      const rows = await tx.all<{ id: number; decision_key: string }>(
        `INSERT INTO decisions (tenant_id, decision_key, lead_id, email, decided_at, route_name, route_index,
           destination, owner, ruleset_name, ruleset_version, actions, sla, trace, summary)
         VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
         RETURNING id, decision_key`,
        part.flatMap(({ input: { decisionKey, decision, email, summary } }) => [
          tenantId,
          decisionKey,
          decision.leadId,
          email?.toLowerCase(),
          decision.decidedAt,
          decision.route?.name,
          decision.route?.index,
          JSON.stringify(decision.destination),
          ownerOf(decision),
          decision.ruleSet.name,
          decision.ruleSet.version,
          JSON.stringify(decision.actions),
          decision.sla === undefined ? null : JSON.stringify(decision.sla),
          JSON.stringify(decision.trace),
          summary,
        ]),
      );
      for (const r of rows) ids.set(r.decision_key, r.id);
    }
    await insertDecisionInputsWith(
      tx,
      tenantId,
      committed.flatMap(({ input: { decisionKey, inputs } }) =>
        inputs === undefined ? [] : [{ decisionKey, ...inputs }],
      ),
    );
    await this.insertActionsWith(
      tx,
      tenantId,
      committed.flatMap(({ input: { decisionKey, decision } }) =>
        decision.actions.map((action) => ({ leadId: decision.leadId, decisionKey, action })),
      ),
      now,
    );
    const timed = committed.filter(({ input }) => input.decision.sla !== undefined);
    for (const part of chunk(timed, ROW_CHUNK)) {
      await tx.run(
        `INSERT INTO sla_timers (tenant_id, lead_id, decision_key, owner, due_at, on_breach, state, created_at,
           updated_at)
         VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, 'armed', ?, ?)").join(', ')} ON CONFLICT DO NOTHING`,
        part.flatMap(({ input: { decisionKey, decision } }) => [
          tenantId,
          decision.leadId,
          decisionKey,
          ownerOf(decision),
          decision.sla?.firstTouchBy,
          JSON.stringify(decision.sla?.onBreach),
          now,
          now,
        ]),
      );
    }
    await this.settleHoldsWith(
      tx,
      tenantId,
      committed.map(({ input }) => input.decision),
      now,
    );

    const actions = await this.actionsOfWith(tx, tenantId, [...ids.keys(), ...existing.keys()]);
    const written = new Set(committed.map((c) => c.i));
    return inputs.map((input, i): CommitResult => {
      const old = existing.get(input.decisionKey);
      if (old !== undefined)
        return {
          status: 'already_decided',
          decision: toDecision(old),
          actions: actions.get(input.decisionKey) ?? [],
        };
      const id = ids.get(input.decisionKey);
      if (!written.has(i) || id === undefined) return { status: 'conflict' };
      return { status: 'committed', decisionId: id, actions: actions.get(input.decisionKey) ?? [] };
    });
  }

  /**
   * A hold decision places the lead's hold, any other releases it. Leads with a hold decision in the
   * batch are handled in order; all others are released in one statement.
   */
  private async settleHoldsWith(tx: Db, tenantId: string, decisions: readonly Decision[], now: number) {
    const holding = new Set(decisions.filter((d) => d.destination.kind === 'hold').map((d) => d.leadId));
    const release = async (leadIds: readonly string[]): Promise<void> => {
      for (const part of chunk([...new Set(leadIds)], KEY_CHUNK)) {
        await tx.run(
          `UPDATE holds SET state = 'released', released_at = ?
           WHERE tenant_id = ? AND lead_id IN (${marks(part.length)}) AND state = 'held'`,
          [now, tenantId, ...part],
        );
      }
    };
    await release(decisions.filter((d) => !holding.has(d.leadId)).map((d) => d.leadId));
    for (const decision of decisions) {
      if (!holding.has(decision.leadId)) continue;
      const dest = decision.destination;
      if (dest.kind === 'hold') {
        await this.placeHoldWith(tx, tenantId, {
          leadId: decision.leadId,
          route: decision.route?.name ?? '(fallback)',
          fields: dest.fields,
          since: decision.decidedAt,
          until: dest.until,
        });
      } else {
        await release([decision.leadId]);
      }
    }
  }

  async findDecision(tenantId: string, decisionKey: string): Promise<DecisionRecord | null> {
    const row = await this.db.get<DecisionRow>(
      'SELECT * FROM decisions WHERE tenant_id = ? AND decision_key = ?',
      [tenantId, decisionKey],
    );
    return row === undefined ? null : toDecision(row);
  }

  /** The decisions committed under these keys (a batch's retries), by key. */
  async findDecisions(
    tenantId: string,
    decisionKeys: readonly string[],
  ): Promise<Map<string, DecisionRecord>> {
    const found = new Map<string, DecisionRecord>();
    for (const part of chunk([...new Set(decisionKeys)], KEY_CHUNK)) {
      const rows = await this.db.all<DecisionRow>(
        `SELECT * FROM decisions WHERE tenant_id = ? AND decision_key IN (${marks(part.length)})`,
        [tenantId, ...part],
      );
      for (const r of rows) found.set(r.decision_key, toDecision(r));
    }
    return found;
  }

  /** For `lead-router explain <lead id | email>`: latest first. */
  async decisionsFor(
    tenantId: string,
    who: { leadId: string } | { email: string },
    limit = 20,
  ): Promise<DecisionRecord[]> {
    const [column, value] = 'leadId' in who ? ['lead_id', who.leadId] : ['email', who.email.toLowerCase()];
    return (
      await this.db.all<DecisionRow>(
        `SELECT * FROM decisions WHERE tenant_id = ? AND ${column} = ? ORDER BY decided_at DESC, id DESC LIMIT ?`,
        [tenantId, value, limit],
      )
    ).map(toDecision);
  }

  /** The tenant's latest decisions, for the team's activity view. */
  async recentDecisions(tenantId: string, limit = 50): Promise<DecisionRecord[]> {
    return (
      await this.db.all<DecisionRow>(
        'SELECT * FROM decisions WHERE tenant_id = ? ORDER BY decided_at DESC, id DESC LIMIT ?',
        [tenantId, limit],
      )
    ).map(toDecision);
  }

  /**
   * Records the actions of a decision, one per kind; planning the same decision again returns the
   * existing rows unchanged (their status included), so a retry never re-creates a finished action.
   */
  async planActions(
    tenantId: string,
    leadId: string,
    decisionKey: string,
    actions: readonly Action[],
    now: number,
  ): Promise<PlannedAction[]> {
    return this.db.transaction((tx) => this.planActionsWith(tx, tenantId, leadId, decisionKey, actions, now));
  }

  private async planActionsWith(
    db: Db,
    tenantId: string,
    leadId: string,
    decisionKey: string,
    actions: readonly Action[],
    now: number,
  ): Promise<PlannedAction[]> {
    await this.insertActionsWith(
      db,
      tenantId,
      actions.map((action) => ({ leadId, decisionKey, action })),
      now,
    );
    return this.actionsWith(db, tenantId, decisionKey);
  }

  /** Plans actions; one that exists already (same lead, kind and decision) is left as it is. */
  private async insertActionsWith(
    db: Db,
    tenantId: string,
    rows: readonly { leadId: string; decisionKey: string; action: Action }[],
    now: number,
  ): Promise<void> {
    for (const part of chunk(rows, ROW_CHUNK)) {
      await db.run(
        `INSERT INTO actions (tenant_id, lead_id, decision_key, kind, payload, status, created_at, updated_at)
         VALUES ${part.map(() => "(?, ?, ?, ?, ?, 'planned', ?, ?)").join(', ')} ON CONFLICT DO NOTHING`,
        part.flatMap(({ leadId, decisionKey, action }) => [
          tenantId,
          leadId,
          decisionKey,
          action.kind,
          JSON.stringify(action),
          now,
          now,
        ]),
      );
    }
  }

  private async actionsWith(db: Db, tenantId: string, decisionKey: string): Promise<PlannedAction[]> {
    return (await this.actionsOfWith(db, tenantId, [decisionKey])).get(decisionKey) ?? [];
  }

  /** The actions of each decision key, in planning order. */
  private async actionsOfWith(
    db: Db,
    tenantId: string,
    decisionKeys: readonly string[],
  ): Promise<Map<string, PlannedAction[]>> {
    const byKey = new Map<string, PlannedAction[]>();
    for (const part of chunk([...new Set(decisionKeys)], KEY_CHUNK)) {
      const rows = await db.all<ActionRow>(
        `SELECT * FROM actions WHERE tenant_id = ? AND decision_key IN (${marks(part.length)}) ORDER BY id`,
        [tenantId, ...part],
      );
      for (const r of rows) {
        const list = byKey.get(r.decision_key) ?? [];
        list.push(toAction(r));
        byKey.set(r.decision_key, list);
      }
    }
    return byKey;
  }

  async actionsForDecision(tenantId: string, decisionKey: string): Promise<PlannedAction[]> {
    return this.actionsWith(this.db, tenantId, decisionKey);
  }

  /** The actions of several decisions (a batch's retries), by decision key. */
  async actionsForDecisions(
    tenantId: string,
    decisionKeys: readonly string[],
  ): Promise<Map<string, PlannedAction[]>> {
    return this.actionsOfWith(this.db, tenantId, decisionKeys);
  }

  async pendingActions(tenantId: string, leadId: string): Promise<PlannedAction[]> {
    return (
      await this.db.all<ActionRow>(
        `SELECT * FROM actions WHERE tenant_id = ? AND lead_id = ? AND status = 'planned' ORDER BY id`,
        [tenantId, leadId],
      )
    ).map(toAction);
  }

  /** planned → done with the CRM id created (null for updates). False if it was not planned. */
  async markActionDone(
    tenantId: string,
    actionId: number,
    crmId: string | null,
    now: number,
  ): Promise<boolean> {
    return (await this.markActionsDone(tenantId, [{ id: actionId, crmId }], now)) === 1;
  }

  /** `markActionDone` for the results of one batch call, in one transaction; returns how many moved. */
  async markActionsDone(
    tenantId: string,
    done: readonly { id: number; crmId: string | null }[],
    now: number,
  ): Promise<number> {
    if (done.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      let moved = 0;
      for (const { id, crmId } of done) {
        const r = await tx.run(
          `UPDATE actions SET status = 'done', crm_id = ?, error = NULL, lease_owner = NULL, lease_until = NULL,
             updated_at = ?
           WHERE tenant_id = ? AND id = ? AND status = 'planned'`,
          [crmId, now, tenantId, id],
        );
        moved += r.changes;
      }
      return moved;
    });
  }

  /**
   * Planned actions of one kind across tenants, oldest first, those being written included: the work
   * still to be done (explanation notes).
   */
  async plannedActionsOfKind(kind: Action['kind'], limit: number): Promise<PlannedAction[]> {
    return (
      await this.db.all<ActionRow>(
        `SELECT * FROM actions WHERE status = 'planned' AND kind = ? ORDER BY id LIMIT ?`,
        [kind, limit],
      )
    ).map(toAction);
  }

  /** planned → failed (a permanent failure; transient ones stay planned and are retried). */
  async markActionFailed(tenantId: string, actionId: number, reason: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE actions SET status = 'failed', error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE tenant_id = ? AND id = ? AND status = 'planned'`,
      [reason, now, tenantId, actionId],
    );
    return r.changes === 1;
  }

  /**
   * Leases up to `limit` claimable actions of one kind, across tenants and oldest first, to one writer
   * (deferred notes, written by every worker process): concurrent claimers never get the same action.
   * With `createdBefore`, only actions planned by then.
   */
  async claimActionsOfKind(
    kind: Action['kind'],
    options: ActionClaimOptions & { limit: number; createdBefore?: number | undefined },
  ): Promise<PlannedAction[]> {
    const { workerId, leaseUntil, now, sentBefore, limit } = options;
    if (!Number.isInteger(limit) || limit <= 0)
      throw new StorageError('invalid', 'claimActionsOfKind needs an integer limit > 0');
    const created = options.createdBefore === undefined ? '' : ' AND created_at <= ?';
    const params: SqlParam[] = [kind, now, sentBefore];
    if (options.createdBefore !== undefined) params.push(options.createdBefore);
    params.push(limit, workerId, leaseUntil, now, now, sentBefore);
    // As `claim`: a materialized pick, locked and skipping rows another claimer holds on PostgreSQL; the
    // outer condition, checked again, is the compare-and-set.
    const rows = await this.db.all<ActionRow>(
      `WITH picked AS MATERIALIZED (
         SELECT id AS picked_id FROM actions WHERE kind = ? AND ${CLAIMABLE_ACTION}${created}
           AND ${INSTALLED_TENANT}
         ORDER BY id LIMIT ?${this.db.dialect.claimLock})
       UPDATE actions SET lease_owner = ?, lease_until = ?, updated_at = ?
       FROM picked WHERE actions.id = picked.picked_id AND ${CLAIMABLE_ACTION}
       RETURNING ${ACTION_COLUMNS}`,
      params,
    );
    return rows.map(toAction).sort((a, b) => a.id - b.id);
  }

  /**
   * Leases these actions of the tenant to one writer (a batch's creates), those claimable only; returns
   * them as they are now. One held by another writer, finished, or sent too recently is left out.
   */
  async claimActions(
    tenantId: string,
    ids: readonly number[],
    options: ActionClaimOptions,
  ): Promise<PlannedAction[]> {
    const { workerId, leaseUntil, now, sentBefore } = options;
    const out: PlannedAction[] = [];
    for (const part of chunk([...new Set(ids)], KEY_CHUNK)) {
      const rows = await this.db.all<ActionRow>(
        `UPDATE actions SET lease_owner = ?, lease_until = ?, updated_at = ?
         WHERE tenant_id = ? AND id IN (${marks(part.length)}) AND ${CLAIMABLE_ACTION}
         RETURNING ${ACTION_COLUMNS}`,
        [workerId, leaseUntil, now, tenantId, ...part, now, sentBefore],
      );
      out.push(...rows.map(toAction));
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /**
   * Records, before sending, that these creates are being sent now — only those `workerId` still
   * holds; returns their ids. Send only those: a create another writer took over is theirs.
   */
  async markActionsSent(
    tenantId: string,
    ids: readonly number[],
    workerId: string,
    now: number,
  ): Promise<number[]> {
    const sent: number[] = [];
    for (const part of chunk([...new Set(ids)], KEY_CHUNK)) {
      const rows = await this.db.all<{ id: number }>(
        `UPDATE actions SET sent_at = ?, updated_at = ?
         WHERE tenant_id = ? AND id IN (${marks(part.length)}) AND status = 'planned' AND lease_owner = ?
         RETURNING id`,
        [now, now, tenantId, ...part, workerId],
      );
      sent.push(...rows.map((r) => r.id));
    }
    return sent.sort((a, b) => a - b);
  }

  /**
   * Gives back actions `workerId` holds, still planned, to be tried again. `notApplied`: their send
   * failed in a way that shows the CRM did not apply it (a refusal, a 429), so the next attempt need not
   * look for it first; otherwise what is known of the last send is kept. Returns how many were released.
   */
  async releaseActions(
    tenantId: string,
    ids: readonly number[],
    workerId: string,
    now: number,
    options: { notApplied: boolean },
  ): Promise<number> {
    const sent = options.notApplied ? ', sent_at = NULL' : '';
    let released = 0;
    for (const part of chunk([...new Set(ids)], KEY_CHUNK)) {
      const r = await this.db.run(
        `UPDATE actions SET lease_owner = NULL, lease_until = NULL${sent}, updated_at = ?
         WHERE tenant_id = ? AND id IN (${marks(part.length)}) AND status = 'planned' AND lease_owner = ?`,
        [now, tenantId, ...part, workerId],
      );
      released += r.changes;
    }
    return released;
  }

  // Holds ------------------------------------------------------------------------------------------

  /** Places a hold; false when the lead already has an open one (which is kept, with its `since`). */
  async placeHold(
    tenantId: string,
    hold: { leadId: string; route: string; fields: string[]; since: number; until: number },
  ): Promise<boolean> {
    return this.placeHoldWith(this.db, tenantId, hold);
  }

  private async placeHoldWith(
    db: Db,
    tenantId: string,
    hold: { leadId: string; route: string; fields: string[]; since: number; until: number },
  ): Promise<boolean> {
    const r = await db.run(
      `INSERT INTO holds (tenant_id, lead_id, route, fields, since, until, state)
       VALUES (?, ?, ?, ?, ?, ?, 'held') ON CONFLICT DO NOTHING`,
      [tenantId, hold.leadId, hold.route, JSON.stringify(hold.fields), hold.since, hold.until],
    );
    return r.changes === 1;
  }

  async activeHold(tenantId: string, leadId: string): Promise<Hold | null> {
    const row = await this.db.get<HoldRow>(
      `SELECT * FROM holds WHERE tenant_id = ? AND lead_id = ? AND state = 'held'`,
      [tenantId, leadId],
    );
    return row === undefined ? null : toHold(row);
  }

  /** Open holds whose timeout has passed, oldest first, across tenants unless one is given. */
  async dueHolds(
    now: number,
    options: { tenantId?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Hold[]> {
    return (await this.dueRows<HoldRow>(`holds WHERE state = 'held' AND until`, 'until', now, options)).map(
      toHold,
    );
  }

  /**
   * Rows whose time has come, oldest first, across tenants unless one is given. `from` is a fixed
   * table-and-state fragment ending in the time column; only `now`, the tenant and the limit are values.
   */
  private async dueRows<R>(
    from: string,
    timeColumn: string,
    now: number,
    options: { tenantId?: string | undefined; limit?: number | undefined },
  ): Promise<R[]> {
    const byTenant = options.tenantId === undefined ? '' : ' AND tenant_id = ?';
    const params: SqlParam[] = [now];
    if (options.tenantId !== undefined) params.push(options.tenantId);
    params.push(options.limit ?? 100);
    return this.db.all<R>(`SELECT * FROM ${from} <= ?${byTenant} ORDER BY ${timeColumn}, id LIMIT ?`, params);
  }

  /** held → released (data arrived) or timed_out. False if it was no longer held. */
  async releaseHold(
    tenantId: string,
    holdId: number,
    outcome: Exclude<HoldStateName, 'held'>,
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE holds SET state = ?, released_at = ? WHERE tenant_id = ? AND id = ? AND state = 'held'`,
      [outcome, now, tenantId, holdId],
    );
    return r.changes === 1;
  }

  // SLA timers -------------------------------------------------------------------------------------

  async dueSlaTimers(
    now: number,
    options: { tenantId?: string | undefined; limit?: number | undefined } = {},
  ): Promise<SlaTimer[]> {
    return (
      await this.dueRows<SlaRow>(`sla_timers WHERE state = 'armed' AND due_at`, 'due_at', now, options)
    ).map(toSla);
  }

  async slaTimersFor(tenantId: string, leadId: string): Promise<SlaTimer[]> {
    return (
      await this.db.all<SlaRow>('SELECT * FROM sla_timers WHERE tenant_id = ? AND lead_id = ? ORDER BY id', [
        tenantId,
        leadId,
      ])
    ).map(toSla);
  }

  /** Compare-and-set on the timer state (armed → met | breached | cancelled). */
  async setSlaState(
    tenantId: string,
    id: number,
    from: SlaState,
    to: SlaState,
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE sla_timers SET state = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND state = ?',
      [to, now, tenantId, id, from],
    );
    return r.changes === 1;
  }

  // Privacy deletions -----------------------------------------------------------------------------

  /**
   * Deletes everything held about one contact of the tenant — decisions (email, trace, summary), planned
   * actions (their rendered task and note text), holds, SLA timers, effect keys and inbox rows (event
   * payloads) — in one transaction, and records only how many rows went. Rotation rows name reps, never
   * leads, and stay. Idempotent: a second request deletes nothing and records zeros.
   */
  async purgeContact(tenantId: string, contactId: string, now: number): Promise<PrivacyDeletionCounts> {
    return this.db.transaction(async (tx) => {
      const del = async (sql: string): Promise<number> => (await tx.run(sql, [tenantId, contactId])).changes;
      const counts: PrivacyDeletionCounts = {
        actions: await del('DELETE FROM actions WHERE tenant_id = ? AND lead_id = ?'),
        decisions: await del('DELETE FROM decisions WHERE tenant_id = ? AND lead_id = ?'),
        holds: await del('DELETE FROM holds WHERE tenant_id = ? AND lead_id = ?'),
        slaTimers: await del('DELETE FROM sla_timers WHERE tenant_id = ? AND lead_id = ?'),
        effects: await del('DELETE FROM effects WHERE tenant_id = ? AND lead_id = ?'),
        inbox: await del('DELETE FROM inbox WHERE tenant_id = ? AND object_id = ?'),
      };
      await tx.run('INSERT INTO privacy_deletions (tenant_id, deleted_at, rows_deleted) VALUES (?, ?, ?)', [
        tenantId,
        now,
        JSON.stringify(counts),
      ]);
      return counts;
    });
  }

  /** How many privacy deletions the tenant had, and the rows they removed in all. */
  async privacyDeletionStats(tenantId: string): Promise<{ requests: number; rows: number }> {
    const rows = await this.db.all<{ rows_deleted: string }>(
      'SELECT rows_deleted FROM privacy_deletions WHERE tenant_id = ?',
      [tenantId],
    );
    let total = 0;
    for (const row of rows) {
      const counts = readJson(row.rows_deleted, 'privacy_deletions.rows_deleted', privacyCountsSchema);
      for (const n of Object.values(counts)) total += n;
    }
    return { requests: rows.length, rows: total };
  }

  // Directory cache --------------------------------------------------------------------------------

  async saveDirectory(tenantId: string, directory: Directory): Promise<void> {
    const valid = validate(directorySchema, directory, 'directory');
    await this.db.run(
      `INSERT INTO directory_cache (tenant_id, directory, fetched_at) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET directory = excluded.directory, fetched_at = excluded.fetched_at`,
      [tenantId, JSON.stringify(valid), valid.fetchedAt],
    );
  }

  async loadDirectory(tenantId: string): Promise<Directory | null> {
    const row = await this.db.get<{ directory: string }>(
      'SELECT directory FROM directory_cache WHERE tenant_id = ?',
      [tenantId],
    );
    return row === undefined
      ? null
      : readJson(row.directory, `directory_cache.directory of tenant ${tenantId}`, directorySchema);
  }
}
