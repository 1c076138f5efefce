// Writing a batch's decisions back to the CRM: the pure planner says what each planned action becomes,
// owner and team writes go out in batch calls (idempotent: sent again after a crash, they change
// nothing), and tasks and enrollments go through the create protocol. What happened is stored after
// each CRM call, so a retry redoes only what is missing.
import {
  CrmError,
  type ItemResult,
  type SequenceEnrollment,
  type TaskCreate,
} from '../../connectors/connector.js';
import type { SequenceSpec } from '../core/types.js';
import type { PlannedAction, Storage } from '../storage/index.js';
import type { CreateProtocol } from './creates.js';
import {
  Outcomes,
  type CreateClaim,
  type CreateKind,
  type CreateSink,
  type Release,
  type Result,
} from './creates.js';
import type { CrmLists } from './crm-lists.js';
import { matchEnrollment, matchTask } from './existing.js';
import {
  describeFailure,
  InternalFailure,
  isRetryable,
  TenantConfigError,
  toFailure,
  type Failure,
} from './failures.js';
import type { Job, TenantBatch } from './job.js';
import { planWrites } from './write-plan.js';

function sequenceLabel(spec: SequenceSpec): string {
  return spec.name !== undefined ? `'${spec.name}'` : `#${spec.id ?? '?'}`;
}

/** What an action does, in the CRM's words for the record (`noun`: the connector profile's recordNoun). */
export function describeAction(a: PlannedAction, noun: (leadId: string) => string): string {
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

/** The CRM refused a write because the owner or user it names is inactive. */
function isOwnerInactive(error: Failure): boolean {
  return error instanceof CrmError && error.details.ownerInactive === true;
}

/** The owner an owner write gives the lead, as the rules name it; undefined for other actions. */
function ownerOf(a: PlannedAction): string | undefined {
  if (a.action.kind === 'set_owner') return a.action.email;
  if (a.action.kind === 'set_queue') return `queue ${a.action.queue}`;
  return undefined;
}

/** A failure as a job's reason names it. */
export function failureReason(what: string, error: Failure, crm: string): string {
  return `${what}: ${describeFailure(error, crm)}`;
}

/** A retry of an unresolved create must not come before the CRM's lookups can show it. */
export function afterLookupLag(error: Failure, lookupLagMs: number): Failure {
  if (error instanceof InternalFailure) return error;
  const retryAfterMs = Math.max(error.details.retryAfterMs ?? 0, lookupLagMs);
  return new CrmError(error.kind, error.message, { ...error.details, retryAfterMs });
}

export interface WriteBackDeps {
  storage: Storage;
  clock: () => number;
  creates: CreateProtocol;
  lists: CrmLists;
  leaseMs: number;
  /** A new claim holder (one per batch). */
  claimHolder: () => string;
  /** The CRM confirmed an owner write for a lead created at `createdAt`. */
  ownerWritten: (tenantId: string, createdAt: number) => void;
}

type Entry = { job: Job; a: PlannedAction };
type TaskEntry = Entry & { input: TaskCreate };
type EnrollEntry = Entry & { sequence: SequenceSpec; input: SequenceEnrollment };

export class WriteBack {
  constructor(private readonly deps: WriteBackDeps) {}

  /** Writes the jobs' planned actions (notes aside: they are gathered across batches). */
  async apply(batch: TenantBatch, jobs: Job[], now: number): Promise<void> {
    const { runtime, merged, crm } = batch;
    const tenantId = runtime.tenantId;
    const connector = runtime.connector;
    const profile = connector.profile;
    const pending: Entry[] = [];
    for (const job of jobs) for (const a of job.actions) if (a.status === 'planned') pending.push({ job, a });

    const outcomes = new Outcomes();
    const holder = this.deps.claimHolder();
    // The item's own lease: whoever takes the item over after it lapses may take these creates too.
    const claim: CreateClaim = {
      tenantId,
      holder,
      leaseUntil: now + this.deps.leaseMs,
      lookupLagMs: profile.lookupLagMs,
    };
    const claimedIds: number[] = [];
    const ownersWritten: Job[] = [];
    /** A write was refused for an owner the CRM has deactivated since the directory was read. */
    let directoryStale = false;
    /** Jobs whose owner write was refused as inactive, with that owner. */
    const refusedOwners = new Map<Job, string>();
    const flush = async (): Promise<void> => {
      // The CRM has deactivated an owner the directory lists as active: the leads decided next must not
      // go to them too (until the directory's next read, every one would be refused the same way).
      if (directoryStale) {
        directoryStale = false;
        await this.deps.lists.forgetDirectory(tenantId);
      }
      await outcomes.write(this.deps.storage, tenantId, holder, now);
      for (const job of ownersWritten.splice(0))
        if (job.createdAt !== undefined) this.deps.ownerWritten(tenantId, job.createdAt);
    };
    /**
     * `release` is given for a create this batch claimed: a retryable failure gives it back, keeping its
     * unresolved send ('keep') or not ('forget': the CRM's answer shows it did not apply it).
     */
    const record = ({ job, a }: Entry, result: Result, release?: Release): void => {
      if (result.ok) {
        outcomes.done.push({ id: a.id, crmId: result.id ?? null });
        if (a.action.kind === 'set_owner') ownersWritten.push(job);
        return;
      }
      const inactive = isOwnerInactive(result.error);
      if (inactive) directoryStale = true;
      const refusedBefore = job.decidedAgain;
      const what =
        describeAction(a, profile.recordNoun) +
        (refusedBefore === undefined
          ? ''
          : ` (decided again after ${crm} refused ${refusedBefore.owner} as inactive)`);
      const owner = ownerOf(a);
      if (inactive && owner !== undefined) refusedOwners.set(job, owner);
      if (inactive && owner !== undefined && refusedBefore === undefined) {
        // Left planned, not failed: the lead is decided again (decide-again.ts), and the decision made
        // then fails it. The refusal stays the job's failure until then.
        const failure = { error: result.error, what };
        job.ownerRefused ??= { owner, failure };
        job.failures.push(failure);
        return;
      }
      let error = result.error;
      if (!isRetryable(error)) outcomes.failed.push({ a, reason: failureReason(what, error, crm) });
      else if (release !== undefined) {
        outcomes.release(a.id, release);
        // The next attempt must look for it in the CRM first: not before the lookup can see it.
        if (release === 'keep') error = afterLookupLag(error, profile.lookupLagMs);
      }
      job.failures.push({ error, what });
    };
    /** A create another writer holds, or sent too recently to be looked for: tried again later. */
    const sink: CreateSink<Entry> = {
      record,
      busy: ({ job, a }) =>
        job.failures.push({
          error: afterLookupLag(
            new CrmError('transient', 'being written by another worker, or waiting to be checked in the CRM'),
            profile.lookupLagMs,
          ),
          what: describeAction(a, profile.recordNoun),
        }),
      flush,
    };
    const claimCreates = async <E extends Entry>(entries: E[]): Promise<E[]> => {
      const claimed = await this.deps.creates.claim<E>(claim, entries, sink);
      claimedIds.push(...claimed.map((e) => e.a.id));
      return claimed;
    };

    /** One batch call for writes that may be sent again; a thrown CrmError belongs to each of its items. */
    const idempotentCall = async <T>(
      entries: (Entry & { input: T })[],
      call: (inputs: T[]) => Promise<ItemResult[]>,
    ): Promise<void> => {
      if (entries.length === 0) return;
      let results: Result[];
      try {
        results = await call(entries.map((e) => e.input));
      } catch (error) {
        const e = toFailure(error);
        results = entries.map(() => ({ ok: false, error: e }));
      }
      for (const [i, entry] of entries.entries())
        record(entry, results[i] ?? { ok: false, error: new CrmError('invalid', 'no result') });
      await flush();
    };

    const plan = planWrites(pending, merged, profile);
    for (const { error, ...entry } of plan.refused) record(entry, { ok: false, error });
    for (const { a, reason } of plan.needless)
      outcomes.done.push({ id: a.id, crmId: null, reason: `skipped: ${reason}` });

    try {
      await flush();
      await idempotentCall(plan.owners, (inputs) => connector.setOwners(inputs));
      await idempotentCall(plan.teams, (inputs) => connector.setTeams(inputs));

      const tasks: CreateKind<TaskEntry> = {
        batchSize: profile.batchSizes.tasks,
        find: async (entries) => {
          const existing = await connector.findTasks(entries.map((e) => e.a.leadId));
          return entries.map((e) => matchTask(existing.get(e.a.leadId) ?? [], e.input)?.id);
        },
        send: (entries) => connector.createTasks(entries.map((e) => e.input)),
      };
      // The task, enrollment and note of a job whose owner was refused as inactive are not sent (they
      // would be refused too, or tell of an owner the lead does not have): left planned when the lead is
      // decided again (which fails them), failed otherwise (a replay tries them again with the owner).
      const notSent = (a: PlannedAction, owner: string): void => {
        outcomes.failed.push({
          a,
          reason: `${describeAction(a, profile.recordNoun)}: not sent: ${crm} refused ${owner} as inactive`,
        });
      };
      for (const [job, owner] of refusedOwners)
        if (job.ownerRefused === undefined)
          for (const a of job.actions)
            if (a.kind === 'write_note' && a.status === 'planned') notSent(a, owner);
      const owned = (e: Entry): boolean => {
        const owner = refusedOwners.get(e.job);
        if (owner === undefined) return true;
        if (e.job.ownerRefused === undefined) notSent(e.a, owner);
        return false;
      };
      await this.deps.creates.send(claim, await claimCreates(plan.tasks.filter(owned)), tasks, sink);

      // Enrollments: the sender and the sequence are resolved once claimed, then sent like tasks.
      const ready: EnrollEntry[] = [];
      for (const entry of await claimCreates(plan.enrollments.filter(owned))) {
        try {
          const input = await this.enrollment(batch, entry.a, entry.sequence, entry.sender, now);
          if (input instanceof TenantConfigError) record(entry, { ok: false, error: input }, 'keep');
          else ready.push({ job: entry.job, a: entry.a, sequence: entry.sequence, input });
        } catch (error) {
          record(entry, { ok: false, error: toFailure(error) }, 'keep');
        }
      }
      const enrollments: CreateKind<EnrollEntry> = {
        batchSize: profile.batchSizes.enrollments,
        // The connector reads one lead's enrollment per call.
        find: async (entries) => {
          const ids: (string | undefined)[] = [];
          for (const e of entries)
            ids.push(matchEnrollment(await connector.findEnrollment(e.a.leadId), e.input.sequenceId)?.id);
          return ids;
        },
        send: (entries) => this.enroll(batch, entries, now),
      };
      await this.deps.creates.send(claim, ready, enrollments, sink);
      // What was failed without a call (the writes held back above) is stored too.
      await flush();
    } catch (error) {
      // What this batch claimed and did not settle is given back, so its retry need not wait out the lease.
      await this.deps.storage
        .releaseActions(tenantId, claimedIds, holder, now, { notApplied: false })
        .catch(() => 0);
      throw error;
    }
  }

  /** The enrollment to send: the sender's CRM user and the sequence's id, or why there is none. */
  private async enrollment(
    { runtime, merged, crm }: TenantBatch,
    a: PlannedAction,
    spec: SequenceSpec,
    sender: string,
    now: number,
  ): Promise<SequenceEnrollment | TenantConfigError> {
    const owner = merged.ownerByEmail.get(sender.toLowerCase());
    if (owner === undefined) return new TenantConfigError(`no ${crm} owner with the email ${sender}`);
    if (owner.senderId === undefined)
      return new TenantConfigError(`${sender} has no ${crm} user id to send from`);
    const sequenceId = spec.id ?? (await this.deps.lists.sequenceId(runtime, spec.name ?? '', now));
    return { leadId: a.leadId, key: a.key, sequenceId, senderId: owner.senderId, senderEmail: owner.email };
  }

  /**
   * Sends one call's enrollments. A sequence named by the rules may have been deleted (and recreated)
   * since its list was read: the list is read again and those enrollments sent once more, or they fail
   * with a reason that names the sequence.
   */
  private async enroll({ runtime }: TenantBatch, entries: EnrollEntry[], now: number): Promise<Result[]> {
    const connector = runtime.connector;
    const results: Result[] = await connector.enroll(entries.map((e) => e.input));
    const again: number[] = [];
    for (const [i, e] of entries.entries()) {
      const result = results[i];
      if (
        result === undefined ||
        result.ok ||
        result.error.kind !== 'not_found' ||
        e.sequence.id !== undefined
      )
        continue;
      this.deps.lists.forgetSequence(runtime.tenantId, e.input.sequenceId);
      try {
        const sequenceId = await this.deps.lists.sequenceId(runtime, e.sequence.name ?? '', now);
        if (sequenceId === e.input.sequenceId) continue;
        e.input = { ...e.input, sequenceId };
        again.push(i);
      } catch (error) {
        results[i] = { ok: false, error: toFailure(error) };
      }
    }
    if (again.length > 0) {
      // The first call's results stand whatever becomes of the second.
      let retried: Result[];
      try {
        retried = await connector.enroll(again.map((i) => entries[i]!.input));
      } catch (error) {
        const e = toFailure(error);
        retried = again.map(() => ({ ok: false, error: e }));
      }
      for (const [k, i] of again.entries())
        results[i] = retried[k] ?? { ok: false, error: new CrmError('invalid', 'no result') };
    }
    return results;
  }
}
