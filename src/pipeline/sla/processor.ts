// Fires SLA timers. Per tenant, due timers are claimed under a lease, the CRM is asked about all of
// them in batched calls (`touchedLeads`, through the tenant's rate budget), and each timer gets the
// verdict of the pure core: touched (met), taken over by a person or gone (left alone), or untouched —
// then its checkpoint acts: a breach is recorded, a reminder sent (a task, or a notification), the lead
// re-routed (an inbox event the worker decides with the earlier owners excluded), or escalated. A CRM
// that is down leaves every timer waiting, with backoff, and nothing acted on. CRM writes go through a
// step row claimed before sending (planned → sent → done), so two workers, or a worker after a crash,
// never send one twice; a step's notification is written in the transaction that ends the step.
import { CrmError, type Directory, type TouchQuery, type TouchState } from '../../../connectors/connector.js';
import { addSlaTime, checkpoints, describeStep, formatSlaDuration, judge, slaSteps } from '../../core/sla.js';
import {
  DEFAULT_TOUCH_SIGNALS,
  type Decision,
  type NotifyEvent,
  type SlaEscalation,
  type SlaStep,
} from '../../core/types.js';
import { z } from 'zod';
import type { Logger } from 'winston';
import { notificationsFor } from '../../notify/notifier.js';
import type { Storage } from '../../storage/index.js';
import type { NotificationInput } from '../../storage/notifications.js';
import { chunk } from '../../storage/shared.js';
import { actionSchema } from '../../storage/model.js';
import type { SlaAdvance, SlaStepRow, SlaTimerRepository, SlaTimerRun } from '../../storage/sla-timers.js';
import { describeFailure, isRetryable, TenantConfigError, toFailure } from '../failures.js';
import { latestDecisions } from '../decide-again.js';
import { renewWhileRunning } from '../lease-renewal.js';
import {
  TenantPausedError,
  TenantUninstalledError,
  type TenantRegistry,
  type TenantRuntime,
} from '../runtime.js';
import { crmOwnerId, landQueue, mergeDirectory, noTaskReason, type MergedTeam } from '../team.js';

/** Inbox subscription of an SLA re-route: the worker decides the lead again, earlier owners excluded. */
export const SLA_REROUTE_SUBSCRIPTION = 'lead-router.sla-reroute';

/** What a re-route event carries (its `value`, as JSON). */
export interface SlaRerouteRequest {
  timerId: number;
  checkpoint: number;
  /** Reps who had the lead: never chosen again. */
  exclude: string[];
}

/** The purpose (effect key) of a re-route: one decision per timer and checkpoint, ever. */
export function reroutePurpose(timerId: number, checkpoint: number): string {
  return `route:sla:${timerId}:${checkpoint}`;
}

export interface SlaProcessorOptions {
  storage: Storage;
  timers: SlaTimerRepository;
  registry: TenantRegistry;
  /** The tenant's CRM directory (the worker's cache): owner ids for comparing and writing owners. */
  directory: (runtime: TenantRuntime, now: number) => Promise<Directory>;
  logger: Logger;
  workerId: string;
  /** The time leases are renewed from (the worker's clock; default the wall clock). */
  clock?: () => number;
  /** Reminders, re-routes and escalations are notified to the rule set's channels (with their step). */
  notify?: boolean | undefined;
  /** Timers claimed per batch (default 500: a few search calls). */
  batchSize?: number;
  leaseMs?: number;
  /** How soon a timer waiting on the worker (owner not written yet, re-route in flight) looks again. */
  recheckMs?: number;
  /** First wait after the CRM could not be asked; doubles per attempt up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /**
   * How long a due timer may wait for others to fall due, so that one batched CRM call checks many
   * (default 5 s); a tenant with a full call's worth due is checked at once.
   */
  gatherMs?: number;
  /** A step taken (for metrics). */
  onStep?: (tenantId: string, kind: string) => void;
  /** Timers checked and the CRM calls that took (for the bench). */
  onChecked?: (tenantId: string, timers: number) => void;
}

type Acted = 'done' | 'retry';

/** A claimed timer ready to be checked, with what changed since it was armed. */
interface Ready {
  t: SlaTimerRun;
  changes: Partial<SlaAdvance>;
  startedAt: number;
  expected: string | null;
  had: string[];
}

/** Timers one batched touch call checks (the connector chunks them further as its CRM needs). */
const CHECKS_PER_CALL = 100;

/** The owner a write put on the lead, as stored: a rep email, a queue's owner (email or id), or none. */
/** A wait that is no failure of the check: the outage backoff does not grow with it. */
const NOT_A_FAILED_CHECK = { failedAttempt: false } as const;

/** The tenant paused (its CRM's login hours) or uninstalled: its timers wait, unclaimed, until it works. */
function waitsForTenant(failure: Error): boolean {
  return failure instanceof TenantPausedError || failure instanceof TenantUninstalledError;
}

function ownerWritten(payload: string): string | null {
  const parsed = actionSchema.safeParse(JSON.parse(payload));
  if (!parsed.success) return null;
  const a = parsed.data;
  if (a.kind === 'set_owner') return a.email;
  if (a.kind === 'set_queue' && a.target?.kind === 'owner') return a.target.owner;
  return null;
}

export class SlaProcessor {
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly recheckMs: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly gatherMs: number;
  private claims = 0;

  constructor(private readonly opts: SlaProcessorOptions) {
    this.batchSize = opts.batchSize ?? 500;
    this.leaseMs = opts.leaseMs ?? 120_000;
    this.recheckMs = opts.recheckMs ?? 30_000;
    this.retryMs = opts.retryMs ?? 30_000;
    this.maxRetryMs = opts.maxRetryMs ?? 15 * 60_000;
    this.gatherMs = opts.gatherMs ?? 5_000;
  }

  /** Checks one tenant's batch of due timers (tenants take turns); returns how many it claimed. */
  async runOnce(now: number): Promise<number> {
    const tenants = await this.opts.timers.tenantsDue(now, 1, {
      fullBatch: CHECKS_PER_CALL,
      gatherMs: this.gatherMs,
    });
    const tenantId = tenants[0];
    if (tenantId === undefined) return 0;
    this.claims += 1;
    const holder = `${this.opts.workerId}/sla/${this.claims}`;
    const claimed = await this.opts.timers.claimDue(
      tenantId,
      holder,
      now,
      now + this.leaseMs,
      this.batchSize,
    );
    if (claimed.length === 0) return 0;
    const ids = claimed.map((t) => t.id);
    // A batch's CRM calls can outlast the lease when the rate budget is busy: held while it runs, a
    // timer is never taken over mid-step by another worker (a reminder or escalation sent twice).
    const stopRenewing = renewWhileRunning(
      this.leaseMs,
      this.opts.clock ?? Date.now,
      (leaseUntil) => this.opts.timers.renew(tenantId, ids, holder, leaseUntil),
      (error) => this.opts.logger.warn('SLA timer leases not renewed', { tenantId, error: String(error) }),
    );
    try {
      await this.processTenant(tenantId, claimed, holder, now);
    } catch (error) {
      // Whatever failed, the timers wait and come back; none was acted on past its step row.
      const failure = toFailure(error);
      const ids = claimed.map((t) => t.id);
      // A paused or uninstalled tenant's timers wait, unclaimed, until it works again: no failed check.
      const forTenant = waitsForTenant(failure);
      if (forTenant)
        this.opts.logger.info('SLA timers wait for their tenant', {
          tenantId,
          timers: ids.length,
          reason: failure.message,
        });
      else
        this.opts.logger.error('SLA check failed', { tenantId, error: failure.message, timers: ids.length });
      await this.opts.timers.retryLater(
        tenantId,
        ids,
        holder,
        forTenant ? now : now + this.backoff(claimed[0]?.attempts ?? 0),
        failure.message,
        now,
        forTenant ? NOT_A_FAILED_CHECK : {},
      );
    } finally {
      stopRenewing();
    }
    return claimed.length;
  }

  private backoff(attempts: number): number {
    return Math.min(this.maxRetryMs, this.retryMs * 2 ** Math.min(attempts, 20));
  }

  private async processTenant(tenantId: string, claimed: SlaTimerRun[], holder: string, now: number) {
    const { timers, logger } = this.opts;
    const runtime = await this.opts.registry.runtime(tenantId);
    const merged = mergeDirectory(runtime.team, await this.opts.directory(runtime, now));
    // A re-route whose owner the CRM refused as inactive was decided again: the timer follows the
    // decision made again, which owns the lead (the one before wrote nothing).
    const rerouted = await latestDecisions(
      this.opts.storage,
      tenantId,
      claimed.flatMap((t) => (t.rerouting === null ? [] : [t.rerouting])),
    );
    const writes = await timers.writesOf(tenantId, [
      ...claimed.map((t) => t.decisionKey),
      ...[...rerouted.values()].map((d) => d.decisionKey),
    ]);

    // Where each timer stands after what the worker did meanwhile (owner written, re-route carried out).
    const ready: Ready[] = [];
    for (const t of claimed) {
      const changes: Partial<SlaAdvance> = {};
      let startedAt = t.startedAt;
      let expected = t.expectedOwner;
      let had = t.had;
      if (startedAt === null) {
        const w = writes.get(t.decisionKey)?.owner;
        if (w?.status === 'failed') {
          await timers.settle(tenantId, t.id, holder, { state: 'cancelled', outcome: 'not_assigned' }, now);
          continue;
        }
        if (w === undefined || w.status !== 'done') {
          await timers.advance(tenantId, t.id, holder, { dueAt: now + this.recheckMs }, now);
          continue;
        }
        startedAt = w.at;
        expected = ownerWritten(w.payload);
        changes.startedAt = startedAt;
        changes.expectedOwner = expected;
      }
      if (t.rerouting !== null) {
        const decided = rerouted.get(t.rerouting);
        const w = decided === undefined ? undefined : writes.get(decided.decisionKey)?.owner;
        if (decided === undefined || w?.status === 'planned') {
          await timers.advance(tenantId, t.id, holder, { ...changes, dueAt: now + this.recheckMs }, now);
          continue;
        }
        if (w?.status === 'done') {
          had = [...new Set([...had, ...(expected === null ? [] : [expected])])];
          expected = ownerWritten(w.payload);
          changes.had = had;
          changes.expectedOwner = expected;
        }
        changes.rerouting = null;
      }
      ready.push({ t, changes, startedAt, expected, had });
    }
    if (ready.length === 0) return;

    const signals = runtime.ruleSet.touch ?? DEFAULT_TOUCH_SIGNALS;
    const ask = (part: Ready[]): Promise<{ seen: Map<string, TouchState> } | { error: unknown }> =>
      runtime.connector
        .touchedLeads(
          part.map(({ t, startedAt }) => {
            const q: TouchQuery = { leadId: t.leadId, since: startedAt };
            const taskId = writes.get(t.decisionKey)?.taskId;
            if (taskId !== undefined) q.taskId = taskId;
            return q;
          }),
          signals,
        )
        .then(
          (seen) => ({ seen }),
          (error: unknown) => ({ error }),
        );
    // One call's worth at a time, the next asked while this one's timers are written: the CRM's pace
    // and the database work overlap instead of adding up.
    const parts = chunk(ready, CHECKS_PER_CALL);
    let asked = parts[0] === undefined ? undefined : ask(parts[0]);
    for (const [i, part] of parts.entries()) {
      const answer = await asked!;
      if ('error' in answer) {
        const failure = toFailure(answer.error);
        if (!(failure instanceof CrmError)) throw answer.error;
        // The CRM is down or refusing: every timer not yet checked waits; none acts on what it cannot see.
        const waiting = parts.slice(i).flat();
        const attempts = Math.max(...waiting.map((r) => r.t.attempts));
        // A rate window's refusal (HubSpot's per-second search limit) is over when the CRM says, and a
        // paused or uninstalled tenant's timers wait, unclaimed, until it works again: neither is a
        // failed check. The backoff is for a CRM that is down, or a day's quota spent.
        const windowed = failure.kind === 'rate_limited' && failure.details.quotaExhausted !== true;
        const notFailed = windowed || waitsForTenant(failure);
        const wait = waitsForTenant(failure)
          ? 0
          : windowed
            ? (failure.details.retryAfterMs ?? 1_000)
            : Math.max(failure.details.retryAfterMs ?? 0, this.backoff(attempts));
        logger.warn('SLA check deferred: the CRM could not be asked', {
          tenantId,
          timers: waiting.length,
          kind: failure.kind,
          error: failure.message,
          retryInMs: wait,
        });
        await timers.retryLater(
          tenantId,
          waiting.map((r) => r.t.id),
          holder,
          now + wait,
          failure.message,
          now,
          notFailed ? NOT_A_FAILED_CHECK : {},
        );
        return;
      }
      const following = parts[i + 1];
      asked = following === undefined ? undefined : ask(following);
      this.opts.onChecked?.(tenantId, part.length);
      for (const r of part) {
        try {
          await this.check(runtime, merged, r, answer.seen.get(r.t.leadId), holder, now);
        } catch (error) {
          const failure = toFailure(error);
          logger.error('SLA timer failed', {
            tenantId,
            leadId: r.t.leadId,
            timerId: r.t.id,
            error: failure.message,
          });
          await timers.retryLater(
            tenantId,
            [r.t.id],
            holder,
            now + this.backoff(r.t.attempts),
            failure.message,
            now,
          );
        }
      }
    }
  }

  /** One timer: the verdict, then its checkpoint's step when it is untouched and the checkpoint is due. */
  private async check(
    runtime: TenantRuntime,
    merged: MergedTeam,
    r: Ready,
    seen: TouchState | undefined,
    holder: string,
    now: number,
  ): Promise<void> {
    const { timers, logger } = this.opts;
    const { t, startedAt } = r;
    const tenantId = runtime.tenantId;
    const sla = t.sla;
    const firstTouchMs = sla.firstTouchMs ?? sla.firstTouchBy - t.decidedAt;
    const steps = sla.steps ?? slaSteps({ firstTouchMs, onBreach: sla.onBreach });
    const ownerRep = r.expected === null ? undefined : merged.team.reps[r.expected];
    const due = (afterMs: number): number => addSlaTime(startedAt, afterMs, sla.clock, ownerRep);
    const alias = r.expected === null ? undefined : crmOwnerId(r.expected, merged, runtime.connector.profile);
    const verdict = judge(
      {
        startedAt,
        expectedOwner: r.expected ?? undefined,
        expectedAliases: alias === undefined ? [] : [alias],
      },
      seen === undefined
        ? undefined
        : { owner: seen.ownerId, touchedAt: seen.touchedAt, signal: seen.signal },
    );
    const step = async (
      checkpoint: number,
      kind: 'met' | 'left_alone' | 'breach',
      detail: string,
    ): Promise<void> => {
      await timers.planStep(
        tenantId,
        { timerId: t.id, leadId: t.leadId, checkpoint, kind, detail, owner: r.expected, status: 'done' },
        now,
      );
      this.opts.onStep?.(tenantId, kind);
    };

    if (verdict.kind === 'met') {
      const deadline = due(firstTouchMs);
      const inTime = verdict.touchedAt <= deadline;
      await step(
        t.checkpoint,
        'met',
        `first touch (${verdict.signal ?? 'touch'}) ${formatSlaDuration(Math.max(0, verdict.touchedAt - startedAt))} after the owner was written${inTime ? '' : ', after the deadline'}`,
      );
      await timers.settle(
        tenantId,
        t.id,
        holder,
        {
          state: 'met',
          outcome: inTime ? 'met' : 'met_late',
          firstTouchAt: verdict.touchedAt,
          signal: verdict.signal,
          startedAt,
        },
        now,
      );
      return;
    }
    // An attempt that enqueued this checkpoint's re-route and died before storing its marker leaves a
    // timer that, once the worker has routed the event, sees our own owner write as a person's. A
    // decision for the re-route says it is ours: the step is resumed (recorded and enqueued once, so
    // nothing is taken again), its marker stored, and the next look adopts the new owner as expected.
    const oursRerouted =
      verdict.kind === 'left_alone' &&
      verdict.reason === 'owner_changed' &&
      (await this.opts.storage.findDecision(
        tenantId,
        `${t.leadId}:${reroutePurpose(t.id, t.checkpoint)}`,
      )) !== null;
    if (verdict.kind === 'left_alone' && !oursRerouted) {
      const detail =
        verdict.reason === 'lead_gone'
          ? `the lead is no longer in ${runtime.connector.profile.crmName}: left alone`
          : `its owner was changed by someone else${verdict.owner === undefined ? ' (now unowned)' : ''}: left alone`;
      await step(t.checkpoint, 'left_alone', detail);
      logger.info('SLA timer left alone', { tenantId, leadId: t.leadId, reason: verdict.reason });
      await timers.settle(
        tenantId,
        t.id,
        holder,
        { state: 'cancelled', outcome: verdict.reason, startedAt },
        now,
      );
      return;
    }

    const cps = checkpoints(firstTouchMs, steps);
    const cp = cps[t.checkpoint];
    if (cp === undefined) {
      await timers.settle(tenantId, t.id, holder, { state: 'breached', outcome: 'unmet', startedAt }, now);
      return;
    }
    const cpDue = due(cp.afterMs);
    if (cpDue > now) {
      // Not yet (the first claim after the owner write, or the clock paused for the night).
      await timers.advance(tenantId, t.id, holder, { ...r.changes, dueAt: cpDue }, now);
      return;
    }
    const advance: SlaAdvance = { ...r.changes, dueAt: now };
    if (cp.deadline) {
      advance.breachedAt = now;
      await step(
        t.checkpoint,
        'breach',
        `no first touch within ${formatSlaDuration(firstTouchMs)}: SLA breached`,
      );
      logger.info('SLA breached', { tenantId, leadId: t.leadId, owner: r.expected });
    }
    if (cp.step !== undefined) {
      const s = steps[cp.step];
      if (s !== undefined) {
        const acted = await this.act(runtime, merged, r, s, advance, now);
        if (acted === 'retry') {
          await timers.retryLater(
            tenantId,
            [t.id],
            holder,
            now + this.backoff(t.attempts),
            'step deferred',
            now,
          );
          return;
        }
      }
    }
    const next = cps[t.checkpoint + 1];
    if (next === undefined) {
      await timers.settle(
        tenantId,
        t.id,
        holder,
        { state: 'breached', outcome: 'unmet', breachedAt: advance.breachedAt, startedAt },
        now,
      );
      return;
    }
    advance.checkpoint = t.checkpoint + 1;
    // A re-route in flight is looked at again soon; otherwise the next checkpoint on the owner's clock.
    const nextOwner =
      advance.expectedOwner === undefined
        ? ownerRep
        : advance.expectedOwner === null
          ? undefined
          : merged.team.reps[advance.expectedOwner];
    advance.dueAt =
      advance.rerouting !== undefined && advance.rerouting !== null
        ? now + this.recheckMs
        : Math.max(now, addSlaTime(startedAt, next.afterMs, sla.clock, nextOwner));
    await timers.advance(tenantId, t.id, holder, advance, now);
  }

  /** Takes one breach step; `advance` collects what it changes on the timer. */
  private async act(
    runtime: TenantRuntime,
    merged: MergedTeam,
    r: { t: SlaTimerRun; expected: string | null; had: string[] },
    step: SlaStep,
    advance: SlaAdvance,
    now: number,
  ): Promise<Acted> {
    const { timers, storage, logger } = this.opts;
    const { t } = r;
    const tenantId = runtime.tenantId;
    const checkpoint = t.checkpoint;
    const detail = `not touched: ${describeStep(step)}`;
    // A step's notification is written in the transaction that records the step done (or ends its CRM
    // write): that happens once per step, so a retry after a lost answer or a crash finds the step
    // ended and tells no one again, and a notification that cannot be written leaves the step unended,
    // to be taken — and told — on the next attempt.
    const notes = (event: NotifyEvent, owner: string | null, reason = detail): NotificationInput[] =>
      this.opts.notify === true
        ? notificationsFor(
            runtime.ruleSet,
            event,
            { route: t.routeName, pools: t.pools },
            {
              tenantId,
              leadId: t.leadId,
              summary: t.summary,
              reason,
              owner: owner ?? undefined,
              at: new Date(now).toISOString(),
            },
            `sla:${t.id}:${checkpoint}:${event}`,
          )
        : [];
    const log = (kind: string): void => {
      this.opts.onStep?.(tenantId, kind);
      logger.info('SLA step taken', {
        tenantId,
        leadId: t.leadId,
        step: kind,
        owner: r.expected,
        checkpoint,
      });
    };

    switch (step.kind) {
      case 'remind': {
        const profile = runtime.connector.profile;
        const ownerId = r.expected === null ? undefined : crmOwnerId(r.expected, merged, profile);
        // An owner that cannot own a task (a Salesforce Lead queue, which the CRM refuses as a task's
        // owner) gets none: its members see the lead in the queue's list, and the reminder is still told.
        const taskless = ownerId === undefined ? undefined : noTaskReason(ownerId, merged, profile);
        if (step.via === 'notify' || taskless !== undefined) {
          const said = taskless === undefined ? detail : `${detail}; no task written: ${taskless}`;
          await timers.planStep(
            tenantId,
            {
              timerId: t.id,
              leadId: t.leadId,
              checkpoint,
              kind: 'remind',
              detail: said,
              owner: r.expected,
              status: 'done',
            },
            now,
            notes('reminder', r.expected, said),
          );
          log('remind');
          return 'done';
        }
        const subject = `SLA reminder: first touch is overdue`;
        const told = notes('reminder', r.expected);
        const acted = await this.sendOnce(
          runtime,
          t,
          checkpoint,
          'remind',
          detail,
          r.expected,
          now,
          // A reminder whose task could not be made is still told.
          { done: told, failed: told },
          // Due when the step was first recorded, not at the timer's due time, which a retry moves on:
          // a task sent by a worker that never heard back is found by what every attempt sends alike.
          async (planned) => {
            const existing = (await runtime.connector.findTasks([t.leadId])).get(t.leadId) ?? [];
            return existing.find((x) => x.subject === subject && x.dueAt === planned.at)?.id;
          },
          async (planned) => {
            const [res] = await runtime.connector.createTasks([
              {
                leadId: t.leadId,
                ownerId,
                subject,
                body: `${t.summary}\n${detail}`,
                dueAt: planned.at,
                priority: 'high',
                key: `sla:${t.id}:${checkpoint}:remind`,
              },
            ]);
            return res ?? { ok: false, error: new CrmError('invalid', 'no result') };
          },
        );
        if (acted !== 'retry') log('remind');
        return acted === 'retry' ? 'retry' : 'done';
      }
      case 'reroute': {
        const exclude = [...new Set([...r.had, ...(r.expected === null ? [] : [r.expected])])];
        const request: SlaRerouteRequest = { timerId: t.id, checkpoint, exclude };
        // The step (and its notification) first, then the event: a lead is never re-routed by a step that
        // is not recorded; a retry after a crash in between finds the step done and enqueues the event
        // again (the inbox keeps one per event id).
        await timers.planStep(
          tenantId,
          {
            timerId: t.id,
            leadId: t.leadId,
            checkpoint,
            kind: 'reroute',
            detail,
            owner: r.expected,
            status: 'done',
          },
          now,
          notes('reroute', r.expected),
        );
        await storage.enqueue(
          [
            {
              tenantId,
              event: {
                eventId: `sla-reroute:${t.id}:${checkpoint}`,
                subscription: SLA_REROUTE_SUBSCRIPTION,
                kind: 'changed',
                objectId: t.leadId,
                value: JSON.stringify(request),
                occurredAt: now,
              },
            },
          ],
          now,
        );
        advance.rerouting = `${t.leadId}:${reroutePurpose(t.id, checkpoint)}`;
        log('reroute');
        return 'done';
      }
      case 'escalate': {
        const target = escalationTarget(runtime, merged, step.to, r.expected);
        const acted = await this.sendOnce(
          runtime,
          t,
          checkpoint,
          'escalate',
          detail,
          r.expected,
          now,
          // Told only once the owner is written (an unknown target always fails): a refused escalation
          // landed nowhere.
          { done: notes('escalation', r.expected), failed: [] },
          undefined,
          async () => {
            if (target instanceof TenantConfigError) return { ok: false, error: target };
            const [res] =
              'teamId' in target
                ? await runtime.connector.setTeams([{ leadId: t.leadId, teamId: target.teamId }])
                : await runtime.connector.setOwners([{ leadId: t.leadId, ownerId: target.ownerId }]);
            return res ?? { ok: false, error: new CrmError('invalid', 'no result') };
          },
        );
        if (acted === 'done' && !(target instanceof TenantConfigError)) {
          advance.had = [...new Set([...r.had, ...(r.expected === null ? [] : [r.expected])])];
          advance.expectedOwner = 'owner' in target ? target.owner : null;
          log('escalate');
        }
        return acted === 'retry' ? 'retry' : 'done';
      }
      default: {
        const never: never = step;
        return never;
      }
    }
  }

  /**
   * A CRM write of a step, sent at most once: the step row is recorded, claimed (planned → sent) before
   * sending, and done after. A row found `sent` was sent by a worker that died: `find` looks for what it
   * made before sending again (a write that is safe to repeat has no `find`). A retryable failure gives
   * the claim back and the timer waits; any other is recorded on the step and the chain goes on.
   * `notifications` are written with the step's end (`done` or `failed`), in its transaction. Answers
   * how the step ended, or `retry`. A failed step's error reads as a dead letter's reason does: the
   * CRM's refusal, or the tenant's configuration.
   */
  private async sendOnce(
    runtime: TenantRuntime,
    t: SlaTimerRun,
    checkpoint: number,
    kind: 'remind' | 'escalate',
    detail: string,
    owner: string | null,
    now: number,
    notifications: { done: readonly NotificationInput[]; failed: readonly NotificationInput[] },
    find: ((step: SlaStepRow) => Promise<string | undefined>) | undefined,
    send: (
      step: SlaStepRow,
    ) => Promise<{ ok: true; id?: string | undefined } | { ok: false; error: CrmError }>,
  ): Promise<'done' | 'failed' | 'retry'> {
    const timers = this.opts.timers;
    const tenantId = runtime.tenantId;
    const row = await timers.planStep(
      tenantId,
      { timerId: t.id, leadId: t.leadId, checkpoint, kind, detail, owner, status: 'planned' },
      now,
    );
    if (row.status === 'done' || row.status === 'failed') return row.status;
    if (row.status === 'sent' && find !== undefined) {
      const found = await find(row);
      if (found !== undefined) {
        await timers.markStep(tenantId, row.id, 'sent', 'done', now, { crmId: found }, notifications.done);
        return 'done';
      }
    }
    if (row.status === 'planned' && !(await timers.markStep(tenantId, row.id, 'planned', 'sent', now)))
      return 'retry';
    let result: { ok: true; id?: string | undefined } | { ok: false; error: CrmError };
    try {
      result = await send(row);
    } catch (error) {
      const failure = toFailure(error);
      if (!(failure instanceof CrmError)) throw error;
      result = { ok: false, error: failure };
    }
    if (result.ok) {
      await timers.markStep(tenantId, row.id, 'sent', 'done', now, { crmId: result.id }, notifications.done);
      return 'done';
    }
    if (isRetryable(result.error)) {
      // Sent for sure not applied: give the claim back; unknown: stay `sent`, to be looked for.
      if (result.error.details.outcomeUnknown !== true)
        await timers.markStep(tenantId, row.id, 'sent', 'planned', now);
      return 'retry';
    }
    const error = describeFailure(result.error, runtime.connector.profile.crmName);
    await timers.markStep(tenantId, row.id, 'sent', 'failed', now, { error }, notifications.failed);
    this.opts.logger.warn('SLA step failed', { tenantId, leadId: t.leadId, step: kind, error });
    return 'failed';
  }
}

type EscalationTarget = { ownerId: string; owner: string } | { teamId: string } | TenantConfigError;

/**
 * Where an escalation lands in the CRM: a named rep's owner, a queue's target, or the manager of the
 * owner we wrote (`expected`), who is then a rep like any other. A TenantConfigError says why not.
 */
function escalationTarget(
  runtime: TenantRuntime,
  merged: MergedTeam,
  to: SlaEscalation,
  expected: string | null,
): EscalationTarget {
  const crm = runtime.connector.profile.crmName;
  const asRep = (email: string): EscalationTarget => {
    const o = merged.ownerByEmail.get(email);
    return o === undefined || !o.active
      ? new TenantConfigError(`escalation rep ${email} is not an active ${crm} owner`)
      : { ownerId: o.id, owner: email };
  };
  switch (to.kind) {
    case 'rep':
      return asRep(to.email);
    case 'manager': {
      if (expected === null) return new TenantConfigError('the lead has no rep whose manager it could go to');
      const manager = merged.team.reps[expected]?.manager;
      return manager === undefined
        ? new TenantConfigError(
            `${expected} has no manager: give them manager: in the team file, or a manager in ${crm}`,
          )
        : asRep(manager);
    }
    case 'queue': {
      const q = runtime.team.queues[to.name];
      const landed = landQueue(to.name, q?.target, merged, runtime.connector.profile);
      if (landed instanceof TenantConfigError) return landed;
      return landed.kind === 'owner'
        ? { ownerId: landed.ownerId, owner: q?.target.kind === 'owner' ? q.target.owner : landed.ownerId }
        : { teamId: landed.teamId };
    }
    default: {
      const never: never = to;
      return never;
    }
  }
}

const rerouteRequestSchema = z.object({
  timerId: z.number().int().positive(),
  checkpoint: z.number().int().nonnegative(),
  exclude: z.array(z.string()),
});

/** The re-route an inbox event asks for; a CrmError('invalid') when its value is not one we wrote. */
export function parseRerouteRequest(value: string | undefined): SlaRerouteRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value ?? '');
  } catch {
    parsed = undefined;
  }
  const r = rerouteRequestSchema.safeParse(parsed);
  if (!r.success) throw new CrmError('invalid', 'an SLA re-route event without a valid request');
  return r.data;
}

/**
 * A decision made for an SLA re-route: the lead's running timer goes on (so no new SLA), and the trace
 * says why it was decided again.
 */
export function asReroute(decision: Decision, exclude: readonly string[]): Decision {
  const { sla: _sla, ...rest } = decision;
  void _sla;
  return {
    ...rest,
    trace: {
      ...decision.trace,
      steps: [
        `SLA re-route: the lead was not touched in time; never back to ${exclude.join(', ') || 'nobody'}`,
        ...decision.trace.steps,
      ],
    },
  };
}
