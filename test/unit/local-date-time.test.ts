import { localDateTime } from '../../src/core/explain.js';

// Due times in decision lines and CRM notes carry their date and zone: "task due 13:36" in the rep's
// zone read like the past to a reader elsewhere, or on the next day.
describe('localDateTime', () => {
  const at = Date.parse('2026-12-03T13:01:00Z');

  it.each([
    ['Europe/Berlin', '2026-12-03 14:01 CET'],
    ['America/New_York', '2026-12-03 08:01 GMT-5'],
    ['Asia/Tokyo', '2026-12-03 22:01 GMT+9'],
    ['Australia/Sydney', '2026-12-04 00:01 GMT+11'],
    ['UTC', '2026-12-03 13:01 UTC'],
  ])('in %s', (zone, expected) => {
    expect(localDateTime(at, zone)).toBe(expected);
  });

  it('is UTC when the rep has no zone', () => {
    expect(localDateTime(at)).toBe('2026-12-03 13:01 UTC');
  });

  it('renders each minute afresh, across a change of the zone offset', () => {
    // Berlin went to summer time at 01:00 UTC on 2026-03-29: 01:59 CET, then 03:00 CEST.
    const before = Date.parse('2026-03-29T00:59:00Z');
    expect(localDateTime(before, 'Europe/Berlin')).toBe('2026-03-29 01:59 CET');
    expect(localDateTime(before + 59_999, 'Europe/Berlin')).toBe('2026-03-29 01:59 CET');
    expect(localDateTime(before + 60_000, 'Europe/Berlin')).toBe('2026-03-29 03:00 CEST');
    expect(localDateTime(before + 60_000, 'UTC')).toBe('2026-03-29 01:00 UTC');
    expect(localDateTime(before, 'Europe/Berlin')).toBe('2026-03-29 01:59 CET');
  });
});
