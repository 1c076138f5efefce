import type { Condition, Destination, RuleSet } from '../../../src/core/types.js';
import { describeCondition, loadRuleSet } from '../../../src/rules/index.js';

const HEAD = `territories:
  dach: { country: [DE, AT, CH] }
pools:
  emea-ae: { members: [ada@acme.io] }
`;
const TEAM = `team:
  reps:
    ada@acme.io: { timezone: Europe/Berlin }
  queues: { triage: { team: Triage } }
`;

/** A valid rule file with one route; `route` is the YAML of that route's body (indented by 4). */
function load(route: string): RuleSet {
  const src = `${HEAD}routes:\n  - name: r\n${route.replace(/^/gm, '    ')}\nfallback: { queue: triage }\n${TEAM}`;
  const r = loadRuleSet(src, 'rules/t.yaml');
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.ruleSet;
}
const when = (yaml: string): Condition => load(`when: ${yaml}\nassign: none`).routes[0]!.when;
const assign = (yaml: string): Destination => load(`assign: ${yaml}`).routes[0]!.assign;

const cmp = (field: string, op: string, rest: object = {}): Condition =>
  ({ kind: 'compare', field, op, ...rest }) as Condition;
const TRIAGE: Destination = { kind: 'queue', name: 'triage' };

describe('conditions', () => {
  it.each<[string, Condition, string]>([
    ['{ country: DE }', cmp('country', 'eq', { value: 'DE', caseSensitive: false }), 'country = DE'],
    [
      '{ country: [DE, AT, CH] }',
      cmp('country', 'in', { values: ['DE', 'AT', 'CH'], caseSensitive: false }),
      'country in [DE, AT, CH]',
    ],
    ['{ employees: { gte: 1000 } }', cmp('employees', 'gte', { value: 1000 }), 'employees ≥ 1000'],
    ['{ employees: { gt: 5 } }', cmp('employees', 'gt', { value: 5 }), 'employees > 5'],
    ['{ employees: { lt: 10 } }', cmp('employees', 'lt', { value: 10 }), 'employees < 10'],
    ['{ score: { lte: 10 } }', cmp('score', 'lte', { value: 10 }), 'score ≤ 10'],
    [
      '{ annual_revenue: { between: [1, 5] } }',
      cmp('annualRevenue', 'between', { min: 1, max: 5 }),
      'annualRevenue between 1 and 5',
    ],
    ['{ form: { eq: Demo } }', cmp('form', 'eq', { value: 'Demo', caseSensitive: false }), 'form = Demo'],
    [
      '{ industry: { neq: Retail } }',
      cmp('industry', 'neq', { value: 'Retail', caseSensitive: false }),
      'industry ≠ Retail',
    ],
    [
      '{ title: { contains: VP, case_sensitive: true } }',
      cmp('title', 'contains', { value: 'VP', caseSensitive: true }),
      'title contains "VP" (case-sensitive)',
    ],
    [
      '{ email_domain: { ends_with: .edu } }',
      cmp('emailDomain', 'ends_with', { value: '.edu', caseSensitive: false }),
      'emailDomain ends with ".edu"',
    ],
    [
      '{ postal_code: { starts_with: "01" } }',
      cmp('postalCode', 'starts_with', { value: '01', caseSensitive: false }),
      'postalCode starts with "01"',
    ],
    [
      '{ lead_source: { in: [web, ads] } }',
      cmp('leadSource', 'in', { values: ['web', 'ads'], caseSensitive: false }),
      'leadSource in [web, ads]',
    ],
    [
      '{ product_interest: { not_in: [x] } }',
      cmp('productInterest', 'not_in', { values: ['x'], caseSensitive: false }),
      'productInterest not in [x]',
    ],
    ['{ phone: { exists: true } }', cmp('phone', 'exists'), 'phone is present'],
    ['{ phone: { exists: false } }', cmp('phone', 'missing'), 'phone is missing'],
    ['{ hs_custom: { missing: true } }', cmp('hs_custom', 'missing'), 'hs_custom is missing'],
    [
      '{ demo_requested: true }',
      cmp('demoRequested', 'eq', { value: true, caseSensitive: false }),
      'demoRequested = true',
    ],
    ['{ territory: dach }', { kind: 'territory', name: 'dach' }, 'territory dach'],
    ['{ account: matched }', { kind: 'account_matched', value: true }, 'account matched'],
    ['{ account: unmatched }', { kind: 'account_matched', value: false }, 'no account matched'],
    ['{ account_owner: inactive }', { kind: 'account_owner_active', value: false }, 'account owner inactive'],
    ['{ email: free_mail }', { kind: 'free_mail', value: true }, 'email is free mail'],
    ['{ email: not_free_mail }', { kind: 'free_mail', value: false }, 'email is not free mail'],
    [
      '{ within_hours: { pool: emea-ae } }',
      { kind: 'within_hours', pool: 'emea-ae' },
      'within working hours of pool emea-ae',
    ],
    [
      '{ within_hours: { rep: ADA@acme.io } }',
      { kind: 'within_hours', rep: 'ada@acme.io' },
      'within working hours of rep ada@acme.io',
    ],
    [
      '{ not: { country: DE } }',
      { kind: 'not', of: cmp('country', 'eq', { value: 'DE', caseSensitive: false }) },
      'not (country = DE)',
    ],
    [
      '{ any: [ { email: free_mail }, { employees: { lt: 10 } } ] }',
      { kind: 'any', of: [{ kind: 'free_mail', value: true }, cmp('employees', 'lt', { value: 10 })] },
      'email is free mail or employees < 10',
    ],
    [
      '{ account: matched, account_owner: active }',
      {
        kind: 'all',
        of: [
          { kind: 'account_matched', value: true },
          { kind: 'account_owner_active', value: true },
        ],
      },
      'account matched and account owner active',
    ],
    [
      '{ employees: { gte: 10, lt: 100 } }',
      { kind: 'all', of: [cmp('employees', 'gte', { value: 10 }), cmp('employees', 'lt', { value: 100 })] },
      'employees ≥ 10 and employees < 100',
    ],
    ['{}', { kind: 'always' }, 'always'],
  ])('%s', (yaml, condition, text) => {
    const c = when(yaml);
    expect(c).toEqual(condition);
    expect(describeCondition(c)).toBe(text);
  });

  it('leaves out `when` as always', () => {
    expect(load('assign: none').routes[0]!.when).toEqual({ kind: 'always' });
  });

  it.each([
    ['{ title: { regex: "^vp" } }', 'VP Sales', true],
    ['{ title: { regex: "^vp" } }', 'SVP', false],
    ['{ title: { regex: "^vp", case_sensitive: true } }', 'VP Sales', false],
    ['{ title: { regex: "(a+)+$" } }', `${'a'.repeat(5000)}!`, false],
  ])('regex %s on %j → %s (linear-time engine)', (yaml, value, result) => {
    const c = when(yaml);
    if (c.kind !== 'compare' || c.op !== 'regex') throw new Error('not a regex');
    expect(c.pattern.test(value)).toBe(result);
    expect(describeCondition(c)).toBe(`title matches /${c.pattern.source}/`);
  });
});

describe('destinations', () => {
  it.each<[string, Destination]>([
    ['{ rep: Ada@Acme.io }', { kind: 'rep', email: 'ada@acme.io' }],
    ['{ pool: emea-ae }', { kind: 'pool', name: 'emea-ae' }],
    ['{ queue: triage }', TRIAGE],
    ['none', { kind: 'none' }],
    ['account_owner', { kind: 'account_owner', fallback: TRIAGE }],
    ['existing_owner', { kind: 'existing_owner', fallback: TRIAGE }],
    [
      '{ account_owner: { fallback: { pool: emea-ae } } }',
      { kind: 'account_owner', fallback: { kind: 'pool', name: 'emea-ae' } },
    ],
    [
      '{ existing_owner: { fallback: { rep: ada@acme.io } } }',
      { kind: 'existing_owner', fallback: { kind: 'rep', email: 'ada@acme.io' } },
    ],
    [
      '{ hold: { fields: [employees, country], timeout: 2h, then: { pool: emea-ae } } }',
      {
        kind: 'hold',
        fields: ['employees', 'country'],
        timeoutMs: 7_200_000,
        then: { kind: 'pool', name: 'emea-ae' },
      },
    ],
    [
      '{ hold: { fields: [annual_revenue], timeout: 30m } }',
      { kind: 'hold', fields: ['annualRevenue'], timeoutMs: 1_800_000, then: TRIAGE },
    ],
  ])('%s', (yaml, destination) => {
    expect(assign(yaml)).toEqual(destination);
  });
});

describe('route actions', () => {
  it('reads task, sequence, note and sla', () => {
    const r = load(`assign: { pool: emea-ae }
task: { subject: "Demo from {{company}}", body: hi, due: 15m, priority: high }
sequence: enterprise-demo
note: true
sla: { first_touch: 10m, on_breach: { escalate: { queue: triage } } }`).routes[0]!;
    expect(r.actions).toEqual({
      task: { subject: 'Demo from {{company}}', body: 'hi', dueInMs: 900_000, priority: 'high' },
      sequence: { name: 'enterprise-demo' },
      note: true,
    });
    expect(r.sla).toEqual({
      firstTouchMs: 600_000,
      onBreach: { kind: 'escalate', to: { kind: 'queue', name: 'triage' } },
    });
  });

  it.each([
    ['enterprise-demo', { name: 'enterprise-demo' }],
    ['{ id: "12345" }', { id: '12345' }],
    ['{ id: 12345 }', { id: '12345' }],
    ['{ name: Nurture }', { name: 'Nurture' }],
  ])('sequence %s', (yaml, spec) => {
    expect(load(`assign: none\nsequence: ${yaml}`).routes[0]!.actions.sequence).toEqual(spec);
  });

  it.each([
    ['remind', { kind: 'remind' }],
    ['reroute', { kind: 'reroute' }],
    ['{ escalate: { rep: ada@acme.io } }', { kind: 'escalate', to: { kind: 'rep', email: 'ada@acme.io' } }],
  ])('on_breach %s', (yaml, breach) => {
    expect(
      load(`assign: none\nsla: { first_touch: 1h, on_breach: ${yaml} }`).routes[0]!.sla?.onBreach,
    ).toEqual(breach);
  });

  it('defaults: medium priority, due in a day, no note, remind on breach', () => {
    const r = load('assign: none\ntask: { subject: x }\nsla: { first_touch: 1h }').routes[0]!;
    expect(r.actions).toEqual({
      task: { subject: 'x', dueInMs: 86_400_000, priority: 'medium' },
      note: false,
    });
    expect(r.sla?.onBreach).toEqual({ kind: 'remind' });
  });
});
