// The report repository on every engine: a tenant's decisions in a window as facts, with the time the
// owner write landed and the SLA timer; paged through the window; and a report run end to end.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Decision } from '../../src/core/types.js';
import { distributionOfCounts, distributionReport } from '../../src/reports/reports.js';
import { runReport } from '../../src/reports/run.js';
import { decidedAgainKey, type DecisionInput, type Storage } from '../../src/storage/index.js';
import { ENGINES, T0, addTenant, makeDecision, ownerAction } from './helpers.js';

const A = 'tenant-a';
const B = 'tenant-b';
const MIN = 60_000;
const NONE = { pools: {}, reps: {} };
const assignment = (pool: string, chosen: string) => ({
  pool,
  strategy: 'round_robin' as const,
  candidates: [],
  chosen,
  reason: 'next in rotation',
  fellBack: false,
});

function input(key: string, decision: Partial<Decision>, eventAt?: number): DecisionInput {
  return {
    decisionKey: key,
    decision: makeDecision({ leadId: key, stateChanges: NONE, sla: undefined, ...decision }),
    summary: key,
    eventAt,
  };
}

for (const [name, engine, suite] of ENGINES) {
  suite(`reports on ${name}`, () => {
    let s: Storage;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ storage: s, close } = await engine.open());
      await addTenant(s, A);
      await addTenant(s, B);
    });
    afterEach(async () => {
      await close();
    });

    it('reads the window’s decisions with their owner write and SLA timer, holds left out', async () => {
      const results = await s.commitDecisions(
        A,
        [
          input(
            'l1',
            {
              decidedAt: T0,
              trace: { routes: [], assignments: [assignment('emea', 'ada@acme.io')], steps: [] },
              sla: { firstTouchBy: T0 + 30 * MIN, onBreach: { kind: 'reroute' } },
            },
            T0 - 2 * MIN,
          ),
          input('l2', {
            decidedAt: T0 + MIN,
            route: null,
            destination: { kind: 'queue', name: 'smb' },
            actions: [{ kind: 'set_queue', queue: 'smb' }],
            fallbacks: ['no_route_matched'],
          }),
          input('l3', {
            decidedAt: T0 + 2 * MIN,
            destination: { kind: 'hold', fields: ['country'], until: T0 },
          }),
          input('before', { decidedAt: T0 - 1 }),
          input('at-until', { decidedAt: T0 + 60 * MIN }),
        ],
        NONE,
        T0,
      );
      expect(results.map((r) => r.status)).toEqual(Array(5).fill('committed'));
      await s.commitDecision(B, input('other-tenant', { decidedAt: T0 }), NONE, T0);
      const owner = (await s.actionsForDecision(A, 'l1')).find((a) => a.kind === 'set_owner');
      expect(await s.markActionDone(A, owner!.id, null, T0 + 3 * MIN)).toBe(true);
      const [timer] = await s.slaTimersFor(A, 'l1');
      // What the SLA processor stores as it works the timer: steps done (one only planned), the outcome.
      const step = (
        checkpoint: number,
        kind: 'remind' | 'reroute' | 'escalate',
        status: 'done' | 'planned',
      ) =>
        s.slaTimers.planStep(
          A,
          { timerId: timer!.id, leadId: 'l1', checkpoint, kind, detail: kind, status },
          T0,
        );
      await step(1, 'remind', 'done');
      await step(2, 'reroute', 'done');
      await step(3, 'escalate', 'planned');
      await s.db.run(
        `UPDATE sla_timers SET state = 'met', outcome = 'met_late', first_touch_at = ? WHERE tenant_id = ? AND id = ?`,
        [T0 + 40 * MIN, A, timer!.id],
      );

      const facts = await s.reports.decisionFacts(A, { since: T0, until: T0 + 60 * MIN });
      expect(facts).toEqual([
        {
          leadId: 'l1',
          decidedAt: T0,
          eventAt: T0 - 2 * MIN,
          rule: 'Enterprise demo requests in DACH',
          pool: 'emea',
          owner: 'ada@acme.io',
          queue: null,
          ownerWrittenAt: T0 + 3 * MIN,
          fallbacks: [],
          sla: { state: 'met', dueAt: T0 + 30 * MIN, outcome: 'met_late', firstTouchAt: T0 + 40 * MIN },
          steps: { reminders: 1, reroutes: 1, escalations: 0 },
        },
        {
          leadId: 'l2',
          decidedAt: T0 + MIN,
          eventAt: null,
          rule: null,
          pool: null,
          owner: null,
          queue: 'smb',
          ownerWrittenAt: null,
          fallbacks: ['no_route_matched'],
          sla: null,
          steps: { reminders: 0, reroutes: 0, escalations: 0 },
        },
      ]);

      const speed = await runReport(s, A, { kind: 'speed', since: T0, until: T0 + 60 * MIN });
      expect(speed.rows).toEqual([
        expect.objectContaining({
          window: '(all)',
          leads: 2,
          owner_written: 1,
          event_to_owner_p50_ms: 5 * MIN,
          first_touched: 1,
          owner_to_touch_p50_ms: 37 * MIN,
        }),
      ]);
      const reroutes = await runReport(s, A, {
        kind: 'reroutes',
        since: T0,
        until: T0 + 60 * MIN,
        by: 'rule',
      });
      expect(reroutes.rows).toContainEqual(
        expect.objectContaining({
          rule: 'Enterprise demo requests in DACH',
          reminders: 1,
          reroutes: 1,
          escalations: 0,
        }),
      );
      const fallbacks = await runReport(s, A, {
        kind: 'fallbacks',
        since: T0,
        until: T0 + 60 * MIN,
        by: 'rule',
      });
      expect(fallbacks.rows).toContainEqual({
        rule: '(fallback)',
        reason: 'no_route_matched',
        leads: 1,
        of_leads: 1,
        share: 1,
      });
      await expect(
        runReport(s, A, { kind: 'distribution', since: T0, until: T0 + 60 * MIN }),
      ).rejects.toThrow(/no published rule set/);
    });

    it('counts a lead decided again (its owner refused as inactive) once, for the owner the decision made again gave it', async () => {
      const sam = { kind: 'rep', email: 'sam@acme.io' } as const;
      const first = input(
        'l1:route',
        {
          leadId: 'l1',
          decidedAt: T0,
          destination: sam,
          actions: [{ kind: 'set_owner', email: sam.email }],
          trace: { routes: [], assignments: [assignment('solo', sam.email)], steps: [] },
          sla: { firstTouchBy: T0 + 30 * MIN, onBreach: { kind: 'reroute' } },
        },
        T0 - MIN,
      );
      const again: DecisionInput = {
        ...input(
          decidedAgainKey('l1:route'),
          {
            leadId: 'l1',
            decidedAt: T0 + 1,
            destination: { kind: 'rep', email: 'tess@acme.io' },
            actions: [{ kind: 'set_owner', email: 'tess@acme.io' }],
            trace: { routes: [], assignments: [assignment('backup', 'tess@acme.io')], steps: [] },
            fallbacks: ['pool_nobody_eligible'],
            sla: { firstTouchBy: T0 + 30 * MIN, onBreach: { kind: 'reroute' } },
          },
          T0 - MIN,
        ),
        decidedAgain: { reason: 'not written: the CRM refused sam@acme.io as inactive' },
      };
      expect((await s.commitDecision(A, first, NONE, T0)).status).toBe('committed');
      expect((await s.commitDecision(A, again, NONE, T0 + 1)).status).toBe('committed');
      const [owner] = await s.actionsForDecision(A, again.decisionKey);
      expect(await s.markActionDone(A, owner!.id, null, T0 + 2)).toBe(true);

      const facts = await s.reports.decisionFacts(A, { since: T0, until: T0 + 60 * MIN });
      expect(facts).toEqual([
        expect.objectContaining({
          leadId: 'l1',
          decidedAt: T0 + 1,
          eventAt: T0 - MIN,
          pool: 'backup',
          owner: 'tess@acme.io',
          ownerWrittenAt: T0 + 2,
          fallbacks: ['pool_nobody_eligible'],
          sla: { state: 'armed', dueAt: T0 + 30 * MIN, outcome: null, firstTouchAt: null },
        }),
      ]);
      // Sam never got the lead: no share of the solo pool's leads.
      expect(distributionReport(facts).rows.map((r) => [r['pool'], r['rep'], r['assigned']])).toEqual([
        ['backup', 'tess@acme.io', 1],
      ]);
    });

    it('counts the leads each pool gave each rep in the database as the distribution report counts the facts', async () => {
      const rep = (pool: string, email: string, at: number) => ({
        decidedAt: at,
        destination: { kind: 'rep', email } as const,
        trace: { routes: [], assignments: [assignment(pool, email)], steps: [] },
      });
      const decided = await s.commitDecisions(
        A,
        [
          input('l1:route', { leadId: 'l1', ...rep('emea', 'ada@acme.io', T0) }),
          input('l2:route', { leadId: 'l2', ...rep('emea', 'ada@acme.io', T0 + 1) }),
          input('l3:route', { leadId: 'l3', ...rep('emea', 'bo@acme.io', T0 + 2) }),
          input('l4:route', { leadId: 'l4', ...rep('na', 'ada@acme.io', T0 + 3) }),
          // Not a pool's: a rep named by the route, a queue, a hold.
          input('l5:route', {
            leadId: 'l5',
            decidedAt: T0 + 4,
            destination: { kind: 'rep', email: 'bo@acme.io' },
          }),
          input('l6:route', {
            leadId: 'l6',
            decidedAt: T0 + 5,
            destination: { kind: 'queue', name: 'desk' },
          }),
          input('l7:route', {
            leadId: 'l7',
            decidedAt: T0 + 6,
            destination: {
              kind: 'hold',
              fields: ['industry'],
              until: T0 + MIN,
            },
          }),
          // Outside the window.
          input('l8:route', { leadId: 'l8', ...rep('emea', 'bo@acme.io', T0 + 60 * MIN) }),
        ],
        NONE,
        T0,
      );
      expect(decided.map((d) => d.status)).toEqual(Array(8).fill('committed'));
      // l2 decided again, for bo: counted once, for bo.
      await s.commitDecision(
        A,
        {
          ...input(decidedAgainKey('l2:route'), { leadId: 'l2', ...rep('emea', 'bo@acme.io', T0 + 7) }),
          decidedAgain: { reason: 'refused' },
        },
        NONE,
        T0 + 7,
      );
      await s.commitDecision(
        B,
        input('b1:route', { leadId: 'b1', ...rep('emea', 'ada@acme.io', T0) }),
        NONE,
        T0,
      );

      const window = { since: T0, until: T0 + 30 * MIN };
      const counts = await s.reports.poolAssignments(A, window);
      expect(counts).toEqual([
        { pool: 'emea', owner: 'ada@acme.io', leads: 1 },
        { pool: 'emea', owner: 'bo@acme.io', leads: 2 },
        { pool: 'na', owner: 'ada@acme.io', leads: 1 },
      ]);
      expect(distributionOfCounts(counts)).toEqual(
        distributionReport(await s.reports.decisionFacts(A, window)),
      );
      await expect(s.reports.poolAssignments(A, { since: T0, until: T0 })).rejects.toMatchObject({
        kind: 'invalid',
      });
    });

    it('pages through a window larger than a page, in order, each decision once', async () => {
      const n = 1_234;
      const inputs = Array.from({ length: n }, (_, i) =>
        input(`lead-${String(i).padStart(5, '0')}`, {
          decidedAt: T0 + Math.floor(i / 7),
          actions: [ownerAction],
        }),
      );
      for (let at = 0; at < n; at += 400) await s.commitDecisions(A, inputs.slice(at, at + 400), NONE, T0);
      const facts = await s.reports.decisionFacts(A, { since: T0, until: T0 + n });
      expect(facts.map((f) => f.leadId)).toEqual(inputs.map((i) => i.decisionKey));
      const part = await s.reports.decisionFacts(A, { since: T0 + 10, until: T0 + 20 });
      expect(part).toHaveLength(70);
    });

    it('refuses an empty or reversed window', async () => {
      await expect(s.reports.decisionFacts(A, { since: T0, until: T0 })).rejects.toMatchObject({
        kind: 'invalid',
      });
    });
  });
}

describe('the report query', () => {
  it('walks the tenant and time index on SQLite', async () => {
    const { storage, close } = await ENGINES[0]![1].open();
    try {
      const plan = await storage.db.all<{ detail: string }>(
        `EXPLAIN QUERY PLAN SELECT id FROM decisions d WHERE d.tenant_id = ? AND d.decided_at >= ? AND d.decided_at < ?
         ORDER BY d.decided_at, d.id LIMIT 10`,
        [A, T0, T0 + 1],
      );
      expect(plan.map((p) => p.detail).join('\n')).toMatch(/USING (COVERING )?INDEX decisions_tenant_time/);
    } finally {
      await close();
    }
  });
});
