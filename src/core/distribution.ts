// Picks one rep from a pool: round robin, weighted (Tijdeman's chairman assignment) or least loaded.
// Pure: the rotation state is an argument and the result names only the entries that changed (the
// pool entry and the chosen rep's counters); inputs are never mutated. It runs on every pool decision.
import { checkRep, countRecent, recordAssignment, type CheckOptions } from './availability.js';
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
 */
export function pickFromPool(
  pool: Pool,
  team: Team,
  state: RoutingState,
  now: number,
  exclude?: readonly string[],
  options?: PickOptions,
): PickResult {
  const checkOpts: CheckOptions = {
    respectHours: pool.respectHours,
    exclude: exclude !== undefined && exclude.length > 0 ? new Set(exclude) : undefined,
  };
  const candidates: CandidateTrace[] = [];
  const eligible: string[] = [];
  const eligibleReps: Rep[] = [];
  const members = pool.members;
  // Which members are eligible, as bits, to memoize the weighted epoch key (small pools only).
  let mask = members.length <= MASK_BITS ? 0 : -1;
  for (let i = 0; i < members.length; i++) {
    const email = members[i] as string;
    const rep = team.reps[email];
    // Counters matter only for caps; most members have none, which spares a lookup in the state.
    const capped = rep !== undefined && (rep.caps.perDay !== undefined || rep.caps.perWeek !== undefined);
    const check = checkRep(rep, email, capped ? state.reps[email] : undefined, now, checkOpts);
    candidates.push(check);
    if (check.skipped === undefined && rep !== undefined) {
      eligible.push(email);
      eligibleReps.push(rep);
      if (mask >= 0) mask |= 1 << i;
    }
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
      sel = weighted(eligible, eligibleReps, poolState, epochOf(pool, team, mask, eligible, eligibleReps));
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

/** The weighted epoch of an eligible set: its key for `PoolState.weighted.members` and the weights. */
interface Epoch {
  key: string;
  weights: number[];
  total: number;
  ratio: string;
}

/**
 * Epochs by eligibility mask, per pool and team object (both long-lived: loaded once, then reused).
 * Teams are treated as immutable: a changed team file must arrive as a new object.
 */
const epochCache = new WeakMap<Pool, { team: Team; byMask: Map<number, Epoch> }>();

function epochOf(
  pool: Pool,
  team: Team,
  mask: number,
  eligible: readonly string[],
  reps: readonly Rep[],
): Epoch {
  if (mask < 0) return buildEpoch(eligible, reps);
  let entry = epochCache.get(pool);
  if (entry === undefined || entry.team !== team) {
    entry = { team, byMask: new Map() };
    epochCache.set(pool, entry);
  }
  let epoch = entry.byMask.get(mask);
  if (epoch === undefined) {
    if (entry.byMask.size >= MAX_EPOCHS_PER_POOL) entry.byMask.clear();
    epoch = buildEpoch(eligible, reps);
    entry.byMask.set(mask, epoch);
  }
  return epoch;
}

function buildEpoch(eligible: readonly string[], reps: readonly Rep[]): Epoch {
  let weights = reps.map(weightOf);
  let total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) {
    // Nobody has a usable weight: treat them as equal rather than refusing the lead.
    weights = weights.map(() => 1);
    total = weights.length;
  }
  const ratio = weights.join(':');
  return { key: `${eligible.join('|')}#${ratio}`, weights, total, ratio };
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
 * Tijdeman's chairman assignment (1980). With shares λ_i = w_i/W and counts x_i since the eligible set
 * became what it is, step t gives the lead to the rep with the earliest deadline (x_i + C)/λ_i among
 * those that would not run ahead, x_i + 1 ≤ tλ_i + C, where C = 1 - 1/(2(n-1)). Then
 * |x_i(t) - tλ_i| ≤ C < 1 for every rep after every step. Both tests are multiplied out by W·2(n-1)
 * so integer weights are compared exactly. A change of the eligible set or of weights starts a new
 * epoch (counts from zero), because the bound holds only for a fixed set.
 */
function weighted(
  eligible: readonly string[],
  reps: readonly Rep[],
  poolState: PoolState,
  { key, weights, total, ratio }: Epoch,
): Selection {
  const n = eligible.length;
  if (reps.length !== n) throw new RangeError('weighted: eligible reps out of step');
  const epoch = poolState.weighted?.members === key ? poolState.weighted : undefined;
  const counts = epoch?.counts ?? {};
  const t = (epoch?.total ?? 0) + 1;

  const k = n > 1 ? 2 * (n - 1) : 1;
  let best = -1;
  let bestFeasible = false;
  for (let i = 0; i < n; i++) {
    const w = weights[i] ?? 0;
    if (w === 0) continue;
    const x = counts[eligible[i] ?? ''] ?? 0;
    const feasible = n === 1 || (x + 1) * k * total <= t * w * k + total * (k - 1);
    if (bestFeasible && !feasible) continue;
    if (best < 0 || (feasible && !bestFeasible)) {
      best = i;
      bestFeasible = feasible;
      continue;
    }
    // Earlier deadline: (x_i·k + k - 1)/w_i smaller, compared without dividing.
    const xb = counts[eligible[best] ?? ''] ?? 0;
    if ((x * k + k - 1) * (weights[best] ?? 0) < (xb * k + k - 1) * w) best = i;
  }
  // `best` is always set: at least one weight is positive. Without a feasible rep (only possible with
  // rounding of fractional weights) the earliest deadline overall is used.
  const email = eligible[best] ?? '';
  const had = counts[email] ?? 0;
  const w = weights[best] ?? 0;
  return {
    index: best,
    reason: `weighted ${ratio}: due ${((t * w) / total).toFixed(2)} of the ${t} leads so far, had ${had}`,
    weighted: { members: key, counts: withEntry(counts, email, had + 1), total: t },
  };
}

function formatWindow(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
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
