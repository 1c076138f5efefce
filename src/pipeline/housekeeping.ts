// The housekeeping lane's chores, between its batches: expired leases returned, due holds turned into
// inbox events, bulk jobs paged in, SLA timers fired and notifications sent, paused tenants' credentials
// tried again, idle tenants let go of, CRM call counts recorded, and rows past their retention purged. None of them may stop routing: a failure waits for the next pass.
import type { BackoffPolicy } from '../../connectors/shared/retry.js';
import type { Logger } from '../log.js';
import type { PurgeCounts, RetentionPolicy, Storage } from '../storage/index.js';
import type { ReapedDeadLetter } from '../storage/inbox.js';
import { deadLetterNotifications, type Notifier } from '../notify/notifier.js';
import type { RuleSet } from '../core/types.js';
import type { BulkHooks } from './bulk/runner.js';
import { CRM_CALLS_FLUSH_MS, type CrmCallTally } from './crm-call-tally.js';
import type { CrmLists } from './crm-lists.js';
import { notifyingRuleSet, type TenantRegistry } from './runtime.js';
import type { LeadOutcome } from './settle.js';
import type { SlaProcessor } from './sla/processor.js';
import { HOLD_TIMEOUT_SUBSCRIPTION } from './triage.js';

/** SLA batches per housekeeping pass; more waits for the lane's next turn. */
const SLA_ROUNDS = 10;

export interface RetentionOptions {
  policy: RetentionPolicy;
  /** Time between purge passes (default 60 s). */
  everyMs?: number | undefined;
  /** Rows of each kind per delete (default 500): short transactions that never hold up routing for long. */
  batchSize?: number | undefined;
}

/** Batches per purge pass; a bigger backlog goes on at the lane's next turn rather than waiting a pass. */
const PURGE_ROUNDS = 10;

export interface HousekeepingDeps {
  storage: Storage;
  registry: TenantRegistry;
  workerId: string;
  logger: Logger;
  backoff: BackoffPolicy;
  /** Holds turned into inbox events per pass. */
  batchSize: number;
  lists: CrmLists;
  retention?: RetentionOptions | undefined;
  bulk?: BulkHooks | undefined;
  slaTimers?: SlaProcessor | undefined;
  notifier?: Notifier | undefined;
  /** This process's tally of CRM call outcomes, added to the database every 15 s. */
  crmCalls?: Pick<CrmCallTally, 'flush'> | undefined;
  /** This worker is the only one on its database: its first pass takes back every lease at once. */
  soleWorker: boolean;
  claimHolder: () => string;
  deadLettered: (tenantId: string) => void;
  /** A lead the reaper dead-lettered (the console's line for it, as for one its job dead-lettered). */
  settled?: ((outcome: LeadOutcome) => void) | undefined;
  purged: (kind: keyof PurgeCounts, rows: number) => void;
}

export class Housekeeping {
  /** When the next purge pass is due (epoch ms). */
  private nextPurgeAt = 0;
  private nextCrmCallsFlushAt = 0;
  private takeOverPending: boolean;

  constructor(private readonly deps: HousekeepingDeps) {
    this.takeOverPending = deps.soleWorker;
  }

  /**
   * The housekeeping lane's chores: return expired leases, time out due holds, and — once per
   * retention interval — purge rows past their retention in batches.
   */
  async run(now: number): Promise<void> {
    const reaped = await this.reap(now);
    for (const dead of reaped.deadLetters) {
      const { tenantId, leadId, reason } = dead;
      this.deps.logger.error('lead dead-lettered', { tenantId, leadId, inboxId: dead.id, reason });
      this.deps.deadLettered(tenantId);
      this.deps.settled?.({
        kind: 'dead_letter',
        tenantId,
        leadId,
        who: `lead ${leadId}`,
        reason,
        inboxId: dead.id,
      });
    }
    await this.processHolds(now);
    await this.deps.bulk?.step(now);
    await this.fireSlaTimers(now);
    await this.checkPausedTenants(now);
    this.evictIdleTenants();
    await this.flushCrmCalls(now);
    await this.purge(now);
  }

  /** Adds this process's CRM call tally to the database; a failure keeps it for the next pass. */
  private async flushCrmCalls(now: number): Promise<void> {
    if (this.deps.crmCalls === undefined || now < this.nextCrmCallsFlushAt) return;
    this.nextCrmCallsFlushAt = now + CRM_CALLS_FLUSH_MS;
    try {
      await this.deps.crmCalls.flush();
    } catch (error) {
      this.deps.logger.error('CRM call counts not recorded', {
        workerId: this.deps.workerId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /**
   * Due SLA timers, then due notifications. Neither may stop routing: a failure is logged and the
   * work waits for the next pass.
   */
  private async fireSlaTimers(now: number): Promise<void> {
    try {
      for (let round = 0; round < SLA_ROUNDS && this.deps.slaTimers !== undefined; round++)
        if ((await this.deps.slaTimers.runOnce(now)) === 0) break;
      if (this.deps.notifier !== undefined)
        await this.deps.notifier.deliverDue(this.deps.claimHolder(), now, async (tenantId, name) => {
          // The published rule set names the channel even when the tenant's runtime cannot be built.
          const known = await notifyingRuleSet(this.deps.registry, tenantId);
          if ('error' in known) throw new Error(known.error);
          return known.ruleSet.notifications?.[name];
        });
    } catch (error) {
      this.deps.logger.error('SLA timers or notifications not processed', {
        workerId: this.deps.workerId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async purge(now: number): Promise<void> {
    const retention = this.deps.retention;
    if (retention === undefined || now < this.nextPurgeAt) return;
    const batch = retention.batchSize ?? 500;
    const everyMs = retention.everyMs ?? 60_000;
    let more = false;
    try {
      for (let round = 0; round < PURGE_ROUNDS; round++) {
        const counts = await this.deps.storage.purgeExpired(now, retention.policy, batch);
        for (const [kind, rows] of Object.entries(counts) as [keyof PurgeCounts, number][])
          if (rows > 0) this.deps.purged(kind, rows);
        more = Object.values(counts).some((rows) => rows >= batch);
        if (!more) break;
      }
    } catch (error) {
      // Purging can wait for the next pass; routing must not.
      this.deps.logger.error('retention purge failed', {
        workerId: this.deps.workerId,
        error: error instanceof Error ? error.message : String(error),
      });
      more = false;
    }
    this.nextPurgeAt = more ? now : now + everyMs;
  }

  /** Paused tenants whose check is due: their credentials tried again, and those accepted resumed. */
  private async checkPausedTenants(now: number): Promise<void> {
    try {
      await this.deps.registry.checkPaused?.(now);
    } catch (error) {
      this.deps.logger.error('paused tenants not checked', {
        workerId: this.deps.workerId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** Lets go of what idle tenants hold in memory: their runtime, directory, sequence list and accounts. */
  private evictIdleTenants(): void {
    this.deps.registry.evictIdle?.();
    this.deps.lists.evict();
  }

  /**
   * Returns expired leases; the first time, a sole worker takes back every lease. Items dead-lettered
   * for too many expired leases are notified in the same transaction, to the channels of their tenant's
   * rule set, loaded beforehand for the tenants concerned; a tenant whose rule set cannot be loaded has
   * its dead letters logged as not notified.
   */
  private async reap(now: number): ReturnType<Storage['reapExpired']> {
    const takeOver = this.takeOverPending;
    const maxAttempts = this.deps.backoff.maxAttempts;
    const ruleSets = new Map<string, RuleSet>();
    const unknown = new Map<string, string>();
    if (this.deps.notifier !== undefined)
      for (const tenantId of await this.deps.storage.tenantsToDeadLetter(
        takeOver ? Number.MAX_SAFE_INTEGER : now,
        maxAttempts,
      )) {
        const known = await notifyingRuleSet(this.deps.registry, tenantId);
        if ('error' in known) unknown.set(tenantId, known.error);
        else ruleSets.set(tenantId, known.ruleSet);
      }
    const options = {
      maxAttempts,
      notify:
        this.deps.notifier === undefined
          ? undefined
          : (dead: ReapedDeadLetter) => {
              const ruleSet = ruleSets.get(dead.tenantId);
              return ruleSet === undefined ? [] : deadLetterNotifications(ruleSet, dead.tenantId, dead, now);
            },
    };
    let reaped: Awaited<ReturnType<Storage['reapExpired']>>;
    if (!takeOver) reaped = await this.deps.storage.reapExpired(now, options);
    else {
      const taken = await this.deps.storage.takeOverLeases(now, options);
      this.takeOverPending = false;
      if (taken.requeued + taken.deadLettered + taken.actions > 0)
        this.deps.logger.info('took back the leases of a previous run', {
          workerId: this.deps.workerId,
          inboxItems: taken.requeued + taken.deadLettered,
          actions: taken.actions,
        });
      reaped = taken;
    }
    if (this.deps.notifier !== undefined) {
      const untold = new Map<string, number>();
      for (const { tenantId } of reaped.deadLetters)
        if (!ruleSets.has(tenantId)) untold.set(tenantId, (untold.get(tenantId) ?? 0) + 1);
      for (const [tenantId, count] of untold)
        this.deps.logger.error('dead letters not notified: no rule set names their channels', {
          tenantId,
          count,
          error: unknown.get(tenantId) ?? 'its lease expired while the rule set was being loaded',
        });
    }
    return reaped;
  }

  /**
   * Turns due holds into inbox events (one per hold, deduplicated by the inbox), so a timed-out lead
   * is re-decided durably like any other event. Returns how many were new.
   */
  async processHolds(now: number): Promise<number> {
    const due = await this.deps.storage.dueHolds(now, { limit: this.deps.batchSize });
    if (due.length === 0) return 0;
    const added = await this.deps.storage.enqueue(
      due.map((h) => ({
        tenantId: h.tenantId,
        event: {
          eventId: `hold-timeout:${h.id}`,
          subscription: HOLD_TIMEOUT_SUBSCRIPTION,
          kind: 'changed' as const,
          objectId: h.leadId,
          value: String(h.id),
          occurredAt: h.until,
        },
      })),
      now,
    );
    return added.length;
  }
}
