// One protocol for every create the CRM takes without an idempotency key (tasks, notes, enrollments):
// claim → adopt → mark sent → send. A claimed create that an earlier, unresolved send may have made is
// looked for in the CRM first and adopted when found; the rest are marked sent before they are sent, so
// a crash after the send leaves a trace that makes the next attempt look before it creates again.
import { CrmError, type ItemResult } from '../../connectors/connector.js';
import type { Logger } from '../log.js';
import type { PlannedAction, Storage } from '../storage/index.js';
import { InternalFailure, toFailure, type Failure } from './failures.js';

/** An action's result as the worker records it: the CRM's, or a failure of ours on the way. */
export type Result = ItemResult | { ok: false; error: Failure };

/** A claimed create that fails: given back, keeping its unresolved send, or forgetting it (not applied). */
export type Release = 'keep' | 'forget';

/**
 * A create that failed this way may have been applied by the CRM all the same: sent with no answer, or
 * cut short by a fault of ours that says nothing about what reached the CRM.
 */
export function mayHaveLanded(error: Failure): boolean {
  return error instanceof InternalFailure || error.details.outcomeUnknown === true;
}

/** How a sent create's failure gives it back: forgotten only when the CRM's answer shows it did not apply. */
function releaseAfterSend(result: Result): Release {
  return !result.ok && !mayHaveLanded(result.error) ? 'forget' : 'keep';
}

/** What became of claimed actions, stored together after each CRM call. */
export class Outcomes {
  /** `reason`: why an action done with nothing written wrote nothing. */
  readonly done: { id: number; crmId: string | null; reason?: string }[] = [];
  readonly failed: { a: PlannedAction; reason: string }[] = [];
  /** Given back for a later attempt, keeping / forgetting an unresolved send. */
  readonly keep: number[] = [];
  readonly forget: number[] = [];

  release(id: number, how: Release): void {
    (how === 'keep' ? this.keep : this.forget).push(id);
  }

  /** Stores what was gathered, in a few statements, and empties it; returns how many were done. */
  async write(storage: Storage, tenantId: string, holder: string, now: number): Promise<number> {
    const done = await storage.markActionsDone(tenantId, this.done.splice(0), now);
    for (const { a, reason } of this.failed.splice(0))
      await storage.markActionFailed(tenantId, a.id, reason, now);
    for (const [ids, notApplied] of [
      [this.keep.splice(0), false],
      [this.forget.splice(0), true],
    ] as const)
      if (ids.length > 0) await storage.releaseActions(tenantId, ids, holder, now, { notApplied });
    return done;
  }
}

/** Whatever the caller carries with an action (its job, its CRM input). */
export interface CreateEntry {
  a: PlannedAction;
}

/** One kind of create, as the connector makes and finds it. */
export interface CreateKind<E extends CreateEntry> {
  /** Creates per call (the connector profile's batch size). */
  batchSize: number;
  /**
   * For each entry, in order, the CRM id of the create an earlier send made, among what the CRM holds for
   * its lead, or undefined: all of them looked up together, in as few calls as the connector can.
   */
  find(entries: E[]): Promise<(string | undefined)[]>;
  /** One result per entry, in order. */
  send(entries: E[]): Promise<Result[]>;
}

/** Where the protocol reports to. */
export interface CreateSink<E extends CreateEntry> {
  /** A claimed create's result; `release` says how a retryable failure gives it back. */
  record(entry: E, result: Result, release: Release): void;
  /** Not ours to send now: another holder has it, or it was sent too recently to be looked for. */
  busy(entry: E): void;
  /** Stores what was recorded so far: called after each CRM call, so a retry redoes only what is missing. */
  flush(): Promise<void>;
}

export interface CreateClaim {
  tenantId: string;
  holder: string;
  leaseUntil: number;
  /** How long after a send the CRM's lookups can be trusted to show the create (profile.lookupLagMs). */
  lookupLagMs: number;
  /** The time sends are judged at (default: the clock's now). */
  now?: number | undefined;
}

export class CreateProtocol {
  constructor(private readonly deps: { storage: Storage; logger: Logger; clock: () => number }) {}

  /**
   * Leases the entries' actions to the claim's holder; returns the entries claimed, each carrying its
   * action as stored (with its last send), and reports the others busy.
   */
  async claim<E extends CreateEntry>(claim: CreateClaim, entries: E[], sink: CreateSink<E>): Promise<E[]> {
    if (entries.length === 0) return [];
    const at = this.deps.clock();
    const stored = await this.deps.storage.claimActions(
      claim.tenantId,
      entries.map((e) => e.a.id),
      { workerId: claim.holder, leaseUntil: claim.leaseUntil, now: at, sentBefore: at - claim.lookupLagMs },
    );
    const byId = new Map(stored.map((a) => [a.id, a]));
    const claimed: E[] = [];
    for (const e of entries) {
      const a = byId.get(e.a.id);
      if (a === undefined) sink.busy(e);
      else claimed.push({ ...e, a });
    }
    return claimed;
  }

  /**
   * Settles claimed creates: a create sent before is adopted when the CRM holds it (looked for only once
   * the lookups can show it), the rest are marked sent and sent, `kind.batchSize` per call.
   */
  async send<E extends CreateEntry>(
    claim: CreateClaim,
    claimed: readonly E[],
    kind: CreateKind<E>,
    sink: CreateSink<E>,
  ): Promise<void> {
    const fresh: E[] = [];
    const unresolved: E[] = [];
    const checkedBefore = (claim.now ?? this.deps.clock()) - claim.lookupLagMs;
    for (const entry of claimed) {
      const sentAt = entry.a.sentAt;
      if (sentAt === null) fresh.push(entry);
      else if (sentAt > checkedBefore) sink.busy(entry);
      else unresolved.push(entry);
    }
    if (unresolved.length > 0) {
      try {
        const found = await kind.find(unresolved);
        for (const [i, entry] of unresolved.entries()) {
          const id = found[i];
          if (id === undefined) fresh.push(entry);
          else {
            this.adopted(entry.a, id);
            sink.record(entry, { ok: true, id }, 'keep');
          }
        }
      } catch (error) {
        // Still unresolved: given back as they are, looked for again by the next attempt.
        const failure = toFailure(error);
        for (const entry of unresolved) sink.record(entry, { ok: false, error: failure }, 'keep');
      }
    }
    await sink.flush();
    for (let i = 0; i < fresh.length; i += kind.batchSize) {
      const part = fresh.slice(i, i + kind.batchSize);
      const sending = await this.markSent(claim, part);
      const toSend = part.filter((e) => sending.has(e.a.id));
      for (const e of part) if (!sending.has(e.a.id)) sink.busy(e);
      if (toSend.length === 0) continue;
      let results: Result[];
      try {
        results = await kind.send(toSend);
      } catch (error) {
        const e = toFailure(error);
        results = toSend.map(() => ({ ok: false, error: e }));
      }
      for (const [j, entry] of toSend.entries()) {
        const result: Result = results[j] ?? { ok: false, error: new CrmError('invalid', 'no result') };
        sink.record(entry, result, releaseAfterSend(result));
      }
      await sink.flush();
    }
  }

  /** Records that these claimed creates are sent now; returns the ids still ours to send. */
  private async markSent(claim: CreateClaim, entries: readonly CreateEntry[]): Promise<Set<number>> {
    return new Set(
      await this.deps.storage.markActionsSent(
        claim.tenantId,
        entries.map((e) => e.a.id),
        claim.holder,
        this.deps.clock(),
      ),
    );
  }

  private adopted(a: PlannedAction, crmId: string): void {
    this.deps.logger.info('adopted a create an earlier attempt made', {
      tenantId: a.tenantId,
      leadId: a.leadId,
      kind: a.kind,
      crmId,
    });
  }
}
