// The durable worker: claims inbox items, routes each lead once, writes the decision back to the CRM.
// Exactly-once effect rests on storage, not on this process: an effect claim per (lead, purpose) picks
// the one inbox row that may act, a decision key makes the commit idempotent, and planned actions
// record what was already written, so a retry after a crash or a 429 redoes only what is missing.
// This file composes the rooms that do each part: the loop (loop.ts, housekeeping.ts), triage
// (triage.ts), deciding (decide-batch.ts), writing back (write-plan.ts, write-back.ts, notes.ts through
// the create protocol of creates.ts), deciding again a lead whose owner the CRM refused as inactive
// (decide-again.ts) and settling (settle.ts).
import { DEFAULT_BACKOFF, type BackoffPolicy } from '../../connectors/shared/retry.js';
import type { Logger } from '../log.js';
import type { ClaimOptions, InboxItem, PurgeCounts, Storage } from '../storage/index.js';
import type { Notifier } from '../notify/notifier.js';
import type { BulkHooks } from './bulk/runner.js';
import { CreateProtocol } from './creates.js';
import { CrmLists } from './crm-lists.js';
import { BatchDecider, type DecisionInfo } from './decide-batch.js';
import { DecideAgain } from './decide-again.js';
import { toFailure } from './failures.js';
import type { CrmCallTally } from './crm-call-tally.js';
import { Housekeeping, type RetentionOptions } from './housekeeping.js';
import { bareJob, recordOf, type Job, type TenantBatch } from './job.js';
import { Lanes } from './loop.js';
import { NoteWriter, type NotePace } from './notes.js';
import { notifyingRuleSet, type TenantRegistry, type TenantRuntime } from './runtime.js';
import { renewWhileRunning } from './lease-renewal.js';
import { Settler, type LeadOutcome } from './settle.js';
import { SlaProcessor, type SlaProcessorOptions } from './sla/processor.js';
import { mergeDirectory } from './team.js';
import { InFlightLookups } from './in-flight-lookups.js';
import { Triage } from './triage.js';
import { WriteBack } from './write-back.js';

export { HOLD_TIMEOUT_SUBSCRIPTION } from './triage.js';
export type { DecisionInfo } from './decide-batch.js';
export type { LeadOutcome } from './settle.js';
export type { RetentionOptions } from './housekeeping.js';

export interface WorkerOptions {
  storage: Storage;
  registry: TenantRegistry;
  workerId: string;
  clock: () => number;
  logger: Logger;
  /**
   * Inbox items per batch (100). Unset, a full batch of a tenant whose CRM writes more records per
   * call (Salesforce's 200-record Collections) is topped up to that many.
   */
  batchSize?: number;
  leaseMs?: number;
  idleMs?: number;
  onDecision?: (info: DecisionInfo) => void;
  /** A lead's routing settled: routed (its writes done) or a dead letter. Never for a retry later. */
  onSettled?: (outcome: LeadOutcome) => void;
  backoff?: Partial<BackoffPolicy>;
  /** How long a tenant's CRM directory and sequence list are reused. */
  directoryTtlMs?: number;
  /**
   * Batches in flight at once. One batch waits on the CRM most of the time (reads, searches, writes);
   * several keep the CRM's rate budget busy. Claims and rotation updates are atomic, so lanes never
   * share work or a turn. Default 4.
   */
  concurrency?: number;
  /**
   * Batches of one tenant in flight at once across every worker sharing the database (default 2), or
   * the number for a tenant's provider: a tenant's batches mostly wait on its own CRM budget, and lanes
   * beyond what that budget keeps busy are left for the other tenants.
   */
  maxBatchesPerTenant?: ClaimOptions['maxBatchesPerTenant'];
  /**
   * How long a bulk job reuses an account it looked up (domain → accounts, none included) for its later
   * batches (default 5 min; 0: never). Live leads always look accounts up in the CRM.
   */
  accountCacheTtlMs?: number;
  /** How long a tenant's directory and sequence list stay in memory after its last batch (default 10 min). */
  tenantIdleMs?: number;
  /** Tenants whose directory and sequence list are kept in memory at most (default 1,000). */
  maxTenants?: number;
  /** Re-decisions after a rotation-state conflict before the item is retried later. */
  maxConflictRetries?: number;
  /** An owner write was confirmed by the CRM, for a lead created at `leadCreatedAt` (epoch ms). */
  onOwnerWritten?: (tenantId: string, leadCreatedAt: number) => void;
  /** An inbox item of the tenant moved to the dead letters. */
  onDeadLetter?: (tenantId: string) => void;
  /** This process's CRM call outcomes, added to the database by the housekeeping lane (the Health page). */
  crmCalls?: Pick<CrmCallTally, 'flush'> | undefined;
  /** What the housekeeping lane purges, and when; absent: nothing is ever purged. */
  retention?: RetentionOptions | undefined;
  /** Rows of a kind purged by the housekeeping lane (for metrics). */
  onPurged?: (kind: keyof PurgeCounts, rows: number) => void;
  /**
   * This worker is the only one on its database (one app on a SQLite file it holds): at start it takes
   * back every lease at once — they can only be a crashed predecessor's — instead of waiting
   * `leaseMs` for them to expire.
   */
  soleWorker?: boolean;
  /** Bulk jobs (backfill, reassign): paged into the inbox by the housekeeping lane; deactivations noticed. */
  bulk?: BulkHooks | undefined;
  /**
   * Where notifications are sent from (the housekeeping lane delivers them); present, assignments, SLA
   * steps and dead letters (the reaper's too) record theirs with the decision, step or dead letter.
   * Absent: none.
   */
  notifier?: Notifier | undefined;
  /** SLA timers, fired by the housekeeping lane; `false`: not fired by this worker. */
  sla?:
    | Partial<
        Pick<
          SlaProcessorOptions,
          'batchSize' | 'leaseMs' | 'recheckMs' | 'retryMs' | 'gatherMs' | 'onStep' | 'onChecked'
        >
      >
    | false;
}

/** SLA batches per housekeeping pass; more waits for the lane's next turn. */

const DEFAULT_TTL_MS = 5 * 60_000;
const DEFAULT_BATCHES_PER_TENANT = 2;
const DEFAULT_TENANT_IDLE_MS = 10 * 60_000;
const DEFAULT_MAX_TENANTS = 1_000;

export class Worker {
  private readonly storage: Storage;
  private readonly registry: TenantRegistry;
  private readonly workerId: string;
  private readonly clock: () => number;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly topUp: boolean;
  private readonly leaseMs: number;
  private readonly maxBatchesPerTenant: NonNullable<ClaimOptions['maxBatchesPerTenant']>;
  private readonly onOwnerWritten: WorkerOptions['onOwnerWritten'];
  private readonly onDeadLetter: WorkerOptions['onDeadLetter'];
  private readonly onPurged: WorkerOptions['onPurged'];
  /** Notifications are recorded (a notifier is given). */
  private readonly notifies: boolean;
  private claims = 0;

  private readonly lanes: Lanes;
  private readonly housekeeping: Housekeeping;
  private readonly lists: CrmLists;
  private readonly triage: Triage;
  private readonly decider: BatchDecider;
  private readonly writeBack: WriteBack;
  private readonly decideAgain: DecideAgain;
  private readonly notes: NoteWriter;
  private readonly settler: Settler;

  constructor(options: WorkerOptions) {
    this.storage = options.storage;
    this.registry = options.registry;
    this.workerId = options.workerId;
    this.clock = options.clock;
    this.logger = options.logger;
    this.batchSize = options.batchSize ?? 100;
    this.topUp = options.batchSize === undefined;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.maxBatchesPerTenant = options.maxBatchesPerTenant ?? DEFAULT_BATCHES_PER_TENANT;
    this.onOwnerWritten = options.onOwnerWritten;
    this.onDeadLetter = options.onDeadLetter;
    this.onPurged = options.onPurged;
    this.notifies = options.notifier !== undefined;
    const backoff: BackoffPolicy = { ...DEFAULT_BACKOFF, ...options.backoff };
    const claimHolder = (): string => this.claimHolder();

    this.lanes = new Lanes({
      concurrency: Math.max(1, options.concurrency ?? 4),
      idleMs: options.idleMs ?? 250,
      logger: this.logger,
      workerId: this.workerId,
    });
    this.lists = new CrmLists({
      storage: this.storage,
      clock: this.clock,
      ttlMs: options.directoryTtlMs ?? DEFAULT_TTL_MS,
      accountTtlMs: options.accountCacheTtlMs ?? DEFAULT_TTL_MS,
      idleMs: options.tenantIdleMs ?? DEFAULT_TENANT_IDLE_MS,
      maxTenants: options.maxTenants ?? DEFAULT_MAX_TENANTS,
      bulk: options.bulk,
    });
    const slaTimers =
      options.sla === false
        ? undefined
        : new SlaProcessor({
            ...options.sla,
            storage: options.storage,
            timers: options.storage.slaTimers,
            registry: options.registry,
            directory: (runtime, now) => this.lists.directory(runtime, now),
            logger: options.logger,
            workerId: options.workerId,
            clock: options.clock,
            notify: options.notifier !== undefined,
          });
    // A lead's routing settled: told by its job, or by the reaper that dead-lettered it.
    const settled = (outcome: LeadOutcome): void =>
      this.notify('onSettled', () => options.onSettled?.(outcome));
    this.housekeeping = new Housekeeping({
      storage: this.storage,
      registry: this.registry,
      workerId: this.workerId,
      logger: this.logger,
      backoff,
      batchSize: this.batchSize,
      lists: this.lists,
      retention: options.retention,
      crmCalls: options.crmCalls,
      bulk: options.bulk,
      slaTimers,
      notifier: options.notifier,
      soleWorker: options.soleWorker ?? false,
      claimHolder,
      deadLettered: (tenantId) => this.notify('onDeadLetter', () => this.onDeadLetter?.(tenantId)),
      settled,
      purged: (kind, rows) => this.notify('onPurged', () => this.onPurged?.(kind, rows)),
    });
    this.triage = new Triage(this.storage);
    this.decider = new BatchDecider({
      storage: this.storage,
      logger: this.logger,
      maxConflictRetries: options.maxConflictRetries ?? 5,
      onDecision: options.onDecision,
      accounts: this.lists.accounts,
      liveAccounts: new InFlightLookups(),
      notify: options.notifier !== undefined,
    });
    const creates = new CreateProtocol({ storage: this.storage, logger: this.logger, clock: this.clock });
    this.writeBack = new WriteBack({
      storage: this.storage,
      clock: this.clock,
      creates,
      lists: this.lists,
      leaseMs: this.leaseMs,
      claimHolder,
      ownerWritten: (tenantId, createdAt) =>
        this.notify('onOwnerWritten', () => this.onOwnerWritten?.(tenantId, createdAt)),
    });
    this.decideAgain = new DecideAgain({
      lists: this.lists,
      decider: this.decider,
      writeBack: this.writeBack,
    });
    this.notes = new NoteWriter({
      storage: this.storage,
      registry: this.registry,
      logger: this.logger,
      creates,
      leaseMs: this.leaseMs,
      claimHolder,
    });
    this.settler = new Settler({
      storage: this.storage,
      registry: this.registry,
      logger: this.logger,
      backoff,
      deadLettered: (tenantId) => this.notify('onDeadLetter', () => this.onDeadLetter?.(tenantId)),
      notify: options.notifier !== undefined,
      settled,
    });
  }

  /** Runs a caller's hook; a hook that throws must not fail the batch it reports on. */
  private notify(hook: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.logger.warn('worker hook failed', { hook, error: String(error) });
    }
  }

  /**
   * Who holds a claim on inbox rows or actions: this worker and one batch (or flush) of it, so that a
   * lane taking over an item whose lease lapsed never shares a claim with the lane still working on it,
   * and a tenant's batches in flight can be counted.
   */
  private claimHolder(): string {
    this.claims += 1;
    return `${this.workerId}/${this.claims}`;
  }

  // -------------------------------------------------------------------------------------------------
  // Loop

  /** Runs until stop(): reap expired leases, time out due holds, process a batch; sleep when idle. */
  start(): void {
    // One lane also does the housekeeping (reaper, hold timeouts, retention) and writes the notes;
    // every lane processes batches.
    this.lanes.start(async (lane) => {
      const housekeeping = lane === 0;
      if (housekeeping) await this.housekeep(this.clock());
      const handled = await this.runOnce();
      if (housekeeping) await this.flushNotes(this.clock(), handled === 0 ? 'idle' : 'busy');
      return handled;
    });
  }

  /** Cuts the idle sleep short (new work was enqueued). */
  wake(): void {
    this.lanes.wake();
  }

  /** Finishes the in-flight batches, then resolves. */
  async stop(): Promise<void> {
    await this.lanes.stop();
    try {
      await this.flushNotes(this.clock(), 'stop');
    } catch (error) {
      // Notes stay planned and are written by the next start.
      this.logger.warn('notes not flushed at stop', { workerId: this.workerId, error: String(error) });
    }
  }

  /** The housekeeping lane's chores (see housekeeping.ts). */
  housekeep(now: number): Promise<void> {
    return this.housekeeping.run(now);
  }

  /** Turns due holds into inbox events; returns how many were new. */
  processHolds(now: number): Promise<number> {
    return this.housekeeping.processHolds(now);
  }

  /** Writes the planned notes that are ripe (see notes.ts); returns how many were written. */
  flushNotes(now: number, pace: NotePace): Promise<number> {
    return this.notes.flush(now, pace);
  }

  // -------------------------------------------------------------------------------------------------
  // One batch

  /**
   * Claims one tenant's batch — tenants take turns, each with at most `maxBatchesPerTenant` batches in
   * flight — and handles it; returns how many inbox items it handled.
   */
  async runOnce(): Promise<number> {
    const now = this.clock();
    const holder = this.claimHolder();
    const items = await this.storage.claim({
      workerId: holder,
      limit: this.batchSize,
      leaseMs: this.leaseMs,
      now,
      maxBatchesPerTenant: this.maxBatchesPerTenant,
    });
    const tenantId = items[0]?.tenantId;
    if (tenantId === undefined) return 0;
    if (this.topUp && items.length >= this.batchSize)
      items.push(...(await this.topUpBatch(tenantId, holder, items.length, now)));
    const ids = items.map((i) => i.id);
    const stopRenewing = renewWhileRunning(
      this.leaseMs,
      this.clock,
      (leaseUntil, at) => this.storage.renewLeases(ids, holder, leaseUntil, at),
      (error) => this.logger.warn('leases not renewed', { workerId: this.workerId, error: String(error) }),
    );
    try {
      await this.processTenant(tenantId, items, now, holder);
    } finally {
      stopRenewing();
    }
    return items.length;
  }

  /**
   * More of the tenant's due items, under the same lease holder (the same batch), up to what its CRM
   * writes in one call: a claim does not know the tenant it picks, so it takes the smallest batch.
   */
  private async topUpBatch(
    tenantId: string,
    holder: string,
    have: number,
    now: number,
  ): Promise<InboxItem[]> {
    let perCall: number;
    try {
      perCall = (await this.registry.runtime(tenantId)).connector.profile.batchSizes.owners;
    } catch {
      return []; // the batch as claimed; processing it reports why the tenant does not load
    }
    if (perCall <= have) return [];
    return this.storage.claim({
      tenantId,
      workerId: holder,
      limit: perCall - have,
      leaseMs: this.leaseMs,
      now,
    });
  }

  /** The connector's one-time reads for `leadIds` and the sequence list, all at once; never fails a batch. */
  private async prepare(runtime: TenantRuntime, leadIds: string[], now: number): Promise<void> {
    try {
      await Promise.all([runtime.connector.prepare?.(leadIds), this.lists.prepareSequences(runtime, now)]);
    } catch (error) {
      this.logger.debug('one-time reads not prepared', {
        tenantId: runtime.tenantId,
        error: String(error),
      });
    }
  }

  private async processTenant(
    tenantId: string,
    items: InboxItem[],
    now: number,
    holder: string,
  ): Promise<void> {
    let runtime: TenantRuntime;
    try {
      runtime = await this.registry.runtime(tenantId);
    } catch (error) {
      const e = toFailure(error);
      // Without a runtime, the published rule set can still name the channels its dead letters go to.
      const known = this.notifies ? await notifyingRuleSet(this.registry, tenantId) : undefined;
      await this.settler.settle(
        items.map((item) => bareJob(item, e, `load tenant ${tenantId}`)),
        now,
        'the CRM',
        holder,
        known === undefined || 'error' in known ? undefined : known.ruleSet,
      );
      return;
    }
    const crm = runtime.connector.profile.crmName;
    const jobs = await this.triage.triageAll(runtime, items, now);
    const live = (): Job[] => jobs.filter((j) => j.failures.length === 0 && !j.noWork);
    if (live().length > 0) {
      try {
        // The directory first: it also fills the connector's owner cache that reading leads uses. The
        // other one-time reads go beside it (on a tenant's first batch, each would otherwise wait on
        // the one before); a failed one is read again where it is needed.
        const [directory] = await Promise.all([
          this.lists.directory(runtime, now),
          this.prepare(
            runtime,
            live().map((j) => j.leadId),
            now,
          ),
        ]);
        const merged = mergeDirectory(runtime.team, directory);
        const inputs = await this.decider.readInputs(
          runtime,
          crm,
          live().filter((j) => !j.existing),
          now,
        );
        const batch: TenantBatch = { runtime, crm, merged };
        await this.decider.decideAll(batch, inputs, now);
        await this.writeBack.apply(batch, live(), now);
      } catch (error) {
        // A batch-level failure (directory, lead read, account search) belongs to every item left.
        const e = toFailure(error);
        for (const job of live())
          job.failures.push({
            error: e,
            what: `route ${recordOf(runtime, job.leadId)}`,
          });
      }
      // Leads whose owner the CRM refused as inactive, whatever became of the rest of the batch.
      await this.decideAgain.run(runtime, crm, jobs, now);
    }
    await this.settler.settle(jobs, now, crm, holder, runtime.ruleSet);
  }
}
