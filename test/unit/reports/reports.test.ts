// Reports computed from fixed facts: every number below is worked out by hand from the table.
import { describe, expect, it } from '@jest/globals';
import type { Rep, Team } from '../../../src/core/types.js';
import { csvCell, csvLine, writeCsv } from '../../../src/reports/csv.js';
import { buildReport, groupOf, percentile, type DecisionFact } from '../../../src/reports/reports.js';
import { parseReportRequest, ReportError } from '../../../src/reports/run.js';

const T = Date.UTC(2026, 11, 7, 8, 0, 0); // Monday 08:00 UTC
const MIN = 60_000;

function fact(overrides: Partial<DecisionFact> = {}): DecisionFact {
  return {
    leadId: 'l',
    decidedAt: T,
    eventAt: T,
    rule: 'DACH',
    pool: 'emea',
    owner: 'ada@acme.io',
    queue: null,
    ownerWrittenAt: T + MIN,
    fallbacks: [],
    sla: null,
    steps: { reminders: 0, reroutes: 0, escalations: 0 },
    ...overrides,
  };
}

function rep(email: string, weight: number, hours: Rep['hours'] = []): Rep {
  return { email, timezone: 'UTC', hours, outOfOffice: [], weight, caps: {}, active: true };
}

const nineToFive: Rep['hours'] = [{ days: [1, 2, 3, 4, 5], start: 9 * 60, end: 17 * 60 }];

const team: Team = {
  reps: {
    'ada@acme.io': rep('ada@acme.io', 2, nineToFive),
    'bo@acme.io': rep('bo@acme.io', 1),
    'cy@acme.io': rep('cy@acme.io', 1),
  },
  queues: {},
};

describe('percentile (nearest rank)', () => {
  it.each([
    [[], 50, null],
    [[5], 90, 5],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 90, 4],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9],
  ])('%j p%d = %j', (xs, p, want) => {
    expect(percentile(xs, p)).toBe(want);
  });
});

describe('groups', () => {
  it.each([
    [undefined, fact(), '(all)'],
    ['rule', fact({ rule: null }), '(fallback)'],
    ['pool', fact({ pool: null }), '(no pool)'],
    ['rep', fact({ owner: null, queue: 'smb' }), 'queue:smb'],
    ['rep', fact({ owner: null }), '(unassigned)'],
  ] as const)('by %s', (by, f, want) => {
    expect(groupOf(f, by)).toBe(want);
  });
});

describe('speed to lead', () => {
  const facts = [
    fact({ eventAt: T - 4 * MIN, ownerWrittenAt: T }), // 4 min to owner
    fact({ eventAt: T - 2 * MIN, ownerWrittenAt: T }), // 2 min
    fact({ eventAt: T - 1 * MIN, ownerWrittenAt: T, owner: 'bo@acme.io' }), // 1 min
    fact({ eventAt: T, ownerWrittenAt: null }), // not written yet
    fact({ eventAt: null, ownerWrittenAt: T }), // stored before event times were kept
  ];

  it('measures CRM event → owner written per group, leaving out what is not known', () => {
    const report = buildReport('speed', facts, { by: 'rep', team });
    expect(report.rows).toEqual([
      expect.objectContaining({
        rep: 'ada@acme.io',
        leads: 4,
        owner_written: 2,
        event_to_owner_p50_ms: 2 * MIN,
        event_to_owner_p90_ms: 4 * MIN,
        event_to_owner_max_ms: 4 * MIN,
        first_touched: 0,
        owner_to_touch_p50_ms: null,
      }),
      expect.objectContaining({ rep: 'bo@acme.io', leads: 1, owner_written: 1, event_to_owner_p50_ms: MIN }),
    ]);
  });

  it('measures owner written → first touch on wall time and on the owner’s working hours', () => {
    // Owner written Monday 08:00 (before Ada's 09:00 start), touched 09:30: 90 min wall, 30 working.
    const touched = fact({
      ownerWrittenAt: T,
      sla: { state: 'met', dueAt: T + 60 * MIN, outcome: 'met', firstTouchAt: T + 90 * MIN },
    });
    // Bo has no hours (always available): working time is wall time.
    const bo = fact({
      owner: 'bo@acme.io',
      ownerWrittenAt: T,
      sla: { state: 'met', dueAt: T + 60 * MIN, outcome: 'met', firstTouchAt: T + 20 * MIN },
    });
    const [row] = buildReport('speed', [touched, bo], { team }).rows;
    expect(row).toMatchObject({
      window: '(all)',
      first_touched: 2,
      owner_to_touch_p50_ms: 20 * MIN,
      owner_to_touch_p90_ms: 90 * MIN,
      owner_to_touch_working_p50_ms: 20 * MIN,
      owner_to_touch_working_p90_ms: 30 * MIN,
    });
  });
});

describe('SLA attainment', () => {
  it('is met in time over met + met late + breached; open and cancelled timers are counted apart', () => {
    const sla = (state: 'armed' | 'met' | 'breached' | 'cancelled', outcome: string | null = null) => ({
      state,
      dueAt: T,
      outcome,
      firstTouchAt: null,
    });
    const facts = [
      fact({ sla: sla('met', 'met') }),
      fact({ sla: sla('met', 'met') }),
      fact({ sla: sla('met', 'met') }),
      fact({ sla: sla('met', 'met_late') }),
      fact({ sla: sla('breached', 'unmet') }),
      fact({ sla: sla('armed') }),
      fact({ sla: sla('cancelled', 'owner_changed') }),
      fact({ rule: null, sla: null }), // no SLA: no row for its group
    ];
    expect(buildReport('sla', facts, { by: 'rule' }).rows).toEqual([
      { rule: 'DACH', with_sla: 7, met: 3, met_late: 1, breached: 1, open: 1, cancelled: 1, attainment: 0.6 },
    ]);
  });
});

describe('re-routes and escalations', () => {
  it('sums the steps taken and counts the leads that had each', () => {
    const breached = { state: 'breached' as const, dueAt: T, outcome: 'unmet', firstTouchAt: null };
    const facts = [
      fact({ sla: breached, steps: { reminders: 1, reroutes: 2, escalations: 1 } }),
      fact({ sla: breached, steps: { reminders: 1, reroutes: 1, escalations: 0 } }),
      fact({ owner: 'bo@acme.io' }),
    ];
    expect(buildReport('reroutes', facts, { by: 'rep' }).rows).toEqual([
      {
        rep: 'ada@acme.io',
        leads: 2,
        breached: 2,
        reminders: 2,
        reroutes: 3,
        escalations: 1,
        leads_rerouted: 2,
        leads_escalated: 1,
      },
      {
        rep: 'bo@acme.io',
        leads: 1,
        breached: 0,
        reminders: 0,
        reroutes: 0,
        escalations: 0,
        leads_rerouted: 0,
        leads_escalated: 0,
      },
    ]);
  });
});

describe('distribution against the weighted target', () => {
  it('gives each member its weight’s share of the pool; a former member has a target of 0', () => {
    const ruleSet = {
      pools: {
        emea: { name: 'emea', members: ['ada@acme.io', 'bo@acme.io', 'cy@acme.io'] } as never,
      },
    };
    const facts = [
      ...Array.from({ length: 5 }, () => fact({ owner: 'ada@acme.io' })),
      ...Array.from({ length: 2 }, () => fact({ owner: 'bo@acme.io' })),
      fact({ owner: 'dee@acme.io' }),
      fact({ pool: null, owner: 'cy@acme.io' }), // not from a pool: not counted
    ];
    expect(buildReport('distribution', facts, { team, ruleSet }).rows).toEqual([
      {
        pool: 'emea',
        rep: 'ada@acme.io',
        assigned: 5,
        share: 0.625,
        weight: 2,
        target_share: 0.5,
        expected: 4,
        difference: 1,
      },
      {
        pool: 'emea',
        rep: 'bo@acme.io',
        assigned: 2,
        share: 0.25,
        weight: 1,
        target_share: 0.25,
        expected: 2,
        difference: 0,
      },
      {
        pool: 'emea',
        rep: 'cy@acme.io',
        assigned: 0,
        share: 0,
        weight: 1,
        target_share: 0.25,
        expected: 2,
        difference: -2,
      },
      {
        pool: 'emea',
        rep: 'dee@acme.io',
        assigned: 1,
        share: 0.125,
        weight: 0,
        target_share: 0,
        expected: 0,
        difference: 1,
      },
    ]);
  });

  it('owes an inactive member nothing: the pool is shared among those who can take its leads', () => {
    const ruleSet = { pools: { emea: { name: 'emea', members: ['ada@acme.io', 'bo@acme.io'] } as never } };
    const inactive: Team = {
      ...team,
      reps: { ...team.reps, 'bo@acme.io': { ...team.reps['bo@acme.io']!, active: false } },
    };
    const facts = Array.from({ length: 3 }, () => fact({ owner: 'ada@acme.io' }));
    expect(
      buildReport('distribution', facts, { team: inactive, ruleSet }).rows.map((r) => [
        r['rep'],
        r['target_share'],
        r['expected'],
      ]),
    ).toEqual([
      ['ada@acme.io', 1, 3],
      ['bo@acme.io', 0, 0],
    ]);
  });
});

describe('fallback usage', () => {
  it('counts leads that fell back, once per reason, with the share of the group', () => {
    const facts = [
      fact({ rule: null, fallbacks: ['no_route_matched'] }),
      fact({ rule: null, fallbacks: ['no_route_matched', 'pool_nobody_eligible'] }),
      fact({ rule: 'DACH', fallbacks: ['pool_nobody_eligible', 'pool_nobody_eligible'] }),
      fact({ rule: 'DACH' }),
    ];
    expect(buildReport('fallbacks', facts, { by: 'rule' }).rows).toEqual([
      { rule: '(fallback)', reason: '(any)', leads: 2, of_leads: 2, share: 1 },
      { rule: '(fallback)', reason: 'no_route_matched', leads: 2, of_leads: 2, share: 1 },
      { rule: '(fallback)', reason: 'pool_nobody_eligible', leads: 1, of_leads: 2, share: 0.5 },
      { rule: 'DACH', reason: '(any)', leads: 1, of_leads: 2, share: 0.5 },
      { rule: 'DACH', reason: 'pool_nobody_eligible', leads: 1, of_leads: 2, share: 0.5 },
    ]);
  });
});

describe('CSV', () => {
  it.each([
    [null, ''],
    [12.5, '12.5'],
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['=HYPERLINK("x")', '"\'=HYPERLINK(""x"")"'],
    ['-1+1', "'-1+1"],
    ['@rep', "'@rep"],
  ])('%j → %s', (cell, want) => {
    expect(csvCell(cell)).toBe(want);
  });

  it('writes a header and one CRLF line per row, in column order', () => {
    const chunks: string[] = [];
    writeCsv({ kind: 'sla', columns: ['rule', 'met'], rows: [{ met: 1, rule: 'A, B' }] }, (c) =>
      chunks.push(c),
    );
    expect(chunks).toEqual(['rule,met\r\n', '"A, B",1\r\n']);
    expect(csvLine([])).toBe('\r\n');
  });
});

describe('report requests', () => {
  const now = Date.UTC(2026, 11, 8);
  it('parses ISO dates and epoch ms; until defaults to now', () => {
    expect(parseReportRequest('speed', { since: '2026-12-01', by: 'rep' }, now)).toEqual({
      kind: 'speed',
      since: Date.UTC(2026, 11, 1),
      until: now,
      by: 'rep',
    });
    expect(
      parseReportRequest(
        'sla',
        { since: String(Date.UTC(2026, 10, 30)), until: '2026-12-01T10:00:00Z' },
        now,
      ),
    ).toMatchObject({
      since: Date.UTC(2026, 10, 30),
      until: Date.UTC(2026, 11, 1, 10),
    });
  });

  it.each([
    ['nope', { since: '2026-12-01' }, /unknown report "nope"/],
    ['speed', {}, /since/],
    ['speed', { since: 'yesterday' }, /"yesterday" is not an ISO 8601/],
    ['speed', { since: '2026-12-05', until: '2026-12-01' }, /since must be before until/],
    ['speed', { since: '2020-01-01' }, /at most 366 days/],
    ['speed', { since: '2026-12-01', by: 'team' }, /by/],
    ['speed', { since: '2026-12-01', extra: '1' }, /extra|Unrecognized/],
    ['speed', { since: ['2026-12-01', '2026-12-02'] }, /since/],
  ])('%s %j is refused', (kind, query, message) => {
    expect(() => parseReportRequest(kind, query, now)).toThrow(ReportError);
    expect(() => parseReportRequest(kind, query, now)).toThrow(message);
  });
});
