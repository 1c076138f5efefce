import { RE2JS } from 're2js';
import { evaluateCondition, describeCondition, type ConditionEnv } from '../../src/core/conditions.js';
import { inPostalRange, matchesTerritory } from '../../src/core/territories.js';
import type { AccountMatch, Condition, FieldValue, Lead, Territory } from '../../src/core/types.js';
import { makeLead, makePool, makeRep, makeTeam, MONDAY_10_UTC } from '../support/factories.js';

const territories: Record<string, Territory> = {
  dach: { name: 'dach', clauses: [{ country: ['DE', 'AT', 'CH'] }] },
  'us-west': { name: 'us-west', clauses: [{ country: ['US'], state: ['CA', 'OR', 'WA'] }] },
  london: { name: 'london', clauses: [{ country: ['GB'], postalPrefix: ['EC', 'WC', 'E1'] }] },
  'bay-area': {
    name: 'bay-area',
    clauses: [{ country: ['US'], postalRange: [{ from: '94000', to: '95199' }] }],
  },
  benelux: {
    name: 'benelux',
    clauses: [{ country: ['NL'] }, { country: ['BE'], city: ['Brussels', 'Antwerp'] }],
  },
};

function env(lead: Lead, over: Partial<ConditionEnv> = {}): ConditionEnv {
  return {
    lead,
    now: MONDAY_10_UTC,
    territories,
    pools: { day: makePool('day', ['ada@x.io']) },
    team: makeTeam([
      makeRep('ada@x.io', { hours: [{ days: [1, 2, 3, 4, 5], start: 9 * 60, end: 17 * 60 }] }),
      makeRep('gone@x.io', { active: false }),
    ]),
    account: null,
    isFreeMail: (d) => d === 'gmail.com',
    ...over,
  };
}

function cmp(
  field: string,
  op: 'eq' | 'neq' | 'contains' | 'starts_with' | 'ends_with',
  value: FieldValue,
  caseSensitive = false,
): Condition {
  return { kind: 'compare', field, op, value, caseSensitive };
}

function regex(field: string, source: string): Condition {
  const re = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
  return { kind: 'compare', field, op: 'regex', pattern: { source, test: (v) => re.matcher(v).find() } };
}

const lead = makeLead({
  email: 'ana@acme.de',
  emailDomain: 'acme.de',
  title: 'VP Sales',
  country: 'DE',
  employees: 1200,
  demoRequested: true,
  productInterest: 'Routing;Scheduling',
  // A multi-value field: its connector gives the values as a list.
  fields: { tier: 'Gold', region_code: 'emea', interests: ['Routing', 'Scheduling'], none: [] },
});

describe('compare conditions', () => {
  it.each<[string, Condition, boolean]>([
    ['eq folds case', cmp('title', 'eq', 'vp sales'), true],
    ['eq case sensitive', cmp('title', 'eq', 'vp sales', true), false],
    ['eq number against number', cmp('employees', 'eq', 1200), true],
    ['eq boolean', cmp('demo_requested', 'eq', true), true],
    ['eq custom field, any case of name', cmp('TIER', 'eq', 'gold'), true],
    ['eq one value of a multi-value field', cmp('interests', 'eq', 'scheduling'), true],
    ['eq never splits a string', cmp('product_interest', 'eq', 'scheduling'), false],
    ['eq a string whole, `;` and all', cmp('product_interest', 'eq', 'routing;scheduling'), true],
    ['neq holds when no value is it', cmp('interests', 'neq', 'billing'), true],
    ['neq fails when one value is it', cmp('interests', 'neq', 'routing'), false],
    [
      'in: any value of a multi-value field',
      { kind: 'compare', field: 'interests', op: 'in', values: ['billing', 'routing'], caseSensitive: false },
      true,
    ],
    [
      'not_in: none of its values',
      { kind: 'compare', field: 'interests', op: 'not_in', values: ['scheduling'], caseSensitive: false },
      false,
    ],
    ['contains looks at each value', cmp('interests', 'contains', 'sched'), true],
    ['starts_with does not run across values', cmp('interests', 'starts_with', 'routing;'), false],
    ['regex matches one value', regex('interests', '^sched'), true],
    [
      'a multi-value field with no values is missing',
      { kind: 'compare', field: 'none', op: 'missing' },
      true,
    ],
    ['…and does not exist', { kind: 'compare', field: 'none', op: 'exists' }, false],
    [
      'a multi-value field is never a number',
      { kind: 'compare', field: 'interests', op: 'gt', value: 0 },
      false,
    ],
    ['neq', cmp('country', 'neq', 'US'), true],
    ['neq on a missing value is false', cmp('city', 'neq', 'Berlin'), false],
    ['contains', cmp('title', 'contains', 'sales'), true],
    ['starts_with', cmp('email', 'starts_with', 'ANA@'), true],
    ['ends_with', cmp('email', 'ends_with', '.com'), false],
    ['in', { kind: 'compare', field: 'country', op: 'in', values: ['de', 'at'], caseSensitive: false }, true],
    [
      'not_in',
      { kind: 'compare', field: 'country', op: 'not_in', values: ['US', 'CA'], caseSensitive: false },
      true,
    ],
    [
      'not_in on a missing value is false',
      { kind: 'compare', field: 'state', op: 'not_in', values: ['CA'], caseSensitive: false },
      false,
    ],
    ['gt', { kind: 'compare', field: 'employees', op: 'gt', value: 1200 }, false],
    ['gte', { kind: 'compare', field: 'employees', op: 'gte', value: 1200 }, true],
    ['lt', { kind: 'compare', field: 'employees', op: 'lt', value: 10 }, false],
    ['lte', { kind: 'compare', field: 'employees', op: 'lte', value: 1200 }, true],
    ['gt on a missing number is false', { kind: 'compare', field: 'score', op: 'gt', value: 0 }, false],
    ['between inclusive', { kind: 'compare', field: 'employees', op: 'between', min: 1000, max: 1200 }, true],
    ['between outside', { kind: 'compare', field: 'employees', op: 'between', min: 1, max: 999 }, false],
    ['exists', { kind: 'compare', field: 'title', op: 'exists' }, true],
    ['missing', { kind: 'compare', field: 'city', op: 'missing' }, true],
    ['regex', regex('title', '\\bvp\\b'), true],
    ['regex no match', regex('title', '^cto$'), false],
  ])('%s', (_name, condition, expected) => {
    expect(evaluateCondition(condition, env(lead)).result).toBe(expected);
  });

  it('records a multi-value field as its list of values', () => {
    const t = evaluateCondition(cmp('interests', 'eq', 'billing'), env(lead));
    expect(t).toEqual({
      text: expect.any(String),
      result: false,
      values: { interests: ['Routing', 'Scheduling'] },
    });
  });

  it('records the values it looked at', () => {
    const t = evaluateCondition({ kind: 'compare', field: 'employees', op: 'gte', value: 1000 }, env(lead));
    expect(t).toEqual({ text: 'employees ≥ 1000', result: true, values: { employees: 1200 } });
  });

  it('compares numeric strings in custom fields as numbers', () => {
    const l = makeLead({ fields: { seats: '1,500' } });
    expect(evaluateCondition({ kind: 'compare', field: 'seats', op: 'gt', value: 1000 }, env(l)).result).toBe(
      true,
    );
  });
});

describe('nesting', () => {
  const yes = cmp('country', 'eq', 'DE');
  const no = cmp('country', 'eq', 'US');
  it.each<[string, Condition, boolean]>([
    ['all true', { kind: 'all', of: [yes, yes] }, true],
    ['all with one false', { kind: 'all', of: [yes, no] }, false],
    ['any with one true', { kind: 'any', of: [no, yes] }, true],
    ['any all false', { kind: 'any', of: [no, no] }, false],
    ['not', { kind: 'not', of: no }, true],
    [
      'nested',
      {
        kind: 'all',
        of: [
          { kind: 'any', of: [no, yes] },
          { kind: 'not', of: no },
        ],
      },
      true,
    ],
    ['always', { kind: 'always' }, true],
  ])('%s', (_name, condition, expected) => {
    expect(evaluateCondition(condition, env(lead)).result).toBe(expected);
  });

  it('stops at the first failing child of all, and shows which one failed', () => {
    const t = evaluateCondition({ kind: 'all', of: [yes, no, yes] }, env(lead));
    expect(t.children?.map((c) => [c.text, c.result])).toEqual([
      ['country = DE', true],
      ['country = US', false],
    ]);
  });
});

describe('special conditions', () => {
  const match: AccountMatch = {
    account: { id: 'a1', name: 'Acme', domains: ['acme.de'], owner: 'ada@x.io' },
    by: 'email_domain',
    score: 1,
    candidates: 1,
  };
  const orphan: AccountMatch = { ...match, account: { ...match.account, owner: 'gone@x.io' } };
  it.each<[string, Condition, Partial<ConditionEnv>, boolean]>([
    ['territory by country', { kind: 'territory', name: 'dach' }, {}, true],
    ['unknown territory never matches', { kind: 'territory', name: 'mars' }, {}, false],
    ['account matched', { kind: 'account_matched', value: true }, { account: match }, true],
    ['account not matched', { kind: 'account_matched', value: false }, {}, true],
    ['account owner active', { kind: 'account_owner_active', value: true }, { account: match }, true],
    ['account owner inactive', { kind: 'account_owner_active', value: false }, { account: orphan }, true],
    ['account owner active without account', { kind: 'account_owner_active', value: true }, {}, false],
    ['free mail', { kind: 'free_mail', value: true }, { lead: makeLead({ emailDomain: 'gmail.com' }) }, true],
    ['not free mail', { kind: 'free_mail', value: false }, {}, true],
    ['free mail without email is neither', { kind: 'free_mail', value: false }, { lead: makeLead() }, false],
    ['within hours of pool (Mon 10:00 UTC)', { kind: 'within_hours', pool: 'day' }, {}, true],
    [
      'within hours of pool at night',
      { kind: 'within_hours', pool: 'day' },
      { now: Date.parse('2026-11-23T22:00:00Z') },
      false,
    ],
    ['within hours of an inactive rep', { kind: 'within_hours', rep: 'gone@x.io' }, {}, false],
  ])('%s', (_name, condition, over, expected) => {
    expect(evaluateCondition(condition, env(lead, over)).result).toBe(expected);
  });

  it.each<[string, AccountMatch, Record<string, string>]>([
    ['an active rep', match, { accountOwner: 'ada@x.io', ownerIs: 'active' }],
    ['an inactive rep', orphan, { accountOwner: 'gone@x.io', ownerIs: 'inactive' }],
    [
      'someone outside the team',
      { ...match, account: { ...match.account, owner: 'cfo@acme.de' } },
      { accountOwner: 'cfo@acme.de', ownerIs: 'not a rep of the team' },
    ],
  ])("the trace says why the account's owner counts as active or not: %s", (_name, account, values) => {
    const t = evaluateCondition({ kind: 'account_owner_active', value: true }, env(lead, { account }));
    expect(t.values).toEqual(values);
  });
});

describe('territories', () => {
  it.each<[string, string, Partial<Lead>, boolean]>([
    ['us-west', 'state in list', { country: 'US', state: 'CA' }, true],
    ['us-west', 'state folds case', { country: 'US', state: 'or' }, true],
    ['us-west', 'state outside', { country: 'US', state: 'NY' }, false],
    ['us-west', 'country without state', { country: 'US' }, false],
    ['london', 'postal prefix', { country: 'GB', postalCode: 'EC1A 1BB' }, true],
    ['london', 'postal prefix ignores spaces', { country: 'GB', postalCode: 'wc2n 5dn' }, true],
    ['london', 'postal prefix outside', { country: 'GB', postalCode: 'M1 1AE' }, false],
    ['bay-area', 'postal range', { country: 'US', postalCode: '94105' }, true],
    ['bay-area', 'ZIP+4 in range', { country: 'US', postalCode: '95014-2083' }, true],
    ['bay-area', 'postal range outside', { country: 'US', postalCode: '10001' }, false],
    ['benelux', 'any clause: country only', { country: 'NL' }, true],
    ['benelux', 'any clause: country and city', { country: 'BE', city: 'brussels' }, true],
    ['benelux', 'city outside the clause', { country: 'BE', city: 'Ghent' }, false],
  ])('%s: %s', (name, _desc, over, expected) => {
    const territory = territories[name];
    expect(territory && matchesTerritory(territory, makeLead(over))).toBe(expected);
  });

  it.each([
    ['10001', '10000', '10099', true],
    ['1000', '10000', '10099', false],
    ['SW1A', 'SW1A', 'SW1Z', true],
  ])('postal %s in %s..%s = %s', (postal, from, to, expected) => {
    expect(inPostalRange(postal, { from, to })).toBe(expected);
  });
});

describe('describeCondition', () => {
  it.each<[Condition, string]>([
    [
      { kind: 'compare', field: 'country', op: 'in', values: ['DE', 'AT', 'CH'], caseSensitive: false },
      'country in [DE, AT, CH]',
    ],
    [
      {
        kind: 'all',
        of: [
          { kind: 'territory', name: 'dach' },
          { kind: 'compare', field: 'employees', op: 'gte', value: 1000 },
        ],
      },
      'territory dach and employees ≥ 1000',
    ],
    [{ kind: 'not', of: { kind: 'free_mail', value: true } }, 'not (email is free mail)'],
  ])('%j → %s', (c, text) => {
    expect(describeCondition(c)).toBe(text);
  });
});
