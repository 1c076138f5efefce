import { isValidTimeZone, parseDateRange, parseDuration, parseHours } from '../../../src/rules/index.js';

const M = 60_000;
const H = 60 * M;

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 15 * M],
    ['2h', 2 * H],
    ['1d', 24 * H],
    ['1w', 7 * 24 * H],
    ['1h30m', 90 * M],
    ['1h 30m', 90 * M],
    ['500ms', 500],
    ['1.5h', 90 * M],
    ['0m', 0],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });

  it.each(['', '15', 'm', '15x', '1h30', 'soon', '-5m', '1h-30m'])('rejects %j', (text) => {
    const r = parseDuration(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain('invalid duration');
  });

  it('accepts up to a year; longer would push `now + duration` toward an invalid date', () => {
    expect(parseDuration('366d')).toEqual({ ok: true, value: 366 * 24 * H });
    expect(parseDuration('52w')).toEqual({ ok: true, value: 52 * 7 * 24 * H });
    // 6e31 ms: `new Date(now + due).toISOString()` throws a RangeError in the worker.
    for (const text of ['367d', '53w', '8784h1ms', '99999999999999999999999w']) {
      const r = parseDuration(text);
      expect(r).toEqual({
        ok: false,
        message: `duration "${text}" is longer than a year (366d); use at most 366d`,
      });
    }
  });
});

describe('parseHours', () => {
  it.each([
    ['Mon-Fri 09:00-17:30', [{ days: [1, 2, 3, 4, 5], start: 540, end: 1050 }]],
    ['Mon,Wed 10:00-14:00', [{ days: [1, 3], start: 600, end: 840 }]],
    ['Fri-Mon 08:00-12:00', [{ days: [1, 5, 6, 7], start: 480, end: 720 }]],
    ['Sat 00:00-24:00', [{ days: [6], start: 0, end: 1440 }]],
    ['09:00-17:00', [{ days: [1, 2, 3, 4, 5, 6, 7], start: 540, end: 1020 }]],
    [
      'Mon-Fri 09:00-12:00, 13:00-17:00',
      [
        { days: [1, 2, 3, 4, 5], start: 540, end: 720 },
        { days: [1, 2, 3, 4, 5], start: 780, end: 1020 },
      ],
    ],
    [
      ['Mon-Thu 09:00-17:00', 'Fri 09:00-13:00'],
      [
        { days: [1, 2, 3, 4], start: 540, end: 1020 },
        { days: [5], start: 540, end: 780 },
      ],
    ],
    ['24/7', []],
    [undefined, []],
  ] as const)('%j', (spec, hours) => {
    expect(parseHours(spec as string | string[] | undefined)).toEqual({ ok: true, value: hours });
  });

  it.each([
    ['Mon-Fri 17:00-09:00', 'ends before it starts'],
    ['Mon-Fri 9-5', 'invalid time range'],
    ['Mox-Fri 09:00-17:00', 'invalid day range'],
    ['Funday 09:00-17:00', 'unknown day'],
    ['Mon-Fri 25:00-26:00', 'invalid time range'],
    ['whenever', 'invalid hours'],
    ['Mon09:00-17:00', 'invalid hours'],
    ['-09:00-17:00', 'invalid hours'],
  ])('rejects %j', (spec, message) => {
    const r = parseHours(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(message);
  });

  it('answers at once for a long run of spaces (the old regex backtracked quadratically: minutes here)', () => {
    const r = parseHours(`Mon${' '.repeat(200_000)}x`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^invalid hours/);
    expect(parseHours(`Mon-Fri${' '.repeat(1_000)}09:00-17:00`)).toEqual({
      ok: true,
      value: [{ days: [1, 2, 3, 4, 5], start: 540, end: 1020 }],
    });
  });
});

describe('parseDateRange', () => {
  it.each([
    ['2026-12-23..2027-01-02', { from: '2026-12-23', to: '2027-01-02' }],
    ['2026-12-24', { from: '2026-12-24', to: '2026-12-24' }],
    ['2028-02-29', { from: '2028-02-29', to: '2028-02-29' }],
    ['2026-12-23T14:00..16:00', { from: '2026-12-23T14:00', to: '2026-12-23T16:00' }],
    ['2026-12-23 14:00..2026-12-24 09:30', { from: '2026-12-23T14:00', to: '2026-12-24T09:30' }],
    ['2026-12-23T14:00..2026-12-23', { from: '2026-12-23T14:00', to: '2026-12-23' }],
    ['2026-12-23..2026-12-24T12:00', { from: '2026-12-23', to: '2026-12-24T12:00' }],
  ])('%s', (text, range) => {
    expect(parseDateRange(text)).toEqual({ ok: true, value: range });
  });
  it.each(['2026-02-30', '2027-01-02..2026-12-23', '23.12.2026', '2026-12-23..'])('rejects %s', (text) => {
    expect(parseDateRange(text).ok).toBe(false);
  });
  it.each([
    [
      '2026-12-23T14:00',
      '"2026-12-23T14:00" is a moment, not an absence: give its end, e.g. 2026-12-23T14:00..HH:MM',
    ],
    ['2026-12-23T16:00..14:00', 'date range "2026-12-23T16:00..14:00" ends before it starts'],
    [
      '2026-12-23T14:00..2026-12-23T14:00',
      'date range "2026-12-23T14:00..2026-12-23T14:00" ends before it starts',
    ],
    ['2026-12-23T25:00..26:00', expect.stringMatching(/^invalid date .*YYYY-MM-DDTHH:MM\.\.HH:MM/)],
    ['2026-12-23T14:00:30..16:00', expect.stringMatching(/^invalid date /)],
    [
      '2026-12-23T14:00Z..16:00Z',
      `invalid date "2026-12-23T14:00Z..16:00Z": times are the rep's local time (their timezone); drop the offset or Z`,
    ],
    ['2026-12-23T14:00+01:00..16:00', expect.stringMatching(/drop the offset or Z$/)],
  ])('rejects the date-time %s', (text, message) => {
    expect(parseDateRange(text)).toEqual({ ok: false, message });
  });
});

describe('isValidTimeZone', () => {
  it.each([
    ['Europe/Berlin', true],
    ['America/Los_Angeles', true],
    ['UTC', true],
    ['Europe/Berlinn', false],
    ['', false],
  ])('%s → %s', (zone, ok) => {
    expect(isValidTimeZone(zone)).toBe(ok);
  });
});
