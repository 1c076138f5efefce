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
import type { Condition, Lead, Territory } from '../../src/core/types.js';
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
};

const leaf: fc.Arbitrary<Condition> = fc.oneof(
  fc.constantFrom<Condition>(
    { kind: 'always' },
    { kind: 'territory', name: 'dach' },
    { kind: 'territory', name: 'west' },
    { kind: 'territory', name: 'london' },
    { kind: 'territory', name: 'nowhere' },
    { kind: 'free_mail', value: true },
    { kind: 'free_mail', value: false },
    { kind: 'account_matched', value: false },
    { kind: 'within_hours', pool: 'p' },
    { kind: 'compare', field: 'country', op: 'missing' },
    { kind: 'compare', field: 'title', op: 'exists' },
    { kind: 'compare', field: 'title', op: 'contains', value: 'vp', caseSensitive: false },
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
    country: fc.constantFrom('DE', 'US', 'GB', 'CA', undefined),
    state: fc.constantFrom('CA', 'NY', undefined),
    city: fc.constantFrom('Vancouver', 'Berlin', undefined),
    postalCode: fc.constantFrom('EC1A 1BB', 'M1 1AE', undefined),
    employees: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
    emailDomain: fc.constantFrom('gmail.com', 'acme.io', undefined),
    title: fc.constantFrom('VP Sales', 'Engineer', undefined),
  })
  .map((over) => makeLead(over));

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
