// Territory membership by country, region, postal code (prefixes and ranges) and city.
import type { Lead, PostalRange, Territory, TerritoryClause } from './types.js';

function compact(postal: string): string {
  return postal.replace(/[\s-]/g, '').toUpperCase();
}

/**
 * A postal code is in a range when its leading characters (as many as the range bounds have) fall
 * between the bounds; so ZIP+4 "94105-1234" is in "90000".."96199". Digits compare as numbers.
 */
export function inPostalRange(postal: string, range: PostalRange): boolean {
  const from = compact(range.from);
  const to = compact(range.to);
  const head = compact(postal).slice(0, Math.max(from.length, to.length));
  if (/^\d+$/.test(head) && /^\d+$/.test(from) && /^\d+$/.test(to)) {
    const n = Number(head);
    return head.length === from.length && n >= Number(from) && n <= Number(to);
  }
  return head >= from && head <= to;
}

function clauseMatches(clause: TerritoryClause, lead: Lead): boolean {
  if (clause.country !== undefined && (lead.country === undefined || !clause.country.includes(lead.country)))
    return false;
  if (clause.state !== undefined) {
    const state = lead.state?.toUpperCase();
    if (state === undefined || !clause.state.some((s) => s.toUpperCase() === state)) return false;
  }
  if (clause.city !== undefined) {
    const city = lead.city?.trim().toLowerCase();
    if (city === undefined || !clause.city.some((c) => c.toLowerCase() === city)) return false;
  }
  if (clause.postalPrefix !== undefined || clause.postalRange !== undefined) {
    if (lead.postalCode === undefined || lead.postalCode === '') return false;
    const postal = lead.postalCode;
    const byPrefix = clause.postalPrefix?.some((p) => compact(postal).startsWith(compact(p))) ?? false;
    const byRange = clause.postalRange?.some((r) => inPostalRange(postal, r)) ?? false;
    if (!byPrefix && !byRange) return false;
  }
  return true;
}

export function matchesTerritory(territory: Territory, lead: Lead): boolean {
  return territory.clauses.some((clause) => clauseMatches(clause, lead));
}

/**
 * `matchesTerritory` with the clause lists folded into sets once: a compiled rule set tests every
 * territory it names for each decision, so the per-lead work is a few set lookups.
 */
export function compileTerritory(territory: Territory): (lead: Lead) => boolean {
  const clauses = territory.clauses.map((clause) => ({
    country: clause.country === undefined ? undefined : new Set(clause.country),
    state: clause.state === undefined ? undefined : new Set(clause.state.map((s) => s.toUpperCase())),
    city: clause.city === undefined ? undefined : new Set(clause.city.map((c) => c.toLowerCase())),
    postal: clause.postalPrefix !== undefined || clause.postalRange !== undefined,
    prefixes: clause.postalPrefix?.map(compact),
    ranges: clause.postalRange,
  }));
  return (lead) => {
    for (const clause of clauses) {
      if (clause.country !== undefined && (lead.country === undefined || !clause.country.has(lead.country)))
        continue;
      if (clause.state !== undefined) {
        const state = lead.state?.toUpperCase();
        if (state === undefined || !clause.state.has(state)) continue;
      }
      if (clause.city !== undefined) {
        const city = lead.city?.trim().toLowerCase();
        if (city === undefined || !clause.city.has(city)) continue;
      }
      if (clause.postal) {
        const postal = lead.postalCode;
        if (postal === undefined || postal === '') continue;
        const head = compact(postal);
        const byPrefix = clause.prefixes?.some((p) => head.startsWith(p)) ?? false;
        const byRange = clause.ranges?.some((r) => inPostalRange(postal, r)) ?? false;
        if (!byPrefix && !byRange) continue;
      }
      return true;
    }
    return false;
  };
}
