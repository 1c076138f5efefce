// The durable worker: claims inbox items, routes each lead once, writes the decision back to the CRM.
// Exactly-once effect rests on storage, not on this process: an effect claim per (lead, purpose) picks
// the one inbox row that may act, a decision key makes the commit idempotent, and planned actions
// record what was already written, so a retry after a crash or a 429 redoes only what is missing.
import {
  CrmError,
  type CrmConnector,
  type Directory,
  type DirectoryOwner,
  type ItemResult,
} from '../../connectors/connector.js';
import { IdleCache } from '../../connectors/shared/idle-cache.js';
import { AccountIndex } from '../core/accounts.js';
import { decide } from '../core/decide.js';
import { summarizeDecision } from '../core/explain.js';
import { applyStateChanges } from '../core/state.js';
import type { Account, Decision, Lead, RoutingState, SequenceSpec, Team } from '../core/types.js';
import type { Logger } from '../log.js';
import type {
  CommitResult,
  DecisionInput,
  Hold,
  InboxItem,
  PlannedAction,
  PurgeCounts,
  RetentionPolicy,
  Storage,
} from '../storage/index.js';
import { matchEnrollment, matchNote, matchTask } from './existing.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from '../../connectors/shared/retry.js';
import {
  describeFailure,
  InternalFailure,
  isRetryable,
  itemOutcome,
  toFailure,
  type Failure,
} from './failures.js';
import { propertyFeedsFields } from './properties.js';
import { planWrites } from './write-plan.js';
import { readLeadInputs } from './lead-inputs.js';
import { bulkPurposeOf, isBulkPurpose, keepWhenUnchanged } from './bulk/purpose.js';
import type { BulkHooks } from './bulk/runner.js';
import { TenantUninstalledError, type TenantRegistry, type TenantRuntime } from './runtime.js';
import { mergeDirectory, type MergedTeam } from './team.js';
import {
  asReroute,
  parseRerouteRequest,
  reroutePurpose,
  SlaProcessor,
  SLA_REROUTE_SUBSCRIPTION,
  type SlaProcessorOptions,
} from './sla/processor.js';
import type { Notifier } from '../notify/notifier.js';

/** Subscription of the inbox events the worker enqueues itself when a hold times out. */
export const HOLD_TIMEOUT_SUBSCRIPTION = 'lead-router.hold-timeout';

export interface DecisionInfo {
  tenantId: string;
  lead: Lead;
  decision: Decision;
  summary: string;
}

/**
 * Notes per batch call (HubSpot's batch limit); how long a tenant's notes wait to be gathered once its
 * inbox is quiet, and at most while it is still routing; batches per flush.
 */
const NOTE_BATCH = 100;
const NOTE_DELAY_MS = 5_000;
const NOTE_MAX_WAIT_MS = 30_000;
const NOTE_ROUNDS = 10;

/**
 * How long after a create was sent the CRM is searched for it: HubSpot's search lags writes by "a few
 * moments", so looking sooner could miss a create that was applied and make it a second time.
 */
const DEFAULT_VERIFY_DELAY_MS = 5_000;

export interface WorkerOptions {
  storage: Storage;
  registry: TenantRegistry;
  workerId: string;
  clock: () => number;
  logger: Logger;
  batchSize?: number;
  leaseMs?: number;
  idleMs?: number;
  onDecision?: (info: DecisionInfo) => void;
  backoff?: Partial<BackoffPolicy>;
  /** How long a tenant's CRM directory and sequence list are reused. */
  directoryTtlMs?: number;
  /**
   * Batches in flight at once. One batch waits on the CRM most of the time (reads, searches, writes);
   * several keep the portal's rate budget busy. Claims and rotation updates are atomic, so lanes never
   * share work or a turn. Default 4.
   */
  concurrency?: number;
  /**
   * Batches of one tenant in flight at once across every worker sharing the database (default 2): a
   * tenant's batches mostly wait on its own CRM budget, and lanes beyond what that budget keeps busy are
   * left for the other tenants.
   */
  maxBatchesPerTenant?: number;
  /** How long a tenant's directory and sequence list stay in memory after its last batch (default 10 min). */
  tenantIdleMs?: number;
  /** Tenants whose directory and sequence list are kept in memory at most (default 1,000). */
  maxTenants?: number;
  /** Re-decisions after a rotation-state conflict before the item is retried later. */
  maxConflictRetries?: number;
  /** Wait after a create whose outcome is unknown before searching the CRM for it (default 5 s). */
  verifyDelayMs?: number;
  /** An owner write was confirmed by the CRM, for a lead created at `leadCreatedAt` (epoch ms). */
  onOwnerWritten?: (tenantId: string, leadCreatedAt: number) => void;
  /** An inbox item of the tenant moved to the dead letters. */
  onDeadLetter?: (tenantId: string, detail?: { leadId: string; reason: string }) => void;
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
  /** Where notifications are recorded and sent from (the housekeeping lane delivers them); absent: none. */
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

interface Job {
  item: InboxItem;
  leadId: string;
  decisionKey: string;
  purpose: string;
  /** Deciding a held lead again: the hold, passed to the core as context. */
  hold?: Hold | undefined;
  /** An SLA re-route: the reps who had the lead, never chosen again. */
  exclude?: string[] | undefined;
  /** The effect key is ours. A held lead decided again claims it only once it is decided to route. */
  effectClaimed: boolean;
  /** The decision is committed already (a retry): only its planned actions remain. */
  existing: boolean;
  /** The rep the decision assigned, for notes. */
  owner?: string | undefined;
  /** When the lead was created in the CRM (its `createdAt`, else the creation event's time), for metrics. */
  createdAt?: number | undefined;
  actions: PlannedAction[];
  failures: { error: Failure; what: string }[];
  /** Finished without work (effect taken, still held): complete it, nothing else. */
  noWork: boolean;
}

/** A tenant's sequences as last read, and when. */
interface SequenceList {
  at: number;
  list: { id: string; name: string }[];
}

/** A decision made, not yet committed. */
/** What a batch decides on: its leads, and the accounts matching their domains. */
interface BatchInputs {
  pending: { job: Job; lead: Lead }[];
  accounts: AccountIndex;
  accountsById: ReadonlyMap<string, Account>;
}

interface Draft {
  job: Job;
  lead: Lead;
  decision: Decision;
  input: DecisionInput;
}

function newJob(item: InboxItem, purpose: string, extra: Partial<Job> = {}): Job {
  const leadId = item.event.objectId;
  return {
    item,
    leadId,
    decisionKey: `${leadId}:${purpose}`,
    purpose,
    createdAt: item.event.kind === 'created' ? item.event.occurredAt : undefined,
    effectClaimed: extra.hold === undefined,
    existing: false,
    actions: [],
    failures: [],
    noWork: false,
    ...extra,
  };
}

interface TenantBatch {
  runtime: TenantRuntime;
  crm: string;
  merged: MergedTeam;
}

const DEFAULT_TTL_MS = 5 * 60_000;
const DEFAULT_BATCHES_PER_TENANT = 2;
const DEFAULT_TENANT_IDLE_MS = 10 * 60_000;
const DEFAULT_MAX_TENANTS = 1_000;

/**
 * A create that failed this way may have been applied by the CRM all the same: sent with no answer, or
 * cut short by a fault of ours that says nothing about what reached the CRM.
 */
function mayHaveLanded(error: Failure): boolean {
  return error instanceof InternalFailure || error.details.outcomeUnknown === true;
}

/** An action's result as the worker records it: the CRM's, or a failure of ours on the way. */
type Result = ItemResult | { ok: false; error: Failure };

/** A claimed create that fails: given back, keeping its unresolved send, or forgetting it (not applied). */
type Release = 'keep' | 'forget';

function sequenceLabel(spec: SequenceSpec): string {
  return spec.name !== undefined ? `'${spec.name}'` : `#${spec.id ?? '?'}`;
}

/** What an action does, in the CRM's words for the record (`noun`: the connector profile's recordNoun). */
function describeAction(a: PlannedAction, noun: (leadId: string) => string): string {
  const record = `${noun(a.leadId)} ${a.leadId}`;
  const action = a.action;
  switch (action.kind) {
    case 'set_owner':
      return `set owner of ${record} to ${action.email}`;
    case 'set_queue':
      return `assign ${record} to queue ${action.queue}`;
    case 'create_task':
      return `create task for ${record} assigned to ${action.assignee}`;
    case 'queue_task':
      return `create task for ${record} for queue ${action.queue}`;
    case 'enroll_sequence':
      return `enroll ${record} in sequence ${sequenceLabel(action.sequence)}`;
    case 'write_note':
      return `write note on ${record}`;
    default: {
      const never: never = action;
      throw new Error(`unhandled action ${JSON.stringify(never)}`);
    }
  }
}

/** What became of a batch's actions, stored together after each CRM call. */
class Outcomes {
  readonly done: { id: number; crmId: string | null }[] = [];
  readonly failed: { a: PlannedAction; reason: string }[] = [];
  /** Given back for a later attempt, keeping / forgetting an unresolved send. */
  readonly keep: number[] = [];
  readonly forget: number[] = [];

  release(id: number, how: Release): void {
    (how === 'keep' ? this.keep : this.forget).push(id);
  }
}

export class Worker {
  private readonly storage: Storage;
  private readonly registry: TenantRegistry;
  private readonly workerId: string;
  private readonly clock: () => number;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly idleMs: number;
  private readonly onDecision: ((info: DecisionInfo) => void) | undefined;
  private readonly backoff: BackoffPolicy;
  private readonly ttlMs: number;
  private readonly maxConflictRetries: number;
  private readonly verifyDelayMs: number;
  private readonly onOwnerWritten: WorkerOptions['onOwnerWritten'];
  private readonly onDeadLetter: WorkerOptions['onDeadLetter'];
  private readonly retention: WorkerOptions['retention'];
  private readonly onPurged: WorkerOptions['onPurged'];
  private readonly bulk: BulkHooks | undefined;
  /** When the housekeeping lane purges next (epoch ms). */
  private nextPurgeAt = 0;
  private readonly slaTimers: SlaProcessor | undefined;
  private readonly notifier: Notifier | undefined;
  private takeOverPending: boolean;

  /** Per tenant, evicted when idle: the CRM directory (also kept in storage) and the sequence list. */
  private readonly directories: IdleCache<string, Directory>;
  private readonly directoryFetches = new Map<string, Promise<Directory>>();
  private readonly sequenceLists: IdleCache<string, SequenceList>;
  private readonly sequenceFetches = new Map<string, Promise<SequenceList>>();

  private running = false;
  private claims = 0;
  private readonly concurrency: number;
  private readonly maxBatchesPerTenant: number;
  private lanes: Promise<void>[] = [];
  private readonly sleepers = new Set<() => void>();

  constructor(options: WorkerOptions) {
    this.storage = options.storage;
    this.registry = options.registry;
    this.workerId = options.workerId;
    this.clock = options.clock;
    this.logger = options.logger;
    this.batchSize = options.batchSize ?? 100;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.idleMs = options.idleMs ?? 250;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxBatchesPerTenant = Math.max(1, options.maxBatchesPerTenant ?? DEFAULT_BATCHES_PER_TENANT);
    const bounds = {
      idleMs: options.tenantIdleMs ?? DEFAULT_TENANT_IDLE_MS,
      maxEntries: options.maxTenants ?? DEFAULT_MAX_TENANTS,
      now: this.clock,
    };
    this.directories = new IdleCache(bounds);
    this.sequenceLists = new IdleCache(bounds);
    this.onDecision = options.onDecision;
    this.notifier = options.notifier;
    this.slaTimers =
      options.sla === false
        ? undefined
        : new SlaProcessor({
            ...options.sla,
            storage: options.storage,
            timers: options.storage.slaTimers,
            registry: options.registry,
            directory: (runtime, now) => this.directoryFor(runtime, now),
            logger: options.logger,
            workerId: options.workerId,
            notifier: options.notifier,
          });
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.ttlMs = options.directoryTtlMs ?? DEFAULT_TTL_MS;
    this.maxConflictRetries = options.maxConflictRetries ?? 5;
    this.verifyDelayMs = options.verifyDelayMs ?? DEFAULT_VERIFY_DELAY_MS;
    this.onOwnerWritten = options.onOwnerWritten;
    this.onDeadLetter = options.onDeadLetter;
    this.retention = options.retention;
    this.onPurged = options.onPurged;
    this.bulk = options.bulk;
    this.takeOverPending = options.soleWorker ?? false;
  }

  /** Runs a caller's hook; a hook that throws must not fail the batch it reports on. */
  private notify(hook: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.logger.warn('worker hook failed', { hook, error: String(error) });
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Loop

  /** Runs until stop(): reap expired leases, time out due holds, process a batch; sleep when idle. */
  start(): void {
    if (this.running) return;
    this.running = true;
    // One lane also does the housekeeping (reaper, hold timeouts, retention); every lane processes batches.
    this.lanes = Array.from({ length: this.concurrency }, (_, i) => this.run(i === 0));
  }

  /** Cuts the idle sleep short (new work was enqueued). */
  wake(): void {
    for (const wakeUp of [...this.sleepers]) wakeUp();
  }

  /** Finishes the in-flight batches, then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await Promise.all(this.lanes);
    this.lanes = [];
    try {
      await this.flushNotes(this.clock(), 'all');
    } catch (error) {
      // Notes stay planned and are written by the next start.
      this.logger.warn('notes not flushed at stop', { workerId: this.workerId, error: String(error) });
    }
  }

  private async run(housekeeping: boolean): Promise<void> {
    while (this.running) {
      let handled = 0;
      try {
        if (housekeeping) await this.housekeep(this.clock());
        handled = await this.runOnce();
        if (housekeeping) await this.flushNotes(this.clock(), handled === 0 ? 'idle' : 'busy');
      } catch (error) {
        // The batch's items stay leased and come back through the reaper; keep the loop alive.
        const failure = toFailure(error);
        this.logger.error('worker iteration failed', {
          workerId: this.workerId,
          kind: failure.kind,
          error: failure.message,
          stack: failure instanceof InternalFailure ? failure.original.stack : failure.stack,
        });
      }
      if (handled === 0 && this.running) await this.sleep(this.idleMs);
    }
  }

  /**
   * The housekeeping lane's chores: return expired leases, time out due holds, and — once per
   * retention interval — purge rows past their retention in batches.
   */
  async housekeep(now: number): Promise<void> {
    const reaped = await this.reap(now);
    for (const tenantId of reaped.deadLetteredTenants)
      this.notify('onDeadLetter', () => this.onDeadLetter?.(tenantId));
    await this.processHolds(now);
    await this.bulk?.step(now);
    await this.fireSlaTimers(now);
    this.evictIdleTenants();
    await this.purge(now);
  }

  /**
   * Due SLA timers, then due notifications. Neither may stop routing: a failure is logged and the
   * work waits for the next pass.
   */
  private async fireSlaTimers(now: number): Promise<void> {
    try {
      for (let round = 0; round < SLA_ROUNDS && this.slaTimers !== undefined; round++)
        if ((await this.slaTimers.runOnce(now)) === 0) break;
      if (this.notifier !== undefined)
        await this.notifier.deliverDue(this.claimHolder(), now, async (tenantId, name) => {
          return (await this.registry.runtime(tenantId)).ruleSet.notifications?.[name];
        });
    } catch (error) {
      this.logger.error('SLA timers or notifications not processed', {
        workerId: this.workerId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async purge(now: number): Promise<void> {
    const retention = this.retention;
    if (retention === undefined || now < this.nextPurgeAt) return;
    const batch = retention.batchSize ?? 500;
    const everyMs = retention.everyMs ?? 60_000;
    let more = false;
    try {
      for (let round = 0; round < PURGE_ROUNDS; round++) {
        const counts = await this.storage.purgeExpired(now, retention.policy, batch);
        for (const [kind, rows] of Object.entries(counts) as [keyof PurgeCounts, number][])
          if (rows > 0) this.notify('onPurged', () => this.onPurged?.(kind, rows));
        more = Object.values(counts).some((rows) => rows >= batch);
        if (!more) break;
      }
    } catch (error) {
      // Purging can wait for the next pass; routing must not.
      this.logger.error('retention purge failed', {
        workerId: this.workerId,
        error: error instanceof Error ? error.message : String(error),
      });
      more = false;
    }
    this.nextPurgeAt = more ? now : now + everyMs;
  }

  /** Lets go of what idle tenants hold in memory: their runtime, directory and sequence list. */
  private evictIdleTenants(): void {
    this.registry.evictIdle?.();
    this.directories.evict();
    this.sequenceLists.evict();
  }

  /** Returns expired leases; the first time, a sole worker takes back every lease. */
  private async reap(now: number): ReturnType<Storage['reapExpired']> {
    const options = { maxAttempts: this.backoff.maxAttempts };
    if (!this.takeOverPending) return this.storage.reapExpired(now, options);
    const taken = await this.storage.takeOverLeases(now, options);
    this.takeOverPending = false;
    if (taken.requeued + taken.deadLettered + taken.actions > 0)
      this.logger.info('took back the leases of a previous run', {
        workerId: this.workerId,
        inboxItems: taken.requeued + taken.deadLettered,
        actions: taken.actions,
      });
    return taken;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /**
   * Writes planned explanation notes in batches of up to 100, gathered across worker batches: a note is
   * context, not routing, so it may trail the owner write by a few seconds, and writing a handful per
   * batch would spend a tenth of a burst's rate budget on notes. Notes are claimed before they are
   * written, so the worker processes flushing at once never write one twice. A tenant's notes are
   * written once a full batch waits, once the oldest waited `NOTE_MAX_WAIT_MS`, or once its inbox is
   * quiet — at once when this worker is `idle`, after `NOTE_DELAY_MS` when it is `busy` with other
   * tenants; `all` (stopping) writes every note. Planned notes are durable, so a crash only delays them.
   */
  async flushNotes(now: number, pace: 'idle' | 'busy' | 'all'): Promise<number> {
    let written = 0;
    const ripe =
      pace === 'all'
        ? undefined
        : {
            fullBatch: NOTE_BATCH,
            overdueBefore: now - NOTE_MAX_WAIT_MS,
            quietBefore: pace === 'idle' ? now : now - NOTE_DELAY_MS,
          };
    for (let round = 0; round < NOTE_ROUNDS; round++) {
      const holder = this.claimHolder();
      const claimed = await this.storage.claimActionsOfKind('write_note', {
        workerId: holder,
        limit: NOTE_BATCH,
        leaseUntil: now + this.leaseMs,
        now,
        sentBefore: now - this.verifyDelayMs,
        ripe,
      });
      const byTenant = new Map<string, PlannedAction[]>();
      for (const a of claimed) byTenant.set(a.tenantId, [...(byTenant.get(a.tenantId) ?? []), a]);
      for (const [tenantId, notes] of byTenant)
        written += await this.writeNotes(tenantId, notes, holder, now);
      if (claimed.length < NOTE_BATCH) break;
    }
    return written;
  }

  /** Writes one tenant's claimed notes in one batch call, adopting those an unresolved send made. */
  private async writeNotes(
    tenantId: string,
    notes: PlannedAction[],
    holder: string,
    now: number,
  ): Promise<number> {
    const outcomes = new Outcomes();
    let connector: CrmConnector;
    try {
      connector = (await this.registry.runtime(tenantId)).connector;
    } catch (error) {
      this.logger.warn('notes not written', { tenantId, error: toFailure(error).message });
      await this.storage.releaseActions(
        tenantId,
        notes.map((a) => a.id),
        holder,
        now,
        { notApplied: false },
      );
      return 0;
    }
    const text = (a: PlannedAction): string => (a.action.kind === 'write_note' ? a.action.text : '');
    const fresh: PlannedAction[] = [];
    for (const a of notes) {
      if (a.sentAt === null) {
        fresh.push(a);
        continue;
      }
      try {
        const match = matchNote(await connector.findNotes(a.leadId), text(a), connector.profile.noteText);
        if (match === undefined) fresh.push(a);
        else {
          this.adopted(a, match.id);
          outcomes.done.push({ id: a.id, crmId: match.id });
        }
      } catch (error) {
        // Still unresolved: given back as it is, looked for again by the next flush.
        outcomes.keep.push(a.id);
        this.logger.warn('note not checked', {
          tenantId,
          leadId: a.leadId,
          error: toFailure(error).message,
        });
      }
    }
    const sending = await this.markSent(tenantId, fresh, holder);
    if (sending.length > 0) {
      let results: Result[];
      try {
        results = await connector.writeNotes(
          sending.map((a) => ({ leadId: a.leadId, text: text(a), key: a.key })),
        );
      } catch (error) {
        const e = toFailure(error);
        results = sending.map(() => ({ ok: false, error: e }));
      }
      for (const [j, a] of sending.entries()) {
        const result: Result = results[j] ?? { ok: false, error: new CrmError('invalid', 'no result') };
        if (result.ok) outcomes.done.push({ id: a.id, crmId: result.id ?? null });
        else if (!isRetryable(result.error))
          outcomes.failed.push({
            a,
            reason: `${describeAction(a, connector.profile.recordNoun)}: ${result.error.message}`,
          });
        else outcomes.release(a.id, mayHaveLanded(result.error) ? 'keep' : 'forget');
      }
    }
    return this.writeOutcomes(tenantId, outcomes, holder, now);
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

  /** Records that these claimed creates are sent now; returns those still ours to send. */
  private async markSent(
    tenantId: string,
    actions: PlannedAction[],
    holder: string,
  ): Promise<PlannedAction[]> {
    if (actions.length === 0) return [];
    const ids = new Set(
      await this.storage.markActionsSent(
        tenantId,
        actions.map((a) => a.id),
        holder,
        this.clock(),
      ),
    );
    return actions.filter((a) => ids.has(a.id));
  }

  private adopted(a: PlannedAction, crmId: string | undefined): void {
    this.logger.info('adopted a create an earlier attempt made', {
      tenantId: a.tenantId,
      leadId: a.leadId,
      kind: a.kind,
      crmId,
    });
  }

  /** Stores what became of claimed actions, in a few statements; returns how many were done. */
  private async writeOutcomes(
    tenantId: string,
    outcomes: Outcomes,
    holder: string,
    now: number,
  ): Promise<number> {
    const done = await this.storage.markActionsDone(tenantId, outcomes.done.splice(0), now);
    for (const { a, reason } of outcomes.failed.splice(0))
      await this.storage.markActionFailed(tenantId, a.id, reason, now);
    for (const [ids, notApplied] of [
      [outcomes.keep.splice(0), false],
      [outcomes.forget.splice(0), true],
    ] as const)
      if (ids.length > 0) await this.storage.releaseActions(tenantId, ids, holder, now, { notApplied });
    return done;
  }

  /**
   * Turns due holds into inbox events (one per hold, deduplicated by the inbox), so a timed-out lead
   * is re-decided durably like any other event. Returns how many were new.
   */
  async processHolds(now: number): Promise<number> {
    const due = await this.storage.dueHolds(now, { limit: this.batchSize });
    if (due.length === 0) return 0;
    return this.storage.enqueue(
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
    const renewal = this.keepLeased(
      items.map((i) => i.id),
      holder,
    );
    try {
      await this.processTenant(tenantId, items, now, holder);
    } finally {
      clearInterval(renewal);
    }
    return items.length;
  }

  /**
   * Renews the batch's leases while it runs (a batch of enrollments can take longer than a lease when
   * the rate budget is busy): only a worker that died lets its leases lapse and its leads be taken over.
   */
  private keepLeased(ids: number[], holder: string): NodeJS.Timeout {
    const timer = setInterval(
      () => {
        const at = this.clock();
        this.storage.renewLeases(ids, holder, at + this.leaseMs, at).catch((error: unknown) => {
          this.logger.warn('leases not renewed', { workerId: this.workerId, error: String(error) });
        });
      },
      Math.max(1, Math.floor(this.leaseMs / 3)),
    );
    // Never what keeps the process alive.
    timer.unref();
    return timer;
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
      await this.settle(
        items.map((item) => this.bareJob(item, e, `load tenant ${tenantId}`)),
        now,
        'the CRM',
        holder,
      );
      return;
    }
    const crm = runtime.connector.profile.crmName;
    const jobs = await this.triageAll(runtime, items, now);
    const live = (): Job[] => jobs.filter((j) => j.failures.length === 0 && !j.noWork);
    if (live().length > 0) {
      try {
        // The directory first: it also fills the connector's owner cache that reading leads uses.
        const merged = mergeDirectory(runtime.team, await this.directoryFor(runtime, now));
        const inputs = await this.readInputs(
          runtime,
          crm,
          live().filter((j) => !j.existing),
        );
        const batch: TenantBatch = { runtime, crm, merged };
        await this.decideAll(batch, inputs, now);
        await this.applyActions(batch, live(), now);
      } catch (error) {
        // A batch-level failure (directory, lead read, account search) belongs to every item left.
        const e = toFailure(error);
        for (const job of live())
          job.failures.push({
            error: e,
            what: `route ${runtime.connector.profile.recordNoun(job.leadId)} ${job.leadId}`,
          });
      }
    }
    await this.settle(jobs, now, crm, holder);
  }

  private bareJob(item: InboxItem, error: Failure, what: string): Job {
    return { ...newJob(item, ''), decisionKey: '', failures: [{ error, what }] };
  }

  /**
   * Triage of a batch, in item order. Creations (all of a burst) claim their effect keys and look up a
   * decision committed by an earlier attempt together; other events go one by one.
   */
  private async triageAll(runtime: TenantRuntime, items: InboxItem[], now: number): Promise<Job[]> {
    const tenantId = runtime.tenantId;
    const noun = runtime.connector.profile.recordNoun;
    const jobs = new Map<InboxItem, Job>();
    const creations = items.filter(
      (item) => item.event.kind === 'created' && item.event.subscription !== HOLD_TIMEOUT_SUBSCRIPTION,
    );
    if (creations.length > 0) {
      try {
        const claims = await this.storage.claimEffects(
          tenantId,
          creations.map((item) => ({ leadId: item.event.objectId, purpose: 'route', inboxId: item.id })),
          now,
        );
        const routing = creations.map((item, k) =>
          claims[k] === 'taken' ? newJob(item, '', { noWork: true }) : newJob(item, 'route'),
        );
        await this.withExistingEach(
          tenantId,
          routing.filter((j) => !j.noWork),
        );
        for (const [k, item] of creations.entries()) jobs.set(item, routing[k]!);
      } catch (error) {
        for (const item of creations)
          jobs.set(
            item,
            this.bareJob(
              item,
              toFailure(error),
              `prepare ${noun(item.event.objectId)} ${item.event.objectId}`,
            ),
          );
      }
    }
    for (const item of items) {
      if (jobs.has(item)) continue;
      try {
        jobs.set(item, await this.triage(runtime, item, now));
      } catch (error) {
        jobs.set(
          item,
          this.bareJob(item, toFailure(error), `prepare ${noun(item.event.objectId)} ${item.event.objectId}`),
        );
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
          .map((a) => a.decisionKey)
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

  /** Marks the jobs whose decision an earlier attempt committed: only its planned actions remain. */
  private async withExisting(tenantId: string, jobs: Job[]): Promise<void> {
    if (jobs.length === 0) return;
    const found = await this.storage.findDecisions(
      tenantId,
      jobs.map((j) => j.decisionKey),
    );
    if (found.size === 0) return;
    const actions = await this.storage.actionsForDecisions(tenantId, [...found.keys()]);
    for (const job of jobs) {
      const existing = found.get(job.decisionKey);
      if (existing === undefined) continue;
      job.existing = true;
      job.owner = existing.owner ?? undefined;
      job.actions = actions.get(job.decisionKey) ?? [];
    }
  }

  /**
   * `withExisting` for a batch; when reading it back fails (a stored row that does not parse), each job
   * alone, so the failure stays with the lead whose row it is.
   */
  private async withExistingEach(tenantId: string, jobs: Job[]): Promise<void> {
    try {
      await this.withExisting(tenantId, jobs);
    } catch {
      for (const job of jobs) {
        try {
          await this.withExisting(tenantId, [job]);
        } catch (error) {
          job.failures.push({
            error: toFailure(error),
            what: `read the stored decision of contact ${job.leadId}`,
          });
        }
      }
    }
  }

  private async withExistingOne(tenantId: string, job: Job): Promise<Job> {
    await this.withExisting(tenantId, [job]);
    return job;
  }

  // -------------------------------------------------------------------------------------------------
  // Deciding

  /**
   * What deciding needs from the CRM, in batch calls: the leads to decide (a missing one fails its job)
   * and the accounts matching their domains.
   */
  private async readInputs(runtime: TenantRuntime, crm: string, toDecide: Job[]): Promise<BatchInputs> {
    const record = (leadId: string): string => `${runtime.connector.profile.recordNoun(leadId)} ${leadId}`;
    const pending: { job: Job; lead: Lead }[] = [];
    if (toDecide.length === 0) return { pending, accounts: AccountIndex.build([]), accountsById: new Map() };
    const { leads, accounts } = await readLeadInputs(
      runtime.connector,
      runtime.ruleSet,
      toDecide.map((j) => j.leadId),
    );

    for (const job of toDecide) {
      const lead = leads.get(job.leadId);
      if (lead === undefined) {
        job.failures.push({
          error: new CrmError('not_found', `${record(job.leadId)} not found in ${crm}`),
          what: `read ${record(job.leadId)}`,
        });
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

  /**
   * Decides and commits the batch's leads: the rotation is read once, the leads are decided on it in
   * order and committed in one transaction; those answered `conflict` are decided again on a fresh read.
   */
  private async decideAll(batch: TenantBatch, inputs: BatchInputs, now: number): Promise<void> {
    const tenantId = batch.runtime.tenantId;
    let pending = inputs.pending;
    if (pending.length === 0) return;
    // Read once per batch; again only after a conflict, for the decisions that must be made again.
    let versioned = await this.storage.loadRoutingState(tenantId);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > this.maxConflictRetries) {
        const error = new InternalFailure(
          'storage',
          new Error('routing state kept changing under concurrent decisions'),
        );
        for (const { job } of pending)
          job.failures.push({
            error,
            what: `decide ${batch.runtime.connector.profile.recordNoun(job.leadId)} ${job.leadId}`,
          });
        return;
      }
      const drafts = await this.draft(batch, pending, versioned.state, inputs, now);
      if (drafts.length === 0) return;
      let results: CommitResult[];
      try {
        results = await this.storage.commitDecisions(
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
            what: `decide ${batch.runtime.connector.profile.recordNoun(job.leadId)} ${job.leadId}`,
          });
        return;
      }
      pending = [];
      for (const [k, draft] of drafts.entries()) {
        const result = results[k] ?? { status: 'conflict' };
        if (result.status === 'conflict') pending.push({ job: draft.job, lead: draft.lead });
        else this.decided(tenantId, draft, result);
      }
      if (pending.length > 0) versioned = await this.storage.loadRoutingState(tenantId);
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
        const decision = isBulkPurpose(job.purpose)
          ? keepWhenUnchanged(decided, lead, runtime.ruleSet, team)
          : excludeReps === undefined
            ? decided
            : asReroute(decided, excludeReps);
        if (job.hold !== undefined && decision.destination.kind === 'hold') {
          job.noWork = true;
          continue;
        }
        if (!job.effectClaimed) {
          const claim = await this.storage.claimEffect(
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
        const summary = summarizeDecision(decision, lead, team);
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
            inputs: { lead, account: accountsById.get(decision.trace.account?.accountId ?? '') ?? null },
          },
        });
      } catch (error) {
        job.failures.push({
          error: toFailure(error),
          what: `decide ${batch.runtime.connector.profile.recordNoun(job.leadId)} ${job.leadId}`,
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
      return;
    }
    const dest = decision.destination;
    job.owner = dest.kind === 'rep' ? dest.email : undefined;
    this.logger.info('lead decided', {
      tenantId,
      leadId: job.leadId,
      route: decision.route?.name ?? 'fallback',
      destination: dest.kind,
      owner: job.owner,
      queue: dest.kind === 'queue' ? dest.name : undefined,
      ruleSetVersion: decision.ruleSet.version,
    });
    this.onDecision?.({ tenantId, lead, decision, summary: input.summary });
  }

  // -------------------------------------------------------------------------------------------------
  // Writing back

  private async applyActions(batch: TenantBatch, jobs: Job[], now: number): Promise<void> {
    const { runtime, merged } = batch;
    const tenantId = runtime.tenantId;
    const connector = runtime.connector;
    const pending: { job: Job; a: PlannedAction }[] = [];
    for (const job of jobs) for (const a of job.actions) if (a.status === 'planned') pending.push({ job, a });
    const ownerOf = (email: string | undefined): DirectoryOwner | undefined =>
      email === undefined ? undefined : merged.ownerByEmail.get(email.toLowerCase());
    const missingOwner = (email: string): CrmError =>
      new CrmError('invalid', `no ${batch.crm} owner with the email ${email}`);

    const outcomes = new Outcomes();
    const holder = this.claimHolder();
    const claimedIds: number[] = [];
    const ownersWritten: Job[] = [];
    /** Stores what happened, after each CRM call: a retry then redoes only what is missing. */
    const flush = async (): Promise<void> => {
      await this.writeOutcomes(tenantId, outcomes, holder, now);
      for (const job of ownersWritten.splice(0)) {
        const createdAt = job.createdAt;
        if (createdAt !== undefined)
          this.notify('onOwnerWritten', () => this.onOwnerWritten?.(tenantId, createdAt));
      }
    };
    /**
     * `release` is given for a create this batch claimed: a retryable failure gives it back, keeping its
     * unresolved send ('keep') or not ('forget': the CRM's answer shows it did not apply it).
     */
    const record = (job: Job, a: PlannedAction, result: Result, release?: Release): void => {
      if (result.ok) {
        outcomes.done.push({ id: a.id, crmId: result.id ?? null });
        if (a.action.kind === 'set_owner') ownersWritten.push(job);
        return;
      }
      const what = describeAction(a, connector.profile.recordNoun);
      let error = result.error;
      if (!isRetryable(error)) outcomes.failed.push({ a, reason: this.reason(what, error, batch.crm) });
      else if (release !== undefined) {
        outcomes.release(a.id, release);
        // The next attempt must search the CRM for it first: not before the search can see it.
        if (release === 'keep') error = this.afterVerifyDelay(error);
      }
      job.failures.push({ error, what });
    };
    /** A create another writer holds, or sent too recently to be looked for: tried again later. */
    const busy = (job: Job, a: PlannedAction): void => {
      job.failures.push({
        error: this.afterVerifyDelay(
          new CrmError('transient', 'being written by another worker, or waiting to be checked in the CRM'),
        ),
        what: describeAction(a, connector.profile.recordNoun),
      });
    };

    /** Runs one batch call for `entries`; a thrown CrmError belongs to each of its items. */
    const batchCall = async <T>(
      entries: { job: Job; a: PlannedAction; input: T }[],
      call: (inputs: T[]) => Promise<ItemResult[]>,
      claimed: boolean,
    ): Promise<void> => {
      if (entries.length === 0) return;
      let results: Result[];
      try {
        results = await call(entries.map((e) => e.input));
      } catch (error) {
        const e = toFailure(error);
        results = entries.map(() => ({ ok: false, error: e }));
      }
      for (const [i, entry] of entries.entries()) {
        const result: Result = results[i] ?? { ok: false, error: new CrmError('invalid', 'no result') };
        const release = !claimed ? undefined : !result.ok && !mayHaveLanded(result.error) ? 'forget' : 'keep';
        record(entry.job, entry.a, result, release);
      }
      await flush();
    };

    /** Leases a batch's creates; those not claimable are tried again later. Returns them as stored. */
    const claim = async (entries: { job: Job; a: PlannedAction }[]): Promise<Map<number, PlannedAction>> => {
      if (entries.length === 0) return new Map();
      const at = this.clock();
      const claimed = await this.storage.claimActions(
        tenantId,
        entries.map((e) => e.a.id),
        {
          workerId: holder,
          // The item's own lease: whoever takes the item over after it lapses may take these too.
          leaseUntil: now + this.leaseMs,
          now: at,
          sentBefore: at - this.verifyDelayMs,
        },
      );
      const byId = new Map(claimed.map((a) => [a.id, a]));
      claimedIds.push(...byId.keys());
      for (const e of entries) if (!byId.has(e.a.id)) busy(e.job, e.a);
      return byId;
    };

    const plan = planWrites(pending, merged, batch.crm);
    for (const { job, a, error } of plan.refused) record(job, a, { ok: false, error });
    const { owners, teams, tasks } = plan;
    const enrolls = plan.enrollments;

    try {
      await flush();
      // Setting an owner is idempotent: sent again after a crash, it changes nothing.
      await batchCall(owners, (inputs) => connector.setOwners(inputs), false);
      await batchCall(teams, (inputs) => connector.setTeams(inputs), false);

      // Tasks: a task an unresolved earlier send made is adopted; the rest are marked sent, then sent.
      const claimedTasks = await claim(tasks);
      const newTasks: typeof tasks = [];
      for (const entry of tasks) {
        const stored = claimedTasks.get(entry.a.id);
        if (stored === undefined) continue;
        if (stored.sentAt === null) {
          newTasks.push(entry);
          continue;
        }
        try {
          const match = matchTask(await connector.findTasks(entry.a.leadId), entry.input);
          if (match === undefined) newTasks.push(entry);
          else {
            this.adopted(entry.a, match.id);
            record(entry.job, entry.a, { ok: true, id: match.id });
          }
        } catch (error) {
          record(entry.job, entry.a, { ok: false, error: toFailure(error) }, 'keep');
        }
      }
      await flush();
      const sendingTasks = new Set(
        await this.markSent(
          tenantId,
          newTasks.map((e) => e.a),
          holder,
        ),
      );
      for (const entry of newTasks) if (!sendingTasks.has(entry.a)) busy(entry.job, entry.a);
      await batchCall(
        newTasks.filter((e) => sendingTasks.has(e.a)),
        (inputs) => connector.createTasks(inputs),
        true,
      );

      // Enrollments, one call each: HubSpot has no batch enrollment.
      const claimedEnrolls = await claim(enrolls);
      for (const { job, a, sequence: spec, sender } of enrolls) {
        const stored = claimedEnrolls.get(a.id);
        if (stored === undefined) continue;
        let result: Result;
        let release: Release = 'keep';
        try {
          const owner = ownerOf(sender);
          if (owner === undefined) result = { ok: false, error: missingOwner(sender) };
          else if (owner.senderId === undefined)
            result = {
              ok: false,
              error: new CrmError('invalid', `${sender} has no ${batch.crm} user id to send from`),
            };
          else {
            const senderId = owner.senderId;
            const enroll = async (sequenceId: string): Promise<ItemResult> => {
              const [one] = await connector.enroll([
                { leadId: a.leadId, key: a.key, sequenceId, senderId, senderEmail: owner.email },
              ]);
              return one ?? { ok: false, error: new CrmError('invalid', 'no result') };
            };
            let sequenceId = spec.id ?? (await this.sequenceIdByName(runtime, spec.name ?? '', now));
            const existing =
              stored.sentAt === null
                ? undefined
                : matchEnrollment(await connector.findEnrollment(a.leadId), sequenceId);
            if (existing !== undefined) {
              this.adopted(a, existing.id);
              result = { ok: true, id: existing.id };
            } else if ((await this.markSent(tenantId, [stored], holder)).length === 0) {
              busy(job, a);
              continue;
            } else {
              result = await enroll(sequenceId);
              if (!result.ok && result.error.kind === 'not_found' && spec.id === undefined) {
                // The sequence may have been deleted (and recreated) since its list was read: read the
                // list again and try once more, or give up with a reason that names the sequence.
                this.forgetSequenceList(tenantId, sequenceId);
                const again = await this.sequenceIdByName(runtime, spec.name ?? '', now);
                if (again !== sequenceId) {
                  sequenceId = again;
                  result = await enroll(sequenceId);
                }
              }
              if (!result.ok && !mayHaveLanded(result.error)) release = 'forget';
            }
          }
        } catch (error) {
          result = { ok: false, error: toFailure(error) };
        }
        record(job, a, result, release);
        await flush();
      }
    } catch (error) {
      // What this batch claimed and did not settle is given back, so its retry need not wait out the lease.
      await this.storage
        .releaseActions(tenantId, claimedIds, holder, now, { notApplied: false })
        .catch(() => 0);
      throw error;
    }
  }

  /** A retry of an unresolved create must not come before the CRM's search can show it. */
  private afterVerifyDelay(error: Failure): Failure {
    if (error instanceof InternalFailure) return error;
    const retryAfterMs = Math.max(error.details.retryAfterMs ?? 0, this.verifyDelayMs);
    return new CrmError(error.kind, error.message, { ...error.details, retryAfterMs });
  }

  /** Drops the tenant's sequence list if it still gives `id`, which the CRM no longer knows. */
  private forgetSequenceList(tenantId: string, id: string): void {
    if (this.sequenceLists.get(tenantId)?.list.some((s) => s.id === id) === true)
      this.sequenceLists.delete(tenantId);
  }

  private async sequenceIdByName(runtime: TenantRuntime, name: string, now: number): Promise<string> {
    let cached = this.sequenceLists.get(runtime.tenantId);
    const find = (): { id: string; name: string } | undefined =>
      cached?.list.find((s) => s.name.trim().toLowerCase() === name.trim().toLowerCase());
    // A name we do not know may be a sequence created since the list was read: read it again once.
    if (cached === undefined || now - cached.at >= this.ttlMs || find() === undefined) {
      // Lanes that miss at the same moment share one read, as for the directory.
      let fetching = this.sequenceFetches.get(runtime.tenantId);
      if (fetching === undefined) {
        fetching = (async () => {
          const fresh = { at: now, list: await runtime.connector.sequences() };
          this.sequenceLists.set(runtime.tenantId, fresh);
          return fresh;
        })();
        this.sequenceFetches.set(runtime.tenantId, fetching);
        void fetching.finally(() => this.sequenceFetches.delete(runtime.tenantId)).catch(() => undefined);
      }
      cached = await fetching;
    }
    const hit = find();
    if (hit === undefined) throw new CrmError('invalid', `no sequence named '${name}'`);
    return hit.id;
  }

  /** The tenant's directory: from memory, else storage, else the CRM, reused for `directoryTtlMs`. */
  private async directoryFor(runtime: TenantRuntime, now: number): Promise<Directory> {
    const fresh = (d: Directory | null | undefined): d is Directory =>
      d !== null && d !== undefined && now - d.fetchedAt < this.ttlMs && d.fetchedAt <= now;
    const memory = this.directories.get(runtime.tenantId);
    if (fresh(memory)) return memory;
    const stored = await this.storage.loadDirectory(runtime.tenantId);
    if (fresh(stored)) {
      this.directories.set(runtime.tenantId, stored);
      return stored;
    }
    // Lanes that miss at the same moment share one fetch instead of each paying for it.
    let fetching = this.directoryFetches.get(runtime.tenantId);
    if (fetching === undefined) {
      fetching = (async () => {
        // Stamped with our clock, so freshness is judged on one time line.
        const directory = { ...(await runtime.connector.directory()), fetchedAt: now };
        await this.bulk?.directoryRefreshed(runtime, stored ?? memory ?? null, directory, now);
        await this.storage.saveDirectory(runtime.tenantId, directory);
        this.directories.set(runtime.tenantId, directory);
        return directory;
      })();
      this.directoryFetches.set(runtime.tenantId, fetching);
      void fetching.finally(() => this.directoryFetches.delete(runtime.tenantId)).catch(() => undefined);
    }
    return fetching;
  }

  // -------------------------------------------------------------------------------------------------
  // Settling an item

  private reason(what: string, error: Failure, crm: string): string {
    return `${what}: ${describeFailure(error, crm)}`;
  }

  /**
   * complete, retryLater or deadLetter — once per item, after all its work; the items that went well are
   * completed together.
   */
  private async settle(jobs: Job[], now: number, crm: string, holder: string): Promise<void> {
    await this.markUninstalled(jobs);
    await this.storage.completeMany(
      jobs.filter((j) => j.failures.length === 0).map((j) => j.item.id),
      holder,
      now,
    );
    this.logInternal(jobs);
    for (const job of jobs) if (job.failures.length > 0) await this.settleFailed(job, now, crm, holder);
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
        this.logger.error(error.kind === 'bug' ? 'bug in the worker' : 'database error in the worker', {
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

  /** Refused credentials may mean the portal uninstalled the app: then its jobs wait instead of failing. */
  private async markUninstalled(jobs: Job[]): Promise<void> {
    const refused = jobs.filter((j) =>
      j.failures.some(
        (f) => f.error instanceof CrmError && f.error.kind === 'auth' && f.error.details.status === 401,
      ),
    );
    const tenantId = refused[0]?.item.tenantId;
    if (tenantId === undefined || this.registry.confirmUninstalled === undefined) return;
    let gone = false;
    try {
      gone = await this.registry.confirmUninstalled(tenantId);
    } catch (error) {
      this.logger.warn('install not checked', { tenantId, error: toFailure(error).message });
    }
    if (gone)
      for (const job of refused)
        job.failures.push({ error: new TenantUninstalledError(tenantId), what: 'check the install' });
  }

  private async settleFailed(job: Job, now: number, crm: string, holder: string): Promise<void> {
    const { item } = job;
    const reasons = job.failures.map((f) => this.reason(f.what, f.error, crm)).join('; ');
    const retryable = job.failures.find((f) => isRetryable(f.error));
    const outcome = itemOutcome(retryable?.error ?? job.failures[0]!.error, item.attempts, now, this.backoff);
    const fields = { tenantId: item.tenantId, leadId: job.leadId, inboxId: item.id, attempts: item.attempts };
    if (job.failures.some((f) => f.error instanceof TenantUninstalledError)) {
      // Not a failure of the lead: it waits, unclaimed, until the portal installs the app again.
      this.logger.info('lead waits for a reinstall', fields);
      await this.storage.retryLater(item.id, holder, now, reasons, now);
      return;
    }
    if (outcome.kind === 'retry_later') {
      this.logger.warn('lead will be retried', { ...fields, runAfter: outcome.runAfter, reason: reasons });
      await this.storage.retryLater(item.id, holder, outcome.runAfter, reasons, now);
      return;
    }
    const final = retryable === undefined ? reasons : `${reasons} (gave up after ${item.attempts} attempts)`;
    this.logger.error('lead dead-lettered', { ...fields, reason: final });
    if (await this.storage.deadLetter(item.id, holder, final, now))
      this.notify('onDeadLetter', () =>
        this.onDeadLetter?.(item.tenantId, { leadId: item.event.objectId, reason: final }),
      );
  }
}
