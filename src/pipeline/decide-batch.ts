// Deciding a batch: the leads and their accounts read in batch calls, each lead decided by the core on
// one copy of the rotation, and the batch committed in one transaction; decisions whose rotation rows
// changed meanwhile are decided again on a fresh read.
import { CrmError } from '../../connectors/connector.js';
import { AccountIndex } from '../core/accounts.js';
import { decide } from '../core/decide.js';
import { summarizeDecision } from '../core/explain.js';
import { applyStateChanges } from '../core/state.js';
import type { Account, Decision, Lead, RoutingState, Team } from '../core/types.js';
import type { Logger } from '../log.js';
import { assignmentMessageId, assignmentNotifications } from '../notify/notifier.js';
import { decidedBeforeKey, type CommitResult, type DecisionInput, type Storage } from '../storage/index.js';
import { isBulkPurpose, keepWhenUnchanged } from './bulk/purpose.js';
import { InternalFailure, toFailure } from './failures.js';
import { recordOf, ROUTE_PURPOSE, type Job, type OwnerRefusal, type TenantBatch } from './job.js';
import type { AccountCache } from './account-cache.js';
import type { InFlightLookups } from './in-flight-lookups.js';
import { crmAccounts, readLeadInputs, type AccountSource } from './lead-inputs.js';
import type { TenantRuntime } from './runtime.js';
import { needlessReason } from './write-plan.js';
import { asReroute } from './sla/processor.js';

/**
 * A decision made again after the CRM refused the owner chosen before as inactive: the trace says so
 * first (the candidates it lists were read from the CRM afresh).
 */
export function asDecidedAgain(decision: Decision, refused: OwnerRefusal, crm: string): Decision {
  return {
    ...decision,
    trace: {
      ...decision.trace,
      steps: [
        `Decided again: ${crm} refused ${refused.owner}, chosen first, as inactive; its users were read again`,
        ...decision.trace.steps,
      ],
    },
  };
}

export interface DecisionInfo {
  tenantId: string;
  lead: Lead;
  decision: Decision;
  summary: string;
}

/** What a batch decides on: its leads, and the accounts matching their domains. */
export interface BatchInputs {
  pending: { job: Job; lead: Lead }[];
  accounts: AccountIndex;
  accountsById: ReadonlyMap<string, Account>;
}

/** A decision made, not yet committed. */
interface Draft {
  job: Job;
  lead: Lead;
  decision: Decision;
  input: DecisionInput;
}

export interface BatchDeciderDeps {
  storage: Storage;
  logger: Logger;
  /** Re-decisions after a rotation-state conflict before the item is retried later. */
  maxConflictRetries: number;
  onDecision?: ((info: DecisionInfo) => void) | undefined;
  /** Accounts a bulk job looked up in its earlier batches; absent: every lookup goes to the CRM. */
  accounts?: AccountCache | undefined;
  /** Live lookups in flight, which a batch meeting the same domains joins (absent: not shared). */
  liveAccounts?: InFlightLookups<string, Account[]> | undefined;
  /** Assignments are notified to the rule set's channels (recorded with their decision). */
  notify?: boolean | undefined;
}

export class BatchDecider {
  /** Per tenant, the end of the last decideAll queued in this process (see decideAll). */
  private readonly turns = new Map<string, Promise<void>>();

  constructor(private readonly deps: BatchDeciderDeps) {}

  /**
   * What deciding needs from the CRM, in batch calls: the leads to decide (a missing one fails its job)
   * and the accounts matching their domains: a live lead's from the CRM (joining a call another batch
   * has in flight for the same domains), a bulk job's lead's through the job's account cache (an answer
   * up to its TTL old).
   */
  async readInputs(runtime: TenantRuntime, crm: string, toDecide: Job[], now: number): Promise<BatchInputs> {
    const record = (leadId: string): string => recordOf(runtime, leadId);
    const pending: { job: Job; lead: Lead }[] = [];
    if (toDecide.length === 0) return { pending, accounts: AccountIndex.build([]), accountsById: new Map() };
    const { leads, accounts } = await readLeadInputs(
      runtime.connector,
      runtime.ruleSet,
      toDecide.map((j) => j.leadId),
      this.accountSources(runtime, toDecide, now),
      this.liveAccounts(runtime),
    );

    for (const job of toDecide) {
      const lead = leads.get(job.leadId);
      if (lead === undefined) {
        job.failures.push({
          error: new CrmError('not_found', `${record(job.leadId)} not found in ${crm}`),
          what: `read ${record(job.leadId)}`,
        });
      } else if (lead.convertedFrom !== undefined && job.purpose === ROUTE_PURPOSE) {
        // A record made by converting a lead (a Salesforce Contact) did not enter the CRM: it was routed
        // as that lead and is being worked. A backfill, a reassign or an SLA re-route still routes it.
        job.noWork = true;
        this.deps.logger.info(
          `not routed: converted from lead ${lead.convertedFrom}, which was routed as a lead`,
          { tenantId: runtime.tenantId, leadId: job.leadId, convertedFrom: lead.convertedFrom },
        );
      } else {
        // A bulk job's record was created long ago: its owner write is not a speed-to-lead figure.
        if (lead.createdAt !== undefined && !isBulkPurpose(job.purpose)) job.createdAt = lead.createdAt;
        pending.push({ job, lead });
      }
    }
    return {
      pending,
      accounts: AccountIndex.build(accounts),
      accountsById: new Map(accounts.map((a) => [a.id, a])),
    };
  }

  /** The CRM's answer of the moment, shared with the batches asking for the same domains meanwhile. */
  private liveAccounts(runtime: TenantRuntime): AccountSource {
    const crm = crmAccounts(runtime.connector);
    return this.deps.liveAccounts?.joined(runtime.tenantId, crm) ?? crm;
  }

  /** Per lead of a bulk job, its job's cached lookups; a live lead's (undefined) go to the CRM. */
  private accountSources(
    runtime: TenantRuntime,
    jobs: readonly Job[],
    now: number,
  ): ((leadId: string) => AccountSource | undefined) | undefined {
    const cache = this.deps.accounts;
    if (cache?.enabled !== true) return undefined;
    const crm = crmAccounts(runtime.connector);
    const byScope = new Map<string, AccountSource>();
    const byLead = new Map<string, AccountSource | undefined>();
    for (const job of jobs) {
      // A lead in the batch for a live event as well is looked up fresh for both.
      if (!isBulkPurpose(job.purpose) || (byLead.has(job.leadId) && byLead.get(job.leadId) === undefined)) {
        byLead.set(job.leadId, undefined);
        continue;
      }
      let source = byScope.get(job.purpose);
      if (source === undefined) {
        source = cache.source(runtime.tenantId, job.purpose, crm, now);
        byScope.set(job.purpose, source);
      }
      if (!byLead.has(job.leadId)) byLead.set(job.leadId, source);
    }
    return (leadId) => byLead.get(leadId);
  }

  /**
   * Decides and commits the batch's leads: the rotation is read once, the leads are decided on it in
   * order and committed in one transaction; those answered `conflict` are decided again on a fresh read.
   *
   * A tenant's batches in this process take turns: each reads the rotation the one before committed.
   * Side by side, they would all decide on the same read and every commit but the first would find its
   * pools moved, again at each retry (on PostgreSQL a burst's ten batches in flight deferred a fifth of
   * its leads so). Only the deciding waits its turn; reading the CRM and writing back stay concurrent.
   * Another process's commits are still caught by the compare-and-set.
   */
  async decideAll(batch: TenantBatch, inputs: BatchInputs, now: number): Promise<void> {
    const tenantId = batch.runtime.tenantId;
    const mine = (this.turns.get(tenantId) ?? Promise.resolve()).then(() =>
      this.decideInTurn(batch, inputs, now),
    );
    const done = mine.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(tenantId, done);
    try {
      await mine;
    } finally {
      if (this.turns.get(tenantId) === done) this.turns.delete(tenantId);
    }
  }

  private async decideInTurn(batch: TenantBatch, inputs: BatchInputs, now: number): Promise<void> {
    const tenantId = batch.runtime.tenantId;
    let pending = inputs.pending;
    if (pending.length === 0) return;
    // Read once per batch; again only after a conflict, for the decisions that must be made again.
    let versioned = await this.deps.storage.loadRoutingState(tenantId);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > this.deps.maxConflictRetries) {
        const error = new InternalFailure(
          'storage',
          new Error('routing state kept changing under concurrent decisions'),
        );
        for (const { job } of pending)
          job.failures.push({
            error,
            what: `decide ${recordOf(batch.runtime, job.leadId)}`,
          });
        return;
      }
      const drafts = await this.draft(batch, pending, versioned.state, inputs, now);
      if (drafts.length === 0) return;
      let results: CommitResult[];
      try {
        results = await this.deps.storage.commitDecisions(
          tenantId,
          drafts.map((d) => d.input),
          versioned.versions,
          now,
        );
      } catch (error) {
        const e = toFailure(error);
        for (const { job } of drafts)
          job.failures.push({
            error: e,
            what: `decide ${recordOf(batch.runtime, job.leadId)}`,
          });
        return;
      }
      pending = [];
      for (const [k, draft] of drafts.entries()) {
        const result = results[k] ?? { status: 'conflict' };
        if (result.status === 'conflict') pending.push({ job: draft.job, lead: draft.lead });
        else this.decided(tenantId, draft, result);
      }
      if (pending.length > 0) versioned = await this.deps.storage.loadRoutingState(tenantId);
    }
  }

  /**
   * Decides the leads in order on one copy of the rotation, each seeing the turns the ones before it
   * took, as one commit will write them. A held lead still missing data needs nothing written.
   */
  private async draft(
    batch: TenantBatch,
    pending: { job: Job; lead: Lead }[],
    state: RoutingState,
    { accounts, accountsById }: Omit<BatchInputs, 'pending'>,
    now: number,
  ): Promise<Draft[]> {
    const { runtime, merged } = batch;
    const team: Team = merged.team;
    const drafts: Draft[] = [];
    let current = state;
    for (const { job, lead } of pending) {
      try {
        const hold = job.hold === undefined ? undefined : { route: job.hold.route, since: job.hold.since };
        const excludeReps = job.exclude;
        const decided = decide(
          lead,
          runtime.ruleSet,
          { team, state: current, accounts, hold, excludeReps },
          now,
        );
        const made = isBulkPurpose(job.purpose)
          ? keepWhenUnchanged(decided, lead, runtime.ruleSet, team)
          : excludeReps === undefined
            ? decided
            : asReroute(decided, excludeReps);
        const again = job.decidedAgain;
        const decision = again === undefined ? made : asDecidedAgain(made, again, batch.crm);
        // Still held, nothing to write. Not so for a lead decided again: the decision before released its
        // hold, so the new hold is committed (and that decision's unwritten actions fail with it).
        if (job.hold !== undefined && decision.destination.kind === 'hold' && again === undefined) {
          job.noWork = true;
          continue;
        }
        if (!job.effectClaimed) {
          const claim = await this.deps.storage.claimEffect(
            runtime.tenantId,
            job.leadId,
            job.purpose,
            job.item.id,
            now,
          );
          if (claim === 'taken') {
            job.noWork = true;
            continue;
          }
          job.effectClaimed = true;
        }
        current = applyStateChanges(current, decision.stateChanges);
        // The summary (the console's line, notifications) names no task the CRM will not get.
        const written = decision.actions.filter(
          (a) => needlessReason(a, merged, runtime.connector.profile) === undefined,
        );
        const summary = summarizeDecision({ ...decision, actions: written }, lead, team);
        const before = again === undefined ? undefined : decidedBeforeKey(job.decisionKey);
        drafts.push({
          job,
          lead,
          decision,
          input: {
            decisionKey: job.decisionKey,
            decision,
            email: lead.email,
            summary,
            eventAt: job.item.event.occurredAt,
            decidedAgain:
              again === undefined || before === undefined
                ? undefined
                : {
                    reason: `not written: ${batch.crm} refused ${again.owner} as inactive (${again.failure.error.message}); the lead was decided again`,
                    // The owner refused is not told of a lead they do not get (unless it was sent already).
                    withdrawNotifications: [assignmentMessageId(runtime.tenantId, before)],
                  },
            inputs: { lead, account: accountsById.get(decision.trace.account?.accountId ?? '') ?? null },
            notifications:
              this.deps.notify === true
                ? assignmentNotifications(
                    runtime.ruleSet,
                    runtime.tenantId,
                    {
                      decisionKey: job.decisionKey,
                      decision,
                      summary,
                      decidedAgain:
                        again === undefined
                          ? undefined
                          : `decided again: ${batch.crm} refused ${again.owner} as inactive`,
                    },
                    now,
                  )
                : undefined,
          },
        });
      } catch (error) {
        job.failures.push({
          error: toFailure(error),
          what: `decide ${recordOf(batch.runtime, job.leadId)}`,
        });
      }
    }
    return drafts;
  }

  private decided(
    tenantId: string,
    { job, lead, decision, input }: Draft,
    result: Exclude<CommitResult, { status: 'conflict' }>,
  ): void {
    job.actions = result.actions;
    if (result.status === 'already_decided') {
      job.owner = result.decision.owner ?? undefined;
      job.told = { who: result.decision.email ?? `lead ${job.leadId}`, summary: result.decision.summary };
      return;
    }
    job.told = { who: lead.email ?? `lead ${lead.id}`, summary: input.summary };
    const dest = decision.destination;
    job.owner = dest.kind === 'rep' ? dest.email : undefined;
    this.deps.logger.info('lead decided', {
      tenantId,
      leadId: job.leadId,
      route: decision.route?.name ?? 'fallback',
      destination: dest.kind,
      owner: job.owner,
      queue: dest.kind === 'queue' ? dest.name : undefined,
      ruleSetVersion: decision.ruleSet.version,
    });
    this.deps.onDecision?.({ tenantId, lead, decision, summary: input.summary });
  }
}
