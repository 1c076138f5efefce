// Edits of a stored team, made on its YAML text so that the one team validator (the CLI's) judges the
// result and the admin's comments and layout survive. A rep's fields are written in the team file's
// own vocabulary (`out_of_office`, `cap.per_day`); an empty value removes the key.
import { isMap, parseDocument } from 'yaml';
import type { Rep } from '../core/types.js';

/** The editable fields of one rep, in the team file's keys. `null` removes the key. */
export interface RepPatch {
  name?: string | null | undefined;
  timezone?: string | null | undefined;
  /** `Mon-Fri 09:00-17:30`, several separated by commas in a list, or `24/7`. */
  hours?: string[] | null | undefined;
  /** `2026-12-23` or `2026-12-23..2027-01-02`. */
  outOfOffice?: string[] | null | undefined;
  weight?: number | null | undefined;
  capPerDay?: number | null | undefined;
  capPerWeek?: number | null | undefined;
  active?: boolean | null | undefined;
}

const KEYS: Record<keyof RepPatch, string[]> = {
  name: ['name'],
  timezone: ['timezone'],
  hours: ['hours'],
  outOfOffice: ['out_of_office'],
  weight: ['weight'],
  capPerDay: ['cap', 'per_day'],
  capPerWeek: ['cap', 'per_week'],
  active: ['active'],
};

/**
 * The team text with one rep's fields changed (the rep is added when new). The text must parse as YAML;
 * whether the result is a valid team is the loader's call.
 */
export function editRep(source: string, email: string, patch: RepPatch): string {
  const doc = parseDocument(source);
  if (doc.errors.length > 0) throw new Error(`the team does not parse: ${doc.errors[0]?.message ?? ''}`);
  const rep = ['reps', email.toLowerCase()];
  if (!isMap(doc.getIn(rep))) doc.setIn(rep, doc.createNode({}));
  for (const [field, value] of Object.entries(patch) as [keyof RepPatch, RepPatch[keyof RepPatch]][]) {
    if (value === undefined) continue;
    const path = [...rep, ...KEYS[field]];
    const empty = value === null || (Array.isArray(value) && value.length === 0);
    if (empty) {
      if (doc.hasIn(path)) doc.deleteIn(path);
    } else doc.setIn(path, value);
  }
  // An emptied cap block goes too.
  const cap = doc.getIn([...rep, 'cap']);
  if (isMap(cap) && cap.items.length === 0) doc.deleteIn([...rep, 'cap']);
  return doc.toString();
}

/** Each editable field of a loaded rep, as routing reads it. */
const READ: Record<keyof RepPatch, (rep: Rep) => unknown> = {
  name: (r) => r.name,
  timezone: (r) => r.timezone,
  hours: (r) => r.hours,
  outOfOffice: (r) => r.outOfOffice,
  weight: (r) => r.weight,
  capPerDay: (r) => r.caps.perDay,
  capPerWeek: (r) => r.caps.perWeek,
  active: (r) => r.active,
};

/**
 * The fields of `patch` whose value for routing differs between the rep before and after the edit (a
 * form sends every field; the history names only those changed). Compared as loaded, so `mon-fri` and
 * `Mon-Fri` are the same hours.
 */
export function changedFields(patch: RepPatch, before: Rep | undefined, after: Rep | undefined): string[] {
  return (Object.keys(patch) as (keyof RepPatch)[]).filter(
    (field) =>
      patch[field] !== undefined &&
      JSON.stringify(before === undefined ? null : READ[field](before)) !==
        JSON.stringify(after === undefined ? null : READ[field](after)),
  );
}
