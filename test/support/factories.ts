// Small factories for core tests: every field has a sensible default, tests name only what matters.
import { pickFromPool, type PickResult } from '../../src/core/distribution.js';
import { applyStateChanges } from '../../src/core/state.js';
import type {
  Condition,
  Destination,
  Lead,
  Pool,
  Rep,
  Route,
  RoutingState,
  RuleSet,
  Team,
} from '../../src/core/types.js';

export const MONDAY_10_UTC = Date.parse('2026-11-23T10:00:00Z');

export function makeLead(over: Partial<Lead> = {}): Lead {
  return { id: 'lead-1', fields: {}, ...over };
}

export function makeRep(email: string, over: Partial<Rep> = {}): Rep {
  return { email, timezone: 'UTC', hours: [], outOfOffice: [], weight: 1, caps: {}, active: true, ...over };
}

export function makeTeam(reps: Rep[], queues: string[] = ['triage']): Team {
  return {
    reps: Object.fromEntries(reps.map((r) => [r.email, r])),
    // Each queue lands on a CRM team of its own name.
    queues: Object.fromEntries(queues.map((name) => [name, { name, target: { kind: 'team', team: name } }])),
  };
}

export function makePool(name: string, members: string[], over: Partial<Pool> = {}): Pool {
  return {
    name,
    members,
    strategy: 'round_robin',
    respectHours: true,
    fallback: { kind: 'queue', name: 'triage' },
    ...over,
  };
}

export function makeRoute(
  name: string,
  when: Condition,
  assign: Destination,
  over: Partial<Route> = {},
): Route {
  return { name, index: 0, when, assign, actions: { note: false }, ...over };
}

export function makeRuleSet(routes: Route[], over: Partial<RuleSet> = {}): RuleSet {
  return {
    name: 'test rules',
    version: 'v-test',
    territories: {},
    pools: {},
    routes: routes.map((r, index) => ({ ...r, index })),
    fallback: { kind: 'queue', name: 'triage' },
    fallbackActions: { note: false },
    ...over,
  };
}

export const EMPTY_STATE: RoutingState = { pools: {}, reps: {} };

export const always: Condition = { kind: 'always' };

export function eq(field: string, value: string | number | boolean): Condition {
  return { kind: 'compare', field, op: 'eq', value, caseSensitive: false };
}

/** pickFromPool plus the state after it, for tests that follow a rotation step by step. */
export type AppliedPick = PickResult & { nextState: RoutingState };

export function pickAndApply(...args: Parameters<typeof pickFromPool>): AppliedPick {
  const result = pickFromPool(...args);
  return { ...result, nextState: applyStateChanges(args[2], result.changes) };
}
