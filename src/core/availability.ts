// Whether a rep can take a lead right now: active, present, within working hours, under caps. Local time
// is computed in the rep's own time zone; this runs for every pool member on every decision, so the
// zone offset is cached and the calendar arithmetic is done by hand instead of formatting each time.
import type { CandidateTrace, DateRange, Rep, RepCounters, WorkingHours } from './types.js';

/** Wall-clock time in one zone. `weekday` is ISO: 1 = Monday … 7 = Sunday. */
export interface LocalTime {
  readonly date: string;
  readonly isoWeek: string;
  readonly weekday: number;
  /** Minutes since local midnight, 0 … 1439. */
  readonly minutes: number;
  /** `YYYY-MM-DDTHH:MM`: compared as text with out-of-office ends, dates and minutes alike. */
  readonly stamp: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
/** Modern zones change offset only at instants aligned to 15 minutes of UTC; each bucket is verified. */
const BUCKET = 900_000;

interface ZoneCache {
  fmt: Intl.DateTimeFormat;
  /** Offset (ms) valid for the whole of `bucket`, or NaN when nothing is cached. */
  bucket: number;
  offset: number;
  /** The last answer, keyed by local minute (epoch minutes in local wall time). */
  localMinute: number;
  last: LocalTime | undefined;
}

const zones = new Map<string, ZoneCache>();

function zoneCache(timezone: string): ZoneCache {
  let z = zones.get(timezone);
  if (z === undefined) {
    let fmt: Intl.DateTimeFormat;
    try {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (cause) {
      throw new RangeError(`unknown time zone "${timezone}"`, { cause });
    }
    z = { fmt, bucket: NaN, offset: 0, localMinute: NaN, last: undefined };
    zones.set(timezone, z);
  }
  return z;
}

/** True when `timezone` is an IANA zone this runtime knows (for the rule and team loaders). */
export function isValidTimeZone(timezone: string): boolean {
  try {
    zoneCache(timezone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC at instant `t`, in ms (wall clock minus UTC), straight from Intl. */
function offsetAt(fmt: Intl.DateTimeFormat, t: number): number {
  let y = 0;
  let mo = 1;
  let d = 1;
  let h = 0;
  let mi = 0;
  let s = 0;
  for (const part of fmt.formatToParts(t)) {
    const type = part.type;
    if (type === 'year') y = Number(part.value);
    else if (type === 'month') mo = Number(part.value);
    else if (type === 'day') d = Number(part.value);
    else if (type === 'hour') h = Number(part.value);
    else if (type === 'minute') mi = Number(part.value);
    else if (type === 'second') s = Number(part.value);
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) - Math.floor(t / 1000) * 1000;
}

function zoneOffset(z: ZoneCache, t: number): number {
  const bucket = Math.floor(t / BUCKET);
  if (bucket === z.bucket) return z.offset;
  const start = bucket * BUCKET;
  const first = offsetAt(z.fmt, start);
  if (offsetAt(z.fmt, start + BUCKET - 1000) === first) {
    z.bucket = bucket;
    z.offset = first;
    return first;
  }
  // A transition inside the bucket (historic offsets only): answer exactly, cache nothing.
  return offsetAt(z.fmt, t);
}

/** Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian). */
function civilFromDays(days: number): { y: number; m: number; d: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d };
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * The answers for the latest `now`, by zone: a pool check asks for the same few zones for each of its
 * members, and a short scan beats the map lookup and offset arithmetic.
 */
const MAX_RECENT_ZONES = 16;
/** The first `count` entries are valid; the arrays keep their size (no allocation per decision). */
const latest = {
  now: NaN,
  count: 0,
  zones: new Array<string>(MAX_RECENT_ZONES).fill(''),
  times: new Array<LocalTime | undefined>(MAX_RECENT_ZONES).fill(undefined),
};

/** Local date, ISO week, weekday and minutes of `now` in `timezone`. Throws RangeError for unknown zones. */
export function localTime(now: number, timezone: string): LocalTime {
  const { zones: seen, times } = latest;
  if (latest.now === now) {
    for (let i = 0; i < latest.count; i++) {
      if (seen[i] === timezone) return times[i] as LocalTime;
    }
  } else {
    latest.now = now;
    latest.count = 0;
  }
  const result = computeLocalTime(now, timezone);
  if (latest.count < MAX_RECENT_ZONES) {
    seen[latest.count] = timezone;
    times[latest.count] = result;
    latest.count++;
  }
  return result;
}

function computeLocalTime(now: number, timezone: string): LocalTime {
  const z = zoneCache(timezone);
  const local = now + zoneOffset(z, now);
  const localMinute = Math.floor(local / MINUTE);
  if (localMinute === z.localMinute && z.last !== undefined) return z.last;

  const days = Math.floor(local / DAY);
  const minutes = Math.floor((local - days * DAY) / MINUTE);
  const weekday = ((((days + 3) % 7) + 7) % 7) + 1; // 1970-01-01 was a Thursday
  const { y, m, d } = civilFromDays(days);
  // The ISO week belongs to the year of its Thursday.
  const thursday = days - (weekday - 1) + 3;
  const isoYear = civilFromDays(thursday).y;
  const jan1 = Math.floor(Date.UTC(isoYear, 0, 1) / DAY);
  const week = Math.floor((thursday - jan1) / 7) + 1;

  const date = `${y}-${pad2(m)}-${pad2(d)}`;
  const result: LocalTime = {
    date,
    isoWeek: `${isoYear}-W${pad2(week)}`,
    weekday,
    minutes,
    stamp: `${date}T${clock(minutes)}`,
  };
  z.localMinute = localMinute;
  z.last = result;
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Working hours

function inHours(hours: readonly WorkingHours[], weekday: number, minutes: number): boolean {
  if (hours.length === 0) return true;
  for (const h of hours) {
    if (h.start < h.end) {
      if (minutes >= h.start && minutes < h.end && h.days.includes(weekday)) return true;
    } else if (h.end < h.start) {
      // A night shift: from `start` on a listed day until `end` on the next day.
      if (minutes >= h.start && h.days.includes(weekday)) return true;
      if (minutes < h.end && h.days.includes(weekday === 1 ? 7 : weekday - 1)) return true;
    }
  }
  return false;
}

/** True when `rep` is within their working hours at `now` (no hours given means always). */
export function isWithinHours(rep: Pick<Rep, 'timezone' | 'hours'>, now: number): boolean {
  if (rep.hours.length === 0) return true;
  const lt = localTime(now, rep.timezone);
  return inHours(rep.hours, lt.weekday, lt.minutes);
}

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

function dayName(weekday: number): string {
  return DAY_NAMES[weekday - 1] ?? `day ${weekday}`;
}

function clock(minutes: number): string {
  return `${pad2(Math.floor(minutes / 60))}:${pad2(minutes % 60)}`;
}

/** "Mon-Fri", "Mon,Wed,Fri", "Mon-Wed,Sat-Sun". */
function formatDays(days: readonly number[]): string {
  const sorted = [...new Set(days)].sort((a, b) => a - b);
  const runs: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    const from = sorted[i] ?? 0;
    const to = sorted[j] ?? 0;
    runs.push(from === to ? dayName(from) : `${dayName(from)}-${dayName(to)}`);
    i = j + 1;
  }
  return runs.join(',');
}

/** "Mon-Fri 09:00-17:30" for one entry; entries joined by ", ". */
const hoursText = new WeakMap<readonly WorkingHours[], string>();

/** "Mon-Fri 09:00-17:30"; cached per hours list, since skipped candidates are described on every decision. */
export function formatHours(hours: readonly WorkingHours[]): string {
  let text = hoursText.get(hours);
  if (text === undefined) {
    text = hours.map((h) => `${formatDays(h.days)} ${clock(h.start)}-${clock(h.end)}`).join(', ');
    hoursText.set(hours, text);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Eligibility

export interface CheckOptions {
  /** Skip reps outside their working hours (pools); named reps ignore hours. */
  respectHours: boolean;
  /** Reps who already had this lead. */
  exclude?: ReadonlySet<string> | undefined;
}

/**
 * Whether local time `lt` falls in the absence. A date-only `from` is a prefix of its day's stamps, so
 * it sorts before them; a date-only `to` covers its whole day, a minute `to` is the first one back.
 */
export function isAbsent(r: DateRange, lt: LocalTime): boolean {
  return lt.stamp >= r.from && (r.to.length === 10 ? lt.date <= r.to : lt.stamp < r.to);
}

/** "out of office 2026-12-23..2027-01-02", or with times "out of office 2026-12-23 14:00-16:00 (Europe/Berlin)". */
function describeAbsence(r: DateRange, timezone: string): string {
  if (r.from.length === 10 && r.to.length === 10) return `out of office ${r.from}..${r.to}`;
  const from = r.from.replace('T', ' ');
  const to =
    r.from.length > 10 && r.to.length > 10 && r.to.slice(0, 10) === r.from.slice(0, 10)
      ? `-${r.to.slice(11)}`
      : `..${r.to.replace('T', ' ')}`;
  return `out of office ${from}${to} (${timezone})`;
}

/** True when checking `rep` needs its local time (absences, hours the caller respects, caps). */
export function needsLocalTime(rep: Rep, respectHours: boolean): boolean {
  return (
    rep.outOfOffice.length > 0 ||
    (respectHours && rep.hours.length > 0) ||
    rep.caps.perDay !== undefined ||
    rep.caps.perWeek !== undefined
  );
}

/**
 * The checks that depend only on the rep and the local minute: out of office, then outside hours.
 * Undefined when neither applies. Pools cache this per minute (see distribution.ts).
 */
export function checkPresence(
  rep: Rep,
  email: string,
  lt: LocalTime,
  respectHours: boolean,
): CandidateTrace | undefined {
  for (const r of rep.outOfOffice) {
    if (isAbsent(r, lt)) return { email, skipped: 'out_of_office', detail: describeAbsence(r, rep.timezone) };
  }
  if (respectHours && rep.hours.length > 0 && !inHours(rep.hours, lt.weekday, lt.minutes)) {
    return {
      email,
      skipped: 'outside_hours',
      detail: `outside hours (${formatHours(rep.hours)} ${rep.timezone}, now ${dayName(lt.weekday)} ${clock(lt.minutes)})`,
    };
  }
  return undefined;
}

/** The day and week caps against the rep's counters in the local day and week of `lt`; undefined when under. */
export function checkCaps(
  rep: Rep,
  email: string,
  counters: RepCounters | undefined,
  lt: LocalTime,
): CandidateTrace | undefined {
  const { perDay, perWeek } = rep.caps;
  if (perDay !== undefined) {
    const day = counters !== undefined && counters.dayKey === lt.date ? counters.day : 0;
    if (day >= perDay) return { email, skipped: 'capped_day', detail: `${day}/${perDay} today` };
  }
  if (perWeek !== undefined) {
    const week = counters !== undefined && counters.weekKey === lt.isoWeek ? counters.week : 0;
    if (week >= perWeek) return { email, skipped: 'capped_week', detail: `${week}/${perWeek} this week` };
  }
  return undefined;
}

/** The trace of a rep who already had the lead (an SLA re-route never hands it back to them). */
export function alreadyHad(email: string): CandidateTrace {
  return { email, skipped: 'already_had', detail: 'already had this lead' };
}

/**
 * Whether `email` can take a lead at `now`. The first reason that applies is reported, in the order
 * unknown_rep, inactive, already_had, out_of_office, outside_hours, capped_day, capped_week.
 */
export function checkRep(
  rep: Rep | undefined,
  email: string,
  counters: RepCounters | undefined,
  now: number,
  opts: CheckOptions,
): CandidateTrace {
  if (rep === undefined) return { email, skipped: 'unknown_rep', detail: 'not in the team' };
  if (!rep.active) return { email, skipped: 'inactive', detail: rep.inactiveReason ?? 'deactivated' };
  if (opts.exclude !== undefined && opts.exclude.has(email)) return alreadyHad(email);
  if (!needsLocalTime(rep, opts.respectHours)) return { email };
  const lt = localTime(now, rep.timezone);
  return checkPresence(rep, email, lt, opts.respectHours) ?? checkCaps(rep, email, counters, lt) ?? { email };
}

// ---------------------------------------------------------------------------------------------------
// Counters

/** Index of the first element of the ascending `xs` that is greater than `x`. */
export function upperBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] ?? 0) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How many of the (ascending) assignment times fall in the trailing window `(now - windowMs, now]`. */
export function countRecent(recent: readonly number[] | undefined, now: number, windowMs: number): number {
  if (recent === undefined || recent.length === 0) return 0;
  return upperBound(recent, now) - upperBound(recent, now - windowMs);
}

/**
 * The counters after one more assignment at `now`: day and week counts restart when the rep's local
 * day or ISO week changed, `recent` gains `now` (kept ascending) and loses entries older than
 * `keepWindowMs`, and `open` grows by one. Returns a new object; `counters` is not touched.
 */
export function recordAssignment(
  counters: RepCounters | undefined,
  rep: Pick<Rep, 'timezone'>,
  now: number,
  keepWindowMs: number,
): RepCounters {
  const lt = localTime(now, rep.timezone);
  const day = counters !== undefined && counters.dayKey === lt.date ? counters.day + 1 : 1;
  const week = counters !== undefined && counters.weekKey === lt.isoWeek ? counters.week + 1 : 1;
  let recent: number[];
  if (keepWindowMs <= 0) {
    recent = [];
  } else {
    const old = counters?.recent ?? [];
    const from = upperBound(old, now - keepWindowMs);
    const at = upperBound(old, now);
    // Usually `now` is the latest time (at === old.length). The list can hold a day of assignments and
    // is copied on each one, so it is copied once at its final size (slice and push would copy twice).
    if (at === old.length && from > 0) {
      recent = old.slice(from - 1);
      const last = recent.length - 1;
      for (let k = 0; k < last; k++) recent[k] = recent[k + 1] as number;
      recent[last] = now;
    } else if (at === old.length) {
      recent = old.concat(now);
    } else {
      // A replayed earlier time is inserted in order.
      recent = old.slice(from, Math.max(from, at));
      recent.push(now);
      for (let i = Math.max(from, at); i < old.length; i++) recent.push(old[i] ?? now);
    }
  }
  return { dayKey: lt.date, day, weekKey: lt.isoWeek, week, recent, open: (counters?.open ?? 0) + 1 };
}
