// Settling a batch's items once all their work is done: completed together when they went well, retried
// later with backoff, waiting for a reinstall, or dead-lettered with a reason a person can act on.
import { CrmError } from '../../connectors/connector.js';
import type { BackoffPolicy } from '../../connectors/shared/retry.js';
import type { RuleSet } from '../core/types.js';
import type { Logger } from '../log.js';
import { deadLetterNotifications } from '../notify/notifier.js';
import type { Storage } from '../storage/index.js';
import { InternalFailure, isRetryable, itemOutcome, toFailure } from './failures.js';
import type { Job } from './job.js';
import { TenantPausedError, TenantUninstalledError, type TenantRegistry } from './runtime.js';
import { failureReason } from './write-back.js';

/**
 * What became of a lead once its job settled: routed (every write of its decision done, the owner's
 * first) or a dead letter (also one the reaper made of it). A retry later is neither: its outcome is told
 * when a later attempt settles.
 */
export type LeadOutcome =
  | {
      kind: 'routed';
      tenantId: string;
      leadId: string;
      /** The decision's one-line summary (who, where to, why, the task and enrollment). */
      summary: string;
      /** When the lead was created in the CRM (epoch ms), when known. */
      createdAt: number | undefined;
    }
  | {
      kind: 'dead_letter';
      tenantId: string;
      leadId: string;
      /** The lead's email, else `lead <id>`. */
      who: string;
      reason: string;
      /** The dead letter's id, as `dead-letters list` and `replay` name it. */
      inboxId: number;
    };

export interface SettlerDeps {
  storage: Storage;
  registry: TenantRegistry;
  logger: Logger;
  backoff: BackoffPolicy;
  /** An item moved to the dead letters. */
  deadLettered: (tenantId: string) => void;
  /** Dead letters are notified to the rule set's channels (recorded with the dead letter). */
  notify?: boolean | undefined;
  /** A lead's routing is done or dead-lettered (the console's line for it). */
  settled?: ((outcome: LeadOutcome) => void) | undefined;
}

export class Settler {
  constructor(private readonly deps: SettlerDeps) {}

  /**
   * complete, retryLater or deadLetter — once per item, after all its work; the items that went well are
   * completed together. `ruleSet`: the tenant's, whose channels hear of a dead letter (absent when
   * neither its runtime nor its published rule set loaded: then no channel is known, and its dead
   * letters are logged as not notified).
   */
  async settle(jobs: Job[], now: number, crm: string, holder: string, ruleSet?: RuleSet): Promise<void> {
    await this.markRefused(jobs);
    const done = jobs.filter((j) => j.failures.length === 0);
    await this.deps.storage.completeMany(
      done.map((j) => j.item.id),
      holder,
      now,
    );
    for (const job of done)
      if (!job.noWork && job.told !== undefined)
        this.deps.settled?.({
          kind: 'routed',
          tenantId: job.item.tenantId,
          leadId: job.leadId,
          summary: job.told.summary,
          createdAt: job.createdAt,
        });
    this.logInternal(jobs);
    let untold = 0;
    for (const job of jobs)
      if (job.failures.length > 0 && (await this.settleFailed(job, now, crm, holder, ruleSet)))
        untold += this.deps.notify === true && ruleSet === undefined ? 1 : 0;
    if (untold > 0)
      this.deps.logger.error('dead letters not notified: no rule set names their channels', {
        tenantId: jobs[0]?.item.tenantId,
        count: untold,
      });
  }

  /**
   * Our own faults, each logged once with its stack and kind (`bug` or `storage`), so they are fixed as
   * what they are: a batch-level one is shared by every job of the batch.
   */
  private logInternal(jobs: Job[]): void {
    const logged = new Set<InternalFailure>();
    for (const job of jobs) {
      for (const { error, what } of job.failures) {
        if (!(error instanceof InternalFailure) || logged.has(error)) continue;
        logged.add(error);
        this.deps.logger.error(error.kind === 'bug' ? 'bug in the worker' : 'database error in the worker', {
          tenantId: job.item.tenantId,
          leadId: job.leadId,
          kind: error.kind,
          what,
          error: error.message,
          stack: error.original.stack,
        });
      }
    }
  }

  /**
   * Refused credentials may mean the CRM account's policy turns us away for now (outside its login hours:
   * the tenant pauses), else that it uninstalled the app (the tenant is marked so): either way the
   * refused jobs wait instead of failing.
   */
  private async markRefused(jobs: Job[]): Promise<void> {
    const refused = jobs.filter((j) => j.failures.some((f) => isRefusedCredentials(f.error)));
    const refusal = refused[0]?.failures.map((f) => f.error).find(isRefusedCredentials);
    const tenantId = refused[0]?.item.tenantId;
    if (refusal === undefined || tenantId === undefined) return;
    const registry = this.deps.registry;
    const questions = [
      {
        ask: registry.confirmPaused?.bind(registry),
        answer: () => ({ error: new TenantPausedError(tenantId, refusal.message), what: 'pause the tenant' }),
        unasked: 'pause not recorded',
      },
      {
        ask: registry.confirmUninstalled?.bind(registry),
        answer: () => ({ error: new TenantUninstalledError(tenantId), what: 'check the install' }),
        unasked: 'install not checked',
      },
    ];
    for (const { ask, answer, unasked } of questions) {
      if (ask === undefined) continue;
      let yes = false;
      try {
        yes = await ask(tenantId, refusal);
      } catch (error) {
        this.deps.logger.warn(unasked, { tenantId, error: toFailure(error).message });
      }
      if (yes) {
        for (const job of refused) job.failures.push(answer());
        return;
      }
    }
  }

  private async settleFailed(
    job: Job,
    now: number,
    crm: string,
    holder: string,
    ruleSet: RuleSet | undefined,
  ): Promise<boolean> {
    const { item } = job;
    const reasons = job.failures.map((f) => failureReason(f.what, f.error, crm)).join('; ');
    const retryable = job.failures.find((f) => isRetryable(f.error));
    const outcome = itemOutcome(
      retryable?.error ?? job.failures[0]!.error,
      item.attempts,
      now,
      this.deps.backoff,
    );
    const fields = { tenantId: item.tenantId, leadId: job.leadId, inboxId: item.id, attempts: item.attempts };
    // Not a failure of the lead, so not an attempt of it either: however often its tenant pauses, it
    // keeps every attempt for failures of its own.
    const waitForTenant = { giveBackAttempt: true };
    if (job.failures.some((f) => f.error instanceof TenantUninstalledError)) {
      // It waits, unclaimed, until the CRM account installs the app again.
      this.deps.logger.info('lead waits for a reinstall', { ...fields, attempts: item.attempts - 1 });
      await this.deps.storage.retryLater(item.id, holder, now, reasons, now, waitForTenant);
      return false;
    }
    if (job.failures.some((f) => f.error instanceof TenantPausedError)) {
      // It waits, unclaimed, until the tenant resumes (said once per tenant).
      await this.deps.storage.retryLater(item.id, holder, now, reasons, now, waitForTenant);
      return false;
    }
    if (outcome.kind === 'retry_later') {
      this.deps.logger.warn('lead will be retried', {
        ...fields,
        runAfter: outcome.runAfter,
        reason: reasons,
      });
      await this.deps.storage.retryLater(item.id, holder, outcome.runAfter, reasons, now);
      return false;
    }
    const final = retryable === undefined ? reasons : `${reasons} (gave up after ${item.attempts} attempts)`;
    this.deps.logger.error('lead dead-lettered', { ...fields, reason: final });
    const notifications =
      this.deps.notify === true && ruleSet !== undefined
        ? deadLetterNotifications(
            ruleSet,
            item.tenantId,
            { id: item.id, leadId: item.event.objectId, reason: final },
            now,
          )
        : [];
    if (!(await this.deps.storage.deadLetter(item.id, holder, final, now, notifications))) return false;
    this.deps.deadLettered(item.tenantId);
    this.deps.settled?.({
      kind: 'dead_letter',
      tenantId: item.tenantId,
      leadId: job.leadId,
      who: job.told?.who ?? `lead ${job.leadId}`,
      reason: final,
      inboxId: item.id,
    });
    return true;
  }
}

/** The CRM refused the tenant's credentials (not a refusal this app already made sense of). */
function isRefusedCredentials(error: unknown): error is CrmError {
  return (
    error instanceof CrmError &&
    error.kind === 'auth' &&
    !(error instanceof TenantUninstalledError) &&
    !(error instanceof TenantPausedError)
  );
}
