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
});
