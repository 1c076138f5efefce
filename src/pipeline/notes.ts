// Explanation notes, written in batches gathered across worker batches: a note is context, not routing,
// so it may trail the owner write by a few seconds, and writing a handful per batch would spend a tenth
// of a burst's rate budget on notes. Notes are claimed before they are written, so worker processes
// flushing at once never write one twice; planned notes are durable, so a crash only delays them.
import type { Logger } from '../log.js';
import type { PlannedAction, Storage } from '../storage/index.js';
import type { CreateProtocol } from './creates.js';
import { Outcomes, type CreateKind, type CreateSink } from './creates.js';
import { matchNote } from './existing.js';
import { isRetryable, toFailure } from './failures.js';
import type { TenantRegistry } from './runtime.js';
import { describeAction } from './write-back.js';

/**
 * Notes a flush round claims across tenants, and how many of one tenant make its notes ripe at once;
 * each tenant's are then written in its CRM's note batch size. How long a tenant's notes wait to be
 * gathered once its inbox is quiet, and at most while it is still routing; rounds per flush.
 */
const NOTE_GATHER = 100;
const NOTE_DELAY_MS = 5_000;
const NOTE_MAX_WAIT_MS = 30_000;
const NOTE_ROUNDS = 10;

export interface NoteWriterDeps {
  storage: Storage;
  registry: TenantRegistry;
  logger: Logger;
  creates: CreateProtocol;
  leaseMs: number;
  /** A new claim holder (one per flush round). */
  claimHolder: () => string;
}

type NoteEntry = { a: PlannedAction; text: string };

/** How eagerly a flush writes notes (see `NoteWriter.flush`). */
export type NotePace = 'idle' | 'busy' | 'all' | 'stop';

export class NoteWriter {
  constructor(private readonly deps: NoteWriterDeps) {}

  /**
   * Writes planned notes. A tenant's notes are written once a full batch waits, once the oldest waited
   * `NOTE_MAX_WAIT_MS`, or once its inbox is quiet — at once when this worker is `idle`, after
   * `NOTE_DELAY_MS` when it is `busy` with other tenants; `all` writes every note. `stop` writes every
   * note never sent: one whose earlier send went unanswered must be looked for in the CRM first, calls
   * that could hold a stopping process past its grace period when the CRM is slow or its budget spent,
   * so it is left for the next flush of any worker.
   */
  async flush(now: number, pace: NotePace): Promise<number> {
    let written = 0;
    const ripe =
      pace === 'all' || pace === 'stop'
        ? undefined
        : {
            fullBatch: NOTE_GATHER,
            overdueBefore: now - NOTE_MAX_WAIT_MS,
            quietBefore: pace === 'idle' ? now : now - NOTE_DELAY_MS,
          };
    for (let round = 0; round < NOTE_ROUNDS; round++) {
      const holder = this.deps.claimHolder();
      // Each tenant's CRM says how soon a sent note can be looked for: notes sent sooner are given back.
      const claimed = await this.deps.storage.claimActionsOfKind('write_note', {
        workerId: holder,
        limit: NOTE_GATHER,
        leaseUntil: now + this.deps.leaseMs,
        now,
        // No time is before -1: only notes never sent.
        sentBefore: pace === 'stop' ? -1 : now,
        ripe,
      });
      const byTenant = new Map<string, PlannedAction[]>();
      for (const a of claimed) byTenant.set(a.tenantId, [...(byTenant.get(a.tenantId) ?? []), a]);
      let done = 0;
      for (const [tenantId, notes] of byTenant) done += await this.write(tenantId, notes, holder, now);
      written += done;
      // A round that wrote nothing (notes given back, the CRM failing) would only claim them again.
      if (claimed.length < NOTE_GATHER || done === 0) break;
    }
    return written;
  }

  /** Writes one tenant's claimed notes, adopting those an unresolved send made; returns how many were done. */
  private async write(
    tenantId: string,
    notes: PlannedAction[],
    holder: string,
    now: number,
  ): Promise<number> {
    const { storage, logger } = this.deps;
    const outcomes = new Outcomes();
    let connector;
    try {
      connector = (await this.deps.registry.runtime(tenantId)).connector;
    } catch (error) {
      logger.warn('notes not written', { tenantId, error: toFailure(error).message });
      await storage.releaseActions(
        tenantId,
        notes.map((a) => a.id),
        holder,
        now,
        { notApplied: false },
      );
      return 0;
    }
    const profile = connector.profile;
    let done = 0;
    let retried: string | undefined;
    const sink: CreateSink<NoteEntry> = {
      record: ({ a }, result, release) => {
        if (result.ok) outcomes.done.push({ id: a.id, crmId: result.id ?? null });
        else if (!isRetryable(result.error))
          outcomes.failed.push({
            a,
            reason: `${describeAction(a, profile.recordNoun)}: ${result.error.message}`,
          });
        else {
          // Still unresolved: given back, looked for or sent again by the next flush.
          outcomes.release(a.id, release);
          retried = result.error.message;
        }
      },
      busy: ({ a }) => outcomes.release(a.id, 'keep'),
      flush: async () => {
        done += await outcomes.write(storage, tenantId, holder, now);
      },
    };
    const kind: CreateKind<NoteEntry> = {
      batchSize: profile.batchSizes.notes,
      find: async (entries) => {
        const existing = await connector.findNotes(entries.map((e) => e.a.leadId));
        return entries.map((e) => matchNote(existing.get(e.a.leadId) ?? [], e.text, profile.noteText)?.id);
      },
      send: (entries) =>
        connector.writeNotes(entries.map((e) => ({ leadId: e.a.leadId, text: e.text, key: e.a.key }))),
    };
    const entries = notes.map((a) => ({ a, text: a.action.kind === 'write_note' ? a.action.text : '' }));
    await this.deps.creates.send(
      { tenantId, holder, leaseUntil: now + this.deps.leaseMs, lookupLagMs: profile.lookupLagMs, now },
      entries,
      kind,
      sink,
    );
    await sink.flush();
    if (retried !== undefined) logger.warn('notes not written yet', { tenantId, error: retried });
    return done;
  }
}
