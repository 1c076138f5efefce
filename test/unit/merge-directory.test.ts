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
