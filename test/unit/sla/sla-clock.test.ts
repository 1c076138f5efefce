import { addSlaTime, checkpoints, judge, slaTimeBetween } from '../../../src/core/sla.js';
import type { Rep } from '../../../src/core/types.js';

const rep = (over: Partial<Rep> = {}): Rep => ({
  email: 'ada@acme.io',
  timezone: 'Europe/Berlin',
  hours: [{ days: [1, 2, 3, 4, 5], start: 9 * 60, end: 17 * 60 }],
  outOfOffice: [],
  weight: 1,
  caps: {},
  active: true,
  ...over,
});
const at = (iso: string): number => Date.parse(iso);
const M = 60_000;

describe('SLA clock', () => {
  it('on wall time adds plainly, whatever the hours', () => {
    expect(addSlaTime(at('2026-03-06T20:00:00Z'), 10 * M, 'wall', rep())).toBe(at('2026-03-06T20:10:00Z'));
  });

  it.each([
    // Within hours: plain addition (Berlin is UTC+1 in winter).
    ['2026-03-04T10:00:00Z', 10, '2026-03-04T10:10:00Z'],
    // Runs into the evening: 5 minutes before 17:00 Berlin, 5 minutes after 09:00 the next morning.
    ['2026-03-04T15:55:00Z', 10, '2026-03-05T08:05:00Z'],
    // Friday evening: paused over the weekend, resumes Monday 09:00 Berlin.
    ['2026-03-06T15:55:00Z', 10, '2026-03-09T08:05:00Z'],
    // Saturday: nothing runs until Monday.
    ['2026-03-07T12:00:00Z', 30, '2026-03-09T08:30:00Z'],
    // Seconds are kept: a start mid-minute ends mid-minute.
    ['2026-03-04T10:00:30Z', 1, '2026-03-04T10:01:30Z'],
  ])('on working hours from %s plus %i min is %s', (start, minutes, end) => {
    expect(new Date(addSlaTime(at(start), minutes * M, 'working_hours', rep())).toISOString()).toBe(
      new Date(at(end)).toISOString(),
    );
  });

  it('is DST-correct: 09:00 local is 08:00Z before the spring change and 07:00Z after', () => {
    // Friday 2026-03-27 16:55 Berlin (CET, 15:55Z); clocks go forward Sunday 2026-03-29.
    const end = addSlaTime(at('2026-03-27T15:55:00Z'), 10 * M, 'working_hours', rep());
    expect(new Date(end).toISOString()).toBe('2026-03-30T07:05:00.000Z');
    // And back in autumn (Sunday 2026-10-25): Monday 09:00 CET is 08:00Z again.
    const autumn = addSlaTime(at('2026-10-23T14:55:00Z'), 10 * M, 'working_hours', rep());
    expect(new Date(autumn).toISOString()).toBe('2026-10-26T08:05:00.000Z');
  });

  it('counts a night shift across the DST hour that is lived twice', () => {
    // 00:00-04:00 Berlin every day; on 2026-10-25 the hour 02:00-03:00 happens twice: 5 real hours.
    const night = rep({ hours: [{ days: [1, 2, 3, 4, 5, 6, 7], start: 0, end: 4 * 60 }] });
    const from = at('2026-10-24T22:00:00Z'); // 00:00 CEST
    expect(slaTimeBetween(from, at('2026-10-25T12:00:00Z'), 'working_hours', night)).toBe(5 * 60 * M);
  });

  it('pauses while the owner is out of office', () => {
    const away = rep({ outOfOffice: [{ from: '2026-03-05', to: '2026-03-05' }] });
    // Wednesday 16:55 Berlin + 10 min: Thursday is away, so it ends Friday 09:05.
    expect(
      new Date(addSlaTime(at('2026-03-04T15:55:00Z'), 10 * M, 'working_hours', away)).toISOString(),
    ).toBe('2026-03-06T08:05:00.000Z');
  });

  it('measures working time between two instants, the twin of adding it', () => {
    const start = at('2026-03-06T15:55:00Z');
    const end = addSlaTime(start, 25 * M, 'working_hours', rep());
    expect(slaTimeBetween(start, end, 'working_hours', rep())).toBe(25 * M);
    expect(slaTimeBetween(start, end, 'wall', rep())).toBe(end - start);
  });

  it('falls back to wall time for an owner without hours or unknown', () => {
    expect(addSlaTime(1000, 5 * M, 'working_hours', rep({ hours: [] }))).toBe(1000 + 5 * M);
    expect(addSlaTime(1000, 5 * M, 'working_hours', undefined)).toBe(1000 + 5 * M);
  });
});

describe('SLA checkpoints and verdicts', () => {
  it('merges the deadline with a step at the same time and orders the rest', () => {
    expect(
      checkpoints(10 * M, [
        { afterMs: 5 * M, kind: 'remind', via: 'task' },
        { afterMs: 10 * M, kind: 'reroute' },
        { afterMs: 60 * M, kind: 'escalate', to: { kind: 'queue', name: 'q' } },
      ]),
    ).toEqual([
      { afterMs: 5 * M, deadline: false, step: 0 },
      { afterMs: 10 * M, deadline: true, step: 1 },
      { afterMs: 60 * M, deadline: false, step: 2 },
    ]);
    expect(checkpoints(30 * M, [{ afterMs: 60 * M, kind: 'reroute' }])).toEqual([
      { afterMs: 30 * M, deadline: true },
      { afterMs: 60 * M, deadline: false, step: 0 },
    ]);
  });

  it.each([
    [
      'a touch after the owner write',
      { owner: 'ada@acme.io', touchedAt: 2000 },
      { kind: 'met', touchedAt: 2000 },
    ],
    ['a touch before it does not count', { owner: 'ada@acme.io', touchedAt: 500 }, { kind: 'untouched' }],
    [
      'another owner',
      { owner: 'bo@acme.io' },
      { kind: 'left_alone', reason: 'owner_changed', owner: 'bo@acme.io' },
    ],
    ['no owner any more', {}, { kind: 'left_alone', reason: 'owner_changed' }],
    ['the owner by its CRM id', { owner: '42' }, { kind: 'untouched' }],
  ])('%s', (_, seen, verdict) => {
    expect(
      judge({ startedAt: 1000, expectedOwner: 'Ada@acme.io', expectedAliases: ['42'] }, seen),
    ).toMatchObject(verdict);
  });

  it('a lead gone from the CRM is left alone', () => {
    expect(judge({ startedAt: 0, expectedOwner: 'a@b.c' }, undefined)).toEqual({
      kind: 'left_alone',
      reason: 'lead_gone',
    });
  });
});
