// Parsers for the time notations a RevOps person writes: durations, working hours, out-of-office
// dates and time zones. They return results instead of throwing, so the loader can collect every error.
import type { DateRange, WorkingHours } from '../core/types.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION_PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;
/** Longer than any due time, SLA, hold or window means; `now + duration` must stay a valid date. */
export const MAX_DURATION_MS = 366 * 86_400_000;

/** `90s`, `15m`, `2h`, `1d`, `1w`, and combinations such as `1h30m`; returns milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  const source = text.trim().toLowerCase();
  const bad: Parsed<number> = {
    ok: false,
    message: `invalid duration "${text}": use a number with a unit (90s, 15m, 2h, 1d, 1w, 1h30m)`,
  };
  if (source === '') return bad;
  let total = 0;
  let pos = 0;
  DURATION_PART.lastIndex = 0;
  while (pos < source.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(source);
    if (m === null) return bad;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN);
    pos = DURATION_PART.lastIndex;
    while (source[pos] === ' ') pos++;
  }
  if (!Number.isFinite(total)) return bad;
  if (total > MAX_DURATION_MS)
    return { ok: false, message: `duration "${text}" is longer than a year (366d); use at most 366d` };
  return { ok: true, value: Math.round(total) };
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

function dayNumber(token: string): number | undefined {
  const t = token.trim().toLowerCase();
  if (t.length < 2) return undefined;
  // Accept `Mon`, `Monday`, `mo`: any prefix of at least 2 letters of a full name.
  const full = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
  const i = full.findIndex(
    (f) => f.startsWith(t) || (t.length >= 3 && t.startsWith(f.slice(0, 3)) && f.startsWith(t)),
  );
  return i >= 0 ? i + 1 : undefined;
}

function parseDays(text: string): Parsed<number[]> {
  const days = new Set<number>();
  for (const part of text.split(',')) {
    const range = part.split('-');
    if (range.length === 1) {
      const d = dayNumber(part);
      if (d === undefined)
        return { ok: false, message: `unknown day "${part.trim()}" (use ${DAYS.join(', ')})` };
      days.add(d);
    } else if (range.length === 2) {
      const a = dayNumber(range[0] ?? '');
      const b = dayNumber(range[1] ?? '');
      if (a === undefined || b === undefined)
        return { ok: false, message: `invalid day range "${part.trim()}" (write e.g. Mon-Fri)` };
      // A range may wrap over the week end: Fri-Mon.
      for (let d = a; ; d = (d % 7) + 1) {
        days.add(d);
        if (d === b) break;
      }
    } else return { ok: false, message: `invalid day range "${part.trim()}" (write e.g. Mon-Fri)` };
  }
  return { ok: true, value: [...days].sort((x, y) => x - y) };
}

function parseClock(text: string): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (m === null) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

/**
 * Working hours: `"Mon-Fri 09:00-17:30"`, `"Mon,Wed 10:00-14:00"`, `"Mon-Fri 09:00-12:00, 13:00-17:00"`,
 * a list of such strings for split shifts, or `"24/7"` / absent for always (an empty list).
 */
export function parseHours(spec: string | readonly string[] | undefined | null): Parsed<WorkingHours[]> {
  if (spec === undefined || spec === null) return { ok: true, value: [] };
  const entries = typeof spec === 'string' ? [spec] : spec;
  const out: WorkingHours[] = [];
  for (const entry of entries) {
    const text = entry.trim();
    if (/^(24\/7|always)$/i.test(text)) {
      if (entries.length > 1) return { ok: false, message: `"24/7" cannot be combined with other hours` };
      return { ok: true, value: [] };
    }
    // Days (letters, commas, dashes, spaces) up to the first digit, then the times. Split by hand: a
    // regex with a lazy day group before `\s+` backtracks quadratically on long runs of spaces.
    const digit = text.search(/\d/);
    const dayText = digit < 0 ? text : text.slice(0, digit);
    if (digit < 0 || (dayText !== '' && !/^[A-Za-z][A-Za-z,\s-]*\s$/.test(dayText)))
      return { ok: false, message: `invalid hours "${entry}": write e.g. "Mon-Fri 09:00-17:30" or "24/7"` };
    const days =
      dayText === '' ? { ok: true as const, value: [1, 2, 3, 4, 5, 6, 7] } : parseDays(dayText.trimEnd());
    if (!days.ok) return days;
    for (const range of text.slice(digit).split(',')) {
      const parts = range.split('-');
      const start = parts.length === 2 ? parseClock(parts[0] ?? '') : undefined;
      const end = parts.length === 2 ? parseClock(parts[1] ?? '') : undefined;
      if (start === undefined || end === undefined)
        return {
          ok: false,
          message: `invalid time range "${range.trim()}" in "${entry}": write e.g. 09:00-17:30`,
        };
      if (end <= start)
        return {
          ok: false,
          message: `time range "${range.trim()}" ends before it starts; split overnight shifts into two entries`,
        };
      out.push({ days: days.value, start, end });
    }
  }
  return { ok: true, value: out };
}

function isCalendarDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m === null) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2}))?$/;

/** `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (a space for the `T` is fine), normalized; undefined when invalid. */
function localDateTime(text: string): string | undefined {
  const m = DATE_TIME.exec(text);
  if (m === null || !isCalendarDate(m[1] ?? '')) return undefined;
  if (m[2] === undefined) return m[1];
  const h = Number(m[2]);
  const min = Number(m[3]);
  if (h > 23 || min > 59) return undefined;
  return `${m[1]}T${m[2]}:${m[3]}`;
}

const WITH_OFFSET = /\d{2}:\d{2}(?::\d{2})?(?:z|[+-]\d{2}:?\d{2})$/i;

const DATE_RANGE_FORMS =
  "write YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD, or with times in the rep's zone YYYY-MM-DDTHH:MM..HH:MM or YYYY-MM-DDTHH:MM..YYYY-MM-DDTHH:MM";

/**
 * Out-of-office: a single date `2026-12-24`, dates `2026-12-23..2027-01-02`, or local date-times for a
 * shorter absence: `2026-12-23T14:00..16:00`, `2026-12-23T14:00..2026-12-24T09:00` (a time ends the
 * absence at that minute; a date alone covers its whole day). Times are the rep's wall clock, so an
 * offset or `Z` is refused rather than silently read in another zone.
 */
export function parseDateRange(text: string): Parsed<DateRange> {
  const parts = text.trim().split('..');
  const fromText = (parts[0] ?? '').trim();
  const toText = (parts.length === 2 ? (parts[1] ?? '') : fromText).trim();
  if (WITH_OFFSET.test(fromText) || WITH_OFFSET.test(toText))
    return {
      ok: false,
      message: `invalid date "${text}": times are the rep's local time (their timezone); drop the offset or Z`,
    };
  const from = localDateTime(fromText);
  // `..16:00` ends on the day it starts.
  const sameDay = /^\d{2}:\d{2}$/.test(toText) && from !== undefined && from.length > 10;
  const to = localDateTime(sameDay ? `${from.slice(0, 10)}T${toText}` : toText);
  if (parts.length > 2 || from === undefined || to === undefined)
    return { ok: false, message: `invalid date "${text}": ${DATE_RANGE_FORMS}` };
  if (parts.length === 1 && from.length > 10)
    return {
      ok: false,
      message: `"${text}" is a moment, not an absence: give its end, e.g. ${fromText}..HH:MM`,
    };
  // A date alone as the end covers its whole day; a time ends the absence at that minute.
  const end = to.length === 10 ? `${to}T24:00` : to;
  if (end <= from) return { ok: false, message: `date range "${text}" ends before it starts` };
  return { ok: true, value: { from, to } };
}

/** True for a time zone the runtime knows (IANA names such as `Europe/Berlin`). */
export function isValidTimeZone(zone: string): boolean {
  if (zone.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
