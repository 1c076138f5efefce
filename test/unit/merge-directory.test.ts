import { checkRep } from '../../src/core/availability.js';
import { mergeDirectory } from '../../src/pipeline/team.js';
import { makeRep, makeTeam, MONDAY_10_UTC } from '../support/factories.js';

// A rep the rules name but the CRM portal has no user for cannot own a lead; the trace must say so,
// not "deactivated" (which sent people looking for a deactivated user that never existed).
describe('mergeDirectory: why a team rep cannot take leads', () => {
  const team = makeTeam([
    makeRep('ada@acme.io'),
    makeRep('dan@acme.io'),
    makeRep('quinn@acme.io'),
    makeRep('hal@acme.io', { active: false }),
  ]);
  const merged = mergeDirectory(team, {
    owners: [
      { id: '1', email: 'ADA@acme.io', name: 'Ada', active: true, teams: [] },
      { id: '2', email: 'quinn@acme.io', name: 'Quinn', active: false, teams: [] },
      { id: '3', email: 'hal@acme.io', name: 'Hal', active: true, teams: [] },
    ],
    queues: {},
    fetchedAt: 0,
  }).team;
  const why = (email: string) =>
    checkRep(merged.reps[email], email, undefined, MONDAY_10_UTC, { respectHours: true });

  it.each([
    ['ada@acme.io', {}],
    ['dan@acme.io', { skipped: 'inactive', detail: 'not a user of the CRM portal' }],
    ['quinn@acme.io', { skipped: 'inactive', detail: 'deactivated in the CRM' }],
    ['hal@acme.io', { skipped: 'inactive', detail: 'deactivated' }],
  ])('%s', (email, expected) => {
    expect(why(email)).toEqual({ email, ...expected });
  });
});

describe('mergeDirectory: CRM users the team file does not list', () => {
  it('keeps their CRM time zone when it is a valid IANA zone, else UTC', () => {
    const merged = mergeDirectory(makeTeam([makeRep('ada@acme.io', { timezone: 'Asia/Tokyo' })]), {
      owners: [
        { id: '1', email: 'ada@acme.io', name: 'Ada', active: true, teams: [], timezone: 'Europe/Berlin' },
        { id: '2', email: 'bo@acme.io', name: 'Bo', active: true, teams: [], timezone: 'America/Chicago' },
        { id: '3', email: 'cy@acme.io', name: 'Cy', active: true, teams: [], timezone: 'Not/AZone' },
        { id: '4', email: 'di@acme.io', name: 'Di', active: true, teams: [] },
      ],
      queues: {},
      fetchedAt: 0,
    }).team;
    // The team file's own zone wins over the CRM's.
    expect(merged.reps['ada@acme.io']?.timezone).toBe('Asia/Tokyo');
    expect(merged.reps['bo@acme.io']?.timezone).toBe('America/Chicago');
    expect(merged.reps['cy@acme.io']?.timezone).toBe('UTC');
    expect(merged.reps['di@acme.io']?.timezone).toBe('UTC');
  });
});

describe('mergeDirectory: a rep’s manager', () => {
  it('is the team file’s manager, else the manager the CRM records for the user (by owner id)', () => {
    const merged = mergeDirectory(
      makeTeam([
        makeRep('ada@acme.io', { manager: 'zoe@acme.io' }),
        makeRep('bo@acme.io'),
        makeRep('cy@acme.io'),
      ]),
      {
        owners: [
          { id: '1', email: 'ada@acme.io', name: 'Ada', active: true, teams: [], managerId: '3' },
          { id: '2', email: 'bo@acme.io', name: 'Bo', active: true, teams: [], managerId: '4' },
          { id: '3', email: 'cy@acme.io', name: 'Cy', active: true, teams: [] },
          { id: '4', email: 'Max@acme.io', name: 'Max', active: true, teams: [], managerId: '9' },
        ],
        queues: {},
        fetchedAt: 0,
      },
    ).team;
    expect(merged.reps['ada@acme.io']?.manager).toBe('zoe@acme.io');
    expect(merged.reps['bo@acme.io']?.manager).toBe('max@acme.io');
    expect(merged.reps['cy@acme.io']?.manager).toBeUndefined();
    // A manager id the directory does not list names nobody.
    expect(merged.reps['max@acme.io']?.manager).toBeUndefined();
  });
});
