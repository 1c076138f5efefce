// Decisions, committed together with what they imply — rotation changes (compare-and-set), planned
// actions, the SLA timer, the lead's hold, the notification and the closing of the lead's open dead
// letters — in one transaction; and read back for explain and the activity view.
import { emptyChanges, hasChanges } from '../core/state.js';
import type { RoutingStateChanges } from '../core/types.js';
import type { ActionRepository } from './actions.js';
import type { Db } from './db.js';
import { insertDecisionInputsWith } from './decision-inputs.js';
import { StorageError } from './errors.js';
import type { HoldRepository } from './holds.js';
import { closeDeadLettersWith } from './inbox.js';
import { insertNotificationsWith, withdrawNotificationsWith } from './notifications.js';
import {
  actionListSchema,
  DECIDED_AGAIN,
  decidedBeforeKey,
  decisionSlaSchema,
  resolvedDestinationSchema,
  routingStateSchema,
  traceSchema,
  type CommitResult,
  type DecisionInput,
  type DecisionRecord,
  type StateVersions,
} from './model.js';
import type { RotationRepository } from './rotation.js';
import {
  casTransaction,
  chunk,
  KEY_CHUNK,
  marks,
  ownerOf,
  poolOf,
  readJson,
  ROW_CHUNK,
  validate,
} from './shared.js';
import type { SlaTimerRepository } from './sla-timers.js';

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

export class DecisionRepository {
  constructor(
    private readonly db: Db,
    private readonly parts: {
      rotation: RotationRepository;
      actions: ActionRepository;
      holds: HoldRepository;
      slaTimers: SlaTimerRepository;
    },
  ) {}

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
   * was decided from (see `RotationRepository.applyWith`). A committed decision is written with its trace, planned
   * actions, SLA timer and notification, and places the lead's hold (a hold decision) or releases it. A key committed
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
    for (const input of inputs)
      if (input.decidedAgain !== undefined && decidedBeforeKey(input.decisionKey) === undefined)
        throw new StorageError(
          'invalid',
          `decision ${input.decisionKey} is decided again but its key does not end with ${DECIDED_AGAIN}`,
        );
    const sets = inputs.map((input, i) =>
      hasChanges(input.decision.stateChanges)
        ? validate(routingStateSchema, input.decision.stateChanges, `routing state changes of decision ${i}`)
        : null,
    );
    // Lost a race with a concurrent transaction (the same decision key, a deadlock): nothing was written.
    return casTransaction(
      this.db,
      (tx) => this.commitWith(tx, tenantId, inputs, sets, expected, now),
      () => inputs.map((): CommitResult => ({ status: 'conflict' })),
    );
  }

  async commitWith(
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
    const applied = await this.parts.rotation.applyWith(
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
           destination, owner, ruleset_name, ruleset_version, actions, sla, trace, summary, event_at, pool,
           fallbacks)
         VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
         RETURNING id, decision_key`,
        part.flatMap(({ input: { decisionKey, decision, email, summary, eventAt } }) => [
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
          eventAt,
          poolOf(decision),
          decision.fallbacks === undefined || decision.fallbacks.length === 0
            ? null
            : JSON.stringify(decision.fallbacks),
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
    const planned = await this.parts.actions.insertWith(
      tx,
      tenantId,
      committed.flatMap(({ input: { decisionKey, decision } }) =>
        decision.actions.map((action) => ({ leadId: decision.leadId, decisionKey, action })),
      ),
      now,
    );
    // A lead decided again: what the decision before planned and did not write is never written (its
    // refused owner write included); done actions stay done. Its notification not sent yet is withdrawn.
    for (const { input } of committed) {
      const before = decidedBeforeKey(input.decisionKey);
      if (input.decidedAgain === undefined || before === undefined) continue;
      await tx.run(
        `UPDATE actions SET status = 'failed', error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
         WHERE tenant_id = ? AND decision_key = ? AND status = 'planned'`,
        [input.decidedAgain.reason, now, tenantId, before],
      );
      await withdrawNotificationsWith(
        tx,
        tenantId,
        input.decidedAgain.withdrawNotifications ?? [],
        input.decidedAgain.reason,
        now,
      );
    }
    await this.parts.slaTimers.armWith(
      tx,
      tenantId,
      committed.map(({ input }) => ({ decisionKey: input.decisionKey, decision: input.decision })),
      now,
    );
    await this.parts.holds.settleWith(
      tx,
      tenantId,
      committed.map(({ input }) => input.decision),
      now,
    );
    await insertNotificationsWith(
      tx,
      committed.flatMap(({ input }) => input.notifications ?? []),
      now,
    );
    // The lead is routed again: a dead letter of it left open would replay the older decision's writes
    // over this one's (its owner over the new owner, a second task).
    await closeDeadLettersWith(
      tx,
      tenantId,
      committed.map(({ input }) => ({
        leadId: input.decision.leadId,
        decisionKey: input.decisionKey,
        owner: ownerOf(input.decision),
      })),
      now,
    );

    // What was inserted is answered as inserted; a decision decided before, or one some of whose actions
    // were stored already (the insert skipped them), has its actions read.
    const unanswered = committed
      .filter(({ input }) => (planned.get(input.decisionKey)?.length ?? 0) < input.decision.actions.length)
      .map(({ input }) => input.decisionKey);
    const actions = await this.parts.actions.actionsOfWith(tx, tenantId, [...unanswered, ...existing.keys()]);
    for (const [key, list] of planned) if (!actions.has(key)) actions.set(key, list);
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

  /** Each lead's latest decision (of those decided), by lead id: whom the Health page's dead letters name. */
  async latestOf(tenantId: string, leadIds: readonly string[]): Promise<Map<string, DecisionRecord>> {
    const latest = new Map<string, DecisionRecord>();
    for (const part of chunk([...new Set(leadIds)], KEY_CHUNK)) {
      const rows = await this.db.all<DecisionRow>(
        `SELECT * FROM decisions WHERE tenant_id = ? AND lead_id IN (${marks(part.length)}) ORDER BY id`,
        [tenantId, ...part],
      );
      for (const r of rows) latest.set(r.lead_id, toDecision(r));
    }
    return latest;
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
}
