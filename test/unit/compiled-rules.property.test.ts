// The decision loop runs compiled conditions; the plain evaluators in conditions.ts are the reference.
// For random conditions and leads, both must agree on the result, the failure trace and the full trace.
import fc from 'fast-check';
import {
  conditionHolds,
  evaluateCondition,
  explainFailure,
  type ConditionEnv,
} from '../../src/core/conditions.js';
import { compiledRules } from '../../src/core/compiled-rules.js';
import { decide } from '../../src/core/decide.js';
import type { Condition, ConditionTrace, Lead, RouteTrace, Territory } from '../../src/core/types.js';
import {
  makeLead,
  makePool,
  makeRep,
  makeRoute,
  makeRuleSet,
  makeTeam,
  MONDAY_10_UTC,
} from '../support/factories.js';

const territories: Record<string, Territory> = {
  dach: { name: 'dach', clauses: [{ country: ['DE', 'AT', 'CH'] }] },
  west: {
    name: 'west',
    clauses: [
      { country: ['US'], state: ['CA', 'OR'] },
      { country: ['CA'], city: ['Vancouver'] },
    ],
  },
  london: { name: 'london', clauses: [{ country: ['GB'], postalPrefix: ['EC', 'WC'] }] },
  // Not bound to countries: a clause without a country list (matched lead by lead, not by country).
  berlin: { name: 'berlin', clauses: [{ city: ['Berlin'] }] },
  mixed: { name: 'mixed', clauses: [{ country: ['FR'] }, { postalPrefix: ['EC'] }] },
  empty: { name: 'empty', clauses: [] },
};

const leaf: fc.Arbitrary<Condition> = fc.oneof(
  fc.constantFrom<Condition>(
    { kind: 'always' },
    { kind: 'territory', name: 'dach' },
    { kind: 'territory', name: 'west' },
    { kind: 'territory', name: 'london' },
    { kind: 'territory', name: 'berlin' },
    { kind: 'territory', name: 'mixed' },
    { kind: 'territory', name: 'empty' },
    { kind: 'territory', name: 'nowhere' },
    { kind: 'free_mail', value: true },
    { kind: 'free_mail', value: false },
    { kind: 'account_matched', value: false },
    { kind: 'within_hours', pool: 'p' },
    { kind: 'compare', field: 'country', op: 'missing' },
    { kind: 'compare', field: 'title', op: 'exists' },
    { kind: 'compare', field: 'title', op: 'contains', value: 'vp', caseSensitive: false },
    // Field names that are not a normalized field spelled exactly: an alias, snake case, a custom field.
    { kind: 'compare', field: 'zip', op: 'exists' },
    { kind: 'compare', field: 'annual_revenue', op: 'gte', value: 1000 },
    { kind: 'compare', field: 'Plan', op: 'eq', value: 'pro', caseSensitive: false },
    { kind: 'compare', field: 'plan', op: 'neq', value: 'team', caseSensitive: false },
    { kind: 'compare', field: 'plan', op: 'not_in', values: ['free', 'team'], caseSensitive: false },
    { kind: 'compare', field: 'plan', op: 'starts_with', value: 'te', caseSensitive: false },
    { kind: 'compare', field: 'plan', op: 'missing' },
  ),
  fc
    .integer({ min: 0, max: 3000 })
    .map<Condition>((n) => ({ kind: 'compare', field: 'employees', op: 'gte', value: n })),
  fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2000 })).map<Condition>(([a, b]) => ({
    kind: 'compare',
    field: 'employees',
    op: 'between',
    min: Math.min(a, b),
    max: Math.max(a, b),
  })),
  fc.subarray(['DE', 'US', 'GB', 'FR'], { minLength: 1 }).map<Condition>((values) => ({
    kind: 'compare',
    field: 'country',
    op: 'in',
    values,
    caseSensitive: false,
  })),
);

const condition: fc.Arbitrary<Condition> = fc.letrec<{ c: Condition }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('c'), { minLength: 1, maxLength: 3 }).map<Condition>((of) => ({ kind: 'all', of })),
    fc.array(tie('c'), { minLength: 1, maxLength: 3 }).map<Condition>((of) => ({ kind: 'any', of })),
    tie('c').map<Condition>((of) => ({ kind: 'not', of })),
  ),
})).c;

const lead: fc.Arbitrary<Lead> = fc
  .record({
    country: fc.constantFrom('DE', 'US', 'GB', 'CA', 'FR', undefined),
    state: fc.constantFrom('CA', 'NY', undefined),
    city: fc.constantFrom('Vancouver', 'Berlin', undefined),
    postalCode: fc.constantFrom('EC1A 1BB', 'M1 1AE', undefined),
    employees: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
    emailDomain: fc.constantFrom('gmail.com', 'acme.io', undefined),
    title: fc.constantFrom('VP Sales', 'Engineer', undefined),
    annualRevenue: fc.constantFrom(500, 5000, undefined),
    // A multi-value field as its connector gives it, and a string holding a `;` that is one value.
    plan: fc.constantFrom<string | string[] | undefined>(
      'Pro',
      'free',
      'Pro;Team',
      ['Pro', 'Team'],
      [],
      undefined,
    ),
  })
  .map(({ plan, ...over }) => makeLead({ ...over, fields: plan === undefined ? {} : { plan } }));

const team = makeTeam([makeRep('ada@x.io', { hours: [{ days: [1, 2, 3, 4, 5], start: 540, end: 1020 }] })]);
const pools = { p: makePool('p', ['ada@x.io']) };

describe('compiled conditions', () => {
  it('agree with the reference evaluators on result, failure trace and full trace', () => {
    fc.assert(
      fc.property(
        fc.array(condition, { minLength: 1, maxLength: 5 }),
        lead,
        fc.integer({ min: 0, max: 6 * 86_400_000 }),
        (whens, l, offset) => {
          const ruleSet = makeRuleSet(
            whens.map((when, i) => makeRoute(`r${i}`, when, { kind: 'queue', name: 'triage' })),
            { territories, pools },
          );
          const env: ConditionEnv = {
            lead: l,
            now: MONDAY_10_UTC + offset,
            territories,
            pools,
            team,
            account: null,
            isFreeMail: (d) => d === 'gmail.com',
          };
          const compiled = compiledRules(ruleSet);
          const scope = compiled.acquire(env);
          try {
            whens.forEach((when, i) => {
              const node = compiled.routes[i]!;
              expect(node.holds(scope)).toBe(conditionHolds(when, env));
              expect(node.fail(scope)).toEqual(explainFailure(when, env));
              expect(node.trace(scope)).toEqual(evaluateCondition(when, env));
            });
          } finally {
            compiled.release(scope);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

// Rule files list routes for one territory together ("DACH enterprise", "DACH mid-market" …), and the
// decision loop rules out such a run at once when the lead is outside the territory. Random rule sets
// with runs, checked against the reference evaluators route by route.
const territoryName = fc.constantFrom('dach', 'west', 'london', 'berlin', 'mixed', 'empty', 'nowhere');
const runOfRoutes: fc.Arbitrary<Condition[]> = fc.oneof(
  fc
    .tuple(territoryName, fc.array(condition, { minLength: 1, maxLength: 4 }))
    .map(([name, rests]) =>
      rests.map<Condition>((rest) => ({ kind: 'all', of: [{ kind: 'territory', name }, rest] })),
    ),
  territoryName.map<Condition[]>((name) => [{ kind: 'territory', name }]),
  condition.map((c) => [c]),
);

describe('compiled rule sets', () => {
  it('scan stops where the reference first holds and records each failure as explainFailure does', () => {
    fc.assert(
      fc.property(
        fc.array(runOfRoutes, { minLength: 1, maxLength: 6 }).map((runs) => runs.flat()),
        lead,
        fc.integer({ min: 0, max: 6 * 86_400_000 }),
        fc.nat(),
        (whens, l, offset, start) => {
          const ruleSet = makeRuleSet(
            whens.map((when, i) => makeRoute(`r${i}`, when, { kind: 'queue', name: 'triage' })),
            { territories, pools },
          );
          const now = MONDAY_10_UTC + offset;
          const env: ConditionEnv = {
            lead: l,
            now,
            territories,
            pools,
            team,
            account: null,
            isFreeMail: (d) => d === 'gmail.com',
          };
          const firstHolding = whens.findIndex((when) => conditionHolds(when, env));
          const from = start % whens.length;
          const compiled = compiledRules(ruleSet);
          const scope = compiled.acquire(env);
          try {
            const failures: ConditionTrace[] = [];
            const stop = compiled.scan(scope, from, whens.length, {
              failed: (condition, count) => {
                for (let c = 0; c < count; c++) failures.push(condition);
              },
            });
            const expectedStop = whens.findIndex((when, i) => i >= from && conditionHolds(when, env));
            expect(stop).toBe(expectedStop < 0 ? whens.length : expectedStop);
            expect(failures).toEqual(whens.slice(from, stop).map((when) => explainFailure(when, env)));
          } finally {
            compiled.release(scope);
          }

          // decide lists every route tried, as the reference explains it, and only those.
          const d = decide(
            l,
            ruleSet,
            { team, state: { pools: {}, reps: {} }, isFreeMail: env.isFreeMail },
            now,
          );
          const tried = firstHolding < 0 ? whens.length : firstHolding + 1;
          const expected: RouteTrace[] = whens
            .slice(0, tried)
            .map((when, i) =>
              i === firstHolding
                ? { index: i, name: `r${i}`, matched: true, condition: evaluateCondition(when, env) }
                : { index: i, name: `r${i}`, matched: false, condition: explainFailure(when, env)! },
            );
          expect(d.trace.routes).toEqual(expected);
          expect(JSON.parse(JSON.stringify(d.trace.routes))).toEqual(JSON.parse(JSON.stringify(expected)));
        },
      ),
      { numRuns: 400 },
    );
  });
});
