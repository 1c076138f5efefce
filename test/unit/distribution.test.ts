import { pickAndApply, type AppliedPick } from '../support/factories.js';
import type { Pool, Rep, RepCounters, RoutingState, Strategy, Team } from '../../src/core/types.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-03T10:00:00Z'); // Wednesday 12:00 in Berlin

function makeRep(email: string, over: Partial<Rep> = {}): Rep {
  return {
    email,
    timezone: 'Europe/Berlin',
    hours: [],
    outOfOffice: [],
    weight: 1,
    caps: {},
    active: true,
    ...over,
  };
}

function makeTeam(...reps: Rep[]): Team {
  return { reps: Object.fromEntries(reps.map((r) => [r.email, r])), queues: {} };
}

function makePool(strategy: Strategy, members: string[], over: Partial<Pool> = {}): Pool {
  return {
    name: 'p',
    members,
    strategy,
    respectHours: true,
    fallback: { kind: 'queue', name: 'triage' },
    ...over,
  };
}

function emptyState(): RoutingState {
  return { pools: {}, reps: {} };
}

function counters(over: Partial<RepCounters> = {}): RepCounters {
  return { dayKey: '2026-06-03', day: 0, weekKey: '2026-W23', week: 0, recent: [], open: 0, ...over };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Runs `steps` picks, threading the state; returns the chosen emails and every result. */
function run(
  pool: Pool,
  team: Team,
  state: RoutingState,
  steps: number,
  now = NOW,
): [string[], AppliedPick[]] {
  const chosen: string[] = [];
  const results: AppliedPick[] = [];
  let s = state;
  for (let i = 0; i < steps; i++) {
    const r = pickAndApply(pool, team, s, now + i);
    results.push(r);
    chosen.push(r.chosen ?? '-');
    s = r.nextState;
  }
  return [chosen, results];
}

const A = 'a@x.io';
const B = 'b@x.io';
const C = 'c@x.io';
const D = 'd@x.io';

describe('pickFromPool: nobody eligible', () => {
  it('falls back, explains every candidate and leaves the state alone', () => {
    const team = makeTeam(
      makeRep(A, { active: false }),
      makeRep(B, { outOfOffice: [{ from: '2026-06-01', to: '2026-06-05' }] }),
    );
    const state = emptyState();
    const r = pickAndApply(makePool('round_robin', [A, B, C]), team, state, NOW, [C]);
    expect(r.chosen).toBeUndefined();
    expect(r.nextState).toBe(state);
    expect(r.trace).toEqual({
      pool: 'p',
      strategy: 'round_robin',
      candidates: [
        { email: A, skipped: 'inactive', detail: 'deactivated' },
        { email: B, skipped: 'out_of_office', detail: 'out of office 2026-06-01..2026-06-05' },
        { email: C, skipped: 'unknown_rep', detail: 'not in the team' },
      ],
      reason: 'nobody eligible',
      fellBack: true,
    });
  });
});

describe.each<Strategy>(['round_robin', 'weighted', 'least_loaded'])(
  'pickFromPool (%s): eligibility',
  (strategy) => {
    const team = makeTeam(
      makeRep(A, { active: false }),
      makeRep(B, { hours: [{ days: [6, 7], start: 0, end: 1440 }] }), // weekends only
      makeRep(C, { caps: { perDay: 1 } }),
      makeRep(D),
    );

    it.each([
      ['skips inactive, out-of-hours and excluded reps', [D], counters(), 'c@x.io'],
      ['skips a rep at the daily cap', [], counters({ day: 1 }), D],
    ])('%s', (_name, exclude, cCounters, expected) => {
      const state: RoutingState = { pools: {}, reps: { [C]: cCounters } };
      const r = pickAndApply(makePool(strategy, [A, B, C, D]), team, state, NOW, exclude);
      expect(r.chosen).toBe(expected);
      expect(r.trace.fellBack).toBe(false);
      expect(r.trace.chosen).toBe(expected);
      expect(r.trace.candidates.map((c) => c.skipped)).toEqual([
        'inactive',
        'outside_hours',
        expected === C ? undefined : 'capped_day',
        expected === D ? undefined : 'already_had',
      ]);
    });

    it('ignores working hours when the pool does not respect them', () => {
      const r = pickAndApply(makePool(strategy, [A, B], { respectHours: false }), team, emptyState(), NOW);
      expect(r.chosen).toBe(B);
    });

    it('never mutates its inputs and copies only what changed', () => {
      const pool = deepFreeze(makePool(strategy, [C, D]));
      const state = deepFreeze<RoutingState>({
        pools: { other: { turn: 3, lastTurn: { [A]: 3 } } },
        reps: { [A]: counters({ day: 2 }), [D]: counters({ recent: [NOW - DAY], open: 1 }) },
      });
      const before = JSON.stringify(state);
      const frozenTeam = deepFreeze(team);
      const [chosen, results] = run(pool, frozenTeam, state, 3);
      expect(JSON.stringify(state)).toBe(before);
      expect(chosen).toHaveLength(3);
      const next = results[0]!.nextState;
      expect(next.pools.other).toBe(state.pools.other);
      expect(next.reps[A]).toBe(state.reps[A]);
    });

    it('records the assignment in the chosen rep’s counters and the pool turn', () => {
      const r = pickAndApply(makePool(strategy, [D]), team, emptyState(), NOW);
      expect(r.nextState.reps[D]).toEqual({
        dayKey: '2026-06-03',
        day: 1,
        weekKey: '2026-W23',
        week: 1,
        recent: [NOW],
        open: 1,
      });
      expect(r.nextState.pools.p).toMatchObject({ turn: 1, lastTurn: { [D]: 1 } });
    });

    it('stops giving leads to a rep once the cap is reached', () => {
      const [chosen] = run(makePool(strategy, [C]), team, emptyState(), 3);
      expect(chosen).toEqual([C, '-', '-']);
    });
  },
);

describe('pickFromPool: round robin', () => {
  const team = makeTeam(makeRep(A), makeRep(B), makeRep(C), makeRep(D));

  it('rotates in member order from an empty state', () => {
    const [chosen, results] = run(makePool('round_robin', [A, B, C]), team, emptyState(), 7);
    expect(chosen).toEqual([A, B, C, A, B, C, A]);
    expect(results[0]!.trace.reason).toBe('round robin: longest waiting (never assigned)');
    expect(results[3]!.trace.reason).toBe('round robin: longest waiting (last at turn 1)');
  });

  it('gives a newcomer one lead, then puts them at the back of the line', () => {
    const state: RoutingState = {
      pools: { p: { turn: 42, lastTurn: { [A]: 40, [B]: 41, [C]: 42 } } },
      reps: {},
    };
    const [chosen] = run(makePool('round_robin', [A, B, C, D]), team, state, 6);
    expect(chosen).toEqual([D, A, B, C, D, A]);
  });

  it('gives a returning rep one lead, not a burst for the turns they missed', () => {
    const state: RoutingState = {
      pools: { p: { turn: 90, lastTurn: { [A]: 3, [B]: 89, [C]: 90 } } },
      reps: {},
    };
    const [chosen, results] = run(makePool('round_robin', [A, B, C]), team, state, 4);
    expect(chosen).toEqual([A, B, C, A]);
    expect(results[0]!.trace.reason).toBe('round robin: longest waiting (last at turn 3)');
  });

  it('keeps a skipped rep’s place: they go next once available again', () => {
    const pool = makePool('round_robin', [A, B, C]);
    let state = emptyState();
    const picks: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const r = pickAndApply(pool, team, state, NOW, i < 2 ? [B] : []);
      picks.push(r.chosen);
      state = r.nextState;
    }
    expect(picks).toEqual([A, C, B, A]);
  });
});

describe('pickFromPool: weighted', () => {
  const team = makeTeam(makeRep(A, { weight: 2 }), makeRep(B), makeRep(C), makeRep(D, { weight: 3 }));

  it('gives the lead to the rep owed most: 2:1:1', () => {
    const [chosen, results] = run(makePool('weighted', [A, B, C]), team, emptyState(), 8);
    expect(chosen).toEqual([A, B, C, A, A, B, C, A]);
    expect(results.map((r) => r.trace.reason).slice(0, 3)).toEqual([
      'weighted 2:1:1: owed most (0.50 of a lead accrued while eligible and not yet given)',
      'weighted 2:1:1: owed most (0.50 of a lead accrued while eligible and not yet given)',
      'weighted 2:1:1: owed most (0.75 of a lead accrued while eligible and not yet given)',
    ]);
    expect(results[7]!.nextState.pools.p!.weighted).toEqual({ owed: { [A]: 0, [B]: 0, [C]: 0 } });
  });

  it('gives exact shares over a full period (3:2:1 over 60 leads)', () => {
    const t = makeTeam(makeRep(A, { weight: 3 }), makeRep(B, { weight: 2 }), makeRep(C, { weight: 1 }));
    const [chosen] = run(makePool('weighted', [A, B, C]), t, emptyState(), 60);
    const count = (e: string): number => chosen.filter((c) => c === e).length;
    expect([count(A), count(B), count(C)]).toEqual([30, 20, 10]);
  });

  it('carries shares across a change of the eligible set; a rep away accrues nothing', () => {
    const pool = makePool('weighted', [A, B, C]);
    const [, results] = run(pool, team, emptyState(), 3);
    const state = results[2]!.nextState;
    const r = pickAndApply(pool, team, state, NOW, [C]);
    expect(r.chosen).toBe(A);
    const owed = r.nextState.pools.p!.weighted!.owed;
    // A: 0.5 + 2/3 - 1; B: -0.25 + 1/3; C (away): unchanged.
    expect(owed[A]).toBeCloseTo(1 / 6, 12);
    expect(owed[B]).toBeCloseTo(1 / 12, 12);
    expect(owed[C]).toBe(-0.25);
  });

  it('carries shares across a weight change', () => {
    const pool = makePool('weighted', [A, B]);
    const [, results] = run(pool, team, emptyState(), 2);
    const heavier = makeTeam(makeRep(A, { weight: 2 }), makeRep(B, { weight: 5 }));
    const r = pickAndApply(pool, heavier, results[1]!.nextState, NOW);
    // Owed before: A 1/3, B -1/3; then A gets 2/7 and B 5/7 of this lead.
    expect(r.chosen).toBe(A);
    expect(r.nextState.pools.p!.weighted!.owed[A]).toBeCloseTo(1 / 3 + 2 / 7 - 1, 12);
    expect(r.nextState.pools.p!.weighted!.owed[B]).toBeCloseTo(-1 / 3 + 5 / 7, 12);
  });

  it('drops members who left the pool from the shares', () => {
    const [, results] = run(makePool('weighted', [A, B, C]), team, emptyState(), 2);
    const r = pickAndApply(makePool('weighted', [A, B]), team, results[1]!.nextState, NOW);
    expect(Object.keys(r.nextState.pools.p!.weighted!.owed).sort()).toEqual([A, B]);
  });

  it('holds each share against a rep who is away one minute in five (working hours)', () => {
    // C works every minute except each fifth one: 288 shifts a day.
    const shifts = Array.from({ length: 288 }, (_, k) => ({
      days: [1, 2, 3, 4, 5, 6, 7],
      start: 5 * k,
      end: 5 * k + 4,
    }));
    const t = makeTeam(
      makeRep(A, { weight: 3, timezone: 'UTC' }),
      makeRep(B, { timezone: 'UTC' }),
      makeRep(C, { timezone: 'UTC', hours: shifts }),
    );
    const pool = makePool('weighted', [A, B, C]);
    const weights: Record<string, number> = { [A]: 3, [B]: 1, [C]: 1 };
    const accrued: Record<string, number> = { [A]: 0, [B]: 0, [C]: 0 };
    const given: Record<string, number> = { [A]: 0, [B]: 0, [C]: 0 };
    let state = emptyState();
    const start = Date.parse('2026-06-03T00:00:00Z');
    for (let minute = 0; minute < 2000; minute++) {
      const r = pickAndApply(pool, t, state, start + minute * 60_000);
      const eligible = r.trace.candidates.filter((c) => c.skipped === undefined).map((c) => c.email);
      const total = eligible.reduce((sum, e) => sum + weights[e]!, 0);
      for (const e of eligible) accrued[e]! += weights[e]! / total;
      given[r.chosen!]! += 1;
      for (const e of [A, B, C]) {
        if (!(Math.abs(given[e]! - accrued[e]!) < 2))
          throw new Error(`minute ${minute}: ${e} has ${given[e]}, accrued ${accrued[e]!.toFixed(2)}`);
      }
      state = r.nextState;
    }
    // C was away 400 of the 2000 minutes and accrued nothing then: no catch-up, no loss.
    expect(Math.abs(given[C]! - accrued[C]!)).toBeLessThan(1);
    expect(Math.abs(given[A]! - accrued[A]!)).toBeLessThan(1);
  });

  it('never picks a zero-weight rep while others have weight', () => {
    const t = makeTeam(makeRep(A, { weight: 0 }), makeRep(B));
    const [chosen] = run(makePool('weighted', [A, B]), t, emptyState(), 4);
    expect(chosen).toEqual([B, B, B, B]);
  });
});

describe('pickFromPool: least loaded', () => {
  const team = makeTeam(makeRep(A), makeRep(B), makeRep(C));

  it.each([
    {
      name: 'fewest assignments in the window',
      windowMs: 7 * DAY,
      reps: {
        [A]: counters({ recent: [NOW - 3 * DAY, NOW - DAY, NOW - 1000] }),
        [B]: counters({ recent: [NOW - 10 * DAY, NOW - 8 * DAY, NOW - 2 * DAY, NOW - DAY] }),
        [C]: counters({ recent: [NOW - 6 * DAY, NOW - 5 * DAY, NOW - 4 * DAY] }),
      },
      lastTurn: {},
      chosen: B,
      reason: 'least loaded (2 in 7d)',
    },
    {
      name: 'fewest open leads without a window',
      windowMs: undefined,
      reps: { [A]: counters({ open: 3 }), [B]: counters({ open: 5 }), [C]: counters({ open: 1 }) },
      lastTurn: {},
      chosen: C,
      reason: 'least loaded (1 open)',
    },
    {
      name: 'a tie goes to the one who waited longest',
      windowMs: undefined,
      reps: { [A]: counters({ open: 2 }), [B]: counters({ open: 1 }), [C]: counters({ open: 1 }) },
      lastTurn: { [A]: 1, [B]: 5, [C]: 4 },
      chosen: C,
      reason: 'least loaded (1 open)',
    },
    {
      name: 'a full tie goes to member order',
      windowMs: 12 * 3_600_000,
      reps: {},
      lastTurn: {},
      chosen: A,
      reason: 'least loaded (0 in 12h)',
    },
  ])('$name', ({ windowMs, reps, lastTurn, chosen, reason }) => {
    const state: RoutingState = { pools: { p: { turn: 9, lastTurn } }, reps };
    const r = pickAndApply(makePool('least_loaded', [A, B, C], { loadWindowMs: windowMs }), team, state, NOW);
    expect(r.chosen).toBe(chosen);
    expect(r.trace.reason).toBe(reason);
  });

  it('spreads leads evenly from nothing', () => {
    const [chosen] = run(makePool('least_loaded', [A, B, C], { loadWindowMs: DAY }), team, emptyState(), 6);
    expect(chosen).toEqual([A, B, C, A, B, C]);
  });

  it('keeps assignment times for the caller’s window', () => {
    const state: RoutingState = {
      pools: {},
      reps: { [A]: counters({ recent: [NOW - 20 * DAY, NOW - 10 * DAY] }) },
    };
    const pool = makePool('least_loaded', [A], { loadWindowMs: DAY });
    expect(pickAndApply(pool, team, state, NOW).nextState.reps[A]!.recent).toEqual([NOW]);
    const keep = pickAndApply(pool, team, state, NOW, undefined, { keepWindowMs: 15 * DAY });
    expect(keep.nextState.reps[A]!.recent).toEqual([NOW - 10 * DAY, NOW]);
  });
});
