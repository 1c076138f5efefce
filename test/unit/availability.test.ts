import fc from 'fast-check';
import {
  checkRep,
  countRecent,
  formatHours,
  isValidTimeZone,
  isWithinHours,
  localTime,
  recordAssignment,
} from '../../src/core/availability.js';
import type { Rep, RepCounters, SkipReason } from '../../src/core/types.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** UTC instant from an ISO string without zone, e.g. utc('2026-03-29T01:00'). */
function utc(iso: string): number {
  return Date.parse(`${iso}Z`);
}

function makeRep(over: Partial<Rep> = {}): Rep {
  return {
    email: 'ada@acme.io',
    timezone: 'Europe/Berlin',
    hours: [],
    outOfOffice: [],
    weight: 1,
    caps: {},
    active: true,
    ...over,
  };
}

function makeCounters(over: Partial<RepCounters> = {}): RepCounters {
  return { dayKey: '2026-06-01', day: 0, weekKey: '2026-W23', week: 0, recent: [], open: 0, ...over };
}

const WEEKDAYS_9_TO_1730 = [{ days: [1, 2, 3, 4, 5], start: 9 * 60, end: 17 * 60 + 30 }];
const WEEKDAYS_9_TO_17 = [{ days: [1, 2, 3, 4, 5], start: 9 * 60, end: 17 * 60 }];

describe('localTime', () => {
  it.each([
    // zone, instant (UTC), date, ISO week, weekday, local clock
    ['UTC', '2026-01-05T00:00', '2026-01-05', '2026-W02', 1, '00:00'],
    ['UTC', '2021-01-03T12:00', '2021-01-03', '2020-W53', 7, '12:00'],
    ['UTC', '2024-12-30T23:59', '2024-12-30', '2025-W01', 1, '23:59'],
    // Europe/Berlin springs forward at 01:00 UTC on 2026-03-29.
    ['Europe/Berlin', '2026-03-29T00:59', '2026-03-29', '2026-W13', 7, '01:59'],
    ['Europe/Berlin', '2026-03-29T01:00', '2026-03-29', '2026-W13', 7, '03:00'],
    // …and falls back at 01:00 UTC on 2026-10-25.
    ['Europe/Berlin', '2026-10-25T00:59', '2026-10-25', '2026-W43', 7, '02:59'],
    ['Europe/Berlin', '2026-10-25T01:00', '2026-10-25', '2026-W43', 7, '02:00'],
    // America/Los_Angeles: 2026-03-08 02:00 PST → 03:00 PDT; 2026-11-01 02:00 PDT → 01:00 PST.
    ['America/Los_Angeles', '2026-03-08T09:59', '2026-03-08', '2026-W10', 7, '01:59'],
    ['America/Los_Angeles', '2026-03-08T10:00', '2026-03-08', '2026-W10', 7, '03:00'],
    ['America/Los_Angeles', '2026-11-01T08:59', '2026-11-01', '2026-W44', 7, '01:59'],
    ['America/Los_Angeles', '2026-11-01T09:00', '2026-11-01', '2026-W44', 7, '01:00'],
    ['America/Los_Angeles', '2026-01-01T07:59', '2025-12-31', '2026-W01', 3, '23:59'],
    // Pacific/Auckland: NZDT (+13) ends 2026-04-05 03:00 local; the local date runs a day ahead of UTC.
    ['Pacific/Auckland', '2026-04-04T13:59', '2026-04-05', '2026-W14', 7, '02:59'],
    ['Pacific/Auckland', '2026-04-04T14:00', '2026-04-05', '2026-W14', 7, '02:00'],
    ['Pacific/Auckland', '2026-12-31T11:00', '2027-01-01', '2026-W53', 5, '00:00'],
    ['Pacific/Kiritimati', '2026-01-04T10:00', '2026-01-05', '2026-W02', 1, '00:00'],
    ['Asia/Kathmandu', '2026-06-01T00:00', '2026-06-01', '2026-W23', 1, '05:45'],
  ])('%s at %s UTC is %s (%s, day %i) %s', (zone, iso, date, isoWeek, weekday, clock) => {
    const [h, m] = clock.split(':').map(Number);
    expect(localTime(utc(iso), zone)).toEqual({
      date,
      isoWeek,
      weekday,
      minutes: h! * 60 + m!,
      stamp: `${date}T${clock}`,
    });
  });

  it('rejects an unknown zone with a RangeError naming it', () => {
    expect(() => localTime(0, 'Mars/Olympus')).toThrow(/unknown time zone "Mars\/Olympus"/);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('Europe/Vienna')).toBe(true);
  });

  // An independent reference: Intl for the wall clock, Date's UTC calendar for the ISO week.
  function reference(
    now: number,
    zone: string,
  ): { date: string; isoWeek: string; weekday: number; minutes: number; stamp: string } {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    }).formatToParts(now);
    const get = (t: string): string => parts.find((p) => p.type === t)!.value;
    const date = `${get('year')}-${get('month')}-${get('day')}`;
    const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday')) + 1;
    const d = new Date(`${date}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 4 - weekday); // Thursday of the same ISO week
    const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
    const week = Math.floor((d.getTime() - yearStart) / DAY / 7) + 1;
    return {
      date,
      isoWeek: `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`,
      weekday,
      minutes: Number(get('hour')) * 60 + Number(get('minute')),
      stamp: `${date}T${get('hour')}:${get('minute')}`,
    };
  }

  const ZONES = [
    'UTC',
    'Europe/Berlin',
    'America/Los_Angeles',
    'Pacific/Auckland',
    'Asia/Kathmandu',
    'Australia/Lord_Howe',
    'Pacific/Chatham',
    'America/St_Johns',
    'Pacific/Kiritimati',
    'Pacific/Pago_Pago',
  ];

  it('agrees with Intl for random instants and zones (1990..2060), including repeated calls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: utc('1990-01-01T00:00'), max: utc('2060-01-01T00:00') }),
        fc.constantFrom(...ZONES),
        fc.integer({ min: 0, max: 3 * HOUR }),
        (t, zone, step) => {
          expect(localTime(t, zone)).toEqual(reference(t, zone));
          // Cached answers must not leak into a nearby instant.
          expect(localTime(t + step, zone)).toEqual(reference(t + step, zone));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('agrees with Intl minute by minute across DST transitions', () => {
    const windows: [string, string][] = [
      ['Europe/Berlin', '2026-03-29T00:00'],
      ['Europe/Berlin', '2026-10-25T00:00'],
      ['America/Los_Angeles', '2026-03-08T09:00'],
      ['America/Los_Angeles', '2026-11-01T08:00'],
      ['Pacific/Auckland', '2026-04-04T13:00'],
      ['Pacific/Auckland', '2026-09-26T13:00'],
      ['Australia/Lord_Howe', '2026-04-04T14:00'],
    ];
    for (const [zone, start] of windows) {
      for (let t = utc(start); t < utc(start) + 3 * HOUR; t += MIN) {
        expect(localTime(t, zone)).toEqual(reference(t, zone));
      }
    }
  });
});

describe('checkRep', () => {
  const berlinSat1012 = utc('2026-06-06T08:12'); // Saturday 10:12 CEST
  const cases: {
    name: string;
    rep: Rep | undefined;
    counters?: RepCounters;
    now: number;
    respectHours?: boolean;
    exclude?: string[];
    skipped?: SkipReason;
    detail?: string;
  }[] = [
    { name: 'unknown rep', rep: undefined, now: 0, skipped: 'unknown_rep' },
    { name: 'inactive rep', rep: makeRep({ active: false }), now: 0, skipped: 'inactive' },
    {
      name: 'already had the lead',
      rep: makeRep(),
      now: 0,
      exclude: ['ada@acme.io'],
      skipped: 'already_had',
    },
    { name: 'exclude lists someone else', rep: makeRep(), now: 0, exclude: ['bo@acme.io'] },
    {
      name: 'out of office on the first local day (UTC still the day before)',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-23', to: '2027-01-02' }] }),
      now: utc('2026-12-22T23:30'),
      skipped: 'out_of_office',
      detail: 'out of office 2026-12-23..2027-01-02',
    },
    {
      name: 'back before the range starts locally',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-23', to: '2027-01-02' }] }),
      now: utc('2026-12-22T22:30'),
    },
    {
      name: 'out of office on the last local day (inclusive)',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-23', to: '2027-01-02' }] }),
      now: utc('2027-01-02T22:59'),
      skipped: 'out_of_office',
    },
    {
      name: 'back after the last local day',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-23', to: '2027-01-02' }] }),
      now: utc('2027-01-02T23:00'),
    },
    {
      name: 'Auckland rep away on the local date that is still yesterday in UTC',
      rep: makeRep({ timezone: 'Pacific/Auckland', outOfOffice: [{ from: '2026-07-01', to: '2026-07-01' }] }),
      now: utc('2026-06-30T12:30'),
      skipped: 'out_of_office',
    },
    {
      // Berlin is UTC+1 in December: a two-hour absence 14:00-16:00 local is 13:00-15:00 UTC.
      name: 'out of office for two hours, at its first local minute',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-15T14:00', to: '2026-12-15T16:00' }] }),
      now: utc('2026-12-15T13:00'),
      skipped: 'out_of_office',
      detail: 'out of office 2026-12-15 14:00-16:00 (Europe/Berlin)',
    },
    {
      name: 'present the minute before a two-hour absence',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-15T14:00', to: '2026-12-15T16:00' }] }),
      now: utc('2026-12-15T12:59'),
    },
    {
      name: 'still away in the last minute of a two-hour absence',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-15T14:00', to: '2026-12-15T16:00' }] }),
      now: utc('2026-12-15T14:59'),
      skipped: 'out_of_office',
    },
    {
      name: 'back at the end minute of a two-hour absence (the same day is not lost)',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-15T14:00', to: '2026-12-15T16:00' }] }),
      now: utc('2026-12-15T15:00'),
    },
    {
      name: 'away overnight from an afternoon to the next morning',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-15T14:00', to: '2026-12-16T09:00' }] }),
      now: utc('2026-12-15T23:30'),
      skipped: 'out_of_office',
      detail: 'out of office 2026-12-15 14:00..2026-12-16 09:00 (Europe/Berlin)',
    },
    {
      name: 'away from a time until the end of a date',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-15T14:00', to: '2026-12-16' }] }),
      now: utc('2026-12-16T22:59'),
      skipped: 'out_of_office',
    },
    {
      name: 'back after a day that ends an absence begun at a time',
      rep: makeRep({ outOfOffice: [{ from: '2026-12-15T14:00', to: '2026-12-16' }] }),
      now: utc('2026-12-16T23:00'),
    },
    {
      name: 'outside hours on a Saturday',
      rep: makeRep({ hours: WEEKDAYS_9_TO_1730 }),
      now: berlinSat1012,
      skipped: 'outside_hours',
      detail: 'outside hours (Mon-Fri 09:00-17:30 Europe/Berlin, now Sat 10:12)',
    },
    {
      name: 'hours ignored when the caller does not respect them',
      rep: makeRep({ hours: WEEKDAYS_9_TO_1730 }),
      now: berlinSat1012,
      respectHours: false,
    },
    { name: 'no hours means always available', rep: makeRep(), now: berlinSat1012 },
    {
      name: 'Los Angeles Monday 09:30 PDT (just after DST start) is within hours',
      rep: makeRep({ timezone: 'America/Los_Angeles', hours: WEEKDAYS_9_TO_17 }),
      now: utc('2026-03-09T16:30'),
    },
    {
      name: 'the same UTC clock on the Friday before DST is 08:30 PST: outside hours',
      rep: makeRep({ timezone: 'America/Los_Angeles', hours: WEEKDAYS_9_TO_17 }),
      now: utc('2026-03-06T16:30'),
      skipped: 'outside_hours',
      detail: 'outside hours (Mon-Fri 09:00-17:00 America/Los_Angeles, now Fri 08:30)',
    },
    {
      name: 'end of hours is exclusive',
      rep: makeRep({ hours: WEEKDAYS_9_TO_1730 }),
      now: utc('2026-06-05T15:30'), // Friday 17:30 CEST
      skipped: 'outside_hours',
    },
    {
      name: 'split shift: in the second block',
      rep: makeRep({
        hours: [
          { days: [1, 2, 3, 4, 5], start: 8 * 60, end: 12 * 60 },
          { days: [1, 3, 5], start: 13 * 60, end: 18 * 60 },
        ],
      }),
      now: utc('2026-06-05T12:00'), // Friday 14:00 CEST
    },
    {
      name: 'split shift: in the lunch gap',
      rep: makeRep({
        hours: [
          { days: [1, 2, 3, 4, 5], start: 8 * 60, end: 12 * 60 },
          { days: [1, 3, 5], start: 13 * 60, end: 18 * 60 },
        ],
      }),
      now: utc('2026-06-05T10:30'), // Friday 12:30 CEST
      skipped: 'outside_hours',
      detail: 'outside hours (Mon-Fri 08:00-12:00, Mon,Wed,Fri 13:00-18:00 Europe/Berlin, now Fri 12:30)',
    },
    {
      name: 'night shift Friday 22:00 runs into Saturday morning',
      rep: makeRep({ hours: [{ days: [5], start: 22 * 60, end: 6 * 60 }] }),
      now: utc('2026-06-06T01:00'), // Saturday 03:00 CEST
    },
    {
      name: 'night shift is over on Saturday 07:00',
      rep: makeRep({ hours: [{ days: [5], start: 22 * 60, end: 6 * 60 }] }),
      now: utc('2026-06-06T05:00'),
      skipped: 'outside_hours',
    },
    {
      name: 'capped for the day',
      rep: makeRep({ caps: { perDay: 25 } }),
      counters: makeCounters({ dayKey: '2026-06-01', day: 25 }),
      now: utc('2026-06-01T10:00'),
      skipped: 'capped_day',
      detail: '25/25 today',
    },
    {
      name: 'yesterday’s count does not cap today',
      rep: makeRep({ caps: { perDay: 25 } }),
      counters: makeCounters({ dayKey: '2026-05-31', day: 25 }),
      now: utc('2026-06-01T10:00'),
    },
    {
      name: 'a cap of zero caps even without counters',
      rep: makeRep({ caps: { perDay: 0 } }),
      now: 0,
      skipped: 'capped_day',
      detail: '0/0 today',
    },
    {
      name: 'Auckland daily cap still reached at 23:59 local',
      rep: makeRep({ timezone: 'Pacific/Auckland', caps: { perDay: 2 } }),
      counters: makeCounters({ dayKey: '2026-06-01', day: 2 }),
      now: utc('2026-06-01T11:59'),
      skipped: 'capped_day',
    },
    {
      name: 'Auckland daily cap resets at local midnight (noon UTC)',
      rep: makeRep({ timezone: 'Pacific/Auckland', caps: { perDay: 2 } }),
      counters: makeCounters({ dayKey: '2026-06-01', day: 2 }),
      now: utc('2026-06-01T12:00'),
    },
    {
      name: 'capped for the week',
      rep: makeRep({ caps: { perWeek: 100 } }),
      counters: makeCounters({ weekKey: '2026-W23', week: 100 }),
      now: utc('2026-06-03T10:00'),
      skipped: 'capped_week',
      detail: '100/100 this week',
    },
    {
      name: 'Los Angeles weekly cap still reached on Sunday 23:59 PDT',
      rep: makeRep({ timezone: 'America/Los_Angeles', caps: { perWeek: 3 } }),
      counters: makeCounters({ weekKey: '2026-W23', week: 3 }),
      now: utc('2026-06-08T06:59'),
      skipped: 'capped_week',
    },
    {
      name: 'Los Angeles weekly cap resets on Monday 00:00 PDT',
      rep: makeRep({ timezone: 'America/Los_Angeles', caps: { perWeek: 3 } }),
      counters: makeCounters({ weekKey: '2026-W23', week: 3 }),
      now: utc('2026-06-08T07:00'),
    },
    {
      name: 'under both caps',
      rep: makeRep({ caps: { perDay: 5, perWeek: 10 } }),
      counters: makeCounters({ dayKey: '2026-06-03', day: 4, weekKey: '2026-W23', week: 9 }),
      now: utc('2026-06-03T10:00'),
    },
    // Precedence: the first reason in the documented order wins.
    {
      name: 'inactive beats out of office',
      rep: makeRep({ active: false, outOfOffice: [{ from: '2026-01-01', to: '2026-12-31' }] }),
      now: utc('2026-06-03T10:00'),
      skipped: 'inactive',
    },
    {
      name: 'already had beats out of office',
      rep: makeRep({ outOfOffice: [{ from: '2026-01-01', to: '2026-12-31' }] }),
      now: utc('2026-06-03T10:00'),
      exclude: ['ada@acme.io'],
      skipped: 'already_had',
    },
    {
      name: 'out of office beats outside hours',
      rep: makeRep({ hours: WEEKDAYS_9_TO_1730, outOfOffice: [{ from: '2026-06-06', to: '2026-06-06' }] }),
      now: berlinSat1012,
      skipped: 'out_of_office',
    },
    {
      name: 'outside hours beats the day cap',
      rep: makeRep({ hours: WEEKDAYS_9_TO_1730, caps: { perDay: 1 } }),
      counters: makeCounters({ dayKey: '2026-06-06', day: 1 }),
      now: berlinSat1012,
      skipped: 'outside_hours',
    },
    {
      name: 'the day cap beats the week cap',
      rep: makeRep({ caps: { perDay: 1, perWeek: 1 } }),
      counters: makeCounters({ dayKey: '2026-06-03', day: 1, weekKey: '2026-W23', week: 1 }),
      now: utc('2026-06-03T10:00'),
      skipped: 'capped_day',
    },
  ];

  it.each(cases)('$name', ({ rep, counters, now, respectHours, exclude, skipped, detail }) => {
    const trace = checkRep(rep, 'ada@acme.io', counters, now, {
      respectHours: respectHours ?? true,
      exclude: exclude === undefined ? undefined : new Set(exclude),
    });
    expect(trace.email).toBe('ada@acme.io');
    expect(trace.skipped).toBe(skipped);
    if (skipped === undefined) expect(trace.detail).toBeUndefined();
    else expect(typeof trace.detail).toBe('string');
    if (detail !== undefined) expect(trace.detail).toBe(detail);
  });
});

describe('isWithinHours', () => {
  it.each([
    ['Friday 17:29 CEST', true, utc('2026-06-05T15:29')],
    ['Friday 17:30 CEST', false, utc('2026-06-05T15:30')],
    ['Monday 09:00 CEST', true, utc('2026-06-08T07:00')],
    ['Monday 08:59 CEST', false, utc('2026-06-08T06:59')],
    ['Sunday noon', false, utc('2026-06-07T10:00')],
  ])('%s → %s', (_label, expected, now) => {
    expect(isWithinHours(makeRep({ hours: WEEKDAYS_9_TO_1730 }), now)).toBe(expected);
  });

  it('is always true without hours', () => {
    expect(isWithinHours(makeRep(), utc('2026-06-07T03:00'))).toBe(true);
  });

  it('formats hours for people', () => {
    expect(formatHours([{ days: [6, 7, 1, 2, 3], start: 0, end: 1440 }])).toBe('Mon-Wed,Sat-Sun 00:00-24:00');
  });
});

describe('recordAssignment', () => {
  const now = utc('2026-06-03T10:00'); // Wednesday, 2026-W23 in Berlin
  const rep = makeRep();

  it.each([
    {
      name: 'first assignment ever',
      counters: undefined,
      expected: { dayKey: '2026-06-03', day: 1, weekKey: '2026-W23', week: 1, recent: [now], open: 1 },
    },
    {
      name: 'same day and week',
      counters: makeCounters({ dayKey: '2026-06-03', day: 3, weekKey: '2026-W23', week: 7, open: 2 }),
      expected: { dayKey: '2026-06-03', day: 4, weekKey: '2026-W23', week: 8, recent: [now], open: 3 },
    },
    {
      name: 'new day, same week',
      counters: makeCounters({ dayKey: '2026-06-02', day: 3, weekKey: '2026-W23', week: 7 }),
      expected: { dayKey: '2026-06-03', day: 1, weekKey: '2026-W23', week: 8, recent: [now], open: 1 },
    },
    {
      name: 'new week',
      counters: makeCounters({ dayKey: '2026-05-29', day: 3, weekKey: '2026-W22', week: 7 }),
      expected: { dayKey: '2026-06-03', day: 1, weekKey: '2026-W23', week: 1, recent: [now], open: 1 },
    },
  ])('$name', ({ counters, expected }) => {
    expect(recordAssignment(counters, rep, now, 7 * DAY)).toEqual(expected);
  });

  it('uses the rep’s local day: Auckland’s Thursday starts at noon UTC on Wednesday', () => {
    const counters = makeCounters({ dayKey: '2026-06-03', day: 5, weekKey: '2026-W23', week: 5 });
    const next = recordAssignment(
      counters,
      makeRep({ timezone: 'Pacific/Auckland' }),
      utc('2026-06-03T12:00'),
      0,
    );
    expect(next).toMatchObject({ dayKey: '2026-06-04', day: 1, weekKey: '2026-W23', week: 6 });
  });

  it.each([
    ['drops times older than the window', [now - 10 * DAY, now - 2 * DAY], 7 * DAY, [now - 2 * DAY, now]],
    [
      'drops several at once',
      [now - 10 * DAY, now - 9 * DAY, now - 8 * DAY, now - 2 * DAY, now - DAY],
      7 * DAY,
      [now - 2 * DAY, now - DAY, now],
    ],
    ['drops all of them', [now - 10 * DAY, now - 9 * DAY], 7 * DAY, [now]],
    [
      'appends when all are in the window',
      [now - 2 * HOUR, now - HOUR],
      DAY,
      [now - 2 * HOUR, now - HOUR, now],
    ],
    ['appends a time equal to the latest', [now - HOUR, now], DAY, [now - HOUR, now, now]],
    ['keeps nothing with a zero window', [now - 2 * DAY], 0, []],
    [
      'inserts a replayed earlier time in order',
      [now - 2 * HOUR, now + HOUR],
      DAY,
      [now - 2 * HOUR, now, now + HOUR],
    ],
  ])('%s', (_name, recent, keep, expected) => {
    expect(recordAssignment(makeCounters({ recent }), rep, now, keep).recent).toEqual(expected);
  });

  it('returns a new object and leaves the input untouched', () => {
    const counters = Object.freeze(makeCounters({ recent: Object.freeze([now - HOUR]) as number[] }));
    const next = recordAssignment(counters, rep, now, DAY);
    expect(next).not.toBe(counters);
    expect(counters.recent).toEqual([now - HOUR]);
    expect(next.recent).toEqual([now - HOUR, now]);
  });

  it('countRecent counts the trailing window (now - window, now]', () => {
    const recent = [now - 3 * DAY, now - 2 * DAY, now - DAY, now];
    expect(countRecent(recent, now, 2 * DAY)).toBe(2);
    expect(countRecent(recent, now, 2 * DAY + 1)).toBe(3);
    expect(countRecent(undefined, now, DAY)).toBe(0);
  });
});
