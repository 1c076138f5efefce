import fc from 'fast-check';
import { checkRep, localTime } from '../../src/core/availability.js';
import { pickAndApply, type AppliedPick } from '../support/factories.js';
import type {
  DateRange,
  Pool,
  Rep,
  RoutingState,
  Strategy,
  Team,
  WorkingHours,
} from '../../src/core/types.js';

const HOUR = 3_600_000;
const START = Date.parse('2026-03-01T00:00:00Z'); // spans the March DST changes below

function makeRep(email: string, over: Partial<Rep> = {}): Rep {
  return { email, timezone: 'UTC', hours: [], outOfOffice: [], weight: 1, caps: {}, active: true, ...over };
}

function makePool(strategy: Strategy, members: string[], over: Partial<Pool> = {}): Pool {
  return { name: 'p', members, strategy, respectHours: true, fallback: { kind: 'none' }, ...over };
}

function emptyState(): RoutingState {
  return { pools: {}, reps: {} };
}

const email = (i: number): string => `rep${i}@x.io`;

// ---------------------------------------------------------------------------------------------------
// Random teams with every kind of unavailability

const arbRep = (i: number): fc.Arbitrary<Rep> =>
  fc
    .record({
      active: fc.integer({ min: 0, max: 9 }).map((x) => x > 0),
      timezone: fc.constantFrom(
        'UTC',
        'Europe/Berlin',
        'America/Los_Angeles',
        'Pacific/Auckland',
        'Asia/Kathmandu',
      ),
      hours: fc.constantFrom<WorkingHours[]>(
        [],
        [{ days: [1, 2, 3, 4, 5], start: 540, end: 1050 }],
        [{ days: [1, 2, 3, 4, 5, 6, 7], start: 1320, end: 360 }],
      ),
      outOfOffice: fc.constantFrom<DateRange[]>(
        [],
        [{ from: '2026-03-02', to: '2026-03-04' }],
        [{ from: '2026-03-08', to: '2026-03-08' }],
      ),
      weight: fc.integer({ min: 1, max: 5 }),
      perDay: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
      perWeek: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    })
    .map(({ perDay, perWeek, ...r }) =>
      makeRep(email(i), {
        ...r,
        caps: { ...(perDay === undefined ? {} : { perDay }), ...(perWeek === undefined ? {} : { perWeek }) },
      }),
    );

const arbScenario = fc.integer({ min: 1, max: 10 }).chain((n) =>
  fc.record({
    reps: fc.tuple(...Array.from({ length: n }, (_, i) => arbRep(i))),
    // Some members may be unknown to the team.
    extraMembers: fc.integer({ min: 0, max: 2 }),
    strategy: fc.constantFrom<Strategy>('round_robin', 'weighted', 'least_loaded'),
    respectHours: fc.boolean(),
    loadWindowMs: fc.option(fc.constantFrom(HOUR, 24 * HOUR, 7 * 24 * HOUR), { nil: undefined }),
    steps: fc.array(
      fc.record({
        dt: fc.integer({ min: 0, max: 6 * HOUR }),
        exclude: fc.array(fc.integer({ min: 0, max: n + 1 }), { maxLength: 2 }),
      }),
      { minLength: 1, maxLength: 80 },
    ),
  }),
);

type Scenario = typeof arbScenario extends fc.Arbitrary<infer S> ? S : never;

function setup(s: Scenario): { pool: Pool; team: Team } {
  const members = [
    ...s.reps.map((r) => r.email),
    ...Array.from({ length: s.extraMembers }, (_, i) => `ghost${i}@x.io`),
  ];
  const team: Team = { reps: Object.fromEntries(s.reps.map((r) => [r.email, r])), queues: {} };
  return {
    team,
    pool: makePool(s.strategy, members, { respectHours: s.respectHours, loadWindowMs: s.loadWindowMs }),
  };
}

function play(
  s: Scenario,
  onStep?: (r: AppliedPick, before: RoutingState, now: number, exclude: string[]) => void,
): AppliedPick[] {
  const { pool, team } = setup(s);
  let state = emptyState();
  let now = START;
  const out: AppliedPick[] = [];
  for (const step of s.steps) {
    now += step.dt;
    const exclude = step.exclude.map(email);
    const r = pickAndApply(pool, team, state, now, exclude);
    onStep?.(r, state, now, exclude);
    out.push(r);
    state = r.nextState;
  }
  return out;
}

describe('pickFromPool properties', () => {
  it('is deterministic: the same inputs give the same picks, traces and states', () => {
    fc.assert(
      fc.property(arbScenario, arbScenario, (s, other) => {
        const first = play(s);
        play(other); // warm caches with unrelated work in between
        expect(play(s)).toEqual(first);
      }),
      { numRuns: 150 },
    );
  });

  it('never picks an unknown, inactive, excluded, absent, out-of-hours or capped rep', () => {
    fc.assert(
      fc.property(arbScenario, (s) => {
        const { pool, team } = setup(s);
        play(s, (r, before, now, exclude) => {
          expect(r.trace.candidates.map((c) => c.email)).toEqual(pool.members);
          if (r.chosen === undefined) {
            expect(r.trace.fellBack).toBe(true);
            expect(r.trace.candidates.every((c) => c.skipped !== undefined)).toBe(true);
            expect(r.nextState).toBe(before);
            return;
          }
          expect(r.trace.fellBack).toBe(false);
          const rep = team.reps[r.chosen];
          expect(rep).toBeDefined();
          expect(rep!.active).toBe(true);
          expect(exclude).not.toContain(r.chosen);
          const local = localTime(now, rep!.timezone);
          expect(rep!.outOfOffice.some((o) => local.date >= o.from && local.date <= o.to)).toBe(false);
          const counters = before.reps[r.chosen];
          const day = counters?.dayKey === local.date ? counters.day : 0;
          const week = counters?.weekKey === local.isoWeek ? counters.week : 0;
          expect(day).toBeLessThan(rep!.caps.perDay ?? Infinity);
          expect(week).toBeLessThan(rep!.caps.perWeek ?? Infinity);
          expect(
            checkRep(rep, r.chosen, counters, now, {
              respectHours: pool.respectHours,
              exclude: new Set(exclude),
            }).skipped,
          ).toBeUndefined();
          expect(r.nextState.reps[r.chosen]!.day).toBe(day + 1);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('weighted: bound on a fixed set', () => {
  /** Throws with a readable message when some rep is two full leads (or more) off its share: the README's guarantee. */
  function checkBound(weights: number[], counts: number[], t: number, where: string): void {
    const total = weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < weights.length; i++) {
      const ideal = (t * weights[i]!) / total;
      if (!(Math.abs(counts[i]! - ideal) < 2)) {
        throw new Error(
          `${where}: rep ${i} has ${counts[i]} after ${t}, ideal ${ideal.toFixed(3)} (weights ${weights.join(',')})`,
        );
      }
    }
  }

  it('keeps every count strictly within two of t·λ after every step (fixed set, weights 1..5, up to 30 reps)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 500 }),
        (weights, steps) => {
          const members = weights.map((_, i) => email(i));
          const team: Team = {
            reps: Object.fromEntries(members.map((m, i) => [m, makeRep(m, { weight: weights[i]! })])),
            queues: {},
          };
          const pool = makePool('weighted', members);
          const index = new Map(members.map((m, i) => [m, i]));
          const counts = weights.map(() => 0);
          let state = emptyState();
          for (let t = 1; t <= steps; t++) {
            const r = pickAndApply(pool, team, state, START, []);
            counts[index.get(r.chosen!)!]! += 1;
            checkBound(weights, counts, t, `step ${t}`);
            state = r.nextState;
          }
          expect(Object.values(state.pools.p!.weighted!.owed).reduce((a, b) => a + b, 0)).toBeCloseTo(0, 9);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps every rep within 2 of the share it accrued while eligible, under random churn', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 12 }),
        // Per lead, who is away: none, one rep, or a random subset (several flapping at once).
        fc.array(
          fc.oneof(
            fc.constant<number[]>([]),
            fc.array(fc.nat(), { maxLength: 1 }),
            fc.array(fc.nat(), { maxLength: 11 }),
          ),
          { minLength: 1, maxLength: 400 },
        ),
        (weights, absences) => {
          const members = weights.map((_, i) => email(i));
          const team: Team = {
            reps: Object.fromEntries(members.map((m, i) => [m, makeRep(m, { weight: weights[i]! })])),
            queues: {},
          };
          const pool = makePool('weighted', members);
          const accrued = weights.map(() => 0);
          const given = weights.map(() => 0);
          let state = emptyState();
          let worst = 0;
          absences.forEach((absent, step) => {
            const away = absent.map((a) => email(a % weights.length));
            const r = pickAndApply(pool, team, state, START, away);
            if (r.chosen === undefined) return;
            // The reference: each eligible rep accrues its weight's share of this lead.
            const eligible = members.flatMap((m, i) => (away.includes(m) ? [] : [i]));
            const total = eligible.reduce((sum, i) => sum + weights[i]!, 0);
            for (const i of eligible) accrued[i]! += weights[i]! / total;
            given[members.indexOf(r.chosen)]! += 1;
            for (let i = 0; i < weights.length; i++) {
              const off = Math.abs(given[i]! - accrued[i]!);
              worst = Math.max(worst, off);
              if (!(off < 2))
                throw new Error(
                  `step ${step}: rep ${i} has ${given[i]}, accrued ${accrued[i]!.toFixed(3)} (weights ${weights.join(',')})`,
                );
            }
            state = r.nextState;
          });
          // Nothing is lost or made up: the leads given equal the shares accrued.
          expect(given.reduce((a, b) => a + b, 0)).toBeCloseTo(
            accrued.reduce((a, b) => a + b, 0),
            6,
          );
          return worst < 2;
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('round robin: joining, leaving and returning', () => {
  it('never bursts a joiner or returner, and keeps steady reps within one of each other', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 1, max: 200 }),
        fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat(), fc.nat()),
        (n, joinPos, steps, [a, b, c, d, e]) => {
          const steady = Array.from({ length: n }, (_, i) => email(i));
          const joiner = 'joiner@x.io';
          const returner = 'returner@x.io';
          // Joiner: absent, joins at step `join`, leaves at `leave`, comes back at `back`.
          const [join, leave, back] = [
            a % steps,
            (a % steps) + (b % steps),
            (a % steps) + (b % steps) + (c % steps),
          ];
          // Returner: a pool member from the start who is deactivated for a while.
          const [off, on] = [d % steps, (d % steps) + (e % steps)];
          const at = Math.min(joinPos, n);
          const withJoiner = [...steady.slice(0, at), joiner, ...steady.slice(at), returner];
          const without = [...steady, returner];
          const reps = [...steady, joiner, returner].map((m) => makeRep(m));
          const activeTeam: Team = { reps: Object.fromEntries(reps.map((r) => [r.email, r])), queues: {} };
          const awayTeam: Team = {
            reps: { ...activeTeam.reps, [returner]: makeRep(returner, { active: false }) },
            queues: {},
          };

          const counts = new Map<string, number>();
          // Leads the steady reps got since the joiner's / returner's last lead.
          const sinceLast = new Map<string, Set<string>>();
          let state = emptyState();
          for (let s = 0; s < steps; s++) {
            const joined = s >= join && (s < leave || s >= back);
            const away = s >= off && s < on;
            const pool = makePool('round_robin', joined ? withJoiner : without);
            const r = pickAndApply(pool, away ? awayTeam : activeTeam, state, START + s * HOUR);
            const who = r.chosen!;
            counts.set(who, (counts.get(who) ?? 0) + 1);
            for (const tracked of [joiner, returner]) {
              if (who === tracked) {
                const served = sinceLast.get(tracked);
                // A second lead only after every steady rep had one since the first.
                if (served !== undefined && served.size !== n) {
                  throw new Error(
                    `step ${s}: ${tracked} again after only ${served.size} of ${n} steady reps`,
                  );
                }
                sinceLast.set(tracked, new Set());
              } else if (steady.includes(who)) {
                sinceLast.get(tracked)?.add(who);
              }
            }
            const steadyCounts = steady.map((m) => counts.get(m) ?? 0);
            if (Math.max(...steadyCounts) - Math.min(...steadyCounts) > 1) {
              throw new Error(`step ${s}: steady reps drifted apart: ${steadyCounts.join(',')}`);
            }
            state = r.nextState;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
