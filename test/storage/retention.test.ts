// Retention on every engine, on a fixed clock: rows past their retention are deleted in batches, and
// nothing still needed is — pending and leased work, dead letters within their window, claimed effect
// keys, decisions with an action to write, an SLA timer still to watch or an open hold. Per-minute CRM
// call counts go with done inbox rows.
import { afterEach, beforeEach, expect, it } from '@jest/globals';
import { CrmCallRepository, type RetentionPolicy, type Storage } from '../../src/storage/index.js';
import { insertNotificationsWith } from '../../src/storage/notifications.js';
import { ENGINES, T0, addTenant, makeDecision, makeEvent, ownerAction, taskAction } from './helpers.js';

const A = 'tenant-a';
const DAY = 24 * 60 * 60_000;
const POLICY: RetentionPolicy = { inboxDoneMs: 30 * DAY, deadLetterMs: 90 * DAY, decisionMs: 365 * DAY };
const NO_CHANGES = { pools: {}, reps: {} };

for (const [name, engine, suite] of ENGINES) {
  suite(`retention on ${name}`, () => {
    let s: Storage;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ storage: s, close } = await engine.open());
      await addTenant(s, A);
    });
    afterEach(async () => {
      await close();
    });

    /** One inbox row for `lead`, taken to `state` at `at`, with the route effect key it claimed. */
    async function row(lead: string, state: 'pending' | 'leased' | 'done' | 'failed', at: number) {
      await s.enqueue([{ tenantId: A, event: makeEvent({ objectId: lead }) }], at);
      if (state === 'pending') return;
      const [item] = await s.claim({ tenantId: A, workerId: 'w', limit: 1, leaseMs: 400 * DAY, now: at });
      if (item === undefined) throw new Error('nothing claimed');
      expect(await s.claimEffect(A, lead, 'route', item.id, at)).toBe('claimed');
      if (state === 'done') await s.complete(item.id, 'w', at);
      if (state === 'failed') await s.deadLetter(item.id, 'w', 'HubSpot refused: no seat', at);
    }

    /**
     * A committed decision for `lead` at `at`: its actions done and its SLA met, unless an action is to
     * stay planned or the SLA timer armed (due at `armedDue`).
     */
    async function decision(lead: string, at: number, keep: { planned?: boolean; armedDue?: number } = {}) {
      const sla = { firstTouchBy: keep.armedDue ?? at + 10 * 60_000, onBreach: { kind: 'reroute' as const } };
      const r = await s.commitDecision(
        A,
        {
          decisionKey: `${lead}:route`,
          decision: makeDecision({
            leadId: lead,
            decidedAt: at,
            actions: [ownerAction, taskAction],
            sla,
            stateChanges: NO_CHANGES,
          }),
          summary: `${lead} → ada`,
        },
        NO_CHANGES,
        at,
      );
      if (r.status !== 'committed') throw new Error(`not committed: ${r.status}`);
      const done = keep.planned === true ? r.actions.slice(0, 1) : r.actions;
      await s.markActionsDone(
        A,
        done.map((a) => ({ id: a.id, crmId: null })),
        at,
      );
      if (keep.armedDue === undefined)
        for (const t of await s.slaTimersFor(A, lead)) await s.setSlaState(A, t.id, 'armed', 'met', at);
    }

    const hold = (leadId: string) =>
      s.placeHold(A, { leadId, route: 'r', fields: ['country'], since: T0, until: T0 + 60_000 });
    const count = async (sql: string): Promise<number> =>
      Number((await s.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${sql}`))?.n);
    const leads = async (table: 'inbox' | 'decisions' | 'effects'): Promise<string[]> =>
      (
        await s.db.all<{ lead: string }>(
          `SELECT ${table === 'inbox' ? 'object_id' : 'lead_id'} AS lead FROM ${table} ORDER BY 1`,
        )
      ).map((r) => r.lead);

    it('deletes done inbox rows after 30 days in batches, never pending, leased or recent ones', async () => {
      await row('done-old-1', 'done', T0);
      await row('done-old-2', 'done', T0 + DAY);
      await row('done-recent', 'done', T0 + 2 * DAY);
      await row('pending-old', 'pending', T0);
      await row('leased-old', 'leased', T0);
      await row('dead-old', 'failed', T0);
      const now = T0 + 31 * DAY + 1;
      expect(await s.purgeExpired(now, POLICY, 1)).toEqual({
        inbox: 1,
        deadLetters: 0,
        effects: 0,
        decisions: 0,
        holds: 0,
        slaSteps: 0,
        notifications: 0,
        crmCalls: 0,
      });
      expect(await leads('inbox')).not.toContain('done-old-1');
      expect(await s.purgeExpired(now, POLICY, 1)).toMatchObject({ inbox: 1 });
      expect(await s.purgeExpired(now, POLICY, 1)).toMatchObject({ inbox: 0 });
      expect(await leads('inbox')).toEqual(['dead-old', 'done-recent', 'leased-old', 'pending-old']);
      // Effect keys outlive the inbox rows: a redelivery under a new event id still finds the lead routed.
      expect(await leads('effects')).toEqual([
        'dead-old',
        'done-old-1',
        'done-old-2',
        'done-recent',
        'leased-old',
      ]);
      expect(await s.queueDepth()).toEqual(new Map([[A, { pending: 1, leased: 1, failed: 1 }]]));
    });

    it('keeps dead letters 90 days, then deletes them and releases the effect keys they claimed', async () => {
      await row('dead-old', 'failed', T0);
      await row('dead-recent', 'failed', T0 + 10 * DAY);
      expect(await s.purgeExpired(T0 + 89 * DAY, POLICY, 100)).toMatchObject({ deadLetters: 0 });
      expect((await s.deadLetters(A)).map((d) => d.event.objectId)).toEqual(['dead-recent', 'dead-old']);
      expect(await s.purgeExpired(T0 + 91 * DAY, POLICY, 100)).toMatchObject({ deadLetters: 1 });
      expect((await s.deadLetters(A)).map((d) => d.event.objectId)).toEqual(['dead-recent']);
      expect(await leads('effects')).toEqual(['dead-recent']);
      // The lead of the expired dead letter can be routed by a new event.
      await s.enqueue([{ tenantId: A, event: makeEvent({ objectId: 'dead-old' }) }], T0 + 92 * DAY);
      const [again] = await s.claim({
        tenantId: A,
        workerId: 'w2',
        limit: 1,
        leaseMs: DAY,
        now: T0 + 92 * DAY,
      });
      expect(await s.claimEffect(A, 'dead-old', 'route', again!.id, T0 + 92 * DAY)).toBe('claimed');
    });

    it('keeps the audit trail a year, and longer while a decision is still needed', async () => {
      await row('settled', 'done', T0);
      await decision('settled', T0);
      await decision('planned', T0, { planned: true });
      // SLA timers still armed: one due 2 days after the decision (watched), one due long ago (history).
      await decision('armed', T0, { armedDue: T0 + 2 * DAY });
      await decision('armed-long-ago', T0, { armedDue: T0 + 10 * 60_000 });
      await decision('recent', T0 + 200 * DAY);
      // Committing a decision releases the lead's hold: hold this lead again, open for good.
      await hold('held');
      await decision('held', T0);
      await hold('held');
      await hold('released');
      const released = await s.activeHold(A, 'released');
      await s.releaseHold(A, released!.id, 'timed_out', T0 + 60_000);

      expect(await s.purgeExpired(T0 + 364 * DAY, POLICY, 100)).toMatchObject({
        decisions: 0,
        effects: 0,
        holds: 0,
      });
      expect(await s.purgeExpired(T0 + 366 * DAY, POLICY, 100)).toEqual({
        inbox: 0,
        deadLetters: 0,
        effects: 1,
        decisions: 2,
        holds: 2,
        slaSteps: 0,
        notifications: 0,
        crmCalls: 0,
      });
      expect(await leads('decisions')).toEqual(['armed', 'held', 'planned', 'recent']);
      expect(await leads('effects')).toEqual([]);
      expect(await count(`actions WHERE lead_id IN ('settled', 'armed-long-ago')`)).toBe(0);
      expect(await count(`sla_timers WHERE lead_id IN ('settled', 'armed-long-ago')`)).toBe(0);
      expect(await count(`actions WHERE lead_id = 'planned'`)).toBe(2);
      expect(await count(`sla_timers WHERE lead_id = 'armed'`)).toBe(1);
      expect(await s.activeHold(A, 'held')).not.toBeNull();
      expect(await count(`holds`)).toBe(1);
      // Once the last action is written, the old decision goes too; the watched timer, once past.
      const [planned] = await s.pendingActions(A, 'planned');
      await s.markActionDone(A, planned!.id, 'task-1', T0 + 366 * DAY);
      expect(await s.purgeExpired(T0 + 366 * DAY, POLICY, 100)).toMatchObject({ decisions: 1 });
      expect(await s.purgeExpired(T0 + 368 * DAY, POLICY, 100)).toMatchObject({ decisions: 1 });
      expect(await leads('decisions')).toEqual(['held', 'recent']);
    });

    it('keeps finished SLA steps a year and notifications as long as done inbox rows or dead letters', async () => {
      const step = (timerId: number, status: 'done' | 'failed' | 'planned', at: number) =>
        s.slaTimers.planStep(
          A,
          {
            timerId,
            leadId: `lead-${timerId}`,
            checkpoint: 0,
            kind: 'remind',
            detail: 'not touched',
            status,
          },
          at,
        );
      await step(1, 'done', T0);
      await step(2, 'failed', T0);
      // Being sent: a claim on a CRM write, never purged.
      await step(3, 'planned', T0);
      await step(4, 'done', T0 + 200 * DAY);
      const note = async (id: string, outcome: 'delivered' | 'failed' | 'pending', at: number) => {
        await insertNotificationsWith(
          s.db,
          [
            {
              tenantId: A,
              channel: 'ops:webhook',
              messageId: id,
              event: 'lead.reminder',
              leadId: id,
              payload: '{}',
            },
          ],
          at,
        );
        if (outcome === 'pending') return;
        const [d] = await s.notifications.claimDue('w', at, at + 60_000, 1);
        if (d === undefined) throw new Error('nothing to deliver');
        if (outcome === 'delivered') await s.notifications.delivered(d, 'w', at);
        else await s.notifications.failed(d, 'w', 'HTTP 503', { giveUp: true }, at);
      };
      await note('delivered-old', 'delivered', T0);
      await note('given-up-old', 'failed', T0);
      await note('delivered-recent', 'delivered', T0 + 20 * DAY);
      // Last: a pending row would be the next one claimed above.
      await note('pending-old', 'pending', T0);
      const notes = async (): Promise<string[]> =>
        (await s.notifications.deliveries(A)).map((d) => d.messageId).sort();

      expect(await s.purgeExpired(T0 + 31 * DAY, POLICY, 100)).toMatchObject({
        slaSteps: 0,
        notifications: 1,
      });
      expect(await notes()).toEqual(['delivered-recent', 'given-up-old', 'pending-old']);
      // 91 days: the given-up one is past the dead letters' 90, the recent delivery past its 30.
      expect(await s.purgeExpired(T0 + 91 * DAY, POLICY, 100)).toMatchObject({ notifications: 2 });
      expect(await notes()).toEqual(['pending-old']);
      expect(await s.purgeExpired(T0 + 366 * DAY, POLICY, 1)).toMatchObject({ slaSteps: 1 });
      expect(await s.purgeExpired(T0 + 366 * DAY, POLICY, 1)).toMatchObject({ slaSteps: 1 });
      expect(await s.purgeExpired(T0 + 366 * DAY, POLICY, 1)).toMatchObject({ slaSteps: 0 });
      expect(
        (await s.db.all<{ timer_id: number }>('SELECT timer_id FROM sla_steps ORDER BY timer_id')).map((r) =>
          Number(r.timer_id),
        ),
      ).toEqual([3, 4]);
      expect(await notes()).toEqual(['pending-old']);
    });

    it('per-minute CRM call counts add up across flushes and go once as old as done inbox rows', async () => {
      const counts = new CrmCallRepository(s.db);
      const minute = (m: number) => T0 + m * 60_000;
      await counts.add([
        { tenantId: A, minute: minute(0), outcome: 'rate_limited', calls: 2 },
        { tenantId: A, minute: minute(0), outcome: 'rate_limited', calls: 1 },
        { tenantId: A, minute: minute(0), outcome: 'auth', calls: 1 },
      ]);
      // A second flush (another process) adds to the same minute's row.
      await counts.add([{ tenantId: A, minute: minute(0), outcome: 'rate_limited', calls: 4 }]);
      await counts.add([{ tenantId: A, minute: minute(20 * 24 * 60), outcome: 'ok', calls: 5 }]);
      expect(await counts.totalsSince(A, T0)).toMatchObject({
        rate_limited: 7,
        auth: 1,
        ok: 5,
        transient: 0,
      });
      expect(await counts.totalsSince(A, minute(1))).toMatchObject({ rate_limited: 0, auth: 0, ok: 5 });
      await expect(
        counts.add([{ tenantId: A, minute: T0 + 1, outcome: 'ok', calls: 1 }]),
      ).rejects.toMatchObject({ kind: 'invalid' });

      expect(await s.purgeExpired(T0 + 31 * DAY, POLICY, 1)).toMatchObject({ crmCalls: 1 });
      expect(await s.purgeExpired(T0 + 31 * DAY, POLICY, 1)).toMatchObject({ crmCalls: 1 });
      expect(await s.purgeExpired(T0 + 31 * DAY, POLICY, 1)).toMatchObject({ crmCalls: 0 });
      expect(await counts.totalsSince(A, 0)).toMatchObject({ rate_limited: 0, auth: 0, ok: 5 });
    });

    it('refuses a batch size that is not a positive integer', async () => {
      await expect(s.purgeExpired(T0, POLICY, 0)).rejects.toMatchObject({ kind: 'invalid' });
    });
  });
}
