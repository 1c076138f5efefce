// SLA timers: armed when a decision with an SLA commits, then worked as durable work: a timer walks its
// checkpoints (the first-touch deadline, then each breach step) under a lease, so one worker at a time
// acts on it; every step it takes is a row of sla_steps that moves planned → sent → done, so a CRM
// write is never sent twice across workers and crashes, and a step's notification is written with its
// move to done. What is kept — owner written, first touch,
// breach, each step — is what speed-to-lead and SLA attainment reports read.
import { z } from 'zod';
import { firstCheckAt } from '../core/sla.js';
import type { Decision, DecisionSla } from '../core/types.js';
import { PRIMARY_KEY, type Db, type SqlParam } from './db.js';
import { StorageError } from './errors.js';
import { decisionSlaSchema, slaBreachSchema, type SlaState, type SlaTimer } from './model.js';
import { insertNotificationsWith, type NotificationInput } from './notifications.js';
import { chunk, dueRows, WORKING_TENANT, KEY_CHUNK, marks, ownerOf, readJson, ROW_CHUNK } from './shared.js';

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

/** What a timer ended as: `met` in time or late, left alone, or breached with every step taken. */
export type SlaOutcome = 'met' | 'met_late' | 'owner_changed' | 'lead_gone' | 'not_assigned' | 'unmet';

export type SlaStepKind = 'breach' | 'remind' | 'reroute' | 'escalate' | 'met' | 'left_alone';
export type SlaStepStatus = 'planned' | 'sent' | 'done' | 'failed';

/** A claimed timer with what acting on it needs. */
export interface SlaTimerRun {
  id: number;
  tenantId: string;
  leadId: string;
  decisionKey: string;
  /** The decision's owner (a rep email), if it assigned a rep. */
  owner: string | null;
  dueAt: number;
  /** Index of the next checkpoint. */
  checkpoint: number;
  /** When the current owner's write landed; null until it has. */
  startedAt: number | null;
  expectedOwner: string | null;
  /** Reps who had the lead before the current owner (re-routes never hand it back). */
  had: string[];
  /** Decision key of a re-route the worker is carrying out. */
  rerouting: string | null;
  attempts: number;
  breachedAt: number | null;
  decidedAt: number;
  /** The route that decided (null: the rule set's fallback), and the decision's one-line summary. */
  routeName: string | null;
  summary: string;
  sla: DecisionSla;
  /** The pools the decision assigned from (its trace): their channels hear of the SLA's steps too. */
  pools: string[];
}

export interface SlaStepRow {
  id: number;
  timerId: number;
  leadId: string;
  checkpoint: number;
  kind: SlaStepKind;
  detail: string;
  owner: string | null;
  status: SlaStepStatus;
  crmId: string | null;
  error: string | null;
  at: number;
}

/** What moves a timer on to its next checkpoint (only the fields given change). */
export interface SlaAdvance {
  dueAt: number;
  checkpoint?: number | undefined;
  startedAt?: number | undefined;
  expectedOwner?: string | null | undefined;
  had?: string[] | undefined;
  rerouting?: string | null | undefined;
  breachedAt?: number | undefined;
}

interface RunRow {
  id: number;
  tenant_id: string;
  lead_id: string;
  decision_key: string;
  owner: string | null;
  due_at: number;
  checkpoint: number;
  started_at: number | null;
  expected_owner: string | null;
  had: string | null;
  rerouting: string | null;
  attempts: number;
  breached_at: number | null;
  decided_at: number;
  route_name: string | null;
  summary: string;
  sla: string | null;
  trace: string;
}

interface StepRow {
  id: number;
  timer_id: number;
  lead_id: string;
  checkpoint: number;
  kind: SlaStepKind;
  detail: string;
  owner: string | null;
  status: SlaStepStatus;
  crm_id: string | null;
  error: string | null;
  at: number;
}

const hadSchema = z.array(z.string());
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Only the pools of a stored trace (the rest is not read here). */
const tracePoolsSchema = z.object({ assignments: z.array(z.object({ pool: z.string() })).default([]) });

function toRun(r: RunRow): SlaTimerRun {
  if (r.sla === null)
    throw new StorageError('corrupt', `sla_timers row ${r.id} has a decision without an SLA`);
  return {
    id: num(r.id),
    tenantId: r.tenant_id,
    leadId: r.lead_id,
    decisionKey: r.decision_key,
    owner: r.owner,
    dueAt: num(r.due_at),
    checkpoint: num(r.checkpoint),
    startedAt: numOrNull(r.started_at),
    expectedOwner: r.expected_owner,
    had: r.had === null ? [] : readJson(r.had, `sla_timers.had of row ${r.id}`, hadSchema),
    rerouting: r.rerouting,
    attempts: num(r.attempts),
    breachedAt: numOrNull(r.breached_at),
    decidedAt: num(r.decided_at),
    routeName: r.route_name,
    summary: r.summary,
    sla: readJson(r.sla, `decisions.sla of timer ${r.id}`, decisionSlaSchema),
    pools: [
      ...new Set(
        readJson(r.trace, `decisions.trace of timer ${r.id}`, tracePoolsSchema).assignments.map(
          (a) => a.pool,
        ),
      ),
    ],
  };
}

const toStep = (r: StepRow): SlaStepRow => ({
  id: num(r.id),
  timerId: num(r.timer_id),
  leadId: r.lead_id,
  checkpoint: num(r.checkpoint),
  kind: r.kind,
  detail: r.detail,
  owner: r.owner,
  status: r.status,
  crmId: r.crm_id,
  error: r.error,
  at: num(r.at),
});

/** A timer is claimable when armed, due, and not leased by a live holder. */
const CLAIMABLE = "state = 'armed' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)";
const RUN_COLUMNS = `t.id, t.tenant_id, t.lead_id, t.decision_key, t.owner, t.due_at, t.checkpoint, t.started_at,
  t.expected_owner, t.had, t.rerouting, t.attempts, t.breached_at, d.decided_at, d.route_name, d.summary, d.sla,
  d.trace`;
const CHUNK = KEY_CHUNK;

export class SlaTimerRepository {
  constructor(private readonly db: Db) {}

  async dueSlaTimers(
    now: number,
    options: { tenantId?: string | undefined; limit?: number | undefined } = {},
  ): Promise<SlaTimer[]> {
    return (
      await dueRows<SlaRow>(this.db, `sla_timers WHERE state = 'armed' AND due_at`, 'due_at', now, options)
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

  /** Inside the caller's transaction (a commit of decisions): arms a timer for each decision with an SLA. */
  async armWith(
    tx: Db,
    tenantId: string,
    decisions: readonly { decisionKey: string; decision: Decision }[],
    now: number,
  ): Promise<void> {
    const timed = decisions.filter(({ decision }) => decision.sla !== undefined);
    for (const part of chunk(timed, ROW_CHUNK)) {
      await tx.run(
        `INSERT INTO sla_timers (tenant_id, lead_id, decision_key, owner, due_at, on_breach, state, created_at,
           updated_at)
         VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, 'armed', ?, ?)").join(', ')} ON CONFLICT DO NOTHING`,
        part.flatMap(({ decisionKey, decision }) => [
          tenantId,
          decision.leadId,
          decisionKey,
          ownerOf(decision),
          decision.sla === undefined ? undefined : firstCheckAt(decision.sla, decision.decidedAt),
          JSON.stringify(decision.sla?.onBreach),
          now,
          now,
        ]),
      );
    }
  }

  // Working the timers -----------------------------------------------------------------------

  /**
   * Tenants with due timers nobody holds, the longest-waiting first — those with a full batch
   * (`fullBatch`) at once, the others once their oldest due timer has waited `gatherMs`, so one CRM
   * search covers many timers rather than the few that fell due since the last look.
   */
  async tenantsDue(
    now: number,
    limit: number,
    gather: { fullBatch: number; gatherMs: number } = { fullBatch: 1, gatherMs: 0 },
  ): Promise<string[]> {
    const rows = await this.db.all<{ tenant_id: string }>(
      `SELECT tenant_id FROM sla_timers WHERE ${CLAIMABLE} AND ${WORKING_TENANT}
       GROUP BY tenant_id HAVING COUNT(*) >= ? OR MIN(due_at) <= ? ORDER BY MIN(due_at) LIMIT ?`,
      [now, now, gather.fullBatch, now - gather.gatherMs, limit],
    );
    return rows.map((r) => r.tenant_id);
  }

  /**
   * Leases up to `limit` of the tenant's due timers to `holder` until `leaseUntil`: the pick is locked
   * and skips rows another claimer holds (PostgreSQL), and the condition is checked again in the
   * update, so two workers never hold one timer.
   */
  async claimDue(
    tenantId: string,
    holder: string,
    now: number,
    leaseUntil: number,
    limit: number,
  ): Promise<SlaTimerRun[]> {
    if (holder === '' || !(leaseUntil > now))
      throw new StorageError('invalid', 'a claim needs a holder and a lease');
    const ids = await this.db.all<{ id: number }>(
      `WITH picked AS MATERIALIZED (
         SELECT id AS picked_id FROM sla_timers WHERE tenant_id = ? AND ${CLAIMABLE}
         ORDER BY due_at, id LIMIT ?${this.db.dialect.claimLock})
       UPDATE sla_timers SET lease_owner = ?, lease_until = ?
       FROM picked WHERE sla_timers.id = picked.picked_id AND ${CLAIMABLE}
       RETURNING id`,
      [tenantId, now, now, limit, holder, leaseUntil, now, now],
    );
    return this.runs(
      tenantId,
      ids.map((r) => num(r.id)),
    );
  }

  private async runs(tenantId: string, ids: number[]): Promise<SlaTimerRun[]> {
    const out: SlaTimerRun[] = [];
    for (const part of chunk(ids, CHUNK)) {
      const rows = await this.db.all<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM sla_timers t${this.db.dialect.lookupBy(PRIMARY_KEY)}
         JOIN decisions d ON d.tenant_id = t.tenant_id AND d.decision_key = t.decision_key
         WHERE t.tenant_id = ? AND t.id IN (${marks(part.length)})`,
        [tenantId, ...part],
      );
      out.push(...rows.map(toRun));
    }
    return out.sort((a, b) => a.dueAt - b.dueAt || a.id - b.id);
  }

  /** Keeps the holder's leases alive while a slow batch runs. */
  async renew(tenantId: string, ids: readonly number[], holder: string, leaseUntil: number): Promise<void> {
    for (const part of chunk([...ids], CHUNK))
      await this.db.run(
        `UPDATE sla_timers${this.db.dialect.lookupBy(PRIMARY_KEY)} SET lease_until = ?
         WHERE tenant_id = ? AND lease_owner = ? AND id IN (${marks(part.length)})`,
        [leaseUntil, tenantId, holder, ...part],
      );
  }

  /** Moves a held timer on and lets it go; false when `holder` no longer holds it (nothing changed). */
  async advance(tenantId: string, id: number, holder: string, to: SlaAdvance, now: number): Promise<boolean> {
    const sets = [
      'due_at = ?',
      'attempts = 0',
      'last_error = NULL',
      'lease_owner = NULL',
      'lease_until = NULL',
      'updated_at = ?',
    ];
    const params: SqlParam[] = [to.dueAt, now];
    const set = (column: string, value: SqlParam): void => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (to.checkpoint !== undefined) set('checkpoint', to.checkpoint);
    if (to.startedAt !== undefined) set('started_at', to.startedAt);
    if (to.expectedOwner !== undefined) set('expected_owner', to.expectedOwner);
    if (to.had !== undefined) set('had', JSON.stringify(to.had));
    if (to.rerouting !== undefined) set('rerouting', to.rerouting);
    if (to.breachedAt !== undefined) {
      sets.push('breached_at = COALESCE(breached_at, ?)');
      params.push(to.breachedAt);
    }
    const r = await this.db.run(
      `UPDATE sla_timers SET ${sets.join(', ')}
       WHERE tenant_id = ? AND id = ? AND lease_owner = ? AND state = 'armed'`,
      [...params, tenantId, id, holder],
    );
    return r.changes === 1;
  }

  /** Ends a held timer: met, breached (every step taken) or cancelled (left alone). */
  async settle(
    tenantId: string,
    id: number,
    holder: string,
    end: {
      state: 'met' | 'breached' | 'cancelled';
      outcome: SlaOutcome;
      firstTouchAt?: number | undefined;
      signal?: string | undefined;
      breachedAt?: number | undefined;
      startedAt?: number | undefined;
    },
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE sla_timers SET state = ?, outcome = ?, first_touch_at = ?, touch_signal = ?,
         breached_at = COALESCE(breached_at, ?), started_at = COALESCE(started_at, ?),
         lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE tenant_id = ? AND id = ? AND lease_owner = ? AND state = 'armed'`,
      [
        end.state,
        end.outcome,
        end.firstTouchAt,
        end.signal,
        end.breachedAt,
        end.startedAt,
        now,
        tenantId,
        id,
        holder,
      ],
    );
    return r.changes === 1;
  }

  /**
   * The CRM could not be asked (down, rate limited): the timers wait until `runAfter`, nothing acted.
   * `failedAttempt: false` for a wait that is no failure of the check (a rate window, a paused tenant):
   * the outage backoff, which grows with the attempts, is not lengthened by it.
   */
  async retryLater(
    tenantId: string,
    ids: readonly number[],
    holder: string,
    runAfter: number,
    error: string,
    now: number,
    options: { failedAttempt?: boolean } = {},
  ): Promise<void> {
    const attempt = options.failedAttempt === false ? 0 : 1;
    for (const part of chunk([...ids], CHUNK))
      await this.db.run(
        `UPDATE sla_timers${this.db.dialect.lookupBy(PRIMARY_KEY)} SET due_at = ?, attempts = attempts + ?, last_error = ?, lease_owner = NULL,
           lease_until = NULL, updated_at = ?
         WHERE tenant_id = ? AND lease_owner = ? AND state = 'armed' AND id IN (${marks(part.length)})`,
        [runAfter, attempt, error, now, tenantId, holder, ...part],
      );
  }

  // Steps -----------------------------------------------------------------------------------------

  /**
   * The step of a timer's checkpoint, recorded once: a second call (another attempt, after a crash)
   * returns the row as the first left it, so the caller resumes it rather than taking it again.
   * `notifications` (a step recorded `done`) are written in the same transaction, and only by the call
   * that records the row: a step is never done without them, nor told twice.
   */
  async planStep(
    tenantId: string,
    step: {
      timerId: number;
      leadId: string;
      checkpoint: number;
      kind: SlaStepKind;
      detail: string;
      owner?: string | null | undefined;
      status: SlaStepStatus;
    },
    now: number,
    notifications: readonly NotificationInput[] = [],
  ): Promise<SlaStepRow> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `INSERT INTO sla_steps (tenant_id, timer_id, lead_id, checkpoint, kind, detail, owner, status, at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          tenantId,
          step.timerId,
          step.leadId,
          step.checkpoint,
          step.kind,
          step.detail,
          step.owner,
          step.status,
          now,
          now,
        ],
      );
      if (r.changes === 1) await insertNotificationsWith(tx, notifications, now);
      const row = await tx.get<StepRow>(
        `SELECT id, timer_id, lead_id, checkpoint, kind, detail, owner, status, crm_id, error, at FROM sla_steps
         WHERE tenant_id = ? AND timer_id = ? AND checkpoint = ? AND kind = ?`,
        [tenantId, step.timerId, step.checkpoint, step.kind],
      );
      if (row === undefined)
        throw new StorageError('invalid', `sla step of timer ${step.timerId} was not recorded`);
      return toStep(row);
    });
  }

  /**
   * Compare-and-set on a step's status; false when it was no longer `from`. `notifications` (a step
   * ending) are written in the same transaction, only when this call moved it.
   */
  async markStep(
    tenantId: string,
    id: number,
    from: SlaStepStatus,
    to: SlaStepStatus,
    now: number,
    extra: { crmId?: string | undefined; error?: string | undefined } = {},
    notifications: readonly NotificationInput[] = [],
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `UPDATE sla_steps SET status = ?, crm_id = COALESCE(?, crm_id), error = ?, updated_at = ?
         WHERE tenant_id = ? AND id = ? AND status = ?`,
        [to, extra.crmId, extra.error, now, tenantId, id, from],
      );
      if (r.changes !== 1) return false;
      await insertNotificationsWith(tx, notifications, now);
      return true;
    });
  }

  /** The lead's SLA steps, oldest first (explain, reports). */
  async stepsFor(tenantId: string, leadId: string): Promise<SlaStepRow[]> {
    const rows = await this.db.all<StepRow>(
      `SELECT id, timer_id, lead_id, checkpoint, kind, detail, owner, status, crm_id, error, at FROM sla_steps
       WHERE tenant_id = ? AND lead_id = ? ORDER BY at, id`,
      [tenantId, leadId],
    );
    return rows.map(toStep);
  }

  // What the worker wrote ---------------------------------------------------------------------------

  /**
   * For each decision: its owner write (set_owner or set_queue) — status and when it last changed —
   * and the CRM id of its routing task, read from the actions the worker records.
   */
  async writesOf(
    tenantId: string,
    decisionKeys: readonly string[],
  ): Promise<Map<string, { owner?: { status: string; at: number; payload: string }; taskId?: string }>> {
    const out = new Map<
      string,
      { owner?: { status: string; at: number; payload: string }; taskId?: string }
    >();
    for (const part of chunk([...new Set(decisionKeys)], CHUNK)) {
      const rows = await this.db.all<{
        decision_key: string;
        kind: string;
        status: string;
        crm_id: string | null;
        payload: string;
        updated_at: number;
      }>(
        `SELECT decision_key, kind, status, crm_id, payload, updated_at FROM actions
         WHERE tenant_id = ? AND decision_key IN (${marks(part.length)})
           AND kind IN ('set_owner', 'set_queue', 'create_task', 'queue_task')`,
        [tenantId, ...part],
      );
      for (const r of rows) {
        const entry = out.get(r.decision_key) ?? {};
        if (r.kind === 'set_owner' || r.kind === 'set_queue')
          entry.owner = { status: r.status, at: num(r.updated_at), payload: r.payload };
        else if (r.crm_id !== null) entry.taskId = r.crm_id;
        out.set(r.decision_key, entry);
      }
    }
    return out;
  }

  /** Open timers of a tenant by state (the bench, the settings page). */
  async countByState(tenantId: string): Promise<Record<string, number>> {
    const rows = await this.db.all<{ state: string; n: number }>(
      'SELECT state, COUNT(*) AS n FROM sla_timers WHERE tenant_id = ? GROUP BY state',
      [tenantId],
    );
    return Object.fromEntries(rows.map((r) => [r.state, num(r.n)]));
  }
}
