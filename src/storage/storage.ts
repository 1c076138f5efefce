// Durable state of the pipeline. Every transition is a compare-and-set on the row's current state (and
// lease owner), so a slow or crashed worker can never overwrite what another one did; backoff is a
// stored `run_after`, leases expire and `reapExpired` returns them. Every tenant-facing query filters
// by tenant id. Time is always an argument (`now`, epoch ms) so tests run on a fixed clock.
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Directory } from '../../connectors/connector.js';
import type { Action, Decision, ResolvedDestination, RoutingState, SlaBreach, Trace } from '../core/types.js';
import { applyStateChanges, hasChanges } from '../core/state.js';
import type { Db, SqlParam } from './db.js';
import { StorageError } from './errors.js';
import {
  crmEventSchema,
  directorySchema,
  routingStateSchema,
  settingsSchema,
  stringListSchema,
  type ActionStatus,
  type Cipher,
  type ClaimOptions,
  type CommitResult,
  type DecisionRecord,
  type EffectClaim,
  type Hold,
  type HoldStateName,
  type InboxItem,
  type InboxState,
  type InboxStats,
  type NewTenant,
  type PlannedAction,
  type Provider,
  type Ruleset,
  type SlaState,
  type SlaTimer,
  type Tenant,
  type VersionedState,
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

/** Rows per INSERT: 9 parameters each stays far below SQLite's 32,766 and PostgreSQL's 65,535. */
const ENQUEUE_CHUNK = 500;

const INBOX_COLUMNS =
  'id, tenant_id, payload, state, attempts, run_after, lease_owner, lease_until, last_error, created_at, updated_at';

/** Parses a JSON column; with a schema, validates it too. A failure means the row was not written by us. */
function readJson<T>(text: string, column: string, schema?: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StorageError('corrupt', `column ${column} holds invalid JSON`, { cause: error });
  }
  if (schema === undefined) return value as T;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new StorageError('corrupt', `column ${column} does not match its schema: ${parsed.error.message}`);
  }
  return parsed.data;
}

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
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
  settings: readJson(r.settings, 'tenants.settings', settingsSchema),
  activeRulesetVersion: r.active_ruleset_version,
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
  event: readJson<CrmEvent>(r.payload, 'inbox.payload', crmEventSchema),
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
  destination: readJson<ResolvedDestination>(r.destination, 'decisions.destination'),
  owner: r.owner,
  ruleSet: { name: r.ruleset_name, version: r.ruleset_version },
  actions: readJson<Action[]>(r.actions, 'decisions.actions'),
  sla:
    r.sla === null ? null : readJson<{ firstTouchBy: number; onBreach: SlaBreach }>(r.sla, 'decisions.sla'),
  trace: readJson<Trace>(r.trace, 'decisions.trace'),
  summary: r.summary,
});

const toAction = (r: ActionRow): PlannedAction => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  decisionKey: r.decision_key,
  key: `lr:${r.tenant_id}:${r.lead_id}:${r.kind}:${r.decision_key}`,
  kind: r.kind,
  action: readJson<Action>(r.payload, 'actions.payload'),
  status: r.status,
  crmId: r.crm_id,
  error: r.error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toHold = (r: HoldRow): Hold => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  route: r.route,
  fields: readJson(r.fields, 'holds.fields', stringListSchema),
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
  onBreach: readJson<SlaBreach>(r.on_breach, 'sla_timers.on_breach'),
  state: r.state,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Thrown inside a transaction to roll it back; never escapes this module. */
class Rollback extends Error {}

const emptyState = (): RoutingState => ({ pools: {}, reps: {} });

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

  /** Stores the OAuth token set (any string, usually JSON) encrypted; `null` forgets it (uninstall). */
  async setTenantToken(id: string, token: string | null, now: number): Promise<boolean> {
    const blob = token === null ? null : this.requireCipher().encrypt(token);
    const r = await this.db.run('UPDATE tenants SET token_blob = ?, updated_at = ? WHERE id = ?', [
      blob,
      now,
      id,
    ]);
    return r.changes === 1;
  }

  async getTenantToken(id: string): Promise<string | null> {
    const row = await this.db.get<{ token_blob: string | null }>(
      'SELECT token_blob FROM tenants WHERE id = ?',
      [id],
    );
    if (row?.token_blob == null) return null;
    return this.requireCipher().decrypt(row.token_blob);
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
   */
  async enqueue(items: readonly { tenantId: string; event: CrmEvent }[], now: number): Promise<number> {
    const valid = items.map((item, i) => ({
      tenantId: item.tenantId,
      event: validate<CrmEvent>(crmEventSchema, item.event, `event ${i}`),
    }));
    if (valid.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      let added = 0;
      // Multi-row inserts: a 10,000-contact import is 20 statements, not 10,000 round trips.
      for (let at = 0; at < valid.length; at += ENQUEUE_CHUNK) {
        const chunk = valid.slice(at, at + ENQUEUE_CHUNK);
        const r = await tx.run(
          `INSERT INTO inbox (tenant_id, subscription, event_id, kind, object_id, payload, state, attempts,
             run_after, created_at, updated_at)
           VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)").join(', ')}
           ON CONFLICT DO NOTHING`,
          chunk.flatMap(({ tenantId, event }) => [
            tenantId,
            event.subscription,
            event.eventId,
            event.kind,
            event.objectId,
            JSON.stringify(event),
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

  /** Leases up to `limit` due rows atomically; concurrent claimers never get the same row. */
  async claim(options: ClaimOptions): Promise<InboxItem[]> {
    const { workerId, limit, leaseMs, now } = options;
    if (!Number.isInteger(limit) || limit <= 0 || !(leaseMs > 0))
      throw new StorageError('invalid', 'claim needs an integer limit > 0 and leaseMs > 0');
    const byTenant = options.tenantId === undefined ? '' : ' AND tenant_id = ?';
    const params: SqlParam[] = [now];
    if (options.tenantId !== undefined) params.push(options.tenantId);
    params.push(limit, workerId, now + leaseMs, now);
    // The pick is a materialized CTE joined by UPDATE … FROM: PostgreSQL may re-run an `IN (SELECT … LIMIT)`
    // subquery and so exceed the limit; a CTE runs once. The outer `state = 'pending'` is the CAS.
    const rows = await this.db.all<InboxRow>(
      `WITH picked AS MATERIALIZED (
         SELECT id AS picked_id FROM inbox WHERE state = 'pending' AND run_after <= ?${byTenant}
         ORDER BY run_after, id LIMIT ?${this.db.dialect.claimLock})
       UPDATE inbox SET state = 'leased', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
       FROM picked WHERE inbox.id = picked.picked_id AND inbox.state = 'pending'
       RETURNING ${INBOX_COLUMNS}`,
      params,
    );
    return rows.map(toInbox).sort((a, b) => a.runAfter - b.runAfter || a.id - b.id);
  }

  /** Done: only by the lease holder of a leased row. Marks the effect keys the row claimed as done. */
  async complete(id: number, workerId: string, now: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `UPDATE inbox SET state = 'done', lease_owner = NULL, lease_until = NULL, updated_at = ?
         WHERE id = ? AND state = 'leased' AND lease_owner = ?`,
        [now, id, workerId],
      );
      if (r.changes !== 1) return false;
      await tx.run(
        `UPDATE effects SET state = 'done', done_at = ? WHERE inbox_id = ? AND state = 'claimed'`,
        [now, id],
      );
      return true;
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
   * times (a poison event crashing its workers) becomes a dead letter instead.
   */
  async reapExpired(
    now: number,
    options: { maxAttempts?: number | undefined } = {},
  ): Promise<{ requeued: number; deadLettered: number }> {
    return this.db.transaction(async (tx) => {
      let deadLettered = 0;
      if (options.maxAttempts !== undefined) {
        const dead = await tx.run(
          `UPDATE inbox SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE state = 'leased' AND lease_until <= ? AND attempts >= ?`,
          [`lease expired after ${options.maxAttempts} attempts`, now, now, options.maxAttempts],
        );
        deadLettered = dead.changes;
      }
      const requeued = await tx.run(
        `UPDATE inbox SET state = 'pending', run_after = ?, last_error = 'lease expired: ' || lease_owner,
           lease_owner = NULL, lease_until = NULL, updated_at = ?
         WHERE state = 'leased' AND lease_until <= ?`,
        [now, now, now],
      );
      return { requeued: requeued.changes, deadLettered };
    });
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

  async deadLetters(tenantId: string, limit = 100): Promise<InboxItem[]> {
    return (
      await this.db.all<InboxRow>(
        `SELECT * FROM inbox WHERE tenant_id = ? AND state = 'failed' ORDER BY updated_at DESC, id DESC LIMIT ?`,
        [tenantId, limit],
      )
    ).map(toInbox);
  }

  /**
   * Dead letter → pending with attempts reset, due now. The effect keys it claimed but never finished are
   * released, so the replay routes the lead once (not zero times, and not twice).
   */
  async replay(tenantId: string, id: number, now: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `UPDATE inbox SET state = 'pending', attempts = 0, run_after = ?, last_error = NULL, updated_at = ?
         WHERE tenant_id = ? AND id = ? AND state = 'failed'`,
        [now, now, tenantId, id],
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
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `INSERT INTO effects (tenant_id, lead_id, purpose, inbox_id, state, claimed_at)
         VALUES (?, ?, ?, ?, 'claimed', ?) ON CONFLICT DO NOTHING`,
        [tenantId, leadId, purpose, inboxId, now],
      );
      if (r.changes === 1) return 'claimed';
      const row = await tx.get<{ inbox_id: number }>(
        'SELECT inbox_id FROM effects WHERE tenant_id = ? AND lead_id = ? AND purpose = ?',
        [tenantId, leadId, purpose],
      );
      return row !== undefined && row.inbox_id === inboxId ? 'mine' : 'taken';
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Rotation state (optimistic concurrency)

  /** Read before every decision, so it is not re-validated: every write path validates what it writes. */
  async loadRoutingState(tenantId: string): Promise<VersionedState> {
    return this.loadStateWith(this.db, tenantId, true);
  }

  /** Writes the next state if nobody wrote since `expectedVersion` was loaded; false means re-decide. */
  async saveRoutingState(
    tenantId: string,
    expectedVersion: number,
    next: RoutingState,
    now: number,
  ): Promise<boolean> {
    return this.saveStateWith(this.db, tenantId, expectedVersion, next, now);
  }

  /**
   * `trusted`: the commit path reads back what it wrote itself and validates each decision's changes
   * instead; re-validating the whole document per lead made a burst quadratic in the state's size.
   */
  private async loadStateWith(db: Db, tenantId: string, trusted = false): Promise<VersionedState> {
    const row = await db.get<{ state: string; version: number }>(
      'SELECT state, version FROM routing_state WHERE tenant_id = ?',
      [tenantId],
    );
    if (row === undefined) return { state: emptyState(), version: 0 };
    return {
      state: readJson<RoutingState>(
        row.state,
        'routing_state.state',
        trusted ? undefined : routingStateSchema,
      ),
      version: row.version,
    };
  }

  private async saveStateWith(
    db: Db,
    tenantId: string,
    expectedVersion: number,
    next: RoutingState,
    now: number,
    trusted = false,
  ): Promise<boolean> {
    const json = JSON.stringify(trusted ? next : validate(routingStateSchema, next, 'routing state'));
    const r =
      expectedVersion === 0
        ? await db.run(
            `INSERT INTO routing_state (tenant_id, state, version, updated_at) VALUES (?, ?, 1, ?)
             ON CONFLICT DO NOTHING`,
            [tenantId, json, now],
          )
        : await db.run(
            `UPDATE routing_state SET state = ?, version = version + 1, updated_at = ?
             WHERE tenant_id = ? AND version = ?`,
            [json, now, tenantId, expectedVersion],
          );
    return r.changes === 1;
  }

  // -------------------------------------------------------------------------------------------------
  // Decisions, actions, SLA timers and holds, committed together

  /**
   * Applies one decision atomically: its rotation-state changes (merged into the stored state with a
   * compare-and-set on the version the decision was made from), the decision
   * with its trace, its planned actions, its SLA timer, and the lead's hold (placed for a hold decision,
   * released otherwise). `decisionKey` names the decision for retries (e.g. `<leadId>:route`): a key
   * committed before yields `already_decided` and nothing is written twice.
   */
  async commitDecision(
    tenantId: string,
    input: {
      decisionKey: string;
      expectedVersion: number;
      decision: Decision;
      email?: string | undefined;
      summary: string;
    },
    now: number,
  ): Promise<CommitResult> {
    const { decisionKey, decision } = input;
    try {
      return await this.db.transaction(async (tx): Promise<CommitResult> => {
        const existing = await tx.get<DecisionRow>(
          'SELECT * FROM decisions WHERE tenant_id = ? AND decision_key = ?',
          [tenantId, decisionKey],
        );
        if (existing !== undefined) {
          return {
            status: 'already_decided',
            decision: toDecision(existing),
            actions: await this.actionsWith(tx, tenantId, decisionKey),
          };
        }
        // A decision that changed no rotation entry (queue, account owner, none) cannot hand out a turn
        // twice, so it takes no part in the version check: bursts of such leads never conflict.
        let stateVersion = input.expectedVersion;
        if (hasChanges(decision.stateChanges)) {
          const changes = validate(routingStateSchema, decision.stateChanges, 'routing state changes');
          // A stale decision is turned back before the state document is read at all.
          const head = await tx.get<{ version: number }>(
            'SELECT version FROM routing_state WHERE tenant_id = ?',
            [tenantId],
          );
          if ((head?.version ?? 0) !== input.expectedVersion) throw new Rollback();
          const current = await this.loadStateWith(tx, tenantId, true);
          if (current.version !== input.expectedVersion) throw new Rollback();
          const next = applyStateChanges(current.state, changes);
          if (!(await this.saveStateWith(tx, tenantId, current.version, next, now, true)))
            throw new Rollback();
          stateVersion += 1;
        }
        const dest = decision.destination;
        const owner = dest.kind === 'rep' ? dest.email : null;
        const inserted = await tx.get<{ id: number }>(
          `INSERT INTO decisions (tenant_id, decision_key, lead_id, email, decided_at, route_name, route_index,
             destination, owner, ruleset_name, ruleset_version, actions, sla, trace, summary)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          [
            tenantId,
            decisionKey,
            decision.leadId,
            input.email?.toLowerCase(),
            decision.decidedAt,
            decision.route?.name,
            decision.route?.index,
            JSON.stringify(dest),
            owner,
            decision.ruleSet.name,
            decision.ruleSet.version,
            JSON.stringify(decision.actions),
            decision.sla === undefined ? null : JSON.stringify(decision.sla),
            JSON.stringify(decision.trace),
            input.summary,
          ],
        );
        if (inserted === undefined) throw new StorageError('corrupt', 'decision insert returned no id');
        const actions = await this.planActionsWith(
          tx,
          tenantId,
          decision.leadId,
          decisionKey,
          decision.actions,
          now,
        );
        if (decision.sla !== undefined) {
          await tx.run(
            `INSERT INTO sla_timers (tenant_id, lead_id, decision_key, owner, due_at, on_breach, state, created_at,
               updated_at)
             VALUES (?, ?, ?, ?, ?, ?, 'armed', ?, ?) ON CONFLICT DO NOTHING`,
            [
              tenantId,
              decision.leadId,
              decisionKey,
              owner,
              decision.sla.firstTouchBy,
              JSON.stringify(decision.sla.onBreach),
              now,
              now,
            ],
          );
        }
        if (dest.kind === 'hold') {
          await this.placeHoldWith(tx, tenantId, {
            leadId: decision.leadId,
            route: decision.route?.name ?? '(fallback)',
            fields: dest.fields,
            since: decision.decidedAt,
            until: dest.until,
          });
        } else {
          await tx.run(
            `UPDATE holds SET state = 'released', released_at = ? WHERE tenant_id = ? AND lead_id = ? AND state = 'held'`,
            [now, tenantId, decision.leadId],
          );
        }
        return { status: 'committed', decisionId: inserted.id, stateVersion, actions };
      });
    } catch (error) {
      if (error instanceof Rollback) return { status: 'conflict' };
      throw error;
    }
  }

  async findDecision(tenantId: string, decisionKey: string): Promise<DecisionRecord | null> {
    const row = await this.db.get<DecisionRow>(
      'SELECT * FROM decisions WHERE tenant_id = ? AND decision_key = ?',
      [tenantId, decisionKey],
    );
    return row === undefined ? null : toDecision(row);
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
    for (const action of actions) {
      await db.run(
        `INSERT INTO actions (tenant_id, lead_id, decision_key, kind, payload, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'planned', ?, ?) ON CONFLICT DO NOTHING`,
        [tenantId, leadId, decisionKey, action.kind, JSON.stringify(action), now, now],
      );
    }
    return this.actionsWith(db, tenantId, decisionKey);
  }

  private async actionsWith(db: Db, tenantId: string, decisionKey: string): Promise<PlannedAction[]> {
    return (
      await db.all<ActionRow>('SELECT * FROM actions WHERE tenant_id = ? AND decision_key = ? ORDER BY id', [
        tenantId,
        decisionKey,
      ])
    ).map(toAction);
  }

  async actionsForDecision(tenantId: string, decisionKey: string): Promise<PlannedAction[]> {
    return this.actionsWith(this.db, tenantId, decisionKey);
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
    const r = await this.db.run(
      `UPDATE actions SET status = 'done', crm_id = ?, error = NULL, updated_at = ?
       WHERE tenant_id = ? AND id = ? AND status = 'planned'`,
      [crmId, now, tenantId, actionId],
    );
    return r.changes === 1;
  }

  /** planned → failed (a permanent failure; transient ones stay planned and are retried). */
  /** Planned actions of one kind across tenants, oldest first (deferred work such as explanation notes). */
  async plannedActionsOfKind(kind: Action['kind'], limit: number): Promise<PlannedAction[]> {
    return (
      await this.db.all<ActionRow>(
        `SELECT * FROM actions WHERE status = 'planned' AND kind = ? ORDER BY id LIMIT ?`,
        [kind, limit],
      )
    ).map(toAction);
  }

  async markActionFailed(tenantId: string, actionId: number, reason: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE actions SET status = 'failed', error = ?, updated_at = ?
       WHERE tenant_id = ? AND id = ? AND status = 'planned'`,
      [reason, now, tenantId, actionId],
    );
    return r.changes === 1;
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
      : readJson<Directory>(row.directory, 'directory_cache.directory', directorySchema);
  }
}
