// Picks one rep from a pool: round robin, weighted (by share accrued while eligible) or least loaded.
// Pure: the rotation state is an argument and the result names only the entries that changed (the
// pool entry and the chosen rep's counters); inputs are never mutated. It runs on every pool decision.
import {
  alreadyHad,
  checkCaps,
  checkPresence,
  checkRep,
  countRecent,
  localTime,
  needsLocalTime,
  recordAssignment,
  type LocalTime,
} from './availability.js';
import { emptyChanges } from './state.js';
import type {
  AssignmentTrace,
  CandidateTrace,
  Pool,
  PoolState,
  Rep,
  RoutingState,
  RoutingStateChanges,
  Team,
} from './types.js';

/** Assignment times are kept this long when the caller does not say (see `PickOptions.keepWindowMs`). */
export const DEFAULT_KEEP_WINDOW_MS = 7 * 86_400_000;

export interface PickOptions {
  /**
   * How long to keep each rep's assignment times. Reps can sit in several pools, so pass the longest
   * least-loaded window of the whole rule set. Default: this pool's window, at least 7 days.
   */
  keepWindowMs?: number | undefined;
}

export interface PickResult {
  chosen?: string | undefined;
  trace: AssignmentTrace;
  /** The pool entry and the chosen rep's counters, when someone was chosen. */
  changes: RoutingStateChanges;
}

const EMPTY_POOL_STATE: PoolState = { turn: 0, lastTurn: {} };

interface Selection {
  index: number;
  reason: string;
  weighted?: PoolState['weighted'];
}

/**
 * Chooses a rep from `pool` at `now`. Members are checked in order (availability, hours when the pool
 * respects them, caps, `exclude`); when nobody is eligible `chosen` is undefined, `trace.fellBack` is
 * true and the caller resolves `pool.fallback`. Members are expected to be unique (the loader checks).
 * Pools and teams are treated as immutable: a changed team must arrive as a new object (see `planOf`).
 */
export function pickFromPool(
  pool: Pool,
  team: Team,
  state: RoutingState,
  now: number,
  exclude?: readonly string[],
  options?: PickOptions,
): PickResult {
  const plan = planOf(pool, team);
  const minute = minuteOf(plan, pool.respectHours, now);
  const excluded = exclude !== undefined && exclude.length > 0 ? new Set(exclude) : undefined;

  // Only caps and exclusions can differ from the minute's answers; usually neither applies.
  let same = excluded === undefined;
  for (let k = 0; same && k < minute.openCapped.length; k++) {
    const i = minute.openCapped[k] as number;
    if (capsOf(plan, minute, state, i) !== undefined) same = false;
  }
  let candidates: CandidateTrace[];
  let eligible: readonly string[];
  let eligibleReps: readonly Rep[];
  let mask: number;
  if (same) {
    candidates = minute.base.slice();
    ({ eligible, eligibleReps, mask } = minute);
  } else {
    candidates = [];
    const names: string[] = [];
    const reps: Rep[] = [];
    mask = plan.size <= MASK_BITS ? 0 : -1;
    for (let i = 0; i < plan.size; i++) {
      const email = plan.emails[i] as string;
      let check = minute.base[i] as CandidateTrace;
      // Unknown and inactive come before already_had; every other reason after it.
      if (plan.gone[i] === undefined) {
        if (excluded?.has(email) === true) check = alreadyHad(email);
        else if (check.skipped === undefined && plan.capped[i] === 1)
          check = capsOf(plan, minute, state, i) ?? check;
      }
      candidates.push(check);
      if (check.skipped === undefined) {
        names.push(email);
        reps.push(plan.reps[i] as Rep);
        if (mask >= 0) mask |= 1 << i;
      }
    }
    eligible = names;
    eligibleReps = reps;
  }

  if (eligible.length === 0) {
    return {
      trace: {
        pool: pool.name,
        strategy: pool.strategy,
        candidates,
        reason: 'nobody eligible',
        fellBack: true,
      },
      changes: emptyChanges(),
    };
  }

  const poolState = state.pools[pool.name] ?? EMPTY_POOL_STATE;
  let sel: Selection;
  switch (pool.strategy) {
    case 'round_robin':
      sel = roundRobin(eligible, poolState);
      break;
    case 'weighted':
      sel = weighted(eligible, eligibleReps, poolState, plan.emails, sharesOf(plan, mask, eligibleReps));
      break;
    case 'least_loaded':
      sel = leastLoaded(eligible, poolState, state, now, pool.loadWindowMs);
      break;
    default: {
      const never: never = pool.strategy;
      throw new TypeError(`unknown pool strategy ${String(never)}`);
    }
  }

  const chosen = eligible[sel.index] ?? '';
  const rep = eligibleReps[sel.index];
  if (rep === undefined) throw new RangeError(`pool ${pool.name}: selection out of range`);

  // Every strategy advances the turn, so switching strategies keeps a sensible round-robin order.
  const turn = poolState.turn + 1;
  const nextPool: PoolState = { turn, lastTurn: withEntry(poolState.lastTurn, chosen, turn) };
  const nextWeighted = sel.weighted ?? poolState.weighted;
  if (nextWeighted !== undefined) nextPool.weighted = nextWeighted;

  const keep = options?.keepWindowMs ?? Math.max(pool.loadWindowMs ?? 0, DEFAULT_KEEP_WINDOW_MS);
  const counters = recordAssignment(state.reps[chosen], rep, now, keep);

  return {
    chosen,
    trace: {
      pool: pool.name,
      strategy: pool.strategy,
      candidates,
      chosen,
      reason: sel.reason,
      fellBack: false,
    },
    changes: { pools: single(pool.name, nextPool), reps: single(chosen, counters) },
  };
}

// ---------------------------------------------------------------------------------------------------
// Plans: what a pick can know before it sees the routing state

/**
 * A pool's members resolved against one team. Everything but caps and exclusions depends only on the
 * team and the local minute, so it is worked out once per minute (`Minute`) instead of per lead.
 */
interface Plan {
  readonly team: Team;
  readonly size: number;
  readonly emails: readonly string[];
  readonly reps: readonly (Rep | undefined)[];
  /** The trace of an unknown or inactive member (nothing else is checked then); else undefined. */
  readonly gone: readonly (CandidateTrace | undefined)[];
  /** The trace of each member when eligible, shared by every pick. */
  readonly ok: readonly CandidateTrace[];
  /** Index into `zones` when the member's checks need local time, else -1. */
  readonly zoneOf: Int32Array;
  readonly zones: readonly string[];
  /** 1 for a present member with a day or week cap: the only check that reads the routing state. */
  readonly capped: Uint8Array;
  /** Weighted shares by eligibility mask. */
  readonly shares: Map<number, Shares>;
  minute: Minute | undefined;
}

/** The plan's answers for one local minute in each of its zones. */
interface Minute {
  /** `localTime` of each zone; the same objects come back while the local minute stays the same. */
  readonly times: readonly LocalTime[];
  /** Each member's trace, caps and exclusions aside. */
  readonly base: readonly CandidateTrace[];
  /** Members eligible so far that have caps. */
  readonly openCapped: readonly number[];
  readonly eligible: readonly string[];
  readonly eligibleReps: readonly Rep[];
  readonly mask: number;
}

/**
 * Plans by pool, for the team they were made with (pools and teams are long-lived: loaded once, then
 * reused). Teams are treated as immutable: a changed team file or directory must be a new object, as
 * the loaders and `mergeDirectory` make it.
 */
const plans = new WeakMap<Pool, Plan>();

function planOf(pool: Pool, team: Team): Plan {
  const cached = plans.get(pool);
  if (cached !== undefined && cached.team === team) return cached;
  const members = pool.members;
  const size = members.length;
  const reps: (Rep | undefined)[] = [];
  const gone: (CandidateTrace | undefined)[] = [];
  const ok: CandidateTrace[] = [];
  const zoneOf = new Int32Array(size).fill(-1);
  const zones: string[] = [];
  const capped = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const email = members[i] as string;
    const rep = team.reps[email];
    reps.push(rep);
    ok.push(Object.freeze({ email }));
    // The checks that need no clock, in checkRep's order.
    const fixed =
      rep === undefined || !rep.active
        ? Object.freeze(checkRep(rep, email, undefined, 0, { respectHours: false }))
        : undefined;
    gone.push(fixed);
    if (rep === undefined || fixed !== undefined) continue;
    if (needsLocalTime(rep, pool.respectHours)) {
      let z = zones.indexOf(rep.timezone);
      if (z < 0) z = zones.push(rep.timezone) - 1;
      zoneOf[i] = z;
    }
    if (rep.caps.perDay !== undefined || rep.caps.perWeek !== undefined) capped[i] = 1;
  }
  const plan: Plan = {
    team,
    size,
    emails: members.slice(),
    reps,
    gone,
    ok,
    zoneOf,
    zones,
    capped,
    shares: new Map(),
    minute: undefined,
  };
  plans.set(pool, plan);
  return plan;
}

/** The plan's minute at `now`, reused while every zone is still in the same local minute. */
function minuteOf(plan: Plan, respectHours: boolean, now: number): Minute {
  const zones = plan.zones;
  const cached = plan.minute;
  if (cached !== undefined) {
    let same = true;
    for (let z = 0; same && z < zones.length; z++) {
      if (localTime(now, zones[z] as string) !== cached.times[z]) same = false;
    }
    if (same) return cached;
  }
  const times = zones.map((zone) => localTime(now, zone));
  const base: CandidateTrace[] = [];
  const openCapped: number[] = [];
  const eligible: string[] = [];
  const eligibleReps: Rep[] = [];
  let mask = plan.size <= MASK_BITS ? 0 : -1;
  for (let i = 0; i < plan.size; i++) {
    const gone = plan.gone[i];
    if (gone !== undefined) {
      base.push(gone);
      continue;
    }
    const rep = plan.reps[i] as Rep;
    const email = plan.emails[i] as string;
    const z = plan.zoneOf[i] as number;
    const away = z < 0 ? undefined : checkPresence(rep, email, times[z] as LocalTime, respectHours);
    if (away !== undefined) {
      base.push(Object.freeze(away));
      continue;
    }
    base.push(plan.ok[i] as CandidateTrace);
    if (plan.capped[i] === 1) openCapped.push(i);
    eligible.push(email);
    eligibleReps.push(rep);
    if (mask >= 0) mask |= 1 << i;
  }
  const minute: Minute = { times, base, openCapped, eligible, eligibleReps, mask };
  plan.minute = minute;
  return minute;
}

/** A capped member's cap check against the routing state, in the minute's local day and week. */
function capsOf(plan: Plan, minute: Minute, state: RoutingState, i: number): CandidateTrace | undefined {
  const email = plan.emails[i] as string;
  const lt = minute.times[plan.zoneOf[i] as number] as LocalTime;
  return checkCaps(plan.reps[i] as Rep, email, state.reps[email], lt);
}

/** A shallow copy with one entry set: copy-on-write for the records in the routing state. */
function withEntry<T>(record: Readonly<Record<string, T>>, key: string, value: T): Record<string, T> {
  // A plain spread clones the record's shape at once; a computed key in the same literal, or
  // Object.assign, rebuilds it property by property.
  const copy: Record<string, T> = { ...record };
  copy[key] = value;
  return copy;
}

function single<T>(key: string, value: T): Record<string, T> {
  const record: Record<string, T> = {};
  record[key] = value;
  return record;
}

const MASK_BITS = 31;
const MAX_EPOCHS_PER_POOL = 64;

/** The weights of one eligible set, worked out once per set: each rep's share of a lead is w_i/total. */
interface Shares {
  weights: number[];
  total: number;
  ratio: string;
}

function sharesOf(plan: Plan, mask: number, reps: readonly Rep[]): Shares {
  if (mask < 0) return buildShares(reps);
  let shares = plan.shares.get(mask);
  if (shares === undefined) {
    if (plan.shares.size >= MAX_EPOCHS_PER_POOL) plan.shares.clear();
    shares = buildShares(reps);
    plan.shares.set(mask, shares);
  }
  return shares;
}

function buildShares(reps: readonly Rep[]): Shares {
  let weights = reps.map(weightOf);
  let total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) {
    // Nobody has a usable weight: treat them as equal rather than refusing the lead.
    weights = weights.map(() => 1);
    total = weights.length;
  }
  return { weights, total, ratio: weights.join(':') };
}
/** Never-assigned reps count as turn -1, so newcomers go first — once. */
function lastTurnOf(poolState: PoolState, email: string): number {
  return poolState.lastTurn[email] ?? -1;
}

/**
 * The eligible rep who has waited longest (smallest last turn; member order on ties). A rep who joins
 * or comes back goes first once and then to the back of the line, so they never get a burst.
 */
function roundRobin(eligible: readonly string[], poolState: PoolState): Selection {
  let best = 0;
  let bestTurn = Infinity;
  for (let i = 0; i < eligible.length; i++) {
    const t = lastTurnOf(poolState, eligible[i] ?? '');
    if (t < bestTurn) {
      best = i;
      bestTurn = t;
    }
  }
  const why = bestTurn < 0 ? 'never assigned' : `last at turn ${bestTurn}`;
  return { index: best, reason: `round robin: longest waiting (${why})` };
}

function weightOf(rep: Rep): number {
  return Number.isFinite(rep.weight) && rep.weight > 0 ? rep.weight : 0;
}

/**
 * Weighted by accrued share. Each lead gives every eligible rep w_i/W of a lead (W: the eligible
 * weights' sum) on its account, `owed`; the rep owed most gets the lead and one lead is taken off.
 * Shares accrue only while a rep is eligible and are carried across changes of the eligible set: a rep
 * who is away accrues nothing (no catch-up burst on return) and keeps what it was owed (a flapping rep
 * loses nothing). Owed amounts sum to zero, so they stay small: property-tested under random churn, no
 * rep is ever 2 leads off its accrued share (in practice well within 1.3; about 1 with a steady set).
 * Members who left the pool are dropped from the record.
 */
function weighted(
  eligible: readonly string[],
  reps: readonly Rep[],
  poolState: PoolState,
  members: readonly string[],
  { weights, total, ratio }: Shares,
): Selection {
  const n = eligible.length;
  if (reps.length !== n) throw new RangeError('weighted: eligible reps out of step');
  const before = poolState.weighted?.owed ?? NOTHING_OWED;
  const owed: Record<string, number> = {};
  for (const m of members) {
    const x = before[m];
    if (x !== undefined) owed[m] = x;
  }
  let best = -1;
  let bestOwed = -Infinity;
  for (let i = 0; i < n; i++) {
    const w = weights[i] ?? 0;
    // A zero weight is never chosen (and accrues nothing).
    if (w === 0) continue;
    const email = eligible[i] ?? '';
    const x = (owed[email] ?? 0) + w / total;
    owed[email] = x;
    // Ties go to the larger weight, then to member order.
    if (x > bestOwed || (x === bestOwed && w > (weights[best] ?? 0))) {
      best = i;
      bestOwed = x;
    }
  }
  // `best` is always set: at least one weight is positive.
  const email = eligible[best] ?? '';
  owed[email] = bestOwed - 1;
  return {
    index: best,
    reason: `weighted ${ratio}: owed most (${bestOwed.toFixed(2)} of a lead accrued while eligible and not yet given)`,
    weighted: { owed },
  };
}

const NOTHING_OWED: Readonly<Record<string, number>> = Object.freeze({});

const WINDOW_UNITS: readonly (readonly [number, string])[] = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'm'],
  [1000, 's'],
];

function formatWindow(ms: number): string {
  for (const [size, unit] of WINDOW_UNITS) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** Fewest assignments in the trailing window (or fewest open leads); ties by round-robin order. */
function leastLoaded(
  eligible: readonly string[],
  poolState: PoolState,
  state: RoutingState,
  now: number,
  windowMs: number | undefined,
): Selection {
  let best = 0;
  let bestLoad = Infinity;
  let bestTurn = Infinity;
  for (let i = 0; i < eligible.length; i++) {
    const email = eligible[i] ?? '';
    const counters = state.reps[email];
    const load =
      windowMs === undefined ? (counters?.open ?? 0) : countRecent(counters?.recent, now, windowMs);
    if (load > bestLoad) continue;
    const turn = lastTurnOf(poolState, email);
    if (load < bestLoad || turn < bestTurn) {
      best = i;
      bestLoad = load;
      bestTurn = turn;
    }
  }
  const what = windowMs === undefined ? `${bestLoad} open` : `${bestLoad} in ${formatWindow(windowMs)}`;
  return { index: best, reason: `least loaded (${what})` };
}
