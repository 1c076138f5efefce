// Runs bulk jobs inside the worker's housekeeping lane: pages a job's records from the CRM into the
// inbox as bulk work (behind every live event of the tenant), previews a dry run, ends a job once its
// last record is routed, and turns a rep deactivated in the CRM into a reassign when the team opted in.
// Listing goes through the tenant's connector, so it spends the same rate budget as routing does.
import type { Directory } from '../../../connectors/connector.js';
import { AccountIndex } from '../../core/accounts.js';
import { decide } from '../../core/decide.js';
import { applyStateChanges } from '../../core/state.js';
import type { Decision, RoutingState } from '../../core/types.js';
import type { Logger } from '../../log.js';
import {
  routingStateSchema,
  type BulkJob,
  type BulkJobRepository,
  type PreviewRow,
  type Storage,
} from '../../storage/index.js';
import { describeFailure, isRetryable, toFailure } from '../failures.js';
import { readLeadInputs } from '../lead-inputs.js';
import type { TenantRegistry, TenantRuntime } from '../runtime.js';
import { mergeDirectory } from '../team.js';
import { bulkEvent, keepWhenUnchanged } from './purpose.js';

/** What the worker calls: one step of bulk work per housekeeping pass, and each directory it refreshes. */
export interface BulkHooks {
  step(now: number): Promise<void>;
  directoryRefreshed(
    runtime: TenantRuntime,
    before: Directory | null,
    after: Directory,
    now: number,
  ): Promise<void>;
}

export interface BulkRunnerOptions {
  storage: Storage;
  jobs: BulkJobRepository;
  registry: TenantRegistry;
  logger: Logger;
  /** Who holds a job's listing lease (this process). */
  holder: string;
  /** How long a listing lease lasts without a page (default 60 s): a dead lister's job is taken over after. */
  leaseMs?: number | undefined;
  /** Pages listed per housekeeping pass (default 5): the lane goes back to routing in between. */
  pagesPerStep?: number | undefined;
  /** Time between looks for new or finished jobs when there is nothing to list (default 1 s). */
  idleMs?: number | undefined;
}

/** A transient CRM failure while listing: the job is tried again after this, or the CRM's Retry-After. */
const LIST_RETRY_MS = 5_000;

/** A dry run's row: what the decision would make of the record's owner. */
function previewOf(decision: Decision, currentOwner: string | undefined): PreviewRow {
  const dest = decision.destination;
  const destination = dest.kind === 'rep' ? 'rep' : dest.kind === 'queue' ? `queue ${dest.name}` : dest.kind;
  return {
    leadId: decision.leadId,
    currentOwner: currentOwner ?? null,
    newOwner: dest.kind === 'rep' ? dest.email : null,
    destination,
    rule: decision.route?.name ?? 'fallback',
  };
}

export class BulkRunner implements BulkHooks {
  private readonly leaseMs: number;
  private readonly pagesPerStep: number;
  private readonly idleMs: number;
  private nextLookAt = 0;

  constructor(private readonly opts: BulkRunnerOptions) {
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.pagesPerStep = opts.pagesPerStep ?? 5;
    this.idleMs = opts.idleMs ?? 1_000;
  }

  async step(now: number): Promise<void> {
    if (now < this.nextLookAt) return;
    try {
      await this.finishSettled(now);
      const more = await this.listSome(now);
      this.nextLookAt = more ? now : now + this.idleMs;
    } catch (error) {
      // Bulk work waits for the next pass; routing must not.
      this.nextLookAt = now + this.idleMs;
      this.opts.logger.error('bulk step failed', { error: toFailure(error).message });
    }
  }

  private async finishSettled(now: number): Promise<void> {
    for (const job of await this.opts.jobs.routing())
      if (await this.opts.jobs.finishIfSettled(job.id, now))
        this.opts.logger.info('bulk job done', {
          tenantId: job.tenantId,
          jobId: job.id,
          kind: job.kind,
          listed: job.listed,
        });
  }

  /** Lists up to `pagesPerStep` pages of one job; true when that job has more to list. */
  private async listSome(now: number): Promise<boolean> {
    const { jobs, logger, holder } = this.opts;
    const job = await jobs.claimListing(holder, this.leaseMs, now);
    if (job === null) return false;
    let runtime: TenantRuntime;
    try {
      runtime = await this.opts.registry.runtime(job.tenantId);
    } catch (error) {
      await this.failedPage(job, error, 'the CRM', now);
      return false;
    }
    const crm = runtime.connector.provider;
    let cursor = job.cursor;
    let previewState = job.previewState;
    let listed = job.listed;
    for (let n = 0; n < this.pagesPerStep; n++) {
      let added: number;
      let page;
      try {
        page = await runtime.connector.listLeads({
          since: job.params.since,
          unowned: job.params.unowned,
          owner: job.params.from,
          after: cursor ?? undefined,
        });
        if (job.dryRun) {
          const preview = await this.preview(runtime, page.ids, previewState, now);
          await jobs.addPreview(job.id, listed, preview.rows);
          previewState = preview.state;
          added = preview.rows.length;
        } else {
          added = (
            await this.opts.storage.enqueue(
              page.ids.map((id) => ({
                tenantId: job.tenantId,
                event: bulkEvent(job.id, id, now),
                priority: 'bulk',
              })),
              now,
            )
          ).length;
        }
      } catch (error) {
        await this.failedPage(job, error, crm, now);
        return false;
      }
      const last = page.after === undefined;
      const moved = await jobs.advance(
        job,
        holder,
        {
          cursor: page.after ?? cursor,
          added,
          remaining: page.remaining,
          last,
          previewState: previewState ?? undefined,
          ttlMs: this.leaseMs,
        },
        now,
      );
      // Another process took the job over (our lease lapsed): it lists from the stored cursor.
      if (!moved) return false;
      listed += added;
      cursor = page.after ?? cursor;
      if (last) {
        logger.info('bulk job listed', {
          tenantId: job.tenantId,
          jobId: job.id,
          kind: job.kind,
          listed,
          dryRun: job.dryRun,
        });
        return false;
      }
    }
    return true;
  }

  private async failedPage(job: BulkJob, error: unknown, crm: string, now: number): Promise<void> {
    const failure = toFailure(error);
    const reason = `list ${job.kind} records: ${describeFailure(failure, crm)}`;
    if (isRetryable(failure)) {
      const wait = 'details' in failure ? (failure.details.retryAfterMs ?? LIST_RETRY_MS) : LIST_RETRY_MS;
      await this.opts.jobs.release(job.id, this.opts.holder, now + wait, now);
      this.opts.logger.warn('bulk listing retried later', {
        tenantId: job.tenantId,
        jobId: job.id,
        error: reason,
      });
    } else {
      await this.opts.jobs.fail(job.id, this.opts.holder, reason, now);
      this.opts.logger.error('bulk job failed', { tenantId: job.tenantId, jobId: job.id, error: reason });
    }
  }

  /**
   * Decides a page as routing would, without writing: on the rotation as the dry run left it (the
   * stored one at first), so turns carry from page to page as a real run's would.
   */
  private async preview(
    runtime: TenantRuntime,
    ids: string[],
    stateJson: string | null,
    now: number,
  ): Promise<{ rows: PreviewRow[]; state: string }> {
    let state: RoutingState =
      stateJson === null
        ? (await this.opts.storage.loadRoutingState(runtime.tenantId)).state
        : routingStateSchema.parse(JSON.parse(stateJson));
    const rows: PreviewRow[] = [];
    if (ids.length > 0) {
      const team = mergeDirectory(runtime.team, await runtime.connector.directory()).team;
      const inputs = await readLeadInputs(runtime.connector, runtime.ruleSet, ids);
      const accounts = AccountIndex.build(inputs.accounts);
      for (const id of ids) {
        const lead = inputs.leads.get(id);
        if (lead === undefined) continue;
        const decision = keepWhenUnchanged(
          decide(lead, runtime.ruleSet, { team, state, accounts }, now),
          lead,
          runtime.ruleSet,
          team,
        );
        state = applyStateChanges(state, decision.stateChanges);
        rows.push(previewOf(decision, lead.owner));
      }
    }
    return { rows, state: JSON.stringify(state) };
  }

  /**
   * Reps active in the last directory and deactivated in this one. When the team opted in
   * (`reassign_deactivated: true`), each starts a reassign of their records — one open job per rep, so a
   * deactivation noticed by several workers starts it once.
   */
  async directoryRefreshed(
    runtime: TenantRuntime,
    before: Directory | null,
    after: Directory,
    now: number,
  ): Promise<void> {
    if (before === null) return;
    const wasActive = new Set(before.owners.filter((o) => o.active).map((o) => o.email.toLowerCase()));
    const left = after.owners.filter((o) => !o.active && wasActive.has(o.email.toLowerCase()));
    for (const owner of left) {
      const rep = owner.email.toLowerCase();
      const context = { tenantId: runtime.tenantId, rep };
      if (runtime.team.reassignDeactivated !== true) {
        this.opts.logger.warn(
          'rep deactivated in the CRM; their leads stay until `lead-router reassign`',
          context,
        );
        continue;
      }
      try {
        const { job, created } = await startReassign(
          this.opts.jobs,
          runtime.tenantId,
          rep,
          false,
          'directory refresh',
          now,
        );
        this.opts.logger.warn('rep deactivated in the CRM: reassigning their leads', {
          ...context,
          jobId: job.id,
          created,
        });
      } catch (error) {
        this.opts.logger.error('reassign not started', { ...context, error: toFailure(error).message });
      }
    }
  }
}

/** The open reassign job for `rep`, started now or earlier (idempotent per tenant and rep). */
export function startReassign(
  jobs: BulkJobRepository,
  tenantId: string,
  rep: string,
  dryRun: boolean,
  startedBy: string,
  now: number,
): ReturnType<BulkJobRepository['start']> {
  const email = rep.trim().toLowerCase();
  return jobs.start(
    {
      tenantId,
      kind: 'reassign',
      key: `reassign:${email}${dryRun ? ':dry-run' : ''}`,
      params: { from: email },
      dryRun,
      startedBy,
    },
    now,
  );
}
