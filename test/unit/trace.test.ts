// A decision's `trace.routes` is built from a compact record on first read. To every reader it must be
// the plain data a trace always was: same keys in the same order, same JSON, stable once read.
import { inspect } from 'node:util';
import { decide } from '../../src/core/decide.js';
import { explainDecision, renderTemplate } from '../../src/core/explain.js';
import type { Decision, RouteTrace, Trace } from '../../src/core/types.js';
import {
  always,
  eq,
  EMPTY_STATE,
  makeLead,
  makeRep,
  makeRoute,
  makeRuleSet,
  makeTeam,
  MONDAY_10_UTC,
} from '../support/factories.js';

const team = makeTeam([makeRep('ada@x.io', { name: 'Ada' })]);
const rules = makeRuleSet([
  makeRoute('France', eq('country', 'FR'), { kind: 'rep', email: 'ada@x.io' }),
  makeRoute('Needs employees', always, {
    kind: 'hold',
    fields: ['employees'],
    timeoutMs: 3_600_000,
    then: { kind: 'none' },
  }),
  makeRoute('Spain', eq('country', 'ES'), { kind: 'rep', email: 'ada@x.io' }),
  makeRoute('Germany', eq('country', 'DE'), { kind: 'rep', email: 'ada@x.io' }),
  makeRoute('Everyone', always, { kind: 'queue', name: 'triage' }),
]);
const lead = makeLead({ country: 'DE', employees: 50 });

function decideOnce(): Decision {
  return decide(lead, rules, { team, state: EMPTY_STATE }, MONDAY_10_UTC);
}

const EXPECTED_ROUTES: RouteTrace[] = [
  {
    index: 0,
    name: 'France',
    matched: false,
    condition: { text: 'country = FR', result: false, values: { country: 'DE' } },
  },
  {
    index: 1,
    name: 'Needs employees',
    matched: false,
    condition: { text: 'always', result: true },
    note: 'hold not needed: employees present',
  },
  {
    index: 2,
    name: 'Spain',
    matched: false,
    condition: { text: 'country = ES', result: false, values: { country: 'DE' } },
  },
  {
    index: 3,
    name: 'Germany',
    matched: true,
    condition: { text: 'country = DE', result: true, values: { country: 'DE' } },
  },
];

describe('decision trace', () => {
  it('lists every route tried, in order, with the match last', () => {
    expect(decideOnce().trace.routes).toEqual(EXPECTED_ROUTES);
  });

  it('has the keys of a plain trace, in the same order, and serializes like one', () => {
    const trace = decideOnce().trace;
    const plain: Trace = {
      routes: EXPECTED_ROUTES,
      account: null,
      assignments: [],
      steps: ['rep ada@x.io is available'],
    };
    expect(Object.keys(trace)).toEqual(['routes', 'account', 'assignments', 'steps']);
    expect(JSON.stringify(trace)).toBe(JSON.stringify(plain));
    expect(trace).toEqual(plain);
    expect({ ...trace }).toEqual(plain);
    expect(structuredClone(trace)).toEqual(plain);
    expect(inspect(trace, { depth: 5 })).toContain("name: 'Germany'");
  });

  it('builds the list once: it can be read, extended and replaced like a plain array', () => {
    const trace = decideOnce().trace;
    const routes = trace.routes;
    expect(trace.routes).toBe(routes);
    routes.push({ index: 9, name: 'extra', matched: false, condition: { text: 'x', result: false } });
    expect(trace.routes).toHaveLength(5);
    trace.routes = [];
    expect(trace.routes).toEqual([]);
    expect(JSON.parse(JSON.stringify(trace)).routes).toEqual([]);
  });

  it('does not change when the lead is changed after the decision', () => {
    const changing = makeLead({ country: 'DE', employees: 50 });
    const d = decide(changing, rules, { team, state: EMPTY_STATE }, MONDAY_10_UTC);
    changing.country = 'FR';
    expect(d.trace.routes).toEqual(EXPECTED_ROUTES);
  });

  it('explains the same routes as before', () => {
    const d = decideOnce();
    const text = explainDecision(d, lead, team);
    expect(text).toContain('✗ 1. France\n      ✗ country = FR [country=DE]');
    expect(text).toContain('✗ 2. Needs employees — hold not needed: employees present');
    expect(text).toContain('✓ 4. Germany\n      ✓ country = DE [country=DE]');
  });

  it('explains a multi-value field by its values, and a template lists them', () => {
    const multi = makeLead({ country: 'DE', fields: { interests: ['Routing', 'Scheduling'] } });
    const byInterest = makeRuleSet([
      makeRoute('Billing', eq('interests', 'billing'), { kind: 'rep', email: 'ada@x.io' }),
      makeRoute('Scheduling', eq('interests', 'scheduling'), { kind: 'rep', email: 'ada@x.io' }),
    ]);
    const d = decide(multi, byInterest, { team, state: EMPTY_STATE }, MONDAY_10_UTC);
    expect(d.route?.name).toBe('Scheduling');
    const text = explainDecision(d, multi, team);
    expect(text).toContain('✗ interests = billing [interests=Routing; Scheduling]');
    expect(renderTemplate('wants {{interests}}', multi, {})).toBe('wants Routing, Scheduling');
  });
});
