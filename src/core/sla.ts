// SLA clock math and breach-policy decisions. Pure: time is an argument, the CRM's answer is an
// argument, and the answer is data the SLA processor acts on.
import { checkPresence, localTime } from './availability.js';
import type { DecisionSla, Rep, SlaBreach, SlaClock, SlaEscalation, SlaSpec, SlaStep } from './types.js';

const MINUTE = 60_000;
/** No clock runs longer than this many minutes looking for working time (a year). */
const MAX_MINUTES = 366 * 24 * 60;

/** The owner whose working hours pause the clock. */
export type ClockOwner = Rep;

/** The breach policy as steps: `on_breach: x` alone is one step at the first-touch deadline. */
export function slaSteps(spec: Pick<SlaSpec, 'firstTouchMs' | 'onBreach' | 'steps'>): SlaStep[] {
  if (spec.steps !== undefined) return spec.steps;
  return [breachStep(spec.onBreach, spec.firstTouchMs)];
}

function breachStep(b: SlaBreach, afterMs: number): SlaStep {
  switch (b.kind) {
    case 'remind':
      return { afterMs, kind: 'remind', via: 'task' };
    case 'reroute':
      return { afterMs, kind: 'reroute' };
    case 'escalate':
      return { afterMs, kind: 'escalate', to: b.to };
    default: {
      const never: never = b;
      return never;
    }
  }
}

/** The step written as the legacy `on_breach` shorthand (stored timers keep one). */
export function stepBreach(step: SlaStep): SlaBreach {
  return step.kind === 'escalate' ? { kind: 'escalate', to: step.to } : { kind: step.kind };
}

/** Whether the owner's clock runs in the minute that contains `at`: within hours and not out of office. */
function working(owner: ClockOwner, at: number): boolean {
  if (owner.hours.length === 0 && owner.outOfOffice.length === 0) return true;
  return checkPresence(owner, owner.email, localTime(at, owner.timezone), true) === undefined;
}

/**
 * When `durationMs` of SLA time will have passed after `start`. On wall time, plain addition; on
 * working hours the clock runs only in the owner's working minutes (their zone, so DST shifts are
 * exact), and stops at night, on days off and out of office. An owner who never works within a year
 * (no hours at all match) gets wall time rather than a timer that never fires.
 */
export function addSlaTime(
  start: number,
  durationMs: number,
  clock: SlaClock | undefined,
  owner: ClockOwner | undefined,
): number {
  if (clock !== 'working_hours' || owner === undefined || durationMs <= 0) return start + durationMs;
  if (owner.hours.length === 0 && owner.outOfOffice.length === 0) return start + durationMs;
  let t = start;
  let left = durationMs;
  for (let i = 0; left > 0 && i < MAX_MINUTES * 2; i++) {
    const minuteEnd = (Math.floor(t / MINUTE) + 1) * MINUTE;
    if (working(owner, t)) {
      const slice = Math.min(minuteEnd - t, left);
      left -= slice;
      t += slice;
    } else {
      t = minuteEnd;
    }
  }
  return left > 0 ? start + durationMs : t;
}

/** SLA time between two instants: wall time, or the owner's working time within them. */
export function slaTimeBetween(
  from: number,
  to: number,
  clock: SlaClock | undefined,
  owner: ClockOwner | undefined,
): number {
  if (to <= from) return 0;
  if (clock !== 'working_hours' || owner === undefined) return to - from;
  if (owner.hours.length === 0 && owner.outOfOffice.length === 0) return to - from;
  let total = 0;
  let t = from;
  for (let i = 0; t < to && i < MAX_MINUTES * 2; i++) {
    const next = Math.min((Math.floor(t / MINUTE) + 1) * MINUTE, to);
    if (working(owner, t)) total += next - t;
    t = next;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------
// Checkpoints and what to do at each

/**
 * The moments a timer is checked, in SLA time since the owner write: the first-touch deadline (the
 * breach, for attainment) and each step. A step at the deadline is one checkpoint.
 */
export interface Checkpoint {
  afterMs: number;
  /** This checkpoint is the first-touch deadline. */
  deadline: boolean;
  /** Index into the steps, when a step runs here. */
  step?: number | undefined;
}

export function checkpoints(firstTouchMs: number, steps: readonly SlaStep[]): Checkpoint[] {
  const out: Checkpoint[] = steps.map((s, i) => ({ afterMs: s.afterMs, deadline: false, step: i }));
  const atDeadline = out.find((c) => c.afterMs === firstTouchMs);
  if (atDeadline !== undefined) atDeadline.deadline = true;
  else out.push({ afterMs: firstTouchMs, deadline: true });
  return out.sort((a, b) => a.afterMs - b.afterMs || (a.step ?? -1) - (b.step ?? -1));
}

/** What the CRM says about a lead now (absent when the lead is gone). */
export interface TouchObservation {
  /** The current owner, as the connector names owners (a rep email or a CRM owner id). */
  owner?: string | undefined;
  /** When it was first touched since the owner write, if it was. */
  touchedAt?: number | undefined;
  signal?: string | undefined;
}

export interface TimerView {
  /** When the current owner's write landed; SLA time counts from here. */
  startedAt: number;
  /** What we wrote as owner and so expect to find; undefined when we did not write a person (a team). */
  expectedOwner?: string | undefined;
  /** Other names that mean the same owner (its CRM id next to its email). */
  expectedAliases?: readonly string[] | undefined;
}

export type SlaVerdict =
  | { kind: 'met'; touchedAt: number; signal?: string | undefined }
  | { kind: 'left_alone'; reason: 'owner_changed' | 'lead_gone'; owner?: string | undefined }
  | { kind: 'untouched' };

/**
 * The verdict on one timer from what the CRM shows. A touch after the owner write is a touch; an owner
 * other than the one we wrote means a person took the lead over, and we leave it alone.
 */
export function judge(view: TimerView, seen: TouchObservation | undefined): SlaVerdict {
  if (seen === undefined) return { kind: 'left_alone', reason: 'lead_gone' };
  if (seen.touchedAt !== undefined && seen.touchedAt >= view.startedAt) {
    return { kind: 'met', touchedAt: seen.touchedAt, signal: seen.signal };
  }
  if (view.expectedOwner !== undefined) {
    const names = new Set([view.expectedOwner, ...(view.expectedAliases ?? [])].map((n) => n.toLowerCase()));
    if (seen.owner === undefined || !names.has(seen.owner.toLowerCase()))
      return { kind: 'left_alone', reason: 'owner_changed', owner: seen.owner };
  }
  return { kind: 'untouched' };
}

/** Human text of a step, for traces, notifications and `explain`. */
export function describeStep(step: SlaStep): string {
  const after = formatSlaDuration(step.afterMs);
  switch (step.kind) {
    case 'remind':
      return `after ${after} remind (${step.via === 'task' ? 'a task for the owner' : 'a notification'})`;
    case 'reroute':
      return `after ${after} re-route to the next eligible rep who has not had the lead`;
    case 'escalate':
      return `after ${after} escalate to ${escalationTarget(step.to)}`;
    default: {
      const never: never = step;
      return String(never);
    }
  }
}

/** Who an escalation goes to, in words. */
export function escalationTarget(to: SlaEscalation): string {
  switch (to.kind) {
    case 'rep':
      return to.email;
    case 'queue':
      return `queue ${to.name}`;
    case 'manager':
      return 'the owner’s manager';
    default: {
      const never: never = to;
      return String(never);
    }
  }
}

export function formatSlaDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE}m`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * When a new timer is first looked at: its earliest checkpoint after the decision (a reminder may come
 * before the deadline). The processor then counts from the owner write, a moment later.
 */
export function firstCheckAt(sla: DecisionSla, decidedAt: number): number {
  const first = sla.steps?.[0]?.afterMs;
  if (first === undefined || sla.firstTouchMs === undefined) return sla.firstTouchBy;
  return Math.min(sla.firstTouchBy, decidedAt + Math.min(first, sla.firstTouchMs));
}
