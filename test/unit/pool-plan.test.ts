// pickFromPool works out each member's availability once per (pool, team, local minute) and checks
// only caps and exclusions per lead. These tests make a stale answer visible: every candidate must
// be what checkRep says for that team, state and instant, however the calls are interleaved.
import fc from 'fast-check';
import { checkRep } from '../../src/core/availability.js';
import type {
  DateRange,
  Pool,
  Rep,
  RoutingState,
  Strategy,
  Team,
  WorkingHours,
} from '../../src/core/types.js';
import { makePool, makeRep, makeTeam, pickAndApply, type AppliedPick } from '../support/factories.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const NOW = Date.parse('2026-06-03T16:59:00Z'); // Wednesday
const EMPTY: RoutingState = { pools: {}, reps: {} };
const A = 'a@x.io';
const B = 'b@x.io';
const C = 'c@x.io';
const WEEKDAYS_9_TO_17 = [{ days: [1, 2, 3, 4, 5], start: 9 * 60, end: 17 * 60 }];

/** What checkRep says about every member: the reference the cached answers must equal. */
function reference(
  pool: Pool,
  team: Team,
  state: RoutingState,
  now: number,
  exclude: readonly string[] = [],
): ReturnType<typeof checkRep>[] {
  return pool.members.map((email) =>
    checkRep(team.reps[email], email, state.reps[email], now, {
      respectHours: pool.respectHours,
      exclude: new Set(exclude),
    }),
  );
}

function skips(r: AppliedPick): (string | undefined)[] {
  return r.trace.candidates.map((c) => c.skipped);
}

describe('pickFromPool: availability worked out per minute', () => {
  it('sees a rep deactivated in a new team object within the same minute', () => {
    const pool = makePool('p', [A, B]);
    const before = makeTeam([makeRep(A), makeRep(B)]);
    const after = makeTeam([makeRep(A, { active: false }), makeRep(B)]);
    expect(pickAndApply(pool, before, EMPTY, NOW).chosen).toBe(A);
    const r = pickAndApply(pool, after, EMPTY, NOW + 1000);
    expect(skips(r)).toEqual(['inactive', undefined]);
    expect(r.chosen).toBe(B);
    // And back: the first team still answers for itself.
    expect(pickAndApply(pool, before, EMPTY, NOW + 2000).chosen).toBe(A);
  });

  it('sees working hours end at the next minute, and start again going back', () => {
    const pool = makePool('p', [A, B]);
    const team = makeTeam([makeRep(A, { hours: WEEKDAYS_9_TO_17 }), makeRep(B)]);
    expect(skips(pickAndApply(pool, team, EMPTY, NOW + 59_000))).toEqual([undefined, undefined]);
    const late = pickAndApply(pool, team, EMPTY, NOW + MIN + 10_000);
    expect(late.trace.candidates[0]).toEqual({
      email: A,
      skipped: 'outside_hours',
      detail: 'outside hours (Mon-Fri 09:00-17:00 UTC, now Wed 17:00)',
    });
    expect(late.chosen).toBe(B);
    expect(skips(pickAndApply(pool, team, EMPTY, NOW + 30_000))).toEqual([undefined, undefined]);
  });

  it('sees a day cap reached by picks within the same minute', () => {
    const pool = makePool('p', [A]);
    const team = makeTeam([makeRep(A, { caps: { perDay: 2 } })]);
    let state = EMPTY;
    const chosen: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const r = pickAndApply(pool, team, state, NOW + i);
      chosen.push(r.chosen);
      state = r.nextState;
      if (i === 2)
        expect(r.trace.candidates).toEqual([{ email: A, skipped: 'capped_day', detail: '2/2 today' }]);
    }
    expect(chosen).toEqual([A, A, undefined]);
  });

  it('applies exclusions after unknown and inactive, before absence and hours', () => {
    const pool = makePool('p', ['ghost@x.io', A, B, C]);
    const team = makeTeam([
      makeRep(A, { active: false }),
      makeRep(B, { outOfOffice: [{ from: '2026-06-01', to: '2026-06-05' }] }),
      makeRep(C),
    ]);
    const r = pickAndApply(pool, team, EMPTY, NOW, ['ghost@x.io', A, B]);
    expect(skips(r)).toEqual(['unknown_rep', 'inactive', 'already_had', undefined]);
    expect(skips(pickAndApply(pool, team, EMPTY, NOW))).toEqual([
      'unknown_rep',
      'inactive',
      'out_of_office',
      undefined,
    ]);
  });

  it('gives each pick its own candidate list, and the shared entries cannot be changed', () => {
    const pool = makePool('p', [A, B]);
    const team = makeTeam([makeRep(A), makeRep(B, { active: false })]);
    const first = pickAndApply(pool, team, EMPTY, NOW);
    first.trace.candidates.pop();
    expect(() => {
      (first.trace.candidates[0] as { email: string }).email = 'changed@x.io';
    }).toThrow(TypeError);
    const second = pickAndApply(pool, team, first.nextState, NOW + 1);
    expect(second.trace.candidates).toEqual([
      { email: A },
      { email: B, skipped: 'inactive', detail: 'deactivated' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Interleaved pools, teams, instants and states: every answer equals the reference.

const ZONES = ['UTC', 'Europe/Berlin', 'America/Los_Angeles', 'Asia/Kathmandu', 'Pacific/Auckland'];
const MEMBERS = ['r0@x.io', 'r1@x.io', 'r2@x.io', 'r3@x.io', 'r4@x.io', 'r5@x.io', 'ghost@x.io'];

const arbRep = (email: string): fc.Arbitrary<Rep> =>
  fc
    .record({
      active: fc.integer({ min: 0, max: 5 }).map((x) => x > 0),
      timezone: fc.constantFrom(...ZONES),
      hours: fc.constantFrom<WorkingHours[]>(
        [],
        WEEKDAYS_9_TO_17,
        [{ days: [1, 2, 3, 4, 5, 6, 7], start: 22 * 60, end: 6 * 60 }],
        [{ days: [3], start: 16 * 60 + 58, end: 17 * 60 + 2 }],
      ),
      outOfOffice: fc.constantFrom<DateRange[]>(
        [],
        [{ from: '2026-06-03', to: '2026-06-03' }],
        [{ from: '2026-06-04', to: '2026-06-09' }],
      ),
      perDay: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      perWeek: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      weight: fc.integer({ min: 1, max: 3 }),
    })
    .map(({ perDay, perWeek, ...r }) =>
      makeRep(email, {
        ...r,
        caps: { ...(perDay === undefined ? {} : { perDay }), ...(perWeek === undefined ? {} : { perWeek }) },
      }),
    );

const arbTeam: fc.Arbitrary<Team> = fc
  .tuple(...MEMBERS.slice(0, -1).map(arbRep))
  .map((reps) => makeTeam(reps));

const arbPool = (name: string): fc.Arbitrary<Pool> =>
  fc
    .record({
      members: fc.shuffledSubarray(MEMBERS, { minLength: 1 }),
      strategy: fc.constantFrom<Strategy>('round_robin', 'weighted', 'least_loaded'),
      respectHours: fc.boolean(),
    })
    .map((p) => makePool(name, p.members, { strategy: p.strategy, respectHours: p.respectHours }));

const arbRun = fc.record({
  teams: fc.array(arbTeam, { minLength: 1, maxLength: 3 }),
  pools: fc.tuple(arbPool('p'), arbPool('q')),
  steps: fc.array(
    fc.record({
      team: fc.nat(),
      pool: fc.nat(),
      // Mostly seconds (same minute), sometimes minutes or hours, forwards and backwards.
      dt: fc.oneof(
        fc.integer({ min: -5_000, max: 20_000 }),
        fc.integer({ min: -3 * MIN, max: 3 * MIN }),
        fc.integer({ min: -30 * HOUR, max: 30 * HOUR }),
      ),
      exclude: fc.subarray(MEMBERS, { maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 60 },
  ),
});

describe('pickFromPool: cached answers against checkRep', () => {
  it('every candidate equals checkRep for that team, state and instant', () => {
    fc.assert(
      fc.property(arbRun, ({ teams, pools, steps }) => {
        let state: RoutingState = { pools: {}, reps: {} };
        let now = NOW;
        for (const step of steps) {
          now += step.dt;
          const team = teams[step.team % teams.length]!;
          const pool = pools[step.pool % pools.length]!;
          const r = pickAndApply(pool, team, state, now, step.exclude);
          const expected = reference(pool, team, state, now, step.exclude);
          expect(r.trace.candidates).toEqual(expected);
          const eligible = expected.filter((c) => c.skipped === undefined).map((c) => c.email);
          if (eligible.length === 0) {
            expect(r.chosen).toBeUndefined();
            expect(r.trace.fellBack).toBe(true);
          } else {
            expect(eligible).toContain(r.chosen);
          }
          state = r.nextState;
        }
      }),
      { numRuns: 300 },
    );
  });
});
