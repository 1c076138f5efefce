// Actions a decision planned (owner, task, note, enrollment…): leased to one writer, marked as sent
// before a create goes out (a create has no idempotency key), then done or failed.
import type { Action } from '../core/types.js';
import { PRIMARY_KEY, type Db, type SqlParam } from './db.js';
import { StorageError } from './errors.js';
import {
  actionSchema,
  type ActionClaimOptions,
  type RipeActions,
  type ActionStatus,
  type PlannedAction,
} from './model.js';
import { chunk, WORKING_TENANT, KEY_CHUNK, marks, readJson, ROW_CHUNK } from './shared.js';

/** Actions marked done per statement (see markActionsDone). */
const DONE_CHUNK = 50;

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

const ACTION_COLUMNS =
  'id, tenant_id, lead_id, decision_key, kind, payload, status, crm_id, error, sent_at, lease_owner, lease_until, created_at, updated_at';

/**
 * A planned action nobody holds (or whose holder's lease lapsed), and whose last unresolved send, if
 * any, is old enough to be found by a CRM search. Parameters: now, sentBefore.
 */
const CLAIMABLE_ACTION =
  "status = 'planned' AND (lease_until IS NULL OR lease_until <= ?) AND (sent_at IS NULL OR sent_at <= ?)";

const toAction = (r: ActionRow): PlannedAction => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  decisionKey: r.decision_key,
  key: actionKey(r.tenant_id, r.lead_id, r.kind, r.decision_key),
  kind: r.kind,
  action: readJson(r.payload, `actions.payload of row ${r.id}`, actionSchema),
  status: r.status,
  crmId: r.crm_id,
  // The column predates done actions with a reason: it keeps those too (`markActionsDone`).
  reason: r.error,
  sentAt: r.sent_at,
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** An action as a row just inserted for it holds it (planned, never sent, nobody's). */
export function plannedAction(
  tenantId: string,
  leadId: string,
  decisionKey: string,
  id: number,
  action: Action,
  now: number,
): PlannedAction {
  return {
    id,
    tenantId,
    leadId,
    decisionKey,
    key: actionKey(tenantId, leadId, action.kind, decisionKey),
    kind: action.kind,
    action,
    status: 'planned',
    crmId: null,
    reason: null,
    sentAt: null,
    leaseOwner: null,
    leaseUntil: null,
    createdAt: now,
    updatedAt: now,
  };
}

const actionKey = (tenantId: string, leadId: string, kind: string, decisionKey: string): string =>
  `lr:${tenantId}:${leadId}:${kind}:${decisionKey}`;

export class ActionRepository {
  constructor(private readonly db: Db) {}

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
    await this.insertWith(
      db,
      tenantId,
      actions.map((action) => ({ leadId, decisionKey, action })),
      now,
    );
    return this.actionsWith(db, tenantId, decisionKey);
  }

  /**
   * Plans actions; one that exists already (same lead, kind and decision) is left as it is. Answers the
   * ones inserted, by decision key in planning order, built from what was inserted (the ids from
   * RETURNING) rather than read back and parsed again.
   */
  async insertWith(
    db: Db,
    tenantId: string,
    rows: readonly { leadId: string; decisionKey: string; action: Action }[],
    now: number,
  ): Promise<Map<string, PlannedAction[]>> {
    const byKey = new Map<string, PlannedAction[]>();
    for (const part of chunk(rows, ROW_CHUNK)) {
      const inserted = await db.all<{ id: number; lead_id: string; kind: string; decision_key: string }>(
        `INSERT INTO actions (tenant_id, lead_id, decision_key, kind, payload, status, created_at, updated_at)
         VALUES ${part.map(() => "(?, ?, ?, ?, ?, 'planned', ?, ?)").join(', ')} ON CONFLICT DO NOTHING
         RETURNING id, lead_id, kind, decision_key`,
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
      const ids = new Map(
        inserted.map((r) => [actionKey(tenantId, r.lead_id, r.kind, r.decision_key), r.id]),
      );
      for (const { leadId, decisionKey, action } of part) {
        const id = ids.get(actionKey(tenantId, leadId, action.kind, decisionKey));
        if (id === undefined) continue;
        const list = byKey.get(decisionKey) ?? [];
        list.push(plannedAction(tenantId, leadId, decisionKey, id, action, now));
        byKey.set(decisionKey, list);
      }
    }
    for (const list of byKey.values()) list.sort((a, b) => a.id - b.id);
    return byKey;
  }

  private async actionsWith(db: Db, tenantId: string, decisionKey: string): Promise<PlannedAction[]> {
    return (await this.actionsOfWith(db, tenantId, [decisionKey])).get(decisionKey) ?? [];
  }

  /** The actions of each decision key, in planning order. */
  async actionsOfWith(
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

  /**
   * `markActionDone` for the results of one batch call, in one transaction; returns how many moved. A
   * `reason` says why an action done wrote nothing (kept where a failed one keeps its error).
   */
  async markActionsDone(
    tenantId: string,
    done: readonly { id: number; crmId: string | null; reason?: string | undefined }[],
    now: number,
  ): Promise<number> {
    if (done.length === 0) return 0;
    // One statement per chunk, not per action (a burst's flush marks hundreds). The ids find the rows
    // by primary key, and a CASE on the id gives each its CRM id: an UPDATE … FROM a VALUES list of
    // (id, CRM id) made SQLite scan all of the tenant's actions for every chunk, a cost that grew with
    // the table. Chunks are small, so the CASE compares few ids per row. An id listed twice keeps its
    // first CRM id, as the first UPDATE did.
    const byIdFirst = new Map<number, { crmId: string | null; reason: string | null }>();
    for (const { id, crmId, reason } of done)
      if (!byIdFirst.has(id)) byIdFirst.set(id, { crmId, reason: reason ?? null });
    const byId = this.db.dialect.lookupBy(PRIMARY_KEY);
    /** Each id's value of a column, or NULL for all when none has one. */
    const perId = (part: [number, string | null][]): { sql: string; params: SqlParam[] } =>
      part.some(([, v]) => v !== null)
        ? {
            // Typed: PostgreSQL infers nothing from a CASE of untyped parameters.
            sql: `CASE id ${part.map(() => 'WHEN CAST(? AS BIGINT) THEN CAST(? AS TEXT)').join(' ')} END`,
            params: part.flat(),
          }
        : { sql: 'NULL', params: [] };
    return this.db.transaction(async (tx) => {
      let moved = 0;
      for (const part of chunk([...byIdFirst], DONE_CHUNK)) {
        const crmId = perId(part.map(([id, v]) => [id, v.crmId]));
        const reason = perId(part.map(([id, v]) => [id, v.reason]));
        const r = await tx.run(
          `UPDATE actions${byId} SET status = 'done', crm_id = ${crmId.sql},
             error = ${reason.sql}, lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE tenant_id = ? AND status = 'planned' AND id IN (${part.map(() => '?').join(', ')})`,
          [...crmId.params, ...reason.params, now, tenantId, ...part.map(([id]) => id)],
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
   * With `ripe`, only the tenants whose actions of the kind are ripe, and all of theirs, so that a
   * tenant's notes go out in as few calls as its rate budget allows: a full batch is waiting; or the
   * oldest waited past `overdueBefore`; or the oldest was planned by `quietBefore` and the tenant has no
   * inbox work due or in hand (a tenant still routing a burst gathers its notes; an idle one is not kept
   * waiting).
   */
  async claimActionsOfKind(
    kind: Action['kind'],
    options: ActionClaimOptions & { limit: number; ripe?: RipeActions | undefined },
  ): Promise<PlannedAction[]> {
    const { workerId, leaseUntil, now, sentBefore, limit, ripe } = options;
    if (!Number.isInteger(limit) || limit <= 0)
      throw new StorageError('invalid', 'claimActionsOfKind needs an integer limit > 0');
    const due =
      ripe === undefined
        ? ''
        : ` AND tenant_id IN (
             SELECT tenant_id FROM actions WHERE kind = ? AND ${CLAIMABLE_ACTION}
             GROUP BY tenant_id
             HAVING COUNT(*) >= ? OR MIN(created_at) <= ?
               OR (MIN(created_at) <= ? AND NOT EXISTS (
                 SELECT 1 FROM inbox WHERE inbox.tenant_id = actions.tenant_id
                   AND (inbox.state = 'leased' OR (inbox.state = 'pending' AND inbox.run_after <= ?)))))`;
    const params: SqlParam[] = [kind, now, sentBefore];
    if (ripe !== undefined)
      params.push(kind, now, sentBefore, ripe.fullBatch, ripe.overdueBefore, ripe.quietBefore, now);
    params.push(limit, workerId, leaseUntil, now, now, sentBefore);
    // As `claim`: a materialized pick, locked and skipping rows another claimer holds on PostgreSQL; the
    // outer condition, checked again, is the compare-and-set.
    const rows = await this.db.all<ActionRow>(
      `WITH picked AS MATERIALIZED (
         SELECT id AS picked_id FROM actions WHERE kind = ? AND ${CLAIMABLE_ACTION}${due}
           AND ${WORKING_TENANT}
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
        `UPDATE actions${this.db.dialect.lookupBy(PRIMARY_KEY)} SET lease_owner = ?, lease_until = ?, updated_at = ?
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
        `UPDATE actions${this.db.dialect.lookupBy(PRIMARY_KEY)} SET sent_at = ?, updated_at = ?
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
        `UPDATE actions${this.db.dialect.lookupBy(PRIMARY_KEY)} SET lease_owner = NULL, lease_until = NULL${sent}, updated_at = ?
         WHERE tenant_id = ? AND id IN (${marks(part.length)}) AND status = 'planned' AND lease_owner = ?`,
        [now, tenantId, ...part, workerId],
      );
      released += r.changes;
    }
    return released;
  }

  /** Takes back every action lease at once (see `Storage.takeOverLeases`); returns how many it released. */
  async releaseAllLeases(now: number): Promise<number> {
    const r = await this.db.run(
      `UPDATE actions SET lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE status = 'planned' AND lease_until IS NOT NULL`,
      [now],
    );
    return r.changes;
  }
}
