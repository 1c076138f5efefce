// The least time a burst can take under a portal's rate budget: the calls the rules require, at ideal
// batch sizes, at the budget's pace (general calls and searches are separate budgets). bench:e2e and
// bench:scale compare elapsed time against it.
import type { ContactEffects, CrmObject } from '../connectors/sandbox/index.js';
import { isFreeMailDomain, registrableDomain } from '../src/core/normalize.js';

const BATCH = 100;
const DOMAINS_PER_SEARCH = 50;
const SEARCH_PER_SEC = 5;

export interface RequiredCalls {
  reads: number;
  ownerBatches: number;
  taskBatches: number;
  noteBatches: number;
  enrollments: number;
  searches: number;
}

/**
 * Calls the rules required for `contacts`, judged from what was written (enrollments and notes) and
 * from whether the rules searched companies at all (`searched`). `enrollmentsAsked` counts enrollments
 * the rules asked for when the CRM refused some of them (a sender without a connected inbox): each
 * refusal still took a call.
 */
export function requiredCalls(
  contacts: readonly CrmObject[],
  effects: ContactEffects,
  searched: boolean,
  enrollmentsAsked?: number,
): RequiredCalls {
  const domains = new Set<string>();
  if (searched) {
    for (const c of contacts) {
      for (const v of [c.properties['email'], c.properties['website']]) {
        const d = v === undefined || v === '' ? undefined : registrableDomain(v);
        if (d !== undefined && !isFreeMailDomain(d)) domains.add(d);
      }
    }
  }
  const ids = contacts.map((c) => c.id);
  const withNote = ids.filter((id) => effects.notes.has(id)).length;
  return {
    reads: Math.ceil(ids.length / BATCH),
    ownerBatches: Math.ceil(ids.length / BATCH),
    taskBatches: Math.ceil(ids.filter((id) => effects.tasks.has(id)).length / BATCH),
    noteBatches: Math.ceil(withNote / BATCH),
    enrollments: enrollmentsAsked ?? ids.filter((id) => effects.enrollments.has(id)).length,
    searches: Math.ceil(domains.size / DOMAINS_PER_SEARCH),
  };
}

/** Seconds the required calls take at `perTenSeconds` general calls and 5 searches per second. */
export function lowerBoundSec(required: RequiredCalls, perTenSeconds: number): number {
  const general =
    required.reads +
    required.ownerBatches +
    required.taskBatches +
    required.noteBatches +
    required.enrollments;
  return Math.max(general / (perTenSeconds / 10), required.searches / SEARCH_PER_SEC);
}

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
