import { decide } from '../../src/core/decide.js';
import { explainDecision, summarizeDecision } from '../../src/core/explain.js';
import { applyStateChanges } from '../../src/core/state.js';
import type {
  AccountMatch,
  AccountMatcher,
  Decision,
  DecisionContext,
  Lead,
  RuleSet,
  TaskSpec,
} from '../../src/core/types.js';
import {
  always,
  eq,
  EMPTY_STATE,
  makeLead,
  makePool,
  makeRep,
  makeRoute,
  makeRuleSet,
  makeTeam,
  MONDAY_10_UTC,
} from '../support/factories.js';

const NOW = MONDAY_10_UTC;
const team = makeTeam(
  [
    makeRep('ada@x.io', { name: 'Ada', weight: 2 }),
    makeRep('bo@x.io', { name: 'Bo Berg' }),
    makeRep('cy@x.io', { name: 'Cy', outOfOffice: [{ from: '2026-11-20', to: '2026-11-30' }] }),
    makeRep('old@x.io', { name: 'Old', active: false }),
    makeRep('mkt@x.io', { name: 'Marketing' }),
  ],
  ['triage', 'emea-triage'],
);

function accounts(match: AccountMatch | null): AccountMatcher {
  return { match: () => match };
}

function ctx(over: Partial<DecisionContext> = {}): DecisionContext {
  return { team, state: EMPTY_STATE, ...over };
}

const acme = (owner: string): AccountMatch => ({
  account: { id: 'acc-1', name: 'Acme GmbH', domains: ['acme.de'], owner, type: 'customer' },
  by: 'email_domain',
  score: 1,
  candidates: 2,
  tieBreak: 'customer before prospect',
});

describe('route selection', () => {
  const rules = makeRuleSet([
    makeRoute('Germany', eq('country', 'DE'), { kind: 'rep', email: 'ada@x.io' }),
    makeRoute('Also Germany', eq('country', 'DE'), { kind: 'rep', email: 'bo@x.io' }),
    makeRoute('France', eq('country', 'FR'), { kind: 'rep', email: 'bo@x.io' }),
  ]);

  it('takes the first matching route and records every route tried', () => {
    const d = decide(makeLead({ country: 'FR' }), rules, ctx(), NOW);
    expect(d.route).toEqual({ index: 2, name: 'France' });
    expect(d.destination).toEqual({ kind: 'rep', email: 'bo@x.io' });
    expect(d.trace.routes.map((r) => [r.name, r.matched])).toEqual([
      ['Germany', false],
      ['Also Germany', false],
      ['France', true],
    ]);
    expect(d.trace.routes[0]?.condition.values).toEqual({ country: 'FR' });
  });

  it('first match wins even when a later route matches too', () => {
    const d = decide(makeLead({ country: 'DE' }), rules, ctx(), NOW);
    expect(d.route?.name).toBe('Germany');
    expect(d.trace.routes).toHaveLength(1);
  });

  it('uses the rule set fallback when nothing matches, and says so', () => {
    const d = decide(makeLead({ country: 'JP' }), rules, ctx(), NOW);
    expect(d.route).toBeNull();
    expect(d.destination).toEqual({ kind: 'queue', name: 'triage' });
    expect(d.actions).toEqual([
      { kind: 'set_queue', queue: 'triage', target: { kind: 'team', team: 'triage' } },
      {
        kind: 'queue_task',
        queue: 'triage',
        target: { kind: 'team', team: 'triage' },
        subject: 'Pick up lead lead-1 from queue triage',
        body: 'Routed by "fallback" to queue triage: pick it up.',
        dueAt: NOW,
        priority: 'medium',
      },
    ]);
    expect(d.fallbacks).toEqual(['no_route_matched']);
    expect(d.trace.steps.at(-1)).toBe('no route matched → rule set fallback: queue triage');
  });

  it('carries the rule set name and version', () => {
    expect(decide(makeLead(), rules, ctx(), NOW).ruleSet).toEqual({ name: 'test rules', version: 'v-test' });
  });
});

describe('destinations', () => {
  const fallback = { kind: 'queue', name: 'emea-triage' } as const;
  it.each<[string, RuleSet, Partial<DecisionContext>, Lead, Decision['destination'], string | undefined]>([
    [
      'a named rep',
      makeRuleSet([makeRoute('r', always, { kind: 'rep', email: 'bo@x.io' })]),
      {},
      makeLead(),
      { kind: 'rep', email: 'bo@x.io' },
      'rep bo@x.io is available',
    ],
    [
      'a named rep who is inactive → rule set fallback',
      makeRuleSet([makeRoute('r', always, { kind: 'rep', email: 'old@x.io' })]),
      {},
      makeLead(),
      { kind: 'queue', name: 'triage' },
      'rep old@x.io skipped: deactivated → queue triage',
    ],
    [
      'a queue',
      makeRuleSet([makeRoute('r', always, { kind: 'queue', name: 'emea-triage' })]),
      {},
      makeLead(),
      { kind: 'queue', name: 'emea-triage' },
      undefined,
    ],
    [
      'none',
      makeRuleSet([makeRoute('r', always, { kind: 'none' })]),
      {},
      makeLead(),
      { kind: 'none' },
      undefined,
    ],
    [
      'account owner',
      makeRuleSet([makeRoute('r', always, { kind: 'account_owner', fallback })]),
      { accounts: accounts(acme('bo@x.io')) },
      makeLead(),
      { kind: 'rep', email: 'bo@x.io' },
      'account owner bo@x.io is available',
    ],
    [
      'account owner inactive → its fallback',
      makeRuleSet([makeRoute('r', always, { kind: 'account_owner', fallback })]),
      { accounts: accounts(acme('old@x.io')) },
      makeLead(),
      fallback,
      'account owner old@x.io skipped: deactivated → queue emea-triage',
    ],
    [
      'account owner out of office → its fallback',
      makeRuleSet([makeRoute('r', always, { kind: 'account_owner', fallback })]),
      { accounts: accounts(acme('cy@x.io')) },
      makeLead(),
      fallback,
      'account owner cy@x.io skipped: out of office 2026-11-20..2026-11-30 → queue emea-triage',
    ],
    [
      'no account → account owner fallback',
      makeRuleSet([makeRoute('r', always, { kind: 'account_owner', fallback })]),
      {},
      makeLead(),
      fallback,
      'no account matched → queue emea-triage',
    ],
    [
      'existing owner',
      makeRuleSet([makeRoute('r', always, { kind: 'existing_owner', fallback })]),
      {},
      makeLead({ owner: 'ada@x.io' }),
      { kind: 'rep', email: 'ada@x.io' },
      'existing owner ada@x.io is available',
    ],
    [
      'existing owner unknown to the team → fallback',
      makeRuleSet([makeRoute('r', always, { kind: 'existing_owner', fallback })]),
      {},
      makeLead({ owner: 'who@x.io' }),
      fallback,
      'existing owner who@x.io skipped: not in the team → queue emea-triage',
    ],
    [
      'no existing owner → fallback',
      makeRuleSet([makeRoute('r', always, { kind: 'existing_owner', fallback })]),
      {},
      makeLead(),
      fallback,
      'lead has no owner → queue emea-triage',
    ],
  ])('%s', (_name, rules, over, lead, destination, step) => {
    const d = decide(lead, rules, ctx(over), NOW);
    expect(d.destination).toEqual(destination);
    if (step !== undefined) expect(d.trace.steps).toContain(step);
  });

  it('a named rep who cannot take the lead is said in the one-line reason, so the console tells why', () => {
    const rules = makeRuleSet([makeRoute('France goes to Old', always, { kind: 'rep', email: 'old@x.io' })]);
    const lead = makeLead({ email: 'grace@brown.fr' });
    const d = decide(lead, rules, ctx(), NOW);
    expect(summarizeDecision(d, lead, ctx().team)).toMatch(
      /^grace@brown\.fr → .+ \(France goes to Old; rep old@x\.io skipped: deactivated\)/,
    );
  });

  it('a pool with nobody eligible falls back to the pool fallback, recorded as such', () => {
    const rules = makeRuleSet([makeRoute('r', always, { kind: 'pool', name: 'p' })], {
      pools: { p: makePool('p', ['cy@x.io', 'old@x.io'], { fallback: { kind: 'rep', email: 'bo@x.io' } }) },
    });
    const d = decide(makeLead(), rules, ctx(), NOW);
    expect(d.destination).toEqual({ kind: 'rep', email: 'bo@x.io' });
    expect(d.trace.assignments[0]?.fellBack).toBe(true);
    expect(d.trace.assignments[0]?.candidates.map((c) => c.skipped)).toEqual(['out_of_office', 'inactive']);
    expect(d.trace.steps).toContain('pool p: nobody eligible → rep bo@x.io');
  });

  it('never hands the lead to a rep who already had it (SLA re-route)', () => {
    const rules = makeRuleSet([makeRoute('r', always, { kind: 'pool', name: 'p' })], {
      pools: { p: makePool('p', ['ada@x.io', 'bo@x.io']) },
    });
    const d = decide(makeLead(), rules, ctx({ excludeReps: ['ada@x.io'] }), NOW);
    expect(d.destination).toEqual({ kind: 'rep', email: 'bo@x.io' });
  });

  it('a pool assignment advances the rotation state without touching the input state', () => {
    const rules = makeRuleSet([makeRoute('r', always, { kind: 'pool', name: 'p' })], {
      pools: { p: makePool('p', ['ada@x.io', 'bo@x.io']) },
    });
    const first = decide(makeLead(), rules, ctx(), NOW);
    const second = decide(
      makeLead({ id: 'lead-2' }),
      rules,
      ctx({ state: applyStateChanges(EMPTY_STATE, first.stateChanges) }),
      NOW + 1000,
    );
    expect([first.destination, second.destination]).toEqual([
      { kind: 'rep', email: 'ada@x.io' },
      { kind: 'rep', email: 'bo@x.io' },
    ]);
    expect(EMPTY_STATE).toEqual({ pools: {}, reps: {} });
    expect(second.stateChanges.reps['bo@x.io']?.day).toBe(1);
    expect(Object.keys(second.stateChanges.reps)).toEqual(['bo@x.io']);
  });
});

describe('hold for enrichment', () => {
  const rules = makeRuleSet([
    makeRoute('Hold', always, {
      kind: 'hold',
      fields: ['employees', 'country'],
      timeoutMs: 2 * 3_600_000,
      then: { kind: 'queue', name: 'emea-triage' },
    }),
    makeRoute('Big', always, { kind: 'rep', email: 'ada@x.io' }),
  ]);

  it('holds while a needed field is missing, naming the missing ones and the deadline', () => {
    const d = decide(makeLead({ country: 'DE' }), rules, ctx(), NOW);
    expect(d.destination).toEqual({ kind: 'hold', fields: ['employees'], until: NOW + 7_200_000 });
    expect(d.actions).toEqual([]);
    expect(d.trace.steps).toContain('held for enrichment: waiting for employees up to 2h');
  });

  it('passes over the hold once the fields are present', () => {
    const d = decide(makeLead({ country: 'DE', employees: 50 }), rules, ctx(), NOW);
    expect(d.route?.name).toBe('Big');
    expect(d.trace.routes[0]?.note).toBe('hold not needed: employees, country present');
  });

  it('keeps the original deadline when decided again before the timeout', () => {
    const d = decide(makeLead(), rules, ctx({ hold: { route: 'Hold', since: NOW - 3_600_000 } }), NOW);
    expect(d.destination).toEqual({ kind: 'hold', fields: ['employees', 'country'], until: NOW + 3_600_000 });
  });

  it('goes to the timeout destination when the hold has run out', () => {
    const d = decide(makeLead(), rules, ctx({ hold: { route: 'Hold', since: NOW - 7_200_000 } }), NOW);
    expect(d.destination).toEqual({ kind: 'queue', name: 'emea-triage' });
    expect(d.trace.steps[0]).toBe(
      'hold timed out after 2h still missing employees, country → queue emea-triage',
    );
  });
});

describe('actions and SLA', () => {
  const rules = makeRuleSet(
    [
      makeRoute(
        'Demo',
        eq('demo_requested', true),
        { kind: 'rep', email: 'bo@x.io' },
        {
          actions: {
            task: {
              subject: 'Demo request from {{company}}',
              body: '{{first_name}} via {{route}}, {{missing_field}}.',
              dueInMs: 15 * 60_000,
              priority: 'high',
            },
            sequence: { name: 'enterprise-demo' },
            note: true,
          },
          sla: { firstTouchMs: 10 * 60_000, onBreach: { kind: 'reroute' } },
        },
      ),
      makeRoute(
        'Nurture',
        always,
        { kind: 'none' },
        { actions: { sequence: { name: 'nurture', sender: 'mkt@x.io' }, note: false } },
      ),
    ],
    { fallbackActions: { note: false } },
  );

  it('plans owner, task, sequence and note, with templates filled and times from now', () => {
    const lead = makeLead({ email: 'ana@acme.de', company: 'Acme', firstName: 'Ana', demoRequested: true });
    const d = decide(lead, rules, ctx(), NOW);
    expect(d.actions).toEqual([
      { kind: 'set_owner', email: 'bo@x.io' },
      {
        kind: 'create_task',
        subject: 'Demo request from Acme',
        body: 'Ana via Demo, .',
        dueAt: NOW + 900_000,
        priority: 'high',
        assignee: 'bo@x.io',
      },
      { kind: 'enroll_sequence', sequence: { name: 'enterprise-demo' }, sender: 'bo@x.io' },
      {
        kind: 'write_note',
        text: 'ana@acme.de → Bo Berg (Demo) · task due 2026-11-23 10:15 UTC · sequence enterprise-demo',
      },
    ]);
    expect(d.sla).toEqual({ firstTouchBy: NOW + 600_000, onBreach: { kind: 'reroute' } });
  });

  it('an automated path enrolls with the configured sender and sets no owner', () => {
    const d = decide(makeLead({ email: 'kid@gmail.com' }), rules, ctx(), NOW);
    expect(d.destination).toEqual({ kind: 'none' });
    expect(d.actions).toEqual([
      { kind: 'enroll_sequence', sequence: { name: 'nurture', sender: 'mkt@x.io' }, sender: 'mkt@x.io' },
    ]);
    expect(d.sla).toBeUndefined();
  });

  it.each([
    ['{{company}}', 'a lead without a company', { email: 'ana@acme.de' }, 'Follow up ana@acme.de'],
    [
      '{{firstname}} {{lastname}}',
      'a lead without names or email',
      { email: undefined },
      'Follow up lead L-blank',
    ],
    ['{{company}}', 'a lead with a company', { email: 'ana@acme.de', company: 'Acme' }, 'Acme'],
  ])('a task subject %s for %s (a blank one names the lead)', (subject, _lead, fields, expected) => {
    const rules = makeRuleSet([
      makeRoute(
        'all',
        always,
        { kind: 'rep', email: 'bo@x.io' },
        {
          actions: { task: { subject, dueInMs: 60_000, priority: 'medium' }, note: false },
        },
      ),
    ]);
    const d = decide(makeLead({ id: 'L-blank', ...fields }), rules, ctx(), NOW);
    expect(d.actions.find((a) => a.kind === 'create_task')).toMatchObject({ subject: expected });
  });

  describe("a rep's task says why the lead came to them", () => {
    const poolRules = (task: TaskSpec) =>
      makeRuleSet(
        [makeRoute('EMEA', always, { kind: 'pool', name: 'p' }, { actions: { task, note: false } })],
        { pools: { p: makePool('p', ['cy@x.io', 'bo@x.io']) } },
      );
    const lead = makeLead({ email: 'ana@acme.de', company: 'Acme' });
    const reason = 'EMEA; pool p, round robin: longest waiting (never assigned); Cy out of office';

    it.each<[string, TaskSpec, string]>([
      [
        'a route task without a body: the reason the routing note gives',
        { subject: 'New lead: {{company}}', dueInMs: 60_000, priority: 'medium' },
        `Why this lead is yours: ${reason}`,
      ],
      [
        'a body of its own: {{reason}} and {{route}} filled',
        {
          subject: 'x',
          body: '{{company}} came via {{route}} ({{reason}})',
          dueInMs: 60_000,
          priority: 'low',
        },
        `Acme came via EMEA (${reason})`,
      ],
    ])('%s', (_name, task, body) => {
      const d = decide(lead, poolRules(task), ctx(), NOW);
      expect(d.actions.find((a) => a.kind === 'create_task')).toMatchObject({ assignee: 'bo@x.io', body });
      expect(summarizeDecision(d, lead, team)).toContain(`(${reason})`);
    });
  });
});

describe('queues land on their CRM target', () => {
  const TASK = { subject: 'Call {{email}}', dueInMs: 900_000, priority: 'high' as const };
  const SLA = { firstTouchMs: 3_600_000, onBreach: { kind: 'remind' as const } };
  const queueTeam = {
    ...team,
    queues: {
      desk: { name: 'desk', target: { kind: 'owner' as const, owner: 'desk@x.io' } },
      emea: { name: 'emea', target: { kind: 'team' as const, team: '410001' } },
    },
  };
  const route = (queue: string, over: Parameters<typeof makeRoute>[3] = {}) =>
    makeRuleSet([makeRoute('Q', always, { kind: 'queue', name: queue }, over)]);
  const lead = makeLead({ email: 'ana@acme.de' });

  it.each<[string, RuleSet, Decision['actions']]>([
    [
      'a team: the team, and a task naming it due per the route task',
      route('emea', { actions: { task: TASK, note: false }, sla: SLA }),
      [
        { kind: 'set_queue', queue: 'emea', target: { kind: 'team', team: '410001' } },
        {
          kind: 'queue_task',
          queue: 'emea',
          target: { kind: 'team', team: '410001' },
          subject: 'Call ana@acme.de',
          body: 'Routed by "Q" to queue emea: pick it up.',
          dueAt: NOW + 900_000,
          priority: 'high',
        },
      ],
    ],
    [
      'a team without a route task: the task is due by the SLA',
      route('emea', { sla: SLA }),
      [
        { kind: 'set_queue', queue: 'emea', target: { kind: 'team', team: '410001' } },
        {
          kind: 'queue_task',
          queue: 'emea',
          target: { kind: 'team', team: '410001' },
          subject: 'Pick up ana@acme.de from queue emea',
          body: 'Routed by "Q" to queue emea: pick it up.',
          dueAt: NOW + 3_600_000,
          priority: 'medium',
        },
      ],
    ],
    [
      'an owner: owned by it, no task unless the route asks',
      route('desk'),
      [{ kind: 'set_queue', queue: 'desk', target: { kind: 'owner', owner: 'desk@x.io' } }],
    ],
    [
      "an owner: the route's task goes to it",
      route('desk', { actions: { task: TASK, note: false } }),
      [
        { kind: 'set_queue', queue: 'desk', target: { kind: 'owner', owner: 'desk@x.io' } },
        {
          kind: 'queue_task',
          queue: 'desk',
          target: { kind: 'owner', owner: 'desk@x.io' },
          subject: 'Call ana@acme.de',
          body: 'Routed by "Q" to queue desk: pick it up.',
          dueAt: NOW + 900_000,
          priority: 'high',
        },
      ],
    ],
  ])('%s', (_name, rules, actions) => {
    const d = decide(lead, rules, ctx({ team: queueTeam }), NOW);
    expect(d.actions).toEqual(actions);
  });

  it('a queue the team has no target for is still a write (that fails with the reason), never nothing', () => {
    const d = decide(lead, route('gone'), ctx({ team: queueTeam }), NOW);
    expect(d.actions).toEqual([{ kind: 'set_queue', queue: 'gone' }]);
    expect(d.trace.steps).toContain('queue gone has no CRM target in the team');
  });

  it('explains the target and the task', () => {
    const d = decide(lead, route('emea', { sla: SLA }), ctx({ team: queueTeam }), NOW);
    const text = explainDecision(d, lead, queueTeam);
    expect(text).toContain('Action: queue emea (team 410001)');
    expect(text).toContain(
      'Action: task "Pick up ana@acme.de from queue emea" for queue emea (team 410001), due 2026-11-23T11:00:00.000Z (medium)',
    );
    expect(summarizeDecision(d, lead, queueTeam)).toBe(
      'ana@acme.de → queue emea (Q) · queue task due 2026-11-23 11:00 UTC',
    );
  });
});

describe('fallback reasons', () => {
  const fallback = { kind: 'queue', name: 'emea-triage' } as const;
  const one = (assign: Parameters<typeof makeRoute>[2]) => makeRuleSet([makeRoute('r', always, assign)]);
  it.each<[string, RuleSet, Partial<DecisionContext>, Lead, Decision['fallbacks']]>([
    ['none taken', one({ kind: 'rep', email: 'bo@x.io' }), {}, makeLead(), undefined],
    [
      'no route matched',
      makeRuleSet([makeRoute('r', eq('country', 'DE'), { kind: 'none' })]),
      {},
      makeLead(),
      ['no_route_matched'],
    ],
    ['a named rep unavailable', one({ kind: 'rep', email: 'old@x.io' }), {}, makeLead(), ['rep_unavailable']],
    ['no account matched', one({ kind: 'account_owner', fallback }), {}, makeLead(), ['no_account_matched']],
    [
      'account owner unavailable',
      one({ kind: 'account_owner', fallback }),
      { accounts: accounts(acme('old@x.io')) },
      makeLead(),
      ['account_owner_unavailable'],
    ],
    ['lead has no owner', one({ kind: 'existing_owner', fallback }), {}, makeLead(), ['lead_has_no_owner']],
    [
      'existing owner unavailable',
      one({ kind: 'existing_owner', fallback }),
      {},
      makeLead({ owner: 'who@x.io' }),
      ['existing_owner_unavailable'],
    ],
    [
      'a pool with nobody eligible, then its fallback rep unavailable too',
      makeRuleSet([makeRoute('r', always, { kind: 'pool', name: 'p' })], {
        pools: { p: makePool('p', ['old@x.io'], { fallback: { kind: 'rep', email: 'cy@x.io' } }) },
      }),
      {},
      makeLead(),
      ['pool_nobody_eligible', 'rep_unavailable'],
    ],
    ['an unknown pool', one({ kind: 'pool', name: 'nope' }), {}, makeLead(), ['unknown_pool']],
  ])('%s', (_name, rules, over, lead, fallbacks) => {
    expect(decide(lead, rules, ctx(over), NOW).fallbacks).toEqual(fallbacks);
  });
});

describe('determinism and explanation', () => {
  const rules = makeRuleSet([makeRoute('Pool', always, { kind: 'pool', name: 'p' })], {
    pools: { p: makePool('p', ['cy@x.io', 'ada@x.io', 'bo@x.io'], { strategy: 'weighted' }) },
  });
  const lead = makeLead({ email: 'ana@acme.de' });

  it('gives the same decision for the same inputs', () => {
    const a = decide(lead, rules, ctx({ accounts: accounts(acme('bo@x.io')) }), NOW);
    const b = decide(lead, rules, ctx({ accounts: accounts(acme('bo@x.io')) }), NOW);
    expect(JSON.parse(JSON.stringify(a))).toEqual(JSON.parse(JSON.stringify(b)));
  });

  it('summarizes in one line with pool, reason and skipped reps', () => {
    const d = decide(lead, rules, ctx(), NOW);
    const line = summarizeDecision(d, lead, team);
    expect(line).toMatch(/^ana@acme\.de → Ada \(Pool; pool p, .+; Cy out of office\)$/);
  });

  it('explains every route, the account and tie-break, every candidate and the outcome', () => {
    const d = decide(lead, rules, ctx({ accounts: accounts(acme('bo@x.io')) }), NOW);
    const text = explainDecision(d, lead, team);
    expect(text).toContain(
      'Account: Acme GmbH (acc-1) by email domain, owner bo@x.io; 2 candidates, decided by customer before prospect',
    );
    expect(text).toContain('✓ 1. Pool');
    expect(text).toContain('Cy <cy@x.io> skipped: out of office 2026-11-20..2026-11-30');
    expect(text).toContain('Ada <ada@x.io> → chosen');
    expect(text).toContain('Outcome: Ada');
  });
});
