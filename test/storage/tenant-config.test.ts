// Per-tenant configuration on every engine: a publication stores and activates a rule set and a team in
// one transaction (or nothing), keeps the history, refuses a stale base, and rolls back to any earlier
// version; each decision keeps the lead and account it was decided on, found again by the activity
// search and deleted with the decision.
import { afterEach, beforeEach, expect, it } from '@jest/globals';
import { DecisionInputRepository, TenantConfigRepository, type Storage } from '../../src/storage/index.js';
import { makeLead } from '../support/factories.js';
import { ENGINES, T0, addTenant, makeDecision, makeState } from './helpers.js';

const A = 'tenant-a';
const B = 'tenant-b';
const RULES_1 = { version: 'r1', name: 'one', source: 'routes: []\n' };
const RULES_2 = { version: 'r2', name: 'two', source: 'routes: [] # two\n' };
const TEAM_1 = { version: 't1', source: 'reps: {}\n' };
const TEAM_2 = { version: 't2', source: 'reps: { ada@acme.io: {} }\n' };

for (const [name, engine, suite] of ENGINES) {
  suite(`tenant configuration on ${name}`, () => {
    let storage: Storage;
    let config: TenantConfigRepository;
    let inputs: DecisionInputRepository;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ storage, close } = await engine.open());
      config = new TenantConfigRepository(storage.db);
      inputs = new DecisionInputRepository(storage.db);
      await addTenant(storage, A);
      await addTenant(storage, B);
    });
    afterEach(async () => {
      await close();
    });

    it('publishes rules and team together, keeps the history, and rolls back to an earlier pair', async () => {
      const first = await config.publish(
        A,
        { rules: RULES_1, team: TEAM_1, publishedBy: 'install', note: 'installed' },
        T0,
      );
      expect(first.status).toBe('published');
      expect(await config.activeVersions(A)).toEqual({ rules: 'r1', team: 't1' });
      expect((await storage.activeRuleset(A))?.source).toBe(RULES_1.source);
      expect((await config.activeTeam(A))?.source).toBe(TEAM_1.source);

      await config.publish(
        A,
        { rules: RULES_2, team: TEAM_2, publishedBy: 'ada@acme.io', note: 'DACH pool', basedOn: 'r1' },
        T0 + 1,
      );
      expect(await config.activeVersions(A)).toEqual({ rules: 'r2', team: 't2' });
      // Rollback: stored versions by name only.
      const back = await config.publish(
        A,
        { rules: { version: 'r1' }, team: { version: 't1' }, publishedBy: 'bo@acme.io', note: 'undo' },
        T0 + 2,
      );
      expect(back.status).toBe('published');
      expect(await config.activeVersions(A)).toEqual({ rules: 'r1', team: 't1' });
      expect(
        (await config.publications(A)).map((p) => [p.rulesetVersion, p.teamVersion, p.publishedBy, p.note]),
      ).toEqual([
        ['r1', 't1', 'bo@acme.io', 'undo'],
        ['r2', 't2', 'ada@acme.io', 'DACH pool'],
        ['r1', 't1', 'install', 'installed'],
      ]);
      // Another tenant sees none of it.
      expect(await config.activeVersions(B)).toEqual({ rules: null, team: null });
      expect(await config.publications(B)).toEqual([]);
      expect(await config.teamVersion(B, 't1')).toBeNull();
    });

    it('a publication on a stale base or naming an unknown version changes nothing', async () => {
      await config.publish(A, { rules: RULES_1, team: TEAM_1, publishedBy: 'install', note: '' }, T0);
      expect(
        await config.publish(A, { rules: RULES_2, publishedBy: 'x', note: '', basedOn: 'r0' }, T0 + 1),
      ).toEqual({ status: 'conflict', active: 'r1' });
      expect(
        await config.publish(A, { rules: { version: 'nope' }, publishedBy: 'x', note: '' }, T0 + 1),
      ).toEqual({ status: 'unknown_version', what: 'rules', version: 'nope' });
      // The new rule set would be stored and marked, but the team is unknown: all of it rolls back.
      expect(
        await config.publish(
          A,
          { rules: RULES_2, team: { version: 'nope' }, publishedBy: 'x', note: '' },
          T0 + 1,
        ),
      ).toEqual({ status: 'unknown_version', what: 'team', version: 'nope' });
      expect(await config.activeVersions(A)).toEqual({ rules: 'r1', team: 't1' });
      expect(await storage.getRuleset(A, 'r2')).toBeNull();
      expect(await config.publications(A)).toHaveLength(1);
      // Another tenant's versions are not this tenant's.
      await config.publish(B, { rules: RULES_2, team: TEAM_2, publishedBy: 'x', note: '' }, T0);
      expect(
        await config.publish(A, { rules: { version: 'r2' }, publishedBy: 'x', note: '' }, T0 + 2),
      ).toEqual({ status: 'unknown_version', what: 'rules', version: 'r2' });
    });

    it('keeps what each decision was decided on, finds it by text, route, rep and time, and deletes it with the decision', async () => {
      const ada = makeLead({ id: 'c1', email: 'ada@bigco.de', firstName: 'Ada', company: 'BigCo 100%' });
      const bo = makeLead({ id: 'c2', email: 'bo@small.io', lastName: 'Lovelace' });
      const account = { id: 'acc-1', name: 'BigCo', domains: ['bigco.de'], owner: 'cy@acme.io' };
      const committed = await storage.commitDecisions(
        A,
        [
          {
            decisionKey: 'c1:route',
            decision: makeDecision({ leadId: 'c1', decidedAt: T0 }),
            summary: 's',
            inputs: { lead: ada, account },
          },
          {
            decisionKey: 'c2:route',
            decision: makeDecision({
              leadId: 'c2',
              decidedAt: T0 + 60_000,
              route: { index: 0, name: 'Nurture' },
              destination: { kind: 'rep', email: 'bo@acme.io' },
              stateChanges: makeState(2),
            }),
            summary: 's',
            inputs: { lead: bo, account: null },
          },
        ],
        { pools: {}, reps: {} },
        T0,
      );
      expect(committed.map((c) => c.status)).toEqual(['committed', 'committed']);

      const recent = await inputs.recent(A, 10);
      expect(recent.map((r) => [r.leadId, r.lead, r.account])).toEqual([
        ['c2', bo, null],
        ['c1', ada, account],
      ]);
      const keys = async (q: Parameters<DecisionInputRepository['search']>[1]) =>
        (await inputs.search(A, q)).map((r) => r.leadId);
      expect(await keys({ text: 'LOVELACE', limit: 10 })).toEqual(['c2']);
      expect(await keys({ text: '100%', limit: 10 })).toEqual(['c1']);
      expect(await keys({ text: '0%', limit: 10 })).toEqual(['c1']);
      expect(await keys({ text: '_', limit: 10 })).toEqual([]);
      expect(await keys({ text: 'c1', limit: 10 })).toEqual(['c1']);
      expect(await keys({ route: 'Nurture', limit: 10 })).toEqual(['c2']);
      expect(await keys({ owner: 'Ada@Acme.io', limit: 10 })).toEqual(['c1']);
      expect(await keys({ from: T0 + 1, limit: 10 })).toEqual(['c2']);
      expect(await keys({ to: T0 + 1, limit: 10 })).toEqual(['c1']);
      expect(await inputs.search(B, { limit: 10 })).toEqual([]);

      await storage.purgeContact(A, 'c1', T0 + 1);
      expect((await inputs.recent(A, 10)).map((r) => r.leadId)).toEqual(['c2']);
      expect(await storage.db.all('SELECT decision_key FROM decision_inputs')).toEqual([
        { decision_key: 'c2:route' },
      ]);
    });
  });
}
