// Triage: what each inbox item of a batch asks for. A creation claims the lead's routing effect; a held
// lead's missing field or its timeout decides it again; a bulk job or an SLA re-route routes it once
// more; anything else completes without work. A decision committed by an earlier attempt is found, so
// a retry only writes what is missing.
import { firstDecisionKey, type InboxItem, type Storage } from '../storage/index.js';
import { latestDecisions } from './decide-again.js';
import { toFailure } from './failures.js';
import { bareJob, newJob, recordOf, ROUTE_PURPOSE, type Job } from './job.js';
import { bulkPurposeOf } from './bulk/purpose.js';
import { propertyFeedsFields } from './properties.js';
import type { TenantRuntime } from './runtime.js';
import { parseRerouteRequest, reroutePurpose, SLA_REROUTE_SUBSCRIPTION } from './sla/processor.js';

/** Subscription of the inbox events the worker enqueues itself when a hold times out. */
export const HOLD_TIMEOUT_SUBSCRIPTION = 'lead-router.hold-timeout';

/** Triage of a tenant's batches, over the storage that claims effects and keeps decisions. */
export class Triage {
  constructor(private readonly storage: Storage) {}

  /**
   * Triage of a batch, in item order. Creations (all of a burst) claim their effect keys and look up a
   * decision committed by an earlier attempt together; other events go one by one.
   */
  async triageAll(runtime: TenantRuntime, items: InboxItem[], now: number): Promise<Job[]> {
    const tenantId = runtime.tenantId;
    const jobs = new Map<InboxItem, Job>();
    const creations = items.filter(
      (item) => item.event.kind === 'created' && item.event.subscription !== HOLD_TIMEOUT_SUBSCRIPTION,
    );
    if (creations.length > 0) {
      try {
        const claims = await this.storage.claimEffects(
          tenantId,
          creations.map((item) => ({
            leadId: item.event.objectId,
            purpose: ROUTE_PURPOSE,
            inboxId: item.id,
          })),
          now,
        );
        const routing = creations.map((item, k) =>
          claims[k] === 'taken' ? newJob(item, '', { noWork: true }) : newJob(item, ROUTE_PURPOSE),
        );
        await this.withExistingEach(
          runtime,
          routing.filter((j) => !j.noWork),
        );
        for (const [k, item] of creations.entries()) jobs.set(item, routing[k]!);
      } catch (error) {
        for (const item of creations)
          jobs.set(
            item,
            bareJob(item, toFailure(error), `prepare ${recordOf(runtime, item.event.objectId)}`),
          );
      }
    }
    for (const item of items) {
      if (jobs.has(item)) continue;
      try {
        jobs.set(item, await this.triage(runtime, item, now));
      } catch (error) {
        jobs.set(item, bareJob(item, toFailure(error), `prepare ${recordOf(runtime, item.event.objectId)}`));
      }
    }
    return items.map((item) => jobs.get(item)!);
  }

  /**
   * What an event other than a creation asks for (creations: `triageAll`, effect `route`). A change of
   * a field a hold waits for, or the hold's timeout → decide again (effect `route:hold:<id>`, shared by
   * both, so a release and a timeout racing route the lead once). Anything else completes without work.
   */
  private async triage(runtime: TenantRuntime, item: InboxItem, now: number): Promise<Job> {
    const tenantId = runtime.tenantId;
    const ev = item.event;
    const leadId = ev.objectId;
    const noWork = (): Job => newJob(item, '', { noWork: true });

    // A backfill or reassign asks for the lead to be routed again, once per job.
    const bulk = bulkPurposeOf(ev);
    if (bulk !== undefined) {
      const claim = await this.storage.claimEffect(tenantId, leadId, bulk, item.id, now);
      return claim === 'taken' ? noWork() : this.withExistingOne(tenantId, newJob(item, bulk));
    }

    if (ev.subscription === SLA_REROUTE_SUBSCRIPTION) {
      const { exclude, timerId, checkpoint } = parseRerouteRequest(ev.value);
      const purpose = reroutePurpose(timerId, checkpoint);
      if ((await this.storage.claimEffect(tenantId, leadId, purpose, item.id, now)) === 'taken')
        return noWork();
      return this.withExistingOne(tenantId, newJob(item, purpose, { exclude }));
    }
    const hold = await this.storage.activeHold(tenantId, leadId);
    const relevant =
      hold !== null &&
      (ev.subscription === HOLD_TIMEOUT_SUBSCRIPTION
        ? ev.value === String(hold.id)
        : ev.property !== undefined &&
          propertyFeedsFields(runtime.connector.profile.leadFieldProperties, ev.property, hold.fields));
    if (hold !== null && relevant) {
      const purpose = `route:hold:${hold.id}`;
      const existing = await this.storage.findDecision(tenantId, `${leadId}:${purpose}`);
      if (existing === null) return newJob(item, purpose, { hold }); // the effect is claimed after deciding
      const claim = await this.storage.claimEffect(tenantId, leadId, purpose, item.id, now);
      if (claim === 'taken') return noWork();
      return this.withExistingOne(tenantId, newJob(item, purpose));
    }

    // A retry of a row that already re-decided a held lead: the hold is released by then, so resume
    // the decision this row owns from its planned actions.
    if (item.attempts > 1) {
      const prefix = `${leadId}:route:hold:`;
      const keys = new Set(
        (await this.storage.pendingActions(tenantId, leadId))
          .map((a) => firstDecisionKey(a.decisionKey))
          .filter((k) => k.startsWith(prefix)),
      );
      for (const key of keys) {
        const purpose = key.slice(leadId.length + 1);
        const claim = await this.storage.claimEffect(tenantId, leadId, purpose, item.id, now);
        if (claim !== 'taken') return this.withExistingOne(tenantId, newJob(item, purpose));
      }
    }
    return noWork();
  }

  /**
   * Marks the jobs whose decision an earlier attempt committed: only its planned actions remain. A lead
   * decided again after its owner was refused as inactive goes on from the last decision made again.
   */
  private async withExisting(tenantId: string, jobs: Job[]): Promise<void> {
    if (jobs.length === 0) return;
    const latest = await latestDecisions(
      this.storage,
      tenantId,
      jobs.map((j) => j.decisionKey),
    );
    if (latest.size === 0) return;
    const actions = await this.storage.actionsForDecisions(
      tenantId,
      [...latest.values()].map((d) => d.decisionKey),
    );
    for (const job of jobs) {
      const existing = latest.get(job.decisionKey);
      if (existing === undefined) continue;
      job.existing = true;
      job.decisionKey = existing.decisionKey;
      job.owner = existing.owner ?? undefined;
      job.told = { who: existing.email ?? `lead ${existing.leadId}`, summary: existing.summary };
      job.actions = actions.get(existing.decisionKey) ?? [];
    }
  }

  /**
   * `withExisting` for a batch; when reading it back fails (a stored row that does not parse), each job
   * alone, so the failure stays with the lead whose row it is.
   */
  private async withExistingEach(runtime: TenantRuntime, jobs: Job[]): Promise<void> {
    const tenantId = runtime.tenantId;
    try {
      await this.withExisting(tenantId, jobs);
    } catch {
      for (const job of jobs) {
        try {
          await this.withExisting(tenantId, [job]);
        } catch (error) {
          job.failures.push({
            error: toFailure(error),
            what: `read the stored decision of ${recordOf(runtime, job.leadId)}`,
          });
        }
      }
    }
  }

  private async withExistingOne(tenantId: string, job: Job): Promise<Job> {
    await this.withExisting(tenantId, [job]);
    return job;
  }
}
