// Reports over routed leads, computed from plain facts (one per decision) so they are pure and tested
// with fixed data: speed to lead, SLA attainment, distribution per rep against the weighted target,
// and fallback usage. Storage reads the facts of one tenant and time window (src/storage/reports.ts);
// the API answers the rows as JSON, the CLI writes them as CSV. First touch, SLA outcomes and the
// steps taken (reminders, re-routes, escalations) are what the SLA timers store (src/pipeline/sla).
import { slaTimeBetween } from '../core/sla.js';
import type { Rep, RuleSet, Team } from '../core/types.js';
import type { ReportGroup, ReportKind } from './kinds.js';

export { REPORT_GROUPS, REPORT_KINDS, type ReportGroup, type ReportKind } from './kinds.js';

export type SlaTimerState = 'armed' | 'met' | 'breached' | 'cancelled';

/** One routing decision as reports see it (hold decisions are not facts: the lead was not routed yet). */
export interface DecisionFact {
  leadId: string;
  decidedAt: number;
  /** When the CRM event the decision answered happened; null for decisions stored before it was kept. */
  eventAt: number | null;
  /** The route that decided; null: the rule set's fallback. */
  rule: string | null;
  /** The pool that assigned the lead, if one did. */
  pool: string | null;
  /** The rep the lead was assigned to. */
  owner: string | null;
  /** The queue the lead was assigned to. */
  queue: string | null;
  /** When the CRM accepted the owner (or queue) write; null while it is not written. */
  ownerWrittenAt: number | null;
  /** The fallbacks taken on the way (FallbackReason values). */
  fallbacks: readonly string[];
  /**
   * The decision's SLA timer, if it had an SLA: its state, the outcome it ended with (`met`,
   * `met_late`, `unmet`, `owner_changed`, …; null while open) and the first touch it saw.
   */
  sla: { state: SlaTimerState; dueAt: number; outcome: string | null; firstTouchAt: number | null } | null;
  /** SLA steps carried out on the lead (done): reminders, re-routes and escalations. */
  steps: { reminders: number; reroutes: number; escalations: number };
}

export type Cell = string | number | null;
export type ReportRow = Record<string, Cell>;

export interface Report {
  kind: ReportKind;
  /** Column names in order: the CSV header, and the keys of every row. */
  columns: string[];
  rows: ReportRow[];
}

export interface ReportOptions {
  by?: ReportGroup | undefined;
  /** The team, for working hours (speed) and rep weights (distribution). */
  team?: Team | undefined;
  /** The active rule set, for the pools' members (distribution). */
  ruleSet?: Pick<RuleSet, 'pools'> | undefined;
}

export const FALLBACK_RULE = '(fallback)';
export const NO_POOL = '(no pool)';
export const UNASSIGNED = '(unassigned)';
export const ALL = '(all)';

/** The group a fact falls in. */
export function groupOf(fact: DecisionFact, by: ReportGroup | undefined): string {
  switch (by) {
    case undefined:
      return ALL;
    case 'rule':
      return fact.rule ?? FALLBACK_RULE;
    case 'pool':
      return fact.pool ?? NO_POOL;
    case 'rep':
      return fact.owner ?? (fact.queue === null ? UNASSIGNED : `queue:${fact.queue}`);
    default: {
      const never: never = by;
      return never;
    }
  }
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

const ratio = (n: number, d: number): number | null =>
  d === 0 ? null : Math.round((n / d) * 10_000) / 10_000;
const sortNumbers = (xs: number[]): number[] => xs.sort((a, b) => a - b);

function grouped<T>(facts: Iterable<DecisionFact>, by: ReportGroup | undefined, init: () => T) {
  const groups = new Map<string, T>();
  return {
    groups,
    each(fn: (acc: T, fact: DecisionFact) => void): void {
      for (const fact of facts) {
        const key = groupOf(fact, by);
        let acc = groups.get(key);
        if (acc === undefined) {
          acc = init();
          groups.set(key, acc);
        }
        fn(acc, fact);
      }
    },
    /** Groups in name order: a stable report. */
    sorted(): [string, T][] {
      return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    },
  };
}

const groupColumn = (by: ReportGroup | undefined): string => by ?? 'window';

/**
 * Speed to lead: CRM event → owner written, and owner written → first touch on wall time and on the
 * owner's working hours (their team hours and time zone; wall time for an owner the team does not list).
 */
export function speedReport(facts: Iterable<DecisionFact>, options: ReportOptions = {}): Report {
  const { by, team } = options;
  const g = grouped(facts, by, () => ({
    leads: 0,
    toOwner: [] as number[],
    touchWall: [] as number[],
    touchWork: [] as number[],
  }));
  g.each((acc, f) => {
    acc.leads += 1;
    if (f.ownerWrittenAt === null) return;
    if (f.eventAt !== null) acc.toOwner.push(Math.max(0, f.ownerWrittenAt - f.eventAt));
    const touched = f.sla?.firstTouchAt ?? null;
    if (touched === null) return;
    const rep: Rep | undefined = f.owner === null ? undefined : team?.reps[f.owner];
    acc.touchWall.push(Math.max(0, touched - f.ownerWrittenAt));
    acc.touchWork.push(slaTimeBetween(f.ownerWrittenAt, touched, 'working_hours', rep));
  });
  const columns = [
    groupColumn(by),
    'leads',
    'owner_written',
    'event_to_owner_p50_ms',
    'event_to_owner_p90_ms',
    'event_to_owner_max_ms',
    'first_touched',
    'owner_to_touch_p50_ms',
    'owner_to_touch_p90_ms',
    'owner_to_touch_working_p50_ms',
    'owner_to_touch_working_p90_ms',
  ];
  const rows = g.sorted().map(([group, acc]): ReportRow => {
    const toOwner = sortNumbers(acc.toOwner);
    const wall = sortNumbers(acc.touchWall);
    const work = sortNumbers(acc.touchWork);
    return {
      [groupColumn(by)]: group,
      leads: acc.leads,
      owner_written: toOwner.length,
      event_to_owner_p50_ms: percentile(toOwner, 50),
      event_to_owner_p90_ms: percentile(toOwner, 90),
      event_to_owner_max_ms: toOwner.at(-1) ?? null,
      first_touched: wall.length,
      owner_to_touch_p50_ms: percentile(wall, 50),
      owner_to_touch_p90_ms: percentile(wall, 90),
      owner_to_touch_working_p50_ms: percentile(work, 50),
      owner_to_touch_working_p90_ms: percentile(work, 90),
    };
  });
  return { kind: 'speed', columns, rows };
}

/**
 * SLA attainment: of the timers that ended met (in time or late) or breached, the share met in time.
 * Open timers and cancelled ones (the owner changed by a person, the lead gone) are counted apart.
 */
export function slaReport(facts: Iterable<DecisionFact>, options: ReportOptions = {}): Report {
  const { by } = options;
  const g = grouped(facts, by, () => ({ armed: 0, met: 0, late: 0, breached: 0, cancelled: 0 }));
  g.each((acc, f) => {
    if (f.sla === null) return;
    if (f.sla.state === 'met' && f.sla.outcome === 'met_late') acc.late += 1;
    else acc[f.sla.state] += 1;
  });
  const columns = [
    groupColumn(by),
    'with_sla',
    'met',
    'met_late',
    'breached',
    'open',
    'cancelled',
    'attainment',
  ];
  const rows = g
    .sorted()
    .filter(([, a]) => a.armed + a.met + a.late + a.breached + a.cancelled > 0)
    .map(([group, a]): ReportRow => ({
      [groupColumn(by)]: group,
      with_sla: a.armed + a.met + a.late + a.breached + a.cancelled,
      met: a.met,
      met_late: a.late,
      breached: a.breached,
      open: a.armed,
      cancelled: a.cancelled,
      attainment: ratio(a.met, a.met + a.late + a.breached),
    }));
  return { kind: 'sla', columns, rows };
}

/** Re-routes and escalations: the SLA steps taken on the window's leads, and how many leads had each. */
export function reroutesReport(facts: Iterable<DecisionFact>, options: ReportOptions = {}): Report {
  const { by } = options;
  const g = grouped(facts, by, () => ({
    leads: 0,
    breached: 0,
    reminders: 0,
    reroutes: 0,
    escalations: 0,
    rerouted: 0,
    escalated: 0,
  }));
  g.each((acc, f) => {
    acc.leads += 1;
    if (f.sla?.state === 'breached' || f.sla?.outcome === 'met_late') acc.breached += 1;
    acc.reminders += f.steps.reminders;
    acc.reroutes += f.steps.reroutes;
    acc.escalations += f.steps.escalations;
    if (f.steps.reroutes > 0) acc.rerouted += 1;
    if (f.steps.escalations > 0) acc.escalated += 1;
  });
  const columns = [
    groupColumn(by),
    'leads',
    'breached',
    'reminders',
    'reroutes',
    'escalations',
    'leads_rerouted',
    'leads_escalated',
  ];
  const rows = g.sorted().map(([group, a]): ReportRow => ({
    [groupColumn(by)]: group,
    leads: a.leads,
    breached: a.breached,
    reminders: a.reminders,
    reroutes: a.reroutes,
    escalations: a.escalations,
    leads_rerouted: a.rerouted,
    leads_escalated: a.escalated,
  }));
  return { kind: 'reroutes', columns, rows };
}

/**
 * Distribution per pool and rep against the weighted target: each member's share of the pool's leads
 * is its weight over the members' weights (the active rule set's pools, the team's weights). A rep who
 * got leads from a pool it is no longer in has a target of 0. Always by pool and rep.
 */
export function distributionReport(facts: Iterable<DecisionFact>, options: ReportOptions = {}): Report {
  const counts: PoolAssignments[] = [];
  for (const f of facts)
    if (f.pool !== null && f.owner !== null) counts.push({ pool: f.pool, owner: f.owner, leads: 1 });
  return distributionOfCounts(counts, options);
}

/** Leads a pool gave a rep (the storage's count of a window's decisions, or one fact's). */
export interface PoolAssignments {
  pool: string;
  owner: string;
  leads: number;
}

/** The distribution report from the leads each pool gave each rep, counted already (the Team page). */
export function distributionOfCounts(counts: Iterable<PoolAssignments>, options: ReportOptions = {}): Report {
  const { team, ruleSet } = options;
  const assigned = new Map<string, Map<string, number>>();
  const count = (pool: string, rep: string, n: number) => {
    const reps = assigned.get(pool) ?? new Map<string, number>();
    reps.set(rep, (reps.get(rep) ?? 0) + n);
    assigned.set(pool, reps);
  };
  for (const pool of Object.values(ruleSet?.pools ?? {}))
    for (const m of pool.members) count(pool.name, m, 0);
  for (const c of counts) count(c.pool, c.owner, c.leads);
  const columns = ['pool', 'rep', 'assigned', 'share', 'weight', 'target_share', 'expected', 'difference'];
  const rows: ReportRow[] = [];
  for (const pool of [...assigned.keys()].sort()) {
    const reps = assigned.get(pool) ?? new Map<string, number>();
    const members = new Set(ruleSet?.pools[pool]?.members ?? []);
    // A rep no longer in the pool, or inactive (in the team file or the CRM), is owed no share.
    const weightOf = (rep: string): number =>
      members.has(rep) && team?.reps[rep]?.active !== false ? (team?.reps[rep]?.weight ?? 1) : 0;
    const total = [...reps.values()].reduce((a, b) => a + b, 0);
    const weights = [...members].reduce((a, rep) => a + weightOf(rep), 0);
    for (const rep of [...reps.keys()].sort()) {
      const n = reps.get(rep) ?? 0;
      const target = weights === 0 ? 0 : weightOf(rep) / weights;
      const expected = Math.round(total * target * 100) / 100;
      rows.push({
        pool,
        rep,
        assigned: n,
        share: ratio(n, total),
        weight: weightOf(rep),
        target_share: Math.round(target * 10_000) / 10_000,
        expected,
        difference: Math.round((n - expected) * 100) / 100,
      });
    }
  }
  return { kind: 'distribution', columns, rows };
}

/** Fallback usage: leads that fell to a catch-all, per reason (a lead can take several on its way). */
export function fallbackReport(facts: Iterable<DecisionFact>, options: ReportOptions = {}): Report {
  const { by } = options;
  const g = grouped(facts, by, () => ({ leads: 0, fellBack: 0, reasons: new Map<string, number>() }));
  g.each((acc, f) => {
    acc.leads += 1;
    if (f.fallbacks.length === 0) return;
    acc.fellBack += 1;
    for (const reason of new Set(f.fallbacks)) acc.reasons.set(reason, (acc.reasons.get(reason) ?? 0) + 1);
  });
  const columns = [groupColumn(by), 'reason', 'leads', 'of_leads', 'share'];
  const rows: ReportRow[] = [];
  for (const [group, acc] of g.sorted()) {
    const row = (reason: string, n: number): ReportRow => ({
      [groupColumn(by)]: group,
      reason,
      leads: n,
      of_leads: acc.leads,
      share: ratio(n, acc.leads),
    });
    rows.push(row('(any)', acc.fellBack));
    for (const reason of [...acc.reasons.keys()].sort()) rows.push(row(reason, acc.reasons.get(reason) ?? 0));
  }
  return { kind: 'fallbacks', columns, rows };
}

export function buildReport(
  kind: ReportKind,
  facts: Iterable<DecisionFact>,
  options: ReportOptions = {},
): Report {
  switch (kind) {
    case 'speed':
      return speedReport(facts, options);
    case 'sla':
      return slaReport(facts, options);
    case 'reroutes':
      return reroutesReport(facts, options);
    case 'distribution':
      return distributionReport(facts, options);
    case 'fallbacks':
      return fallbackReport(facts, options);
    default: {
      const never: never = kind;
      return never;
    }
  }
}
